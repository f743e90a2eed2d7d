//! The CAPTCluster decision as a pipeline of named steps: deletion, preflight (owner Cluster,
//! its name label and endpoint), the VPC source (an existing VPC ends the decision), whether the
//! VPC apply can be made, the apply itself, and the VPC's readiness with its deadline.

use super::*;
use crate::api::{TemplateRef, WorkspaceTemplateApplyStatus};

/// The status drafted and the plan built by the steps of one decision.
struct Draft<'a> {
    cc: &'a CAPTCluster,
    w: &'a InfraWorld<'a>,
    g: Option<i64>,
    now: Time,
    ns: String,
    apply: String,
    observed: CAPTClusterStatus,
    st: CAPTClusterStatus,
    plan: Plan<CAPTClusterStatus>,
}

impl Draft<'_> {
    /// The plan with the drafted status, blocked by `blocked` if any.
    fn finish(mut self, blocked: Option<Blocked>) -> Plan<CAPTClusterStatus> {
        self.plan.status = Some(self.st);
        if let Some(b) = blocked {
            self.plan.block(b);
        }
        self.plan
    }

    fn condition(&mut self, type_: &str, ok: bool, reason: &str, msg: &str) {
        set_condition(
            &mut self.st.conditions,
            gen_condition(type_, ok, reason, msg, self.g),
            self.now.clone(),
        );
    }

    /// Only an invalid VPC source is reported through failureReason.
    fn clear_failure(&mut self) {
        remove_condition(&mut self.st.conditions, ct::VPC_FAILED);
        self.st.failure_reason = None;
        self.st.failure_message = None;
    }
}

pub(super) fn decide_vpc(cc: &CAPTCluster, w: &InfraWorld) -> Plan<CAPTClusterStatus> {
    if super::super::pause::is_paused(cc.meta(), w.cluster) {
        return super::super::pause::paused_plan();
    }
    let ns = cc.namespace().unwrap_or_default();
    let apply = apply_name(cc);
    if cc.meta().deletion_timestamp.is_some() {
        return deletion(cc, w, &ns, &apply);
    }
    let observed = cc.status.clone().unwrap_or_default();
    let mut d = Draft {
        cc,
        w,
        g: cc.meta().generation,
        now: w.now.clone(),
        ns,
        apply,
        st: observed.clone(),
        observed,
        plan: Plan::default(),
    };
    if !has_finalizer(cc.meta(), finalizers::CAPT_CLUSTER) {
        d.plan.op(Op::AddFinalizer(finalizers::CAPT_CLUSTER));
    }
    d.st.observed_generation = d.g;
    let cluster_name = match owner(&mut d) {
        Ok(name) => name,
        Err(b) => return d.finish(Some(b)),
    };
    let template_ref = match vpc_source(&mut d) {
        Ok(Some(r)) => r,
        Ok(None) => return d.finish(None),
        Err(b) => return d.finish(Some(b)),
    };
    if let Some(b) = unusable(&mut d, &template_ref) {
        return d.finish(Some(b));
    }
    vpc_apply(&mut d, template_ref, &cluster_name);
    vpc_status(&mut d);
    d.finish(None)
}

/// On deletion: wait for the control plane, then delete the VPC apply (keeping the Workspace
/// when `retainVpcOnDelete` asks), then release the finalizer once the apply is gone.
fn deletion(cc: &CAPTCluster, w: &InfraWorld, ns: &str, apply: &str) -> Plan<CAPTClusterStatus> {
    let mut plan = Plan::default();
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
    let waiting = || {
        Blocked::waiting(
            "WaitingForVPCDeletion",
            format!("waiting for {apply} to be deleted"),
        )
    };
    match w.apply {
        Some(a) if a.meta().deletion_timestamp.is_none() => {
            let retain = cc.spec.retain_vpc_on_delete && cc.spec.vpc_template_ref.is_some();
            if retain && !a.spec.retain_workspace_on_delete {
                // The apply deletes its Workspace unless told to keep it: tell it first, so the
                // VPC is really kept (see docs/upstream-differences.md).
                plan.op(Op::PatchChild(super::super::plan::Child {
                    api_version: crate::api::names::groups::INFRASTRUCTURE_API_VERSION,
                    kind: "WorkspaceTemplateApply",
                    plural: "workspacetemplateapplies",
                    namespace: Some(ns.to_string()),
                    name: apply.to_string(),
                    body: json!({"spec": {"retainWorkspaceOnDelete": true}}),
                }));
                plan.normal(
                    "RetainingVPC",
                    format!("Keeping the VPC of {apply} as retainVpcOnDelete asks"),
                );
            }
            plan.op(delete_apply(ns, apply));
            plan.block(waiting());
        }
        Some(_) => {
            plan.block(waiting());
        }
        None => {
            plan.op(Op::RemoveFinalizer(finalizers::CAPT_CLUSTER));
        }
    }
    plan
}

