//! `CaptMachine` (infrastructure.cluster.x-k8s.io/v1beta1): one node group rendered through a WorkspaceTemplate.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Condition, NamespacedName, TemplateRef};
use super::validation::{ValidationError, check_non_empty};

/// Desired state of a CaptMachine.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "CaptMachine",
    plural = "captmachines",
    singular = "captmachine",
    namespaced,
    status = "CaptMachineStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "CaptMachine is a node group built through a WorkspaceTemplate.",
    printcolumn = r#"{"name":"Ready","type":"boolean","jsonPath":".status.ready"}"#,
    printcolumn = r#"{"name":"Instance ID","type":"string","jsonPath":".status.instanceId"}"#,
    printcolumn = r#"{"name":"Node Group","type":"string","jsonPath":".spec.nodeGroupRef.name"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CaptMachineSpec {
    pub node_group_ref: NamespacedName,
    pub workspace_template_ref: TemplateRef,
    pub instance_type: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// Observed state of a CaptMachine.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaptMachineStatus {
    #[serde(default)]
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
}

impl CaptMachineSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_non_empty("spec.nodeGroupRef.name", &self.node_group_ref.name)?;
        check_non_empty(
            "spec.workspaceTemplateRef.name",
            &self.workspace_template_ref.name,
        )?;
        check_non_empty("spec.instanceType", &self.instance_type)
    }
}
