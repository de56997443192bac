//! The development issuer's endpoints (`serve --dev` only), on the admin listener: OIDC
//! discovery, its JWKS, and a client-credentials token endpoint issuing Cognito-shaped tokens.

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

use crate::clock;
use crate::jwt::Signer;

/// The development client's id; its secret is random per run.
pub const CLIENT_ID: &str = "dev-client";
/// Seconds a development token lives.
pub const TOKEN_LIFETIME: u64 = 3600;

/// The issuer's state: its key and client secret.
pub struct Issuer {
    /// The issuer URL its tokens carry in `iss` (the admin listener).
    pub url: String,
    /// The client secret printed at start, asked of `/oauth2/token` callers.
    pub secret: String,
    /// The key its tokens are signed with.
    pub signer: Signer,
}

/// The issuer's endpoints, merged into the admin listener.
pub fn router(issuer: Arc<Issuer>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/jwks.json", get(jwks_doc))
        // A browser's preflight for a token request with Basic credentials; the CORS headers
        // come from the layer `serve --dev` puts around these routes.
        .route(
            "/oauth2/token",
            post(token).options(|| async { StatusCode::NO_CONTENT }),
        )
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
    /// Space- or comma-separated group names, as Cognito's `cognito:groups` claim.
    groups: Option<String>,
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
    if let Some(groups) = form.groups {
        let groups: Vec<&str> = groups.split([' ', ',']).filter(|g| !g.is_empty()).collect();
        if !groups.is_empty() {
            claims["cognito:groups"] = json!(groups);
        }
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
