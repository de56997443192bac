//! Browsers (`cors`) on both transports: a preflight passes without a token on any route, and
//! every denial varies on `Origin` and, for an allowed origin, carries what a script needs to
//! read it. Without `cors` nothing changes. (The real browser is in tests/browser.rs.)

use tokengate::testkit as common;

use common::*;
use serde_json::json;
use tokengate::jwt::Alg;

const APP: &str = "https://app.example";

fn config(iss: &str, cors: &str) -> String {
    format!(
        r#"
{cors}
authorizers:
  main: {{issuer: "{iss}", audience: [api]}}
routes:
  "GET /users/{{id}}": {{authorizer: main, scopes: [users/read]}}
  "DELETE /legacy": {{deny: true}}
"#
    )
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn http(tg: &Tokengate, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = reqwest::Client::new().request(
        method.parse().expect("method"),
        format!("http://{}{path}", tg.http),
    );
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
async fn preflights_pass_and_denials_of_an_allowed_origin_are_readable() {
    let k = signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let cors = format!(
        "cors: {{allow_origins: [\"{APP}\"], allow_credentials: true, expose_headers: [www-authenticate, x-request-id]}}"
    );
    let tg = Tokengate::start(&config(&jwks.url, &cors))
        .await
        .ready()
        .await;
    let mut grpc = tg.client().await;
    let preflight = [
        ("origin", "https://anything.example"),
        ("access-control-request-method", "GET"),
        ("access-control-request-headers", "authorization"),
    ];
    // Any route (a protected one, a deny route, none at all) and any origin.
    for path in ["/users/7", "/legacy", "/nowhere"] {
        let r = http(&tg, "OPTIONS", path, &preflight).await;
        assert_eq!(r.status, 200, "{path}");
        let v = check(&mut grpc, check_request("OPTIONS", path, &preflight)).await;
        assert_eq!(v.grpc_code, 0, "{path}");
    }
    // OPTIONS without the preflight headers is an ordinary request.
    let r = http(&tg, "OPTIONS", "/users/7", &[("origin", APP)]).await;
    assert_eq!(r.status, 403, "no route for OPTIONS /users/7");
    let page = metrics_page(tg.admin).await;
    let preflights: f64 = page
        .lines()
        .filter(|l| l.contains(r#"reason="preflight""#) && l.contains(r#"authorizer="none""#))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(preflights, 6.0, "{page}");

    // A denial of the allowed origin: 401 with the challenge, readable by the page's script.
    let r = http(&tg, "GET", "/users/7", &[("origin", APP)]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, r#"{"message":"Unauthorized"}"#);
    assert_eq!(h(&r, "www-authenticate"), Some("Bearer"));
    assert_eq!(h(&r, "vary"), Some("Origin"));
    assert_eq!(h(&r, "access-control-allow-origin"), Some(APP));
    assert_eq!(
        h(&r, "access-control-expose-headers"),
        Some("www-authenticate, x-request-id")
    );
    assert_eq!(h(&r, "access-control-allow-credentials"), Some("true"));
    let v = check(
        &mut grpc,
        check_request("GET", "/users/7", &[("origin", APP)]),
    )
    .await;
    assert_eq!(v.http_status, Some(401));
    assert_eq!(v.denied_headers["access-control-allow-origin"], APP);
    assert_eq!(v.denied_headers["vary"], "Origin");
    assert_eq!(v.denied_headers["access-control-allow-credentials"], "true");

    // 403 (missing scope) likewise; another origin only varies.
    let token = k.sign(&claims(&jwks.url, "api"));
    let auth = bearer(&token);
    let r = http(
        &tg,
        "GET",
        "/users/7",
        &[("origin", APP), ("authorization", &auth)],
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(h(&r, "access-control-allow-origin"), Some(APP));
    let r = http(
        &tg,
        "GET",
        "/users/7",
        &[("origin", "https://evil.example"), ("authorization", &auth)],
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(h(&r, "vary"), Some("Origin"));
    assert_eq!(h(&r, "access-control-allow-origin"), None);
    // An allowed request carries no CORS headers: the upstream answers its own CORS.
    let mut c = claims(&jwks.url, "api");
    c["scope"] = json!("users/read");
    let good = bearer(&k.sign(&c));
    let r = http(
        &tg,
        "GET",
        "/users/7",
        &[("origin", APP), ("authorization", &good)],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(h(&r, "access-control-allow-origin"), None);
    tg.shutdown().await;
}

#[tokio::test]
async fn without_cors_a_preflight_is_an_ordinary_request() {
    let k = signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = Tokengate::start(&config(&jwks.url, "")).await.ready().await;
    let preflight = [("origin", APP), ("access-control-request-method", "GET")];
    let r = http(&tg, "OPTIONS", "/users/7", &preflight).await;
    assert_eq!(r.status, 403, "no OPTIONS route");
    let r = http(&tg, "GET", "/users/7", &[("origin", APP)]).await;
    assert_eq!(r.status, 401);
    assert_eq!(h(&r, "vary"), None);
    assert_eq!(h(&r, "access-control-allow-origin"), None);
    tg.shutdown().await;
}

#[tokio::test]
async fn a_wildcard_origin_is_answered_with_a_star() {
    let k = signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = Tokengate::start(&config(&jwks.url, "cors: {allow_origins: [\"*\"]}"))
        .await
        .ready()
        .await;
    let r = http(&tg, "GET", "/users/7", &[("origin", "https://any.example")]).await;
    assert_eq!(r.status, 401);
    assert_eq!(h(&r, "access-control-allow-origin"), Some("*"));
    assert_eq!(h(&r, "access-control-allow-credentials"), None);
    assert_eq!(
        h(&r, "access-control-expose-headers"),
        Some("www-authenticate")
    );
    tg.shutdown().await;
}
