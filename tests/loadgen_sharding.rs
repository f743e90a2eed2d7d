//! A shard ring under load: three `capt run --sharding` replicas; a replica that does not
//! coordinate and then the coordinator are SIGKILLed while clusters are being created (their
//! shard Leases are never released). The survivors move each victim's share once its Lease
//! expired, the victim comes back and takes its share again, and every cluster ends Ready with
//! exactly its objects. The report has every replica's memory and CPU.
#![cfg(feature = "demo")]

mod loadgen_support;

use std::time::Duration;

#[test]
fn survivors_take_over_the_share_of_a_killed_replica() {
    let run = loadgen_support::run(
        "sharding-kill",
        &[
            "--clusters=18",
            "--rate=3",
            "--namespaces=2",
            "--replicas=3",
            "--sharding",
            "--tf-delay=uniform:300ms-900ms",
            "--timeout=120",
            "--quiet-secs=1",
            "--invariants-window=2",
            "--invariants-timeout=30",
            "--chaos=replica-kill,coordinator-kill",
            "--chaos-interval=2",
            "--chaos-duration=0.5",
            "--chaos-windows=1",
            "--seed=3",
            "--controller-arg=--leader-elect-lease-duration=3s",
            "--controller-arg=--leader-elect-renew-deadline=2s",
            "--controller-arg=--leader-elect-retry-period=250ms",
        ],
        Duration::from_secs(200),
    );
    if run.result.is_err() {
        for log in ["controller-1.log", "controller-2.log"] {
            eprintln!("{log} tail:\n{}", run.log_tail(log));
        }
    }
    run.expect_ok("sharded kill run");
    let report = &run.report;
    assert_eq!(report["converged"], true);
    assert_eq!(report["sharding"], true);
    assert_eq!(
        report["invariants"]["violations"], 0,
        "{:#}",
        report["invariants"]
    );
    let usage = report["controllers"].as_array().expect("usage per replica");
    assert_eq!(usage.len(), 3, "{usage:#?}");
    let pids: std::collections::BTreeSet<u64> = usage
        .iter()
        .map(|u| u["pid"].as_u64().expect("every replica sampled"))
        .collect();
    assert_eq!(pids.len(), 3, "three processes: {usage:#?}");
    for u in usage {
        assert!(u["rss_converged_bytes"].as_u64() > Some(0), "{u:#}");
        assert!(u["cpu_seconds_load"].as_f64() > Some(0.0), "{u:#}");
    }
    let chaos = &report["chaos"];
    assert_eq!(chaos["violations"], 0, "{chaos:#}");
    let faults = chaos["faults"].as_array().expect("fault schedule");
    assert_eq!(faults.len(), 2, "{chaos:#}");
    let mut victims = Vec::new();
    for kill in faults {
        assert!(kill.get("error").is_none(), "{chaos:#}");
        assert_eq!(kill["injected"], 1);
        assert!(
            kill["takeover_secs"].is_number(),
            "the victim's share did not move: {chaos:#}"
        );
        assert!(kill["moved"].as_u64() > Some(0), "nothing moved: {chaos:#}");
        victims.push((kill["kind"].clone(), kill["victim"].clone()));
    }
    let ready_at_first_kill = report["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|p| p["t"].as_f64() <= faults[0]["start_secs"].as_f64())
        .map(|p| p["ready"].as_f64().unwrap_or(0.0))
        .next_back()
        .unwrap_or(0.0);
    assert!(
        ready_at_first_kill < 18.0,
        "the first kill came after provisioning ended: {:#}",
        report["timeline"]
    );
    assert!(
        victims
            .iter()
            .all(|(_, v)| v.as_str().is_some_and(|v| v.starts_with("replica-"))),
        "{victims:?}"
    );
    let summary = run.summary();
    assert!(
        summary.contains("objects moved off its shard in"),
        "{summary}"
    );
    assert!(
        summary.contains("| replica-2 RSS idle / converged / peak"),
        "{summary}"
    );
    run.clean_up();
}
