//! OpenTelemetry pipeline (OTLP gRPC exporter, W3C propagator) and span-context helpers.
//!
//! The exporter is configured by the standard `OTEL_*` environment variables
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `..._HEADERS`, `..._TIMEOUT`,
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Link, SpanContext, TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanExporter};
use tracing::Subscriber;
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

use super::logging::TelemetryError;
use super::options::{DEFAULT_OTEL_FILTER, DEFAULT_SERVICE_NAME, OTEL_FILTER_ENV};

/// Instrumentation scope name of the tracer.
pub const TRACER_NAME: &str = "capt";
/// W3C trace-context header / annotation key.
pub const TRACEPARENT: &str = "traceparent";

const ENDPOINT_ENVS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

/// Targets whose events must never reach the OTLP layer: the exporter's own stack would
/// otherwise trace itself.
const EXPORTER_TARGETS: [&str; 6] = [
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "tonic",
    "h2",
    "hyper",
];

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported by this process (an OTLP or test exporter is installed): trace
/// context is then read from and written to objects.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Records that spans are exported (set when the exporter is installed).
pub fn set_exporting(on: bool) {
    EXPORTING.store(on, Ordering::Relaxed);
}

/// A finished span from `start` to `end`, a child of `parent` (a root when `None`). Spans made
/// with `tracing` start when they are created, so these are built with the tracer itself.
fn record_span(
    name: String,
    parent: Option<&SpanContext>,
    start: std::time::SystemTime,
    end: std::time::SystemTime,
    attributes: Vec<opentelemetry::KeyValue>,
) {
    use opentelemetry::trace::{Span as _, Tracer as _};
    if !exporting() {
        return;
    }
    let tracer = opentelemetry::global::tracer(TRACER_NAME);
    let cx = parent.map_or_else(opentelemetry::Context::new, remote_parent);
    let mut span = tracer
        .span_builder(name)
        .with_start_time(start.min(end))
        .with_attributes(attributes)
        .start_with_context(&tracer, &cx);
    span.end_with_timestamp(end);
}

/// A span for time spent waiting (e.g. in an actor's mailbox) that ended now and began `waited`
/// ago, as a child of `parent` (a root when `None`).
pub fn record_wait(
    name: String,
    parent: Option<&SpanContext>,
    waited: std::time::Duration,
    attributes: Vec<opentelemetry::KeyValue>,
) {
    let now = std::time::SystemTime::now();
    let start = now.checked_sub(waited).unwrap_or(now);
    record_span(name, parent, start, now, attributes);
}

/// A finished span from `start` to `end` that was not in process (e.g. a terraform run seen
/// through its Workspace's conditions), as a child of the current span (nothing without one).
pub fn record_past(
    name: String,
    start: std::time::SystemTime,
    end: std::time::SystemTime,
    attributes: Vec<opentelemetry::KeyValue>,
) {
    let parent = span_context(&tracing::Span::current());
    if parent.is_valid() {
        record_span(name, Some(&parent), start, end, attributes);
    }
}

/// The context a span continues under `parent` (remote).
pub fn remote_parent(parent: &SpanContext) -> opentelemetry::Context {
    opentelemetry::Context::new().with_remote_span_context(parent.clone())
}

/// True when an OTLP traces endpoint is configured in the environment.
pub fn otlp_enabled() -> bool {
    ENDPOINT_ENVS
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
}

/// Resource for exported spans: `service.name` is `capt` unless `OTEL_SERVICE_NAME` is set;
/// `service.version` is this build's version and `service.instance.id` the pod
/// (`POD_NAME`, else `HOSTNAME`, else `capt-<pid>`); `OTEL_RESOURCE_ATTRIBUTES` is honoured and
/// wins over both.
pub fn resource() -> Resource {
    use opentelemetry::{Key, KeyValue};
    let from_env = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty());
    let detected = Resource::builder().build();
    let mut extra = Vec::new();
    if detected.get(&Key::new("service.version")).is_none() {
        extra.push(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    }
    if detected.get(&Key::new("service.instance.id")).is_none() {
        extra.push(KeyValue::new("service.instance.id", instance_id()));
    }
    let builder = Resource::builder().with_attributes(extra);
    if from_env {
        builder.build()
    } else {
        builder.with_service_name(DEFAULT_SERVICE_NAME).build()
    }
}

fn instance_id() -> String {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| format!("capt-{}", std::process::id()))
}

/// Installs the W3C trace-context propagator as the global text-map propagator.
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
}

