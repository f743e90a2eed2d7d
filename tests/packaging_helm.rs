//! The Helm chart `deploy/helm/capt`: generated from `deploy/` and up to date (regenerate with
//! `CAPT_UPDATE_CHART=1 cargo nextest run --test packaging_helm`); rendered by Helm with default values it
//! installs what `kubectl kustomize deploy/default` does (CRDs, RBAC, Deployment, metrics Service); its values
//! reach the Deployment.

use std::path::{Path, PathBuf};
use std::process::Command;

use capt::packaging::helm;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn chart_dir() -> PathBuf {
    root().join("deploy/helm/capt")
}

fn generated() -> helm::Files {
    helm::chart(&root().join("deploy"), env!("CARGO_PKG_VERSION")).expect("chart generates")
}

fn checked_in(dir: &Path, base: &Path, out: &mut helm::Files) {
    for e in std::fs::read_dir(dir).expect("chart dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            checked_in(&p, base, out);
        } else {
            let rel = p
                .strip_prefix(base)
                .expect("under chart")
                .to_string_lossy()
                .into_owned();
            out.insert(rel, std::fs::read_to_string(&p).expect("read"));
        }
    }
}

#[test]
fn the_checked_in_chart_is_generated_from_deploy() {
    let want = generated();
    if std::env::var_os("CAPT_UPDATE_CHART").is_some() {
        helm::write(&chart_dir(), &want).expect("write chart");
    }
    let mut have = helm::Files::new();
    checked_in(&chart_dir(), &chart_dir(), &mut have);
    let names = |f: &helm::Files| f.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&have),
        names(&want),
        "chart files; regenerate with CAPT_UPDATE_CHART=1"
    );
    for (name, text) in &want {
        assert!(
            have[name] == *text,
            "{name} is stale; regenerate with CAPT_UPDATE_CHART=1"
        );
    }
}

/// Numbers by value: kustomize writes `minimum: 1.0` as `1`, Helm copies CRDs verbatim.
fn normalised(v: Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(normalised).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, normalised(v))).collect()),
        other => other,
    }
}

fn docs(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| {
            let v = <serde_yaml::Value as serde::Deserialize>::deserialize(d).expect("yaml doc");
            normalised(serde_json::to_value(v).expect("json"))
        })
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// Runs a tool; `None` (with a note) when it is not installed.
fn run(tool: &str, args: &[&str]) -> Option<Vec<Value>> {
    let out = match Command::new(tool).args(args).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "note: skipping: {tool} is not installed ({e}); `.ci/install-helm` installs helm"
            );
            return None;
        }
    };
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(docs(&String::from_utf8(out.stdout).expect("utf-8")))
}

fn helm_template(set: &[&str]) -> Option<Vec<Value>> {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        "capt",
        chart.to_str().unwrap(),
        "--namespace",
        "capt-system",
        "--include-crds",
    ];
    for s in set {
        args.extend(["--set", s]);
    }
    run("helm", &args)
}

fn by_kind<'a>(docs: &'a [Value], kinds: &[&str]) -> Vec<&'a Value> {
    let mut v: Vec<&Value> = docs
        .iter()
        .filter(|d| kinds.contains(&d["kind"].as_str().unwrap_or("")))
        .collect();
    v.sort_by_key(|d| (d["kind"].to_string(), d["metadata"]["name"].to_string()));
    v
}

const RBAC: [&str; 5] = [
    "ServiceAccount",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
];

