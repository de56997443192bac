//! A gRPC load generator on raw HTTP/2 (h2), so each request can carry its own pre-framed
//! `CheckRequest` (h2load posts one body for every request, which cannot make a cache miss).
//! Every response is decoded and its verdict counted: a run that gets a wrong answer says so.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use hdrhistogram::Histogram;
use prost::Message;
use tokengate::pb::auth::CheckResponse;

const PATH: &str = "/envoy.service.auth.v3.Authorization/Check";

/// A message in gRPC's length-prefixed framing.
pub fn frame(msg: &impl Message) -> Bytes {
    let body = msg.encode_to_vec();
    let mut out = BytesMut::with_capacity(5 + body.len());
    out.put_u8(0);
    out.put_u32(u32::try_from(body.len()).expect("a message under 4 GiB"));
    out.put_slice(&body);
    out.freeze()
}

/// What each request carries.
pub enum Feed {
    /// The same request every time: all cache hits after the first.
    Repeat(Bytes),
    /// Each request once, in order; the run ends when they are used up.
    Once(Arc<Vec<Bytes>>),
    /// `hot` in turn, except every `every`-th request, which takes the next of `cold`.
    Mix {
        hot: Arc<Vec<Bytes>>,
        cold: Arc<Vec<Bytes>>,
        every: usize,
    },
}

struct Source {
    feed: Feed,
    next: AtomicUsize,
    cold: AtomicUsize,
}

impl Source {
    fn take(&self) -> Option<Bytes> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        match &self.feed {
            Feed::Repeat(b) => Some(b.clone()),
            Feed::Once(all) => all.get(i).cloned(),
            Feed::Mix { hot, cold, every } => {
                if i % every == every - 1 {
                    let c = self.cold.fetch_add(1, Ordering::Relaxed);
                    cold.get(c).cloned()
                } else {
                    hot.get(i % hot.len()).cloned()
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
pub struct Shape {
    pub conns: usize,
    /// Requests in flight per connection.
    pub streams: usize,
    pub duration: Duration,
    /// Total requests per second across all streams; `None` sends as fast as answers come.
    pub rate: Option<f64>,
}

#[derive(Clone)]
pub struct Outcome {
    pub requests: u64,
    pub denied: u64,
    pub failed: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
}

impl Outcome {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// A latency percentile in microseconds.
    pub fn pct_us(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

struct Tally {
    allowed: u64,
    denied: u64,
    failed: u64,
    latency: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 60_000_000_000, 3).expect("histogram bounds")
}

/// Runs `shape` against `addr` with requests from `feed`; call on a current-thread runtime so
/// the generator takes at most one core, as h2load does.
pub async fn run(addr: SocketAddr, feed: Feed, shape: Shape) -> Outcome {
    let source = Arc::new(Source {
        feed,
        next: AtomicUsize::new(0),
        cold: AtomicUsize::new(0),
    });
    let uri: http::Uri = format!("http://{addr}{PATH}").parse().expect("URI");
    let stop = Arc::new(AtomicBool::new(false));
    let workers = shape.conns * shape.streams;
    let mut senders = Vec::new();
    for _ in 0..shape.conns {
        senders.push(connect(addr).await);
    }
    let start = Instant::now();
    let deadline = start + shape.duration;
    // Paced runs: a thread releases one permit per request as its time comes, every 50 µs.
    // tokio's timer wakes sleepers at millisecond ticks, which would send each millisecond's
    // requests as one burst and measure the burst, not the server.
    let permits = shape.rate.map(|rate| {
        let sem = Arc::new(tokio::sync::Semaphore::new(0));
        let (sem2, stop2) = (sem.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut released = 0u64;
            while !stop2.load(Ordering::Relaxed) && Instant::now() < deadline {
                let due = (start.elapsed().as_secs_f64() * rate) as u64;
                if due > released {
                    sem2.add_permits((due - released) as usize);
                    released = due;
                }
                std::thread::sleep(Duration::from_micros(50));
            }
            sem2.close();
        });
        sem
    });
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let sender = senders[w % shape.conns].clone();
        let (source, stop, uri) = (source.clone(), stop.clone(), uri.clone());
        let permits = permits.clone();
        tasks.spawn(async move {
            let mut tally = Tally {
                allowed: 0,
                denied: 0,
                failed: 0,
                latency: histogram(),
            };
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if let Some(p) = &permits {
                    match p.acquire().await {
                        Ok(permit) => permit.forget(),
                        Err(_) => break, // the run is over
                    }
                }
                let Some(body) = source.take() else {
                    stop.store(true, Ordering::Relaxed);
                    break;
                };
                let sent = Instant::now();
                match call(sender.clone(), &uri, body).await {
                    Ok(true) => tally.allowed += 1,
                    Ok(false) => tally.denied += 1,
                    Err(_) => tally.failed += 1,
                }
                let _ = tally
                    .latency
                    .record(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
            }
            tally
        });
    }
    let mut total = Tally {
        allowed: 0,
        denied: 0,
        failed: 0,
        latency: histogram(),
    };
    while let Some(done) = tasks.join_next().await {
        let t = done.expect("a load worker panicked");
        total.allowed += t.allowed;
        total.denied += t.denied;
        total.failed += t.failed;
        total
            .latency
            .add(&t.latency)
            .expect("histograms of one shape");
    }
    Outcome {
        requests: total.allowed + total.denied + total.failed,
        denied: total.denied,
        failed: total.failed,
        elapsed: start.elapsed(),
        latency: total.latency,
    }
}

async fn connect(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    tcp.set_nodelay(true).expect("TCP_NODELAY");
    let (sender, conn) = h2::client::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 24)
        .handshake(tcp)
        .await
        .expect("HTTP/2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
}

/// One unary call: `Ok(true)` allowed, `Ok(false)` denied, `Err` a failed RPC.
async fn call(
    sender: h2::client::SendRequest<Bytes>,
    uri: &http::Uri,
    body: Bytes,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let mut sender = sender.ready().await?;
    let request = http::Request::post(uri.clone())
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())?;
    let (response, mut send) = sender.send_request(request, false)?;
    send.send_data(body, true)?;
    let response = response.await?;
    if response.status() != http::StatusCode::OK {
        return Err(format!("HTTP {}", response.status()).into());
    }
    let mut body = response.into_body();
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        buf.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await?.unwrap_or_default();
    let status = trailers.get("grpc-status").map(|v| v.as_bytes());
    if status != Some(b"0") {
        return Err(format!("grpc-status {status:?}").into());
    }
    if buf.len() < 5 {
        return Err("no response message".into());
    }
    let reply = CheckResponse::decode(&buf[5..])?;
    Ok(reply.status.is_some_and(|s| s.code == 0))
}
