//! The one way a listener is served: an axum [`Router`] (gRPC services too, through tonic's
//! `Routes::into_axum_router`) over HTTP/1 and HTTP/2 prior knowledge, with every [`Limits`]
//! field applied here so that none can silently not apply.
//!
//! - Connections: at most `max_connections` open; beyond it the listener is not accepted from,
//!   so new connections wait in the kernel backlog. Accept errors back off (descriptors
//!   exhausted must not spin a core).
//! - HTTP/1: the request head is bounded by `max_request_bytes` (431 beyond it) and must arrive
//!   within `header_read_timeout` of its first byte; [`watch`] enforces the latter, since hyper's
//!   own timer also runs while a keep-alive connection is idle.
//! - HTTP/2: `max_streams` advertised and enforced, the header list bounded by
//!   `max_request_bytes` (431), and hyper's reset protections set explicitly on (tonic's builder
//!   turns them off; here tonic is only a router). Keep-alive PINGs find dead peers.
//! - gRPC: every message's length prefix is checked against `max_request_bytes` as it arrives
//!   (RESOURCE_EXHAUSTED beyond it), whatever bound each service set.
//! - Every request: `request_timeout` (503, or gRPC UNAVAILABLE); every connection with nothing
//!   in flight for `idle_timeout` is closed.
//! - Stop: accepting stops and the listening socket closes; idle and half-open connections close
//!   at once (HTTP/2 after its GOAWAY round trip, bounded); in-flight requests finish; gRPC
//!   streams still open (health `Watch`) end with UNAVAILABLE.

mod body;
mod request;
pub mod watch;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::limits::{Limits, MIN_REQUEST_BYTES};
use crate::metrics::CONNECTIONS;
use request::Requests;
use watch::{Activity, Watched};

/// Server PINGs on an HTTP/2 connection, and how long a PONG may take before it is dropped.
const PING_INTERVAL: Duration = Duration::from_secs(30);
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// hyper's and h2's own defaults, stated so that no builder in between can turn them off:
/// streams a client resets before they are accepted (rapid reset), and streams this server
/// resets because of the client's errors ("MadeYouReset"); past either the connection gets
/// GOAWAY.
const PENDING_ACCEPT_RESETS: usize = 20;
const LOCAL_ERROR_RESETS: usize = 1024;

/// Serves `app` on `tcp` until `stop` is cancelled and every connection is gone. `listener`
/// labels `tokengate_connections` (grpc, http, admin). The caller bounds the drain.
pub async fn serve(
    listener: &'static str,
    tcp: TcpListener,
    app: Router,
    limits: &Limits,
    stop: CancellationToken,
) {
    serve_counted(listener, tcp, app, limits, stop, Arc::default()).await;
}

/// [`serve`], keeping the open connections in `open` too (for `/readyz`).
pub async fn serve_counted(
    listener: &'static str,
    tcp: TcpListener,
    app: Router,
    limits: &Limits,
    stop: CancellationToken,
    open: Arc<AtomicUsize>,
) {
    let limits = *limits;
    let builder = Arc::new(builder(&limits));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let gauge = Gauge {
        metric: metrics::gauge!(CONNECTIONS, "listener" => listener),
        open,
    };
    let local = tcp.local_addr().ok();
    let tasks = TaskTracker::new();
    let mut backoff = Backoff::default();
    loop {
        let slot = tokio::select! {
            () = stop.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_closed) => break,
            },
        };
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = tcp.accept() => accepted,
        };
        let (io, peer) = match accepted {
            Ok(accepted) => {
                backoff.reset();
                accepted
            }
            Err(e) => {
                let step = backoff.failed(e.kind(), Instant::now());
                if let Some(errors) = step.log {
                    tracing::warn!(listener, errors, error = %e, "accepting connections failed; backing off");
                }
                if let Some(wait) = step.wait {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
                continue;
            }
        };
        // Small request/response exchanges: Nagle would only add latency.
        let _ = io.set_nodelay(true);
        let open = Open::new(gauge.clone(), slot);
        let conn = Conn {
            builder: builder.clone(),
            app: app.clone(),
            limits,
            peer,
            local,
        };
        tasks.spawn(conn.run(io, stop.clone(), open));
    }
    // Closed now, not after the drain: new clients are refused rather than left hanging.
    drop(tcp);
    tasks.close();
    tasks.wait().await;
}

fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's HTTP/1 header timer needs a timer to run at all (axum::serve sets none). It
    // starts when hyper waits for a head, idle keep-alive included, so it is set past the
    // longest wait `watch` allows and only backs it up.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout + limits.header_read_timeout)
        .max_buf_size(limits.max_request_bytes.max(MIN_REQUEST_BYTES));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams)
        .max_header_list_size(u32::try_from(limits.max_request_bytes).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(PENDING_ACCEPT_RESETS)
        .max_local_error_reset_streams(LOCAL_ERROR_RESETS)
        .keep_alive_interval(PING_INTERVAL)
        .keep_alive_timeout(PING_TIMEOUT);
    builder
}

/// A listener's open connections: the metric and the count `/readyz` reads.
#[derive(Clone)]
struct Gauge {
    metric: metrics::Gauge,
    open: Arc<AtomicUsize>,
}

