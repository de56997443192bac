//! Real nginx and Envoy running what `tokengate proxy-config` prints, placeholders filled: the
//! app's address, the proxy's own ports, and what a test run needs (foreground, files in the
//! test's own directory).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Process, eventually, free_port};

/// `tokengate proxy-config TARGET` for `yaml`, run by the binary `bin` (a test's
/// `env!("CARGO_BIN_EXE_tokengate")`); `yaml` is written into `dir`.
pub fn proxy_config(bin: &str, dir: &Path, yaml: &str, target: &str) -> String {
    let path = dir.join("tokengate.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(bin)
        .args(["proxy-config", "--config"])
        .arg(&path)
        .arg(target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "proxy-config {target}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// nginx (checked by `nginx -t` first) running `generated` in front of `app`, its files under
/// `dir`; returns the process and where it listens.
pub async fn start_nginx(
    nginx: &Path,
    dir: &Path,
    generated: &str,
    app: SocketAddr,
) -> (Process, SocketAddr) {
    let port = free_port();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let conf = generated
        .replace("server 127.0.0.1:8080;", &format!("server {app};"))
        .replace("listen 127.0.0.1:8000;", &format!("listen 127.0.0.1:{port};"))
        .replace(
            "worker_processes auto;",
            &format!(
                "worker_processes 1;\ndaemon off;\npid {0}/nginx.pid;\nerror_log {0}/logs/error.log;",
                dir.display()
            ),
        )
        .replace(
            "http {",
            &format!(
                "http {{\n    access_log off;\n    client_body_temp_path {0}/body;\n    proxy_temp_path {0}/proxy;\n    fastcgi_temp_path {0}/fcgi;\n    uwsgi_temp_path {0}/uwsgi;\n    scgi_temp_path {0}/scgi;",
                dir.display()
            ),
        );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let test = Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&test.stderr)
    );
    let process = Process::spawn(
        Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        "QUIT",
    )
    .expect("start nginx");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    eventually(Duration::from_secs(5), "nginx listens", || async move {
        tokio::net::TcpStream::connect(addr).await.ok().map(drop)
    })
    .await;
    (process, addr)
}

/// Envoy (checked by `--mode validate` first) running `generated` in front of `app`, its
/// config written to `dir/NAME.yaml`; returns the process once ready and where it listens.
pub async fn start_envoy(
    envoy: &Path,
    dir: &Path,
    name: &str,
    generated: &str,
    app: SocketAddr,
) -> (Process, SocketAddr) {
    let (admin, listener) = (free_port(), free_port());
    let conf = generated
        .replace("port_value: 9901", &format!("port_value: {admin}"))
        .replace("port_value: 10000", &format!("port_value: {listener}"))
        .replace(
            "{address: 127.0.0.1, port_value: 8080}",
            &format!("{{address: 127.0.0.1, port_value: {}}}", app.port()),
        );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, conf).unwrap();
    let validate = Command::new(envoy)
        .args(["--mode", "validate", "--disable-hot-restart", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        validate.status.success(),
        "envoy --mode validate: {}",
        String::from_utf8_lossy(&validate.stderr)
    );
    let process = Process::spawn(
        Command::new(envoy)
            .args([
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "-l",
                "error",
                "-c",
            ])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        "TERM",
    )
    .expect("start envoy");
    let http = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{admin}/ready");
    eventually(Duration::from_secs(15), "envoy is ready", || {
        let (http, ready) = (http.clone(), ready.clone());
        async move {
            http.get(&ready)
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(drop)
        }
    })
    .await;
    (process, SocketAddr::from(([127, 0, 0, 1], listener)))
}
