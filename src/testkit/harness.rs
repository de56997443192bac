//! The real server on loopback, started as the binary starts it, and the core called directly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::transport::Channel;

use crate::clock::Clock;
use crate::config::Config;
use crate::decision::{Decision, Reason};
use crate::metrics::Transport;
use crate::pb::auth::authorization_client::AuthorizationClient;
use crate::request::Request;
use crate::server::{self, Running};
use crate::state::State;

use super::bearer;

/// A running tokengate on loopback.
pub struct Tokengate {
    /// The server's live state: drive the core directly, reload, read key sets.
    pub state: Arc<State>,
    /// The gRPC listener.
    pub grpc: SocketAddr,
    /// The HTTP authorizer.
    pub http: SocketAddr,
    /// The admin listener.
    pub admin: SocketAddr,
    running: Option<Running>,
}

impl Tokengate {
    /// Starts the real server with `yaml` (listen addresses are replaced by `127.0.0.1:0`).
    pub async fn start(yaml: &str) -> Tokengate {
        Tokengate::start_with(yaml, Clock::System).await
    }

    /// [`Tokengate::start`], with every decision recorded into the returned [`Decisions`].
    pub async fn start_tapped(yaml: &str) -> (Tokengate, Decisions) {
        let decisions = Decisions::default();
        let seen = decisions.0.clone();
        let tap: server::check::Tap = Arc::new(move |transport, d: &Decision| {
            seen.lock().unwrap().push((transport, d.clone()));
        });
        let tg = Tokengate::start_inner(yaml, Clock::System, Some(tap)).await;
        (tg, decisions)
    }

    /// [`Tokengate::start`] with checks reading `now` from `clock`.
    pub async fn start_with(yaml: &str, clock: Clock) -> Tokengate {
        Tokengate::start_inner(yaml, clock, None).await
    }

    async fn start_inner(yaml: &str, clock: Clock, tap: Option<server::check::Tap>) -> Tokengate {
        let mut config = Config::parse(yaml).unwrap_or_else(|e| panic!("{e}"));
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        config.listen.grpc = any;
        config.listen.http = any;
        config.listen.admin = any;
        let opts = server::Options {
            clock,
            tap,
            ..server::Options::new(crate::metrics::install())
        };
        let running = server::start(config, opts).await.unwrap();
        Tokengate {
            state: running.state.clone(),
            grpc: running.addrs.grpc,
            http: running.addrs.http,
            admin: running.addrs.admin,
            running: Some(running),
        }
    }

    /// Waits until every authorizer has keys.
    pub async fn ready(self) -> Tokengate {
        assert!(
            self.state.wait_ready(Duration::from_secs(5)).await,
            "tokengate did not load keys in 5 s"
        );
        self
    }

    /// A gRPC client connected to the `Check` service.
    pub async fn client(&self) -> AuthorizationClient<Channel> {
        AuthorizationClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap()
    }

    /// Stops the server and waits for it to drain.
    pub async fn shutdown(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.unwrap();
        }
    }
}

/// The decisions a [`Tokengate::start_tapped`] server made, in order.
#[derive(Clone, Default)]
pub struct Decisions(Arc<Mutex<Vec<(Transport, Decision)>>>);

impl Decisions {
    /// The decisions made since the last call.
    pub fn take(&self) -> Vec<(Transport, Decision)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Decides a request through the core directly (no sockets but the JWKS server's).
pub async fn decide(state: &State, method: &str, path: &str, headers: &[(&str, &str)]) -> Decision {
    decide_with(state, method, path, headers, None).await
}

/// [`decide`] with Envoy's per-route `context_extensions`.
pub async fn decide_with(
    state: &State,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    context: Option<&HashMap<String, String>>,
) -> Decision {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
        .collect();
    let req = Request {
        method,
        target: path,
        headers: &headers,
        context: context.map(|c| c as &dyn crate::request::Extensions),
    };
    crate::gate::check(&state.snapshot(), &req, state.clock().now()).await
}

/// The reason the core gives for a bearer token on `GET path`.
pub async fn reason_for(state: &State, path: &str, token: &str) -> Reason {
    decide(state, "GET", path, &[("authorization", &bearer(token))])
        .await
        .reason
}

/// The admin listener's `/metrics` page.
pub async fn metrics_page(admin: SocketAddr) -> String {
    reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
