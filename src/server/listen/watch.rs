//! A connection's activity, and when it must be closed.
//!
//! hyper has no idle timeout for HTTP/1 keep-alive, its HTTP/1 header-read timer starts when it
//! begins waiting for a head (so it would also cut every idle keep-alive connection at
//! `header_read_timeout`), and neither its graceful shutdown nor hyper-util's version sniffing
//! closes a connection that has sent part of its first request. So each connection carries an
//! [`Activity`]: the IO wrapper [`Watched`] notes bytes read while no request is in flight and
//! whether the client spoke the HTTP/2 preface; requests note their start and end. The
//! connection task sleeps until [`deadline`] says the connection has nothing left to do.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::limits::Limits;

/// After a GOAWAY with nothing in flight, how long an HTTP/2 client has to acknowledge it (hyper
/// waits for a PING round trip before its final GOAWAY) before the socket is simply closed.
pub const GOAWAY_GRACE: Duration = Duration::from_secs(1);

const NONE: u64 = u64::MAX;
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What one connection is doing. Shared by the connection task, its IO and its requests (which
/// run on other tasks over HTTP/2), hence atomics. Times are milliseconds since `base`.
#[derive(Debug)]
pub struct Activity {
    base: Instant,
    in_flight: AtomicUsize,
    /// When the last request ended (or the connection opened).
    idle_since: AtomicU64,
    /// When the first byte arrived with no request in flight: a head is being sent.
    head_since: AtomicU64,
    h2: AtomicBool,
    /// Bytes were written and not yet flushed.
    dirty: AtomicBool,
    closing: AtomicBool,
    changed: Notify,
}

/// What [`deadline`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Requests begun and not yet answered.
    pub in_flight: usize,
    /// When the last response ended (ms since the connection opened).
    pub idle_since: u64,
    /// When an HTTP/1 request head began arriving, while it is incomplete.
    pub head_since: Option<u64>,
    /// Whether the connection speaks HTTP/2.
    pub h2: bool,
    /// Whether written bytes are not yet flushed.
    pub dirty: bool,
}

/// When the connection is to be closed, in milliseconds since it opened; `None` while it has
/// work (or until something changes). `closing` is when a graceful shutdown was asked for.
pub fn deadline(s: &Snapshot, limits: &Limits, closing: Option<u64>) -> Option<u64> {
    if s.in_flight > 0 {
        return None;
    }
    let after = |since: u64, d: Duration| {
        since.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    };
    match (closing, s.h2) {
        // An HTTP/2 client is owed its GOAWAY round trip, bounded.
        (Some(at), true) => Some(after(at.max(s.idle_since), GOAWAY_GRACE)),
        // HTTP/1 with nothing in flight: idle, or a head not yet complete. Close once the last
        // response is out of our buffers (a client that stops reading has `idle_timeout`).
        (Some(at), false) if s.dirty => Some(after(s.idle_since, limits.idle_timeout).max(at)),
        (Some(at), false) => Some(at),
        (None, false) => Some(match s.head_since {
            Some(h) => after(h, limits.header_read_timeout),
            None => after(s.idle_since, limits.idle_timeout),
        }),
        (None, true) => Some(after(s.idle_since, limits.idle_timeout)),
    }
}

