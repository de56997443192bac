//! `server::listen::serve` over HTTP/2 prior knowledge: a tonic service routed through axum
//! (trailers, streaming, message size, request timeout) and HTTP/2's own limits read with a
//! raw `h2` client.

// Test scaffolding: a failed set-up step should panic loudly.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::post;
use axum::{Extension, Router};
use http::Request;
use tokengate::limits::Limits;
use tokengate::server::listen::serve;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::server::TcpConnectInfo;
use tonic::transport::{Channel, Endpoint};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::server::HealthReporter;

struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
    done: JoinHandle<()>,
}

async fn start(app: Router, limits: Limits) -> Server {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let stop = CancellationToken::new();
    let done = tokio::spawn({
        let stop = stop.clone();
        async move { serve("test", tcp, app, &limits, stop).await }
    });
    Server { addr, stop, done }
}

impl Server {
    async fn shutdown(self) {
        self.stop.cancel();
        timeout(Duration::from_secs(5), self.done)
            .await
            .expect("serve returns once its connections are gone")
            .unwrap();
    }
}

fn small() -> Limits {
    Limits {
        max_connections: 100,
        max_streams: 7,
        max_request_bytes: 8192,
        request_timeout: Duration::from_millis(300),
        header_read_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_secs(10),
    }
}

/// The health service as tonic routes it, with tonic's own message bound if given, plus one
/// slow method to run out the request timeout.
async fn grpc_app(max_decoding: Option<usize>) -> (Router, HealthReporter) {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    let health = match max_decoding {
        Some(max) => health.max_decoding_message_size(max),
        None => health,
    };
    let router = tonic::service::Routes::new(health)
        .prepare()
        .into_axum_router()
        .route(
            "/test.Slow/Call",
            post(|| async {
                sleep(Duration::from_secs(5)).await;
                ""
            }),
        )
        .route(
            "/test.Peer/Call",
            post(|Extension(info): Extension<TcpConnectInfo>| async move {
                let peer = info
                    .remote_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                [("x-peer", peer)]
            }),
        );
    (router, reporter)
}

async fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn check(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

#[tokio::test]
async fn grpc_unary_and_streaming_calls_work_through_the_listener() {
    let limits = small();
    let (app, reporter) = grpc_app(None).await;
    let srv = start(app, limits).await;
    let mut health = HealthClient::new(channel(srv.addr).await);
    // The status travels in trailers.
    let status = health.check(check("")).await.unwrap().into_inner().status;
    assert_eq!(status, ServingStatus::Serving as i32);
    let unknown = health.check(check("nope")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // A streaming response outlives request_timeout (300 ms): the timeout bounds the wait
    // for the response to start, not a stream's life.
    let mut watch = health.watch(check("")).await.unwrap().into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    sleep(Duration::from_millis(500)).await;
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let next = timeout(Duration::from_secs(2), watch.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.status, ServingStatus::NotServing as i32);
    drop(watch);
    drop(health);
    srv.shutdown().await;
}

#[tokio::test]
async fn stop_ends_an_open_grpc_stream_with_unavailable_instead_of_waiting_for_it() {
    let (app, _reporter) = grpc_app(None).await;
    let srv = start(app, small()).await;
    let mut health = HealthClient::new(channel(srv.addr).await);
    let mut watch = health.watch(check("")).await.unwrap().into_inner();
    assert!(watch.message().await.unwrap().is_some());
    let stopped = Instant::now();
    srv.stop.cancel();
    let ended = timeout(Duration::from_secs(2), watch.message())
        .await
        .expect("the stream ends on stop")
        .unwrap_err();
    assert_eq!(ended.code(), Code::Unavailable);
    drop(watch);
    drop(health);
    timeout(Duration::from_secs(3), srv.done)
        .await
        .expect("serve returns without waiting out the stream")
        .unwrap();
    assert!(stopped.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn grpc_services_see_the_peer_address_where_tonic_looks_for_it() {
    let (app, _reporter) = grpc_app(None).await;
    let srv = start(app, small()).await;
    let (client, mut conn, me) = h2_connect(srv.addr).await;
    let mut client = client.ready().await.unwrap();
    let req = Request::post("http://t/test.Peer/Call")
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let (response, _) = client.send_request(req, true).unwrap();
    let response = tokio::select! {
        r = response => r.unwrap(),
        _ = &mut conn => panic!("connection ended"),
    };
    assert_eq!(response.headers()["x-peer"].to_str().unwrap(), me);
    drop(client);
    srv.shutdown().await;
}

#[tokio::test]
async fn an_oversized_grpc_message_is_refused_with_resource_exhausted() {
    let limits = small();
    // Whether or not the service bounds its messages itself (tonic would say OUT_OF_RANGE).
    for own_bound in [None, Some(limits.max_request_bytes)] {
        let (app, _reporter) = grpc_app(own_bound).await;
        let srv = start(app, limits).await;
        let mut health = HealthClient::new(channel(srv.addr).await);
        // A 1-byte tag and a 2-byte length precede the string: this message is one byte over.
        let over = "s".repeat(limits.max_request_bytes - 2);
        let refused = health.check(check(&over)).await.unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted, "{own_bound:?}");
        // One byte shorter is at the limit and served (the service is unknown, so NOT_FOUND).
        let at = "s".repeat(limits.max_request_bytes - 3);
        let served = health.check(check(&at)).await.unwrap_err();
        assert_eq!(served.code(), Code::NotFound, "{own_bound:?}");
        assert!(health.check(check("")).await.is_ok());
        srv.shutdown().await;
    }
}

#[tokio::test]
async fn a_slow_grpc_call_fails_unavailable_at_request_timeout() {
    let (app, _reporter) = grpc_app(None).await;
    let srv = start(app, small()).await;
    let mut grpc = tonic::client::Grpc::new(channel(srv.addr).await);
    grpc.ready().await.unwrap();
    let started = Instant::now();
    let failed = grpc
        .unary::<(), (), _>(
            tonic::Request::new(()),
            http::uri::PathAndQuery::from_static("/test.Slow/Call"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(failed.code(), Code::Unavailable);
    assert!(started.elapsed() < Duration::from_secs(2));
    srv.shutdown().await;
}

/// A raw HTTP/2 connection: its request handle, its connection (to be driven by the test)
/// and its local address.
async fn h2_connect(
    addr: SocketAddr,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    h2::client::Connection<TcpStream>,
    String,
) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let me = tcp.local_addr().unwrap().to_string();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    (client, conn, me)
}

fn get(path: &str) -> Request<()> {
    Request::get(format!("http://t{path}")).body(()).unwrap()
}

fn plain_app() -> Router {
    Router::new().route("/", axum::routing::get(|| async { "ok" }))
}

#[tokio::test]
async fn http2_advertises_max_streams_and_refuses_an_oversized_header_list_with_431() {
    let srv = start(plain_app(), small()).await;
    let (client, mut conn, _) = h2_connect(srv.addr).await;
    let mut client = client.ready().await.unwrap();
    let (response, _) = client.send_request(get("/"), true).unwrap();
    let response = tokio::select! {
        r = response => r.unwrap(),
        _ = &mut conn => panic!("connection ended"),
    };
    assert_eq!(response.status(), 200);
    assert_eq!(conn.max_concurrent_send_streams(), 7);

    let mut big = get("/");
    big.headers_mut()
        .insert("x-big", "a".repeat(9000).parse().unwrap());
    let (response, _) = client.send_request(big, true).unwrap();
    let response = tokio::select! {
        r = response => r.unwrap(),
        _ = &mut conn => panic!("connection ended"),
    };
    assert_eq!(response.status(), 431);
    drop(client);
    srv.shutdown().await;
}

#[tokio::test]
async fn an_idle_http2_connection_gets_goaway_after_idle_timeout() {
    let limits = Limits {
        idle_timeout: Duration::from_millis(300),
        ..small()
    };
    let srv = start(plain_app(), limits).await;
    let (client, mut conn, _) = h2_connect(srv.addr).await;
    let mut client = client.ready().await.unwrap();
    let (response, _) = client.send_request(get("/"), true).unwrap();
    tokio::select! {
        r = response => assert_eq!(r.unwrap().status(), 200),
        _ = &mut conn => panic!("connection ended"),
    }
    let idle = Instant::now();
    timeout(Duration::from_secs(3), conn)
        .await
        .expect("the server closes an idle HTTP/2 connection")
        .expect("with a GOAWAY, not an error");
    let after = idle.elapsed();
    assert!(
        after >= Duration::from_millis(250) && after < Duration::from_millis(1500),
        "closed after {after:?} idle, idle_timeout is 300 ms"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn stop_sends_goaway_to_an_idle_http2_connection_at_once() {
    let srv = start(plain_app(), small()).await;
    let (client, mut conn, _) = h2_connect(srv.addr).await;
    let mut client = client.ready().await.unwrap();
    let (response, _) = client.send_request(get("/"), true).unwrap();
    tokio::select! {
        r = response => assert_eq!(r.unwrap().status(), 200),
        _ = &mut conn => panic!("connection ended"),
    }
    let stopped = Instant::now();
    srv.stop.cancel();
    timeout(Duration::from_secs(3), conn)
        .await
        .expect("closed on stop")
        .expect("with a GOAWAY, not an error");
    assert!(
        stopped.elapsed() < Duration::from_millis(250),
        "{:?}",
        stopped.elapsed()
    );
    timeout(Duration::from_secs(2), srv.done)
        .await
        .unwrap()
        .unwrap();
}
