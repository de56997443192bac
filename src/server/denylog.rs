//! Denials logged at `info`, rate-limited: a burst per second, then one summary line with the
//! count suppressed, so a flood of bad tokens cannot flood the log. A configuration error met
//! on the request path (an unknown `context_extensions` authorizer) is logged at `error` on the
//! denial's line, under the same limit: a client can trigger it on every request.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::decision::Decision;
use crate::metrics::Transport;
use crate::server::check::Origin;

/// Lines logged per second before suppression starts.
const BURST: u32 = 20;

#[derive(Debug, Default)]
pub struct DenyLog {
    second: AtomicU64,
    logged: AtomicU32,
    suppressed: AtomicU64,
}

impl DenyLog {
    pub fn denied(&self, transport: Transport, d: &Decision, from: Origin<'_>) {
        if !self.admit(crate::clock::unix_millis() / 1000) {
            return;
        }
        let peer = from.peer.map(|p| p.to_string());
        let peer = peer.as_deref().unwrap_or("-");
        let (route, client) = (
            d.route.as_deref().unwrap_or("-"),
            from.client.unwrap_or("-"),
        );
        let (transport, reason) = (transport.as_str(), d.reason.as_str());
        match &d.misconfig {
            Some(error) => tracing::error!(
                transport, reason, authorizer = %d.authorizer, route, peer, client, %error,
                "denied: configuration error"
            ),
            None => tracing::info!(
                transport, reason, authorizer = %d.authorizer, route, peer, client,
                "denied"
            ),
        }
    }

    /// Whether one more line may be written in second `now`; the first call of a new second
    /// reports how many were suppressed in the last.
    fn admit(&self, now: u64) -> bool {
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
            true
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_second_is_admitted_then_lines_are_suppressed() {
        let log = DenyLog::default();
        let admitted = (0..50).filter(|_| log.admit(100)).count();
        assert_eq!(admitted, BURST as usize);
        assert_eq!(log.suppressed.load(Ordering::Relaxed), 30);
        assert!(log.admit(101), "a new second admits again");
        assert_eq!(log.suppressed.load(Ordering::Relaxed), 0);
    }
}
