//! capisim against the in-memory API server: adoption, and the Cluster's status read from referenced objects
//! under the contract their CRD's label names (v1beta1, v1beta2, or none: refused).

mod capisim_support;

use capisim_support::*;
use capt_load::capisim;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::json;

fn owned_by_cluster(o: &DynamicObject, name: &str, uid: &str) -> bool {
    let labelled = o
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(capisim::CLUSTER_NAME_LABEL))
        .is_some_and(|v| v == name);
    let owned = o.metadata.owner_references.iter().flatten().any(|r| {
        r.api_version == capisim::OWNER_API_VERSION
            && r.kind == "Cluster"
            && r.name == name
            && r.uid == uid
            && r.controller == Some(true)
            && r.block_owner_deletion == Some(true)
    });
    labelled && owned
}

#[tokio::test]
async fn v1beta1_contract_drives_the_cluster_through_status_ready_and_initialized() {
    let env = Env::start(V1BETA1).await;
    env.triple("w1", false).await;
    let cluster = env
        .wait(
            &cluster_ar(),
            "w1",
            "finalizer, phase Provisioning, a reconcile without error",
            |o| {
                has_finalizer(o)
                    && o.data["status"]["phase"] == "Provisioning"
                    && o.data["status"].get("observedGeneration").is_some()
                    && status_of(cond2(o, "ControlPlaneInitialized")).as_deref() == Some("False")
            },
        )
        .await;
    assert_eq!(cluster.data["status"]["infrastructureReady"], false);
    assert_eq!(
        status_of(cond(&cluster, "InfrastructureReady")).as_deref(),
        Some("False")
    );
    assert_eq!(status_of(cond(&cluster, "Ready")).as_deref(), Some("False"));
    assert_eq!(
        status_of(cond2(&cluster, "ControlPlaneInitialized")).as_deref(),
        Some("False")
    );
    assert_eq!(
        status_of(cond2(&cluster, "Available")).as_deref(),
        Some("False")
    );
    let uid = cluster.metadata.uid.clone().expect("uid");
    env.wait(&infra_ar(), "w1", "ownerRef + label", |o| {
        owned_by_cluster(o, "w1", &uid)
    })
    .await;
    env.wait(&cp_ar(), "w1", "ownerRef + label", |o| {
        owned_by_cluster(o, "w1", &uid)
    })
    .await;

    // The v1beta2 fields mean nothing under the v1beta1 contract.
    env.patch_status(
        &infra_ar(),
        "w1",
        json!({ "initialization": { "provisioned": true }, "failureDomains": { "us-west-2a": { "controlPlane": true } } }),
    )
    .await;
    env.wait(&infra_ar(), "w1", "status written", |o| {
        o.data["status"]["initialization"]["provisioned"] == true
    })
    .await;
    env.patch_status(&infra_ar(), "w1", json!({ "ready": true }))
        .await;
    let cluster = env
        .wait(&cluster_ar(), "w1", "infrastructureReady", |o| {
            o.data["status"]["infrastructureReady"] == true
        })
        .await;
    assert_eq!(
        status_of(cond(&cluster, "InfrastructureReady")).as_deref(),
        Some("True")
    );
    assert_eq!(
        status_of(cond2(&cluster, "InfrastructureReady")).as_deref(),
        Some("True")
    );
    assert_eq!(
        cluster.data["status"]["failureDomains"]["us-west-2a"]["controlPlane"],
        true
    );
    assert_eq!(
        cluster.data["status"]["phase"], "Provisioning",
        "no endpoint yet"
    );

    // The control plane's endpoint is taken only once it is initialized; `ready` alone does nothing.
    env.patch(
        &cp_ar(),
        "w1",
        json!({ "spec": { "controlPlaneEndpoint": { "host": "ABC.gr7.us-west-2.eks.amazonaws.com", "port": 443 } } }),
    )
    .await;
    env.patch_status(&cp_ar(), "w1", json!({ "ready": true }))
        .await;
    env.wait(&cp_ar(), "w1", "ready", |o| {
        o.data["status"]["ready"] == true
    })
    .await;
    let cluster = env.api(&cluster_ar()).get("w1").await.expect("cluster");
    assert_eq!(cluster.data["status"]["controlPlaneReady"], false);
    env.patch_status(&cp_ar(), "w1", json!({ "initialized": true }))
        .await;
    let cluster = env
        .wait(&cluster_ar(), "w1", "Provisioned", |o| {
            o.data["status"]["phase"] == "Provisioned"
                && o.data["status"]["controlPlaneReady"] == true
        })
        .await;
    assert_eq!(
        cluster.data["spec"]["controlPlaneEndpoint"],
        json!({ "host": "ABC.gr7.us-west-2.eks.amazonaws.com", "port": 443 })
    );
    for c in [
        "Ready",
        "InfrastructureReady",
        "ControlPlaneReady",
        "ControlPlaneInitialized",
    ] {
        assert_eq!(status_of(cond(&cluster, c)).as_deref(), Some("True"), "{c}");
    }
    for c in [
        "ControlPlaneInitialized",
        "ControlPlaneAvailable",
        "InfrastructureReady",
    ] {
        assert_eq!(
            status_of(cond2(&cluster, c)).as_deref(),
            Some("True"),
            "v1beta2 {c}"
        );
    }
    assert_eq!(
        cluster.data["status"]["observedGeneration"],
        cluster.metadata.generation.unwrap_or(1)
    );

    // Initialized and controlPlaneReady are sticky; the v1beta1 mirror follows the Ready condition.
    env.patch_status(
        &cp_ar(),
        "w1",
        json!({ "ready": false, "initialized": false, "conditions": [{ "type": "Ready", "status": "False",
            "reason": "WorkspaceError", "severity": "Error", "message": "apply failed",
            "lastTransitionTime": "2025-01-01T00:00:00Z" }] }),
    )
    .await;
    let cluster = env
        .wait(&cluster_ar(), "w1", "control plane not ready", |o| {
            cond(o, "ControlPlaneReady").is_some_and(|c| c["reason"] == "WorkspaceError")
        })
        .await;
    assert_eq!(cluster.data["status"]["controlPlaneReady"], true);
    assert_eq!(
        status_of(cond(&cluster, "ControlPlaneInitialized")).as_deref(),
        Some("True")
    );
    assert_eq!(
        cond(&cluster, "Ready").map(|c| c["reason"].clone()),
        Some(json!("WorkspaceError"))
    );
    env.stop().await;
}

