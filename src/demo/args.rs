//! Flags of `capt demo`.

use std::path::PathBuf;
use std::time::Duration;

use capt_load::tfsim::{Delay, FaultRule, parse_duration};

use crate::actors::RuntimeSettings;

/// Default `--tf-delay`: a simulated `terraform apply` takes 300 ms to 1.5 s.
pub const DEFAULT_TF_DELAY: &str = "uniform:300ms-1500ms";

/// Run the whole flow on this machine: an in-memory API server, simulated provider-terraform
/// and Cluster API, and the capt controller, with N clusters from creation to Ready.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Number of clusters to create (each is a Cluster, a CAPTCluster and a CAPTControlPlane
    /// named demo-01, demo-02, …).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=9999))]
    pub clusters: u16,
    /// How long one simulated `terraform apply` takes: `2s`, `500ms`, `fixed:2s`,
    /// `uniform:MIN-MAX` or `lognormal:MEDIAN,SIGMA`. Each Workspace draws its own delay.
    #[arg(long, default_value = DEFAULT_TF_DELAY)]
    pub tf_delay: Delay,
    /// Give up waiting for the clusters after this long (`120`, `90s`, `2m`).
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// AWS region of every cluster.
    #[arg(long, default_value = "ap-northeast-1")]
    pub region: String,
    /// Write a kubeconfig for the in-memory API server to this file.
    #[arg(long, default_value = "./capt-demo.kubeconfig")]
    pub kubeconfig_out: PathBuf,
    /// After the summary, keep the API server, the simulators and the controller running until
    /// Ctrl-C, so kubectl can look around.
    #[arg(long)]
    pub keep_running: bool,
    /// Port of the in-memory API server on 127.0.0.1 (0 picks a free port).
    #[arg(long, default_value_t = 0)]
    pub api_port: u16,
    /// Port of the controller's plain-HTTP /metrics on 127.0.0.1 (0 picks a free port).
    #[arg(long, default_value_t = 0)]
    pub metrics_port: u16,
    /// Port of the controller's /healthz and /readyz on 127.0.0.1 (0 picks a free port).
    #[arg(long, default_value_t = 0)]
    pub health_port: u16,
    /// Make simulated terraform fail or misbehave for matching Workspaces: PATTERN=KIND
    /// (repeatable), e.g. `demo-03-eks-controlplane=apply-error`. Kinds: apply-error, flap,
    /// secret-missing-kubeconfig, secret-missing-ca, secret-invalid-kubeconfig,
    /// secret-no-endpoint.
    #[arg(long = "tf-fault", value_name = "PATTERN=KIND")]
    pub tf_faults: Vec<FaultRule>,
    /// Sustained reconciles per second for one object (the controller's `--object-rate`).
    #[arg(long, default_value_t = RuntimeSettings::default().object_rate_per_sec, value_parser = clap::value_parser!(u32).range(1..))]
    pub object_rate: u32,
    /// Burst of reconciles for one object (the controller's `--object-burst`).
    #[arg(long, default_value_t = RuntimeSettings::default().object_burst, value_parser = clap::value_parser!(u32).range(1..))]
    pub object_burst: u32,
    /// Client-side API requests per second of the controller (the controller's `--kube-api-qps`;
    /// the in-memory API server takes far more than a real one, so the demo allows more).
    #[arg(long, default_value_t = 2000)]
    pub kube_api_qps: u32,
    /// Client-side API request burst of the controller (`--kube-api-burst`).
    #[arg(long, default_value_t = 4000)]
    pub kube_api_burst: u32,
    /// Seed of the simulated delays and identifiers (same seed, same VPC ids and endpoints).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Do not draw the progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// How often each control plane re-signs its kubeconfig's EKS token (fixed fake credentials).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub token_refresh_interval: Duration,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self {
            clusters: 20,
            tf_delay: DEFAULT_TF_DELAY.parse().unwrap_or_default(),
            timeout: Duration::from_secs(120),
            region: "ap-northeast-1".to_string(),
            kubeconfig_out: PathBuf::from("./capt-demo.kubeconfig"),
            keep_running: false,
            api_port: 0,
            metrics_port: 0,
            health_port: 0,
            tf_faults: Vec::new(),
            object_rate: RuntimeSettings::default().object_rate_per_sec,
            object_burst: RuntimeSettings::default().object_burst,
            kube_api_qps: 2000,
            kube_api_burst: 4000,
            seed: 0,
            quiet: false,
            token_refresh_interval: crate::reconcile::token_refresh::DEFAULT_INTERVAL,
        }
    }
}
