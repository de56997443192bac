//! Attacks on what the process as a whole holds: its descriptors, its log, its shutdown.

use std::io::{BufRead, BufReader};
use std::process::ChildStderr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokengate::pb::auth::authorization_client::AuthorizationClient;
use tokengate::testkit::check_request_with;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

use crate::frames;
use crate::honest;
use crate::report::Outcome;
use crate::target::Target;

/// (10) Descriptor exhaustion (the process runs under `prlimit --nofile=256:256`): 1,200
/// connections to the gRPC listener, held 2.5 s, then closed.
pub async fn descriptors(t: &Target) -> Outcome {
    let mut out = Outcome {
        honest_exempt: true,
        ..Outcome::default()
    };
    let mut flood = Vec::new();
    while flood.len() < 1200 {
        match timeout(Duration::from_millis(500), TcpStream::connect(t.grpc)).await {
            Ok(Ok(s)) => flood.push(s),
            _ => break,
        }
    }
    // What the server can take, it has taken by now.
    sleep(Duration::from_millis(500)).await;
    let held = t.usage();
    let hold = Duration::from_secs(2);
    sleep(hold).await;
    let cpu = t.usage().cpu.saturating_sub(held.cpu).as_secs_f64() / hold.as_secs_f64();
    let served = honest::fresh(t.grpc, t.http, t.admin, &t.token).await;
    let flooded = flood.len();
    drop(flood);
    out.note(format!(
        "{} connections open, the server at {} descriptors of 256; CPU while held {cpu:.2} cores; \
         fresh connections served while held: {served:?}",
        flooded, held.fds
    ));
    out.check(
        cpu < 0.3,
        format!("no spinning out of descriptors ({cpu:.2} cores)"),
    );
    out
}

/// (10, with the cap) The same flood under `max_connections: 100`: the gRPC listener stops
/// accepting at 100, so descriptors never run out and the other listeners keep serving.
pub async fn connection_cap(t: &Target) -> Outcome {
    let mut out = Outcome::default();
    let mut flood = Vec::new();
    while flood.len() < 1200 {
        match timeout(Duration::from_millis(500), TcpStream::connect(t.grpc)).await {
            Ok(Ok(s)) => flood.push(s),
            _ => break,
        }
    }
    sleep(Duration::from_millis(500)).await;
    let held = t.usage();
    let served = honest::fresh(t.grpc, t.http, t.admin, &t.token).await;
    let open = readyz_connections(t).await;
    let flooded = flood.len();
    drop(flood);
    out.note(format!(
        "{flooded} connections open, the server at {} descriptors; /readyz connections {open}; \
         fresh connections served while held: {served:?}",
        held.fds
    ));
    if t.mode == crate::target::Mode::After {
        out.check(
            served.http && served.admin,
            "the HTTP and admin listeners serve while gRPC is at its cap",
        );
        out.check(
            open.contains("\"grpc\":100"),
            "/readyz shows gRPC at its cap",
        );
    }
    out
}

/// `/readyz`'s `connections` object, as JSON text.
pub async fn readyz_connections(t: &Target) -> String {
    let page = reqwest::Client::new()
        .get(format!("http://{}/readyz", t.admin))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    let Ok(page) = page else {
        return "unavailable".into();
    };
    let json: serde_json::Value = page.json().await.unwrap_or_default();
    json.get("connections")
        .map_or("absent".into(), |c| c.to_string())
}

/// Reads the server's stderr on a thread, counting what it reads; can stop reading.
struct LogReader {
    paused: Arc<AtomicBool>,
    bytes: Arc<AtomicUsize>,
    lines: Arc<AtomicUsize>,
    /// Lines that begin with the date the attack forges.
    forged: Arc<AtomicUsize>,
}

/// A timestamp no real line carries (the attack puts it after a newline in a value).
const FORGED: &str = "2031-02-03T04:05:06";

