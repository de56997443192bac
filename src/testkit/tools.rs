//! Real tools (nginx, Envoy, promtool…) for end-to-end tests, an upstream that shows what it
//! received, and the assertions every proxy walk-through shares.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

/// The path of a real tool, or `None` to skip; with `TOKENGATE_REQUIRE_TOOLS=1` (CI) a
/// missing tool fails the test instead.
pub fn tool(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain(["/usr/sbin".into(), "/sbin".into()])
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        skip(&format!("{name} is not installed"));
    }
    found
}

/// Records that the calling test skips (all of it, or the part that needs what is missing)
/// and why: on stderr, and as a line in the file `TOKENGATE_SKIP_LOG` names, which `.ci/test`
/// counts in its summary. With `TOKENGATE_REQUIRE_TOOLS=1` (CI) a skip fails the test instead.
pub fn skip(reason: &str) {
    assert!(
        std::env::var_os("TOKENGATE_REQUIRE_TOOLS").is_none(),
        "cannot skip with TOKENGATE_REQUIRE_TOOLS set: {reason}"
    );
    let test = test_name();
    eprintln!("skipping {test}: {reason}");
    if let Some(path) = std::env::var_os("TOKENGATE_SKIP_LOG") {
        use std::io::Write;
        // One short append per line: lines from tests running in parallel do not interleave.
        let line = format!("{test}\t{reason}\n");
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            panic!("cannot record the skip in {}: {e}", path.display());
        }
    }
}

/// `binary::test`: the test binary's name without cargo's hash, and the test thread's name
/// (libtest names each test's thread after it).
fn test_name() -> String {
    let exe = std::env::args().next().unwrap_or_default();
    let file = std::path::Path::new(&exe)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let binary = file.rsplit_once('-').map_or(file.as_str(), |(b, _)| b);
    let thread = std::thread::current();
    format!("{binary}::{}", thread.name().unwrap_or("?"))
}

/// A small upstream that answers 200 with the `x-user-id` it received, or `-`.
pub async fn echo_upstream() -> SocketAddr {
    async fn echo(headers: axum::http::HeaderMap) -> String {
        headers
            .get("x-user-id")
            .and_then(|v| v.to_str().ok())
            .map_or("-".to_owned(), |v| format!("user={v}"))
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(echo);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A free loopback port (bound, then released) for a child process to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Through a proxy (nginx or Envoy) in front of [`echo_upstream`], with tokengate requiring a
/// token everywhere and scope `admin` under `/admin/`: no token is 401 with one `Bearer`
/// challenge and the JSON body; `token` (without `admin`) passes with its own `sub`, never the
/// forged `x-user-id`; `/admin/users` is 403 with the scope challenge.
pub async fn assert_proxied_decisions(base: &str, token: &str, what: &str) {
    let http = reqwest::Client::new();
    let challenges = |r: &reqwest::Response| -> Vec<String> {
        r.headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    };
    let r = http.get(format!("{base}/hello")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401, "{what}");
    assert_eq!(challenges(&r), ["Bearer"], "{what}");
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"message":"Unauthorized"}"#,
        "{what}"
    );

    let r = http
        .get(format!("{base}/hello"))
        .bearer_auth(token)
        .header("x-user-id", "forged-admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{what}");
    let seen = r.text().await.unwrap();
    assert_eq!(
        seen, "user=user-1",
        "{what}: the upstream sees the verified sub"
    );

    let r = http
        .get(format!("{base}/admin/users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "{what}");
    let scope = r#"Bearer error="insufficient_scope", scope="admin""#;
    assert_eq!(challenges(&r), [scope], "{what}");
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"message":"Forbidden"}"#,
        "{what}"
    );
}
