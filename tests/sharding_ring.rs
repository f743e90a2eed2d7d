//! Sharding on the in-memory API server: replicas of one ring converge the clusters with each
//! cluster reconciled by one replica at a time; a fourth replica takes its share through drains;
//! a replica that dies hands its clusters over once its Lease expires, with no duplicate
//! Workspaces.

mod sharding_support;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use sharding_support::*;
use support::fast_tfsim;

#[test]
fn replicas_share_the_clusters_and_hand_them_over() {
    capt::actors::block_on(async {
        let sim = support::start_sim(fast_tfsim()).await;
        let server = sim.server.clone();
        let client = server.client();
        let mut nodes = start_three(&server, lease(2)).await;
        create_clusters(&client, "1.31").await;

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
        nodes.push(start_node(&server, "r3", lease(2)).await);
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

        // The coordinator (usually the first to join; on a busy machine it may have lost its
        // short Lease to another) dies without releasing its Leases: another replica takes
        // coordination over, and its clusters move once its shard Lease expired.
        let coordinator = (nodes.iter())
            .position(|n| count(&n.metrics, "capt_shard_coordinator") == 1.0)
            .expect("a replica coordinates");
        let dead = nodes.remove(coordinator);
        let gone = dead.name.clone();
        let alive: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        let dead_gate = dead.running.ctx.shard.clone().unwrap();
        dead.running.shutdown(Duration::from_secs(5)).await;
        dead.replica.abandon();
        bump_versions(&client, "1.33").await;
        wait_members(&client, &alive).await;
        let owners3 = wait_converged_on(&client, &alive, "1.33").await;
        let coordinators: f64 = (nodes.iter())
            .map(|n| count(&n.metrics, "capt_shard_coordinator"))
            .sum();
        assert_eq!(coordinators, 1.0, "one survivor coordinates");
        let orphaned: Vec<&String> = owners4.keys().filter(|c| owners4[*c] == gone).collect();
        assert!(!orphaned.is_empty());
        for c in &orphaned {
            assert_ne!(owners3[*c], gone);
        }
        for c in owners4.keys().filter(|c| owners4[*c] != gone) {
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
