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
    /// A log of client-triggered lines held to `budget`.
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
        // The path as judged: checked, so visible ASCII, but a client's choice all the same.
        let path = Untrusted(if d.path.is_empty() { "-" } else { &d.path });
        let bytes = client.len() + d.authorizer.len() + route.len() + path.len();
        if self.admit(now_ms, bytes) {
            tracing::info!(
                transport = transport.as_str(),
                reason = d.reason.as_str(),
                authorizer = %d.authorizer,
                route,
                path = %path,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reason::Reason;
    use std::sync::{Arc, Mutex};

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut out) = self.0.lock() {
                out.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(f: impl FnOnce()) -> Vec<String> {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = out.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn denial() -> Decision {
        Decision {
            reason: Reason::BadSignature,
            authorizer: Arc::from("main"),
            route: Some(Arc::from("GET /users/{id}")),
            path: "/users/7".into(),
            scopes: Arc::from([]),
            verified: None,
            remove_headers: Vec::new(),
            remove_query: Vec::new(),
            cors: Vec::new(),
        }
    }

    #[test]
    fn a_client_value_cannot_forge_a_line_and_peer_and_client_are_both_logged() {
        let log = ClientLog::default();
        let peer: SocketAddr = "10.0.0.9:5000".parse().unwrap();
        let forged = "1.2.3.4\n2026-01-01T00:00:00Z  INFO tokengate: allowed";
        let lines = logged(|| {
            log.denied(0, Transport::Http, &denial(), Some(peer), Some(forged));
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert!(line.contains("peer=10.0.0.9:5000"), "{line}");
        assert!(line.contains(r"client=1.2.3.4\n2026"), "{line}");
        assert!(line.contains(r#"reason="bad_signature""#), "{line}");
        assert!(line.contains(r#"transport="http""#), "{line}");
    }

    #[test]
    fn a_huge_authorizer_name_is_cut_and_a_flood_is_bounded_then_summarised() {
        let log = ClientLog::default();
        let huge = "a".repeat(1 << 20);
        let lines = logged(|| {
            for _ in 0..1000 {
                log.unknown_authorizer(5_000, Transport::Grpc, &huge, None, Some("9.9.9.9"));
            }
            log.flush(6_000);
        });
        let (summaries, errors): (Vec<_>, Vec<_>) =
            lines.iter().partition(|l| l.contains("suppressed"));
        // 256 + marker + overhead is ~460 budget bytes a line: 16 KiB holds 35, the 20-line
        // budget binds first.
        assert_eq!(errors.len(), 20);
        assert!(errors.iter().all(|l| l.len() < 700), "{}", errors[0].len());
        assert!(errors[0].contains("...(+1048320 bytes)"));
        assert_eq!(summaries.len(), 1);
        assert!(summaries[0].contains("suppressed=980"), "{}", summaries[0]);
    }
}
