//! capisim against the in-memory API server: adoption, readiness and endpoint propagation, pause, deletion order.

use std::time::Duration;

use capt_load::capisim;
use capt_load::kubesim;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{GroupVersionKind, ObjectMeta};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(20);
const NS: &str = "clusters";
const HOLD: &str = "test.capt.dev/hold";

fn test_crd(group: &str, kind: &str, plural: &str) -> String {
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  names:
    kind: {kind}
    listKind: {kind}List
    plural: {plural}
    singular: {singular}
  scope: Namespaced
  versions:
  - name: v1beta1
    served: true
    storage: true
    subresources:
      status: {{}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-preserve-unknown-fields: true
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"#,
        singular = kind.to_ascii_lowercase()
    )
}

fn infra_ar() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(
            "infrastructure.test.capt.dev",
            "v1beta1",
            "TestInfraCluster",
        ),
        "testinfraclusters",
    )
}

fn cp_ar() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("controlplane.test.capt.dev", "v1beta1", "TestControlPlane"),
        "testcontrolplanes",
    )
}

struct Env {
    sim: kubesim::Handle,
    client: kube::Client,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Env {
    async fn start() -> Env {
        let sim = kubesim::start(kubesim::Config::default())
            .await
            .expect("start kubesim");
        sim.install_crds_yaml(capisim::CLUSTER_CRD_YAML)
            .expect("Cluster CRD");
        sim.install_crds_yaml(&test_crd(
            "infrastructure.test.capt.dev",
            "TestInfraCluster",
            "testinfraclusters",
        ))
        .expect("infra CRD");
        sim.install_crds_yaml(&test_crd(
            "controlplane.test.capt.dev",
            "TestControlPlane",
            "testcontrolplanes",
        ))
        .expect("control plane CRD");
        let client = sim.client();
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(NS.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        match Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => panic!("namespace: {e}"),
        }
        let config = capisim::Config {
            concurrency: 4,
            deletion_resync: Duration::from_secs(30),
        };
        let task = tokio::spawn(capisim::run(client.clone(), config));
        Env { sim, client, task }
    }

    async fn stop(self) {
        self.task.abort();
        self.sim.shutdown().await;
    }

    fn api(&self, ar: &ApiResource) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), NS, ar)
    }

    async fn create(&self, ar: &ApiResource, body: Value) {
        let mut obj: DynamicObject = serde_json::from_value(body).expect("json");
        obj.types = Some(kube::core::TypeMeta {
            api_version: ar.api_version.clone(),
            kind: ar.kind.clone(),
        });
        self.api(ar)
            .create(&PostParams::default(), &obj)
            .await
            .expect("create");
    }

    async fn wait(
        &self,
        ar: &ApiResource,
        name: &str,
        what: &str,
        pred: impl Fn(&DynamicObject) -> bool,
    ) -> DynamicObject {
        let api = self.api(ar);
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        let mut last = None;
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(o)) = api.get_opt(name).await {
                if pred(&o) {
                    return o;
                }
                last = Some(o);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "timed out waiting for {} {name}: {what}; last: {}",
            ar.kind,
            last.map(|o| serde_json::to_string(&o).unwrap_or_default())
                .unwrap_or_default()
        );
    }

    async fn wait_gone(&self, ar: &ApiResource, name: &str) {
        let api = self.api(ar);
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        while tokio::time::Instant::now() < deadline {
            if matches!(api.get_opt(name).await, Ok(None)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{} {name} was not deleted", ar.kind);
    }

    async fn patch_status(&self, ar: &ApiResource, name: &str, status: Value) {
        self.api(ar)
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({ "status": status })),
            )
            .await
            .expect("patch status");
    }

    async fn patch(&self, ar: &ApiResource, name: &str, body: Value) {
        self.api(ar)
            .patch(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .expect("patch");
    }

    async fn triple(&self, name: &str, paused: bool) {
        self.create(
            &infra_ar(),
            json!({ "metadata": { "name": name, "finalizers": [HOLD] }, "spec": { "region": "us-west-2" } }),
        )
        .await;
        self.create(
            &cp_ar(),
            json!({ "metadata": { "name": name, "finalizers": [HOLD] }, "spec": { "version": "1.31" } }),
        )
        .await;
        self.create(
            &capisim::api_resource(),
            json!({
                "metadata": { "name": name },
                "spec": {
                    "paused": paused,
                    "clusterNetwork": { "pods": { "cidrBlocks": ["192.168.0.0/16"] } },
                    "infrastructureRef": {
                        "apiVersion": "infrastructure.test.capt.dev/v1beta1", "kind": "TestInfraCluster",
                        "name": name, "namespace": NS
                    },
                    "controlPlaneRef": {
                        "apiVersion": "controlplane.test.capt.dev/v1beta1", "kind": "TestControlPlane",
                        "name": name
                    }
                }
            }),
        )
        .await;
    }
}

