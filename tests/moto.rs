//! Real Cognito-shaped tokens: moto (`moto_server`, PyPI `moto[server]`) emulates a user pool
//! and issues ID and access tokens with `cognito:groups`, `origin_jti` and the pool's real
//! `https://cognito-idp.REGION.amazonaws.com/POOL` issuer, so tokengate's `user_pool` judges
//! them as it would Cognito's. Keys come from moto's JWKS (`jwks_uri`).

// Test scaffolding: a failed set-up step should panic loudly.
#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use serde_json::{Value, json};

const REGION: &str = "eu-west-3";
const INVALID_TOKEN: Option<&str> = Some(r#"Bearer error="invalid_token""#);

/// A running `moto_server` on a port of its choosing, stopped with SIGTERM on drop.
struct Moto {
    _process: Process,
    base: String,
    http: reqwest::Client,
}

impl Moto {
    fn start(program: &Path) -> Moto {
        let mut process = Process::spawn(
            Command::new(program)
                .args(["-H", "127.0.0.1", "-p", "0"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
            "TERM",
        )
        .expect("start moto_server");
        let stderr = process.child().stderr.take().unwrap();
        let (port_tx, port_rx) = mpsc::channel();
        // moto logs every request on stderr: keep reading it, or a full pipe stalls the server.
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("Running on http://127.0.0.1:").nth(1)
                    && let Some(tx) = port_tx.take()
                {
                    let _ = tx.send(rest.trim().parse::<u16>().ok());
                }
            }
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(30))
            .ok()
            .flatten()
            .expect("moto_server printed its port");
        Moto {
            _process: process,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    /// One Cognito API call, as the AWS SDK makes it (the signature is never checked; the
    /// credential scope names the region).
    async fn call(&self, action: &str, body: Value) -> Value {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=test/20250101/{REGION}/cognito-idp/aws4_request, \
             SignedHeaders=host, Signature=0"
        );
        let resp = self
            .http
            .post(format!("{}/", self.base))
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "x-amz-target",
                format!("AWSCognitoIdentityProviderService.{action}"),
            )
            .header("authorization", auth)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{action}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn user(&self, pool: &str, name: &str, groups: &[&str]) {
        self.call(
            "AdminCreateUser",
            json!({"UserPoolId": pool, "Username": name, "TemporaryPassword": "Temp-Passw0rd!",
                   "MessageAction": "SUPPRESS"}),
        )
        .await;
        self.call(
            "AdminSetUserPassword",
            json!({"UserPoolId": pool, "Username": name, "Password": PASSWORD, "Permanent": true}),
        )
        .await;
        for g in groups {
            self.call(
                "AdminAddUserToGroup",
                json!({"UserPoolId": pool, "Username": name, "GroupName": g}),
            )
            .await;
        }
    }

    async fn client(&self, pool: &str, name: &str) -> String {
        let made = self
            .call(
                "CreateUserPoolClient",
                json!({"UserPoolId": pool, "ClientName": name,
                       "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}),
            )
            .await;
        made["UserPoolClient"]["ClientId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A login: the tokens of one refresh-token family.
    async fn login(&self, client: &str, user: &str) -> Login {
        let out = self
            .call(
                "InitiateAuth",
                json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client,
                       "AuthParameters": {"USERNAME": user, "PASSWORD": PASSWORD}}),
            )
            .await;
        Login::from(&out["AuthenticationResult"])
    }

    /// New access and ID tokens from a login's refresh token (same `origin_jti`).
    async fn refresh(&self, client: &str, login: &Login) -> Login {
        let out = self
            .call(
                "InitiateAuth",
                json!({"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": client,
                       "AuthParameters": {"REFRESH_TOKEN": login.refresh}}),
            )
            .await;
        Login {
            refresh: login.refresh.clone(),
            ..Login::from(&out["AuthenticationResult"])
        }
    }
}

const PASSWORD: &str = "Corr3ct-Horse!";

struct Login {
    access: String,
    id: String,
    refresh: String,
}

impl Login {
    fn from(result: &Value) -> Login {
        let text = |k: &str| result[k].as_str().unwrap_or_default().to_owned();
        Login {
            access: text("AccessToken"),
            id: text("IdToken"),
            refresh: text("RefreshToken"),
        }
    }
}

/// A token's payload, read without verifying (the test inspects what moto issued).
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn moto_user_pool_tokens_meet_user_pool_groups_and_revocation() {
    let Some(program) = tool("moto_server") else {
        return;
    };
    let moto = Moto::start(&program);
    let pool = moto
        .call("CreateUserPool", json!({"PoolName": "tokengate"}))
        .await["UserPool"]["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (spa, other) = (
        moto.client(&pool, "spa").await,
        moto.client(&pool, "other").await,
    );
    moto.call(
        "CreateGroup",
        json!({"UserPoolId": pool, "GroupName": "admins"}),
    )
    .await;
    moto.user(&pool, "alice", &["admins"]).await;
    moto.user(&pool, "bob", &[]).await;
    let alice = moto.login(&spa, "alice").await;
    let bob = moto.login(&spa, "bob").await;
    let alice_elsewhere = moto.login(&other, "alice").await;

    // What moto issued is what Cognito issues.
    let (access, id) = (payload(&alice.access), payload(&alice.id));
    let iss = format!("https://cognito-idp.{REGION}.amazonaws.com/{pool}");
    assert_eq!(access["iss"], iss.as_str());
    assert_eq!(access["client_id"], spa.as_str());
    assert_eq!(access["token_use"], "access");
    assert_eq!(id["aud"], spa.as_str());
    assert_eq!(access["cognito:groups"], json!(["admins"]));
    assert!(payload(&bob.access).get("cognito:groups").is_none());
    let family = access["origin_jti"].as_str().unwrap().to_owned();
    assert_eq!(id["origin_jti"], family.as_str());

    let dir = std::env::temp_dir().join(format!("tokengate-moto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("revoked.txt");
    std::fs::write(&list, "").unwrap();
    let jwks = format!("{}/{pool}/.well-known/jwks.json", moto.base);
    let tg = Tokengate::start(&format!(
        r#"
authorizers:
  access:
    user_pool: {pool}
    audience: [{spa}]
    token_use: access
    jwks_uri: "{jwks}"
    claims_to_headers: {{username: x-user-name, "cognito:groups": x-user-groups}}
  id: {{user_pool: "arn:aws:cognito-idp:{REGION}:123456789012:userpool/{pool}", audience: [{spa}], token_use: id, jwks_uri: "{jwks}"}}
  any: {{user_pool: {pool}, any_app_client: true, token_use: access, jwks_uri: "{jwks}"}}
routes:
  "GET /profile": {{authorizer: access}}
  "ANY /admin/{{proxy+}}": {{authorizer: access, claims: {{"cognito:groups": [admins]}}}}
  "GET /me": {{authorizer: id}}
  "GET /any": {{authorizer: any}}
revocation: {{file: "{}", refresh: 1s}}
"#,
        list.display()
    ))
    .await
    .ready()
    .await;
    let mut judge = Judge::new(&tg, &["access", "id", "any"]).await;

    let allowed = judge.ask("GET", "/profile", Some(&alice.access)).await;
    allowed.allowed("access");
    for a in &allowed.answers {
        assert_eq!(
            a.upstream.get("x-user-name").map(String::as_str),
            Some("alice")
        );
        assert_eq!(
            a.upstream.get("x-user-groups").map(String::as_str),
            Some("admins")
        );
    }
    judge.ask("GET", "/profile", Some(&alice.id)).await.expect(
        "access",
        "wrong_token_use",
        401,
        INVALID_TOKEN,
    );
    judge.ask("GET", "/me", Some(&alice.id)).await.allowed("id");
    judge.ask("GET", "/me", Some(&alice.access)).await.expect(
        "id",
        "wrong_token_use",
        401,
        INVALID_TOKEN,
    );

    judge
        .ask("DELETE", "/admin/users/9", Some(&alice.access))
        .await
        .allowed("access");
    judge
        .ask("DELETE", "/admin/users/9", Some(&bob.access))
        .await
        .expect("access", "insufficient_claims", 403, None);
    judge
        .ask("GET", "/profile", Some(&bob.access))
        .await
        .allowed("access");

    // A second app client: only the any-client authorizer takes it.
    judge
        .ask("GET", "/profile", Some(&alice_elsewhere.access))
        .await
        .expect("access", "wrong_audience", 401, INVALID_TOKEN);
    for token in [&alice_elsewhere.access, &alice.access, &bob.access] {
        judge.ask("GET", "/any", Some(token)).await.allowed("any");
    }
    judge
        .ask("GET", "/any", Some(&alice_elsewhere.id))
        .await
        .expect("any", "wrong_token_use", 401, INVALID_TOKEN);

    // Revoking the login's origin_jti revokes its ID and access tokens, and those refreshed
    // from it, and nothing else.
    let refreshed = moto.refresh(&spa, &alice).await;
    assert_eq!(payload(&refreshed.access)["origin_jti"], family.as_str());
    std::fs::write(&list, format!("# alice's spa login\norigin_jti {family}\n")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let judged = judge.ask("GET", "/profile", Some(&alice.access)).await;
        if judged.answers.iter().all(|a| a.status == 401) {
            judged.expect("access", "revoked", 401, INVALID_TOKEN);
            break;
        }
        assert!(Instant::now() < deadline, "the list was not re-read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    judge
        .ask("GET", "/me", Some(&alice.id))
        .await
        .expect("id", "revoked", 401, INVALID_TOKEN);
    judge
        .ask("GET", "/profile", Some(&refreshed.access))
        .await
        .expect("access", "revoked", 401, INVALID_TOKEN);
    judge
        .ask("GET", "/me", Some(&refreshed.id))
        .await
        .expect("id", "revoked", 401, INVALID_TOKEN);
    judge.ask("GET", "/any", Some(&alice.access)).await.expect(
        "any",
        "revoked",
        401,
        INVALID_TOKEN,
    );
    judge
        .ask("GET", "/any", Some(&alice_elsewhere.access))
        .await
        .allowed("any");
    judge
        .ask("GET", "/profile", Some(&bob.access))
        .await
        .allowed("access");
    tg.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
