//! The one front pipeline. Each front end translates its request in and the decision out;
//! everything between — one snapshot, the clock, the core, metrics, the denial log — is here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::decision::{Decision, Reason};
use crate::gate;
use crate::log::ClientLog;
use crate::metrics::Transport;
use crate::request::{Headers, Request};
use crate::state::{Snapshot, State};

/// Where a check came from, for the denial log.
#[derive(Clone, Copy, Debug, Default)]
pub struct Origin<'a> {
    /// The socket that sent the check: the proxy.
    pub peer: Option<SocketAddr>,
    /// The client address the request claims (Envoy's source, `X-Real-IP`…), as claimed.
    pub client: Option<&'a str>,
}

/// Sees every decision a server makes, once counted and logged: how a test (or an embedding
/// program) observes exactly what tokengate judged, the decoded path included.
pub type Tap = Arc<dyn Fn(Transport, &Decision) + Send + Sync>;

/// Runs checks for one transport.
#[derive(Clone)]
pub struct Checker {
    state: Arc<State>,
    log: Arc<ClientLog>,
    transport: Transport,
    tap: Option<Tap>,
}

impl Checker {
    /// A checker for `transport`, logging what clients sent to `log`; `tap` sees every decision
    /// (tests).
    pub fn new(
        state: Arc<State>,
        log: Arc<ClientLog>,
        transport: Transport,
        tap: Option<Tap>,
    ) -> Checker {
        Checker {
            state,
            log,
            transport,
            tap,
        }
    }

    /// The snapshot a check runs under; take it once per request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.state.snapshot()
    }

    /// Decides `req` under `snap`, counts and logs the decision.
    pub async fn check(&self, snap: &Snapshot, req: &Request<'_>, from: Origin<'_>) -> Decision {
        let started = Instant::now();
        let decision = gate::check(snap, req, self.state.clock().now()).await;
        if let Some(name) = req.context.and_then(|c| c.get("authorizer"))
            && snap.authorizer(name).is_none()
        {
            // A proxy misconfiguration, but any client reaching that route repeats it.
            let now = crate::clock::unix_millis();
            self.log
                .unknown_authorizer(now, self.transport, name, from.peer, from.client);
        }
        self.record(snap, &decision, started, from);
        decision
    }

    /// A request refused before the core could read it (its original request unreadable).
    pub fn refuse(
        &self,
        snap: &Snapshot,
        headers: &dyn Headers,
        reason: Reason,
        from: Origin<'_>,
    ) -> Decision {
        let started = Instant::now();
        let decision = gate::refuse(snap, headers, reason);
        self.record(snap, &decision, started, from);
        decision
    }

    fn record(&self, snap: &Snapshot, decision: &Decision, started: Instant, from: Origin<'_>) {
        snap.metrics.record(
            self.transport,
            decision.reason,
            &decision.authorizer,
            started.elapsed(),
        );
        if !decision.is_allow() {
            let now = crate::clock::unix_millis();
            self.log
                .denied(now, self.transport, decision, from.peer, from.client);
        }
        if let Some(tap) = &self.tap {
            tap(self.transport, decision);
        }
    }
}
