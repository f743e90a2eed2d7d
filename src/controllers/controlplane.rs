//! CAPTControlPlane at the actor edge: caches, plus a read of the connection secret's data when
//! the sync needs it (Secrets are cached metadata-only).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::PartialObjectMeta;
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
use crate::api::names::{secrets, suffixes, templates, with_suffix};
use crate::api::{
    CAPTControlPlane, CAPTControlPlaneStatus, Cluster, SecretSyncState, Workspace,
    WorkspaceTemplateApply,
};

use crate::reconcile::children::owner_cluster;
use crate::reconcile::controlplane::{CpWorld, apply_name, decide};
use crate::reconcile::grants::{RefNotPermitted, Referrer};
use crate::reconcile::ownership::DATA_HASH_ANNOTATION;
use crate::reconcile::plan::Plan;
use crate::reconcile::secret_sources::{reads_connection, signs_token, source_version, token_due};
use crate::reconcile::secret_sync::{ConnectionSecret, OwnedSecret};
use crate::reconcile::token_refresh::TokenWorld;
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

/// What the control plane's Cluster has as its infrastructure, as far as the caches tell.
enum Infra {
    /// The Cluster is not known yet.
    NoCluster,
    /// Another kind, or none.
    Other,
    /// A CAPTCluster the cache does not hold yet.
    Pending,
    Found(Arc<crate::api::CAPTCluster>),
}

fn infra_of(ctx: &SharedCtx, cp: &CAPTControlPlane) -> Infra {
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
    };
    let Some(cluster) = cluster else {
        return Infra::NoCluster;
    };
    let lookup = |name: &str| get(&w.captclusters, &ns, name);
    match crate::reconcile::controlplane::infrastructure_captcluster(&cluster, &lookup) {
        None => Infra::Other,
        Some(None) => Infra::Pending,
        Some(Some(cc)) => Infra::Found(cc),
    }
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
        match infra_of(ctx, cp) {
            Infra::Found(cc) => lineage::join(cp.meta(), cc.meta()),
            _ => None,
        }
    }

    /// The CAPTCluster starts a cluster's trace (at its first reconcile, before it creates its
    /// apply): a new control plane records its own only once it has joined that one, or when
    /// there is none to join (an update, another infrastructure kind). Until its Cluster owns it,
    /// it cannot tell; a CAPTCluster the Cluster names but the cache does not hold yet will start
    /// the trace, so the control plane waits for it too.
    fn records_trace(ctx: &SharedCtx, cp: &CAPTControlPlane) -> bool {
        let updating = matches!(
            lineage::lineage(cp.meta()),
            Lineage::Root { step } if step.phase == Phase::Update
        );
        match infra_of(ctx, cp) {
            Infra::NoCluster | Infra::Pending => false,
            Infra::Other => true,
            Infra::Found(cc) => updating || lineage::join(cp.meta(), cc.meta()).is_some(),
        }
    }

    async fn plan(
        ctx: &SharedCtx,
        cp: &CAPTControlPlane,
        rctx: &ReconcileCtx,
    ) -> Result<Plan<CAPTControlPlaneStatus>, ControllerError> {
        let c = Cached::read(ctx, cp);
        let token =
            super::tokens::observe(ctx, cp, &rctx.key, c.secrets.kubeconfig_meta.as_deref());
        let mut world = c.world(token);
        let started = Instant::now();
        let connection = match &world.source_version {
            Some(version) if reads_connection(cp, &world) => {
                read_connection(ctx, &c, version.clone()).await?
            }
            _ => None,
        };
        world.connection = connection.as_ref();
        if signs_token(cp, &world) {
            let due = token_due(&world);
            if let Some(tw) = world.token.as_mut() {
                super::tokens::refresh(ctx, cp, tw, &c.cluster_name, due).await;
            }
        }
        // The decision's clock is read once the reads are done.
        world.now = now();
        let plan = decide(cp, &world);
        record_secret_sync(ctx, cp, &plan, started);
        Ok(plan)
    }
}

