//! The `tokengate` binary as a process: `check-config` exit codes, `SIGHUP` reload,
//! `SIGTERM` drain, JSON logs, and the `serve --dev` walk-through as printed.

// Helpers here drive a child process: a failed step should panic loudly.
#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use tokengate::jwt::Alg;

const BIN: &str = env!("CARGO_BIN_EXE_tokengate");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tokengate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn check_config_prints_a_summary_or_every_error_with_its_line() {
    let dir = temp_dir("check");
    let good = dir.join("good.yaml");
    std::fs::write(&good, "authorizers:\n  a: {issuer: \"https://i.example\", audience: [x]}\nroutes:\n  \"GET /x\": {authorizer: a}\n").unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("GET /x: a") && stdout.contains("OK"),
        "{stdout}"
    );

    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "authorizers:\n  a: {issuer: \"http://i.example\", audience: []}\nroutes:\n  \"GET /x\": {authorizer: b, typo: 1}\n").unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for want in [
        "authorizers.a.issuer (line 2)",
        "authorizers.a.audience (line 2)",
        r#"routes["GET /x"].typo (line 4)"#,
        r#"routes["GET /x"].authorizer (line 4)"#,
    ] {
        assert!(stderr.contains(want), "{want} in {stderr}");
    }
    let out = Command::new(BIN)
        .args(["check-config", "--config", "/nonexistent.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).ok();
}

fn config(iss: &str, grpc: u16, http: u16, admin: u16, extra_route: &str) -> String {
    format!(
        r#"
listen: {{grpc: "127.0.0.1:{grpc}", http: "127.0.0.1:{http}", admin: "127.0.0.1:{admin}"}}
authorizers:
  a: {{issuer: "{iss}", audience: [api]}}
routes:
  "GET /api": {{authorizer: a}}
{extra_route}
"#
    )
}

async fn status(url: &str) -> Option<u16> {
    reqwest::get(url).await.ok().map(|r| r.status().as_u16())
}

/// Waits until the child's `url` answers `want`.
async fn wait_for(url: &str, want: u16) {
    let what = format!("{url} answers {want}");
    eventually(Duration::from_secs(5), &what, || async {
        (status(url).await == Some(want)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn sighup_reloads_and_sigterm_drains_and_exits_zero() {
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let dir = temp_dir("serve");
    let path = dir.join("tokengate.yaml");
    let (g, h, a) = (free_port(), free_port(), free_port());
    std::fs::write(&path, config(&jwks.url, g, h, a, "")).unwrap();
    let mut child = Process::spawn(
        Command::new(BIN)
            .args(["--log-format", "json", "serve", "--config"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
        "TERM",
    )
    .unwrap();
    let admin = format!("http://127.0.0.1:{a}");
    let authz = format!("http://127.0.0.1:{h}");
    wait_for(&format!("{admin}/readyz"), 200).await;
    assert_eq!(status(&format!("{authz}/api")).await, Some(401));
    assert_eq!(status(&format!("{authz}/open")).await, Some(403));

    std::fs::write(
        &path,
        config(&jwks.url, g, h, a, "  \"GET /open\": {public: true}"),
    )
    .unwrap();
    child.signal("HUP");
    wait_for(&format!("{authz}/open"), 200).await;

    std::fs::write(&path, "routes: [this is not a map]").unwrap();
    child.signal("HUP");
    let metrics_url = format!("{admin}/metrics");
    let refused = r#"tokengate_config_reloads_total{result="error"} 1"#;
    let page = eventually(
        Duration::from_secs(5),
        "the refused reload counted",
        || async {
            let page = reqwest::get(&metrics_url).await.ok()?.text().await.ok()?;
            page.contains(refused).then_some(page)
        },
    )
    .await;
    assert!(
        page.contains(r#"tokengate_config_reloads_total{result="ok"} 1"#),
        "{page}"
    );
    assert!(
        page.contains(r#"tokengate_config_reloads_total{result="error"} 1"#),
        "{page}"
    );
    assert_eq!(
        status(&format!("{authz}/open")).await,
        Some(200),
        "the old config stays"
    );

    // SIGTERM: drain and exit 0 (the grace before a kill is longer than the 10 s drain).
    let exit = child.stop();
    assert!(exit.success(), "{exit:?}");
    let mut logs = String::new();
    child
        .child()
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let denial = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "denied")
        .unwrap_or_else(|| panic!("a JSON denial line in {logs}"));
    assert_eq!(denial["fields"]["reason"], "missing_token");
    assert_eq!(denial["fields"]["route"], "GET /api");
    // `peer` is the socket that sent the check; no `client` was claimed.
    let peer = denial["fields"]["peer"].as_str().unwrap();
    assert!(peer.starts_with("127.0.0.1:"), "{peer}");
    assert_eq!(denial["fields"]["client"], "-");
    assert!(logs.contains("config reload refused"), "{logs}");
    std::fs::remove_dir_all(&dir).ok();
}

fn after<'a>(line: &'a str, marker: &str) -> &'a str {
    let rest = &line[line
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {line}"))
        + marker.len()..];
    rest.split([' ', ')', ',']).next().unwrap()
}

#[tokio::test]
async fn serve_dev_walkthrough_works_as_printed() {
    // `--dev` uses the default ports; skip politely if something else holds them.
    if std::net::TcpListener::bind("127.0.0.1:9090").is_err()
        || std::net::TcpListener::bind("127.0.0.1:9191").is_err()
        || std::net::TcpListener::bind("127.0.0.1:9192").is_err()
    {
        skip("default ports 9090, 9191 or 9192 are busy");
        return;
    }
    let mut child = Process::spawn(
        Command::new(BIN)
            .args(["serve", "--dev"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        "TERM",
    )
    .unwrap();
    let mut out = BufReader::new(child.child().stdout.take().unwrap());
    let mut printed = Vec::new();
    while printed.len() < 20 {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let done = line.starts_with("curl -i -H \"Authorization: Bearer $ADMIN\"");
        printed.push(line);
        if done {
            break;
        }
    }
    let text = printed.concat();
    let secret = after(&printed[0], "client_secret ").to_owned();
    let curl_urls: Vec<&str> = printed
        .iter()
        .filter(|l| l.starts_with("curl") || l.contains("$(curl"))
        .map(|l| {
            let url_start = l.find("http://").unwrap();
            l[url_start..].split([' ', '|']).next().unwrap()
        })
        .collect();
    assert_eq!(curl_urls.len(), 6, "{text}");
    let (hello, token_url, admin_url) = (curl_urls[0], curl_urls[1], curl_urls[3]);
    wait_for("http://127.0.0.1:9090/readyz", 200).await;
    let http = reqwest::Client::new();

    // 1. no token
    let r = http.get(hello).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Unauthorized"}"#);
    // 2. a token, as printed: client credentials with scope read
    let token = |scope: &'static str| {
        let http = http.clone();
        let secret = secret.clone();
        let url = token_url.to_owned();
        async move {
            let r = http
                .post(url)
                .basic_auth("dev-client", Some(secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("grant_type=client_credentials&scope={scope}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let body: serde_json::Value = r.json().await.unwrap();
            body["access_token"].as_str().unwrap().to_owned()
        }
    };
    let read = token("read").await;
    // 3. with it
    let r = http.get(hello).bearer_auth(&read).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-user-id"], "dev-client");
    // 4. without the admin scope
    let r = http.get(admin_url).bearer_auth(&read).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Forbidden"}"#);
    // 5. with it
    let admin = token("admin").await;
    let r = http
        .get(admin_url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // A wrong secret gets no token.
    let r = http
        .post(token_url)
        .basic_auth("dev-client", Some("wrong"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    assert!(child.stop().success(), "SIGTERM: drain and exit 0");
}
