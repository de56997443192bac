//! The abuse suite: the real binary (`tokengate serve`) on loopback, a fresh process per attack,
//! while a well-behaved client checks all along (gRPC `Check` and the HTTP authorizer, valid
//! token). For each attack it records the process's RSS, CPU and open descriptors (`/proc`), the
//! honest client's success rate and p50/p99 during the attack, and how long until fresh
//! connections to every listener are served again; each attack adds what it saw on the wire
//! (GOAWAY, 431, RESOURCE_EXHAUSTED, closed connections).
//!
//! What is asserted holds on a noisy 2-core machine: bounded growth (< 100 MB RSS), the
//! protocol outcome, recovery within seconds, the honest client's success rate. Latencies are
//! printed in the closing table (`--nocapture`), not asserted.
//!
//! The same attacks measure an older binary, one without the `limits` block, with nothing
//! asserted:
//!
//! ```sh
//! TOKENGATE_ABUSE_BIN=/path/to/tokengate cargo test --test abuse -- --ignored --nocapture
//! ```
//!
//! `TOKENGATE_ABUSE_THIS_BIN=target/release/tokengate` runs the asserted suite against a build
//! of this tree other than the test profile's (the release binary, for figures to compare).
//!
//! `TOKENGATE_ABUSE_ONLY=slowloris,logs` runs only the attacks whose names contain one of those.

// Test scaffolding: a failed set-up step should panic loudly.
#![allow(clippy::unwrap_used)]

mod admin_attacks;
mod frame_attacks;
mod frames;
mod grpc_attacks;
mod honest;
mod http_attacks;
mod process_attacks;
mod report;
mod target;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use honest::Honest;
use report::{Outcome, Row};
use target::{Bench, Mode, Sampler, Spec, Target};

type Attack = for<'a> fn(&'a Target) -> Pin<Box<dyn Future<Output = Outcome> + 'a>>;

macro_rules! attack {
    ($f:path) => {{
        fn run(t: &Target) -> Pin<Box<dyn Future<Output = Outcome> + '_>> {
            Box::pin($f(t))
        }
        run as Attack
    }};
}

const MB: f64 = 1.0;
/// Growth of RSS an attack may cause (peak and after), in MB.
const MAX_GROWTH: f64 = 100.0 * MB;
const MAX_RECOVERY: Duration = Duration::from_secs(5);
const MIN_HONEST_OK: f64 = 0.9;

fn attacks() -> Vec<(&'static str, Spec, Attack)> {
    let plain = Spec::default();
    let logs = Spec {
        // Room for 1 MB names and 300 KB headers: the log path, not the request bound, is what
        // these attacks measure.
        limits: &[("max_request_bytes", "2MiB")],
        pipe_stderr: true,
        ..plain
    };
    vec![
        (
            "streams past the limit",
            plain,
            attack!(frame_attacks::streams_past_limit),
        ),
        (
            "120 x 4 MiB partial",
            plain,
            attack!(grpc_attacks::partial_messages),
        ),
        (
            "MadeYouReset",
            plain,
            attack!(frame_attacks::made_you_reset),
        ),
        ("slow reader", plain, attack!(frame_attacks::slow_reader)),
        (
            "PING/SETTINGS flood",
            plain,
            attack!(frame_attacks::control_flood),
        ),
        ("rapid reset", plain, attack!(frame_attacks::rapid_reset)),
        (
            "CONTINUATION flood",
            plain,
            attack!(frame_attacks::continuation_flood),
        ),
        (
            "oversized headers",
            plain,
            attack!(http_attacks::oversized_headers),
        ),
        ("4 GiB prefix", plain, attack!(grpc_attacks::huge_prefix)),
        ("16 MB messages", plain, attack!(grpc_attacks::big_messages)),
        ("slowloris", plain, attack!(http_attacks::slowloris)),
        ("400 KB heads", plain, attack!(http_attacks::trickled_heads)),
        (
            "descriptors",
            Spec {
                nofile: Some(256),
                ..plain
            },
            attack!(process_attacks::descriptors),
        ),
        (
            "connection cap",
            Spec {
                limits: &[("max_connections", "100")],
                nofile: Some(256),
                ..plain
            },
            attack!(process_attacks::connection_cap),
        ),
        ("log flood", logs, attack!(process_attacks::log_flood)),
        (
            "blocked log",
            Spec {
                // Client-triggered lines alone are budgeted (16 KiB/s) and would take minutes
                // to fill the pipe and the writer's queue: h2's per-frame lines do it in
                // seconds, as a verbose level and a stalled log shipper would.
                env: &[("RUST_LOG", "info,h2=debug")],
                ..logs
            },
            attack!(process_attacks::blocked_log),
        ),
        ("HTTP/1 bodies", plain, attack!(http_attacks::bodies)),
        ("pipelining", plain, attack!(http_attacks::pipelining)),
        ("/metrics 1000/s", plain, attack!(admin_attacks::scrapes)),
        ("cardinality", plain, attack!(admin_attacks::cardinality)),
        (
            "SIGTERM half-open",
            plain,
            attack!(process_attacks::sigterm),
        ),
    ]
}