fn cond<'a>(o: &'a DynamicObject, type_: &str) -> Option<&'a Value> {
    o.data
        .get("status")?
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

fn cond_status(o: &DynamicObject, type_: &str) -> Option<String> {
    cond(o, type_)
        .and_then(|c| c["status"].as_str())
        .map(str::to_string)
}

fn owned_by_cluster(o: &DynamicObject, name: &str, uid: &str) -> bool {
    let labelled = o
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(capisim::CLUSTER_NAME_LABEL))
        .is_some_and(|v| v == name);
    let owned = o.metadata.owner_references.iter().flatten().any(|r| {
        r.api_version == "cluster.x-k8s.io/v1beta1"
            && r.kind == "Cluster"
            && r.name == name
            && r.uid == uid
            && r.controller == Some(true)
            && r.block_owner_deletion == Some(true)
    });
    labelled && owned
}

fn has_hold(o: &DynamicObject) -> bool {
    o.metadata.finalizers.iter().flatten().any(|f| f == HOLD)
}

#[tokio::test]
async fn adopts_refs_and_propagates_readiness_and_endpoint() {
    let env = Env::start().await;
    env.triple("w1", false).await;
    let cluster_ar = capisim::api_resource();

    let cluster = env
        .wait(&cluster_ar, "w1", "finalizer and phase Provisioning", |o| {
            o.metadata
                .finalizers
                .iter()
                .flatten()
                .any(|f| f == capisim::FINALIZER)
                && o.data["status"]["phase"] == "Provisioning"
        })
        .await;
    assert_eq!(cluster.data["status"]["infrastructureReady"], false);
    assert_eq!(
        cond_status(&cluster, "InfrastructureReady").as_deref(),
        Some("False")
    );
    assert_eq!(
        cond_status(&cluster, "ControlPlaneInitialized").as_deref(),
        Some("False")
    );
    assert_eq!(cond_status(&cluster, "Ready").as_deref(), Some("False"));
    let uid = cluster.metadata.uid.clone().expect("uid");

    env.wait(&infra_ar(), "w1", "ownerRef + label", |o| {
        owned_by_cluster(o, "w1", &uid)
    })
    .await;
    env.wait(&cp_ar(), "w1", "ownerRef + label", |o| {
        owned_by_cluster(o, "w1", &uid)
    })
    .await;

    env.patch_status(
        &infra_ar(),
        "w1",
        json!({ "ready": true, "failureDomains": { "us-west-2a": { "controlPlane": true } } }),
    )
    .await;
    let cluster = env
        .wait(&cluster_ar, "w1", "infrastructureReady", |o| {
            o.data["status"]["infrastructureReady"] == true
        })
        .await;
    assert_eq!(
        cond_status(&cluster, "InfrastructureReady").as_deref(),
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

    env.patch(
        &cp_ar(),
        "w1",
        json!({ "spec": { "controlPlaneEndpoint": { "host": "ABC.gr7.us-west-2.eks.amazonaws.com", "port": 443 } } }),
    )
    .await;
    env.patch_status(
        &cp_ar(),
        "w1",
        json!({ "ready": true, "initialized": true }),
    )
    .await;
    let cluster = env
        .wait(
            &cluster_ar,
            "w1",
            "Provisioned and control plane ready",
            |o| {
                o.data["status"]["phase"] == "Provisioned"
                    && o.data["status"]["controlPlaneReady"] == true
            },
        )
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
        assert_eq!(cond_status(&cluster, c).as_deref(), Some("True"), "{c}");
    }
    assert_eq!(
        cluster.data["status"]["observedGeneration"],
        cluster.metadata.generation.unwrap_or(1)
    );

    env.patch_status(
        &cp_ar(),
        "w1",
        json!({ "ready": false, "conditions": [{ "type": "Ready", "status": "False", "reason": "WorkspaceError",
            "message": "apply failed", "lastTransitionTime": "2025-01-01T00:00:00Z" }] }),
    )
    .await;
    let cluster = env
        .wait(&cluster_ar, "w1", "control plane not ready", |o| {
            o.data["status"]["controlPlaneReady"] == false
        })
        .await;
    let cpr = cond(&cluster, "ControlPlaneReady")
        .cloned()
        .unwrap_or_default();
    assert_eq!(cpr["reason"], "WorkspaceError");
    assert_eq!(
        cond_status(&cluster, "ControlPlaneInitialized").as_deref(),
        Some("True"),
        "initialized is sticky"
    );
    env.stop().await;
}

