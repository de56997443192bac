//! The core decision, driven directly: every reason, algorithm and token shape, route
//! precedence, context extensions, several-authorizer routes, and the token cache.

use tokengate::testkit as common;

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use common::*;
use serde_json::json;
use tokengate::clock::Clock;
use tokengate::decision::Reason;
use tokengate::jwt::{Alg, Signer};

fn config(iss: &str, iss2: &str) -> String {
    format!(
        r#"
authorizers:
  main:
    issuer: "{iss}"
    audience: [api, cognito-client]
    claims_to_headers: {{sub: x-user-id, "address.country": x-country}}
  access:
    issuer: "{iss}"
    audience: [cognito-client]
    token_use: access
  partners:
    issuer: "{iss2}"
    audience: [partner]
    algorithms: [ES256]
    claims_to_headers: {{sub: x-partner-id}}
routes:
  "GET /pets/dog/1": {{authorizer: main}}
  "GET /pets/dog/{{id}}": {{authorizer: main}}
  "GET /pets/{{proxy+}}": {{authorizer: main}}
  "ANY /{{proxy+}}": {{authorizer: main}}
  "GET /scoped": {{authorizer: main, scopes: [users/read, admin]}}
  "GET /access": {{authorizer: access}}
  "GET /both": {{authorizer: [main, partners], scopes: [partner/read, users/read]}}
  "GET /health": {{public: true}}
"#
    )
}

struct World {
    jwks: JwksServer,
    jwks2: JwksServer,
    rs: tokengate::jwt::Signer,
    tg: Tokengate,
}

async fn world() -> World {
    world_at(Clock::System).await
}

/// The world with checks reading `now` from `clock`.
async fn world_at(clock: Clock) -> World {
    let rs = signer(Alg::RS256, "rs");
    let es = signer(Alg::ES256, "partner-es");
    let jwks = JwksServer::start(&[&rs]).await;
    let jwks2 = JwksServer::start(&[&es]).await;
    let tg = Tokengate::start_with(&config(&jwks.url, &jwks2.url), clock)
        .await
        .ready()
        .await;
    World {
        jwks,
        jwks2,
        rs,
        tg,
    }
}

#[tokio::test]
async fn a_valid_token_is_verified_and_sets_claim_headers() {
    let w = world().await;
    let mut c = claims(&w.jwks.url, "api");
    c["address"] = json!({"country": "FR"});
    let token = w.rs.sign(&c);
    let d = decide(
        &w.tg.state,
        "GET",
        "/anything",
        &[("authorization", &bearer(&token))],
    )
    .await;
    assert_eq!(d.reason, Reason::Verified);
    assert_eq!(&*d.authorizer, "main");
    assert_eq!(d.route.as_deref(), Some("ANY /{proxy+}"));
    let set: HashMap<_, _> = d
        .set_headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(set.get("x-user-id").map(String::as_str), Some("user-1"));
    assert_eq!(set.get("x-country").map(String::as_str), Some("FR"));
    // Headers only other authorizers set are removed, so a client cannot forge them.
    assert!(d.remove_headers.iter().any(|h| &**h == "x-partner-id"));
    assert!(!d.remove_headers.iter().any(|h| &**h == "x-user-id"));
}

