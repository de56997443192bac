//! Attacks in raw HTTP/2 frames on the gRPC listener: streams past the limit, resets the client
//! or the server causes, endless header blocks, control-frame floods, a client that never reads.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

use crate::frames::{self, END_HEADERS, ENHANCE_YOUR_CALM, REFUSED_STREAM, Raw};
use crate::grpc_attacks::SUSTAIN;
use crate::report::{Outcome, tally};
use crate::target::Target;

/// (1) One connection opens 20,000 streams, ignoring SETTINGS_MAX_CONCURRENT_STREAMS.
pub async fn streams_past_limit(t: &Target) -> Outcome {
    const STREAMS: u32 = 20_000;
    let mut out = Outcome::default();
    let raw = Raw::connect(t.grpc).await;
    let block = frames::check_block();
    let mut written = 0;
    let mut buf = Vec::new();
    for i in 0..STREAMS {
        frames::headers(&mut buf, 2 * i + 1, &block, END_HEADERS);
        if buf.len() >= 32 * 1024 || i + 1 == STREAMS {
            if !raw.send(&buf).await {
                break;
            }
            written = i + 1;
            buf.clear();
        }
    }
    // Held open while the sampler watches memory.
    sleep(Duration::from_secs(2)).await;
    let seen = raw.settle(Duration::from_millis(200)).await;
    out.note(format!(
        "{written}/{STREAMS} HEADERS written, {} REFUSED_STREAM, {} answered, {}",
        seen.resets(REFUSED_STREAM),
        seen.headers,
        seen.goaway_text()
    ));
    out.check(
        seen.resets(REFUSED_STREAM) > 0,
        "streams past max_streams are refused",
    );
    out.check(
        seen.goaway
            .is_some_and(|(code, _)| code == ENHANCE_YOUR_CALM),
        "GOAWAY after the refusals reach the reset limit",
    );
    out
}

/// What a run of connections saw: how many, how much the attack wrote in all, how many ended
/// with a GOAWAY ENHANCE_YOUR_CALM, and any other endings.
#[derive(Default)]
struct Runs {
    conns: usize,
    sent: u64,
    calm: usize,
    endings: BTreeMap<String, usize>,
}

const CUT: &str = "cut by the attack's end";

impl Runs {
    /// One connection; `cut` when the attack's time ran out on it (it ends without a verdict).
    fn add(&mut self, sent: u64, seen: &frames::Seen, cut: bool) {
        self.conns += 1;
        self.sent += sent;
        let ending = match seen.goaway {
            Some((ENHANCE_YOUR_CALM, _)) => {
                self.calm += 1;
                return;
            }
            None if cut => CUT.to_owned(),
            _ => seen.goaway_text(),
        };
        *self.endings.entry(ending).or_insert(0) += 1;
    }

    /// Every connection the server ended got GOAWAY ENHANCE_YOUR_CALM.
    fn all_calm(&self) -> bool {
        self.endings.keys().all(|e| e == CUT)
    }

    fn text(&self, what: &str) -> String {
        let mut text = format!(
            "{} {what} over {} connections, {} ended by GOAWAY ENHANCE_YOUR_CALM",
            self.sent, self.conns, self.calm
        );
        if !self.endings.is_empty() {
            text.push_str(&format!(", others: {}", tally(&self.endings)));
        }
        text
    }
}

