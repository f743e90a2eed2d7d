//! Crossplane provider-terraform `Workspace` (tf.upbound.io/v1beta1, cluster-scoped).
//!
//! [`Workspace`] is a slim read view for caches: it names only what capt reads, so Terraform modules in
//! `spec.forProvider` are dropped on deserialization. [`DesiredWorkspace`] carries the full spec and is
//! what capt creates and updates (see `workspace_spec`).

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::common::{
    CrossplaneCondition, NamespacedName, crossplane_condition_true, find_crossplane_condition,
};
use super::names::conditions::{READY, SYNCED};

/// The spec fields of a Workspace that capt reads.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "tf.upbound.io",
    version = "v1beta1",
    kind = "Workspace",
    root = "Workspace",
    plural = "workspaces",
    status = "WorkspaceStatus",
    schema = "disabled",
    derive = "PartialEq",
    derive = "Default"
)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceViewSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_connection_secret_to_ref: Option<NamespacedName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<String>,
}

/// Observed state of a Workspace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<CrossplaneCondition>,
    /// `checksum`, `outputs` (non-sensitive outputs as JSON values) and anything else the provider reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_provider: Option<serde_json::Value>,
}

impl Workspace {
    fn conditions(&self) -> &[CrossplaneCondition] {
        self.status
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or_default()
    }

    /// The `Ready` condition, if any.
    pub fn ready_condition(&self) -> Option<&CrossplaneCondition> {
        find_crossplane_condition(self.conditions(), READY)
    }

    /// `Ready=True`.
    pub fn is_ready(&self) -> bool {
        crossplane_condition_true(self.conditions(), READY)
    }

    /// `Synced=True`.
    pub fn is_synced(&self) -> bool {
        crossplane_condition_true(self.conditions(), SYNCED)
    }

    /// `status.atProvider`.
    pub fn at_provider(&self) -> Option<&serde_json::Value> {
        self.status.as_ref().and_then(|s| s.at_provider.as_ref())
    }

    /// One of `status.atProvider.outputs`.
    pub fn output(&self, key: &str) -> Option<&serde_json::Value> {
        self.at_provider()
            .and_then(|a| a.get("outputs"))
            .and_then(|o| o.get(key))
    }

    /// A string output.
    pub fn output_str(&self, key: &str) -> Option<&str> {
        self.output(key).and_then(serde_json::Value::as_str)
    }

    /// Deletion has started.
    pub fn is_deleting(&self) -> bool {
        self.metadata.deletion_timestamp.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DesiredWorkspace;
    use crate::api::WorkspaceSpec;
    use kube::Resource;

    #[test]
    fn slim_view_drops_for_provider() {
        let ws: Workspace = serde_json::from_value(serde_json::json!({
            "apiVersion": "tf.upbound.io/v1beta1",
            "kind": "Workspace",
            "metadata": {"name": "demo-vpc"},
            "spec": {
                "forProvider": {"module": "very long", "source": "Inline"},
                "writeConnectionSecretToRef": {"name": "s", "namespace": "default"},
                "deletionPolicy": "Delete"
            },
            "status": {
                "conditions": [
                    {"type": "Synced", "status": "True", "reason": "ReconcileSuccess"},
                    {"type": "Ready", "status": "True", "reason": "Available"}
                ],
                "atProvider": {"checksum": "abc", "outputs": {"vpc_id": "vpc-1", "role_exists": true}}
            }
        }))
        .expect("workspace");
        assert!(ws.is_ready() && ws.is_synced());
        assert_eq!(ws.output_str("vpc_id"), Some("vpc-1"));
        assert_eq!(
            ws.output("role_exists"),
            Some(&serde_json::Value::Bool(true))
        );
        let back = serde_json::to_value(&ws).expect("serialize");
        assert!(back["spec"].get("forProvider").is_none());
        assert_eq!(Workspace::api_version(&()), "tf.upbound.io/v1beta1");
    }

    #[test]
    fn desired_workspace_serializes_full_spec() {
        let spec: WorkspaceSpec = serde_json::from_value(serde_json::json!({
            "forProvider": {"module": "m", "source": "Inline"}
        }))
        .expect("spec");
        let ws = DesiredWorkspace::new("demo-vpc", spec);
        let v = serde_json::to_value(&ws).expect("serialize");
        assert_eq!(v["kind"], "Workspace");
        assert_eq!(v["spec"]["forProvider"]["module"], "m");
        assert_eq!(v["spec"]["deletionPolicy"], "Delete");
    }
}