#[tokio::test]
async fn every_deny_reason_is_reached_by_the_token_that_deserves_it() {
    let w = world().await;
    let iss = w.jwks.url.clone();
    let st = &w.tg.state;
    let good = claims(&iss, "api");
    let with = |k: &str, v: serde_json::Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let other = signer(Alg::RS256, "rs");
    let es = signer(Alg::ES256, "rs");
    let cases = [
        (w.rs.sign(&good), Reason::Verified),
        ("not.a.token".to_owned(), Reason::Malformed),
        (
            w.rs.sign_raw(br#"{"alg":"none"}"#, good.to_string().as_bytes()),
            Reason::AlgNotAllowed,
        ),
        (signer(Alg::RS256, "nope").sign(&good), Reason::UnknownKey),
        (other.sign(&good), Reason::BadSignature),
        (
            w.rs.sign(&with("iss", json!("https://evil.example"))),
            Reason::WrongIssuer,
        ),
        (
            w.rs.sign(&with("aud", json!("someone-else"))),
            Reason::WrongAudience,
        ),
        (w.rs.sign(&with("exp", json!(now() - 1.0))), Reason::Expired),
        (
            w.rs.sign(&with("nbf", json!(now() + 60.0))),
            Reason::NotYetValid,
        ),
        (
            w.rs.sign(&with("iat", json!(now() + 60.0))),
            Reason::NotYetValid,
        ),
        (w.rs.sign(&with("exp", json!("soon"))), Reason::Malformed),
        // kid of an RSA key with an EC alg: no key fits.
        (es.sign(&good), Reason::UnknownKey),
    ];
    for (i, (token, want)) in cases.iter().enumerate() {
        assert_eq!(reason_for(st, "/x", token).await, *want, "case {i}");
    }
    let none = decide(st, "GET", "/x", &[]).await;
    assert_eq!(none.reason, Reason::MissingToken);
    assert_eq!(&*none.authorizer, "main");
    let scoped = reason_for(
        st,
        "/scoped",
        &w.rs.sign(&with("scope", json!("users/write"))),
    )
    .await;
    assert_eq!(scoped, Reason::InsufficientScope);
    let public = decide(st, "GET", "/health", &[]).await;
    assert_eq!(
        (public.reason, &*public.authorizer),
        (Reason::Public, "none")
    );
    let token_use = w.rs.sign(
        &json!({"iss": iss, "client_id": "cognito-client", "token_use": "id", "exp": now() + 60.0}),
    );
    assert_eq!(
        reason_for(st, "/access", &token_use).await,
        Reason::WrongTokenUse
    );
}

#[tokio::test]
async fn no_route_is_403_and_keys_unavailable_is_503() {
    let rs = signer(Alg::RS256, "rs");
    let jwks = JwksServer::start(&[&rs]).await;
    jwks.set_mode(Mode::Status(500));
    let yaml = format!(
        "authorizers:\n  a: {{issuer: \"{}\", audience: [api]}}\nroutes:\n  \"GET /a\": {{authorizer: a}}\n",
        jwks.url
    );
    let tg = Tokengate::start(&yaml).await;
    let token = rs.sign(&claims(&jwks.url, "api"));
    assert_eq!(reason_for(&tg.state, "/b", &token).await, Reason::NoRoute);
    assert_eq!(
        reason_for(&tg.state, "/a", &token).await,
        Reason::KeysUnavailable
    );
    // Checks before the key lookup still answer 401.
    assert_eq!(
        reason_for(&tg.state, "/a", "garbage").await,
        Reason::Malformed
    );
    assert_eq!(
        decide(&tg.state, "GET", "/a", &[]).await.reason,
        Reason::MissingToken
    );
    // The issuer comes up and a refresh loads the keys (the background retry's schedule is
    // `jwks::refresh::next_wait`'s, unit-tested).
    jwks.set_mode(Mode::Keys);
    let keys = tg.state.snapshot().authorizers[0].keys().clone();
    assert_eq!(keys.refresh().await.unwrap(), 1);
    let tg = tg.ready().await;
    assert_eq!(reason_for(&tg.state, "/a", &token).await, Reason::Verified);
}

#[tokio::test]
async fn every_algorithm_verifies() {
    let algs = Alg::DEFAULT;
    let signers: Vec<_> = algs.iter().map(|a| signer(*a, a.as_str())).collect();
    let refs: Vec<_> = signers.iter().collect();
    let jwks = JwksServer::start(&refs).await;
    let yaml = format!(
        "authorizers:\n  a: {{issuer: \"{}\", audience: [api]}}\nroutes:\n  \"$default\": {{authorizer: a}}\n",
        jwks.url
    );
    let tg = Tokengate::start(&yaml).await.ready().await;
    for s in &signers {
        let token = s.sign(&claims(&jwks.url, "api"));
        assert_eq!(
            reason_for(&tg.state, "/", &token).await,
            Reason::Verified,
            "{}",
            s.alg
        );
        // A payload changed after signing (another `sub`) under the original signature.
        let mut tampered = claims(&jwks.url, "api");
        tampered["sub"] = json!("someone-else");
        let (header, rest) = token.split_once('.').unwrap();
        let signature = rest.rsplit_once('.').unwrap().1;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tampered.to_string());
        let tampered = format!("{header}.{payload}.{signature}");
        assert_eq!(
            reason_for(&tg.state, "/", &tampered).await,
            Reason::BadSignature,
            "tampered payload, {}",
            s.alg
        );
        // The original payload under a signature that is not the key's.
        let forged = format!("{}.{}", token.rsplit_once('.').unwrap().0, "AAAA");
        assert_eq!(
            reason_for(&tg.state, "/", &forged).await,
            Reason::BadSignature,
            "forged signature, {}",
            s.alg
        );
    }
}

