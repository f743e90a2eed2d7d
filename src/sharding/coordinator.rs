//! The ring's coordinator: one replica (elected through its own Lease) watches the metadata of
//! every sharded object and, in a pass after any of them or the ring's members changed (else
//! every [`RESYNC`]), labels unassigned objects with their shard and drains clusters whose shard on
//! the ring changed ([`super::plan`]). A span per pass that changes
//! anything (`shard_pass`) holds a span per object written (`shard_move`); an Event on the
//! coordinator Lease sums up each membership change and each pass's moves ([`super::summary`]).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::Store;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::group::{GroupKey, Placement, group_of, placement};
use super::labels::{drain_label, shard_label};
use super::membership;
use super::plan::{Cause, Change, Item, decide};
use super::ring::Ring;
use super::summary::{self, Written};
use super::write::{ObjectId, patch_labels};
use crate::actors::cache;
use crate::api::kinds::Kind;
use crate::api::{CAPTCluster, CAPTControlPlane, Cluster, Workspace, WorkspaceTemplateApply};
use crate::client::events::{EventRecorder, EventSpec, object_reference};
use crate::telemetry::Metrics;

/// Label writes in flight at once during a pass.
const WRITES_AT_ONCE: usize = 16;

#[derive(Clone, Debug)]
pub struct CoordinatorSettings {
    pub ring: String,
    /// This replica's identity (named in the Events).
    pub identity: String,
    /// Namespace of the shard Leases.
    pub lease_namespace: String,
    /// Lease duration assumed for Leases that do not say.
    pub lease_duration: Duration,
    /// Namespace of the sharded objects (`None`: all).
    pub namespace: Option<String>,
    /// Pause between passes.
    pub interval: Duration,
}

type Meta<K> = Store<PartialObjectMeta<K>>;

/// A watch stream that only needs polling (its store is what is read).
type Polled = futures::stream::BoxStream<'static, ()>;

/// Metadata-only caches of every sharded kind, unfiltered.
struct Stores {
    clusters: Meta<Cluster>,
    captclusters: Meta<CAPTCluster>,
    controlplanes: Meta<CAPTControlPlane>,
    applies: Meta<WorkspaceTemplateApply>,
    workspaces: Meta<Workspace>,
}

fn meta_watch<K>(api: Api<PartialObjectMeta<K>>, streams: &mut Vec<Polled>) -> Meta<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, events) = cache::watch(api, cache::config(false));
    streams.push(events.map(|_| ()).boxed());
    store
}

fn namespaced<K>(client: &Client, ns: Option<&str>) -> Api<PartialObjectMeta<K>>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

impl Stores {
    fn watch(client: &Client, ns: Option<&str>) -> (Self, Vec<Polled>) {
        let mut s = Vec::new();
        let stores = Self {
            clusters: meta_watch(namespaced(client, ns), &mut s),
            captclusters: meta_watch(namespaced(client, ns), &mut s),
            controlplanes: meta_watch(namespaced(client, ns), &mut s),
            applies: meta_watch(namespaced(client, ns), &mut s),
            workspaces: meta_watch(Api::all(client.clone()), &mut s),
        };
        (stores, s)
    }

    async fn ready(&self) {
        let _ = futures::join!(
            self.clusters.wait_until_ready(),
            self.captclusters.wait_until_ready(),
            self.controlplanes.wait_until_ready(),
            self.applies.wait_until_ready(),
            self.workspaces.wait_until_ready(),
        );
    }

    fn apply_group(&self, ns: &str, name: &str) -> Option<GroupKey> {
        let r = kube::runtime::reflector::ObjectRef::new(name).within(ns);
        let a = self.applies.get(&r)?;
        group_of(Kind::WorkspaceTemplateApply, &a.metadata, |_, _| None)
    }

    /// Every sharded object that belongs to a cluster, with its placement.
    fn items(&self, shard: &str, drain: &str) -> Vec<Item<ObjectId>> {
        let mut out = Vec::new();
        let mut add = |kind: Kind, metas: Vec<std::sync::Arc<dyn MetaOf>>| {
            for o in metas {
                let m = o.meta_of();
                let Some(group) = group_of(kind, m, |ns, n| self.apply_group(ns, n)) else {
                    continue;
                };
                out.push(Item {
                    id: ObjectId {
                        kind,
                        namespace: m.namespace.clone().unwrap_or_default(),
                        name: m.name.clone().unwrap_or_default(),
                    },
                    group,
                    placement: placement(m, shard, drain),
                });
            }
        };
        add(Kind::Cluster, erase(&self.clusters));
        add(Kind::CaptCluster, erase(&self.captclusters));
        add(Kind::CaptControlPlane, erase(&self.controlplanes));
        add(Kind::WorkspaceTemplateApply, erase(&self.applies));
        add(Kind::Workspace, erase(&self.workspaces));
        out
    }
}

