//! Five clusters to Ready with spans exported to memory: about one trace per cluster, not one
//! per reconcile or watch event. Counted: the traces holding reconciles of the clusters'
//! objects (CAPTCluster, CAPTControlPlane, WorkspaceTemplateApply) and all root spans.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use capt::api::CAPTControlPlane;
use kube::api::Api;
use opentelemetry::trace::SpanId;
use support::{TEMPLATES, World, cluster_yaml, eventually, fast_tfsim};

const CLUSTERS: usize = 5;

#[test]
fn five_clusters_are_about_five_traces() {
    let (exporter, _telemetry) = support::export_spans_globally();

    capt::actors::block_on(async {
        let w = World::start(fast_tfsim()).await;
        for t in TEMPLATES {
            w.apply(t).await;
        }
        for i in 0..CLUSTERS {
            w.apply(&cluster_yaml(&format!("tc-{i}"), "1.31")).await;
        }
        let cps: Api<CAPTControlPlane> = Api::namespaced(w.client.clone(), "default");
        eventually(60, "every control plane ready", || async {
            let list = cps.list(&Default::default()).await.ok()?;
            (list
                .items
                .iter()
                .filter(|c| c.status.as_ref().is_some_and(|s| s.ready))
                .count()
                == CLUSTERS)
                .then_some(())
        })
        .await;
        w.stop().await;
    });

    let spans = exporter.get_finished_spans().unwrap();
    let cluster_kinds = [
        "reconcile CAPTCluster",
        "reconcile CAPTControlPlane",
        "reconcile WorkspaceTemplateApply",
    ];
    let mut per_trace: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in spans
        .iter()
        .filter(|s| cluster_kinds.contains(&s.name.as_ref()))
    {
        per_trace
            .entry(s.span_context.trace_id().to_string())
            .or_default()
            .insert(format!("{} {}", s.name, attr_name(s)));
    }
    // capt's own spans (the in-process simulators' kube clients trace too, in this process).
    let verbs = [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    let is_capt = |name: &str| {
        name.starts_with("reconcile ")
            || name.starts_with("queue ")
            || name == "publish events"
            || name
                .split_once(' ')
                .is_some_and(|(verb, _)| verbs.contains(&verb))
    };
    let capt: Vec<_> = spans.iter().filter(|s| is_capt(&s.name)).collect();
    let roots: Vec<&str> = capt
        .iter()
        .filter(|s| s.parent_span_id == SpanId::INVALID)
        .map(|s| s.name.as_ref())
        .collect();
    let reconciles = capt
        .iter()
        .filter(|s| s.name.starts_with("reconcile "))
        .count();
    let root_reconciles = roots.iter().filter(|n| n.starts_with("reconcile ")).count();
    eprintln!(
        "{} capt spans, {reconciles} reconciles, {} traces with cluster reconciles, roots: {roots:?}",
        capt.len(),
        per_trace.len()
    );
    let whole = per_trace
        .values()
        .filter(|objs| {
            [
                "reconcile CAPTCluster",
                "reconcile CAPTControlPlane",
                "reconcile WorkspaceTemplateApply",
            ]
            .iter()
            .all(|k| objs.iter().any(|o| o.starts_with(k)))
        })
        .count();
    assert_eq!(
        whole, CLUSTERS,
        "each cluster has one trace holding its whole story"
    );
    // Besides one root per cluster and per WorkspaceTemplate, only the reconciles a control
    // plane makes before its Cluster owns it (it cannot join its cluster's trace yet).
    assert!(
        root_reconciles <= CLUSTERS + TEMPLATES.len() + 2 * CLUSTERS,
        "{root_reconciles} of {reconciles} reconciles start a trace: {roots:?}"
    );
    let stray_writes: Vec<&&str> = roots
        .iter()
        .filter(|n| !(n.starts_with("reconcile ") || n.starts_with("queue ")))
        .filter(|n| !(n.starts_with("list ") || n.starts_with("watch ")))
        .collect();
    assert!(
        stray_writes.is_empty(),
        "API calls outside a reconcile besides the caches' list and watch: {stray_writes:?}"
    );
}

fn attr_name(s: &opentelemetry_sdk::trace::SpanData) -> String {
    s.attributes
        .iter()
        .find(|kv| kv.key.as_str() == "capt.name")
        .map(|kv| kv.value.as_str().into_owned())
        .unwrap_or_default()
}
