//! The CustomResourceDefinitions of the capt kinds.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use super::{
    CAPTCluster, CAPTClusterTemplate, CAPTControlPlane, CaptControlPlaneTemplate, CaptMachine,
    CaptMachineDeployment, CaptMachineSet, CaptMachineTemplate, WorkspaceTemplate,
    WorkspaceTemplateApply, WorkspaceTemplateGrant,
};

/// Serialising a CRD failed.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("serialising CRD {name}: {source}")]
    Yaml {
        name: String,
        source: serde_yaml::Error,
    },
}

/// All capt CRDs, sorted by `<group>_<plural>`.
pub fn crds() -> Vec<CustomResourceDefinition> {
    let mut all = vec![
        CAPTCluster::crd(),
        CAPTClusterTemplate::crd(),
        CAPTControlPlane::crd(),
        CaptControlPlaneTemplate::crd(),
        CaptMachine::crd(),
        CaptMachineDeployment::crd(),
        CaptMachineSet::crd(),
        CaptMachineTemplate::crd(),
        WorkspaceTemplate::crd(),
        WorkspaceTemplateApply::crd(),
        WorkspaceTemplateGrant::crd(),
    ];
    all.sort_by_key(crd_file_name);
    all.into_iter().map(tidy).map(label).collect()
}

/// Labels Cluster API and clusterctl read on a provider's CRDs.
pub mod crd_labels {
    /// Cluster API contract `v1beta1`, implemented by CRD version v1beta1 (CAPI before v1.11).
    pub const CONTRACT_V1BETA1: &str = "cluster.x-k8s.io/v1beta1";
    /// Cluster API contract `v1beta2`, implemented by the same CRD version (CAPI v1.11 and later).
    pub const CONTRACT_V1BETA2: &str = "cluster.x-k8s.io/v1beta2";
    /// Marks a provider's CRD for clusterctl (inventory, move).
    pub const CLUSTERCTL: &str = "clusterctl.cluster.x-k8s.io";
    /// `clusterctl move` moves every object of the kind, not only those owned by a Cluster.
    pub const CLUSTERCTL_MOVE: &str = "clusterctl.cluster.x-k8s.io/move";
}

/// Add the contract labels (both contracts, served by version v1beta1) and the clusterctl labels.
/// WorkspaceTemplates and their grants are not owned by a Cluster, so `clusterctl move` is told to
/// carry them all; everything else reaches a Cluster through owner references.
fn label(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let labels = crd.metadata.labels.get_or_insert_with(Default::default);
    labels.insert(crd_labels::CONTRACT_V1BETA1.into(), "v1beta1".into());
    labels.insert(crd_labels::CONTRACT_V1BETA2.into(), "v1beta1".into());
    labels.insert(crd_labels::CLUSTERCTL.into(), String::new());
    if matches!(
        crd.spec.names.kind.as_str(),
        "WorkspaceTemplate" | "WorkspaceTemplateGrant"
    ) {
        labels.insert(crd_labels::CLUSTERCTL_MOVE.into(), String::new());
    }
    crd
}

/// Remove the `null` entries schemars adds to the `enum` of optional enums: nullability is already
/// expressed by `nullable: true`, and the API server validates enum values against the schema type.
fn tidy(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let Ok(mut value) = serde_json::to_value(&crd) else {
        return crd;
    };
    strip_null_enum_values(&mut value);
    serde_json::from_value(value).unwrap_or(crd)
}

fn strip_null_enum_values(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Array(values)) = map.get_mut("enum") {
                values.retain(|v| !v.is_null());
            }
            map.values_mut().for_each(strip_null_enum_values);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_null_enum_values),
        _ => {}
    }
}

/// File name of a CRD in `deploy/crds`: `<group>_<plural>.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// One CRD as YAML (without document separator).
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, CrdError> {
    serde_yaml::to_string(crd).map_err(|source| CrdError::Yaml {
        name: crd.metadata.name.clone().unwrap_or_default(),
        source,
    })
}

/// All capt CRDs as one multi-document YAML stream, `---` separated, in [`crds()`] order.
pub fn crds_yaml() -> String {
    let mut out = String::new();
    for crd in crds() {
        // Serialising a CRD built from static types cannot fail; skip defensively instead of panicking.
        if let Ok(doc) = crd_yaml(&crd) {
            out.push_str("---\n");
            out.push_str(&doc);
        }
    }
    out
}
