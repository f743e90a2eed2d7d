//! The CAPTControlPlane decision as a pipeline of named steps: preflight (owner Cluster, spec,
//! template reference, name lengths), the wait for the VPC, the EKS apply, what the EKS Workspace
//! shows, the phase and its deadline, and the secret sync. Each step reads the world and the
//! status drafted so far; a step that ends the decision returns why.

use super::*;

/// The status drafted and the plan built by the steps of one decision.
struct Draft<'a> {
    cp: &'a CAPTControlPlane,
    w: &'a CpWorld<'a>,
    g: Option<i64>,
    now: Time,
    ns: String,
    observed: CAPTControlPlaneStatus,
    st: CAPTControlPlaneStatus,
    plan: Plan<CAPTControlPlaneStatus>,
}

impl Draft<'_> {
    /// The plan with the drafted status, blocked by `blocked` if any.
    fn finish(mut self, blocked: Option<Blocked>) -> Plan<CAPTControlPlaneStatus> {
        self.plan.status = Some(self.st);
        if let Some(b) = blocked {
            self.plan.block(b);
        }
        self.plan
    }

    /// Phase `Failed` (not ready) with `reason`, and a Warning Event when the status changes.
    fn fail(&mut self, reason: &'static str, msg: &str) {
        set_phase(
            &mut self.st,
            ControlPlanePhase::Failed,
            reason,
            msg,
            self.g,
            &self.now,
        );
        self.st.ready = false;
        self.warn_on_change(reason, msg);
    }

    fn warn_on_change(&mut self, reason: &'static str, msg: &str) {
        if self.st != self.observed {
            self.plan.warning(reason, msg.to_string());
        }
    }
}

/// What the EKS Workspace shows.
struct Observed<'a> {
    ready: bool,
    outputs_endpoint: Option<&'a str>,
    endpoint: Option<ApiEndpoint>,
    terraform_error: Option<String>,
    /// The apply asks for the spec's version and the Workspace has acted on its current spec.
    version_applied: bool,
}

pub(super) fn decide_writes(cp: &CAPTControlPlane, w: &CpWorld) -> Plan<CAPTControlPlaneStatus> {
    if super::super::pause::is_paused(cp.meta(), w.cluster) {
        return super::super::pause::paused_plan();
    }
    if cp.meta().deletion_timestamp.is_some() {
        return deletion(cp, w);
    }
    let observed = cp.status.clone().unwrap_or_default();
    let mut d = Draft {
        cp,
        w,
        g: cp.meta().generation,
        now: w.now.clone(),
        ns: cp.namespace().unwrap_or_default(),
        st: observed.clone(),
        observed,
        plan: Plan::default(),
    };
    if !has_finalizer(cp.meta(), finalizers::CAPT_CONTROL_PLANE) {
        d.plan.op(Op::AddFinalizer(finalizers::CAPT_CONTROL_PLANE));
    }
    d.st.observed_generation = d.g;
    d.st.external_managed_control_plane = true;
    let cluster_name = match preflight(&mut d) {
        Ok(name) => name,
        Err(b) => return d.finish(Some(b)),
    };
    spot_flow(cp, &cluster_name, w, &mut d.plan);
    if let Some(b) = wait_for_vpc(&mut d) {
        return d.finish(Some(b));
    }
    eks_apply(&mut d, &cluster_name);
    mirror_workspace(&mut d);
    let obs = observe_workspace(&mut d);
    let blocked = phase(&mut d, &obs, &cluster_name);
    let initialized = d.st.initialized;
    set_condition(
        &mut d.st.conditions,
        cond(
            ct::INITIALIZED,
            initialized,
            if initialized {
                reasons::READY
            } else {
                reasons::CREATING
            },
            "",
            d.g,
        ),
        d.now.clone(),
    );
    secrets(&mut d, &obs, &cluster_name);
    d.finish(blocked)
}

/// The checks before anything is created: the owner Cluster, the spec, the template reference
/// and the length of the names derived from the control plane's. Returns the Cluster's name.
fn preflight(d: &mut Draft) -> Result<String, Blocked> {
    let (cp, w, g) = (d.cp, d.w, d.g);
    let Some(cluster) = w.cluster.filter(|_| owner_cluster(cp.meta()).is_some()) else {
        set_condition(
            &mut d.st.conditions,
            cond(
                ct::READY,
                false,
                reasons::CREATING,
                messages::WAITING_FOR_OWNER_CLUSTER,
                g,
            ),
            d.now.clone(),
        );
        return Err(Blocked::waiting(
            reasons::CREATING,
            "waiting for Cluster API to set the owner Cluster",
        ));
    };
    if let Err(e) = cp.spec.validate() {
        let msg = e.to_string();
        set_phase(
            &mut d.st,
            ControlPlanePhase::Failed,
            "InvalidSpec",
            &msg,
            g,
            &d.now,
        );
        d.st.failure_reason = Some("InvalidSpec".into());
        d.st.failure_message = Some(msg.clone());
        d.warn_on_change("InvalidSpec", &msg);
        return Err(Blocked::invalid_spec("InvalidSpec", msg));
    }
    // Only an invalid spec is reported through failureReason, which Cluster API copies to the
    // Cluster for good; every other problem is a condition and an Event and clears when resolved.
    d.st.failure_reason = None;
    d.st.failure_message = None;
    template_reference(d)?;
    names_fit(d)?;
    Ok(cluster.name_any())
}

