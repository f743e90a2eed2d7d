//! Where one demo cluster stands, from its CAPTCluster, CAPTControlPlane and kubeconfig secret.

use k8s_openapi::api::core::v1::Secret;

use crate::api::names::{conditions, reasons, secrets, status};
use crate::api::{CAPTCluster, CAPTControlPlane, Condition, ControlPlanePhase};

/// How far one cluster got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Nothing reconciled yet.
    Pending,
    /// The VPC is being created.
    Vpc,
    /// The VPC is ready; the EKS control plane is being created.
    ControlPlane,
    /// The control plane is ready; the `<name>-kubeconfig` secret is missing.
    Kubeconfig,
    /// Infrastructure and control plane ready, kubeconfig secret present.
    Ready,
    /// A failure is reported (it may still heal).
    Failed,
}

impl Stage {
    /// The coarse phase shown by the progress bar.
    pub fn phase(self) -> Phase {
        match self {
            Stage::Pending => Phase::Pending,
            Stage::Vpc | Stage::ControlPlane | Stage::Kubeconfig => Phase::Creating,
            Stage::Ready => Phase::Ready,
            Stage::Failed => Phase::Failed,
        }
    }

    /// Text of the PHASE column.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Pending => "Pending",
            Stage::Vpc => "Creating (VPC)",
            Stage::ControlPlane => "Creating (EKS)",
            Stage::Kubeconfig => "Creating (kubeconfig)",
            Stage::Ready => "Ready",
            Stage::Failed => "Failed",
        }
    }
}

/// Phases counted by the progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    Ready,
    Creating,
    Pending,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Ready => "Ready",
            Phase::Creating => "Creating",
            Phase::Pending => "Pending",
            Phase::Failed => "Failed",
        }
    }
}

/// One condition as reported in the stuck-cluster summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionLine {
    /// `CAPTCluster` or `CAPTControlPlane`.
    pub kind: &'static str,
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// Observed state of one cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterView {
    pub vpc_id: Option<String>,
    pub infrastructure_ready: bool,
    pub control_plane_ready: bool,
    /// `CAPTControlPlane.status.endpoint`.
    pub endpoint: Option<String>,
    /// The `<name>-kubeconfig` secret exists.
    pub kubeconfig_secret: bool,
    /// `server` of the kubeconfig in the secret's `value`, when it parses.
    pub kubeconfig_server: Option<String>,
    pub failed: bool,
    /// Conditions that explain the current state (the readiness ones and any failure).
    pub conditions: Vec<ConditionLine>,
    /// The controller has written some status on either object.
    pub started: bool,
}

impl ClusterView {
    /// Reads the three objects (any may be missing).
    pub fn from_objects(
        cc: Option<&CAPTCluster>,
        cp: Option<&CAPTControlPlane>,
        kubeconfig: Option<&Secret>,
    ) -> Self {
        let mut v = ClusterView::default();
        if let Some(st) = cc.and_then(|c| c.status.as_ref()) {
            v.started |= !st.conditions.is_empty() || st.vpc_workspace_name.is_some();
            v.vpc_id = st.vpc_id.clone().filter(|s| !s.is_empty());
            v.infrastructure_ready = st.ready;
            v.failed |= st.failure_reason.is_some()
                || has_true(&st.conditions, conditions::VPC_FAILED)
                || st.conditions.iter().any(|c| {
                    c.type_ == conditions::VPC_READY
                        && c.status == status::FALSE
                        && VPC_FAILURE_REASONS.contains(&c.reason.as_str())
                });
            v.explain(
                "CAPTCluster",
                &st.conditions,
                &[conditions::VPC_READY, conditions::WAITING_FOR_CLUSTER],
                &[conditions::VPC_FAILED],
            );
            v.explain_failure("CAPTCluster", &st.failure_reason, &st.failure_message);
        }
        if let Some(st) = cp.and_then(|c| c.status.as_ref()) {
            v.started |= !st.conditions.is_empty() || st.phase.is_some();
            v.control_plane_ready = st.ready;
            v.endpoint = st.endpoint.clone().filter(|s| !s.is_empty());
            v.failed |= st.phase == Some(ControlPlanePhase::Failed) || st.failure_reason.is_some();
            v.explain(
                "CAPTControlPlane",
                &st.conditions,
                &[conditions::READY],
                &[conditions::FAILED],
            );
            v.explain_failure("CAPTControlPlane", &st.failure_reason, &st.failure_message);
        }
        if let Some(s) = kubeconfig {
            v.kubeconfig_secret = true;
            v.kubeconfig_server = s
                .data
                .as_ref()
                .and_then(|d| d.get(secrets::KUBECONFIG_VALUE_KEY))
                .and_then(|b| std::str::from_utf8(&b.0).ok())
                .and_then(kubeconfig_server);
        }
        v
    }

