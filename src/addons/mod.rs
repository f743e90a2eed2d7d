//! `capt check addons`: checks add-on manifests — Flux HelmRelease `valuesFrom`, CAAPH HelmChartProxy value
//! templates and ClusterResourceSets — against what capt and its WorkspaceTemplates produce: secret names,
//! declared outputs, what provider-terraform publishes where (every output to the connection secret, the
//! non-sensitive ones to `status.atProvider.outputs`), and Helm `targetPath` syntax. With a kubeconfig, also
//! against the secrets and control-plane status of existing clusters.

pub mod context;
pub mod finding;
pub mod helm_release;
pub mod live;
pub mod manifest;
pub mod outputs;
pub mod pattern;
pub mod producers;
pub mod refs;
pub mod status_refs;
pub mod target_path;

use std::path::PathBuf;

pub use finding::{Checked, Finding, Report, Severity};
use manifest::Doc;

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Add-on manifests (files or directories); WorkspaceTemplates among them are used too.
    pub paths: Vec<PathBuf>,
    /// More WorkspaceTemplates (and CAPTControlPlanes naming the template they use).
    pub templates: Vec<PathBuf>,
    /// Check the live secrets and control-plane status of this cluster too.
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error("kubeconfig {0}: {1}")]
    Kubeconfig(PathBuf, String),
    #[error("reading the cluster: {0}")]
    Kube(#[from] kube::Error),
}

/// Checks the manifests of `opts`.
pub async fn check(opts: &Options) -> Result<Report, CheckError> {
    let addons = manifest::load(&opts.paths)?;
    let mut all = addons.clone();
    all.extend(manifest::load(&opts.templates)?);
    let mut report = check_docs(&addons, &all);
    if let Some(path) = &opts.kubeconfig {
        let client = client(path).await?;
        let (templates, _) = context::load_templates(&all);
        let ctx = context::Context::new(&all, &templates);
        let (findings, clusters) = live::check(&client, &addons, &ctx).await?;
        report.findings.extend(findings);
        report.checked.live_clusters = clusters;
    }
    Ok(report)
}

async fn client(path: &std::path::Path) -> Result<kube::Client, CheckError> {
    let err = |e: String| CheckError::Kubeconfig(path.to_path_buf(), e);
    let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| err(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .map_err(|e| err(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| err(e.to_string()))
}

/// The static checks: every add-on document of `addons` against the templates among `all`.
pub fn check_docs(addons: &[Doc], all: &[Doc]) -> Report {
    let (templates, mut findings) = context::load_templates(all);
    let ctx = context::Context::new(all, &templates);
    let mut references = 0;
    for d in addons {
        let (f, n) = if refs::is_helm_release(d) {
            helm_release::check(d, &ctx)
        } else if refs::is_helm_chart_proxy(d) {
            status_refs::check_chart_proxy(d, &ctx)
        } else if refs::is_cluster_resource_set(d) {
            status_refs::check_resource_set(d, &ctx)
        } else {
            continue;
        };
        findings.extend(f);
        references += n;
    }
    findings.sort_by(|a, b| (&a.file, a.line, a.code).cmp(&(&b.file, b.line, b.code)));
    Report {
        findings,
        checked: Checked {
            templates: templates.len(),
            references,
            live_clusters: 0,
        },
    }
}