/// (3) HEADERS then a self-dependent PRIORITY, in a loop, never reading: each makes the server
/// reset a stream it opened ("MadeYouReset"). A connection ends when the server stops taking
/// frames; then what it sent is read, and the attack starts again on a new one, for 3 s.
pub async fn made_you_reset(t: &Target) -> Outcome {
    const BATCH: u32 = 500;
    const PER_CONN: u32 = 200_000;
    let mut out = Outcome::default();
    let block = frames::check_block();
    let mut runs = Runs::default();
    let mut resets = 0;
    let started = Instant::now();
    let mut buf = Vec::new();
    while started.elapsed() < SUSTAIN {
        let mut s = TcpStream::connect(t.grpc).await.unwrap();
        s.write_all(&frames::hello()).await.unwrap();
        let mut sent = 0;
        while sent < PER_CONN && started.elapsed() < SUSTAIN {
            buf.clear();
            for i in sent..sent + BATCH {
                let stream = 2 * i + 1;
                frames::headers(&mut buf, stream, &block, END_HEADERS);
                frames::priority_on_itself(&mut buf, stream);
            }
            match timeout(Duration::from_secs(1), s.write_all(&buf)).await {
                Ok(Ok(())) => sent += BATCH,
                _ => break,
            }
        }
        // A connection cut by the attack's end will not see its GOAWAY: no need to wait.
        let cut = started.elapsed() >= SUSTAIN;
        let wait = Duration::from_millis(if cut { 200 } else { 3000 });
        let seen = frames::drain(&mut s, wait).await;
        resets += seen.all_resets();
        runs.add(u64::from(sent), &seen, cut);
    }
    out.note(format!(
        "{}; {resets} RST_STREAM read",
        runs.text("HEADERS+PRIORITY pairs")
    ));
    out.check(
        runs.all_calm(),
        "every connection gets GOAWAY ENHANCE_YOUR_CALM for server-induced resets",
    );
    out
}

/// (3, the same without resets) Valid checks on 4 connections, never reading a response, for
/// 3 s: answers must not pile up in the server.
pub async fn slow_reader(t: &Target) -> Outcome {
    const CONNS: usize = 4;
    const BATCH: u32 = 100;
    let mut out = Outcome::default();
    let block = frames::check_block();
    let req = tokengate::testkit::check_request("GET", "/api", &[("authorization", &t.token)]);
    let body = prost::Message::encode_to_vec(&req);
    let mut grpc = vec![0u8];
    grpc.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    grpc.extend_from_slice(&body);
    let tasks: Vec<_> = (0..CONNS)
        .map(|_| {
            let (block, grpc, addr) = (block.clone(), grpc.clone(), t.grpc);
            tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(&frames::hello()).await.unwrap();
                let started = Instant::now();
                let mut sent = 0;
                let mut buf = Vec::new();
                while started.elapsed() < SUSTAIN {
                    buf.clear();
                    for i in sent..sent + BATCH {
                        frames::headers(&mut buf, 2 * i + 1, &block, END_HEADERS);
                        frames::data(&mut buf, 2 * i + 1, &grpc, true);
                    }
                    match timeout(Duration::from_secs(1), s.write_all(&buf)).await {
                        Ok(Ok(())) => sent += BATCH,
                        _ => break,
                    }
                }
                let blocked = started.elapsed() < SUSTAIN;
                // Held, unread, to the end of the attack.
                sleep(SUSTAIN.saturating_sub(started.elapsed())).await;
                let seen = frames::drain(&mut s, Duration::from_millis(500)).await;
                (sent, blocked, seen)
            })
        })
        .collect();
    let (mut sent, mut blocked, mut endings) = (0, 0, BTreeMap::new());
    for task in tasks {
        let (n, b, seen) = task.await.unwrap();
        sent += n;
        blocked += usize::from(b);
        *endings.entry(seen.goaway_text()).or_insert(0) += 1;
    }
    out.note(format!(
        "{sent} checks written on {CONNS} connections that never read; {blocked} stopped being read \
         by the server; {}",
        tally(&endings)
    ));
    out
}

/// (4) Classic rapid reset: HEADERS then RST_STREAM(CANCEL), in a loop, for 3 s, on a new
/// connection whenever one ends.
pub async fn rapid_reset(t: &Target) -> Outcome {
    const BATCH: u32 = 500;
    let mut out = Outcome::default();
    let block = frames::check_block();
    let mut runs = Runs::default();
    let started = Instant::now();
    let mut buf = Vec::new();
    while started.elapsed() < SUSTAIN {
        let raw = Raw::connect(t.grpc).await;
        let mut sent = 0u32;
        while started.elapsed() < SUSTAIN && sent < 1_000_000 {
            buf.clear();
            for i in sent..sent + BATCH {
                let stream = 2 * i + 1;
                frames::headers(&mut buf, stream, &block, END_HEADERS);
                frames::rst(&mut buf, stream, frames::CANCEL);
            }
            if !raw.send(&buf).await || raw.seen().goaway.is_some() {
                break;
            }
            sent += BATCH;
            tokio::task::yield_now().await;
        }
        let seen = raw.settle(Duration::from_millis(500)).await;
        runs.add(u64::from(sent), &seen, started.elapsed() >= SUSTAIN);
    }
    out.note(runs.text("HEADERS+RST_STREAM pairs"));
    out
}

