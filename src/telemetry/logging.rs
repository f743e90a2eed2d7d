//! Process-wide `tracing` setup: console layer plus, when configured, the OTLP layer.

use std::time::Duration;

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use super::options::{DEFAULT_LOG_FILTER, LOG_FILTER_ENV, LogFormat, TelemetryOptions};
use super::otel;

/// How long [`TelemetryGuard::shutdown`] waits for the exporter to flush.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors while setting telemetry up or tearing it down.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A filter string did not parse.
    #[error("invalid {which} filter: {source}")]
    InvalidFilter {
        /// `console` or `otel`.
        which: &'static str,
        /// The parser's complaint.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// The OTLP/gRPC exporter needs a Tokio runtime when it is built.
    #[error("the OTLP exporter must be built inside a Tokio runtime")]
    NoTokioRuntime,
    /// The OTLP exporter could not be built from the `OTEL_*` environment.
    #[error("building the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// A global subscriber was already installed.
    #[error("installing the tracing subscriber: {0}")]
    Install(#[from] tracing_subscriber::util::TryInitError),
    /// Flushing or shutting the tracer provider down failed.
    #[error("shutting the tracer provider down: {0}")]
    Shutdown(String),
    /// Flushing did not finish in time.
    #[error("shutting the tracer provider down timed out after {0:?}")]
    ShutdownTimedOut(Duration),
}

/// Keeps the tracer provider alive; flushes it on [`TelemetryGuard::shutdown`] (or on drop).
#[must_use = "dropping the guard shuts tracing export down"]
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    timeout: Duration,
}

impl TelemetryGuard {
    /// A guard with nothing to flush.
    pub fn disabled() -> Self {
        Self {
            provider: None,
            timeout: SHUTDOWN_TIMEOUT,
        }
    }

    /// True when spans are exported over OTLP.
    pub fn otel_enabled(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes pending spans and shuts the provider down on a separate thread, waiting at most
    /// [`SHUTDOWN_TIMEOUT`]. Safe to call from async code (it blocks the caller only for the
    /// bounded wait), but on a current-thread runtime the exporter cannot make progress while
    /// the caller blocks, so the wait runs to its end: prefer [`TelemetryGuard::shutdown_async`]
    /// inside a runtime.
    pub fn shutdown(mut self) -> Result<(), TelemetryError> {
        match self.provider.take() {
            Some(provider) => shutdown_on_thread(provider, self.timeout),
            None => Ok(()),
        }
    }

    /// Like [`TelemetryGuard::shutdown`] without blocking a runtime worker.
    pub async fn shutdown_async(mut self) -> Result<(), TelemetryError> {
        let Some(provider) = self.provider.take() else {
            return Ok(());
        };
        let timeout = self.timeout;
        let task = tokio::task::spawn_blocking(move || flush_and_shutdown(&provider, timeout));
        match tokio::time::timeout(timeout + Duration::from_secs(1), task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(TelemetryError::Shutdown(join.to_string())),
            Err(_) => Err(TelemetryError::ShutdownTimedOut(timeout)),
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = shutdown_on_thread(provider, self.timeout);
        }
    }
}

fn flush_and_shutdown(
    provider: &SdkTracerProvider,
    timeout: Duration,
) -> Result<(), TelemetryError> {
    let flushed = provider.force_flush();
    provider
        .shutdown_with_timeout(timeout)
        .and(flushed)
        .map_err(|e| TelemetryError::Shutdown(e.to_string()))
}

fn shutdown_on_thread(
    provider: SdkTracerProvider,
    timeout: Duration,
) -> Result<(), TelemetryError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("otel-shutdown".into())
        .spawn(move || {
            let _ = tx.send(flush_and_shutdown(&provider, timeout));
        })
        .map_err(|e| TelemetryError::Shutdown(e.to_string()))?;
    match rx.recv_timeout(timeout + Duration::from_secs(1)) {
        Ok(result) => result,
        Err(_) => Err(TelemetryError::ShutdownTimedOut(timeout)),
    }
}

/// Console filter: `explicit`, else `RUST_LOG`, else [`DEFAULT_LOG_FILTER`].
pub fn console_filter(
    explicit: Option<&str>,
) -> Result<tracing_subscriber::EnvFilter, TelemetryError> {
    let env = std::env::var(LOG_FILTER_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    let directives = explicit
        .map(str::to_owned)
        .or(env)
        .unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned());
    otel::parse_filter("console", &directives)
}

/// Installs the global subscriber: console logs (own filter) and, when an OTLP endpoint is set in
/// the environment, the OpenTelemetry layer (own filter, batch export over gRPC). Also installs the
/// W3C trace-context propagator. Call once, inside the Tokio runtime, before anything logs.
pub fn init(opts: &TelemetryOptions) -> Result<TelemetryGuard, TelemetryError> {
    let console_filter = console_filter(opts.log_filter.as_deref())?;
    let console = match opts.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_target(true).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    }
    .with_filter(console_filter);

    otel::install_propagator();
    let provider = if otel::otlp_enabled() && !opts.disable_otel {
        Some(otel::otlp_tracer_provider()?)
    } else {
        None
    };
    let otel_layer = match &provider {
        Some(provider) => {
            let filter = otel::filter(opts.otel_filter.as_deref())?;
            Some(otel::layer(provider).with_filter(filter))
        }
        None => None,
    };

    tracing_subscriber::registry()
        .with(console)
        .with(otel_layer)
        .try_init()?;
    if let Some(provider) = &provider {
        opentelemetry::global::set_tracer_provider(provider.clone());
        otel::set_exporting(true);
    }
    Ok(TelemetryGuard {
        provider,
        timeout: SHUTDOWN_TIMEOUT,
    })
}
