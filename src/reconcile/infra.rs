//! CAPTCluster decisions: wait for the owner Cluster, honour pause, validate, then
//! either adopt an existing VPC or create the VPC through a WorkspaceTemplateApply and report its
//! readiness, id and failure domains; on deletion wait for the control plane, then delete or
//! really retain the VPC (see docs/upstream-differences.md).

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

#[path = "infra_steps.rs"]
mod steps;
use steps::decide_vpc;

#[cfg(test)]
#[path = "infra_tests.rs"]
mod tests;
