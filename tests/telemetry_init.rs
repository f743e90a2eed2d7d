//! Process-wide `init` with the OTLP exporter on; each case runs in a child process because the
//! global subscriber can be installed only once and the environment must name an endpoint.

use std::process::Command;
use std::time::{Duration, Instant};

use capt::telemetry::logging::TelemetryError;
use capt::telemetry::{LogFormat, TelemetryOptions, current_traceparent, init};

const CHILD: &str = "CAPT_TELEMETRY_INIT_CHILD";

/// Runs `test` alone in a child process with an OTLP endpoint nobody listens on. Returns true
/// in the child, where the caller does the actual work.
fn in_child(test: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .env("OTEL_SERVICE_NAME", "capt-test")
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 passed"), "child ran nothing:\n{stdout}");
    false
}

fn emit_spans() {
    let span = tracing::info_span!("reconcile", otel.name = "reconcile CAPTCluster");
    let traceparent = span.in_scope(|| {
        tracing::info!(answer = 42, "inside a reconcile");
        current_traceparent()
    });
    let traceparent = traceparent.expect("spans are exported");
    assert!(traceparent.starts_with("00-") && traceparent.ends_with("-01"));
}

#[test]
fn async_shutdown_with_unreachable_collector_is_bounded() {
    if !in_child("async_shutdown_with_unreachable_collector_is_bounded") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let opts = TelemetryOptions {
            log_format: LogFormat::Json,
            ..TelemetryOptions::default()
        };
        let guard = init(&opts).unwrap();
        assert!(guard.otel_enabled());
        emit_spans();
        let started = Instant::now();
        let _ = guard.shutdown_async().await;
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(matches!(init(&opts), Err(TelemetryError::Install(_))));
    });
}

#[test]
fn blocking_shutdown_inside_current_thread_runtime_is_bounded() {
    if !in_child("blocking_shutdown_inside_current_thread_runtime_is_bounded") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let guard = init(&TelemetryOptions::default()).unwrap();
        emit_spans();
        let started = Instant::now();
        let _ = guard.shutdown();
        assert!(started.elapsed() < Duration::from_secs(10));
    });
}

#[test]
fn otlp_needs_a_runtime() {
    if !in_child("otlp_needs_a_runtime") {
        return;
    }
    let err = init(&TelemetryOptions::default()).unwrap_err();
    assert!(matches!(err, TelemetryError::NoTokioRuntime), "{err}");
}

#[test]
fn invalid_filter_is_reported() {
    let opts = TelemetryOptions {
        log_filter: Some("capt=notalevel".to_owned()),
        ..TelemetryOptions::default()
    };
    assert!(matches!(
        init(&opts),
        Err(TelemetryError::InvalidFilter {
            which: "console",
            ..
        })
    ));
}
