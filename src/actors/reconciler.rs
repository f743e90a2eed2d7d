//! The contract between the actor runtime and the reconcilers that plug into it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::key::ObjectKey;

/// How the runtime treats a failed reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Retry with exponential backoff; the status is kept.
    Transient,
    /// Do not retry until the object's generation changes.
    Terminal,
    /// Not an error: a dependency is not ready yet; wait for an event or a timer.
    Waiting,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Terminal => "terminal",
            Self::Waiting => "waiting",
        }
    }
}

/// Every reconcile error says which class it belongs to.
pub trait Classify {
    fn class(&self) -> ErrorClass;
}

/// Why a reconcile runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A watch event of the given kind concerned this object.
    Event(&'static str),
    /// A named timer armed by an earlier reconcile fired.
    Timer(&'static str),
    /// The requeue time from an earlier reconcile came.
    Requeue,
    /// Retry after a failure (backoff elapsed).
    Retry,
    /// The actor (re)started.
    Start,
    /// The periodic resync pass (a safety net for lost wake-ups).
    Resync,
}

impl Trigger {
    pub fn label(&self) -> String {
        match self {
            Self::Event(kind) => format!("event:{kind}"),
            Self::Timer(name) => format!("timer:{name}"),
            Self::Requeue => "requeue".into(),
            Self::Retry => "retry".into(),
            Self::Start => "start".into(),
            Self::Resync => "resync".into(),
        }
    }
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

/// What a reconcile gets besides the object.
#[derive(Clone, Debug)]
pub struct ReconcileCtx {
    pub key: ObjectKey,
    pub trigger: Trigger,
    /// Records the resourceVersions this reconcile wrote, so the next one waits for caches to catch up.
    pub writes: super::freshness::WriteLog,
}

/// A reconciler for one kind. The runtime owns scheduling, retries, timers and telemetry;
/// the reconciler only decides and writes.
pub trait Reconciler: Send + Sync + 'static {
    /// The kind this reconciler owns (one actor per object of this kind).
    type Object: kube::Resource + Clone + Send + Sync + 'static;
    type Error: std::error::Error + Classify + Send + 'static;

    /// Kind name used in keys, metrics and spans (e.g. `CAPTControlPlane`).
    fn kind(&self) -> &'static str;

    /// The current object from the cache, if it still exists.
    fn get(&self, key: &ObjectKey) -> Option<Arc<Self::Object>>;

    /// The span the next reconcile of `obj` continues under (see `telemetry::lineage`): the
    /// object's recorded trace by default; `None` starts a new trace.
    fn trace_parent(&self, obj: &Self::Object) -> Option<opentelemetry::trace::SpanContext> {
        match crate::telemetry::lineage::lineage(kube::Resource::meta(obj)) {
            crate::telemetry::lineage::Lineage::Continue(sc) => Some(sc),
            crate::telemetry::lineage::Lineage::Root { .. } => None,
        }
    }

    /// Bring the world closer to what `obj` asks for.
    fn reconcile(
        &self,
        obj: Arc<Self::Object>,
        ctx: ReconcileCtx,
    ) -> impl Future<Output = Result<Action, Self::Error>> + Send;
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
