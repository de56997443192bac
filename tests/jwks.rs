//! Key handling against a JWKS server the test controls: rotation without restart, stale keys
//! through an outage, removed keys, and unknown-`kid` refetches that stay rare.

use tokengate::testkit as common;

use common::*;
use serde_json::json;
use tokengate::decision::Reason;
use tokengate::jwt::Alg;

fn config(iss: &str, cache: u64) -> String {
    format!(
        "cache: {{tokens: {cache}}}\nauthorizers:\n  a: {{issuer: \"{iss}\", audience: [api]}}\nroutes:\n  \"$default\": {{authorizer: a}}\n"
    )
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_without_restart_by_one_refetch() {
    let old = signer(Alg::RS256, "old");
    let jwks = JwksServer::start(&[&old]).await;
    let tg = Tokengate::start(&config(&jwks.url, 1000))
        .await
        .ready()
        .await;
    let new = signer(Alg::RS256, "new");
    jwks.set_keys(&[&old, &new]);
    let hits = jwks.hits();
    let token = new.sign(&claims(&jwks.url, "api"));
    assert_eq!(reason_for(&tg.state, "/", &token).await, Reason::Verified);
    assert_eq!(jwks.hits(), hits + 1, "one refetch for the unknown kid");
    assert_eq!(reason_for(&tg.state, "/", &token).await, Reason::Verified);
    assert_eq!(jwks.hits(), hits + 1);
}

#[tokio::test]
async fn stale_keys_keep_working_while_the_jwks_endpoint_fails() {
    let k = signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    // Cache off, so every check verifies with the key set.
    let tg = Tokengate::start(&config(&jwks.url, 0)).await.ready().await;
    let keys = tg.state.snapshot().authorizers[0].keys().clone();
    let token = k.sign(&claims(&jwks.url, "api"));
    for mode in [
        Mode::Status(500),
        Mode::Body("garbage".into()),
        Mode::Body(r#"{"keys": []}"#.into()),
        Mode::Body(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#.into()),
    ] {
        jwks.set_mode(mode.clone());
        assert!(keys.refresh().await.is_err(), "{mode:?} is a failed fetch");
        assert_eq!(
            reason_for(&tg.state, "/", &token).await,
            Reason::Verified,
            "{mode:?}"
        );
        assert!(keys.status().last_error.is_some());
    }
    jwks.set_mode(Mode::Keys);
    keys.refresh().await.unwrap();
    assert_eq!(keys.status().last_error, None);
}

#[tokio::test]
async fn a_key_that_leaves_the_jwks_stops_verifying_even_from_the_cache() {
    let a = signer(Alg::RS256, "a");
    let b = signer(Alg::RS256, "b");
    let jwks = JwksServer::start(&[&a, &b]).await;
    let tg = Tokengate::start(&config(&jwks.url, 1000))
        .await
        .ready()
        .await;
    let keys = tg.state.snapshot().authorizers[0].keys().clone();
    let ta = a.sign(&claims(&jwks.url, "api"));
    let tb = b.sign(&claims(&jwks.url, "api"));
    assert_eq!(reason_for(&tg.state, "/", &ta).await, Reason::Verified);
    assert_eq!(reason_for(&tg.state, "/", &tb).await, Reason::Verified);
    jwks.set_keys(&[&b]);
    keys.refresh().await.unwrap();
    assert_eq!(keys.status().keys, 1);
    // `a` was cached; the cached verdict dies with the key. The refetch for the now unknown kid
    // finds nothing either.
    assert_eq!(reason_for(&tg.state, "/", &ta).await, Reason::UnknownKey);
    // An unchanged key keeps its identity, and its cached verdicts.
    let before = tg.state.verifications();
    assert_eq!(reason_for(&tg.state, "/", &tb).await, Reason::Verified);
    assert_eq!(tg.state.verifications(), before);
}

#[tokio::test]
async fn a_flood_of_random_kids_costs_one_fetch() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = Tokengate::start(&config(&jwks.url, 1000))
        .await
        .ready()
        .await;
    let hits = jwks.hits();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let state = tg.state.clone();
        let token = signer_for_kid(&k, &format!("random-{i}"), &jwks.url);
        tasks.push(tokio::spawn(async move {
            reason_for(&state, "/", &token).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), Reason::UnknownKey);
    }
    assert_eq!(jwks.hits(), hits + 1, "200 unknown kids, one refetch");
    // A key published inside the 30 s window is not fetched for: still unknown.
    let late = signer(Alg::RS256, "late");
    jwks.set_keys(&[&k, &late]);
    let token = late.sign(&claims(&jwks.url, "api"));
    assert_eq!(reason_for(&tg.state, "/", &token).await, Reason::UnknownKey);
    assert_eq!(jwks.hits(), hits + 1);
}

/// A token signed by `k` but naming another `kid`.
fn signer_for_kid(k: &tokengate::jwt::Signer, kid: &str, iss: &str) -> String {
    let header = json!({"alg": "RS256", "kid": kid});
    k.sign_raw(
        header.to_string().as_bytes(),
        claims(iss, "api").to_string().as_bytes(),
    )
}

#[tokio::test]
async fn tokens_without_kid_try_each_key_of_the_right_type() {
    let a = signer(Alg::RS256, "a");
    let b = signer(Alg::RS256, "b");
    let e = signer(Alg::ES256, "e");
    let jwks = JwksServer::start(&[&a, &b, &e]).await;
    let tg = Tokengate::start(&config(&jwks.url, 0)).await.ready().await;
    let c = claims(&jwks.url, "api").to_string();
    let no_kid = b.sign_raw(br#"{"alg":"RS256"}"#, c.as_bytes());
    assert_eq!(reason_for(&tg.state, "/", &no_kid).await, Reason::Verified);
    let stranger = signer(Alg::RS256, "x").sign_raw(br#"{"alg":"RS256"}"#, c.as_bytes());
    assert_eq!(
        reason_for(&tg.state, "/", &stranger).await,
        Reason::BadSignature
    );
    let eddsa = signer(Alg::EdDSA, "x").sign_raw(br#"{"alg":"EdDSA"}"#, c.as_bytes());
    assert_eq!(reason_for(&tg.state, "/", &eddsa).await, Reason::UnknownKey);
}

#[tokio::test]
async fn unusable_jwks_entries_are_skipped_and_the_rest_used() {
    let good = signer(Alg::ES256, "good");
    let jwks = JwksServer::start(&[]).await;
    let mut enc = signer(Alg::RS256, "enc").jwk();
    enc["use"] = json!("enc");
    jwks.set_raw_keys(vec![
        json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
        json!({"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"}),
        json!({"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"}),
        json!({"kty": "WAT", "kid": "wat"}),
        enc,
        good.jwk(),
    ]);
    let tg = Tokengate::start(&config(&jwks.url, 0)).await.ready().await;
    assert_eq!(tg.state.snapshot().authorizers[0].keys().status().keys, 1);
    let token = good.sign(&claims(&jwks.url, "api"));
    assert_eq!(reason_for(&tg.state, "/", &token).await, Reason::Verified);
}

#[tokio::test]
async fn oidc_discovery_finds_the_jwks_uri() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    jwks.publish_discovery();
    let tg = Tokengate::start(&config(&jwks.url, 0)).await.ready().await;
    assert_eq!(
        jwks.other_hits(),
        1,
        "keys came from the discovered jwks_uri"
    );
    let token = k.sign(&claims(&jwks.url, "api"));
    assert_eq!(reason_for(&tg.state, "/", &token).await, Reason::Verified);
    let keys = tg.state.snapshot().authorizers[0].keys().clone();
    // The discovered URL is kept: a refresh goes straight to it.
    keys.refresh().await.unwrap();
    assert_eq!(jwks.other_hits(), 2);
}

#[tokio::test]
async fn an_explicit_jwks_uri_is_used_as_given() {
    let k = signer(Alg::EdDSA, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let yaml = format!(
        "authorizers:\n  a: {{issuer: \"https://issuer.example\", audience: [api], jwks_uri: \"{}/keys/other.json\"}}\nroutes:\n  \"$default\": {{authorizer: a}}\n",
        jwks.url
    );
    let tg = Tokengate::start(&yaml).await.ready().await;
    let token = k.sign(&claims("https://issuer.example", "api"));
    assert_eq!(reason_for(&tg.state, "/", &token).await, Reason::Verified);
}

#[tokio::test]
async fn a_refresh_retires_removed_keys() {
    let a = signer(Alg::RS256, "a");
    let b = signer(Alg::RS256, "b");
    let jwks = JwksServer::start(&[&a, &b]).await;
    let yaml = format!(
        "authorizers:\n  a: {{issuer: \"{}\", audience: [api]}}\nroutes:\n  \"$default\": {{authorizer: a}}\n",
        jwks.url
    );
    let tg = Tokengate::start(&yaml).await.ready().await;
    let token = a.sign(&claims(&jwks.url, "api"));
    assert_eq!(reason_for(&tg.state, "/", &token).await, Reason::Verified);
    jwks.set_keys(&[&b]);
    // The periodic refresh calls this on its schedule (`jwks::refresh::next_wait`).
    let keys = tg.state.snapshot().authorizers[0].keys().clone();
    assert_eq!(keys.refresh().await.unwrap(), 1);
    assert_eq!(keys.status().keys, 1, "the refresh saw the removal");
    assert_eq!(reason_for(&tg.state, "/", &token).await, Reason::UnknownKey);
}

#[tokio::test]
async fn an_oversized_jwks_is_a_failed_fetch() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = Tokengate::start(&config(&jwks.url, 0)).await.ready().await;
    let keys = tg.state.snapshot().authorizers[0].keys().clone();
    jwks.set_mode(Mode::Body(format!(
        r#"{{"keys": [], "pad": "{}"}}"#,
        "x".repeat(2 << 20)
    )));
    let err = keys.refresh().await.expect_err("2 MiB is refused");
    assert!(err.to_string().contains("more than"), "{err}");
    assert_eq!(keys.status().keys, 1);
}
