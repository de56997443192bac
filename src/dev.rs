//! `serve --dev`: a development OIDC issuer on the admin listener, and an authorizer that
//! trusts it, so tokengate can be tried with no identity provider. Never on without `--dev`.

pub mod signer;

use std::sync::Arc;

use axum::extract::State as Extract;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::json;

pub use signer::Signer;

use crate::config::{self, Config};
use crate::jwt::Alg;
use crate::{clock, jwks, server, signal, state};

/// The development client's id; its secret is random per run.
pub const CLIENT_ID: &str = "dev-client";
const TOKEN_LIFETIME: u64 = 3600;

/// The issuer's state: its key and client secret.
pub struct Issuer {
    pub url: String,
    pub secret: String,
    pub signer: Signer,
}

/// The routes and authorizer `--dev` runs with.
pub fn config(issuer: &str) -> Result<Config, config::Error> {
    Config::parse(&format!(
        r#"
authorizers:
  dev:
    issuer: "{issuer}"
    audience: [{CLIENT_ID}]
    token_use: access
    claims_to_headers: {{sub: x-user-id, scope: x-user-scopes}}
routes:
  "GET /health": {{public: true}}
  "ANY /admin/{{proxy+}}": {{authorizer: dev, scopes: [admin]}}
  "$default": {{authorizer: dev}}
"#
    ))
}

/// The issuer's endpoints, merged into the admin listener.
pub fn router(issuer: Arc<Issuer>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/jwks.json", get(jwks_doc))
        .route("/oauth2/token", post(token))
        .with_state(issuer)
}

async fn discovery(Extract(issuer): Extract<Arc<Issuer>>) -> Json<serde_json::Value> {
    Json(json!({
        "issuer": issuer.url,
        "jwks_uri": format!("{}/.well-known/jwks.json", issuer.url),
        "token_endpoint": format!("{}/oauth2/token", issuer.url),
        "grant_types_supported": ["client_credentials"],
        "id_token_signing_alg_values_supported": [issuer.signer.alg.as_str()],
    }))
}

async fn jwks_doc(Extract(issuer): Extract<Arc<Issuer>>) -> Json<serde_json::Value> {
    Json(json!({"keys": [issuer.signer.jwk()]}))
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

/// The client-credentials grant, answered with a Cognito-shaped access token.
async fn token(
    Extract(issuer): Extract<Arc<Issuer>>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let error =
        |status: StatusCode, code: &str| (status, Json(json!({"error": code}))).into_response();
    let (id, secret) = basic_auth(&headers).unwrap_or((
        form.client_id.clone().unwrap_or_default(),
        form.client_secret.clone().unwrap_or_default(),
    ));
    if id != CLIENT_ID || secret != issuer.secret {
        return error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if form.grant_type.as_deref() != Some("client_credentials") {
        return error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    // Whole seconds, as Cognito issues them.
    let now = clock::now() as u64;
    let mut jti = [0u8; 12];
    if aws_lc_rs::rand::fill(&mut jti).is_err() {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "server_error");
    }
    let mut claims = json!({
        "sub": CLIENT_ID,
        "iss": issuer.url,
        "client_id": CLIENT_ID,
        "token_use": "access",
        "auth_time": now,
        "iat": now,
        "exp": now + TOKEN_LIFETIME,
        "jti": URL_SAFE_NO_PAD.encode(jti),
        "version": 2,
    });
    if let Some(scope) = form.scope.filter(|s| !s.trim().is_empty()) {
        claims["scope"] = json!(scope.trim());
    }
    Json(json!({
        "access_token": issuer.signer.sign(&claims),
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME,
    }))
    .into_response()
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// The development issuer's URL: the default admin listener.
pub fn issuer_url() -> String {
    format!("http://{}", config::Listen::default().admin)
}

/// Runs tokengate with the development issuer until SIGTERM/SIGINT.
pub async fn serve() -> anyhow::Result<()> {
    let url = issuer_url();
    let mut secret = [0u8; 18];
    aws_lc_rs::rand::fill(&mut secret).map_err(|_| anyhow::anyhow!("no randomness"))?;
    let issuer = Arc::new(Issuer {
        url: url.clone(),
        secret: URL_SAFE_NO_PAD.encode(secret),
        signer: Signer::generate(Alg::RS256, "dev-key-1")
            .map_err(|_| anyhow::anyhow!("cannot generate the development key"))?,
    });
    let config = config(&url)?;
    let metrics = crate::metrics::install();
    let listeners = server::Listeners::bind(&config.listen).await?;
    let (grpc, http, admin) = listeners.addrs()?;
    let state = state::State::new(config, jwks::Fetcher::new()?);
    tracing::warn!(
        "development mode: tokens from the built-in issuer are trusted; never use this in production"
    );
    println!("{}", instructions(&issuer, http, grpc, admin));
    server::run(
        state,
        listeners,
        metrics,
        Some(router(issuer)),
        signal::shutdown(),
    )
    .await?;
    Ok(())
}

/// The copy-paste walk-through printed at start.
pub fn instructions(
    issuer: &Issuer,
    http: std::net::SocketAddr,
    grpc: std::net::SocketAddr,
    admin: std::net::SocketAddr,
) -> String {
    let secret = &issuer.secret;
    let url = &issuer.url;
    format!(
        r#"tokengate --dev: development issuer {url} (client_id {CLIENT_ID}, client_secret {secret})
  HTTP authorizer http://{http}   gRPC ext_authz {grpc}   admin http://{admin}/metrics
Routes: GET /health is public; ANY /admin/{{proxy+}} needs scope admin; everything else needs a token.

# 1. No token: 401 {{"message":"Unauthorized"}}
curl -i http://{http}/hello
# 2. Get a token (client-credentials grant, scope read)
TOKEN=$(curl -s -u {CLIENT_ID}:{secret} -d grant_type=client_credentials -d scope=read {url}/oauth2/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
# 3. With the token: 200, and x-user-id for the upstream
curl -i -H "Authorization: Bearer $TOKEN" http://{http}/hello
# 4. Without the admin scope: 403 {{"message":"Forbidden"}}
curl -i -H "Authorization: Bearer $TOKEN" http://{http}/admin/users
# 5. A token with scope admin: 200
ADMIN=$(curl -s -u {CLIENT_ID}:{secret} -d grant_type=client_credentials -d scope=admin {url}/oauth2/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
curl -i -H "Authorization: Bearer $ADMIN" http://{http}/admin/users
"#
    )
}
