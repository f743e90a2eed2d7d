//! `capt-load run --otlp-sink`: the controller, started with `OTEL_EXPORTER_OTLP_ENDPOINT` at a
//! loopback OTLP receiver, exports its spans there; they come in few traces (about one per
//! cluster lifecycle, plus start-up), not one per reconcile.
#![cfg(feature = "demo")]

use std::time::Duration;

use capt_load::loadgen::{self, Args};
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

#[test]
fn spans_reach_the_receiver_in_few_traces() {
    let out = std::env::temp_dir().join(format!("capt-load-otlp-{}", std::process::id()));
    let controller = format!("{} run", env!("CARGO_BIN_EXE_capt"));
    let cli = Cli::try_parse_from([
        "capt-load",
        "--clusters=4",
        "--rate=4",
        "--namespaces=1",
        "--tf-delay=uniform:200ms-400ms",
        "--timeout=60",
        "--quiet-secs=3",
        "--otlp-sink",
        &format!("--controller-cmd={controller}"),
        &format!("--out={}", out.display()),
    ])
    .expect("arguments");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(120), loadgen::run_cli(cli.args)).await
    })
    .expect("run finished in time")
    .expect("run converged");
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report.json")).expect("report.json written"),
    )
    .expect("report.json parses");
    let otlp = &report["otlp"];
    let spans = otlp["spans"].as_u64().expect("spans counted");
    let traces = otlp["traces"].as_u64().expect("traces counted");
    let reconciles = report["reconciles"]["total"].as_u64().unwrap_or(0);
    assert!(spans > reconciles, "{otlp} for {reconciles} reconciles");
    assert!(
        traces * 4 < reconciles,
        "{traces} traces for {reconciles} reconciles: most reconciles continue a trace ({otlp})"
    );
    let _ = std::fs::remove_dir_all(&out);
}
