//! `WorkspaceTemplateApply` (infrastructure.cluster.x-k8s.io/v1beta1): renders a WorkspaceTemplate into a Workspace.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{CrossplaneCondition, NamespacedName, TemplateRef, WorkspaceRef};
use super::validation::{ValidationError, check_non_empty};

/// Desired state of a WorkspaceTemplateApply.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "WorkspaceTemplateApply",
    plural = "workspacetemplateapplies",
    singular = "workspacetemplateapply",
    shortname = "wtapply",
    category = "capt",
    category = "terraform",
    namespaced,
    status = "WorkspaceTemplateApplyStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "WorkspaceTemplateApply renders a WorkspaceTemplate with variables into a Crossplane Workspace.",
    printcolumn = r#"{"name":"WORKSPACE","type":"string","jsonPath":".status.workspaceName"}"#,
    printcolumn = r#"{"name":"APPLIED","type":"boolean","jsonPath":".status.applied"}"#,
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceTemplateApplySpec {
    /// The WorkspaceTemplate to render; an empty namespace means the apply's namespace.
    pub template_ref: TemplateRef,
    /// Overrides the rendered Workspace's `writeConnectionSecretToRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_connection_secret_to_ref: Option<NamespacedName>,
    /// `${key}` placeholders and their values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    /// Secrets that must exist before the Workspace is created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wait_for_secrets: Vec<NamespacedName>,
    /// Workspaces that must be Ready before the Workspace is created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wait_for_workspaces: Vec<WorkspaceRef>,
    /// Keep the Workspace (and its cloud resources) when this object is deleted.
    #[serde(default)]
    pub retain_workspace_on_delete: bool,
}

/// Observed state of a WorkspaceTemplateApply.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceTemplateApplyStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_name: Option<String>,
    #[serde(default)]
    pub applied: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_time: Option<Time>,
    /// Copy of the Workspace's conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<CrossplaneCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl WorkspaceTemplateApplySpec {
    /// Check the rules the CRD schema enforces.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_non_empty("spec.templateRef.name", &self.template_ref.name)?;
        for s in &self.wait_for_secrets {
            check_non_empty("spec.waitForSecrets[].name", &s.name)?;
        }
        for w in &self.wait_for_workspaces {
            check_non_empty("spec.waitForWorkspaces[].name", &w.name)?;
        }
        Ok(())
    }
}

impl WorkspaceTemplateApplyStatus {
    /// Both the `Synced` and `Ready` conditions are `True`.
    pub fn synced_and_ready(&self) -> bool {
        use super::common::crossplane_condition_true;
        use super::names::conditions::{READY, SYNCED};
        crossplane_condition_true(&self.conditions, SYNCED)
            && crossplane_condition_true(&self.conditions, READY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_table() {
        let ok = WorkspaceTemplateApplySpec {
            template_ref: TemplateRef::new("vpc-template", Some("default".into())),
            ..Default::default()
        };
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(
            WorkspaceTemplateApplySpec::default().validate(),
            Err(ValidationError::Empty {
                field: "spec.templateRef.name"
            })
        );
        let bad_wait = WorkspaceTemplateApplySpec {
            wait_for_workspaces: vec![WorkspaceRef::default()],
            ..ok.clone()
        };
        assert_eq!(
            bad_wait.validate(),
            Err(ValidationError::Empty {
                field: "spec.waitForWorkspaces[].name"
            })
        );
    }

    #[test]
    fn synced_and_ready_needs_both() {
        let cond = |t: &str, s: &str| CrossplaneCondition {
            type_: t.into(),
            status: s.into(),
            ..Default::default()
        };
        let mut st = WorkspaceTemplateApplyStatus {
            conditions: vec![cond("Synced", "True"), cond("Ready", "False")],
            ..Default::default()
        };
        assert!(!st.synced_and_ready());
        st.conditions[1].status = "True".into();
        assert!(st.synced_and_ready());
    }
}
