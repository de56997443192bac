//! [`Limiter`]: a per-second budget of lines and bytes for everything a client can make the
//! server log, lock-free on the hot path.

use std::sync::atomic::{AtomicU64, Ordering};

/// Lines and bytes a second before suppression starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Lines a second.
    pub lines: u16,
    /// Bytes a second, over the lines' client values.
    pub bytes: u32,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            lines: 20,
            bytes: 16 * 1024,
        }
    }
}

/// What the caller does with one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Log the line.
    Log,
    /// Drop it; it is counted in the next summary.
    Suppress,
}

/// One budget shared by every client-triggered log line.
///
/// The second, its line count and its byte count live in one `AtomicU64` (16 + 16 + 32 bits)
/// changed by compare-and-swap, so concurrent callers can never together exceed either budget.
/// The suppressed count is separate: a line suppressed just as the second turns is reported in
/// the next summary, never lost.
#[derive(Debug)]
pub struct Limiter {
    budget: Budget,
    window: AtomicU64,
    suppressed: AtomicU64,
}

fn pack(second: u64, lines: u64, bytes: u64) -> u64 {
    ((second & 0xffff) << 48) | ((lines & 0xffff) << 32) | (bytes & 0xffff_ffff)
}

fn unpack(v: u64) -> (u64, u64, u64) {
    (v >> 48, (v >> 32) & 0xffff, v & 0xffff_ffff)
}

impl Limiter {
    /// A limiter with a fresh window.
    pub fn new(budget: Budget) -> Limiter {
        Limiter {
            budget,
            window: AtomicU64::new(pack(u64::MAX, 0, 0)),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Asks to log one line of `bytes` at `now_ms` (any millisecond clock). When this call
    /// opens a new second after suppressions, `summary` is how many lines were suppressed:
    /// the caller logs that first, once.
    pub fn admit(&self, now_ms: u64, bytes: usize) -> (Admit, Option<u64>) {
        let summary = self.roll(now_ms);
        let second = (now_ms / 1000) & 0xffff;
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let mut seen = self.window.load(Ordering::Relaxed);
        loop {
            let (s, lines, used) = unpack(seen);
            let fits = s == second
                && lines < u64::from(self.budget.lines)
                && used.saturating_add(bytes) <= u64::from(self.budget.bytes);
            if !fits {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                return (Admit::Suppress, summary);
            }
            match self.window.compare_exchange_weak(
                seen,
                pack(s, lines + 1, used + bytes),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return (Admit::Log, summary),
                Err(now) => seen = now,
            }
        }
    }

    /// Starts the second of `now_ms` if it has not started yet; returns the suppressed count to
    /// report if this call started it. Call it on a timer too, so a summary is not held back
    /// until the next client-triggered line.
    pub fn roll(&self, now_ms: u64) -> Option<u64> {
        let second = (now_ms / 1000) & 0xffff;
        let seen = self.window.load(Ordering::Relaxed);
        if unpack(seen).0 == second {
            return None;
        }
        self.window
            .compare_exchange(
                seen,
                pack(second, 0, 0),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .ok()?;
        Some(self.suppressed.swap(0, Ordering::Relaxed)).filter(|n| *n > 0)
    }
}

impl Default for Limiter {
    fn default() -> Limiter {
        Limiter::new(Budget::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(l: &Limiter, now: u64, n: usize, bytes: usize) -> usize {
        (0..n)
            .filter(|_| l.admit(now, bytes).0 == Admit::Log)
            .count()
    }

    #[test]
    fn the_line_budget_holds_within_a_second_and_refills_the_next() {
        let l = Limiter::new(Budget {
            lines: 20,
            bytes: 1 << 20,
        });
        assert_eq!(run(&l, 5_000, 100, 10), 20);
        assert_eq!(run(&l, 5_999, 100, 10), 0);
        let (admit, summary) = l.admit(6_000, 10);
        assert_eq!((admit, summary), (Admit::Log, Some(180)));
        assert_eq!(run(&l, 6_500, 100, 10), 19);
    }

    #[test]
    fn the_byte_budget_holds_when_lines_are_large() {
        let l = Limiter::new(Budget {
            lines: 20,
            bytes: 16 * 1024,
        });
        // 16 KiB of 2000-byte lines is 8 lines, well under the line budget.
        assert_eq!(run(&l, 0, 20, 2000), 8);
        // A small line still fits in what is left.
        assert_eq!(l.admit(10, 384).0, Admit::Log);
        assert_eq!(l.admit(10, 1).0, Admit::Suppress);
        assert_eq!(l.roll(1_000), Some(13));
    }

    #[test]
    fn a_summary_is_reported_once_and_only_after_suppression() {
        let l = Limiter::new(Budget {
            lines: 1,
            bytes: 100,
        });
        assert_eq!(l.admit(0, 1), (Admit::Log, None));
        assert_eq!(l.roll(1_000), None, "nothing was suppressed");
        assert_eq!(run(&l, 1_000, 3, 1), 1);
        assert_eq!(l.roll(2_000), Some(2));
        assert_eq!(l.roll(2_100), None);
        assert_eq!(l.admit(3_000, 1), (Admit::Log, None));
    }

    #[test]
    fn concurrent_callers_never_exceed_the_budget() {
        let l = std::sync::Arc::new(Limiter::new(Budget {
            lines: 50,
            bytes: 1 << 20,
        }));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || run(&l, 42_000, 1000, 1))
            })
            .collect();
        let logged: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        assert_eq!(logged, 50);
        assert_eq!(l.roll(43_000), Some(3950));
    }
}
