//! WorkspaceTemplateApply at the actor edge: gather from the caches, decide, execute.

use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};

use super::context::{SharedCtx, now};
use super::error::ControllerError;
use super::generic::Decide;
use super::grants::{apply_on_behalf_of, refusal};
use super::world::{get, get_cluster};
use crate::actors::ReconcileCtx;
use crate::api::kinds::Kind;
use crate::api::{WorkspaceTemplateApply, WorkspaceTemplateApplyStatus};
use crate::reconcile::grants::Referrer;
use crate::reconcile::ownership::{controller_of, owner_id};
use crate::reconcile::plan::Plan;
use crate::reconcile::wta::{WtaWorld, decide};
use crate::telemetry::current_traceparent;

pub struct Wta;

/// The terraform run behind an apply, as a span of the apply's trace: recorded by the reconcile
/// that first sees its Workspace Ready (the apply's copied conditions do not say Ready yet), from
/// the Workspace's creation to its Ready transition.
fn terraform_span(ctx: &SharedCtx, wta: &WorkspaceTemplateApply) {
    if !crate::telemetry::otel::exporting() {
        return;
    }
    let seen_ready = wta.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    });
    let name =
        crate::api::names::workspace_name_for_apply(wta.meta().name.as_deref().unwrap_or_default());
    let Some(ws) = get_cluster(&ctx.world.workspaces, name).filter(|ws| ws.is_ready()) else {
        return;
    };
    let ready_at = ws
        .ready_condition()
        .and_then(|c| c.last_transition_time.as_ref());
    let (Some(created), Some(ready)) = (ws.meta().creation_timestamp.as_ref(), ready_at) else {
        return;
    };
    if seen_ready {
        return;
    }
    let at =
        |t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time| std::time::SystemTime::from(t.0);
    crate::telemetry::otel::record_past(
        format!("terraform {name}"),
        at(created),
        at(ready),
        vec![opentelemetry::KeyValue::new(
            "capt.workspace",
            name.to_string(),
        )],
    );
}

impl Decide for Wta {
    type K = WorkspaceTemplateApply;
    type Status = WorkspaceTemplateApplyStatus;
    const KIND: Kind = Kind::WorkspaceTemplateApply;

    fn store(ctx: &SharedCtx) -> &Store<WorkspaceTemplateApply> {
        &ctx.world.applies
    }

    async fn plan(
        ctx: &SharedCtx,
        wta: &WorkspaceTemplateApply,
        _rctx: &ReconcileCtx,
    ) -> Result<Plan<WorkspaceTemplateApplyStatus>, ControllerError> {
        let w = &ctx.world;
        let ns = wta.namespace().unwrap_or_default();
        let tref = &wta.spec.template_ref;
        let name = wta.name_any();
        let referrer = Referrer {
            kind: Self::KIND.name(),
            namespace: &ns,
            name: &name,
            on_behalf_of: apply_on_behalf_of(ctx, wta),
        };
        let refused = refusal(ctx, &referrer, tref);
        let template =
            get(&w.templates, tref.namespace_or(&ns), &tref.name).filter(|_| refused.is_none());
        let mut missing_secrets = Vec::new();
        for s in &wta.spec.wait_for_secrets {
            let sns = if s.namespace.is_empty() {
                ns.as_str()
            } else {
                s.namespace.as_str()
            };
            if get(&w.secrets, sns, &s.name).is_none() {
                missing_secrets.push(format!("{sns}/{}", s.name));
            }
        }
        let mut unready_workspaces = Vec::new();
        for r in &wta.spec.wait_for_workspaces {
            match get_cluster(&w.workspaces, &r.name) {
                Some(ws) if ws.is_ready() => {}
                found => {
                    unready_workspaces.push((r.name.clone(), found.is_some()));
                }
            }
        }
        terraform_span(ctx, wta);
        let root_owner = controller_of(wta.meta()).map(|(_, kind, name)| owner_id(kind, &ns, name));
        let lookup = |name: &str| get_cluster(&w.workspaces, name);
        let cluster_name = wta.labels().get(crate::api::names::labels::CLUSTER_NAME);
        let cluster = cluster_name.and_then(|c| get(&w.clusters, &ns, c));
        // The apply belongs to a Cluster the cache does not show (yet): its pause cannot be known.
        let cluster_missing = cluster_name.is_some() && cluster.is_none();
        let paused = crate::reconcile::pause::is_paused(wta.meta(), cluster.as_deref());
        let world = WtaWorld {
            template: template.as_deref(),
            workspace: &lookup,
            missing_secrets,
            unready_workspaces,
            root_owner,
            traceparent: current_traceparent(),
            paused,
            cluster_missing,
            refused,
            now: now(),
        };
        Ok(decide(wta, &world))
    }
}
