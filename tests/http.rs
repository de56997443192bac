//! The HTTP authorizer over real HTTP: nginx, forward-auth and Envoy HTTP-mode conventions.

use tokengate::testkit as common;

use common::*;
use serde_json::json;
use tokengate::jwt::Alg;

fn config(iss: &str) -> String {
    format!(
        r#"
http: {{path_prefix: /authz}}
authorizers:
  main:
    issuer: "{iss}"
    audience: [api]
    claims_to_headers: {{sub: x-user-id, scope: x-user-scopes}}
routes:
  "GET /users/{{id}}": {{authorizer: main, scopes: [users/read]}}
  "POST /users": {{authorizer: main}}
  "GET /health": {{public: true}}
"#
    )
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = reqwest::Client::new().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    Reply {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.expect("body"),
    }
}

fn h<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn the_three_conventions_reach_the_same_decisions() {
    let k = signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = Tokengate::start(&config(&jwks.url)).await.ready().await;
    let mut c = claims(&jwks.url, "api");
    c["scope"] = json!("users/read");
    let auth = bearer(&k.sign(&c));
    let base = format!("http://{}", tg.http);

    // nginx auth_request
    let nginx = |method: &'static str, uri: &'static str| {
        [("x-original-method", method), ("x-original-uri", uri)]
    };
    let r = get(
        &format!("{base}/auth"),
        &[&nginx("GET", "/users/7")[..], &[("authorization", &auth)]].concat(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(h(&r, "x-user-id"), Some("user-1"));
    assert_eq!(h(&r, "x-user-scopes"), Some("users/read"));
    let r = get(&format!("{base}/auth"), &nginx("GET", "/users/7")).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, r#"{"message":"Unauthorized"}"#)
    );
    assert_eq!(h(&r, "www-authenticate"), Some("Bearer"));
    assert_eq!(h(&r, "content-type"), Some("application/json"));
    // X-Original-URI without X-Original-Method takes this request's method.
    let r = get(
        &format!("{base}/auth"),
        &[("x-original-uri", "/users"), ("authorization", &auth)],
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, r#"{"message":"Forbidden"}"#),
        "GET /users has no route"
    );

    // Traefik / Caddy forward auth
    let fwd = [
        ("x-forwarded-method", "POST"),
        ("x-forwarded-uri", "/users"),
        ("x-forwarded-host", "api.example"),
    ];
    let r = get(
        &format!("{base}/"),
        &[&fwd[..], &[("authorization", &auth)]].concat(),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = get(
        &format!("{base}/"),
        &[&fwd[..], &[("authorization", "Bearer nope")]].concat(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        h(&r, "www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );

    // Envoy HTTP mode: the request line, less path_prefix
    let r = get(
        &format!("{base}/authz/users/7"),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(r.status, 200);
    let mut weak = c.clone();
    weak["scope"] = json!("other");
    let r = get(
        &format!("{base}/authz/users/7"),
        &[("authorization", &bearer(&k.sign(&weak)))],
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, r#"{"message":"Forbidden"}"#)
    );
    assert_eq!(
        h(&r, "www-authenticate"),
        Some(r#"Bearer error="insufficient_scope", scope="users/read""#)
    );
    let r = get(&format!("{base}/health"), &[]).await;
    assert_eq!(r.status, 200);
    tg.shutdown().await;
}

#[tokio::test]
async fn a_forged_claim_header_never_gets_through() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = Tokengate::start(&config(&jwks.url)).await.ready().await;
    let base = format!("http://{}", tg.http);
    // Public route: nothing set, every claim header listed for removal.
    let r = get(&format!("{base}/authz/health"), &[("x-user-id", "admin")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(h(&r, "x-user-id"), None);
    let removed = h(&r, "x-envoy-auth-headers-to-remove").unwrap_or_default();
    assert!(removed.split(',').any(|x| x == "x-user-id"), "{removed}");
    // A token without `scope`: x-user-id is set from the token, x-user-scopes removed.
    let token = k.sign(&claims(&jwks.url, "api"));
    let r = get(
        &format!("{base}/authz/users"),
        &[("authorization", &bearer(&token)), ("x-user-id", "admin")],
    )
    .await;
    assert_eq!(r.status, 403, "GET /users has no route");
    let r = reqwest::Client::new()
        .post(format!("{base}/authz/users"))
        .header("authorization", bearer(&token))
        .header("x-user-id", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-user-id"], "user-1");
    assert_eq!(
        r.headers()["x-envoy-auth-headers-to-remove"],
        "x-user-scopes"
    );
    tg.shutdown().await;
}

#[tokio::test]
async fn bad_input_only_ever_gets_200_401_403_or_503() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = Tokengate::start(&config(&jwks.url)).await.ready().await;
    let base = format!("http://{}", tg.http);
    for (uri, auth) in [
        ("/%%%", "Bearer a.b.c"),
        ("", "Bearer"),
        ("users/7", "Bearer \tx"),
        ("/users/7?x=\"", &*"A".repeat(9000)),
        ("/users/../../etc/passwd", "Basic Zm9vOmJhcg=="),
    ] {
        let r = get(
            &format!("{base}/"),
            &[("x-original-uri", uri), ("authorization", auth)],
        )
        .await;
        assert!(matches!(r.status, 401 | 403), "{uri}: {}", r.status);
    }
    tg.shutdown().await;
}
