//! CAPTControlPlane decisions: owner wait and pause, template check, the non-blocking EC2 Spot
//! service-linked-role flow, the EKS WorkspaceTemplateApply kept in step with the spec, status
//! from the EKS Workspace (endpoint host without scheme; `initialized` never goes back), the
//! timeouts, secret sync, and deletion. See docs/upstream-differences.md.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::SignedDuration;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::children::{ApplyIntent, delete_apply, ensure_apply, has_finalizer, owner_cluster};
use super::endpoint::discover;
use super::grants::{REF_NOT_PERMITTED, RefNotPermitted, TEMPLATE_REF_PERMITTED};
use super::ownership::controller_ref;
use super::plan::{Blocked, Op, Plan, Wait, deadline_timer};
use super::secret_sync::{ConnectionSecret, OwnedSecret, SyncWorld, sync};
use crate::api::kinds::Kind;
use crate::api::names::{
    conditions as ct, finalizers, messages, outputs, reasons, suffixes, templates, variables,
    with_suffix,
};
use crate::api::validation::eks_version;
use crate::api::{
    ApiEndpoint, CAPTControlPlane, CAPTControlPlaneStatus, Cluster, Condition, ControlPlanePhase,
    NamespacedName, SecretSyncState, TemplateRef, Workspace, WorkspaceRef, WorkspaceStatusMirror,
    WorkspaceTemplateApply, set_condition,
};
use crate::reconcile::outcome::TimerCmd;

pub const CONTROL_PLANE_TIMER: &str = "control-plane-timeout";
/// Condition type of the secret sync.
pub const SECRETS_READY: &str = "SecretsReady";

/// Terraform error texts that retrying the same spec will not fix.
const NON_RETRYABLE: [&str; 8] = [
    "InvalidParameterException",
    "InvalidParameterValue",
    "ValidationError",
    "UnsupportedAvailabilityZoneException",
    "AccessDenied",
    "UnauthorizedOperation",
    "ResourceLimitExceeded",
    "InvalidRequestException",
];

pub fn non_retryable(message: &str) -> bool {
    NON_RETRYABLE.iter().any(|p| message.contains(p))
}

pub struct CpWorld<'a> {
    pub cluster: Option<&'a Cluster>,
    pub template_exists: bool,
    /// The template reference is not permitted (see [`super::grants`]).
    pub refused: Option<RefNotPermitted>,
    pub eks_apply: Option<&'a WorkspaceTemplateApply>,
    pub eks_workspace: Option<&'a Workspace>,
    /// Name of the VPC Workspace of the same Cluster, when its apply exists.
    pub vpc_workspace: Option<String>,
    /// The Cluster's infrastructure is a CAPTCluster whose VPC is not known yet.
    pub vpc_pending: bool,
    /// When the VPC Workspace became Ready (its Ready condition's transition time), if it is.
    pub vpc_ready_since: Option<Time>,
    pub spot_check_template: bool,
    pub spot_create_template: bool,
    pub spot_check_apply: Option<&'a WorkspaceTemplateApply>,
    pub spot_check_workspace: Option<&'a Workspace>,
    pub spot_create_apply: Option<&'a WorkspaceTemplateApply>,
    /// Namespace of the `eks-kubeconfig-template`, when one exists (the control plane's, else the shared
    /// template namespace).
    pub kubeconfig_template_ns: Option<String>,
    pub kubeconfig_apply: Option<&'a WorkspaceTemplateApply>,
    pub connection: Option<&'a ConnectionSecret>,
    /// The version of the secret sync's sources in the caches (see
    /// [`super::secret_sources::source_version`]); `None` while the connection secret is missing.
    pub source_version: Option<String>,
    pub kubeconfig_secret: Option<OwnedSecret>,
    pub ca_secret: Option<OwnedSecret>,
    pub now: Time,
    /// Generated-token state (see [`super::token_refresh`]); `None`: the connection kubeconfig as validated.
    pub token: Option<super::token_refresh::TokenWorld>,
}

/// Name of the EKS apply: `spec.workspaceTemplateApplyName` or `<name>-eks-controlplane-apply`.
pub fn apply_name(cp: &CAPTControlPlane) -> String {
    cp.spec
        .workspace_template_apply_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| with_suffix(&cp.name_any(), suffixes::EKS_CONTROL_PLANE_APPLY))
}

