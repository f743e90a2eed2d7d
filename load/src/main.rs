#![forbid(unsafe_code)]
use clap::{Parser, Subcommand};

/// capt-load: in-memory Kubernetes API server, simulators and load generator for capt.
#[derive(Debug, Parser)]
#[command(name = "capt-load", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the in-memory Kubernetes API server on loopback.
    Apiserver(capt_load::kubesim::Args),
    /// Run the provider-terraform simulator against an API server.
    Tfsim(capt_load::tfsim::Args),
    /// Run the Cluster API core simulator against an API server.
    Capisim(capt_load::capisim::Args),
    /// Generate load (clusters) and write a report.
    Run(capt_load::loadgen::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Apiserver(a) => capt_load::kubesim::run_cli(a).await,
        Command::Tfsim(a) => capt_load::tfsim::run_cli(a).await,
        Command::Capisim(a) => capt_load::capisim::run_cli(a).await,
        Command::Run(a) => capt_load::loadgen::run_cli(a).await,
    }
}
