//! The live configuration: an immutable [`Snapshot`] swapped whole on reload.
//!
//! A check loads the current snapshot once and uses it to the end, so a reload never changes
//! the rules under an in-flight check. Authorizers whose issuer and JWKS settings did not change
//! keep their key set (and with it their keys) across a reload, and the token cache is kept
//! while its settings stay.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::Notify;

use crate::authorizer::Authorizer;
use crate::clock::Clock;
use crate::config::{self, ClaimRule, Config, Jwks};
use crate::jwks::{Fetcher, KeySet, Source};
use crate::metrics;
use crate::revocation::{self, Watch};
use crate::route::RouteTable;
use crate::token_cache::TokenCache;

/// What a route asks of a request.
#[derive(Debug, Clone)]
pub enum Target {
    /// No token needed.
    Public,
    /// Always denied.
    Deny,
    /// A token, verified by one of the authorizers, holding one of the scopes.
    Protected {
        /// One or more; with several, the token's `iss` picks.
        authorizers: Arc<[Arc<Authorizer>]>,
        /// Any one of these is enough; empty requires none.
        scopes: Arc<[String]>,
        /// The route's claim rules, met besides the authorizer's.
        claims: Arc<[ClaimRule]>,
    },
}

/// Everything a check needs, compiled from one config.
#[derive(Debug)]
pub struct Snapshot {
    /// The config it was compiled from.
    pub config: Config,
    /// The routes, each with what it asks.
    pub routes: RouteTable<Target>,
    /// In config order.
    pub authorizers: Vec<Arc<Authorizer>>,
    by_name: HashMap<String, Arc<Authorizer>>,
    /// Every header any authorizer may set: each decision removes those it did not set.
    pub claim_headers: Arc<[Arc<str>]>,
    /// Each claim header's name with `_` for `-`, removed whenever a request carries it.
    pub claim_twins: Arc<[Arc<str>]>,
    /// The verified-token cache, kept across reloads that leave its settings alone.
    pub cache: Arc<TokenCache>,
    /// The revocation list, when one is configured.
    pub revocation: Option<Arc<Watch>>,
    /// The per-check counters of these authorizers.
    pub metrics: metrics::Checks,
}

impl Snapshot {
    /// Compiles a config; `keys_for` supplies (or reuses) each authorizer's key set.
    fn build(
        config: Config,
        cache: Arc<TokenCache>,
        revocation: Option<Arc<Watch>>,
        mut keys_for: impl FnMut(&config::Authorizer) -> Arc<KeySet>,
    ) -> Snapshot {
        let authorizers: Vec<Arc<Authorizer>> = config
            .authorizers
            .iter()
            .map(|a| {
                let route_claims = route_claims(&config, &a.name);
                Arc::new(Authorizer::new(a.clone(), keys_for(a), &route_claims))
            })
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
        let claim_twins: Vec<Arc<str>> = claim_headers
            .iter()
            .filter(|h| h.contains('-'))
            .map(|h| Arc::from(h.replace('-', "_")))
            .collect();
        let mut routes = Vec::new();
        let mut default = None;
        for r in &config.routes {
            let target = match &r.rule {
                config::Rule::Public => Target::Public,
                config::Rule::Deny => Target::Deny,
                config::Rule::Protected {
                    authorizers: names,
                    scopes,
                    claims,
                } => Target::Protected {
                    // Validation guarantees every name exists.
                    authorizers: names
                        .iter()
                        .filter_map(|n| by_name.get(n).cloned())
                        .collect(),
                    scopes: scopes.clone().into(),
                    claims: claims.clone().into(),
                },
            };
            match &r.parsed {
                Some(key) => routes.push((key.clone(), Arc::from(r.key.as_str()), target)),
                None => default = Some(target),
            }
        }
        Snapshot {
            metrics: metrics::Checks::new(authorizers.iter().map(|a| a.name.clone())),
            routes: RouteTable::new(routes, default),
            authorizers,
            by_name,
            claim_headers: claim_headers.into(),
            claim_twins: claim_twins.into(),
            cache,
            revocation,
            config,
        }
    }

    /// The authorizer called `name`, if the config has one.
    pub fn authorizer(&self, name: &str) -> Option<&Arc<Authorizer>> {
        self.by_name.get(name)
    }

    /// Whether the revocation list holds any of a verified token's claims.
    pub fn revokes(&self, keys: &revocation::Keys) -> bool {
        self.revocation
            .as_ref()
            .is_some_and(|w| w.list().revokes(keys))
    }

    /// Every authorizer has loaded keys at least once.
    pub fn is_ready(&self) -> bool {
        self.authorizers.iter().all(|a| a.keys().is_loaded())
    }
}

