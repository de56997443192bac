//! The JWS compact serialization, read strictly: size, shape and header rules come before any
//! key is looked up, and the payload is only decoded after the signature verifies.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::Alg;
use crate::reason::Reason;

/// The longest token accepted, after any `Bearer ` prefix is stripped.
pub const MAX_TOKEN_BYTES: usize = 8192;

/// A token split and its header read; nothing in it is trusted yet.
#[derive(Debug)]
pub struct Compact<'t> {
    /// `None` when `alg` is missing or names no algorithm tokengate has (`none`, `HS256`…).
    pub alg: Option<Alg>,
    /// The header's `kid`, if present (a `kid` that is not a string is malformed).
    pub kid: Option<String>,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'t str,
    /// The payload segment, still base64url.
    pub payload: &'t str,
    /// The signature segment, decoded.
    pub signature: Vec<u8>,
}

/// Splits and checks a compact JWS. Errors are `Malformed`; the `alg` allow-list is the caller's.
pub fn parse(token: &str) -> Result<Compact<'_>, Reason> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Reason::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        // JWE (five parts), JSON serialization and junk all land here.
        return Err(Reason::Malformed);
    };
    let header = decode(h)?;
    // Checked now so that a broken payload is `malformed` whatever the signature.
    if p.is_empty() || !is_base64url(p) {
        return Err(Reason::Malformed);
    }
    let signature = decode(s)?;
    let header = object(&header)?;

    if header.contains_key("crit") || header.contains_key("b64") {
        return Err(Reason::Malformed);
    }
    let alg = match header.get("alg") {
        None => None,
        Some(Value::String(name)) => Alg::from_header(name),
        Some(_) => return Err(Reason::Malformed),
    };
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(Reason::Malformed),
    };
    // `jku`, `x5u`, `jwk` and `x5c` are deliberately never read: keys come only from the JWKS.
    Ok(Compact {
        alg,
        kid,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload: p,
        signature,
    })
}

/// Decodes and parses a payload segment into its claims.
pub fn payload(segment: &str) -> Result<Map<String, Value>, Reason> {
    object(&decode(segment)?)
}

fn decode(segment: &str) -> Result<Vec<u8>, Reason> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Reason::Malformed)
}

/// Canonical unpadded base64url, exactly what [`decode`] accepts: the alphabet, a length that
/// encodes whole bytes, and the last character's unused low bits zero. Without the last rule a
/// payload with non-canonical trailing bits passed here and was refused only after the
/// signature, so the same broken payload was `bad_signature` or `malformed` by signature.
fn is_base64url(segment: &str) -> bool {
    let unused_bits = match segment.len() % 4 {
        1 => return false,
        2 => 0b1111,
        3 => 0b11,
        _ => 0,
    };
    let mut last = 0;
    for b in segment.bytes() {
        last = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return false,
        };
    }
    last & unused_bits == 0
}

/// A JSON object whose top-level member names are unique.
fn object(bytes: &[u8]) -> Result<Map<String, Value>, Reason> {
    serde_json::from_slice::<UniqueObject>(bytes)
        .map(|o| o.0)
        .map_err(|_| Reason::Malformed)
}

/// A JSON object that refuses duplicate member names, where `serde_json` keeps the last.
struct UniqueObject(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UniqueObject;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<UniqueObject, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    let value: Value = access.next_value()?;
                    if map.insert(key, value).is_some() {
                        return Err(de::Error::custom("duplicate member name"));
                    }
                }
                Ok(UniqueObject(map))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    #[test]
    fn a_well_formed_token_splits_into_its_parts() {
        let t = token(
            r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#,
            r#"{"sub":"a"}"#,
        );
        let c = parse(&t).expect("parses");
        assert_eq!(c.alg, Some(Alg::ES256));
        assert_eq!(c.kid.as_deref(), Some("k1"));
        assert_eq!(c.signature, b"sig");
        assert_eq!(payload(c.payload).expect("payload")["sub"], "a");
        assert!(t.starts_with(c.signing_input) && t.len() == c.signing_input.len() + 5);
    }

    #[test]
    fn shape_violations_are_malformed() {
        let good_h = b64(r#"{"alg":"RS256"}"#);
        let good_p = b64(r#"{"a":1}"#);
        for t in [
            String::new(),
            "a.b".to_owned(),
            format!("{good_h}.{good_p}.c.d.e"),
            format!("{good_h}.{good_p}.c="),
            format!("{good_h}=.{good_p}.c"),
            format!("{good_h}.{good_p} .c"),
            format!("{good_h}.{good_p}.c+/"),
            format!("{}.{good_p}.c", b64("[1]")),
            format!("{}.{good_p}.c", b64(r#"{"alg":"RS256","alg":"RS256"}"#)),
            format!("{}.{good_p}.c", b64(r#"{"alg":5}"#)),
            format!("{}.{good_p}.c", b64(r#"{"alg":"RS256","crit":["exp"]}"#)),
            format!("{}.{good_p}.c", b64(r#"{"alg":"RS256","b64":false}"#)),
            format!("{}.{good_p}.c", b64(r#"{"alg":"RS256","kid":7}"#)),
            format!("{good_h}..c"),
            // `{"a":1}` ends in `Q`; `R` sets a bit that encodes nothing.
            format!("{good_h}.{}R.{}", &good_p[..good_p.len() - 1], b64("sig")),
            r#"{"payload":"x","signatures":[]}"#.to_owned(),
            "x".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert_eq!(parse(&t).err(), Some(Reason::Malformed), "{t:.80}");
        }
    }

    #[test]
    fn size_limit_is_8192_bytes_inclusive() {
        let head = format!("{}.", b64(r#"{"alg":"RS256"}"#));
        let (sig, n) = [".AAAA", ".AAA", ".AA"]
            .into_iter()
            .map(|sig| (sig, MAX_TOKEN_BYTES - head.len() - sig.len()))
            .find(|(_, n)| n % 4 != 1)
            .expect("one signature length fits");
        let t = format!("{head}{}{sig}", "A".repeat(n));
        assert_eq!(t.len(), MAX_TOKEN_BYTES);
        assert!(parse(&t).is_ok());
        let longer = format!("{head}{}{sig}", "A".repeat(n + 1));
        assert_eq!(parse(&longer).err(), Some(Reason::Malformed));
    }

    #[test]
    fn alg_none_hmac_and_missing_alg_parse_but_name_no_algorithm() {
        for h in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS256"}"#,
            r#"{"typ":"JWT"}"#,
            r#"{"alg":"NONE"}"#,
        ] {
            let t = token(h, "{}");
            let c = parse(&t).expect(h);
            assert_eq!(c.alg, None, "{h}");
        }
    }

    #[test]
    fn deeply_nested_or_non_object_payloads_are_malformed() {
        let deep = format!("{}{}", "[".repeat(3000), "]".repeat(3000));
        for p in [deep.as_str(), "[]", "\"x\"", "{\"a\":1,\"a\":2}", "{", ""] {
            assert_eq!(payload(&b64(p)).err(), Some(Reason::Malformed), "{p:.40}");
        }
    }
}
