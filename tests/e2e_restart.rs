//! Once clusters have converged, a restarted controller reconciles everything again from fresh
//! caches and writes nothing.

mod support;

use std::time::Duration;

use capt::api::CAPTControlPlane;
use capt::controllers::manager::{self, ManagerConfig};
use capt::telemetry::Metrics;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use support::{TEMPLATES, World, cluster_yaml, eventually, fast_tfsim};

/// Write requests (`verb` create/update/patch/delete) per resource in the controller's metrics.
fn writes(metrics: &Metrics) -> Vec<String> {
    metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with("capt_api_requests_total{"))
        .filter(|l| {
            ["create", "update", "patch", "delete"]
                .iter()
                .any(|v| l.contains(&format!("verb=\"{v}\"")))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn restart_after_convergence_writes_nothing() {
    capt::actors::block_on(async {
        let mut w = World::start(fast_tfsim()).await;
        for t in TEMPLATES {
            w.apply(t).await;
        }
        let names: Vec<String> = (1..=10).map(|i| format!("r{i}")).collect();
        for name in &names {
            w.apply(&cluster_yaml(name, "1.31")).await;
        }
        let cps: Api<CAPTControlPlane> = Api::namespaced(w.client.clone(), "default");
        let secrets: Api<Secret> = Api::namespaced(w.client.clone(), "default");
        for name in &names {
            eventually(30, "control plane ready with secrets", || async {
                cps.get(name).await.ok().filter(|c| {
                    c.status
                        .as_ref()
                        .is_some_and(|s| s.ready && s.secrets_ready)
                })
            })
            .await;
            // The kubeconfig apply's outputs arrive after the control plane is Ready.
            eventually(30, "kubeconfig outputs", || async {
                secrets
                    .get_opt(&format!("{name}-outputs-kubeconfig"))
                    .await
                    .ok()
                    .flatten()
            })
            .await;
        }
        // Let the last status writes and Events settle.
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Some(r) = w.running.take() {
            r.shutdown(Duration::from_secs(5)).await;
        }

        let metrics = Metrics::new();
        let client = capt::client::build(
            w.server.client_config(),
            capt::client::ClientLimits::default(),
            std::sync::Arc::new(metrics.clone()),
        )
        .expect("client");
        let again = manager::start(client, metrics.clone(), ManagerConfig::default());
        tokio::time::timeout(Duration::from_secs(20), again.gate.wait())
            .await
            .expect("caches sync");
        // Every object is reconciled on start; give them time to finish.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let reconciles: f64 = metrics
            .encode()
            .lines()
            .filter(|l| l.starts_with("controller_runtime_reconcile_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(
            reconciles >= 3.0 * 6.0,
            "every object reconciled again: {reconciles}"
        );
        let wrote = writes(&metrics);
        assert!(wrote.is_empty(), "a converged restart wrote: {wrote:#?}");
        w.running = Some(again);
        w.stop().await;
    });
}
