//! End to end with real nginx (Debian's package) running what `tokengate proxy-config nginx`
//! prints, placeholders filled: nginx → tokengate's HTTP authorizer → an upstream that records
//! exactly what it was sent. Hostile requests (raw non-ASCII targets, dot segments, escapes,
//! forged `X-Forwarded-*`/`X-Original-*`/claim headers and their `_` twins) never reach the
//! upstream as anything but the request tokengate judged, and never with a forged claim header.

// Set-up of external processes: a failed step should panic loudly.
#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::time::Duration;

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
http: {{original_request: nginx}}
authorizers:
  main:
    issuer: "{jwks}"
    audience: [api]
    claims_to_headers: {{sub: x-user-id, scope: x-user-scopes, groups: x-user-groups}}
    forward_payload_header: x-jwt-payload
    strip_token: true
  dead:
    issuer: "http://127.0.0.1:1/dead"
    jwks_uri: "http://127.0.0.1:1/jwks.json"
    audience: [api]
routes:
  "GET /health": {{public: true}}
  "GET /static/{{proxy+}}": {{public: true}}
  "GET /users/{{id}}": {{authorizer: main, scopes: [users/read]}}
  "ANY /admin/{{proxy+}}": {{authorizer: main, scopes: [admin]}}
  "GET /dead": {{authorizer: dead}}
  "$default": {{authorizer: main}}
"#
    )
}

#[tokio::test]
async fn nginx_serves_only_what_tokengate_judged() {
    let Some(nginx) = tool("nginx") else { return };
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let (tg, decisions) = Tokengate::start_tapped(&body(&jwks.url)).await;
    // `dead` never loads keys: wait for `main` only.
    for _ in 0..100 {
        if tg
            .state
            .snapshot()
            .authorizer("main")
            .unwrap()
            .keys()
            .is_loaded()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let upstream = Upstream::start().await;
    let dir = std::env::temp_dir().join(format!(
        "tokengate-nginx-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let listen = format!(
        "listen: {{grpc: \"{}\", http: \"{}\", admin: \"{}\"}}\n",
        tg.grpc, tg.http, tg.admin
    );
    let generated = proxy_config(
        env!("CARGO_BIN_EXE_tokengate"),
        &dir,
        &format!("{listen}{}", body(&jwks.url)),
        "nginx",
    );
    assert!(
        generated.contains(&format!("server {};", tg.http)),
        "tokengate's address comes from the config"
    );
    let (_nginx, proxy) = start_nginx(&nginx, &dir, &generated, upstream.addr).await;
    let base = format!("http://{proxy}");

    let mut c = claims(&jwks.url, "api");
    c["scope"] = json!("users/read");
    c["groups"] = json!(["staff", "ops"]);
    let token = k.sign(&c);
    assert_proxied_decisions(&base, &token, "nginx").await;
    decisions.take();
    upstream.take();

    // strip_token: the token's header is gone upstream when it carried the token, and kept
    // on a public route, where tokengate did not read it.
    let auth = bearer(&token);
    let r = raw_exchange(
        proxy,
        &raw_request("GET", b"/users/7", &[("Authorization", auth.as_bytes())]),
    )
    .await;
    assert_eq!(r.status, 200);
    let seen = upstream.take();
    assert_eq!(
        seen[0].header("authorization"),
        Vec::<String>::new(),
        "stripped"
    );
    let r = raw_exchange(
        proxy,
        &raw_request("GET", b"/health", &[("Authorization", auth.as_bytes())]),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        upstream.take()[0].header("authorization"),
        std::slice::from_ref(&auth),
        "kept"
    );

    // nginx's own 400 (a duplicate Authorization) and tokengate's 503 (keys never loaded,
    // which nginx's auth_request turns into a 500) reach the client as tokengate's JSON.
    let r = raw_exchange(
        proxy,
        &raw_request(
            "GET",
            b"/users/7",
            &[
                ("Authorization", auth.as_bytes()),
                ("Authorization", auth.as_bytes()),
            ],
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, r#"{"message":"Bad Request"}"#)
    );
    assert_eq!(r.header("content-type"), ["application/json"]);
    let r = raw_exchange(
        proxy,
        &raw_request("GET", b"/dead", &[("Authorization", auth.as_bytes())]),
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (503, r#"{"message":"Service Unavailable"}"#)
    );
    // A bad request in nginx's convention is tokengate's 403 (a 400 would become nginx's 500).
    let r = raw_exchange(
        proxy,
        &raw_request(
            "GET",
            b"/static/%2e%2e/admin/x",
            &[("Authorization", auth.as_bytes())],
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, r#"{"message":"Forbidden"}"#)
    );
    assert_eq!(r.header("www-authenticate"), Vec::<&str>::new());
    decisions.take();
    upstream.take();

    let probe = Probe {
        proxy,
        decisions: &decisions,
        upstream: &upstream,
        claim_headers: &CLAIMS,
    };
    let mut errors = Vec::new();
    let mut report = Vec::new();
    for (name, request) in forged_probes(&token, true) {
        match probe.send(&request).await {
            Ok(account) => report.push(format!("  {name}: {account}")),
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    eprintln!(
        "nginx, {} hostile requests:\n{}",
        report.len(),
        report.join("\n")
    );
    tg.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
