//! Browsers, end to end in a real headless chromium: a page on origin A calls an API on origin
//! B — real nginx, real Envoy over gRPC and real Envoy in HTTP mode, each running what
//! `tokengate proxy-config` prints for a config with `cors`, tokengate behind, and an app that
//! answers CORS for its own responses. The page's script reads the 401 (JSON body and
//! `WWW-Authenticate`), the 200 after a preflight tokengate let through, and the 403 for a
//! missing scope; the same page on an origin not allowed gets network errors. And the
//! `serve --dev` page, walked the same way, with a screenshot.

// Set-up of external processes: a failed step should panic loudly.
#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use common::browser::{self, Page};
use common::*;
use serde_json::{Value, json};
use tokengate::jwt::Alg;
use tokengate::reason::Reason;

const BIN: &str = env!("CARGO_BIN_EXE_tokengate");

/// One chromium at a time: the machine has two cores, and Envoy or nginx runs beside it.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The page on origins A and C: three calls to the API at `?b=`, each outcome read as the
/// script sees it, written as JSON into `<pre id="result">` (`<`, `>`, `&` escaped, so the
/// serialized DOM holds the JSON as written).
const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>running</title></head>
<body><pre id="result"></pre>
<script>
const q = new URLSearchParams(location.search);
const api = q.get("b"), token = q.get("t");
async function call(path, auth) {
  const init = auth ? {headers: {Authorization: "Bearer " + auth}} : {};
  try {
    const r = await fetch(api + path, init);
    return {status: r.status, www: r.headers.get("www-authenticate"), body: await r.text()};
  } catch (e) {
    return {error: e.name};
  }
}
(async () => {
  const out = {};
  out.no_token = await call("/hello", null);
  out.token = await call("/hello", token);
  out.no_scope = await call("/admin/users", token);
  document.getElementById("result").textContent = JSON.stringify(out)
    .replace(/[<>&]/g, c => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  document.title = "done";
})();
</script></body></html>
"#;

/// Serves [`PAGE`] on a new loopback port; returns its origin.
async fn page_origin() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(|| async { Html(PAGE) });
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// The app behind the proxy: it answers CORS itself for origin `allowed` — preflights (204
/// with the methods and headers asked) and its own 200s — and records the methods it served.
#[derive(Clone)]
struct App {
    allowed: String,
    served: Arc<Mutex<Vec<String>>>,
}

impl App {
    async fn start(allowed: &str) -> (App, SocketAddr) {
        let app = App {
            allowed: allowed.to_owned(),
            served: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().fallback(answer).with_state(app.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (app, addr)
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.served.lock().unwrap())
    }
}

async fn answer(
    State(app): State<App>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    app.served
        .lock()
        .unwrap()
        .push(format!("{method} {}", uri.path()));
    let mut out = HeaderMap::new();
    out.insert("vary", HeaderValue::from_static("Origin"));
    let allowed = headers
        .get("origin")
        .is_some_and(|o| o.as_bytes() == app.allowed.as_bytes());
    if allowed {
        out.insert(
            "access-control-allow-origin",
            HeaderValue::from_str(&app.allowed).unwrap(),
        );
    }
    if method == Method::OPTIONS {
        if allowed {
            for (asked, allow) in [
                (
                    "access-control-request-method",
                    "access-control-allow-methods",
                ),
                (
                    "access-control-request-headers",
                    "access-control-allow-headers",
                ),
            ] {
                if let Some(v) = headers.get(asked) {
                    out.insert(allow, v.clone());
                }
            }
        }
        return (StatusCode::NO_CONTENT, out).into_response();
    }
    let user = headers
        .get("x-user-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    (out, json!({"user": user}).to_string()).into_response()
}

fn config(iss: &str, origin: &str) -> String {
    format!(
        r#"
http: {{original_request: auto, path_prefix: /authz}}
cors: {{allow_origins: ["{origin}"], expose_headers: [www-authenticate]}}
authorizers:
  main:
    issuer: "{iss}"
    audience: [api]
    claims_to_headers: {{sub: x-user-id}}
routes:
  "ANY /admin/{{proxy+}}": {{authorizer: main, scopes: [admin]}}
  "$default": {{authorizer: main}}
"#
    )
}

/// Loads `url` in chromium (one at a time) and parses what the page wrote.
async fn run_page(chromium: PathBuf, url: String, shot: Option<PathBuf>) -> (Page, Value) {
    let _one = BROWSER.lock().await;
    let page = tokio::task::spawn_blocking(move || browser::load(&chromium, &url, shot.as_deref()))
        .await
        .unwrap();
    let result = page
        .text("pre", "result")
        .unwrap_or_else(|| panic!("no result in the page:\n{}", page.dom));
    let value =
        serde_json::from_str(result).unwrap_or_else(|e| panic!("{e}: {result}\n{}", page.dom));
    (page, value)
}

/// The walk-through against one proxy: `proxy` starts it from `proxy-config TARGET` in front
/// of the app and returns it with its address.
async fn walk(target: &str, tool_name: &str) {
    let Some(chromium) = tool("chromium") else {
        return;
    };
    let Some(proxy_bin) = tool(tool_name) else {
        return;
    };
    let (a, c) = (page_origin().await, page_origin().await);
    let k = signer(Alg::ES256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let yaml = config(&jwks.url, &a);
    let (tg, decisions) = Tokengate::start_tapped(&yaml).await;
    let tg = tg.ready().await;
    let (app, app_addr) = App::start(&a).await;
    let dir = std::env::temp_dir().join(format!(
        "tokengate-browser-{target}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let listen = format!(
        "listen: {{grpc: \"{}\", http: \"{}\", admin: \"{}\"}}\n",
        tg.grpc, tg.http, tg.admin
    );
    let generated = proxy_config(BIN, &dir, &format!("{listen}{yaml}"), target);
    let (mut proxy, addr) = if target == "nginx" {
        start_nginx(&proxy_bin, &dir, &generated, app_addr).await
    } else {
        start_envoy(&proxy_bin, &dir, target, &generated, app_addr).await
    };
    let api = format!("http://{addr}");
    let token = k.sign(&claims(&jwks.url, "api"));
    let url = |origin: &str| format!("{origin}/?b={api}&t={token}");

    // Origin A, allowed.
    let (_, got) = run_page(chromium.clone(), url(&a), None).await;
    assert_eq!(
        got["no_token"],
        json!({"status": 401, "www": "Bearer", "body": r#"{"message":"Unauthorized"}"#}),
        "{target}: {got}"
    );
    assert_eq!(
        got["token"],
        json!({"status": 200, "www": null, "body": r#"{"user":"user-1"}"#}),
        "{target}: {got}"
    );
    assert_eq!(
        got["no_scope"],
        json!({
            "status": 403,
            "www": r#"Bearer error="insufficient_scope", scope="admin""#,
            "body": r#"{"message":"Forbidden"}"#
        }),
        "{target}: {got}"
    );
    let reasons: Vec<String> = decisions
        .take()
        .iter()
        .map(|(_, d)| format!("{} {}", d.reason.as_str(), d.path))
        .collect();
    // The browser's preflights went through tokengate without a token, then to the app.
    for path in ["/hello", "/admin/users"] {
        let preflight = format!("{} {path}", Reason::Preflight.as_str());
        assert!(reasons.contains(&preflight), "{target}: {reasons:?}");
    }
    let served = app.take();
    assert_eq!(
        served,
        ["OPTIONS /hello", "GET /hello", "OPTIONS /admin/users"],
        "{target}: the app served the preflights and the one allowed call"
    );

    // Origin C, not allowed: the browser hands the script nothing but a network error, though
    // the preflight was let through (the app does not allow C).
    let (_, got) = run_page(chromium, url(&c), None).await;
    for call in ["no_token", "token", "no_scope"] {
        assert_eq!(got[call], json!({"error": "TypeError"}), "{target}: {got}");
    }
    assert!(
        decisions
            .take()
            .iter()
            .all(|(_, d)| d.reason != Reason::Verified),
        "{target}: no credentialed call followed a failed preflight"
    );

    proxy.stop();
    tg.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_page_reads_denials_through_nginx() {
    walk("nginx", "nginx").await;
}

#[tokio::test]
async fn a_page_reads_denials_through_envoy_over_grpc() {
    walk("envoy-grpc", "envoy").await;
}

#[tokio::test]
async fn a_page_reads_denials_through_envoy_in_http_mode() {
    walk("envoy-http", "envoy").await;
}

#[tokio::test]
async fn the_dev_page_walks_401_200_403_in_a_browser() {
    use std::io::BufRead;
    let Some(chromium) = tool("chromium") else {
        return;
    };
    // `--dev` uses the default ports; skip politely if something else holds them.
    for port in [9090, 9191, 9192] {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            skip(&format!("default port {port} is busy"));
            return;
        }
    }
    let mut dev = Process::spawn(
        std::process::Command::new(BIN)
            .args(["serve", "--dev"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null()),
        "TERM",
    )
    .unwrap();
    let mut out = std::io::BufReader::new(dev.child().stdout.take().unwrap());
    let mut url = None;
    for _ in 0..20 {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.trim().strip_prefix("In a browser: ") {
            url = rest.split(' ').next().map(str::to_owned);
            break;
        }
    }
    let url = url.expect("the walk-through names the page");
    assert_eq!(url, "http://127.0.0.1:9090/");
    let http = reqwest::Client::new();
    eventually(
        std::time::Duration::from_secs(10),
        "--dev is ready",
        || async {
            http.get("http://127.0.0.1:9090/readyz")
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(drop)
        },
    )
    .await;

    let shot = browser::output_dir(env!("CARGO_TARGET_TMPDIR")).join("dev-page.png");
    std::fs::remove_file(&shot).ok();
    let (page, got) = run_page(chromium.clone(), url, Some(shot.clone())).await;
    walked(&page, &got);
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(browser::png_size(&png), Some((900, 700)));
    assert!(
        png.len() > 10_000,
        "a page, not a blank: {} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());

    // Opened as localhost, the page's origin is not the issuer's: the token endpoint answers
    // it cross-origin too, and the authorizer allows that name.
    let (page, got) = run_page(chromium, "http://localhost:9090/".into(), None).await;
    walked(&page, &got);

    assert!(dev.stop().success(), "SIGTERM: drain and exit 0");
}

/// The `--dev` page's three outcomes, as the script read them and as the page shows them.
fn walked(page: &Page, got: &Value) {
    assert!(
        page.dom.contains("<title>tokengate --dev: done</title>"),
        "{}",
        page.dom
    );
    let denied = |status: u16, www: &str, body: &str| json!({"status": status, "www": www, "user": null, "body": body});
    assert_eq!(
        got["unauthorized"],
        denied(401, "Bearer", r#"{"message":"Unauthorized"}"#),
        "{got}"
    );
    assert_eq!(
        got["allowed"],
        json!({"status": 200, "www": null, "user": "dev-client", "body": ""}),
        "{got}"
    );
    assert_eq!(
        got["forbidden"],
        denied(
            403,
            r#"Bearer error="insufficient_scope", scope="admin""#,
            r#"{"message":"Forbidden"}"#
        ),
        "{got}"
    );
    // What a person sees: one row per step with its status.
    for (row, status) in [("unauthorized", 401), ("allowed", 200), ("forbidden", 403)] {
        let start = page
            .dom
            .find(&format!("<tr id=\"step-{row}\">"))
            .unwrap_or_else(|| panic!("row {row}"));
        let cells = &page.dom[start..start + page.dom[start..].find("</tr>").unwrap()];
        assert!(cells.contains(&format!(">{status}</td>")), "{cells}");
    }
}