/// Variables of the EKS apply (upstream names). `cluster_name` is the Cluster API Cluster's name, as
/// in every apply of the cluster (the template finds the VPC's secret from it), except that an
/// existing apply keeps the value it was created with: renaming would replace the EKS cluster.
pub fn eks_intent(
    cp: &CAPTControlPlane,
    cluster_name: &str,
    existing: Option<&WorkspaceTemplateApply>,
    vpc_workspace: Option<String>,
) -> ApplyIntent {
    let ns = cp.namespace().unwrap_or_default();
    let mut vars = std::collections::BTreeMap::new();
    let name = existing
        .and_then(|a| a.spec.variables.get(variables::CLUSTER_NAME))
        .cloned()
        .unwrap_or_else(|| cluster_name.to_string());
    vars.insert(variables::CLUSTER_NAME.to_string(), name);
    vars.insert(
        variables::KUBERNETES_VERSION.to_string(),
        eks_version(&cp.spec.version).unwrap_or_else(|| cp.spec.version.clone()),
    );
    if let Some(cfg) = &cp.spec.control_plane_config {
        vars.insert(variables::REGION.to_string(), cfg.region.clone());
        if let Some(a) = &cfg.endpoint_access {
            vars.insert(
                variables::ENDPOINT_PUBLIC_ACCESS.to_string(),
                a.public.to_string(),
            );
            vars.insert(
                variables::ENDPOINT_PRIVATE_ACCESS.to_string(),
                a.private.to_string(),
            );
        }
    }
    for (k, v) in &cp.spec.additional_tags {
        vars.insert(format!("{}{k}", variables::TAGS_PREFIX), v.clone());
    }
    ApplyIntent {
        template_ref: cp.spec.workspace_template_ref.clone(),
        variables: vars,
        write_connection_secret_to_ref: Some(NamespacedName::new(
            ns.clone(),
            with_suffix(&cp.name_any(), suffixes::EKS_CONNECTION),
        )),
        wait_for_workspaces: vpc_workspace
            .map(|name| {
                vec![WorkspaceRef {
                    name,
                    namespace: Some(ns),
                }]
            })
            .unwrap_or_default(),
        retain_workspace_on_delete: false,
    }
}

fn cond(type_: &str, ok: bool, reason: &str, msg: impl Into<String>, g: Option<i64>) -> Condition {
    Condition::new(type_, ok, reason, msg).with_observed_generation(g)
}

fn set_phase(
    st: &mut CAPTControlPlaneStatus,
    phase: ControlPlanePhase,
    ready_reason: &str,
    msg: &str,
    g: Option<i64>,
    now: &Time,
) {
    st.phase = Some(phase);
    let ready = phase == ControlPlanePhase::Ready;
    set_condition(
        &mut st.conditions,
        cond(ct::READY, ready, ready_reason, msg, g),
        now.clone(),
    );
    set_condition(
        &mut st.conditions,
        cond(
            ct::CREATING,
            phase == ControlPlanePhase::Creating,
            if phase == ControlPlanePhase::Creating {
                reasons::CREATING
            } else {
                ready_reason
            },
            msg,
            g,
        ),
        now.clone(),
    );
    let failed = phase == ControlPlanePhase::Failed;
    set_condition(
        &mut st.conditions,
        cond(
            ct::FAILED,
            failed,
            if failed { ready_reason } else { reasons::READY },
            if failed { msg } else { "" },
            g,
        ),
        now.clone(),
    );
}

fn spot_flow(
    cp: &CAPTControlPlane,
    cluster_name: &str,
    w: &CpWorld,
    plan: &mut Plan<CAPTControlPlaneStatus>,
) {
    let ns = cp.namespace().unwrap_or_default();
    if !w.spot_check_template {
        return;
    }
    let check = ApplyIntent {
        template_ref: TemplateRef::new(templates::SPOT_ROLE_CHECK, Some(ns.clone())),
        ..Default::default()
    };
    let check_name = with_suffix(&cp.name_any(), suffixes::SPOT_ROLE_CHECK);
    if let Some(op) = ensure_apply(cp, cluster_name, &check_name, w.spot_check_apply, &check) {
        plan.op(op);
    }
    let Some(ws) = w.spot_check_workspace.filter(|ws| ws.is_ready()) else {
        return;
    };
    if ws.output(outputs::ROLE_EXISTS) == Some(&json!(true)) || !w.spot_create_template {
        return;
    }
    // The role is account-wide: never destroy it with one cluster.
    let create = ApplyIntent {
        template_ref: TemplateRef::new(templates::SPOT_ROLE_CREATE, Some(ns)),
        retain_workspace_on_delete: true,
        ..Default::default()
    };
    let create_name = with_suffix(&cp.name_any(), suffixes::SPOT_ROLE_CREATE);
    if let Some(op) = ensure_apply(cp, cluster_name, &create_name, w.spot_create_apply, &create) {
        plan.op(op);
    }
}