/// The metadata of a cached object, whatever its kind.
trait MetaOf: Send + Sync {
    fn meta_of(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
}

impl<K: Send + Sync> MetaOf for PartialObjectMeta<K> {
    fn meta_of(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        &self.metadata
    }
}

fn erase<K>(store: &Meta<K>) -> Vec<std::sync::Arc<dyn MetaOf>>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    store
        .state()
        .into_iter()
        .map(|o| o as std::sync::Arc<dyn MetaOf>)
        .collect()
}

/// The coordinator Lease as the involved object of the ring's Events (with its uid when it can be
/// read).
async fn lease_reference(client: &Client, s: &CoordinatorSettings) -> ObjectReference {
    let name = membership::coordinator_lease_name(&s.ring);
    let api: Api<Lease> = Api::namespaced(client.clone(), &s.lease_namespace);
    match api.get_opt(&name).await {
        Ok(Some(l)) => object_reference(&l),
        _ => ObjectReference {
            api_version: Some("coordination.k8s.io/v1".into()),
            kind: Some("Lease".into()),
            name: Some(name),
            namespace: Some(s.lease_namespace.clone()),
            ..Default::default()
        },
    }
}

/// How often the coordinator places objects although nothing it watches changed (a safety net:
/// every change of a sharded object or of the members triggers a pass).
pub const RESYNC: Duration = Duration::from_secs(30);

/// Whether a tick runs a placement pass: an object changed since the last pass began, the live
/// members changed, or the last pass is [`RESYNC`] old (or there was none).
pub fn pass_due(
    objects_changed: bool,
    members_changed: bool,
    since_last: Option<Duration>,
) -> bool {
    objects_changed || members_changed || since_last.is_none_or(|d| d >= RESYNC)
}

/// Coordinate until dropped (the caller drops it when the coordinator Lease is lost). Every
/// interval it reads the shard Leases; it places objects (a pass over every cached object) only
/// when [`pass_due`]. Each membership change and each pass's moves are summed up in one Event
/// each on the coordinator Lease.
pub async fn run(client: Client, metrics: Metrics, events: EventRecorder, s: CoordinatorSettings) {
    let (stores, streams) = Stores::watch(&client, s.namespace.as_deref());
    let changed = Arc::new(AtomicBool::new(true));
    let poll = {
        let changed = changed.clone();
        stream::select_all(streams).for_each(move |_| {
            changed.store(true, Ordering::Relaxed);
            async {}
        })
    };
    let ticks = async {
        stores.ready().await;
        tracing::info!(ring = %s.ring, "coordinating the shard ring");
        let lease = lease_reference(&client, &s).await;
        let mut members: Option<BTreeSet<String>> = None;
        let mut last_pass: Option<Instant> = None;
        loop {
            match live_members(&client, &s).await {
                Ok(live) => {
                    let moved = members.as_ref() != Some(&live);
                    let since = last_pass.map(|t| t.elapsed());
                    let mut published: Vec<EventSpec> =
                        summary::membership(&s.identity, members.as_ref(), &live)
                            .into_iter()
                            .collect();
                    if pass_due(changed.swap(false, Ordering::Relaxed), moved, since) {
                        last_pass = Some(Instant::now());
                        let p = pass(&client, &metrics, &s, &stores, &live).await;
                        if p.failed > 0 {
                            changed.store(true, Ordering::Relaxed);
                        }
                        published.extend(p.moves);
                    }
                    events.publish(lease.clone(), published, tracing::Span::current());
                    members = Some(live);
                }
                Err(e) => tracing::warn!(error = %e, "could not read the shard Leases"),
            }
            tokio::time::sleep(s.interval).await;
        }
    };
    tokio::select! {
        _ = poll => {}
        _ = ticks => {}
    }
}