impl LogReader {
    fn start(stderr: ChildStderr, paused: bool) -> LogReader {
        let r = LogReader {
            paused: Arc::new(AtomicBool::new(paused)),
            bytes: Arc::default(),
            lines: Arc::default(),
            forged: Arc::default(),
        };
        let (paused, bytes, lines, forged) = (
            r.paused.clone(),
            r.bytes.clone(),
            r.lines.clone(),
            r.forged.clone(),
        );
        // Ends at EOF, when the process exits.
        std::thread::spawn(move || {
            let mut stderr = BufReader::new(stderr);
            let mut line = Vec::new();
            loop {
                while paused.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                line.clear();
                match stderr.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        bytes.fetch_add(n, Ordering::Relaxed);
                        lines.fetch_add(1, Ordering::Relaxed);
                        if line.starts_with(FORGED.as_bytes()) {
                            forged.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        r
    }
}

/// Clients that make the server log: 4 gRPC connections naming an unknown authorizer 1 MB long
/// with newlines and a forged line in it, and 4 HTTP clients denied with a 300 KB `X-Real-IP`.
/// Runs until `stop`; counts requests answered in `sent`.
fn flood(t: &Target, stop: &Arc<AtomicBool>, sent: &Arc<AtomicUsize>) {
    let name = format!(
        "nope\n{FORGED}.000000Z ERROR tokengate: forged by a client\n{}",
        "n".repeat(1 << 20)
    );
    for _ in 0..4 {
        let (stop, sent, name, grpc) = (stop.clone(), sent.clone(), name.clone(), t.grpc);
        tokio::spawn(async move {
            let Ok(mut client) = AuthorizationClient::connect(format!("http://{grpc}")).await
            else {
                return;
            };
            let req = check_request_with("GET", "/api", &[], &[("authorizer", &name)]);
            while !stop.load(Ordering::Relaxed) {
                if timeout(Duration::from_secs(2), client.check(req.clone()))
                    .await
                    .is_ok()
                {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    let ip = "1".repeat(300 * 1024);
    for _ in 0..4 {
        let (stop, sent, ip, url) = (
            stop.clone(),
            sent.clone(),
            ip.clone(),
            format!("http://{}/api", t.http),
        );
        tokio::spawn(async move {
            let web = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                let denied = web
                    .get(&url)
                    .header("x-real-ip", &ip)
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await;
                if denied.is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
}

/// The value of a counter on `/metrics`, if the page came within 3 s.
async fn counter(t: &Target, name: &str) -> Option<f64> {
    let page = reqwest::Client::new()
        .get(format!("http://{}/metrics", t.admin))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let line = page.lines().find(|l| l.starts_with(name))?;
    line.rsplit(' ').next()?.parse().ok()
}

/// (11) Log abuse with the log read: how much a client can make the server write, and whether
/// it can forge a line.
pub async fn log_flood(t: &Target) -> Outcome {
    let mut out = Outcome::default();
    let stderr = t.stderr.lock().unwrap().take().unwrap();
    let reader = LogReader::start(stderr, false);
    let (stop, sent) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    flood(t, &stop, &sent);
    // Past the first second's budget and the connections' set-up.
    sleep(Duration::from_secs(1)).await;
    let (b0, l0) = (
        reader.bytes.load(Ordering::Relaxed),
        reader.lines.load(Ordering::Relaxed),
    );
    let window = Duration::from_secs(3);
    sleep(window).await;
    let (b1, l1) = (
        reader.bytes.load(Ordering::Relaxed),
        reader.lines.load(Ordering::Relaxed),
    );
    stop.store(true, Ordering::Relaxed);
    let rate = (b1 - b0) as f64 / window.as_secs_f64();
    let forged = reader.forged.load(Ordering::Relaxed);
    out.note(format!(
        "{} flooding requests answered; log {:.1} KB/s, {:.0} lines/s; forged lines {forged}",
        sent.load(Ordering::Relaxed),
        rate / 1e3,
        (l1 - l0) as f64 / window.as_secs_f64()
    ));
    out.check(forged == 0, "no client value forges a log line");
    out.check(
        rate < 100e3,
        format!("client-triggered log bounded ({:.0} B/s)", rate),
    );
    out
}

/// (11) Log abuse with a log reader that never reads (stderr a full pipe), at `h2=debug` so the
/// sink is overwhelmed within seconds: checks must not wait for the log, and what is dropped is
/// counted in `tokengate_log_lines_dropped_total`.
pub async fn blocked_log(t: &Target) -> Outcome {
    let mut out = Outcome::default();
    let stderr = t.stderr.lock().unwrap().take().unwrap();
    let reader = LogReader::start(stderr, true);
    let (stop, sent) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    flood(t, &stop, &sent);
    let from = Instant::now();
    sleep(Duration::from_secs(3)).await;
    let to = Instant::now();
    let dropped = counter(t, "tokengate_log_lines_dropped_total").await;
    stop.store(true, Ordering::Relaxed);
    reader.paused.store(false, Ordering::Relaxed);
    out.window = Some((from.into_std(), to.into_std()));
    out.note(format!(
        "{} flooding requests answered with the log blocked; tokengate_log_lines_dropped_total {}",
        sent.load(Ordering::Relaxed),
        dropped.map_or("not scraped within 3 s".into(), |d| d.to_string())
    ));
    out.check(
        dropped.is_some_and(|d| d > 0.0),
        "dropped log lines are counted",
    );
    out
}

/// (13) SIGTERM with half-open connections on every listener: the process exits without
/// waiting out the 10 s drain.
pub async fn sigterm(t: &Target) -> Outcome {
    let mut out = Outcome {
        stopped: true,
        ..Outcome::default()
    };
    let mut held = Vec::new();
    for (addr, n, first) in [
        (
            t.http,
            100,
            &b"GET /api HTTP/1.1\r\nhost: t\r\nx-half: "[..],
        ),
        (t.admin, 50, &b"GET /metrics HTTP/1.1\r\nho"[..]),
        (t.grpc, 100, &frames::hello()[..]),
        (t.grpc, 50, &b""[..]),
        (t.http, 50, &b""[..]),
    ] {
        for _ in 0..n {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(first).await.unwrap();
            held.push(s);
        }
    }
    sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    out.window = Some((
        (signalled - Duration::from_secs(1)).into_std(),
        signalled.into_std(),
    ));
    let (status, took) = tokio::task::block_in_place(|| t.terminate(Duration::from_secs(15)));
    out.note(format!(
        "{} half-open or silent connections; exit {:?} after {:.2} s",
        held.len(),
        status.map(|s| s.code()),
        took.as_secs_f64()
    ));
    out.check(status.is_some_and(|s| s.success()), "exits 0 on SIGTERM");
    out.check(
        took < Duration::from_secs(5),
        "exits well before the 10 s drain",
    );
    out
}
