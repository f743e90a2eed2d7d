//! CAPTCluster decisions: wait for the owner Cluster (B-1, B-16), honour pause, validate, then
//! either adopt an existing VPC or create the VPC through a WorkspaceTemplateApply and report its
//! readiness, id and failure domains; on deletion wait for the control plane, then delete or
//! really retain (B-3) the VPC.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::SignedDuration;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::children::{ApplyIntent, delete_apply, ensure_apply, has_finalizer, owner_cluster};
use super::grants::{REF_NOT_PERMITTED, RefNotPermitted};
use super::plan::{Blocked, Op, Plan, Wait, deadline_timer};
use crate::api::kinds::Kind;
use crate::api::names::{
    conditions as ct, finalizers, labels, messages, reasons, suffixes, variables, with_suffix,
};
use crate::api::{
    CAPTCluster, CAPTClusterStatus, Cluster, ClusterWorkspaceTemplateStatus, Condition, VpcSource,
    Workspace, WorkspaceTemplateApply, find_condition, remove_condition, set_condition,
};
use crate::reconcile::outcome::TimerCmd;

/// VPC creation timeout (seed: 15 minutes).
pub const VPC_TIMEOUT: Duration = Duration::from_secs(15 * 60);
pub const VPC_TIMER: &str = "vpc-timeout";

pub struct InfraWorld<'a> {
    /// The owner Cluster from the cache, when the ownerReference names one that exists.
    pub cluster: Option<&'a Cluster>,
    /// The referenced VPC WorkspaceTemplate exists.
    pub template_exists: bool,
    /// The template reference is not permitted (see [`super::grants`]).
    pub refused: Option<RefNotPermitted>,
    /// The VPC apply, if it exists.
    pub apply: Option<&'a WorkspaceTemplateApply>,
    /// The VPC Workspace, if it exists.
    pub workspace: Option<&'a Workspace>,
    /// A control plane of the same Cluster still exists (deletion waits for it).
    pub control_plane_exists: bool,
    pub now: Time,
}

/// Name of the VPC apply: `spec.workspaceTemplateApplyName` or `<name>-vpc`.
/// Name of the VPC apply: `spec.workspaceTemplateApplyName`, else `<cluster>-vpc` named after the
/// Cluster API Cluster (its `cluster.x-k8s.io/cluster-name` label, else the CAPTCluster's own name),
/// so that templates find the VPC's outputs from the cluster name alone, also when ClusterClass
/// gives the CAPTCluster a generated name.
pub fn apply_name(cc: &CAPTCluster) -> String {
    cc.spec
        .workspace_template_apply_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            let base = cc
                .labels()
                .get(labels::CLUSTER_NAME)
                .filter(|n| !n.is_empty())
                .cloned()
                .unwrap_or_else(|| cc.name_any());
            with_suffix(&base, suffixes::VPC)
        })
}

fn gen_condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: impl Into<String>,
    gen_: Option<i64>,
) -> Condition {
    Condition::new(type_, ok, reason, message).with_observed_generation(gen_)
}

fn time_str(t: &Option<Time>) -> Option<String> {
    t.as_ref().map(|t| t.0.to_string())
}

/// The CAPTCluster decision, with the fields of both Cluster API contracts filled from it.
pub fn decide(cc: &CAPTCluster, w: &InfraWorld) -> Plan<CAPTClusterStatus> {
    let mut plan = decide_writes(cc, w);
    plan.waits = waits(cc, w);
    plan
}

/// What the CAPTCluster waits for, whatever the decision: its VPC template while absent (and not
/// refused).
pub fn waits(cc: &CAPTCluster, w: &InfraWorld) -> Vec<Wait> {
    let mut plan = Plan::<()>::default();
    if let Some(r) = cc.spec.vpc_template_ref.as_ref()
        && w.refused.is_none()
        && !w.template_exists
    {
        let ns = cc.namespace().unwrap_or_default();
        plan.wait_for(Kind::WorkspaceTemplate, r.namespace_or(&ns), &r.name);
    }
    plan.waits
}

fn decide_writes(cc: &CAPTCluster, w: &InfraWorld) -> Plan<CAPTClusterStatus> {
    let mut plan = decide_vpc(cc, w);
    if let Some(st) = plan.status.as_mut() {
        contract_fields(st, cc.meta().generation, &w.now);
    }
    plan
}

