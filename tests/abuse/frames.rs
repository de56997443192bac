//! Raw HTTP/2 frames, for the attacks a well-behaved client library will not send: streams past
//! the advertised limit, self-dependent PRIORITY, endless CONTINUATION, HEADERS + RST_STREAM in a
//! loop. Header blocks are HPACK literals without indexing (no table state, no Huffman), so every
//! frame can be built on its own.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const PRIORITY: u8 = 2;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;
const CONTINUATION: u8 = 9;

pub const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

pub const CANCEL: u32 = 0x8;
pub const REFUSED_STREAM: u32 = 0x7;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

pub fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap();
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
}

/// The client preface and an empty SETTINGS frame.
pub fn hello() -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    frame(&mut out, SETTINGS, 0, 0, &[]);
    out
}

pub fn headers(out: &mut Vec<u8>, stream: u32, block: &[u8], flags: u8) {
    frame(out, HEADERS, flags, stream, block);
}

pub fn continuation(out: &mut Vec<u8>, stream: u32, block: &[u8], end: bool) {
    frame(
        out,
        CONTINUATION,
        if end { END_HEADERS } else { 0 },
        stream,
        block,
    );
}

/// A PING that asks for an ACK.
pub fn ping(out: &mut Vec<u8>, payload: u64) {
    frame(out, PING, 0, 0, &payload.to_be_bytes());
}

/// A SETTINGS frame (INITIAL_WINDOW_SIZE) the server must acknowledge.
pub fn settings(out: &mut Vec<u8>, window: u32) {
    let mut payload = vec![0, 4];
    payload.extend_from_slice(&window.to_be_bytes());
    frame(out, SETTINGS, 0, 0, &payload);
}

pub fn data(out: &mut Vec<u8>, stream: u32, payload: &[u8], end: bool) {
    frame(out, DATA, u8::from(end), stream, payload);
}

/// PRIORITY making `stream` depend on itself: a stream error the server must answer with
/// RST_STREAM (RFC 9113 §5.3.1), the "MadeYouReset" trigger.
pub fn priority_on_itself(out: &mut Vec<u8>, stream: u32) {
    let mut payload = stream.to_be_bytes().to_vec();
    payload.push(15);
    frame(out, PRIORITY, 0, stream, &payload);
}

pub fn rst(out: &mut Vec<u8>, stream: u32, code: u32) {
    frame(out, RST_STREAM, 0, stream, &code.to_be_bytes());
}

/// An HPACK integer with an `n`-bit prefix whose other bits are `high`.
fn integer(out: &mut Vec<u8>, high: u8, n: u32, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(high | u8::try_from(v).unwrap());
        return;
    }
    out.push(high | u8::try_from(max).unwrap());
    v -= max;
    while v >= 128 {
        out.push(u8::try_from(v % 128).unwrap() | 0x80);
        v /= 128;
    }
    out.push(u8::try_from(v).unwrap());
}

/// A literal header field without indexing, new name (RFC 7541 §6.2.2).
pub fn literal(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.push(0);
    integer(out, 0, 7, name.len());
    out.extend_from_slice(name.as_bytes());
    integer(out, 0, 7, value.len());
    out.extend_from_slice(value);
}

/// The request head of an ext_authz `Check` call.
pub fn check_block() -> Vec<u8> {
    let mut b = Vec::new();
    for (k, v) in [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/envoy.service.auth.v3.Authorization/Check"),
        (":authority", "tokengate"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ] {
        literal(&mut b, k, v.as_bytes());
    }
    b
}

/// What the server sent on a raw connection.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub bytes: usize,
    /// RST_STREAM frames by error code.
    pub resets: BTreeMap<u32, usize>,
    pub headers: usize,
    /// GOAWAY: error code and last stream id.
    pub goaway: Option<(u32, u32)>,
    /// The server closed (or reset) the connection.
    pub closed: bool,
}

impl Seen {
    pub fn resets(&self, code: u32) -> usize {
        self.resets.get(&code).copied().unwrap_or(0)
    }

    pub fn all_resets(&self) -> usize {
        self.resets.values().sum()
    }

    pub fn goaway_text(&self) -> String {
        match self.goaway {
            Some((ENHANCE_YOUR_CALM, _)) => "GOAWAY ENHANCE_YOUR_CALM".into(),
            Some((code, _)) => format!("GOAWAY code {code}"),
            None if self.closed => "closed, no GOAWAY".into(),
            None => "no GOAWAY".into(),
        }
    }
}

/// One frame the server sent: kind, flags, stream, payload.
type Frame<'a> = (u8, u8, u32, &'a [u8]);

