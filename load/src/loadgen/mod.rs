//! loadgen (placeholder until implemented).

/// Command-line arguments of `capt-load loadgen`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `capt-load loadgen` until interrupted.
pub async fn run_cli(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("loadgen is not implemented yet")
}
