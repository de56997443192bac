//! Denials logged at `info`, rate-limited: a burst per second, then one summary line with the
//! count suppressed, so a flood of bad tokens cannot flood the log.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::decision::Decision;
use crate::metrics::Transport;
use crate::server::check::Origin;

/// Lines logged per second before suppression starts.
const BURST: u32 = 20;

/// The denial log's per-second budget, shared by the transports.
#[derive(Debug, Default)]
pub struct DenyLog {
    second: AtomicU64,
    logged: AtomicU32,
    suppressed: AtomicU64,
}

impl DenyLog {
    /// Logs one denial, unless this second's burst is spent (then it is counted for the summary).
    pub fn denied(&self, transport: Transport, d: &Decision, from: Origin<'_>) {
        let now = crate::clock::unix_millis() / 1000;
        let seen = self.second.load(Ordering::Relaxed);
        if seen != now
            && self
                .second
                .compare_exchange(seen, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.logged.store(0, Ordering::Relaxed);
            let dropped = self.suppressed.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                tracing::info!(
                    suppressed = dropped,
                    "denials not logged in the last second (rate limit)"
                );
            }
        }
        if self.logged.fetch_add(1, Ordering::Relaxed) < BURST {
            let peer = from.peer.map(|p| p.to_string());
            tracing::info!(
                transport = transport.as_str(),
                reason = d.reason.as_str(),
                authorizer = %d.authorizer,
                route = d.route.as_deref().unwrap_or("-"),
                peer = peer.as_deref().unwrap_or("-"),
                client = from.client.unwrap_or("-"),
                "denied"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}
