//! Out of descriptors, `server::listen::serve` backs off instead of spinning on accept, and
//! serves again once descriptors free up. Alone in its binary: it lowers the whole process's
//! descriptor limit (with `prlimit`, a real tool).

// Test scaffolding: a failed set-up step should panic loudly.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokengate::limits::Limits;
use tokengate::server::listen::serve;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, timeout};
use tokio_util::sync::CancellationToken;

/// User plus system CPU time this process has used, read through `stat` (opened before the
/// process runs out of descriptors).
fn cpu(stat: &mut std::fs::File) -> Duration {
    use std::io::{Read, Seek};
    stat.rewind().unwrap();
    let mut stat_text = String::new();
    stat.read_to_string(&mut stat_text).unwrap();
    let stat = stat_text;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split(' ')
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    Duration::from_millis((f[0] + f[1]) * 10)
}

/// Sets this process's soft descriptor limit (the hard one is left as it is).
fn set_nofile(n: u64) -> bool {
    let pid = std::process::id().to_string();
    std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={n}:")])
        .status()
        .is_ok_and(|s| s.success())
}

fn nofile() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

#[tokio::test]
async fn out_of_descriptors_accepting_backs_off_and_recovers() {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let stop = CancellationToken::new();
    let app = Router::new().route("/", get(|| async { "ok" }));
    let server = tokio::spawn({
        let stop = stop.clone();
        async move { serve("test", tcp, app, &Limits::default(), stop).await }
    });
    let original = nofile();
    let mut stat = std::fs::File::open("/proc/self/stat").unwrap();
    let headroom = open_fds() + 40;
    if !set_nofile(headroom) {
        eprintln!("skipped: prlimit cannot lower this process's descriptor limit");
        return;
    }
    // Connect until this process is out of descriptors: the kernel completes handshakes the
    // server can no longer accept.
    let mut clients = Vec::new();
    while let Ok(Ok(c)) = timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
        clients.push(c);
        if clients.len() > 200 {
            break;
        }
    }
    assert!(clients.len() < 200, "the limit was not reached");
    sleep(Duration::from_millis(200)).await;
    let before = cpu(&mut stat);
    sleep(Duration::from_secs(1)).await;
    let used = cpu(&mut stat) - before;
    assert!(
        used < Duration::from_millis(300),
        "accept loop used {used:?} of CPU in 1 s while out of descriptors"
    );

    // Free descriptors: the backlog drains and a new client is served.
    clients.clear();
    assert!(set_nofile(original));
    let served = timeout(Duration::from_secs(3), async {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).await.unwrap();
        out
    })
    .await
    .expect("served within the backoff's longest wait once descriptors are free");
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    stop.cancel();
    timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
}
