//! The clusterctl release artefacts of one version, written by `capt release-manifests`: the component
//! builds of `deploy/clusterctl` (made with `kubectl kustomize`) with the release's image, `metadata.yaml`,
//! and cluster templates with clusterctl variables made from `samples/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

use super::PackagingError;
use super::sources::to_yaml;

/// Variables of the cluster templates (`clusterctl generate cluster` fills `CLUSTER_NAME`, `NAMESPACE` and
/// `KUBERNETES_VERSION`).
pub const TEMPLATE_VARIABLES: [&str; 5] = [
    "${CLUSTER_NAME}",
    "${NAMESPACE}",
    "${KUBERNETES_VERSION}",
    "${AWS_REGION}",
    "${CAPT_TEMPLATE_NAMESPACE:=default}",
];

/// Name of the ClusterClass shipped in `clusterclass-capt-eks.yaml`.
pub const CLUSTER_CLASS: &str = "capt-eks";

/// Artefact file name → content.
pub type Artefacts = Vec<(String, String)>;

/// Builds every artefact of `version` (e.g. `v0.1.0`) from the repository at `root`.
pub fn artefacts(root: &Path, version: &str) -> Result<Artefacts, PackagingError> {
    let minor = release_series(version).ok_or_else(|| {
        PackagingError::Source(
            PathBuf::from(version),
            "not a version of the form vMAJOR.MINOR.PATCH".into(),
        )
    })?;
    let metadata_path = root.join("metadata.yaml");
    let metadata = std::fs::read_to_string(&metadata_path)
        .map_err(|e| PackagingError::Io(metadata_path.clone(), e))?;
    let parsed: Value = serde_yaml::from_str(&metadata)
        .map_err(|e| PackagingError::Yaml(metadata_path.clone(), e))?;
    let listed = parsed["releaseSeries"]
        .as_sequence()
        .into_iter()
        .flatten()
        .any(|s| (s["major"].as_u64(), s["minor"].as_u64()) == (Some(minor.0), Some(minor.1)));
    if !listed {
        return Err(PackagingError::Source(
            metadata_path,
            format!(
                "no releaseSeries entry for v{}.{}: add one before releasing {version}",
                minor.0, minor.1
            ),
        ));
    }
    let mut out = Artefacts::new();
    for (provider, file) in [
        ("infrastructure", "infrastructure-components.yaml"),
        ("control-plane", "control-plane-components.yaml"),
    ] {
        let dir = root.join("deploy/clusterctl").join(provider);
        let objects = with_image(kustomize(&dir)?, version);
        out.push((file.into(), escape_foreign_variables(&to_yaml(&objects))));
    }
    out.push(("metadata.yaml".into(), metadata));
    let samples = root.join("samples");
    out.push((
        "cluster-template.yaml".into(),
        cluster_template(&samples.join("cluster/demo-cluster.yaml"))?,
    ));
    out.push((
        format!("clusterclass-{CLUSTER_CLASS}.yaml"),
        cluster_class(&samples.join("clusterclass/templates.yaml"))?,
    ));
    out.push(("cluster-template-topology.yaml".into(), topology_template()));
    out.push((
        "workspace-templates.yaml".into(),
        workspace_templates(&samples.join("workspacetemplates"))?,
    ));
    Ok(out)
}

/// `(major, minor)` of `vMAJOR.MINOR.PATCH` (a pre-release suffix is allowed).
pub fn release_series(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.strip_prefix('v')?.splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next()?;
    patch.split(['-', '+']).next()?.parse::<u64>().ok()?;
    Some((major, minor))
}

/// Writes the artefacts into `dir`.
pub fn write(dir: &Path, artefacts: &Artefacts) -> Result<(), PackagingError> {
    std::fs::create_dir_all(dir).map_err(|e| PackagingError::Io(dir.to_path_buf(), e))?;
    for (name, text) in artefacts {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| PackagingError::Io(path, e))?;
    }
    Ok(())
}

fn kustomize(dir: &Path) -> Result<Vec<Value>, PackagingError> {
    let fail = |e: String| PackagingError::Kustomize(dir.to_path_buf(), e);
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    parse_all(&text).map_err(|e| fail(e.to_string()))
}

fn parse_all(text: &str) -> Result<Vec<Value>, serde_yaml::Error> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v: Value = serde::Deserialize::deserialize(doc)?;
        if v.is_mapping() {
            out.push(v);
        }
    }
    Ok(out)
}

fn read_all(path: &Path) -> Result<Vec<Value>, PackagingError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| PackagingError::Io(path.to_path_buf(), e))?;
    parse_all(&text).map_err(|e| PackagingError::Yaml(path.to_path_buf(), e))
}

/// The manager image tagged `version`, and the API client limits as clusterctl variables with the
/// controller's defaults.
fn with_image(mut objects: Vec<Value>, version: &str) -> Vec<Value> {
    for o in objects
        .iter_mut()
        .filter(|o| o["kind"].as_str() == Some("Deployment"))
    {
        let c = &mut o["spec"]["template"]["spec"]["containers"][0];
        let image = c["image"].as_str().unwrap_or_default();
        let repo = image.rsplit_once(':').map_or(image, |(r, _)| r).to_string();
        c["image"] = format!("{repo}:{version}").into();
        if let Some(args) = c["args"].as_sequence_mut() {
            args.push("--kube-api-qps=${CAPT_EKS_KUBE_API_QPS:=200}".into());
            args.push("--kube-api-burst=${CAPT_EKS_KUBE_API_BURST:=400}".into());
        }
    }
    objects
}

