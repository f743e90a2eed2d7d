//! capisim against the in-memory API server: sticky failures, pause, deletion order.

mod capisim_support;

use std::time::Duration;

use capisim_support::*;
use capt_load::capisim;
use kube::api::DeleteParams;
use serde_json::json;

#[tokio::test]
async fn failure_reason_is_copied_and_kept_after_the_provider_clears_it() {
    let env = Env::start(V1BETA1).await;
    env.triple("f1", false).await;
    env.wait(&cp_ar(), "f1", "adopted", |o| {
        o.metadata.owner_references.is_some()
    })
    .await;
    env.patch_status(
        &cp_ar(),
        "f1",
        json!({ "failureReason": "CreateError", "failureMessage": "EKS cluster creation failed" }),
    )
    .await;
    let cluster = env
        .wait(&cluster_ar(), "f1", "failure copied", |o| {
            o.data["status"]["failureReason"] == "CreateError"
        })
        .await;
    assert_eq!(
        cluster.data["status"]["failureMessage"],
        "Failure detected from referenced resource controlplane.test.capt.dev/v1beta1, Kind=TestControlPlane with name \"f1\": EKS cluster creation failed"
    );
    assert_eq!(health(&cluster).failed.as_deref(), Some("CreateError"));

    env.patch_status(
        &cp_ar(),
        "f1",
        json!({ "failureReason": null, "failureMessage": null, "initialized": true }),
    )
    .await;
    let cluster = env
        .wait(
            &cluster_ar(),
            "f1",
            "reconciled after the provider cleared it",
            |o| o.data["status"]["controlPlaneReady"] == true,
        )
        .await;
    assert_eq!(
        cluster.data["status"]["failureReason"], "CreateError",
        "never cleared"
    );
    assert_eq!(health(&cluster).failed.as_deref(), Some("CreateError"));
    env.stop().await;
}

#[tokio::test]
async fn a_paused_cluster_gets_its_finalizer_and_paused_condition_and_nothing_else() {
    let env = Env::start(V1BETA1).await;
    env.triple("p1", true).await;
    let cluster = env
        .wait(&cluster_ar(), "p1", "Paused condition", |o| {
            has_finalizer(o) && status_of(cond2(o, "Paused")).as_deref() == Some("True")
        })
        .await;
    assert_eq!(
        cond2(&cluster, "Paused").map(|c| c["message"].clone()),
        Some(json!("Cluster spec.paused is set to true"))
    );
    assert!(
        cluster.data["status"].get("phase").is_none(),
        "no phase while paused"
    );
    env.patch_status(&infra_ar(), "p1", json!({ "ready": true }))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let infra = env.api(&infra_ar()).get("p1").await.expect("infra");
    assert!(
        infra.metadata.owner_references.is_none(),
        "not adopted while paused"
    );

    // Deleting a paused Cluster does nothing until it is unpaused.
    env.api(&cluster_ar())
        .delete("p1", &DeleteParams::default())
        .await
        .expect("delete");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cp = env.api(&cp_ar()).get("p1").await.expect("control plane");
    assert!(
        cp.metadata.deletion_timestamp.is_none(),
        "paused: control plane not deleted"
    );

    env.patch(&cluster_ar(), "p1", json!({ "spec": { "paused": false } }))
        .await;
    env.wait(
        &cp_ar(),
        "p1",
        "control plane deleting after unpause",
        |o| o.metadata.deletion_timestamp.is_some(),
    )
    .await;
    let cluster = env.api(&cluster_ar()).get("p1").await.expect("cluster");
    assert_eq!(
        status_of(cond2(&cluster, "Paused")).as_deref(),
        Some("False")
    );
    env.stop().await;
}

#[tokio::test]
async fn the_paused_annotation_pauses_too() {
    let env = Env::start(V1BETA1).await;
    env.triple("p2", false).await;
    env.wait(&cluster_ar(), "p2", "reconciled", |o| {
        o.data["status"]["phase"] == "Provisioning"
    })
    .await;
    env.patch(
        &cluster_ar(),
        "p2",
        json!({ "metadata": { "annotations": { capisim::PAUSED_ANNOTATION: "" } } }),
    )
    .await;
    env.wait(&cluster_ar(), "p2", "Paused by annotation", |o| {
        cond2(o, "Paused")
            .is_some_and(|c| c["message"] == "Cluster has the cluster.x-k8s.io/paused annotation")
    })
    .await;
    env.patch_status(&infra_ar(), "p2", json!({ "ready": true }))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cluster = env.api(&cluster_ar()).get("p2").await.expect("cluster");
    assert_eq!(
        cluster.data["status"]["infrastructureReady"], false,
        "paused: not reconciled"
    );
    env.stop().await;
}

#[tokio::test]
async fn deletion_removes_control_plane_then_infrastructure_then_finalizer() {
    let env = Env::start(V1BETA1).await;
    env.triple("d1", false).await;
    env.wait(&cp_ar(), "d1", "adopted", |o| {
        o.metadata.owner_references.is_some()
    })
    .await;
    env.wait(&infra_ar(), "d1", "adopted", |o| {
        o.metadata.owner_references.is_some()
    })
    .await;

    env.api(&cluster_ar())
        .delete("d1", &DeleteParams::default())
        .await
        .expect("delete cluster");
    env.wait(&cp_ar(), "d1", "control plane deleting", |o| {
        o.metadata.deletion_timestamp.is_some()
    })
    .await;
    let cluster = env
        .wait(
            &cluster_ar(),
            "d1",
            "Deleting, waiting for the control plane",
            |o| {
                o.data["status"]["phase"] == "Deleting"
                    && cond2(o, "Deleting")
                        .is_some_and(|c| c["reason"] == "WaitingForControlPlaneDeletion")
            },
        )
        .await;
    assert!(cluster.metadata.deletion_timestamp.is_some());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let infra = env
        .api(&infra_ar())
        .get("d1")
        .await
        .expect("infra still there");
    assert!(
        infra.metadata.deletion_timestamp.is_none(),
        "infra waits for the control plane"
    );

    env.patch(
        &cp_ar(),
        "d1",
        json!({ "metadata": { "finalizers": null } }),
    )
    .await;
    env.wait_gone(&cp_ar(), "d1").await;
    let infra = env
        .wait(&infra_ar(), "d1", "infra deleting", |o| {
            o.metadata.deletion_timestamp.is_some()
        })
        .await;
    assert!(has_hold(&infra));
    env.wait(&cluster_ar(), "d1", "waiting for the infrastructure", |o| {
        cond2(o, "Deleting").is_some_and(|c| c["reason"] == "WaitingForInfrastructureDeletion")
    })
    .await;

    env.patch(
        &infra_ar(),
        "d1",
        json!({ "metadata": { "finalizers": null } }),
    )
    .await;
    env.wait_gone(&infra_ar(), "d1").await;
    env.wait_gone(&cluster_ar(), "d1").await;
    env.stop().await;
}
