//! `tokengate verify` as a process: an allowed token exits 0 and shows its claims; each deny
//! reason exits 1 and names the failing check; usage and config errors exit 2.

// Each case runs the binary: a failed step should panic loudly.
#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::process::{Command, Output};

use common::*;
use serde_json::json;
use tokengate::jwt::Alg;

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_tokengate"))
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn verify_explains_each_decision_and_names_the_failing_check() {
    let k = signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let iss = jwks.url.clone();
    let dir = std::env::temp_dir().join(format!("tokengate-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokengate.yaml");
    std::fs::write(
        &path,
        format!(
            r#"
authorizers:
  cognito: {{issuer: "{iss}", audience: [api], token_use: access, claims_to_headers: {{sub: x-user-id}}}}
routes:
  "GET /users/{{id}}": {{authorizer: cognito, scopes: [users/read]}}
  "GET /health": {{public: true}}
"#
        ),
    )
    .unwrap();
    let config = path.display().to_string();
    let good = json!({"iss": iss, "client_id": "api", "token_use": "access", "scope": "users/read",
                      "sub": "alice", "exp": now() + 600.0, "iat": now() - 1.0});
    let with = |k: &str, v: serde_json::Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let verify = |route: &str, token: String| {
        vec![
            "verify".into(),
            "--config".into(),
            config.clone(),
            "--route".into(),
            route.into(),
            token,
        ]
    };

    let out = run(verify("GET /users/7", format!("Bearer {}", k.sign(&good)))).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    for want in [
        "route",
        "GET /users/{id}",
        "authorizer",
        "cognito",
        "signature",
        "\"sub\":\"alice\"",
        "ALLOW (verified)",
        "x-user-id: alice",
    ] {
        assert!(text.contains(want), "{want} in\n{text}");
    }
    assert!(!text.contains("FAIL"), "{text}");

    let stranger = signer(Alg::ES256, "k");
    let cases = [
        ("GET /users/7", String::new(), "token", "missing_token"),
        ("GET /users/7", "abc".into(), "shape", "malformed"),
        (
            "GET /users/7",
            k.sign_raw(br#"{"alg":"none"}"#, good.to_string().as_bytes()),
            "alg",
            "alg_not_allowed",
        ),
        (
            "GET /users/7",
            signer(Alg::ES256, "other").sign(&good),
            "key",
            "unknown_key",
        ),
        (
            "GET /users/7",
            stranger.sign(&good),
            "signature",
            "bad_signature",
        ),
        (
            "GET /users/7",
            k.sign(&with("iss", json!("https://x.example"))),
            "iss",
            "wrong_issuer",
        ),
        (
            "GET /users/7",
            k.sign(&with("client_id", json!("other"))),
            "audience",
            "wrong_audience",
        ),
        (
            "GET /users/7",
            k.sign(&with("exp", json!(now() - 5.0))),
            "time",
            "expired",
        ),
        (
            "GET /users/7",
            k.sign(&with("nbf", json!(now() + 500.0))),
            "time",
            "not_yet_valid",
        ),
        (
            "GET /users/7",
            k.sign(&with("token_use", json!("id"))),
            "token_use",
            "wrong_token_use",
        ),
        (
            "GET /users/7",
            k.sign(&with("exp", json!("later"))),
            "claim types",
            "malformed",
        ),
        (
            "GET /users/7",
            k.sign(&with("scope", json!("other"))),
            "scopes",
            "insufficient_scope",
        ),
        ("POST /users/7", k.sign(&good), "route", "no_route"),
    ];
    for (route, token, check, reason) in cases {
        let out = run(verify(route, token)).await;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(out.status.code(), Some(1), "{reason}: {text}");
        let failing = text
            .lines()
            .find(|l| l.starts_with("FAIL"))
            .unwrap_or_else(|| panic!("{reason}: {text}"));
        assert!(
            failing.starts_with(&format!("FAIL {check} ")),
            "{reason}: {failing}"
        );
        assert!(
            text.contains(&format!("DENY ({reason})")),
            "{reason}: {text}"
        );
    }
    let public = run(verify("GET /health", String::new())).await;
    assert_eq!(public.status.code(), Some(0));

    // Usage and config errors exit 2.
    let bad_route = run(verify("/users/7", "x".into())).await;
    assert_eq!(bad_route.status.code(), Some(2));
    let missing = run(vec![
        "verify".into(),
        "--config".into(),
        "/nonexistent.yaml".into(),
        "--route".into(),
        "GET /".into(),
        "x".into(),
    ])
    .await;
    assert_eq!(missing.status.code(), Some(2));
    let no_token = run(vec![
        "verify".into(),
        "--config".into(),
        config.clone(),
        "--route".into(),
        "GET /".into(),
    ])
    .await;
    assert_eq!(no_token.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn verify_explains_claim_rules_revocation_and_deny_routes() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let iss = jwks.url.clone();
    let dir = std::env::temp_dir().join(format!("tokengate-verify-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("revoked.txt");
    std::fs::write(&list, "# stolen laptop\nsub mallory\norigin_jti fam-9\n").unwrap();
    let path = dir.join("tokengate.yaml");
    std::fs::write(
        &path,
        format!(
            r#"
authorizers:
  pool: {{issuer: "{iss}", audience: [api], claims: {{"custom:tenant": [acme]}}}}
routes:
  "GET /admin": {{authorizer: pool, claims: {{"cognito:groups": [admins, ops]}}}}
  "GET /level": {{authorizer: pool, claims: {{level: ["3"]}}}}
  "DELETE /legacy": {{deny: true}}
revocation: {{file: "{}"}}
"#,
            list.display()
        ),
    )
    .unwrap();
    let config = path.display().to_string();
    let good = json!({"iss": iss, "aud": "api", "sub": "alice", "custom:tenant": "acme",
                      "cognito:groups": ["readers", "ops"], "level": "3", "jti": "t-1",
                      "exp": now() + 600.0, "iat": now() - 1.0});
    let with = |k: &str, v: serde_json::Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let verify = |route: &str, claims: &serde_json::Value| {
        let args: Vec<String> = vec![
            "verify".into(),
            "--config".into(),
            config.clone(),
            "--route".into(),
            route.into(),
            k.sign(claims),
        ];
        run(args)
    };

    let out = verify("GET /admin", &good).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    let revocation = format!(
        "ok   revocation   neither jti, origin_jti nor sub is on {}",
        list.display()
    );
    assert!(text.contains(&revocation), "{text}");
    assert!(
        text.contains("ok   claims       every claim rule is met"),
        "{text}"
    );

    let cases: [(&str, serde_json::Value, &str, &[&str]); 8] = [
        (
            "GET /admin",
            with("cognito:groups", json!(["readers"])),
            "FAIL claims",
            &[
                r#"claim "cognito:groups""#,
                r#"["admins","ops"]"#,
                r#"the token holds ["readers"]"#,
            ],
        ),
        (
            "GET /admin",
            with("cognito:groups", json!("Admins")),
            "FAIL claims",
            &[r#"the token holds "Admins""#, "case-sensitive"],
        ),
        (
            "GET /admin",
            with("custom:tenant", json!("ACME")),
            "FAIL claims",
            &[
                r#"claim "custom:tenant""#,
                r#"["acme"]"#,
                r#"the token holds "ACME""#,
            ],
        ),
        (
            "GET /level",
            with("level", json!(3)),
            "FAIL claims",
            &[
                r#"claim "level""#,
                r#"["3"]"#,
                "the token holds 3, neither a string nor an array",
            ],
        ),
        (
            "GET /level",
            with("level", serde_json::Value::Null),
            "FAIL claims",
            &["the token holds null"],
        ),
        (
            "GET /admin",
            {
                let mut c = good.clone();
                c.as_object_mut().unwrap().remove("cognito:groups");
                c
            },
            "FAIL claims",
            &["the token has no such claim"],
        ),
        (
            "GET /admin",
            with("sub", json!("mallory")),
            "FAIL revocation",
            &[r#"sub "mallory" is on the revocation list"#],
        ),
        (
            "GET /level",
            with("origin_jti", json!("fam-9")),
            "FAIL revocation",
            &[r#"origin_jti "fam-9" is on the revocation list"#],
        ),
    ];
    for (route, claims, failing, details) in cases {
        let out = verify(route, &claims).await;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(out.status.code(), Some(1), "{text}");
        let fail: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
        assert_eq!(fail.len(), 1, "{text}");
        assert!(fail[0].starts_with(failing), "{failing}: {text}");
        for d in details {
            assert!(fail[0].contains(d), "{d} in {}", fail[0]);
        }
        if failing == "FAIL revocation" {
            assert!(
                text.contains("=> DENY (revoked), authorizer pool, HTTP 401, gRPC code 16"),
                "{text}"
            );
            assert!(
                text.contains(r#"WWW-Authenticate: Bearer error="invalid_token""#),
                "{text}"
            );
        } else {
            assert!(
                text.contains(
                    "=> DENY (insufficient_claims), authorizer pool, HTTP 403, gRPC code 7"
                ),
                "{text}"
            );
            assert!(!text.contains("WWW-Authenticate"), "{text}");
        }
    }

    let out = verify("DELETE /legacy", &good).await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL deny"), "{text}");
    assert!(
        text.contains("=> DENY (no_route), authorizer none, HTTP 403"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
