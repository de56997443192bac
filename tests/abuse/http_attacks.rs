//! Attacks on request heads and bodies: HTTP/1 on the HTTP authorizer and admin listeners, and
//! HTTP/2 header lists.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

use crate::report::{Outcome, tally};
use crate::target::Target;

/// The status code of the first response on `s`, or what happened instead, within `limit`.
async fn status(s: &mut tokio::net::tcp::OwnedReadHalf, limit: Duration) -> String {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    let read = async {
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
            if head.len() >= 12 {
                return Some(String::from_utf8_lossy(&head[9..12]).to_string());
            }
        }
    };
    match timeout(limit, read).await {
        Ok(Some(code)) => code,
        Ok(None) => "closed".into(),
        Err(_) => "no answer".into(),
    }
}

/// Writes `head` then `body` chunks (one every `every`) until the server stops taking them or
/// `limit`; the response status and the bytes the client got to write.
async fn send(
    addr: SocketAddr,
    head: String,
    chunk: Vec<u8>,
    every: Duration,
    limit: Duration,
) -> (String, usize) {
    let Ok(s) = TcpStream::connect(addr).await else {
        return ("no connection".into(), 0);
    };
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        let started = Instant::now();
        let mut written = 0;
        let mut next: &[u8] = head.as_bytes();
        while started.elapsed() < limit {
            match timeout(Duration::from_secs(1), w.write_all(next)).await {
                Ok(Ok(())) => written += next.len(),
                _ => break,
            }
            if chunk.is_empty() {
                break;
            }
            next = &chunk;
            sleep(every).await;
        }
        (written, w)
    });
    let code = status(&mut r, limit + Duration::from_secs(1)).await;
    let (written, _w) = writer.await.unwrap();
    (code, written)
}

/// (6) Request heads over `max_request_bytes`: HTTP/1 (200 KB) on the HTTP authorizer, an
/// HTTP/2 header list (100 KB) on the gRPC listener.
pub async fn oversized_headers(t: &Target) -> Outcome {
    const H2_CALLS: usize = 20;
    let mut out = Outcome::default();
    let big = "a".repeat(200 * 1024);
    let mut h1 = BTreeMap::new();
    for _ in 0..5 {
        let wave: Vec<_> = (0..20)
            .map(|_| {
                let head = format!("GET /api HTTP/1.1\r\nhost: t\r\nx-big: {big}\r\n\r\n");
                tokio::spawn(send(
                    t.http,
                    head,
                    Vec::new(),
                    Duration::ZERO,
                    Duration::from_secs(1),
                ))
            })
            .collect();
        for w in wave {
            *h1.entry(w.await.unwrap().0).or_insert(0) += 1;
        }
    }
    let mut h2 = BTreeMap::new();
    let tcp = TcpStream::connect(t.grpc).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    // Few: HPACK-encoding 100 KB is slow in an unoptimised test build.
    for _ in 0..H2_CALLS {
        let Ok(mut send) = client.clone().ready().await else {
            *h2.entry("connection gone".to_owned()).or_insert(0) += 1;
            break;
        };
        let req = http::Request::get("http://t/api")
            .header("x-big", &big[..100 * 1024])
            .body(())
            .unwrap();
        let code = match send.send_request(req, true) {
            Ok((response, _)) => match timeout(Duration::from_secs(2), response).await {
                Ok(Ok(r)) => r.status().as_str().to_owned(),
                Ok(Err(e)) => format!("reset {:?}", e.reason()),
                Err(_) => "no answer".into(),
            },
            Err(e) => format!("refused {e}"),
        };
        *h2.entry(code).or_insert(0) += 1;
    }
    driver.abort();
    out.note(format!(
        "HTTP/1 200 KB head: {}; HTTP/2 100 KB headers: {}",
        tally(&h1),
        tally(&h2)
    ));
    out.check(
        h1.get("431") == Some(&100),
        "every oversized HTTP/1 head gets 431",
    );
    out.check(
        h2.get("431") == Some(&H2_CALLS),
        "every oversized HTTP/2 header list gets 431",
    );
    out
}

