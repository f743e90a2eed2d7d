//! The `capt` command line.

pub mod check;
pub mod release;
pub mod run;

use clap::{Parser, Subcommand};

/// capt: Cluster API provider for Amazon EKS, building clusters through Crossplane
/// provider-terraform Workspaces.
///
/// Without a subcommand, `capt` runs the controller (same as `capt run`).
#[derive(Debug, Parser)]
#[command(name = "capt", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: run::RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller against a cluster (the default).
    Run(Box<run::RunArgs>),
    /// Print the CustomResourceDefinitions of every capt kind as YAML.
    Crds,
    /// Check manifests against what capt produces (`capt check addons`).
    Check(check::CheckArgs),
    /// Write the clusterctl release artefacts (components, metadata, cluster templates) of a version.
    ReleaseManifests(release::ReleaseArgs),
    /// Print the version.
    Version,
    /// Run a complete demo with no cluster: in-memory API server, simulated provider-terraform
    /// and Cluster API, the controller, and N clusters from create to Ready.
    #[cfg(feature = "demo")]
    Demo(crate::demo::DemoArgs),
}
