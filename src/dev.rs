//! `serve --dev`: a development OIDC issuer on the admin listener, and an authorizer that
//! trusts it, so tokengate can be tried with no identity provider — with curl, or in a browser
//! from the page on the admin listener. Never on without `--dev`.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::config::{self, Config};
use crate::jwt::Alg;
use crate::jwt::Signer;
use crate::server::{self, dev_issuer, dev_page};
use crate::signal;
pub use dev_issuer::{CLIENT_ID, Issuer};

/// The routes and authorizer `--dev` runs with; `revoked` is its revocation list file.
pub fn config(issuer: &str, revoked: Option<&Path>) -> Result<Config, config::Error> {
    let revocation = revoked.map_or_else(String::new, |file| {
        format!(
            "revocation: {{file: {:?}, refresh: 1s}}\n",
            file.display().to_string()
        )
    });
    // The page on the admin listener (the issuer's origin, under either loopback name) calls
    // the HTTP authorizer from there, and reads the x-user-id of what it allows.
    let mut origins = vec![issuer.to_owned()];
    let by_name = issuer.replace("://127.0.0.1:", "://localhost:");
    if by_name != issuer {
        origins.push(by_name);
    }
    let cors = format!(
        "cors: {{allow_origins: {}, expose_headers: [www-authenticate, x-user-id]}}\n",
        serde_json::Value::from(origins)
    );
    Config::parse(&format!(
        r#"
authorizers:
  dev:
    issuer: "{issuer}"
    audience: [{CLIENT_ID}]
    token_use: access
    claims_to_headers: {{sub: x-user-id, scope: x-user-scopes, "cognito:groups": x-user-groups}}
{revocation}{cors}routes:
  "GET /health": {{public: true}}
  "ANY /admin/{{proxy+}}": {{authorizer: dev, scopes: [admin]}}
  "ANY /ops/{{proxy+}}": {{authorizer: dev, claims: {{"cognito:groups": [ops]}}}}
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
    let dir = std::env::temp_dir().join(format!("tokengate-dev-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let revoked = dir.join("revoked.txt");
    std::fs::write(
        &revoked,
        "# jti, origin_jti or sub values, one `KIND VALUE` a line\n",
    )?;
    let config = config(&url, Some(&revoked))?;
    let page = dev_page::Page {
        token_endpoint: format!("{url}/oauth2/token"),
        api: format!("http://{}", config.listen.http),
        client_id: CLIENT_ID.to_owned(),
        client_secret: issuer.secret.clone(),
    };
    let mut admin = dev_issuer::router(issuer.clone());
    if let Some(cors) = &config.cors {
        admin = dev_page::answer_cors(admin, cors.clone());
    }
    let opts = server::Options {
        extra_admin: Some(admin.merge(dev_page::router(&page))),
        answer_cors: true,
        ..server::Options::new(crate::metrics::install())
    };
    let running = server::start(config, opts).await?;
    let a = running.addrs;
    tracing::warn!(
        "development mode: tokens from the built-in issuer are trusted; never use this in production"
    );
    println!(
        "{}",
        instructions(&issuer, a.http, a.grpc, a.admin, &revoked)
    );
    let served = running.run_until(signal::shutdown()).await;
    let _ = std::fs::remove_dir_all(&dir);
    served?;
    Ok(())
}

/// The copy-paste walk-through printed at start.
pub fn instructions(
    issuer: &Issuer,
    http: std::net::SocketAddr,
    grpc: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    revoked: &Path,
) -> String {
    let secret = &issuer.secret;
    let url = &issuer.url;
    let revoked = revoked.display();
    let token = |params: &str| {
        format!(
            "$(curl -s -u {CLIENT_ID}:{secret} -d grant_type=client_credentials {params} \
             {url}/oauth2/token | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')"
        )
    };
    let (read, admin_token, ops) = (
        token("-d scope=read"),
        token("-d scope=admin"),
        token("-d scope=read -d groups=ops"),
    );
    format!(
        r#"tokengate --dev: development issuer {url} (client_id {CLIENT_ID}, client_secret {secret})
  HTTP authorizer http://{http}   gRPC ext_authz {grpc}   admin http://{admin}/metrics
  In a browser: http://{admin}/ walks steps 1 to 4 from its own origin (cross-origin calls, cors).
Routes: GET /health is public; ANY /admin/{{proxy+}} needs scope admin; ANY /ops/{{proxy+}} needs group ops; everything else needs a token.

# 1. No token: 401 {{"message":"Unauthorized"}}
curl -i http://{http}/hello
# 2. Get a token (client-credentials grant, scope read)
TOKEN={read}
# 3. With the token: 200, and x-user-id for the upstream
curl -i -H "Authorization: Bearer $TOKEN" http://{http}/hello
# 4. Without the admin scope: 403 {{"message":"Forbidden"}}
curl -i -H "Authorization: Bearer $TOKEN" http://{http}/admin/users
# 5. A token with scope admin: 200
ADMIN={admin_token}
curl -i -H "Authorization: Bearer $ADMIN" http://{http}/admin/users
# 6. Group rules (Cognito's cognito:groups): without group ops 403, with it 200
curl -i -H "Authorization: Bearer $TOKEN" http://{http}/ops/deploy
OPS={ops}
curl -i -H "Authorization: Bearer $OPS" http://{http}/ops/deploy
# 7. Revoke the read token: its jti into the revocation file, read within a second: 401
JTI=$(echo "$TOKEN" | cut -d. -f2 | tr '_-' '/+' | base64 -d 2>/dev/null | grep -o '"jti":"[^"]*"' | cut -d'"' -f4)
echo "jti $JTI" >> {revoked}
sleep 2; curl -i -H "Authorization: Bearer $TOKEN" http://{http}/hello
"#
    )
}
