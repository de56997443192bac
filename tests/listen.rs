//! `server::listen::serve` over real sockets: every limit applied to a tiny axum app and to a
//! tonic service routed through axum, with small limits so each wait is a few hundred ms.

// Test scaffolding: a failed set-up step should panic loudly.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use tokengate::limits::Limits;
use tokengate::server::listen::serve;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};
use tokio_util::sync::CancellationToken;

struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
    done: JoinHandle<()>,
}

async fn start(app: Router, limits: Limits) -> Server {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let stop = CancellationToken::new();
    let done = tokio::spawn({
        let stop = stop.clone();
        async move { serve("test", tcp, app, &limits, stop).await }
    });
    Server { addr, stop, done }
}

impl Server {
    async fn shutdown(self) {
        self.stop.cancel();
        timeout(Duration::from_secs(5), self.done)
            .await
            .expect("serve returns once its connections are gone")
            .unwrap();
    }
}

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                sleep(Duration::from_millis(400)).await;
                "slow"
            }),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
}

fn small() -> Limits {
    Limits {
        max_connections: 100,
        max_streams: 7,
        max_request_bytes: 8192,
        request_timeout: Duration::from_secs(2),
        header_read_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_secs(10),
    }
}

/// Sends one keep-alive GET and reads its response: `(status line, body)`.
async fn get_on(s: &mut TcpStream, path: &str) -> (String, String) {
    let req = format!("GET {path} HTTP/1.1\r\nhost: t\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    read_response(s).await
}

async fn read_response(s: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let status = head.lines().next().unwrap_or_default().to_owned();
    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
    (status, body)
}

/// Waits up to `limit` for the server to close `s`; how long that took, or `None`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut chunk = [0u8; 1024];
    timeout(limit, async {
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

#[tokio::test]
async fn a_trickling_http1_head_is_closed_after_header_read_timeout() {
    let srv = start(app(), small()).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let started = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let trickle = async {
        for i in 0.. {
            sleep(Duration::from_millis(40)).await;
            if s.write_all(format!("x-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return started.elapsed();
            }
            let mut probe = [0u8; 1];
            if let Ok(Ok(0) | Err(_)) = timeout(Duration::ZERO, s.read(&mut probe)).await {
                return started.elapsed();
            }
        }
        unreachable!()
    };
    let closed_after = timeout(Duration::from_secs(3), trickle)
        .await
        .expect("a trickled head is cut");
    assert!(
        closed_after >= Duration::from_millis(190) && closed_after < Duration::from_millis(1500),
        "closed after {closed_after:?}, header_read_timeout is 200 ms"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_outlives_header_read_timeout_until_idle_timeout() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(600),
        ..small()
    };
    let srv = start(app(), limits).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    assert_eq!(get_on(&mut s, "/").await.0, "HTTP/1.1 200 OK");
    // Idle for three header-read timeouts: still open, the next request is served.
    sleep(Duration::from_millis(300)).await;
    assert_eq!(
        get_on(&mut s, "/").await,
        ("HTTP/1.1 200 OK".into(), "ok".into())
    );
    let closed = closed_within(&mut s, Duration::from_secs(3))
        .await
        .expect("an idle connection is closed");
    assert!(
        closed >= Duration::from_millis(550) && closed < Duration::from_millis(1500),
        "closed after {closed:?} idle, idle_timeout is 600 ms"
    );
    // A connection that never sends a byte is idle from the start.
    let mut silent = TcpStream::connect(srv.addr).await.unwrap();
    let closed = closed_within(&mut silent, Duration::from_secs(3)).await;
    assert!(
        closed.is_some_and(|c| c >= Duration::from_millis(550)),
        "{closed:?}"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn an_oversized_http1_head_gets_431() {
    let srv = start(app(), small()).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let big = "a".repeat(9000);
    let req = format!("GET / HTTP/1.1\r\nhost: t\r\nx-big: {big}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    assert!(read_response(&mut s).await.0.starts_with("HTTP/1.1 431"));
    // Just under the bound is served.
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let fits = "a".repeat(7000);
    let req = format!("GET / HTTP/1.1\r\nhost: t\r\nx-big: {fits}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut s).await.0, "HTTP/1.1 200 OK");
    srv.shutdown().await;
}

#[tokio::test]
async fn the_connection_cap_holds_and_the_next_is_served_once_one_closes() {
    let limits = Limits {
        max_connections: 2,
        ..small()
    };
    let srv = start(app(), limits).await;
    let mut a = TcpStream::connect(srv.addr).await.unwrap();
    let mut b = TcpStream::connect(srv.addr).await.unwrap();
    assert_eq!(get_on(&mut a, "/").await.0, "HTTP/1.1 200 OK");
    assert_eq!(get_on(&mut b, "/").await.0, "HTTP/1.1 200 OK");
    // The kernel completes the handshake (backlog); tokengate does not accept it.
    let mut c = TcpStream::connect(srv.addr).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    let mut probe = [0u8; 1];
    assert!(
        timeout(Duration::from_millis(300), c.read(&mut probe))
            .await
            .is_err(),
        "a third connection is not served while two are open"
    );
    drop(a);
    // (The timed-out read consumed nothing: tokio's read is cancel-safe.)
    let (status, body) = timeout(Duration::from_secs(2), read_response(&mut c))
        .await
        .expect("served once a slot frees");
    assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 200 OK", "ok"));
    drop(b);
    srv.shutdown().await;
}

#[tokio::test]
async fn the_app_sees_the_peer_address() {
    let srv = start(app(), small()).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let me = s.local_addr().unwrap().to_string();
    assert_eq!(get_on(&mut s, "/peer").await.1, me);
    srv.shutdown().await;
}

#[tokio::test]
async fn a_slow_http_request_gets_503_at_request_timeout() {
    let limits = Limits {
        request_timeout: Duration::from_millis(150),
        ..small()
    };
    let srv = start(app(), limits).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let started = Instant::now();
    let (status, body) = get_on(&mut s, "/slow").await;
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(body, r#"{"message":"Service Unavailable"}"#);
    assert!(started.elapsed() < Duration::from_millis(390));
    // The connection stays usable.
    assert_eq!(get_on(&mut s, "/").await.1, "ok");
    srv.shutdown().await;
}

#[tokio::test]
async fn stop_closes_idle_and_half_open_connections_at_once_and_finishes_in_flight() {
    let srv = start(app(), small()).await;
    let mut idle = TcpStream::connect(srv.addr).await.unwrap();
    assert_eq!(get_on(&mut idle, "/").await.0, "HTTP/1.1 200 OK");
    let mut half = TcpStream::connect(srv.addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nhos").await.unwrap();
    let mut silent = TcpStream::connect(srv.addr).await.unwrap();
    let mut busy = TcpStream::connect(srv.addr).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    sleep(Duration::from_millis(100)).await;

    let stopped = Instant::now();
    srv.stop.cancel();
    for (what, s) in [
        ("idle", &mut idle),
        ("half-open", &mut half),
        ("silent", &mut silent),
    ] {
        let closed = closed_within(s, Duration::from_secs(2)).await;
        assert!(
            closed.is_some() && stopped.elapsed() < Duration::from_millis(250),
            "{what} connection closed {:?} after stop",
            stopped.elapsed()
        );
    }
    // The listening socket is closed too: a new client is refused, not left waiting.
    assert!(TcpStream::connect(srv.addr).await.is_err());
    let (status, body) = read_response(&mut busy).await;
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "slow")
    );
    timeout(Duration::from_secs(2), srv.done)
        .await
        .expect("serve returns when the in-flight request is done")
        .unwrap();
    assert!(stopped.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn the_connection_gauge_follows_open_connections() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    // Current-thread runtime: every task records into this thread's recorder.
    let _local = metrics::set_default_local_recorder(&recorder);
    let srv = start(app(), small()).await;
    let gauge = || async {
        sleep(Duration::from_millis(50)).await;
        handle
            .render()
            .lines()
            .find(|l| l.starts_with("tokengate_connections{listener=\"test\"}"))
            .map(|l| l.rsplit(' ').next().unwrap_or_default().to_owned())
    };
    let mut a = TcpStream::connect(srv.addr).await.unwrap();
    let mut b = TcpStream::connect(srv.addr).await.unwrap();
    get_on(&mut a, "/").await;
    get_on(&mut b, "/").await;
    assert_eq!(gauge().await.as_deref(), Some("2"));
    drop(a);
    let mut now = gauge().await;
    for _ in 0..20 {
        if now.as_deref() == Some("1") {
            break;
        }
        now = gauge().await;
    }
    assert_eq!(now.as_deref(), Some("1"));
    drop(b);
    srv.shutdown().await;
}
