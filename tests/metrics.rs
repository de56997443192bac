//! `/metrics` after a known mix of checks: counters, histogram counts, cache and JWKS series,
//! and `promtool check metrics` on the live scrape. One test: the recorder is per process.

use tokengate::testkit as common;

use std::collections::BTreeMap;

use common::*;
use tokengate::jwt::Alg;

/// `(name, labels) → value` for every sample of a Prometheus text page.
fn samples(page: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    page.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|kv| !kv.is_empty())
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            Some((name.to_owned(), labels, value.parse().ok()?))
        })
        .collect()
}

fn value(page: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    samples(page)
        .into_iter()
        .filter(|(n, labels, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

#[tokio::test]
async fn metrics_count_a_known_mix_of_checks() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let yaml = format!(
        r#"
authorizers:
  cognito: {{issuer: "{}", audience: [api]}}
routes:
  "GET /scoped": {{authorizer: cognito, scopes: [admin]}}
  "GET /health": {{public: true}}
  "GET /api": {{authorizer: cognito}}
"#,
        jwks.url
    );
    let tg = Tokengate::start(&yaml).await.ready().await;
    let mut grpc = tg.client().await;
    let token = bearer(&k.sign(&claims(&jwks.url, "api")));
    for _ in 0..3 {
        let v = check(
            &mut grpc,
            check_request("GET", "/api", &[("authorization", &token)]),
        )
        .await;
        assert_eq!(v.grpc_code, 0);
    }
    check(&mut grpc, check_request("GET", "/api", &[])).await;
    check(
        &mut grpc,
        check_request("GET", "/scoped", &[("authorization", &token)]),
    )
    .await;
    check(&mut grpc, check_request("GET", "/nowhere", &[])).await;
    let http = reqwest::Client::new();
    let h = format!("http://{}", tg.http);
    for _ in 0..2 {
        http.get(format!("{h}/health")).send().await.unwrap();
    }
    let r = http
        .get(format!("{h}/api"))
        .header("authorization", "Bearer junk")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let page = http
        .get(format!("http://{}/metrics", tg.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let checks = |labels: &[(&str, &str)]| value(&page, "tokengate_checks_total", labels);
    assert_eq!(
        checks(&[
            ("transport", "grpc"),
            ("authorizer", "cognito"),
            ("decision", "allow"),
            ("reason", "verified")
        ]),
        3.0,
        "{page}"
    );
    assert_eq!(
        checks(&[
            ("transport", "grpc"),
            ("decision", "deny"),
            ("reason", "missing_token")
        ]),
        1.0
    );
    assert_eq!(
        checks(&[("transport", "grpc"), ("reason", "insufficient_scope")]),
        1.0
    );
    assert_eq!(
        checks(&[
            ("transport", "grpc"),
            ("authorizer", "none"),
            ("reason", "no_route")
        ]),
        1.0
    );
    assert_eq!(
        checks(&[
            ("transport", "http"),
            ("authorizer", "none"),
            ("reason", "public")
        ]),
        2.0
    );
    assert_eq!(
        checks(&[
            ("transport", "http"),
            ("authorizer", "cognito"),
            ("reason", "malformed")
        ]),
        1.0
    );
    // A real histogram: 10 µs to 1 s buckets, +Inf equal to the count.
    let count = |t: &str, d: &str| {
        value(
            &page,
            "tokengate_check_duration_seconds_count",
            &[("transport", t), ("decision", d)],
        )
    };
    assert_eq!(count("grpc", "allow"), 3.0);
    assert_eq!(count("grpc", "deny"), 3.0);
    assert_eq!(count("http", "allow") + count("http", "deny"), 3.0);
    let bucket = |le: &str| {
        value(
            &page,
            "tokengate_check_duration_seconds_bucket",
            &[("transport", "grpc"), ("decision", "allow"), ("le", le)],
        )
    };
    assert_eq!(bucket("+Inf"), 3.0);
    assert!(page.contains("le=\"0.00001\""), "smallest bucket is 10 µs");
    assert_eq!(bucket("1"), 3.0);
    // The token's first check misses, its next two and the scope check hit; the junk token is
    // looked up (a miss) before it is parsed, since a hit never parses.
    assert_eq!(
        value(
            &page,
            "tokengate_token_cache_requests_total",
            &[("result", "miss")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &page,
            "tokengate_token_cache_requests_total",
            &[("result", "hit")]
        ),
        3.0
    );
    assert_eq!(value(&page, "tokengate_token_cache_entries", &[]), 1.0);
    assert_eq!(
        value(&page, "tokengate_jwks_keys", &[("authorizer", "cognito")]),
        1.0
    );
    assert!(
        value(
            &page,
            "tokengate_jwks_refreshes_total",
            &[("authorizer", "cognito"), ("result", "ok")]
        ) >= 1.0
    );
    assert!(page.contains("tokengate_jwks_age_seconds{authorizer=\"cognito\"}"));
    assert!(page.contains("# TYPE tokengate_check_duration_seconds histogram"));
    // Labels stay bounded: no path or token in any series.
    assert!(!page.contains("/api") && !page.contains("junk"));

    if let Some(promtool) = tool("promtool") {
        use std::io::Write;
        let mut child = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    tg.shutdown().await;
}