/// One open connection: its slot under `max_connections` and its count in the gauge.
struct Open {
    gauge: Gauge,
    _slot: OwnedSemaphorePermit,
}

impl Open {
    fn new(gauge: Gauge, slot: OwnedSemaphorePermit) -> Open {
        gauge.metric.increment(1.0);
        gauge.open.fetch_add(1, Ordering::Relaxed);
        Open { gauge, _slot: slot }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.gauge.metric.decrement(1.0);
        self.gauge.open.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Conn {
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: Router,
    limits: Limits,
    peer: SocketAddr,
    local: Option<SocketAddr>,
}

impl Conn {
    async fn run(self, io: TcpStream, stop: CancellationToken, _open: Open) {
        let activity = Arc::new(Activity::new());
        let service = Requests {
            app: self.app,
            peer: self.peer,
            local: self.local,
            activity: activity.clone(),
            timeout: self.limits.request_timeout,
            max_message: self.limits.max_request_bytes,
            stop: stop.clone(),
        };
        let io = TokioIo::new(Watched::new(io, activity.clone()));
        let conn = self.builder.serve_connection(io, service);
        tokio::pin!(conn);
        let mut closing: Option<u64> = None;
        loop {
            let due = watch::deadline(&activity.snapshot(), &self.limits, closing);
            let expired = async {
                match due {
                    Some(at) => tokio::time::sleep_until(activity.at(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // The connection first: a response completed in this poll is seen as such.
                biased;
                _ = conn.as_mut() => return,
                () = stop.cancelled(), if closing.is_none() => {
                    closing = Some(activity.now());
                    activity.set_closing();
                    conn.as_mut().graceful_shutdown();
                }
                () = activity.changed() => {}
                () = expired => {
                    // Re-read: the deadline was computed before the sleep.
                    let now = activity.now();
                    match watch::deadline(&activity.snapshot(), &self.limits, closing) {
                        Some(at) if at <= now => {}
                        _ => continue,
                    }
                    if closing.is_some() || !activity.is_h2() {
                        return;
                    }
                    // An idle HTTP/2 connection gets a GOAWAY, so its client knows no request
                    // was lost, then the grace for its reply.
                    closing = Some(now);
                    activity.set_closing();
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Accept-error pacing: errors that belong to one connection are retried at once; running out
/// of descriptors or memory waits 5 ms, doubling to 1 s, and is logged at most once a second.
#[derive(Debug, Default)]
struct Backoff {
    wait: Option<Duration>,
    logged: Option<Instant>,
    unlogged: u64,
}

/// What to do after an accept error.
#[derive(Debug, PartialEq, Eq)]
struct Step {
    wait: Option<Duration>,
    /// Log now, with this many errors since the last line.
    log: Option<u64>,
}

const FIRST_WAIT: Duration = Duration::from_millis(5);
const MAX_WAIT: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(1);

impl Backoff {
    fn reset(&mut self) {
        self.wait = None;
    }

    fn failed(&mut self, kind: io::ErrorKind, now: Instant) -> Step {
        use io::ErrorKind as K;
        // The kernel dropped this one connection (reset before accept, interrupted): the
        // next is ready to take, and waiting would let one client slow every other's accept.
        let transient = matches!(
            kind,
            K::ConnectionAborted | K::ConnectionReset | K::ConnectionRefused | K::Interrupted
        );
        let wait = if transient {
            None
        } else {
            let next = self.wait.map_or(FIRST_WAIT, |w| (w * 2).min(MAX_WAIT));
            self.wait = Some(next);
            Some(next)
        };
        self.unlogged += 1;
        let log = match self.logged {
            Some(at) if now.duration_since(at) < LOG_EVERY => None,
            _ => {
                self.logged = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        };
        Step { wait, log }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use io::ErrorKind as K;

    #[test]
    fn running_out_of_descriptors_backs_off_doubling_to_a_second() {
        let mut b = Backoff::default();
        let t = Instant::now();
        let waits: Vec<u64> = (0..10)
            .map(|_| {
                b.failed(K::Other, t)
                    .wait
                    .map_or(0, |w| w.as_millis() as u64)
            })
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.reset();
        assert_eq!(b.failed(K::Other, t).wait, Some(FIRST_WAIT));
    }

    #[test]
    fn one_connections_error_is_retried_at_once() {
        let mut b = Backoff::default();
        let t = Instant::now();
        assert_eq!(b.failed(K::ConnectionAborted, t).wait, None);
        assert_eq!(b.failed(K::ConnectionReset, t).wait, None);
    }

    #[test]
    fn accept_errors_are_logged_at_most_once_a_second_with_a_count() {
        let mut b = Backoff::default();
        let t = Instant::now();
        assert_eq!(b.failed(K::Other, t).log, Some(1));
        assert_eq!(b.failed(K::Other, t + Duration::from_millis(300)).log, None);
        assert_eq!(b.failed(K::Other, t + Duration::from_millis(900)).log, None);
        assert_eq!(
            b.failed(K::Other, t + Duration::from_millis(1000)).log,
            Some(3)
        );
    }
}
