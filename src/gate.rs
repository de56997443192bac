//! The decision: route → authorizer → token cache → verification → scopes.
//!
//! Transports build a [`Request`], call [`check`], and render the [`Decision`]. Nothing here
//! knows about gRPC or HTTP, and time comes in as an argument.

use std::collections::HashMap;
use std::sync::Arc;

use crate::authorizer::Authorizer;
use crate::decision::{Decision, NO_AUTHORIZER, Reason};
use crate::jwks::Lookup;
use crate::jwt::extract::{self, Headers, IdentitySource};
use crate::jwt::{claims, compact};
use crate::state::{Snapshot, State, Target};
use crate::token_cache::{TokenCache, Verified};

/// One request to authorize, as any transport sees it.
pub struct Request<'a> {
    pub method: &'a str,
    /// The request target: path and query string, undecoded.
    pub path: &'a str,
    pub headers: &'a dyn Headers,
    /// Envoy's per-route `context_extensions`.
    pub context: Option<&'a HashMap<String, String>>,
}

/// Decides one request at time `now` (Unix seconds).
pub async fn check(state: &State, req: &Request<'_>, now: f64) -> Decision {
    let snap = state.snapshot();
    let (path, query) = match req.path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (req.path, None),
    };
    let (route, target) = select(&snap, req.method, path, req.context);
    let base = Outcome { snap: &snap, route };
    match target {
        None => base.deny(Reason::NoRoute, NO_AUTHORIZER.into()),
        Some(Target::Public) => base.finish(Reason::Public, NO_AUTHORIZER.into(), None, None),
        Some(Target::Protected {
            authorizers,
            scopes,
        }) => judge(state, &base, &authorizers, &scopes, req.headers, query, now).await,
    }
}

/// The route's target after `context_extensions`; `None` target means no route.
fn select(
    snap: &Snapshot,
    method: &str,
    path: &str,
    context: Option<&HashMap<String, String>>,
) -> (Option<Arc<str>>, Option<Target>) {
    let selected = snap.routes.select(method, path);
    let route = selected.as_ref().map(|s| s.key.clone());
    let matched = selected.map(|s| s.value.clone());
    let ext_scopes = || {
        context.and_then(|c| c.get("scopes")).map(|s| {
            s.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Arc<[String]>>()
        })
    };
    match context.and_then(|c| c.get("authorizer")) {
        Some(name) => match snap.authorizer(name) {
            Some(a) => {
                let target = Target::Protected {
                    authorizers: Arc::from([a.clone()]),
                    scopes: ext_scopes().unwrap_or_else(|| Arc::from([])),
                };
                (route, Some(target))
            }
            None => {
                tracing::error!(authorizer = %name, "context_extensions name an authorizer that is not configured");
                (route, None)
            }
        },
        None => match (matched, ext_scopes()) {
            (Some(Target::Protected { authorizers, .. }), Some(scopes)) => (
                route,
                Some(Target::Protected {
                    authorizers,
                    scopes,
                }),
            ),
            (matched, _) => (route, matched),
        },
    }
}

async fn judge(
    state: &State,
    out: &Outcome<'_>,
    authorizers: &[Arc<Authorizer>],
    scopes: &Arc<[String]>,
    headers: &dyn Headers,
    query: Option<&str>,
    now: f64,
) -> Decision {
    let Some(first) = authorizers.first() else {
        return out.deny(Reason::NoRoute, NO_AUTHORIZER.into());
    };
    let sources = authorizers
        .iter()
        .flat_map(|a| a.config.identity_source.iter());
    let Some((token, source)) = extract::find(sources, headers, query) else {
        return out.deny(Reason::MissingToken, first.name.clone());
    };
    let authorizer = if authorizers.len() == 1 {
        first
    } else {
        match pick_by_issuer(authorizers, token) {
            Ok(Some(a)) => a,
            Ok(None) => return out.deny(Reason::WrongIssuer, NO_AUTHORIZER.into()),
            Err(reason) => return out.deny(reason, first.name.clone()),
        }
    };
    let name = authorizer.name.clone();

    let cache = state.cache();
    let key = TokenCache::key(&authorizer.fingerprint, token);
    let verified = match cache.get(&key) {
        Some(hit) => {
            metrics::counter!(crate::metrics::TOKEN_CACHE_REQUESTS, "result" => "hit").increment(1);
            if let Err(reason) = hit.times.check(now, authorizer.clock_skew()) {
                return out.deny(reason, name);
            }
            hit
        }
        None => {
            if cache.is_enabled() {
                metrics::counter!(crate::metrics::TOKEN_CACHE_REQUESTS, "result" => "miss")
                    .increment(1);
            }
            match verify(state, authorizer, token, now).await {
                Ok(v) => cache.insert(key, v, now),
                Err(reason) => return out.deny(reason, name),
            }
        }
    };
    if !claims::has_any_scope(&verified.scopes, scopes) {
        return Decision {
            scopes: scopes.clone(),
            ..out.deny(Reason::InsufficientScope, name)
        };
    }
    let stripped = authorizer.config.strip_token.then_some(source);
    out.finish(Reason::Verified, name, Some(&verified), stripped)
}

