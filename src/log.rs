//! Logging that no client can abuse.
//!
//! - Lines go to stderr through a bounded queue and a writer thread ([`init`]): a slow reader
//!   of stderr never blocks a check; when the queue is full the line is dropped and counted in
//!   `tokengate_log_lines_dropped_total`.
//! - Values a client chose are written as [`Untrusted`]: escaped and cut to 256 bytes.
//! - Everything a client can make the server log goes through one [`ClientLog`], a line and a
//!   byte budget a second with a summary of what was suppressed.

mod client;
mod escape;
mod limit;

use std::io::{IsTerminal, Write};

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};

pub use client::ClientLog;
pub use escape::{MAX as MAX_VALUE_BYTES, Untrusted};
pub use limit::{Admit, Budget, Limiter};

use crate::metrics::LOG_LINES_DROPPED;

/// Log line format on stderr: `text` for people, `json` (one object per line) for collectors.
// Doc comments on the variants would become clap's possible-value help and change `--help`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The process's drop counter, once logging is set up; the server publishes it.
static DROPPED: std::sync::OnceLock<Dropped> = std::sync::OnceLock::new();

/// Brings `tokengate_log_lines_dropped_total` up to date (a no-op before [`init`]).
pub fn publish_dropped() {
    if let Some(d) = DROPPED.get() {
        d.publish();
    }
}

/// Lines queued for the writer thread before new ones are dropped. Lines are at most a few KiB
/// (client values are cut), so the queue holds a few MiB at worst.
pub const QUEUE_LINES: usize = 2048;

/// Keeps the writer thread; dropping it flushes what is queued (for up to about a second).
#[must_use = "logging stops when the guard is dropped"]
pub struct Logging {
    _worker: WorkerGuard,
    /// How many lines the sink could not take.
    pub dropped: Dropped,
}

/// Counts lines dropped because the log sink was too slow.
#[derive(Clone)]
pub struct Dropped(ErrorCounter);

impl Dropped {
    /// Lines dropped since start.
    pub fn lines(&self) -> u64 {
        u64::try_from(self.0.dropped_lines()).unwrap_or(u64::MAX)
    }

    /// Brings `tokengate_log_lines_dropped_total` up to date. The writer's count only grows,
    /// and the counter is set to it (not incremented by a delta), so it is exact whenever and
    /// however often this is called: at scrape time and on a timer.
    pub fn publish(&self) {
        metrics::counter!(LOG_LINES_DROPPED).absolute(self.lines());
    }
}

/// A non-blocking, lossy writer into `sink` holding at most `queue` lines.
pub fn non_blocking<W: Write + Send + 'static>(
    sink: W,
    queue: usize,
) -> (NonBlocking, Dropped, WorkerGuard) {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(queue)
        .thread_name("tokengate-log")
        .finish(sink);
    let dropped = Dropped(writer.error_counter());
    (writer, dropped, guard)
}

/// Installs the process's subscriber: level from `RUST_LOG` (default `info`), text or JSON,
/// to stderr without ever blocking the caller.
pub fn init(format: LogFormat) -> Logging {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    let (writer, dropped, worker) = non_blocking(std::io::stderr(), QUEUE_LINES);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Err(e) = installed {
        eprintln!("tokengate: logging was already set up: {e}");
    }
    let _ = DROPPED.set(dropped.clone());
    Logging {
        _worker: worker,
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A sink that takes one write and then blocks until released.
    struct Stuck {
        entered: mpsc::Sender<()>,
        release: mpsc::Receiver<()>,
        lines: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.lines
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = self.entered.send(());
            let _ = self.release.recv();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_sink_never_blocks_logging_and_every_drop_is_counted() {
        const QUEUE: usize = 8;
        const SENT: usize = 100;
        let (entered_tx, entered) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let sink = Stuck {
            entered: entered_tx,
            release: release_rx,
            lines: written.clone(),
        };
        let (writer, dropped, guard) = non_blocking(sink, QUEUE);
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .finish();
        let (done_tx, done) = mpsc::channel();
        let logger = std::thread::spawn(move || {
            tracing::subscriber::with_default(subscriber, || {
                tracing::info!(n = 0, "first");
                // The writer thread now holds line 0 and is stuck in the sink.
                let _ = entered.recv_timeout(Duration::from_secs(5));
                for n in 1..SENT {
                    tracing::info!(n, "more");
                }
            });
            let _ = done_tx.send(());
        });
        // Would time out if a log call waited for the sink.
        assert!(done.recv_timeout(Duration::from_secs(5)).is_ok());
        let _ = logger.join();
        // One line in the sink, QUEUE queued behind it, the rest dropped.
        assert_eq!(dropped.lines(), (SENT - 1 - QUEUE) as u64);
        for _ in 0..=SENT {
            let _ = release.send(());
        }
        drop(guard);
        assert_eq!(
            written.load(std::sync::atomic::Ordering::Relaxed),
            1 + QUEUE
        );
    }
}
