//! The decision: route → authorizer → token cache → verification → scopes.
//!
//! Transports build a [`Request`], call [`check`] with one [`Snapshot`], and render the
//! [`Decision`]. Nothing here knows about gRPC or HTTP, and time comes in as an argument.

use std::sync::Arc;

use crate::authorizer::Authorizer;
use crate::config::ClaimRule;
use crate::cors;
use crate::decision::{Decision, NO_AUTHORIZER, Reason};
use crate::jwt::extract::{self, IdentitySource};
use crate::jwt::{claims, compact, rules};
use crate::request::{self, Extensions, Header, Headers, Request, checks};
use crate::state::{Snapshot, Target};
use crate::token_cache;
use crate::trace::{NoTrace, Trace};

/// Decides one request at time `now` (Unix seconds) under one snapshot.
pub async fn check(snap: &Snapshot, req: &Request<'_>, now: f64) -> Decision {
    check_traced(snap, req, now, &mut NoTrace).await
}

/// [`check`], recording each step into `trace` (for `tokengate verify`).
pub async fn check_traced<T: Trace + Send>(
    snap: &Snapshot,
    req: &Request<'_>,
    now: f64,
    trace: &mut T,
) -> Decision {
    let (sent, query) = req.split();
    let path = match checks::check(req.method, sent, snap.config.paths) {
        Ok(path) => path,
        Err(reason) => {
            trace.record("request", false, || {
                format!(
                    "{} {sent}: the method must be A-Z letters and the path origin-form, with \
                     no dot or empty segments, no encoded / \\ or NUL, no \\ ; # or bytes \
                     outside visible ASCII",
                    req.method
                )
            });
            return refuse(snap, req.headers, reason);
        }
    };
    if path != sent {
        trace.record("request", true, || format!("{sent} is read as {path}"));
    }
    if snap.config.cors.is_some() && cors::is_preflight(req.method, req.headers) {
        trace.record("preflight", true, || {
            "a CORS preflight passes without a token (cors is configured)".into()
        });
        let base = Outcome {
            snap,
            route: None,
            path: &path,
            headers: req.headers,
        };
        return base.finish(Reason::Preflight, NO_AUTHORIZER.into(), None, None);
    }
    let (route, target) = select(snap, req.method, &path, req.context);
    trace.record("route", target.is_some(), || match &route {
        Some(key) => format!("{} {path} matches route \"{key}\"", req.method),
        None => format!(
            "{} {path} matches no route and there is no $default",
            req.method
        ),
    });
    let base = Outcome {
        snap,
        route,
        path: &path,
        headers: req.headers,
    };
    match target {
        None => base.deny(Reason::NoRoute, NO_AUTHORIZER.into()),
        Some(Target::Deny) => {
            trace.record("deny", false, || "the route is `deny: true`".into());
            base.deny(Reason::NoRoute, NO_AUTHORIZER.into())
        }
        Some(Target::Public) => {
            trace.record("public", true, || {
                "the route is public: no token needed".into()
            });
            base.finish(Reason::Public, NO_AUTHORIZER.into(), None, None)
        }
        Some(Target::Protected {
            authorizers,
            scopes,
            claims,
        }) => {
            let ask = Ask {
                authorizers: &authorizers,
                scopes: &scopes,
                claims: &claims,
                req,
                query,
            };
            judge(&base, &ask, now, trace).await
        }
    }
}

/// The decision for a request refused before it could be read: no route, no authorizer.
pub fn refuse(snap: &Snapshot, headers: &dyn Headers, reason: Reason) -> Decision {
    let out = Outcome {
        snap,
        route: None,
        path: "",
        headers,
    };
    out.deny(reason, NO_AUTHORIZER.into())
}

/// What a protected route asks of one request.
struct Ask<'a> {
    authorizers: &'a [Arc<Authorizer>],
    scopes: &'a Arc<[String]>,
    claims: &'a [ClaimRule],
    req: &'a Request<'a>,
    query: Option<&'a str>,
}

/// The route's target after `context_extensions`; `None` target means no route.
fn select(
    snap: &Snapshot,
    method: &str,
    path: &str,
    context: Option<&dyn Extensions>,
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
                    claims: Arc::from([]),
                };
                (route, Some(target))
            }
            // Logged, rate-limited, by the pipeline: any client can repeat it.
            None => (route, None),
        },
        None => match (matched, ext_scopes()) {
            (
                Some(Target::Protected {
                    authorizers,
                    claims,
                    ..
                }),
                Some(scopes),
            ) => (
                route,
                Some(Target::Protected {
                    authorizers,
                    scopes,
                    claims,
                }),
            ),
            (matched, _) => (route, matched),
        },
    }
}

