//! The phases of a Cluster reconcile, in Cluster API v1.11's order: infrastructure, control plane, then (when
//! the Cluster is deleting) deletion of the control plane, then of the infrastructure.

use std::time::Duration;

use kube::api::DeleteParams;

use super::cluster::{ClusterView, ObjRef};
use super::conditions::V1Condition;
use super::controller::{Ctx, ReconcileError};
use super::external::{External, Role};
use super::status::{Draft, RefOutcome, names};
use crate::tfsim::watch_loop::is_status;

/// Cluster API's wait before looking again for a referenced object that does not exist yet.
pub(crate) const EXTERNAL_READY_WAIT: Duration = Duration::from_secs(30);

/// What one phase asks for next.
pub(crate) type PhaseResult = Result<Option<Duration>, ReconcileError>;

/// A failed phase, as a message for the Cluster's conditions and an error for the retry.
fn failed(c: &ClusterView, message: String) -> (RefOutcome, PhaseResult) {
    (
        RefOutcome::Error(message.clone()),
        Err(ReconcileError::Phase {
            key: c.key.clone(),
            message,
        }),
    )
}

fn phase_error(c: &ClusterView, message: String) -> PhaseResult {
    Err(ReconcileError::Phase {
        key: c.key.clone(),
        message,
    })
}

impl Ctx {
    /// Reads a referenced object (adopting it and copying its failure into the draft).
    async fn external(
        &self,
        c: &ClusterView,
        r: &ObjRef,
        role: Role,
        draft: &mut Draft,
    ) -> Result<Option<External>, ReconcileError> {
        let (w, contract, obj) = self.lookup_ref(c, r).await?;
        let Some(obj) = obj else {
            return Ok(None);
        };
        self.adopt(c, &w, &obj).await?;
        let e = External::read(&obj, (&w.ar.api_version, &w.ar.kind), role, contract);
        if !e.failure_reason.is_empty() {
            draft.failure_reason = Some(e.failure_reason.clone());
        }
        if !e.failure_message.is_empty() {
            draft.failure_message = Some(format!(
                "Failure detected from referenced resource {} with name {:?}: {}",
                e.gvk, e.name, e.failure_message
            ));
        }
        Ok(Some(e))
    }

    /// A referenced object and its contract flag (provisioned / initialized), or what the phase
    /// returns when there is none: a missing object waits (is an error once `latched`, that is once
    /// it had reached `state`; nothing while deleting), an unreadable flag is an error.
    async fn read_ref(
        &self,
        c: &ClusterView,
        r: &ObjRef,
        role: Role,
        draft: &mut Draft,
        latched: bool,
        state: &str,
    ) -> Result<(External, bool), (RefOutcome, PhaseResult)> {
        let e = match self.external(c, r, role, draft).await {
            Err(err) => return Err(failed(c, err.to_string())),
            Ok(None) if c.deleting => return Err((RefOutcome::NotFound, Ok(None))),
            Ok(None) if latched => {
                let m = format!("{} has been deleted after being {state}", r.kind);
                return Err((RefOutcome::NotFound, phase_error(c, m)));
            }
            Ok(None) => return Err((RefOutcome::NotFound, Ok(Some(EXTERNAL_READY_WAIT)))),
            Ok(Some(e)) => e,
        };
        match &e.flag {
            Ok(flag) => {
                let flag = *flag;
                Ok((e, flag))
            }
            Err(err) => {
                let m = err.to_string();
                Err((RefOutcome::Found(Box::new(e)), phase_error(c, m)))
            }
        }
    }

