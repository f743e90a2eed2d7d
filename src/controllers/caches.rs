//! The caches of every watched kind (one reflector each, stripped objects, metadata-only Secrets)
//! and the event streams that fill them, shared by the actor runtime and the kube-runtime baseline.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::{Client, Resource};

use crate::actors::cache::{self, EventStream};
use crate::api::{
    CAPTCluster, CAPTClusterTemplate, CAPTControlPlane, CaptControlPlaneTemplate, Cluster,
    Workspace, WorkspaceTemplate, WorkspaceTemplateApply, WorkspaceTemplateGrant,
};
use crate::controllers::world::World;

pub struct Streams {
    pub captclusters: EventStream<CAPTCluster>,
    pub controlplanes: EventStream<CAPTControlPlane>,
    pub applies: EventStream<WorkspaceTemplateApply>,
    pub templates: EventStream<WorkspaceTemplate>,
    pub workspaces: EventStream<Workspace>,
    pub clusters: EventStream<Cluster>,
    pub secrets: EventStream<PartialObjectMeta<Secret>>,
    pub cp_templates: EventStream<CaptControlPlaneTemplate>,
    pub cluster_templates: EventStream<CAPTClusterTemplate>,
    pub grants: EventStream<WorkspaceTemplateGrant>,
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Stores for the reconcilers and the streams that fill them (each stream must be polled).
/// `shard`: a label selector for this replica's share of the kinds split across a shard ring
/// (Cluster, CAPTCluster, CAPTControlPlane, WorkspaceTemplateApply, Workspace).
pub fn build(
    client: &Client,
    namespace: Option<&str>,
    streaming: bool,
    shard: Option<&str>,
) -> (World, Streams) {
    let ns = namespace;
    let all = cache::config(streaming);
    let wc = match shard {
        Some(selector) => all.clone().labels(selector),
        None => all.clone(),
    };
    let (captclusters, s1) = cache::watch(api::<CAPTCluster>(client, ns), wc.clone());
    let (controlplanes, s2) = cache::watch(api::<CAPTControlPlane>(client, ns), wc.clone());
    let (applies, s3) = cache::watch(api::<WorkspaceTemplateApply>(client, ns), wc.clone());
    let (templates, s4) = cache::watch(api::<WorkspaceTemplate>(client, ns), all.clone());
    // The provider's own bookkeeping on Workspaces (crossplane.io/ annotations: external name,
    // create pending/succeeded) is read by no decision: it is not cached, and a change of it
    // alone wakes nobody.
    let (workspaces, s5) = cache::watch_slim(
        Api::<Workspace>::all(client.clone()),
        wc.clone(),
        drop_provider_annotations,
    );
    let s5 = cache::changes_only(s5, |w: &Workspace| {
        cache::meta_fingerprint(w, &(&w.spec, &w.status))
    });
    // capt reads a Cluster's metadata and spec, never its status: the status is not cached, and
    // a status-only change (Cluster API mirroring its infrastructure and control plane) wakes
    // nobody.
    let (clusters, s6) =
        cache::watch_slim(api::<Cluster>(client, ns), wc.clone(), |c| c.status = None);
    let s6 = cache::changes_only(s6, |c: &Cluster| cache::meta_fingerprint(c, &c.spec));
    let (secrets, s7) = cache::watch(api::<PartialObjectMeta<Secret>>(client, ns), all.clone());
    let (cp_templates, s8) = cache::watch(api::<CaptControlPlaneTemplate>(client, ns), all.clone());
    let (cluster_templates, s9) = cache::watch(api::<CAPTClusterTemplate>(client, ns), all.clone());
    let (grants, s10) = cache::watch(api::<WorkspaceTemplateGrant>(client, ns), all);
    let world = World {
        captclusters,
        controlplanes,
        applies,
        templates,
        workspaces,
        clusters,
        secrets,
        cp_templates,
        cluster_templates,
        grants,
    };
    let streams = Streams {
        captclusters: s1,
        controlplanes: s2,
        applies: s3,
        templates: s4,
        workspaces: s5,
        clusters: s6,
        secrets: s7,
        cp_templates: s8,
        cluster_templates: s9,
        grants: s10,
    };
    (world, streams)
}

/// Annotations under `crossplane.io/` are the provider's (crossplane-runtime's) own.
const PROVIDER_ANNOTATIONS: &str = "crossplane.io/";

fn drop_provider_annotations(w: &mut Workspace) {
    if let Some(a) = w.metadata.annotations.as_mut() {
        a.retain(|k, _| !k.starts_with(PROVIDER_ANNOTATIONS));
        if a.is_empty() {
            w.metadata.annotations = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(annotations: serde_json::Value) -> Workspace {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "tf.upbound.io/v1beta1", "kind": "Workspace",
            "metadata": {"name": "w", "annotations": annotations},
            "spec": {"forProvider": {"source": "Inline", "module": ""}},
        }))
        .expect("workspace")
    }

    #[test]
    fn provider_bookkeeping_is_neither_cached_nor_a_change() {
        let fp = |w: &Workspace| cache::meta_fingerprint(w, &(&w.spec, &w.status));
        let mut plain = ws(serde_json::json!({"capt.appthrust.io/owner": "o"}));
        let mut marked = ws(serde_json::json!({
            "capt.appthrust.io/owner": "o",
            "crossplane.io/external-name": "w",
            "crossplane.io/external-create-pending": "2026-01-01T00:00:00Z",
        }));
        drop_provider_annotations(&mut plain);
        drop_provider_annotations(&mut marked);
        let kept = marked
            .metadata
            .annotations
            .clone()
            .expect("capt's annotation stays");
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["capt.appthrust.io/owner"]);
        assert_eq!(fp(&plain), fp(&marked));
        let mut only = ws(serde_json::json!({"crossplane.io/external-name": "w"}));
        drop_provider_annotations(&mut only);
        assert!(only.metadata.annotations.is_none());
        marked.metadata.finalizers = Some(vec!["finalizer.managedresource.crossplane.io".into()]);
        assert_ne!(fp(&plain), fp(&marked), "other metadata still counts");
    }
}