/// Opens a connection and sends `first`, then one more byte of the head every `every`, until the
/// server closes it or `limit`; when it was closed.
async fn trickle(
    addr: SocketAddr,
    first: Vec<u8>,
    more: Vec<u8>,
    every: Duration,
    limit: Duration,
) -> (Option<Duration>, usize, String) {
    let started = Instant::now();
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return (Some(Duration::ZERO), 0, "no connection".into());
    };
    let mut written = 0;
    let mut next = first;
    let mut got = Vec::new();
    let mut chunk = [0u8; 512];
    while started.elapsed() < limit {
        if s.write_all(&next).await.is_err() {
            break;
        }
        written += next.len();
        next.clone_from(&more);
        match timeout(every, s.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
            Err(_) => continue,
        }
    }
    let answer = got
        .get(9..12)
        .map_or("-".into(), |c| String::from_utf8_lossy(c).to_string());
    if started.elapsed() >= limit {
        return (None, written, answer);
    }
    // Closed (or answered and about to be): read to the end.
    let _ = timeout(Duration::from_millis(200), s.read_to_end(&mut got)).await;
    let answer = got
        .get(9..12)
        .map_or("-".into(), |c| String::from_utf8_lossy(c).to_string());
    (Some(started.elapsed()), written, answer)
}

/// (9) Slowloris: 450 connections each on the HTTP authorizer and on admin send a request line
/// and then one byte every 400 ms (each byte well within `header_read_timeout`), for 4 s.
pub async fn slowloris(t: &Target) -> Outcome {
    const EACH: usize = 450;
    let limit = Duration::from_secs(4);
    let mut out = Outcome::default();
    let tasks: Vec<_> = [t.http, t.admin]
        .into_iter()
        .flat_map(|addr| (0..EACH).map(move |_| addr))
        .map(|addr| {
            let first = b"GET /api HTTP/1.1\r\nhost: t\r\nx-slow: ".to_vec();
            tokio::spawn(trickle(
                addr,
                first,
                b"x".to_vec(),
                Duration::from_millis(400),
                limit,
            ))
        })
        .collect();
    // Every connection is open and trickling by now.
    sleep(Duration::from_millis(500)).await;
    let open_early = crate::process_attacks::readyz_connections(t).await;
    let mut closed = Vec::new();
    for task in tasks {
        if let (Some(at), _, _) = task.await.unwrap() {
            closed.push(at);
        }
    }
    closed.sort();
    let open = 2 * EACH - closed.len();
    let last = closed.last().copied().unwrap_or_default();
    out.note(format!(
        "/readyz connections at 0.5 s: {open_early}; \
         {} connections: {} closed by the server (last after {:.2} s), {open} still open after {} s",
        2 * EACH,
        closed.len(),
        last.as_secs_f64(),
        limit.as_secs()
    ));
    out.check(open == 0, "every slow head is cut");
    out
}

/// (9) 500 connections trickling a 400 KB request head (32 KB every 50 ms), held 3 s.
pub async fn trickled_heads(t: &Target) -> Outcome {
    const CONNS: usize = 500;
    let limit = Duration::from_secs(3);
    let mut out = Outcome::default();
    let line = format!("x-pad: {}\r\n", "a".repeat(32 * 1024 - 10)).into_bytes();
    let tasks: Vec<_> = (0..CONNS)
        .map(|_| {
            let first = b"GET /api HTTP/1.1\r\nhost: t\r\n".to_vec();
            tokio::spawn(trickle(
                t.http,
                first,
                line.clone(),
                Duration::from_millis(50),
                limit,
            ))
        })
        .collect();
    let (mut open, mut written) = (0, 0);
    let mut answers = BTreeMap::new();
    for task in tasks {
        let (closed, n, answer) = task.await.unwrap();
        open += usize::from(closed.is_none());
        written += n;
        *answers.entry(answer).or_insert(0) += 1;
    }
    out.note(format!(
        "{CONNS} heads: client wrote {:.0} MB; answers {}; {open} still open after {} s",
        written as f64 / 1e6,
        tally(&answers),
        limit.as_secs()
    ));
    out.check(open == 0, "every trickled 400 KB head is refused or cut");
    out
}

