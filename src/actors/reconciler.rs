//! The contract between the actor runtime and the reconcilers that plug into it.

use std::future::Future;
use std::sync::Arc;

use super::key::ObjectKey;
pub use crate::reconcile::outcome::{Action, ErrorCategory, ErrorClass, Reconciled, TimerCmd};

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
    /// New input (a watch event, or the actor's start): reconciled as soon as the object's
    /// previous reconcile ended, not paced by the per-object rate limit, which paces what the
    /// runtime schedules on its own (retries, requeues, timers, resync).
    pub fn is_new_input(&self) -> bool {
        matches!(self, Self::Event(_) | Self::Start)
    }

    /// Of a pending trigger and a new one, the one to keep: new input outranks a scheduled
    /// wake-up (so a pending requeue does not make an event wait for the rate limit), else the
    /// first stays.
    pub fn keep(pending: Option<Trigger>, new: Trigger) -> Trigger {
        match pending {
            Some(p) if p.is_new_input() || !new.is_new_input() => p,
            _ => new,
        }
    }

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
    type Error: std::error::Error + ErrorCategory + Send + 'static;

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

    /// Bring the world closer to what `obj` asks for: done, waiting for a dependency, or failed.
    fn reconcile(
        &self,
        obj: Arc<Self::Object>,
        ctx: ReconcileCtx,
    ) -> impl Future<Output = Reconciled<Self::Error>> + Send;
}
