//! The checked-in CRDs in `deploy/crds` match the Rust types, and the generated schemas carry the
//! printer columns, defaults and validation rules capt promises.
//!
//! Regenerate the files with `CAPT_UPDATE_CRDS=1 cargo test -p capt --test api_crds`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use capt::api::{crd_file_name, crds, crds_yaml};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

fn crd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/crds")
}

fn kustomization(files: &[String]) -> String {
    let mut out = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
         # Generated with CAPT_UPDATE_CRDS=1 cargo test -p capt --test api_crds\n\
         labels:\n- pairs:\n    cluster.x-k8s.io/v1beta1: v1beta1\nresources:\n",
    );
    for f in files {
        out.push_str(&format!("- {f}\n"));
    }
    out
}

fn expected_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = crds()
        .iter()
        .map(|crd| {
            (
                crd_file_name(crd),
                serde_yaml::to_string(crd).expect("crd yaml"),
            )
        })
        .collect();
    let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    files.push(("kustomization.yaml".to_string(), kustomization(&names)));
    files
}

#[test]
fn checked_in_crds_match_types() {
    let dir = crd_dir();
    let expected = expected_files();
    if std::env::var("CAPT_UPDATE_CRDS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(&dir).expect("create deploy/crds");
        for entry in std::fs::read_dir(&dir).expect("read deploy/crds").flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".yaml") && !expected.iter().any(|(n, _)| *n == name) {
                std::fs::remove_file(entry.path()).expect("remove stale crd file");
            }
        }
        for (name, body) in &expected {
            std::fs::write(dir.join(name), body).expect("write crd file");
        }
        return;
    }
    let mut drift = Vec::new();
    for (name, body) in &expected {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(actual) if actual == *body => {}
            Ok(_) => drift.push(format!("{name} differs")),
            Err(_) => drift.push(format!("{name} missing")),
        }
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("read deploy/crds")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    for extra in on_disk
        .iter()
        .filter(|n| !expected.iter().any(|(e, _)| e == *n))
    {
        drift.push(format!("{extra} is not generated"));
    }
    assert!(
        drift.is_empty(),
        "deploy/crds drifted from the API types ({}); run CAPT_UPDATE_CRDS=1 cargo test -p capt --test api_crds",
        drift.join(", ")
    );
}

#[test]
fn crds_yaml_is_deterministic_multi_document() {
    let a = crds_yaml();
    assert_eq!(a, crds_yaml());
    let docs: Vec<CustomResourceDefinition> = a
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_yaml::from_str(d).expect("crd document"))
        .collect();
    assert_eq!(docs.len(), 11);
    let names: Vec<String> = docs.iter().map(crd_file_name).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

fn crd_json(plural: &str) -> Value {
    let crd = crds()
        .into_iter()
        .find(|c| c.spec.names.plural == plural)
        .unwrap_or_else(|| panic!("no CRD {plural}"));
    serde_json::to_value(crd).expect("crd json")
}

fn version(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]
}

