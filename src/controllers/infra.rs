//! CAPTCluster at the actor edge.

use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};

use super::context::{SharedCtx, now};
use super::error::ControllerError;
use super::generic::Decide;
use super::grants::refusal;
use super::world::{get, get_cluster};
use crate::actors::ReconcileCtx;
use crate::api::kinds::Kind;
use crate::api::names::labels;
use crate::api::{CAPTCluster, CAPTClusterStatus};
use crate::reconcile::children::owner_cluster;
use crate::reconcile::grants::Referrer;
use crate::reconcile::infra::{InfraWorld, apply_name, decide};
use crate::reconcile::plan::Plan;

pub struct Infra;

impl Decide for Infra {
    type K = CAPTCluster;
    type Status = CAPTClusterStatus;
    const KIND: Kind = Kind::CaptCluster;

    fn store(ctx: &SharedCtx) -> &Store<CAPTCluster> {
        &ctx.world.captclusters
    }

    /// A new CAPTCluster joins the trace of its cluster's control plane when that one started
    /// first (one trace per cluster).
    fn trace_peer(ctx: &SharedCtx, cc: &CAPTCluster) -> Option<opentelemetry::trace::SpanContext> {
        let ns = cc.namespace().unwrap_or_default();
        let w = &ctx.world;
        let cluster = owner_cluster(cc.meta()).and_then(|n| get(&w.clusters, &ns, n))?;
        let r = cluster.spec.control_plane_ref.as_ref()?;
        if r.kind.as_deref() != Some(Kind::CaptControlPlane.name()) {
            return None;
        }
        let cp = get(&w.controlplanes, &ns, r.name.as_deref()?)?;
        crate::telemetry::lineage::join(cc.meta(), cp.meta())
    }

    async fn plan(
        ctx: &SharedCtx,
        cc: &CAPTCluster,
        _rctx: &ReconcileCtx,
    ) -> Result<Plan<CAPTClusterStatus>, ControllerError> {
        let w = &ctx.world;
        let ns = cc.namespace().unwrap_or_default();
        let cluster_name = owner_cluster(cc.meta()).map(str::to_string);
        let cluster = cluster_name
            .as_deref()
            .and_then(|n| get(&w.clusters, &ns, n));
        let name = cc.name_any();
        let referrer = Referrer {
            kind: Self::KIND.name(),
            namespace: &ns,
            name: &name,
            on_behalf_of: None,
        };
        let refused = cc
            .spec
            .vpc_template_ref
            .as_ref()
            .and_then(|r| refusal(ctx, &referrer, r));
        let template_exists = match &cc.spec.vpc_template_ref {
            Some(_) if refused.is_some() => false,
            Some(r) => get(&w.templates, r.namespace_or(&ns), &r.name).is_some(),
            None => false,
        };
        let apply = get(&w.applies, &ns, &apply_name(cc));
        let workspace = apply
            .as_ref()
            .and_then(|a| a.status.as_ref()?.workspace_name.clone())
            .and_then(|n| get_cluster(&w.workspaces, &n));
        // The control plane of the same Cluster: by the Cluster's controlPlaneRef, else by name.
        let cp_name = cluster
            .as_ref()
            .and_then(|c| c.spec.control_plane_ref.as_ref()?.name.clone())
            .or_else(|| cc.labels().get(labels::CLUSTER_NAME).cloned())
            .unwrap_or_else(|| cc.name_any());
        let control_plane_exists = get(&w.controlplanes, &ns, &cp_name).is_some();
        let world = InfraWorld {
            cluster: cluster.as_deref(),
            template_exists,
            refused,
            apply: apply.as_deref(),
            workspace: workspace.as_deref(),
            control_plane_exists,
            now: now(),
        };
        Ok(decide(cc, &world))
    }
}
