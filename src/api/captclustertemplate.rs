//! `CAPTClusterTemplate` (infrastructure.cluster.x-k8s.io/v1beta1): CAPTCluster template for ClusterClass.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::captcluster::CAPTClusterSpec;
use super::common::TemplateMeta;
use super::validation::ValidationError;

/// Desired state of a CAPTClusterTemplate.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "CAPTClusterTemplate",
    plural = "captclustertemplates",
    singular = "captclustertemplate",
    category = "cluster-api",
    namespaced,
    status = "CAPTClusterTemplateStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "CAPTClusterTemplate is the CAPTCluster template used by ClusterClass.",
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct CAPTClusterTemplateSpec {
    pub template: CAPTClusterTemplateResource,
}

/// Template body: metadata and a CAPTCluster spec.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct CAPTClusterTemplateResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMeta>,
    pub spec: CAPTClusterSpec,
}

/// Status of a CAPTClusterTemplate: whether what it references exists.
pub type CAPTClusterTemplateStatus = super::common::TemplateStatus;

impl CAPTClusterTemplateSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.template.spec.validate()
    }
}