#[tokio::test]
async fn v1beta2_contract_drives_the_cluster_through_status_initialization() {
    let env = Env::start(V1BETA2).await;
    env.triple("b2", false).await;
    env.wait(&cp_ar(), "b2", "adopted", |o| {
        o.metadata.owner_references.is_some()
    })
    .await;
    // v1beta1 fields are ignored under the v1beta2 contract.
    env.patch_status(&infra_ar(), "b2", json!({ "ready": true }))
        .await;
    env.patch_status(
        &cp_ar(),
        "b2",
        json!({ "ready": true, "initialized": true }),
    )
    .await;
    env.patch(
        &cp_ar(),
        "b2",
        json!({ "spec": { "controlPlaneEndpoint": { "host": "b2.example.com", "port": 443 } } }),
    )
    .await;
    env.wait(&cp_ar(), "b2", "status written", |o| {
        o.data["status"]["initialized"] == true
    })
    .await;
    let cluster = env
        .wait(&cluster_ar(), "b2", "reconciled after the writes", |o| {
            cond2(o, "InfrastructureReady").is_some_and(|c| {
                c["message"] == "TestInfraCluster status.initialization.provisioned is false"
            })
        })
        .await;
    assert_eq!(cluster.data["status"]["infrastructureReady"], false);
    assert_eq!(cluster.data["status"]["controlPlaneReady"], false);

    env.patch_status(
        &infra_ar(),
        "b2",
        json!({ "initialization": { "provisioned": true },
                "failureDomains": [{ "name": "us-west-2b" }, { "name": "us-west-2a", "controlPlane": true }] }),
    )
    .await;
    env.patch_status(
        &cp_ar(),
        "b2",
        json!({ "initialization": { "controlPlaneInitialized": true },
                "conditions": [{ "type": "Available", "status": "True", "reason": "Available", "message": "",
                                 "lastTransitionTime": "2025-01-01T00:00:00Z" }] }),
    )
    .await;
    let cluster = env
        .wait(&cluster_ar(), "b2", "provisioned and initialized", |o| {
            o.data["status"]["infrastructureReady"] == true
                && o.data["status"]["controlPlaneReady"] == true
                && o.data["status"]["phase"] == "Provisioned"
        })
        .await;
    assert_eq!(
        cluster.data["status"]["failureDomains"],
        json!({ "us-west-2a": { "controlPlane": true }, "us-west-2b": { "controlPlane": false } })
    );
    assert_eq!(
        status_of(cond2(&cluster, "ControlPlaneInitialized")).as_deref(),
        Some("True")
    );
    let available = cond2(&cluster, "ControlPlaneAvailable")
        .cloned()
        .unwrap_or_default();
    assert_eq!(available["status"], "True");
    assert_eq!(
        available["lastTransitionTime"], "2025-01-01T00:00:00Z",
        "mirrored from the control plane"
    );
    assert_eq!(
        cluster.data["spec"]["controlPlaneEndpoint"]["host"],
        "b2.example.com"
    );
    env.stop().await;
}

