//! A read view of `tf.upbound.io/v1beta1` Workspaces and Crossplane conditions.

use std::collections::BTreeMap;

use kube::api::DynamicObject;
use kube::discovery::ApiResource;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// API group of the Workspace kind.
pub const GROUP: &str = "tf.upbound.io";
/// API version of the Workspace kind.
pub const VERSION: &str = "v1beta1";
/// Kind name.
pub const KIND: &str = "Workspace";
/// Finalizer Crossplane puts on managed resources.
pub const FINALIZER: &str = "finalizer.managedresource.crossplane.io";

/// The `ApiResource` of cluster-scoped Workspaces.
pub fn api_resource() -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: VERSION.into(),
        api_version: format!("{GROUP}/{VERSION}"),
        kind: KIND.into(),
        plural: "workspaces".into(),
    }
}

/// A Crossplane condition (`type`, `status`, `reason`, `message`, `lastTransitionTime`, `observedGeneration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default)]
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    pub(crate) fn new(
        type_: &str,
        status: bool,
        reason: &str,
        message: &str,
        generation: i64,
    ) -> Self {
        Self {
            type_: type_.into(),
            status: if status { "True" } else { "False" }.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: String::new(),
            observed_generation: Some(generation),
        }
    }
}

/// Sets `cond` in `list`, keeping the previous `lastTransitionTime` when nothing but the time would change.
pub(crate) fn set_condition(list: &mut Vec<Condition>, mut cond: Condition, now: &str) {
    if let Some(existing) = list.iter_mut().find(|c| c.type_ == cond.type_) {
        let same = existing.status == cond.status
            && existing.reason == cond.reason
            && existing.message == cond.message
            && existing.observed_generation == cond.observed_generation;
        if same {
            return;
        }
        cond.last_transition_time =
            if existing.status == cond.status && !existing.last_transition_time.is_empty() {
                existing.last_transition_time.clone()
            } else {
                now.to_string()
            };
        *existing = cond;
    } else {
        cond.last_transition_time = now.to_string();
        list.push(cond);
    }
}

/// `name` / `namespace` of a Secret reference.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct SecretRef {
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Var {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
}

/// A `namespace` / `name` / `key` reference to a Secret or ConfigMap entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub(crate) struct KeyRef {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key: String,
}

/// A `varFiles` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VarFile {
    /// `SecretKey` or `ConfigMapKey`.
    #[serde(default)]
    pub source: String,
    /// `HCL` (default) or `JSON`.
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub secret_key_ref: Option<KeyRef>,
    #[serde(default)]
    pub config_map_key_ref: Option<KeyRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ForProvider {
    #[serde(default)]
    module: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    inline_format: Option<String>,
    #[serde(default)]
    vars: Vec<Var>,
    #[serde(default)]
    var_files: Vec<VarFile>,
    #[serde(default)]
    varmap: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    for_provider: ForProvider,
    #[serde(default)]
    deletion_policy: Option<String>,
    #[serde(default)]
    write_connection_secret_to_ref: Option<SecretRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AtProvider {
    #[serde(default)]
    pub checksum: Option<String>,
    #[serde(default)]
    pub outputs: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    #[serde(default)]
    conditions: Vec<Condition>,
    #[serde(default)]
    at_provider: Option<AtProvider>,
}

/// The fields of a Workspace tfsim reads.
#[derive(Debug, Clone)]
pub(crate) struct WorkspaceView {
    pub name: String,
    pub uid: String,
    pub resource_version: Option<String>,
    pub generation: i64,
    pub deleting: bool,
    pub finalizers: Vec<String>,
    pub annotations: BTreeMap<String, String>,
    pub module: String,
    /// `forProvider.source`: `Inline`, `Remote` or `Flux`.
    pub source: String,
    /// `forProvider.inlineFormat` (`HCL` when unset).
    pub inline_format: Option<String>,
    /// `forProvider.vars` in order.
    pub vars: Vec<(String, String)>,
    /// `forProvider.varFiles` in order.
    pub var_files: Vec<VarFile>,
    /// `forProvider.varmap`.
    pub varmap: Option<serde_json::Map<String, Value>>,
    pub orphan: bool,
    pub secret_ref: Option<SecretRef>,
    pub conditions: Vec<Condition>,
    pub at_provider: AtProvider,
    /// Hash of the whole spec.
    pub checksum: String,
}

/// A Workspace whose spec or status cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ViewError {
    #[error("workspace has no name")]
    NoName,
    #[error("invalid workspace spec: {0}")]
    Spec(serde_json::Error),
    #[error("invalid workspace status: {0}")]
    Status(serde_json::Error),
}

impl WorkspaceView {
    pub(crate) fn from_object(obj: &DynamicObject) -> Result<Self, ViewError> {
        let meta = &obj.metadata;
        let name = meta.name.clone().ok_or(ViewError::NoName)?;
        let spec_value = obj.data.get("spec").cloned().unwrap_or(Value::Null);
        let spec: Spec = if spec_value.is_null() {
            Spec::default()
        } else {
            serde_json::from_value(spec_value.clone()).map_err(ViewError::Spec)?
        };
        let status: Status = match obj.data.get("status") {
            Some(v) if !v.is_null() => {
                serde_json::from_value(v.clone()).map_err(ViewError::Status)?
            }
            _ => Status::default(),
        };
        let checksum = super::ids::hex(0, &[&spec_value.to_string()], 32);
        Ok(Self {
            name,
            uid: meta.uid.clone().unwrap_or_default(),
            resource_version: meta.resource_version.clone(),
            generation: meta.generation.unwrap_or(1),
            deleting: meta.deletion_timestamp.is_some(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
            annotations: meta.annotations.clone().unwrap_or_default(),
            module: spec.for_provider.module,
            source: spec.for_provider.source,
            inline_format: spec.for_provider.inline_format,
            vars: spec
                .for_provider
                .vars
                .into_iter()
                .map(|v| (v.key, v.value))
                .collect(),
            var_files: spec.for_provider.var_files,
            varmap: spec.for_provider.varmap,
            orphan: spec.deletion_policy.as_deref() == Some("Orphan"),
            secret_ref: spec.write_connection_secret_to_ref,
            conditions: status.conditions,
            at_provider: status.at_provider.unwrap_or_default(),
            checksum,
        })
    }

    pub(crate) fn has_finalizer(&self) -> bool {
        self.finalizers.iter().any(|f| f == FINALIZER)
    }

    pub(crate) fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// The last `vars` entry for `key` (empty values count as unset), else a string `varmap` entry.
    pub(crate) fn var(&self, key: &str) -> Option<&str> {
        let from_vars = self
            .vars
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str());
        let from_map = || {
            self.varmap
                .as_ref()
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
        };
        from_vars.or_else(from_map).filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_transition_time_when_unchanged() {
        let mut list = Vec::new();
        set_condition(
            &mut list,
            Condition::new("Ready", false, "Creating", "", 1),
            "t1",
        );
        set_condition(
            &mut list,
            Condition::new("Ready", false, "Creating", "", 1),
            "t2",
        );
        assert_eq!(list[0].last_transition_time, "t1");
        set_condition(
            &mut list,
            Condition::new("Ready", true, "Available", "", 1),
            "t3",
        );
        assert_eq!(list[0].last_transition_time, "t3");
        assert_eq!(list.len(), 1);
    }
}