/// The authorizer's shared state: the current snapshot, the JWKS client, the clock.
pub struct State {
    snapshot: ArcSwap<Snapshot>,
    fetcher: Fetcher,
    clock: Clock,
    /// Woken when readiness may have changed: a key set's first load, a reload.
    changed: Arc<Notify>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

impl State {
    /// Compiles `config` and starts each authorizer's JWKS refresh. Needs a tokio runtime.
    pub fn new(config: Config, fetcher: Fetcher, clock: Clock) -> Arc<State> {
        let changed = Arc::new(Notify::new());
        let cache = Arc::new(TokenCache::new(&config.cache));
        let revocation = config.revocation.as_ref().map(|r| {
            let watch = Watch::new(r.file.clone(), r.refresh, r.list.clone());
            watch.spawn();
            watch
        });
        let snapshot = Snapshot::build(config, cache, revocation, |a| {
            new_key_set(a, &fetcher, &changed)
        });
        Arc::new(State {
            snapshot: ArcSwap::from_pointee(snapshot),
            fetcher,
            clock,
            changed,
        })
    }

    /// The current snapshot: load it once per check and use it to the end.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The clock checks take `now` from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Swaps in a new config. Key sets with an unchanged source are carried over; one whose
    /// issuer and JWKS URL stay but whose refresh period changed is replaced by a set that
    /// starts with its keys.
    pub fn reload(&self, config: Config) {
        let old = self.snapshot.load_full();
        let cache = if *old.cache.settings() == config.cache {
            old.cache.clone()
        } else {
            Arc::new(TokenCache::new(&config.cache))
        };
        let revocation = config.revocation.as_ref().map(|r| match &old.revocation {
            // The same file: the reload read it again, and the watch carries on from there.
            Some(w) if w.path() == r.file && w.refresh() == r.refresh => {
                w.replace(r.list.clone());
                w.clone()
            }
            _ => {
                let watch = Watch::new(r.file.clone(), r.refresh, r.list.clone());
                watch.spawn();
                watch
            }
        });
        let snapshot = Snapshot::build(config, cache, revocation, |a| {
            let source = source_of(a);
            match old.authorizers.iter().find(|o| o.config.name == a.name) {
                Some(o) if *o.keys().source() == source => {
                    // SIGHUP re-reads a key file, as it re-reads the config.
                    if matches!(source.jwks, Jwks::File(_)) {
                        let set = o.keys().clone();
                        tokio::spawn(async move { set.refresh().await });
                    }
                    o.keys().clone()
                }
                Some(o) if o.keys().source().same_place(&source) => {
                    let set = o.keys().with_refresh(source.refresh);
                    set.spawn_refresh();
                    set
                }
                _ => new_key_set(a, &self.fetcher, &self.changed),
            }
        });
        self.snapshot.store(Arc::new(snapshot));
        self.changed.notify_waiters();
    }

    /// Waits until every authorizer has keys; `false` if `timeout` passes first.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed();
            tokio::pin!(changed);
            // Registered before looking, so a change between the look and the wait is seen.
            changed.as_mut().enable();
            if self.snapshot().is_ready() {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.snapshot().is_ready();
            }
        }
    }

    /// Resolves at the next change that may affect readiness. Enable it (or poll it) before
    /// looking at readiness, so a change in between is not missed.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// Signature verifications performed by the current authorizers' key sets (a cache hit
    /// performs none).
    pub fn verifications(&self) -> u64 {
        self.snapshot()
            .authorizers
            .iter()
            .map(|a| a.keys().verifications())
            .sum()
    }
}

fn source_of(a: &config::Authorizer) -> Source {
    Source {
        issuer: a.issuer.clone(),
        jwks: a.jwks.clone(),
        refresh: a.jwks_refresh,
    }
}

/// The claims named by the claim rules of the routes `authorizer` judges.
fn route_claims(config: &Config, authorizer: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for route in &config.routes {
        if let config::Rule::Protected {
            authorizers,
            claims,
            ..
        } = &route.rule
            && authorizers.iter().any(|a| a == authorizer)
        {
            for rule in claims {
                if !names.contains(&rule.claim) {
                    names.push(rule.claim.clone());
                }
            }
        }
    }
    names
}

fn new_key_set(a: &config::Authorizer, fetcher: &Fetcher, changed: &Arc<Notify>) -> Arc<KeySet> {
    let set = KeySet::new(
        Arc::from(a.name.as_str()),
        source_of(a),
        fetcher.clone(),
        changed.clone(),
    );
    set.spawn_refresh();
    set
}
