//! The one place wall-clock time is read. Verification takes `now` as an argument; the server
//! reads it from a [`Clock`], which tests replace with a manual one they move by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the server's checks take `now` from.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock that moves only when told (tests), as `f64` bits of Unix seconds.
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// A manual clock showing `unix_seconds`.
    pub fn manual(unix_seconds: f64) -> Clock {
        Clock::Manual(Arc::new(AtomicU64::new(unix_seconds.to_bits())))
    }

    /// Seconds since the Unix epoch, with a fraction, as JWT time claims are compared.
    pub fn now(&self) -> f64 {
        match self {
            Clock::System => now(),
            Clock::Manual(t) => f64::from_bits(t.load(Ordering::Acquire)),
        }
    }

    /// Moves a manual clock forward; the system clock moves by itself.
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(t) = self {
            let next = f64::from_bits(t.load(Ordering::Acquire)) + by.as_secs_f64();
            t.store(next.to_bits(), Ordering::Release);
        }
    }
}

/// Seconds since the Unix epoch by the system clock.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Milliseconds since the Unix epoch by the system clock.
pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let c = Clock::manual(1000.0);
        assert_eq!(c.now(), 1000.0);
        c.advance(Duration::from_millis(1500));
        assert_eq!(c.now(), 1001.5);
        let shared = c.clone();
        shared.advance(Duration::from_secs(1));
        assert_eq!(c.now(), 1002.5);
    }
}
