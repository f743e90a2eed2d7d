//! `CaptMachineSet` (infrastructure.cluster.x-k8s.io/v1beta1): a replicated set of CaptMachines.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::captmachine::CaptMachineSpec;
use super::common::{Condition, TemplateMeta};
use super::validation::{ValidationError, check_min};

/// Desired state of a CaptMachineSet.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "CaptMachineSet",
    plural = "captmachinesets",
    singular = "captmachineset",
    namespaced,
    status = "CaptMachineSetStatus",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas"
    ),
    derive = "PartialEq",
    derive = "Default",
    doc = "CaptMachineSet keeps a number of CaptMachines.",
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".spec.replicas"}"#,
    printcolumn = r#"{"name":"Current","type":"integer","jsonPath":".status.replicas"}"#,
    printcolumn = r#"{"name":"Ready","type":"integer","jsonPath":".status.readyReplicas"}"#,
    printcolumn = r#"{"name":"Available","type":"integer","jsonPath":".status.availableReplicas"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CaptMachineSetSpec {
    /// Desired number of machines; 1 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    pub template: CaptMachineTemplateResource,
}

/// Machine template of sets and deployments.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct CaptMachineTemplateResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMeta>,
    pub spec: CaptMachineSpec,
}

/// Observed state of a CaptMachineSet.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaptMachineSetStatus {
    #[serde(default)]
    pub replicas: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fully_labeled_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
}

impl CaptMachineSetSpec {
    /// Desired replicas (1 when unset).
    pub fn desired_replicas(&self) -> i32 {
        self.replicas.unwrap_or(1)
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        if let Some(r) = self.replicas {
            check_min("spec.replicas", r.into(), 0)?;
        }
        if self.selector.is_none() {
            return Err(ValidationError::Invalid {
                field: "spec.selector",
                message: "a selector is required".into(),
            });
        }
        self.template.spec.validate()
    }
}
