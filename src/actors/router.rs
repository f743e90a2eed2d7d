//! Routers: one task per watched kind turning watch events into wake-ups for the owning actors.
//! A router never waits for an actor: wake-ups go through coalescing inboxes.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use kube::Resource;
use kube::runtime::reflector::Store;
use kube::runtime::watcher::Event;
use opentelemetry::trace::SpanContext;

use super::cache::{EventStream, rv_of};
use super::freshness::Freshness;
use super::gate::SyncGate;
use super::key::ObjectKey;
use super::reconciler::Trigger;
use super::runtime::Dispatcher;

/// Maps an object of a watched kind to the actors it concerns.
pub type OwnersFn<K> = Arc<dyn Fn(&K) -> Vec<ObjectKey> + Send + Sync>;

/// How events of one watched kind reach actors.
pub enum Route<K: Resource<DynamicType = ()> + Clone + 'static> {
    /// The kind has its own actors (the store lets the router start them once the gate opens).
    Own(Store<K>),
    /// The kind concerns other kinds' actors.
    Owners(OwnersFn<K>),
    /// Both: own actors, and its owners' actors (e.g. a WorkspaceTemplateApply).
    OwnAndOwners(Store<K>, OwnersFn<K>),
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Route<K> {
    fn store(&self) -> Option<&Store<K>> {
        match self {
            Self::Own(s) | Self::OwnAndOwners(s, _) => Some(s),
            Self::Owners(_) => None,
        }
    }

    fn owners(&self) -> Option<&OwnersFn<K>> {
        match self {
            Self::Owners(f) | Self::OwnAndOwners(_, f) => Some(f),
            Self::Own(_) => None,
        }
    }
}

/// Everything a router needs besides its stream.
#[derive(Clone)]
pub struct RouterCtx {
    pub dispatcher: Dispatcher,
    pub freshness: Freshness,
    pub gate: SyncGate,
}

/// The link a reconcile woken by this object's event gets: the trace context the object
/// carries (the reconcile that created or last patched it, or its own lifecycle step), so a
/// control plane's reconcile woken by its Workspace points into the Workspace's trace. Watch
/// events are not spans of their own: thousands per second would each be a one-span trace.
fn event_link<K: Resource>(obj: &K) -> Option<SpanContext> {
    crate::telemetry::otel::exporting()
        .then(|| crate::telemetry::lineage::recorded(obj.meta()))
        .flatten()
}

/// Consume `stream` (which keeps the kind's store current and turns relists into the changes they
/// carry, see [`super::relist`]) and dispatch its events until it ends.
pub async fn run<K>(kind: &'static str, mut stream: EventStream<K>, route: Route<K>, ctx: RouterCtx)
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let own = ctx
        .dispatcher
        .get(kind)
        .cloned()
        .filter(|_| route.store().is_some());
    let mut synced_once = false;
    let mut opened = ctx.gate.is_open();
    let gate = ctx.gate.clone();
    loop {
        let ev = tokio::select! {
            ev = stream.next() => ev,
            _ = gate.wait(), if !opened => {
                opened = true;
                start_all(kind, &route, &ctx);
                continue;
            }
        };
        let Some(ev) = ev else { break };
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(kind, error = %e, "watch error; retrying with backoff");
                continue;
            }
        };
        match ev {
            // A relist's changes arrive as Apply/Delete before its InitDone (see `relist`).
            Event::Init => {}
            Event::InitApply(obj) | Event::Apply(obj) => {
                ctx.freshness
                    .observe(kind, obj.meta().resource_version.as_deref());
                let key = ObjectKey::of(kind, &obj);
                if opened {
                    dispatch(kind, "apply", &key, &obj, &route, &ctx, own.as_deref());
                }
            }
            Event::Delete(obj) => {
                ctx.freshness
                    .observe(kind, obj.meta().resource_version.as_deref());
                let key = ObjectKey::of(kind, &obj);
                if let Some(reg) = own.as_deref() {
                    reg.stop(&key);
                }
                if opened {
                    dispatch(kind, "delete", &key, &obj, &route, &ctx, None);
                }
            }
            Event::InitDone => {
                if let (Some(reg), Some(store)) = (own.as_deref(), route.store()) {
                    // Vanished objects came as deletes; no actor outlives its object either way.
                    let listed: HashSet<ObjectKey> = store
                        .state()
                        .iter()
                        .map(|o| ObjectKey::of(kind, o.as_ref()))
                        .collect();
                    for key in reg.keys() {
                        if !listed.contains(&key) {
                            reg.stop(&key);
                        }
                    }
                }
                if !synced_once {
                    synced_once = true;
                    ctx.gate.synced(kind);
                }
            }
        }
    }
    tracing::info!(kind, "router stopped");
}

fn start_all<K>(kind: &'static str, route: &Route<K>, ctx: &RouterCtx)
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let (Some(store), Some(reg)) = (route.store(), ctx.dispatcher.get(kind)) else {
        return;
    };
    let objs = store.state();
    tracing::info!(kind, count = objs.len(), "caches synced; starting actors");
    for obj in objs {
        let key = ObjectKey::of(kind, obj.as_ref());
        reg.ensure(&key, rv_of(obj.as_ref()), Trigger::Start, None);
    }
}

fn dispatch<K>(
    kind: &'static str,
    op: &'static str,
    key: &ObjectKey,
    obj: &K,
    route: &Route<K>,
    ctx: &RouterCtx,
    own: Option<&dyn super::registry::Dispatch>,
) where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    let link = event_link(obj);
    tracing::trace!(kind, op, %key, "event");
    if let Some(reg) = own {
        reg.ensure(key, rv_of(obj), Trigger::Event(kind), link.clone());
    }
    if let Some(owners) = route.owners() {
        let targets = owners(obj);
        if targets.is_empty() && route.store().is_none() {
            tracing::debug!(%key, "no owner known; event dropped");
        }
        for target in targets {
            let delivered = ctx
                .dispatcher
                .get(target.kind)
                .is_some_and(|reg| reg.wake(&target, Trigger::Event(kind), link.clone()));
            if !delivered {
                tracing::debug!(%key, owner = %target, "owner has no actor; event dropped");
            }
        }
    }
}
