//! Every sample under `samples/` deserializes into its typed kind, validates, and serializes back
//! to the same object (plus schema defaults).

use std::path::{Path, PathBuf};

use capt::api::{
    CAPTCluster, CAPTClusterTemplate, CAPTControlPlane, CaptControlPlaneTemplate, CaptMachine,
    CaptMachineDeployment, CaptMachineSet, CaptMachineTemplate, Cluster, WorkspaceTemplate,
    WorkspaceTemplateApply,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn sample_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read samples dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml")
                && path.file_name().is_some_and(|n| n != "kustomization.yaml")
            {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("samples"),
        &mut out,
    );
    out.sort();
    out
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read sample");
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            let v: serde_yaml::Value = serde_yaml::Value::deserialize(doc).expect("yaml document");
            serde_json::to_value(v).expect("yaml to json")
        })
        .filter(|v| !v.is_null())
        .collect()
}

use serde::Deserialize;

/// Every field of `original` is present in `round` with the same value.
fn assert_subset(original: &Value, round: &Value, path: &str) {
    match (original, round) {
        (Value::Object(o), Value::Object(r)) => {
            for (k, v) in o {
                let rv = r
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} lost in round trip"));
                assert_subset(v, rv, &format!("{path}.{k}"));
            }
        }
        (Value::Array(o), Value::Array(r)) => {
            assert_eq!(o.len(), r.len(), "{path}: array length");
            for (i, (a, b)) in o.iter().zip(r).enumerate() {
                assert_subset(a, b, &format!("{path}[{i}]"));
            }
        }
        (o, r) => assert_eq!(o, r, "{path}"),
    }
}

fn round_trip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(
    doc: &Value,
    name: &str,
) -> T {
    let typed: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let back = serde_json::to_value(&typed).expect("serialize");
    assert_subset(doc, &back, name);
    let again: T = serde_json::from_value(back).expect("deserialize again");
    assert_eq!(typed, again, "{name}: second round trip differs");
    typed
}

#[test]
fn samples_round_trip_and_validate() {
    let mut kinds = std::collections::BTreeSet::new();
    let files = sample_files();
    assert!(!files.is_empty());
    for file in files {
        for doc in documents(&file) {
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            let name = format!("{}:{}/{}", file.display(), kind, doc["metadata"]["name"]);
            match kind.as_str() {
                "CAPTCluster" => round_trip::<CAPTCluster>(&doc, &name)
                    .spec
                    .validate()
                    .expect(&name),
                "CAPTClusterTemplate" => round_trip::<CAPTClusterTemplate>(&doc, &name)
                    .spec
                    .validate()
                    .expect(&name),
                "CAPTControlPlane" => round_trip::<CAPTControlPlane>(&doc, &name)
                    .spec
                    .validate()
                    .expect(&name),
                "CaptControlPlaneTemplate" => round_trip::<CaptControlPlaneTemplate>(&doc, &name)
                    .spec
                    .validate()
                    .expect(&name),
                "WorkspaceTemplate" => {
                    let wt = round_trip::<WorkspaceTemplate>(&doc, &name);
                    assert!(
                        !wt.spec.template.spec.for_provider.module.is_empty(),
                        "{name}"
                    );
                }
                "WorkspaceTemplateApply" => round_trip::<WorkspaceTemplateApply>(&doc, &name)
                    .spec
                    .validate()
                    .expect(&name),
                "CaptMachine" => round_trip::<CaptMachine>(&doc, &name)
                    .spec
                    .validate()
                    .expect(&name),
                "CaptMachineSet" => round_trip::<CaptMachineSet>(&doc, &name)
                    .spec
                    .validate()
                    .expect(&name),
                "CaptMachineDeployment" => round_trip::<CaptMachineDeployment>(&doc, &name)
                    .spec
                    .validate()
                    .expect(&name),
                "CaptMachineTemplate" => round_trip::<CaptMachineTemplate>(&doc, &name)
                    .spec
                    .validate()
                    .expect(&name),
                "Cluster" => {
                    let c = round_trip::<Cluster>(&doc, &name);
                    assert!(
                        c.spec.infrastructure_ref.is_some() && c.spec.control_plane_ref.is_some()
                    );
                }
                // Add-on kinds of Flux and Cluster API Add-on Provider for Helm: tests/addons_check.rs.
                "HelmRelease" | "HelmRepository" | "HelmChartProxy"
                    if file.starts_with(
                        Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/addons"),
                    ) => {}
                other => panic!("{name}: unexpected kind {other}"),
            }
            kinds.insert(kind);
        }
    }
    for kind in [
        "CAPTCluster",
        "CAPTClusterTemplate",
        "CAPTControlPlane",
        "CaptControlPlaneTemplate",
        "WorkspaceTemplate",
        "WorkspaceTemplateApply",
        "CaptMachine",
        "CaptMachineSet",
        "CaptMachineDeployment",
        "CaptMachineTemplate",
        "Cluster",
    ] {
        assert!(kinds.contains(kind), "no sample for {kind}");
    }
}

#[test]
fn workspace_templates_for_the_flow_exist() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/workspacetemplates");
    let mut names = Vec::new();
    for file in sample_files().iter().filter(|f| f.starts_with(&dir)) {
        for doc in documents(file) {
            let wt: WorkspaceTemplate = serde_json::from_value(doc).expect("workspace template");
            let module = &wt.spec.template.spec.for_provider.module;
            match wt.metadata.name.as_deref() {
                Some("vpc-template") => {
                    assert!(module.contains("output \"vpc_id\"") && module.contains("vpc_config"));
                }
                Some("eks-controlplane-template") => {
                    for key in capt::api::names::secrets::ADDON_KEYS {
                        assert!(
                            module.contains(&format!("output \"{key}\"")),
                            "eks template lacks {key}"
                        );
                    }
                    assert!(module.contains("cluster_certificate_authority_data"));
                }
                Some("eks-kubeconfig-template") => {
                    assert!(module.contains("output \"kubeconfig\""))
                }
                Some("spot-role-check") => assert!(module.contains("output \"role_exists\"")),
                Some("spot-role-create") => assert!(module.contains("output \"role_arn\"")),
                other => panic!("unexpected template {other:?}"),
            }
            names.push(wt.metadata.name.unwrap_or_default());
        }
    }
    names.sort();
    assert_eq!(
        names,
        vec![
            "eks-controlplane-template",
            "eks-kubeconfig-template",
            "spot-role-check",
            "spot-role-create",
            "vpc-template"
        ]
    );
}

#[test]
fn partial_status_objects_deserialize() {
    let cp: CAPTControlPlane = serde_json::from_value(serde_json::json!({
        "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
        "kind": "CAPTControlPlane",
        "metadata": {"name": "x"},
        "spec": {"version": "1.31", "workspaceTemplateRef": {"name": "t"}},
        "status": {"phase": "Ready", "workspaceStatus": {"atProvider": {"outputs": {"karpenter": {"queue_name": "q"}}}}}
    }))
    .expect("partial status");
    let status = cp.status.expect("status");
    assert_eq!(status.phase, Some(capt::api::ControlPlanePhase::Ready));
    assert!(!status.ready);
    let cluster: CAPTCluster = serde_json::from_value(serde_json::json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "CAPTCluster",
        "metadata": {"name": "x"},
        "spec": {"region": "us-west-2", "existingVpcId": "vpc-1"},
        "status": {}
    }))
    .expect("empty status");
    assert_eq!(cluster.status, Some(Default::default()));
}
