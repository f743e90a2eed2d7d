//! capisim: the part of Cluster API core that capt relies on.
//!
//! Watches `cluster.x-k8s.io/v1beta1` Clusters, adds CAPI's finalizer, adopts the referenced infrastructure
//! cluster and control plane (controller ownerReference + `cluster.x-k8s.io/cluster-name` label), mirrors their
//! readiness, endpoint and failure domains into the Cluster, sets the phase, honours pause, and deletes
//! control plane then infrastructure before releasing a deleted Cluster. See `load/README.md` (section capisim)
//! for what it leaves out.

mod cluster;
mod controller;
mod refs;
mod status;

use std::path::PathBuf;
use std::time::Duration;

pub use cluster::{CLUSTER_NAME_LABEL, FINALIZER, GROUP, PAUSED_ANNOTATION, VERSION, api_resource};

/// The Cluster CRD capisim serves (a subset of Cluster API's).
pub const CLUSTER_CRD_YAML: &str = include_str!("../../crds/cluster.x-k8s.io_clusters.yaml");

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Maximum number of Clusters reconciled at once.
    pub concurrency: usize,
    /// While deleting, how often to look again if no event arrives.
    pub deletion_resync: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            concurrency: 16,
            deletion_resync: Duration::from_secs(30),
        }
    }
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
    };
    tracing::info!(concurrency = config.concurrency, "starting capisim");
    tokio::select! {
        res = run(client, config) => res,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
