//! `capt-load run --otlp-sink`: the controller, started with `OTEL_EXPORTER_OTLP_ENDPOINT` at a
//! loopback OTLP receiver, exports its spans there; they come in few traces (about one per
//! cluster lifecycle, plus start-up), not one per reconcile.
#![cfg(feature = "demo")]

mod loadgen_support;

use std::time::Duration;

#[test]
fn spans_reach_the_receiver_in_few_traces() {
    let run = loadgen_support::run(
        "otlp",
        &[
            "--clusters=4",
            "--rate=4",
            "--namespaces=1",
            "--tf-delay=uniform:200ms-400ms",
            "--timeout=60",
            "--quiet-secs=3",
            "--otlp-sink",
        ],
        Duration::from_secs(120),
    );
    run.expect_ok("otlp run");
    let report = &run.report;
    let otlp = &report["otlp"];
    let spans = otlp["spans"].as_u64().expect("spans counted");
    let traces = otlp["traces"].as_u64().expect("traces counted");
    let reconciles = report["reconciles"]["total"].as_u64().unwrap_or(0);
    assert!(spans > reconciles, "{otlp} for {reconciles} reconciles");
    assert!(
        traces * 4 < reconciles,
        "{traces} traces for {reconciles} reconciles: most reconciles continue a trace ({otlp})"
    );
    run.clean_up();
}
