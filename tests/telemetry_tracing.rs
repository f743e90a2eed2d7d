//! Span links, `traceparent` and the in-memory exporter; secrets stay out of logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use capt::telemetry::otel::{self, init_for_tests};
use capt::telemetry::{Redacted, add_link, current_traceparent, link_to, span_context};
use opentelemetry_sdk::trace::InMemorySpanExporter;

fn is_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    };
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && parts[3] == "01"
        && parts[1] != "0".repeat(32)
}

#[test]
fn reconcile_span_links_to_event_span() {
    let exporter = InMemorySpanExporter::default();
    let telemetry = init_for_tests(exporter.clone());
    let _default = telemetry.set_default();

    let event = tracing::info_span!("event", k8s.namespace.name = "default");
    let event_ctx = span_context(&event);
    assert!(event_ctx.is_valid());
    let event_link = link_to(&event);
    assert_eq!(event_link.span_context, event_ctx);
    drop(event);

    let reconcile = tracing::info_span!(
        "reconcile",
        otel.name = "reconcile CAPTControlPlane",
        capt.trigger = "event"
    );
    add_link(&reconcile, &event_ctx);
    let traceparent = reconcile.in_scope(|| {
        let child = tracing::debug_span!("api create workspaces");
        child.in_scope(current_traceparent)
    });
    let traceparent = traceparent.expect("an exported span has a traceparent");
    assert!(is_traceparent(&traceparent), "{traceparent}");
    let reconcile_ctx = span_context(&reconcile);
    drop(reconcile);

    assert_ne!(
        reconcile_ctx.trace_id(),
        event_ctx.trace_id(),
        "new trace per reconcile"
    );
    assert!(traceparent.contains(&reconcile_ctx.trace_id().to_string()));

    let parsed = otel::parse_traceparent(&traceparent).expect("parses back");
    assert_eq!(parsed.trace_id(), reconcile_ctx.trace_id());
    assert!(parsed.is_remote());

    let spans = exporter.get_finished_spans().unwrap();
    let reconcile = spans
        .iter()
        .find(|s| s.name == "reconcile CAPTControlPlane")
        .expect("reconcile span exported");
    let links = &reconcile.links.links;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].span_context.trace_id(), event_ctx.trace_id());
    assert_eq!(links[0].span_context.span_id(), event_ctx.span_id());
    let child = spans
        .iter()
        .find(|s| s.name == "api create workspaces")
        .expect("child span exported");
    assert_eq!(child.parent_span_id, reconcile.span_context.span_id());
    assert_eq!(
        child.span_context.span_id().to_string(),
        traceparent.split('-').nth(2).unwrap()
    );
    let service = reconcile.instrumentation_scope.name();
    assert_eq!(service, otel::TRACER_NAME);
}

#[test]
fn no_traceparent_without_exporting_subscriber() {
    let span = tracing::info_span!("orphan");
    let _entered = span.enter();
    assert_eq!(current_traceparent(), None);
    assert!(!span_context(&span).is_valid());
}

#[test]
fn link_to_invalid_context_is_ignored() {
    let exporter = InMemorySpanExporter::default();
    let telemetry = init_for_tests(exporter.clone());
    let _default = telemetry.set_default();
    let span = tracing::info_span!("lonely");
    add_link(&span, &opentelemetry::trace::SpanContext::empty_context());
    drop(span);
    let spans = exporter.get_finished_spans().unwrap();
    assert!(spans[0].links.links.is_empty());
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn redacted_values_never_reach_logs() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    let token = Redacted::new("aws-secret-access-key-value".to_owned());
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("sync", secret = %token);
        let _entered = span.enter();
        tracing::info!(debug = ?token, display = %token, "synced");
    });
    let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(out.contains("<redacted>"), "{out}");
    assert!(!out.contains("aws-secret-access-key-value"), "{out}");
    assert_eq!(token.expose(), "aws-secret-access-key-value");
}
