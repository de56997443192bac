//! The well-behaved client: a gRPC `Check` and an HTTP authorizer request with a valid token,
//! every 25 ms, each on a kept-alive connection as Envoy and nginx keep theirs, on a thread and
//! runtime of its own so the attack's tasks never delay it. And the probe that measures
//! recovery: fresh connections to all three listeners.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokengate::pb::auth::authorization_client::AuthorizationClient;
use tokengate::testkit::check_request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tonic::transport::Endpoint;

/// How long one honest request may take before it counts as failed.
pub const CALL_LIMIT: Duration = Duration::from_secs(2);
const PACE: Duration = Duration::from_millis(25);

/// One honest request: when it started, how long it took, whether it was allowed.
#[derive(Clone, Copy, Debug)]
struct Call {
    at: Instant,
    took: Duration,
    ok: bool,
}

pub struct Honest {
    stop: Arc<AtomicBool>,
    calls: Arc<Mutex<Vec<Call>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The honest client's figures over a window.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub n: usize,
    pub ok: usize,
    pub p50: Duration,
    pub p99: Duration,
}

impl Stats {
    pub fn ok_ratio(&self) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        self.ok as f64 / self.n as f64
    }
}

impl Honest {
    pub fn start(grpc: SocketAddr, http: SocketAddr, token: String) -> Honest {
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let thread = std::thread::spawn({
            let (stop, calls) = (stop.clone(), calls.clone());
            move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(run(grpc, http, token, stop, calls));
            }
        });
        Honest {
            stop,
            calls,
            thread: Some(thread),
        }
    }

    /// Requests started between `from` and `to`; one that never finished counts as failed
    /// after [`CALL_LIMIT`].
    pub fn window(&self, from: Instant, to: Instant) -> Stats {
        let calls = self.calls.lock().unwrap();
        let mut took: Vec<Duration> = Vec::new();
        let mut ok = 0;
        for c in calls.iter().filter(|c| c.at >= from && c.at <= to) {
            took.push(c.took);
            ok += usize::from(c.ok);
        }
        took.sort();
        let pct = |p: f64| {
            if took.is_empty() {
                return Duration::ZERO;
            }
            let i = ((took.len() as f64 * p).ceil() as usize).clamp(1, took.len()) - 1;
            took[i]
        };
        Stats {
            n: took.len(),
            ok,
            p50: pct(0.50),
            p99: pct(0.99),
        }
    }
}

impl Drop for Honest {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn run(
    grpc: SocketAddr,
    http: SocketAddr,
    token: String,
    stop: Arc<AtomicBool>,
    calls: Arc<Mutex<Vec<Call>>>,
) {
    let channel = Endpoint::from_shared(format!("http://{grpc}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(1))
        .connect_lazy();
    let mut client = AuthorizationClient::new(channel);
    let web = reqwest::Client::builder()
        .timeout(CALL_LIMIT)
        .build()
        .unwrap();
    let url = format!("http://{http}/api");
    let req = check_request("GET", "/api", &[("authorization", &token)]);
    while !stop.load(Ordering::Relaxed) {
        let at = Instant::now();
        let ok = matches!(
            timeout(CALL_LIMIT, client.check(req.clone())).await,
            Ok(Ok(r)) if r.get_ref().status.as_ref().is_some_and(|s| s.code == 0)
        );
        calls.lock().unwrap().push(Call {
            at,
            took: at.elapsed(),
            ok,
        });
        let at = Instant::now();
        let sent = web.get(&url).header("authorization", &token).send().await;
        let ok = sent.is_ok_and(|r| r.status() == 200);
        calls.lock().unwrap().push(Call {
            at,
            took: at.elapsed(),
            ok,
        });
        tokio::time::sleep(PACE).await;
    }
}

/// Which listeners serve a fresh connection: an allowed check over gRPC and over HTTP, and
/// `/healthz` on admin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fresh {
    pub grpc: bool,
    pub http: bool,
    pub admin: bool,
}

impl Fresh {
    pub fn all(self) -> bool {
        self.grpc && self.http && self.admin
    }
}

/// Tries each listener once on a new connection, within a second.
pub async fn fresh(grpc: SocketAddr, http: SocketAddr, admin: SocketAddr, token: &str) -> Fresh {
    let limit = Duration::from_secs(1);
    let grpc_ok = async {
        let Ok(endpoint) = Endpoint::from_shared(format!("http://{grpc}")) else {
            return false;
        };
        let Ok(Ok(channel)) = timeout(limit, endpoint.connect_timeout(limit).connect()).await
        else {
            return false;
        };
        let req = check_request("GET", "/api", &[("authorization", token)]);
        matches!(
            timeout(limit, AuthorizationClient::new(channel).check(req)).await,
            Ok(Ok(r)) if r.get_ref().status.as_ref().is_some_and(|s| s.code == 0)
        )
    };
    let http_req = format!(
        "GET /api HTTP/1.1\r\nhost: t\r\nauthorization: {token}\r\nconnection: close\r\n\r\n"
    );
    let http_ok = get_once(http, &http_req);
    let admin_ok = get_once(
        admin,
        "GET /healthz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    );
    let (grpc, http, admin) = tokio::join!(grpc_ok, http_ok, admin_ok);
    Fresh { grpc, http, admin }
}

/// Sends `request` on a new connection; whether the answer is a 200.
async fn get_once(addr: SocketAddr, request: &str) -> bool {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        timeout(Duration::from_secs(1), exchange).await,
        Ok(Some(true))
    )
}

/// How long until [`fresh`] succeeds, polled every 50 ms for up to `limit`.
pub async fn recovery(
    grpc: SocketAddr,
    http: SocketAddr,
    admin: SocketAddr,
    token: &str,
    limit: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if fresh(grpc, http, admin, token).await.all() {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
