//! CAPTControlPlane at the actor edge: caches, plus a read of the connection secret's data when
//! the sync needs it (Secrets are cached metadata-only).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use opentelemetry::trace::SpanContext;

use super::context::{SharedCtx, now};
use super::error::ControllerError;
use super::generic::Decide;
use super::grants::refusal;
use super::world::{get, get_cluster};
use crate::actors::ReconcileCtx;
use crate::api::kinds::Kind;
use crate::api::names::{outputs, secrets, suffixes, templates, with_suffix};
use crate::api::{CAPTControlPlane, CAPTControlPlaneStatus, SecretSyncState};

use crate::reconcile::children::owner_cluster;
use crate::reconcile::controlplane::{
    ConnectionNeeds, CpWorld, apply_name, decide, secret_sync_settled, source_version,
};
use crate::reconcile::grants::Referrer;
use crate::reconcile::ownership::DATA_HASH_ANNOTATION;
use crate::reconcile::plan::Plan;
use crate::reconcile::secret_sync::{ConnectionSecret, OwnedSecret};
use crate::telemetry::lineage::{self, Lineage, Phase};

pub struct ControlPlane;

fn owned(ctx: &SharedCtx, ns: &str, name: &str) -> Option<OwnedSecret> {
    get(&ctx.world.secrets, ns, name).map(|s| OwnedSecret {
        data_hash: s.annotations().get(DATA_HASH_ANNOTATION).cloned(),
    })
}

async fn fetch_secret(
    ctx: &SharedCtx,
    ns: &str,
    name: &str,
) -> Result<Option<ConnectionSecret>, ControllerError> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let s = api
        .get_opt(name)
        .await
        .map_err(|e| ControllerError::api(format!("read secret {ns}/{name}"), e))?;
    Ok(s.map(|s| ConnectionSecret {
        resource_version: s.resource_version().unwrap_or_default(),
        data: s
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect::<BTreeMap<_, _>>(),
    }))
}

/// The CAPTCluster of the control plane's Cluster: `None` while its Cluster is not known,
/// `Some(None)` when its infrastructure is not a cached CAPTCluster.
#[allow(clippy::option_option)]
fn infra_of(
    ctx: &SharedCtx,
    cp: &CAPTControlPlane,
) -> Option<Option<Arc<crate::api::CAPTCluster>>> {
    let ns = cp.namespace().unwrap_or_default();
    let w = &ctx.world;
    // Before Cluster API sets the owner, the Cluster of the same name that names this control
    // plane (the usual layout) is taken.
    let cluster = match owner_cluster(cp.meta()) {
        Some(n) => get(&w.clusters, &ns, n),
        None => get(&w.clusters, &ns, &cp.name_any()).filter(|c| {
            c.spec.control_plane_ref.as_ref().is_some_and(|r| {
                r.kind.as_deref() == Some(Kind::CaptControlPlane.name())
                    && r.name.as_deref() == Some(cp.name_any().as_str())
            })
        }),
    }?;
    let lookup = |name: &str| get(&w.captclusters, &ns, name);
    Some(crate::reconcile::controlplane::infrastructure_captcluster(&cluster, &lookup).flatten())
}

/// The VPC Workspace the EKS Workspace waits for, from the caches (see
/// [`crate::reconcile::controlplane::vpc_dependency`]).
fn vpc_dependency(
    ctx: &SharedCtx,
    ns: &str,
    cluster: Option<&crate::api::Cluster>,
) -> (Option<String>, bool) {
    let w = &ctx.world;
    crate::reconcile::controlplane::vpc_dependency(
        cluster,
        &|name| get(&w.captclusters, ns, name),
        &|name| get(&w.applies, ns, name),
    )
}

impl Decide for ControlPlane {
    type K = CAPTControlPlane;
    type Status = CAPTControlPlaneStatus;
    const KIND: Kind = Kind::CaptControlPlane;

    fn store(ctx: &SharedCtx) -> &Store<CAPTControlPlane> {
        &ctx.world.controlplanes
    }

