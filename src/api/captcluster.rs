//! `CAPTCluster` (infrastructure.cluster.x-k8s.io/v1beta1): the infrastructure cluster (VPC).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ApiEndpoint, Condition, FailureDomains, TemplateRef};
use super::validation::{
    ValidationError, check_non_empty, check_region, check_set_once, check_unchanged,
};

/// Desired state of a CAPTCluster.
///
/// Immutable after creation: `region`, `vpcTemplateRef`, `existingVpcId`; `workspaceTemplateApplyName`
/// once set. `vpcConfig` and `retainVpcOnDelete` stay mutable.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "CAPTCluster",
    plural = "captclusters",
    singular = "captcluster",
    namespaced,
    status = "CAPTClusterStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "CAPTCluster is the infrastructure cluster of an EKS cluster built through Crossplane Workspaces.",
    printcolumn = r#"{"name":"VPC-ID","type":"string","jsonPath":".status.vpcId"}"#,
    printcolumn = r#"{"name":"READY","type":"boolean","jsonPath":".status.ready"}"#,
    printcolumn = r#"{"name":"ENDPOINT","type":"string","jsonPath":".spec.controlPlaneEndpoint.host"}"#,
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.vpcTemplateRef) != has(self.existingVpcId)",
        "message": "exactly one of vpcTemplateRef or existingVpcId must be set"
    },
    {
        "rule": "!has(self.retainVpcOnDelete) || !self.retainVpcOnDelete || has(self.vpcTemplateRef)",
        "message": "retainVpcOnDelete can only be set together with vpcTemplateRef"
    },
    {
        "rule": "has(self.vpcTemplateRef) == has(oldSelf.vpcTemplateRef) && (!has(self.vpcTemplateRef) || self.vpcTemplateRef == oldSelf.vpcTemplateRef)",
        "message": "vpcTemplateRef is immutable"
    },
    {
        "rule": "has(self.existingVpcId) == has(oldSelf.existingVpcId) && (!has(self.existingVpcId) || self.existingVpcId == oldSelf.existingVpcId)",
        "message": "existingVpcId is immutable"
    },
    {
        "rule": "!has(oldSelf.workspaceTemplateApplyName) || (has(self.workspaceTemplateApplyName) && self.workspaceTemplateApplyName == oldSelf.workspaceTemplateApplyName)",
        "message": "workspaceTemplateApplyName cannot be changed once set"
    }
]))]
pub struct CAPTClusterSpec {
    /// AWS region of the cluster.
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"), length(max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self == oldSelf", "message": "region is immutable"}
    ]))]
    pub region: String,
    /// WorkspaceTemplate that creates a new VPC. Mutually exclusive with `existingVpcId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_template_ref: Option<TemplateRef>,
    /// Id of an existing VPC to use. Mutually exclusive with `vpcTemplateRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub existing_vpc_id: Option<String>,
    /// Keep the VPC when the CAPTCluster is deleted. Only valid with `vpcTemplateRef`.
    #[serde(default)]
    pub retain_vpc_on_delete: bool,
    /// VPC settings passed to the VPC template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<VpcConfig>,
    /// Name of the VPC WorkspaceTemplateApply, managed by capt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub workspace_template_apply_name: Option<String>,
    /// API endpoint of the cluster, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_endpoint: Option<ApiEndpoint>,
}

/// VPC settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct VpcConfig {
    /// VPC name (`${vpc_name}`); defaults to `<captcluster name>-vpc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Observed state of a CAPTCluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CAPTClusterStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_workspace_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// Infrastructure is ready (CAPI contract).
    #[serde(default)]
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// Not published: Cluster API reads this path as a map under the v1beta1 contract and as a
    /// list under v1beta2, and one CRD version serves both; EKS spreads its control plane itself.
    /// Kept in the schema so statuses written by earlier versions still parse (they are cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_domains: Option<FailureDomains>,
    /// Cluster API v1beta2 contract: `provisioned` once the VPC is ready (never goes back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialization: Option<ClusterInitialization>,
    /// metav1 conditions (both contracts read them): `Ready`, `VPCReady`, `VPCFailed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_template_status: Option<ClusterWorkspaceTemplateStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// `status.initialization` of the Cluster API v1beta2 InfraCluster contract.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInitialization {
    #[serde(default)]
    pub provisioned: bool,
}

/// State of the VPC WorkspaceTemplateApply as seen by the CAPTCluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterWorkspaceTemplateStatus {
    #[serde(default)]
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failed_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_time: Option<Time>,
}

