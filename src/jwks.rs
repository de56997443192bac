//! Per-issuer signing keys: a lock-free read path for checks, a background refresh, and a
//! single-flight, rate-limited refetch when a token names a `kid` the set does not hold.

pub mod fetch;
pub mod key;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use dashmap::DashMap;
use reqwest::Url;

pub use fetch::{FetchError, Fetcher};
pub use key::Key;

use crate::clock;
use crate::jwt::Alg;

/// At most one unknown-`kid` refetch per key set in this interval.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// How long a check waits for the unknown-`kid` refetch it asked for (or found running). A
/// healthy issuer answers well within it, so a rotated key verifies on first sight; a hanging
/// one costs the check this much, not the 10 s fetch timeout (twice, behind a hung refresh).
/// The fetch itself goes on in the background and its keys serve later checks.
pub const MISS_WAIT: Duration = Duration::from_secs(1);
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// Where a key set comes from. Two authorizers with equal sources may share one set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub refresh: Duration,
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
    pub keys: usize,
    pub age: Option<Duration>,
    pub last_error: Option<String>,
}

/// The keys of one issuer.
pub struct KeySet {
    /// Unique in the process: verdicts cached with one key set are never served through
    /// another, whose fetches never retire this one's keys.
    id: u64,
    /// The authorizer name, for logs and metric labels.
    label: Arc<str>,
    source: Source,
    fetcher: Fetcher,
    by_kid: DashMap<Arc<str>, Arc<Key>>,
    /// Keys published without a `kid`, tried for tokens without one.
    anonymous: ArcSwap<Vec<Arc<Key>>>,
    loaded: AtomicBool,
    /// Unix milliseconds of the last successful fetch.
    last_ok_ms: AtomicU64,
    /// The unknown-`kid` refetch: whether one runs, and when the last one started.
    refetch: Mutex<Refetch>,
    /// Bumped each time an unknown-`kid` refetch ends; misses wait on it.
    refetched: tokio::sync::watch::Sender<u64>,
    epoch: Instant,
    /// Serializes fetches (periodic and unknown-`kid`); held across the fetch on purpose, and
    /// never by the check path, which only waits, bounded, on `refetched`.
    fetching: tokio::sync::Mutex<()>,
    /// Written once per fetch, read by `/readyz`: a plain mutex, never held across `.await`.
    last_error: Mutex<Option<String>>,
    /// The JWKS URL found by discovery, kept once found.
    resolved: Mutex<Option<Url>>,
    fetches: AtomicU64,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("label", &self.label)
            .field("source", &self.source)
            .field("keys", &self.by_kid.len())
            .finish_non_exhaustive()
    }
}

impl KeySet {
    pub fn new(label: Arc<str>, source: Source, fetcher: Fetcher) -> Arc<KeySet> {
        Arc::new(KeySet::empty(label, source, fetcher, Instant::now()))
    }

    /// A set for the same issuer and JWKS URL under another refresh period (a reload that
    /// changed `jwks_refresh`): it starts with this set's keys, status and unknown-`kid` window,
    /// so checks never find it empty, even while the issuer is down. Not yet refreshing.
    pub fn with_refresh(&self, refresh: Duration) -> Arc<KeySet> {
        let source = Source {
            refresh,
            ..self.source.clone()
        };
        let next = KeySet::empty(self.label.clone(), source, self.fetcher.clone(), self.epoch);
        // A key retired meanwhile (by a fetch of this set) is not carried over.
        for entry in self.by_kid.iter().filter(|e| !e.value().is_retired()) {
            next.by_kid
                .insert(entry.key().clone(), entry.value().clone());
        }
        let anonymous = self.anonymous.load_full();
        let held = anonymous.iter().filter(|k| !k.is_retired()).cloned();
        next.anonymous.store(Arc::new(held.collect()));
        next.last_ok_ms
            .store(self.last_ok_ms.load(Ordering::Acquire), Ordering::Release);
        *lock(&next.last_error) = lock(&self.last_error).clone();
        *lock(&next.resolved) = lock(&self.resolved).clone();
        lock(&next.refetch).last_ms = lock(&self.refetch).last_ms;
        next.loaded.store(self.is_loaded(), Ordering::Release);
        Arc::new(next)
    }

