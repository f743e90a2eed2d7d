//! One reconcile plumbing for every kind: look the object up in its cache, gather inputs and
//! decide (per kind), then execute the plan. Kinds only supply the gathering and the decision.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use kube::Resource;
use kube::core::object::HasStatus;
use kube::runtime::reflector::Store;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::SharedCtx;
use super::error::ControllerError;
use super::exec::execute;
use super::world;
use crate::actors::{Action, ObjectKey, ReconcileCtx, Reconciled, Reconciler};
use crate::api::kinds::Kind;
use crate::reconcile::plan::{Blocked, Plan};
use crate::telemetry::lineage::{self, Lineage};
use opentelemetry::trace::SpanContext;

/// A kind's gathering and decision.
pub trait Decide: Send + Sync + 'static {
    type K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + HasStatus<Status = Self::Status>
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug
        + Send
        + Sync
        + 'static;
    type Status: Serialize + Send + Sync + 'static;

    const KIND: Kind;

    fn store(ctx: &SharedCtx) -> &Store<Self::K>;

    /// A sibling object whose lifecycle trace a new step of `obj` joins (see
    /// `telemetry::lineage::join`); none by default.
    fn trace_peer(_ctx: &SharedCtx, _obj: &Self::K) -> Option<SpanContext> {
        None
    }

    /// Whether a reconcile that starts a lifecycle step may record it on the object now (see
    /// `telemetry::lineage`); always by default. A recorded step is always kept current.
    fn records_trace(_ctx: &SharedCtx, _obj: &Self::K) -> bool {
        true
    }

    /// Read what the decision needs (caches, and on-demand reads) and decide.
    fn plan(
        ctx: &SharedCtx,
        obj: &Self::K,
        rctx: &ReconcileCtx,
    ) -> impl Future<Output = Result<Plan<Self::Status>, ControllerError>> + Send;
}

/// The runtime's reconciler for a [`Decide`] kind.
pub struct Controller<D: Decide> {
    ctx: SharedCtx,
    _d: std::marker::PhantomData<fn() -> D>,
}

impl<D: Decide> Controller<D> {
    pub fn new(ctx: SharedCtx) -> Arc<Self> {
        Arc::new(Self {
            ctx,
            _d: std::marker::PhantomData,
        })
    }
}

impl<D: Decide> Reconciler for Controller<D> {
    type Object = D::K;
    type Error = ControllerError;

    fn kind(&self) -> &'static str {
        D::KIND.name()
    }

    fn get(&self, key: &ObjectKey) -> Option<Arc<D::K>> {
        let store = D::store(&self.ctx);
        if key.namespace.is_empty() {
            world::get_cluster(store, &key.name)
        } else {
            world::get(store, &key.namespace, &key.name)
        }
    }

    fn trace_parent(&self, obj: &D::K) -> Option<SpanContext> {
        match lineage::lineage(obj.meta()) {
            Lineage::Continue(sc) => Some(sc),
            Lineage::Root { .. } => D::trace_peer(&self.ctx, obj),
        }
    }

    async fn reconcile(&self, obj: Arc<D::K>, rctx: ReconcileCtx) -> Reconciled<ControllerError> {
        // A cluster being handed over to another shard is not reconciled here any more; the
        // drain waits for this turn to end. Should the cluster stay (the ring changed back), it
        // is looked at again once the drain settled.
        let Ok(turn) = crate::sharding::gate::enter(self.ctx.shard.as_ref(), D::KIND, obj.meta())
        else {
            return Reconciled::Done(Action::requeue(crate::sharding::gate::RECHECK));
        };
        let done = match self.decide_and_execute(obj, &rctx).await {
            Ok(done) => done,
            Err(e) => Reconciled::Failed(e.class(), e),
        };
        crate::sharding::gate::finish(turn, done)
    }
}

impl<D: Decide> Controller<D> {
    /// Decide and execute, deciding again from a fresher cache after a 409 Conflict.
    async fn decide_and_execute(
        &self,
        obj: Arc<D::K>,
        rctx: &ReconcileCtx,
    ) -> Result<Reconciled<ControllerError>, ControllerError> {
        let mut obj = obj;
        let mut attempt = 0u32;
        loop {
            let mut plan = D::plan(&self.ctx, &obj, rctx).await?;
            for w in &plan.waits {
                (self.ctx.waiters).wait_for(w.kind, &w.namespace, &w.name, &rctx.key);
            }
            let action = plan.action.clone();
            let blocked = plan.blocked.take();
            let record = self.records_trace(&obj);
            let executed = execute(
                &self.ctx,
                D::KIND.name(),
                obj.as_ref(),
                plan,
                &rctx.writes,
                record,
            )
            .await;
            match executed {
                Ok(()) => return Ok(finish(blocked, action, &rctx.key)),
                // Someone else wrote the object since the cache showed it: decide again from
                // the newer version instead of backing off.
                Err(e) if e.is_conflict() && attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                    tracing::debug!(key = %rctx.key, attempt, "conflict; deciding again from a fresher cache");
                    obj = self.fresher(&rctx.key, &obj).await.unwrap_or(obj);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// How an executed plan ends: done, waiting (not an error: the plan's timers and requeue still
/// apply), or refused. A refused plan's status was written first on purpose: its conditions tell
/// the user why the object is refused.
fn finish(
    blocked: Option<Blocked>,
    action: Action,
    key: &ObjectKey,
) -> Reconciled<ControllerError> {
    let Some(b) = blocked else {
        return Reconciled::Done(action);
    };
    match ControllerError::refused(b) {
        Ok(e) => Reconciled::Failed(e.class(), e),
        Err(w) => {
            tracing::debug!(%key, reason = w.reason, message = %w.message, "waiting");
            Reconciled::Waiting {
                reason: w.reason,
                action,
            }
        }
    }
}

impl<D: Decide> Controller<D> {
    /// Whether this reconcile may record its trace on the object: a recorded step is always kept
    /// current (capt's own spec writes move it along); a new one is recorded when the kind allows
    /// it and this reconcile's span is in the trace the object should join (a sibling may have
    /// recorded one since the span started).
    fn records_trace(&self, obj: &D::K) -> bool {
        if !crate::telemetry::otel::exporting() {
            return false;
        }
        if matches!(lineage::lineage(obj.meta()), Lineage::Continue(_)) {
            return true;
        }
        let current = crate::telemetry::span_context(&tracing::Span::current());
        D::records_trace(&self.ctx, obj)
            && D::trace_peer(&self.ctx, obj).is_none_or(|p| p.trace_id() == current.trace_id())
    }
}

/// Immediate re-decisions after a 409 Conflict before falling back to backoff.
const CONFLICT_RETRIES: u32 = 3;

impl<D: Decide> Controller<D> {
    /// The cached object once it is newer than `seen` (waits up to ~200 ms); `None` when gone.
    async fn fresher(&self, key: &ObjectKey, seen: &Arc<D::K>) -> Option<Arc<D::K>> {
        let old = seen.meta().resource_version.clone();
        for _ in 0..20 {
            let cur = Reconciler::get(self, key)?;
            if cur.meta().resource_version != old {
                return Some(cur);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Reconciler::get(self, key)
    }
}
