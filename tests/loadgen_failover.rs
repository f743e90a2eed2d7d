//! Leader failover under load: two `capt run --leader-elect` replicas, the leader SIGKILLed
//! while clusters are provisioning (so its Lease is never released); the standby takes the Lease
//! over when it expires and finishes the work, never with two replicas leading, and every
//! cluster ends with exactly its objects.
#![cfg(feature = "demo")]

mod loadgen_support;

use std::time::Duration;

#[test]
fn standby_finishes_provisioning_after_the_leader_is_killed() {
    let run = loadgen_support::run(
        "failover",
        &[
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
        ],
        Duration::from_secs(150),
    );
    if run.result.is_err() {
        eprintln!("replica-1 log tail:\n{}", run.log_tail("controller-1.log"));
    }
    run.expect_ok("failover run");
    let report = &run.report;
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
    let summary = run.summary();
    assert!(summary.contains("standby led after"), "{summary}");
    run.clean_up();
}
