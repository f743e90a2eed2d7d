//! The kube-runtime baseline (`capt run --runtime kube-runtime`) runs the same wiring of watched
//! kinds as the actor runtime: a cluster becomes Ready with its secrets, and is deleted.

mod support;

use std::time::Duration;

use capt::api::{CAPTCluster, CAPTControlPlane, Cluster};
use capt::controllers::manager::ManagerConfig;
use capt::telemetry::Metrics;
use kube::api::{Api, DeleteParams};
use support::{TEMPLATES, World, cluster_yaml, eventually, fast_tfsim};

#[test]
fn the_baseline_runtime_runs_a_cluster_lifecycle() {
    capt::actors::block_on(async {
        let mut w = World::start(fast_tfsim()).await;
        if let Some(r) = w.running.take() {
            r.shutdown(Duration::from_secs(5)).await;
        }
        let client = capt::client::build(
            w.server.client_config(),
            capt::client::ClientLimits { qps: 0, burst: 0 },
            std::sync::Arc::new(Metrics::new()),
        )
        .expect("client");
        let baseline = capt::baseline::start(client, Metrics::new(), ManagerConfig::default());
        tokio::time::timeout(Duration::from_secs(20), baseline.gate.wait())
            .await
            .expect("caches sync");
        for t in TEMPLATES {
            w.apply(t).await;
        }
        w.apply(&cluster_yaml("base", "1.31")).await;
        let ccs: Api<CAPTCluster> = Api::namespaced(w.client.clone(), "default");
        let cps: Api<CAPTControlPlane> = Api::namespaced(w.client.clone(), "default");
        eventually(60, "CAPTCluster ready", || async {
            ccs.get("base")
                .await
                .ok()
                .filter(|c| c.status.as_ref().is_some_and(|s| s.ready))
        })
        .await;
        eventually(60, "control plane ready with secrets", || async {
            cps.get("base").await.ok().filter(|c| {
                c.status
                    .as_ref()
                    .is_some_and(|s| s.ready && s.secrets_ready)
            })
        })
        .await;
        let clusters: Api<Cluster> = Api::namespaced(w.client.clone(), "default");
        clusters
            .delete("base", &DeleteParams::default())
            .await
            .expect("delete");
        eventually(60, "CAPTCluster gone", || async {
            ccs.get_opt("base")
                .await
                .ok()
                .and_then(|c| c.is_none().then_some(()))
        })
        .await;
        assert!(baseline.shutdown(Duration::from_secs(5)).await, "drained");
        w.stop().await;
    });
}
