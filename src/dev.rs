//! `serve --dev`: a development OIDC issuer on the admin listener, and an authorizer that
//! trusts it, so tokengate can be tried with no identity provider. Never on without `--dev`.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::config::{self, Config};
use crate::jwt::Alg;
use crate::jwt::Signer;
use crate::server::{self, dev_issuer};
use crate::signal;
pub use dev_issuer::{CLIENT_ID, Issuer};

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
    let opts = server::Options {
        extra_admin: Some(dev_issuer::router(issuer.clone())),
        ..server::Options::new(crate::metrics::install())
    };
    let running = server::start(config, opts).await?;
    let a = running.addrs;
    tracing::warn!(
        "development mode: tokens from the built-in issuer are trusted; never use this in production"
    );
    println!("{}", instructions(&issuer, a.http, a.grpc, a.admin));
    running.run_until(signal::shutdown()).await?;
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
