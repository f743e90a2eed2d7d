//! The in-memory stack capt runs against, built the same way by the demo, the tests and the load
//! generator: the in-process API server with the Workspace and Cluster CRDs (plus the caller's),
//! and the provider-terraform and Cluster API simulators.

use tokio::task::JoinHandle;

use crate::{capisim, kubesim, tfsim};

/// What to start.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub server: kubesim::Config,
    /// CRD documents installed before the simulators start (e.g. capt's own).
    pub crds: Vec<String>,
    pub tf: tfsim::Config,
    pub capi: capisim::Config,
}

/// The running server and simulators.
pub struct SimStack {
    pub server: kubesim::Handle,
    simulators: Vec<JoinHandle<()>>,
}

fn spawn_sim(
    name: &'static str,
    fut: impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            tracing::error!(simulator = name, error = %format!("{e:#}"), "simulator stopped");
        }
    })
}

impl SimStack {
    /// Start the server, install the CRDs and start the simulators.
    pub async fn start(cfg: Config) -> anyhow::Result<Self> {
        let server = kubesim::start(cfg.server).await?;
        let sim_crds = [tfsim::WORKSPACE_CRD_YAML, capisim::CLUSTER_CRD_YAML];
        for crds in cfg.crds.iter().map(String::as_str).chain(sim_crds) {
            server.install_crds_yaml(crds)?;
        }
        let simulators = vec![
            spawn_sim("tfsim", tfsim::run(server.client(), cfg.tf)),
            spawn_sim("capisim", capisim::run(server.client(), cfg.capi)),
        ];
        Ok(Self { server, simulators })
    }

    /// Stop the simulators (the server keeps serving until it is shut down or dropped).
    pub fn stop_simulators(&self) {
        for s in &self.simulators {
            s.abort();
        }
    }
}
