//! What the load consists of: namespaces, the sample WorkspaceTemplates per namespace, and per
//! cluster a CAPI `Cluster` with its `CAPTCluster` and `CAPTControlPlane`.

use std::path::Path;
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

pub const FIELD_MANAGER: &str = "capt-load";
pub const KUBERNETES_VERSION: &str = "1.31";
pub const BUMPED_VERSION: &str = "1.32";

fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub fn cluster_ar() -> ApiResource {
    ar("cluster.x-k8s.io", "v1beta1", "Cluster", "clusters")
}
pub fn capt_cluster_ar() -> ApiResource {
    ar(
        "infrastructure.cluster.x-k8s.io",
        "v1beta1",
        "CAPTCluster",
        "captclusters",
    )
}
pub fn control_plane_ar() -> ApiResource {
    ar(
        "controlplane.cluster.x-k8s.io",
        "v1beta1",
        "CAPTControlPlane",
        "captcontrolplanes",
    )
}
pub fn template_ar() -> ApiResource {
    ar(
        "infrastructure.cluster.x-k8s.io",
        "v1beta1",
        "WorkspaceTemplate",
        "workspacetemplates",
    )
}
pub fn apply_ar() -> ApiResource {
    ar(
        "infrastructure.cluster.x-k8s.io",
        "v1beta1",
        "WorkspaceTemplateApply",
        "workspacetemplateapplies",
    )
}
pub fn workspace_ar() -> ApiResource {
    ar("tf.upbound.io", "v1beta1", "Workspace", "workspaces")
}

/// Name of the i-th namespace.
pub fn namespace(i: usize) -> String {
    format!("load-{i}")
}

/// Name and namespace of the i-th cluster (names are unique across namespaces because the
/// Workspaces named after them are cluster-scoped).
pub fn cluster_id(i: usize, namespaces: usize) -> (String, String) {
    (format!("c{i:05}"), namespace(i % namespaces.max(1)))
}

/// The three objects of one cluster, in creation order.
pub fn cluster_objects(name: &str, ns: &str) -> [(ApiResource, Value); 3] {
    let cluster = json!({
        "apiVersion": "cluster.x-k8s.io/v1beta1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "clusterNetwork": {
                "pods": {"cidrBlocks": ["192.168.0.0/16"]},
                "services": {"cidrBlocks": ["10.96.0.0/12"]},
                "serviceDomain": "cluster.local"
            },
            "infrastructureRef": {
                "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
                "kind": "CAPTCluster", "name": name, "namespace": ns
            },
            "controlPlaneRef": {
                "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
                "kind": "CAPTControlPlane", "name": name, "namespace": ns
            }
        }
    });
    let infra = json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "CAPTCluster",
        "metadata": {"name": name, "namespace": ns, "labels": {"cluster.x-k8s.io/cluster-name": name}},
        "spec": {"region": "us-west-2", "vpcTemplateRef": {"name": "vpc-template", "namespace": ns}}
    });
    let cp = json!({
        "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
        "kind": "CAPTControlPlane",
        "metadata": {"name": name, "namespace": ns, "labels": {"cluster.x-k8s.io/cluster-name": name}},
        "spec": {
            "version": KUBERNETES_VERSION,
            "workspaceTemplateRef": {"name": "eks-controlplane-template", "namespace": ns},
            "controlPlaneConfig": {"region": "us-west-2", "endpointAccess": {"public": true, "private": true}},
            "additionalTags": {"ManagedBy": "capt", "Load": "capt-load"}
        }
    });
    [
        (cluster_ar(), cluster),
        (capt_cluster_ar(), infra),
        (control_plane_ar(), cp),
    ]
}

/// The template documents of every `.yaml` in `dir` (kustomization files skipped), rewritten
/// into namespace `ns`.
pub fn templates_for(dir: &Path, ns: &str) -> anyhow::Result<Vec<Value>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .filter(|p| p.file_name().is_none_or(|n| n != "kustomization.yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(&f)?.replace("namespace: default", &format!("namespace: {ns}"));
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: Value = serde::Deserialize::deserialize(doc)?;
            if v.get("kind").and_then(Value::as_str) == Some("WorkspaceTemplate") {
                out.push(v);
            }
        }
    }
    anyhow::ensure!(!out.is_empty(), "no WorkspaceTemplate in {}", dir.display());
    Ok(out)
}

/// Create or update an object by server-side apply.
pub async fn apply(client: &kube::Client, ar: &ApiResource, v: &Value) -> anyhow::Result<()> {
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let ns = v.pointer("/metadata/namespace").and_then(Value::as_str);
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    };
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(v),
    )
    .await?;
    Ok(())
}

/// Create an object (an existing one counts as created).
pub async fn create(client: &kube::Client, ar: &ApiResource, v: &Value) -> anyhow::Result<()> {
    let ns = v
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, ar);
    let obj: DynamicObject = serde_json::from_value(v.clone())?;
    let mut backoff = Duration::from_millis(50);
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => return Ok(()),
            Err(e) if transient(&e) && Instant::now() < give_up => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Errors a client retries: the server is unreachable, overloaded or failing for the moment.
fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Create namespace `ns` if missing.
pub async fn ensure_namespace(client: &kube::Client, ns: &str) -> anyhow::Result<()> {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let obj = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_reference_their_own_objects_and_namespace_templates() {
        let (name, ns) = cluster_id(12, 5);
        assert_eq!((name.as_str(), ns.as_str()), ("c00012", "load-2"));
        let [(_, c), (_, i), (_, p)] = cluster_objects(&name, &ns);
        assert_eq!(c["spec"]["infrastructureRef"]["name"], "c00012");
        assert_eq!(c["spec"]["controlPlaneRef"]["kind"], "CAPTControlPlane");
        assert_eq!(i["spec"]["vpcTemplateRef"]["namespace"], "load-2");
        assert_eq!(
            p["spec"]["workspaceTemplateRef"]["name"],
            "eks-controlplane-template"
        );
    }

    #[test]
    fn sample_templates_move_to_the_target_namespace() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/workspacetemplates");
        let t = templates_for(&dir, "load-3").unwrap();
        let names: Vec<_> = t
            .iter()
            .map(|v| v["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        assert!(names.contains(&"vpc-template".to_string()));
        assert!(names.contains(&"eks-controlplane-template".to_string()));
        assert!(t.iter().all(|v| v["metadata"]["namespace"] == "load-3"));
        assert!(
            !serde_json::to_string(&t)
                .unwrap()
                .contains("namespace\":\"default")
        );
    }
}
