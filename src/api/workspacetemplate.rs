//! `WorkspaceTemplate` (infrastructure.cluster.x-k8s.io/v1beta1): a Workspace spec with `${…}` placeholders.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{CrossplaneCondition, NamespacedName};
use super::workspace_spec::WorkspaceSpec;

/// Desired state of a WorkspaceTemplate.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "WorkspaceTemplate",
    plural = "workspacetemplates",
    singular = "workspacetemplate",
    namespaced,
    status = "WorkspaceTemplateStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "WorkspaceTemplate holds a provider-terraform Workspace spec rendered by WorkspaceTemplateApply.",
    printcolumn = r#"{"name":"WORKSPACE","type":"string","jsonPath":".status.workspaceName"}"#,
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceTemplateSpec {
    pub template: WorkspaceTemplateDefinition,
    /// Informational; not used by capt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_connection_secret_to_ref: Option<NamespacedName>,
}

/// The template body.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct WorkspaceTemplateDefinition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<WorkspaceTemplateMetadata>,
    /// Workspace spec; strings may contain `${WORKSPACE_NAME}` and `${<variable>}` placeholders.
    pub spec: WorkspaceSpec,
}

/// Informational template metadata.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct WorkspaceTemplateMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// Observed state of a WorkspaceTemplate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceTemplateStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<CrossplaneCondition>,
}
