//! Which actors an event of each watched kind concerns.

use kube::{Resource, ResourceExt};

use super::context::SharedCtx;
use crate::actors::ObjectKey;
use crate::api::kinds::Kind;
use crate::api::names::{labels, suffixes};
use crate::api::{CAPTControlPlane, Cluster, Workspace, WorkspaceTemplate, WorkspaceTemplateApply};
use crate::reconcile::ownership::{
    OWNER_ANNOTATION, ROOT_OWNER_ANNOTATION, controller_of, parse_owner_id,
};

/// The kind called `kind`, when it has actors (its own reconciler).
fn actor_kind(kind: &str) -> Option<&'static str> {
    Kind::parse(kind)
        .filter(|k| k.has_reconciler())
        .map(Kind::name)
}

fn key_from_id(id: &str) -> Option<ObjectKey> {
    let (kind, ns, name) = parse_owner_id(id)?;
    Some(ObjectKey::new(actor_kind(kind)?, ns, name))
}

/// Controller owner in the same namespace, if it is a kind with actors.
fn controller_owner<K: Resource>(obj: &K) -> Option<ObjectKey> {
    let (_, kind, name) = controller_of(obj.meta())?;
    Some(ObjectKey::new(
        actor_kind(kind)?,
        &obj.namespace().unwrap_or_default(),
        name,
    ))
}

/// Whether the object `key` names is being deleted, as its cache shows it.
fn deleting(ctx: &SharedCtx, key: &ObjectKey) -> bool {
    fn in_store<K: Resource<DynamicType = ()> + Clone + 'static>(
        store: &kube::runtime::reflector::Store<K>,
        key: &ObjectKey,
    ) -> bool {
        super::world::get(store, &key.namespace, &key.name)
            .is_some_and(|o| o.meta().deletion_timestamp.is_some())
    }
    let w = &ctx.world;
    match Kind::parse(key.kind) {
        Some(Kind::CaptCluster) => in_store(&w.captclusters, key),
        Some(Kind::WorkspaceTemplate) => in_store(&w.templates, key),
        _ => false,
    }
}

/// A WorkspaceTemplateApply concerns the CAPTCluster or CAPTControlPlane that owns it, and the
/// WorkspaceTemplate it uses while that one is being deleted (see [`apply_routes`]).
pub fn apply_owners(ctx: &SharedCtx, wta: &WorkspaceTemplateApply) -> Vec<ObjectKey> {
    apply_routes(wta, |k| deleting(ctx, k))
}

/// The apply's controller owner, and its WorkspaceTemplate when `deleting` says the template is
/// being deleted: only a deletion waits for the template's users, so a live template is not woken
/// by every change of every apply. This cannot miss the wake-up a deletion waits for: the
/// template's reconcile reads the applies after its own deletion is in its cache, and this route
/// reads the template after the apply's change is in the apply cache — whichever comes second sees
/// the other.
pub fn apply_routes(
    wta: &WorkspaceTemplateApply,
    deleting: impl Fn(&ObjectKey) -> bool,
) -> Vec<ObjectKey> {
    let ns = wta.namespace().unwrap_or_default();
    let t = &wta.spec.template_ref;
    let mut out: Vec<ObjectKey> = controller_owner(wta).into_iter().collect();
    let template = ObjectKey::new(Kind::WorkspaceTemplate.name(), t.namespace_or(&ns), &t.name);
    if deleting(&template) {
        out.push(template);
    }
    out
}

/// A Workspace concerns its apply, the apply's owner, and whoever waits for it.
pub fn workspace_owners(ctx: &SharedCtx, ws: &Workspace) -> Vec<ObjectKey> {
    let a = ws.annotations();
    let mut out: Vec<ObjectKey> = [OWNER_ANNOTATION, ROOT_OWNER_ANNOTATION]
        .iter()
        .filter_map(|k| a.get(*k).and_then(|id| key_from_id(id)))
        .collect();
    out.extend(ctx.waiters.take(Kind::Workspace, "", &ws.name_any()));
    out
}

/// A Secret concerns its controller owner, the control plane whose connection secret it is, and
/// whoever waits for it.
pub fn secret_owners<K: Resource>(ctx: &SharedCtx, s: &K) -> Vec<ObjectKey> {
    let ns = s.namespace().unwrap_or_default();
    let name = s.name_any();
    let mut out: Vec<ObjectKey> = controller_owner(s).into_iter().collect();
    if let Some(cp) = name.strip_suffix(suffixes::EKS_CONNECTION) {
        out.push(ObjectKey::new(Kind::CaptControlPlane.name(), &ns, cp));
    }
    out.extend(ctx.waiters.take(Kind::Secret, &ns, &name));
    out
}

/// A CAPTCluster concerns whoever waits for it (a control plane that found it missing).
pub fn captcluster_waiters(ctx: &SharedCtx, c: &crate::api::CAPTCluster) -> Vec<ObjectKey> {
    (ctx.waiters).take(
        Kind::CaptCluster,
        &c.namespace().unwrap_or_default(),
        &c.name_any(),
    )
}

