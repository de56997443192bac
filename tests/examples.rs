//! Every file in `examples/` and `deploy/k8s/` is checked by the tool that runs it:
//! tokengate configs by `check-config`, Envoy's by `envoy --mode validate`, nginx's by
//! `nginx -t`, Traefik's against its file-provider JSON Schema by `check-jsonschema`,
//! Kubernetes manifests by `kubernetes-validate --strict`; and every proxy file is exactly what
//! `tokengate proxy-config` prints for `examples/tokengate.yaml`.

// Each step runs an external tool: a failed step should panic loudly.
#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::process::Command;

use common::tool;
use tokengate::config::Config;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_tokengate_examples_pass_check_config() {
    let path = format!("{ROOT}/examples/tokengate.yaml");
    run(Command::new(env!("CARGO_BIN_EXE_tokengate")).args(["check-config", "--config", &path]));
    let c = Config::load(path.as_ref()).unwrap();
    assert_eq!(c.authorizers[0].claims_to_headers[2].0, "cognito:groups");
    // The config embedded in the Kubernetes ConfigMap.
    let k8s = std::fs::read_to_string(format!("{ROOT}/deploy/k8s/tokengate.yaml")).unwrap();
    let start = k8s.find("tokengate.yaml: |").unwrap();
    let embedded: String = k8s[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .map(|l| format!("{}\n", &l[4..]))
        .collect();
    Config::parse(&embedded).unwrap_or_else(|e| panic!("{e}"));
}

/// Each proxy example and the `proxy-config` target that prints it.
const PROXY_EXAMPLES: [(&str, &str); 4] = [
    ("nginx.conf", "nginx"),
    ("envoy-grpc.yaml", "envoy-grpc"),
    ("envoy-http.yaml", "envoy-http"),
    ("traefik.yaml", "traefik"),
];

#[test]
fn every_proxy_example_is_what_proxy_config_prints() {
    let config = format!("{ROOT}/examples/tokengate.yaml");
    for (file, target) in PROXY_EXAMPLES {
        let out = Command::new(env!("CARGO_BIN_EXE_tokengate"))
            .args(["proxy-config", "--config", &config, target])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8(out.stdout).unwrap();
        let example = std::fs::read_to_string(format!("{ROOT}/examples/{file}")).unwrap();
        assert!(
            example == printed,
            "examples/{file} differs from `tokengate proxy-config --config examples/tokengate.yaml {target}`: regenerate it"
        );
    }
    let mut files: Vec<String> = std::fs::read_dir(format!("{ROOT}/examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut known: Vec<&str> = PROXY_EXAMPLES.iter().map(|(f, _)| *f).collect();
    known.push("tokengate.yaml");
    known.sort_unstable();
    assert_eq!(files, known, "every file in examples/ is checked here");
}

#[test]
fn envoy_validates_the_envoy_examples() {
    let Some(envoy) = tool("envoy") else { return };
    for file in ["envoy-grpc.yaml", "envoy-http.yaml"] {
        let out = Command::new(&envoy)
            .args([
                "--mode",
                "validate",
                "--disable-hot-restart",
                "-l",
                "warning",
                "-c",
            ])
            .arg(format!("{ROOT}/examples/{file}"))
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{file}: {log}");
        assert!(
            !log.contains("deprecated"),
            "{file} uses a deprecated field: {log}"
        );
    }
}

#[test]
fn the_traefik_example_matches_traefiks_schema() {
    let Some(validate) = tool("check-jsonschema") else {
        return;
    };
    run(Command::new(&validate)
        .arg("--schemafile")
        .arg(format!(
            "{ROOT}/tests/fixtures/traefik-v3-file-provider.schema.json"
        ))
        .arg(format!("{ROOT}/examples/traefik.yaml")));
    // The validator catches a misspelt key, so the check above means something.
    let dir = std::env::temp_dir().join(format!("tokengate-traefik-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(format!("{ROOT}/examples/traefik.yaml")).unwrap();
    let bad = dir.join("traefik.yaml");
    std::fs::write(
        &bad,
        text.replace("authResponseHeaders:", "authResponseHeader:"),
    )
    .unwrap();
    let out = Command::new(&validate)
        .arg("--schemafile")
        .arg(format!(
            "{ROOT}/tests/fixtures/traefik-v3-file-provider.schema.json"
        ))
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a misspelt key must fail validation");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn nginx_accepts_the_nginx_example() {
    let Some(nginx) = tool("nginx") else { return };
    let dir = std::env::temp_dir().join(format!("tokengate-nginx-t-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    run(Command::new(nginx)
        .arg("-t")
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(format!("{ROOT}/examples/nginx.conf"))
        .args([
            "-g",
            &format!("pid {}/nginx.pid; error_log stderr;", dir.display()),
        ]));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn kubernetes_manifests_pass_strict_validation() {
    let Some(validate) = tool("kubernetes-validate") else {
        return;
    };
    run(Command::new(validate)
        .arg("--strict")
        .arg(format!("{ROOT}/deploy/k8s/tokengate.yaml")));
    let text = std::fs::read_to_string(format!("{ROOT}/deploy/k8s/tokengate.yaml")).unwrap();
    for kind in [
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ServiceMonitor",
    ] {
        assert!(text.contains(&format!("kind: {kind}\n")), "{kind}");
    }
    assert!(text.contains("path: /readyz"), "readiness on /readyz");
}

#[test]
fn the_dockerfile_builds_the_binary_from_the_files_that_exist() {
    let text = std::fs::read_to_string(format!("{ROOT}/Dockerfile")).unwrap();
    assert!(text.contains("cargo build --release --locked --bin tokengate"));
    assert!(text.contains("USER 65532"), "non-root");
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for src in &words[1..words.len() - 1] {
            assert!(
                std::path::Path::new(ROOT).join(src).exists(),
                "Dockerfile copies missing {src}"
            );
        }
    }
}
