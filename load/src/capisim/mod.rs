//! capisim (placeholder until implemented).

/// Command-line arguments of `capt-load capisim`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `capt-load capisim` until interrupted.
pub async fn run_cli(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("capisim is not implemented yet")
}
