//! Template references at the actor edge: the grants of a template's namespace from the cache for
//! the pure check in [`crate::reconcile::grants`], and the objects a grant change concerns.

use std::sync::Arc;

use kube::{Resource, ResourceExt};

use super::context::SharedCtx;
use crate::api::kinds::Kind;

const CAPT_CLUSTER: &str = Kind::CaptCluster.name();
const CAPT_CONTROL_PLANE: &str = Kind::CaptControlPlane.name();
const WTA: &str = Kind::WorkspaceTemplateApply.name();
use super::world::get;
use crate::actors::ObjectKey;
use crate::api::{TemplateRef, WorkspaceTemplateApply, WorkspaceTemplateGrant};
use crate::reconcile::grants::{RefNotPermitted, Referrer, check, same_template};
use crate::reconcile::ownership::controller_of;

/// Why `referrer` may not use `template`, if it may not.
pub fn refusal(
    ctx: &SharedCtx,
    referrer: &Referrer,
    template: &TemplateRef,
) -> Option<RefNotPermitted> {
    let tns = template.namespace_or(referrer.namespace);
    let grants: Vec<Arc<WorkspaceTemplateGrant>> = if tns == referrer.namespace {
        Vec::new()
    } else {
        ctx.world
            .grants
            .state()
            .into_iter()
            .filter(|g| g.namespace().as_deref() == Some(tns))
            .collect()
    };
    check(
        referrer,
        template,
        &ctx.shared_template_namespace,
        grants.iter().map(Arc::as_ref),
    )
    .err()
    .map(|e| *e)
}

/// The kind an apply is checked on behalf of: its controller, when that is a CAPTCluster or
/// CAPTControlPlane of the cache that references the same template (so a forged owner reference
/// gains nothing its owner was not granted).
pub fn apply_on_behalf_of(ctx: &SharedCtx, wta: &WorkspaceTemplateApply) -> Option<&'static str> {
    let ns = wta.namespace().unwrap_or_default();
    let (_, kind, name) = controller_of(wta.meta())?;
    let mine = &wta.spec.template_ref;
    let w = &ctx.world;
    match kind {
        CAPT_CLUSTER => get(&w.captclusters, &ns, name)?
            .spec
            .vpc_template_ref
            .as_ref()
            .filter(|r| same_template(r, &ns, mine, &ns))
            .map(|_| CAPT_CLUSTER),
        CAPT_CONTROL_PLANE => {
            let cp = get(&w.controlplanes, &ns, name)?;
            same_template(&cp.spec.workspace_template_ref, &ns, mine, &ns)
                .then_some(CAPT_CONTROL_PLANE)
        }
        _ => None,
    }
}

/// A grant (created, changed or deleted) concerns every object of another namespace that
/// references a template of the grant's namespace: permissions are checked again.
pub fn grant_referrers(ctx: &SharedCtx, g: &WorkspaceTemplateGrant) -> Vec<ObjectKey> {
    let gns = g.namespace().unwrap_or_default();
    let w = &ctx.world;
    let mut out = Vec::new();
    let mut add = |kind: &'static str, ns: String, name: String, r: Option<&TemplateRef>| {
        if let Some(r) = r
            && ns != gns
            && r.namespace_or(&ns) == gns
        {
            out.push(ObjectKey::new(kind, &ns, &name));
        }
    };
    for a in w.applies.state() {
        add(
            WTA,
            a.namespace().unwrap_or_default(),
            a.name_any(),
            Some(&a.spec.template_ref),
        );
    }
    for c in w.captclusters.state() {
        add(
            CAPT_CLUSTER,
            c.namespace().unwrap_or_default(),
            c.name_any(),
            c.spec.vpc_template_ref.as_ref(),
        );
    }
    for c in w.controlplanes.state() {
        add(
            CAPT_CONTROL_PLANE,
            c.namespace().unwrap_or_default(),
            c.name_any(),
            Some(&c.spec.workspace_template_ref),
        );
    }
    out
}
