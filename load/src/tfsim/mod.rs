//! tfsim (placeholder until implemented).

/// Command-line arguments of `capt-load tfsim`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `capt-load tfsim` until interrupted.
pub async fn run_cli(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("tfsim is not implemented yet")
}
