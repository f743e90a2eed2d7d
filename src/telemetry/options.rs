//! Options for [`crate::telemetry::logging::init`].

/// Console log format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human readable, one line per event.
    #[default]
    Text,
    /// One JSON object per line, with the current span and its parents.
    Json,
}

/// Environment variable holding the console filter (`tracing_subscriber::EnvFilter` syntax).
pub const LOG_FILTER_ENV: &str = "RUST_LOG";
/// Environment variable holding the filter applied to spans exported over OTLP.
pub const OTEL_FILTER_ENV: &str = "OTEL_LOG_LEVEL";
/// Console filter used when neither the options nor `RUST_LOG` name one.
pub const DEFAULT_LOG_FILTER: &str = "info,opentelemetry=warn";
/// OTLP filter used when neither the options nor `OTEL_LOG_LEVEL` name one.
pub const DEFAULT_OTEL_FILTER: &str = "capt=debug,info";
/// `service.name` unless `OTEL_SERVICE_NAME` says otherwise.
pub const DEFAULT_SERVICE_NAME: &str = "capt";

/// How telemetry is set up at process start.
#[derive(Debug, Clone, Default)]
pub struct TelemetryOptions {
    /// Console log format.
    pub log_format: LogFormat,
    /// Console filter; `None` reads `RUST_LOG`, falling back to [`DEFAULT_LOG_FILTER`].
    pub log_filter: Option<String>,
    /// OTLP span filter; `None` reads `OTEL_LOG_LEVEL`, falling back to [`DEFAULT_OTEL_FILTER`].
    pub otel_filter: Option<String>,
    /// Force the OTLP exporter off even when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
    pub disable_otel: bool,
}
