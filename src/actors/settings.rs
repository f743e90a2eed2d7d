//! Tunables of the actor runtime (all exposed as `capt run` flags).

use std::time::Duration;

use super::backoff::BackoffPolicy;

#[derive(Clone, Debug)]
pub struct RuntimeSettings {
    /// Sustained reconciles per second per object, for what the runtime schedules on its own
    /// (retries, requeues, timers, resync); watch events are not paced by it.
    pub object_rate_per_sec: u32,
    /// Burst of reconciles per object.
    pub object_burst: u32,
    /// Failure backoff.
    pub backoff: BackoffPolicy,
    /// A reconcile running longer than this is cancelled and counted as a timeout error.
    pub reconcile_timeout: Duration,
    /// Mailbox capacity of every actor.
    pub mailbox_capacity: usize,
    /// Reconciles of one kind running at once (per kind, like controller-runtime's per-controller limit).
    pub max_concurrent_reconciles: usize,
    /// Arbiters (threads) the actors are spread over.
    pub arbiters: usize,
    /// How long a reconcile may be held back waiting for caches to show the actor's own writes.
    pub freshness_max_wait: Duration,
    /// Poll interval while waiting for the caches.
    pub freshness_poll: Duration,
    /// How long a watch event waits for more events of the same object before its reconcile
    /// starts (a change usually comes with its echoes: a Workspace update, then its apply's
    /// status): one reconcile sees them all.
    pub event_settle: Duration,
    /// An actor with nothing to do (no reconcile, timer, retry or pending wake-up) for about this
    /// long is put to sleep; the next wake-up of its object starts a new one. Zero: never.
    pub idle_actor_sleep: Duration,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            object_rate_per_sec: 1,
            object_burst: 5,
            backoff: BackoffPolicy::default(),
            reconcile_timeout: Duration::from_secs(60),
            mailbox_capacity: 16,
            max_concurrent_reconciles: 64,
            arbiters: std::thread::available_parallelism().map_or(2, |n| n.get()),
            freshness_max_wait: Duration::from_millis(100),
            freshness_poll: Duration::from_millis(10),
            event_settle: Duration::from_millis(15),
            idle_actor_sleep: Duration::from_secs(10),
        }
    }
}
