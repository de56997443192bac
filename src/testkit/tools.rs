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

/// What one request through a proxy came to, checked against the rule a proxy set-up must
/// keep: the upstream serves only a request tokengate allowed, as the very path tokengate
/// judged, with only the claim headers tokengate set.
pub struct Probe<'a> {
    /// Where the proxy listens.
    pub proxy: SocketAddr,
    /// What tokengate decided (its tap).
    pub decisions: &'a super::Decisions,
    /// What the upstream received.
    pub upstream: &'a super::Upstream,
    /// Every claim and payload header tokengate may set.
    pub claim_headers: &'a [&'a str],
}

impl Probe<'_> {
    /// Sends `request` (raw bytes) and checks the rule; `Ok` is a one-line account of what
    /// happened (for the test's report), `Err` says what broke.
    pub async fn send(&self, request: &[u8]) -> Result<String, String> {
        use crate::request::checks::{self, Paths};
        let r = super::raw_exchange(self.proxy, request).await;
        let decisions = self.decisions.take();
        let served = self.upstream.take();
        let judged: Vec<String> = decisions
            .iter()
            .map(|(_, d)| {
                format!("{} {}", d.reason.as_str(), d.path)
                    .trim_end()
                    .to_owned()
            })
            .collect();
        let account = |more: &str| {
            let who = if decisions.is_empty() {
                "the proxy itself, tokengate not asked".to_owned()
            } else {
                format!("tokengate: {}", judged.join("; "))
            };
            format!("{} ({who}){more}", r.status)
        };
        if served.len() > 1 || decisions.len() > 1 {
            return Err(account(&format!(
                ": {} decisions, {} upstream requests",
                decisions.len(),
                served.len()
            )));
        }
        let Some(seen) = served.first() else {
            if decisions.iter().any(|(_, d)| d.is_allow()) || r.status < 400 {
                return Err(account(": allowed, yet the upstream was not reached"));
            }
            return Ok(account(""));
        };
        let Some((_, d)) = decisions.first().filter(|(_, d)| d.is_allow()) else {
            return Err(account(
                ": the upstream served a request tokengate did not allow",
            ));
        };
        let target = String::from_utf8_lossy(&seen.target).into_owned();
        let (path, _) = crate::request::split_target(&target);
        match checks::check(&seen.method, path, Paths::Strict) {
            Ok(p) if *p == *d.path => {}
            other => {
                return Err(account(&format!(
                    ": the upstream served {} {target:?} (read as {other:?}), tokengate judged {:?}",
                    seen.method, d.path
                )));
            }
        }
        for h in self.claim_headers {
            let set: Vec<String> = d
                .set_headers()
                .filter(|(k, _)| k == h)
                .map(|(_, v)| v.to_owned())
                .collect();
            let got = seen.header(h);
            if got != set {
                return Err(account(&format!(
                    ": the upstream got {h}: {got:?}, tokengate set {set:?}"
                )));
            }
            let twin = h.replace('-', "_");
            if !seen.header(&twin).is_empty() {
                return Err(account(&format!(": the upstream got {twin}")));
            }
        }
        Ok(account(&format!(
            "; upstream served {} {target}",
            seen.method
        )))
    }
}

/// Hostile requests for a proxy walk-through, as raw HTTP/1.1: path forms proxies and servers
/// read differently, a raw non-ASCII target, absolute form, and on every one forged
/// `X-Forwarded-*`, `X-Original-*`, claim headers and (with `twins`) their `_` spellings; plus
/// controls that must be served. `token` has scope `users/read` only.
pub fn forged_probes(token: &str, twins: bool) -> Vec<(String, Vec<u8>)> {
    let auth = super::bearer(token);
    let mut forged: Vec<(&str, &[u8])> = vec![
        ("X-Forwarded-Uri", b"/health"),
        ("X-Forwarded-Method", b"GET"),
        ("X-Original-URI", b"/health"),
        ("X-Original-Method", b"GET"),
        ("X-Forwarded-For", b"203.0.113.9"),
        ("X-Real-IP", b"203.0.113.9"),
        ("x-user-id", b"forged"),
        ("x-user-scopes", b"admin"),
        ("x-user-groups", b"admins"),
        ("x-jwt-payload", b"e30"),
    ];
    if twins {
        forged.push(("x_user_id", b"forged"));
        forged.push(("x_user_groups", b"admins"));
    }
    let targets: &[&[u8]] = &[
        b"/admin/secret?q=\xc3\xa9",
        b"/caf\xc3\xa9",
        b"/static/../admin/x",
        b"/static/%2e%2e/admin/x",
        b"/static/%2E%2E/admin/x",
        b"/%61dmin/x",
        b"//admin/x",
        b"/./admin/x",
        b"/users/7/.",
        b"/users/7/..",
        b"/admin;x=1/y",
        b"/admin\\x",
        b"/admin%2Fx",
        b"/admin%5Cx",
        b"/admin/x#frag",
        b"/static/%252e%252e/admin/x",
        b"http://h/admin/x",
        b"/users/7",
        b"/users/john%40example.com",
        b"/users/%7E7",
        b"/users/7?next=../../admin;x=%2F",
        b"/health",
        b"/static/a.css",
    ];
    let mut out = Vec::new();
    for t in targets {
        for with_token in [true, false] {
            let mut headers = forged.clone();
            if with_token {
                headers.insert(0, ("Authorization", auth.as_bytes()));
            }
            let name = format!(
                "{}{}",
                String::from_utf8_lossy(t).escape_debug(),
                if with_token { "" } else { " (no token)" }
            );
            out.push((name, super::raw_request("GET", t, &headers)));
        }
    }
    out
}
