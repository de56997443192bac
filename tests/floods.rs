//! Resource bounds under floods: the verified-token cache never holds more than `cache.tokens`
//! entries, and tokens that fail verification never enter it, so they cannot evict good ones.

// Test scaffolding: a failed set-up step should panic loudly.
#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tokengate::jwt::Alg;
use tokengate::jwt::Signer;

const CAPACITY: u64 = 500;

fn config(iss: &str) -> String {
    format!(
        r#"
cache: {{tokens: {CAPACITY}}}
authorizers:
  flood: {{issuer: "{iss}", audience: [api]}}
routes:
  "$default": {{authorizer: flood}}
"#
    )
}

/// Valid claims for `sub`, distinct per `i`.
fn claims_for(iss: &str, i: usize) -> serde_json::Value {
    let mut c = claims(iss, "api");
    c["sub"] = json!(format!("user-{i}"));
    c["jti"] = json!(format!("{i:08}"));
    c
}

/// `count` distinct tokens that each fail verification, in rotation: a bad signature on the
/// right `kid`, expired, another issuer, another audience, not yet valid, a `kid` no key has,
/// and plain garbage.
fn bad_tokens(good: &Signer, stranger: &Signer, iss: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let mut c = claims_for(iss, 1_000_000 + i);
            match i % 7 {
                0 => {
                    let header = json!({"alg": "EdDSA", "kid": good.kid});
                    return stranger
                        .sign_raw(header.to_string().as_bytes(), c.to_string().as_bytes());
                }
                1 => c["exp"] = json!(now() - 60.0 - i as f64),
                2 => c["iss"] = json!(format!("https://other-{i}.example")),
                3 => c["aud"] = json!(format!("other-{i}")),
                4 => c["nbf"] = json!(now() + 3600.0 + i as f64),
                5 => {
                    let header = json!({"alg": "EdDSA", "kid": format!("nobody-{i}")});
                    return good.sign_raw(header.to_string().as_bytes(), c.to_string().as_bytes());
                }
                _ => return format!("garbage.{i}.token"),
            }
            good.sign(&c)
        })
        .collect()
}

/// Sends every `(token, expected gRPC code)` over `streams` concurrent gRPC streams on two
/// connections; every RPC must succeed and answer as expected.
async fn flood(tg: &Tokengate, requests: Vec<(String, i32)>, streams: usize) {
    let connections = [tg.client().await, tg.client().await];
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for s in 0..streams {
        let mut client = connections[s % 2].clone();
        let (requests, next) = (requests.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some((token, want)) = requests.get(i) else {
                    return;
                };
                let auth = bearer(token);
                let resp = client
                    .check(check_request("GET", "/", &[("authorization", &auth)]))
                    .await
                    .unwrap_or_else(|e| panic!("request {i}: RPC failed: {e}"));
                let got = verdict(resp.into_inner()).grpc_code;
                assert_eq!(got, *want, "request {i}: {token}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

async fn cache_entries_gauge(tg: &Tokengate) -> f64 {
    let page = metrics_page(tg.admin).await;
    page.lines()
        .find_map(|l| {
            l.strip_prefix("tokengate_token_cache_entries ")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("tokengate_token_cache_entries in {page}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_cache_stays_within_its_bound_under_a_flood_of_distinct_tokens() {
    let good = signer(Alg::EdDSA, "good");
    let stranger = signer(Alg::EdDSA, "stranger");
    let jwks = JwksServer::start(&[&good]).await;
    let tg = Tokengate::start(&config(&jwks.url)).await.ready().await;
    let n = 3 * CAPACITY as usize;
    let mut requests: Vec<(String, i32)> = Vec::new();
    for (i, bad) in bad_tokens(&good, &stranger, &jwks.url, n)
        .into_iter()
        .enumerate()
    {
        requests.push((good.sign(&claims_for(&jwks.url, i)), 0));
        requests.push((bad, 16));
    }

    // Watch the cache while the flood runs.
    let cache = tg.state.snapshot().cache.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (cache, stop) = (cache.clone(), stop.clone());
        tokio::spawn(async move {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(cache.entry_count());
                // Real time: the cache is sampled while the flood runs.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            peak
        })
    };
    let started = Instant::now();
    flood(&tg, requests, 32).await;
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let peak = watcher.await.unwrap();
    let entries = cache.entry_count();
    let gauge = cache_entries_gauge(&tg).await;
    eprintln!(
        "{n} valid + {n} invalid distinct tokens in {took:?}: cache entries {entries} (peak {peak}, gauge {gauge}), capacity {CAPACITY}, verifications {}",
        tg.state.verifications()
    );
    assert!(peak <= CAPACITY, "peak {peak} > {CAPACITY}");
    assert!(entries <= CAPACITY, "{entries} > {CAPACITY}");
    assert!(gauge <= CAPACITY as f64, "gauge {gauge}");
    // The cache is in use, not merely empty.
    assert!(entries >= CAPACITY / 2, "only {entries} entries");
    tg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_tokens_cannot_evict_cached_good_ones() {
    let good = signer(Alg::EdDSA, "good");
    let stranger = signer(Alg::EdDSA, "stranger");
    let jwks = JwksServer::start(&[&good]).await;
    let tg = Tokengate::start(&config(&jwks.url)).await.ready().await;
    let cached = 400;
    let good_tokens: Vec<(String, i32)> = (0..cached)
        .map(|i| (good.sign(&claims_for(&jwks.url, i)), 0))
        .collect();

    // First visit verifies each good token once; the second is all cache hits.
    let v0 = tg.state.verifications();
    flood(&tg, good_tokens.clone(), 8).await;
    let v1 = tg.state.verifications();
    assert_eq!(v1 - v0, cached as u64, "each good token verified once");
    flood(&tg, good_tokens.clone(), 8).await;
    assert_eq!(tg.state.verifications(), v1, "the second visit is all hits");
    assert_eq!(tg.state.snapshot().cache.entry_count(), cached as u64);

    // Ten times the cache's capacity in distinct bad tokens, concurrently.
    let bad = bad_tokens(&good, &stranger, &jwks.url, 10 * CAPACITY as usize);
    let count = bad.len();
    let started = Instant::now();
    flood(&tg, bad.into_iter().map(|t| (t, 16)).collect(), 32).await;
    let took = started.elapsed();
    let v2 = tg.state.verifications();
    let entries = tg.state.snapshot().cache.entry_count();
    eprintln!(
        "{count} bad tokens in {took:?} ({} signature checks); cache entries after: {entries}",
        v2 - v1
    );
    assert_eq!(entries, cached as u64, "no bad token entered the cache");

    // Every good token is still a hit: not one signature is checked again.
    flood(&tg, good_tokens, 8).await;
    assert_eq!(
        tg.state.verifications(),
        v2,
        "a good token was evicted by the flood"
    );
    tg.shutdown().await;
}