    /// Adds the `always` conditions, and the `when_true` ones when they are True.
    fn explain(
        &mut self,
        kind: &'static str,
        conds: &[Condition],
        always: &[&str],
        when_true: &[&str],
    ) {
        for c in conds {
            let wanted = always.contains(&c.type_.as_str())
                || (when_true.contains(&c.type_.as_str()) && c.status == status::TRUE);
            if wanted {
                self.conditions.push(ConditionLine {
                    kind,
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                });
            }
        }
    }

    /// Adds `failureReason`/`failureMessage` unless a condition already says the same.
    fn explain_failure(
        &mut self,
        kind: &'static str,
        reason: &Option<String>,
        message: &Option<String>,
    ) {
        let Some(message) = message.as_ref().filter(|m| !m.is_empty()) else {
            return;
        };
        if self
            .conditions
            .iter()
            .any(|l| l.kind == kind && &l.message == message)
        {
            return;
        }
        self.conditions.push(ConditionLine {
            kind,
            type_: "failureMessage".to_string(),
            status: String::new(),
            reason: reason.clone().unwrap_or_default(),
            message: message.clone(),
        });
    }

    /// Ready as the demo defines it: both objects ready and the kubeconfig secret present.
    pub fn is_ready(&self) -> bool {
        self.infrastructure_ready && self.control_plane_ready && self.kubeconfig_secret
    }

    pub fn stage(&self) -> Stage {
        if self.is_ready() {
            Stage::Ready
        } else if self.failed {
            Stage::Failed
        } else if !self.infrastructure_ready {
            if self.started {
                Stage::Vpc
            } else {
                Stage::Pending
            }
        } else if !self.control_plane_ready {
            Stage::ControlPlane
        } else {
            Stage::Kubeconfig
        }
    }
}

/// `VPCReady=False` reasons that mean the VPC failed rather than is still being created.
const VPC_FAILURE_REASONS: [&str; 3] = [
    reasons::VPC_CREATION_FAILED,
    reasons::INVALID_VPC_CONFIG,
    reasons::VPC_RECONCILIATION_FAILED,
];

fn has_true(conds: &[Condition], type_: &str) -> bool {
    conds
        .iter()
        .any(|c| c.type_ == type_ && c.status == status::TRUE)
}

