//! The resync safety net: every period (with jitter) a pass wakes every object's reconcile, paced
//! at a fixed number of objects per second so thousands of objects never burst. Watches deliver
//! changes; the resync only recovers wake-ups lost in between (a decision that registered its
//! interest just after the event it waited for). Converged objects decide nothing new, so a pass
//! over them writes nothing.

use std::time::Duration;

use rand::Rng;
use tokio::task::JoinHandle;

use super::gate::SyncGate;
use super::key::ObjectKey;

/// Default period between resync passes.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(600);
/// Default pace of a pass, objects woken per second.
pub const DEFAULT_RATE: u32 = 50;
/// Each period is drawn from `period × [1 - JITTER, 1 + JITTER]`.
const JITTER: f64 = 0.1;

/// When and how fast to resync (`period` zero: never).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResyncSettings {
    pub period: Duration,
    /// Objects woken per second (at least 1).
    pub rate: u32,
}

impl Default for ResyncSettings {
    /// Disabled: tests and embedders opt in; `capt run` enables it by default.
    fn default() -> Self {
        Self {
            period: Duration::ZERO,
            rate: DEFAULT_RATE,
        }
    }
}

impl ResyncSettings {
    pub fn enabled(&self) -> bool {
        !self.period.is_zero()
    }

    /// The wait before the next pass, `unit` in [0, 1) picking the point in the jitter window.
    pub fn jittered(&self, unit: f64) -> Duration {
        self.period
            .mul_f64(1.0 - JITTER + 2.0 * JITTER * unit.clamp(0.0, 1.0))
    }

    /// (tick, objects per tick): ten ticks a second, or one object per tick below 10/s.
    pub fn pace(&self) -> (Duration, usize) {
        let rate = self.rate.max(1);
        if rate < 10 {
            (Duration::from_secs(1) / rate, 1)
        } else {
            (Duration::from_millis(100), rate.div_ceil(10) as usize)
        }
    }
}

/// Run resync passes until aborted: after the gate opens, every jittered period `list` the objects
/// and `wake` each of them, paced at `settings.rate`. None when disabled.
pub fn spawn<L, W>(
    settings: ResyncSettings,
    gate: SyncGate,
    list: L,
    wake: W,
) -> Option<JoinHandle<()>>
where
    L: Fn() -> Vec<ObjectKey> + Send + 'static,
    W: Fn(&ObjectKey) + Send + 'static,
{
    if !settings.enabled() {
        return None;
    }
    Some(tokio::spawn(async move {
        gate.wait().await;
        let (tick, per_tick) = settings.pace();
        loop {
            let unit: f64 = rand::rng().random();
            tokio::time::sleep(settings.jittered(unit)).await;
            let keys = list();
            tracing::debug!(objects = keys.len(), "resync pass");
            let mut ticker = tokio::time::interval(tick);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for chunk in keys.chunks(per_tick) {
                ticker.tick().await;
                for key in chunk {
                    wake(key);
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_disabled_and_jitter_stays_within_ten_percent() {
        assert!(!ResyncSettings::default().enabled());
        let s = ResyncSettings {
            period: Duration::from_secs(100),
            rate: 50,
        };
        assert!(s.enabled());
        assert_eq!(s.jittered(0.0), Duration::from_secs(90));
        assert_eq!(s.jittered(0.5), Duration::from_secs(100));
        assert!(s.jittered(0.999) <= Duration::from_secs(110));
    }

    #[test]
    fn pace_spreads_the_rate_over_ticks() {
        let p = |rate| {
            ResyncSettings {
                period: Duration::from_secs(1),
                rate,
            }
            .pace()
        };
        assert_eq!(p(50), (Duration::from_millis(100), 5));
        assert_eq!(p(55), (Duration::from_millis(100), 6));
        assert_eq!(p(4), (Duration::from_millis(250), 1));
        assert_eq!(p(0), (Duration::from_secs(1), 1));
    }
}
