//! The admin listener: `/metrics`, `/healthz`, `/readyz`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State as Extract;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

use std::sync::atomic::Ordering;

use crate::limits::Limits;
use crate::metrics as m;
use crate::server::Connections;
use crate::state::State;

/// What the admin routes read.
#[derive(Clone)]
pub struct Admin {
    /// For `/readyz`: each authorizer's keys.
    pub state: Arc<State>,
    /// For `/metrics`.
    pub metrics: PrometheusHandle,
    /// The limits the listeners run with, shown on `/readyz`.
    pub limits: Limits,
    /// Each listener's open connections, shown on `/readyz`.
    pub connections: Connections,
}

/// `/metrics`, `/healthz` and `/readyz`, served from `admin`.
pub fn router(admin: Admin) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(admin)
}

async fn metrics(Extract(admin): Extract<Admin>) -> Response {
    crate::log::publish_dropped();
    // Gauges that describe "now" are brought up to date at scrape time.
    let snap = admin.state.snapshot();
    metrics::gauge!(m::TOKEN_CACHE_ENTRIES).set(snap.cache.entry_count() as f64);
    for a in &snap.authorizers {
        let status = a.keys().status();
        let label = a.name.to_string();
        metrics::gauge!(m::JWKS_KEYS, "authorizer" => label.clone()).set(status.keys as f64);
        if let Some(age) = status.age {
            metrics::gauge!(m::JWKS_AGE, "authorizer" => label).set(age.as_secs_f64());
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        admin.metrics.render(),
    )
        .into_response()
}

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    authorizers: BTreeMap<String, KeyStatus>,
    /// Open connections per listener, against `limits.max_connections`.
    connections: BTreeMap<&'static str, usize>,
    limits: LimitsView,
}

/// `limits` as the config writes them.
#[derive(Serialize)]
struct LimitsView {
    max_connections: usize,
    max_streams: u32,
    max_request_bytes: usize,
    request_timeout: String,
    header_read_timeout: String,
    idle_timeout: String,
}

impl From<&Limits> for LimitsView {
    fn from(l: &Limits) -> LimitsView {
        let d = |d| humantime::format_duration(d).to_string();
        LimitsView {
            max_connections: l.max_connections,
            max_streams: l.max_streams,
            max_request_bytes: l.max_request_bytes,
            request_timeout: d(l.request_timeout),
            header_read_timeout: d(l.header_read_timeout),
            idle_timeout: d(l.idle_timeout),
        }
    }
}

#[derive(Serialize)]
struct KeyStatus {
    keys: usize,
    age_seconds: Option<f64>,
    last_error: Option<String>,
}

async fn readyz(Extract(admin): Extract<Admin>) -> Response {
    let snap = admin.state.snapshot();
    let authorizers: BTreeMap<String, KeyStatus> = snap
        .authorizers
        .iter()
        .map(|a| {
            let s = a.keys().status();
            let status = KeyStatus {
                keys: s.keys,
                age_seconds: s.age.map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0),
                last_error: s.last_error,
            };
            (a.name.to_string(), status)
        })
        .collect();
    let ready = snap.is_ready();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let c = &admin.connections;
    let connections = [("grpc", &c.grpc), ("http", &c.http), ("admin", &c.admin)]
        .into_iter()
        .map(|(l, n)| (l, n.load(Ordering::Relaxed)))
        .collect();
    let body = Readiness {
        ready,
        authorizers,
        connections,
        limits: LimitsView::from(&admin.limits),
    };
    (code, axum::Json(body)).into_response()
}
