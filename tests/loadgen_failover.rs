//! Leader failover under load: two `capt run --leader-elect` replicas, the leader SIGKILLed
//! while clusters are provisioning (so its Lease is never released); the standby takes the Lease
//! over when it expires and finishes the work, never with two replicas leading, and every
//! cluster ends with exactly its objects.
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
fn standby_finishes_provisioning_after_the_leader_is_killed() {
    let out = std::env::temp_dir().join(format!("capt-load-failover-{}", std::process::id()));
    let controller = format!("{} run", env!("CARGO_BIN_EXE_capt"));
    let cli = Cli::try_parse_from([
        "capt-load",
        "--clusters=12",
        "--rate=2",
        "--namespaces=2",
        "--replicas=2",
        "--tf-delay=uniform:300ms-900ms",
        "--timeout=90",
        "--quiet-secs=1",
        "--invariants-window=2",
        "--invariants-timeout=30",
        "--chaos=leader-kill",
        "--chaos-interval=2.5",
        "--chaos-duration=0.5",
        "--chaos-windows=1",
        "--seed=5",
        "--controller-arg=--leader-elect-lease-duration=3s",
        "--controller-arg=--leader-elect-renew-deadline=2s",
        "--controller-arg=--leader-elect-retry-period=250ms",
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
    let logs = ["controller.log", "controller-1.log"]
        .map(|f| std::fs::read_to_string(out.join(f)).unwrap_or_default());
    result.expect("run finished in time").unwrap_or_else(|e| {
        panic!(
            "failover run failed: {e}\nnotes: {}\nreplica-0 log tail:\n{}\nreplica-1 log tail:\n{}",
            report["notes"],
            tail(&logs[0]),
            tail(&logs[1])
        )
    });

    assert_eq!(report["converged"], true);
    assert_eq!(report["replicas"], 2);
    assert_eq!(
        report["leaders_max"], 1,
        "two replicas led at once: {report:#}"
    );
    assert_eq!(
        report["invariants"]["violations"], 0,
        "{:#}",
        report["invariants"]
    );
    let chaos = &report["chaos"];
    assert_eq!(chaos["violations"], 0, "{chaos:#}");
    let faults = chaos["faults"].as_array().expect("fault schedule");
    assert_eq!(faults.len(), 1, "{chaos:#}");
    let kill = &faults[0];
    assert_eq!(kill["kind"], "leader-kill");
    assert!(kill.get("error").is_none(), "{chaos:#}");
    assert_eq!(kill["injected"], 1);
    assert!(
        kill["takeover_secs"].is_number(),
        "no standby took the Lease over: {chaos:#}"
    );
    let created_by_kill: Vec<f64> = report["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|p| p["t"].as_f64() <= kill["start_secs"].as_f64())
        .map(|p| p["ready"].as_f64().unwrap_or(0.0))
        .collect();
    assert!(
        created_by_kill.last().copied().unwrap_or(0.0) < 12.0,
        "the leader was killed after provisioning ended, not during it: {:#}",
        report["timeline"]
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(summary.contains("standby led after"), "{summary}");
    let _ = std::fs::remove_dir_all(&out);
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
