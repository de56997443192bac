//! Handles for the per-check metrics, registered with the recorder on first use and kept: a
//! check increments an atomic where the `counter!` macro would build its labels, hash them and
//! look the series up in the registry.
//!
//! A handle is kept only once [`super::install`] has run, so a check made before the recorder
//! exists (a test calling the core directly) does not leave a no-op handle behind.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{Counter, Histogram};

use super::{CHECK_DURATION, CHECKS, HANDLE, TOKEN_CACHE_REQUESTS, Transport};
use crate::reason::{NO_AUTHORIZER, Reason};

/// Runs `use_it` on the handle in `slot`, registering it with `make` the first time.
fn with<T>(slot: &OnceLock<T>, make: impl FnOnce() -> T, use_it: impl FnOnce(&T)) {
    if let Some(handle) = slot.get() {
        return use_it(handle);
    }
    let handle = make();
    use_it(&handle);
    if HANDLE.get().is_some() {
        let _ = slot.set(handle);
    }
}

const TRANSPORTS: usize = 2;
const REASONS: usize = Reason::ALL.len();

/// `tokengate_check_duration_seconds` by transport and decision (allow, deny).
static DURATIONS: [[OnceLock<Histogram>; 2]; TRANSPORTS] =
    [const { [const { OnceLock::new() }; 2] }; TRANSPORTS];
/// `tokengate_token_cache_requests_total` by result (hit, miss).
static LOOKUPS: [OnceLock<Counter>; 2] = [const { OnceLock::new() }; 2];

/// Counts one verified-token cache lookup.
pub fn cache_lookup(hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    with(
        &LOOKUPS[usize::from(hit)],
        || metrics::counter!(TOKEN_CACHE_REQUESTS, "result" => result),
        |c| c.increment(1),
    );
}

/// `tokengate_checks_total` of one snapshot's authorizers: a slot per transport, authorizer
/// (with [`NO_AUTHORIZER`] first) and reason.
pub struct Checks {
    authorizers: Box<[Arc<str>]>,
    counters: Box<[OnceLock<Counter>]>,
}

impl std::fmt::Debug for Checks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checks")
            .field("authorizers", &self.authorizers)
            .finish_non_exhaustive()
    }
}

impl Checks {
    /// Slots for `authorizers` (the snapshot's, by name).
    pub fn new(authorizers: impl IntoIterator<Item = Arc<str>>) -> Checks {
        let authorizers: Box<[Arc<str>]> = std::iter::once(Arc::from(NO_AUTHORIZER))
            .chain(authorizers)
            .collect();
        let counters = (0..TRANSPORTS * authorizers.len() * REASONS)
            .map(|_| OnceLock::new())
            .collect();
        Checks {
            authorizers,
            counters,
        }
    }

    /// Counts one decision (its reason, and the authorizer that made it) and its latency.
    pub fn record(&self, transport: Transport, reason: Reason, name: &Arc<str>, elapsed: Duration) {
        let allow = reason.is_allow();
        let verdict = if allow { "allow" } else { "deny" };
        let t = transport as usize;
        // The decision holds the snapshot's own `Arc` for an authorizer: a pointer compare.
        let found = self
            .authorizers
            .iter()
            .position(|a| Arc::ptr_eq(a, name))
            .or_else(|| self.authorizers.iter().position(|a| a == name));
        let slot = found.and_then(|a| {
            let index = (t * self.authorizers.len() + a) * REASONS + reason as usize;
            self.counters.get(index)
        });
        let make = || {
            metrics::counter!(
                CHECKS,
                "transport" => transport.as_str(),
                "authorizer" => name.clone(),
                "decision" => verdict,
                "reason" => reason.as_str()
            )
        };
        match slot {
            Some(slot) => with(slot, make, |c| c.increment(1)),
            None => make().increment(1),
        }
        with(
            &DURATIONS[t][usize::from(allow)],
            || metrics::histogram!(CHECK_DURATION, "transport" => transport.as_str(), "decision" => verdict),
            |h| h.record(elapsed.as_secs_f64()),
        );
    }
}
