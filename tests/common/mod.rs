//! Test harness: keys and tokens made at run time, a JWKS server the test controls on
//! `127.0.0.1:0`, and the real tokengate server on loopback with a real gRPC client.

#![allow(dead_code)]
// Test scaffolding: a failed set-up step should panic loudly.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokengate::config::Config;
use tokengate::dev::Signer;
use tokengate::jwt::Alg;
use tokengate::pb::auth::attribute_context::{HttpRequest, Request as AttrRequest};
use tokengate::pb::auth::authorization_client::AuthorizationClient;
use tokengate::pb::auth::{AttributeContext, CheckRequest, CheckResponse};
use tokengate::state::State;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// How the test JWKS server answers.
#[derive(Clone, Debug)]
pub enum Mode {
    Keys,
    Status(u16),
    Body(String),
    /// Raw bytes, sent as `application/octet-stream`.
    Bytes(Vec<u8>),
    Slow(Duration),
    /// `302 Found` to this location (absolute, or a path on this server such as
    /// `/.well-known/jwks.json` itself, or `/bounce`, which sends the client back here).
    Redirect(String),
    /// A 200 whose body is this many bytes, streamed in 64 KiB chunks without a
    /// `content-length`, so the reader cannot refuse it up front.
    Huge(usize),
    /// A 200 whose streamed body never ends.
    Endless,
}

struct Jwks {
    /// The OIDC discovery document, when the issuer publishes one.
    discovery: Mutex<Option<Value>>,
    /// The published keys, with a generation bumped by every `set_keys`.
    keys: Mutex<(u64, Vec<Value>)>,
    mode: Mutex<Mode>,
    hits: AtomicUsize,
    /// Requests to the discovered URL, `/keys/other.json`.
    other_hits: AtomicUsize,
    /// Requests to `/bounce` and `/hop/{n}`.
    redirect_hits: AtomicUsize,
    /// The key generation of every key set served, in order.
    served: Mutex<Vec<u64>>,
}

/// A JWKS endpoint at `{url}/.well-known/jwks.json`, also its issuer's OIDC discovery.
#[derive(Clone)]
pub struct JwksServer {
    pub url: String,
    inner: Arc<Jwks>,
}

impl JwksServer {
    pub async fn start(keys: &[&Signer]) -> JwksServer {
        JwksServer::start_at("127.0.0.1:0".parse().unwrap(), keys).await
    }

