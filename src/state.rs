//! The live configuration: an immutable [`Snapshot`] swapped whole on reload.
//!
//! A check loads the current snapshot once and uses it to the end, so a reload never changes
//! the rules under an in-flight check. Authorizers whose issuer and JWKS settings did not change
//! keep their key set (and with it their keys) across a reload.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use tokio::sync::Notify;

use crate::authorizer::Authorizer;
use crate::config::{self, Config};
use crate::jwks::{Fetcher, KeySet, Source};
use crate::route::RouteTable;
use crate::token_cache::TokenCache;

/// What a route asks of a request.
#[derive(Debug, Clone)]
pub enum Target {
    Public,
    Protected {
        /// One or more; with several, the token's `iss` picks.
        authorizers: Arc<[Arc<Authorizer>]>,
        scopes: Arc<[String]>,
    },
}

/// Everything a check needs, compiled from one config.
#[derive(Debug)]
pub struct Snapshot {
    pub config: Config,
    pub routes: RouteTable<Target>,
    /// In config order.
    pub authorizers: Vec<Arc<Authorizer>>,
    by_name: HashMap<String, Arc<Authorizer>>,
    /// Every header any authorizer may set: each decision removes those it did not set.
    pub claim_headers: Arc<[Arc<str>]>,
}

impl Snapshot {
    /// Compiles a config; `keys_for` supplies (or reuses) each authorizer's key set.
    fn build(
        config: Config,
        mut keys_for: impl FnMut(&config::Authorizer) -> Arc<KeySet>,
    ) -> Snapshot {
        let authorizers: Vec<Arc<Authorizer>> = config
            .authorizers
            .iter()
            .map(|a| Arc::new(Authorizer::new(a.clone(), keys_for(a))))
            .collect();
        let by_name: HashMap<String, Arc<Authorizer>> = authorizers
            .iter()
            .map(|a| (a.config.name.clone(), a.clone()))
            .collect();
        let mut claim_headers: Vec<Arc<str>> = Vec::new();
        for h in authorizers.iter().flat_map(|a| a.header_names()) {
            if !claim_headers.contains(h) {
                claim_headers.push(h.clone());
            }
        }
        let mut routes = Vec::new();
        let mut default = None;
        for r in &config.routes {
            let target = match &r.rule {
                config::Rule::Public => Target::Public,
                config::Rule::Protected {
                    authorizers: names,
                    scopes,
                } => Target::Protected {
                    // Validation guarantees every name exists.
                    authorizers: names
                        .iter()
                        .filter_map(|n| by_name.get(n).cloned())
                        .collect(),
                    scopes: scopes.clone().into(),
                },
            };
            match &r.parsed {
                Some(key) => routes.push((key.clone(), Arc::from(r.key.as_str()), target)),
                None => default = Some(target),
            }
        }
        Snapshot {
            routes: RouteTable::new(routes, default),
            authorizers,
            by_name,
            claim_headers: claim_headers.into(),
            config,
        }
    }

    pub fn authorizer(&self, name: &str) -> Option<&Arc<Authorizer>> {
        self.by_name.get(name)
    }

    /// Every authorizer has loaded keys at least once.
    pub fn is_ready(&self) -> bool {
        self.authorizers.iter().all(|a| a.keys.is_loaded())
    }
}

/// The authorizer's shared state: current snapshot, token cache, JWKS client.
pub struct State {
    snapshot: ArcSwap<Snapshot>,
    cache: ArcSwap<TokenCache>,
    fetcher: Fetcher,
    /// Signature verifications performed (a cache hit performs none).
    verifications: AtomicU64,
    /// Woken after each successful reload.
    pub reloaded: Notify,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

impl State {
    /// Compiles `config` and starts each authorizer's JWKS refresh. Needs a tokio runtime.
    pub fn new(config: Config, fetcher: Fetcher) -> Arc<State> {
        let cache = TokenCache::new(&config.cache);
        let snapshot = Snapshot::build(config, |a| new_key_set(a, &fetcher));
        Arc::new(State {
            snapshot: ArcSwap::from_pointee(snapshot),
            cache: ArcSwap::from_pointee(cache),
            fetcher,
            verifications: AtomicU64::new(0),
            reloaded: Notify::new(),
        })
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    pub fn cache(&self) -> Arc<TokenCache> {
        self.cache.load_full()
    }

    /// Swaps in a new config. Key sets with an unchanged source are carried over; one whose
    /// issuer and JWKS URL stay but whose refresh period changed is replaced by a set that
    /// starts with its keys.
    pub fn reload(&self, config: Config) {
        let old = self.snapshot.load_full();
        let snapshot = Snapshot::build(config, |a| {
            let source = source_of(a);
            match old.authorizers.iter().find(|o| o.config.name == a.name) {
                Some(o) if *o.keys.source() == source => o.keys.clone(),
                Some(o)
                    if o.keys.source().issuer == source.issuer
                        && o.keys.source().jwks_uri == source.jwks_uri =>
                {
                    let set = o.keys.with_refresh(source.refresh);
                    set.spawn_refresh();
                    set
                }
                _ => new_key_set(a, &self.fetcher),
            }
        });
        if *self.cache.load().settings() != snapshot.config.cache {
            self.cache
                .store(Arc::new(TokenCache::new(&snapshot.config.cache)));
        }
        self.snapshot.store(Arc::new(snapshot));
        self.reloaded.notify_waiters();
    }

    pub(crate) fn count_verification(&self) {
        self.verifications.fetch_add(1, Ordering::Relaxed);
    }

    /// Signature verifications so far; a cache hit adds none.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }
}

fn source_of(a: &config::Authorizer) -> Source {
    Source {
        issuer: a.issuer.clone(),
        jwks_uri: a.jwks_uri.clone(),
        refresh: a.jwks_refresh,
    }
}

fn new_key_set(a: &config::Authorizer, fetcher: &Fetcher) -> Arc<KeySet> {
    let set = KeySet::new(Arc::from(a.name.as_str()), source_of(a), fetcher.clone());
    set.spawn_refresh();
    set
}
