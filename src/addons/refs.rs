//! References to capt-produced values in add-on manifests: Flux HelmRelease `valuesFrom` Secrets, CAAPH
//! HelmChartProxy value templates reading the control plane's status, and ClusterResourceSet Secrets.

use serde_json::Value;

use super::manifest::Doc;

/// Flux HelmRelease API versions that carry `spec.valuesFrom`.
pub const HELM_RELEASE_VERSIONS: [&str; 3] = [
    "helm.toolkit.fluxcd.io/v2beta1",
    "helm.toolkit.fluxcd.io/v2beta2",
    "helm.toolkit.fluxcd.io/v2",
];

/// The status path CAAPH value templates read the control plane's Workspace outputs from.
pub const STATUS_OUTPUTS: &str = ".ControlPlane.status.workspaceStatus.atProvider.outputs";

/// A `spec.valuesFrom[index]` entry of kind Secret.
#[derive(Debug, Clone)]
pub struct ValuesFrom {
    pub index: usize,
    pub name: String,
    pub values_key: Option<String>,
    pub target_path: Option<String>,
    pub optional: bool,
}

/// A read of `.ControlPlane.status.workspaceStatus.atProvider.outputs.<path>` in `spec.valuesTemplate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRead {
    /// The output name and the keys after it.
    pub path: Vec<String>,
    /// 0-based line within `valuesTemplate`.
    pub template_line: usize,
}

pub fn is_helm_release(d: &Doc) -> bool {
    d.kind() == "HelmRelease" && HELM_RELEASE_VERSIONS.contains(&d.api_version())
}

pub fn is_helm_chart_proxy(d: &Doc) -> bool {
    d.kind() == "HelmChartProxy" && d.api_version().starts_with("addons.cluster.x-k8s.io/")
}

pub fn is_cluster_resource_set(d: &Doc) -> bool {
    d.kind() == "ClusterResourceSet" && d.api_version().starts_with("addons.cluster.x-k8s.io/")
}

/// `(index, entry)` of the entries of the list `spec.<field>` that name a Secret.
fn secret_entries(d: &Doc, field: &str) -> Vec<(usize, Value)> {
    d.value["spec"][field]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, e)| e["kind"].as_str() == Some("Secret"))
        .map(|(i, e)| (i, e.clone()))
        .collect()
}

/// The Secret entries of a HelmRelease's `spec.valuesFrom`.
pub fn values_from(d: &Doc) -> Vec<ValuesFrom> {
    secret_entries(d, "valuesFrom")
        .into_iter()
        .map(|(index, e)| ValuesFrom {
            index,
            name: e["name"].as_str().unwrap_or_default().to_string(),
            values_key: e["valuesKey"].as_str().map(str::to_string),
            target_path: e["targetPath"].as_str().map(str::to_string),
            optional: e["optional"].as_bool().unwrap_or(false),
        })
        .collect()
}

/// `(index, name)` of the Secrets in a ClusterResourceSet's `spec.resources`.
pub fn resource_set_secrets(d: &Doc) -> Vec<(usize, String)> {
    secret_entries(d, "resources")
        .into_iter()
        .filter_map(|(i, e)| Some((i, e["name"].as_str()?.to_string())))
        .collect()
}

/// Every read of the control plane's Workspace outputs in a go template: `.ControlPlane.status…outputs.a.b`
/// and `index .ControlPlane.status…outputs "a" "b"`.
pub fn status_reads(template: &str) -> Vec<StatusRead> {
    let mut out = Vec::new();
    for (line_no, line) in template.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find(STATUS_OUTPUTS) {
            let before = &rest[..at];
            let after = &rest[at + STATUS_OUTPUTS.len()..];
            let mut path = dotted(after);
            if before.trim_end().ends_with("index") || before.trim_end().ends_with("(index") {
                path.extend(quoted_args(after));
            }
            if !path.is_empty() {
                out.push(StatusRead {
                    path,
                    template_line: line_no,
                });
            }
            rest = after;
        }
    }
    out
}

/// `.a.b` at the start of `s`.
fn dotted(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(r) = rest.strip_prefix('.') {
        let end = r
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(r.len());
        if end == 0 {
            break;
        }
        out.push(r[..end].to_string());
        rest = &r[end..];
    }
    out
}

/// `"a" "b"` arguments following an `index` target.
fn quoted_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s
        .trim_start_matches(|c: char| c != ' ' && c != '"')
        .trim_start();
    while let Some(r) = rest.strip_prefix('"') {
        let Some(end) = r.find('"') else { break };
        out.push(r[..end].to_string());
        rest = r[end + 1..].trim_start();
    }
    out
}

/// Every key path that `spec.values` sets, in `targetPath` form.
pub fn inline_value_paths(values: &Value) -> Vec<Vec<super::target_path::Segment>> {
    use super::target_path::Segment;
    fn walk(v: &Value, at: &mut Vec<Segment>, out: &mut Vec<Vec<Segment>>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, v) in m {
                    at.push(Segment::Key(k.clone()));
                    walk(v, at, out);
                    at.pop();
                }
            }
            _ if !at.is_empty() => out.push(at.clone()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(values, &mut Vec::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &[&str], line: usize) -> StatusRead {
        StatusRead {
            path: path.iter().map(|s| s.to_string()).collect(),
            template_line: line,
        }
    }

    #[test]
    fn finds_status_reads() {
        let t = "settings:\n  clusterName: {{ .ControlPlane.status.workspaceStatus.atProvider.outputs.cluster_name }}\n\
                 role: {{ index .ControlPlane.status.workspaceStatus.atProvider.outputs.karpenter \"service_account\" }}\n\
                 other: {{ .Cluster.metadata.name }}\n";
        assert_eq!(
            status_reads(t),
            vec![
                read(&["cluster_name"], 1),
                read(&["karpenter", "service_account"], 2)
            ]
        );
    }

    #[test]
    fn lists_inline_value_paths() {
        let v = serde_json::json!({"settings": {"clusterName": "x", "a": {}}, "replicas": 1});
        let got: Vec<String> = inline_value_paths(&v)
            .iter()
            .map(|p| super::super::target_path::canonical(p))
            .collect();
        assert_eq!(got, vec!["replicas", "settings.a", "settings.clusterName"]);
    }
}