/// Reads complete frames off the front of `buf`; what is consumed, and the frames.
fn parse(buf: &[u8]) -> (usize, Vec<Frame<'_>>) {
    let mut at = 0;
    let mut frames = Vec::new();
    while buf.len() - at >= 9 {
        let h = &buf[at..at + 9];
        let len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
        if buf.len() - at < 9 + len {
            break;
        }
        let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
        frames.push((h[3], h[4], stream, &buf[at + 9..at + 9 + len]));
        at += 9 + len;
    }
    (at, frames)
}

fn word(p: &[u8], at: usize) -> u32 {
    p.get(at..at + 4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Notes each frame in `seen`; the replies a polite client owes (SETTINGS and PING ACKs,
/// connection WINDOW_UPDATE for DATA).
fn note(seen: &mut Seen, frames: &[Frame<'_>]) -> Vec<u8> {
    let mut reply = Vec::new();
    for &(kind, flags, stream, payload) in frames {
        match kind {
            RST_STREAM => *seen.resets.entry(word(payload, 0)).or_default() += 1,
            HEADERS => seen.headers += 1,
            GOAWAY => seen.goaway = Some((word(payload, 4), word(payload, 0))),
            SETTINGS if flags & ACK == 0 => frame(&mut reply, SETTINGS, ACK, 0, &[]),
            PING if flags & ACK == 0 => frame(&mut reply, PING, ACK, 0, payload),
            DATA if !payload.is_empty() => {
                let n = u32::try_from(payload.len()).unwrap();
                frame(&mut reply, WINDOW_UPDATE, 0, 0, &n.to_be_bytes());
                if stream != 0 {
                    frame(&mut reply, WINDOW_UPDATE, 0, stream, &n.to_be_bytes());
                }
            }
            _ => {}
        }
    }
    reply
}

/// Reads what a connection that did not read holds, until the server closes it or `limit`.
pub async fn drain(s: &mut TcpStream, limit: Duration) -> Seen {
    let mut seen = Seen::default();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, s.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => {
                seen.closed = true;
                break;
            }
            Ok(Ok(n)) => {
                seen.bytes += n;
                buf.extend_from_slice(&chunk[..n]);
                let (used, frames) = parse(&buf);
                note(&mut seen, &frames);
                buf.drain(..used);
                if seen.goaway.is_some() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    seen
}

/// A raw HTTP/2 connection whose server frames are read (and answered politely) by a task.
pub struct Raw {
    w: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    seen: Arc<Mutex<Seen>>,
    reader: JoinHandle<()>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).await.unwrap();
        let _ = s.set_nodelay(true);
        let (mut r, mut w) = s.into_split();
        w.write_all(&hello()).await.unwrap();
        let w = Arc::new(tokio::sync::Mutex::new(w));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let reader = tokio::spawn({
            let (w, seen) = (w.clone(), seen.clone());
            async move {
                let mut buf = Vec::new();
                let mut chunk = vec![0u8; 64 * 1024];
                loop {
                    let n = match r.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    let (used, frames) = parse(&buf);
                    let reply = {
                        let mut seen = seen.lock().unwrap();
                        seen.bytes += n;
                        note(&mut seen, &frames)
                    };
                    buf.drain(..used);
                    if !reply.is_empty() {
                        let mut w = w.lock().await;
                        if timeout(Duration::from_secs(1), w.write_all(&reply))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                }
                seen.lock().unwrap().closed = true;
            }
        });
        let raw = Raw { w, seen, reader };
        // The server's SETTINGS first: its limits apply from there.
        let deadline = Instant::now() + Duration::from_secs(2);
        while raw.seen().bytes == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        raw
    }

    /// Writes `bytes`; false once the server stops taking them (closed, or not reading for 1 s).
    pub async fn send(&self, bytes: &[u8]) -> bool {
        let mut w = self.w.lock().await;
        matches!(
            timeout(Duration::from_secs(1), w.write_all(bytes)).await,
            Ok(Ok(()))
        )
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    /// Waits up to `limit` for a GOAWAY or the connection's end.
    pub async fn settle(&self, limit: Duration) -> Seen {
        let deadline = Instant::now() + limit;
        loop {
            let seen = self.seen();
            if seen.goaway.is_some() || seen.closed || Instant::now() >= deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[test]
fn hpack_integers_follow_rfc_7541_c_1() {
    let mut out = Vec::new();
    integer(&mut out, 0, 5, 10);
    assert_eq!(out, [10]);
    out.clear();
    integer(&mut out, 0, 5, 1337);
    assert_eq!(out, [31, 154, 10]);
}
