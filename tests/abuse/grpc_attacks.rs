//! Attacks with gRPC messages (over the `h2` client): partial, 4 GiB, 16 MiB.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

use crate::report::{Outcome, tally};
use crate::target::Target;

/// An h2 client connection and the task driving it.
struct Client {
    send: h2::client::SendRequest<Bytes>,
    driver: JoinHandle<()>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (send, conn) = h2::client::handshake(tcp).await.unwrap();
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Client { send, driver }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

fn check_head() -> http::Request<()> {
    http::Request::post("http://tokengate/envoy.service.auth.v3.Authorization/Check")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap()
}

/// A gRPC message prefix saying `len` bytes follow, then `body` bytes of them.
fn message(len: u32, body: usize) -> Bytes {
    let mut m = vec![0u8];
    m.extend_from_slice(&len.to_be_bytes());
    m.resize(5 + body, b'x');
    Bytes::from(m)
}

/// The call's `grpc-status` (headers of a trailers-only answer, else trailers); a name for
/// what happened otherwise.
async fn status_of(response: h2::client::ResponseFuture, limit: Duration) -> String {
    let answer = async {
        let response = match response.await {
            Ok(r) => r,
            Err(e) => {
                return format!(
                    "reset ({})",
                    e.reason().map_or("io".into(), |r| format!("{r:?}"))
                );
            }
        };
        if let Some(s) = response.headers().get("grpc-status") {
            return s.to_str().unwrap_or("?").to_owned();
        }
        let mut body = response.into_body();
        while let Some(chunk) = body.data().await {
            let Ok(chunk) = chunk else {
                return "reset in body".into();
            };
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        match body.trailers().await {
            Ok(Some(t)) => t
                .get("grpc-status")
                .and_then(|s| s.to_str().ok())
                .unwrap_or("no grpc-status")
                .to_owned(),
            _ => "no trailers".into(),
        }
    };
    timeout(limit, answer)
        .await
        .unwrap_or_else(|_| "no answer".into())
}

/// (2) 120 streams each sending all but the last byte of a ~4 MiB message, held 3 s.
pub async fn partial_messages(t: &Target) -> Outcome {
    const STREAMS: usize = 120;
    // Under the 4 MiB that tonic allows by default, so an unbounded server buffers it.
    const LEN: u32 = 4 * 1024 * 1024 - 64;
    let mut out = Outcome::default();
    let client = Client::connect(t.grpc).await;
    let msg = message(LEN, LEN as usize - 1);
    let held_until = Instant::now() + Duration::from_secs(3);
    let tasks: Vec<_> = (0..STREAMS)
        .map(|_| {
            let (send, msg) = (client.send.clone(), msg.clone());
            tokio::spawn(async move {
                let Ok(mut send) = send.ready().await else {
                    return "not sent".to_owned();
                };
                let Ok((response, mut body)) = send.send_request(check_head(), false) else {
                    return "not sent".to_owned();
                };
                let _ = body.send_data(msg, false);
                let left = held_until.saturating_duration_since(Instant::now());
                let code = status_of(response, left).await;
                // Keep the stream (and its unsent last byte) until the hold ends.
                sleep(held_until.saturating_duration_since(Instant::now())).await;
                drop(body);
                code
            })
        })
        .collect();
    let mut codes = BTreeMap::new();
    for task in tasks {
        *codes.entry(task.await.unwrap()).or_insert(0) += 1;
    }
    drop(client);
    out.note(format!(
        "{STREAMS} streams of {LEN} - 1 bytes: {}",
        tally(&codes)
    ));
    out.check(
        codes.get("8") == Some(&STREAMS),
        "every partial message is refused RESOURCE_EXHAUSTED",
    );
    out
}

/// How long an attack goes on, on new connections when the server ends one.
pub const SUSTAIN: Duration = Duration::from_secs(3);

/// (7) Calls whose message prefix says 4 GiB, one after another for 3 s.
pub async fn huge_prefix(t: &Target) -> Outcome {
    let mut out = Outcome::default();
    let mut client = Client::connect(t.grpc).await;
    let mut codes = BTreeMap::new();
    let started = Instant::now();
    while started.elapsed() < SUSTAIN {
        let Ok(mut send) = client.send.clone().ready().await else {
            *codes.entry("connection lost".to_owned()).or_insert(0) += 1;
            client = Client::connect(t.grpc).await;
            continue;
        };
        let (response, mut body) = send.send_request(check_head(), false).unwrap();
        let _ = body.send_data(message(u32::MAX, 1024), false);
        let code = status_of(response, Duration::from_secs(3)).await;
        *codes.entry(code).or_insert(0) += 1;
    }
    let calls: usize = codes.values().sum();
    out.note(format!("{calls} calls: {}", tally(&codes)));
    out.check(
        codes.get("8") == Some(&calls),
        "a 4 GiB prefix is RESOURCE_EXHAUSTED",
    );
    out
}

/// (8) 16 MiB messages: 8 connections, one after another on each for 3 s.
pub async fn big_messages(t: &Target) -> Outcome {
    const CONNS: usize = 8;
    const LEN: u32 = 16 * 1024 * 1024;
    let mut out = Outcome::default();
    let msg = message(LEN, LEN as usize);
    let start = Arc::new(Barrier::new(CONNS));
    let tasks: Vec<_> = (0..CONNS)
        .map(|_| {
            let (msg, start, grpc) = (msg.clone(), start.clone(), t.grpc);
            tokio::spawn(async move {
                let client = Client::connect(grpc).await;
                start.wait().await;
                let started = Instant::now();
                let mut codes = Vec::new();
                while started.elapsed() < SUSTAIN {
                    let mut send = client.send.clone().ready().await.unwrap();
                    let (response, mut body) = send.send_request(check_head(), false).unwrap();
                    let _ = body.send_data(msg.clone(), true);
                    codes.push(status_of(response, Duration::from_secs(10)).await);
                }
                codes
            })
        })
        .collect();
    let mut codes = BTreeMap::new();
    for task in tasks {
        for code in task.await.unwrap() {
            *codes.entry(code).or_insert(0) += 1;
        }
    }
    let calls: usize = codes.values().sum();
    out.note(format!("{calls} calls of 16 MiB: {}", tally(&codes)));
    out.check(
        codes.get("8") == Some(&calls),
        "a 16 MiB message is RESOURCE_EXHAUSTED",
    );
    out
}
