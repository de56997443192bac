//! Prometheus metrics: the SPEC's names, the recorder installed once per process, and the
//! per-check record every transport calls.

mod handles;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use handles::{Checks, cache_lookup};

/// Counter of checks by `transport`, `authorizer`, `decision` and `reason`.
pub const CHECKS: &str = "tokengate_checks_total";
/// Histogram of check latency by `transport` and `decision`.
pub const CHECK_DURATION: &str = "tokengate_check_duration_seconds";
/// Counter of token cache lookups by `result` (hit, miss).
pub const TOKEN_CACHE_REQUESTS: &str = "tokengate_token_cache_requests_total";
/// Gauge of verified tokens cached.
pub const TOKEN_CACHE_ENTRIES: &str = "tokengate_token_cache_entries";
/// Counter of JWKS fetches by `authorizer` and `result` (ok, error).
pub const JWKS_REFRESHES: &str = "tokengate_jwks_refreshes_total";
/// Gauge of usable keys held, by `authorizer`.
pub const JWKS_KEYS: &str = "tokengate_jwks_keys";
/// Gauge of seconds since the last successful fetch, by `authorizer`.
pub const JWKS_AGE: &str = "tokengate_jwks_age_seconds";
/// Counter of config reloads by `result` (ok, error).
pub const CONFIG_RELOADS: &str = "tokengate_config_reloads_total";
/// Gauge of revocation list entries held.
pub const REVOCATIONS: &str = "tokengate_revocations";
/// Counter of revocation list reloads by `result` (ok, error).
pub const REVOCATION_RELOADS: &str = "tokengate_revocation_reloads_total";
/// Counter of log lines dropped because the sink was too slow.
pub const LOG_LINES_DROPPED: &str = "tokengate_log_lines_dropped_total";
/// Gauge of open connections by `listener` (grpc, http, admin).
pub const CONNECTIONS: &str = "tokengate_connections";

/// Latency buckets, 10 µs to 1 s.
pub const BUCKETS: [f64; 16] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Which front end answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Transport {
    /// The gRPC `Check` service.
    Grpc,
    /// The HTTP authorizer.
    Http,
}

impl Transport {
    /// The `transport` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::Http => "http",
        }
    }
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder on first call and returns its handle.
///
/// If another recorder was installed first (a test harness), metrics go there and the handle
/// renders an empty page rather than failing the server.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(CHECK_DURATION.to_owned()), &BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        CHECKS,
        "Authorization decisions, by transport, authorizer, decision and reason."
    );
    metrics::describe_histogram!(
        CHECK_DURATION,
        metrics::Unit::Seconds,
        "Time to decide one check."
    );
    metrics::describe_counter!(
        TOKEN_CACHE_REQUESTS,
        "Verified-token cache lookups, by result."
    );
    metrics::describe_gauge!(TOKEN_CACHE_ENTRIES, "Verified tokens held in the cache.");
    metrics::describe_counter!(JWKS_REFRESHES, "JWKS fetches, by authorizer and result.");
    metrics::describe_gauge!(JWKS_KEYS, "Usable signing keys held, by authorizer.");
    metrics::describe_gauge!(
        JWKS_AGE,
        "Seconds since the last successful JWKS fetch, by authorizer."
    );
    metrics::describe_counter!(CONFIG_RELOADS, "Configuration reloads, by result.");
    metrics::describe_gauge!(REVOCATIONS, "Entries on the revocation list.");
    metrics::describe_counter!(
        REVOCATION_RELOADS,
        "Revocation list reloads after the file changed, by result."
    );
    metrics::describe_counter!(
        LOG_LINES_DROPPED,
        "Log lines dropped because the log sink was too slow."
    );
    metrics::describe_gauge!(CONNECTIONS, "Open connections, by listener.");
}

/// Counts one JWKS fetch of an authorizer's key set.
pub fn jwks_refreshed(authorizer: &str, ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!(JWKS_REFRESHES, "authorizer" => authorizer.to_owned(), "result" => result)
        .increment(1);
}

/// The usable keys an authorizer holds.
pub fn jwks_keys(authorizer: &str, keys: usize) {
    metrics::gauge!(JWKS_KEYS, "authorizer" => authorizer.to_owned()).set(keys as f64);
}

/// The entries on the revocation list.
pub fn revocations(entries: usize) {
    metrics::gauge!(REVOCATIONS).set(entries as f64);
}

/// Counts one reload of the revocation list.
pub fn revocation_reloaded(ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!(REVOCATION_RELOADS, "result" => result).increment(1);
}
