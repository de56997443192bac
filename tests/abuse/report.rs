//! What each attack measured, and the table the suite prints at the end.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::honest::Stats;

/// What an attack reports besides what the runner measures.
#[derive(Default)]
pub struct Outcome {
    pub notes: Vec<String>,
    /// Checks that hold for this tree's binary: (held, what).
    pub checks: Vec<(bool, String)>,
    /// The part of the attack to report the honest client's figures for (default: all of it).
    pub window: Option<(Instant, Instant)>,
    /// The attack stopped the process itself (nothing to recover).
    pub stopped: bool,
    /// Fresh connections cannot be served during this attack by design (descriptors gone), so
    /// the honest client's success rate is reported, not checked.
    pub honest_exempt: bool,
}

impl Outcome {
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    pub fn check(&mut self, held: bool, what: impl Into<String>) {
        self.checks.push((held, what.into()));
    }
}

/// One attack's figures.
pub struct Row {
    pub name: &'static str,
    pub secs: f64,
    /// RSS in MB: before the attack, peak during it, after recovery.
    pub rss: [f64; 3],
    /// CPU during the attack, in cores.
    pub cpu: f64,
    pub fds: [u64; 3],
    pub honest: Stats,
    pub recovery: Option<Duration>,
    pub outcome: Outcome,
    pub failures: Vec<String>,
}

/// `3x 431, 1x closed`.
pub fn tally(counts: &BTreeMap<String, usize>) -> String {
    let each: Vec<String> = counts.iter().map(|(c, n)| format!("{n}x {c}")).collect();
    each.join(", ")
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

pub fn print(title: &str, rows: &[Row]) {
    eprintln!("\n== {title} ==");
    eprintln!(
        "| attack | s | RSS MB base/peak/after | CPU cores | fds base/peak/after | honest ok/n | p50 ms | p99 ms | recovery s |"
    );
    eprintln!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let recovery = match (r.outcome.stopped, r.recovery) {
            (true, _) => "-".into(),
            (false, Some(d)) => format!("{:.2}", d.as_secs_f64()),
            (false, None) => "never".into(),
        };
        eprintln!(
            "| {} | {:.1} | {:.0}/{:.0}/{:.0} | {:.2} | {}/{}/{} | {}/{} | {} | {} | {} |",
            r.name,
            r.secs,
            r.rss[0],
            r.rss[1],
            r.rss[2],
            r.cpu,
            r.fds[0],
            r.fds[1],
            r.fds[2],
            r.honest.ok,
            r.honest.n,
            ms(r.honest.p50),
            ms(r.honest.p99),
            recovery,
        );
    }
    eprintln!();
    for r in rows {
        eprintln!("{}: {}", r.name, r.outcome.notes.join("; "));
    }
    for r in rows {
        for f in &r.failures {
            eprintln!("FAILED {}: {f}", r.name);
        }
    }
}