/// (12) Huge and endless HTTP/1 bodies for 3 s: 4 workers declare 1 GiB, 4 send chunks
/// forever, each on a new connection whenever the last one ends.
pub async fn bodies(t: &Target) -> Outcome {
    let mut out = Outcome::default();
    let limit = Duration::from_secs(3);
    let token = &t.token;
    let length = format!(
        "POST /api HTTP/1.1\r\nhost: t\r\nauthorization: {token}\r\ncontent-length: 1073741824\r\n\r\n"
    );
    let chunked = format!(
        "POST /api HTTP/1.1\r\nhost: t\r\nauthorization: {token}\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let mut chunk = b"10000\r\n".to_vec();
    chunk.extend_from_slice(&[b'a'; 0x10000]);
    chunk.extend_from_slice(b"\r\n");
    let started = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let head = if i < 4 {
                length.clone()
            } else {
                chunked.clone()
            };
            let body = if i < 4 {
                vec![b'a'; 0x10000]
            } else {
                chunk.clone()
            };
            let http = t.http;
            tokio::spawn(async move {
                let mut runs = Vec::new();
                while started.elapsed() < limit {
                    let left = limit.saturating_sub(started.elapsed());
                    runs.push(send(http, head.clone(), body.clone(), Duration::ZERO, left).await);
                }
                runs
            })
        })
        .collect();
    let mut codes = BTreeMap::new();
    let (mut most, mut total) = (0, 0);
    for task in tasks {
        for (code, written) in task.await.unwrap() {
            most = most.max(written);
            total += written;
            *codes.entry(code).or_insert(0) += 1;
        }
    }
    let conns: usize = codes.values().sum();
    out.note(format!(
        "{conns} connections with endless bodies: {}; {:.0} MB sent in all, at most {:.1} MB on one",
        tally(&codes),
        total as f64 / 1e6,
        most as f64 / 1e6,
    ));
    out.check(
        codes.get("200") == Some(&conns),
        "each is answered without reading the body",
    );
    out
}

/// (12) Pipelining: 4 connections each send 5,000 requests without reading for 1 s.
pub async fn pipelining(t: &Target) -> Outcome {
    const CONNS: usize = 4;
    const EACH: usize = 5000;
    let mut out = Outcome::default();
    let one = format!(
        "GET /api HTTP/1.1\r\nhost: t\r\nauthorization: {}\r\n\r\n",
        t.token
    );
    let tasks: Vec<_> = (0..CONNS)
        .map(|_| {
            let (all, http) = (one.repeat(EACH).into_bytes(), t.http);
            tokio::spawn(async move {
                let (mut r, mut w) = TcpStream::connect(http).await.unwrap().into_split();
                let writer = tokio::spawn(async move {
                    let _ = timeout(Duration::from_secs(15), w.write_all(&all)).await;
                    w
                });
                sleep(Duration::from_secs(1)).await;
                // Counted as they come: only the last 12 bytes are kept for a status line
                // split across reads.
                const STATUS: &[u8] = b"HTTP/1.1 200 ";
                let (mut answered, mut tail) = (0, Vec::new());
                let mut chunk = vec![0u8; 64 * 1024];
                let deadline = Instant::now() + Duration::from_secs(15);
                while answered < EACH && Instant::now() < deadline {
                    match timeout(Duration::from_secs(2), r.read(&mut chunk)).await {
                        Ok(Ok(n)) if n > 0 => {
                            tail.extend_from_slice(&chunk[..n]);
                            answered += tail.windows(STATUS.len()).filter(|w| w == &STATUS).count();
                            tail.drain(..tail.len().saturating_sub(STATUS.len() - 1));
                        }
                        _ => break,
                    }
                }
                let _w = writer.await.unwrap();
                answered
            })
        })
        .collect();
    let mut answered = 0;
    for task in tasks {
        answered += task.await.unwrap();
    }
    out.note(format!(
        "{answered}/{} pipelined requests answered 200",
        CONNS * EACH
    ));
    out.check(
        answered == CONNS * EACH,
        "every pipelined request is answered",
    );
    out
}
