//! Serving: the gRPC, HTTP-authorizer and admin listeners, run until a shutdown signal, then
//! drained for up to [`DRAIN`].
//!
//! [`run`] takes already-bound listeners and a shutdown future, so tests bind `127.0.0.1:0` and
//! pass a oneshot while the binary binds the configured addresses and passes a signal.

pub mod admin;
pub mod denylog;
pub mod grpc;
pub mod http;
pub mod listen;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::config::Listen;
use crate::pb;
use crate::state::State;

/// How long in-flight checks may take to finish after a shutdown signal.
pub const DRAIN: Duration = Duration::from_secs(10);
const AUTH_SERVICE: &str = "envoy.service.auth.v3.Authorization";

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("{what} server: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
}

/// The three bound listeners.
#[derive(Debug)]
pub struct Listeners {
    pub grpc: TcpListener,
    pub http: TcpListener,
    pub admin: TcpListener,
}

impl Listeners {
    pub async fn bind(listen: &Listen) -> Result<Listeners, Error> {
        async fn one(what: &'static str, addr: SocketAddr) -> Result<TcpListener, Error> {
            TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { what, addr, source })
        }
        Ok(Listeners {
            grpc: one("grpc", listen.grpc).await?,
            http: one("http", listen.http).await?,
            admin: one("admin", listen.admin).await?,
        })
    }

    /// `(grpc, http, admin)` local addresses.
    pub fn addrs(&self) -> std::io::Result<(SocketAddr, SocketAddr, SocketAddr)> {
        Ok((
            self.grpc.local_addr()?,
            self.http.local_addr()?,
            self.admin.local_addr()?,
        ))
    }
}

const UPKEEP: Duration = Duration::from_secs(5);

/// Serves until `shutdown` resolves, then drains. `extra_admin` adds routes to the admin
/// listener (the development issuer).
pub async fn run(
    state: Arc<State>,
    listeners: Listeners,
    metrics: PrometheusHandle,
    extra_admin: Option<Router>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let stop = CancellationToken::new();
    let log = Arc::new(denylog::DenyLog::default());
    let mut tasks: JoinSet<Result<(), Error>> = JoinSet::new();

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    reporter
        .set_service_status(AUTH_SERVICE, ServingStatus::NotServing)
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let auth = pb::auth::authorization_server::AuthorizationServer::new(grpc::AuthService::new(
        state.clone(),
        log.clone(),
    ));
    let incoming = TcpIncoming::from(listeners.grpc).with_nodelay(Some(true));
    let grpc_stop = stop.clone();
    tasks.spawn(async move {
        tonic::transport::Server::builder()
            .add_service(health)
            .add_service(reflection)
            .add_service(auth)
            .serve_with_incoming_shutdown(incoming, grpc_stop.cancelled_owned())
            .await
            .map_err(Error::from)
    });

    let http_app = http::router(http::HttpAuthorizer {
        state: state.clone(),
        log,
    });
    tasks.spawn(serve_axum("http", listeners.http, http_app, stop.clone()));

    // Histogram samples queue in the recorder until drained: without a scrape they would grow
    // by one per check, so drain them on a timer too.
    let upkeep = metrics.clone();
    let upkeep_stop = stop.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP);
        loop {
            tokio::select! {
                _ = tick.tick() => upkeep.run_upkeep(),
                () = upkeep_stop.cancelled() => return,
            }
        }
    });
    let mut admin_app = admin::router(admin::Admin {
        state: state.clone(),
        metrics,
    });
    if let Some(extra) = extra_admin {
        admin_app = admin_app.merge(extra);
    }
    tasks.spawn(serve_axum(
        "admin",
        listeners.admin,
        admin_app,
        stop.clone(),
    ));

    let health_stop = stop.clone();
    tasks.spawn(async move {
        track_health(state, reporter, health_stop).await;
        Ok(())
    });

    let early = tokio::select! {
        () = shutdown => None,
        Some(done) = tasks.join_next() => Some(done),
    };
    stop.cancel();
    // A server that ended on its own is an error worth exiting on.
    if let Some(Ok(Err(e))) = early {
        return Err(e);
    }
    tracing::info!("shutting down: draining in-flight checks");
    let drained = tokio::time::timeout(DRAIN, async {
        while let Some(done) = tasks.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e, "server ended with an error while draining");
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("drain took longer than {DRAIN:?}; exiting anyway");
    }
    Ok(())
}

async fn serve_axum(
    what: &'static str,
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
) -> Result<(), Error> {
    // Small request/response exchanges: Nagle would only add latency.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop.cancelled_owned())
    .await
    .map_err(|source| Error::Io { what, source })
}

/// gRPC health follows readiness: NOT_SERVING until every authorizer has keys.
async fn track_health(
    state: Arc<State>,
    reporter: tonic_health::server::HealthReporter,
    stop: CancellationToken,
) {
    let mut last = None;
    loop {
        let ready = state.snapshot().is_ready();
        if last != Some(ready) {
            let status = if ready {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            reporter.set_service_status("", status).await;
            reporter.set_service_status(AUTH_SERVICE, status).await;
            last = Some(ready);
        }
        let poll = if ready {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(50)
        };
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = state.reloaded.notified() => {}
            () = stop.cancelled() => return,
        }
    }
}
