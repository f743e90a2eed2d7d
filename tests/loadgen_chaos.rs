//! `capt-load run --chaos`: a small load with every fault kind (controller SIGKILL, API server
//! restart, 5xx/429 bursts, 409 storms, watch drops, latency) converges with no invariant
//! violation, and the report carries the fault schedule and recovery.
#![cfg(feature = "demo")]

mod loadgen_support;

use std::time::Duration;

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
    let chaos = format!("--chaos={}", KINDS.join(","));
    let run = loadgen_support::run(
        "chaos",
        &[
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
            &chaos,
        ],
        Duration::from_secs(150),
    );
    run.expect_ok("chaos run");
    let report = &run.report;
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
    let summary = run.summary();
    assert!(summary.contains("## Chaos"));
    for kind in KINDS {
        assert!(
            summary.contains(&format!("| {kind} |")),
            "{kind} missing from the fault table"
        );
    }
    run.clean_up();
}