/// The owner Cluster, through the ownerReference Cluster API sets; its name as a label and its
/// endpoint shown on the infrastructure cluster too. Returns the Cluster's name.
fn owner(d: &mut Draft) -> Result<String, Blocked> {
    let (cc, w) = (d.cc, d.w);
    let Some(cluster) = w.cluster.filter(|_| owner_cluster(cc.meta()).is_some()) else {
        d.condition(
            ct::WAITING_FOR_CLUSTER,
            true,
            reasons::CLUSTER_NOT_FOUND,
            messages::WAITING_FOR_CLUSTER,
        );
        d.st.ready = false;
        return Err(Blocked::waiting(
            reasons::CLUSTER_NOT_FOUND,
            "waiting for Cluster API to set the owner Cluster",
        ));
    };
    remove_condition(&mut d.st.conditions, ct::WAITING_FOR_CLUSTER);
    let cluster_name = cluster.name_any();
    if cc.labels().get(labels::CLUSTER_NAME) != Some(&cluster_name) {
        d.plan.op(Op::Patch(
            json!({"metadata": {"labels": {labels::CLUSTER_NAME: cluster_name}}}),
        ));
    }
    if let Some(ep) = (cluster.spec.control_plane_endpoint.as_ref()).filter(|e| !e.is_zero())
        && cc.spec.control_plane_endpoint.as_ref() != Some(ep)
    {
        d.plan.op(Op::Patch(
            json!({"spec": {"controlPlaneEndpoint": {"host": ep.host, "port": ep.port}}}),
        ));
    }
    Ok(cluster_name)
}

/// The VPC source: an invalid one fails for good, an existing VPC is ready at once (`None`), a
/// template reference is returned.
fn vpc_source(d: &mut Draft) -> Result<Option<TemplateRef>, Blocked> {
    let cc = d.cc;
    let source = match cc
        .spec
        .vpc_source()
        .and_then(|s| cc.spec.validate().map(|_| s))
    {
        Ok(s) => s,
        Err(e) => {
            let msg = e.to_string();
            d.condition(ct::VPC_FAILED, true, reasons::INVALID_VPC_CONFIG, &msg);
            d.st.ready = false;
            d.st.failure_reason = Some(reasons::INVALID_VPC_CONFIG.into());
            d.st.failure_message = Some(msg.clone());
            if d.st != d.observed {
                d.plan.warning(reasons::INVALID_VPC_CONFIG, msg.clone());
            }
            return Err(Blocked::invalid_spec(reasons::INVALID_VPC_CONFIG, msg));
        }
    };
    // Only an invalid VPC source (immutable, so unrecoverable without deleting the cluster) is
    // reported through failureReason, which Cluster API copies to the Cluster for good.
    d.st.failure_reason = None;
    d.st.failure_message = None;
    match source {
        VpcSource::Existing(id) => {
            if !d.observed.ready {
                (d.plan).normal(
                    reasons::EXISTING_VPC_USED,
                    format!("Using existing VPC {id}"),
                );
            }
            d.st.vpc_id = Some(id.to_string());
            d.st.ready = true;
            d.st.workspace_template_status = Some(ClusterWorkspaceTemplateStatus {
                ready: true,
                ..Default::default()
            });
            d.condition(
                ct::VPC_READY,
                true,
                reasons::EXISTING_VPC_USED,
                messages::EXISTING_VPC_USED,
            );
            d.clear_failure();
            Ok(None)
        }
        VpcSource::Template(r) => Ok(Some(r.clone())),
    }
}

/// Why the VPC apply cannot be made, said on VPCReady (a running VPC stays ready): a refused
/// reference (checked first; it learns nothing of the template), a missing template, or an apply
/// name over the API's limit.
fn unusable(d: &mut Draft, template_ref: &TemplateRef) -> Option<Blocked> {
    let blocked = match &d.w.refused {
        Some(r) => Blocked::waiting(REF_NOT_PERMITTED, r.to_string()),
        None if !d.w.template_exists => Blocked::waiting(
            reasons::VPC_RECONCILIATION_FAILED,
            format!(
                "WorkspaceTemplate {}/{} not found",
                template_ref.namespace_or(&d.ns),
                template_ref.name
            ),
        ),
        None => {
            let msg = super::super::limits::name_too_long("WorkspaceTemplateApply", &d.apply)?;
            Blocked::invalid_spec(super::super::limits::NAME_TOO_LONG, msg)
        }
    };
    let (reason, msg) = (blocked.reason, blocked.message.clone());
    d.condition(ct::VPC_READY, false, reason, &msg);
    d.st.ready = d.st.ready && d.st.vpc_id.is_some();
    if d.st != d.observed {
        d.plan.warning(reason, msg);
    }
    Some(blocked)
}

