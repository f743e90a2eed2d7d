//! `CAPTControlPlane` (controlplane.cluster.x-k8s.io/v1beta1): the EKS control plane.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ApiEndpoint, Condition, TemplateRef};
use super::names::secrets;
use super::schema::preserve_unknown_object;
use super::validation::{
    ValidationError, check_min, check_non_empty, check_region, check_set_once, check_unchanged,
    check_version,
};

/// Default of `controlPlaneConfig.timeouts.controlPlaneTimeout` (minutes).
pub const DEFAULT_CONTROL_PLANE_TIMEOUT_MINUTES: i32 = 30;
/// Default of `controlPlaneConfig.timeouts.vpcReadyTimeout` (minutes).
pub const DEFAULT_VPC_READY_TIMEOUT_MINUTES: i32 = 15;

/// Desired state of a CAPTControlPlane.
///
/// Immutable after creation: `controlPlaneConfig.region` (and `controlPlaneConfig` cannot be removed
/// once set); `workspaceTemplateApplyName` once set. `version` is mutable so upgrades flow.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "controlplane.cluster.x-k8s.io",
    version = "v1beta1",
    kind = "CAPTControlPlane",
    plural = "captcontrolplanes",
    singular = "captcontrolplane",
    namespaced,
    status = "CAPTControlPlaneStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "CAPTControlPlane is an EKS control plane built through Crossplane Workspaces.",
    printcolumn = r#"{"name":"READY","type":"boolean","jsonPath":".status.ready"}"#,
    printcolumn = r#"{"name":"PHASE","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"VERSION","type":"string","jsonPath":".spec.version"}"#,
    printcolumn = r#"{"name":"ENDPOINT","type":"string","jsonPath":".status.endpoint"}"#,
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(oldSelf.controlPlaneConfig) || has(self.controlPlaneConfig)",
        "message": "controlPlaneConfig cannot be removed once set"
    },
    {
        "rule": "!has(oldSelf.workspaceTemplateApplyName) || (has(self.workspaceTemplateApplyName) && self.workspaceTemplateApplyName == oldSelf.workspaceTemplateApplyName)",
        "message": "workspaceTemplateApplyName cannot be changed once set"
    }
]))]
pub struct CAPTControlPlaneSpec {
    /// Kubernetes version: `1.31`, `v1.31` or `v1.31.2`; passed to the template as
    /// `kubernetes_version` in the form EKS takes (`1.31`).
    #[schemars(
        regex(pattern = r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$"),
        length(min = 1, max = 32)
    )]
    pub version: String,
    /// WorkspaceTemplate of the EKS control plane.
    pub workspace_template_ref: TemplateRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_config: Option<ControlPlaneConfig>,
    /// Each entry becomes the template variable `tags_<key>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_tags: BTreeMap<String, String>,
    /// API endpoint of the control plane, written by capt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_endpoint: Option<ApiEndpoint>,
    /// Name of the EKS WorkspaceTemplateApply, managed by capt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub workspace_template_apply_name: Option<String>,
}

/// Control plane settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneConfig {
    /// AWS region, passed as `region`.
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"), length(max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [
        {"rule": "self == oldSelf", "message": "region is immutable"}
    ]))]
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_access: Option<EndpointAccess>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addons: Vec<Addon>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
}

/// EKS API endpoint access.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointAccess {
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub private: bool,
    #[serde(default, rename = "publicCIDRs", skip_serializing_if = "Vec::is_empty")]
    pub public_cidrs: Vec<String>,
}

/// An EKS add-on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Addon {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_values: Option<String>,
}

/// Timeouts in minutes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Timeouts {
    #[serde(default = "default_control_plane_timeout")]
    #[schemars(range(min = 1))]
    pub control_plane_timeout: i32,
    #[serde(default = "default_vpc_ready_timeout")]
    #[schemars(range(min = 1))]
    pub vpc_ready_timeout: i32,
}

impl Timeouts {
    /// `controlPlaneTimeout` as a duration (at least one minute).
    pub fn control_plane(&self) -> std::time::Duration {
        minutes(self.control_plane_timeout)
    }

    /// `vpcReadyTimeout` as a duration (at least one minute).
    pub fn vpc_ready(&self) -> std::time::Duration {
        minutes(self.vpc_ready_timeout)
    }
}

fn minutes(m: i32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(m.max(1).unsigned_abs()) * 60)
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            control_plane_timeout: DEFAULT_CONTROL_PLANE_TIMEOUT_MINUTES,
            vpc_ready_timeout: DEFAULT_VPC_READY_TIMEOUT_MINUTES,
        }
    }
}

fn default_control_plane_timeout() -> i32 {
    DEFAULT_CONTROL_PLANE_TIMEOUT_MINUTES
}

fn default_vpc_ready_timeout() -> i32 {
    DEFAULT_VPC_READY_TIMEOUT_MINUTES
}

/// `status.phase` of a CAPTControlPlane.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ControlPlanePhase {
    #[default]
    Creating,
    Ready,
    Failed,
}