    /// Starts on a given address: a test can configure an issuer that is down, then bring it
    /// up at that address.
    pub async fn start_at(addr: SocketAddr, keys: &[&Signer]) -> JwksServer {
        let inner = Arc::new(Jwks {
            discovery: Mutex::new(None),
            keys: Mutex::new((0, keys.iter().map(|s| s.jwk()).collect())),
            mode: Mutex::new(Mode::Keys),
            hits: AtomicUsize::new(0),
            other_hits: AtomicUsize::new(0),
            redirect_hits: AtomicUsize::new(0),
            served: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/.well-known/jwks.json", get(jwks))
            .route("/keys/other.json", get(other_jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/bounce", get(bounce))
            .route("/hop/{n}", get(hop))
            .with_state(inner.clone());
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        JwksServer {
            url: format!("http://{addr}"),
            inner,
        }
    }

    /// Publishes exactly these keys, as a new generation.
    pub fn set_keys(&self, keys: &[&Signer]) {
        self.set_raw_keys(keys.iter().map(|s| s.jwk()).collect());
    }

    pub fn set_raw_keys(&self, keys: Vec<Value>) {
        let mut published = self.inner.keys.lock().unwrap();
        published.0 += 1;
        published.1 = keys;
    }

    /// The generation of the published keys: 0 at start, one more per `set_keys`.
    pub fn generation(&self) -> u64 {
        self.inner.keys.lock().unwrap().0
    }

    /// How many times a key set of generation `generation` or later was served.
    pub fn serves_since(&self, generation: u64) -> usize {
        let served = self.inner.served.lock().unwrap();
        served.iter().filter(|g| **g >= generation).count()
    }

    /// Requests to the redirecting paths, `/bounce` and `/hop/{n}`.
    pub fn redirect_hits(&self) -> usize {
        self.inner.redirect_hits.load(Ordering::SeqCst)
    }

    /// Publishes OIDC discovery pointing at `{url}/keys/other.json`.
    pub fn publish_discovery(&self) {
        let doc = json!({"issuer": self.url, "jwks_uri": format!("{}/keys/other.json", self.url)});
        *self.inner.discovery.lock().unwrap() = Some(doc);
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.inner.mode.lock().unwrap() = mode;
    }

    /// Requests to the URL that discovery points at.
    pub fn other_hits(&self) -> usize {
        self.inner.other_hits.load(Ordering::SeqCst)
    }

    /// JWKS requests served so far.
    pub fn hits(&self) -> usize {
        self.inner.hits.load(Ordering::SeqCst)
    }
}

async fn discovery(Extract(j): Extract<Arc<Jwks>>) -> Response {
    match j.discovery.lock().unwrap().clone() {
        Some(doc) => axum::Json(doc).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn other_jwks(state: Extract<Arc<Jwks>>) -> Response {
    state.0.other_hits.fetch_add(1, Ordering::SeqCst);
    jwks(state).await
}

async fn jwks(Extract(j): Extract<Arc<Jwks>>) -> Response {
    j.hits.fetch_add(1, Ordering::SeqCst);
    let mode = j.mode.lock().unwrap().clone();
    match mode {
        Mode::Keys => serve_keys(&j),
        Mode::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Mode::Body(body) => body.into_response(),
        Mode::Bytes(bytes) => bytes.into_response(),
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            serve_keys(&j)
        }
        Mode::Redirect(to) => redirect(&to),
        Mode::Huge(len) => {
            const CHUNK: usize = 64 * 1024;
            let chunks = (0..len.div_ceil(CHUNK)).map(move |i| {
                let n = CHUNK.min(len - i * CHUNK);
                Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(vec![b' '; n]))
            });
            streamed(tokio_stream::iter(chunks))
        }
        Mode::Endless => {
            let chunk = axum::body::Bytes::from(vec![b' '; 64 * 1024]);
            let chunks = std::iter::repeat_with(move || Ok(chunk.clone()));
            streamed(tokio_stream::iter(chunks))
        }
    }
}

fn serve_keys(j: &Jwks) -> Response {
    let (generation, keys) = j.keys.lock().unwrap().clone();
    j.served.lock().unwrap().push(generation);
    axum::Json(json!({ "keys": keys })).into_response()
}

fn streamed<S>(chunks: S) -> Response
where
    S: tokio_stream::Stream<Item = Result<axum::body::Bytes, std::convert::Infallible>>
        + Send
        + 'static,
{
    Response::builder()
        .header("content-type", "application/json")
        .body(axum::body::Body::from_stream(chunks))
        .unwrap()
}

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [("location", to.to_owned())]).into_response()
}

/// Always back to the JWKS path: with `Mode::Redirect("/bounce")` a loop of two URLs.
async fn bounce(Extract(j): Extract<Arc<Jwks>>) -> Response {
    j.redirect_hits.fetch_add(1, Ordering::SeqCst);
    redirect("/.well-known/jwks.json")
}

/// `/hop/{n}` redirects to `/hop/{n-1}`; `/hop/0` serves the keys: a chain of `n` redirects.
async fn hop(
    Extract(j): Extract<Arc<Jwks>>,
    axum::extract::Path(n): axum::extract::Path<u32>,
) -> Response {
    j.redirect_hits.fetch_add(1, Ordering::SeqCst);
    match n {
        0 => serve_keys(&j),
        n => redirect(&format!("/hop/{}", n - 1)),
    }
}

pub fn signer(alg: Alg, kid: &str) -> Signer {
    Signer::generate(alg, kid).unwrap()
}

pub fn now() -> f64 {
    tokengate::clock::now().floor()
}

/// Claims valid for an hour from `iss` for audience `aud`.
pub fn claims(iss: &str, aud: &str) -> Value {
    json!({"iss": iss, "aud": aud, "sub": "user-1", "exp": now() + 3600.0, "iat": now() - 10.0})
}

/// A running tokengate on loopback.
pub struct Tokengate {
    pub state: Arc<State>,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub admin: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl Tokengate {
    /// Starts the real server with `yaml` (listen addresses are replaced by `127.0.0.1:0`).
    pub async fn start(yaml: &str) -> Tokengate {
        let mut config = Config::parse(yaml).unwrap_or_else(|e| panic!("{e}"));
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        config.listen.grpc = any;
        config.listen.http = any;
        config.listen.admin = any;
        let listeners = tokengate::server::Listeners::bind(&config.listen)
            .await
            .unwrap();
        let (grpc, http, admin) = listeners.addrs().unwrap();
        let state = State::new(config, tokengate::jwks::Fetcher::new().unwrap());
        let metrics = tokengate::metrics::install();
        let (tx, rx) = oneshot::channel::<()>();
        let run_state = state.clone();
        let done = tokio::spawn(async move {
            tokengate::server::run(run_state, listeners, metrics, None, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Tokengate {
            state,
            grpc,
            http,
            admin,
            stop: Some(tx),
            done: Some(done),
        }
    }

    /// Waits until every authorizer has keys.
    pub async fn ready(self) -> Tokengate {
        for _ in 0..500 {
            if self.state.snapshot().is_ready() {
                return self;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("tokengate did not load keys in 5 s");
    }

    pub async fn client(&self) -> AuthorizationClient<Channel> {
        AuthorizationClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap()
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(done) = self.done.take() {
            done.await.unwrap();
        }
    }
}

/// A `CheckRequest` as Envoy sends it.
pub fn check_request(method: &str, path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    check_request_with(method, path, headers, &[])
}

pub fn check_request_with(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    context: &[(&str, &str)],
) -> CheckRequest {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
        .collect();
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(AttrRequest {
                http: Some(HttpRequest {
                    method: method.to_owned(),
                    path: path.to_owned(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            context_extensions: context
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        }),
    }
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// What a `CheckResponse` says, flattened for assertions.
#[derive(Debug)]
pub struct Verdict {
    pub grpc_code: i32,
    pub http_status: Option<i32>,
    pub body: String,
    pub denied_headers: HashMap<String, String>,
    pub set: HashMap<String, String>,
    /// `append_action` of each set header.
    pub actions: HashMap<String, i32>,
    pub removed: Vec<String>,
    pub metadata: Option<prost_types::Struct>,
}

pub fn verdict(resp: CheckResponse) -> Verdict {
    use tokengate::pb::auth::check_response::HttpResponse;
    let grpc_code = resp.status.as_ref().map_or(-1, |s| s.code);
    let mut v = Verdict {
        grpc_code,
        http_status: None,
        body: String::new(),
        denied_headers: HashMap::new(),
        set: HashMap::new(),
        actions: HashMap::new(),
        removed: Vec::new(),
        metadata: resp.dynamic_metadata,
    };
    match resp.http_response {
        Some(HttpResponse::DeniedResponse(d)) => {
            v.http_status = d.status.map(|s| s.code);
            v.body = d.body;
            for h in d.headers {
                let hv = h.header.unwrap();
                v.denied_headers.insert(hv.key, hv.value);
            }
        }
        Some(HttpResponse::OkResponse(ok)) => {
            for h in ok.headers {
                let hv = h.header.unwrap();
                v.actions.insert(hv.key.clone(), h.append_action);
                v.set.insert(hv.key, hv.value);
            }
            v.removed = ok.headers_to_remove;
        }
        None => {}
    }
    v
}

/// Sends one check and flattens the answer; the RPC itself must succeed.
pub async fn check(client: &mut AuthorizationClient<Channel>, req: CheckRequest) -> Verdict {
    verdict(
        client
            .check(req)
            .await
            .expect("Check RPC succeeds")
            .into_inner(),
    )
}

/// Decides a request through the core directly (no sockets but the JWKS server's).
pub async fn decide(
    state: &State,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> tokengate::decision::Decision {
    decide_with(state, method, path, headers, None).await
}

pub async fn decide_with(
    state: &State,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    context: Option<&HashMap<String, String>>,
) -> tokengate::decision::Decision {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
        .collect();
    let req = tokengate::gate::Request {
        method,
        path,
        headers: &headers,
        context,
    };
    tokengate::gate::check(state, &req, tokengate::clock::now()).await
}

/// The reason the core gives for a bearer token on `GET path`.
pub async fn reason_for(state: &State, path: &str, token: &str) -> tokengate::decision::Reason {
    decide(state, "GET", path, &[("authorization", &bearer(token))])
        .await
        .reason
}

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
        assert!(
            std::env::var_os("TOKENGATE_REQUIRE_TOOLS").is_none(),
            "{name} is required (TOKENGATE_REQUIRE_TOOLS is set) but not installed"
        );
        eprintln!("skipping: {name} is not installed");
    }
    found
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

/// The admin listener's `/metrics` page.
pub async fn metrics_page(admin: SocketAddr) -> String {
    reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
