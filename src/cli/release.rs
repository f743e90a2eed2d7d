//! `capt release-manifests`: the clusterctl artefacts of a release.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// The release version, `vMAJOR.MINOR.PATCH`: the image tag of the components.
    #[arg(long)]
    pub version: String,
    /// Directory the artefacts are written to.
    #[arg(long)]
    pub out: PathBuf,
    /// The repository checkout to build from (needs `kubectl` for the kustomize builds).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
}

pub fn run(args: ReleaseArgs) -> anyhow::Result<()> {
    let artefacts = crate::packaging::release::artefacts(&args.root, &args.version)?;
    crate::packaging::release::write(&args.out, &artefacts)?;
    for (name, _) in &artefacts {
        println!("{}", args.out.join(name).display());
    }
    Ok(())
}
