//! Per-client rate limits: a token bucket per key (a client IP address, a signer key),
//! refilled at `rate` per second up to a burst of `rate` (at least 1). Keys idle long enough
//! to have refilled are forgotten, so the table stays as small as the set of active clients.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets by key; a rate of 0 allows everything.
pub struct RateLimit<K> {
    rate: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Hash + Eq + Clone> RateLimit<K> {
    /// A limit of `rate` per second per key (0: none).
    pub fn new(rate: u32) -> RateLimit<K> {
        RateLimit {
            rate: f64::from(rate),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `cost` tokens from `key`'s bucket; `Err(seconds)` to wait when there are too few.
    pub fn take(&self, key: &K, cost: u32) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let burst = self.rate.max(1.0);
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > 100_000 {
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * self.rate < burst
            });
        }
        let (tokens, at) = buckets.entry(key.clone()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(burst);
        *at = now;
        let cost = f64::from(cost);
        if *tokens >= cost.min(burst) {
            *tokens -= cost;
            Ok(())
        } else {
            let wait = ((cost.min(burst) - *tokens) / self.rate).ceil();
            Err(if wait.is_finite() && wait >= 1.0 {
                wait as u64
            } else {
                1
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimit;

    #[test]
    fn a_bucket_allows_its_burst_then_asks_to_wait() {
        let limit = RateLimit::new(3);
        for _ in 0..3 {
            assert_eq!(limit.take(&"a", 1), Ok(()));
        }
        assert!(limit.take(&"a", 1).is_err());
        assert_eq!(limit.take(&"b", 1), Ok(()), "keys are independent");
        assert_eq!(RateLimit::new(0).take(&"a", 1_000), Ok(()), "0 is no limit");
    }
}
