//! End to end with real nginx (Debian's package) running `examples/nginx.conf`, ports adjusted:
//! nginx → tokengate's HTTP authorizer → a small upstream.

use tokengate::testkit as common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::json;
use tokengate::jwt::Alg;

#[tokio::test]
async fn nginx_auth_request_lets_through_only_what_tokengate_allows() {
    let Some(nginx) = tool("nginx") else { return };
    let k = signer(Alg::RS256, "k");
    let jwks = JwksServer::start(&[&k]).await;
    let yaml = format!(
        r#"
authorizers:
  main:
    issuer: "{}"
    audience: [api]
    claims_to_headers: {{sub: x-user-id, scope: x-user-scopes}}
routes:
  "GET /admin/{{proxy+}}": {{authorizer: main, scopes: [admin]}}
  "$default": {{authorizer: main}}
"#,
        jwks.url
    );
    let tg = Tokengate::start(&yaml).await.ready().await;
    let upstream = echo_upstream().await;
    let port = free_port();

    let dir = std::env::temp_dir().join(format!("tokengate-nginx-{}-{port}", std::process::id()));
    std::fs::create_dir_all(dir.join("logs")).expect("temp dir");
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/nginx.conf"))
            .expect("examples/nginx.conf");
    let conf = example
        .replace("127.0.0.1:9192", &tg.http.to_string())
        .replace("127.0.0.1:8080", &upstream.to_string())
        .replace("listen 127.0.0.1:8000", &format!("listen 127.0.0.1:{port}"))
        .replace("worker_processes auto;", &format!(
            "worker_processes 1;\ndaemon off;\npid {0}/nginx.pid;\nerror_log {0}/logs/error.log;",
            dir.display()
        ))
        .replace("http {", &format!(
            "http {{\n    access_log off;\n    client_body_temp_path {0}/body;\n    proxy_temp_path {0}/proxy;\n    fastcgi_temp_path {0}/fcgi;\n    uwsgi_temp_path {0}/uwsgi;\n    scgi_temp_path {0}/scgi;",
            dir.display()
        ));
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).expect("write nginx.conf");
    let test = Command::new(&nginx)
        .arg("-t")
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf_path)
        .output()
        .expect("nginx -t");
    assert!(
        test.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&test.stderr)
    );
    let _nginx = Process::spawn(
        Command::new(&nginx)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        "QUIT",
    )
    .expect("start nginx");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if client.get(&base).send().await.is_ok() {
            up = true;
            break;
        }
        // Real time: a separate process, up only when its port answers.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "nginx did not start");

    let mut c = claims(&jwks.url, "api");
    c["scope"] = json!("read");
    assert_proxied_decisions(&base, &k.sign(&c), "nginx").await;

    let r = client
        .get(format!("{base}/hello"))
        .bearer_auth("not-a-jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    tg.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
