//! With the Prometheus metrics as observer, the runtime's reports appear under the
//! controller-runtime names, labelled by kind.

mod common;

use std::sync::Arc;

use capt::actors::observer::Outcome;
use capt::actors::{Action, block_on};
use capt::telemetry::Metrics;
use common::{Env, WAIT, behave, fast_settings, wait_until};

fn line_value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l[prefix.len()..].trim().parse().ok())
}

#[test]
fn metrics_use_controller_runtime_names() {
    block_on(async {
        let metrics = Metrics::new();
        let env = Env::start_with(
            fast_settings(),
            behave(|c| async move {
                if c.n == 1 {
                    common::transient("first try fails")
                } else {
                    common::done(Action::await_change())
                }
            }),
            Some(Arc::new(metrics.clone())),
        )
        .await;
        env.create("m", &[("v", "0")]).await;
        env.wait_count("m", 2).await;
        env.set_data("m", "v", "1").await;
        env.wait_count("m", 3).await;
        let obs = env.observer.clone();
        wait_until("three finished reconciles", WAIT, || {
            obs.outcomes().len() == 3
        })
        .await;
        assert_eq!(obs.outcome_count(Outcome::Error), 1);

        let text = metrics.encode();
        let expect = [
            (
                "controller_runtime_reconcile_total{controller=\"configmap\",result=\"success\"}",
                2.0,
            ),
            (
                "controller_runtime_reconcile_total{controller=\"configmap\",result=\"error\"}",
                1.0,
            ),
            (
                "controller_runtime_reconcile_errors_total{controller=\"configmap\"}",
                1.0,
            ),
            (
                "controller_runtime_reconcile_time_seconds_count{controller=\"configmap\"}",
                3.0,
            ),
            (
                "controller_runtime_active_workers{controller=\"configmap\"}",
                0.0,
            ),
            (
                "capt_reconcile_errors_total{controller=\"configmap\",class=\"transient\",category=\"scripted\"}",
                1.0,
            ),
            ("workqueue_adds_total{name=\"configmap\"}", 1.0),
            ("workqueue_retries_total{name=\"configmap\"}", 1.0),
            (
                "workqueue_queue_duration_seconds_count{name=\"configmap\"}",
                3.0,
            ),
            ("capt_actors{kind=\"ConfigMap\"}", 1.0),
            ("capt_mailbox_wait_seconds_count{kind=\"ConfigMap\"}", 3.0),
        ];
        for (prefix, value) in expect {
            assert_eq!(
                line_value(&text, prefix),
                Some(value),
                "{prefix} in:\n{text}"
            );
        }
        env.stop().await;
    });
}
