//! What the core decides, and the one table that turns a decision into what each transport sends.
//!
//! Every front end (gRPC, HTTP, `verify`) renders a [`Decision`] through [`Wire`], so a reason
//! maps to exactly one status, body and `WWW-Authenticate` value everywhere.

use std::sync::Arc;

use serde_json::{Map, Value};

/// Why a request was allowed or denied. These names are the SPEC's, used in logs and metric labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The request fails the request checks (its path, method or original request).
    BadRequest,
    /// A valid token for the route's authorizer and scopes.
    Verified,
    /// The route is public: no token is looked at.
    Public,
    /// No identity source held a token.
    MissingToken,
    /// Not a well-formed compact JWS, or a claim of the wrong type or missing where required.
    Malformed,
    /// `alg` missing, `none`, HMAC, or not in the authorizer's list.
    AlgNotAllowed,
    /// No key of the issuer's JWKS fits the token's `kid` and `alg`.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// `iss` is not the authorizer's issuer (or, on a several-authorizer route, matches none).
    WrongIssuer,
    /// Neither `aud` nor, without `aud`, `client_id` holds a configured audience.
    WrongAudience,
    /// `exp` is not after now.
    Expired,
    /// `nbf` or `iat` is after now.
    NotYetValid,
    /// Cognito's `token_use` is not the configured one.
    WrongTokenUse,
    /// A claim of the token (`jti`, `origin_jti`, `sub`) is on the revocation list.
    Revoked,
    /// The token holds none of the route's scopes.
    InsufficientScope,
    /// The token does not meet the authorizer's or the route's claim rules.
    InsufficientClaims,
    /// No route matched and there is no `$default`.
    NoRoute,
    /// The authorizer has never loaded keys from its issuer.
    KeysUnavailable,
}

impl Reason {
    /// Every reason, for tests and for pre-registering metric series.
    pub const ALL: [Reason; 18] = [
        Reason::BadRequest,
        Reason::Verified,
        Reason::Public,
        Reason::MissingToken,
        Reason::Malformed,
        Reason::AlgNotAllowed,
        Reason::UnknownKey,
        Reason::BadSignature,
        Reason::WrongIssuer,
        Reason::WrongAudience,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::WrongTokenUse,
        Reason::Revoked,
        Reason::InsufficientScope,
        Reason::InsufficientClaims,
        Reason::NoRoute,
        Reason::KeysUnavailable,
    ];

    /// The label used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadRequest => "bad_request",
            Reason::Verified => "verified",
            Reason::Public => "public",
            Reason::MissingToken => "missing_token",
            Reason::Malformed => "malformed",
            Reason::AlgNotAllowed => "alg_not_allowed",
            Reason::UnknownKey => "unknown_key",
            Reason::BadSignature => "bad_signature",
            Reason::WrongIssuer => "wrong_issuer",
            Reason::WrongAudience => "wrong_audience",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::WrongTokenUse => "wrong_token_use",
            Reason::Revoked => "revoked",
            Reason::InsufficientScope => "insufficient_scope",
            Reason::InsufficientClaims => "insufficient_claims",
            Reason::NoRoute => "no_route",
            Reason::KeysUnavailable => "keys_unavailable",
        }
    }

    pub fn is_allow(self) -> bool {
        matches!(self, Reason::Verified | Reason::Public)
    }

    /// The one place a reason becomes a status code, body and challenge.
    pub fn wire(self) -> Wire {
        use Challenge::*;
        let (http_status, grpc_code, body, challenge) = match self {
            Reason::Verified | Reason::Public => (200, GRPC_OK, "", None),
            Reason::BadRequest => (400, GRPC_INVALID_ARGUMENT, BAD_REQUEST, None),
            Reason::MissingToken => (401, GRPC_UNAUTHENTICATED, UNAUTHORIZED, Bearer),
            Reason::Malformed
            | Reason::AlgNotAllowed
            | Reason::UnknownKey
            | Reason::BadSignature
            | Reason::WrongIssuer
            | Reason::WrongAudience
            | Reason::Expired
            | Reason::NotYetValid
            | Reason::WrongTokenUse
            | Reason::Revoked => (401, GRPC_UNAUTHENTICATED, UNAUTHORIZED, InvalidToken),
            Reason::InsufficientScope => {
                (403, GRPC_PERMISSION_DENIED, FORBIDDEN, InsufficientScope)
            }
            Reason::InsufficientClaims | Reason::NoRoute => {
                (403, GRPC_PERMISSION_DENIED, FORBIDDEN, None)
            }
            Reason::KeysUnavailable => (503, GRPC_UNAVAILABLE, UNAVAILABLE, None),
        };
        Wire {
            http_status,
            grpc_code,
            body,
            challenge,
        }
    }
}

const GRPC_OK: i32 = 0;
const GRPC_INVALID_ARGUMENT: i32 = 3;
const GRPC_PERMISSION_DENIED: i32 = 7;
const GRPC_UNAVAILABLE: i32 = 14;
const GRPC_UNAUTHENTICATED: i32 = 16;
const BAD_REQUEST: &str = r#"{"message":"Bad Request"}"#;
const UNAUTHORIZED: &str = r#"{"message":"Unauthorized"}"#;
const FORBIDDEN: &str = r#"{"message":"Forbidden"}"#;
const UNAVAILABLE: &str = r#"{"message":"Service Unavailable"}"#;

/// What a transport sends for a reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wire {
    pub http_status: u16,
    /// `google.rpc.Code` carried in `CheckResponse.status`.
    pub grpc_code: i32,
    /// JSON body of a denial (`content-type: application/json`); empty on allow.
    pub body: &'static str,
    pub challenge: Challenge,
}

