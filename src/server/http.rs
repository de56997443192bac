//! The HTTP authorizer: nginx `auth_request`, Traefik/Caddy forward auth, and Envoy's HTTP
//! ext_authz mode. Any method, any path; answers only 200, 400, 401, 403 or 503.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, State as Extract};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

mod original;

use crate::decision::{Decision, Reason};
use crate::request::Request;
use crate::server::check::{Checker, Origin};
use original::original;

/// Lists the upstream headers Envoy's HTTP mode removes (and nginx may map).
pub const HEADERS_TO_REMOVE: &str = "x-envoy-auth-headers-to-remove";

/// The HTTP authorizer: every method and path is one check.
pub fn router(checker: Checker) -> Router {
    Router::new().fallback(authorize).with_state(checker)
}

async fn authorize(
    Extract(checker): Extract<Checker>,
    request: axum::extract::Request,
) -> Response {
    // The request is borrowed whole: the `HeaderMap` extractor would clone every header.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (parts, _body) = request.into_parts();
    let (method, uri, headers) = (&parts.method, &parts.uri, &parts.headers);
    let snap = checker.snapshot();
    let client = claimed_client(headers);
    let from = Origin { peer, client };
    // Only an origin-form request line is this request's own path.
    let own_target = uri
        .scheme()
        .is_none()
        .then(|| uri.path_and_query().map_or(uri.path(), |pq| pq.as_str()));
    match original(&snap.config.http, headers, method.as_str(), own_target) {
        Ok(o) => {
            let input = Request {
                method: o.method,
                target: &o.target,
                headers,
                context: None,
            };
            let decision = checker.check(&snap, &input, from).await;
            response(&decision, o.nginx)
        }
        Err(refused) => {
            let decision = checker.refuse(&snap, headers, refused.reason(), from);
            response(&decision, refused.nginx)
        }
    }
}

/// The client address the request claims: `X-Real-IP`, else the first `X-Forwarded-For`.
fn claimed_client(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get("x-real-ip")
        .or_else(|| headers.get("x-forwarded-for"))?
        .to_str()
        .ok()?;
    value.split(',').next().map(str::trim)
}

/// Renders a decision: 200 with claim headers, or the denial's status, challenge and body. In
/// nginx's convention a bad request is a 403 (nginx turns a 400 from `auth_request` into 500).
pub fn response(decision: &Decision, nginx: bool) -> Response {
    let wire = if nginx && decision.reason == Reason::BadRequest {
        Reason::NoRoute.wire()
    } else {
        decision.wire()
    };
    let mut headers = HeaderMap::new();
    if !decision.remove_headers.is_empty() {
        let list = decision.remove_headers.join(",");
        if let Ok(v) = HeaderValue::from_str(&list) {
            headers.insert(HEADERS_TO_REMOVE, v);
        }
    }
    if decision.is_allow() {
        for (name, value) in decision.set_headers() {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value.as_bytes()),
            ) {
                headers.insert(n, v);
            }
        }
        return (StatusCode::OK, headers).into_response();
    }
    for (name, value) in decision.denial_headers() {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    let status = StatusCode::from_u16(wire.http_status).unwrap_or(StatusCode::FORBIDDEN);
    (status, headers, wire.body).into_response()
}
