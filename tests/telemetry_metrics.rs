//! The exposition carries exactly the metric names dashboards and alerts expect.

use std::collections::BTreeSet;
use std::time::Duration;

use capt::telemetry::Metrics;
use capt::telemetry::metrics::{RateLimitScope, ReconcileResult};

const COUNTERS: &[&str] = &[
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "workqueue_adds_total",
    "workqueue_retries_total",
    "capt_api_requests_total",
    "capt_rate_limited_total",
    "capt_reconcile_panics_total",
    "capt_status_writes_total",
    "capt_status_writes_skipped_total",
    "capt_events_total",
    "capt_events_dropped_total",
    "capt_secret_sync_total",
    "capt_leader_changes_total",
    "capt_template_rollout_queued_total",
    "capt_template_rollout_woken_total",
    "capt_resync_wakeups_total",
    "capt_token_refreshes_total",
    "capt_shard_moves_total",
    "capt_shard_drains_total",
    "capt_shard_drain_acks_total",
];
const GAUGES: &[&str] = &[
    "capt_kubeconfig_token_earliest_expiry_timestamp_seconds",
    "controller_runtime_active_workers",
    "controller_runtime_max_concurrent_reconciles",
    "workqueue_depth",
    "capt_actors",
    "capt_leader",
    "capt_template_rollout_pending",
    "capt_shard_ring_members",
    "capt_shard_coordinator",
    "capt_shard_objects",
];
const HISTOGRAMS: &[&str] = &[
    "controller_runtime_reconcile_time_seconds",
    "workqueue_queue_duration_seconds",
    "capt_mailbox_wait_seconds",
    "capt_secret_sync_duration_seconds",
    "capt_token_seconds_to_expiry_at_refresh",
];

fn exercise(m: &Metrics) {
    let ms = Duration::from_millis(12);
    m.reconcile_done("captcontrolplane", ReconcileResult::Success, ms);
    m.reconcile_done("captcontrolplane", ReconcileResult::Error, ms);
    m.reconcile_done("captcontrolplane", ReconcileResult::Requeue, ms);
    m.reconcile_done("captcontrolplane", ReconcileResult::RequeueAfter, ms);
    m.worker_started("captcontrolplane");
    m.worker_started("captcontrolplane");
    m.worker_finished("captcontrolplane");
    m.register_controller("CAPTControlPlane", 16);
    m.workqueue_add("captcontrolplane");
    m.set_workqueue_depth("captcontrolplane", 3);
    m.workqueue_queue_duration("captcontrolplane", ms);
    m.workqueue_retry("captcontrolplane");
    m.actor_started("CAPTControlPlane");
    m.mailbox_wait("CAPTControlPlane", ms);
    m.api_request("patch", "workspaces", 200);
    m.rate_limited(RateLimitScope::Client);
    m.rate_limited(RateLimitScope::Object);
    m.reconcile_panic("CAPTCluster");
    m.status_write("CAPTCluster");
    m.status_write_skipped("CAPTCluster");
    m.event("CAPTCluster", "Normal", "VPCReady");
    m.secret_sync("synced", "Ready", ms);
    m.set_leader(true);
    m.resync_wakeup("CAPTCluster");
    m.token_refresh("signed");
    let share = ("capt-0".to_string(), 3usize);
    m.shard_view(1, [(&share.0, &share.1)].into_iter());
}

/// Sample lines `name{labels} value` → (name, labels, value).
fn samples(text: &str) -> Vec<(String, String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("sample has a value");
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            (
                name.to_owned(),
                labels.to_owned(),
                value.parse().expect("numeric value"),
            )
        })
        .collect()
}

fn value(samples: &[(String, String, f64)], name: &str, labels: &str) -> f64 {
    samples
        .iter()
        .find(|(n, l, _)| n == name && l == labels)
        .unwrap_or_else(|| panic!("no sample {name}{{{labels}}}"))
        .2
}