/// The `WWW-Authenticate` challenge of a denial (RFC 6750).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Challenge {
    None,
    Bearer,
    InvalidToken,
    InsufficientScope,
}

impl Challenge {
    /// The header value, or `None` when the denial carries no challenge.
    pub fn header(self, scopes: &[String]) -> Option<String> {
        match self {
            Challenge::None => None,
            Challenge::Bearer => Some("Bearer".to_owned()),
            Challenge::InvalidToken => Some(r#"Bearer error="invalid_token""#.to_owned()),
            Challenge::InsufficientScope => Some(format!(
                r#"Bearer error="insufficient_scope", scope="{}""#,
                scopes.join(" ")
            )),
        }
    }
}

/// The label an authorizer has in metrics and logs when none applies.
pub const NO_AUTHORIZER: &str = "none";

/// The core's verdict on one request.
#[derive(Clone, Debug)]
pub struct Decision {
    pub reason: Reason,
    /// Authorizer name, or [`NO_AUTHORIZER`].
    pub authorizer: Arc<str>,
    /// The matched route key (`"GET /users/{userId}"`), if any.
    pub route: Option<Arc<str>>,
    /// The path as judged, after the request checks; empty when the request was refused
    /// before it could be read.
    pub path: Box<str>,
    /// The route's scopes, for the `insufficient_scope` challenge.
    pub scopes: Arc<[String]>,
    /// Headers to set on the upstream request (allow only), replacing client values.
    pub set_headers: Arc<[(Arc<str>, String)]>,
    /// Headers to remove from the upstream request: forged claim headers, a stripped token.
    pub remove_headers: Vec<Arc<str>>,
    /// Query parameters to remove upstream (a stripped query-string token).
    pub remove_query: Vec<Arc<str>>,
    /// The verified claims, on allow through an authorizer.
    pub claims: Option<Claims>,
}

/// Verified claims, kept as the encoded `google.protobuf.Struct` that gRPC's `dynamic_metadata`
/// carries: one allocation of about the payload's size per cached token, where the parsed JSON
/// tree would take several kilobytes in dozens of allocations.
#[derive(Clone, Debug, PartialEq)]
pub struct Claims(Box<[u8]>);

impl Claims {
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

    /// The claims as a `Struct`; `None` only if the bytes were not made by [`Claims::new`].
    pub fn to_struct(&self) -> Option<prost_types::Struct> {
        prost::Message::decode(&*self.0).ok()
    }

    /// The claims as JSON again (numbers as `f64`, whole ones as integers), for explanations.
    pub fn to_json(&self) -> Option<Map<String, Value>> {
        let s = self.to_struct()?;
        Some(
            s.fields
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        )
    }
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

impl Decision {
    pub fn is_allow(&self) -> bool {
        self.reason.is_allow()
    }

    pub fn wire(&self) -> Wire {
        self.reason.wire()
    }

    /// The `WWW-Authenticate` value for this decision, if any.
    pub fn challenge(&self) -> Option<String> {
        self.wire().challenge.header(&self.scopes)
    }

    /// The headers a denial carries to the client, on every transport: the JSON body's
    /// content type and the challenge.
    pub fn denial_headers(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("content-type", "application/json".to_owned())];
        if let Some(challenge) = self.challenge() {
            out.push(("www-authenticate", challenge));
        }
        out
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
        assert_eq!(Claims::new(&map).to_json(), Some(map));
    }

    #[test]
    fn every_reason_has_a_distinct_label() {
        let mut labels: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Reason::ALL.len());
    }

    #[test]
    fn decision_table_matches_the_spec() {
        let w = Reason::MissingToken.wire();
        assert_eq!((w.http_status, w.grpc_code), (401, 16));
        assert_eq!(w.challenge.header(&[]).as_deref(), Some("Bearer"));
        let w = Reason::Expired.wire();
        assert_eq!(
            w.challenge.header(&[]).as_deref(),
            Some(r#"Bearer error="invalid_token""#)
        );
        let w = Reason::InsufficientScope.wire();
        assert_eq!((w.http_status, w.grpc_code), (403, 7));
        assert_eq!(
            w.challenge.header(&["a".into(), "b/c".into()]).as_deref(),
            Some(r#"Bearer error="insufficient_scope", scope="a b/c""#)
        );
        let w = Reason::NoRoute.wire();
        assert_eq!((w.http_status, w.grpc_code, w.body), (403, 7, FORBIDDEN));
        assert_eq!(w.challenge.header(&[]), None);
        let w = Reason::Revoked.wire();
        assert_eq!((w.http_status, w.grpc_code), (401, 16));
        assert_eq!(
            w.challenge.header(&[]).as_deref(),
            Some(r#"Bearer error="invalid_token""#)
        );
        let w = Reason::InsufficientClaims.wire();
        assert_eq!((w.http_status, w.grpc_code, w.body), (403, 7, FORBIDDEN));
        assert_eq!(w.challenge.header(&[]), None);
        let w = Reason::BadRequest.wire();
        assert_eq!((w.http_status, w.grpc_code), (400, 3));
        assert_eq!(w.body, r#"{"message":"Bad Request"}"#);
        assert_eq!(w.challenge.header(&[]), None);
        let w = Reason::KeysUnavailable.wire();
        assert_eq!((w.http_status, w.grpc_code), (503, 14));
        assert_eq!(w.body, r#"{"message":"Service Unavailable"}"#);
        assert!(Reason::Public.is_allow() && Reason::Verified.is_allow());
    }
}
