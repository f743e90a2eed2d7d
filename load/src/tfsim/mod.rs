//! tfsim: a provider-terraform simulator.
//!
//! Watches `tf.upbound.io/v1beta1` Workspaces on any API server and behaves like provider-terraform: adds
//! Crossplane's finalizer, parses the Workspace's module and evaluates the outputs it declares against a
//! deterministic fake AWS account (reporting terraform's errors for what cannot be resolved), simulates
//! `terraform apply` with a configurable delay, sets `Synced` / `Ready` conditions, publishes the outputs as
//! provider-terraform does (non-sensitive ones to `status.atProvider.outputs`, all to the connection secret),
//! re-applies on spec changes, simulates `terraform destroy` on deletion, and injects faults on demand. See
//! `load/README.md` (section tfsim) for the rules.

mod apply;
mod aws;
mod aws_modules;
mod ca;
mod config;
mod controller;
pub(crate) mod crd;
mod delay;
mod diag;
mod encode;
mod faults;
mod funcs;
mod ids;
mod kubeconfig;
mod lifecycle;
mod outputs;
mod plan;
#[cfg(test)]
mod plan_tests;
pub(crate) mod queue;
mod refs;
mod secret;
mod vars;
pub(crate) mod watch_loop;
mod workspace;

use std::path::PathBuf;

pub use aws::eks_endpoint;
pub use crd::CrdError;
pub use delay::{Delay, DelayParseError, parse_duration};
pub use faults::{
    FAULT_ANNOTATION, FaultKind, FaultRule, FaultRuleError, UnknownFault, glob_match,
};
pub use outputs::{DEFAULT_KUBERNETES_VERSION, DEFAULT_REGION, ROLE_EXISTS_ANNOTATION};
pub use secret::CONNECTION_SECRET_TYPE;
pub use workspace::{FINALIZER, GROUP, KIND, VERSION, api_resource};

/// The Workspace CRD tfsim serves (a subset of provider-terraform's).
pub const WORKSPACE_CRD_YAML: &str = include_str!("../../crds/tf.upbound.io_workspaces.yaml");

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Duration of a simulated `terraform apply`.
    pub delay: Delay,
    /// Duration of a simulated `terraform destroy` (skipped for `deletionPolicy: Orphan`).
    pub destroy_delay: Delay,
    /// Seed for delays and generated identifiers.
    pub seed: u64,
    /// Maximum number of Workspaces reconciled at once.
    pub concurrency: usize,
    /// Name-pattern fault rules (`*`/`?` globs over the Workspace name); the first match applies.
    /// The `tfsim.capt.dev/fault` annotation takes precedence.
    pub faults: Vec<(String, FaultKind)>,
    /// Whether the fake AWS account already has the EC2 Spot service-linked role.
    pub spot_role_exists: bool,
    /// Half-period of the `flap` fault (time spent Ready, then time spent not Ready).
    pub flap_period: Delay,
    /// AWS account id used in ARNs.
    pub account_id: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            delay: Delay::default(),
            destroy_delay: Delay::default(),
            seed: 0,
            concurrency: 32,
            faults: Vec::new(),
            spot_role_exists: true,
            flap_period: Delay::Fixed(std::time::Duration::from_secs(2)),
            account_id: "123456789012".to_string(),
        }
    }
}

/// Runs the simulator against `client` until the future is dropped (or the watch fails permanently).
pub async fn run(client: kube::Client, config: Config) -> anyhow::Result<()> {
    controller::run(client, config).await
}

/// Creates or replaces the Workspace CRD and waits briefly for it to be Established.
pub async fn install_crd(client: &kube::Client) -> Result<(), CrdError> {
    crd::install(client, WORKSPACE_CRD_YAML).await
}

/// Command-line arguments of `capt-load tfsim`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kubeconfig file (default: KUBECONFIG / ~/.kube/config / in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Apply duration: `2s`, `uniform:1s-3s` or `lognormal:2s,0.5`.
    #[arg(long, default_value = "uniform:200ms-1s")]
    pub delay: Delay,
    /// Destroy duration (same forms as --delay).
    #[arg(long, default_value = "uniform:200ms-1s")]
    pub destroy_delay: Delay,
    /// Multiplies both delays.
    #[arg(long, default_value_t = 1.0)]
    pub delay_scale: f64,
    /// Seed for delays and identifiers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Workspaces reconciled at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Fault rule PATTERN=KIND (repeatable), e.g. `*-eks-controlplane=apply-error`.
    #[arg(long = "fault")]
    pub faults: Vec<FaultRule>,
    /// Whether the fake AWS account already has the EC2 Spot service-linked role.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub spot_role_exists: bool,
    /// Half-period of the flap fault.
    #[arg(long, default_value = "2s")]
    pub flap_period: Delay,
    /// AWS account id used in ARNs.
    #[arg(long, default_value = "123456789012")]
    pub account_id: String,
    /// Install (create or replace) the Workspace CRD before starting.
    #[arg(long)]
    pub install_crd: bool,
}

impl Args {
    /// The simulator configuration these arguments describe.
    pub fn config(&self) -> Config {
        Config {
            delay: self.delay.scale(self.delay_scale),
            destroy_delay: self.destroy_delay.scale(self.delay_scale),
            seed: self.seed,
            concurrency: self.concurrency.max(1),
            faults: self
                .faults
                .iter()
                .map(|r| (r.pattern.clone(), r.kind))
                .collect(),
            spot_role_exists: self.spot_role_exists,
            flap_period: self.flap_period,
            account_id: self.account_id.clone(),
        }
    }
}

/// Builds a client from an explicit kubeconfig file, or the default chain (env, ~/.kube/config, in-cluster).
pub(crate) async fn client_from(
    kubeconfig: Option<&std::path::Path>,
) -> anyhow::Result<kube::Client> {
    match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)?;
            let cfg = kube::Config::from_custom_kubeconfig(
                kc,
                &kube::config::KubeConfigOptions::default(),
            )
            .await?;
            Ok(kube::Client::try_from(cfg)?)
        }
        None => Ok(kube::Client::try_default().await?),
    }
}

/// Runs `capt-load tfsim` until interrupted.
pub async fn run_cli(args: Args) -> anyhow::Result<()> {
    let client = client_from(args.kubeconfig.as_deref()).await?;
    if args.install_crd {
        install_crd(&client).await?;
    }
    let config = args.config();
    tracing::info!(delay = %config.delay, destroy_delay = %config.destroy_delay, seed = config.seed, concurrency = config.concurrency, faults = config.faults.len(), "starting tfsim");
    tokio::select! {
        res = run(client, config) => res,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
