//! The verified-token cache: a repeated token costs a SHA-256 and a lookup, not a signature.
//!
//! Entries are keyed by SHA-256 of the authorizer's fingerprint and the token, so a verdict is
//! never reused by another authorizer or after that authorizer's rules change. An entry serves
//! until the token's `exp` or `max_ttl` after it was verified, whichever is first, by the
//! check's own `now`, and dies with its signing key.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;
use ring::digest;
use serde_json::{Map, Value};

use crate::config;
use crate::jwks::Key;
use crate::jwt::claims::{self, Times};
use crate::jwt::rules::Held;
use crate::wire::Allow;
use crate::{metrics, revocation};

/// What a verification established, kept for the token's next visit.
#[derive(Debug)]
pub struct Verified {
    /// The time claims, checked again on every hit.
    pub times: Times,
    /// When the signature was checked (Unix seconds, the check's clock).
    pub verified_at: f64,
    /// The token's scopes, sorted and joined by spaces (no scope holds one): one allocation.
    pub scopes: Box<str>,
    /// The allow's unchanging parts, encoded once for the authorizer that made this verdict
    /// (its name is in the cache key's fingerprint): the claim headers for the upstream
    /// request, and the verified payload for gRPC's `dynamic_metadata`.
    pub allow: Allow,
    /// The values of the claims the authorizer's and its routes' claim rules name.
    pub held: Held,
    /// Hashes of `jti`, `origin_jti` and `sub`, probed against the revocation list.
    pub revocation: revocation::Keys,
    /// The key that verified the signature; a retired key voids the entry.
    pub key: Arc<Key>,
}

impl Verified {
    /// What a verified `payload` leaves for later checks of `authorizer`; `rule_claims` are the
    /// claims some claim rule may ask about.
    pub fn new(
        authorizer: &str,
        times: Times,
        payload: &Map<String, Value>,
        headers: &[(Arc<str>, String)],
        rule_claims: &[String],
        key: Arc<Key>,
    ) -> Verified {
        let revocation = revocation::Kind::ALL.map(|kind| {
            payload
                .get(kind.as_str())
                .and_then(Value::as_str)
                .map(|v| revocation::key(kind, v))
        });
        Verified {
            times,
            verified_at: 0.0,
            scopes: claims::scopes(payload).join(" ").into(),
            allow: Allow::new(
                authorizer,
                headers.iter().map(|(k, v)| (&**k, v.as_str())),
                Some(Claims::new(payload).as_bytes()),
            ),
            held: Held::extract(payload, rule_claims),
            revocation,
            key,
        }
    }

    /// How long this verdict may serve: until `exp`, at most `max_ttl`; zero if already past.
    fn ttl(&self, max_ttl: Duration) -> Duration {
        let left = self.times.exp - self.verified_at;
        if left.is_finite() && left > 0.0 {
            Duration::from_secs_f64(left.min(max_ttl.as_secs_f64()))
        } else {
            Duration::ZERO
        }
    }
}

/// Verified claims, kept as the encoded `google.protobuf.Struct` that gRPC's `dynamic_metadata`
/// carries: one allocation of about the payload's size per cached token, where the parsed JSON
/// tree would take several kilobytes in dozens of allocations.
#[derive(Clone, Debug, PartialEq)]
pub struct Claims(Box<[u8]>);

impl Claims {
    /// Encodes a verified payload once, when it is verified (or cached).
    pub fn new(claims: &Map<String, Value>) -> Claims {
        let fields = claims
            .iter()
            .map(|(k, v)| (k.clone(), to_protobuf(v)))
            .collect();
        Claims(prost::Message::encode_to_vec(&prost_types::Struct { fields }).into_boxed_slice())
    }

    /// The encoded `Struct`, as `dynamic_metadata` carries it under `claims`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Encoded claims (as [`Claims::as_bytes`] made them) as JSON again, numbers as `f64` and whole
/// ones as integers: for explanations, never on the hot path. `None` if they do not decode.
pub fn claims_json(encoded: &[u8]) -> Option<Map<String, Value>> {
    let s: prost_types::Struct = prost::Message::decode(encoded).ok()?;
    Some(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), to_json(v)))
            .collect(),
    )
}

