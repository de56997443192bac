//! What the core decides about one request. Every front end (gRPC, HTTP, `verify`) renders a
//! [`Decision`] through its reason's [`Wire`] row, so a reason maps to exactly one status, body
//! and `WWW-Authenticate` value everywhere.

use std::sync::Arc;

pub use crate::reason::{Challenge, NO_AUTHORIZER, Reason, Wire};
use crate::token_cache::Verified;

/// The core's verdict on one request.
#[derive(Clone, Debug)]
pub struct Decision {
    /// Why the request was allowed or denied.
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
    /// Headers to remove from the upstream request: forged claim headers, a stripped token.
    pub remove_headers: Vec<Arc<str>>,
    /// Query parameters to remove upstream (a stripped query-string token).
    pub remove_query: Vec<Arc<str>>,
    /// The verified token, on allow through an authorizer: its claim headers and claims.
    pub verified: Option<Arc<Verified>>,
    /// The CORS headers of a denial (`cors` configured), after the body's and the challenge.
    pub cors: Vec<(&'static str, String)>,
}

impl Decision {
    /// Whether the request goes through.
    pub fn is_allow(&self) -> bool {
        self.reason.is_allow()
    }

    /// Headers to set on the upstream request (allow only), replacing client values.
    pub fn set_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.verified.iter().flat_map(|v| v.allow.headers())
    }

    /// The verified claims as an encoded `google.protobuf.Struct`, on allow through an
    /// authorizer.
    pub fn claims(&self) -> Option<&[u8]> {
        self.verified.as_ref().and_then(|v| v.allow.claims())
    }

    /// What the transports send for this decision.
    pub fn wire(&self) -> Wire {
        self.reason.wire()
    }

    /// The `WWW-Authenticate` value for this decision, if any.
    pub fn challenge(&self) -> Option<String> {
        self.wire().challenge.header(&self.scopes)
    }

    /// The headers a denial carries to the client, on every transport: the JSON body's
    /// content type, the challenge, and the CORS headers.
    pub fn denial_headers(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("content-type", "application/json".to_owned())];
        if let Some(challenge) = self.challenge() {
            out.push(("www-authenticate", challenge));
        }
        out.extend(self.cors.iter().cloned());
        out
    }
}
