//! The `limits` block: what one client may hold of a listener. Plain data with the SPEC's
//! defaults; [`crate::server::listen::serve`] applies every field to every listener.

use std::time::Duration;

/// Per-listener resource bounds. Defaults are the SPEC's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Open connections per listener; beyond it new connections wait in the kernel backlog.
    pub max_connections: usize,
    /// Concurrent HTTP/2 streams per connection, advertised in SETTINGS and enforced.
    pub max_streams: u32,
    /// Largest HTTP request head (HTTP/1 bytes, HTTP/2 header list) and gRPC message.
    pub max_request_bytes: usize,
    /// A request whose response has not started by then is answered 503 (gRPC: UNAVAILABLE).
    pub request_timeout: Duration,
    /// An HTTP/1 request head must arrive within this from its first byte.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 10_000,
            max_streams: 100,
            max_request_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// Why a `limits` value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Zero would refuse everything (or, for timeouts, close every connection at once).
    #[error("limits.{0} must be greater than zero")]
    Zero(&'static str),
    /// hyper cannot bound an HTTP/1 head below its 8 KiB read buffer.
    #[error("limits.max_request_bytes must be at least {MIN_REQUEST_BYTES} bytes")]
    RequestBytesTooSmall,
    /// HTTP/2 carries the header-list bound in a 32-bit SETTINGS value.
    #[error("limits.max_request_bytes must be below 4 GiB")]
    RequestBytesTooLarge,
}

/// The smallest `max_request_bytes` hyper can enforce on HTTP/1 (its minimum read buffer).
pub const MIN_REQUEST_BYTES: usize = 8 * 1024;

impl Limits {
    /// Every problem with these values; empty when they can be served as they are.
    pub fn check(&self) -> Vec<Invalid> {
        let mut problems = Vec::new();
        let zeros = [
            ("max_connections", self.max_connections == 0),
            ("max_streams", self.max_streams == 0),
            ("request_timeout", self.request_timeout.is_zero()),
            ("header_read_timeout", self.header_read_timeout.is_zero()),
            ("idle_timeout", self.idle_timeout.is_zero()),
        ];
        problems.extend(
            zeros
                .iter()
                .filter(|(_, z)| *z)
                .map(|(k, _)| Invalid::Zero(k)),
        );
        if self.max_request_bytes < MIN_REQUEST_BYTES {
            problems.push(Invalid::RequestBytesTooSmall);
        }
        if u32::try_from(self.max_request_bytes).is_err() {
            problems.push(Invalid::RequestBytesTooLarge);
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_specs_and_valid() {
        let l = Limits::default();
        assert_eq!(l.max_connections, 10_000);
        assert_eq!(l.max_streams, 100);
        assert_eq!(l.max_request_bytes, 65_536);
        assert_eq!(l.request_timeout, Duration::from_secs(5));
        assert_eq!(l.header_read_timeout, Duration::from_secs(5));
        assert_eq!(l.idle_timeout, Duration::from_secs(120));
        assert!(l.check().is_empty());
    }

    #[test]
    fn zero_and_too_small_values_are_each_reported() {
        let l = Limits {
            max_connections: 0,
            idle_timeout: Duration::ZERO,
            max_request_bytes: 100,
            ..Limits::default()
        };
        assert_eq!(
            l.check(),
            vec![
                Invalid::Zero("max_connections"),
                Invalid::Zero("idle_timeout"),
                Invalid::RequestBytesTooSmall
            ]
        );
    }
}
