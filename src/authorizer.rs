//! One issuer's rules, compiled from config, with the key set that serves it.

use std::sync::Arc;

use ring::digest;
use serde_json::{Map, Value};

use crate::config;
use crate::jwks::KeySet;
use crate::jwt::AlgSet;
use crate::jwt::claims::{self, Rules};

/// An authorizer ready for checks.
#[derive(Debug)]
pub struct Authorizer {
    pub name: Arc<str>,
    pub config: config::Authorizer,
    pub algs: AlgSet,
    pub keys: Arc<KeySet>,
    /// SHA-256 of the authorizer's whole config and its key set's id: the token cache's
    /// namespace, so a verdict made under other rules, or with keys of a key set a reload
    /// replaced (whose keys no later fetch retires), is never reused.
    pub fingerprint: [u8; 32],
    /// `(claim, header)`.
    claim_headers: Vec<(String, Arc<str>)>,
    payload_header: Option<Arc<str>>,
    skew: f64,
}

impl Authorizer {
    pub fn new(config: config::Authorizer, keys: Arc<KeySet>) -> Authorizer {
        let fingerprint = {
            let mut ctx = digest::Context::new(&digest::SHA256);
            ctx.update(format!("{config:?}").as_bytes());
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
            fingerprint,
            keys,
            config,
        }
    }

    pub fn rules(&self) -> Rules<'_> {
        Rules {
            issuer: &self.config.issuer,
            audience: &self.config.audience,
            token_use: self.config.token_use,
            clock_skew: self.skew,
        }
    }

    pub fn clock_skew(&self) -> f64 {
        self.skew
    }

    /// The upstream headers a verified token sets: claim headers, then the payload header.
    pub fn headers_for(
        &self,
        claims: &Map<String, Value>,
        payload: &str,
    ) -> Vec<(Arc<str>, String)> {
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