/// Prefix of the variables the components declare; every other `${` (CRD descriptions quoting template
/// placeholders) is escaped as `$${`, which clusterctl writes as `${` without asking for a value.
pub const COMPONENT_VARIABLE_PREFIX: &str = "${CAPT_EKS_";

pub fn escape_foreign_variables(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let ours = rest[i..].starts_with(COMPONENT_VARIABLE_PREFIX);
        let escaped = i > 0 && rest.as_bytes()[i - 1] == b'$';
        if !ours && !escaped {
            out.push('$');
        }
        out.push_str("${");
        rest = &rest[i + 2..];
    }
    out.push_str(rest);
    out
}

/// Replaces the sample's names and settings with clusterctl variables.
fn variables(v: &mut Value, sample_name: &str) {
    let meta = &mut v["metadata"];
    if meta["name"].as_str() == Some(sample_name) {
        meta["name"] = "${CLUSTER_NAME}".into();
    }
    if meta.get("namespace").is_some() {
        meta["namespace"] = "${NAMESPACE}".into();
    }
    let spec = &mut v["spec"];
    for key in ["infrastructureRef", "controlPlaneRef"] {
        if spec.get(key).is_some() {
            spec[key]["name"] = "${CLUSTER_NAME}".into();
            spec[key]["namespace"] = "${NAMESPACE}".into();
        }
    }
    template_and_region_variables(spec);
    if spec.get("version").is_some() {
        spec["version"] = "${KUBERNETES_VERSION}".into();
    }
}

/// The WorkspaceTemplate namespace and the AWS region of a CAPTCluster or CAPTControlPlane spec
/// as clusterctl variables.
fn template_and_region_variables(spec: &mut Value) {
    for key in ["vpcTemplateRef", "workspaceTemplateRef"] {
        if spec.get(key).is_some() {
            spec[key]["namespace"] = "${CAPT_TEMPLATE_NAMESPACE:=default}".into();
        }
    }
    if spec.get("region").is_some() {
        spec["region"] = "${AWS_REGION}".into();
    }
    if spec.get("controlPlaneConfig").is_some() {
        spec["controlPlaneConfig"]["region"] = "${AWS_REGION}".into();
    }
}

fn cluster_template(sample: &Path) -> Result<String, PackagingError> {
    let mut objects = read_all(sample)?;
    let name = objects
        .iter()
        .find(|o| o["kind"].as_str() == Some("Cluster"))
        .and_then(|o| o["metadata"]["name"].as_str())
        .ok_or_else(|| PackagingError::Source(sample.to_path_buf(), "no Cluster".into()))?
        .to_string();
    for o in &mut objects {
        variables(o, &name);
    }
    Ok(to_yaml(&objects))
}

fn cluster_class(sample: &Path) -> Result<String, PackagingError> {
    let mut objects = read_all(sample)?;
    let mut refs = Vec::new();
    for o in &mut objects {
        o["metadata"]["namespace"] = "${NAMESPACE}".into();
        let spec = &mut o["spec"]["template"]["spec"];
        template_and_region_variables(spec);
        let r: Value = serde_yaml::from_str(&format!(
            "apiVersion: {}\nkind: {}\nname: {}\n",
            o["apiVersion"].as_str().unwrap_or_default(),
            o["kind"].as_str().unwrap_or_default(),
            o["metadata"]["name"].as_str().unwrap_or_default()
        ))
        .expect("a reference parses");
        refs.push((o["kind"].as_str().unwrap_or_default().to_string(), r));
    }
    let find = |kind: &str| {
        refs.iter()
            .find(|(k, _)| k == kind)
            .map(|(_, r)| r.clone())
            .ok_or_else(|| PackagingError::Source(sample.to_path_buf(), format!("no {kind}")))
    };
    let mut class: Value = serde_yaml::from_str(&format!(
        "apiVersion: cluster.x-k8s.io/v1beta1\nkind: ClusterClass\nmetadata:\n  name: {CLUSTER_CLASS}\n  namespace: ${{NAMESPACE}}\nspec: {{}}\n"
    ))
    .expect("the ClusterClass parses");
    class["spec"]["controlPlane"]["ref"] = find("CaptControlPlaneTemplate")?;
    class["spec"]["infrastructure"]["ref"] = find("CAPTClusterTemplate")?;
    objects.push(class);
    Ok(to_yaml(&objects))
}

fn topology_template() -> String {
    format!(
        "apiVersion: cluster.x-k8s.io/v1beta1\nkind: Cluster\nmetadata:\n  name: ${{CLUSTER_NAME}}\n  namespace: ${{NAMESPACE}}\nspec:\n  topology:\n    class: {CLUSTER_CLASS}\n    version: ${{KUBERNETES_VERSION}}\n"
    )
}

fn workspace_templates(dir: &Path) -> Result<String, PackagingError> {
    let k = super::sources::objects(dir)?;
    Ok(to_yaml(&k.into_iter().map(|s| s.value).collect::<Vec<_>>()))
}
