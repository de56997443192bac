//! The HTTP authorizer: nginx `auth_request`, Traefik/Caddy forward auth, and Envoy's HTTP
//! ext_authz mode. Any method, any path; answers only 200, 401, 403 or 503.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, State as Extract};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::clock;
use crate::decision::Decision;
use crate::gate;
use crate::metrics::{Transport, record_check};
use crate::server::denylog::DenyLog;
use crate::state::State;

/// Lists the upstream headers Envoy's HTTP mode removes (and nginx may map).
pub const HEADERS_TO_REMOVE: &str = "x-envoy-auth-headers-to-remove";

#[derive(Clone)]
pub struct HttpAuthorizer {
    pub state: Arc<State>,
    pub log: Arc<DenyLog>,
}

pub fn router(authorizer: HttpAuthorizer) -> Router {
    Router::new().fallback(authorize).with_state(authorizer)
}

async fn authorize(
    Extract(ctx): Extract<HttpAuthorizer>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let snap = ctx.state.snapshot();
    let own_target = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    let (method, target) = original(
        &headers,
        method.as_str(),
        own_target,
        &snap.config.http.path_prefix,
    );
    drop(snap);
    let input = gate::Request {
        method,
        path: &target,
        headers: &headers,
        context: None,
    };
    let decision = gate::check(&ctx.state, &input, clock::now()).await;
    record_check(Transport::Http, &decision, started.elapsed());
    if !decision.is_allow() {
        let client = headers
            .get("x-real-ip")
            .or_else(|| headers.get("x-forwarded-for"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| peer.ip().to_string());
        ctx.log.denied(Transport::Http, &decision, Some(&client));
    }
    response(&decision)
}

/// The request being authorized: nginx's headers, then the forward-auth headers, then this
/// request's own line less `path_prefix`.
pub fn original<'h>(
    headers: &'h HeaderMap,
    own_method: &'h str,
    own_target: &str,
    path_prefix: &str,
) -> (&'h str, String) {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    for (uri, method) in [
        ("x-original-uri", "x-original-method"),
        ("x-forwarded-uri", "x-forwarded-method"),
    ] {
        if let Some(target) = get(uri) {
            return (get(method).unwrap_or(own_method), target.to_owned());
        }
    }
    let stripped = own_target.strip_prefix(path_prefix).filter(|rest| {
        !path_prefix.is_empty() && (rest.is_empty() || rest.starts_with(['/', '?']))
    });
    let target = match stripped {
        Some(rest) if rest.is_empty() || rest.starts_with('?') => format!("/{rest}"),
        Some(rest) => rest.to_owned(),
        None => own_target.to_owned(),
    };
    (own_method, target)
}

/// Renders a decision: 200 with claim headers, or the denial's status, challenge and body.
pub fn response(decision: &Decision) -> Response {
    let wire = decision.wire();
    let mut headers = HeaderMap::new();
    if !decision.remove_headers.is_empty() {
        let list = decision.remove_headers.join(",");
        if let Ok(v) = HeaderValue::from_str(&list) {
            headers.insert(HEADERS_TO_REMOVE, v);
        }
    }
    if decision.is_allow() {
        for (name, value) in decision.set_headers.iter() {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value.as_bytes()),
            ) {
                headers.insert(n, v);
            }
        }
        return (StatusCode::OK, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(challenge) = decision.challenge()
        && let Ok(v) = HeaderValue::from_str(&challenge)
    {
        headers.insert(header::WWW_AUTHENTICATE, v);
    }
    let status = StatusCode::from_u16(wire.http_status).unwrap_or(StatusCode::FORBIDDEN);
    (status, headers, wire.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn nginx_headers_win_then_forward_auth_then_the_own_line() {
        let both = h(&[
            ("x-original-uri", "/a?x=1"),
            ("x-original-method", "POST"),
            ("x-forwarded-uri", "/b"),
            ("x-forwarded-method", "PUT"),
        ]);
        assert_eq!(
            original(&both, "GET", "/auth", ""),
            ("POST", "/a?x=1".to_owned())
        );
        let fwd = h(&[("x-forwarded-uri", "/b"), ("x-forwarded-method", "PUT")]);
        assert_eq!(original(&fwd, "GET", "/auth", ""), ("PUT", "/b".to_owned()));
        let no_method = h(&[("x-original-uri", "/c")]);
        assert_eq!(
            original(&no_method, "GET", "/", ""),
            ("GET", "/c".to_owned())
        );
    }

    #[test]
    fn path_prefix_is_stripped_on_a_segment_boundary_only() {
        let none = HeaderMap::new();
        assert_eq!(
            original(&none, "GET", "/authz/users/7", "/authz").1,
            "/users/7"
        );
        assert_eq!(original(&none, "GET", "/authz", "/authz").1, "/");
        assert_eq!(original(&none, "GET", "/authz?q=1", "/authz").1, "/?q=1");
        assert_eq!(original(&none, "GET", "/authzx/a", "/authz").1, "/authzx/a");
        assert_eq!(original(&none, "GET", "/users/7", "/authz").1, "/users/7");
        assert_eq!(original(&none, "GET", "/users/7", "").1, "/users/7");
    }
}
