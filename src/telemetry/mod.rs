//! Telemetry: console logs, OpenTelemetry traces, Prometheus metrics, health endpoints and secret hygiene.
//!
//! - [`logging::init`] installs the global `tracing` subscriber (console layer + optional OTLP layer).
//! - [`otel`] holds the OTLP pipeline and span-context helpers (`traceparent`, span links).
//! - [`metrics::Metrics`] is the Prometheus registry with controller-runtime compatible names.
//! - [`health::serve`] runs `/healthz`, `/readyz` and `/metrics`.
//! - [`redact::Redacted`] keeps secret values out of logs, spans and Events.

pub mod args;
pub mod conditions;
pub mod health;
pub mod lineage;
pub mod logging;
pub mod metrics;
pub mod options;
pub mod otel;
pub mod redact;

pub use args::{LogArgs, ServeArgs};
pub use health::{Readiness, ServeOptions};
pub use logging::{TelemetryGuard, init};
pub use metrics::Metrics;
pub use options::{LogFormat, TelemetryOptions};
pub use otel::{add_link, current_traceparent, link_to, span_context};
pub use redact::Redacted;
