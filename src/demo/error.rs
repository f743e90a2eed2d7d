//! Errors of the demo.

/// Why the demo could not run (clusters that do not become Ready are not an error here: they
/// are reported in the [`super::DemoSummary`]).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A flag value is unusable.
    #[error("invalid --{flag}: {message}")]
    InvalidArg { flag: &'static str, message: String },
    /// An embedded sample did not parse.
    #[error("sample {file} does not parse: {message}")]
    Sample { file: &'static str, message: String },
    /// The in-memory API server did not start or refused a CRD.
    #[error("in-memory API server: {0:#}")]
    ApiServer(anyhow::Error),
    /// The controller's client could not be built.
    #[error("building the controller's client: {0}")]
    Client(#[source] kube::Error),
    /// The metrics or health server could not start.
    #[error("metrics/health server: {0}")]
    Serve(#[from] crate::telemetry::health::ServeError),
    /// Creating an object failed.
    #[error("creating {what}: {source}")]
    Create {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// Writing the kubeconfig failed.
    #[error("writing {path}: {source}")]
    WriteKubeconfig {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