/// The VPC apply, kept in step with the spec, and its name recorded in the spec.
fn vpc_apply(d: &mut Draft, template_ref: TemplateRef, cluster_name: &str) {
    let cc = d.cc;
    let intent = ApplyIntent {
        template_ref,
        variables: [
            (
                variables::CLUSTER_NAME.to_string(),
                cluster_name.to_string(),
            ),
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
    if let Some(op) = ensure_apply(cc, cluster_name, &d.apply, d.w.apply, &intent) {
        d.plan.op(op);
    }
    if cc.spec.workspace_template_apply_name.as_deref() != Some(d.apply.as_str()) {
        d.plan.op(Op::Patch(
            json!({"spec": {"workspaceTemplateApplyName": d.apply}}),
        ));
    }
}

/// The VPC's readiness and id from its Workspace; while not ready, the Terraform error and the
/// creation deadline.
fn vpc_status(d: &mut Draft) {
    let w = d.w;
    let apply_status = w.apply.and_then(|a| a.status.clone()).unwrap_or_default();
    let wts = (d.st.workspace_template_status).get_or_insert_with(Default::default);
    wts.workspace_name = apply_status.workspace_name.clone();
    d.st.vpc_workspace_name = apply_status.workspace_name.clone();
    // Ready comes from the Workspace's Ready alone; provider errors are reported in VPCReady's message.
    let ws_ready = w.workspace.is_some_and(Workspace::is_ready);
    let vpc_id = (w.workspace)
        .and_then(|ws| ws.output_str(crate::api::names::outputs::VPC_ID))
        .map(str::to_string);
    match (ws_ready, vpc_id) {
        (true, Some(id)) => vpc_ready(d, id, &apply_status),
        _ => vpc_not_ready(d, &apply_status),
    }
}

fn vpc_ready(d: &mut Draft, id: String, apply_status: &WorkspaceTemplateApplyStatus) {
    if !d.observed.ready {
        (d.plan).normal(reasons::VPC_CREATED, format!("VPC {id} is ready"));
    }
    d.st.vpc_id = Some(id);
    d.st.ready = true;
    let wts = (d.st.workspace_template_status).get_or_insert_with(Default::default);
    wts.ready = true;
    wts.last_applied_time = apply_status.last_applied_time.clone();
    wts.last_applied_revision = time_str(&apply_status.last_applied_time);
    wts.last_failure_message = None;
    d.condition(
        ct::VPC_READY,
        true,
        reasons::VPC_CREATED,
        messages::VPC_CREATED,
    );
    d.clear_failure();
    d.plan.timer(TimerCmd::Cancel(VPC_TIMER));
}

fn vpc_not_ready(d: &mut Draft, apply_status: &WorkspaceTemplateApplyStatus) {
    let (w, now) = (d.w, d.now.clone());
    // Terraform errors surface in the Workspace's Synced condition, not-ready reasons in Ready.
    let error = w.workspace.and_then(|ws| {
        (ws.status.as_ref()?.conditions.iter())
            .find(|c| c.type_ == ct::SYNCED && !c.is_true())?
            .message
            .clone()
    });
    let wts = (d.st.workspace_template_status).get_or_insert_with(Default::default);
    wts.ready = false;
    let started = (w.apply)
        .and_then(|a| a.meta().creation_timestamp.clone())
        .map(|t| t.0)
        .unwrap_or(now.0);
    let deadline = started + SignedDuration::try_from(VPC_TIMEOUT).unwrap_or_default();
    let timed_out = now.0 >= deadline && !d.st.ready;
    let (reason, msg) = match &error {
        Some(m) => (reasons::VPC_CREATION_FAILED, m.clone()),
        None => (reasons::VPC_CREATING, messages::VPC_CREATING.to_string()),
    };
    if let Some(m) = &error {
        wts.last_failure_message = Some(m.clone());
        wts.last_failed_revision = time_str(&apply_status.last_applied_time);
    }
    d.condition(ct::VPC_READY, false, reason, &msg);
    if timed_out {
        let m = format!(
            "VPC not ready within {} minutes",
            VPC_TIMEOUT.as_secs() / 60
        );
        d.condition(ct::VPC_FAILED, true, reasons::VPC_READY_TIMEOUT, &m);
        // A timeout is recoverable (the VPC may still come up): a condition and an Event,
        // never failureReason, which Cluster API would copy to the Cluster for good.
        let already = (d.observed.conditions.iter())
            .any(|c| c.type_ == ct::VPC_FAILED && c.reason == reasons::VPC_READY_TIMEOUT);
        if !already {
            d.plan.warning(reasons::VPC_READY_TIMEOUT, m);
        }
    } else if !d.st.ready {
        d.plan.timer(deadline_timer(VPC_TIMER, now.0, deadline));
    }
    let reported = (d.observed.workspace_template_status.as_ref())
        .and_then(|w| w.last_failure_message.clone());
    if error.is_some() && reported != error {
        d.plan.warning(reasons::VPC_CREATION_FAILED, msg);
    }
}