/// (5) A HEADERS frame without END_HEADERS, then CONTINUATION frames (16 KB each) until the
/// server ends the connection, again and again for 3 s.
pub async fn continuation_flood(t: &Target) -> Outcome {
    let mut out = Outcome::default();
    let mut block = Vec::new();
    frames::literal(&mut block, "x-flood", &[b'a'; 16_000]);
    let mut one = Vec::new();
    frames::continuation(&mut one, 1, &block, false);
    let batch: Vec<u8> = one.repeat(16);
    let mut runs = Runs::default();
    let mut most = 0;
    let started = Instant::now();
    while started.elapsed() < SUSTAIN {
        let raw = Raw::connect(t.grpc).await;
        let mut first = Vec::new();
        frames::headers(&mut first, 1, &frames::check_block(), 0);
        raw.send(&first).await;
        let mut sent = 0usize;
        while started.elapsed() < SUSTAIN && sent < 256 << 20 {
            if !raw.send(&batch).await || raw.seen().goaway.is_some() {
                break;
            }
            sent += batch.len();
        }
        let seen = raw.settle(Duration::from_secs(1)).await;
        most = most.max(sent);
        runs.add(sent as u64, &seen, started.elapsed() >= SUSTAIN);
    }
    out.note(format!(
        "{}; at most {:.1} MB taken on one connection",
        runs.text("bytes of CONTINUATION"),
        most as f64 / 1e6
    ));
    out.check(
        runs.all_calm(),
        "every CONTINUATION flood ends in GOAWAY ENHANCE_YOUR_CALM",
    );
    out
}

/// PING and SETTINGS frames (each owed an ACK) from 4 connections that never read, for 3 s:
/// the server must stop reading rather than queue ACKs.
pub async fn control_flood(t: &Target) -> Outcome {
    const CONNS: usize = 4;
    let mut out = Outcome::default();
    let mut batch = Vec::new();
    for i in 0..1000 {
        frames::ping(&mut batch, i);
        frames::settings(&mut batch, 65_535 + u32::try_from(i).unwrap());
    }
    let tasks: Vec<_> = (0..CONNS)
        .map(|_| {
            let (batch, addr) = (batch.clone(), t.grpc);
            tokio::spawn(async move {
                let mut s = small_buffers(addr).await;
                s.write_all(&frames::hello()).await.unwrap();
                let started = Instant::now();
                let mut sent = 0u64;
                while started.elapsed() < SUSTAIN {
                    match timeout(Duration::from_secs(1), s.write_all(&batch)).await {
                        Ok(Ok(())) => sent += 2000,
                        _ => break,
                    }
                }
                let blocked = started.elapsed() < SUSTAIN;
                sleep(SUSTAIN.saturating_sub(started.elapsed())).await;
                let seen = frames::drain(&mut s, Duration::from_millis(300)).await;
                (sent, blocked, seen)
            })
        })
        .collect();
    let (mut sent, mut blocked, mut endings) = (0, 0, BTreeMap::new());
    for task in tasks {
        let (n, b, seen) = task.await.unwrap();
        sent += n;
        blocked += usize::from(b);
        *endings.entry(seen.goaway_text()).or_insert(0) += 1;
    }
    out.note(format!(
        "{sent} PING+SETTINGS frames written on {CONNS} connections that never read; {blocked} \
         stopped being read by the server; {}",
        tally(&endings)
    ));
    out.check(
        blocked == CONNS,
        "the server stops reading a peer that takes no ACKs",
    );
    out
}

/// A connection whose own socket buffers are small and fixed (no autotuning: loopback's grow to
/// 32 MB), so that when the server stops reading, the attacker's writes block within the attack
/// rather than after tens of megabytes of queued ACKs.
async fn small_buffers(addr: std::net::SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    socket.connect(addr).await.unwrap()
}