    /// A new control plane joins the trace of its cluster's CAPTCluster (one trace per cluster).
    fn trace_peer(ctx: &SharedCtx, cp: &CAPTControlPlane) -> Option<SpanContext> {
        match infra_of(ctx, cp)? {
            Some(cc) => lineage::join(cp.meta(), cc.meta()),
            None => None,
        }
    }

    /// The CAPTCluster starts a cluster's trace (at its first reconcile, before it creates its
    /// apply): a new control plane records its own only once it has joined that one, or when
    /// there is none to join (an update, another infrastructure kind, no CAPTCluster). Until its
    /// Cluster owns it, it cannot tell.
    fn records_trace(ctx: &SharedCtx, cp: &CAPTControlPlane) -> bool {
        let updating = matches!(
            lineage::lineage(cp.meta()),
            Lineage::Root { step } if step.phase == Phase::Update
        );
        match infra_of(ctx, cp) {
            None => false,
            Some(None) => true,
            Some(Some(cc)) => updating || lineage::join(cp.meta(), cc.meta()).is_some(),
        }
    }

    async fn plan(
        ctx: &SharedCtx,
        cp: &CAPTControlPlane,
        rctx: &ReconcileCtx,
    ) -> Result<Plan<CAPTControlPlaneStatus>, ControllerError> {
        let w = &ctx.world;
        let ns = cp.namespace().unwrap_or_default();
        let name = cp.name_any();
        let cluster = owner_cluster(cp.meta()).and_then(|n| get(&w.clusters, &ns, n));
        let cluster_name = cluster
            .as_ref()
            .map(|c| c.name_any())
            .unwrap_or_else(|| name.clone());
        let tref = &cp.spec.workspace_template_ref;
        let referrer = Referrer {
            kind: Self::KIND.name(),
            namespace: &ns,
            name: &name,
            on_behalf_of: None,
        };
        let refused = refusal(ctx, &referrer, tref);
        let template_exists =
            refused.is_none() && get(&w.templates, tref.namespace_or(&ns), &tref.name).is_some();
        let eks_apply = get(&w.applies, &ns, &apply_name(cp));
        let ws_of = |a: &Option<std::sync::Arc<crate::api::WorkspaceTemplateApply>>| {
            a.as_ref()
                .and_then(|a| a.status.as_ref()?.workspace_name.clone())
                .and_then(|n| get_cluster(&w.workspaces, &n))
        };
        let eks_workspace = ws_of(&eks_apply);
        // The VPC of the same Cluster, which the EKS Workspace must wait for.
        let (vpc_workspace, vpc_pending) = vpc_dependency(ctx, &ns, cluster.as_deref());
        let vpc_ready_since = vpc_workspace
            .as_deref()
            .and_then(|n| get_cluster(&w.workspaces, n))
            .filter(|ws| ws.is_ready())
            .and_then(|ws| ws.ready_condition()?.last_transition_time.clone());
        let spot_check_apply = get(
            &w.applies,
            &ns,
            &with_suffix(&name, suffixes::SPOT_ROLE_CHECK),
        );
        let spot_check_workspace = ws_of(&spot_check_apply);
        let spot_create_apply = get(
            &w.applies,
            &ns,
            &with_suffix(&name, suffixes::SPOT_ROLE_CREATE),
        );
        let kubeconfig_template_ns = [ns.as_str(), ctx.shared_template_namespace.as_str()]
            .into_iter()
            .find(|tns| get(&w.templates, tns, templates::EKS_KUBECONFIG).is_some())
            .map(str::to_string);
        let kubeconfig_apply = get(
            &w.applies,
            &ns,
            &with_suffix(&name, suffixes::KUBECONFIG_APPLY),
        );

        // The connection secret's data is read only when a decision needs it.
        let conn_name = with_suffix(&name, suffixes::EKS_CONNECTION);
        let conn_meta = get(&w.secrets, &ns, &conn_name);
        // Upstream's kubeconfig source: the kubeconfig Workspace's outputs secret.
        let outputs_name = with_suffix(&cluster_name, suffixes::OUTPUTS_KUBECONFIG);
        let outputs_meta = get(&w.secrets, &ns, &outputs_name);
        let source_version = conn_meta.as_ref().map(|c| {
            source_version(
                &c.resource_version().unwrap_or_default(),
                outputs_meta
                    .as_ref()
                    .and_then(|o| o.resource_version())
                    .as_deref(),
            )
        });
        let kubeconfig_name = with_suffix(&cluster_name, suffixes::KUBECONFIG);
        let kubeconfig_secret = owned(ctx, &ns, &kubeconfig_name);
        let kubeconfig_meta = get(&w.secrets, &ns, &kubeconfig_name);
        let mut token = super::tokens::observe(ctx, cp, &rctx.key, kubeconfig_meta.as_deref());
        let token_due = token.as_ref().is_some_and(|t| t.due(now().0));
        let ca_secret = owned(ctx, &ns, &with_suffix(&cluster_name, suffixes::CA));
        let sync = cp.status.as_ref().and_then(|s| s.secret_sync.as_ref());
        let settled = secret_sync_settled(
            sync,
            source_version.as_deref(),
            kubeconfig_secret.is_some() && ca_secret.is_some(),
        );
        let needed = ConnectionNeeds {
            settled,
            kubeconfig_apply_missing: kubeconfig_template_ns.is_some()
                && kubeconfig_apply.is_none(),
            endpoint_in_outputs: eks_workspace
                .as_ref()
                .is_some_and(|ws| ws.output_str(outputs::CLUSTER_ENDPOINT).is_some()),
        }
        .fetch()
            || token_due;
        let started = Instant::now();
        let connection = match (&source_version, needed) {
            (Some(version), true) => {
                let mut c = fetch_secret(ctx, &ns, &conn_name).await?;
                if let Some(c) = c.as_mut() {
                    c.resource_version = version.clone();
                    if !c.data.contains_key(secrets::KUBECONFIG_KEY) && outputs_meta.is_some() {
                        let upstream = fetch_secret(ctx, &ns, &outputs_name).await?;
                        if let Some(kc) =
                            upstream.and_then(|mut u| u.data.remove(secrets::KUBECONFIG_KEY))
                        {
                            c.data.insert(secrets::KUBECONFIG_KEY.to_string(), kc);
                        }
                    }
                }
                c
            }
            _ => None,
        };
        if let Some(tw) = token.as_mut()
            && (token_due || (connection.is_some() && !settled))
        {
            super::tokens::refresh(ctx, cp, tw, &cluster_name, token_due).await;
        }
        let world = CpWorld {
            cluster: cluster.as_deref(),
            template_exists,
            refused,
            eks_apply: eks_apply.as_deref(),
            eks_workspace: eks_workspace.as_deref(),
            vpc_workspace,
            vpc_pending,
            vpc_ready_since,
            spot_check_template: get(&w.templates, &ns, templates::SPOT_ROLE_CHECK).is_some(),
            spot_create_template: get(&w.templates, &ns, templates::SPOT_ROLE_CREATE).is_some(),
            spot_check_apply: spot_check_apply.as_deref(),
            spot_check_workspace: spot_check_workspace.as_deref(),
            spot_create_apply: spot_create_apply.as_deref(),
            kubeconfig_template_ns,
            kubeconfig_apply: kubeconfig_apply.as_deref(),
            connection: connection.as_ref(),
            connection_unchanged: settled,
            kubeconfig_secret,
            ca_secret,
            now: now(),
            token,
        };
        let plan = decide(cp, &world);
        let before = sync.map(|s| (s.state, s.reason.clone()));
        if let Some(after) = plan.status.as_ref().and_then(|s| s.secret_sync.as_ref())
            && before != Some((after.state, after.reason.clone()))
        {
            let result = match after.state {
                SecretSyncState::Ready => "success",
                SecretSyncState::Failed => "error",
                _ => "pending",
            };
            ctx.metrics.secret_sync(
                result,
                after.reason.as_deref().unwrap_or_default(),
                started.elapsed(),
            );
        }
        Ok(plan)
    }
}
