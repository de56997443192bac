//! In-process check cost: a cache hit (plain, with a 100,000-entry revocation list, with claim
//! rules), the gRPC hit path end to end, a miss per algorithm, route selection over 10, 1,000
//! and 10,000 routes, token parsing, and the request checks. `cargo bench --bench check`. It
//! also prints the allocations per call of the hit path and its parts (`allocations/…` lines),
//! counted by `stats_alloc` as the global allocator.

#![allow(clippy::unwrap_used)] // set-up failures in a benchmark should panic

use tokengate::testkit as common;

use std::alloc::System;
use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use prost::Message;
use serde_json::json;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tokengate::decision::{Decision, Reason};
use tokengate::gate;
use tokengate::jwt::{Alg, compact};
use tokengate::pb::auth::CheckRequest;
use tokengate::pb::auth::attribute_context::Peer;
use tokengate::pb::core::{Address, SocketAddress, address, socket_address};
use tokengate::request::Request;
use tokengate::route::{RouteKey, RouteTable};
use tokengate::testkit::prost_response as response;
use tokengate::wire::{self, Allow, Check};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Prints the allocations and bytes allocated per call of `f`, over 1,000 calls after a
/// warm-up call. Every thread counts, but the runtime's are idle while this runs.
fn allocations(name: &str, mut f: impl FnMut()) {
    f();
    let calls = 1000;
    let region = Region::new(GLOBAL);
    for _ in 0..calls {
        f();
    }
    let stats = region.change();
    println!(
        "allocations/{name}: {:.2} allocations, {:.0} bytes per call",
        stats.allocations as f64 / f64::from(calls),
        stats.bytes_allocated as f64 / f64::from(calls)
    );
}

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
                &tokengate::testkit::prost_response(black_box(&allowed)),
            ))
        })
    });
    transport(c, &allowed, &rs_token);
    tokengate::metrics::install();
    hit_path(c, &cached.state, &rs_token);
    let snap = cached.state.snapshot();
    c.bench_function("metrics/record_check", |b| {
        b.iter(|| {
            snap.metrics.record(
                tokengate::metrics::Transport::Grpc,
                black_box(allowed.reason),
                black_box(&allowed.authorizer),
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

/// What the gRPC front does for a cache hit, less tonic: the request read in place, the
/// snapshot, the decision, its metrics, and the response written into the frame buffer (one
/// kept across calls, as tonic keeps its own).
fn grpc_hit(state: &tokengate::state::State, request: &[u8], out: &mut Vec<u8>) {
    let check = Check::decode(request).unwrap();
    let input = Request {
        method: check.method,
        target: check.path,
        headers: &check,
        context: Some(&check),
    };
    let snap = state.snapshot();
    let started = std::time::Instant::now();
    let d = ready(gate::check(&snap, &input, tokengate::clock::now()));
    snap.metrics.record(
        tokengate::metrics::Transport::Grpc,
        d.reason,
        &d.authorizer,
        started.elapsed(),
    );
    out.clear();
    wire::Reply::new(d).write(out);
}

/// The hit path end to end, and the allocations of it and of its parts.
fn hit_path(c: &mut Criterion, state: &tokengate::state::State, token: &str) {
    let request = envoy_request(token).encode_to_vec();
    let mut out = Vec::new();
    grpc_hit(state, &request, &mut out);
    let sent = tokengate::pb::auth::CheckResponse::decode(&out[..]).unwrap();
    assert_eq!(sent.status.unwrap().code, 0, "the hit path did not allow");
    c.bench_function("grpc/hit_path", |b| {
        b.iter(|| grpc_hit(state, black_box(&request), &mut out))
    });
    allocations("grpc/hit_path", || grpc_hit(state, &request, &mut out));
    allocations("wire/decode", || {
        black_box(Check::decode(&request).unwrap());
    });
    let headers: HashMap<String, String> =
        [("authorization".to_owned(), format!("Bearer {token}"))].into();
    let req = Request {
        method: "GET",
        target: "/users/7",
        headers: &headers,
        context: None,
    };
    let snap = state.snapshot();
    allocations("check/cache_hit", || {
        black_box(ready(gate::check(&snap, &req, tokengate::clock::now())));
    });
    let d = ready(gate::check(&snap, &req, tokengate::clock::now()));
    allocations("metrics/record_check", || {
        snap.metrics.record(
            tokengate::metrics::Transport::Grpc,
            d.reason,
            &d.authorizer,
            Duration::from_micros(30),
        );
    });
    let reply = wire::Reply::new(d);
    allocations("grpc/reply_write", || {
        out.clear();
        reply.write(&mut out);
    });
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
    let allow = Allow::new(&allowed.authorizer, allowed.set_headers(), allowed.claims());
    assert_eq!(
        allow.to_bytes(
            &allowed.remove_headers,
            &allowed.remove_query,
            &allowed.path,
            allowed.route.as_deref()
        ),
        response(allowed).encode_to_vec()
    );
    c.bench_function("wire/encode/cached", |b| {
        b.iter(|| {
            let d = black_box(allowed);
            black_box(allow.to_bytes(
                &d.remove_headers,
                &d.remove_query,
                &d.path,
                d.route.as_deref(),
            ))
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

/// An API of `n` routes, ten per service: literals, `{param}`, named methods, `ANY`, greedy.
fn api(n: usize) -> RouteTable<usize> {
    let mut routes = Vec::with_capacity(n);
    for i in 0..n {
        let s = i / 10;
        let key = match i % 10 {
            0 => format!("GET /v1/svc{s}/items"),
            1 => format!("POST /v1/svc{s}/items"),
            2 => format!("GET /v1/svc{s}/items/search"),
            3 => format!("GET /v1/svc{s}/items/{{id}}"),
            4 => format!("PUT /v1/svc{s}/items/{{id}}"),
            5 => format!("DELETE /v1/svc{s}/items/{{id}}"),
            6 => format!("GET /v1/svc{s}/items/{{id}}/parts/{{part}}"),
            7 => format!("GET /v1/svc{s}/items/{{id}}/parts/{{part}}/history"),
            8 => format!("ANY /v1/svc{s}/admin/{{proxy+}}"),
            _ => format!("ANY /v1/svc{s}/{{proxy+}}"),
        };
        routes.push((RouteKey::parse(&key).unwrap(), Arc::from(key.as_str()), i));
    }
    RouteTable::new(routes, Some(usize::MAX))
}

/// One select per iteration, so the time reported is the time per select.
fn routes(c: &mut Criterion) {
    let mut group = c.benchmark_group("route");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in [10, 1_000, 10_000] {
        let table = api(n);
        let s = n / 10 - 1;
        let cases = [
            (
                "deep",
                "GET",
                format!("/v1/svc{s}/items/42/parts/7/history"),
                7,
            ),
            ("param", "PUT", format!("/v1/svc{s}/items/42"), 4),
            ("greedy", "DELETE", format!("/v1/svc{s}/admin/users/7"), 8),
            // Every full route of the service fails on the last segment: the greedy fallback.
            ("fallback", "GET", format!("/v1/svc{s}/items/42/parts"), 9),
            (
                "default",
                "GET",
                "/v1/nothing/here/7".to_owned(),
                usize::MAX,
            ),
        ];
        for (name, method, path, shape) in cases {
            let want = if shape == usize::MAX {
                shape
            } else {
                s * 10 + shape
            };
            assert_eq!(table.select(method, &path).map(|r| *r.value), Some(want));
            group.bench_function(format!("{n}/{name}"), |b| {
                b.iter(|| {
                    black_box(table.select(black_box(method), black_box(&path))).map(|r| *r.value)
                })
            });
        }
    }
    group.finish();
}

/// The request checks every check runs before routing: a plain path (borrowed as is) and one
/// with escapes to decode (one allocation).
fn request_checks(c: &mut Criterion) {
    use tokengate::request::checks::{Paths, check};
    let typical = "/users/7/orders/2024-11-29";
    let decoded = "/%61dmin/%7Euser/john%40example.com/x";
    assert!(matches!(
        check("GET", typical, Paths::Strict),
        Ok(std::borrow::Cow::Borrowed(_))
    ));
    assert_eq!(
        check("GET", decoded, Paths::Strict).unwrap(),
        "/admin/~user/john%40example.com/x"
    );
    c.bench_function("request/checks/typical", |b| {
        b.iter(|| black_box(check("GET", black_box(typical), Paths::Strict)).is_ok())
    });
    c.bench_function("request/checks/decoded", |b| {
        b.iter(|| black_box(check("GET", black_box(decoded), Paths::Strict)).is_ok())
    });
}

criterion_group!(benches, checks, routes, request_checks);
criterion_main!(benches);