/// Counts a secret sync whose state or reason the plan changes.
fn record_secret_sync(
    ctx: &SharedCtx,
    cp: &CAPTControlPlane,
    plan: &Plan<CAPTControlPlaneStatus>,
    started: Instant,
) {
    let sync = cp.status.as_ref().and_then(|s| s.secret_sync.as_ref());
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
}

/// The connection secret's data at the cached `version` of the sync's sources; its kubeconfig
/// comes from upstream's outputs secret when it has none.
async fn read_connection(
    ctx: &SharedCtx,
    c: &Cached,
    version: String,
) -> Result<Option<ConnectionSecret>, ControllerError> {
    let s = &c.secrets;
    let Some(mut conn) = fetch_secret(ctx, &c.ns, &s.connection_name).await? else {
        return Ok(None);
    };
    conn.resource_version = version;
    if !conn.data.contains_key(secrets::KUBECONFIG_KEY) && s.outputs_kubeconfig_exists {
        let upstream = fetch_secret(ctx, &c.ns, &s.outputs_kubeconfig_name).await?;
        if let Some(kc) = upstream.and_then(|mut u| u.data.remove(secrets::KUBECONFIG_KEY)) {
            conn.data.insert(secrets::KUBECONFIG_KEY.to_string(), kc);
        }
    }
    Ok(Some(conn))
}

type ApplyRef = Option<Arc<WorkspaceTemplateApply>>;

/// What the caches hold for one control plane's decision, owned so the world can borrow it.
struct Cached {
    ns: String,
    cluster: Option<Arc<Cluster>>,
    cluster_name: String,
    refused: Option<RefNotPermitted>,
    template_exists: bool,
    eks_apply: ApplyRef,
    eks_workspace: Option<Arc<Workspace>>,
    vpc_workspace: Option<String>,
    vpc_pending: bool,
    vpc_ready_since: Option<Time>,
    spot_check_template: bool,
    spot_create_template: bool,
    spot_check_apply: ApplyRef,
    spot_check_workspace: Option<Arc<Workspace>>,
    spot_create_apply: ApplyRef,
    kubeconfig_template_ns: Option<String>,
    kubeconfig_apply: ApplyRef,
    secrets: SecretSources,
}

impl Cached {
    fn read(ctx: &SharedCtx, cp: &CAPTControlPlane) -> Self {
        let w = &ctx.world;
        let ns = cp.namespace().unwrap_or_default();
        let name = cp.name_any();
        let cluster = owner_cluster(cp.meta()).and_then(|n| get(&w.clusters, &ns, n));
        let cluster_name = cluster
            .as_ref()
            .map(|c| c.name_any())
            .unwrap_or_else(|| name.clone());
        let (refused, template_exists) = template(ctx, cp, &ns);
        let apply = |suffix| get(&w.applies, &ns, &with_suffix(&name, suffix));
        let ws_of = |a: &ApplyRef| {
            a.as_ref()
                .and_then(|a| a.status.as_ref()?.workspace_name.clone())
                .and_then(|n| get_cluster(&w.workspaces, &n))
        };
        let eks_apply = get(&w.applies, &ns, &apply_name(cp));
        // The VPC of the same Cluster, which the EKS Workspace must wait for.
        let (vpc_workspace, vpc_pending) = vpc_dependency(ctx, &ns, cluster.as_deref());
        let vpc_ready_since = vpc_workspace
            .as_deref()
            .and_then(|n| get_cluster(&w.workspaces, n))
            .filter(|ws| ws.is_ready())
            .and_then(|ws| ws.ready_condition()?.last_transition_time.clone());
        let spot_check_apply = apply(suffixes::SPOT_ROLE_CHECK);
        let kubeconfig_template_ns = [ns.as_str(), ctx.shared_template_namespace.as_str()]
            .into_iter()
            .find(|tns| get(&w.templates, tns, templates::EKS_KUBECONFIG).is_some())
            .map(str::to_string);
        Self {
            eks_workspace: ws_of(&eks_apply),
            eks_apply,
            vpc_workspace,
            vpc_pending,
            vpc_ready_since,
            spot_check_template: get(&w.templates, &ns, templates::SPOT_ROLE_CHECK).is_some(),
            spot_create_template: get(&w.templates, &ns, templates::SPOT_ROLE_CREATE).is_some(),
            spot_check_workspace: ws_of(&spot_check_apply),
            spot_check_apply,
            spot_create_apply: apply(suffixes::SPOT_ROLE_CREATE),
            kubeconfig_template_ns,
            kubeconfig_apply: apply(suffixes::KUBECONFIG_APPLY),
            secrets: SecretSources::read(ctx, &ns, &name, &cluster_name),
            ns,
            cluster,
            cluster_name,
            refused,
            template_exists,
        }
    }

