//! What a decision hands back to the runtime besides its writes: the next wake-up and timers
//! ([`Action`], [`TimerCmd`]), how a reconcile ended ([`Reconciled`]: done, waiting, or failed
//! with an [`ErrorClass`]), and the Events to publish ([`EventSpec`]). Plain data shared by the decisions, the actor runtime and the
//! kube-runtime baseline.

use std::time::Duration;

/// How the runtime treats a failed reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Retry with exponential backoff; the status is kept.
    Transient,
    /// Do not retry until the object's generation changes.
    Terminal,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Terminal => "terminal",
        }
    }
}

/// Every reconcile error names its category (`api`, `conflict`, `invalid-spec`, …): a metrics
/// label and a span attribute, so failures can be told apart without reading their messages.
pub trait ErrorCategory {
    fn category(&self) -> &'static str;
}

/// How one reconcile ended.
#[derive(Debug)]
pub enum Reconciled<E> {
    /// The reconcile did what it could; the action says when to look again.
    Done(Action),
    /// A dependency is not ready yet. Not an error: no backoff, no error count; the action's
    /// requeue and timers apply as after [`Reconciled::Done`].
    Waiting {
        reason: &'static str,
        action: Action,
    },
    /// The reconcile failed; the class decides the retry.
    Failed(ErrorClass, E),
}

/// A named timer command returned by a reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimerCmd {
    /// Fire `name` after `after`; re-arming an armed timer replaces its deadline.
    Arm { name: &'static str, after: Duration },
    /// Cancel `name` if armed.
    Cancel(&'static str),
}

/// What a successful reconcile asks of the runtime.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Action {
    /// Reconcile again after this long, even without an event.
    pub requeue_after: Option<Duration>,
    /// Timers to arm or cancel.
    pub timers: Vec<TimerCmd>,
}

impl Action {
    /// Wait for the next event.
    pub fn await_change() -> Self {
        Self::default()
    }

    /// Reconcile again after `after`.
    pub fn requeue(after: Duration) -> Self {
        Self {
            requeue_after: Some(after),
            timers: Vec::new(),
        }
    }

    pub fn with_timer(mut self, cmd: TimerCmd) -> Self {
        self.timers.push(cmd);
        self
    }

    /// Keep the earlier of two requeue times and all timer commands.
    pub fn merge(mut self, other: Action) -> Self {
        self.requeue_after = match (self.requeue_after, other.requeue_after) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.timers.extend(other.timers);
        self
    }
}

/// Event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

/// An Event to publish about an object. Messages never carry secret data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    pub type_: EventType,
    pub reason: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_earliest_requeue_and_all_timers() {
        let a = Action::requeue(Duration::from_secs(5)).with_timer(TimerCmd::Cancel("x"));
        let b = Action::requeue(Duration::from_secs(2)).with_timer(TimerCmd::Arm {
            name: "y",
            after: Duration::from_secs(1),
        });
        let m = a.merge(b);
        assert_eq!(m.requeue_after, Some(Duration::from_secs(2)));
        assert_eq!(m.timers.len(), 2);
        let none = Action::await_change().merge(Action::await_change());
        assert_eq!(none.requeue_after, None);
        let one = Action::await_change().merge(Action::requeue(Duration::from_secs(3)));
        assert_eq!(one.requeue_after, Some(Duration::from_secs(3)));
    }
}
