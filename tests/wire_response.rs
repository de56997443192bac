//! The byte-level `CheckResponse` writer (`tokengate::wire::response`) against the prost-built
//! response of `server::grpc::response`, and the raw `Check` service (`tokengate::wire::Server`)
//! answering real tonic clients with the very bytes the prost-based server sends.

#![allow(clippy::unwrap_used)]

use tokengate::testkit as common;

use std::sync::Arc;

use common::*;
use prost::Message;
use prost::bytes::Bytes;
use serde_json::json;
use tokengate::decision::{Decision, NO_AUTHORIZER, Reason};
use tokengate::jwks::Key;
use tokengate::jwt::Alg;
use tokengate::jwt::claims::Times;
use tokengate::pb::auth::{CheckRequest, CheckResponse};
use tokengate::state::State;
use tokengate::testkit::prost_response as response;
use tokengate::token_cache::{Claims, Verified};
use tokengate::wire::{self, Allow, Check, RawCodec};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

fn assert_same(d: &Decision) {
    let ours = wire::response::encode(d);
    let theirs = response(d);
    // What the gRPC front writes into its frame: the same bytes.
    let reply = wire::Reply::new(d.clone());
    let mut written = Vec::new();
    reply.write(&mut written);
    assert_eq!(written, ours, "reply of {d:?}");
    assert_eq!(reply.encoded_len(), ours.len());
    assert_eq!(CheckResponse::decode(&ours[..]).unwrap(), theirs, "{d:?}");
    assert_eq!(&ours[..], &theirs.encode_to_vec()[..], "bytes of {d:?}");
}

fn claims(size: usize) -> Claims {
    let value = json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "exp": 1.7e9, "iat": 1_700_000_000,
        "scope": "users/read admin", "aud": ["a", "b"], "admin": true, "none": null,
        "address": {"country": "FR", "city": "Évry"}, "": "empty name", "zero": 0, "neg": -0.5,
        "pad": "x".repeat(size),
    });
    Claims::new(value.as_object().unwrap())
}

/// A verdict of `authorizer` setting `set` and carrying `claims`, as the token cache keeps it.
fn verified(authorizer: &str, set: &[(&str, &str)], claims: &Claims) -> Arc<Verified> {
    static KEY: std::sync::LazyLock<Arc<Key>> = std::sync::LazyLock::new(|| {
        let jwk = serde_json::from_value(signer(Alg::ES256, "k").jwk()).unwrap();
        Arc::new(Key::from_jwk(&jwk).unwrap())
    });
    Arc::new(Verified {
        times: Times {
            exp: 2e9,
            nbf: None,
            iat: None,
        },
        verified_at: 1.7e9,
        scopes: "".into(),
        allow: Allow::new(authorizer, set.iter().copied(), Some(claims.as_bytes())),
        held: Default::default(),
        revocation: [None; 3],
        key: KEY.clone(),
    })
}

fn decision(reason: Reason) -> Decision {
    Decision {
        reason,
        authorizer: Arc::from("cognito"),
        route: Some(Arc::from("GET /users/{id}")),
        path: "/users/7".into(),
        scopes: Arc::from([]),
        verified: None,
        remove_headers: Vec::new(),
        remove_query: Vec::new(),
        cors: Vec::new(),
    }
}

fn strings(items: &[&str]) -> Vec<Arc<str>> {
    items.iter().map(|s| Arc::from(*s)).collect()
}

#[test]
fn every_denial_is_the_prost_response_byte_for_byte() {
    for reason in Reason::ALL.into_iter().filter(|r| !r.is_allow()) {
        for scopes in [&[][..], &["users/read"], &["users/read", "admin"]] {
            let d = Decision {
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                // What a denial never sends, to show it is not sent.
                remove_headers: strings(&["x-user-id"]),
                verified: Some(verified("cognito", &[("x-user-id", "u")], &claims(0))),
                ..decision(reason)
            };
            assert_same(&d);
        }
    }
}

