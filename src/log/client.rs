//! [`ClientLog`]: every line a client can make the server write, through one [`Limiter`], with
//! its client-chosen values escaped and cut.

use std::net::SocketAddr;

use super::escape::Untrusted;
use super::limit::{Admit, Budget, Limiter};
use crate::decision::Decision;
use crate::metrics::Transport;

/// Bytes a line takes besides its variable values: timestamp, level, target, message, field
/// names. Counted so that a flood of short lines is bounded by bytes too.
const LINE_OVERHEAD: usize = 160;

/// The rate-limited log of client-triggered events: denials and configuration errors met on
/// the request path. `peer` is the socket address that sent the check (the proxy); `client` is
/// the address the request claims (Envoy's source address, `X-Real-IP`, the first
/// `X-Forwarded-For`), logged as claimed, escaped.
#[derive(Debug, Default)]
pub struct ClientLog {
    limiter: Limiter,
}

impl ClientLog {
    pub fn new(budget: Budget) -> ClientLog {
        ClientLog {
            limiter: Limiter::new(budget),
        }
    }

    /// A denial, at `info`.
    pub fn denied(
        &self,
        now_ms: u64,
        transport: Transport,
        d: &Decision,
        peer: Option<SocketAddr>,
        client: Option<&str>,
    ) {
        let client = Untrusted(client.unwrap_or("-"));
        let route = d.route.as_deref().unwrap_or("-");
        let bytes = client.len() + d.authorizer.len() + route.len();
        if self.admit(now_ms, bytes) {
            tracing::info!(
                transport = transport.as_str(),
                reason = d.reason.as_str(),
                authorizer = %d.authorizer,
                route,
                peer = %Peer(peer),
                client = %client,
                "denied"
            );
        }
    }

    /// `context_extensions` named an authorizer that is not configured: a configuration error
    /// in the proxy, but one any client that reaches it can repeat, at `error`.
    pub fn unknown_authorizer(
        &self,
        now_ms: u64,
        transport: Transport,
        name: &str,
        peer: Option<SocketAddr>,
        client: Option<&str>,
    ) {
        let name = Untrusted(name);
        let client = Untrusted(client.unwrap_or("-"));
        if self.admit(now_ms, name.len() + client.len()) {
            tracing::error!(
                transport = transport.as_str(),
                authorizer = %name,
                peer = %Peer(peer),
                client = %client,
                "context_extensions name an authorizer that is not configured"
            );
        }
    }

    /// Writes the summary of the last second's suppressed lines if it is due. Call it on a
    /// timer; lines logged through this type also write it when due.
    pub fn flush(&self, now_ms: u64) {
        if let Some(n) = self.limiter.roll(now_ms) {
            summary(n);
        }
    }

    fn admit(&self, now_ms: u64, bytes: usize) -> bool {
        let (admit, suppressed) = self.limiter.admit(now_ms, bytes + LINE_OVERHEAD);
        if let Some(n) = suppressed {
            summary(n);
        }
        admit == Admit::Log
    }
}

fn summary(suppressed: u64) {
    tracing::warn!(
        suppressed,
        "client-triggered log lines suppressed in the last second (rate limit)"
    );
}

struct Peer(Option<SocketAddr>);

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(a) => a.fmt(f),
            None => f.write_str("-"),
        }
    }
}
