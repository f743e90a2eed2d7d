//! The observability/ manifests, configs, rules and dashboard parse and only query metrics capt exports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use std::time::Duration;

use capt::telemetry::Metrics;
use capt::telemetry::metrics::{RateLimitScope, ReconcileResult};
use serde::Deserialize;
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("observability")
}

fn files(ext: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, ext: &[&str], out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, ext, out);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ext.contains(&e))
            {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dir(), ext, &mut out);
    out.sort();
    out
}

fn yaml_docs(path: &Path) -> Vec<Yaml> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Yaml::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// Empty families are not exposed, so record one sample in each.
fn populated_metrics() -> Metrics {
    let m = Metrics::new();
    let d = Duration::from_millis(3);
    m.reconcile_done("c", ReconcileResult::Error, d);
    m.worker_started("c");
    m.register_controller("c", 1);
    m.set_workqueue_depth("c", 1);
    m.workqueue_add("c");
    m.workqueue_queue_duration("c", d);
    m.workqueue_retry("c");
    m.actor_started("K");
    m.mailbox_wait("K", d);
    m.api_request("get", "secrets", 200);
    m.rate_limited(RateLimitScope::Client);
    m.reconcile_panic("K");
    m.status_write("K");
    m.status_write_skipped("K");
    m.event("K", "Normal", "R");
    m.secret_sync("error", "R", d);
    m.token_refresh("signed");
    m.token_replaced(100.0);
    m.token_expiry("ns/a", Some(1_800_000_000));
    m.set_leader(true);
    m
}

fn exported_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in populated_metrics().encode().lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').unwrap();
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

fn queried_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts_word {
            let end = expr[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(expr.len(), |n| i + n);
            let word = &expr[i..end];
            if ["controller_runtime_", "workqueue_", "capt_"]
                .iter()
                .any(|p| word.starts_with(p))
            {
                out.push(word.to_owned());
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn every_file_parses() {
    let yaml = files(&["yaml", "yml"]);
    assert!(yaml.len() >= 7, "{yaml:?}");
    for path in &yaml {
        let docs = yaml_docs(path);
        assert!(!docs.is_empty(), "{} is empty", path.display());
    }
    let json = files(&["json"]);
    assert!(!json.is_empty());
    for path in &json {
        let text = std::fs::read_to_string(path).unwrap();
        serde_json::from_str::<Json>(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
fn manifests_are_kubernetes_objects() {
    for path in files(&["yaml"]) {
        if path.ends_with("otel-collector/config.yaml") {
            continue;
        }
        for doc in yaml_docs(&path) {
            let kind = doc["kind"].as_str();
            assert!(kind.is_some(), "{}: object without kind", path.display());
            assert!(doc["apiVersion"].as_str().is_some(), "{}", path.display());
            if kind != Some("Kustomization") {
                assert!(
                    doc["metadata"]["name"].as_str().is_some(),
                    "{}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn jaeger_and_collector_wiring() {
    let jaeger = yaml_docs(&dir().join("jaeger/jaeger.yaml"));
    let deployment = jaeger.iter().find(|d| d["kind"] == "Deployment").unwrap();
    assert_eq!(deployment["metadata"]["namespace"], "observability");
    let ports: Vec<i64> = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|p| p["containerPort"].as_i64())
        .collect();
    assert!(ports.contains(&4317) && ports.contains(&16686), "{ports:?}");
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(
        env.as_sequence()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "COLLECTOR_OTLP_ENABLED" && e["value"] == "true")
    );

    let config = &yaml_docs(&dir().join("otel-collector/config.yaml"))[0];
    let pipeline = &config["service"]["pipelines"]["traces"];
    assert_eq!(pipeline["receivers"][0], "otlp");
    assert!(
        pipeline["processors"]
            .as_sequence()
            .unwrap()
            .contains(&Yaml::from("batch"))
    );
    assert!(
        pipeline["exporters"]
            .as_sequence()
            .unwrap()
            .contains(&Yaml::from("otlp/jaeger"))
    );
    assert_eq!(
        config["exporters"]["otlp/jaeger"]["endpoint"],
        "jaeger.observability.svc:4317"
    );

    let collector = yaml_docs(&dir().join("otel-collector/otel-collector.yaml"));
    let map = collector.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    let embedded: Yaml =
        serde_yaml::from_str(map["data"]["config.yaml"].as_str().unwrap()).unwrap();
    assert_eq!(&embedded, config, "ConfigMap and config.yaml differ");
    assert!(collector.iter().any(|d| d["kind"] == "Deployment"));
    assert!(collector.iter().any(|d| d["kind"] == "Service"));
}

fn rule_exprs(groups: &Yaml) -> Vec<(String, String)> {
    groups
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap().iter())
        .map(|r| {
            (
                r["alert"].as_str().unwrap().to_owned(),
                r["expr"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn alert_rules_agree_and_query_exported_metrics() {
    let plain = &yaml_docs(&dir().join("prometheus/capt.rules.yml"))[0];
    let operator = &yaml_docs(&dir().join("prometheus/prometheus-rule.yaml"))[0];
    assert_eq!(operator["kind"], "PrometheusRule");
    assert_eq!(plain["groups"], operator["spec"]["groups"]);

    let rules = rule_exprs(&plain["groups"]);
    let alerts: BTreeSet<&str> = rules.iter().map(|(a, _)| a.as_str()).collect();
    for expected in [
        "CaptReconcileErrorRatioHigh",
        "CaptWorkqueueLatencyHigh",
        "CaptLeaderChangesFrequent",
        "CaptNoLeader",
        "CaptSecretSyncFailures",
        "CaptKubeconfigTokenExpiring",
        "CaptTokenRefreshFailures",
    ] {
        assert!(alerts.contains(expected), "{expected} missing");
    }
    let exported = exported_names();
    for (alert, expr) in &rules {
        let names = queried_names(expr);
        assert!(!names.is_empty(), "{alert} queries no capt metric");
        for name in names {
            assert!(exported.contains(&name), "{alert} queries unknown {name}");
        }
    }
}

#[test]
fn dashboard_queries_exported_metrics() {
    let text = std::fs::read_to_string(dir().join("grafana/capt-dashboard.json")).unwrap();
    let dashboard: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(dashboard["uid"], "capt-overview");
    let exported = exported_names();
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            for name in queried_names(expr) {
                assert!(
                    exported.contains(&name),
                    "panel {:?} queries unknown {name}",
                    panel["title"]
                );
                queried.insert(name);
            }
        }
    }
    for family in [
        "controller_runtime_reconcile_total",
        "controller_runtime_reconcile_errors_total",
        "controller_runtime_reconcile_time_seconds_bucket",
        "workqueue_depth",
        "workqueue_queue_duration_seconds_bucket",
        "capt_actors",
        "capt_mailbox_wait_seconds_bucket",
        "capt_api_requests_total",
        "capt_rate_limited_total",
        "capt_secret_sync_total",
        "capt_leader",
    ] {
        assert!(queried.contains(family), "dashboard lacks {family}");
    }
}
