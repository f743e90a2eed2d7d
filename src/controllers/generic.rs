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
use crate::actors::{Action, ErrorClass, ObjectKey, ReconcileCtx, Reconciler};
use crate::api::kinds::Kind;
use crate::reconcile::plan::Plan;

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

    async fn reconcile(
        &self,
        obj: Arc<D::K>,
        rctx: ReconcileCtx,
    ) -> Result<Action, ControllerError> {
        let mut obj = obj;
        let mut attempt = 0u32;
        loop {
            let plan = D::plan(&self.ctx, &obj, &rctx).await?;
            for w in &plan.waits {
                (self.ctx.waiters).wait_for(w.kind, &w.namespace, &w.name, &rctx.key);
            }
            let action = plan.action.clone();
            match execute(&self.ctx, D::KIND.name(), obj.as_ref(), plan, &rctx.writes).await {
                Ok(()) => return Ok(action),
                // Waiting is not an error: the plan's timers and requeue still apply.
                Err(ControllerError::Blocked(b)) if b.class == ErrorClass::Waiting => {
                    tracing::debug!(key = %rctx.key, reason = b.reason, message = %b.message, "waiting");
                    return Ok(action);
                }
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