#[test]
fn helm_installs_what_kustomize_installs() {
    let Some(rendered) = helm_template(&[]) else {
        return;
    };
    let Some(kustomized) = run(
        "kubectl",
        &["kustomize", root().join("deploy/default").to_str().unwrap()],
    ) else {
        return;
    };
    for kinds in [
        &["CustomResourceDefinition"][..],
        &RBAC[..],
        &["Deployment"][..],
        &["Service"][..],
    ] {
        let (h, k) = (by_kind(&rendered, kinds), by_kind(&kustomized, kinds));
        assert!(!k.is_empty(), "kustomize installs {kinds:?}");
        let names = |v: &[&Value]| {
            v.iter()
                .map(|d| d["metadata"]["name"].to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&h),
            names(&k),
            "{kinds:?} of the chart and deploy/default"
        );
        for (h, k) in h.iter().zip(&k) {
            assert!(
                h == k,
                "{} differs between the chart and deploy/default:\n{}\n---\n{}",
                h["metadata"]["name"],
                serde_yaml::to_string(h).unwrap(),
                serde_yaml::to_string(k).unwrap()
            );
        }
    }
    let kinds = |d: &[Value]| {
        let mut k: Vec<String> = d
            .iter()
            .filter_map(|v| v["kind"].as_str().map(str::to_string))
            .collect();
        k.sort();
        k.dedup();
        k
    };
    let mut without_ns = kinds(&kustomized);
    without_ns.retain(|k| k != "Namespace");
    assert_eq!(
        kinds(&rendered),
        without_ns,
        "the chart installs no other kinds (the release namespace is Helm's)"
    );
}

fn manager(docs: &[Value]) -> Value {
    by_kind(docs, &["Deployment"])[0].clone()
}

#[test]
fn values_reach_the_deployment() {
    let set = [
        "image.repository=registry.example/capt",
        "image.tag=v9.9.9",
        "replicas=3",
        "leaderElection.enabled=false",
        "sharding=true",
        "kubeApiQps=500",
        "kubeApiBurst=900",
        "otlpEndpoint=http://collector:4317",
        "resources.limits.memory=1Gi",
        "extraArgs[0]=--resync-period=5m",
    ];
    let Some(rendered) = helm_template(&set) else {
        return;
    };
    let d = manager(&rendered);
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(c["image"], "registry.example/capt:v9.9.9");
    assert_eq!(c["resources"]["limits"]["memory"], "1Gi");
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        args,
        [
            "--health-probe-bind-address=:8081",
            "--metrics-bind-address=:8443",
            "--sharding",
            "--kube-api-qps=500",
            "--kube-api-burst=900",
            "--resync-period=5m",
        ]
    );
    let otlp = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "OTEL_EXPORTER_OTLP_ENDPOINT");
    assert_eq!(
        otlp.map(|e| &e["value"]),
        Some(&Value::from("http://collector:4317"))
    );

    let Some(defaults) = helm_template(&[]) else {
        return;
    };
    let c = &manager(&defaults)["spec"]["template"]["spec"]["containers"][0];
    assert!(
        c["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--leader-elect")
    );
}

#[test]
fn sharding_replaces_leader_election_and_adds_its_role() {
    let Some(sharded) = helm_template(&["sharding=true", "replicas=3"]) else {
        return;
    };
    let c = &manager(&sharded)["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = (c["args"].as_array().unwrap().iter())
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.contains(&"--sharding") && !args.contains(&"--leader-elect"),
        "{args:?}"
    );
    let roles = |docs: &[Value]| -> Vec<String> {
        by_kind(docs, &["ClusterRole", "ClusterRoleBinding"])
            .iter()
            .filter_map(|d| d["metadata"]["name"].as_str().map(String::from))
            .filter(|n| n.contains("sharding"))
            .collect()
    };
    assert_eq!(
        roles(&sharded),
        ["capt-sharding-role", "capt-sharding-rolebinding"]
    );
    let Some(defaults) = helm_template(&[]) else {
        return;
    };
    assert!(roles(&defaults).is_empty());
}

#[test]
fn helm_lint_passes() {
    let chart = chart_dir();
    let out = match Command::new("helm")
        .args(["lint", "--strict", chart.to_str().unwrap()])
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "note: skipping: helm is not installed ({e}); `.ci/install-helm` installs helm"
            );
            return;
        }
    };
    assert!(
        out.status.success(),
        "helm lint: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
