//! The provider-terraform `WorkspaceSpec` (tf.upbound.io/v1beta1), as held by WorkspaceTemplates and
//! written by capt when it creates or updates Workspaces.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::NamespacedName;
use super::schema::preserve_unknown_object;

/// Desired state of a Workspace. The generated root type [`DesiredWorkspace`] is the Workspace capt
/// creates and updates.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tf.upbound.io",
    version = "v1beta1",
    kind = "Workspace",
    root = "DesiredWorkspace",
    plural = "workspaces",
    schema = "disabled",
    derive = "PartialEq",
    derive = "Default"
)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceSpec {
    pub for_provider: WorkspaceParameters,
    #[serde(default = "default_provider_config_ref")]
    pub provider_config_ref: ProviderConfigReference,
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    #[serde(default = "default_management_policies")]
    pub management_policies: Vec<ManagementPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_connection_secret_to_ref: Option<NamespacedName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_connection_details_to: Option<PublishConnectionDetailsTo>,
}

fn default_provider_config_ref() -> ProviderConfigReference {
    ProviderConfigReference {
        name: "default".to_string(),
        policy: None,
    }
}

fn default_management_policies() -> Vec<ManagementPolicy> {
    vec![ManagementPolicy::All]
}

/// Terraform module and its inputs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceParameters {
    /// Inline HCL/JSON or a remote module address.
    pub module: String,
    pub source: ModuleSource,
    #[serde(default)]
    pub entrypoint: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vars: Vec<Var>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_object")]
    pub varmap: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub var_files: Vec<VarFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan_args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apply_args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destroy_args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_format: Option<FileFormat>,
    #[serde(
        default,
        rename = "enableTerraformCLILogging",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_terraform_cli_logging: Option<bool>,
}

/// Where the module comes from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ModuleSource {
    Remote,
    #[default]
    Inline,
}

/// Format of inline modules and var files.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum FileFormat {
    #[default]
    #[serde(rename = "HCL")]
    Hcl,
    #[serde(rename = "JSON")]
    Json,
}

/// A Terraform variable.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Var {
    pub key: String,
    pub value: String,
}

/// A file of Terraform variables read from a ConfigMap or Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VarFile {
    pub source: VarFileSource,
    #[serde(default)]
    pub format: FileFormat,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeyReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeyReference>,
}

/// Kind of object a var file is read from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum VarFileSource {
    ConfigMapKey,
    #[default]
    SecretKey,
}

/// A key of a ConfigMap or Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct KeyReference {
    pub namespace: String,
    pub name: String,
    pub key: String,
}

/// An environment variable of the Terraform process.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeyReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeyReference>,
}

/// Reference to a ProviderConfig.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ProviderConfigReference {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<ReferencePolicy>,
}

/// Resolution policy of a reference.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ReferencePolicy {
    #[serde(default)]
    pub resolution: Resolution,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve: Option<Resolve>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Resolution {
    #[default]
    Required,
    Optional,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Resolve {
    Always,
    IfNotPresent,
}

/// What happens to the external resource when the Workspace is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    Orphan,
    #[default]
    Delete,
}

/// Crossplane management policy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ManagementPolicy {
    Observe,
    Create,
    Update,
    Delete,
    LateInitialize,
    #[serde(rename = "*")]
    All,
}

/// Where connection details are published.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublishConnectionDetailsTo {
    pub name: String,
    #[serde(default = "default_provider_config_ref")]
    pub config_ref: ProviderConfigReference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ConnectionSecretMetadata>,
}

/// Metadata of a published connection secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ConnectionSecretMetadata {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_on_minimal_spec() {
        let spec: WorkspaceSpec = serde_json::from_value(serde_json::json!({
            "forProvider": {"module": "x", "source": "Inline"}
        }))
        .expect("minimal spec");
        assert_eq!(spec.deletion_policy, DeletionPolicy::Delete);
        assert_eq!(spec.management_policies, vec![ManagementPolicy::All]);
        assert_eq!(spec.provider_config_ref.name, "default");
        assert_eq!(spec.for_provider.entrypoint, "");
        let back = serde_json::to_value(&spec).expect("serialize");
        assert_eq!(back["managementPolicies"], serde_json::json!(["*"]));
    }
}