impl Activity {
    /// A connection that opened now, idle.
    pub fn new() -> Activity {
        Activity {
            base: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            h2: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    /// Milliseconds since the connection opened.
    pub fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    /// The instant `ms` milliseconds after the connection opened.
    pub fn at(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }

    /// Whether the connection speaks HTTP/2.
    pub fn is_h2(&self) -> bool {
        self.h2.load(Ordering::Relaxed)
    }

    /// The state [`deadline`] reads, loaded at once.
    pub fn snapshot(&self) -> Snapshot {
        // Acquire pairs with `end`'s release: seeing its count means seeing its `idle_since`.
        let in_flight = self.in_flight.load(Ordering::Acquire);
        let head = self.head_since.load(Ordering::Relaxed);
        Snapshot {
            in_flight,
            idle_since: self.idle_since.load(Ordering::Relaxed),
            head_since: (head != NONE).then_some(head),
            h2: self.h2.load(Ordering::Relaxed),
            dirty: self.dirty.load(Ordering::Relaxed),
        }
    }

    /// A request reached the service.
    pub fn begin(&self) {
        self.head_since.store(NONE, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    /// A request's response is over (sent, failed or abandoned).
    pub fn end(&self) {
        self.idle_since.store(self.now(), Ordering::Relaxed);
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.changed.notify_one();
        }
    }

    /// A graceful shutdown was asked for: the deadline may come earlier.
    pub fn set_closing(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    /// Resolves after something that may bring the deadline earlier.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    fn read(&self, sniff: &mut Sniff, bytes: &[u8]) {
        if !sniff.done {
            for &b in bytes {
                if b != PREFACE[sniff.matched] {
                    sniff.done = true;
                    break;
                }
                sniff.matched += 1;
                if sniff.matched == PREFACE.len() {
                    sniff.done = true;
                    self.h2.store(true, Ordering::Relaxed);
                    break;
                }
            }
        }
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_since.load(Ordering::Relaxed) == NONE
        {
            self.head_since.store(self.now(), Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    fn flushed(&self) {
        if self.dirty.swap(false, Ordering::Relaxed) && self.closing.load(Ordering::Relaxed) {
            self.changed.notify_one();
        }
    }
}

impl Default for Activity {
    fn default() -> Activity {
        Activity::new()
    }
}

#[derive(Debug, Default)]
struct Sniff {
    matched: usize,
    done: bool,
}

/// A socket that reports what it carries to its connection's [`Activity`].
#[derive(Debug)]
pub struct Watched<T> {
    io: T,
    activity: Arc<Activity>,
    sniff: Sniff,
}

impl<T> Watched<T> {
    /// Wraps `io`, reporting to `activity`.
    pub fn new(io: T, activity: Arc<Activity>) -> Watched<T> {
        Watched {
            io,
            activity,
            sniff: Sniff::default(),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && buf.filled().len() > before
        {
            let this = &mut *self;
            this.activity.read(&mut this.sniff, &buf.filled()[before..]);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.activity.dirty.store(true, Ordering::Relaxed);
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.activity.dirty.store(true, Ordering::Relaxed);
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        if let Poll::Ready(Ok(())) = polled {
            self.activity.flushed();
        }
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// One request counted in flight until dropped.
pub struct InFlight(Arc<Activity>);

impl InFlight {
    pub(super) fn new(activity: Arc<Activity>) -> InFlight {
        activity.begin();
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(50),
            idle_timeout: Duration::from_millis(1000),
            ..Limits::default()
        }
    }

    fn idle(since: u64) -> Snapshot {
        Snapshot {
            in_flight: 0,
            idle_since: since,
            head_since: None,
            h2: false,
            dirty: false,
        }
    }

    #[test]
    fn an_idle_connection_closes_after_idle_timeout() {
        assert_eq!(deadline(&idle(10), &limits(), None), Some(1010));
        let h2 = Snapshot {
            h2: true,
            ..idle(10)
        };
        assert_eq!(deadline(&h2, &limits(), None), Some(1010));
    }

    #[test]
    fn a_started_http1_head_has_header_read_timeout_from_its_first_byte() {
        let s = Snapshot {
            head_since: Some(500),
            ..idle(10)
        };
        assert_eq!(deadline(&s, &limits(), None), Some(550));
        // HTTP/2 frames between requests (PINGs, SETTINGS) are not a head.
        let h2 = Snapshot { h2: true, ..s };
        assert_eq!(deadline(&h2, &limits(), None), Some(1010));
    }

    #[test]
    fn a_request_in_flight_is_never_cut() {
        let busy = Snapshot {
            in_flight: 1,
            head_since: Some(0),
            ..idle(0)
        };
        assert_eq!(deadline(&busy, &limits(), None), None);
        assert_eq!(deadline(&busy, &limits(), Some(0)), None);
    }

    #[test]
    fn closing_drops_http1_at_once_unless_a_response_is_still_being_written() {
        assert_eq!(deadline(&idle(0), &limits(), Some(70)), Some(70));
        let writing = Snapshot {
            dirty: true,
            ..idle(0)
        };
        assert_eq!(deadline(&writing, &limits(), Some(70)), Some(1000));
    }

    #[test]
    fn closing_gives_http2_one_goaway_grace_after_its_last_request() {
        let h2 = Snapshot {
            h2: true,
            ..idle(100)
        };
        assert_eq!(deadline(&h2, &limits(), Some(40)), Some(1100));
        assert_eq!(deadline(&h2, &limits(), Some(300)), Some(1300));
    }

    #[test]
    fn the_preface_marks_http2_and_a_head_byte_starts_the_header_clock() {
        let a = Activity::new();
        let mut sniff = Sniff::default();
        a.read(&mut sniff, &PREFACE[..10]);
        assert!(!a.is_h2());
        assert!(a.snapshot().head_since.is_some());
        a.read(&mut sniff, &PREFACE[10..]);
        assert!(a.is_h2());

        let b = Activity::new();
        let mut sniff = Sniff::default();
        b.read(&mut sniff, b"PRIX");
        b.read(&mut sniff, &PREFACE[4..]);
        assert!(!b.is_h2());
    }

    #[test]
    fn a_request_clears_the_head_clock_and_its_end_restarts_the_idle_clock() {
        let a = Activity::new();
        let mut sniff = Sniff::default();
        a.read(&mut sniff, b"GET / HTTP/1.1\r\n");
        a.begin();
        let s = a.snapshot();
        assert_eq!((s.in_flight, s.head_since), (1, None));
        // Body bytes and pipelined heads read during a request are not a new head.
        a.read(&mut sniff, b"x");
        assert_eq!(a.snapshot().head_since, None);
        a.end();
        let s = a.snapshot();
        assert_eq!((s.in_flight, s.head_since), (0, None));
    }
}