/// The WorkspaceTemplate reference is permitted and the template exists.
fn template_reference(d: &mut Draft) -> Result<(), Blocked> {
    if let Some(r) = &d.w.refused {
        // Checked before the template is looked at. A running control plane keeps its phase and
        // readiness (nothing of it is touched); one not started yet fails like a missing template.
        let msg = r.to_string();
        if d.st.initialized {
            set_condition(
                &mut d.st.conditions,
                cond(TEMPLATE_REF_PERMITTED, false, REF_NOT_PERMITTED, &msg, d.g),
                d.now.clone(),
            );
            d.warn_on_change(REF_NOT_PERMITTED, &msg);
        } else {
            d.fail(REF_NOT_PERMITTED, &msg);
        }
        return Err(Blocked::waiting(REF_NOT_PERMITTED, msg));
    }
    crate::api::remove_condition(&mut d.st.conditions, TEMPLATE_REF_PERMITTED);
    if !d.w.template_exists {
        let r = &d.cp.spec.workspace_template_ref;
        let msg = format!(
            "Failed to get WorkspaceTemplate {}/{}: not found",
            r.namespace_or(&d.ns),
            r.name
        );
        d.fail(reasons::WORKSPACE_TEMPLATE_NOT_FOUND, &msg);
        return Err(Blocked::waiting(reasons::WORKSPACE_TEMPLATE_NOT_FOUND, msg));
    }
    Ok(())
}

/// Every apply name derived from the control plane's fits the API's name limit.
fn names_fit(d: &mut Draft) -> Result<(), Blocked> {
    let name = d.cp.name_any();
    let longest = [
        suffixes::SPOT_ROLE_CHECK,
        suffixes::SPOT_ROLE_CREATE,
        suffixes::KUBECONFIG_APPLY,
    ]
    .into_iter()
    .map(|s| with_suffix(&name, s))
    .chain([apply_name(d.cp)])
    .max_by_key(String::len)
    .unwrap_or_default();
    match super::super::limits::name_too_long("WorkspaceTemplateApply", &longest) {
        Some(msg) => {
            let reason = super::super::limits::NAME_TOO_LONG;
            d.fail(reason, &msg);
            Err(Blocked::invalid_spec(reason, msg))
        }
        None => Ok(()),
    }
}

/// Waits are fixed when the EKS apply is first created: it is never created before the VPC of
/// the Cluster is known. The wait is held to the VPC deadline.
fn wait_for_vpc(d: &mut Draft) -> Option<Blocked> {
    if d.w.eks_apply.is_some() || !d.w.vpc_pending {
        return None;
    }
    let msg = "Waiting for the VPC of the cluster";
    let deadline = control_plane_deadline(d.cp, d.w);
    if d.now.0 >= deadline.at {
        deadline.fail(&mut d.st, &d.observed, d.g, &d.now, &mut d.plan);
    } else {
        set_phase(
            &mut d.st,
            ControlPlanePhase::Creating,
            reasons::WAITING_FOR_VPC,
            msg,
            d.g,
            &d.now,
        );
        (d.plan).timer(deadline_timer(CONTROL_PLANE_TIMER, d.now.0, deadline.at));
    }
    Some(Blocked::waiting(reasons::WAITING_FOR_VPC, msg))
}

/// The EKS apply, kept in step with the spec, and its name recorded in the spec.
fn eks_apply(d: &mut Draft, cluster_name: &str) {
    let (cp, w) = (d.cp, d.w);
    let apply = apply_name(cp);
    let intent = eks_intent(cp, cluster_name, w.eks_apply, w.vpc_workspace.clone());
    if let Some(op) = ensure_apply(cp, cluster_name, &apply, w.eks_apply, &intent) {
        d.plan.op(op);
    }
    if cp.spec.workspace_template_apply_name.as_deref() != Some(apply.as_str()) {
        d.plan.op(Op::Patch(
            json!({"spec": {"workspaceTemplateApplyName": apply}}),
        ));
    }
}

