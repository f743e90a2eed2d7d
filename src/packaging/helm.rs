//! The Helm chart `deploy/helm/capt`, generated from the kustomize sources (`deploy/crds`, `deploy/rbac`,
//! `deploy/manager`, and `deploy/sharded/rbac` installed when sharding is on): CRDs verbatim with their kustomization's labels, RBAC and the metrics Service with the
//! name prefix and namespace of `deploy/default` made values, and the Deployment with values for image,
//! resources, replicas, leader election, sharding, API QPS and the OTLP endpoint. With default values,
//! `helm template --namespace capt-system` renders what `kubectl kustomize deploy/default` does, less the
//! Namespace.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

use super::PackagingError;
use super::helm_templates as t;
use super::sources::{self, Source, label_pairs, to_yaml};

/// Chart file path (relative to the chart directory) → content.
pub type Files = BTreeMap<String, String>;

/// Generates the chart from `deploy` (the `deploy/` directory); `version` is the chart version.
pub fn chart(deploy: &Path, version: &str) -> Result<Files, PackagingError> {
    let default = sources::kustomization(&deploy.join("default"))?;
    let prefix = default["namePrefix"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut files = Files::new();

    let crd_dir = deploy.join("crds");
    let labels = label_pairs(&sources::kustomization(&crd_dir)?);
    for mut crd in sources::objects(&crd_dir)? {
        for (k, v) in &labels {
            crd.value["metadata"]["labels"][k] = v.clone();
        }
        files.insert(format!("crds/{}", crd.file), to_yaml(&[crd.value]));
    }

    let rbac: Vec<Value> = sources::objects(&deploy.join("rbac"))?
        .into_iter()
        .map(|s| t::placed(s.value))
        .collect();
    files.insert(
        "templates/rbac.yaml".into(),
        t::expand(&to_yaml(&rbac), &Vec::new()),
    );
    let sharding: Vec<Value> = sources::objects(&deploy.join("sharded").join("rbac"))?
        .into_iter()
        .map(|s| t::placed(s.value))
        .collect();
    files.insert(
        "templates/sharding-rbac.yaml".into(),
        t::only_if("sharding", &t::expand(&to_yaml(&sharding), &Vec::new())),
    );

    let manager = sources::objects(&deploy.join("manager"))?;
    let (deployment, rest) = split_deployment(&deploy.join("manager"), manager)?;
    let values = t::Values::from_deployment(&deployment, &prefix)
        .map_err(|e| PackagingError::Source(deploy.join("manager"), e))?;
    let (deployment, blocks) = t::deployment(deployment);
    files.insert(
        "templates/deployment.yaml".into(),
        t::expand(&to_yaml(&[deployment]), &blocks),
    );
    let services: Vec<Value> = rest.into_iter().map(|s| t::placed(s.value)).collect();
    files.insert(
        "templates/service.yaml".into(),
        t::expand(&to_yaml(&services), &Vec::new()),
    );
    files.insert("values.yaml".into(), values.yaml());
    files.insert(
        "Chart.yaml".into(),
        t::chart_yaml(version, &values.image_tag),
    );
    files.insert("templates/NOTES.txt".into(), t::NOTES.into());
    Ok(files)
}

fn split_deployment(
    dir: &Path,
    objects: Vec<Source>,
) -> Result<(Value, Vec<Source>), PackagingError> {
    let (deployments, rest): (Vec<Source>, Vec<Source>) = objects
        .into_iter()
        .partition(|s| s.value["kind"].as_str() == Some("Deployment"));
    match <[Source; 1]>::try_from(deployments) {
        Ok([d]) => Ok((d.value, rest)),
        Err(_) => Err(PackagingError::Source(
            dir.to_path_buf(),
            "expected exactly one Deployment".into(),
        )),
    }
}

/// Writes `files` under `dir`, removing files of the chart that are no longer generated.
pub fn write(dir: &Path, files: &Files) -> Result<(), PackagingError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| PackagingError::Io(p, e)
    };
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    Ok(())
}