fn columns(crd: &Value) -> Vec<(String, String, String)> {
    version(crd)["additionalPrinterColumns"]
        .as_array()
        .map(|cols| {
            cols.iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or_default().to_string(),
                        c["type"].as_str().unwrap_or_default().to_string(),
                        c["jsonPath"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Schema node a printer-column JSONPath points at; filters (`[?(...)]`) select array items.
fn column_target(crd: &Value, path: &str) -> Value {
    let mut plain = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let mut node = &version(crd)["schema"]["openAPIV3Schema"];
    for part in plain.trim_start_matches('.').split('.') {
        if node.get("items").is_some() {
            node = &node["items"];
        }
        node = &node["properties"][part];
    }
    node.clone()
}

fn col(name: &str, ty: &str, path: &str) -> (String, String, String) {
    (name.to_string(), ty.to_string(), path.to_string())
}

fn schema_at<'a>(crd: &'a Value, path: &[&str]) -> &'a Value {
    let mut node = &version(crd)["schema"]["openAPIV3Schema"];
    for p in path {
        node = &node["properties"][*p];
    }
    node
}

fn rules(node: &Value) -> Vec<String> {
    node["x-kubernetes-validations"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r["rule"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn all_kinds_groups_and_names() {
    let want = [
        (
            "captclusters",
            "infrastructure.cluster.x-k8s.io",
            "CAPTCluster",
        ),
        (
            "captclustertemplates",
            "infrastructure.cluster.x-k8s.io",
            "CAPTClusterTemplate",
        ),
        (
            "captcontrolplanes",
            "controlplane.cluster.x-k8s.io",
            "CAPTControlPlane",
        ),
        (
            "captcontrolplanetemplates",
            "controlplane.cluster.x-k8s.io",
            "CaptControlPlaneTemplate",
        ),
        (
            "workspacetemplates",
            "infrastructure.cluster.x-k8s.io",
            "WorkspaceTemplate",
        ),
        (
            "workspacetemplateapplies",
            "infrastructure.cluster.x-k8s.io",
            "WorkspaceTemplateApply",
        ),
        (
            "workspacetemplategrants",
            "infrastructure.cluster.x-k8s.io",
            "WorkspaceTemplateGrant",
        ),
        (
            "captmachines",
            "infrastructure.cluster.x-k8s.io",
            "CaptMachine",
        ),
        (
            "captmachinesets",
            "infrastructure.cluster.x-k8s.io",
            "CaptMachineSet",
        ),
        (
            "captmachinedeployments",
            "infrastructure.cluster.x-k8s.io",
            "CaptMachineDeployment",
        ),
        (
            "captmachinetemplates",
            "infrastructure.cluster.x-k8s.io",
            "CaptMachineTemplate",
        ),
    ];
    for (plural, group, kind) in want {
        let crd = crd_json(plural);
        assert_eq!(crd["spec"]["group"], group, "{plural}");
        assert_eq!(crd["spec"]["names"]["kind"], kind, "{plural}");
        assert_eq!(crd["spec"]["scope"], "Namespaced", "{plural}");
        assert_eq!(crd["metadata"]["name"], format!("{plural}.{group}"));
        let v = version(&crd);
        assert_eq!(v["name"], "v1beta1");
        assert_eq!(v["served"], true);
        assert_eq!(v["storage"], true);
    }
    let wta = crd_json("workspacetemplateapplies");
    assert_eq!(
        wta["spec"]["names"]["shortNames"],
        serde_json::json!(["wtapply"])
    );
    assert_eq!(
        wta["spec"]["names"]["categories"],
        serde_json::json!(["capt", "terraform"])
    );
    for plural in [
        "captcontrolplanetemplates",
        "captmachinetemplates",
        "captclustertemplates",
    ] {
        assert_eq!(
            crd_json(plural)["spec"]["names"]["categories"],
            serde_json::json!(["cluster-api"])
        );
    }
}

#[test]
fn subresources() {
    for plural in ["captmachinesets", "captmachinedeployments"] {
        let crd = crd_json(plural);
        let scale = &version(&crd)["subresources"]["scale"];
        assert_eq!(scale["specReplicasPath"], ".spec.replicas");
        assert_eq!(scale["statusReplicasPath"], ".status.replicas");
    }
    for plural in [
        "captclusters",
        "captcontrolplanes",
        "captcontrolplanetemplates",
        "workspacetemplates",
        "workspacetemplateapplies",
        "captmachines",
        "captmachinesets",
        "captmachinedeployments",
        "captmachinetemplates",
    ] {
        let crd = crd_json(plural);
        assert!(
            version(&crd)["subresources"]["status"].is_object(),
            "{plural} status subresource"
        );
    }
    assert!(
        version(&crd_json("captclusters"))["subresources"]
            .get("scale")
            .is_none()
    );
}

#[test]
fn printer_columns() {
    let age = col("AGE", "date", ".metadata.creationTimestamp");
    assert_eq!(
        columns(&crd_json("captclusters")),
        vec![
            col("VPC-ID", "string", ".status.vpcId"),
            col("READY", "boolean", ".status.ready"),
            col("ENDPOINT", "string", ".spec.controlPlaneEndpoint.host"),
            age.clone(),
        ]
    );
    assert_eq!(
        columns(&crd_json("captcontrolplanes")),
        vec![
            col("READY", "boolean", ".status.ready"),
            col("PHASE", "string", ".status.phase"),
            col("VERSION", "string", ".spec.version"),
            col("ENDPOINT", "string", ".status.endpoint"),
            age.clone(),
        ]
    );
    assert_eq!(
        columns(&crd_json("workspacetemplateapplies")),
        vec![
            col("WORKSPACE", "string", ".status.workspaceName"),
            col("APPLIED", "boolean", ".status.applied"),
            age.clone(),
        ]
    );
    assert_eq!(
        columns(&crd_json("workspacetemplates")),
        vec![
            col("WORKSPACE", "string", ".status.workspaceName"),
            age.clone()
        ]
    );
    assert_eq!(
        columns(&crd_json("captmachinesets")),
        vec![
            col("Desired", "integer", ".spec.replicas"),
            col("Current", "integer", ".status.replicas"),
            col("Ready", "integer", ".status.readyReplicas"),
            col("Available", "integer", ".status.availableReplicas"),
        ]
    );
    assert_eq!(columns(&crd_json("captmachines")).len(), 3);
    assert_eq!(columns(&crd_json("captmachinedeployments")).len(), 4);
    // Every column path points at a field of the schema (or metadata).
    for crd in crds() {
        let v = serde_json::to_value(&crd).expect("crd json");
        for (_, _, path) in columns(&v) {
            if path.starts_with(".metadata.") {
                continue;
            }
            let node = column_target(&v, &path);
            assert!(
                node.is_object(),
                "{}: column path {path} not in schema",
                crd_file_name(&crd)
            );
        }
    }
}

#[test]
fn defaults() {
    let cp = crd_json("captcontrolplanes");
    let timeouts = schema_at(&cp, &["spec", "controlPlaneConfig", "timeouts"]);
    assert_eq!(timeouts["properties"]["controlPlaneTimeout"]["default"], 30);
    assert_eq!(
        timeouts["properties"]["controlPlaneTimeout"]["minimum"],
        1.0
    );
    assert_eq!(timeouts["properties"]["vpcReadyTimeout"]["default"], 15);
    let cluster = crd_json("captclusters");
    assert_eq!(
        schema_at(&cluster, &["spec", "retainVpcOnDelete"])["default"],
        false
    );
    let wt = crd_json("workspacetemplates");
    let ws = schema_at(&wt, &["spec", "template", "spec"]);
    assert_eq!(ws["properties"]["deletionPolicy"]["default"], "Delete");
    assert_eq!(
        ws["properties"]["managementPolicies"]["default"],
        serde_json::json!(["*"])
    );
    assert_eq!(
        ws["properties"]["providerConfigRef"]["default"],
        serde_json::json!({"name": "default"})
    );
    assert_eq!(
        ws["properties"]["forProvider"]["properties"]["entrypoint"]["default"],
        ""
    );
    assert_eq!(
        ws["properties"]["forProvider"]["properties"]["source"]["enum"],
        serde_json::json!(["Remote", "Inline"])
    );
    assert_eq!(
        ws["properties"]["forProvider"]["properties"]["varmap"]["x-kubernetes-preserve-unknown-fields"],
        true
    );
    let wta = crd_json("workspacetemplateapplies");
    assert_eq!(
        schema_at(&wta, &["spec", "retainWorkspaceOnDelete"])["default"],
        false
    );
    let at_provider = schema_at(&cp, &["status", "workspaceStatus", "atProvider"]);
    assert_eq!(at_provider["x-kubernetes-preserve-unknown-fields"], true);
}

#[test]
fn required_fields() {
    let req = |crd: &Value, path: &[&str]| -> Vec<String> {
        schema_at(crd, path)["required"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(req(&crd_json("captclusters"), &["spec"]), vec!["region"]);
    assert_eq!(
        req(&crd_json("captcontrolplanes"), &["spec"]),
        vec!["version", "workspaceTemplateRef"]
    );
    assert_eq!(
        req(&crd_json("workspacetemplateapplies"), &["spec"]),
        vec!["templateRef"]
    );
    assert_eq!(
        req(&crd_json("workspacetemplates"), &["spec"]),
        vec!["template"]
    );
    assert_eq!(
        req(&crd_json("workspacetemplates"), &["spec", "template"]),
        vec!["spec"]
    );
    assert_eq!(
        req(
            &crd_json("workspacetemplates"),
            &["spec", "template", "spec", "forProvider"]
        ),
        vec!["module", "source"]
    );
    assert_eq!(
        req(
            &crd_json("captcontrolplanetemplates"),
            &["spec", "template", "spec"]
        ),
        vec!["version", "workspaceTemplateRef"]
    );
    assert_eq!(
        req(
            &crd_json("captclustertemplates"),
            &["spec", "template", "spec"]
        ),
        vec!["region"]
    );
    assert_eq!(
        req(&crd_json("captmachines"), &["spec"]),
        vec!["instanceType", "nodeGroupRef", "workspaceTemplateRef"]
    );
}

#[test]
fn validation_rules() {
    let cluster = crd_json("captclusters");
    let spec_rules = rules(schema_at(&cluster, &["spec"]));
    assert!(
        spec_rules.contains(&"has(self.vpcTemplateRef) != has(self.existingVpcId)".to_string())
    );
    assert!(
        spec_rules
            .iter()
            .any(|r| r.contains("retainVpcOnDelete") && r.contains("has(self.vpcTemplateRef)"))
    );
    assert!(
        spec_rules
            .iter()
            .any(|r| r.contains("oldSelf.vpcTemplateRef"))
    );
    assert!(
        spec_rules
            .iter()
            .any(|r| r.contains("oldSelf.existingVpcId"))
    );
    assert!(
        spec_rules
            .iter()
            .any(|r| r.contains("oldSelf.workspaceTemplateApplyName"))
    );
    let region = schema_at(&cluster, &["spec", "region"]);
    assert_eq!(rules(region), vec!["self == oldSelf"]);
    assert_eq!(region["pattern"], capt::api::REGION_PATTERN);
    assert_eq!(
        schema_at(&cluster, &["spec", "existingVpcId"])["minLength"],
        1
    );

    let cp = crd_json("captcontrolplanes");
    assert_eq!(schema_at(&cp, &["spec", "version"])["minLength"], 1);
    assert!(
        rules(schema_at(&cp, &["spec", "version"])).is_empty(),
        "version must stay mutable"
    );
    let cp_region = schema_at(&cp, &["spec", "controlPlaneConfig", "region"]);
    assert_eq!(cp_region["pattern"], capt::api::REGION_PATTERN);
    assert_eq!(rules(cp_region), vec!["self == oldSelf"]);
    let cp_rules = rules(schema_at(&cp, &["spec"]));
    assert!(
        cp_rules
            .iter()
            .any(|r| r.contains("oldSelf.workspaceTemplateApplyName"))
    );
    assert!(
        cp_rules
            .iter()
            .any(|r| r.contains("oldSelf.controlPlaneConfig"))
    );
}

/// Walk every schema node and apply the API server's structural-schema and CEL placement rules.
fn check_structural(node: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(obj) = node.as_object() else {
        return;
    };
    for banned in [
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "$ref",
        "definitions",
        "$defs",
        "$schema",
    ] {
        if obj.contains_key(banned) {
            problems.push(format!("{path}: {banned}"));
        }
    }
    let opaque = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        || obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if !opaque && !obj.contains_key("type") {
        problems.push(format!("{path}: no type"));
    }
    if let Some(values) = obj.get("enum").and_then(Value::as_array)
        && values.iter().any(Value::is_null)
    {
        problems.push(format!("{path}: null in enum"));
    }
    if let Some(rules) = obj
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    {
        for r in rules {
            let rule = r["rule"].as_str().unwrap_or_default();
            if rule.is_empty() || r["message"].as_str().unwrap_or_default().is_empty() {
                problems.push(format!("{path}: rule without text or message"));
            }
        }
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        if obj.get("type") != Some(&Value::String("object".into())) {
            problems.push(format!("{path}: properties on a non-object"));
        }
        for (k, v) in props {
            check_structural(v, &format!("{path}.{k}"), problems);
        }
    }
    if let Some(items) = obj.get("items") {
        check_structural(items, &format!("{path}[]"), problems);
    }
    if let Some(ap) = obj.get("additionalProperties")
        && ap.is_object()
    {
        check_structural(ap, &format!("{path}{{}}"), problems);
    }
}

#[test]
fn schemas_are_structural() {
    let mut problems = Vec::new();
    for crd in crds() {
        let v = serde_json::to_value(&crd).expect("crd json");
        let schema = &version(&v)["schema"]["openAPIV3Schema"];
        check_structural(schema, &crd_file_name(&crd), &mut problems);
    }
    assert!(
        problems.is_empty(),
        "non-structural schema parts: {problems:#?}"
    );
}

/// Transition rules (`oldSelf`) are only allowed where the field always exists on both sides or is
/// guarded with `has()`: every rule mentioning `oldSelf.<field>` must guard optional fields.
#[test]
fn transition_rules_guard_optional_fields() {
    for plural in ["captclusters", "captcontrolplanes"] {
        let crd = crd_json(plural);
        let spec = schema_at(&crd, &["spec"]);
        let required: Vec<&str> = spec["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for rule in rules(spec) {
            for (i, _) in rule.match_indices("oldSelf.") {
                let field: String = rule[i + 8..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric())
                    .collect();
                if required.contains(&field.as_str()) {
                    continue;
                }
                assert!(
                    rule.contains(&format!("has(oldSelf.{field})")),
                    "{plural}: rule {rule:?} reads optional oldSelf.{field} without has()"
                );
            }
        }
    }
}
