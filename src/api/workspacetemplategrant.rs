//! `WorkspaceTemplateGrant` (infrastructure.cluster.x-k8s.io/v1beta1): lets objects of other
//! namespaces use WorkspaceTemplates of the grant's namespace (the pattern of Gateway API's
//! ReferenceGrant). A grant lives in the namespace of the templates it shares.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kinds that reference WorkspaceTemplates, and so the kinds a grant may name in `from`.
pub const GRANTABLE_KINDS: [&str; 3] =
    ["CAPTCluster", "CAPTControlPlane", "WorkspaceTemplateApply"];

/// Who may use which templates of the grant's namespace.
#[derive(
    CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema,
)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "WorkspaceTemplateGrant",
    plural = "workspacetemplategrants",
    singular = "workspacetemplategrant",
    namespaced,
    derive = "PartialEq",
    derive = "Default",
    category = "capt",
    doc = "WorkspaceTemplateGrant lets CAPTClusters, CAPTControlPlanes and WorkspaceTemplateApplies of other namespaces use WorkspaceTemplates of its namespace.",
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceTemplateGrantSpec {
    /// The referrers allowed: a kind in a namespace.
    #[schemars(length(min = 1, max = 16))]
    pub from: Vec<GrantFrom>,
    /// The templates of this namespace they may use.
    #[schemars(length(min = 1, max = 16))]
    pub to: Vec<GrantTo>,
}

/// A kind in a namespace that may reference templates of the grant's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct GrantFrom {
    /// `CAPTCluster`, `CAPTControlPlane` or `WorkspaceTemplateApply`.
    #[schemars(extend("enum" = ["CAPTCluster", "CAPTControlPlane", "WorkspaceTemplateApply"]))]
    pub kind: String,
    /// The referrer's namespace.
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
}

/// Templates a grant shares.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct GrantTo {
    /// A WorkspaceTemplate name; unset or empty: every template of the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub name: Option<String>,
}
