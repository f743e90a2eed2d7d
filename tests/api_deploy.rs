//! `kubectl kustomize` of the deploy tree: RBAC, Deployment and clusterctl component labels.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Build a kustomization; `None` (with a note) when kubectl is not installed.
fn kustomize(dir: &str) -> Option<Vec<Value>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = match Command::new("kubectl")
        .arg("kustomize")
        .arg(root.join(dir))
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("note: skipping kustomize check of {dir}: kubectl not available ({e})");
            return None;
        }
    };
    assert!(
        output.status.success(),
        "kubectl kustomize {dir} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("utf-8 output");
    let docs = serde_yaml::Deserializer::from_str(&text)
        .map(|d| {
            let v = <serde_yaml::Value as serde::Deserialize>::deserialize(d).expect("yaml doc");
            serde_json::to_value(v).expect("json")
        })
        .filter(|v: &Value| !v.is_null())
        .collect();
    Some(docs)
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Verbs granted on `group/resource` by a role's rules.
fn verbs(role: &Value, group: &str, resource: &str) -> Vec<String> {
    let mut out: Vec<String> = role["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| strs(&r["apiGroups"]).iter().any(|g| g == group))
        .filter(|r| strs(&r["resources"]).iter().any(|x| x == resource))
        .flat_map(|r| strs(&r["verbs"]))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

const INFRA: &str = "infrastructure.cluster.x-k8s.io";
const CP: &str = "controlplane.cluster.x-k8s.io";

#[test]
fn manager_role_is_least_privilege() {
    let Some(docs) = kustomize("deploy/default") else {
        return;
    };
    let role = find(&docs, "ClusterRole", "capt-manager-role");
    // What the role grants is checked against what the code calls in tests/e2e_rbac.rs; here:
    // the built role is that file, unchanged by kustomize.
    let source: Value =
        serde_yaml::from_str(include_str!("../deploy/rbac/role.yaml")).expect("role.yaml");
    assert_eq!(role["rules"], source["rules"]);
    for (group, res) in [
        (INFRA, "captmachines"),
        (INFRA, "captmachinesets"),
        (INFRA, "captmachinedeployments"),
        (INFRA, "captmachinetemplates"),
        ("events.k8s.io", "events"),
    ] {
        assert!(
            verbs(role, group, res).is_empty(),
            "{group}/{res}: nothing calls it"
        );
    }
    assert_eq!(
        verbs(role, "", "secrets"),
        sorted(&["create", "get", "list", "patch", "watch"])
    );
    assert!(
        verbs(role, "cluster.x-k8s.io", "clusters/status").is_empty(),
        "capt never writes Cluster status"
    );
    // No wildcards anywhere.
    for rule in role["rules"].as_array().into_iter().flatten() {
        for field in ["apiGroups", "resources", "verbs"] {
            assert!(
                !strs(&rule[field]).iter().any(|s| s == "*"),
                "wildcard in {rule}"
            );
        }
    }
    let binding = find(&docs, "ClusterRoleBinding", "capt-manager-rolebinding");
    assert_eq!(binding["roleRef"]["name"], "capt-manager-role");
    assert_eq!(binding["subjects"][0]["name"], "capt-controller-manager");
    assert_eq!(binding["subjects"][0]["namespace"], "capt-system");
}

#[test]
fn auxiliary_roles() {
    let Some(docs) = kustomize("deploy/default") else {
        return;
    };
    let auth = find(&docs, "ClusterRole", "capt-metrics-auth-role");
    assert_eq!(
        verbs(auth, "authentication.k8s.io", "tokenreviews"),
        sorted(&["create"])
    );
    assert_eq!(
        verbs(auth, "authorization.k8s.io", "subjectaccessreviews"),
        sorted(&["create"])
    );
    let reader = find(&docs, "ClusterRole", "capt-metrics-reader");
    assert_eq!(
        strs(&reader["rules"][0]["nonResourceURLs"]),
        vec!["/metrics"]
    );
    assert_eq!(strs(&reader["rules"][0]["verbs"]), vec!["get"]);
    let le = find(&docs, "Role", "capt-leader-election-role");
    assert_eq!(le["metadata"]["namespace"], "capt-system");
    assert_eq!(
        verbs(le, "coordination.k8s.io", "leases"),
        sorted(&[
            "get", "list", "watch", "create", "update", "patch", "delete"
        ])
    );
    assert_eq!(verbs(le, "", "events"), sorted(&["create", "patch"]));
    let leb = find(&docs, "RoleBinding", "capt-leader-election-rolebinding");
    assert_eq!(leb["roleRef"]["name"], "capt-leader-election-role");
    assert_eq!(leb["subjects"][0]["name"], "capt-controller-manager");
    let mab = find(&docs, "ClusterRoleBinding", "capt-metrics-auth-rolebinding");
    assert_eq!(mab["roleRef"]["name"], "capt-metrics-auth-role");
    let sa = find(&docs, "ServiceAccount", "capt-controller-manager");
    assert_eq!(sa["metadata"]["namespace"], "capt-system");
    find(&docs, "Namespace", "capt-system");
    let crds = docs
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .count();
    assert_eq!(crds, 11);
}

#[test]
fn manager_deployment() {
    let Some(docs) = kustomize("deploy/default") else {
        return;
    };
    let dep = find(&docs, "Deployment", "capt-controller-manager");
    assert_eq!(dep["metadata"]["namespace"], "capt-system");
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "capt-controller-manager");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0];
    assert_eq!(c["name"], "manager");
    assert_eq!(c["image"], "ghcr.io/capt-eks/capt:v0.1.0");
    assert_eq!(
        strs(&c["args"]),
        vec![
            "--leader-elect",
            "--health-probe-bind-address=:8081",
            "--metrics-bind-address=:8443"
        ]
    );
    assert_eq!(c["resources"]["limits"]["cpu"], "2");
    assert_eq!(c["resources"]["limits"]["memory"], "1Gi");
    assert_eq!(c["resources"]["requests"]["cpu"], "100m");
    assert_eq!(c["resources"]["requests"]["memory"], "256Mi");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], 8081);
    assert_eq!(c["livenessProbe"]["initialDelaySeconds"], 15);
    assert_eq!(c["livenessProbe"]["periodSeconds"], 20);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], 8081);
    assert_eq!(c["readinessProbe"]["initialDelaySeconds"], 5);
    assert_eq!(c["readinessProbe"]["periodSeconds"], 10);
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(strs(&sc["capabilities"]["drop"]), vec!["ALL"]);
    let env = c["env"].as_array().expect("env");
    let pod_ns = env
        .iter()
        .find(|e| e["name"] == "POD_NAMESPACE")
        .expect("POD_NAMESPACE");
    assert_eq!(
        pod_ns["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert!(
        c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["containerPort"] == 8443),
        "metrics port"
    );
    let svc = find(&docs, "Service", "capt-controller-manager-metrics-service");
    assert_eq!(svc["spec"]["ports"][0]["port"], 8443);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8443);
    let selector = svc["spec"]["selector"].as_object().expect("selector");
    let pod_labels = &dep["spec"]["template"]["metadata"]["labels"];
    for (k, v) in selector {
        assert_eq!(&pod_labels[k], v, "service selector {k} matches pods");
    }
}

