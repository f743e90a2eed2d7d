//! A shard ring on the in-memory API server for tests: replicas (ring membership and
//! controllers) started in-process, the per-object reconcile log across replicas, and waits for a
//! ring to converge.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use capt::actors::leader::LeaseSettings;
use capt::api::names::labels;
use capt::api::{CAPTCluster, CAPTControlPlane, Workspace};
use capt::controllers::manager::{self, ManagerConfig, Running};
use capt::sharding::gate::ReconcileRecord;
use capt::sharding::labels::shard_label;
use capt::sharding::replica::{Replica, ReplicaSettings};
use capt::sharding::ring::Ring;
use capt::sharding::{GroupKey, ShardSettings, membership};
use capt::telemetry::Metrics;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};

use crate::support::{TEMPLATES, apply_yaml, cluster_yaml, controller_client, eventually};

pub const RING: &str = "capt";
pub const NS: &str = "default";
/// Clusters in the test (`CAPT_SHARDING_CLUSTERS` overrides: the 300 take a few minutes).
pub fn clusters() -> usize {
    std::env::var("CAPT_SHARDING_CLUSTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

/// One replica: its ring membership and its controllers.
pub struct Node {
    pub name: String,
    pub replica: Replica,
    pub running: Running,
    pub metrics: Metrics,
}

/// Lease timings with a lease duration of `secs` seconds (renewed every 250ms).
pub fn lease(secs: u64) -> LeaseSettings {
    LeaseSettings {
        lease_duration: Duration::from_secs(secs),
        renew_deadline: Duration::from_secs(secs) * 3 / 4,
        retry_period: Duration::from_millis(250),
        ..LeaseSettings::new(NS, "unused", "unused")
    }
}

/// A replica `name` with Leases of `lease`, its caches synced.
pub async fn start_node(
    server: &capt_load::kubesim::Handle,
    name: &str,
    lease: LeaseSettings,
) -> Node {
    let metrics = Metrics::new();
    let client = controller_client(server, &metrics);
    let replica = Replica::join(
        client.clone(),
        metrics.clone(),
        ReplicaSettings {
            ring: RING.into(),
            identity: name.into(),
            lease,
            namespace: None,
            coordinator_interval: Duration::from_millis(200),
            events: Default::default(),
        },
    )
    .await;
    let cfg = ManagerConfig {
        sharding: Some(ShardSettings {
            drain_interval: Duration::from_millis(100),
            record_reconciles: true,
            ..ShardSettings::new(RING, name)
        }),
        ..ManagerConfig::default()
    };
    let running = manager::start(client, metrics.clone(), cfg);
    tokio::time::timeout(Duration::from_secs(20), running.gate.wait())
        .await
        .expect("caches sync");
    Node {
        name: name.into(),
        replica,
        running,
        metrics,
    }
}

pub fn records(nodes: &[&Node]) -> Vec<ReconcileRecord> {
    nodes
        .iter()
        .flat_map(|n| n.running.ctx.shard.as_ref().unwrap().reconciles())
        .collect()
}

/// Reconciles of one cluster by different replicas never overlap in time.
pub fn assert_no_overlap(all: &[ReconcileRecord]) {
    let mut by_group: BTreeMap<&GroupKey, Vec<&ReconcileRecord>> = BTreeMap::new();
    for r in all {
        by_group.entry(&r.group).or_default().push(r);
    }
    for (g, mut rs) in by_group {
        rs.sort_by_key(|r| r.started);
        for (i, a) in rs.iter().enumerate() {
            for b in &rs[i + 1..] {
                if b.started >= a.ended {
                    break;
                }
                assert_eq!(
                    a.replica, b.replica,
                    "{g} reconciled by {} and {} at once",
                    a.replica, b.replica
                );
            }
        }
    }
}

/// Which replicas reconciled each cluster.
pub fn reconcilers(all: &[ReconcileRecord]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in all {
        out.entry(r.group.cluster.clone())
            .or_default()
            .insert(r.replica.clone());
    }
    out
}

pub async fn wait_members(client: &Client, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    eventually(20, "ring membership", || async {
        let live = membership::members(client, NS, RING, Duration::from_secs(2))
            .await
            .ok()?;
        (live == want).then_some(())
    })
    .await;
}

pub fn names() -> Vec<String> {
    (0..clusters()).map(|i| format!("c{i:02}")).collect()
}

/// Every cluster converged at `version`, and every sharded object of it labelled with its ring owner among
/// `members`; returns the owner of each cluster.
pub async fn wait_converged_on(
    client: &Client,
    members: &[&str],
    version: &str,
) -> BTreeMap<String, String> {
    let ring = Ring::new(&members.iter().map(|s| s.to_string()).collect());
    let owner = |c: &str| {
        ring.owner(&GroupKey::new(NS, c).to_string())
            .unwrap()
            .to_string()
    };
    let cps: Api<CAPTControlPlane> = Api::namespaced(client.clone(), NS);
    let ccs: Api<CAPTCluster> = Api::namespaced(client.clone(), NS);
    let key = shard_label(RING);
    let deadline = Instant::now() + Duration::from_secs(60 + clusters() as u64);
    loop {
        let cps = cps.list(&ListParams::default()).await.unwrap().items;
        let ccs = ccs.list(&ListParams::default()).await.unwrap().items;
        let cp_ready = (cps.iter())
            .filter(|c| {
                c.status.as_ref().is_some_and(|s| {
                    s.ready && s.secrets_ready && s.version.as_deref() == Some(version)
                })
            })
            .count();
        let cc_ready = (ccs.iter())
            .filter(|c| c.status.as_ref().is_some_and(|s| s.ready))
            .count();
        let misplaced: Vec<(String, Option<String>)> = (cps.iter().map(|c| c.metadata.clone()))
            .chain(ccs.iter().map(|c| c.metadata.clone()))
            .map(|m| {
                (
                    m.name.unwrap_or_default(),
                    m.labels.and_then(|mut l| l.remove(&key)),
                )
            })
            .filter(|(name, shard)| shard.as_deref() != Some(owner(name).as_str()))
            .collect();
        if cp_ready == clusters() && cc_ready == clusters() && misplaced.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            let stuck: Vec<String> = (cps.iter())
                .filter(|c| {
                    !c.status.as_ref().is_some_and(|s| {
                        s.ready && s.secrets_ready && s.version.as_deref() == Some(version)
                    })
                })
                .map(|c| {
                    format!(
                        "CAPTControlPlane {}: {:?} {:?}",
                        c.name_any(),
                        c.labels(),
                        c.status
                    )
                })
                .chain(
                    (ccs.iter())
                        .filter(|c| !c.status.as_ref().is_some_and(|s| s.ready))
                        .map(|c| {
                            format!(
                                "CAPTCluster {}: {:?} {:?}",
                                c.name_any(),
                                c.labels(),
                                c.status
                            )
                        }),
                )
                .take(3)
                .collect();
            panic!(
                "not converged on {members:?} at {version}: {cp_ready} control planes and \
                 {cc_ready} CAPTClusters ready of {}; misplaced: {misplaced:?}; stuck: {stuck:#?}",
                clusters()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    names()
        .into_iter()
        .map(|c| (owner(&c), c))
        .map(|(o, c)| (c, o))
        .collect()
}

/// Workspaces per apply: each apply has at most one.
pub async fn workspaces_per_apply(client: &Client) -> BTreeMap<String, usize> {
    let ws: Api<Workspace> = Api::all(client.clone());
    let mut out: BTreeMap<String, usize> = BTreeMap::new();
    for w in ws.list(&ListParams::default()).await.unwrap().items {
        let l = w.labels();
        let apply = format!(
            "{}/{}",
            l.get(labels::WORKSPACE_TEMPLATE_APPLY_NAMESPACE)
                .cloned()
                .unwrap_or_default(),
            l.get(labels::WORKSPACE_TEMPLATE_APPLY_NAME)
                .cloned()
                .unwrap_or_default()
        );
        *out.entry(apply).or_default() += 1;
    }
    out
}

pub async fn bump_versions(client: &Client, version: &str) {
    let cps: Api<CAPTControlPlane> = Api::namespaced(client.clone(), NS);
    let patch = serde_json::json!({"spec": {"version": version}});
    for c in names() {
        cps.patch(&c, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("version bump");
    }
}

pub fn count(metrics: &Metrics, series: &str) -> f64 {
    metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Replicas r0, r1, r2 on `lease`, once all three are ring members.
pub async fn start_three(server: &capt_load::kubesim::Handle, lease: LeaseSettings) -> Vec<Node> {
    let mut nodes = Vec::new();
    for name in ["r0", "r1", "r2"] {
        nodes.push(start_node(server, name, lease.clone()).await);
    }
    wait_members(&server.client(), &["r0", "r1", "r2"]).await;
    nodes
}

/// The templates and the test's clusters at Kubernetes `version`.
pub async fn create_clusters(client: &Client, version: &str) {
    for t in TEMPLATES {
        apply_yaml(client, t).await;
    }
    for c in names() {
        apply_yaml(client, &cluster_yaml(&c, version)).await;
    }
}
