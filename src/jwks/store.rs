//! The keys of one issuer as checks read them: a `DashMap` by `kid` and a swapped list of
//! `kid`-less keys, so a lookup takes no lock a fetch holds.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use dashmap::DashMap;
use reqwest::Url;
use tokio::sync::Notify;

use super::fetch::{self, FetchError, Fetcher};
use super::key::Key;
use super::{Lookup, Source, Status};
use crate::clock;
use crate::config::Jwks;
use crate::jwt::Alg;

/// One issuer's keys and fetch state, shared by the key sets that read the same JWKS.
pub(super) struct Store {
    /// The authorizer name, for logs and metric labels.
    pub label: Arc<str>,
    issuer: String,
    jwks: Jwks,
    fetcher: Fetcher,
    by_kid: DashMap<Arc<str>, Arc<Key>>,
    /// Keys published without a `kid`, tried for tokens without one.
    anonymous: ArcSwap<Vec<Arc<Key>>>,
    loaded: AtomicBool,
    /// Woken at the first load (readiness changes).
    changed: Arc<Notify>,
    /// Unix milliseconds of the last successful fetch.
    last_ok_ms: AtomicU64,
    /// The unknown-`kid` refetch: whether one runs, and when the last one started.
    pub refetch: Mutex<Refetch>,
    /// Bumped each time an unknown-`kid` refetch ends; misses wait on it.
    pub refetched: tokio::sync::watch::Sender<u64>,
    pub epoch: Instant,
    /// Serializes fetches (periodic and unknown-`kid`); held across the fetch on purpose, and
    /// never by the check path, which only waits, bounded, on `refetched`.
    fetching: tokio::sync::Mutex<()>,
    /// Written once per fetch, read by `/readyz`: a plain mutex, never held across `.await`.
    last_error: Mutex<Option<String>>,
    /// The JWKS URL found by discovery, kept once found; a plain mutex, never held across
    /// `.await`.
    resolved: Mutex<Option<Url>>,
    fetches: AtomicU64,
    verifications: AtomicU64,
}

/// A plain mutex's guard; a panic elsewhere cannot leave these values half-written.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Store {
    pub fn new(label: Arc<str>, source: &Source, fetcher: Fetcher, changed: Arc<Notify>) -> Store {
        Store {
            label,
            issuer: source.issuer.clone(),
            jwks: source.jwks.clone(),
            fetcher,
            by_kid: DashMap::new(),
            anonymous: ArcSwap::from_pointee(Vec::new()),
            loaded: AtomicBool::new(false),
            changed,
            last_ok_ms: AtomicU64::new(0),
            refetch: Mutex::new(Refetch::default()),
            refetched: tokio::sync::watch::Sender::new(0),
            epoch: Instant::now(),
            fetching: tokio::sync::Mutex::new(()),
            last_error: Mutex::new(None),
            resolved: Mutex::new(None),
            fetches: AtomicU64::new(0),
            verifications: AtomicU64::new(0),
        }
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    pub fn count_verification(&self) {
        self.verifications.fetch_add(1, Ordering::Relaxed);
    }

    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

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

    /// Fetches the JWKS and applies it, one fetch at a time. On failure the old keys stay.
    pub async fn refresh(&self) -> Result<usize, FetchError> {
        let _one_at_a_time = self.fetching.lock().await;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let result = self.fetch().await;
        crate::metrics::jwks_refreshed(&self.label, result.is_ok());
        let outcome = match result {
            Ok(keys) => {
                let n = self.apply(keys);
                self.last_ok_ms
                    .store(clock::unix_millis(), Ordering::Release);
                if !self.loaded.swap(true, Ordering::AcqRel) {
                    self.changed.notify_waiters();
                }
                tracing::debug!(authorizer = %self.label, keys = n, "JWKS fetched");
                Ok(n)
            }
            Err(e) => {
                tracing::warn!(authorizer = %self.label, error = %e, "JWKS fetch failed; keeping the previous keys");
                Err(e)
            }
        };
        *lock(&self.last_error) = outcome.as_ref().err().map(ToString::to_string);
        outcome
    }

    async fn fetch(&self) -> Result<Vec<Key>, FetchError> {
        let url = match &self.jwks {
            Jwks::File(path) => return fetch::file(path).await,
            Jwks::Url(uri) => fetch::configured(uri)?,
            Jwks::Discover => {
                let known = lock(&self.resolved).clone();
                match known {
                    Some(url) => url,
                    None => self.fetcher.discover(&self.issuer).await?,
                }
            }
        };
        let keys = self.fetcher.keys(&url).await?;
        if self.jwks == Jwks::Discover {
            *lock(&self.resolved) = Some(url);
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
        crate::metrics::jwks_keys(&self.label, n);
        n
    }

    pub fn status(&self) -> Status {
        let last_ok = self.last_ok_ms.load(Ordering::Acquire);
        Status {
            keys: self.by_kid.len() + self.anonymous.load().len(),
            age: (last_ok != 0)
                .then(|| Duration::from_millis(clock::unix_millis().saturating_sub(last_ok))),
            last_error: lock(&self.last_error).clone(),
        }
    }
}

/// The unknown-`kid` refetch state, under a plain mutex never held across `.await`.
#[derive(Debug, Default)]
pub(super) struct Refetch {
    pub(super) running: bool,
    /// When the last one started, as milliseconds since the store's epoch (0: never).
    pub(super) last_ms: u64,
}
