//! The floor: a `Check` server (tonic) and an HTTP server (tokengate's own listener) that do
//! no work, on the same tokio runtime as tokengate and run as their own process, so a scenario's cost can be split into what
//! the transport costs and what tokengate adds.

use std::net::SocketAddr;

use tokengate::pb::auth::authorization_server::{Authorization, AuthorizationServer};
use tokengate::pb::auth::{CheckRequest, CheckResponse, OkHttpResponse, check_response};
use tokengate::pb::google::rpc;
use tonic::{Request, Response, Status};

/// Set on the re-executed harness binary: `GRPC_ADDR,HTTP_ADDR`.
pub const ENV: &str = "TOKENGATE_LOAD_FLOOR";

struct Floor;

#[tonic::async_trait]
impl Authorization for Floor {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        // Decoded by tonic like any request; then allowed without looking.
        drop(request);
        Ok(Response::new(CheckResponse {
            status: Some(rpc::Status {
                code: 0,
                ..Default::default()
            }),
            http_response: Some(check_response::HttpResponse::OkResponse(
                OkHttpResponse::default(),
            )),
            ..Default::default()
        }))
    }
}

/// Runs the floor servers until killed; the same runtime tokengate's `serve` builds.
pub fn serve(spec: &str) {
    let (grpc, http) = spec.split_once(',').expect("GRPC_ADDR,HTTP_ADDR");
    let grpc: SocketAddr = grpc.parse().expect("gRPC address");
    let http: SocketAddr = http.parse().expect("HTTP address");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let grpc_listener = tokio::net::TcpListener::bind(grpc)
            .await
            .expect("bind the floor's gRPC port");
        let incoming =
            tonic::transport::server::TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
        let grpc = tonic::transport::Server::builder()
            .add_service(AuthorizationServer::new(Floor))
            .serve_with_incoming(incoming);
        let listener = tokio::net::TcpListener::bind(http)
            .await
            .expect("bind the floor's HTTP port");
        // tokengate's own listener (hyper, its limits and connection tracking), so the HTTP
        // floor differs from the authorizer only in answering 200 without looking.
        let app = axum::Router::new().fallback(|| async { http::StatusCode::OK });
        let limits = tokengate::limits::Limits::default();
        let stop = tokio_util::sync::CancellationToken::new();
        let http = tokengate::server::listen::serve("http", listener, app, &limits, stop);
        let (g, ()) = tokio::join!(grpc, http);
        g.expect("floor gRPC server");
    });
}
