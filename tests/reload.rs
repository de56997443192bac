//! Reloads: atomic swaps under load with no failed check, bad files refused, keys kept.

use tokengate::testkit as common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::*;
use tokengate::config::Config;
use tokengate::decision::Reason;
use tokengate::jwt::Alg;

fn config(iss: &str, variant: u32) -> String {
    format!(
        r#"
cache: {{tokens: {cache}}}
authorizers:
  a:
    issuer: "{iss}"
    audience: [api]
    claims_to_headers: {{sub: x-user-{variant}}}
routes:
  "ANY /api/{{proxy+}}": {{authorizer: a}}
  "GET /v{variant}": {{public: true}}
"#,
        cache = if variant.is_multiple_of(2) { 1000 } else { 0 }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_under_load_fails_no_check() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = Tokengate::start(&config(&jwks.url, 0)).await.ready().await;
    let token = bearer(&k.sign(&claims(&jwks.url, "api")));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for w in 0..4 {
        let mut client = tg.client().await;
        let (stop, done, token) = (stop.clone(), done.clone(), token.clone());
        workers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let path = format!("/api/{w}/{i}");
                let v = check(
                    &mut client,
                    check_request("GET", &path, &[("authorization", &token)]),
                )
                .await;
                assert_eq!(v.grpc_code, 0, "check {i} of worker {w} during reloads");
                let v = check(&mut client, check_request("GET", &path, &[])).await;
                assert_eq!(v.grpc_code, 16);
                i += 1;
                done.fetch_add(2, Ordering::Relaxed);
            }
        }));
    }
    let keys = tg.state.snapshot().authorizers[0].keys().clone();
    for n in 1..=40 {
        let cfg = Config::parse(&config(&jwks.url, n)).unwrap();
        tg.state.reload(cfg);
        // Real time: the workers' checks run between the reloads.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        // The key set survives reloads that leave the issuer alone.
        assert!(Arc::ptr_eq(
            &keys,
            tg.state.snapshot().authorizers[0].keys()
        ));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.expect("no worker saw a failed or wrong check");
    }
    assert!(
        done.load(Ordering::Relaxed) > 100,
        "the load ran during the reloads"
    );
    let d = decide(&tg.state, "GET", "/v40", &[]).await;
    assert_eq!(d.reason, Reason::Public, "the last config is live");
    tg.shutdown().await;
}

#[tokio::test]
async fn an_invalid_file_is_refused_and_the_running_config_stays() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = Tokengate::start(&config(&jwks.url, 1)).await.ready().await;
    let dir = std::env::temp_dir().join(format!("tokengate-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.yaml");
    std::fs::write(&path, "authorizers:\n  a: {issuer: nope}\n").unwrap();
    assert!(!tokengate::signal::reload(&tg.state, &path));
    assert_eq!(
        decide(&tg.state, "GET", "/v1", &[]).await.reason,
        Reason::Public
    );
    std::fs::write(&path, config(&jwks.url, 2)).unwrap();
    assert!(tokengate::signal::reload(&tg.state, &path));
    assert_eq!(
        decide(&tg.state, "GET", "/v1", &[]).await.reason,
        Reason::NoRoute
    );
    assert_eq!(
        decide(&tg.state, "GET", "/v2", &[]).await.reason,
        Reason::Public
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_changed_issuer_gets_a_new_key_set_and_a_fresh_cache_namespace() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let jwks2 = JwksServer::start(&[&k]).await;
    let tg = Tokengate::start(&config(&jwks.url, 0)).await.ready().await;
    let token = k.sign(&claims(&jwks.url, "api"));
    assert_eq!(
        reason_for(&tg.state, "/api/x", &token).await,
        Reason::Verified
    );
    let before = tg.state.snapshot().authorizers[0].keys().clone();
    tg.state
        .reload(Config::parse(&config(&jwks2.url, 0)).unwrap());
    let tg = tg.ready().await;
    assert!(!Arc::ptr_eq(
        &before,
        tg.state.snapshot().authorizers[0].keys()
    ));
    // Same token, new rules: its `iss` no longer matches, cached or not.
    assert_eq!(
        reason_for(&tg.state, "/api/x", &token).await,
        Reason::WrongIssuer
    );
}