/// The live members of the ring now (and the Leases of replicas long gone deleted).
async fn live_members(
    client: &Client,
    s: &CoordinatorSettings,
) -> Result<BTreeSet<String>, kube::Error> {
    let leases = membership::leases(client, &s.lease_namespace, &s.ring).await?;
    let live = membership::live_members(&leases, Timestamp::now(), s.lease_duration);
    membership::delete_orphaned(client, &s.lease_namespace, &leases, s.lease_duration).await;
    Ok(live)
}

/// What a pass did.
struct Passed {
    /// The Event summing up its moves, if it moved anything.
    moves: Option<EventSpec>,
    /// Label writes that failed (retried by the next pass).
    failed: usize,
}

async fn pass(
    client: &Client,
    metrics: &Metrics,
    s: &CoordinatorSettings,
    stores: &Stores,
    live: &BTreeSet<String>,
) -> Passed {
    let ring = Ring::new(live);
    let (shard, drain) = (shard_label(&s.ring), drain_label(&s.ring));
    let items = stores.items(&shard, &drain);
    let decision = decide(&items, &ring, live);
    metrics.shard_view(live.len(), decision.per_shard.iter());
    let placements: HashMap<&ObjectId, (&GroupKey, &Placement)> = items
        .iter()
        .map(|i| (&i.id, (&i.group, &i.placement)))
        .collect();
    let changes = &decision.changes;
    let pass_span = if changes.is_empty() {
        tracing::Span::none()
    } else {
        tracing::info_span!(
            "shard_pass",
            members = live.len(),
            changes = changes.len(),
            moving_clusters = decision.moving
        )
    };
    let writes: Vec<_> = (changes.iter().enumerate())
        .map(|(n, (id, change, cause))| {
            let (group, from) = placements[id];
            let span = tracing::info_span!(parent: &pass_span, "shard_move", object = %id, cluster = %group, from = ?from.shard, change = ?change);
            let w = write(client, metrics, (&shard, &drain), id, change, *cause);
            async move { (n, w.await) }.instrument(span)
        })
        .collect();
    let results: Vec<(usize, bool)> = stream::iter(writes)
        .buffer_unordered(WRITES_AT_ONCE)
        .collect()
        .instrument(pass_span.clone())
        .await;
    let done: Vec<usize> = (results.into_iter())
        .filter_map(|(n, ok)| ok.then_some(n))
        .collect();
    let failed = changes.len() - done.len();
    if failed > 0 {
        tracing::warn!(failed, "some shard label writes failed; retrying next pass");
    }
    let written: Vec<Written<'_>> = (done.iter())
        .map(|n| {
            let (id, change, cause) = &changes[*n];
            let (group, from) = placements[id];
            Written {
                group,
                from: from.shard.as_deref(),
                change,
                cause: *cause,
            }
        })
        .collect();
    Passed {
        moves: summary::moves(&written),
        failed,
    }
}

async fn write(
    client: &Client,
    metrics: &Metrics,
    (shard, drain): (&str, &str),
    id: &ObjectId,
    change: &Change,
    cause: Option<Cause>,
) -> bool {
    let labels: Vec<(&str, Option<&str>)> = match change {
        Change::Assign(to) => vec![(shard, Some(to.as_str())), (drain, None)],
        Change::Drain => vec![(drain, Some("true"))],
    };
    match patch_labels(client, id, &labels).await {
        Ok(()) => {
            match (change, cause) {
                (Change::Drain, _) => {
                    metrics.shard_drain();
                    metrics.shard_move("rebalance");
                }
                (Change::Assign(_), Some(Cause::DeadShard)) => metrics.shard_move("dead-shard"),
                _ => {}
            }
            tracing::debug!("shard labels written");
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not write shard labels");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_runs_on_a_change_or_when_the_last_is_old() {
        let recent = Some(Duration::from_secs(1));
        let old = Some(RESYNC);
        let rows = [
            (
                (false, false, recent),
                false,
                "nothing changed since a recent pass",
            ),
            ((true, false, recent), true, "an object changed"),
            ((false, true, recent), true, "the members changed"),
            ((false, false, old), true, "resync"),
            ((false, false, None), true, "no pass yet"),
        ];
        for ((objects, members, since), want, what) in rows {
            assert_eq!(pass_due(objects, members, since), want, "{what}");
        }
    }
}
