//! `tokengate verify`: one decision explained step by step, by the same core as the server.
//!
//! The core records each check into a [`Trace`]; the server passes [`NoTrace`], whose
//! closures are never called, so explaining costs the request path nothing.

use std::fmt::Write;

use crate::decision::Decision;

/// Receives each check the core makes, with a detail built only if wanted.
pub trait Trace {
    fn record(&mut self, check: &'static str, passed: bool, detail: impl FnOnce() -> String);
}

/// The server's trace: records nothing.
pub struct NoTrace;

impl Trace for NoTrace {
    #[inline(always)]
    fn record(&mut self, _: &'static str, _: bool, _: impl FnOnce() -> String) {}
}

/// One check as explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub check: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// Collects every step.
#[derive(Debug, Default)]
pub struct Steps(pub Vec<Step>);

impl Trace for Steps {
    fn record(&mut self, check: &'static str, passed: bool, detail: impl FnOnce() -> String) {
        self.0.push(Step {
            check,
            passed,
            detail: detail(),
        });
    }
}

/// The explanation as printed by `tokengate verify`.
pub fn render(decision: &Decision, steps: &[Step]) -> String {
    let mut out = String::new();
    for s in steps {
        let mark = if s.passed { "ok  " } else { "FAIL" };
        let _ = writeln!(out, "{mark} {:<12} {}", s.check, s.detail);
    }
    let wire = decision.wire();
    let verdict = if decision.is_allow() { "ALLOW" } else { "DENY" };
    let _ = writeln!(
        out,
        "=> {verdict} ({}), authorizer {}, HTTP {}, gRPC code {}",
        decision.reason.as_str(),
        decision.authorizer,
        wire.http_status,
        wire.grpc_code
    );
    if let Some(challenge) = decision.challenge() {
        let _ = writeln!(out, "   WWW-Authenticate: {challenge}");
    }
    for (name, value) in decision.set_headers.iter() {
        let _ = writeln!(out, "   upstream header {name}: {value}");
    }
    out
}

/// Explains `token` on `route` (`"GET /users/7"`) under `config`: loads the issuers' keys
/// (waiting up to `wait`), then runs the core once with a recording trace.
pub async fn explain(
    config: crate::config::Config,
    fetcher: crate::jwks::Fetcher,
    method: &str,
    path: &str,
    token: &str,
    wait: std::time::Duration,
) -> (Decision, Vec<Step>) {
    use std::collections::HashMap;

    use crate::jwt::IdentitySource;
    use crate::state::{State, Target};

    let state = State::new(config, fetcher);
    let deadline = tokio::time::Instant::now() + wait;
    while !state.snapshot().is_ready() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Put the token where the route's authorizer looks for it.
    let snap = state.snapshot();
    let bare = path.split_once('?').map_or(path, |(p, _)| p);
    let source = match snap.routes.select(method, bare).map(|s| s.value.clone()) {
        Some(Target::Protected { authorizers, .. }) => authorizers
            .first()
            .and_then(|a| a.config.identity_source.first().cloned()),
        _ => None,
    }
    .unwrap_or_default();
    let mut headers: HashMap<String, String> = HashMap::new();
    let mut target = path.to_owned();
    match &source {
        IdentitySource::Header(name) => {
            headers.insert(name.clone(), token.to_owned());
        }
        IdentitySource::Query(name) => {
            let sep = if target.contains('?') { '&' } else { '?' };
            target = format!("{target}{sep}{name}={token}");
        }
        IdentitySource::Cookie(name) => {
            headers.insert("cookie".into(), format!("{name}={token}"));
        }
    }
    let req = crate::gate::Request {
        method,
        path: &target,
        headers: &headers,
        context: None,
    };
    let mut steps = Steps::default();
    let decision = crate::gate::check_traced(&state, &req, crate::clock::now(), &mut steps).await;
    (decision, steps.0)
}
