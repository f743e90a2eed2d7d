//! Where the load runs: the in-process API server with tfsim and capisim, or an existing cluster.

use std::path::PathBuf;

use tokio::task::JoinHandle;

use super::args::Args;
use crate::{capisim, kubesim, tfsim};

pub struct Stack {
    pub client: kube::Client,
    /// The in-process server (None when targeting `--kubeconfig`).
    pub server: Option<kubesim::Handle>,
    pub kubeconfig: PathBuf,
    sims: Vec<JoinHandle<()>>,
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
        for s in &self.sims {
            s.abort();
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
            sims: Vec::new(),
        });
    }
    let h = kubesim::start(kubesim::Config {
        port: 0,
        history: (args.clusters * 60).max(100_000),
        ..Default::default()
    })
    .await?;
    h.install_crds_path(&args.crds)?;
    h.install_crds_yaml(tfsim::WORKSPACE_CRD_YAML)?;
    h.install_crds_yaml(capisim::CLUSTER_CRD_YAML)?;
    let kubeconfig = std::path::absolute(args.out.join("kubeconfig"))?;
    std::fs::write(&kubeconfig, h.kubeconfig_yaml())?;
    let delay: tfsim::Delay = args
        .tf_delay
        .parse()
        .map_err(|e| anyhow::anyhow!("--tf-delay: {e}"))?;
    let tf = tfsim::Config {
        delay,
        seed: args.seed,
        concurrency: args.tf_concurrency.max(1),
        ..Default::default()
    };
    let capi = capisim::Config {
        concurrency: args.capi_concurrency.max(1),
        ..Default::default()
    };
    let (c1, c2) = (h.client(), h.client());
    let sims = vec![
        tokio::spawn(async move {
            if let Err(e) = tfsim::run(c1, tf).await {
                tracing::error!(error = %e, "tfsim stopped");
            }
        }),
        tokio::spawn(async move {
            if let Err(e) = capisim::run(c2, capi).await {
                tracing::error!(error = %e, "capisim stopped");
            }
        }),
    ];
    Ok(Stack {
        client: h.client(),
        server: Some(h),
        kubeconfig,
        sims,
    })
}