/// A CAPI Cluster concerns its infrastructure cluster and control plane, and whoever waits for it.
pub fn cluster_and_waiters(ctx: &SharedCtx, c: &Cluster) -> Vec<ObjectKey> {
    let mut out = cluster_owners(c);
    out.extend(ctx.waiters.take(
        Kind::Cluster,
        &c.namespace().unwrap_or_default(),
        &c.name_any(),
    ));
    out
}

/// A CAPI Cluster concerns its infrastructure cluster and control plane.
pub fn cluster_owners(c: &Cluster) -> Vec<ObjectKey> {
    let ns = c.namespace().unwrap_or_default();
    let mut out = Vec::new();
    for (r, kind) in [
        (&c.spec.infrastructure_ref, Kind::CaptCluster),
        (&c.spec.control_plane_ref, Kind::CaptControlPlane),
    ] {
        if let Some(r) = r
            && r.kind.as_deref() == Some(kind.name())
            && let Some(name) = r.name.as_deref()
        {
            out.push(ObjectKey::new(
                kind.name(),
                r.namespace.as_deref().unwrap_or(&ns),
                name,
            ));
        }
    }
    out
}

/// A control plane concerns the CAPTCluster of the same Cluster while that one is being deleted
/// (see [`control_plane_routes`]).
pub fn control_plane_owners(ctx: &SharedCtx, cp: &CAPTControlPlane) -> Vec<ObjectKey> {
    control_plane_routes(cp, |k| deleting(ctx, k))
}

/// The CAPTCluster of the control plane's Cluster when `deleting` says it is being deleted: its
/// deletion waits for the control plane to go, and nothing else in it reads the control plane.
/// As for [`apply_routes`], reading the other side's cache after one's own is current cannot
/// miss that wake-up.
pub fn control_plane_routes(
    cp: &CAPTControlPlane,
    deleting: impl Fn(&ObjectKey) -> bool,
) -> Vec<ObjectKey> {
    let ns = cp.namespace().unwrap_or_default();
    let cluster = cp
        .labels()
        .get(labels::CLUSTER_NAME)
        .cloned()
        .unwrap_or_else(|| cp.name_any());
    let cc = ObjectKey::new(Kind::CaptCluster.name(), &ns, &cluster);
    if deleting(&cc) { vec![cc] } else { Vec::new() }
}

/// A WorkspaceTemplate concerns whoever waits for it; a new generation also queues its applies for
/// re-rendering (paced by the rollout).
pub fn template_owners(ctx: &SharedCtx, t: &WorkspaceTemplate) -> Vec<ObjectKey> {
    ctx.rollout.template_event(t, &ctx.world.applies);
    ctx.waiters.take(
        Kind::WorkspaceTemplate,
        &t.namespace().unwrap_or_default(),
        &t.name_any(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ObjectReference;

    #[test]
    fn clusters_map_to_their_referenced_objects() {
        let mut c = Cluster::new("demo", Default::default());
        c.metadata.namespace = Some("ns".into());
        c.spec.infrastructure_ref = Some(ObjectReference {
            kind: Some("CAPTCluster".into()),
            name: Some("demo".into()),
            ..Default::default()
        });
        c.spec.control_plane_ref = Some(ObjectReference {
            kind: Some("KubeadmControlPlane".into()),
            name: Some("other".into()),
            ..Default::default()
        });
        assert_eq!(
            cluster_owners(&c),
            vec![ObjectKey::new(Kind::CaptCluster.name(), "ns", "demo")]
        );
    }

    #[test]
    fn owner_ids_map_to_actor_kinds_only() {
        assert_eq!(
            key_from_id("CAPTControlPlane/ns/x"),
            Some(ObjectKey::new(Kind::CaptControlPlane.name(), "ns", "x"))
        );
        assert_eq!(key_from_id("Deployment/ns/x"), None);
    }

    #[test]
    fn a_template_hears_of_its_applies_only_while_it_is_being_deleted() {
        let mut wta = WorkspaceTemplateApply::new("a", Default::default());
        wta.metadata.namespace = Some("ns".into());
        wta.spec.template_ref.name = "vpc".into();
        let template = ObjectKey::new(Kind::WorkspaceTemplate.name(), "ns", "vpc");
        assert_eq!(apply_routes(&wta, |_| false), vec![]);
        assert_eq!(apply_routes(&wta, |k| *k == template), vec![template]);
    }

    #[test]
    fn a_captcluster_hears_of_its_control_plane_only_while_it_is_being_deleted() {
        let mut cp = CAPTControlPlane::new("demo-cp", Default::default());
        cp.metadata.namespace = Some("ns".into());
        cp.metadata.labels = Some([(labels::CLUSTER_NAME.to_string(), "demo".to_string())].into());
        let cc = ObjectKey::new(Kind::CaptCluster.name(), "ns", "demo");
        assert_eq!(control_plane_routes(&cp, |_| false), vec![]);
        assert_eq!(control_plane_routes(&cp, |k| *k == cc), vec![cc]);
    }
}