#[tokio::test]
async fn a_crd_without_contract_label_is_refused_until_labelled() {
    let env = Env::start(NO_CONTRACT).await;
    env.triple("nl", false).await;
    env.patch_status(&infra_ar(), "nl", json!({ "ready": true }))
        .await;
    let cluster = env
        .wait(&cluster_ar(), "nl", "refusal reported", |o| {
            cond2(o, "InfrastructureReady").is_some_and(|c| {
                c["status"] == "Unknown"
                    && c["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("contract version label"))
            })
        })
        .await;
    assert_eq!(cluster.data["status"]["infrastructureReady"], false);
    assert!(
        cluster.data["status"].get("observedGeneration").is_none(),
        "the reconcile failed"
    );
    let infra = env.api(&infra_ar()).get("nl").await.expect("infra");
    assert!(infra.metadata.owner_references.is_none(), "not adopted");

    // Labelling the CRD (as the provider's next release would) lets the Cluster proceed.
    let crds: Api<CustomResourceDefinition> = Api::all(env.client.clone());
    for name in [
        "testinfraclusters.infrastructure.test.capt.dev",
        "testcontrolplanes.controlplane.test.capt.dev",
    ] {
        crds.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(
                &json!({ "metadata": { "labels": { "cluster.x-k8s.io/v1beta1": "v1beta1" } } }),
            ),
        )
        .await
        .expect("label CRD");
    }
    env.wait(&cluster_ar(), "nl", "infrastructure provisioned", |o| {
        o.data["status"]["infrastructureReady"] == true
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn without_require_contract_label_an_unlabelled_crd_is_read_as_v1beta1() {
    let config = capisim::Config {
        require_contract_label: false,
        ..Default::default()
    };
    let env = Env::start_with(NO_CONTRACT, config).await;
    env.triple("lax", false).await;
    env.patch_status(&infra_ar(), "lax", json!({ "ready": true }))
        .await;
    env.wait(&cluster_ar(), "lax", "infrastructure provisioned", |o| {
        o.data["status"]["infrastructureReady"] == true
    })
    .await;
    env.stop().await;
}
