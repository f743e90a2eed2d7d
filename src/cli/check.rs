//! `capt check …`: static checks of manifests that use what capt produces.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(subcommand)]
    pub what: CheckCommand,
}

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Check add-on manifests (Flux HelmRelease valuesFrom, CAAPH HelmChartProxy, ClusterResourceSet) against
    /// the secrets and outputs capt and the WorkspaceTemplates produce.
    Addons(AddonsArgs),
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct AddonsArgs {
    /// Manifest files or directories (YAML, searched recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// WorkspaceTemplates (and CAPTControlPlanes) to check against: a file or directory.
    #[arg(long)]
    pub templates: Vec<PathBuf>,
    /// Also check the live secrets and control-plane status of the clusters in this cluster.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// Runs the check and prints the report; the exit code is 1 when there are errors.
pub fn run(args: CheckArgs) -> anyhow::Result<std::process::ExitCode> {
    let CheckCommand::Addons(a) = args.what;
    let opts = crate::addons::Options {
        paths: a.paths,
        templates: a.templates,
        kubeconfig: a.kubeconfig,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(crate::addons::check(&opts))?;
    match a.output {
        OutputFormat::Text => print!("{}", report.text()),
        OutputFormat::Json => print!("{}", report.json()),
    }
    Ok(if report.errors() > 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}
