//! Per-connection message rate limit: a token bucket driven by the caller's
//! clock.

/// Messages a connection may send in a burst.
pub const BURST: u32 = 20;
/// Sustained messages per second.
pub const PER_SECOND: u32 = 10;

/// A token bucket: `burst` tokens, refilled at `per_second` ([`BURST`] and
/// [`PER_SECOND`] for room messages).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Tokens in thousandths, so refills need no floating point.
    milli_tokens: u64,
    /// When tokens were last added.
    at_ms: i64,
    burst: u32,
    per_second: u32,
}

impl TokenBucket {
    /// A full bucket of room-message tokens at `now_ms`.
    pub fn new(now_ms: i64) -> Self {
        Self::with_rate(BURST, PER_SECOND, now_ms)
    }

    /// A full bucket of `burst` tokens refilled at `per_second`.
    pub fn with_rate(burst: u32, per_second: u32, now_ms: i64) -> Self {
        Self {
            milli_tokens: u64::from(burst) * 1000,
            at_ms: now_ms,
            burst,
            per_second,
        }
    }

    /// Takes a token at `now_ms`; `false` when none is left.
    pub fn take(&mut self, now_ms: i64) -> bool {
        let elapsed = u64::try_from(now_ms.saturating_sub(self.at_ms)).unwrap_or(0);
        self.at_ms = self.at_ms.max(now_ms);
        let refill = elapsed.saturating_mul(u64::from(self.per_second));
        self.milli_tokens =
            (self.milli_tokens.saturating_add(refill)).min(u64::from(self.burst) * 1000);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let mut b = TokenBucket::new(0);
        assert_eq!((0..BURST).filter(|_| b.take(0)).count(), BURST as usize);
        assert!(!b.take(0));
        assert!(!b.take(99));
        assert!(b.take(100), "one token per 100 ms");
        assert!(!b.take(100));
        assert!(b.take(10_000));
        assert_eq!(
            (0..100).filter(|_| b.take(10_000)).count(),
            BURST as usize - 1,
            "capped at the burst"
        );
    }

    #[test]
    fn a_clock_going_backwards_adds_nothing() {
        let mut b = TokenBucket::new(1000);
        for _ in 0..BURST {
            b.take(1000);
        }
        assert!(!b.take(0));
        assert!(!b.take(1000));
    }
}