    fn empty(label: Arc<str>, source: Source, fetcher: Fetcher, epoch: Instant) -> KeySet {
        static IDS: AtomicU64 = AtomicU64::new(0);
        KeySet {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            label,
            source,
            fetcher,
            by_kid: DashMap::new(),
            anonymous: ArcSwap::from_pointee(Vec::new()),
            loaded: AtomicBool::new(false),
            last_ok_ms: AtomicU64::new(0),
            refetch: Mutex::new(Refetch::default()),
            refetched: tokio::sync::watch::Sender::new(0),
            epoch,
            fetching: tokio::sync::Mutex::new(()),
            last_error: Mutex::new(None),
            resolved: Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// Starts the background refresh: at once, then every `refresh`; after a failure, again
    /// after 1 s, doubling up to `refresh`. It ends when the key set is dropped.
    pub fn spawn_refresh(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(refresh_loop(weak));
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// This set's process-unique id (part of the token cache namespace).
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// How many JWKS fetches were attempted (for tests and the flood figures).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Candidate keys for a token's `kid` and `alg`.
    pub fn lookup(&self, kid: Option<&str>, alg: Alg) -> Lookup {
        if !self.is_loaded() {
            return Lookup::NeverLoaded;
        }
        let keys: Vec<Arc<Key>> = match kid {
            Some(kid) => self
                .by_kid
                .get(kid)
                .map(|k| k.value().clone())
                .filter(|k| k.fits(alg))
                .into_iter()
                .collect(),
            None => self
                .by_kid
                .iter()
                .map(|e| e.value().clone())
                .chain(self.anonymous.load().iter().cloned())
                .filter(|k| k.fits(alg))
                .collect(),
        };
        if keys.is_empty() {
            Lookup::Unknown
        } else {
            Lookup::Keys(keys)
        }
    }

    /// Refetches after a `kid` miss, unless one started in the last 30 s. Misses that arrive
    /// while that refetch runs share it. Each waits for it at most [`MISS_WAIT`], then the
    /// caller looks again; the fetch runs in its own task, so neither a slow issuer nor a
    /// cancelled check cuts it short. Returns whether this call started the refetch.
    pub async fn refetch_unknown(self: &Arc<Self>) -> bool {
        let mut done = self.refetched.subscribe();
        let started = {
            let mut r = lock(&self.refetch);
            let window = REFETCH_INTERVAL.as_millis() as u64;
            if r.running {
                false
            } else if r.last_ms != 0 && self.millis() < r.last_ms + window {
                return false;
            } else {
                r.running = true;
                r.last_ms = self.millis();
                true
            }
        };
        if started {
            let set = Arc::clone(self);
            tokio::spawn(async move {
                let _end = RefetchEnd(&set);
                let _ = set.refresh().await;
            });
        }
        // `done` was subscribed before `running` was read: an end after that is seen here.
        let _ = tokio::time::timeout(MISS_WAIT, done.changed()).await;
        started
    }

    /// Milliseconds since this set was made, never 0 (0 means "never").
    fn millis(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Fetches the JWKS and applies it. On failure the old keys stay.
    pub async fn refresh(&self) -> Result<usize, FetchError> {
        let guard = self.fetching.lock().await;
        self.refresh_locked(guard).await
    }

    async fn refresh_locked(
        &self,
        _one_at_a_time: tokio::sync::MutexGuard<'_, ()>,
    ) -> Result<usize, FetchError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let result = self.fetch().await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!(
            crate::metrics::JWKS_REFRESHES,
            "authorizer" => self.label.to_string(),
            "result" => outcome
        )
        .increment(1);
        let error = match result {
            Ok(keys) => {
                let n = self.apply(keys);
                self.last_ok_ms
                    .store(clock::unix_millis(), Ordering::Release);
                self.loaded.store(true, Ordering::Release);
                tracing::debug!(authorizer = %self.label, keys = n, "JWKS fetched");
                Ok(n)
            }
            Err(e) => {
                tracing::warn!(authorizer = %self.label, error = %e, "JWKS fetch failed; keeping the previous keys");
                Err(e)
            }
        };
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            error.as_ref().err().map(ToString::to_string);
        error
    }

    async fn fetch(&self) -> Result<Vec<Key>, FetchError> {
        let url = match &self.source.jwks_uri {
            Some(uri) => fetch::configured(uri)?,
            None => {
                let known = self
                    .resolved
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                match known {
                    Some(url) => url,
                    None => self.fetcher.discover(&self.source.issuer).await?,
                }
            }
        };
        let keys = self.fetcher.keys(&url).await?;
        if self.source.jwks_uri.is_none() {
            *self
                .resolved
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(url);
        }
        Ok(keys)
    }

    /// Replaces the keys with a fetched set: unchanged keys keep their identity (and the
    /// verdicts cached with them); keys no longer listed are retired.
    fn apply(&self, fetched: Vec<Key>) -> usize {
        let mut anonymous = Vec::new();
        let mut kept: Vec<Arc<str>> = Vec::new();
        for key in fetched {
            match key.kid.clone() {
                Some(kid) => {
                    if kept.contains(&kid) {
                        continue; // the first entry with a kid wins
                    }
                    let same = self.by_kid.get(&kid).is_some_and(|old| old.same_as(&key));
                    if !same && let Some(old) = self.by_kid.insert(kid.clone(), Arc::new(key)) {
                        old.retire();
                    }
                    kept.push(kid);
                }
                None => {
                    let old = self.anonymous.load();
                    let reuse = old.iter().find(|o| o.same_as(&key)).cloned();
                    anonymous.push(reuse.unwrap_or_else(|| Arc::new(key)));
                }
            }
        }
        self.by_kid.retain(|kid, key| {
            let keep = kept.contains(kid);
            if !keep {
                key.retire();
            }
            keep
        });
        let old = self.anonymous.swap(Arc::new(anonymous));
        let current = self.anonymous.load();
        for k in old.iter() {
            if !current.iter().any(|c| Arc::ptr_eq(c, k)) {
                k.retire();
            }
        }
        let n = self.by_kid.len() + current.len();
        metrics::gauge!(crate::metrics::JWKS_KEYS, "authorizer" => self.label.to_string())
            .set(n as f64);
        n
    }

    pub fn status(&self) -> Status {
        let last_ok = self.last_ok_ms.load(Ordering::Acquire);
        Status {
            keys: self.by_kid.len() + self.anonymous.load().len(),
            age: (last_ok != 0)
                .then(|| Duration::from_millis(clock::unix_millis().saturating_sub(last_ok))),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }
}

/// A plain mutex's guard; a panic elsewhere cannot leave these values half-written.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The unknown-`kid` refetch state, under a plain mutex never held across `.await`.
#[derive(Debug, Default)]
struct Refetch {
    running: bool,
    /// When the last one started, as milliseconds since `epoch` (0: never).
    last_ms: u64,
}

/// Ends an unknown-`kid` refetch, even one whose task panicked: clears `running`, then wakes
/// the misses waiting for it.
struct RefetchEnd<'a>(&'a KeySet);

impl Drop for RefetchEnd<'_> {
    fn drop(&mut self) {
        lock(&self.0.refetch).running = false;
        self.0.refetched.send_modify(|n| *n = n.wrapping_add(1));
    }
}

async fn refresh_loop(weak: Weak<KeySet>) {
    let mut retry = FIRST_RETRY;
    loop {
        let wait = {
            let Some(set) = weak.upgrade() else { return };
            let period = set.source.refresh;
            match set.refresh().await {
                Ok(_) => {
                    retry = FIRST_RETRY;
                    period
                }
                Err(_) => {
                    let wait = retry.min(period);
                    retry = (retry * 2).min(period);
                    wait
                }
            }
        };
        tokio::time::sleep(wait).await;
    }
}
