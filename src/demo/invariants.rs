//! The invariant check at the end of a demo run: every cluster has exactly the objects capt
//! creates for it (see `capt_load::invariants`), and what decides the exit status.

use std::fmt::Write as _;

use capt_load::invariants::{InvariantReport, Settle, check_settled};

use super::summary::{DemoSummary, Ending};

/// Violations printed in the summary (all are counted).
pub const PRINTED_VIOLATIONS: usize = 10;

/// Exit status of `capt demo` when some cluster did not become Ready.
pub const NOT_READY_EXIT_CODE: i32 = 1;
/// Exit status of `capt demo` when every cluster is Ready but an invariant is violated (or the
/// check could not run).
pub const INVARIANT_EXIT_CODE: i32 = 2;

/// Whether and how the invariants were checked.
#[derive(Clone, Debug, PartialEq)]
pub enum InvariantCheck {
    /// The run was interrupted before the check.
    NotRun,
    /// The objects could not be listed.
    Failed(String),
    Checked(InvariantReport),
}

impl InvariantCheck {
    /// Violations found, when the check ran.
    pub fn violations(&self) -> Option<usize> {
        match self {
            InvariantCheck::Checked(r) => Some(r.violations),
            _ => None,
        }
    }

    /// The report, when the check ran.
    pub fn report(&self) -> Option<&InvariantReport> {
        match self {
            InvariantCheck::Checked(r) => Some(r),
            _ => None,
        }
    }

    /// The `Invariants:` line of the totals, and the first violations below it.
    pub fn lines(&self) -> String {
        let mut out = String::new();
        match self {
            InvariantCheck::NotRun => {
                let _ = writeln!(out, "Invariants:         not checked (interrupted)");
            }
            InvariantCheck::Failed(e) => {
                let _ = writeln!(out, "Invariants:         check failed: {e}");
            }
            InvariantCheck::Checked(r) => {
                let _ = writeln!(out, "Invariants:         {}", r.counts_line());
                out.push_str(&r.first_details(PRINTED_VIOLATIONS, "  "));
            }
        }
        out
    }
}

/// Checks the objects on the demo's API server, waiting (bounded) for a clean or settled result.
pub async fn check(client: &kube::Client) -> InvariantCheck {
    match check_settled(client, &Settle::default()).await {
        Ok(r) => InvariantCheck::Checked(r),
        Err(e) => InvariantCheck::Failed(e.to_string()),
    }
}

/// Why `capt demo` fails: exit status and the message for stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

/// The outcome of a run: `Ok` when every cluster is Ready and no invariant is violated.
pub fn verdict(s: &DemoSummary) -> Result<(), Failure> {
    if !s.all_ready() {
        let stuck: Vec<&str> = s.stuck().map(|c| c.name.as_str()).collect();
        return Err(Failure {
            code: NOT_READY_EXIT_CODE,
            message: format!(
                "{} of {} clusters did not become Ready ({}): {}",
                stuck.len(),
                s.clusters.len(),
                match s.ending {
                    Ending::Interrupted => "interrupted",
                    _ => "timed out",
                },
                stuck.join(", ")
            ),
        });
    }
    match &s.invariants {
        InvariantCheck::Checked(r) if !r.is_clean() => Err(Failure {
            code: INVARIANT_EXIT_CODE,
            message: format!(
                "every cluster is Ready but {} invariant violations remain: {}",
                r.violations,
                r.details
                    .first()
                    .map_or_else(String::new, ToString::to_string)
            ),
        }),
        InvariantCheck::Failed(e) => Err(Failure {
            code: INVARIANT_EXIT_CODE,
            message: format!("the invariant check could not run: {e}"),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use capt_load::invariants::names as load;

    use crate::api::names::{annotations, labels, secrets, suffixes, templates};
    use crate::reconcile::ownership::OWNER_ANNOTATION;

    /// The check names objects the way capt does.
    #[test]
    fn the_check_uses_capts_names() {
        let pairs = [
            (load::VPC, suffixes::VPC),
            (
                load::EKS_CONTROL_PLANE_APPLY,
                suffixes::EKS_CONTROL_PLANE_APPLY,
            ),
            (load::KUBECONFIG_APPLY, suffixes::KUBECONFIG_APPLY),
            (load::SPOT_ROLE_CHECK, suffixes::SPOT_ROLE_CHECK),
            (load::SPOT_ROLE_CREATE, suffixes::SPOT_ROLE_CREATE),
            (load::KUBECONFIG, suffixes::KUBECONFIG),
            (load::CA, suffixes::CA),
            (load::APPLY, suffixes::APPLY),
            (load::SPOT_ROLE_CHECK_TEMPLATE, templates::SPOT_ROLE_CHECK),
            (load::SPOT_ROLE_CREATE_TEMPLATE, templates::SPOT_ROLE_CREATE),
            (load::KUBECONFIG_TEMPLATE, templates::EKS_KUBECONFIG),
            (load::DEFAULT_NAMESPACE, templates::DEFAULT_NAMESPACE),
            (load::CLUSTER_NAME_LABEL, labels::CLUSTER_NAME),
            (load::MANAGED_BY_LABEL, labels::MANAGED_BY),
            (load::WORKSPACE_OWNER_ANNOTATION, OWNER_ANNOTATION),
            (load::CLUSTER_SECRET_TYPE, secrets::CLUSTER_SECRET_TYPE),
            (load::KUBECONFIG_VALUE_KEY, secrets::KUBECONFIG_VALUE_KEY),
            (load::CLUSTER_CA_DATA_KEY, secrets::CLUSTER_CA_DATA_KEY),
            (load::REGION_ANNOTATION, annotations::REGION),
            (
                load::APPLY_NAMESPACE_LABEL,
                labels::WORKSPACE_TEMPLATE_APPLY_NAMESPACE,
            ),
            (
                load::APPLY_NAME_LABEL,
                labels::WORKSPACE_TEMPLATE_APPLY_NAME,
            ),
        ];
        for (theirs, ours) in pairs {
            assert_eq!(theirs, ours);
        }
        assert_eq!(load::CA_KEYS, [secrets::TLS_CRT_KEY, secrets::CA_CRT_KEY]);
        assert_eq!(load::MANAGED_BY_VALUE, labels::MANAGED_BY_VALUE);
    }
}
