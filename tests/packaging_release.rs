//! `capt release-manifests`: the clusterctl artefacts of a version — components with the release image and
//! provider labels, only their own clusterctl variables (other `${…}` escaped), metadata with the release
//! series, and cluster templates whose variables, once filled, give valid capt objects.

use std::path::Path;
use std::process::Command;

use capt::api::{CAPTCluster, CAPTControlPlane};
use capt::packaging::release::{self, COMPONENT_VARIABLE_PREFIX, TEMPLATE_VARIABLES};
use serde_yaml::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn kubectl_available() -> bool {
    let ok = Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok();
    if !ok {
        eprintln!("note: skipping: kubectl is not installed (the components are kustomize builds)");
    }
    ok
}

fn docs(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| <Value as serde::Deserialize>::deserialize(d).expect("yaml"))
        .filter(Value::is_mapping)
        .collect()
}

/// Every `${…}` of `text` that clusterctl would substitute (not escaped as `$${…}`).
fn variables(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let escaped = i > 0 && rest.as_bytes()[i - 1] == b'$';
        let end = rest[i..].find('}').map_or(rest.len(), |e| i + e + 1);
        if !escaped {
            out.push(rest[i..end].to_string());
        }
        rest = &rest[end..];
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn a_release_is_one_command() {
    if !kubectl_available() {
        return;
    }
    let out = std::env::temp_dir().join(format!("capt-release-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_capt"))
        .args([
            "release-manifests",
            "--version",
            "v0.1.7",
            "--out",
            out.to_str().unwrap(),
            "--root",
        ])
        .arg(root())
        .status()
        .expect("capt runs");
    assert!(status.success());
    let read = |name: &str| {
        std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };

    for (file, provider, own_crd, other_crd) in [
        (
            "infrastructure-components.yaml",
            "infrastructure-capt-eks",
            "captclusters.infrastructure.cluster.x-k8s.io",
            "captcontrolplanes.controlplane.cluster.x-k8s.io",
        ),
        (
            "control-plane-components.yaml",
            "control-plane-capt-eks",
            "captcontrolplanes.controlplane.cluster.x-k8s.io",
            "captclusters.infrastructure.cluster.x-k8s.io",
        ),
    ] {
        let text = read(file);
        for v in variables(&text) {
            assert!(
                v.starts_with(COMPONENT_VARIABLE_PREFIX) && v.contains(":="),
                "{file}: {v} would need a value"
            );
        }
        let objects = docs(&text);
        assert!(
            objects
                .iter()
                .all(|o| o["metadata"]["labels"]["cluster.x-k8s.io/provider"] == provider),
            "{file}: provider label"
        );
        let crd = |name: &str| {
            objects
                .iter()
                .any(|o| o["kind"] == "CustomResourceDefinition" && o["metadata"]["name"] == name)
        };
        assert!(
            crd(own_crd) && !crd(other_crd),
            "{file}: CRDs of its provider only"
        );
        let d = objects
            .iter()
            .find(|o| o["kind"] == "Deployment")
            .expect("deployment");
        let image = d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap();
        assert!(image.ends_with(":v0.1.7"), "{file}: image {image}");
    }

    let metadata: Value = serde_yaml::from_str(&read("metadata.yaml")).unwrap();
    assert_eq!(metadata["kind"], "Metadata");

    let mut filled = Vec::new();
    for file in [
        "cluster-template.yaml",
        "clusterclass-capt-eks.yaml",
        "cluster-template-topology.yaml",
    ] {
        let mut text = read(file);
        for v in variables(&text) {
            assert!(
                TEMPLATE_VARIABLES.contains(&v.as_str()),
                "{file}: undocumented variable {v}"
            );
        }
        for (v, value) in [
            ("${CLUSTER_NAME}", "team-a"),
            ("${NAMESPACE}", "tenants"),
            ("${KUBERNETES_VERSION}", "v1.31.2"),
            ("${AWS_REGION}", "eu-west-1"),
            ("${CAPT_TEMPLATE_NAMESPACE:=default}", "default"),
        ] {
            text = text.replace(v, value);
        }
        filled.extend(docs(&text));
    }
    let cluster = filled
        .iter()
        .find(|o| o["kind"] == "CAPTCluster")
        .expect("CAPTCluster");
    let cc: CAPTCluster = serde_yaml::from_value(cluster.clone()).expect("typed CAPTCluster");
    assert_eq!(
        (cc.metadata.name.as_deref(), cc.spec.region.as_str()),
        (Some("team-a"), "eu-west-1")
    );
    let cp = filled
        .iter()
        .find(|o| o["kind"] == "CAPTControlPlane")
        .expect("CAPTControlPlane");
    let cp: CAPTControlPlane = serde_yaml::from_value(cp.clone()).expect("typed CAPTControlPlane");
    assert_eq!(cp.spec.version, "v1.31.2");
    let class = filled
        .iter()
        .find(|o| o["kind"] == "ClusterClass")
        .expect("ClusterClass");
    for (at, kind) in [
        ("controlPlane", "CaptControlPlaneTemplate"),
        ("infrastructure", "CAPTClusterTemplate"),
    ] {
        let name = &class["spec"][at]["ref"]["name"];
        assert!(
            filled
                .iter()
                .any(|o| o["kind"] == kind && &o["metadata"]["name"] == name),
            "ClusterClass {at} names a shipped {kind}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_version_must_have_a_release_series() {
    assert_eq!(release::release_series("v0.1.7"), Some((0, 1)));
    assert_eq!(release::release_series("v1.2.0-rc.1"), Some((1, 2)));
    for bad in ["0.1.7", "v0.1", "vx.1.0", "v0.1.x"] {
        assert_eq!(release::release_series(bad), None, "{bad}");
    }
    let err = release::artefacts(root(), "v9.4.0").expect_err("no series for v9.4");
    assert!(
        err.to_string().contains("no releaseSeries entry for v9.4"),
        "{err}"
    );
}

#[test]
fn foreign_placeholders_are_escaped_for_clusterctl() {
    let table = [
        ("VPC name (`${vpc_name}`)", "VPC name (`$${vpc_name}`)"),
        (
            "--qps=${CAPT_EKS_KUBE_API_QPS:=200}",
            "--qps=${CAPT_EKS_KUBE_API_QPS:=200}",
        ),
        ("already $${x}", "already $${x}"),
        ("no placeholder", "no placeholder"),
    ];
    for (input, want) in table {
        assert_eq!(release::escape_foreign_variables(input), want);
    }
}
