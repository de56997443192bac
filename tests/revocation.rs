//! The revocation list on the real server, over gRPC and HTTP: each kind of entry, cached
//! tokens, file changes picked up without `SIGHUP`, bad and deleted files kept out, and the two
//! revocation metrics.

// Test scaffolding: a failed set-up step should panic loudly.
#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tokengate::config::Config;
use tokengate::jwt::Alg;

const INVALID_TOKEN: Option<&str> = Some(r#"Bearer error="invalid_token""#);

/// The revocation metrics are process-wide: tests that load a list take turns.
static LISTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A directory of its own for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tokengate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Replaces a file in one step, as an operator's `mv` would: the watcher never reads half of it.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn config(name: &str, iss: &str, list: &Path) -> String {
    format!(
        r#"
authorizers:
  {name}: {{issuer: "{iss}", audience: [app], claims_to_headers: {{sub: x-user-id}}}}
routes:
  "$default": {{authorizer: {name}}}
revocation: {{file: "{}", refresh: 1s}}
"#,
        list.display()
    )
}

fn token_claims(iss: &str, extra: &[(&str, &str)]) -> Value {
    let mut c = claims(iss, "app");
    for (k, v) in extra {
        c[*k] = json!(v);
    }
    c
}

/// Asks until `done` holds for both transports' answer, for at most five seconds.
async fn until(judge: &mut Judge, token: &str, what: &str, done: impl Fn(&Judged) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let judged = judge.ask("GET", "/x", Some(token)).await;
        if done(&judged) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: still {judged:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn both(status: u16) -> impl Fn(&Judged) -> bool {
    move |j| j.answers.iter().all(|a| a.status == status)
}

async fn page(tg: &Tokengate) -> String {
    metrics_page(tg.admin).await
}

#[tokio::test]
async fn each_kind_of_entry_revokes_its_tokens_even_cached_without_a_sighup() {
    let _turn = LISTS.lock().await;
    let k = signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let dir = scratch("revoke-kinds");
    let list = dir.join("revoked.txt");
    replace(&list, "# nothing revoked yet\n");
    let tg = Tokengate::start(&config("kinds", &jwks.url, &list))
        .await
        .ready()
        .await;
    let mut judge = Judge::new(&tg, &["kinds"]).await;
    let iss = jwks.url.as_str();
    let by_jti = k.sign(&token_claims(iss, &[("jti", "t-1"), ("sub", "alice")]));
    let by_origin = k.sign(&token_claims(
        iss,
        &[("jti", "t-2"), ("origin_jti", "family-1"), ("sub", "bob")],
    ));
    let by_sub = k.sign(&token_claims(iss, &[("jti", "t-3"), ("sub", "carol")]));
    // Values that are on the list, but under another kind, revoke nothing.
    let crossed = k.sign(&token_claims(
        iss,
        &[("jti", "carol"), ("origin_jti", "t-1"), ("sub", "family-1")],
    ));
    let same_family = k.sign(&token_claims(
        iss,
        &[("jti", "t-4"), ("origin_jti", "family-1"), ("sub", "dave")],
    ));
    let tokens = [&by_jti, &by_origin, &by_sub, &crossed, &same_family];
    for t in tokens {
        judge.ask("GET", "/x", Some(t)).await.allowed("kinds");
    }
    let verified = tg.state.snapshot().authorizers[0].keys().verifications();

    replace(
        &list,
        "# revoked by the on-call\njti t-1\n\norigin_jti family-1\n  sub carol  \n",
    );
    until(&mut judge, &by_sub, "the list is re-read", both(401)).await;
    for t in [&by_jti, &by_origin, &by_sub, &same_family] {
        let judged = judge.ask("GET", "/x", Some(t)).await;
        assert!(judged.answers[0].upstream.is_empty());
        judged.expect("kinds", "revoked", 401, INVALID_TOKEN);
    }
    judge
        .ask("GET", "/x", Some(&crossed))
        .await
        .allowed("kinds");
    assert_eq!(
        tg.state.snapshot().authorizers[0].keys().verifications(),
        verified,
        "every token was a cache hit: the list applies to cached verdicts"
    );
    // A new token of a revoked family is revoked too.
    let fresh = k.sign(&token_claims(
        iss,
        &[("jti", "t-5"), ("origin_jti", "family-1"), ("sub", "erin")],
    ));
    judge
        .ask("GET", "/x", Some(&fresh))
        .await
        .expect("kinds", "revoked", 401, INVALID_TOKEN);

    // Taking an entry off the list lets its tokens through again.
    replace(&list, "origin_jti family-1\n");
    until(&mut judge, &by_sub, "the shorter list is read", both(200)).await;
    judge.ask("GET", "/x", Some(&by_jti)).await.allowed("kinds");
    judge
        .ask("GET", "/x", Some(&by_origin))
        .await
        .expect("kinds", "revoked", 401, INVALID_TOKEN);
    tg.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_bad_or_deleted_list_keeps_the_last_good_one_and_is_counted() {
    let _turn = LISTS.lock().await;
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let dir = scratch("revoke-bad");
    let list = dir.join("revoked.txt");
    replace(&list, "jti t-1\n");
    let tg = Tokengate::start(&config("badlist", &jwks.url, &list))
        .await
        .ready()
        .await;
    let mut judge = Judge::new(&tg, &["badlist"]).await;
    let iss = jwks.url.as_str();
    let revoked = k.sign(&token_claims(iss, &[("jti", "t-1")]));
    let bob = k.sign(&token_claims(iss, &[("jti", "t-2"), ("sub", "bob")]));
    let reloads = |page: &str, result: &str| {
        sample(
            page,
            "tokengate_revocation_reloads_total",
            &[("result", result)],
        )
    };
    let entries = |page: &str| sample(page, "tokengate_revocations", &[]);

    let before = page(&tg).await;
    assert_eq!(entries(&before), 1.0, "{before}");
    judge
        .ask("GET", "/x", Some(&revoked))
        .await
        .expect("badlist", "revoked", 401, INVALID_TOKEN);
    judge.ask("GET", "/x", Some(&bob)).await.allowed("badlist");

    // A file with one bad line is refused whole: bob, on a good line of it, stays allowed.
    replace(&list, "jti t-1\nsub bob\nsession t-9\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while reloads(&page(&tg).await, "error") <= reloads(&before, "error") {
        assert!(Instant::now() < deadline, "the bad file was never read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after_bad = page(&tg).await;
    assert_eq!(entries(&after_bad), 1.0);
    assert_eq!(reloads(&after_bad, "ok"), reloads(&before, "ok"));
    judge.ask("GET", "/x", Some(&bob)).await.allowed("badlist");
    judge
        .ask("GET", "/x", Some(&revoked))
        .await
        .expect("badlist", "revoked", 401, INVALID_TOKEN);

    // Fixed: the whole new list applies.
    replace(&list, "jti t-1\nsub bob\n");
    until(&mut judge, &bob, "the fixed file is read", both(401)).await;
    let fixed = page(&tg).await;
    assert_eq!(entries(&fixed), 2.0);
    assert_eq!(reloads(&fixed, "ok"), reloads(&before, "ok") + 1.0);

    // Deleted: the last list stays, and the failed read is counted.
    std::fs::remove_file(&list).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while reloads(&page(&tg).await, "error") <= reloads(&fixed, "error") {
        assert!(
            Instant::now() < deadline,
            "the missing file was never noticed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(entries(&page(&tg).await), 2.0);
    for t in [&revoked, &bob] {
        judge
            .ask("GET", "/x", Some(t))
            .await
            .expect("badlist", "revoked", 401, INVALID_TOKEN);
    }
    // Back again, emptied: nothing is revoked.
    replace(&list, "");
    until(&mut judge, &bob, "the restored file is read", both(200)).await;
    judge
        .ask("GET", "/x", Some(&revoked))
        .await
        .allowed("badlist");
    assert_eq!(entries(&page(&tg).await), 0.0);
    tg.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_missing_or_bad_list_at_start_is_a_config_error_with_its_lines() {
    let dir = scratch("revoke-start");
    let list = dir.join("revoked.txt");
    let yaml = config("start", "https://issuer.example", &list);
    let missing = Config::parse(&yaml).unwrap_err().to_string();
    assert!(missing.contains("revocation.file"), "{missing}");
    assert!(missing.contains(&list.display().to_string()), "{missing}");

    replace(&list, "jti ok\nsub\njti two words\ntoken abc\n# fine\n");
    let bad = Config::parse(&yaml).unwrap_err().to_string();
    for line in ["line 2", "line 3", "line 4"] {
        assert!(bad.contains(line), "{line} in {bad}");
    }
    assert!(!bad.contains("line 1:"), "{bad}");
    assert!(!bad.contains("line 5"), "{bad}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_sighup_reads_the_list_and_the_key_file_at_once() {
    let _turn = LISTS.lock().await;
    let dir = scratch("revoke-hup");
    let (list, keys, path) = (
        dir.join("revoked.txt"),
        dir.join("jwks.json"),
        dir.join("tokengate.yaml"),
    );
    let (old, new) = (signer(Alg::ES256, "old"), signer(Alg::ES256, "new"));
    let key_set = |ks: &[&tokengate::jwt::Signer]| {
        json!({"keys": ks.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
    };
    replace(&list, "jti t-0\n");
    replace(&keys, &key_set(&[&old]));
    let iss = "https://login.internal.example";
    // Periods of an hour: only the signal can make these files be read again here.
    let yaml = format!(
        r#"
authorizers:
  hup: {{issuer: "{iss}", audience: [app], jwks_file: "{}", jwks_refresh: 1h}}
routes:
  "$default": {{authorizer: hup}}
revocation: {{file: "{}", refresh: 1h}}
"#,
        keys.display(),
        list.display()
    );
    replace(&path, &yaml);
    let tg = Tokengate::start(&yaml).await.ready().await;
    let mut judge = Judge::new(&tg, &["hup"]).await;
    let first = old.sign(&token_claims(iss, &[("jti", "t-1")]));
    judge.ask("GET", "/x", Some(&first)).await.allowed("hup");

    replace(&list, "jti t-1\n");
    replace(&keys, &key_set(&[&new]));
    judge.ask("GET", "/x", Some(&first)).await.allowed("hup");
    assert!(tokengate::signal::reload(&tg.state, &path));
    // Both files were read again by the signal alone: the old key is gone (its token, cached
    // before, is checked again), and the new key's token with the listed jti is revoked.
    judge
        .ask("GET", "/x", Some(&first))
        .await
        .expect("hup", "unknown_key", 401, INVALID_TOKEN);
    let listed = new.sign(&token_claims(iss, &[("jti", "t-1")]));
    judge
        .ask("GET", "/x", Some(&listed))
        .await
        .expect("hup", "revoked", 401, INVALID_TOKEN);
    let third = new.sign(&token_claims(iss, &[("jti", "t-3")]));
    judge.ask("GET", "/x", Some(&third)).await.allowed("hup");
    tg.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