    /// The decision's world; the connection secret's data is added once read.
    fn world(&self, token: Option<TokenWorld>) -> CpWorld<'_> {
        CpWorld {
            cluster: self.cluster.as_deref(),
            template_exists: self.template_exists,
            refused: self.refused.clone(),
            eks_apply: self.eks_apply.as_deref(),
            eks_workspace: self.eks_workspace.as_deref(),
            vpc_workspace: self.vpc_workspace.clone(),
            vpc_pending: self.vpc_pending,
            vpc_ready_since: self.vpc_ready_since.clone(),
            spot_check_template: self.spot_check_template,
            spot_create_template: self.spot_create_template,
            spot_check_apply: self.spot_check_apply.as_deref(),
            spot_check_workspace: self.spot_check_workspace.as_deref(),
            spot_create_apply: self.spot_create_apply.as_deref(),
            kubeconfig_template_ns: self.kubeconfig_template_ns.clone(),
            kubeconfig_apply: self.kubeconfig_apply.as_deref(),
            connection: None,
            source_version: self.secrets.source_version.clone(),
            kubeconfig_secret: self.secrets.kubeconfig_secret.clone(),
            ca_secret: self.secrets.ca_secret.clone(),
            now: now(),
            token,
        }
    }
}

/// Whether the control plane's template reference is refused, and whether its template exists.
fn template(ctx: &SharedCtx, cp: &CAPTControlPlane, ns: &str) -> (Option<RefNotPermitted>, bool) {
    let name = cp.name_any();
    let tref = &cp.spec.workspace_template_ref;
    let referrer = Referrer {
        kind: ControlPlane::KIND.name(),
        namespace: ns,
        name: &name,
        on_behalf_of: None,
    };
    let refused = refusal(ctx, &referrer, tref);
    let exists =
        refused.is_none() && get(&ctx.world.templates, tref.namespace_or(ns), &tref.name).is_some();
    (refused, exists)
}

/// The secret sync's sources and outputs as the metadata-only Secret cache shows them.
struct SecretSources {
    connection_name: String,
    /// Upstream's kubeconfig source: the kubeconfig Workspace's outputs secret.
    outputs_kubeconfig_name: String,
    outputs_kubeconfig_exists: bool,
    source_version: Option<String>,
    kubeconfig_meta: Option<Arc<PartialObjectMeta<Secret>>>,
    kubeconfig_secret: Option<OwnedSecret>,
    ca_secret: Option<OwnedSecret>,
}

impl SecretSources {
    fn read(ctx: &SharedCtx, ns: &str, name: &str, cluster_name: &str) -> Self {
        let w = &ctx.world;
        let connection_name = with_suffix(name, suffixes::EKS_CONNECTION);
        let outputs_kubeconfig_name = with_suffix(cluster_name, suffixes::OUTPUTS_KUBECONFIG);
        let outputs_meta = get(&w.secrets, ns, &outputs_kubeconfig_name);
        let source_version = get(&w.secrets, ns, &connection_name).map(|c| {
            source_version(
                &c.resource_version().unwrap_or_default(),
                outputs_meta
                    .as_ref()
                    .and_then(|o| o.resource_version())
                    .as_deref(),
            )
        });
        let kubeconfig_name = with_suffix(cluster_name, suffixes::KUBECONFIG);
        Self {
            connection_name,
            outputs_kubeconfig_name,
            outputs_kubeconfig_exists: outputs_meta.is_some(),
            source_version,
            kubeconfig_meta: get(&w.secrets, ns, &kubeconfig_name),
            kubeconfig_secret: owned(ctx, ns, &kubeconfig_name),
            ca_secret: owned(ctx, ns, &with_suffix(cluster_name, suffixes::CA)),
        }
    }
}