#[test]
fn clusterctl_components() {
    for (dir, provider, controller, crd_group, crd_count) in [
        (
            "deploy/clusterctl/infrastructure",
            "infrastructure-capt-eks",
            "infrastructure",
            INFRA,
            9,
        ),
        (
            "deploy/clusterctl/control-plane",
            "control-plane-capt-eks",
            "control-plane",
            CP,
            2,
        ),
    ] {
        let Some(docs) = kustomize(dir) else { return };
        for d in &docs {
            let labels = &d["metadata"]["labels"];
            assert_eq!(
                labels["cluster.x-k8s.io/provider"], provider,
                "{dir}: {}",
                d["metadata"]["name"]
            );
            assert_eq!(
                labels["cluster.x-k8s.io/v1beta1"], "v1beta1",
                "{dir}: {}",
                d["metadata"]["name"]
            );
        }
        let crds: Vec<&Value> = docs
            .iter()
            .filter(|d| d["kind"] == "CustomResourceDefinition")
            .collect();
        assert_eq!(crds.len(), crd_count, "{dir}");
        assert!(
            crds.iter().all(|c| c["spec"]["group"] == crd_group),
            "{dir}: CRD groups"
        );
        let dep = docs
            .iter()
            .find(|d| d["kind"] == "Deployment")
            .expect("deployment");
        let args = strs(&dep["spec"]["template"]["spec"]["containers"][0]["args"]);
        assert!(
            args.contains(&format!("--enable-controller={controller}")),
            "{dir}: {args:?}"
        );
        assert_eq!(
            docs.iter().filter(|d| d["kind"] == "Namespace").count(),
            1,
            "{dir}"
        );
    }
}

#[test]
fn clusterctl_metadata() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("metadata.yaml")).expect("metadata.yaml");
    let v: Value = serde_yaml::from_str(&text).expect("metadata yaml");
    assert_eq!(v["kind"], "Metadata");
    assert_eq!(v["apiVersion"], "clusterctl.cluster.x-k8s.io/v1alpha3");
    let series = v["releaseSeries"].as_array().expect("releaseSeries");
    assert!(
        series
            .iter()
            .any(|s| s["major"] == 0 && s["minor"] == 1 && s["contract"] == "v1beta1")
    );
}
