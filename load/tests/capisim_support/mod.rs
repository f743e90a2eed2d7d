//! Shared setup for the capisim tests: kubesim with the Cluster CRD and two provider kinds whose CRDs carry
//! the given contract labels, and capisim running against it.
#![allow(dead_code)]

use std::time::Duration;

use capt_load::capisim;
use capt_load::kubesim;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{GroupVersionKind, ObjectMeta};
use serde_json::{Value, json};

pub const TIMEOUT: Duration = Duration::from_secs(20);
pub const NS: &str = "clusters";
pub const HOLD: &str = "test.capt.dev/hold";
pub const INFRA_GROUP: &str = "infrastructure.test.capt.dev";
pub const CP_GROUP: &str = "controlplane.test.capt.dev";

/// Contract labels of a provider CRD, e.g. `&[("cluster.x-k8s.io/v1beta2", "v1beta1")]`.
pub type Labels<'a> = &'a [(&'a str, &'a str)];
pub const V1BETA1: Labels<'static> = &[("cluster.x-k8s.io/v1beta1", "v1beta1")];
pub const V1BETA2: Labels<'static> = &[("cluster.x-k8s.io/v1beta2", "v1beta1")];
pub const NO_CONTRACT: Labels<'static> = &[];

pub fn test_crd(group: &str, kind: &str, plural: &str, labels: Labels<'_>) -> String {
    let labels: String = labels
        .iter()
        .map(|(k, v)| format!("\n    {k}: {v}"))
        .collect();
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
  labels:
    test: "yes"{labels}
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

pub fn infra_ar() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(INFRA_GROUP, "v1beta1", "TestInfraCluster"),
        "testinfraclusters",
    )
}

pub fn cp_ar() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(CP_GROUP, "v1beta1", "TestControlPlane"),
        "testcontrolplanes",
    )
}

pub fn cluster_ar() -> ApiResource {
    capisim::api_resource()
}

pub struct Env {
    pub sim: kubesim::Handle,
    pub client: kube::Client,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Env {
    /// Both provider CRDs labelled `labels`, contract labels required.
    pub async fn start(labels: Labels<'_>) -> Env {
        Self::start_with(labels, capisim::Config::default()).await
    }

    pub async fn start_with(labels: Labels<'_>, mut config: capisim::Config) -> Env {
        let sim = kubesim::start(kubesim::Config::default())
            .await
            .expect("start kubesim");
        sim.install_crds_yaml(capisim::CLUSTER_CRD_YAML)
            .expect("Cluster CRD");
        sim.install_crds_yaml(&test_crd(
            INFRA_GROUP,
            "TestInfraCluster",
            "testinfraclusters",
            labels,
        ))
        .expect("infra CRD");
        sim.install_crds_yaml(&test_crd(
            CP_GROUP,
            "TestControlPlane",
            "testcontrolplanes",
            labels,
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
        config.concurrency = 4;
        let task = tokio::spawn(capisim::run(client.clone(), config));
        Env { sim, client, task }
    }

    pub async fn stop(self) {
        self.task.abort();
        self.sim.shutdown().await;
    }

    pub fn api(&self, ar: &ApiResource) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), NS, ar)
    }

    pub async fn create(&self, ar: &ApiResource, body: Value) {
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

    pub async fn wait(
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

    pub async fn wait_gone(&self, ar: &ApiResource, name: &str) {
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

    pub async fn patch_status(&self, ar: &ApiResource, name: &str, status: Value) {
        self.api(ar)
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({ "status": status })),
            )
            .await
            .expect("patch status");
    }

    pub async fn patch(&self, ar: &ApiResource, name: &str, body: Value) {
        self.api(ar)
            .patch(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .expect("patch");
    }

    /// An infrastructure cluster, a control plane (both held by a test finalizer) and a Cluster referencing them.
    pub async fn triple(&self, name: &str, paused: bool) {
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
            &cluster_ar(),
            json!({
                "metadata": { "name": name },
                "spec": {
                    "paused": paused,
                    "clusterNetwork": { "pods": { "cidrBlocks": ["192.168.0.0/16"] } },
                    "infrastructureRef": {
                        "apiVersion": format!("{INFRA_GROUP}/v1beta1"), "kind": "TestInfraCluster",
                        "name": name, "namespace": NS
                    },
                    "controlPlaneRef": {
                        "apiVersion": format!("{CP_GROUP}/v1beta1"), "kind": "TestControlPlane",
                        "name": name
                    }
                }
            }),
        )
        .await;
    }

    /// Marks the infrastructure provisioned and the control plane initialized with an endpoint, under the
    /// v1beta1 contract's fields.
    pub async fn provision_v1beta1(&self, name: &str) {
        self.patch_status(&infra_ar(), name, json!({ "ready": true }))
            .await;
        self.patch(
            &cp_ar(),
            name,
            json!({ "spec": { "controlPlaneEndpoint": { "host": "ABC.gr7.us-west-2.eks.amazonaws.com", "port": 443 } } }),
        )
        .await;
        self.patch_status(
            &cp_ar(),
            name,
            json!({ "ready": true, "initialized": true }),
        )
        .await;
    }
}

pub fn has_finalizer(o: &DynamicObject) -> bool {
    o.metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == capisim::FINALIZER)
}

/// A v1beta1 condition (`status.conditions`).
pub fn cond<'a>(o: &'a DynamicObject, type_: &str) -> Option<&'a Value> {
    find(o.data.get("status")?.get("conditions")?, type_)
}

/// A v1beta2 condition (`status.v1beta2.conditions`).
pub fn cond2<'a>(o: &'a DynamicObject, type_: &str) -> Option<&'a Value> {
    find(
        o.data.get("status")?.get("v1beta2")?.get("conditions")?,
        type_,
    )
}

fn find<'a>(list: &'a Value, type_: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

pub fn status_of(c: Option<&Value>) -> Option<String> {
    c.and_then(|c| c["status"].as_str()).map(str::to_string)
}

pub fn has_hold(o: &DynamicObject) -> bool {
    o.metadata.finalizers.iter().flatten().any(|f| f == HOLD)
}

pub fn health(o: &DynamicObject) -> capisim::ClusterHealth {
    capisim::cluster_health(&serde_json::to_value(o).expect("json"))
}
