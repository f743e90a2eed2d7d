//! A replica of a shard ring stopped gracefully (its controllers shut down, then it leaves the
//! ring): it gives its shard Lease up, so its clusters move to the others at once, long before
//! the Lease would have expired, with no two replicas reconciling a cluster at once. The same
//! for the coordinator, whose Lease another replica takes over. Each membership change and each
//! pass's moves are summed up in an Event on the coordinator Lease, and traced as a `shard_pass`
//! span holding a `shard_move` span per object written.

mod sharding_support;
mod support;

use std::time::{Duration, Instant};

use capt::api::{CAPTCluster, CAPTControlPlane, Cluster, Workspace, WorkspaceTemplateApply};
use capt::sharding::labels::shard_selector;
use capt::sharding::membership::coordinator_lease_name;
use capt::sharding::summary::{MEMBERS_CHANGED, SHARDS_MOVED};
use k8s_openapi::api::core::v1::Event;
use kube::Client;
use kube::api::{Api, ListParams};
use opentelemetry_sdk::trace::SpanData;
use sharding_support::*;
use support::fast_tfsim;

/// Far longer than a hand-over takes: a move within a third of it cannot have waited for expiry.
const LEASE_SECS: u64 = 30;

async fn listed<K>(client: &Client, lp: &ListParams) -> usize
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client.clone());
    api.list_metadata(lp).await.expect("list").items.len()
}

/// Sharded objects labelled with `shard`.
async fn on_shard(client: &Client, shard: &str) -> usize {
    let lp = ListParams::default().labels(&shard_selector(RING, shard));
    listed::<Cluster>(client, &lp).await
        + listed::<CAPTCluster>(client, &lp).await
        + listed::<CAPTControlPlane>(client, &lp).await
        + listed::<WorkspaceTemplateApply>(client, &lp).await
        + listed::<Workspace>(client, &lp).await
}

/// Waits until no object is left on `shard`; panics when that takes a third of the lease duration.
async fn wait_moved_off(client: &Client, shard: &str, since: Instant) {
    let limit = Duration::from_secs(LEASE_SECS / 3);
    loop {
        let left = on_shard(client, shard).await;
        if left == 0 {
            return;
        }
        assert!(
            since.elapsed() < limit,
            "{left} objects still on {shard} {limit:?} after it left (lease duration {LEASE_SECS}s)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `reason: message` of the Events about the coordinator Lease.
async fn coordinator_events(client: &Client) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(client.clone(), NS);
    let name = coordinator_lease_name(RING);
    (api.list(&ListParams::default())
        .await
        .expect("events")
        .items)
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name.as_str()))
        .filter(|e| e.involved_object.kind.as_deref() == Some("Lease"))
        .map(|e| {
            format!(
                "{}: {}",
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default()
            )
        })
        .collect()
}

/// Waits for an Event on the coordinator Lease with `reason` whose message has every one of `parts`.
async fn wait_event(client: &Client, reason: &str, parts: &[&str]) {
    support::eventually(10, "a coordinator Event", || async {
        let events = coordinator_events(client).await;
        let found = events.iter().any(|e| {
            e.strip_prefix(reason)
                .and_then(|m| m.strip_prefix(": "))
                .is_some_and(|m| parts.iter().all(|p| m.contains(p)))
        });
        if !found {
            eprintln!("coordinator Events so far: {events:#?}");
        }
        found.then_some(())
    })
    .await;
}

fn coordinates(n: &Node) -> bool {
    sharding_support::count(&n.metrics, "capt_shard_coordinator") == 1.0
}

/// The objects of `shard` moved in traced passes: `shard_move` spans from `shard` inside a
/// `shard_pass` span.
fn traced_moves_from(spans: &[SpanData], shard: &str) -> usize {
    let passes: std::collections::HashSet<_> = (spans.iter())
        .filter(|s| s.name == "shard_pass")
        .map(|s| s.span_context.span_id())
        .collect();
    let from = format!("Some(\"{shard}\")");
    (spans.iter())
        .filter(|s| s.name == "shard_move" && passes.contains(&s.parent_span_id))
        .filter(|s| {
            (s.attributes.iter()).any(|kv| kv.key.as_str() == "from" && kv.value.as_str() == from)
        })
        .count()
}

#[test]
fn a_replica_that_stops_hands_its_clusters_over_at_once() {
    let (exporter, _telemetry) = support::export_spans_globally();
    let moved_from_r1 = capt::actors::block_on(async {
        let sim = support::start_sim(fast_tfsim()).await;
        let server = sim.server.clone();
        let client = server.client();
        let mut nodes = start_three(&server, lease(LEASE_SECS)).await;
        create_clusters(&client, "1.31").await;
        let owners = wait_converged_on(&client, &["r0", "r1", "r2"], "1.31").await;
        assert!(owners.values().any(|o| o == "r1"), "r1 owns clusters");
        wait_event(&client, MEMBERS_CHANGED, &["members r0, r1, r2"]).await;

        // r1 (not the coordinator) stops while every cluster is being upgraded.
        bump_versions(&client, "1.32").await;
        let r1 = nodes.remove(1);
        assert!(!coordinates(&r1));
        let gate1 = r1.running.ctx.shard.clone().unwrap();
        let stopped = Instant::now();
        r1.running.shutdown(Duration::from_secs(5)).await;
        r1.replica.leave().await;
        wait_moved_off(&client, "r1", stopped).await;
        let owners2 = wait_converged_on(&client, &["r0", "r2"], "1.32").await;
        for (c, o) in &owners {
            if o != "r1" {
                assert_eq!(&owners2[c], o, "{c} moved although its replica stayed");
            }
        }
        wait_event(&client, MEMBERS_CHANGED, &["left: r1"]).await;
        wait_event(
            &client,
            SHARDS_MOVED,
            &["took over from shards gone", "r1: "],
        )
        .await;
        let moved_from_r1 = owners.values().filter(|o| *o == "r1").count();

        // The coordinator stops: r2 takes coordination over and r0's clusters at once.
        bump_versions(&client, "1.33").await;
        let r0 = nodes.remove(0);
        assert!(coordinates(&r0));
        let gate0 = r0.running.ctx.shard.clone().unwrap();
        let stopped = Instant::now();
        r0.running.shutdown(Duration::from_secs(5)).await;
        r0.replica.leave().await;
        wait_moved_off(&client, "r0", stopped).await;
        wait_converged_on(&client, &["r2"], "1.33").await;
        assert!(coordinates(&nodes[0]), "r2 coordinates");
        wait_event(&client, MEMBERS_CHANGED, &["r2 coordinates; members r2"]).await;

        let mut all = records(&nodes.iter().collect::<Vec<_>>());
        all.extend(gate0.reconciles());
        all.extend(gate1.reconciles());
        assert_no_overlap(&all);
        let workspaces = workspaces_per_apply(&client).await;
        assert!(workspaces.values().all(|n| *n == 1), "{workspaces:?}");

        for n in nodes {
            n.running.shutdown(Duration::from_secs(5)).await;
            n.replica.leave().await;
        }
        sim.stop_simulators();
        moved_from_r1
    });
    let spans = exporter.get_finished_spans().unwrap();
    let traced = traced_moves_from(&spans, "r1");
    assert!(
        traced >= moved_from_r1,
        "{traced} traced moves from r1, which owned {moved_from_r1} clusters"
    );
}
