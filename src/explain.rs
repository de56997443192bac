//! `tokengate verify`: one decision explained step by step, by the same core as the server.

use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;

use crate::clock::Clock;
use crate::config::Config;
use crate::decision::Decision;
use crate::jwks::Fetcher;
use crate::jwt::IdentitySource;
use crate::request::{Request, split_target};
use crate::state::{State, Target};
use crate::trace::{Step, Steps};

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
    for (name, value) in decision.set_headers() {
        let _ = writeln!(out, "   upstream header {name}: {value}");
    }
    out
}

/// Explains `token` on `method` and `target` (`"/users/7"`) under `config`: loads the
/// issuers' keys (waiting up to `wait`), then runs the core once with a recording trace.
pub async fn explain(
    config: Config,
    fetcher: Fetcher,
    method: &str,
    target: &str,
    token: &str,
    wait: Duration,
) -> (Decision, Vec<Step>) {
    let clock = Clock::System;
    let state = State::new(config, fetcher, clock.clone());
    state.wait_ready(wait).await;
    let snap = state.snapshot();
    // Put the token where the route's authorizer looks for it.
    let (path, _) = split_target(target);
    let source = match snap.routes.select(method, path).map(|s| s.value.clone()) {
        Some(Target::Protected { authorizers, .. }) => authorizers
            .first()
            .and_then(|a| a.identity_sources().first().cloned()),
        _ => None,
    }
    .unwrap_or_default();
    let mut headers: HashMap<String, String> = HashMap::new();
    let mut target = target.to_owned();
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
    let req = Request {
        method,
        target: &target,
        headers: &headers,
        context: None,
    };
    let mut steps = Steps::default();
    let decision = crate::gate::check_traced(&snap, &req, clock.now(), &mut steps).await;
    (decision, steps.0)
}
