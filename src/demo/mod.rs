//! `capt demo` (placeholder until the demo lands).

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {}

pub fn run(_args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("the demo is not implemented yet")
}