fn deletion(cp: &CAPTControlPlane, w: &CpWorld) -> Plan<CAPTControlPlaneStatus> {
    let mut plan = Plan::default();
    if !has_finalizer(cp.meta(), finalizers::CAPT_CONTROL_PLANE) {
        return plan;
    }
    let ns = cp.namespace().unwrap_or_default();
    if let Some(a) = w
        .spot_check_apply
        .filter(|a| a.meta().deletion_timestamp.is_none())
    {
        plan.op(delete_apply(&ns, &a.name_any()));
    }
    match w.eks_apply {
        Some(a) => {
            if a.meta().deletion_timestamp.is_none() {
                plan.op(delete_apply(&ns, &a.name_any()));
                plan.normal(
                    "DeletingControlPlane",
                    "Deleting the EKS control plane workspace",
                );
            }
            plan.block(Blocked::waiting(
                "WaitingForWorkspaceDeletion",
                "waiting for the EKS workspace to be destroyed",
            ));
        }
        None => match w.kubeconfig_apply {
            Some(a) => {
                if a.meta().deletion_timestamp.is_none() {
                    plan.op(delete_apply(&ns, &a.name_any()));
                }
                plan.block(Blocked::waiting(
                    "WaitingForWorkspaceDeletion",
                    "waiting for the kubeconfig workspace to be deleted",
                ));
            }
            None => {
                plan.op(Op::RemoveFinalizer(finalizers::CAPT_CONTROL_PLANE));
            }
        },
    }
    plan
}

/// The upstream kubeconfig apply (`<cp>-kubeconfig-apply`), created when its template exists and the
/// control plane is up; its outputs secret lands in the control plane's namespace.
fn kubeconfig_apply(
    cp: &CAPTControlPlane,
    cluster_name: &str,
    w: &CpWorld,
    endpoint: &str,
    plan: &mut Plan<CAPTControlPlaneStatus>,
) {
    let (Some(tns), Some(conn)) = (&w.kubeconfig_template_ns, w.connection) else {
        return;
    };
    let Some(ca) = conn
        .data
        .get(crate::api::names::secrets::CLUSTER_CA_DATA_KEY)
    else {
        return;
    };
    let ns = cp.namespace().unwrap_or_default();
    let region = cp.spec.region().map(str::to_string).or_else(|| {
        w.cluster
            .and_then(|c| c.region_annotation())
            .map(str::to_string)
    });
    let Some(region) = region else { return };
    let eks_ws = w
        .eks_apply
        .and_then(|a| a.status.as_ref()?.workspace_name.clone());
    let intent = ApplyIntent {
        template_ref: TemplateRef::new(templates::EKS_KUBECONFIG, Some(tns.clone())),
        variables: [
            (
                variables::CLUSTER_NAME.to_string(),
                cluster_name.to_string(),
            ),
            (variables::REGION.to_string(), region),
            (
                variables::CLUSTER_ENDPOINT.to_string(),
                endpoint.to_string(),
            ),
            (
                variables::CLUSTER_CA_DATA.to_string(),
                String::from_utf8_lossy(ca).into_owned(),
            ),
        ]
        .into(),
        write_connection_secret_to_ref: Some(NamespacedName::new(
            ns.clone(),
            with_suffix(cluster_name, suffixes::OUTPUTS_KUBECONFIG),
        )),
        wait_for_workspaces: eks_ws
            .map(|name| {
                vec![WorkspaceRef {
                    name,
                    namespace: Some(ns),
                }]
            })
            .unwrap_or_default(),
        retain_workspace_on_delete: false,
    };
    let name = with_suffix(&cp.name_any(), suffixes::KUBECONFIG_APPLY);
    if let Some(op) = ensure_apply(cp, cluster_name, &name, w.kubeconfig_apply, &intent) {
        plan.op(op);
    }
}

/// The deadline the control plane is held to while it is not up.
struct Deadline {
    at: k8s_openapi::jiff::Timestamp,
    reason: &'static str,
    limit: Duration,
    what: &'static str,
}

impl Deadline {
    fn message(&self) -> String {
        format!(
            "{} not ready within {} minutes",
            self.what,
            self.limit.as_secs() / 60
        )
    }

    /// Past the deadline: phase `Failed` with the deadline's reason (a condition, never
    /// failureReason) and one Warning Event when it first happens.
    fn fail(
        &self,
        st: &mut CAPTControlPlaneStatus,
        observed: &CAPTControlPlaneStatus,
        g: Option<i64>,
        now: &Time,
        plan: &mut Plan<CAPTControlPlaneStatus>,
    ) {
        let m = self.message();
        set_phase(st, ControlPlanePhase::Failed, self.reason, &m, g, now);
        let already = observed
            .conditions
            .iter()
            .any(|c| c.type_ == ct::FAILED && c.reason == self.reason);
        if !already {
            plan.warning(self.reason, m);
        }
    }
}

