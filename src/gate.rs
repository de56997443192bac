//! The decision: route → authorizer → token cache → verification → scopes.
//!
//! Transports build a [`Request`], call [`check`], and render the [`Decision`]. Nothing here
//! knows about gRPC or HTTP, and time comes in as an argument.

use std::collections::HashMap;
use std::sync::Arc;

use crate::authorizer::Authorizer;
use crate::decision::{Decision, NO_AUTHORIZER, Reason};
use crate::explain::{NoTrace, Trace};
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
    check_traced(state, req, now, &mut NoTrace).await
}

/// [`check`], recording each step into `trace` (for `tokengate verify`).
pub async fn check_traced<T: Trace + Send>(
    state: &State,
    req: &Request<'_>,
    now: f64,
    trace: &mut T,
) -> Decision {
    let snap = state.snapshot();
    let (path, query) = match req.path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (req.path, None),
    };
    let (route, target) = select(&snap, req.method, path, req.context);
    trace.record("route", target.is_some(), || match &route {
        Some(key) => format!("{} {path} matches route {key:?}", req.method),
        None => format!(
            "{} {path} matches no route and there is no $default",
            req.method
        ),
    });
    let base = Outcome { snap: &snap, route };
    match target {
        None => base.deny(Reason::NoRoute, NO_AUTHORIZER.into()),
        Some(Target::Public) => {
            trace.record("public", true, || {
                "the route is public: no token needed".into()
            });
            base.finish(Reason::Public, NO_AUTHORIZER.into(), None, None)
        }
        Some(Target::Protected {
            authorizers,
            scopes,
        }) => {
            let ask = Ask {
                authorizers: &authorizers,
                scopes: &scopes,
                headers: req.headers,
                query,
            };
            judge(state, &base, &ask, now, trace).await
        }
    }
}

/// What a protected route asks of one request.
struct Ask<'a> {
    authorizers: &'a [Arc<Authorizer>],
    scopes: &'a Arc<[String]>,
    headers: &'a dyn Headers,
    query: Option<&'a str>,
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

async fn judge<T: Trace + Send>(
    state: &State,
    out: &Outcome<'_>,
    ask: &Ask<'_>,
    now: f64,
    trace: &mut T,
) -> Decision {
    let (authorizers, scopes) = (ask.authorizers, ask.scopes);
    let Some(first) = authorizers.first() else {
        return out.deny(Reason::NoRoute, NO_AUTHORIZER.into());
    };
    let sources = authorizers
        .iter()
        .flat_map(|a| a.config.identity_source.iter());
    let found = extract::find(sources, ask.headers, ask.query);
    trace.record("token", found.is_some(), || match &found {
        Some((t, src)) => format!("{} bytes from {src}", t.len()),
        None => "no identity source holds a token".into(),
    });
    let Some((token, source)) = found else {
        return out.deny(Reason::MissingToken, first.name.clone());
    };
    let authorizer = if authorizers.len() == 1 {
        first
    } else {
        let picked = pick_by_issuer(authorizers, token);
        trace.record(
            "issuer pick",
            matches!(picked, Ok(Some(_))),
            || match &picked {
                Ok(Some(a)) => format!("the token's iss picks authorizer {}", a.name),
                Ok(None) => "the token's iss matches none of the route's authorizers".into(),
                Err(_) => "the token's iss cannot be read".into(),
            },
        );
        match picked {
            Ok(Some(a)) => a,
            Ok(None) => return out.deny(Reason::WrongIssuer, NO_AUTHORIZER.into()),
            Err(reason) => return out.deny(reason, first.name.clone()),
        }
    };
    let name = authorizer.name.clone();
    trace.record("authorizer", true, || {
        format!("{name} (issuer {})", authorizer.config.issuer)
    });

    let cache = state.cache();
    let key = TokenCache::key(&authorizer.fingerprint, token);
    let verified = match cache.get(&key) {
        Some(hit) => {
            metrics::counter!(crate::metrics::TOKEN_CACHE_REQUESTS, "result" => "hit").increment(1);
            let timely = hit.times.check(now, authorizer.clock_skew());
            trace.record("cache hit", timely.is_ok(), || {
                "verified earlier: signature skipped, time claims re-checked".into()
            });
            if let Err(reason) = timely {
                return out.deny(reason, name);
            }
            hit
        }
        None => {
            if cache.is_enabled() {
                metrics::counter!(crate::metrics::TOKEN_CACHE_REQUESTS, "result" => "miss")
                    .increment(1);
            }
            match verify(state, authorizer, token, now, trace).await {
                Ok(v) => cache.insert(key, v, now),
                Err(reason) => return out.deny(reason, name),
            }
        }
    };
    let scoped = claims::has_any_joined_scope(&verified.scopes, scopes);
    trace.record("scopes", scoped, || {
        if scopes.is_empty() {
            "the route requires no scope".into()
        } else {
            format!(
                "token scopes {:?} must hold one of {scopes:?}",
                verified.scopes
            )
        }
    });
    if !scoped {
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
pub async fn verify<T: Trace + Send>(
    state: &State,
    authorizer: &Authorizer,
    token: &str,
    now: f64,
    trace: &mut T,
) -> Result<Verified, Reason> {
    let parts = compact::parse(token);
    trace.record("shape", parts.is_ok(), || {
        "compact JWS, at most 8192 bytes, base64url parts, JSON header without crit/b64".into()
    });
    let parts = parts?;
    let alg = parts.alg.filter(|a| authorizer.algs.contains(*a));
    trace.record("alg", alg.is_some(), || {
        let allowed: Vec<_> = authorizer
            .config
            .algorithms
            .iter()
            .map(|a| a.as_str())
            .collect();
        format!("header alg must be one of {allowed:?}")
    });
    let alg = alg.ok_or(Reason::AlgNotAllowed)?;
    let kid = parts.kid.as_deref();
    let lookup = match authorizer.keys.lookup(kid, alg) {
        Lookup::Unknown if kid.is_some() => {
            authorizer.keys.refetch_unknown().await;
            authorizer.keys.lookup(kid, alg)
        }
        other => other,
    };
    trace.record("key", matches!(lookup, Lookup::Keys(_)), || match &lookup {
        Lookup::Keys(keys) => format!("{} key(s) for kid {kid:?} fit {alg}", keys.len()),
        Lookup::Unknown => format!("no key for kid {kid:?} fits {alg}"),
        Lookup::NeverLoaded => "the issuer's keys have never loaded".into(),
    });
    let candidates = match lookup {
        Lookup::Keys(keys) => keys,
        Lookup::NeverLoaded => return Err(Reason::KeysUnavailable),
        Lookup::Unknown => return Err(Reason::UnknownKey),
    };
    let message = parts.signing_input.as_bytes();
    let key = candidates.into_iter().find(|k| {
        state.count_verification();
        k.verify(alg, message, &parts.signature)
    });
    trace.record("signature", key.is_some(), || {
        format!("{alg} signature over header.payload")
    });
    let key = key.ok_or(Reason::BadSignature)?;
    let payload = compact::payload(parts.payload);
    trace.record("payload", payload.is_ok(), || match &payload {
        Ok(claims) => serde_json::to_string(claims).unwrap_or_default(),
        Err(_) => "not a JSON object with unique member names".into(),
    });
    let payload = payload?;
    let times = claims::check(&payload, &authorizer.rules(), now, trace)?;
    let scopes = claims::scopes(&payload);
    let headers = authorizer.headers_for(&payload, parts.payload);
    Ok(Verified::new(times, scopes, headers, &payload, key))
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
