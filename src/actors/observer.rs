//! What the runtime reports about itself; the Prometheus metrics implement it, tests count with it.

use std::time::Duration;

use crate::reconcile::outcome::ErrorClass;

/// Outcome label of one reconcile, as in controller-runtime's `result` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Success,
    Requeue,
    Error,
    Timeout,
    Panic,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Requeue => "requeue_after",
            Self::Error => "error",
            Self::Timeout => "timeout",
            Self::Panic => "panic",
        }
    }
}

#[allow(unused_variables)]
pub trait Observer: Send + Sync + 'static {
    /// An actor was started (+1) or stopped (-1).
    fn actors(&self, kind: &'static str, delta: i64) {}
    /// A wake-up was queued for an actor (a workqueue add).
    fn queued(&self, kind: &'static str) {}
    /// A reconcile started after waiting `mailbox_wait` since its first trigger; `trigger` says
    /// what woke it (`Trigger::label`, or `queue` where the runtime does not know).
    fn started(&self, kind: &'static str, trigger: &str, mailbox_wait: Duration) {}
    /// A reconcile ended.
    fn finished(&self, kind: &'static str, outcome: Outcome, elapsed: Duration) {}
    /// A reconcile failed (counted in [`Outcome::Error`] too) with an error of `class` and
    /// `category` (see [`crate::reconcile::outcome::ErrorCategory`]).
    fn failed(&self, kind: &'static str, class: ErrorClass, category: &'static str) {}
    /// A reconcile was held back by the per-object rate limit.
    fn rate_limited(&self, kind: &'static str) {}
    /// A retry after failure was scheduled.
    fn retried(&self, kind: &'static str) {}
    /// Reconciles running now changed by `delta`.
    fn active(&self, kind: &'static str, delta: i64) {}
}
