//! A JWKS endpoint the test controls, on `127.0.0.1:0`: it can publish, rotate, fail, hang,
//! redirect, or answer with too much, and counts what it served.

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
use tokio::net::TcpListener;

use crate::jwt::Signer;

/// How the test JWKS server answers.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Serves the published keys.
    Keys,
    /// Answers with this status and no body.
    Status(u16),
    /// A 200 with this body as text.
    Body(String),
    /// Raw bytes, sent as `application/octet-stream`.
    Bytes(Vec<u8>),
    /// Serves the keys after this delay.
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
    /// The issuer URL: the JWKS is at `{url}/.well-known/jwks.json`.
    pub url: String,
    inner: Arc<Jwks>,
}

impl JwksServer {
    /// Starts on `127.0.0.1:0`, publishing `keys`.
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

    /// Publishes these JWKs as given (malformed ones too), as a new generation.
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

    /// How the JWKS path answers from now on.
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
            // Real time: a slow issuer, as the fetcher's timeout sees it.
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