/// Mirror of the EKS Workspace (CAAPH templates read atProvider.outputs) and the apply's last
/// applied revision.
fn mirror_workspace(d: &mut Draft) {
    let ws = d.w.eks_workspace;
    d.st.workspace_status = Some(match ws {
        Some(ws) => WorkspaceStatusMirror {
            ready: ws.is_ready(),
            state: ws.ready_condition().map(|c| c.reason.clone()),
            at_provider: ws.at_provider().cloned(),
        },
        None => WorkspaceStatusMirror::default(),
    });
    let apply_status = (d.w.eks_apply)
        .and_then(|a| a.status.clone())
        .unwrap_or_default();
    let wts = (d.st.workspace_template_status).get_or_insert_with(Default::default);
    wts.last_applied_revision = apply_status
        .last_applied_time
        .as_ref()
        .map(|t| t.0.to_string());
}

/// Readiness, endpoint, Terraform error and applied version from the EKS Workspace; the
/// WorkspaceSynced condition.
fn observe_workspace<'a>(d: &mut Draft<'a>) -> Observed<'a> {
    let (cp, w, g) = (d.cp, d.w, d.g);
    let ws = w.eks_workspace;
    // Ready comes from the Workspace's Ready alone: a provider error on a running control plane
    // is reported in its own condition and does not make the control plane not-ready.
    let ready = ws.is_some_and(Workspace::is_ready);
    let outputs_endpoint = ws.and_then(|ws| ws.output_str(outputs::CLUSTER_ENDPOINT));
    let secret_endpoint = (w.connection)
        .and_then(|c| c.data.get(crate::api::names::secrets::CLUSTER_ENDPOINT_KEY))
        .map(Vec::as_slice);
    let endpoint = match ready.then(|| discover(outputs_endpoint, secret_endpoint)) {
        Some(Ok(found)) => found.map(|(e, _)| e),
        Some(Err(e)) => {
            d.plan.warning(
                reasons::ENDPOINT_ERROR,
                format!("control plane endpoint is not usable: {e}"),
            );
            None
        }
        None => None,
    };
    let terraform_error = ws.and_then(|ws| {
        let c = (ws.status.as_ref()?.conditions.iter())
            .find(|c| c.type_ == ct::SYNCED && !c.is_true())?;
        c.message.clone()
    });
    if let Some(ws) = ws {
        let (ok, reason, msg) = match &terraform_error {
            Some(m) => (false, reasons::WORKSPACE_ERROR, m.clone()),
            None if ws.is_synced() => (true, reasons::READY, String::new()),
            None => (false, reasons::CREATING, String::new()),
        };
        set_condition(
            &mut d.st.conditions,
            cond(ct::WORKSPACE_SYNCED, ok, reason, msg, g),
            d.now.clone(),
        );
    }
    let applied_version = (w.eks_apply)
        .and_then(|a| a.spec.variables.get(variables::KUBERNETES_VERSION))
        .is_some_and(|v| Some(v) == eks_version(&cp.spec.version).as_ref());
    let ws_current = ws.is_some_and(|ws| {
        ws.ready_condition()
            .and_then(|c| c.observed_generation)
            .is_none_or(|og| Some(og) == ws.meta().generation)
    });
    Observed {
        ready,
        outputs_endpoint,
        endpoint,
        terraform_error,
        version_applied: applied_version && ws_current,
    }
}

/// The phase from what the Workspace shows: Ready at an endpoint, Failed on an error retrying
/// will not fix, else Creating (held to the deadline until first initialized).
fn phase(d: &mut Draft, obs: &Observed, cluster_name: &str) -> Option<Blocked> {
    match (&obs.endpoint, &obs.terraform_error) {
        (Some(ep), _) => {
            ready(d, obs, ep, cluster_name);
            None
        }
        (None, Some(msg)) if non_retryable(msg) => Some(failed(d, msg)),
        (None, other) => {
            creating(d, obs, other.as_deref());
            None
        }
    }
}

