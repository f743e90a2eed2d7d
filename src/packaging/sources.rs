//! Reading the kustomize sources of `deploy/`: the objects a directory's `kustomization.yaml` lists, in order.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::PackagingError;

/// One object of a source file.
#[derive(Debug, Clone)]
pub struct Source {
    /// File name within its directory.
    pub file: String,
    pub value: Value,
}

fn read(path: &Path) -> Result<String, PackagingError> {
    std::fs::read_to_string(path).map_err(|e| PackagingError::Io(path.to_path_buf(), e))
}

/// The parsed `kustomization.yaml` of `dir`.
pub fn kustomization(dir: &Path) -> Result<Value, PackagingError> {
    let path = dir.join("kustomization.yaml");
    serde_yaml::from_str(&read(&path)?).map_err(|e| PackagingError::Yaml(path, e))
}

/// Every object of the files `dir`'s kustomization lists as resources (directories are not followed).
pub fn objects(dir: &Path) -> Result<Vec<Source>, PackagingError> {
    let k = kustomization(dir)?;
    let mut out = Vec::new();
    for r in k["resources"].as_sequence().into_iter().flatten() {
        let Some(file) = r.as_str() else { continue };
        let path: PathBuf = dir.join(file);
        if path.is_dir() {
            continue;
        }
        let text = read(&path)?;
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(doc)
                .map_err(|e| PackagingError::Yaml(path.clone(), e))?;
            if value.is_mapping() {
                out.push(Source {
                    file: file.to_string(),
                    value,
                });
            }
        }
    }
    Ok(out)
}

/// The label pairs of a kustomization's `labels` entries.
pub fn label_pairs(k: &Value) -> Vec<(Value, Value)> {
    k["labels"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|l| l["pairs"].as_mapping())
        .flat_map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect()
}

/// Serialises objects as one multi-document YAML text.
pub fn to_yaml(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| serde_yaml::to_string(v).expect("YAML values serialise"))
        .collect::<Vec<_>>()
        .join("---\n")
}