#[test]
fn every_allow_is_the_prost_response_byte_for_byte() {
    let long = "v".repeat(300);
    let set_headers: [&[(&str, &str)]; 4] = [
        &[],
        &[("x-user-id", "user-1")],
        &[("x-user-id", "user-1"), ("x-empty", ""), ("x-long", &long)],
        &[("", "nameless")],
    ];
    let removals = [&[][..], &["x-user-id", "x_user_id", "authorization"], &[""]];
    let queries = [&[][..], &["access_token"]];
    let routes = [None, Some(""), Some("GET /users/{id}")];
    // A verdict always carries its claims; a public allow carries no verdict.
    let claim_sets = [None, Some(0), Some(20_000)];
    let mut n = 0;
    for reason in [Reason::Verified, Reason::Public] {
        for authorizer in ["cognito", NO_AUTHORIZER, ""] {
            for set in set_headers {
                for remove in removals {
                    for query in queries {
                        for route in routes {
                            for claims in &claim_sets {
                                let d = Decision {
                                    authorizer: Arc::from(authorizer),
                                    route: route.map(Arc::from),
                                    verified: claims
                                        .map(|size| verified(authorizer, set, &self::claims(size))),
                                    remove_headers: strings(remove),
                                    remove_query: strings(query),
                                    ..decision(reason)
                                };
                                assert_same(&d);
                                n += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(n, 2 * 3 * 4 * 3 * 2 * 3 * 3);
}

#[test]
fn one_allow_serves_every_request_of_its_verdict() {
    let claims = claims(40);
    let set = [("x-user-id", "user-1"), ("x-jwt-payload", "e30")];
    let allow = Allow::new("cognito", set, Some(claims.as_bytes()));
    for (remove, query, route) in [
        (&["x-user-id"][..], &[][..], Some("GET /a")),
        (
            &["authorization", "x_user_id"],
            &["token"],
            Some("ANY /{proxy+}"),
        ),
        (&[], &[], None),
    ] {
        let bytes = allow.to_bytes(remove, query, "/users/7", route);
        assert_eq!(
            bytes.len(),
            allow.encoded_len(remove, query, "/users/7", route)
        );
        let d = Decision {
            route: route.map(Arc::from),
            verified: Some(verified("cognito", &set, &claims)),
            remove_headers: strings(remove),
            remove_query: strings(query),
            ..decision(Reason::Verified)
        };
        assert_eq!(&bytes[..], &response(&d).encode_to_vec()[..]);
    }
}

/// The gate behind the raw service: the in-place reader in, the byte writer out.
struct Gate(Arc<State>);

impl wire::Handler for Gate {
    async fn check(&self, request: Request<Bytes>) -> Result<Response<wire::Reply>, Status> {
        let bytes = request.into_inner();
        // INTERNAL, as tonic's prost codec answers a request it cannot decode.
        let check = Check::decode(&bytes).map_err(|e| Status::internal(e.to_string()))?;
        let input = tokengate::request::Request {
            method: check.method,
            target: check.path,
            headers: &check,
            context: Some(&check),
        };
        let snap = self.0.snapshot();
        let decision = tokengate::gate::check(&snap, &input, tokengate::clock::now()).await;
        Ok(Response::new(wire::Reply::new(decision)))
    }
}

async fn raw_check(channel: &Channel, path: &'static str, body: Vec<u8>) -> Result<Bytes, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(path);
    let response = grpc
        .unary(Request::new(Bytes::from(body).into()), path, RawCodec)
        .await?;
    Ok(response.into_inner())
}

#[tokio::test]
async fn the_raw_service_answers_tonic_clients_with_the_prost_servers_bytes() {
    let rs = signer(Alg::RS256, "k1");
    let jwks = JwksServer::start(&[&rs]).await;
    let yaml = format!(
        r#"
authorizers:
  main:
    issuer: "{}"
    audience: [api]
    claims_to_headers: {{sub: x-user-id, scope: x-user-scopes}}
    strip_token: true
  query:
    issuer: "{}"
    audience: [api]
    identity_source: ["$request.querystring.token"]
    strip_token: true
routes:
  "GET /admin/{{proxy+}}": {{authorizer: main, scopes: [admin]}}
  "GET /health": {{public: true}}
  "ANY /api/{{proxy+}}": {{authorizer: main}}
  "GET /q": {{authorizer: query}}
"#,
        jwks.url, jwks.url
    );
    let tg = Tokengate::start(&yaml).await.ready().await;
    let mut prost_client = tg.client().await;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(wire::Server::new(Gate(tg.state.clone())))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async {
                    let _ = stopped.await;
                },
            ),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut raw_client =
        tokengate::pb::auth::authorization_client::AuthorizationClient::new(channel.clone());

    let mut c = common::claims(&jwks.url, "api");
    c["scope"] = json!("read write");
    let token = rs.sign(&c);
    let auth = bearer(&token);
    let requests: Vec<CheckRequest> = vec![
        check_request(
            "GET",
            "/api/x?y=1",
            &[("authorization", &auth), ("x-user-id", "forged")],
        ),
        check_request("GET", "/api/x", &[]),
        check_request("GET", "/api/x", &[("authorization", "Bearer x.y.z")]),
        check_request("GET", "/admin/users", &[("authorization", &auth)]),
        check_request("GET", "/health", &[("x_user_id", "forged")]),
        check_request("GET", "/nowhere", &[("authorization", &auth)]),
        check_request_with(
            "GET",
            "/nowhere",
            &[("authorization", &auth)],
            &[("authorizer", "main")],
        ),
        check_request("GET", &format!("/q?token={token}&a=1"), &[]),
    ];
    for req in requests {
        let expected = prost_client.check(req.clone()).await.unwrap().into_inner();
        let bytes = raw_check(&channel, wire::codec::CHECK_PATH, req.encode_to_vec())
            .await
            .unwrap();
        assert_eq!(&bytes[..], &expected.encode_to_vec()[..], "{req:?}");
        let decoded = raw_client.check(req).await.unwrap().into_inner();
        assert_eq!(decoded, expected);
    }
    let broken = raw_check(&channel, wire::codec::CHECK_PATH, vec![0x0a, 0x05])
        .await
        .unwrap_err();
    assert_eq!(broken.code(), tonic::Code::Internal);
    let other = raw_check(
        &channel,
        "/envoy.service.auth.v3.Authorization/Other",
        Vec::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(other.code(), tonic::Code::Unimplemented);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    tg.shutdown().await;
}