fn ready(d: &mut Draft, obs: &Observed, ep: &ApiEndpoint, cluster_name: &str) {
    let (cp, g) = (d.cp, d.g);
    let st = &mut d.st;
    let hp = format!("{}:{}", ep.host, ep.port);
    if !d.observed.ready {
        d.plan
            .normal(reasons::READY, format!("Control plane is ready at {hp}"));
    }
    st.ready = true;
    st.initialized = true;
    st.endpoint = Some(hp);
    st.failure_reason = None;
    st.failure_message = None;
    let wts = st
        .workspace_template_status
        .get_or_insert_with(Default::default);
    wts.ready = true;
    wts.last_failure_message = None;
    set_phase(
        st,
        ControlPlanePhase::Ready,
        reasons::READY,
        messages::CONTROL_PLANE_READY,
        g,
        &d.now,
    );
    if obs.version_applied {
        st.version = Some(cp.spec.version.clone());
    }
    if st.version.as_deref() != Some(cp.spec.version.as_str()) {
        let from = st.version.clone().unwrap_or_else(|| "unknown".into());
        set_condition(
            &mut st.conditions,
            cond(
                ct::CREATING,
                true,
                "Upgrading",
                format!("Upgrading from {from} to {}", cp.spec.version),
                g,
            ),
            d.now.clone(),
        );
    }
    let unset = (cp.spec.control_plane_endpoint.as_ref()).is_none_or(ApiEndpoint::is_zero);
    if unset {
        d.plan.op(Op::Patch(
            json!({"spec": {"controlPlaneEndpoint": {"host": ep.host, "port": ep.port}}}),
        ));
    }
    d.plan.timer(TimerCmd::Cancel(CONTROL_PLANE_TIMER));
    let url = super::super::endpoint::endpoint_url(ep);
    kubeconfig_apply(cp, cluster_name, d.w, &url, &mut d.plan);
}

fn failed(d: &mut Draft, msg: &str) -> Blocked {
    d.st.ready = false;
    let wts = (d.st.workspace_template_status).get_or_insert_with(Default::default);
    wts.ready = false;
    wts.last_failure_message = Some(msg.to_string());
    set_phase(
        &mut d.st,
        ControlPlanePhase::Failed,
        reasons::WORKSPACE_ERROR,
        msg,
        d.g,
        &d.now,
    );
    let reported = (d.observed.workspace_template_status.as_ref())
        .and_then(|w| w.last_failure_message.as_deref());
    if reported != Some(msg) {
        d.plan.warning(reasons::WORKSPACE_ERROR, msg.to_string());
    }
    Blocked::dependency_failed(reasons::WORKSPACE_ERROR, msg.to_string())
}

fn creating(d: &mut Draft, obs: &Observed, error: Option<&str>) {
    d.st.ready = false;
    let msg = match error {
        Some(m) => format!("{}: {m}", messages::CONTROL_PLANE_CREATING),
        None if obs.ready => "Control plane is up; waiting for its endpoint".to_string(),
        None => messages::CONTROL_PLANE_CREATING.to_string(),
    };
    let wts = (d.st.workspace_template_status).get_or_insert_with(Default::default);
    wts.ready = false;
    let deadline = control_plane_deadline(d.cp, d.w);
    if d.now.0 >= deadline.at && !d.st.initialized {
        deadline.fail(&mut d.st, &d.observed, d.g, &d.now, &mut d.plan);
        return;
    }
    set_phase(
        &mut d.st,
        ControlPlanePhase::Creating,
        reasons::CREATING,
        &msg,
        d.g,
        &d.now,
    );
    if !d.st.initialized {
        (d.plan).timer(deadline_timer(CONTROL_PLANE_TIMER, d.now.0, deadline.at));
    }
}

/// Secret sync: never blocks the status above.
fn secrets(d: &mut Draft, obs: &Observed, cluster_name: &str) {
    let w = d.w;
    let sw = SyncWorld {
        workspace_ready: obs.ready,
        outputs_endpoint: obs.outputs_endpoint,
        connection: w.connection,
        connection_unchanged: super::super::secret_sources::settled(d.cp, w),
        kubeconfig_secret: w.kubeconfig_secret.as_ref(),
        ca_secret: w.ca_secret.as_ref(),
        namespace: &d.ns,
        cluster_name,
        owner: controller_ref(d.cp),
        now: d.now.clone(),
        token: w.token.as_ref(),
    };
    let out = sync(d.observed.secret_sync.as_ref(), &sw, &mut d.plan);
    if let Some(tw) = &w.token {
        let outcome = out.token.as_ref();
        crate::reconcile::token_refresh::apply(
            tw,
            outcome,
            &mut d.st.conditions,
            &mut d.plan,
            &d.now,
            d.g,
        );
    }
    let st = &mut d.st;
    st.secrets_ready = out.status.state == SecretSyncState::Ready && out.kubeconfig_exists;
    let (ok, reason) = match out.status.state {
        SecretSyncState::Ready if st.secrets_ready => (true, "Ready".to_string()),
        SecretSyncState::Ready => (false, "WritingSecrets".to_string()),
        _ => (
            false,
            (out.status.reason.clone()).unwrap_or_else(|| format!("{:?}", out.status.state)),
        ),
    };
    let message = if ok {
        String::new()
    } else {
        out.status.message.clone().unwrap_or_default()
    };
    set_condition(
        &mut st.conditions,
        cond(SECRETS_READY, ok, &reason, message, d.g),
        d.now.clone(),
    );
    st.secret_sync = Some(out.status);
    st.initialization = Some(crate::api::ControlPlaneInitialization {
        control_plane_initialized: st.initialized,
    });
}