#[tokio::test]
async fn both_cognito_token_shapes_are_accepted() {
    let w = world().await;
    let iss = w.jwks.url.clone();
    // Access token: client_id and token_use, no aud.
    let access = w.rs.sign(&json!({
        "iss": iss, "client_id": "cognito-client", "token_use": "access",
        "scope": "aws.cognito.signin.user.admin", "exp": now() + 60.0, "sub": "u"
    }));
    // ID token: aud is the app client id.
    let id = w.rs.sign(&json!({
        "iss": iss, "aud": "cognito-client", "token_use": "id", "exp": now() + 60.0,
        "cognito:username": "alice", "sub": "u"
    }));
    assert_eq!(
        reason_for(&w.tg.state, "/x", &access).await,
        Reason::Verified
    );
    assert_eq!(reason_for(&w.tg.state, "/x", &id).await, Reason::Verified);
    assert_eq!(
        reason_for(&w.tg.state, "/access", &access).await,
        Reason::Verified
    );
    assert_eq!(
        reason_for(&w.tg.state, "/access", &id).await,
        Reason::WrongTokenUse
    );
}

#[tokio::test]
async fn api_gateway_route_precedence_picks_the_most_specific_route() {
    let w = world().await;
    let token = w.rs.sign(&claims(&w.jwks.url, "api"));
    let auth = bearer(&token);
    for (method, path, want) in [
        ("GET", "/pets/dog/1", "GET /pets/dog/1"),
        ("GET", "/pets/dog/2", "GET /pets/dog/{id}"),
        ("GET", "/pets/cat/2", "GET /pets/{proxy+}"),
        ("POST", "/pets/dog/1", "ANY /{proxy+}"),
    ] {
        let d = decide(&w.tg.state, method, path, &[("authorization", &auth)]).await;
        assert_eq!(d.route.as_deref(), Some(want), "{method} {path}");
        assert_eq!(d.reason, Reason::Verified);
    }
    // Nothing matches `/` and there is no `$default`.
    let d = decide(&w.tg.state, "GET", "/", &[("authorization", &auth)]).await;
    assert_eq!((d.reason, d.route), (Reason::NoRoute, None));
}

#[tokio::test]
async fn context_extensions_override_the_route_table() {
    let w = world().await;
    let token = w.rs.sign(&claims(&w.jwks.url, "api"));
    let auth = bearer(&token);
    let h = [("authorization", auth.as_str())];
    let ext = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    };
    // scopes alone replace the matched route's scopes.
    let e = ext(&[("scopes", "admin other")]);
    let d = decide_with(&w.tg.state, "GET", "/x", &h, Some(&e)).await;
    assert_eq!(d.reason, Reason::InsufficientScope);
    assert_eq!(
        d.challenge().as_deref(),
        Some(r#"Bearer error="insufficient_scope", scope="admin other""#)
    );
    let e = ext(&[("scopes", "")]);
    assert_eq!(
        decide_with(&w.tg.state, "GET", "/scoped", &h, Some(&e))
            .await
            .reason,
        Reason::Verified
    );
    // scopes alone change nothing for a public route.
    let e = ext(&[("scopes", "admin")]);
    assert_eq!(
        decide_with(&w.tg.state, "GET", "/health", &[], Some(&e))
            .await
            .reason,
        Reason::Public
    );
    // authorizer replaces the entry: even a public route then needs a token.
    let e = ext(&[("authorizer", "main")]);
    assert_eq!(
        decide_with(&w.tg.state, "GET", "/health", &[], Some(&e))
            .await
            .reason,
        Reason::MissingToken
    );
    assert_eq!(
        decide_with(&w.tg.state, "GET", "/scoped", &h, Some(&e))
            .await
            .reason,
        Reason::Verified
    );
    // An unknown authorizer name is a no_route denial (the front end logs it, rate-limited).
    let e = ext(&[("authorizer", "ghost")]);
    let d = decide_with(&w.tg.state, "GET", "/x", &h, Some(&e)).await;
    assert_eq!(d.reason, Reason::NoRoute);
    let known = ext(&[("authorizer", "main")]);
    let d = decide_with(&w.tg.state, "GET", "/x", &h, Some(&known)).await;
    assert_eq!(d.reason, Reason::Verified);
}

