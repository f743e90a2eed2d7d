//! WorkspaceTemplate and the ClusterClass template kinds.
//!
//! A WorkspaceTemplate gets its finalizer only while it is not being deleted, and keeps it
//! while a live WorkspaceTemplateApply still references it: deleting a template in use is blocked
//! with a condition and a Warning Event instead of breaking the applies silently.
//! CaptControlPlaneTemplate and CAPTClusterTemplate report whether their embedded spec is valid and
//! the WorkspaceTemplate they reference exists.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;

use super::children::has_finalizer;
use super::plan::{Blocked, Op, Plan};
use crate::api::names::{finalizers, status as cstatus};
use crate::api::{
    Condition, CrossplaneCondition, TemplateStatus, WorkspaceTemplate, WorkspaceTemplateStatus,
    set_condition,
};

/// Condition type on a WorkspaceTemplate listing the applies that use it.
pub const IN_USE: &str = "InUse";
/// Condition type on the template kinds.
pub const VALID: &str = "Valid";

/// `users`: `namespace/name` of live applies referencing the template (looked up only while the
/// template is being deleted; `InUse` is reported then).
pub fn decide_workspace_template(
    t: &WorkspaceTemplate,
    users: &[String],
    now: &Time,
) -> Plan<WorkspaceTemplateStatus> {
    if super::pause::is_paused(t.meta(), None) {
        return super::pause::paused_plan();
    }
    let mut plan = Plan::default();
    let has = has_finalizer(t.meta(), finalizers::WORKSPACE_TEMPLATE);
    let observed = t.status.clone().unwrap_or_default();
    let mut st = observed.clone();
    let in_use = !users.is_empty();
    let message = if in_use {
        format!("Used by {}", users.join(", "))
    } else {
        String::new()
    };
    let status = if in_use {
        cstatus::TRUE
    } else {
        cstatus::FALSE
    };
    let keep = st
        .conditions
        .iter()
        .find(|c| c.type_ == IN_USE && c.status == status)
        .and_then(|c| c.last_transition_time.clone());
    st.conditions.retain(|c| c.type_ != IN_USE);
    if t.meta().deletion_timestamp.is_some() {
        st.conditions.push(CrossplaneCondition {
            type_: IN_USE.into(),
            status: status.into(),
            reason: if in_use {
                "InUse".into()
            } else {
                "Unused".into()
            },
            message: (!message.is_empty()).then(|| message.clone()),
            last_transition_time: Some(keep.unwrap_or_else(|| now.clone())),
            observed_generation: t.meta().generation,
        });
    }
    if t.meta().deletion_timestamp.is_some() {
        if !has {
            return plan;
        }
        if in_use {
            if st != observed {
                plan.warning("TemplateInUse", format!("Deletion waits: {message}"));
            }
            plan.status = Some(st);
            plan.block(Blocked::waiting("TemplateInUse", message));
        } else {
            plan.op(Op::RemoveFinalizer(finalizers::WORKSPACE_TEMPLATE));
        }
        return plan;
    }
    if !has {
        plan.op(Op::AddFinalizer(finalizers::WORKSPACE_TEMPLATE));
    }
    plan.status = Some(st);
    plan
}

/// For the template kinds: `invalid` is the spec validation error, `template` the referenced
/// WorkspaceTemplate as `namespace/name` and whether it exists.
pub fn decide_template(
    observed: Option<&TemplateStatus>,
    generation: Option<i64>,
    invalid: Option<String>,
    template: (&str, bool),
    now: &Time,
) -> Plan<TemplateStatus> {
    let mut plan = Plan::default();
    let observed = observed.cloned().unwrap_or_default();
    let mut st = observed.clone();
    st.observed_generation = generation;
    let (ok, reason, message) = match (&invalid, template.1) {
        (Some(e), _) => (false, "InvalidSpec", e.clone()),
        (None, false) => (
            false,
            crate::api::names::reasons::WORKSPACE_TEMPLATE_NOT_FOUND,
            format!("WorkspaceTemplate {} not found", template.0),
        ),
        (None, true) => (true, "Valid", String::new()),
    };
    set_condition(
        &mut st.conditions,
        Condition::new(VALID, ok, reason, message.clone()).with_observed_generation(generation),
        now.clone(),
    );
    if !ok && st != observed {
        plan.warning(reason, message.clone());
    }
    plan.status = Some(st);
    if !ok {
        plan.block(Blocked::waiting(reason, message));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::WorkspaceTemplateSpec;

    fn now() -> Time {
        Time("2026-01-01T00:00:00Z".parse().unwrap())
    }

    fn wt(finalizer: bool, deleting: bool) -> WorkspaceTemplate {
        let mut t = WorkspaceTemplate::new("vpc-template", WorkspaceTemplateSpec::default());
        t.metadata.namespace = Some("default".into());
        if finalizer {
            t.metadata.finalizers = Some(vec![finalizers::WORKSPACE_TEMPLATE.into()]);
        }
        if deleting {
            t.metadata.deletion_timestamp = Some(now());
        }
        t
    }

    #[test]
    fn workspace_template_table() {
        let users = vec!["ns/a-vpc".to_string()];
        // (finalizer, deleting, users, expected op, blocked)
        type Case<'a> = (bool, bool, &'a [String], Option<Op>, bool);
        let cases: [Case; 6] = [
            (
                false,
                false,
                &[],
                Some(Op::AddFinalizer(finalizers::WORKSPACE_TEMPLATE)),
                false,
            ),
            (true, false, &users, None, false),
            // Never add the finalizer to a terminating object.
            (false, true, &[], None, false),
            (false, true, &users, None, false),
            (true, true, &users, None, true),
            (
                true,
                true,
                &[],
                Some(Op::RemoveFinalizer(finalizers::WORKSPACE_TEMPLATE)),
                false,
            ),
        ];
        for (i, (f, d, u, op, blocked)) in cases.into_iter().enumerate() {
            let p = decide_workspace_template(&wt(f, d), u, &now());
            assert_eq!(p.ops.first().cloned(), op, "case {i}");
            assert_eq!(p.blocked.is_some(), blocked, "case {i}");
        }
        let p = decide_workspace_template(&wt(true, true), &users, &now());
        let c = &p.status.unwrap().conditions[0];
        assert_eq!((c.type_.as_str(), c.status.as_str()), (IN_USE, "True"));
        assert!(c.message.as_deref().unwrap().contains("ns/a-vpc"));
        assert_eq!(p.events[0].reason, "TemplateInUse");
    }

    #[test]
    fn template_kinds_report_validity() {
        let p = decide_template(None, Some(1), None, ("default/eks", true), &now());
        assert!(p.blocked.is_none());
        assert!(p.status.as_ref().unwrap().conditions[0].is_true());
        let p = decide_template(None, Some(1), None, ("default/eks", false), &now());
        let c = &p.status.as_ref().unwrap().conditions[0];
        assert_eq!(c.reason, "WorkspaceTemplateNotFound");
        assert!(c.message.contains("default/eks"));
        let p = decide_template(
            None,
            Some(2),
            Some("spec.version must not be empty".into()),
            ("x/y", true),
            &now(),
        );
        assert_eq!(p.status.unwrap().conditions[0].reason, "InvalidSpec");
        assert_eq!(p.events.len(), 1);
    }
}
