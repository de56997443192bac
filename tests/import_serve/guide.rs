//! README's "Coming from API Gateway", run as written: a SAM template in the spirit of the AWS
//! guide (a pool shared through SSM, a resource server scope, a client-credentials client)
//! imported with `--parameter`, checked, served by the real binary behind real nginx, and
//! asked three times: no token (401), a client-credentials access token holding the scope
//! (200), one without it (403).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tokengate::jwt::{Alg, Signer};
use tokengate::testkit::{self as common, JwksServer, Process};

use super::served;
use super::table::bin;

const TEMPLATE: &str = "tests/fixtures/import/guide_sam_client_credentials.yaml";
const POOL_ARN: &str = "arn:aws:cognito-idp:us-east-1:111122223333:userpool/us-east-1_Trk4Parcl";
const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Trk4Parcl";
/// The app client id Cognito gave the template's client-credentials client.
const CLIENT: &str = "5trk4machine0client0example";

/// What Cognito's `/oauth2/token` returns for the client-credentials grant: an access token
/// whose `sub` and `client_id` are the app client, with the scopes asked for.
fn client_credentials_token(key: &Signer, scope: &str) -> String {
    let now = common::now();
    key.sign(&json!({
        "sub": CLIENT, "client_id": CLIENT, "token_use": "access", "scope": scope,
        "iss": ISSUER, "auth_time": now - 5.0, "iat": now - 5.0, "exp": now + 3600.0,
        "version": 2, "jti": "0d3c2b1a-guide",
    }))
}

/// `examples/nginx.conf` with its ports and paths moved into `dir` (until `tokengate
/// proxy-config nginx` writes one).
fn nginx_conf(dir: &Path, tokengate: SocketAddr, upstream: SocketAddr, port: u16) -> String {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nginx.conf"))
            .expect("examples/nginx.conf");
    let d = dir.display();
    example
        .replace("127.0.0.1:9192", &tokengate.to_string())
        .replace("127.0.0.1:8080", &upstream.to_string())
        .replace("listen 127.0.0.1:8000", &format!("listen 127.0.0.1:{port}"))
        .replace(
            "worker_processes auto;",
            &format!("worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;"),
        )
        .replace(
            "http {",
            &format!(
                "http {{\n    access_log off;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;"
            ),
        )
}

async fn until_up(url: &str, what: &str) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not come up at {url}");
}

#[tokio::test]
async fn readme_walk_through_from_a_sam_template_to_401_200_403_through_nginx() {
    let Some(nginx) = common::tool("nginx") else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("tokengate-guide-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    // tokengate import template.yaml --parameter AuthPoolArn=… > tokengate.yaml
    let parameter = format!("AuthPoolArn={POOL_ARN}");
    let out = Command::new(bin())
        .args(["import", TEMPLATE, "--parameter", &parameter])
        .current_dir(root)
        .output()
        .expect("tokengate import");
    let imported = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The README shows this command and the routes and authorizer it prints.
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    assert!(
        readme.contains(&format!(
            "tokengate import template.yaml --parameter {parameter} > tokengate.yaml"
        )),
        "README lacks the import command"
    );
    for line in imported
        .lines()
        .filter(|l| l.starts_with("  ") && !l.contains('#'))
    {
        assert!(
            readme.contains(line),
            "README lacks the imported line {line:?}"
        );
    }
    served::check_config(&imported, "guide").expect("check-config accepts the import");

    // Served with the test's keys instead of the pool's JWKS, on free ports.
    let key = common::signer(Alg::RS256, "guide-key");
    let jwks = JwksServer::start(&[&key]).await;
    let keyed = served::with_keys_from(&imported, &format!("{}/.well-known/jwks.json", jwks.url));
    let ports = [
        common::free_port(),
        common::free_port(),
        common::free_port(),
    ];
    let config = dir.join("tokengate.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: {{grpc: \"127.0.0.1:{}\", http: \"127.0.0.1:{}\", admin: \"127.0.0.1:{}\"}}\n{keyed}",
            ports[0], ports[1], ports[2]
        ),
    )
    .expect("write tokengate.yaml");
    let mut tokengate = Process::spawn(
        Command::new(bin())
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        "TERM",
    )
    .expect("tokengate serve");
    until_up(
        &format!("http://127.0.0.1:{}/readyz", ports[2]),
        "tokengate",
    )
    .await;

    let upstream = common::echo_upstream().await;
    let port = common::free_port();
    let tokengate_http: SocketAddr = format!("127.0.0.1:{}", ports[1]).parse().expect("addr");
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(&dir, tokengate_http, upstream, port)).expect("write");
    let mut proxy = Process::spawn(
        Command::new(&nginx)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        "QUIT",
    )
    .expect("start nginx");
    let base = format!("http://127.0.0.1:{port}");
    until_up(&format!("{base}/ping"), "nginx").await;

    let http = reqwest::Client::new();
    let r = http
        .get(format!("{base}/parcels/42"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.text().await.expect("body"),
        r#"{"message":"Unauthorized"}"#
    );

    let r = http
        .get(format!("{base}/parcels/42"))
        .bearer_auth(client_credentials_token(&key, "parcel-tracker/api"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 200);

    let r = http
        .post(format!("{base}/parcels"))
        .bearer_auth(client_credentials_token(&key, "parcel-tracker/audit"))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 403);
    let challenge = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer error="insufficient_scope", scope="parcel-tracker/api""#)
    );
    assert_eq!(r.text().await.expect("body"), r#"{"message":"Forbidden"}"#);

    assert!(proxy.stop().success(), "nginx stops on SIGQUIT");
    assert!(tokengate.stop().success(), "tokengate stops on SIGTERM");
    std::fs::remove_dir_all(&dir).ok();
}
