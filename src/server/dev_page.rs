//! `serve --dev`'s page for the walk-through in a browser, on the admin listener (its own
//! origin): it gets a token from the development issuer and calls the HTTP authorizer
//! cross-origin, showing the 401, 200 and 403 of the curl walk-through. One static file, no
//! external assets. And the CORS answer a real app would give on what tokengate allows, which
//! `--dev` adds since no app stands behind the authorizer there.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{Html, Response};
use axum::routing::get;
use serde_json::json;

use crate::config::Cors;
use crate::cors;

/// What the page is told: where the issuer and the authorizer are, and the client.
pub struct Page {
    /// The issuer's token endpoint.
    pub token_endpoint: String,
    /// The HTTP authorizer's base URL (`http://127.0.0.1:9192`).
    pub api: String,
    /// The development client.
    pub client_id: String,
    /// Its secret (printed at start anyway).
    pub client_secret: String,
}

/// `GET /` on the admin listener: the page.
pub fn router(page: &Page) -> Router {
    let dev = json!({
        "token_endpoint": page.token_endpoint,
        "api": page.api,
        "client_id": page.client_id,
        "client_secret": page.client_secret,
    })
    .to_string()
    // Inside <script>, a `</` could end the element.
    .replace("</", "<\\/");
    let html: Arc<str> = include_str!("dev_page.html")
        .replace("__DEV__", &dev)
        .into();
    Router::new().route("/", get(move || async move { Html(html.to_string()) }))
}

/// `app` answering CORS for `cors`'s origins on every response that does not carry its own
/// (tokengate's denials do): `Vary: Origin`, the allowed origin, and for a preflight the
/// method and headers it asked for.
pub fn answer_cors(app: Router, cors: Cors) -> Router {
    app.layer(middleware::from_fn_with_state(Arc::new(cors), answer))
}

async fn answer(State(cors): State<Arc<Cors>>, req: Request, next: Next) -> Response {
    let mut add: Vec<(HeaderName, HeaderValue)> = Vec::new();
    for (name, value) in cors::denial_headers(&cors, req.headers()) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            add.push((HeaderName::from_static(name), v));
        }
    }
    let allowed = add
        .iter()
        .any(|(n, _)| n == header::ACCESS_CONTROL_ALLOW_ORIGIN);
    if allowed && cors::is_preflight(req.method().as_str(), req.headers()) {
        for (asked, allow) in [
            (
                header::ACCESS_CONTROL_REQUEST_METHOD,
                header::ACCESS_CONTROL_ALLOW_METHODS,
            ),
            (
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                header::ACCESS_CONTROL_ALLOW_HEADERS,
            ),
        ] {
            if let Some(v) = req.headers().get(asked) {
                add.push((allow, v.clone()));
            }
        }
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // A response with its own CORS answer keeps it: two Allow-Origin values fail the check.
    if h.contains_key(header::VARY) || h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        return resp;
    }
    for (name, value) in add {
        h.insert(name, value);
    }
    resp
}
