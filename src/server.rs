//! Serving: the gRPC, HTTP-authorizer and admin listeners, from start until a shutdown signal,
//! then drained for up to [`DRAIN`].
//!
//! [`start`] is the one way a server comes up — the binary, `--dev` and the tests all use it:
//! it binds the configured addresses (tests configure `127.0.0.1:0`) and returns a [`Running`]
//! server whose addresses are known, which [`Running::run_until`] serves until a shutdown
//! future resolves (a signal in the binary, a call in tests).

pub mod admin;
pub mod check;
pub mod dev_issuer;
pub mod dev_page;
pub mod grpc;
pub mod http;
pub mod listen;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::AtomicUsize;

use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;

use crate::clock::Clock;
use crate::config::Config;
use crate::jwks::Fetcher;
use crate::log::ClientLog;
use crate::metrics::Transport;
use crate::pb;
use crate::state::State;
use check::Checker;

/// How long in-flight checks may take to finish after a shutdown signal.
pub const DRAIN: Duration = Duration::from_secs(10);
const AUTH_SERVICE: &str = "envoy.service.auth.v3.Authorization";
/// Histogram samples queue in the recorder until drained: without a scrape they would grow by
/// one per check, so they are drained on this timer too.
const UPKEEP: Duration = Duration::from_secs(5);

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listener could not bind.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The configured address.
        addr: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// The JWKS client could not be built (TLS roots).
    #[error("cannot build the JWKS client: {0}")]
    Client(#[from] reqwest::Error),
    /// The reflection service could not be built.
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The HTTP or admin server failed.
    #[error("{what} server: {source}")]
    Io {
        /// Which server.
        what: &'static str,
        /// What failed.
        source: std::io::Error,
    },
}

/// What a server runs with besides its config.
pub struct Options {
    /// The process's Prometheus recorder, installed once ([`crate::metrics::install`]).
    pub metrics: PrometheusHandle,
    /// Where checks read `now`.
    pub clock: Clock,
    /// Routes added to the admin listener (the development issuer).
    pub extra_admin: Option<Router>,
    /// Called with every decision (tests observe what was judged).
    pub tap: Option<check::Tap>,
    /// With `cors`, the HTTP authorizer answers CORS itself on what it allows, as an app would:
    /// `--dev`, whose page calls the authorizer with no app behind it.
    pub answer_cors: bool,
}

impl Options {
    /// The system clock and no extra admin routes.
    pub fn new(metrics: PrometheusHandle) -> Options {
        Options {
            metrics,
            clock: Clock::System,
            extra_admin: None,
            tap: None,
            answer_cors: false,
        }
    }
}

/// The listeners' bound addresses.
#[derive(Clone, Copy, Debug)]
pub struct Addrs {
    /// The gRPC listener (Check, health, reflection).
    pub grpc: SocketAddr,
    /// The HTTP authorizer.
    pub http: SocketAddr,
    /// The admin listener.
    pub admin: SocketAddr,
}

/// A server whose listeners are bound and serving.
pub struct Running {
    /// The live config, key sets and clock the servers share.
    pub state: Arc<State>,
    /// Where each listener is bound (the real ports when `:0` was asked).
    pub addrs: Addrs,
    stop: CancellationToken,
    tasks: JoinSet<Result<(), Error>>,
}