/// The `server` of a kubeconfig's current context (else of its first cluster).
pub fn kubeconfig_server(text: &str) -> Option<String> {
    let kc = kube::config::Kubeconfig::from_yaml(text).ok()?;
    let by_context = kc.current_context.as_ref().and_then(|cur| {
        let ctx = kc.contexts.iter().find(|c| &c.name == cur)?;
        let cluster = &ctx.context.as_ref()?.cluster;
        kc.clusters.iter().find(|c| &c.name == cluster)
    });
    by_context
        .or(kc.clusters.first())
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{CAPTClusterStatus, CAPTControlPlaneStatus};
    use k8s_openapi::ByteString;

    fn cond(type_: &str, ok: bool, reason: &str) -> Condition {
        Condition::new(type_, ok, reason, format!("{reason} message"))
    }

    fn cc(status: CAPTClusterStatus) -> CAPTCluster {
        CAPTCluster {
            status: Some(status),
            ..CAPTCluster::default()
        }
    }

    fn cp(status: CAPTControlPlaneStatus) -> CAPTControlPlane {
        CAPTControlPlane {
            status: Some(status),
            ..CAPTControlPlane::default()
        }
    }

    #[test]
    fn stages_follow_the_flow() {
        assert_eq!(
            ClusterView::from_objects(None, None, None).stage(),
            Stage::Pending
        );
        let creating = cc(CAPTClusterStatus {
            conditions: vec![cond("VPCReady", false, "VPCCreating")],
            ..Default::default()
        });
        let v = ClusterView::from_objects(Some(&creating), None, None);
        assert_eq!(v.stage(), Stage::Vpc);
        assert_eq!(v.conditions[0].reason, "VPCCreating");

        let vpc_ready = cc(CAPTClusterStatus {
            ready: true,
            vpc_id: Some("vpc-1".into()),
            ..Default::default()
        });
        let eks_creating = cp(CAPTControlPlaneStatus {
            phase: Some(ControlPlanePhase::Creating),
            ..Default::default()
        });
        let v = ClusterView::from_objects(Some(&vpc_ready), Some(&eks_creating), None);
        assert_eq!(v.stage(), Stage::ControlPlane);
        assert_eq!(v.vpc_id.as_deref(), Some("vpc-1"));

        let eks_ready = cp(CAPTControlPlaneStatus {
            ready: true,
            endpoint: Some("abc.eks.amazonaws.com:443".into()),
            ..Default::default()
        });
        assert_eq!(
            ClusterView::from_objects(Some(&vpc_ready), Some(&eks_ready), None).stage(),
            Stage::Kubeconfig
        );
        let kc = "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: x\n  cluster:\n    server: https://other\n- name: demo\n  cluster:\n    server: https://abc.eks.amazonaws.com\ncontexts:\n- name: c\n  context:\n    cluster: demo\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n";
        let secret = Secret {
            data: Some([("value".to_string(), ByteString(kc.as_bytes().to_vec()))].into()),
            ..Secret::default()
        };
        let v = ClusterView::from_objects(Some(&vpc_ready), Some(&eks_ready), Some(&secret));
        assert_eq!(v.stage(), Stage::Ready);
        assert_eq!(
            v.kubeconfig_server.as_deref(),
            Some("https://abc.eks.amazonaws.com")
        );
    }

    #[test]
    fn failures_are_reported() {
        let failed = cp(CAPTControlPlaneStatus {
            phase: Some(ControlPlanePhase::Failed),
            conditions: vec![
                cond("Ready", false, "WorkspaceError"),
                cond("Failed", false, "WorkspaceError"),
            ],
            failure_message: Some("WorkspaceError message".into()),
            ..Default::default()
        });
        let v = ClusterView::from_objects(None, Some(&failed), None);
        assert_eq!(v.stage(), Stage::Failed);
        assert_eq!(v.stage().phase(), Phase::Failed);
        assert_eq!(v.conditions.len(), 1, "{:?}", v.conditions);
        assert_eq!(v.conditions[0].kind, "CAPTControlPlane");

        let vpc_failed = cc(CAPTClusterStatus {
            conditions: vec![cond("VPCReady", false, "VPCCreationFailed")],
            failure_message: Some("other text".into()),
            ..Default::default()
        });
        let v = ClusterView::from_objects(Some(&vpc_failed), None, None);
        assert_eq!(v.stage(), Stage::Failed);
        assert_eq!(v.conditions.len(), 2);
        assert_eq!(v.conditions[1].type_, "failureMessage");
    }

    #[test]
    fn garbage_kubeconfig_has_no_server() {
        assert_eq!(kubeconfig_server("not: [a kubeconfig"), None);
        assert_eq!(kubeconfig_server(""), None);
    }
}
