//! A QPS/burst limiter whose waiters are served in arrival order.
//!
//! governor's `until_ready` lets every waiter sleep until the next free slot and then retry: with
//! a thousand requests waiting, each slot wakes all of them and one wins, so waiting costs CPU
//! that grows with the square of the queue (and every wake-up re-enters the request's spans).
//! Here (leaky-bucket, fair mode) one waiter sleeps on the clock and hands the refilled tokens to
//! the queue in order; the others are woken once, when their token is there.

use std::time::Duration;

/// Tokens are added about every 10 ms (one at a time below 100 per second), so the clock's
/// millisecond granularity does not cap the rate.
const REFILLS_PER_SECOND: u32 = 100;

/// `qps` per second with a burst of `burst`; callers are served in arrival order.
pub struct Limiter {
    bucket: leaky_bucket::RateLimiter,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("max", &self.bucket.max())
            .field("refill", &self.bucket.refill())
            .field("interval", &self.bucket.interval())
            .finish()
    }
}

impl Limiter {
    /// A limiter of `qps` per second with a burst of `burst` (at least `qps`), full at the start;
    /// `None` when `qps` is 0 (unlimited).
    pub fn new(qps: u32, burst: u32) -> Option<Self> {
        if qps == 0 {
            return None;
        }
        let burst = burst.max(qps) as usize;
        let refill = (qps / REFILLS_PER_SECOND).max(1);
        let interval = Duration::from_nanos(u64::from(refill) * 1_000_000_000 / u64::from(qps));
        Some(Self {
            bucket: leaky_bucket::RateLimiter::builder()
                .max(burst)
                .initial(burst)
                .refill(refill as usize)
                .interval(interval.max(Duration::from_millis(1)))
                .fair(true)
                .build(),
        })
    }

    /// Waits for a token; true when the caller had to wait (the limit was reached).
    pub async fn acquire(&self) -> bool {
        if self.bucket.try_acquire(1) {
            return false;
        }
        self.bucket.acquire_one().await;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn zero_qps_is_unlimited() {
        assert!(Limiter::new(0, 10).is_none());
    }

    #[tokio::test]
    async fn a_burst_passes_then_callers_wait_in_order() {
        let limiter = Arc::new(Limiter::new(50, 2).expect("limited"));
        // The burst is at least the rate: 50 pass at once.
        for _ in 0..50 {
            assert!(!limiter.acquire().await, "within the burst");
        }
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (l, o) = (limiter.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let waited = l.acquire().await;
                o.lock().unwrap().push(i);
                waited
            }));
            // Queue them in a known order.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        for t in tasks {
            assert!(t.await.unwrap(), "past the burst every caller waits");
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_are_served_at_the_rate_not_faster() {
        let limiter = Arc::new(Limiter::new(2000, 2000).expect("limited"));
        let start = tokio::time::Instant::now();
        for _ in 0..2000 {
            assert!(!limiter.acquire().await);
        }
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "the burst is there at the start"
        );
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let l = limiter.clone();
                tokio::spawn(async move { l.acquire().await })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap());
        }
        // 1000 more at 2000/s: half a second (one refill interval of slack).
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(490) && took <= Duration::from_millis(520),
            "{took:?}"
        );
    }
}
