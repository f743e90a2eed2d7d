//! WorkspaceTemplate, CaptControlPlaneTemplate and CAPTClusterTemplate at the actor edge.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};

use super::context::{SharedCtx, now};
use super::error::ControllerError;
use super::generic::Decide;
use super::world::get;
use crate::actors::ReconcileCtx;
use crate::api::kinds::Kind;
use crate::api::{
    CAPTClusterTemplate, CaptControlPlaneTemplate, TemplateRef, TemplateStatus, ValidationError,
    WorkspaceTemplate, WorkspaceTemplateStatus,
};
use crate::reconcile::plan::Plan;
use crate::reconcile::templates::{decide_template, decide_workspace_template};

pub struct WorkspaceTemplates;

impl Decide for WorkspaceTemplates {
    type K = WorkspaceTemplate;
    type Status = WorkspaceTemplateStatus;
    const KIND: Kind = Kind::WorkspaceTemplate;

    fn store(ctx: &SharedCtx) -> &Store<WorkspaceTemplate> {
        &ctx.world.templates
    }

    async fn plan(
        ctx: &SharedCtx,
        t: &WorkspaceTemplate,
        _: &ReconcileCtx,
    ) -> Result<Plan<WorkspaceTemplateStatus>, ControllerError> {
        // Users matter only for a deletion; a live template is not scanned for (while it is
        // being deleted, every change of an apply that uses it wakes it: `routes::apply_routes`).
        if t.meta().deletion_timestamp.is_none() {
            return Ok(decide_workspace_template(t, &[], &now()));
        }
        let (ns, name) = (t.namespace().unwrap_or_default(), t.name_any());
        let users = match &ctx.shard {
            // A replica of a shard ring caches only its share of the applies: ask the server.
            Some(_) => live_users(ctx, &ns, &name).await?,
            None => super::world::template_users(&ctx.world.applies, &ns, &name),
        };
        let users: Vec<String> = users
            .into_iter()
            .map(|(ns, name)| format!("{ns}/{name}"))
            .collect();
        Ok(decide_workspace_template(t, &users, &now()))
    }
}

/// The users of a template being deleted, listed from the server.
async fn live_users(
    ctx: &SharedCtx,
    ns: &str,
    name: &str,
) -> Result<Vec<(String, String)>, ControllerError> {
    let applies = kube::Api::<crate::api::WorkspaceTemplateApply>::all(ctx.client.clone())
        .list(&Default::default())
        .await
        .map_err(|e| ControllerError::api(format!("list the users of template {ns}/{name}"), e))?;
    Ok(super::world::users_among(applies.items.iter(), ns, name))
}

/// The decision for a Cluster API template: its spec's `validation` and whether the WorkspaceTemplate
/// it refers to (`r`; none means there is nothing to find) exists, waiting for it when it does not.
fn template_plan(
    ctx: &SharedCtx,
    meta: &ObjectMeta,
    status: Option<&TemplateStatus>,
    validation: Result<(), ValidationError>,
    r: Option<&TemplateRef>,
) -> Plan<TemplateStatus> {
    let invalid = validation.err().map(|e| e.to_string());
    let (name, found) = match r {
        Some(r) => {
            let ns = r.namespace_or(meta.namespace.as_deref().unwrap_or_default());
            let found = get(&ctx.world.templates, ns, &r.name).is_some();
            (format!("{ns}/{}", r.name), found)
        }
        None => (String::new(), true),
    };
    let mut plan = decide_template(status, meta.generation, invalid, (&name, found), &now());
    if let Some(r) = r.filter(|_| !found) {
        let ns = r.namespace_or(meta.namespace.as_deref().unwrap_or_default());
        plan.wait_for(Kind::WorkspaceTemplate, ns, &r.name);
    }
    plan
}

pub struct ControlPlaneTemplates;

impl Decide for ControlPlaneTemplates {
    type K = CaptControlPlaneTemplate;
    type Status = TemplateStatus;
    const KIND: Kind = Kind::CaptControlPlaneTemplate;

    fn store(ctx: &SharedCtx) -> &Store<CaptControlPlaneTemplate> {
        &ctx.world.cp_templates
    }

    async fn plan(
        ctx: &SharedCtx,
        t: &CaptControlPlaneTemplate,
        _rctx: &ReconcileCtx,
    ) -> Result<Plan<TemplateStatus>, ControllerError> {
        Ok(template_plan(
            ctx,
            t.meta(),
            t.status.as_ref(),
            t.spec.validate(),
            Some(&t.spec.template.spec.workspace_template_ref),
        ))
    }
}

pub struct ClusterTemplates;

impl Decide for ClusterTemplates {
    type K = CAPTClusterTemplate;
    type Status = TemplateStatus;
    const KIND: Kind = Kind::CaptClusterTemplate;

    fn store(ctx: &SharedCtx) -> &Store<CAPTClusterTemplate> {
        &ctx.world.cluster_templates
    }

    async fn plan(
        ctx: &SharedCtx,
        t: &CAPTClusterTemplate,
        _rctx: &ReconcileCtx,
    ) -> Result<Plan<TemplateStatus>, ControllerError> {
        Ok(template_plan(
            ctx,
            t.meta(),
            t.status.as_ref(),
            t.spec.validate(),
            t.spec.template.spec.vpc_template_ref.as_ref(),
        ))
    }
}