/// Where the VPC comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VpcSource<'a> {
    Template(&'a TemplateRef),
    Existing(&'a str),
}

impl CAPTClusterSpec {
    /// Check the rules the CRD schema enforces.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_region("spec.region", &self.region)?;
        self.vpc_source()?;
        if let Some(r) = &self.vpc_template_ref {
            check_non_empty("spec.vpcTemplateRef.name", &r.name)?;
        }
        Ok(())
    }

    /// Check the immutability rules for an update from `old`.
    pub fn validate_update(&self, old: &Self) -> Result<(), ValidationError> {
        check_unchanged("spec.region", &old.region, &self.region)?;
        check_unchanged(
            "spec.vpcTemplateRef",
            &old.vpc_template_ref,
            &self.vpc_template_ref,
        )?;
        check_unchanged(
            "spec.existingVpcId",
            &old.existing_vpc_id,
            &self.existing_vpc_id,
        )?;
        check_set_once(
            "spec.workspaceTemplateApplyName",
            &old.workspace_template_apply_name,
            &self.workspace_template_apply_name,
        )?;
        self.validate()
    }

    /// The VPC source, or the reason the VPC configuration is invalid.
    pub fn vpc_source(&self) -> Result<VpcSource<'_>, ValidationError> {
        let existing = self.existing_vpc_id.as_deref().filter(|id| !id.is_empty());
        let source = match (&self.vpc_template_ref, existing) {
            (Some(_), Some(_)) => return Err(ValidationError::BothVpcSources),
            (None, None) => return Err(ValidationError::NoVpcSource),
            (Some(r), None) => VpcSource::Template(r),
            (None, Some(id)) => VpcSource::Existing(id),
        };
        if self.retain_vpc_on_delete && self.vpc_template_ref.is_none() {
            return Err(ValidationError::RetainWithoutTemplate);
        }
        Ok(source)
    }

    /// VPC name passed as `vpc_name`: `vpcConfig.name` or `<cluster>-vpc`.
    pub fn vpc_name(&self, cluster_name: &str) -> String {
        match self.vpc_config.as_ref().and_then(|c| c.name.as_deref()) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => super::names::with_suffix(cluster_name, super::names::suffixes::VPC),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CAPTClusterSpec {
        CAPTClusterSpec {
            region: "us-west-2".into(),
            vpc_template_ref: Some(TemplateRef::new("vpc-template", Some("default".into()))),
            ..Default::default()
        }
    }

    #[test]
    fn validate_table() {
        let existing = |id: &str| CAPTClusterSpec {
            vpc_template_ref: None,
            existing_vpc_id: Some(id.into()),
            ..spec()
        };
        let cases: Vec<(&str, CAPTClusterSpec, Result<(), ValidationError>)> = vec![
            ("template", spec(), Ok(())),
            ("existing", existing("vpc-123"), Ok(())),
            (
                "both",
                CAPTClusterSpec {
                    existing_vpc_id: Some("vpc-1".into()),
                    ..spec()
                },
                Err(ValidationError::BothVpcSources),
            ),
            (
                "neither",
                CAPTClusterSpec {
                    vpc_template_ref: None,
                    ..spec()
                },
                Err(ValidationError::NoVpcSource),
            ),
            (
                "empty existing id",
                existing(""),
                Err(ValidationError::NoVpcSource),
            ),
            (
                "retain without template",
                CAPTClusterSpec {
                    retain_vpc_on_delete: true,
                    ..existing("vpc-1")
                },
                Err(ValidationError::RetainWithoutTemplate),
            ),
            (
                "retain with template",
                CAPTClusterSpec {
                    retain_vpc_on_delete: true,
                    ..spec()
                },
                Ok(()),
            ),
            (
                "gov region",
                CAPTClusterSpec {
                    region: "us-gov-west-1".into(),
                    ..spec()
                },
                Ok(()),
            ),
            (
                "bad region",
                CAPTClusterSpec {
                    region: "mars-1".into(),
                    ..spec()
                },
                Err(ValidationError::InvalidRegion {
                    field: "spec.region",
                    value: "mars-1".into(),
                }),
            ),
            (
                "empty template name",
                CAPTClusterSpec {
                    vpc_template_ref: Some(TemplateRef::default()),
                    ..spec()
                },
                Err(ValidationError::Empty {
                    field: "spec.vpcTemplateRef.name",
                }),
            ),
        ];
        for (name, spec, want) in cases {
            assert_eq!(spec.validate(), want, "case {name}");
        }
    }

    #[test]
    fn validate_update_table() {
        let old = CAPTClusterSpec {
            workspace_template_apply_name: Some("a-vpc".into()),
            ..spec()
        };
        let cases: Vec<(&str, CAPTClusterSpec, Result<(), ValidationError>)> = vec![
            ("unchanged", old.clone(), Ok(())),
            (
                "vpc name mutable",
                CAPTClusterSpec {
                    vpc_config: Some(VpcConfig {
                        name: Some("n".into()),
                    }),
                    ..old.clone()
                },
                Ok(()),
            ),
            (
                "region",
                CAPTClusterSpec {
                    region: "us-east-1".into(),
                    ..old.clone()
                },
                Err(ValidationError::Immutable {
                    field: "spec.region",
                }),
            ),
            (
                "template ref",
                CAPTClusterSpec {
                    vpc_template_ref: Some(TemplateRef::new("other", None)),
                    ..old.clone()
                },
                Err(ValidationError::Immutable {
                    field: "spec.vpcTemplateRef",
                }),
            ),
            (
                "apply name cleared",
                CAPTClusterSpec {
                    workspace_template_apply_name: None,
                    ..old.clone()
                },
                Err(ValidationError::Immutable {
                    field: "spec.workspaceTemplateApplyName",
                }),
            ),
        ];
        for (name, new, want) in cases {
            assert_eq!(new.validate_update(&old), want, "case {name}");
        }
        let fresh = spec();
        let named = CAPTClusterSpec {
            workspace_template_apply_name: Some("x".into()),
            ..spec()
        };
        assert_eq!(named.validate_update(&fresh), Ok(()));
    }

    #[test]
    fn vpc_name_defaults() {
        assert_eq!(spec().vpc_name("demo"), "demo-vpc");
        let named = CAPTClusterSpec {
            vpc_config: Some(VpcConfig {
                name: Some("main".into()),
            }),
            ..spec()
        };
        assert_eq!(named.vpc_name("demo"), "main");
    }
}
