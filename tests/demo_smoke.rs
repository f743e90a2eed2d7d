//! `capt demo` in-process: three clusters go from creation to Ready, each with a kubeconfig
//! secret pointing at its control-plane endpoint.
#![cfg(feature = "demo")]

use std::time::Duration;

use capt::demo::{DemoArgs, DemoSummary, run_with};
use capt::reconcile::endpoint::parse_endpoint;

/// Upper bound of the whole test, setup and teardown included.
const TEST_BOUND: Duration = Duration::from_secs(90);

fn run_bounded(args: DemoArgs) -> DemoSummary {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(run_with(args));
    });
    match rx.recv_timeout(TEST_BOUND) {
        Ok(Ok(summary)) => summary,
        Ok(Err(e)) => panic!("demo failed to run: {e}"),
        Err(_) => panic!("demo did not finish within {TEST_BOUND:?}"),
    }
}

#[test]
fn three_clusters_become_ready_with_kubeconfig_secrets() {
    let kubeconfig =
        std::env::temp_dir().join(format!("capt-demo-smoke-{}.kubeconfig", std::process::id()));
    let args = DemoArgs {
        clusters: 3,
        tf_delay: "uniform:50ms-200ms".parse().expect("delay"),
        timeout: Duration::from_secs(60),
        kubeconfig_out: kubeconfig.clone(),
        quiet: true,
        ..DemoArgs::default()
    };
    let summary = run_bounded(args);

    assert!(
        summary.all_ready(),
        "not every cluster is Ready:\n{}\n{}",
        summary.table(),
        summary.stuck_report()
    );
    let names: Vec<_> = summary.clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["demo-01", "demo-02", "demo-03"]);
    for c in &summary.clusters {
        let v = &c.view;
        assert!(
            v.infrastructure_ready && v.control_plane_ready,
            "{}",
            c.name
        );
        assert!(
            v.vpc_id.as_deref().is_some_and(|id| id.starts_with("vpc-")),
            "{}: VPC id {:?}",
            c.name,
            v.vpc_id
        );
        assert!(v.kubeconfig_secret, "{}: no kubeconfig secret", c.name);
        let endpoint = v
            .endpoint
            .as_deref()
            .unwrap_or_else(|| panic!("{}: no status.endpoint", c.name));
        let server = v
            .kubeconfig_server
            .as_deref()
            .unwrap_or_else(|| panic!("{}: kubeconfig secret has no server", c.name));
        assert!(server.starts_with("https://"), "{}: {server}", c.name);
        // status.endpoint is "host:port"; the kubeconfig names the same address as an https URL
        // (where 443 may be left implicit).
        let expected = format!("https://{endpoint}");
        assert_eq!(
            parse_endpoint(server).expect("server parses"),
            parse_endpoint(&expected).expect("endpoint parses"),
            "{}: kubeconfig server {server} vs status endpoint {endpoint}",
            c.name
        );
        assert!(c.time_to_ready.is_some(), "{}", c.name);
    }
    assert!(summary.p50().is_some() && summary.p99() >= summary.p50());
    assert!(summary.total_reconciles() > 0);
    assert!(summary.api_calls.get("create").copied().unwrap_or(0) >= 9);
    assert!(summary.controller_api_calls.values().sum::<u64>() > 0);

    let written = std::fs::read_to_string(&kubeconfig).expect("kubeconfig written");
    assert!(written.contains(&summary.api_url), "{written}");
    let _ = std::fs::remove_file(&kubeconfig);
}
