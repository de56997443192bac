//! What every scenario shares: the issuer, tokens minted ahead of time, Envoy-sized
//! `CheckRequest`s, and the two servers under test as processes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokengate::jwt::Signer;
use tokengate::pb::auth::attribute_context::{HttpRequest, Peer, Request as AttrRequest};
use tokengate::pb::auth::{AttributeContext, CheckRequest};
use tokengate::pb::core::{Address, SocketAddress, address, socket_address};

use crate::common;
use crate::grpc::frame;
use crate::proc::{Proc, free_addr, wait_for_port, write};

pub const CLIENT_ID: &str = "7c3h2ls0example";
pub const PATH: &str = "/users/7";

/// Claims shaped and sized like a Cognito access token; `n` makes each token distinct.
pub fn cognito_claims(iss: &str, n: u64) -> Value {
    let now = common::now();
    let id = format!("{n:08x}-4c1e-4d3b-9f0a-5b2c7e1d{:04x}", n % 0xffff);
    json!({
        "sub": id, "iss": iss, "client_id": CLIENT_ID, "origin_jti": id, "event_id": id,
        "token_use": "access", "scope": "aws.cognito.signin.user.admin users/read users/write",
        "auth_time": now, "exp": now + 6.0 * 3600.0, "iat": now, "jti": id,
        "username": format!("user{n:08}"), "cognito:groups": ["readers"], "version": 2
    })
}

/// `count` distinct tokens signed by `signer`, minted on every core.
pub fn mint(signer: &Signer, iss: &str, first: u64, count: usize) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = count.div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let lo = t * per;
                    let hi = count.min(lo + per);
                    (lo..hi)
                        .map(|i| signer.sign(&cognito_claims(iss, first + i as u64)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("minting thread"))
            .collect()
    })
}

/// A `CheckRequest` as Envoy sends it for `GET /users/7` through an HTTPS listener: about
/// 1.5 KB with a Cognito-sized RS256 token.
pub fn check_request(token: &str) -> CheckRequest {
    let socket = |ip: &str, port: u32| {
        Some(Peer {
            address: Some(Address {
                address: Some(address::Address::SocketAddress(SocketAddress {
                    address: ip.to_owned(),
                    port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
                    ..Default::default()
                })),
            }),
            ..Default::default()
        })
    };
    let headers: HashMap<String, String> = [
        (":authority", "api.example.com"),
        (":method", "GET"),
        (":path", PATH),
        (":scheme", "https"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
        ),
        ("accept", "application/json"),
        ("accept-encoding", "gzip, deflate, br"),
        ("x-forwarded-proto", "https"),
        ("x-request-id", "5f0c3b8e-2a41-4f7d-9a9e-0d6c1b2e3f4a"),
        ("x-envoy-expected-rq-timeout-ms", "15000"),
        ("authorization", &format!("Bearer {token}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    CheckRequest {
        attributes: Some(AttributeContext {
            source: socket("10.0.3.17", 53422),
            destination: socket("10.0.1.5", 8443),
            request: Some(AttrRequest {
                time: Some(prost_types::Timestamp {
                    seconds: common::now() as i64,
                    nanos: 0,
                }),
                http: Some(HttpRequest {
                    id: "13954788317493524517".to_owned(),
                    method: "GET".to_owned(),
                    headers,
                    path: PATH.to_owned(),
                    host: "api.example.com".to_owned(),
                    scheme: "https".to_owned(),
                    protocol: "HTTP/1.1".to_owned(),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
    }
}

pub fn framed(tokens: &[String]) -> Vec<Bytes> {
    tokens.iter().map(|t| frame(&check_request(t))).collect()
}

/// A server under test: tokengate or the floor.
pub struct Target {
    pub proc: Proc,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub admin: Option<SocketAddr>,
}

impl Target {
    /// Counter or gauge `name{labels}` from tokengate's `/metrics` (0 for the floor).
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        let Some(admin) = self.admin else { return 0.0 };
        let text = reqwest::get(format!("http://{admin}/metrics"))
            .await
            .expect("scrape /metrics")
            .text()
            .await
            .expect("metrics body");
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

pub fn tokengate_config(dir: &Path, iss: &str, cache_tokens: u64) -> (PathBuf, [SocketAddr; 3]) {
    let addrs = [free_addr(), free_addr(), free_addr()];
    let yaml = format!(
        "listen: {{grpc: \"{}\", http: \"{}\", admin: \"{}\"}}\n\
         cache: {{tokens: {cache_tokens}}}\n\
         authorizers:\n  cognito:\n    issuer: \"{iss}\"\n    audience: [{CLIENT_ID}]\n    token_use: access\n    claims_to_headers: {{sub: x-user-id, username: x-username}}\n\
         routes:\n  \"GET /users/{{id}}\": {{authorizer: cognito, scopes: [users/read]}}\n  \"$default\": {{authorizer: cognito}}\n",
        addrs[0], addrs[1], addrs[2]
    );
    let path = dir.join(format!("tokengate-{}.yaml", addrs[0].port()));
    write(&path, yaml);
    (path, addrs)
}

/// tokengate from this build, started fresh so each scenario begins with an empty cache.
pub async fn start_tokengate(dir: &Path, iss: &str, cache_tokens: u64) -> Target {
    let (config, [grpc, http, admin]) = tokengate_config(dir, iss, cache_tokens);
    let proc = Proc::spawn(
        "tokengate",
        Command::new(env!("CARGO_BIN_EXE_tokengate"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn"),
    );
    let client = reqwest::Client::new();
    for _ in 0..500 {
        let ready = client.get(format!("http://{admin}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return Target {
                proc,
                grpc,
                http,
                admin: Some(admin),
            };
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("tokengate did not become ready");
}

/// The floor: this harness binary again, serving trivial `Check` and HTTP 200.
pub fn start_floor() -> Target {
    let (grpc, http) = (free_addr(), free_addr());
    let exe = std::env::current_exe().expect("the harness's own path");
    let proc = Proc::spawn(
        "floor",
        Command::new(exe).env(crate::floor::ENV, format!("{grpc},{http}")),
    );
    wait_for_port(grpc, Duration::from_secs(10));
    wait_for_port(http, Duration::from_secs(10));
    Target {
        proc,
        grpc,
        http,
        admin: None,
    }
}