impl ControlPlanePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => super::names::phases::CREATING,
            Self::Ready => super::names::phases::READY,
            Self::Failed => super::names::phases::FAILED,
        }
    }
}

/// Observed state of a CAPTControlPlane.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CAPTControlPlaneStatus {
    /// Control plane is ready (CAPI contract).
    #[serde(default)]
    pub ready: bool,
    /// Control plane has been initialized once; never goes back to false (CAPI contract).
    #[serde(default)]
    pub initialized: bool,
    /// Cluster API v1beta2 contract: `controlPlaneInitialized` (never goes back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialization: Option<ControlPlaneInitialization>,
    /// EKS manages the control plane machines (CAPI contract).
    #[serde(default)]
    pub external_managed_control_plane: bool,
    /// CA and kubeconfig secrets exist.
    #[serde(default)]
    pub secrets_ready: bool,
    /// Kubernetes version reported by the control plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// API endpoint as "host:port".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ControlPlanePhase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_template_status: Option<ControlPlaneWorkspaceTemplateStatus>,
    /// Mirror of the EKS Workspace; `atProvider.outputs` is read by add-on templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_status: Option<WorkspaceStatusMirror>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_sync: Option<SecretSyncStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// State of the EKS WorkspaceTemplateApply as seen by the control plane.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneWorkspaceTemplateStatus {
    #[serde(default)]
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failed_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_message: Option<String>,
}

/// Mirror of the EKS Workspace status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceStatusMirror {
    /// The Workspace `Ready` condition is `True`.
    #[serde(default)]
    pub ready: bool,
    /// Reason of the Workspace `Ready` condition (e.g. `Available`, `Creating`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The Workspace `status.atProvider`, verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub at_provider: Option<serde_json::Value>,
}

/// Progress of the EKS connection secret synchronisation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SecretSyncState {
    #[default]
    WaitingForSecret,
    ValidatingSecret,
    Ready,
    Failed,
}

/// `status.initialization` of the Cluster API v1beta2 ControlPlane contract.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneInitialization {
    #[serde(default)]
    pub control_plane_initialized: bool,
}

/// Secret synchronisation sub-status.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretSyncStatus {
    pub state: SecretSyncState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Which add-on keys are present in the connection secret.
    #[serde(default)]
    pub keys: AddonKeys,
    /// resourceVersion of the connection secret the last validation ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_secret_version: Option<String>,
    /// When the state last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

/// Presence of the add-on keys of the EKS connection secret.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddonKeys {
    #[serde(default)]
    pub cluster_endpoint: bool,
    #[serde(default)]
    pub cluster_name: bool,
    #[serde(default)]
    pub karpenter_iam_role_arn: bool,
    #[serde(default)]
    pub karpenter_queue_name: bool,
}

impl AddonKeys {
    /// Presence of the add-on keys among `keys`.
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out = Self::default();
        for key in keys {
            match key {
                secrets::CLUSTER_ENDPOINT_KEY => out.cluster_endpoint = true,
                secrets::CLUSTER_NAME_KEY => out.cluster_name = true,
                secrets::KARPENTER_IAM_ROLE_ARN_KEY => out.karpenter_iam_role_arn = true,
                secrets::KARPENTER_QUEUE_NAME_KEY => out.karpenter_queue_name = true,
                _ => {}
            }
        }
        out
    }

    pub fn all_present(&self) -> bool {
        self.cluster_endpoint
            && self.cluster_name
            && self.karpenter_iam_role_arn
            && self.karpenter_queue_name
    }

    /// Names of the missing keys, in [`secrets::ADDON_KEYS`] order.
    pub fn missing(&self) -> Vec<&'static str> {
        let present = [
            self.cluster_endpoint,
            self.cluster_name,
            self.karpenter_iam_role_arn,
            self.karpenter_queue_name,
        ];
        secrets::ADDON_KEYS
            .iter()
            .zip(present)
            .filter(|(_, p)| !p)
            .map(|(k, _)| *k)
            .collect()
    }
}

