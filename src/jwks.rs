//! Per-issuer signing keys: a lock-free read path for checks ([`store`]), a background refresh
//! and a single-flight, rate-limited refetch when a token names an unknown `kid` ([`refresh`]).
//!
//! A [`KeySet`] is a thin handle: its id (part of the token cache namespace) and refresh period
//! over a [`store::Store`] of keys. A reload that changes only the refresh period makes a new
//! handle over the same store, so checks never find it empty, even while the issuer is down.

pub mod fetch;
pub mod key;
mod refresh;
mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

pub use fetch::{FetchError, Fetcher};
pub use key::Key;
pub use refresh::{MISS_WAIT, REFETCH_INTERVAL};

use crate::config::Jwks;
use crate::jwt::Alg;
use store::Store;

/// Where a key set comes from. Two authorizers with equal sources may share one set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    /// The authorizer's `issuer`.
    pub issuer: String,
    /// Where the keys come from: discovery, a URL or a file.
    pub jwks: Jwks,
    /// How often the set is fetched again.
    pub refresh: Duration,
}

impl Source {
    /// Same issuer and JWKS location, whatever the refresh period.
    pub fn same_place(&self, other: &Source) -> bool {
        self.issuer == other.issuer && self.jwks == other.jwks
    }
}

/// What a key lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// Candidates to try, in order.
    Keys(Vec<Arc<Key>>),
    /// No key fits; the lookup may be retried after a refetch.
    Unknown,
    /// This set has never loaded keys.
    NeverLoaded,
}

/// A point-in-time view for `/readyz` and metrics.
#[derive(Debug, Clone)]
pub struct Status {
    /// Usable keys held.
    pub keys: usize,
    /// Time since the last successful fetch; `None` before the first.
    pub age: Option<Duration>,
    /// Why the last fetch failed; `None` once one succeeds.
    pub last_error: Option<String>,
}

/// The keys of one issuer, refreshed every `source.refresh`.
pub struct KeySet {
    /// Unique in the process: verdicts cached with one key set are never served through
    /// another, whose fetches never retire this one's keys.
    id: u64,
    source: Source,
    store: Arc<Store>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("id", &self.id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

fn next_id() -> u64 {
    static IDS: AtomicU64 = AtomicU64::new(0);
    IDS.fetch_add(1, Ordering::Relaxed)
}

impl KeySet {
    /// An empty set; `changed` is woken when it first loads keys. Not yet refreshing.
    pub fn new(
        label: Arc<str>,
        source: Source,
        fetcher: Fetcher,
        changed: Arc<Notify>,
    ) -> Arc<Self> {
        let store = Store::new(label, &source, fetcher, changed);
        Arc::new(KeySet {
            id: next_id(),
            source,
            store: Arc::new(store),
        })
    }

    /// A set for the same issuer and JWKS URL under another refresh period: it shares this
    /// set's keys, status and unknown-`kid` window. Not yet refreshing.
    pub fn with_refresh(&self, refresh: Duration) -> Arc<KeySet> {
        Arc::new(KeySet {
            id: next_id(),
            source: Source {
                refresh,
                ..self.source.clone()
            },
            store: self.store.clone(),
        })
    }

    /// Starts the background refresh: at once, then every `refresh`; after a failure, again
    /// after 1 s, doubling up to `refresh`. It ends when the key set is dropped.
    pub fn spawn_refresh(self: &Arc<Self>) {
        tokio::spawn(refresh::run(Arc::downgrade(self)));
    }

    /// Where the keys come from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// This set's process-unique id (part of the token cache namespace).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether keys were ever loaded (a set that loaded once stays loaded through failures).
    pub fn is_loaded(&self) -> bool {
        self.store.is_loaded()
    }

    /// Candidate keys for a token's `kid` and `alg`.
    pub fn lookup(&self, kid: Option<&str>, alg: Alg) -> Lookup {
        self.store.lookup(kid, alg)
    }

    /// Fetches the JWKS and applies it. On failure the old keys stay.
    pub async fn refresh(&self) -> Result<usize, FetchError> {
        self.store.refresh().await
    }

    /// Refetches after a `kid` miss, unless one started in the last 30 s; see
    /// [`refresh::refetch_unknown`]. Returns whether this call started the refetch.
    pub async fn refetch_unknown(&self) -> bool {
        refresh::refetch_unknown(&self.store).await
    }

    /// How many JWKS fetches were attempted (for tests and the flood figures).
    pub fn fetch_count(&self) -> u64 {
        self.store.fetch_count()
    }

    pub(crate) fn count_verification(&self) {
        self.store.count_verification();
    }

    /// Signatures checked with these keys.
    pub fn verifications(&self) -> u64 {
        self.store.verifications()
    }

    /// Key count, age and last error, for `/readyz` and the gauges.
    pub fn status(&self) -> Status {
        self.store.status()
    }
}