#[tokio::test]
async fn several_authorizers_on_a_route_are_picked_by_issuer() {
    let w = world().await;
    let es = signer(Alg::ES256, "partner-es");
    w.jwks2.set_keys(&[&es]);
    w.tg.state
        .snapshot()
        .authorizer("partners")
        .unwrap()
        .keys()
        .refresh()
        .await
        .unwrap();
    let mut pc = claims(&w.jwks2.url, "partner");
    pc["scope"] = json!("partner/read");
    let d = decide(
        &w.tg.state,
        "GET",
        "/both",
        &[("authorization", &bearer(&es.sign(&pc)))],
    )
    .await;
    assert_eq!((d.reason, &*d.authorizer), (Reason::Verified, "partners"));
    let mut mc = claims(&w.jwks.url, "api");
    mc["scope"] = json!("users/read");
    let d = decide(
        &w.tg.state,
        "GET",
        "/both",
        &[("authorization", &bearer(&w.rs.sign(&mc)))],
    )
    .await;
    assert_eq!((d.reason, &*d.authorizer), (Reason::Verified, "main"));
    let mut xc = mc.clone();
    xc["iss"] = json!("https://stranger.example");
    let d = decide(
        &w.tg.state,
        "GET",
        "/both",
        &[("authorization", &bearer(&w.rs.sign(&xc)))],
    )
    .await;
    assert_eq!((d.reason, &*d.authorizer), (Reason::WrongIssuer, "none"));
    let d = decide(
        &w.tg.state,
        "GET",
        "/both",
        &[("authorization", "Bearer junk")],
    )
    .await;
    assert_eq!((d.reason, &*d.authorizer), (Reason::Malformed, "main"));
    // The picked authorizer judges in full: its algorithm list applies.
    let rs_for_partner = w.rs.sign(&pc);
    let d = decide(
        &w.tg.state,
        "GET",
        "/both",
        &[("authorization", &bearer(&rs_for_partner))],
    )
    .await;
    assert_eq!(
        (d.reason, &*d.authorizer),
        (Reason::AlgNotAllowed, "partners")
    );
}

#[tokio::test]
async fn a_cache_hit_skips_the_signature_but_still_checks_scopes() {
    let w = world().await;
    let st = &w.tg.state;
    let mut c = claims(&w.jwks.url, "api");
    c["scope"] = json!("users/read");
    let token = w.rs.sign(&c);
    let before = st.verifications();
    assert_eq!(reason_for(st, "/x", &token).await, Reason::Verified);
    assert_eq!(st.verifications(), before + 1);
    for _ in 0..10 {
        assert_eq!(reason_for(st, "/x", &token).await, Reason::Verified);
    }
    assert_eq!(st.verifications(), before + 1, "hits must not verify again");
    assert_eq!(reason_for(st, "/scoped", &token).await, Reason::Verified);
    c["scope"] = json!("other");
    let other = w.rs.sign(&c);
    assert_eq!(reason_for(st, "/x", &other).await, Reason::Verified);
    assert_eq!(
        reason_for(st, "/scoped", &other).await,
        Reason::InsufficientScope
    );
    assert_eq!(st.verifications(), before + 2);
}

#[tokio::test]
async fn a_cached_token_expires_with_its_exp() {
    let t0 = now();
    let clock = Clock::manual(t0);
    let w = world_at(clock.clone()).await;
    let st = &w.tg.state;
    let mut c = claims(&w.jwks.url, "api");
    c["exp"] = json!(t0 + 60.0);
    let token = w.rs.sign(&c);
    assert_eq!(reason_for(st, "/x", &token).await, Reason::Verified);
    let verified = st.verifications();
    clock.advance(Duration::from_millis(59_500));
    assert_eq!(reason_for(st, "/x", &token).await, Reason::Verified);
    assert_eq!(st.verifications(), verified, "served from the cache");
    clock.advance(Duration::from_millis(500));
    assert_eq!(reason_for(st, "/x", &token).await, Reason::Expired);
    assert_eq!(
        st.verifications(),
        verified,
        "the cached verdict's exp was checked again"
    );
}

