//! Invariants at scale: once the clusters have converged, every Cluster API cluster has exactly
//! the objects capt creates for it — nothing missing, nothing duplicated, nothing orphaned, nothing
//! stuck — and Cluster API saw no failure and could use every kubeconfig.
//!
//! The check itself ([`check`]) is pure: it reads a [`Snapshot`] of listed objects (and, for
//! "stuck", the per-cluster [`Fingerprints`] of an earlier snapshot) and returns an
//! [`InvariantReport`]. [`collect`] lists the snapshot from an API server and re-checks until the
//! result is clean or nothing has changed for a window. Used by `capt-load run` and `capt demo`.
//!
//! What capt creates for one cluster (`<cluster>` = the Cluster, `<cc>`/`<cp>` = its CAPTCluster /
//! CAPTControlPlane, all in the cluster's namespace unless noted):
//!
//! | object | name | owner | expected when |
//! |---|---|---|---|
//! | WorkspaceTemplateApply (VPC) | `spec.workspaceTemplateApplyName` or `<cc>-vpc` | CAPTCluster | the CAPTCluster uses `vpcTemplateRef` and is ready |
//! | WorkspaceTemplateApply (EKS) | `spec.workspaceTemplateApplyName` or `<cp>-eks-controlplane-apply` | CAPTControlPlane | the control plane is ready |
//! | WorkspaceTemplateApply (spot role check) | `<cp>-spot-role-check` | CAPTControlPlane | template `spot-role-check` exists in the namespace and the control plane is ready |
//! | WorkspaceTemplateApply (spot role create) | `<cp>-spot-role-create` | CAPTControlPlane | also: template `spot-role-create` exists and the check Workspace is Ready with `role_exists` not true |
//! | WorkspaceTemplateApply (kubeconfig) | `<cp>-kubeconfig-apply` | CAPTControlPlane | template `eks-kubeconfig-template` exists (namespace or `default`), the control plane is ready and its connection secret has the CA |
//! | Workspace (cluster-scoped) | the apply's `status.workspaceName` (apply name without `-apply`) | annotation `infrastructure.cluster.x-k8s.io/owner: WorkspaceTemplateApply/<ns>/<apply>` | its apply exists and has applied |
//! | connection Secret | the Workspace's `spec.writeConnectionSecretToRef` | ownerReference to the Workspace (written by provider-terraform) | the Workspace is Ready |
//! | Secret `<cluster>-kubeconfig` | type `cluster.x-k8s.io/secret`, key `value`, label `cluster.x-k8s.io/cluster-name` | controller ownerReference to the CAPTControlPlane | the control plane's secret sync is Ready |
//! | Secret `<cluster>-ca` | keys `tls.crt`, `ca.crt`, same label | same | same |
//!
//! Workspaces of `spot-role-create` applies are kept when their apply goes (the role is
//! account-wide): such a Workspace without an apply is counted as `retained`, not as an orphan.

mod collect;
mod index;
mod object;
mod report;
mod rules;
mod secrets;

#[cfg(test)]
mod tests;

pub use collect::{Settle, SettleError, check_settled, snapshot};
pub use index::{Fingerprints, fingerprints};
pub use report::{Category, InvariantReport, MAX_DETAILS, Violation};

use serde_json::Value;

/// Names capt gives the objects it creates (the same strings as capt's `api::names`; the demo's
/// tests compare them).
pub mod names {
    pub const VPC: &str = "-vpc";
    pub const EKS_CONTROL_PLANE_APPLY: &str = "-eks-controlplane-apply";
    pub const KUBECONFIG_APPLY: &str = "-kubeconfig-apply";
    pub const SPOT_ROLE_CHECK: &str = "-spot-role-check";
    pub const SPOT_ROLE_CREATE: &str = "-spot-role-create";
    pub const KUBECONFIG: &str = "-kubeconfig";
    pub const CA: &str = "-ca";
    pub const APPLY: &str = "-apply";
    pub const SPOT_ROLE_CHECK_TEMPLATE: &str = "spot-role-check";
    pub const SPOT_ROLE_CREATE_TEMPLATE: &str = "spot-role-create";
    pub const KUBECONFIG_TEMPLATE: &str = "eks-kubeconfig-template";
    pub const DEFAULT_NAMESPACE: &str = "default";
    pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
    pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
    pub const MANAGED_BY_VALUE: &str = "capt";
    pub const APPLY_NAMESPACE_LABEL: &str =
        "infrastructure.cluster.x-k8s.io/workspacetemplateapply-namespace";
    pub const APPLY_NAME_LABEL: &str =
        "infrastructure.cluster.x-k8s.io/workspacetemplateapply-name";
    pub const REGION_ANNOTATION: &str = "cluster.x-k8s.io/region";
    pub const WORKSPACE_OWNER_ANNOTATION: &str = "infrastructure.cluster.x-k8s.io/owner";
    pub const CLUSTER_SECRET_TYPE: &str = "cluster.x-k8s.io/secret";
    pub const KUBECONFIG_VALUE_KEY: &str = "value";
    pub const CA_KEYS: [&str; 2] = ["tls.crt", "ca.crt"];
    pub const CLUSTER_CA_DATA_KEY: &str = "cluster_certificate_authority_data";
    pub const CLUSTER_API_GROUP: &str = "cluster.x-k8s.io";
    pub const INFRASTRUCTURE_GROUP: &str = "infrastructure.cluster.x-k8s.io";
    pub const CONTROL_PLANE_GROUP: &str = "controlplane.cluster.x-k8s.io";
    pub const TERRAFORM_GROUP: &str = "tf.upbound.io";
    /// Cluster API's v1beta2 condition: the kubeconfig secret reaches the workload cluster.
    pub const REMOTE_CONNECTION_PROBE: &str = "RemoteConnectionProbe";
}

/// The objects the check reads, as listed (any order).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// `cluster.x-k8s.io` Clusters.
    pub clusters: Vec<Value>,
    pub capt_clusters: Vec<Value>,
    pub control_planes: Vec<Value>,
    pub applies: Vec<Value>,
    pub workspaces: Vec<Value>,
    pub templates: Vec<Value>,
    pub secrets: Vec<Value>,
}

/// Checks `now`; clusters not Ready whose objects are the same as in `earlier` count as stuck.
pub fn check(now: &Snapshot, earlier: Option<&Fingerprints>) -> InvariantReport {
    let idx = index::Index::build(now);
    let mut findings = Vec::new();
    let mut tally = report::Tally::default();
    rules::run(&idx, earlier, &mut findings, &mut tally);
    InvariantReport::from_findings(findings, tally)
}
