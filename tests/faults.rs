//! Issuer faults against a JWKS server the test controls: an issuer slower than the fetch
//! timeout, errors, garbage, oversized and endless bodies, redirect loops, keys that rotate
//! under load, an issuer that is down at start, and a flood of unknown `kid`s.

// Test scaffolding: a failed set-up step should panic loudly.
#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use common::*;
use serde_json::{Value, json};
use tokengate::jwt::Alg;

fn config(iss: &str, cache: u64, refresh: &str) -> String {
    format!(
        r#"
cache: {{tokens: {cache}}}
authorizers:
  faulty: {{issuer: "{iss}", audience: [api], jwks_refresh: {refresh}}}
routes:
  "$default": {{authorizer: faulty}}
"#
    )
}

async fn readyz(tg: &Tokengate) -> (u16, Value) {
    let r = reqwest::get(format!("http://{}/readyz", tg.admin))
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap())
}

/// The value of one sample line, `0` when absent.
fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// One gRPC check of `GET /` with a bearer token, and how long it took.
async fn timed_check(
    client: &mut tokengate::pb::auth::authorization_client::AuthorizationClient<
        tonic::transport::Channel,
    >,
    token: &str,
) -> (Verdict, Duration) {
    let started = Instant::now();
    let v = check(
        client,
        check_request("GET", "/", &[("authorization", &bearer(token))]),
    )
    .await;
    (v, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_slower_than_the_fetch_timeout_stalls_no_check_and_recovers() {
    let a = signer(Alg::ES256, "a");
    let b = signer(Alg::ES256, "b");
    let jwks = JwksServer::start(&[&a]).await;
    // Cache off: every check below looks its key up in the key set while the fetch hangs.
    let tg = Tokengate::start(&config(&jwks.url, 0, "1s"))
        .await
        .ready()
        .await;
    let mut client = tg.client().await;
    let ta = a.sign(&claims(&jwks.url, "api"));
    let tb = b.sign(&claims(&jwks.url, "api"));

    // The issuer now answers after a minute: the periodic refresh hangs until its 10 s timeout.
    jwks.set_mode(Mode::Slow(Duration::from_secs(60)));
    let hits = jwks.hits();
    let hung = Instant::now();
    while jwks.hits() == hits {
        assert!(hung.elapsed() < Duration::from_secs(3), "no refresh began");
        // Real time: the background refresh (every 1 s) starts the hanging fetch.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let hang_began = Instant::now();

    // The known key keeps verifying, promptly, for 2 s of the hang.
    let mut slowest = Duration::ZERO;
    let mut checks = 0;
    while hang_began.elapsed() < Duration::from_secs(2) {
        let (v, took) = timed_check(&mut client, &ta).await;
        assert_eq!(v.grpc_code, 0, "the loaded key verifies during the hang");
        slowest = slowest.max(took);
        checks += 1;
        // Real time: checks spread over the hang, whose length is the point.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("{checks} checks during the hang, slowest {slowest:?}");
    assert!(
        slowest < Duration::from_millis(500),
        "a check waited on the hanging fetch: {slowest:?}"
    );
    let (code, body) = readyz(&tg).await;
    assert_eq!(code, 200, "still ready with the old keys: {body}");
    assert_eq!(body["authorizers"]["faulty"]["keys"], 1);

    // A token with a kid the set lacks is answered without waiting out the hanging fetch
    // (10 s) and the refetch it asks for (10 s more).
    jwks.set_keys(&[&a, &b]);
    let (v, took) = timed_check(&mut client, &tb).await;
    eprintln!(
        "unknown kid during the hang: code {} in {took:?}",
        v.grpc_code
    );
    assert_eq!(v.grpc_code, 16, "not fetched yet: unknown_key");
    assert!(
        took < tokengate::jwks::MISS_WAIT + Duration::from_millis(500),
        "an unknown kid stalled the check for {took:?}"
    );
    // ... and so is a check with the known key sent meanwhile.
    let (v, took) = timed_check(&mut client, &ta).await;
    assert_eq!(v.grpc_code, 0);
    assert!(took < Duration::from_millis(500), "{took:?}");

    // The issuer recovers: once the hung fetch has timed out, the refetch queued behind it (or
    // the retry 1 s later) brings `b`. Meanwhile a `b` check waits for that refetch, bounded.
    jwks.set_mode(Mode::Keys);
    let mut seen_error = None;
    loop {
        let (v, took) = timed_check(&mut client, &tb).await;
        assert!(
            took < tokengate::jwks::MISS_WAIT + Duration::from_millis(500),
            "{took:?}"
        );
        if v.grpc_code == 0 {
            break;
        }
        let (_, body) = readyz(&tg).await;
        if let Some(e) = body["authorizers"]["faulty"]["last_error"].as_str() {
            seen_error = Some(e.to_owned());
        }
        assert!(
            hang_began.elapsed() < Duration::from_secs(14),
            "the new key was not picked up after the issuer recovered"
        );
        // Real time: the hung fetch ends by its own 10 s timeout.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "new key verified {:?} after the hang began; error meanwhile: {seen_error:?}",
        hang_began.elapsed()
    );
    assert_eq!(timed_check(&mut client, &ta).await.0.grpc_code, 0);
    let (code, body) = readyz(&tg).await;
    assert_eq!(code, 200);
    assert_eq!(body["authorizers"]["faulty"]["keys"], 2);
    assert_eq!(body["authorizers"]["faulty"]["last_error"], Value::Null);
    tg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fetches_of_every_kind_keep_the_old_keys() {
    let k = signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let yaml = config(&jwks.url, 0, "15m").replace("faulty", "failing");
    let tg = Tokengate::start(&yaml).await.ready().await;
    let keys = tg.state.snapshot().authorizers[0].keys().clone();
    let mut client = tg.client().await;
    let token = k.sign(&claims(&jwks.url, "api"));
    let errors = r#"tokengate_jwks_refreshes_total{authorizer="failing",result="error"}"#;
    let before = sample(&metrics_page(tg.admin).await, errors);

    let bounce = format!("{}/bounce", jwks.url);
    let cases: Vec<(&str, Mode, &str, usize)> = vec![
        // (what, mode, in the error, JWKS requests it may take)
        ("500", Mode::Status(500), "500", 1),
        ("503", Mode::Status(503), "503", 1),
        ("404", Mode::Status(404), "404", 1),
        ("html", Mode::Body("<html>oops</html>".into()), "JWK Set", 1),
        (
            "binary garbage",
            Mode::Bytes((0..4096u32).map(|i| (i * 7919 % 251) as u8).collect()),
            "JWK Set",
            1,
        ),
        (
            "truncated",
            Mode::Body(r#"{"keys": [{"kty":"#.into()),
            "JWK Set",
            1,
        ),
        (
            "keys not a list",
            Mode::Body(r#"{"keys": 5}"#.into()),
            "JWK Set",
            1,
        ),
        (
            "empty set",
            Mode::Body(r#"{"keys": []}"#.into()),
            "no usable",
            1,
        ),
        ("5 MiB streamed", Mode::Huge(5 << 20), "more than", 1),
        ("endless body", Mode::Endless, "more than", 1),
        (
            "redirect to itself",
            Mode::Redirect("/.well-known/jwks.json".into()),
            "too many redirects",
            4,
        ),
        (
            "redirect loop A→B→A",
            Mode::Redirect(bounce),
            "too many redirects",
            4,
        ),
    ];
    let mut failed = 0.0;
    for (what, mode, want, max_requests) in cases {
        jwks.set_mode(mode);
        let (hits, bounced) = (jwks.hits(), jwks.redirect_hits());
        let started = Instant::now();
        let err = keys.refresh().await.expect_err(what).to_string();
        let took = started.elapsed();
        failed += 1.0;
        let requests = jwks.hits() - hits + jwks.redirect_hits() - bounced;
        eprintln!("{what}: {requests} request(s), {took:?}: {err}");
        assert!(err.contains(want), "{what}: {err}");
        assert!(
            (1..=max_requests).contains(&requests),
            "{what}: {requests} requests"
        );
        // None of these waits for the 10 s timeout: the limit and the redirect cap end them.
        assert!(took < Duration::from_secs(5), "{what} took {took:?}");
        // The old key stays and verifies; /readyz stays 200 and names the error.
        assert_eq!(keys.status().keys, 1, "{what}");
        let (v, _) = timed_check(&mut client, &token).await;
        assert_eq!(v.grpc_code, 0, "{what}: the old key still verifies");
        let (code, body) = readyz(&tg).await;
        assert_eq!(code, 200, "{what}: {body}");
        assert_eq!(body["ready"], true);
        let shown = body["authorizers"]["failing"]["last_error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: last_error in {body}"));
        assert!(shown.contains(want), "{what}: {shown}");
    }
    let page = metrics_page(tg.admin).await;
    assert_eq!(sample(&page, errors) - before, failed, "{page}");
    let keys_gauge = r#"tokengate_jwks_keys{authorizer="failing"}"#;
    assert_eq!(sample(&page, keys_gauge), 1.0, "{page}");
    let health = reqwest::get(format!("http://{}/healthz", tg.admin))
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200, "the server stays up");

    // The issuer recovers: the next fetch clears the error.
    jwks.set_mode(Mode::Keys);
    keys.refresh().await.unwrap();
    let (code, body) = readyz(&tg).await;
    assert_eq!(code, 200);
    assert_eq!(body["authorizers"]["failing"]["last_error"], Value::Null);
    tg.shutdown().await;
}

#[tokio::test]
async fn up_to_three_redirects_are_followed_and_a_fourth_is_refused() {
    let k = signer(Alg::EdDSA, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = Tokengate::start(&config(&jwks.url, 0, "15m"))
        .await
        .ready()
        .await;
    let keys = tg.state.snapshot().authorizers[0].keys().clone();
    // The JWKS URL sends on to /hop/2 → /hop/1 → /hop/0: three redirects.
    jwks.set_mode(Mode::Redirect("/hop/2".into()));
    let served = jwks.serves_since(0);
    keys.refresh().await.expect("three redirects are followed");
    assert_eq!(jwks.serves_since(0), served + 1);
    // Four are not.
    jwks.set_mode(Mode::Redirect("/hop/3".into()));
    let err = keys.refresh().await.expect_err("a fourth redirect");
    assert!(err.to_string().contains("redirect"), "{err}");
    assert_eq!(jwks.serves_since(0), served + 1);
    tg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotating_under_load_switch_over_with_one_refetch_and_no_failed_rpc() {
    let old = signer(Alg::ES256, "old");
    let new = signer(Alg::ES256, "new");
    let jwks = JwksServer::start(&[&old]).await;
    // Cache on: the old key's verdicts are cached when it leaves and must die with it.
    let tg = Tokengate::start(&config(&jwks.url, 10_000, "15m"))
        .await
        .ready()
        .await;
    let tokens = |s: &tokengate::jwt::Signer| -> Arc<Vec<String>> {
        Arc::new(
            (0..16)
                .map(|i| {
                    let mut c = claims(&jwks.url, "api");
                    c["sub"] = json!(format!("user-{i}"));
                    bearer(&s.sign(&c))
                })
                .collect(),
        )
    };
    let (old_tokens, new_tokens) = (tokens(&old), tokens(&new));

    // Set once the new key set is published: from then on the workers send new-key tokens too.
    let published = Arc::new(AtomicBool::new(false));
    // Set by the first worker that sees an old-key token denied after the rotation. A check
    // sent after that must never allow an old-key token again.
    let retired = Arc::new(AtomicBool::new(false));
    let retirement = Arc::new(Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new([
        AtomicU64::new(0), // old allowed
        AtomicU64::new(0), // old denied
        AtomicU64::new(0), // new allowed
    ]);
    let mut workers = Vec::new();
    // Two connections, four concurrent streams on each.
    let connections = [tg.client().await, tg.client().await];
    for w in 0..8 {
        let mut client = connections[w % 2].clone();
        let (published, retired, retirement, stop, stats) = (
            published.clone(),
            retired.clone(),
            retirement.clone(),
            stop.clone(),
            stats.clone(),
        );
        let (old_tokens, new_tokens) = (old_tokens.clone(), new_tokens.clone());
        workers.push(tokio::spawn(async move {
            let mut i = w;
            while !stop.load(Ordering::Acquire) {
                i += 1;
                let use_new = published.load(Ordering::Acquire) && i % 2 == 0;
                let was_retired = retired.load(Ordering::Acquire);
                let token = if use_new {
                    &new_tokens[i % new_tokens.len()]
                } else {
                    &old_tokens[i % old_tokens.len()]
                };
                let resp = client
                    .check(check_request("GET", "/", &[("authorization", token)]))
                    .await
                    .map_err(|s| format!("worker {w}: RPC failed: {s}"))?;
                let code = verdict(resp.into_inner()).grpc_code;
                match (use_new, code) {
                    (true, 0) => stats[2].fetch_add(1, Ordering::Relaxed),
                    (true, c) => return Err(format!("worker {w}: new-key token denied ({c})")),
                    (false, 0) if was_retired => {
                        return Err(format!("worker {w}: old key allowed after retirement"));
                    }
                    (false, 0) => stats[0].fetch_add(1, Ordering::Relaxed),
                    (false, 16) if published.load(Ordering::Acquire) => {
                        retired.store(true, Ordering::Release);
                        retirement.notify_one();
                        stats[1].fetch_add(1, Ordering::Relaxed)
                    }
                    (false, c) => return Err(format!("worker {w}: old-key token got {c}")),
                };
            }
            Ok::<(), String>(())
        }));
    }
    // Real time: the load runs on the old key for a while before the rotation.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = jwks.hits();
    // Rotate: the old key leaves and the new one arrives in one step.
    jwks.set_keys(&[&new]);
    published.store(true, Ordering::Release);
    tokio::time::timeout(Duration::from_secs(5), retirement.notified())
        .await
        .expect("the old key was never retired");
    // Real time: the load runs on both keys for a while after the rotation.
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::Release);
    for w in workers {
        w.await.unwrap().unwrap();
    }
    let [old_ok, old_denied, new_ok] = [0, 1, 2].map(|i| stats[i].load(Ordering::Relaxed));
    let fetches = jwks.hits() - hits;
    eprintln!(
        "rotation under load: old allowed {old_ok}, old denied {old_denied}, new allowed {new_ok}, JWKS fetches {fetches}"
    );
    assert!(old_ok > 100 && old_denied > 100 && new_ok > 100);
    assert_eq!(fetches, 1, "the rotation cost one refetch");
    tg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_down_at_start_is_unavailable_then_ready_when_it_comes_up() {
    let k = signer(Alg::ES256, "k");
    // A port with nothing listening: connections are refused.
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let tg = Tokengate::start(&config(&issuer, 1000, "15m")).await;
    let started = Instant::now();
    let mut client = tg.client().await;
    let token = k.sign(&claims(&issuer, "api"));

    let (v, took) = timed_check(&mut client, &token).await;
    assert_eq!(v.grpc_code, 14, "keys never loaded: UNAVAILABLE");
    assert_eq!(v.http_status, Some(503));
    assert_eq!(v.body, r#"{"message":"Service Unavailable"}"#);
    assert!(took < Duration::from_millis(500), "{took:?}");
    let http = reqwest::Client::new();
    let r = http
        .get(format!("http://{}/anything", tg.http))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    // A check that fails before the key lookup still answers 401.
    let (v, _) = timed_check(&mut client, "not-a-jwt").await;
    assert_eq!(v.grpc_code, 16);

    // A fetch fails (as the one at start did): /readyz names the failure.
    let keys = tg.state.snapshot().authorizers[0].keys().clone();
    keys.refresh().await.expect_err("nothing listens");
    let (code, body) = readyz(&tg).await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["ready"], false);
    let status = &body["authorizers"]["faulty"];
    assert_eq!(status["keys"], 0);
    assert_eq!(status["age_seconds"], Value::Null);
    let error = status["last_error"].as_str().unwrap_or_default();
    eprintln!("issuer down: /readyz last_error {error:?}");
    assert!(error.contains(&issuer), "{body}");
    assert!(error.contains("refused"), "the cause is shown: {body}");
    assert_eq!(timed_check(&mut client, &token).await.0.grpc_code, 14);

    // The issuer comes up; the background retry (after 1 s, 2 s, 4 s...: real time, the
    // retry's own schedule is the point) finds it within a few seconds.
    let jwks = JwksServer::start_at(format!("127.0.0.1:{port}").parse().unwrap(), &[&k]).await;
    let up = Instant::now();
    {
        let ready = tg.state.wait_ready(Duration::from_secs(6));
        tokio::pin!(ready);
        loop {
            // Until then the check is still 503, never a wrong 401: one every 50 ms.
            match tokio::time::timeout(Duration::from_millis(50), &mut ready).await {
                Ok(ready) => {
                    assert!(ready, "never became ready");
                    break;
                }
                Err(_) => {
                    let v = timed_check(&mut client, &token).await.0;
                    assert!(v.grpc_code == 14 || v.grpc_code == 0, "{v:?}");
                }
            }
        }
    }
    let (code, _) = readyz(&tg).await;
    assert_eq!(code, 200);
    eprintln!(
        "ready {:?} after start, {:?} after the issuer came up, {} fetch(es) served",
        started.elapsed(),
        up.elapsed(),
        jwks.hits()
    );
    let (_, body) = readyz(&tg).await;
    assert_eq!(body["ready"], true);
    assert_eq!(body["authorizers"]["faulty"]["keys"], 1);
    assert_eq!(body["authorizers"]["faulty"]["last_error"], Value::Null);
    assert_eq!(timed_check(&mut client, &token).await.0.grpc_code, 0);
    let r = http
        .get(format!("http://{}/anything", tg.http))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    tg.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_random_kids_over_grpc_is_not_a_flood_of_fetches() {
    let k = signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = Tokengate::start(&config(&jwks.url, 1000, "15m"))
        .await
        .ready()
        .await;
    let hits = jwks.hits();
    let body = claims(&jwks.url, "api").to_string();
    let tokens: Vec<String> = (0..1000)
        .map(|i| {
            let header = json!({"alg": "ES256", "kid": format!("random-{i}-{}", i * 7919)});
            bearer(&k.sign_raw(header.to_string().as_bytes(), body.as_bytes()))
        })
        .collect();
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(tg.client().await);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let mut client = clients[i % clients.len()].clone();
        tasks.spawn(async move {
            client
                .check(check_request("GET", "/", &[("authorization", &token)]))
                .await
                .map(|r| verdict(r.into_inner()).grpc_code)
        });
    }
    let mut denied = 0;
    while let Some(done) = tasks.join_next().await {
        let code = done.unwrap().expect("no failed RPC");
        assert_eq!(code, 16, "an unknown kid is denied");
        denied += 1;
    }
    let fetches = jwks.hits() - hits;
    eprintln!(
        "1000 random kids over gRPC in {:?}: {denied} denied, {fetches} JWKS fetch(es)",
        started.elapsed()
    );
    assert!(
        fetches <= 1,
        "{fetches} fetches for a flood of unknown kids"
    );
    // The key set's own count agrees.
    assert!(tg.state.snapshot().authorizers[0].keys().fetch_count() <= 2);
    tg.shutdown().await;
}

#[tokio::test]
async fn a_reload_that_changes_only_the_refresh_period_keeps_the_keys_through_an_outage() {
    let k = signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let tg = Tokengate::start(&config(&jwks.url, 1000, "15m"))
        .await
        .ready()
        .await;
    let token = k.sign(&claims(&jwks.url, "api"));
    assert_eq!(
        reason_for(&tg.state, "/", &token).await,
        tokengate::decision::Reason::Verified
    );
    // The issuer goes down; the operator shortens the refresh period meanwhile.
    jwks.set_mode(Mode::Status(503));
    let cfg = tokengate::config::Config::parse(&config(&jwks.url, 1000, "5m")).unwrap();
    tg.state.reload(cfg);
    assert_eq!(
        reason_for(&tg.state, "/", &token).await,
        tokengate::decision::Reason::Verified,
        "the keys already held still verify"
    );
    let (code, body) = readyz(&tg).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["authorizers"]["faulty"]["keys"], 1);
    tg.shutdown().await;
}

#[tokio::test]
async fn a_verdict_cached_with_a_replaced_key_set_is_not_served_after_its_key_left() {
    use tokengate::decision::Reason;
    let k = signer(Alg::ES256, "k");
    let k2 = signer(Alg::ES256, "k2");
    let jwks = JwksServer::start(&[&k, &k2]).await;
    let yaml = |jwks_uri: &str| {
        format!(
            "authorizers:\n  a: {{issuer: \"{}\", audience: [api]{jwks_uri}}}\nroutes:\n  \"$default\": {{authorizer: a}}\n",
            jwks.url
        )
    };
    let first = yaml("");
    let elsewhere = yaml(&format!(", jwks_uri: \"{}/keys/other.json\"", jwks.url));
    let tg = Tokengate::start(&first).await.ready().await;
    let token = k.sign(&claims(&jwks.url, "api"));
    assert_eq!(reason_for(&tg.state, "/", &token).await, Reason::Verified);
    // `k` leaves the JWKS. Before this authorizer's keys are refreshed, a reload points it
    // elsewhere (a new key set), and another points it back: a new key set again, under the
    // very config, so the same rules, as the verdict cached above.
    jwks.set_keys(&[&k2]);
    for config in [&elsewhere, &first] {
        tg.state
            .reload(tokengate::config::Config::parse(config).unwrap());
        assert!(tg.state.wait_ready(Duration::from_secs(2)).await);
    }
    let keys = tg.state.snapshot().authorizers[0].keys().clone();
    assert_eq!(keys.status().keys, 1, "the current key set holds k2 only");
    assert_eq!(
        reason_for(&tg.state, "/", &token).await,
        Reason::UnknownKey,
        "a verdict cached with a key that has left the JWKS is not reused"
    );
    tg.shutdown().await;
}