/// Builds the OTLP/gRPC tracer provider with a batch span processor.
///
/// Must run inside a Tokio runtime: the tonic channel is bound to it.
pub fn otlp_tracer_provider() -> Result<SdkTracerProvider, TelemetryError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(TelemetryError::NoTokioRuntime);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_resource(resource())
        .with_batch_exporter(exporter)
        .build())
}

/// The `tracing` layer that turns spans into OpenTelemetry spans for `provider`.
pub fn layer<S>(provider: &SdkTracerProvider) -> OpenTelemetryLayer<S, SdkTracer>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(TRACER_NAME))
        .with_tracked_inactivity(false)
        // Nothing reads the OpenTelemetry context from the thread (parents come from the span
        // tree and from explicit contexts); attaching it on every poll of an instrumented future
        // was the largest single cost of exporting.
        .with_context_activation(false)
        // Source locations would put build-machine paths (of dependencies) into attributes.
        .with_location(false)
}

/// Filter for the OTLP layer: `explicit`, else `OTEL_LOG_LEVEL`, else `capt=debug,info`; the
/// exporter's own crates are always switched off.
pub fn filter(explicit: Option<&str>) -> Result<EnvFilter, TelemetryError> {
    let env = std::env::var(OTEL_FILTER_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    let directives = explicit
        .map(str::to_owned)
        .or(env)
        .unwrap_or_else(|| DEFAULT_OTEL_FILTER.to_owned());
    let mut filter = parse_filter("otel", &directives)?;
    for target in EXPORTER_TARGETS {
        let directive =
            format!("{target}=off")
                .parse()
                .map_err(|source| TelemetryError::InvalidFilter {
                    which: "otel",
                    source,
                })?;
        filter = filter.add_directive(directive);
    }
    Ok(filter)
}

pub(crate) fn parse_filter(
    which: &'static str,
    directives: &str,
) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::builder()
        .parse(directives)
        .map_err(|source| TelemetryError::InvalidFilter { which, source })
}

/// The OpenTelemetry span context of a `tracing` span (invalid when the span is not exported).
pub fn span_context(span: &tracing::Span) -> SpanContext {
    span.context().span().span_context().clone()
}

/// A link pointing at `span`, e.g. to keep in an actor mailbox message.
pub fn link_to(span: &tracing::Span) -> Link {
    Link::with_context(span_context(span))
}

/// Adds a link from `span` to `ctx` (ignored when `ctx` is invalid). Works before and after the
/// span was entered.
pub fn add_link(span: &tracing::Span, ctx: &SpanContext) {
    span.add_link(ctx.clone());
}

/// W3C `traceparent` of the current span, `00-<trace-id>-<span-id>-<flags>`; `None` when the
/// current span is not exported.
pub fn current_traceparent() -> Option<String> {
    traceparent(&tracing::Span::current())
}

/// W3C `traceparent` of `span`.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Parses a `traceparent` value (e.g. from an annotation) into a remote span context.
pub fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), value.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    let sc = cx.span().span_context().clone();
    sc.is_valid().then_some(sc)
}

/// A subscriber exporting every span synchronously to `exporter`, for tests asserting on spans
/// (e.g. with `opentelemetry_sdk::trace::InMemorySpanExporter`).
pub struct TestTelemetry {
    dispatch: tracing::Dispatch,
    provider: SdkTracerProvider,
}

/// Builds a [`TestTelemetry`] around `exporter` (simple span processor: spans are exported when
/// they close). Also installs the W3C propagator globally.
pub fn init_for_tests<E: SpanExporter + 'static>(exporter: E) -> TestTelemetry {
    install_propagator();
    let provider = SdkTracerProvider::builder()
        .with_resource(resource())
        .with_simple_exporter(exporter)
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    set_exporting(true);
    let subscriber = tracing_subscriber::registry().with(layer(&provider));
    TestTelemetry {
        dispatch: tracing::Dispatch::new(subscriber),
        provider,
    }
}

impl TestTelemetry {
    /// Makes this the default subscriber of the current thread until the guard drops.
    pub fn set_default(&self) -> tracing::subscriber::DefaultGuard {
        tracing::dispatcher::set_default(&self.dispatch)
    }

    /// The dispatcher, e.g. for `tracing::dispatcher::with_default` or `WithSubscriber`.
    pub fn dispatch(&self) -> &tracing::Dispatch {
        &self.dispatch
    }

    /// The tracer provider behind the layer.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }
}
