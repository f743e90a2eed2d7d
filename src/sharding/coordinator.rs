//! The ring's coordinator: one replica (elected through its own Lease) watches the metadata of
//! every sharded object and, each pass, labels unassigned objects with their shard and drains
//! clusters whose shard on the ring changed ([`super::plan`]).

use std::fmt::Debug;
use std::time::Duration;

use futures::{StreamExt, stream};
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
use super::write::{ObjectId, patch_labels};
use crate::actors::cache;
use crate::api::kinds::Kind;
use crate::api::{CAPTCluster, CAPTControlPlane, Cluster, Workspace, WorkspaceTemplateApply};
use crate::telemetry::Metrics;

/// Label writes in flight at once during a pass.
const WRITES_AT_ONCE: usize = 16;

#[derive(Clone, Debug)]
pub struct CoordinatorSettings {
    pub ring: String,
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

/// Coordinate until dropped (the caller drops it when the coordinator Lease is lost).
pub async fn run(client: Client, metrics: Metrics, s: CoordinatorSettings) {
    let (stores, streams) = Stores::watch(&client, s.namespace.as_deref());
    let poll = stream::select_all(streams).for_each(|_| async {});
    let passes = async {
        stores.ready().await;
        tracing::info!(ring = %s.ring, "coordinating the shard ring");
        loop {
            if let Err(e) = pass(&client, &metrics, &s, &stores).await {
                tracing::warn!(error = %e, "shard ring pass failed");
            }
            tokio::time::sleep(s.interval).await;
        }
    };
    tokio::select! {
        _ = poll => {}
        _ = passes => {}
    }
}

async fn pass(
    client: &Client,
    metrics: &Metrics,
    s: &CoordinatorSettings,
    stores: &Stores,
) -> Result<(), kube::Error> {
    let leases = membership::leases(client, &s.lease_namespace, &s.ring).await?;
    let live = membership::live_members(&leases, Timestamp::now(), s.lease_duration);
    membership::delete_orphaned(client, &s.lease_namespace, &leases, s.lease_duration).await;
    let ring = Ring::new(&live);
    let (shard, drain) = (shard_label(&s.ring), drain_label(&s.ring));
    let items = stores.items(&shard, &drain);
    let decision = decide(&items, &ring, &live);
    metrics.shard_view(live.len(), decision.per_shard.iter());
    let placements: std::collections::HashMap<&ObjectId, (&GroupKey, &Placement)> = items
        .iter()
        .map(|i| (&i.id, (&i.group, &i.placement)))
        .collect();
    let writes: Vec<_> = (decision.changes.into_iter())
        .map(|(id, change, cause)| {
            let (group, from) = placements[&id];
            let span = tracing::info_span!("shard_move", object = %id, cluster = %group, from = ?from.shard, change = ?change);
            write(client, metrics, (&shard, &drain), id, change, cause).instrument(span)
        })
        .collect();
    let failed = stream::iter(writes)
        .buffer_unordered(WRITES_AT_ONCE)
        .filter(|ok| std::future::ready(!ok))
        .count()
        .await;
    if failed > 0 {
        tracing::warn!(failed, "some shard label writes failed; retrying next pass");
    }
    Ok(())
}

async fn write(
    client: &Client,
    metrics: &Metrics,
    (shard, drain): (&str, &str),
    id: ObjectId,
    change: Change,
    cause: Option<Cause>,
) -> bool {
    let labels: Vec<(&str, Option<&str>)> = match &change {
        Change::Assign(to) => vec![(shard, Some(to.as_str())), (drain, None)],
        Change::Drain => vec![(drain, Some("true"))],
    };
    match patch_labels(client, &id, &labels).await {
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
