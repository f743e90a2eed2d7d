//! `capt demo` in-process: three clusters go from creation to Ready, each with a kubeconfig
//! secret pointing at its control-plane endpoint and exactly the objects capt creates for it;
//! a Workspace added behind capt's back fails the invariant check.
#![cfg(feature = "demo")]

use std::time::Duration;

use capt::demo::{
    DemoArgs, DemoSummary, INVARIANT_EXIT_CODE, InvariantCheck, run_with, run_with_inspect, verdict,
};
use capt::reconcile::endpoint::parse_endpoint;
use capt_load::invariants::Category;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use kube::core::GroupVersionKind;

/// Upper bound of the whole test, setup and teardown included.
const TEST_BOUND: Duration = Duration::from_secs(90);

fn run_bounded(
    run: impl FnOnce() -> Result<DemoSummary, capt::demo::DemoError> + Send + 'static,
) -> DemoSummary {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(run());
    });
    match rx.recv_timeout(TEST_BOUND) {
        Ok(Ok(summary)) => summary,
        Ok(Err(e)) => panic!("demo failed to run: {e}"),
        Err(_) => panic!("demo did not finish within {TEST_BOUND:?}"),
    }
}

fn small_demo(clusters: u16, name: &str) -> DemoArgs {
    DemoArgs {
        clusters,
        tf_delay: "uniform:50ms-200ms".parse().expect("delay"),
        timeout: Duration::from_secs(60),
        kubeconfig_out: std::env::temp_dir().join(format!(
            "capt-demo-{name}-{}.kubeconfig",
            std::process::id()
        )),
        quiet: true,
        ..DemoArgs::default()
    }
}

#[test]
fn three_clusters_become_ready_with_kubeconfig_secrets() {
    let args = small_demo(3, "smoke");
    let kubeconfig = args.kubeconfig_out.clone();
    let summary = run_bounded(move || run_with(args));

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

    let report = summary
        .invariants
        .report()
        .unwrap_or_else(|| panic!("invariants not checked: {:?}", summary.invariants));
    assert!(report.is_clean(), "{}", summary.invariants.lines());
    assert_eq!((report.clusters, report.ready_clusters), (3, 3));
    assert_eq!(verdict(&summary), Ok(()));

    let written = std::fs::read_to_string(&kubeconfig).expect("kubeconfig written");
    assert!(written.contains(&summary.api_url), "{written}");
    let _ = std::fs::remove_file(&kubeconfig);
}

/// A second Workspace claiming demo-01's VPC apply, created after convergence, is reported as a
/// duplicate and makes the demo fail with the invariant exit status.
#[test]
fn a_workspace_added_behind_capts_back_is_a_duplicate() {
    let args = small_demo(2, "duplicate");
    let kubeconfig = args.kubeconfig_out.clone();
    let inspect: capt::demo::Inspect = Box::new(|client: kube::Client| {
        Box::pin(async move {
            let ar = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("tf.upbound.io", "v1beta1", "Workspace"),
                "workspaces",
            );
            let api: Api<DynamicObject> = Api::all_with(client, &ar);
            let mut copy = api
                .get("demo-01-vpc")
                .await
                .expect("the VPC Workspace exists");
            copy.metadata = kube::core::ObjectMeta {
                name: Some("demo-01-vpc-copy".into()),
                labels: copy.metadata.labels.clone(),
                annotations: copy.metadata.annotations.clone(),
                ..Default::default()
            };
            if let Some(o) = copy.data.as_object_mut() {
                o.remove("status");
            }
            api.create(&PostParams::default(), &copy)
                .await
                .expect("copy created");
        })
    });
    let summary = run_bounded(move || run_with_inspect(args, inspect));
    let _ = std::fs::remove_file(&kubeconfig);

    assert!(summary.all_ready(), "{}", summary.stuck_report());
    let InvariantCheck::Checked(report) = &summary.invariants else {
        panic!("invariants not checked: {:?}", summary.invariants);
    };
    assert_eq!(report.duplicates, 1, "{}", summary.invariants.lines());
    assert_eq!(report.violations, 1, "{}", summary.invariants.lines());
    let v = &report.details[0];
    assert_eq!(
        (v.category, v.kind.as_str(), v.object.as_str()),
        (Category::Duplicate, "Workspace", "demo-01-vpc-copy")
    );
    assert_eq!(
        verdict(&summary).map_err(|f| f.code),
        Err(INVARIANT_EXIT_CODE)
    );
}