#[tokio::test]
async fn deletion_removes_control_plane_then_infrastructure_then_finalizer() {
    let env = Env::start().await;
    env.triple("w2", false).await;
    let cluster_ar = capisim::api_resource();
    env.wait(&cluster_ar, "w2", "finalizer", |o| {
        o.metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == capisim::FINALIZER)
    })
    .await;
    env.wait(&cp_ar(), "w2", "labelled", |o| {
        o.metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(capisim::CLUSTER_NAME_LABEL))
    })
    .await;

    env.api(&cluster_ar)
        .delete("w2", &DeleteParams::default())
        .await
        .expect("delete cluster");
    env.wait(&cp_ar(), "w2", "control plane deleting", |o| {
        o.metadata.deletion_timestamp.is_some()
    })
    .await;
    let cluster = env
        .wait(&cluster_ar, "w2", "phase Deleting", |o| {
            o.data["status"]["phase"] == "Deleting"
        })
        .await;
    assert!(cluster.metadata.deletion_timestamp.is_some());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let infra = env
        .api(&infra_ar())
        .get("w2")
        .await
        .expect("infra still there");
    assert!(
        infra.metadata.deletion_timestamp.is_none(),
        "infra waits for the control plane"
    );

    env.patch(
        &cp_ar(),
        "w2",
        json!({ "metadata": { "finalizers": null } }),
    )
    .await;
    env.wait_gone(&cp_ar(), "w2").await;
    let infra = env
        .wait(&infra_ar(), "w2", "infra deleting", |o| {
            o.metadata.deletion_timestamp.is_some()
        })
        .await;
    assert!(has_hold(&infra));
    assert!(
        env.api(&cluster_ar)
            .get_opt("w2")
            .await
            .expect("get")
            .is_some(),
        "cluster waits for infra"
    );

    env.patch(
        &infra_ar(),
        "w2",
        json!({ "metadata": { "finalizers": null } }),
    )
    .await;
    env.wait_gone(&infra_ar(), "w2").await;
    env.wait_gone(&cluster_ar, "w2").await;
    env.stop().await;
}

#[tokio::test]
async fn paused_cluster_is_left_alone_until_unpaused() {
    let env = Env::start().await;
    env.triple("w3", true).await;
    let cluster_ar = capisim::api_resource();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cluster = env.api(&cluster_ar).get("w3").await.expect("cluster");
    assert!(cluster.metadata.finalizers.unwrap_or_default().is_empty());
    assert!(
        cluster
            .data
            .get("status")
            .is_none_or(|s| s.get("phase").is_none())
    );

    env.patch(&cluster_ar, "w3", json!({ "spec": { "paused": false } }))
        .await;
    env.wait(&cluster_ar, "w3", "reconciled after unpause", |o| {
        o.data["status"]["phase"] == "Provisioning"
    })
    .await;
    env.stop().await;
}
