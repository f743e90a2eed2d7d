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
    Run(Box<capt_load::loadgen::Args>),
    /// Measure the in-memory API server alone: writes/s, watch fan-out latency, RSS per object.
    BenchApiserver {
        /// Objects to create.
        #[arg(long, default_value_t = 10_000)]
        objects: usize,
        /// Concurrent watchers.
        #[arg(long, default_value_t = 10)]
        watchers: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The load generator's own progress lines are the output; the simulators it hosts log warnings only.
    let default_filter = match cli.command {
        Command::Run(_) => {
            "info,capt_load::tfsim=warn,capt_load::capisim=warn,capt_load::kubesim=warn"
        }
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Apiserver(a) => capt_load::kubesim::run_cli(a).await,
        Command::Tfsim(a) => capt_load::tfsim::run_cli(a).await,
        Command::Capisim(a) => capt_load::capisim::run_cli(a).await,
        Command::Run(a) => capt_load::loadgen::run_cli(*a).await,
        Command::BenchApiserver { objects, watchers } => {
            let report = capt_load::kubesim::bench(objects, watchers).await?;
            print!("{report}");
            Ok(())
        }
    }
}