/// v1beta2 contract fields: `initialization.provisioned` latches once ready; a `Ready` condition
/// summarises `VPCReady`; no failure domains (see the status field's doc).
fn contract_fields(st: &mut CAPTClusterStatus, g: Option<i64>, now: &Time) {
    let provisioned = st.ready || st.initialization.as_ref().is_some_and(|i| i.provisioned);
    st.initialization = Some(crate::api::ClusterInitialization { provisioned });
    st.failure_domains = None;
    let (reason, message) = find_condition(&st.conditions, ct::VPC_READY)
        .map(|c| (c.reason.clone(), c.message.clone()))
        .unwrap_or_else(|| (reasons::VPC_CREATING.to_string(), String::new()));
    let (reason, message) = if st.ready {
        (reasons::VPC_CREATED.to_string(), String::new())
    } else if reason.is_empty() {
        (reasons::VPC_CREATING.to_string(), message)
    } else {
        (reason, message)
    };
    set_condition(
        &mut st.conditions,
        gen_condition(ct::READY, st.ready, &reason, &message, g),
        now.clone(),
    );
}

fn decide_vpc(cc: &CAPTCluster, w: &InfraWorld) -> Plan<CAPTClusterStatus> {
    let mut plan = Plan::default();
    let ns = cc.namespace().unwrap_or_default();
    let gen_ = cc.meta().generation;
    let now = w.now.clone();
    let apply = apply_name(cc);
    if super::pause::is_paused(cc.meta(), w.cluster) {
        return super::pause::paused_plan();
    }

    if cc.meta().deletion_timestamp.is_some() {
        if !has_finalizer(cc.meta(), finalizers::CAPT_CLUSTER) {
            return plan;
        }
        if w.control_plane_exists {
            plan.block(Blocked::waiting(
                "WaitingForControlPlane",
                "waiting for the control plane to be deleted first",
            ));
            return plan;
        }
        match w.apply {
            Some(a) if a.meta().deletion_timestamp.is_none() => {
                let retain = cc.spec.retain_vpc_on_delete && cc.spec.vpc_template_ref.is_some();
                if retain && !a.spec.retain_workspace_on_delete {
                    // The apply's own deletion keeps the Workspace when told to (B-3).
                    plan.op(Op::PatchChild(super::plan::Child {
                        api_version: crate::api::names::groups::INFRASTRUCTURE_API_VERSION,
                        kind: "WorkspaceTemplateApply",
                        plural: "workspacetemplateapplies",
                        namespace: Some(ns.clone()),
                        name: apply.clone(),
                        body: json!({"spec": {"retainWorkspaceOnDelete": true}}),
                    }));
                    plan.normal(
                        "RetainingVPC",
                        format!("Keeping the VPC of {apply} as retainVpcOnDelete asks"),
                    );
                }
                plan.op(delete_apply(&ns, &apply));
                plan.block(Blocked::waiting(
                    "WaitingForVPCDeletion",
                    format!("waiting for {apply} to be deleted"),
                ));
            }
            Some(_) => {
                plan.block(Blocked::waiting(
                    "WaitingForVPCDeletion",
                    format!("waiting for {apply} to be deleted"),
                ));
            }
            None => {
                plan.op(Op::RemoveFinalizer(finalizers::CAPT_CLUSTER));
            }
        }
        return plan;
    }

    if !has_finalizer(cc.meta(), finalizers::CAPT_CLUSTER) {
        plan.op(Op::AddFinalizer(finalizers::CAPT_CLUSTER));
    }
    let observed = cc.status.clone().unwrap_or_default();
    let mut st = observed.clone();
    st.observed_generation = gen_;

    // The owner Cluster, through the ownerReference Cluster API sets (B-1, B-16).
    let Some(cluster) = w.cluster.filter(|_| owner_cluster(cc.meta()).is_some()) else {
        set_condition(
            &mut st.conditions,
            gen_condition(
                ct::WAITING_FOR_CLUSTER,
                true,
                reasons::CLUSTER_NOT_FOUND,
                messages::WAITING_FOR_CLUSTER,
                gen_,
            ),
            now,
        );
        st.ready = false;
        plan.status = Some(st);
        plan.block(Blocked::waiting(
            reasons::CLUSTER_NOT_FOUND,
            "waiting for Cluster API to set the owner Cluster",
        ));
        return plan;
    };
    remove_condition(&mut st.conditions, ct::WAITING_FOR_CLUSTER);
    let cluster_name = cluster.name_any();
    if cc.labels().get(labels::CLUSTER_NAME) != Some(&cluster_name) {
        plan.op(Op::Patch(
            json!({"metadata": {"labels": {labels::CLUSTER_NAME: cluster_name}}}),
        ));
    }
    // The endpoint Cluster API recorded on the Cluster, shown on the infrastructure cluster too.
    if let Some(ep) = cluster
        .spec
        .control_plane_endpoint
        .as_ref()
        .filter(|e| !e.is_zero())
        && cc.spec.control_plane_endpoint.as_ref() != Some(ep)
    {
        plan.op(Op::Patch(
            json!({"spec": {"controlPlaneEndpoint": {"host": ep.host, "port": ep.port}}}),
        ));
    }

    let source = match cc
        .spec
        .vpc_source()
        .and_then(|s| cc.spec.validate().map(|_| s))
    {
        Ok(s) => s,
        Err(e) => {
            let msg = e.to_string();
            set_condition(
                &mut st.conditions,
                gen_condition(
                    ct::VPC_FAILED,
                    true,
                    reasons::INVALID_VPC_CONFIG,
                    &msg,
                    gen_,
                ),
                now,
            );
            st.ready = false;
            st.failure_reason = Some(reasons::INVALID_VPC_CONFIG.into());
            st.failure_message = Some(msg.clone());
            if st != observed {
                plan.warning(reasons::INVALID_VPC_CONFIG, msg.clone());
            }
            plan.status = Some(st);
            plan.block(Blocked::terminal(reasons::INVALID_VPC_CONFIG, msg));
            return plan;
        }
    };

    // Only an invalid VPC source (immutable, so unrecoverable without deleting the cluster) is
    // reported through failureReason, which Cluster API copies to the Cluster for good.
    st.failure_reason = None;
    st.failure_message = None;
    let clear_failure = |st: &mut CAPTClusterStatus| {
        remove_condition(&mut st.conditions, ct::VPC_FAILED);
        st.failure_reason = None;
        st.failure_message = None;
    };

    let template_ref = match source {
        VpcSource::Existing(id) => {
            if !observed.ready {
                plan.normal(
                    reasons::EXISTING_VPC_USED,
                    format!("Using existing VPC {id}"),
                );
            }
            st.vpc_id = Some(id.to_string());
            st.ready = true;
            st.workspace_template_status = Some(ClusterWorkspaceTemplateStatus {
                ready: true,
                ..Default::default()
            });
            set_condition(
                &mut st.conditions,
                gen_condition(
                    ct::VPC_READY,
                    true,
                    reasons::EXISTING_VPC_USED,
                    messages::EXISTING_VPC_USED,
                    gen_,
                ),
                now,
            );
            clear_failure(&mut st);
            plan.status = Some(st);
            return plan;
        }
        VpcSource::Template(r) => r.clone(),
    };

    // A refused reference is checked first (it learns nothing of the template); neither creates
    // nor changes the apply, and a running VPC stays ready.
    let unusable = match &w.refused {
        Some(r) => Some((REF_NOT_PERMITTED, r.to_string())),
        None if !w.template_exists => Some((
            reasons::VPC_RECONCILIATION_FAILED,
            format!(
                "WorkspaceTemplate {}/{} not found",
                template_ref.namespace_or(&ns),
                template_ref.name
            ),
        )),
        None => None,
    };
    // The VPC apply cannot be made: say why on VPCReady (a running VPC stays ready) and stop.
    let refuse =
        |mut st: CAPTClusterStatus, mut plan: Plan<CAPTClusterStatus>, blocked: Blocked| {
            let (reason, msg) = (blocked.reason, blocked.message.clone());
            set_condition(
                &mut st.conditions,
                gen_condition(ct::VPC_READY, false, reason, &msg, gen_),
                now.clone(),
            );
            st.ready = st.ready && st.vpc_id.is_some();
            if st != observed {
                plan.warning(reason, msg);
            }
            plan.status = Some(st);
            plan.block(blocked);
            plan
        };
    if let Some((reason, msg)) = unusable {
        return refuse(st, plan, Blocked::waiting(reason, msg));
    }
    if let Some(msg) = super::limits::name_too_long("WorkspaceTemplateApply", &apply) {
        return refuse(
            st,
            plan,
            Blocked::terminal(super::limits::NAME_TOO_LONG, msg),
        );
    }
    let intent = ApplyIntent {
        template_ref,
        variables: [
            (variables::CLUSTER_NAME.to_string(), cluster_name.clone()),
            (
                variables::VPC_NAME.to_string(),
                cc.spec.vpc_name(&cc.name_any()),
            ),
            (
                variables::ENVIRONMENT.to_string(),
                variables::ENVIRONMENT_VALUE.to_string(),
            ),
            (variables::REGION.to_string(), cc.spec.region.clone()),
        ]
        .into(),
        retain_workspace_on_delete: false,
        ..Default::default()
    };
    if let Some(op) = ensure_apply(cc, &cluster_name, &apply, w.apply, &intent) {
        plan.op(op);
    }
    if cc.spec.workspace_template_apply_name.as_deref() != Some(apply.as_str()) {
        plan.op(Op::Patch(
            json!({"spec": {"workspaceTemplateApplyName": apply}}),
        ));
    }

    let wts = st
        .workspace_template_status
        .get_or_insert_with(Default::default);
    let apply_status = w.apply.and_then(|a| a.status.clone()).unwrap_or_default();
    wts.workspace_name = apply_status.workspace_name.clone();
    st.vpc_workspace_name = apply_status.workspace_name.clone();
    // Ready comes from the Workspace's Ready alone; provider errors are reported in VPCReady's message.
    let ws_ready = w.workspace.is_some_and(Workspace::is_ready);
    let vpc_id = w
        .workspace
        .and_then(|ws| ws.output_str(crate::api::names::outputs::VPC_ID))
        .map(str::to_string);

    match (ws_ready, vpc_id) {
        (true, Some(id)) => {
            if !observed.ready {
                plan.normal(reasons::VPC_CREATED, format!("VPC {id} is ready"));
            }
            st.vpc_id = Some(id);
            st.ready = true;
            let wts = st
                .workspace_template_status
                .get_or_insert_with(Default::default);
            wts.ready = true;
            wts.last_applied_time = apply_status.last_applied_time.clone();
            wts.last_applied_revision = time_str(&apply_status.last_applied_time);
            wts.last_failure_message = None;
            set_condition(
                &mut st.conditions,
                gen_condition(
                    ct::VPC_READY,
                    true,
                    reasons::VPC_CREATED,
                    messages::VPC_CREATED,
                    gen_,
                ),
                now,
            );
            clear_failure(&mut st);
            plan.timer(TimerCmd::Cancel(VPC_TIMER));
        }
        _ => {
            // Terraform errors surface in the Workspace's Synced condition, not-ready reasons in Ready.
            let error = w.workspace.and_then(|ws| {
                [ws.status
                    .as_ref()?
                    .conditions
                    .iter()
                    .find(|c| c.type_ == ct::SYNCED && !c.is_true())?]
                .into_iter()
                .find_map(|c| c.message.clone())
            });
            let wts = st
                .workspace_template_status
                .get_or_insert_with(Default::default);
            wts.ready = false;
            let started = w
                .apply
                .and_then(|a| a.meta().creation_timestamp.clone())
                .map(|t| t.0)
                .unwrap_or(now.0);
            let deadline = started + SignedDuration::try_from(VPC_TIMEOUT).unwrap_or_default();
            let timed_out = now.0 >= deadline && !st.ready;
            let (reason, msg) = match &error {
                Some(m) => (reasons::VPC_CREATION_FAILED, m.clone()),
                None => (reasons::VPC_CREATING, messages::VPC_CREATING.to_string()),
            };
            if let Some(m) = &error {
                wts.last_failure_message = Some(m.clone());
                wts.last_failed_revision = time_str(&apply_status.last_applied_time);
            }
            set_condition(
                &mut st.conditions,
                gen_condition(ct::VPC_READY, false, reason, &msg, gen_),
                now.clone(),
            );
            if timed_out {
                let m = format!(
                    "VPC not ready within {} minutes",
                    VPC_TIMEOUT.as_secs() / 60
                );
                set_condition(
                    &mut st.conditions,
                    gen_condition(ct::VPC_FAILED, true, reasons::VPC_READY_TIMEOUT, &m, gen_),
                    now.clone(),
                );
                // A timeout is recoverable (the VPC may still come up): a condition and an Event,
                // never failureReason, which Cluster API would copy to the Cluster for good.
                let already = observed
                    .conditions
                    .iter()
                    .any(|c| c.type_ == ct::VPC_FAILED && c.reason == reasons::VPC_READY_TIMEOUT);
                if !already {
                    plan.warning(reasons::VPC_READY_TIMEOUT, m);
                }
            } else if !st.ready {
                plan.timer(deadline_timer(VPC_TIMER, now.0, deadline));
            }
            if error.is_some()
                && observed
                    .workspace_template_status
                    .as_ref()
                    .and_then(|w| w.last_failure_message.clone())
                    != error
            {
                plan.warning(reasons::VPC_CREATION_FAILED, msg);
            }
        }
    }
    plan.status = Some(st);
    plan
}

#[cfg(test)]
#[path = "infra_tests.rs"]
mod tests;
