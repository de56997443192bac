//! HTTP/1.1 with exact bytes: a client that sends a request as written (raw non-ASCII, tabs,
//! repeated headers — what no well-behaved client library sends) and an upstream that records
//! exactly what a proxy forwarded to it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request head as bytes: `METHOD TARGET HTTP/1.1`, `Host`, the headers as given (repeats
/// kept, in order), `Connection: close`.
pub fn raw_request(method: &str, target: &[u8], headers: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out
}

/// An answer read to the end of the connection.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Lower-case names, in order.
    pub headers: Vec<(String, String)>,
    /// The body, lossily as text.
    pub body: String,
}

impl RawResponse {
    /// Every value of header `name`.
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Sends `request` (from [`raw_request`]) to `addr` and reads the answer: to its
/// `content-length`, its last chunk, or the end of the connection (some servers hold a
/// connection open a while after the answer).
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut data = Vec::new();
    let read = async {
        let mut chunk = [0u8; 8192];
        while !complete(&data) {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => data.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), read).await;
    parse_response(&data)
}

/// Whether `data` holds a whole answer whose length its head gives.
fn complete(data: &[u8]) -> bool {
    let Some(end) = find(data, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
    let body = &data[end + 4..];
    if head.contains("transfer-encoding: chunked") {
        return find(body, b"0\r\n\r\n").is_some();
    }
    head.lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .is_some_and(|n| body.len() >= n)
}

fn parse_response(data: &[u8]) -> RawResponse {
    let split = find(data, b"\r\n\r\n").unwrap_or(data.len());
    let head = String::from_utf8_lossy(&data[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = data.get(split + 4..).unwrap_or_default();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    RawResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(data, b"\r\n") {
        let size = std::str::from_utf8(&data[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = data.get(start + size + 2..).unwrap_or_default();
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A request as an upstream received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The method as sent.
    pub method: String,
    /// The request target, byte for byte.
    pub target: Vec<u8>,
    /// Lower-case names, values as sent, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Seen {
    /// Every value of header `name` (lower case), as text.
    pub fn header(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    }
}

/// An upstream that records every request and answers 200 with `user=` and the `x-user-id`
/// it received (or `-`), over keep-alive connections.
pub struct Upstream {
    /// Where it listens (loopback).
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    /// Listens on a loopback port and serves until the test ends.
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, record.clone()));
            }
        });
        Upstream { addr, seen }
    }

    /// The requests received since the last call.
    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

async fn serve(mut socket: TcpStream, seen: Arc<Mutex<Vec<Seen>>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let end = loop {
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                break end;
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = buf[..end].to_vec();
        buf.drain(..end + 4);
        let mut lines = head
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let line = lines.next().unwrap_or_default();
        let first = line.iter().position(|b| *b == b' ').unwrap_or(0);
        let last = line.iter().rposition(|b| *b == b' ').unwrap_or(line.len());
        let method = String::from_utf8_lossy(&line[..first]).into_owned();
        let target = line.get(first + 1..last).unwrap_or_default().to_vec();
        let headers: Vec<(String, Vec<u8>)> = lines
            .filter_map(|l| {
                let colon = l.iter().position(|b| *b == b':')?;
                let name = String::from_utf8_lossy(&l[..colon]).to_ascii_lowercase();
                let value = l[colon + 1..].trim_ascii().to_vec();
                Some((name, value))
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(0);
        while buf.len() < length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..length);
        let close = headers
            .iter()
            .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case(b"close"));
        let user = headers
            .iter()
            .find(|(k, _)| k == "x-user-id")
            .map_or("-".to_owned(), |(_, v)| {
                format!("user={}", String::from_utf8_lossy(v))
            });
        seen.lock().unwrap().push(Seen {
            method,
            target,
            headers,
        });
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{user}",
            user.len()
        );
        if socket.write_all(reply.as_bytes()).await.is_err() || close {
            return;
        }
    }
}
