//! The ext_authz gRPC surface over a real socket with a real tonic client: the decision
//! table on the wire, header semantics, dynamic metadata, health and reflection.

use tokengate::testkit as common;

use common::*;
use serde_json::json;
use tokengate::jwt::Alg;

const OVERWRITE_IF_EXISTS_OR_ADD: i32 = 2;

fn config(iss: &str) -> String {
    format!(
        r#"
authorizers:
  main:
    issuer: "{iss}"
    audience: [api]
    claims_to_headers: {{sub: x-user-id, scope: x-user-scopes}}
    forward_payload_header: x-jwt-payload
    strip_token: true
routes:
  "GET /admin/{{proxy+}}": {{authorizer: main, scopes: [admin, root]}}
  "GET /health": {{public: true}}
  "ANY /api/{{proxy+}}": {{authorizer: main}}
"#
    )
}

#[tokio::test]
async fn every_row_of_the_decision_table_goes_over_the_wire() {
    let rs = signer(Alg::RS256, "k1");
    let jwks = JwksServer::start(&[&rs]).await;
    let tg = Tokengate::start(&config(&jwks.url)).await.ready().await;
    let mut client = tg.client().await;
    let mut c = claims(&jwks.url, "api");
    c["scope"] = json!("read write");
    let token = rs.sign(&c);

    // allowed
    let v = check(
        &mut client,
        check_request(
            "GET",
            "/api/%78?y=1",
            &[("authorization", &bearer(&token)), ("x-user-id", "forged")],
        ),
    )
    .await;
    assert_eq!(v.grpc_code, 0);
    assert_eq!(v.set.get("x-user-id").map(String::as_str), Some("user-1"));
    assert_eq!(
        v.actions.get("x-user-id"),
        Some(&OVERWRITE_IF_EXISTS_OR_ADD)
    );
    assert_eq!(
        v.set.get("x-user-scopes").map(String::as_str),
        Some("read write")
    );
    assert_eq!(
        v.set.get("x-jwt-payload").map(String::as_str),
        token.split('.').nth(1)
    );
    assert!(
        v.removed.contains(&"authorization".to_owned()),
        "strip_token removes the header: {:?}",
        v.removed
    );
    let meta = v.metadata.expect("dynamic metadata");
    let field = |k: &str| meta.fields.get(k).and_then(|v| v.kind.clone());
    use prost_types::value::Kind;
    assert_eq!(field("authorizer"), Some(Kind::StringValue("main".into())));
    assert_eq!(
        field("route"),
        Some(Kind::StringValue("ANY /api/{proxy+}".into()))
    );
    // The path as judged: after the request checks, without the query.
    assert_eq!(field("path"), Some(Kind::StringValue("/api/x".into())));
    let Some(Kind::StructValue(claims_struct)) = field("claims") else {
        panic!("claims struct")
    };
    assert_eq!(
        claims_struct.fields["sub"].kind,
        Some(Kind::StringValue("user-1".into()))
    );

    // no token
    let v = check(&mut client, check_request("GET", "/api/x", &[])).await;
    assert_eq!((v.grpc_code, v.http_status), (16, Some(401)));
    assert_eq!(v.body, r#"{"message":"Unauthorized"}"#);
    assert_eq!(
        v.denied_headers.get("www-authenticate").map(String::as_str),
        Some("Bearer")
    );
    assert_eq!(
        v.denied_headers.get("content-type").map(String::as_str),
        Some("application/json")
    );

    // invalid token
    let v = check(
        &mut client,
        check_request("GET", "/api/x", &[("authorization", "Bearer x.y.z")]),
    )
    .await;
    assert_eq!((v.grpc_code, v.http_status), (16, Some(401)));
    assert_eq!(
        v.denied_headers.get("www-authenticate").map(String::as_str),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(v.body, r#"{"message":"Unauthorized"}"#);

    // missing scope
    let v = check(
        &mut client,
        check_request("GET", "/admin/users", &[("authorization", &bearer(&token))]),
    )
    .await;
    assert_eq!((v.grpc_code, v.http_status), (7, Some(403)));
    assert_eq!(v.body, r#"{"message":"Forbidden"}"#);
    assert_eq!(
        v.denied_headers.get("www-authenticate").map(String::as_str),
        Some(r#"Bearer error="insufficient_scope", scope="admin root""#)
    );

    // no route
    let v = check(
        &mut client,
        check_request("GET", "/other", &[("authorization", &bearer(&token))]),
    )
    .await;
    assert_eq!((v.grpc_code, v.http_status), (7, Some(403)));
    assert_eq!(v.body, r#"{"message":"Forbidden"}"#);
    assert!(!v.denied_headers.contains_key("www-authenticate"));

    // public: claim headers a client sent are removed
    let v = check(
        &mut client,
        check_request("GET", "/health", &[("x-user-id", "forged")]),
    )
    .await;
    assert_eq!(v.grpc_code, 0);
    assert!(v.set.is_empty());
    for h in ["x-user-id", "x-user-scopes", "x-jwt-payload"] {
        assert!(
            v.removed.contains(&h.to_owned()),
            "{h} removed on a public route"
        );
    }
    tg.shutdown().await;
}

#[tokio::test]
async fn keys_never_loaded_answer_503_unavailable_and_health_is_not_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let rs = signer(Alg::RS256, "k1");
    let jwks = JwksServer::start(&[&rs]).await;
    jwks.set_mode(Mode::Status(503));
    let tg = Tokengate::start(&config(&jwks.url)).await;
    let mut client = tg.client().await;
    let token = rs.sign(&claims(&jwks.url, "api"));
    let v = check(
        &mut client,
        check_request("GET", "/api/x", &[("authorization", &bearer(&token))]),
    )
    .await;
    assert_eq!((v.grpc_code, v.http_status), (14, Some(503)));
    assert_eq!(v.body, r#"{"message":"Service Unavailable"}"#);

    let mut health = HealthClient::new(channel(tg.grpc).await);
    let status = |svc: &str| HealthCheckRequest {
        service: svc.to_owned(),
    };
    let s = health
        .check(status("envoy.service.auth.v3.Authorization"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.status, ServingStatus::NotServing as i32);

    let mut watch = health.watch(status("")).await.unwrap().into_inner();
    jwks.set_mode(Mode::Keys);
    let keys = tg.state.snapshot().authorizers[0].keys().clone();
    keys.refresh().await.unwrap();
    let tg = tg.ready().await;
    let serving = async {
        while let Some(s) = watch.message().await.unwrap() {
            if s.status == ServingStatus::Serving as i32 {
                return;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(2), serving)
        .await
        .expect("health turns SERVING once keys are loaded");
    // An open watch would hold the drain below for its full 10 s.
    drop(watch);
    let v = check(
        &mut client,
        check_request("GET", "/api/x", &[("authorization", &bearer(&token))]),
    )
    .await;
    assert_eq!(v.grpc_code, 0);
    tg.shutdown().await;
}

#[tokio::test]
async fn reflection_lists_the_authorization_and_health_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let rs = signer(Alg::RS256, "k1");
    let jwks = JwksServer::start(&[&rs]).await;
    let tg = Tokengate::start(&config(&jwks.url)).await;
    let mut client = ServerReflectionClient::new(channel(tg.grpc).await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let resp = stream.message().await.unwrap().expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("expected a service list")
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"envoy.service.auth.v3.Authorization"),
        "{names:?}"
    );
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
    tg.shutdown().await;
}

async fn channel(addr: std::net::SocketAddr) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect()
        .await
        .expect("connects")
}