/// On a route with several authorizers, the (unverified) `iss` picks the one that judges.
fn pick_by_issuer<'a>(
    authorizers: &'a [Arc<Authorizer>],
    token: &str,
) -> Result<Option<&'a Arc<Authorizer>>, Reason> {
    let parts = compact::parse(token)?;
    let claims = compact::payload(parts.payload)?;
    let iss = claims::issuer(&claims)?;
    Ok(authorizers.iter().find(|a| a.config.issuer == iss))
}

/// Full verification in the SPEC's order; the only place a signature is checked.
pub async fn verify(
    state: &State,
    authorizer: &Authorizer,
    token: &str,
    now: f64,
) -> Result<Verified, Reason> {
    let parts = compact::parse(token)?;
    let alg = parts
        .alg
        .filter(|a| authorizer.algs.contains(*a))
        .ok_or(Reason::AlgNotAllowed)?;
    let kid = parts.kid.as_deref();
    let candidates = match authorizer.keys.lookup(kid, alg) {
        Lookup::Keys(keys) => keys,
        Lookup::NeverLoaded => return Err(Reason::KeysUnavailable),
        Lookup::Unknown if kid.is_some() => {
            authorizer.keys.refetch_unknown().await;
            match authorizer.keys.lookup(kid, alg) {
                Lookup::Keys(keys) => keys,
                _ => return Err(Reason::UnknownKey),
            }
        }
        Lookup::Unknown => return Err(Reason::UnknownKey),
    };
    let message = parts.signing_input.as_bytes();
    let key = candidates
        .into_iter()
        .find(|k| {
            state.count_verification();
            k.verify(alg, message, &parts.signature)
        })
        .ok_or(Reason::BadSignature)?;
    let payload = compact::payload(parts.payload)?;
    let times = claims::check(&payload, &authorizer.rules(), now)?;
    let scopes = claims::scopes(&payload);
    let headers = authorizer.headers_for(&payload, parts.payload);
    Ok(Verified::new(times, scopes, headers, payload, key))
}

/// Builds decisions for one request: the route label and the headers every decision removes.
struct Outcome<'s> {
    snap: &'s Snapshot,
    route: Option<Arc<str>>,
}

impl Outcome<'_> {
    fn deny(&self, reason: Reason, authorizer: Arc<str>) -> Decision {
        self.finish(reason, authorizer, None, None)
    }

    fn finish(
        &self,
        reason: Reason,
        authorizer: Arc<str>,
        verified: Option<&Arc<Verified>>,
        stripped: Option<&IdentitySource>,
    ) -> Decision {
        let set = verified.map_or_else(|| Arc::from([]), |v| v.headers.clone());
        let mut remove: Vec<Arc<str>> = self
            .snap
            .claim_headers
            .iter()
            .filter(|h| !set.iter().any(|(s, _)| s == *h))
            .cloned()
            .collect();
        let mut remove_query = Vec::new();
        match stripped {
            Some(IdentitySource::Header(h)) => remove.push(Arc::from(h.as_str())),
            Some(IdentitySource::Query(q)) => remove_query.push(Arc::from(q.as_str())),
            // Removing the whole Cookie header would drop unrelated cookies.
            Some(IdentitySource::Cookie(_)) | None => {}
        }
        Decision {
            reason,
            authorizer,
            route: self.route.clone(),
            scopes: Arc::from([]),
            set_headers: set,
            remove_headers: remove,
            remove_query,
            claims: verified.map(|v| v.claims.clone()),
        }
    }
}