/// One authorizer whose cache keeps verdicts at most `max_ttl` and which allows `skew`, with
/// checks reading a manual clock set to `t0`; and its signing key.
async fn timed(max_ttl: &str, skew: &str, t0: f64) -> (Clock, JwksServer, Signer, Tokengate) {
    let rs = signer(Alg::RS256, "rs");
    let jwks = JwksServer::start(&[&rs]).await;
    let yaml = format!(
        "cache: {{tokens: 100, max_ttl: {max_ttl}}}\nauthorizers:\n  a: {{issuer: \"{}\", audience: [api], clock_skew: {skew}}}\nroutes:\n  \"$default\": {{authorizer: a}}\n",
        jwks.url
    );
    let clock = Clock::manual(t0);
    let tg = Tokengate::start_with(&yaml, clock.clone())
        .await
        .ready()
        .await;
    (clock, jwks, rs, tg)
}

#[tokio::test]
async fn a_cached_verdict_is_verified_again_after_max_ttl() {
    let t0 = now();
    let (clock, jwks, rs, tg) = timed("10s", "0s", t0).await;
    let token = rs.sign(&claims(&jwks.url, "api"));
    let st = &tg.state;
    assert_eq!(reason_for(st, "/", &token).await, Reason::Verified);
    let verified = st.verifications();
    clock.advance(Duration::from_millis(9_500));
    assert_eq!(reason_for(st, "/", &token).await, Reason::Verified);
    assert_eq!(st.verifications(), verified, "a hit within max_ttl");
    clock.advance(Duration::from_millis(500));
    assert_eq!(reason_for(st, "/", &token).await, Reason::Verified);
    assert_eq!(
        st.verifications(),
        verified + 1,
        "verified again max_ttl after the last verification"
    );
    clock.advance(Duration::from_secs(5));
    assert_eq!(reason_for(st, "/", &token).await, Reason::Verified);
    assert_eq!(st.verifications(), verified + 1, "max_ttl counts from then");
    tg.shutdown().await;
}

#[tokio::test]
async fn clock_skew_widens_exp_nbf_and_iat_on_first_sight_and_on_a_hit() {
    let t0 = now();
    let (clock, jwks, rs, tg) = timed("10m", "30s", t0).await;
    let st = &tg.state;
    let token = |exp: f64, nbf: Option<f64>, iat: Option<f64>| {
        let mut c = claims(&jwks.url, "api");
        c["exp"] = json!(exp);
        let c = c.as_object_mut().unwrap();
        c.remove("iat");
        for (name, t) in [("nbf", nbf), ("iat", iat)] {
            if let Some(t) = t {
                c.insert(name.into(), json!(t));
            }
        }
        rs.sign(&json!(c))
    };
    // Up to 30 s early or late is within the skew; 31 s is not.
    let hour = t0 + 3600.0;
    let cases = [
        (token(hour, Some(t0 + 29.0), None), Reason::Verified),
        (token(hour, None, Some(t0 + 29.0)), Reason::Verified),
        (token(t0 - 29.0, None, None), Reason::Verified),
        (token(hour, Some(t0 + 31.0), None), Reason::NotYetValid),
        (token(hour, None, Some(t0 + 31.0)), Reason::NotYetValid),
        (token(t0 - 31.0, None, None), Reason::Expired),
    ];
    for (i, (t, want)) in cases.iter().enumerate() {
        assert_eq!(reason_for(st, "/", t).await, *want, "case {i}");
    }
    // A cached verdict is judged with the same skew: it serves until exp + 30 s.
    let soon = token(t0 + 60.0, None, None);
    assert_eq!(reason_for(st, "/", &soon).await, Reason::Verified);
    let verified = st.verifications();
    clock.advance(Duration::from_millis(89_500));
    assert_eq!(reason_for(st, "/", &soon).await, Reason::Verified);
    assert_eq!(
        st.verifications(),
        verified,
        "a hit, past exp within the skew"
    );
    clock.advance(Duration::from_millis(500));
    assert_eq!(reason_for(st, "/", &soon).await, Reason::Expired);
    tg.shutdown().await;
}
