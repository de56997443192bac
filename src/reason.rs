//! Why a request is allowed or denied, and the one table that turns a reason into what each
//! transport sends: HTTP status, JSON body, gRPC code and `WWW-Authenticate`. A leaf: every
//! check, from token parsing to routing, names its outcome with a [`Reason`].

/// Why a request was allowed or denied. These names are the SPEC's, used in logs and metric labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The request fails the request checks (its path, method or original request).
    BadRequest,
    /// A valid token for the route's authorizer and scopes.
    Verified,
    /// The route is public: no token is looked at.
    Public,
    /// A CORS preflight, with `cors` configured: no token is looked at.
    Preflight,
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
    pub const ALL: [Reason; 19] = [
        Reason::BadRequest,
        Reason::Verified,
        Reason::Public,
        Reason::Preflight,
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
            Reason::Preflight => "preflight",
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

    /// Whether the request goes through (verified, public, or a preflight).
    pub fn is_allow(self) -> bool {
        matches!(self, Reason::Verified | Reason::Public | Reason::Preflight)
    }

    /// The one place a reason becomes a status code, body and challenge.
    pub fn wire(self) -> Wire {
        use Challenge::*;
        let (http_status, grpc_code, body, challenge) = match self {
            Reason::Verified | Reason::Public | Reason::Preflight => (200, GRPC_OK, "", None),
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
    /// Status of the HTTP authorizer's answer (200 on allow).
    pub http_status: u16,
    /// `google.rpc.Code` carried in `CheckResponse.status`.
    pub grpc_code: i32,
    /// JSON body of a denial (`content-type: application/json`); empty on allow.
    pub body: &'static str,
    /// Which `WWW-Authenticate` challenge a denial carries.
    pub challenge: Challenge,
}

/// The `WWW-Authenticate` challenge of a denial (RFC 6750).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// No challenge (allow, 400, 403 without scopes, 503).
    None,
    /// `Bearer`: no token was sent.
    Bearer,
    /// `Bearer error="invalid_token"`: a token was sent and refused.
    InvalidToken,
    /// `Bearer error="insufficient_scope", scope="…"`, naming the route's scopes.
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

#[cfg(test)]
mod tests {
    use super::*;

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
