//! Pieces shared by the CAPTCluster and CAPTControlPlane decisions: owner lookup, finalizers and
//! the WorkspaceTemplateApply children they create and keep in step.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};

use super::ownership::controller_ref;
use super::plan::{Child, Op};
use crate::api::names::{groups, labels};
use crate::api::{
    NamespacedName, TemplateRef, WorkspaceRef, WorkspaceTemplateApply, WorkspaceTemplateApplySpec,
};

/// Name of the CAPI Cluster that owns `meta` (the ownerReference Cluster API sets), if any.
pub fn owner_cluster(meta: &ObjectMeta) -> Option<&str> {
    meta.owner_references.as_ref()?.iter().find_map(|o| {
        (o.kind == "Cluster" && o.api_version.split('/').next() == Some(groups::CLUSTER_API))
            .then_some(o.name.as_str())
    })
}

pub fn has_finalizer(meta: &ObjectMeta, f: &str) -> bool {
    meta.finalizers
        .as_ref()
        .is_some_and(|v| v.iter().any(|x| x == f))
}

/// What capt manages in a WorkspaceTemplateApply spec; other fields a user set are left alone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplyIntent {
    pub template_ref: TemplateRef,
    pub variables: BTreeMap<String, String>,
    pub write_connection_secret_to_ref: Option<NamespacedName>,
    pub wait_for_workspaces: Vec<WorkspaceRef>,
    pub retain_workspace_on_delete: bool,
}

impl ApplyIntent {
    fn spec(&self) -> WorkspaceTemplateApplySpec {
        WorkspaceTemplateApplySpec {
            template_ref: self.template_ref.clone(),
            write_connection_secret_to_ref: self.write_connection_secret_to_ref.clone(),
            variables: self.variables.clone(),
            wait_for_secrets: Vec::new(),
            wait_for_workspaces: self.wait_for_workspaces.clone(),
            retain_workspace_on_delete: self.retain_workspace_on_delete,
        }
    }

    /// The fields of an existing apply that differ from the intent, as a merge patch.
    pub fn patch_for(&self, existing: &WorkspaceTemplateApplySpec) -> Option<Value> {
        let mut p = serde_json::Map::new();
        if existing.template_ref != self.template_ref {
            p.insert("templateRef".into(), json!(self.template_ref));
        }
        if existing.variables != self.variables {
            // Replace the whole map: keys removed from the intent are removed.
            let mut vars: serde_json::Map<String, Value> = existing
                .variables
                .keys()
                .map(|k| (k.clone(), Value::Null))
                .collect();
            vars.extend(
                self.variables
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone()))),
            );
            p.insert("variables".into(), Value::Object(vars));
        }
        if existing.write_connection_secret_to_ref != self.write_connection_secret_to_ref {
            p.insert(
                "writeConnectionSecretToRef".into(),
                json!(self.write_connection_secret_to_ref),
            );
        }
        if existing.wait_for_workspaces != self.wait_for_workspaces {
            p.insert("waitForWorkspaces".into(), json!(self.wait_for_workspaces));
        }
        if existing.retain_workspace_on_delete != self.retain_workspace_on_delete {
            p.insert(
                "retainWorkspaceOnDelete".into(),
                json!(self.retain_workspace_on_delete),
            );
        }
        (!p.is_empty()).then(|| json!({"spec": p}))
    }
}

fn apply_child(namespace: &str, name: &str, body: Value) -> Child {
    Child {
        api_version: groups::INFRASTRUCTURE_API_VERSION,
        kind: "WorkspaceTemplateApply",
        plural: "workspacetemplateapplies",
        namespace: Some(namespace.to_string()),
        name: name.to_string(),
        body,
    }
}

/// Create the apply `name` owned by `owner`, or patch the managed fields of the existing one.
pub fn ensure_apply<O: Resource<DynamicType = ()>>(
    owner: &O,
    cluster_name: &str,
    name: &str,
    existing: Option<&WorkspaceTemplateApply>,
    intent: &ApplyIntent,
) -> Option<Op> {
    let ns = owner.namespace().unwrap_or_default();
    match existing {
        Some(a) => intent
            .patch_for(&a.spec)
            .map(|p| Op::PatchChild(apply_child(&ns, name, p))),
        None => {
            let body = json!({
                "apiVersion": groups::INFRASTRUCTURE_API_VERSION,
                "kind": "WorkspaceTemplateApply",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "labels": {labels::CLUSTER_NAME: cluster_name},
                    "ownerReferences": [controller_ref(owner)],
                },
                "spec": intent.spec(),
            });
            Some(Op::Create(apply_child(&ns, name, body)))
        }
    }
}

/// Delete an apply (its own finalizer then deletes or retains the Workspace).
pub fn delete_apply(namespace: &str, name: &str) -> Op {
    Op::Delete {
        api_version: groups::INFRASTRUCTURE_API_VERSION,
        kind: "WorkspaceTemplateApply",
        plural: "workspacetemplateapplies",
        namespace: Some(namespace.to_string()),
        name: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_touches_only_changed_managed_fields() {
        let intent = ApplyIntent {
            template_ref: TemplateRef::new("t", None),
            variables: [
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "2".to_string()),
            ]
            .into(),
            ..Default::default()
        };
        let mut existing = intent.spec();
        existing.wait_for_secrets = vec![NamespacedName::new("ns", "user-added")];
        assert_eq!(intent.patch_for(&existing), None);
        existing.variables.insert("old".into(), "x".into());
        existing.variables.insert("b".into(), "3".into());
        let p = intent.patch_for(&existing).unwrap();
        assert_eq!(
            p,
            json!({"spec": {"variables": {"a": "1", "b": "2", "old": null}}})
        );
    }

    #[test]
    fn owner_cluster_needs_a_cluster_api_cluster() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
        let mut m = ObjectMeta::default();
        assert_eq!(owner_cluster(&m), None);
        m.owner_references = Some(vec![
            OwnerReference {
                api_version: "example.com/v1".into(),
                kind: "Cluster".into(),
                name: "x".into(),
                ..Default::default()
            },
            OwnerReference {
                api_version: "cluster.x-k8s.io/v1beta1".into(),
                kind: "Cluster".into(),
                name: "c".into(),
                ..Default::default()
            },
        ]);
        assert_eq!(owner_cluster(&m), Some("c"));
    }
}
