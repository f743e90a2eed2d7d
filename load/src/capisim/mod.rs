//! capisim: the part of Cluster API v1.11's core Cluster controller that capt relies on.
//!
//! Watches `cluster.x-k8s.io/v1beta1` Clusters, adds CAPI's finalizer, resolves the referenced infrastructure
//! cluster and control plane through their CRDs' contract labels, adopts them (controller ownerReference +
//! `cluster.x-k8s.io/cluster-name` label), reads them per contract (v1beta1 or v1beta2) into the Cluster's
//! status (deprecated v1beta1 fields and conditions, v1beta2 conditions), judges the `<cluster>-kubeconfig`
//! Secret as the cluster cache would (`RemoteConnectionProbe`), honours pause, and deletes control plane then
//! infrastructure before releasing a deleted Cluster. See `load/README.md` (section capisim) for the rules
//! and what it leaves out.

mod cluster;
mod conditions;
mod contract;
mod controller;
mod external;
mod health;
mod phases;
mod probe;
mod refs;
mod secrets;
mod status;
mod sts;

use std::path::PathBuf;
use std::time::Duration;

pub use cluster::{
    CLUSTER_NAME_LABEL, FINALIZER, GROUP, OWNER_API_VERSION, PAUSED_ANNOTATION, VERSION,
    api_resource,
};
pub use health::{
    ClusterHealth, FAILURE_MESSAGE_PATH, FAILURE_REASON_PATH, REMOTE_CONNECTION_PROBE,
    V1BETA2_CONDITIONS_PATH, cluster_health,
};
pub use secrets::{KUBECONFIG_KEY, KUBECONFIG_SUFFIX};
pub use sts::{EKS_TOKEN_LIFETIME, FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, eks_token};

/// The Cluster CRD capisim serves (a subset of Cluster API's).
pub const CLUSTER_CRD_YAML: &str = include_str!("../../crds/cluster.x-k8s.io_clusters.yaml");

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Maximum number of Clusters reconciled at once.
    pub concurrency: usize,
    /// While deleting, how often to look again if no event arrives.
    pub deletion_resync: Duration,
    /// Refuse a referenced kind whose CRD has no `cluster.x-k8s.io/v1beta2` or `cluster.x-k8s.io/v1beta1`
    /// contract label, as Cluster API does. When false, such a kind is read at the reference's version under
    /// the v1beta1 contract.
    pub require_contract_label: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            concurrency: 16,
            deletion_resync: Duration::from_secs(30),
            require_contract_label: true,
        }
    }
}

/// Kubeconfig reads that found a token that was valid but had expired (every simulator in this process).
pub fn expired_kubeconfig_reads() -> u64 {
    controller::EXPIRED_READS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs the simulator against `client` until the future is dropped (or the watch fails permanently).
pub async fn run(client: kube::Client, config: Config) -> anyhow::Result<()> {
    controller::run(client, config).await
}

/// Creates or replaces the Cluster CRD and waits briefly for it to be Established.
pub async fn install_crd(client: &kube::Client) -> Result<(), crate::tfsim::CrdError> {
    crate::tfsim::crd::install(client, CLUSTER_CRD_YAML).await
}

/// Command-line arguments of `capt-load capisim`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kubeconfig file (default: KUBECONFIG / ~/.kube/config / in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Clusters reconciled at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Safety resync while waiting for referenced objects to disappear (e.g. 30s).
    #[arg(long, default_value = "30s", value_parser = crate::tfsim::parse_duration)]
    pub deletion_resync: Duration,
    /// Install (create or replace) the Cluster CRD before starting.
    #[arg(long)]
    pub install_crd: bool,
    /// Refuse referenced kinds whose CRD has no Cluster API contract label (as Cluster API does).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub require_contract_label: bool,
}

/// Runs `capt-load capisim` until interrupted.
pub async fn run_cli(args: Args) -> anyhow::Result<()> {
    let client = crate::tfsim::client_from(args.kubeconfig.as_deref()).await?;
    if args.install_crd {
        install_crd(&client).await?;
    }
    let config = Config {
        concurrency: args.concurrency.max(1),
        deletion_resync: args.deletion_resync,
        require_contract_label: args.require_contract_label,
    };
    tracing::info!(concurrency = config.concurrency, "starting capisim");
    tokio::select! {
        res = run(client, config) => res,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