#[test]
fn exposed_names_are_exactly_the_documented_ones() {
    let m = Metrics::new();
    exercise(&m);
    let text = m.encode();
    let samples = samples(&text);
    let names: BTreeSet<String> = samples.iter().map(|(n, _, _)| n.clone()).collect();

    let mut expected: BTreeSet<String> = COUNTERS
        .iter()
        .chain(GAUGES)
        .map(|s| s.to_string())
        .collect();
    for h in HISTOGRAMS {
        for suffix in ["_bucket", "_sum", "_count"] {
            expected.insert(format!("{h}{suffix}"));
        }
    }
    assert_eq!(names, expected, "\n{text}");

    for counter in COUNTERS {
        let family = counter.trim_end_matches("_total");
        assert!(
            text.contains(&format!("# TYPE {family} counter")),
            "{counter}"
        );
    }
    for gauge in GAUGES {
        assert!(text.contains(&format!("# TYPE {gauge} gauge")), "{gauge}");
    }
    for histogram in HISTOGRAMS {
        assert!(
            text.contains(&format!("# TYPE {histogram} histogram")),
            "{histogram}"
        );
    }
}

#[test]
fn label_sets_and_values() {
    let m = Metrics::new();
    exercise(&m);
    let s = samples(&m.encode());
    for result in ["success", "error", "requeue", "requeue_after"] {
        assert_eq!(
            value(
                &s,
                "controller_runtime_reconcile_total",
                &format!("controller=\"captcontrolplane\",result=\"{result}\"")
            ),
            1.0
        );
    }
    let cp = "controller=\"captcontrolplane\"";
    assert_eq!(
        value(&s, "controller_runtime_reconcile_errors_total", cp),
        1.0
    );
    assert_eq!(
        value(&s, "controller_runtime_reconcile_time_seconds_count", cp),
        4.0
    );
    assert_eq!(value(&s, "controller_runtime_active_workers", cp), 1.0);
    assert_eq!(
        value(&s, "controller_runtime_max_concurrent_reconciles", cp),
        16.0
    );
    let q = "name=\"captcontrolplane\"";
    assert_eq!(value(&s, "workqueue_depth", q), 3.0);
    assert_eq!(value(&s, "workqueue_adds_total", q), 1.0);
    assert_eq!(value(&s, "workqueue_retries_total", q), 1.0);
    assert_eq!(value(&s, "workqueue_queue_duration_seconds_count", q), 1.0);
    assert_eq!(value(&s, "capt_actors", "kind=\"CAPTControlPlane\""), 1.0);
    assert_eq!(
        value(
            &s,
            "capt_api_requests_total",
            "verb=\"patch\",resource=\"workspaces\",code=\"200\""
        ),
        1.0
    );
    assert_eq!(
        value(&s, "capt_rate_limited_total", "scope=\"client\""),
        1.0
    );
    assert_eq!(
        value(&s, "capt_rate_limited_total", "scope=\"object\""),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "capt_events_total",
            "kind=\"CAPTCluster\",type=\"Normal\",reason=\"VPCReady\""
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "capt_secret_sync_total",
            "result=\"synced\",reason=\"Ready\""
        ),
        1.0
    );
    assert_eq!(
        value(&s, "capt_secret_sync_duration_seconds_count", ""),
        1.0
    );
    assert_eq!(value(&s, "capt_leader", ""), 1.0);
    assert_eq!(value(&s, "capt_leader_changes_total", ""), 1.0);
    let bucket = value(
        &s,
        "controller_runtime_reconcile_time_seconds_bucket",
        "le=\"0.025\",controller=\"captcontrolplane\"",
    );
    assert_eq!(bucket, 4.0);
}

#[test]
fn clones_share_one_registry() {
    let m = Metrics::new();
    let clone = m.clone();
    clone.status_write("CAPTCluster");
    assert!(
        m.encode()
            .contains("capt_status_writes_total{kind=\"CAPTCluster\"} 1")
    );
}

#[test]
fn a_declared_controller_exposes_its_series_at_zero() {
    let m = Metrics::new();
    m.register_controller("CAPTCluster", 8);
    let text = m.encode();
    for line in [
        r#"controller_runtime_reconcile_total{controller="captcluster",result="success"} 0"#,
        r#"controller_runtime_reconcile_total{controller="captcluster",result="error"} 0"#,
        r#"controller_runtime_reconcile_errors_total{controller="captcluster"} 0"#,
        r#"controller_runtime_active_workers{controller="captcluster"} 0"#,
        r#"controller_runtime_max_concurrent_reconciles{controller="captcluster"} 8"#,
        r#"workqueue_depth{name="captcluster"} 0"#,
        r#"workqueue_adds_total{name="captcluster"} 0"#,
        r#"workqueue_retries_total{name="captcluster"} 0"#,
        r#"controller_runtime_reconcile_time_seconds_count{controller="captcluster"} 0"#,
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
}
