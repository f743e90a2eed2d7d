//! kubesim (placeholder until implemented).

/// Command-line arguments of `capt-load kubesim`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `capt-load kubesim` until interrupted.
pub async fn run_cli(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("kubesim is not implemented yet")
}
