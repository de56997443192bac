//! The admin listener: `/healthz`, and `/readyz` with its JSON body before and after keys load;
//! nothing of `serve --dev` without it.

use tokengate::testkit as common;

use common::*;
use serde_json::Value;
use tokengate::jwt::Alg;

#[tokio::test]
async fn readyz_reports_each_authorizer_and_turns_ready_when_keys_load() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    jwks.set_mode(Mode::Status(500));
    let yaml = format!(
        "authorizers:\n  cognito: {{issuer: \"{}\", audience: [api]}}\nroutes:\n  \"$default\": {{authorizer: cognito}}\n",
        jwks.url
    );
    let tg = Tokengate::start(&yaml).await;
    let http = reqwest::Client::new();
    let admin = format!("http://{}", tg.admin);
    let r = http.get(format!("{admin}/healthz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // The walk-through page and the development issuer are `serve --dev`'s only.
    for path in ["/", "/oauth2/token"] {
        let r = http.get(format!("{admin}{path}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404, "{path}");
    }

    // A fetch fails (as the first one at start did, or will): it is recorded.
    let keys = tg.state.snapshot().authorizers[0].keys().clone();
    keys.refresh().await.expect_err("the issuer answers 500");
    let r = http.get(format!("{admin}/readyz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["ready"], Value::Bool(false));
    let a = &body["authorizers"]["cognito"];
    assert_eq!(a["keys"], 0);
    assert_eq!(a["age_seconds"], Value::Null);
    assert!(a["last_error"].as_str().unwrap().contains("500"), "{a}");

    jwks.set_mode(Mode::Keys);
    keys.refresh().await.unwrap();
    let tg = tg.ready().await;
    let r = http.get(format!("{admin}/readyz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["ready"], Value::Bool(true));
    let a = &body["authorizers"]["cognito"];
    assert_eq!(a["keys"], 1);
    assert!(a["age_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(a["last_error"], Value::Null);
    tg.shutdown().await;
}
