//! What the caches hold: one reflector store per watched kind. Secrets are cached metadata-only;
//! the few secrets whose content matters are fetched when needed.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::api::{
    CAPTCluster, CAPTClusterTemplate, CAPTControlPlane, CaptControlPlaneTemplate, Cluster,
    Workspace, WorkspaceTemplate, WorkspaceTemplateApply, WorkspaceTemplateGrant,
};

#[derive(Clone)]
pub struct World {
    pub captclusters: Store<CAPTCluster>,
    pub controlplanes: Store<CAPTControlPlane>,
    pub applies: Store<WorkspaceTemplateApply>,
    pub templates: Store<WorkspaceTemplate>,
    pub workspaces: Store<Workspace>,
    pub clusters: Store<Cluster>,
    pub secrets: Store<PartialObjectMeta<Secret>>,
    pub cp_templates: Store<CaptControlPlaneTemplate>,
    pub cluster_templates: Store<CAPTClusterTemplate>,
    pub grants: Store<WorkspaceTemplateGrant>,
}

/// Namespaced lookup in a store.
pub fn get<K>(store: &Store<K>, namespace: &str, name: &str) -> Option<Arc<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    store.get(&ObjectRef::new(name).within(namespace))
}

/// Cluster-scoped lookup in a store.
pub fn get_cluster<K>(store: &Store<K>, name: &str) -> Option<Arc<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    store.get(&ObjectRef::new(name))
}

/// The live (not deleting) applies that use the WorkspaceTemplate `namespace/name`, as
/// `(namespace, name)` sorted.
pub fn template_users(
    applies: &Store<WorkspaceTemplateApply>,
    namespace: &str,
    name: &str,
) -> Vec<(String, String)> {
    users_among(applies.state().iter().map(|a| a.as_ref()), namespace, name)
}

/// [`template_users`] among `applies`.
pub fn users_among<'a>(
    applies: impl Iterator<Item = &'a WorkspaceTemplateApply>,
    namespace: &str,
    name: &str,
) -> Vec<(String, String)> {
    use kube::{Resource, ResourceExt};
    let mut users: Vec<(String, String)> = applies
        .filter(|a| a.meta().deletion_timestamp.is_none())
        .filter(|a| {
            let ans = a.namespace().unwrap_or_default();
            a.spec.template_ref.name == name && a.spec.template_ref.namespace_or(&ans) == namespace
        })
        .map(|a| (a.namespace().unwrap_or_default(), a.name_any()))
        .collect();
    users.sort();
    users
}
