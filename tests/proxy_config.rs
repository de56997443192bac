//! `tokengate proxy-config` and `check-config`'s trust section, through the binary: what each
//! prints, the refusals (exit 1, saying why) and the warnings.

// Each step runs the binary: a failed step should panic loudly.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(args)
        .output()
        .unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// A config file in a fresh temporary directory.
fn file(name: &str, yaml: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tokengate-pc-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokengate.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn config(original_request: &str, authorizer: &str) -> String {
    format!(
        "http: {{original_request: {original_request}, path_prefix: /authz}}\nauthorizers:\n  main:\n    issuer: https://issuer.example\n    audience: [api]\n    claims_to_headers: {{sub: x-user-id, groups: x-user-groups}}\n{authorizer}routes:\n  \"$default\": {{authorizer: main}}\n"
    )
}

#[test]
fn proxy_config_prints_or_refuses_each_target_by_the_mode() {
    for (mode, works) in [
        (
            "auto",
            &["nginx", "envoy-grpc", "envoy-http", "traefik"][..],
        ),
        ("nginx", &["nginx", "envoy-grpc"]),
        ("forwarded", &["traefik", "envoy-grpc"]),
        ("request_line", &["envoy-http", "envoy-grpc"]),
    ] {
        let path = file(mode, &config(mode, ""));
        let path = path.to_str().unwrap();
        for target in ["nginx", "envoy-grpc", "envoy-http", "traefik"] {
            let r = run(&["proxy-config", "--config", path, target]);
            if works.contains(&target) {
                assert_eq!(r.code, 0, "{mode} {target}: {}", r.stderr);
                // gRPC sets and removes headers in its answer; the others are told which.
                let named = r.stdout.to_ascii_lowercase().contains("x-user-groups");
                assert_eq!(named, target != "envoy-grpc", "{mode} {target}");
                assert!(r.stderr.is_empty(), "{}", r.stderr);
            } else {
                assert_eq!(r.code, 1, "{mode} {target}");
                assert!(r.stdout.is_empty(), "nothing printed when refused");
                assert!(
                    r.stderr
                        .contains(&format!("{target} cannot work with {path}:")),
                    "{}",
                    r.stderr
                );
                assert!(
                    r.stderr
                        .contains(&format!("http.original_request is `{mode}`")),
                    "{}",
                    r.stderr
                );
            }
        }
    }
    let bad = run(&["proxy-config", "--config", "/nonexistent.yaml", "nginx"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("cannot read"), "{}", bad.stderr);
    let unknown = run(&["proxy-config", "--config", "/x", "caddy"]);
    assert_eq!(unknown.code, 2, "clap refuses an unknown target");
}

#[test]
fn proxy_config_warns_on_stderr_and_in_the_output() {
    let auth = "    identity_source: [\"$request.querystring.t\"]\n    strip_token: true\n";
    let path = file("warn", &config("auto", auth));
    let r = run(&["proxy-config", "--config", path.to_str().unwrap(), "nginx"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "warning: authorizers.main.strip_token: a token read from the query string reaches the upstream"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("# WARNING authorizers.main.strip_token:"));
    let r = run(&[
        "proxy-config",
        "--config",
        path.to_str().unwrap(),
        "envoy-grpc",
    ]);
    assert!(
        !r.stderr.contains("strip_token"),
        "gRPC removes a query parameter: {}",
        r.stderr
    );
}

#[test]
fn check_config_lists_the_trusted_headers_the_proxy_setups_and_the_warnings() {
    let auth = "    identity_source: [\"$request.header.Authorization\", \"$request.cookie.s\", \"$request.querystring.t\"]\n    forward_payload_header: x-jwt-payload\n    strip_token: true\n";
    let path = file("check", &config("nginx", auth));
    let r = run(&["check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.stdout;
    assert!(
        out.contains(
            "x-user-id (main: sub), x-user-groups (main: groups), x-jwt-payload (main: payload)"
        ),
        "{out}"
    );
    assert!(out.contains("http: original_request nginx, path_prefix /authz; paths: strict"));
    assert!(out.contains("  nginx      yes\n"), "{out}");
    assert!(out.contains("  envoy-grpc yes\n"), "{out}");
    assert!(
        out.contains("  envoy-http cannot: http.original_request is `nginx`"),
        "{out}"
    );
    assert!(out.contains("  traefik    cannot: http.original_request is `nginx`"));
    for warning in [
        "warning: authorizers.main.strip_token [envoy-grpc, envoy-http, nginx, traefik]: a token read from a cookie stays in the Cookie header",
        "warning: authorizers.main.strip_token [envoy-http, nginx, traefik]: a token read from the query string reaches the upstream",
        "warning: authorizers.main.identity_source [envoy-grpc, envoy-http, nginx, traefik]: a query-string token is part of the URL",
    ] {
        assert!(out.contains(warning), "{warning}\n{out}");
    }
    assert!(out.ends_with(": OK\n"));

    let plain = file("plain", &config("auto", ""));
    let out = run(&["check-config", "--config", plain.to_str().unwrap()]).stdout;
    assert!(!out.contains("warning:"), "{out}");
    assert!(
        out.contains("  nginx      yes (http.original_request auto; nginx is the exact fit)"),
        "{out}"
    );
}
