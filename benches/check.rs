//! In-process check cost: a cache hit (plain, with a 100,000-entry revocation list, with claim
//! rules), a miss per algorithm, route selection over 1,000 routes, and token parsing.
//! `cargo bench --bench check`.

#![allow(clippy::unwrap_used)] // set-up failures in a benchmark should panic

use tokengate::testkit as common;

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use prost::Message;
use serde_json::json;
use tokengate::decision::{Decision, Reason};
use tokengate::gate;
use tokengate::jwt::{Alg, compact};
use tokengate::pb::auth::CheckRequest;
use tokengate::pb::auth::attribute_context::Peer;
use tokengate::pb::core::{Address, SocketAddress, address, socket_address};
use tokengate::request::Request;
use tokengate::route::{RouteKey, RouteTable};
use tokengate::server::grpc::response;
use tokengate::wire::{self, Allow, Check};

/// Polls a future that never waits (a check with its keys loaded) without a runtime's cost.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a benchmarked check waited"),
    }
}

fn cognito_claims(iss: &str) -> serde_json::Value {
    let now = tokengate::clock::now().floor();
    json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "iss": iss, "client_id": "7c3h2ls0example",
        "origin_jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "event_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "token_use": "access", "scope": "aws.cognito.signin.user.admin users/read", "auth_time": now,
        "exp": now + 3600.0, "iat": now, "jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "username": "alice",
        "cognito:groups": ["staff", "admins"]
    })
}

/// A revocation list of `n` entries of every kind, none of them the benchmarked token's.
fn revocation_file(n: usize) -> std::path::PathBuf {
    use std::fmt::Write;
    let kinds = ["jti", "origin_jti", "sub"];
    let mut text = String::new();
    for i in 0..n {
        let _ = writeln!(
            text,
            "{} {i:08x}-revoked-0000-0000-000000000000",
            kinds[i % 3]
        );
    }
    let path = std::env::temp_dir().join(format!(
        "tokengate-bench-revoked-{}.txt",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

fn checks(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let algs = [Alg::RS256, Alg::PS256, Alg::ES256, Alg::ES384, Alg::EdDSA];
    let signers: Vec<_> = algs
        .iter()
        .map(|a| common::signer(*a, a.as_str()))
        .collect();
    let refs: Vec<_> = signers.iter().collect();
    let revoked = revocation_file(100_000);
    let (jwks, cached, uncached, listed, ruled) = rt.block_on(async {
        let jwks = common::JwksServer::start(&refs).await;
        let yaml = |tokens: u64, authorizer: &str, route: &str, top: &str| {
            format!(
                "cache: {{tokens: {tokens}}}\nauthorizers:\n  cognito: {{issuer: \"{}\", audience: [7c3h2ls0example], token_use: access, claims_to_headers: {{sub: x-user-id}}{authorizer}}}\nroutes:\n  \"GET /users/{{id}}\": {{authorizer: cognito, scopes: [users/read]{route}}}\n{top}",
                jwks.url
            )
        };
        let start = |yaml: String| async move {
            common::Tokengate::start(&yaml).await.ready().await
        };
        let cached = start(yaml(100_000, "", "", "")).await;
        let uncached = start(yaml(0, "", "", "")).await;
        let list = format!("revocation: {{file: \"{}\"}}\n", revoked.display());
        let listed = start(yaml(100_000, "", "", &list)).await;
        let ruled = start(yaml(
            100_000,
            ", claims: {\"cognito:groups\": [admins, ops]}",
            ", claims: {username: [alice, bob]}",
            "",
        ))
        .await;
        (jwks, cached, uncached, listed, ruled)
    });
    std::fs::remove_file(&revoked).ok();
    assert_eq!(
        listed
            .state
            .snapshot()
            .revocation
            .as_ref()
            .unwrap()
            .list()
            .len(),
        100_000
    );
    let decide = |state: &Arc<tokengate::state::State>, headers: &HashMap<String, String>| {
        let req = Request {
            method: "GET",
            target: "/users/7",
            headers,
            context: None,
        };
        let d = ready(gate::check(
            &state.snapshot(),
            &req,
            tokengate::clock::now(),
        ));
        assert!(d.is_allow(), "{:?}", d.reason);
        d
    };
    let rs_token = signers[0].sign(&cognito_claims(&jwks.url));
    let headers: HashMap<String, String> =
        [("authorization".to_owned(), format!("Bearer {rs_token}"))].into();
    decide(&cached.state, &headers);
    c.bench_function("check/cache_hit", |b| {
        b.iter(|| black_box(decide(&cached.state, &headers)))
    });
    // The same hit with a 100,000-entry revocation list, then with claim rules on the
    // authorizer and the route: each must cost what the plain hit costs, within noise.
    decide(&listed.state, &headers);
    c.bench_function("check/cache_hit/revocation_100k", |b| {
        b.iter(|| black_box(decide(&listed.state, &headers)))
    });
    decide(&ruled.state, &headers);
    c.bench_function("check/cache_hit/claim_rules", |b| {
        b.iter(|| black_box(decide(&ruled.state, &headers)))
    });
    // What the gRPC transport adds to an allow: the CheckResponse built and encoded, the metrics.
    let allowed = decide(&cached.state, &headers);
    c.bench_function("grpc/response_allow", |b| {
        b.iter(|| {
            black_box(prost::Message::encode_to_vec(
                &tokengate::server::grpc::response(black_box(&allowed)),
            ))
        })
    });
    transport(c, &allowed, &rs_token);
    tokengate::metrics::install();
    c.bench_function("metrics/record_check", |b| {
        b.iter(|| {
            tokengate::metrics::record_check(
                tokengate::metrics::Transport::Grpc,
                black_box(&allowed),
                std::time::Duration::from_micros(30),
            )
        })
    });
    for s in &signers {
        let token = s.sign(&cognito_claims(&jwks.url));
        let headers: HashMap<String, String> =
            [("authorization".to_owned(), format!("Bearer {token}"))].into();
        c.bench_function(&format!("check/miss/{}", s.alg), |b| {
            b.iter(|| black_box(decide(&uncached.state, &headers)))
        });
    }
    c.bench_function("parse/compact", |b| {
        b.iter(|| black_box(compact::parse(black_box(&rs_token)).is_ok()))
    });
}

/// A `CheckRequest` shaped like Envoy's: addresses, eleven headers, the token.
fn envoy_request(token: &str) -> CheckRequest {
    let peer = |ip: &str, port: u32| Peer {
        address: Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: ip.to_owned(),
                port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
                ..Default::default()
            })),
        }),
        ..Default::default()
    };
    let bearer = format!("Bearer {token}");
    let mut req = common::check_request(
        "GET",
        "/users/7",
        &[
            (":authority", "api.example.com"),
            (":method", "GET"),
            (":path", "/users/7"),
            (":scheme", "https"),
            (
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36",
            ),
            ("accept", "application/json"),
            ("accept-encoding", "gzip, deflate, br"),
            ("x-forwarded-proto", "https"),
            ("x-request-id", "5f0c3b8e-2a41-4f7d-9a9e-0d6c1b2e3f4a"),
            ("x-envoy-expected-rq-timeout-ms", "15000"),
            ("authorization", &bearer),
        ],
    );
    let attributes = req.attributes.as_mut().unwrap();
    attributes.source = Some(peer("10.0.3.17", 53422));
    attributes.destination = Some(peer("10.0.1.5", 8443));
    let request = attributes.request.as_mut().unwrap();
    request.time = Some(prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    });
    let http = request.http.as_mut().unwrap();
    http.id = "13954788317493524517".to_owned();
    http.host = "api.example.com".to_owned();
    http.scheme = "https".to_owned();
    http.protocol = "HTTP/1.1".to_owned();
    req
}

