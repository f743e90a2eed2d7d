//! How capt marks what it creates, so events find their way back to the owner: Workspaces are
//! cluster-scoped and cannot carry an ownerReference to a namespaced object, so they carry labels
//! and annotations naming their WorkspaceTemplateApply and the object that owns that apply.

use std::collections::BTreeMap;

use kube::Resource;
use serde_json::{Value, json};

use crate::api::names::labels;

/// Annotation on Workspaces: `WorkspaceTemplateApply/<namespace>/<name>`.
pub const OWNER_ANNOTATION: &str = "infrastructure.cluster.x-k8s.io/owner";
/// Annotation on Workspaces: the apply's own owner, `<Kind>/<namespace>/<name>` (e.g. a CAPTControlPlane).
pub const ROOT_OWNER_ANNOTATION: &str = "infrastructure.cluster.x-k8s.io/root-owner";
/// Annotation on Workspaces: hash of the rendered spec last written.
pub const SPEC_HASH_ANNOTATION: &str = "infrastructure.cluster.x-k8s.io/spec-hash";
/// Annotation on owned Secrets: hash of the data last written.
pub const DATA_HASH_ANNOTATION: &str = "controlplane.cluster.x-k8s.io/data-hash";

/// `Kind/namespace/name`.
pub fn owner_id(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind}/{namespace}/{name}")
}

/// Parses `Kind/namespace/name`.
pub fn parse_owner_id(id: &str) -> Option<(&str, &str, &str)> {
    let mut it = id.splitn(3, '/');
    let (k, ns, n) = (it.next()?, it.next()?, it.next()?);
    (!k.is_empty() && !n.is_empty()).then_some((k, ns, n))
}

/// A label value is at most 63 characters of `[A-Za-z0-9._-]`, starting and ending alphanumeric.
pub fn valid_label_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && v.chars().next().is_none_or(|c| c.is_ascii_alphanumeric())
        && v.chars().last().is_none_or(|c| c.is_ascii_alphanumeric())
}

/// Labels naming the apply that owns a Workspace (only those that are valid label values) plus
/// `app.kubernetes.io/managed-by: capt`.
pub fn workspace_labels(apply_namespace: &str, apply_name: &str) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert(
        labels::MANAGED_BY.to_string(),
        labels::MANAGED_BY_VALUE.to_string(),
    );
    if valid_label_value(apply_namespace) {
        l.insert(
            labels::WORKSPACE_TEMPLATE_APPLY_NAMESPACE.to_string(),
            apply_namespace.to_string(),
        );
    }
    if valid_label_value(apply_name) {
        l.insert(
            labels::WORKSPACE_TEMPLATE_APPLY_NAME.to_string(),
            apply_name.to_string(),
        );
    }
    l
}

/// The controller ownerReference of `obj` as JSON (for children capt creates).
pub fn controller_ref<K: Resource<DynamicType = ()>>(obj: &K) -> Value {
    let m = obj.meta();
    json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "name": m.name.clone().unwrap_or_default(),
        "uid": m.uid.clone().unwrap_or_default(),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The controller ownerReference of `meta`, if any: (apiVersion, kind, name).
pub fn controller_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<(&str, &str, &str)> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| (o.api_version.as_str(), o.kind.as_str(), o.name.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_ids_round_trip() {
        let id = owner_id("WorkspaceTemplateApply", "ns", "a-b");
        assert_eq!(
            parse_owner_id(&id),
            Some(("WorkspaceTemplateApply", "ns", "a-b"))
        );
        assert_eq!(parse_owner_id("Kind//name"), Some(("Kind", "", "name")));
        assert_eq!(parse_owner_id("garbage"), None);
    }

    #[test]
    fn label_values_are_checked() {
        assert!(valid_label_value("demo-1"));
        assert!(valid_label_value(""));
        assert!(!valid_label_value(&"a".repeat(64)));
        assert!(!valid_label_value("-x"));
        assert!(!valid_label_value("a/b"));
        let l = workspace_labels("ns", &"n".repeat(70));
        assert_eq!(
            l.get(labels::WORKSPACE_TEMPLATE_APPLY_NAMESPACE)
                .map(String::as_str),
            Some("ns")
        );
        assert!(!l.contains_key(labels::WORKSPACE_TEMPLATE_APPLY_NAME));
    }
}
