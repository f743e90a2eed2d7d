//! Sharding on the in-memory API server: replicas of one ring converge the clusters with each
//! cluster reconciled by one replica at a time; a fourth replica takes its share through drains;
//! a replica that dies hands its clusters over once its Lease expires, with no duplicate
//! Workspaces.

mod support;

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
use support::{TEMPLATES, apply_yaml, cluster_yaml, controller_client, eventually, fast_tfsim};

const RING: &str = "capt";
const NS: &str = "default";
/// Clusters in the test (`CAPT_SHARDING_CLUSTERS` overrides: the 300 take a few minutes).
fn clusters() -> usize {
    std::env::var("CAPT_SHARDING_CLUSTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
}

/// One replica: its ring membership and its controllers.
struct Node {
    name: String,
    replica: Replica,
    running: Running,
    metrics: Metrics,
}

fn lease() -> LeaseSettings {
    LeaseSettings {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(250),
        ..LeaseSettings::new(NS, "unused", "unused")
    }
}

async fn start_node(server: &capt_load::kubesim::Handle, name: &str) -> Node {
    let metrics = Metrics::new();
    let client = controller_client(server, &metrics);
    let replica = Replica::join(
        client.clone(),
        metrics.clone(),
        ReplicaSettings {
            ring: RING.into(),
            identity: name.into(),
            lease: lease(),
            namespace: None,
            coordinator_interval: Duration::from_millis(200),
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

fn records(nodes: &[&Node]) -> Vec<ReconcileRecord> {
    nodes
        .iter()
        .flat_map(|n| n.running.ctx.shard.as_ref().unwrap().reconciles())
        .collect()
}

/// Reconciles of one cluster by different replicas never overlap in time.
fn assert_no_overlap(all: &[ReconcileRecord]) {
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
fn reconcilers(all: &[ReconcileRecord]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in all {
        out.entry(r.group.cluster.clone())
            .or_default()
            .insert(r.replica.clone());
    }
    out
}

async fn wait_members(client: &Client, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    eventually(20, "ring membership", || async {
        let live = membership::members(client, NS, RING, Duration::from_secs(2))
            .await
            .ok()?;
        (live == want).then_some(())
    })
    .await;
}

fn names() -> Vec<String> {
    (0..clusters()).map(|i| format!("c{i:02}")).collect()
}

/// Every cluster converged at `version`, and every sharded object of it labelled with its ring owner among
/// `members`; returns the owner of each cluster.
async fn wait_converged_on(
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
async fn workspaces_per_apply(client: &Client) -> BTreeMap<String, usize> {
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

async fn bump_versions(client: &Client, version: &str) {
    let cps: Api<CAPTControlPlane> = Api::namespaced(client.clone(), NS);
    let patch = serde_json::json!({"spec": {"version": version}});
    for c in names() {
        cps.patch(&c, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("version bump");
    }
}

fn count(metrics: &Metrics, series: &str) -> f64 {
    metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn replicas_share_the_clusters_and_hand_them_over() {
    capt::actors::block_on(async {
        let sim = support::start_sim(fast_tfsim()).await;
        let server = sim.server.clone();
        let client = server.client();
        let mut nodes = Vec::new();
        for name in ["r0", "r1", "r2"] {
            nodes.push(start_node(&server, name).await);
        }
        wait_members(&client, &["r0", "r1", "r2"]).await;
        for t in TEMPLATES {
            apply_yaml(&client, t).await;
        }
        for c in names() {
            apply_yaml(&client, &cluster_yaml(&c, "1.31")).await;
        }

        // Three replicas: each cluster is reconciled by its owner only.
        let owners = wait_converged_on(&client, &["r0", "r1", "r2"], "1.31").await;
        let all: Vec<&Node> = nodes.iter().collect();
        let seen = reconcilers(&records(&all));
        assert_eq!(seen.len(), clusters(), "every cluster was reconciled");
        for (c, by) in &seen {
            assert_eq!(by, &BTreeSet::from([owners[c].clone()]), "{c}");
        }
        let shares: BTreeSet<&String> = owners.values().collect();
        assert_eq!(shares.len(), 3, "every replica owns some clusters");
        let workspaces = workspaces_per_apply(&client).await;
        assert!(workspaces.values().all(|n| *n == 1), "{workspaces:?}");

        // A fourth replica: its share is drained from the others and moves once.
        // Every cluster is being upgraded while it moves: reconciles are in flight during drains.
        bump_versions(&client, "1.32").await;
        nodes.push(start_node(&server, "r3").await);
        wait_members(&client, &["r0", "r1", "r2", "r3"]).await;
        let owners4 = wait_converged_on(&client, &["r0", "r1", "r2", "r3"], "1.32").await;
        let moved: Vec<&String> = owners4
            .keys()
            .filter(|c| owners[*c] != owners4[*c])
            .collect();
        assert!(
            !moved.is_empty() && moved.len() < clusters() / 2,
            "{} of {} moved",
            moved.len(),
            clusters()
        );
        assert!(
            moved.iter().all(|c| owners4[*c] == "r3"),
            "only to the new replica"
        );
        let drains: f64 = nodes
            .iter()
            .map(|n| count(&n.metrics, "capt_shard_drains_total"))
            .sum();
        let acks: f64 = nodes
            .iter()
            .map(|n| count(&n.metrics, "capt_shard_drain_acks_total"))
            .sum();
        assert!(
            drains >= moved.len() as f64 && acks >= moved.len() as f64,
            "{drains} drains, {acks} acks"
        );
        let all: Vec<&Node> = nodes.iter().collect();
        assert_no_overlap(&records(&all));
        eprintln!(
            "a fourth replica: {} of {} clusters moved, {drains} drains, {acks} acknowledged",
            moved.len(),
            clusters()
        );
        let new_share = reconcilers(&nodes[3].running.ctx.shard.as_ref().unwrap().reconciles());
        let new_share: BTreeSet<&String> = new_share.keys().collect();
        assert_eq!(
            new_share,
            moved.iter().copied().collect(),
            "r3 reconciles what moved to it"
        );

        // The coordinator (the first to join) dies without releasing its Leases: another replica
        // takes coordination over, and its clusters move once its shard Lease expired.
        let dead = nodes.remove(0);
        assert_eq!(dead.name, "r0");
        assert_eq!(count(&dead.metrics, "capt_shard_coordinator"), 1.0);
        let dead_gate = dead.running.ctx.shard.clone().unwrap();
        dead.running.shutdown(Duration::from_secs(5)).await;
        dead.replica.abandon();
        bump_versions(&client, "1.33").await;
        wait_members(&client, &["r1", "r2", "r3"]).await;
        let owners3 = wait_converged_on(&client, &["r1", "r2", "r3"], "1.33").await;
        let coordinators: f64 = (nodes.iter())
            .map(|n| count(&n.metrics, "capt_shard_coordinator"))
            .sum();
        assert_eq!(coordinators, 1.0, "one survivor coordinates");
        let orphaned: Vec<&String> = owners4.keys().filter(|c| owners4[*c] == "r0").collect();
        assert!(!orphaned.is_empty());
        for c in &orphaned {
            assert_ne!(owners3[*c], "r0");
        }
        for c in owners4.keys().filter(|c| owners4[*c] != "r0") {
            assert_eq!(
                owners3[c], owners4[c],
                "{c} moved although its replica lives"
            );
        }
        let survivors: Vec<&Node> = nodes.iter().collect();
        let after = reconcilers(&records(&survivors));
        for c in &orphaned {
            assert!(
                after[*c].contains(&owners3[*c]),
                "{c} reconciled by its new owner"
            );
        }
        let workspaces = workspaces_per_apply(&client).await;
        assert!(workspaces.values().all(|n| *n == 1), "{workspaces:?}");
        eprintln!(
            "a replica died: {} of {} clusters moved; {} Workspaces, one per apply",
            orphaned.len(),
            clusters(),
            workspaces.len()
        );
        let mut everything = records(&survivors);
        everything.extend(dead_gate.reconciles());
        assert_no_overlap(&everything);

        for n in nodes {
            n.running.shutdown(Duration::from_secs(5)).await;
            n.replica.leave().await;
        }
        sim.stop_simulators();
    });
}