/// `vpcReadyTimeout` from creation while the VPC the control plane depends on is not ready; once it
/// is, `controlPlaneTimeout` from the moment it became ready (from creation without a VPC dependency).
fn control_plane_deadline(cp: &CAPTControlPlane, w: &CpWorld) -> Deadline {
    let timeouts = cp.spec.timeouts();
    let created = cp
        .meta()
        .creation_timestamp
        .clone()
        .map(|t| t.0)
        .unwrap_or(w.now.0);
    let after = |from: k8s_openapi::jiff::Timestamp, d: Duration| {
        from + SignedDuration::try_from(d).unwrap_or_default()
    };
    let waits_for_vpc = w.vpc_pending || w.vpc_workspace.is_some();
    match (&w.vpc_ready_since, waits_for_vpc) {
        (None, true) => Deadline {
            at: after(created, timeouts.vpc_ready()),
            reason: reasons::VPC_READY_TIMEOUT,
            limit: timeouts.vpc_ready(),
            what: "VPC",
        },
        (since, _) => Deadline {
            at: after(
                since.as_ref().map(|t| t.0).unwrap_or(created).max(created),
                timeouts.control_plane(),
            ),
            reason: reasons::CONTROL_PLANE_TIMEOUT,
            limit: timeouts.control_plane(),
            what: "Control plane",
        },
    }
}

/// The Cluster's infrastructure when it is a CAPTCluster: `None` for another kind (or none),
/// `Some(None)` when it names a CAPTCluster `captcluster` does not find (not cached yet).
#[allow(clippy::option_option)]
pub fn infrastructure_captcluster(
    cluster: &Cluster,
    captcluster: &dyn Fn(&str) -> Option<std::sync::Arc<crate::api::CAPTCluster>>,
) -> Option<Option<std::sync::Arc<crate::api::CAPTCluster>>> {
    let r = cluster.spec.infrastructure_ref.as_ref()?;
    if r.kind.as_deref() != Some(Kind::CaptCluster.name()) {
        return None;
    }
    Some(r.name.as_deref().and_then(captcluster))
}

/// The VPC Workspace the EKS Workspace waits for: `(name, pending)`, given the Cluster and lookups
/// of CAPTClusters and applies in its namespace. `pending` when the Cluster's infrastructure is a
/// CAPTCluster not cached yet (its VPC is not known, so nothing may start); no dependency when the
/// infrastructure is another kind or uses an existing VPC.
pub fn vpc_dependency(
    cluster: Option<&Cluster>,
    captcluster: &dyn Fn(&str) -> Option<std::sync::Arc<crate::api::CAPTCluster>>,
    apply: &dyn Fn(&str) -> Option<std::sync::Arc<WorkspaceTemplateApply>>,
) -> (Option<String>, bool) {
    let Some(found) = cluster.and_then(|c| infrastructure_captcluster(c, captcluster)) else {
        return (None, false);
    };
    let Some(cc) = found else {
        return (None, true);
    };
    if cc.spec.vpc_template_ref.is_none() {
        return (None, false);
    }
    let apply_name = super::infra::apply_name(&cc);
    let name = apply(&apply_name)
        .and_then(|a| a.status.as_ref()?.workspace_name.clone())
        .unwrap_or_else(|| crate::api::names::workspace_name_for_apply(&apply_name).to_string());
    (Some(name), false)
}

pub fn decide(cp: &CAPTControlPlane, w: &CpWorld) -> Plan<CAPTControlPlaneStatus> {
    let mut plan = decide_writes(cp, w);
    plan.waits = waits(cp, w);
    plan
}

/// What the control plane waits for, whatever the decision: its WorkspaceTemplate while absent
/// (and not refused), and its Cluster's CAPTCluster while that is not cached (nothing else wakes
/// the control plane when it appears, e.g. on a replica its cluster was just moved to).
pub fn waits(cp: &CAPTControlPlane, w: &CpWorld) -> Vec<Wait> {
    let mut plan = Plan::<()>::default();
    let ns = cp.namespace().unwrap_or_default();
    if !w.template_exists && w.refused.is_none() {
        let r = &cp.spec.workspace_template_ref;
        plan.wait_for(Kind::WorkspaceTemplate, r.namespace_or(&ns), &r.name);
    }
    let infra = (w.cluster)
        .and_then(|c| c.spec.infrastructure_ref.as_ref())
        .and_then(|r| r.name.as_deref());
    if w.vpc_pending
        && let Some(name) = infra
    {
        plan.wait_for(Kind::CaptCluster, &ns, name);
    }
    plan.waits
}

#[path = "controlplane_steps.rs"]
mod steps;
use steps::decide_writes;

#[cfg(test)]
#[path = "controlplane_tests.rs"]
mod tests;
