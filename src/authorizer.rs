//! One issuer's rules, compiled from config, with the key set that serves it, and the one place
//! a token's signature is checked.

use std::sync::Arc;

use ring::digest;
use serde_json::{Map, Value};

use crate::config;
use crate::jwks::{KeySet, Lookup};
use crate::jwt::claims::{self, Rules};
use crate::jwt::{AlgSet, IdentitySource, compact};
use crate::reason::Reason;
use crate::token_cache::Verified;
use crate::trace::Trace;

/// An authorizer ready for checks.
#[derive(Debug)]
pub struct Authorizer {
    /// The config's name, for labels and logs.
    pub name: Arc<str>,
    /// The rules as configured.
    pub config: config::Authorizer,
    algs: AlgSet,
    keys: Arc<KeySet>,
    /// SHA-256 of the authorizer's whole config and its key set's id: the token cache's
    /// namespace, so a verdict made under other rules, or with keys of a key set a reload
    /// replaced (whose keys no later fetch retires), is never reused.
    pub fingerprint: [u8; 32],
    /// `(claim, header)`.
    claim_headers: Vec<(String, Arc<str>)>,
    payload_header: Option<Arc<str>>,
    skew: f64,
    /// `iss` must equal one of these.
    issuers: Vec<String>,
    /// The claims any claim rule on this authorizer or its routes names: a verdict keeps
    /// their values.
    rule_claims: Vec<String>,
}

impl Authorizer {
    /// `route_claims`: the claims named by the claim rules of the routes this authorizer
    /// judges (its own rules are in `config`).
    pub fn new(
        config: config::Authorizer,
        keys: Arc<KeySet>,
        route_claims: &[String],
    ) -> Authorizer {
        let mut rule_claims: Vec<String> = config.claims.iter().map(|r| r.claim.clone()).collect();
        for name in route_claims {
            if !rule_claims.contains(name) {
                rule_claims.push(name.clone());
            }
        }
        let fingerprint = {
            let mut ctx = digest::Context::new(&digest::SHA256);
            ctx.update(format!("{config:?}").as_bytes());
            // A verdict keeps only the claims rules named when it was made.
            ctx.update(format!("{rule_claims:?}").as_bytes());
            ctx.update(&keys.id().to_le_bytes());
            let d = ctx.finish();
            let mut out = [0; 32];
            out.copy_from_slice(d.as_ref());
            out
        };
        Authorizer {
            name: Arc::from(config.name.as_str()),
            algs: config.algorithms.iter().copied().collect(),
            claim_headers: config
                .claims_to_headers
                .iter()
                .map(|(c, h)| (c.clone(), Arc::from(h.as_str())))
                .collect(),
            payload_header: config.forward_payload_header.as_deref().map(Arc::from),
            skew: config.clock_skew.as_secs_f64(),
            issuers: match &config.pool {
                Some(pool) => pool.issuers().to_vec(),
                None => vec![config.issuer.clone()],
            },
            rule_claims,
            fingerprint,
            keys,
            config,
        }
    }

    /// The key set this authorizer verifies with.
    pub fn keys(&self) -> &Arc<KeySet> {
        &self.keys
    }

    /// Where this authorizer looks for a token, in order.
    pub fn identity_sources(&self) -> &[IdentitySource] {
        &self.config.identity_source
    }

    /// Whether the token's source is removed before the request goes upstream.
    pub fn strips_token(&self) -> bool {
        self.config.strip_token
    }

    /// Whether `iss` names this authorizer's issuer.
    pub fn issues(&self, iss: &str) -> bool {
        self.issuers.iter().any(|i| i == iss)
    }

    /// The claim rules every route of this authorizer requires.
    pub fn claim_rules(&self) -> &[config::ClaimRule] {
        &self.config.claims
    }

    /// Seconds of leeway for the time claims.
    pub fn clock_skew(&self) -> f64 {
        self.skew
    }

    fn rules(&self) -> Rules<'_> {
        Rules {
            issuers: &self.issuers,
            audience: &self.config.audience,
            token_use: self.config.token_use,
            clock_skew: self.skew,
        }
    }

    /// Full verification in the SPEC's order: shape, `alg`, key, signature, then claims. The
    /// only place a signature is checked.
    pub async fn verify<T: Trace + Send>(
        &self,
        token: &str,
        now: f64,
        trace: &mut T,
    ) -> Result<Verified, Reason> {
        let parts = compact::parse(token);
        trace.record("shape", parts.is_ok(), || {
            "compact JWS, at most 8192 bytes, base64url parts, JSON header without crit/b64".into()
        });
        let parts = parts?;
        let alg = parts.alg.filter(|a| self.algs.contains(*a));
        trace.record("alg", alg.is_some(), || {
            let allowed: Vec<_> = self.config.algorithms.iter().map(|a| a.as_str()).collect();
            format!("header alg must be one of {}", allowed.join(" "))
        });
        let alg = alg.ok_or(Reason::AlgNotAllowed)?;
        let kid = parts.kid.as_deref();
        let lookup = match self.keys.lookup(kid, alg) {
            Lookup::Unknown if kid.is_some() => {
                self.keys.refetch_unknown().await;
                self.keys.lookup(kid, alg)
            }
            other => other,
        };
        let kid_text = || kid.map_or_else(|| "(none)".to_owned(), |k| format!("{k:?}"));
        trace.record("key", matches!(lookup, Lookup::Keys(_)), || match &lookup {
            Lookup::Keys(keys) => format!("{} key(s) for kid {} fit {alg}", keys.len(), kid_text()),
            Lookup::Unknown => format!("no key for kid {} fits {alg}", kid_text()),
            Lookup::NeverLoaded => "the issuer's keys have never loaded".into(),
        });
        let candidates = match lookup {
            Lookup::Keys(keys) => keys,
            Lookup::NeverLoaded => return Err(Reason::KeysUnavailable),
            Lookup::Unknown => return Err(Reason::UnknownKey),
        };
        let message = parts.signing_input.as_bytes();
        let key = candidates.into_iter().find(|k| {
            self.keys.count_verification();
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
        let times = claims::check(&payload, &self.rules(), now, trace)?;
        let headers = self.headers_for(&payload, parts.payload);
        Ok(Verified::new(
            &self.name,
            times,
            &payload,
            &headers,
            &self.rule_claims,
            key,
        ))
    }

    /// The upstream headers a verified token sets: claim headers, then the payload header.
    fn headers_for(&self, claims: &Map<String, Value>, payload: &str) -> Vec<(Arc<str>, String)> {
        let mut out: Vec<(Arc<str>, String)> = self
            .claim_headers
            .iter()
            .filter_map(|(claim, header)| {
                claims::header_value(claims, claim).map(|v| (header.clone(), v))
            })
            .collect();
        if let Some(h) = &self.payload_header {
            out.push((h.clone(), payload.to_owned()));
        }
        out
    }

    /// Every header this authorizer may set.
    pub fn header_names(&self) -> impl Iterator<Item = &Arc<str>> {
        self.claim_headers
            .iter()
            .map(|(_, h)| h)
            .chain(self.payload_header.iter())
    }
}
