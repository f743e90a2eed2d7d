//! Reconcile spans follow their object's lifecycle trace: an object carrying a `traceparent`
//! annotation is reconciled under it, an object without one starts a root; watch events are
//! not spans of their own; the wait in the mailbox is a span; a failed reconcile is an ERROR span.
//! One test in this binary: it installs the global tracing subscriber (arbiter threads do not
//! inherit a thread-local default).

mod common;

use std::time::Duration;

use capt::actors::block_on;
use common::{Env, WAIT, behave, fast_settings};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::PostParams;
use opentelemetry::KeyValue;
use opentelemetry::trace::Status;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|KeyValue { key: k, .. }| k.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

fn reconciles_of<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans
        .iter()
        .filter(|s| {
            s.name == "reconcile ConfigMap" && attr(s, "capt.name").as_deref() == Some(name)
        })
        .collect()
}

#[test]
fn reconcile_spans_follow_the_objects_trace() {
    let exporter = InMemorySpanExporter::default();
    let telemetry = capt::telemetry::otel::init_for_tests(exporter.clone());
    tracing::dispatcher::set_global_default(telemetry.dispatch().clone())
        .expect("no other global subscriber in this binary");

    block_on(async {
        let script = behave(|c| async move {
            match (c.name(), c.n) {
                ("failing", 1) => common::transient("scripted failure"),
                _ => common::done(capt::actors::reconciler::Action::await_change()),
            }
        });
        let env = Env::start(fast_settings(), script).await;
        let mut traced = ConfigMap::default();
        traced.metadata.name = Some("traced".into());
        traced.metadata.namespace = Some(common::NS.into());
        traced.metadata.annotations =
            Some([("traceparent".to_string(), PARENT.to_string())].into());
        env.cms
            .create(&PostParams::default(), &traced)
            .await
            .expect("create traced");
        env.create("fresh", &[("v", "0")]).await;
        env.create("failing", &[("v", "0")]).await;
        env.wait_count("traced", 1).await;
        env.set_data("traced", "v", "1").await;
        env.wait_count("traced", 2).await;
        env.wait_count("fresh", 1).await;
        env.wait_count("failing", 2).await;

        let start = std::time::Instant::now();
        let spans = loop {
            let spans = exporter.get_finished_spans().unwrap();
            if reconciles_of(&spans, "traced").len() >= 2
                && reconciles_of(&spans, "failing").len() >= 2
                && !reconciles_of(&spans, "fresh").is_empty()
            {
                break spans;
            }
            assert!(start.elapsed() < WAIT, "reconcile spans not exported");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let parent = capt::telemetry::otel::parse_traceparent(PARENT).unwrap();
        for r in reconciles_of(&spans, "traced") {
            assert_eq!(
                r.span_context.trace_id(),
                parent.trace_id(),
                "joins the annotated trace"
            );
            assert_eq!(r.parent_span_id, parent.span_id());
        }
        let fresh = reconciles_of(&spans, "fresh")[0];
        assert_ne!(fresh.span_context.trace_id(), parent.trace_id());
        assert_eq!(
            fresh.parent_span_id,
            opentelemetry::trace::SpanId::INVALID,
            "an object nobody traced starts a root"
        );
        assert!(
            !spans.iter().any(|s| s.name.starts_with("event ")),
            "watch events are not spans of their own"
        );
        let queued: Vec<&SpanData> = spans
            .iter()
            .filter(|s| {
                s.name == "queue ConfigMap" && s.span_context.trace_id() == parent.trace_id()
            })
            .collect();
        assert!(
            !queued.is_empty(),
            "the mailbox wait is a span in the object's trace"
        );
        assert!(queued.iter().all(|q| q.start_time <= q.end_time));

        let failing = reconciles_of(&spans, "failing");
        let failed: Vec<_> = failing
            .iter()
            .filter(|s| matches!(s.status, Status::Error { .. }))
            .collect();
        assert_eq!(
            failed.len(),
            1,
            "exactly the failed reconcile is an ERROR span"
        );
        assert_eq!(attr(failed[0], "error.type").as_deref(), Some("transient"));
        assert_eq!(attr(failed[0], "capt.result").as_deref(), Some("error"));
        assert!(
            failing.iter().any(|s| s.status == Status::Unset
                && attr(s, "capt.trigger").as_deref() == Some("retry")),
            "the retry succeeded"
        );
        env.stop().await;
    });
}
