//! Command-line arguments of `capt-load run`.

use std::path::PathBuf;
use std::time::Duration;

use super::chaos::{ChaosKind, Settings};

/// Runtime passed to the controller as `--runtime`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    #[default]
    Actors,
    KubeRuntime,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Actors => "actors",
            Self::KubeRuntime => "kube-runtime",
        }
    }
}

/// Command-line arguments of `capt-load run`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Clusters to create (each = CAPI Cluster + CAPTCluster + CAPTControlPlane).
    #[arg(long, default_value_t = 100)]
    pub clusters: usize,
    /// Clusters created per second.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Namespaces the clusters are spread over (`load-0` …); each gets the sample templates.
    #[arg(long, default_value_t = 10)]
    pub namespaces: usize,
    /// Give up when not every cluster is Ready this many seconds after the first create.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Window after convergence in which writes are counted (a converged controller writes nothing).
    #[arg(long, default_value_t = 10)]
    pub quiet_secs: u64,
    /// Target an existing cluster (e.g. kind) instead of the in-process API server; tfsim, capisim
    /// and the controller then run elsewhere and the CRDs must be installed.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// CRD directory installed into the in-process API server.
    #[arg(long, default_value = "deploy/crds")]
    pub crds: PathBuf,
    /// WorkspaceTemplate manifests created in every namespace.
    #[arg(long, default_value = "samples/workspacetemplates")]
    pub templates: PathBuf,
    /// Controller command, started as a child process (its RSS and CPU are read from /proc).
    /// The flags for metrics, probes, kubeconfig and runtime are appended. `none`: do not start
    /// one (with --kubeconfig, the controller runs in the cluster).
    #[arg(long, default_value = "target/release/capt run")]
    pub controller_cmd: String,
    /// Extra argument for the controller (repeatable), e.g. `--controller-arg=--kube-api-qps=500`.
    #[arg(long = "controller-arg", allow_hyphen_values = true)]
    pub controller_args: Vec<String>,
    /// Controller replicas started. With more than one they run with `--leader-elect` (one
    /// leads, the others stand by; logs `controller.log`, `controller-1.log`, …) and their
    /// metrics are added up.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub replicas: u8,
    /// The replicas share the clusters (`capt run --sharding`, each active, shard Leases in
    /// `default`) instead of electing a leader; the report gives RSS and CPU per replica.
    #[arg(long)]
    pub sharding: bool,
    /// Export the controller's spans (OTLP/gRPC) to a receiver on loopback that counts them and
    /// keeps nothing (the report's `otlp`); compare with a run without it for the trace overhead.
    #[arg(long)]
    pub otlp_sink: bool,
    /// Runtime of the controller (`--runtime` of `capt run`).
    #[arg(long, value_enum, default_value_t = Runtime::Actors)]
    pub runtime: Runtime,
    /// Metrics URL of a controller not started here (e.g. a port-forward), scraped for reconciles.
    #[arg(long)]
    pub metrics_url: Option<String>,
    /// Simulated terraform apply duration (tfsim `--delay`).
    #[arg(long, default_value = "uniform:1s-3s")]
    pub tf_delay: String,
    /// Workspaces tfsim processes at once.
    #[arg(long, default_value_t = 64)]
    pub tf_concurrency: usize,
    /// Clusters capisim reconciles at once.
    #[arg(long, default_value_t = 32)]
    pub capi_concurrency: usize,
    /// After convergence: fraction of clusters to delete (measured until their objects are gone).
    #[arg(long, default_value_t = 0.0)]
    pub churn_delete: f64,
    /// After convergence: fraction of control planes whose version is bumped (1.31 → 1.32).
    #[arg(long, default_value_t = 0.0)]
    pub churn_version_bump: f64,
    /// After convergence: fraction of clusters whose `<cluster>-kubeconfig` secret is deleted
    /// (measured until capt writes it again).
    #[arg(long, default_value_t = 0.0)]
    pub churn_secret_rotation: f64,
    /// At the end, kill and restart the controller and measure the time to /readyz and to a full
    /// no-op pass over every object.
    #[arg(long)]
    pub restart_check: bool,
    /// Invariant check after convergence (and again after churn and restart): a cluster not
    /// Ready whose objects did not change for this many seconds is stuck.
    #[arg(long, default_value_t = 5)]
    pub invariants_window: u64,
    /// Give up re-checking invariants after this many seconds (violations left then are final).
    #[arg(long, default_value_t = 60)]
    pub invariants_timeout: u64,
    /// Report directory (report.json, summary.md, convergence.svg, controller.log).
    #[arg(long, default_value = "report")]
    pub out: PathBuf,
    /// Label of this run in the report (default: the runtime).
    #[arg(long)]
    pub label: Option<String>,
    /// Seed for tfsim, the churn selection and the chaos schedule.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fault kinds injected while the load runs, comma-separated: controller-kill, leader-kill
    /// (needs --replicas 2+), replica-kill and coordinator-kill (need --sharding and --replicas
    /// 2+), apiserver-restart, errors, conflicts, watch-drops, slow (all but the kills need the
    /// in-process API server).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub chaos: Vec<ChaosKind>,
    /// Mean gap in seconds before each fault window (drawn from 0.5× to 1.5×).
    #[arg(long, default_value_t = 5.0)]
    pub chaos_interval: f64,
    /// Mean length in seconds of a fault window (drawn from 0.5× to 1.5×).
    #[arg(long, default_value_t = 2.0)]
    pub chaos_duration: f64,
    /// Windows per fault kind.
    #[arg(long, default_value_t = 2)]
    pub chaos_windows: usize,
    /// Share of matching requests failed by `errors` (503, 429) and `conflicts` (409).
    #[arg(long, default_value_t = 0.3)]
    pub chaos_rate: f64,
    /// Latency in milliseconds added to every request by `slow`.
    #[arg(long, default_value_t = 200)]
    pub chaos_latency_ms: u64,
    /// EKS token refresh interval of the controller (`--token-refresh-interval` of `capt run`, e.g. `60s`).
    /// With it, the run measures kubeconfig writes per second over two intervals after convergence.
    #[arg(long)]
    pub token_refresh_interval: Option<String>,
}

impl Args {
    /// The chaos schedule settings (`None` without `--chaos`).
    pub fn chaos_settings(&self) -> Option<Settings> {
        (!self.chaos.is_empty()).then(|| Settings {
            kinds: self.chaos.clone(),
            interval: self.chaos_interval,
            duration: self.chaos_duration,
            windows: self.chaos_windows.max(1),
            rate: self.chaos_rate,
            latency: Duration::from_millis(self.chaos_latency_ms),
            seed: self.seed,
        })
    }
}
