//! `capt-load run --chaos`: a small load with every fault kind (controller SIGKILL, API server
//! restart, 5xx/429 bursts, 409 storms, watch drops, latency) converges with no invariant
//! violation, and the report carries the fault schedule and recovery.
#![cfg(feature = "demo")]

use std::time::Duration;

use capt_load::loadgen::{self, Args};
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

const KINDS: [&str; 6] = [
    "controller-kill",
    "apiserver-restart",
    "errors",
    "conflicts",
    "watch-drops",
    "slow",
];

#[test]
fn small_load_rides_out_every_chaos_kind() {
    let out = std::env::temp_dir().join(format!("capt-load-chaos-{}", std::process::id()));
    let controller = format!("{} run", env!("CARGO_BIN_EXE_capt"));
    let chaos = KINDS.join(",");
    let cli = Cli::try_parse_from([
        "capt-load",
        "--clusters=8",
        "--rate=1.5",
        "--namespaces=2",
        "--tf-delay=uniform:200ms-600ms",
        "--timeout=90",
        "--quiet-secs=1",
        "--invariants-window=2",
        "--invariants-timeout=30",
        "--chaos-interval=0.6",
        "--chaos-duration=0.8",
        "--chaos-windows=1",
        "--chaos-rate=0.5",
        "--chaos-latency-ms=100",
        "--seed=3",
        &format!("--chaos={chaos}"),
        &format!("--controller-cmd={controller}"),
        &format!("--out={}", out.display()),
    ])
    .expect("arguments");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let result = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(150), loadgen::run_cli(cli.args)).await
    });
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report.json")).expect("report.json written"),
    )
    .expect("report.json parses");
    let log = std::fs::read_to_string(out.join("controller.log")).unwrap_or_default();
    result.expect("run finished in time").unwrap_or_else(|e| {
        panic!(
            "chaos run failed: {e}\nnotes: {}\ncontroller log tail:\n{}",
            report["notes"],
            tail(&log)
        )
    });

    assert_eq!(report["converged"], true);
    assert_eq!(report["invariants"]["violations"], 0);
    let chaos = &report["chaos"];
    assert_eq!(chaos["violations"], 0, "{chaos:#}");
    let faults = chaos["faults"].as_array().expect("fault schedule");
    assert_eq!(faults.len(), KINDS.len());
    for kind in KINDS {
        let row = chaos["by_kind"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["kind"] == kind))
            .unwrap_or_else(|| panic!("no row for {kind}: {chaos:#}"));
        assert_eq!(row["windows"], 1, "{kind}");
        assert!(
            row["injected"].as_u64().unwrap_or(0) > 0,
            "{kind} injected nothing: {chaos:#}"
        );
    }
    assert!(faults.iter().all(|f| f.get("error").is_none()), "{chaos:#}");
    assert!(chaos["recovery_ready_secs"].is_number(), "{chaos:#}");
    assert!(chaos["recovery_clean_secs"].is_number(), "{chaos:#}");
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(summary.contains("## Chaos"));
    for kind in KINDS {
        assert!(
            summary.contains(&format!("| {kind} |")),
            "{kind} missing from the fault table"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