async fn run_one(b: &Bench, name: &'static str, spec: Spec, attack: Attack) -> Row {
    let t = Target::start(b, &name.replace(['/', ' '], "-"), &spec).await;
    let sampler = Sampler::start(t.pid);
    let honest = Honest::start(t.grpc, t.http, t.token.clone());
    tokio::time::sleep(Duration::from_millis(600)).await;
    let base = t.usage();
    let started = Instant::now();
    let outcome = attack(&t).await;
    let ended = Instant::now();
    let (cpu, recovery, after) = if outcome.stopped {
        (0.0, None, base)
    } else {
        let used = t.usage().cpu.saturating_sub(base.cpu);
        let cpu = used.as_secs_f64() / (ended - started).as_secs_f64();
        let recovery =
            honest::recovery(t.grpc, t.http, t.admin, &t.token, Duration::from_secs(15)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        (cpu, recovery, t.usage())
    };
    let (peak_rss, peak_fds) = sampler.peak(started, ended);
    let (from, to) = outcome.window.unwrap_or((started, ended));
    let stats = honest.window(from, to);
    drop(honest);
    drop(sampler);
    t.stop();
    let mut row = Row {
        name,
        secs: (ended - started).as_secs_f64(),
        rss: [base.rss_mb(), peak_rss as f64 / 1024.0, after.rss_mb()],
        cpu,
        fds: [base.fds, peak_fds, after.fds],
        honest: stats,
        recovery,
        outcome,
        failures: Vec::new(),
    };
    if b.mode == Mode::After {
        row.failures = failures(&row);
    }
    row
}

/// What this tree's binary must show under every attack, and the attack's own checks.
fn failures(r: &Row) -> Vec<String> {
    let mut failed: Vec<String> = r
        .outcome
        .checks
        .iter()
        .filter(|(held, _)| !held)
        .map(|(_, what)| what.clone())
        .collect();
    let mut check = |held: bool, what: String| {
        if !held {
            failed.push(what);
        }
    };
    let [base, peak, after] = r.rss;
    check(
        peak - base < MAX_GROWTH,
        format!("RSS grew {base:.0} -> {peak:.0} MB"),
    );
    if !r.outcome.stopped {
        check(
            after - base < MAX_GROWTH,
            format!("RSS stayed at {after:.0} MB (from {base:.0})"),
        );
        check(
            r.recovery.is_some_and(|d| d < MAX_RECOVERY),
            format!("fresh connections served again after {:?}", r.recovery),
        );
    }
    if !r.outcome.honest_exempt {
        check(
            r.honest.ok_ratio() >= MIN_HONEST_OK,
            format!("honest client: {}/{} allowed", r.honest.ok, r.honest.n),
        );
    }
    failed
}

async fn run_all(b: &Bench) -> Vec<Row> {
    let only = std::env::var("TOKENGATE_ABUSE_ONLY").unwrap_or_default();
    let only: Vec<&str> = only.split(',').filter(|s| !s.is_empty()).collect();
    let mut rows = Vec::new();
    for (name, spec, attack) in attacks() {
        if !only.is_empty() && !only.iter().any(|o| name.contains(o)) {
            continue;
        }
        eprintln!("attack: {name}");
        rows.push(run_one(b, name, spec, attack).await);
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attack_leaves_the_binary_bounded_and_serving() {
    let started = Instant::now();
    // This tree's release binary, say, for the closing figures; the debug one by default.
    let bin =
        std::env::var_os("TOKENGATE_ABUSE_THIS_BIN").map_or(target::BIN.into(), PathBuf::from);
    let bench = Bench::new(Mode::After, bin).await;
    let rows = run_all(&bench).await;
    report::print(
        &format!(
            "this tree ({}), {:.0} s",
            bench.bin.display(),
            started.elapsed().as_secs_f64()
        ),
        &rows,
    );
    let failed: Vec<String> = rows
        .iter()
        .flat_map(|r| r.failures.iter().map(move |f| format!("{}: {f}", r.name)))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measures the binary named by TOKENGATE_ABUSE_BIN"]
async fn before_figures_of_another_binary() {
    let Some(bin) = std::env::var_os("TOKENGATE_ABUSE_BIN") else {
        eprintln!("skipped: TOKENGATE_ABUSE_BIN is not set");
        return;
    };
    let bench = Bench::new(Mode::Before, PathBuf::from(&bin)).await;
    let rows = run_all(&bench).await;
    report::print(&format!("{}", PathBuf::from(bin).display()), &rows);
}
