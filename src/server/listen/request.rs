//! One request through the app: the peer's address put where axum's `ConnectInfo` and tonic's
//! `remote_addr()` look for it, gRPC messages bounded, the request timeout, and the request
//! counted in flight from here until its response body is over.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpConnectInfo;
use tower::Service;

use super::body::{Limited, Tracked};
use super::watch::{Activity, InFlight};

/// The body of the HTTP answer to a request that ran out of time: the HTTP authorizer's own
/// 503 body, so nginx and Envoy see one shape for "cannot decide now".
const UNAVAILABLE: &str = r#"{"message":"Service Unavailable"}"#;

/// The per-connection hyper service around an axum [`Router`].
#[derive(Clone)]
pub struct Requests {
    pub app: Router,
    pub peer: SocketAddr,
    pub local: Option<SocketAddr>,
    pub activity: Arc<Activity>,
    pub timeout: Duration,
    /// The largest gRPC message accepted.
    pub max_message: usize,
    pub stop: CancellationToken,
}

impl hyper::service::Service<Request<Incoming>> for Requests {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        // Ends the request when dropped: with the response body, or with this future if the
        // client goes away first.
        let work = InFlight::new(self.activity.clone());
        req.extensions_mut().insert(ConnectInfo(self.peer));
        req.extensions_mut().insert(TcpConnectInfo {
            local_addr: self.local,
            remote_addr: Some(self.peer),
        });
        let grpc = is_grpc(&req);
        let req = req.map(|body| Limited::new(body, grpc.then_some(self.max_message)));
        let grpc_stop = grpc.then(|| self.stop.clone());
        let mut app = self.app.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let response = match tokio::time::timeout(timeout, app.call(req)).await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_elapsed) => too_slow(grpc),
            };
            Ok(response.map(|body| Tracked::new(body, work, grpc_stop)))
        })
    }
}

fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// A request not answered within `request_timeout`. The deadline is ours, not the client's (its
/// head was read before the clock started), so HTTP gets 503, the status the HTTP authorizer
/// already uses for "cannot decide now", not 408; nginx's `auth_request` and Envoy treat it as
/// an authorizer error. gRPC gets UNAVAILABLE: a failed RPC, which Envoy hands to
/// `failure_mode_allow`/`status_on_error`, never a denial or an allow.
fn too_slow(grpc: bool) -> Response<Body> {
    if grpc {
        return tonic::Status::unavailable("request timed out").into_http();
    }
    let mut response = Response::new(Body::from(UNAVAILABLE));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