/// The gRPC transport's own work on a hit: the request read, the response written, through
/// prost (today) and in place (`tokengate::wire`).
fn transport(c: &mut Criterion, allowed: &Decision, token: &str) {
    let request = envoy_request(token).encode_to_vec();
    c.bench_function("wire/decode/prost", |b| {
        b.iter(|| black_box(CheckRequest::decode(black_box(&request[..])).unwrap()))
    });
    c.bench_function("wire/decode/borrowed", |b| {
        b.iter(|| black_box(Check::decode(black_box(&request[..])).unwrap()))
    });
    c.bench_function("wire/encode/prost", |b| {
        b.iter(|| black_box(response(black_box(allowed)).encode_to_vec()))
    });
    let claims = allowed.claims.as_ref().map(|c| c.as_bytes());
    let headers = allowed
        .set_headers
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_str()));
    let allow = Allow::new(&allowed.authorizer, headers, claims);
    assert_eq!(
        allow.to_bytes(
            &allowed.remove_headers,
            &allowed.remove_query,
            allowed.route.as_deref()
        ),
        response(allowed).encode_to_vec()
    );
    c.bench_function("wire/encode/cached", |b| {
        b.iter(|| {
            let d = black_box(allowed);
            black_box(allow.to_bytes(&d.remove_headers, &d.remove_query, d.route.as_deref()))
        })
    });
    c.bench_function("wire/encode/fresh", |b| {
        b.iter(|| black_box(wire::response::encode(black_box(allowed))))
    });
    let denied = Decision {
        reason: Reason::Expired,
        ..allowed.clone()
    };
    c.bench_function("wire/deny/prost", |b| {
        b.iter(|| black_box(response(black_box(&denied)).encode_to_vec()))
    });
    c.bench_function("wire/deny/shared", |b| {
        b.iter(|| black_box(wire::response::encode(black_box(&denied))))
    });
}

fn routes(c: &mut Criterion) {
    let mut routes = Vec::new();
    for i in 0..1000 {
        let key = match i % 4 {
            0 => format!("GET /svc{i}/items/{{id}}"),
            1 => format!("POST /svc{i}/items"),
            2 => format!("ANY /svc{i}/{{proxy+}}"),
            _ => format!("GET /svc{i}/items/{{id}}/parts/{{part}}"),
        };
        routes.push((RouteKey::parse(&key).unwrap(), Arc::from(key.as_str()), i));
    }
    let table = RouteTable::new(routes, Some(usize::MAX));
    c.bench_function("route/select_1000/last", |b| {
        b.iter(|| {
            black_box(table.select("GET", black_box("/svc999/items/42/parts/7"))).map(|s| *s.value)
        })
    });
    c.bench_function("route/select_1000/default", |b| {
        b.iter(|| black_box(table.select("GET", black_box("/nothing/here"))).map(|s| *s.value))
    });
}

criterion_group!(benches, checks, routes);
criterion_main!(benches);
