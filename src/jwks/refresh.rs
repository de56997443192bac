//! When a key set fetches: a periodic refresh with backoff after failures, and the
//! single-flight, rate-limited refetch a token with an unknown `kid` asks for.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::KeySet;
use super::store::{Store, lock};

/// At most one unknown-`kid` refetch per key set in this interval.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// How long a check waits for the unknown-`kid` refetch it asked for (or found running). A
/// healthy issuer answers well within it, so a rotated key verifies on first sight; a hanging
/// one costs the check this much, not the 10 s fetch timeout (twice, behind a hung refresh).
/// The fetch itself goes on in the background and its keys serve later checks.
pub const MISS_WAIT: Duration = Duration::from_secs(1);
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// The wait after a refresh: `period` after a success; after a failure, `retry` (doubling from
/// 1 s, at most `period`). Returns the wait and the next retry.
pub fn next_wait(ok: bool, retry: Duration, period: Duration) -> (Duration, Duration) {
    if ok {
        (period, FIRST_RETRY)
    } else {
        (retry.min(period), (retry * 2).min(period))
    }
}

/// The periodic refresh of a key set; it ends when the set is dropped.
pub(super) async fn run(weak: Weak<KeySet>) {
    let mut retry = FIRST_RETRY;
    loop {
        let wait = {
            let Some(set) = weak.upgrade() else { return };
            let ok = set.refresh().await.is_ok();
            let (wait, next) = next_wait(ok, retry, set.source.refresh);
            retry = next;
            wait
        };
        tokio::time::sleep(wait).await;
    }
}

/// Refetches after a `kid` miss, unless one started in the last 30 s. Misses that arrive while
/// that refetch runs share it. Each waits for it at most [`MISS_WAIT`], then the caller looks
/// again; the fetch runs in its own task, so neither a slow issuer nor a cancelled check cuts it
/// short. Returns whether this call started the refetch.
pub(super) async fn refetch_unknown(store: &Arc<Store>) -> bool {
    let mut done = store.refetched.subscribe();
    let millis = || store.epoch.elapsed().as_millis() as u64 + 1;
    let started = {
        let mut r = lock(&store.refetch);
        let window = REFETCH_INTERVAL.as_millis() as u64;
        if r.running {
            false
        } else if r.last_ms != 0 && millis() < r.last_ms + window {
            return false;
        } else {
            r.running = true;
            r.last_ms = millis();
            true
        }
    };
    if started {
        let store = Arc::clone(store);
        tokio::spawn(async move {
            let _end = RefetchEnd(&store);
            let _ = store.refresh().await;
        });
    }
    // `done` was subscribed before `running` was read: an end after that is seen here.
    let _ = tokio::time::timeout(MISS_WAIT, done.changed()).await;
    started
}

/// Ends an unknown-`kid` refetch, even one whose task panicked: clears `running`, then wakes
/// the misses waiting for it.
struct RefetchEnd<'a>(&'a Store);

impl Drop for RefetchEnd<'_> {
    fn drop(&mut self) {
        lock(&self.0.refetch).running = false;
        self.0.refetched.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_doubling_from_one_second_up_to_the_period() {
        let period = Duration::from_secs(10);
        let mut retry = FIRST_RETRY;
        let mut waits = Vec::new();
        for _ in 0..6 {
            let (wait, next) = next_wait(false, retry, period);
            waits.push(wait.as_secs());
            retry = next;
        }
        assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
        let (wait, next) = next_wait(true, retry, period);
        assert_eq!((wait, next), (period, FIRST_RETRY));
    }
}
