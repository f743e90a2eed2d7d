//! `CaptControlPlaneTemplate` (controlplane.cluster.x-k8s.io/v1beta1): CAPTControlPlane template for ClusterClass.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::captcontrolplane::CAPTControlPlaneSpec;
use super::common::TemplateMeta;
use super::validation::ValidationError;

/// Desired state of a CaptControlPlaneTemplate.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "controlplane.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "CaptControlPlaneTemplate",
    plural = "captcontrolplanetemplates",
    singular = "captcontrolplanetemplate",
    category = "cluster-api",
    namespaced,
    status = "CaptControlPlaneTemplateStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "CaptControlPlaneTemplate is the CAPTControlPlane template used by ClusterClass.",
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct CaptControlPlaneTemplateSpec {
    pub template: CaptControlPlaneTemplateResource,
}

/// Template body: metadata and a CAPTControlPlane spec.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct CaptControlPlaneTemplateResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMeta>,
    pub spec: CAPTControlPlaneSpec,
}

/// Status of a CaptControlPlaneTemplate: whether what it references exists.
pub type CaptControlPlaneTemplateStatus = super::common::TemplateStatus;

impl CaptControlPlaneTemplateSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.template.spec.validate()
    }
}
