//! A replica lets go of drained objects: it finds the coordinator's drain marks in its caches,
//! stops the cluster's reconciles (waiting for those in flight), then acknowledges by removing the
//! object's shard and drain labels. The object leaves this replica's watches with that write.

use std::collections::BTreeSet;
use std::sync::Arc;

use kube::Resource;
use kube::runtime::reflector::Store;

use super::gate::ShardGate;
use super::group::{GroupKey, group_of};
use super::write::{ObjectId, patch_labels};
use crate::api::kinds::Kind;
use crate::controllers::context::SharedCtx;
use crate::controllers::world::{self, World};

/// A drain-marked object in this replica's caches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marked {
    pub id: ObjectId,
    pub group: Option<GroupKey>,
}

fn marked_in<K>(
    kind: Kind,
    store: &Store<K>,
    drain_label: &str,
    world: &World,
    out: &mut Vec<Marked>,
) where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    for o in store.state() {
        let m = o.meta();
        if !m
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(drain_label))
        {
            continue;
        }
        let apply_group = |ns: &str, name: &str| {
            world::get(&world.applies, ns, name)
                .and_then(|a| group_of(Kind::WorkspaceTemplateApply, a.meta(), |_, _| None))
        };
        out.push(Marked {
            id: ObjectId {
                kind,
                namespace: m.namespace.clone().unwrap_or_default(),
                name: m.name.clone().unwrap_or_default(),
            },
            group: group_of(kind, m, apply_group),
        });
    }
}

/// Every drain-marked object of the sharded kinds in `world`.
pub fn marked(world: &World, drain_label: &str) -> Vec<Marked> {
    let mut out = Vec::new();
    marked_in(Kind::Cluster, &world.clusters, drain_label, world, &mut out);
    marked_in(
        Kind::CaptCluster,
        &world.captclusters,
        drain_label,
        world,
        &mut out,
    );
    marked_in(
        Kind::CaptControlPlane,
        &world.controlplanes,
        drain_label,
        world,
        &mut out,
    );
    marked_in(
        Kind::WorkspaceTemplateApply,
        &world.applies,
        drain_label,
        world,
        &mut out,
    );
    marked_in(
        Kind::Workspace,
        &world.workspaces,
        drain_label,
        world,
        &mut out,
    );
    out
}

/// Clusters no longer draining: no marked object of theirs is left in the caches (they left, or
/// the coordinator gave them back), so a reconcile of theirs may start again.
pub fn settled(draining: &[GroupKey], marked: &[Marked]) -> Vec<GroupKey> {
    let still: BTreeSet<&GroupKey> = marked.iter().filter_map(|m| m.group.as_ref()).collect();
    draining
        .iter()
        .filter(|g| !still.contains(g))
        .cloned()
        .collect()
}

/// One pass: release settled clusters, drain marked ones, acknowledge their objects.
pub async fn pass(ctx: &SharedCtx, gate: &ShardGate) {
    let draining = gate.draining();
    let marked = marked(&ctx.world, gate.drain_label());
    for g in settled(&draining, &marked) {
        gate.release(&g);
    }
    let groups: BTreeSet<&GroupKey> = marked.iter().filter_map(|m| m.group.as_ref()).collect();
    for g in groups {
        gate.drain(g).await;
    }
    let labels = [(gate.shard_label(), None), (gate.drain_label(), None)];
    for m in &marked {
        match patch_labels(&ctx.client, &m.id, &labels).await {
            Ok(()) => {
                ctx.metrics.shard_drain_ack();
                tracing::info!(object = %m.id, cluster = ?m.group.as_ref().map(ToString::to_string), "drained: object let go");
            }
            Err(e) => {
                tracing::warn!(object = %m.id, error = %e, "could not acknowledge a drain; retrying")
            }
        }
    }
}

/// How often the arrivals of clusters gone from this shard are forgotten.
const FORGET_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The clusters of which an object is in `world`'s sharded caches.
fn present(world: &World) -> std::collections::HashSet<GroupKey> {
    fn groups<K: Resource<DynamicType = ()> + Clone + 'static>(
        kind: Kind,
        store: &Store<K>,
        out: &mut std::collections::HashSet<GroupKey>,
    ) {
        out.extend((store.state().iter()).filter_map(|o| group_of(kind, o.meta(), |_, _| None)));
    }
    let mut out = std::collections::HashSet::new();
    groups(Kind::Cluster, &world.clusters, &mut out);
    groups(Kind::CaptCluster, &world.captclusters, &mut out);
    groups(Kind::CaptControlPlane, &world.controlplanes, &mut out);
    groups(Kind::WorkspaceTemplateApply, &world.applies, &mut out);
    out
}

/// Look for drain marks every `drain_interval` until the controller stops.
pub async fn run(ctx: SharedCtx, gate: Arc<ShardGate>) {
    let every = gate.settings().drain_interval;
    let mut forgotten = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(every).await;
        pass(&ctx, &gate).await;
        if forgotten.elapsed() >= FORGET_EVERY {
            let here = present(&ctx.world);
            gate.forget_gone(|g| here.contains(g));
            forgotten = tokio::time::Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(cluster: Option<&str>) -> Marked {
        Marked {
            id: ObjectId {
                kind: Kind::CaptCluster,
                namespace: "ns".into(),
                name: "x".into(),
            },
            group: cluster.map(|c| GroupKey::new("ns", c)),
        }
    }

    #[test]
    fn a_cluster_stays_draining_while_any_object_of_it_is_marked() {
        let draining = vec![GroupKey::new("ns", "a"), GroupKey::new("ns", "b")];
        assert_eq!(
            settled(&draining, &[m(Some("a")), m(None)]),
            vec![GroupKey::new("ns", "b")]
        );
        assert_eq!(settled(&draining, &[]), draining);
        assert!(settled(&[], &[m(Some("a"))]).is_empty());
    }
}