fn to_json(v: &prost_types::Value) -> Value {
    use prost_types::value::Kind;
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        // 2^53: beyond it an f64 no longer holds every integer.
        #[allow(clippy::cast_possible_truncation)]
        Some(Kind::NumberValue(n)) if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 => {
            Value::from(*n as i64)
        }
        Some(Kind::NumberValue(n)) => Value::from(*n),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(to_json).collect()),
        Some(Kind::StructValue(s)) => Value::Object(
            s.fields
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
    }
}

fn to_protobuf(v: &Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(to_protobuf).collect(),
        }),
        Value::Object(map) => Kind::StructValue(prost_types::Struct {
            fields: map
                .iter()
                .map(|(k, v)| (k.clone(), to_protobuf(v)))
                .collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

/// SHA-256 over the authorizer's fingerprint and the token.
pub type CacheKey = [u8; 32];

/// Bounded and concurrent (moka); `None` inside when `cache.tokens` is 0.
pub struct TokenCache {
    inner: Option<Cache<CacheKey, Arc<Verified>>>,
    max_ttl: Duration,
    settings: config::Cache,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Frees an entry's memory once it can no longer serve. Whether an entry serves is decided
/// by the check's own clock in [`TokenCache::get`]; this only reclaims space.
struct UntilExpiry {
    max_ttl: Duration,
}

impl moka::Expiry<CacheKey, Arc<Verified>> for UntilExpiry {
    fn expire_after_create(&self, _: &CacheKey, v: &Arc<Verified>, _: Instant) -> Option<Duration> {
        Some(v.ttl(self.max_ttl))
    }
}

impl TokenCache {
    /// A cache of `settings.tokens` entries, each kept at most `settings.max_ttl`.
    pub fn new(settings: &config::Cache) -> TokenCache {
        let inner = (settings.tokens > 0).then(|| {
            Cache::builder()
                .max_capacity(settings.tokens)
                .expire_after(UntilExpiry {
                    max_ttl: settings.max_ttl,
                })
                .build()
        });
        TokenCache {
            inner,
            max_ttl: settings.max_ttl,
            settings: settings.clone(),
        }
    }

    /// The settings it was built with: a reload keeps the cache while they stay the same.
    pub fn settings(&self) -> &config::Cache {
        &self.settings
    }

    /// SHA-256 over the authorizer fingerprint and the token.
    pub fn key(&self, namespace: &[u8; 32], token: &str) -> CacheKey {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(namespace);
        ctx.update(token.as_bytes());
        let mut out = [0; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    /// A verdict that may still serve at `now`. One whose signing key has left the JWKS, or
    /// that was verified `max_ttl` or longer ago, is dropped and not returned. Time claims are
    /// the caller's to re-check, with the authorizer's skew.
    pub fn get(&self, key: &CacheKey, now: f64) -> Option<Arc<Verified>> {
        let cache = self.inner.as_ref()?;
        let live = match cache.get(key) {
            Some(hit)
                if now - hit.verified_at < self.max_ttl.as_secs_f64() && !hit.key.is_retired() =>
            {
                Some(hit)
            }
            Some(_) => {
                cache.invalidate(key);
                None
            }
            None => None,
        };
        metrics::cache_lookup(live.is_some());
        live
    }

    /// Stores a verdict made at `now` until `exp` or `max_ttl`; a token about to expire is not
    /// stored.
    pub fn insert(&self, key: CacheKey, mut verified: Verified, now: f64) -> Arc<Verified> {
        verified.verified_at = now;
        let ttl = verified.ttl(self.max_ttl);
        let verified = Arc::new(verified);
        if let Some(cache) = &self.inner
            && ttl >= Duration::from_millis(1)
        {
            cache.insert(key, verified.clone());
        }
        verified
    }

    /// Entries held, after moka's pending evictions run.
    pub fn entry_count(&self) -> u64 {
        self.inner.as_ref().map_or(0, |c| {
            c.run_pending_tasks();
            c.entry_count()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_read_back_as_the_json_they_were_made_from() {
        let json = serde_json::json!({"sub": "a", "n": 3, "f": 1.5, "big": 1e300, "nul": null,
            "groups": ["x", 2, true], "org": {"name": "i"}});
        let Value::Object(map) = json else {
            unreachable!()
        };
        assert_eq!(claims_json(Claims::new(&map).as_bytes()), Some(map));
    }
}