async fn judge<T: Trace + Send>(
    out: &Outcome<'_>,
    ask: &Ask<'_>,
    now: f64,
    trace: &mut T,
) -> Decision {
    let (authorizers, scopes) = (ask.authorizers, ask.scopes);
    let Some(first) = authorizers.first() else {
        return out.deny(Reason::NoRoute, NO_AUTHORIZER.into());
    };
    let sources = authorizers.iter().flat_map(|a| a.identity_sources());
    let found = extract::find(sources, ask.req.headers, ask.query);
    trace.record("token", matches!(found, Ok(Some(_))), || match &found {
        Ok(Some((t, src))) => format!("{} bytes from {src}", t.len()),
        Ok(None) => "no identity source holds a token".into(),
        Err(_) => "an identity source is present more than once".into(),
    });
    let (token, source) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return out.deny(Reason::MissingToken, first.name.clone()),
        Err(reason) => return out.deny(reason, first.name.clone()),
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

    let cache = &out.snap.cache;
    let key = cache.key(&authorizer.fingerprint, token);
    let verified = match cache.get(&key, now) {
        Some(hit) => {
            let timely = hit.times.check(now, authorizer.clock_skew());
            trace.record("cache hit", timely.is_ok(), || {
                "verified earlier: signature skipped, time claims re-checked".into()
            });
            if let Err(reason) = timely {
                return out.deny(reason, name);
            }
            hit
        }
        None => match authorizer.verify(token, now, trace).await {
            Ok(v) => cache.insert(key, v, now),
            Err(reason) => return out.deny(reason, name),
        },
    };
    if let Some(watch) = &out.snap.revocation {
        let list = watch.list();
        let revoked = list.revokes(&verified.revocation);
        trace.record("revocation", !revoked, || {
            let file = watch.path().display();
            match list.revoked_by(&verified.revocation) {
                Some(kind) => {
                    let claims = verified
                        .allow
                        .claims()
                        .and_then(token_cache::claims_json)
                        .unwrap_or_default();
                    let value = claims.get(kind.as_str()).cloned().unwrap_or_default();
                    format!("{} {value} is on the revocation list {file}", kind.as_str())
                }
                None => format!("neither jti, origin_jti nor sub is on {file}"),
            }
        });
        if revoked {
            return out.deny(Reason::Revoked, name);
        }
    }
    let scoped = claims::has_any_joined_scope(&verified.scopes, scopes);
    trace.record("scopes", scoped, || {
        if scopes.is_empty() {
            "the route requires no scope".into()
        } else {
            let held = if verified.scopes.is_empty() {
                "(none)"
            } else {
                &verified.scopes
            };
            format!(
                "token scopes [{held}] must hold one of [{}]",
                scopes.join(" ")
            )
        }
    });
    if !scoped {
        return Decision {
            scopes: scopes.clone(),
            ..out.deny(Reason::InsufficientScope, name)
        };
    }
    let unmet = rules::first_unmet(authorizer.claim_rules(), &verified.held)
        .or_else(|| rules::first_unmet(ask.claims, &verified.held));
    if !authorizer.claim_rules().is_empty() || !ask.claims.is_empty() || unmet.is_some() {
        trace.record("claims", unmet.is_none(), || match unmet {
            Some(rule) => rules::explain_unmet(
                rule,
                verified
                    .allow
                    .claims()
                    .and_then(token_cache::claims_json)
                    .as_ref(),
            ),
            None => "every claim rule is met".into(),
        });
    }
    if unmet.is_some() {
        return out.deny(Reason::InsufficientClaims, name);
    }
    let stripped = authorizer.strips_token().then_some(source);
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
    Ok(authorizers.iter().find(|a| a.issues(iss)))
}

/// Builds decisions for one request: the route label and the headers every decision removes.
struct Outcome<'s> {
    snap: &'s Snapshot,
    route: Option<Arc<str>>,
    /// The path as judged (after the request checks).
    path: &'s str,
    headers: &'s dyn Headers,
}

impl Outcome<'_> {
    fn deny(&self, reason: Reason, authorizer: Arc<str>) -> Decision {
        self.finish(reason, authorizer, None, None)
    }

    fn finish(
        &self,
        reason: Reason,
        authorizer: Arc<str>,
        verified: Option<&Arc<crate::token_cache::Verified>>,
        stripped: Option<&IdentitySource>,
    ) -> Decision {
        let set = |h: &str| verified.is_some_and(|v| v.allow.headers().any(|(s, _)| s == h));
        let mut remove: Vec<Arc<str>> = self
            .snap
            .claim_headers
            .iter()
            .filter(|h| !set(h))
            .cloned()
            .collect();
        // `x_user_id` reaches CGI-style upstreams as `X-User-Id`: removed whenever sent.
        for twin in self.snap.claim_twins.iter() {
            if request::header(self.headers, twin) != Header::Absent {
                remove.push(twin.clone());
            }
        }
        let mut remove_query = Vec::new();
        match stripped {
            Some(IdentitySource::Header(h)) => remove.push(Arc::from(h.as_str())),
            Some(IdentitySource::Query(q)) => remove_query.push(Arc::from(q.as_str())),
            // Removing the whole Cookie header would drop unrelated cookies.
            Some(IdentitySource::Cookie(_)) | None => {}
        }
        let cors = match &self.snap.config.cors {
            Some(policy) if !reason.is_allow() => cors::denial_headers(policy, self.headers),
            _ => Vec::new(),
        };
        Decision {
            reason,
            authorizer,
            route: self.route.clone(),
            path: self.path.into(),
            scopes: Arc::from([]),
            verified: verified.cloned(),
            remove_headers: remove,
            remove_query,
            cors,
        }
    }
}