    pub(crate) async fn reconcile_infrastructure(
        &self,
        c: &ClusterView,
        draft: &mut Draft,
    ) -> (RefOutcome, PhaseResult) {
        let Some(r) = &c.infra_ref else {
            if !c.deleting {
                draft.infra_provisioned = true;
                draft
                    .conds
                    .set_v1(V1Condition::truthy(names::INFRASTRUCTURE_READY));
            }
            return (RefOutcome::NoRef, Ok(None));
        };
        let latched = draft.infra_provisioned;
        let (e, provisioned) = match self
            .read_ref(c, r, Role::Infrastructure, draft, latched, "provisioned")
            .await
        {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        draft.mirror_v1(
            names::INFRASTRUCTURE_READY,
            &e,
            provisioned,
            "WaitingForInfrastructure",
            c.deleting,
        );
        if e.deleting || (!provisioned && !draft.infra_provisioned) {
            return (RefOutcome::Found(Box::new(e)), Ok(None));
        }
        let mut result = Ok(None);
        if !draft.endpoint.is_valid() {
            match &e.endpoint {
                Ok(ep) => draft.endpoint = ep.clone().unwrap_or_default(),
                Err(err) => result = phase_error(c, err.to_string()),
            }
        }
        match &e.failure_domains {
            Ok(fd) => draft.failure_domains = Some(fd.clone().unwrap_or_default()),
            Err(err) => result = phase_error(c, err.to_string()),
        }
        if result.is_ok() {
            draft.infra_provisioned = true;
        }
        (RefOutcome::Found(Box::new(e)), result)
    }

    pub(crate) async fn reconcile_control_plane(
        &self,
        c: &ClusterView,
        draft: &mut Draft,
    ) -> (RefOutcome, PhaseResult) {
        let Some(r) = &c.cp_ref else {
            return (RefOutcome::NoRef, Ok(None));
        };
        let latched = draft.cp_initialized;
        let (e, initialized) = match self
            .read_ref(c, r, Role::ControlPlane, draft, latched, "initialized")
            .await
        {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        draft.mirror_v1(
            names::CONTROL_PLANE_READY_V1,
            &e,
            initialized,
            "WaitingForControlPlane",
            c.deleting,
        );
        if e.deleting {
            return (RefOutcome::Found(Box::new(e)), Ok(None));
        }
        if !draft.conds.v1_is_true(names::CONTROL_PLANE_INITIALIZED) {
            draft.conds.set_v1(if initialized {
                V1Condition::truthy(names::CONTROL_PLANE_INITIALIZED)
            } else {
                V1Condition::info(
                    names::CONTROL_PLANE_INITIALIZED,
                    "WaitingForControlPlaneProviderInitialized",
                    "Waiting for control plane provider to indicate the control plane has been initialized",
                )
            });
        }
        if !initialized && !draft.cp_initialized {
            return (RefOutcome::Found(Box::new(e)), Ok(None));
        }
        let mut result = Ok(None);
        if !draft.endpoint.is_valid() {
            match &e.endpoint {
                Ok(ep) => draft.endpoint = ep.clone().unwrap_or_default(),
                Err(err) => result = phase_error(c, err.to_string()),
            }
        }
        if result.is_ok() {
            draft.cp_initialized = true;
        }
        (RefOutcome::Found(Box::new(e)), result)
    }

    /// Deletes the control plane and waits until it is gone, then the infrastructure cluster; `Ok(true)` when
    /// both are gone and the finalizer may be removed.
    pub(crate) async fn reconcile_delete(
        &self,
        c: &ClusterView,
        draft: &mut Draft,
        infra: &RefOutcome,
        cp: &RefOutcome,
    ) -> Result<bool, ReconcileError> {
        let internal = || {
            (
                "InternalError".to_string(),
                "Please check controller logs for errors".to_string(),
            )
        };
        for (r, outcome, v1_type, waiting) in [
            (
                &c.cp_ref,
                cp,
                names::CONTROL_PLANE_READY_V1,
                "WaitingForControlPlaneDeletion",
            ),
            (
                &c.infra_ref,
                infra,
                names::INFRASTRUCTURE_READY,
                "WaitingForInfrastructureDeletion",
            ),
        ] {
            let Some(r) = r else { continue };
            match outcome {
                RefOutcome::NoRef => {}
                RefOutcome::Error(_) => {
                    draft.deleting = Some(internal());
                    return Ok(false);
                }
                RefOutcome::NotFound => {
                    draft
                        .conds
                        .set_v1(V1Condition::info(v1_type, names::DELETED, ""));
                }
                RefOutcome::Found(e) => {
                    if !e.deleting {
                        self.delete_ref(c, r).await.inspect_err(|_| {
                            draft.deleting = Some(internal());
                        })?;
                    }
                    draft.deleting = Some((
                        waiting.to_string(),
                        format!("Waiting for {} to be deleted", r.kind),
                    ));
                    return Ok(false);
                }
            }
        }
        draft.deleting = Some((
            "DeletionCompleted".to_string(),
            "Deletion completed".to_string(),
        ));
        Ok(true)
    }

    async fn delete_ref(&self, c: &ClusterView, r: &ObjRef) -> Result<(), ReconcileError> {
        let (w, _, _) = self.lookup_ref(c, r).await?;
        match self
            .refs
            .api(&w, &c.key.namespace)
            .delete(&r.name, &DeleteParams::default())
            .await
        {
            Ok(_) => {
                tracing::info!(cluster = %c.key, kind = %r.kind, name = %r.name, "deleting referenced object");
                Ok(())
            }
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(source) => Err(ReconcileError::RefWrite {
                key: c.key.clone(),
                kind: r.kind.clone(),
                name: r.name.clone(),
                source: Box::new(source),
            }),
        }
    }
}
