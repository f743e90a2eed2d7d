//! Where the load runs: the in-process API server with tfsim and capisim, or an existing cluster.

use std::path::PathBuf;

use super::args::Args;
use crate::simstack::{self, SimStack};
use crate::{capisim, kubesim, tfsim};

pub struct Stack {
    pub client: kube::Client,
    /// The in-process server (None when targeting `--kubeconfig`).
    pub server: Option<kubesim::Handle>,
    pub kubeconfig: PathBuf,
    sim: Option<SimStack>,
}

impl Stack {
    pub fn target(&self) -> String {
        match &self.server {
            Some(h) => format!("in-process kubesim ({})", h.url()),
            None => format!("kubeconfig {}", self.kubeconfig.display()),
        }
    }

    /// Stop the simulators (the in-process server ends with the process).
    pub fn stop(self) {
        if let Some(sim) = &self.sim {
            sim.stop_simulators();
        }
    }
}

/// Start the in-process server, install the CRDs, write a kubeconfig and start the simulators;
/// or connect to `--kubeconfig`.
pub async fn start(args: &Args) -> anyhow::Result<Stack> {
    if let Some(kc) = &args.kubeconfig {
        return Ok(Stack {
            client: tfsim::client_from(Some(kc)).await?,
            server: None,
            kubeconfig: kc.clone(),
            sim: None,
        });
    }
    let delay: tfsim::Delay = args
        .tf_delay
        .parse()
        .map_err(|e| anyhow::anyhow!("--tf-delay: {e}"))?;
    let sim = SimStack::start(simstack::Config {
        server: kubesim::Config {
            port: 0,
            history: (args.clusters * 60).max(100_000),
            ..Default::default()
        },
        crds: Vec::new(),
        tf: tfsim::Config {
            delay,
            seed: args.seed,
            concurrency: args.tf_concurrency.max(1),
            ..Default::default()
        },
        capi: capisim::Config {
            concurrency: args.capi_concurrency.max(1),
            ..Default::default()
        },
    })
    .await?;
    let h = sim.server.clone();
    h.install_crds_path(&args.crds)?;
    let kubeconfig = std::path::absolute(args.out.join("kubeconfig"))?;
    std::fs::write(&kubeconfig, h.kubeconfig_yaml())?;
    Ok(Stack {
        client: h.client(),
        server: Some(h),
        kubeconfig,
        sim: Some(sim),
    })
}