impl CAPTControlPlaneSpec {
    /// Check the rules the CRD schema enforces.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_non_empty("spec.version", &self.version)?;
        check_version("spec.version", &self.version)?;
        check_non_empty(
            "spec.workspaceTemplateRef.name",
            &self.workspace_template_ref.name,
        )?;
        if let Some(cfg) = &self.control_plane_config {
            check_region("spec.controlPlaneConfig.region", &cfg.region)?;
            for addon in &cfg.addons {
                check_non_empty("spec.controlPlaneConfig.addons[].name", &addon.name)?;
            }
            if let Some(t) = &cfg.timeouts {
                check_min(
                    "spec.controlPlaneConfig.timeouts.controlPlaneTimeout",
                    t.control_plane_timeout.into(),
                    1,
                )?;
                check_min(
                    "spec.controlPlaneConfig.timeouts.vpcReadyTimeout",
                    t.vpc_ready_timeout.into(),
                    1,
                )?;
            }
        }
        Ok(())
    }

    /// Check the immutability rules for an update from `old`.
    pub fn validate_update(&self, old: &Self) -> Result<(), ValidationError> {
        match (&old.control_plane_config, &self.control_plane_config) {
            (Some(_), None) => {
                return Err(ValidationError::Immutable {
                    field: "spec.controlPlaneConfig",
                });
            }
            (Some(o), Some(n)) => {
                check_unchanged("spec.controlPlaneConfig.region", &o.region, &n.region)?
            }
            _ => {}
        }
        check_set_once(
            "spec.workspaceTemplateApplyName",
            &old.workspace_template_apply_name,
            &self.workspace_template_apply_name,
        )?;
        self.validate()
    }

    /// Region from `controlPlaneConfig`, if set and non-empty.
    /// The timeouts in force: `controlPlaneConfig.timeouts`, else the defaults (30 and 15 minutes).
    pub fn timeouts(&self) -> Timeouts {
        self.control_plane_config
            .as_ref()
            .and_then(|c| c.timeouts.clone())
            .unwrap_or_default()
    }

    pub fn region(&self) -> Option<&str> {
        self.control_plane_config
            .as_ref()
            .map(|c| c.region.as_str())
            .filter(|r| !r.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CAPTControlPlaneSpec {
        CAPTControlPlaneSpec {
            version: "1.31".into(),
            workspace_template_ref: TemplateRef::new(
                "eks-controlplane-template",
                Some("default".into()),
            ),
            control_plane_config: Some(ControlPlaneConfig {
                region: "ap-northeast-1".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn with_region(region: &str) -> CAPTControlPlaneSpec {
        let mut s = spec();
        if let Some(c) = s.control_plane_config.as_mut() {
            c.region = region.into();
        }
        s
    }

    #[test]
    fn validate_table() {
        let cases: Vec<(&str, CAPTControlPlaneSpec, Result<(), ValidationError>)> = vec![
            ("ok", spec(), Ok(())),
            (
                "no config",
                CAPTControlPlaneSpec {
                    control_plane_config: None,
                    ..spec()
                },
                Ok(()),
            ),
            (
                "empty version",
                CAPTControlPlaneSpec {
                    version: String::new(),
                    ..spec()
                },
                Err(ValidationError::Empty {
                    field: "spec.version",
                }),
            ),
            (
                "empty template",
                CAPTControlPlaneSpec {
                    workspace_template_ref: TemplateRef::default(),
                    ..spec()
                },
                Err(ValidationError::Empty {
                    field: "spec.workspaceTemplateRef.name",
                }),
            ),
            ("gov region", with_region("us-gov-west-1"), Ok(())),
            ("new region", with_region("ap-southeast-5"), Ok(())),
            (
                "bad region",
                with_region("tokyo"),
                Err(ValidationError::InvalidRegion {
                    field: "spec.controlPlaneConfig.region",
                    value: "tokyo".into(),
                }),
            ),
        ];
        for (name, spec, want) in cases {
            assert_eq!(spec.validate(), want, "case {name}");
        }
        let mut zero = spec();
        if let Some(c) = zero.control_plane_config.as_mut() {
            c.timeouts = Some(Timeouts {
                control_plane_timeout: 0,
                vpc_ready_timeout: 15,
            });
        }
        assert!(matches!(
            zero.validate(),
            Err(ValidationError::TooSmall { .. })
        ));
    }

    #[test]
    fn validate_update_table() {
        let old = CAPTControlPlaneSpec {
            workspace_template_apply_name: Some("x".into()),
            ..spec()
        };
        let cases: Vec<(&str, CAPTControlPlaneSpec, Result<(), ValidationError>)> = vec![
            (
                "upgrade",
                CAPTControlPlaneSpec {
                    version: "1.32".into(),
                    ..old.clone()
                },
                Ok(()),
            ),
            (
                "region",
                CAPTControlPlaneSpec {
                    workspace_template_apply_name: Some("x".into()),
                    ..with_region("us-east-1")
                },
                Err(ValidationError::Immutable {
                    field: "spec.controlPlaneConfig.region",
                }),
            ),
            (
                "config removed",
                CAPTControlPlaneSpec {
                    control_plane_config: None,
                    ..old.clone()
                },
                Err(ValidationError::Immutable {
                    field: "spec.controlPlaneConfig",
                }),
            ),
            (
                "apply name changed",
                CAPTControlPlaneSpec {
                    workspace_template_apply_name: Some("y".into()),
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
    }

    #[test]
    fn addon_keys() {
        let keys = AddonKeys::from_keys(["cluster_endpoint", "other", "karpenter_queue_name"]);
        assert!(keys.cluster_endpoint && keys.karpenter_queue_name);
        assert!(!keys.all_present());
        assert_eq!(
            keys.missing(),
            vec!["cluster_name", "karpenter_iam_role_arn"]
        );
        assert!(AddonKeys::from_keys(secrets::ADDON_KEYS).all_present());
    }

    #[test]
    fn phase_strings() {
        assert_eq!(ControlPlanePhase::Ready.as_str(), "Ready");
        assert_eq!(
            serde_json::to_value(ControlPlanePhase::Failed).ok(),
            Some("Failed".into())
        );
    }
}
