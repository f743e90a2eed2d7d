//! `CaptMachineTemplate` (infrastructure.cluster.x-k8s.io/v1beta1): node group template.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Taint;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::TemplateRef;
use super::validation::{ValidationError, check_min, check_non_empty};

/// Desired state of a CaptMachineTemplate.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "CaptMachineTemplate",
    plural = "captmachinetemplates",
    singular = "captmachinetemplate",
    category = "cluster-api",
    namespaced,
    status = "CaptMachineTemplateStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "CaptMachineTemplate describes node groups built through a WorkspaceTemplate."
)]
pub struct CaptMachineTemplateSpec {
    pub template: CaptMachineTemplateBody,
}

/// Template body.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct CaptMachineTemplateBody {
    pub spec: NodeTemplateSpec,
}

/// A node group.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeTemplateSpec {
    pub workspace_template_ref: TemplateRef,
    pub node_type: NodeType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<ScalingConfig>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_tags: BTreeMap<String, String>,
}

/// Kind of node group.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum NodeType {
    #[default]
    ManagedNodeGroup,
    Fargate,
}

/// Node group size.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalingConfig {
    #[schemars(range(min = 0))]
    pub min_size: i32,
    #[schemars(range(min = 1))]
    pub max_size: i32,
    #[schemars(range(min = 0))]
    pub desired_size: i32,
}

/// Status of a CaptMachineTemplate (no fields).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct CaptMachineTemplateStatus {}

impl CaptMachineTemplateSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let spec = &self.template.spec;
        check_non_empty(
            "spec.template.spec.workspaceTemplateRef.name",
            &spec.workspace_template_ref.name,
        )?;
        if let Some(s) = &spec.scaling {
            check_min("spec.template.spec.scaling.minSize", s.min_size.into(), 0)?;
            check_min("spec.template.spec.scaling.maxSize", s.max_size.into(), 1)?;
            check_min(
                "spec.template.spec.scaling.desiredSize",
                s.desired_size.into(),
                0,
            )?;
        }
        Ok(())
    }
}
