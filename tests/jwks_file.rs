//! Keys from a local JWK Set (`jwks_file`) on the real server: rotation by rewriting the file,
//! and a missing or unusable file handled as a failing JWKS URL is.

// Test scaffolding: a failed set-up step should panic loudly.
#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tokengate::jwt::{Alg, Signer};

const INVALID_TOKEN: Option<&str> = Some(r#"Bearer error="invalid_token""#);
const ISSUER: &str = "https://login.internal.example";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tokengate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes a file in one step (write beside, rename over), as a config manager would.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn key_set(keys: &[&Signer]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<Value>>()}).to_string()
}

fn config(name: &str, file: &Path, refresh: &str, tokens: u32) -> String {
    format!(
        r#"
cache: {{tokens: {tokens}}}
authorizers:
  {name}: {{issuer: "{ISSUER}", audience: [app], jwks_file: "{}", jwks_refresh: {refresh}}}
routes:
  "$default": {{authorizer: {name}}}
"#,
        file.display()
    )
}

async fn readyz(tg: &Tokengate) -> (u16, Value) {
    let r = reqwest::get(format!("http://{}/readyz", tg.admin))
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn refreshes(page: &str, name: &str, result: &str) -> f64 {
    sample(
        page,
        "tokengate_jwks_refreshes_total",
        &[("authorizer", name), ("result", result)],
    )
}

#[tokio::test]
async fn keys_rotate_by_rewriting_the_file() {
    let dir = scratch("jwks-file-rotate");
    let file = dir.join("jwks.json");
    let (old, new) = (signer(Alg::RS256, "old"), signer(Alg::ES256, "new"));
    replace(&file, &key_set(&[&old]));
    let tg = Tokengate::start(&config("rotating", &file, "15m", 1000))
        .await
        .ready()
        .await;
    let mut judge = Judge::new(&tg, &["rotating"]).await;
    let old_token = old.sign(&claims(ISSUER, "app"));
    let new_token = new.sign(&claims(ISSUER, "app"));
    judge
        .ask("GET", "/x", Some(&old_token))
        .await
        .allowed("rotating");

    // Both keys published: both verify.
    replace(&file, &key_set(&[&old, &new]));
    let keys = tg.state.snapshot().authorizers[0].keys().clone();
    assert_eq!(keys.refresh().await.unwrap(), 2);
    judge
        .ask("GET", "/x", Some(&new_token))
        .await
        .allowed("rotating");
    judge
        .ask("GET", "/x", Some(&old_token))
        .await
        .allowed("rotating");

    // The old key retired: its token stops, cached verdict included; the new one verifies.
    replace(&file, &key_set(&[&new]));
    assert_eq!(keys.refresh().await.unwrap(), 1);
    judge.ask("GET", "/x", Some(&old_token)).await.expect(
        "rotating",
        "unknown_key",
        401,
        INVALID_TOKEN,
    );
    judge
        .ask("GET", "/x", Some(&new_token))
        .await
        .allowed("rotating");
    let fresh = new.sign(&claims(ISSUER, "app"));
    judge
        .ask("GET", "/x", Some(&fresh))
        .await
        .allowed("rotating");
    tg.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_rewritten_file_is_read_again_every_jwks_refresh() {
    let dir = scratch("jwks-file-refresh");
    let file = dir.join("jwks.json");
    let (old, new) = (signer(Alg::ES256, "old"), signer(Alg::ES256, "new"));
    replace(&file, &key_set(&[&old]));
    let tg = Tokengate::start(&config("periodic", &file, "1s", 1000))
        .await
        .ready()
        .await;
    let mut judge = Judge::new(&tg, &["periodic"]).await;
    let old_token = old.sign(&claims(ISSUER, "app"));
    judge
        .ask("GET", "/x", Some(&old_token))
        .await
        .allowed("periodic");
    replace(&file, &key_set(&[&new]));
    // Only the periodic re-read can retire a key the file no longer holds.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let judged = judge.ask("GET", "/x", Some(&old_token)).await;
        if judged.answers.iter().all(|a| a.status == 401) {
            judged.expect("periodic", "unknown_key", 401, INVALID_TOKEN);
            break;
        }
        assert!(Instant::now() < deadline, "the file was not read again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let new_token = new.sign(&claims(ISSUER, "app"));
    judge
        .ask("GET", "/x", Some(&new_token))
        .await
        .allowed("periodic");
    tg.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_missing_or_unusable_file_is_a_failed_fetch_and_the_old_keys_stay() {
    let dir = scratch("jwks-file-broken");
    let file = dir.join("jwks.json");
    let k = signer(Alg::EdDSA, "k");
    replace(&file, &key_set(&[&k]));
    // No token cache: every check below verifies with the keys held.
    let tg = Tokengate::start(&config("broken", &file, "15m", 0))
        .await
        .ready()
        .await;
    let mut judge = Judge::new(&tg, &["broken"]).await;
    let token = k.sign(&claims(ISSUER, "app"));
    let keys = tg.state.snapshot().authorizers[0].keys().clone();
    let shown = file.display().to_string();
    let cases = [
        (Some("this is not JSON"), "is not a JWK Set"),
        (Some(r#"{"keys": []}"#), "holds no usable signing key"),
        (
            Some(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "k"}]}"#),
            "holds no usable signing key",
        ),
        (None, "cannot read"),
    ];
    for (text, error) in cases {
        match text {
            Some(text) => replace(&file, text),
            None => std::fs::remove_file(&file).unwrap(),
        }
        let before = metrics_page(tg.admin).await;
        assert!(keys.refresh().await.is_err(), "{error}");
        let after = metrics_page(tg.admin).await;
        assert_eq!(
            refreshes(&after, "broken", "error"),
            refreshes(&before, "broken", "error") + 1.0
        );
        let (status, body) = readyz(&tg).await;
        assert_eq!(status, 200, "keys are still held: {body}");
        let a = &body["authorizers"]["broken"];
        assert_eq!(a["keys"], 1, "{body}");
        let last = a["last_error"].as_str().unwrap_or_default();
        assert!(
            last.contains(&shown) && last.contains(error),
            "{error}: {last}"
        );
        judge.ask("GET", "/x", Some(&token)).await.allowed("broken");
    }
    replace(&file, &key_set(&[&k]));
    keys.refresh().await.unwrap();
    let (_, body) = readyz(&tg).await;
    assert_eq!(body["authorizers"]["broken"]["last_error"], Value::Null);
    tg.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_file_missing_at_start_leaves_the_authorizer_unready_until_it_appears() {
    let dir = scratch("jwks-file-late");
    let file = dir.join("jwks.json");
    let k = signer(Alg::ES384, "k");
    let tg = Tokengate::start(&config("late", &file, "15m", 1000)).await;
    let mut judge = Judge::new(&tg, &["late"]).await;
    let token = k.sign(&claims(ISSUER, "app"));
    let deadline = Instant::now() + Duration::from_secs(5);
    let body = loop {
        let (status, body) = readyz(&tg).await;
        assert_eq!(status, 503, "{body}");
        if body["authorizers"]["late"]["last_error"].is_string() {
            break body;
        }
        assert!(Instant::now() < deadline, "no fetch error shown: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let last = body["authorizers"]["late"]["last_error"].as_str().unwrap();
    assert!(last.contains("cannot read"), "{last}");
    judge
        .ask("GET", "/x", Some(&token))
        .await
        .expect("late", "keys_unavailable", 503, None);
    // Retried with backoff from 1 s: the file is found without a signal.
    replace(&file, &key_set(&[&k]));
    let tg = tg.ready().await;
    judge.ask("GET", "/x", Some(&token)).await.allowed("late");
    tg.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
