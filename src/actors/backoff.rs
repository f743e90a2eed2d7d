//! Per-object exponential failure backoff with jitter.

use std::time::Duration;

/// Backoff settings: the delay doubles from `base` per consecutive failure up to `max`,
/// with up to `jitter` (a fraction) of it added at random.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffPolicy {
    pub base: Duration,
    pub max: Duration,
    pub jitter: f64,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
            jitter: 0.1,
        }
    }
}

impl BackoffPolicy {
    /// Delay before retry number `failures` (1 = first failure), without jitter.
    pub fn nominal(&self, failures: u32) -> Duration {
        if failures == 0 {
            return Duration::ZERO;
        }
        let exp = (failures - 1).min(31);
        self.base
            .checked_mul(1u32 << exp)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// Delay with jitter; `unit` is a random number in `[0, 1)`.
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let nominal = self.nominal(failures);
        let extra = nominal.mul_f64(self.jitter * unit.clamp(0.0, 1.0));
        (nominal + extra).min(self.max.mul_f64(1.0 + self.jitter))
    }
}

/// Consecutive-failure counter of one object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// Count a failure and return the delay before the next try.
    pub fn fail(&mut self, policy: &BackoffPolicy, unit: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        policy.delay(self.failures, unit)
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_to_five_minutes() {
        let p = BackoffPolicy::default();
        let mut b = Backoff::default();
        let seq: Vec<u64> = (0..12).map(|_| b.fail(&p, 0.0).as_secs()).collect();
        assert_eq!(seq, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }

    #[test]
    fn reset_starts_over() {
        let p = BackoffPolicy::default();
        let mut b = Backoff::default();
        b.fail(&p, 0.0);
        b.fail(&p, 0.0);
        b.reset();
        assert_eq!(b.failures(), 0);
        assert_eq!(b.fail(&p, 0.0), Duration::from_secs(1));
    }

    #[test]
    fn jitter_adds_at_most_its_fraction() {
        let p = BackoffPolicy::default();
        for failures in 1..15 {
            let nominal = p.nominal(failures);
            let hi = p.delay(failures, 0.999);
            assert!(hi >= nominal);
            assert!(hi <= nominal.mul_f64(1.1) + Duration::from_millis(1));
        }
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let p = BackoffPolicy::default();
        assert_eq!(p.nominal(u32::MAX), p.max);
    }
}
