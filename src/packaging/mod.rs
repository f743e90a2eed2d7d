//! Release packaging generated from `deploy/`: the Helm chart (`deploy/helm/capt`) and the clusterctl
//! release artefacts, so neither drifts from the kustomize install.

pub mod helm;
pub mod helm_templates;
pub mod release;
pub mod sources;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PackagingError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}: not valid YAML: {1}")]
    Yaml(PathBuf, serde_yaml::Error),
    #[error("{0}: {1}")]
    Source(PathBuf, String),
    #[error("`kubectl kustomize {0}` failed: {1}")]
    Kustomize(PathBuf, String),
}
