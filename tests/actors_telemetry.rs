//! Each reconcile span links to the span of the watch event that woke its actor.
//! One test in this binary: it installs the global tracing subscriber (arbiter threads do not
//! inherit a thread-local default).

mod common;

use std::time::Duration;

use capt::actors::block_on;
use common::{Env, WAIT, fast_settings, succeed};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanId;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a opentelemetry::Value> {
    span.attributes
        .iter()
        .find(|KeyValue { key: k, .. }| k.as_str() == key)
        .map(|kv| &kv.value)
}

#[test]
fn reconcile_span_links_to_its_event_span() {
    let exporter = InMemorySpanExporter::default();
    let telemetry = capt::telemetry::otel::init_for_tests(exporter.clone());
    tracing::dispatcher::set_global_default(telemetry.dispatch().clone())
        .expect("no other global subscriber in this binary");

    block_on(async {
        let env = Env::start(fast_settings(), succeed()).await;
        env.create("traced", &[("v", "0")]).await;
        env.wait_count("traced", 1).await;
        env.set_data("traced", "v", "1").await;
        env.wait_count("traced", 2).await;

        let start = std::time::Instant::now();
        let (reconcile, events) = loop {
            let spans = exporter.get_finished_spans().unwrap();
            let linked = spans.iter().find(|s| {
                s.name == "reconcile ConfigMap"
                    && !s.links.links.is_empty()
                    && attr(s, "capt.name").map(|v| v.as_str()) == Some("traced".into())
            });
            let events: Vec<SpanId> = spans
                .iter()
                .filter(|s| s.name == "event ConfigMap")
                .map(|s| s.span_context.span_id())
                .collect();
            // The event span ends when the router is done with the event, which on a loaded
            // machine can be after the reconcile it caused: wait until both are exported.
            if let Some(r) =
                linked.filter(|r| events.contains(&r.links.links[0].span_context.span_id()))
            {
                break (r.clone(), events);
            }
            assert!(start.elapsed() < WAIT, "no linked reconcile span exported");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(!events.is_empty(), "event spans are exported");
        let link = &reconcile.links.links[0];
        assert!(
            events.contains(&link.span_context.span_id()),
            "the reconcile span links to an event span"
        );
        assert_ne!(
            reconcile.span_context.trace_id(),
            link.span_context.trace_id(),
            "the reconcile starts its own trace"
        );
        assert_eq!(
            attr(&reconcile, "capt.trigger").map(|v| v.as_str().into_owned()),
            Some("event:ConfigMap".to_string())
        );
        assert_eq!(
            attr(&reconcile, "capt.result").map(|v| v.as_str().into_owned()),
            Some("success".to_string())
        );
        env.stop().await;
    });
}