/// Binds the configured listeners, compiles the config, starts the key refreshes and serves.
pub async fn start(config: Config, opts: Options) -> Result<Running, Error> {
    async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, Error> {
        TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { what, addr, source })
    }
    let grpc = bind("grpc", config.listen.grpc).await?;
    let http = bind("http", config.listen.http).await?;
    let admin = bind("admin", config.listen.admin).await?;
    let local = |l: &TcpListener, what| l.local_addr().map_err(|source| Error::Io { what, source });
    let addrs = Addrs {
        grpc: local(&grpc, "grpc")?,
        http: local(&http, "http")?,
        admin: local(&admin, "admin")?,
    };
    let limits = config.limits;
    let cors = config.cors.clone().filter(|_| opts.answer_cors);
    let state = State::new(config, Fetcher::new()?, opts.clock);
    let stop = CancellationToken::new();
    let log = Arc::new(ClientLog::default());
    let connections = Connections::default();
    let mut tasks: JoinSet<Result<(), Error>> = JoinSet::new();

    let (reporter, health) = tonic_health::server::health_reporter();
    for service in ["", AUTH_SERVICE] {
        reporter
            .set_service_status(service, ServingStatus::NotServing)
            .await;
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let checker = |transport| Checker::new(state.clone(), log.clone(), transport, opts.tap.clone());
    let auth = crate::wire::Server::new(grpc::AuthService::new(checker(Transport::Grpc)));
    let grpc_app = tonic::service::Routes::new(health)
        .add_service(reflection)
        .add_service(auth)
        .prepare()
        .into_axum_router();
    let mut admin_app = admin::router(admin::Admin {
        state: state.clone(),
        metrics: opts.metrics.clone(),
        limits,
        connections: connections.clone(),
    });
    if let Some(extra) = opts.extra_admin {
        admin_app = admin_app.merge(extra);
    }
    let mut http_app = http::router(checker(Transport::Http));
    if let Some(cors) = cors {
        http_app = dev_page::answer_cors(http_app, cors);
    }
    let listeners = [
        ("grpc", grpc, grpc_app, connections.grpc.clone()),
        ("http", http, http_app, connections.http.clone()),
        ("admin", admin, admin_app, connections.admin.clone()),
    ];
    for (what, tcp, app, open) in listeners {
        let stop = stop.clone();
        tasks.spawn(async move {
            listen::serve_counted(what, tcp, app, &limits, stop, open).await;
            Ok(())
        });
    }

    let upkeep_stop = stop.clone();
    let upkeep_log = log.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    opts.metrics.run_upkeep();
                    crate::log::publish_dropped();
                    upkeep_log.flush(crate::clock::unix_millis());
                }
                () = upkeep_stop.cancelled() => return,
            }
        }
    });

    let health_state = state.clone();
    let health_stop = stop.clone();
    tasks.spawn(async move {
        track_health(health_state, reporter, health_stop).await;
        Ok(())
    });
    Ok(Running {
        state,
        addrs,
        stop,
        tasks,
    })
}

/// Each listener's open connections, for `/readyz`.
#[derive(Clone, Debug, Default)]
pub struct Connections {
    /// Open connections on the gRPC listener.
    pub grpc: Arc<AtomicUsize>,
    /// Open connections on the HTTP authorizer.
    pub http: Arc<AtomicUsize>,
    /// Open connections on the admin listener.
    pub admin: Arc<AtomicUsize>,
}

impl Running {
    /// Serves until `shutdown` resolves (or a listener fails), then drains: listeners stop
    /// accepting, idle and half-open connections close at once, in-flight checks get up to
    /// [`DRAIN`].
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let early = tokio::select! {
            () = shutdown => None,
            Some(done) = self.tasks.join_next() => Some(done),
        };
        self.stop.cancel();
        // A server that ended on its own is an error worth exiting on.
        if let Some(Ok(Err(e))) = early {
            return Err(e);
        }
        tracing::info!("shutting down: draining in-flight checks");
        let tasks = &mut self.tasks;
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

    /// Stops serving now and drains.
    pub async fn stop(self) -> Result<(), Error> {
        self.run_until(std::future::ready(())).await
    }
}

/// gRPC health follows readiness: NOT_SERVING until every authorizer has keys.
async fn track_health(
    state: Arc<State>,
    reporter: tonic_health::server::HealthReporter,
    stop: CancellationToken,
) {
    loop {
        let changed = state.changed();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let status = if state.snapshot().is_ready() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for service in ["", AUTH_SERVICE] {
            reporter.set_service_status(service, status).await;
        }
        tokio::select! {
            () = changed => {}
            () = stop.cancelled() => return,
        }
    }
}
