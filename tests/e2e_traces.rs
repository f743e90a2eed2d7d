//! One cluster to Ready with spans exported to memory: its story is one trace. The trace recorded
//! on the control plane (and the CAPTCluster) holds the reconciles of its CAPTCluster,
//! CAPTControlPlane and applies and the Workspace creations; reconciles link the objects whose
//! events woke them; a failed Workspace create is an ERROR API span inside an ERROR reconcile;
//! Event sends are children of their reconcile; watch events are not spans.

mod support;

use std::collections::BTreeSet;

use capt::api::{CAPTCluster, CAPTControlPlane};
use capt::telemetry::otel;
use capt_load::kubesim::FaultRule;
use kube::api::Api;
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanId, Status};
use opentelemetry_sdk::trace::SpanData;
use support::{TEMPLATES, World, cluster_yaml, eventually, fast_tfsim};

fn attr(span: &SpanData, key: &str) -> Option<opentelemetry::Value> {
    span.attributes
        .iter()
        .find(|KeyValue { key: k, .. }| k.as_str() == key)
        .map(|kv| kv.value.clone())
}

#[test]
fn a_cluster_is_one_trace() {
    let (exporter, _telemetry) = support::export_spans_globally();

    let (cp, cc) = capt::actors::block_on(async {
        let w = World::start(fast_tfsim()).await;
        w.server
            .faults()
            .add(FaultRule::parse("verb=create,resource=workspaces,code=500,count=1").unwrap());
        for t in TEMPLATES {
            w.apply(t).await;
        }
        w.apply(&cluster_yaml("tr", "1.31")).await;
        let cps: Api<CAPTControlPlane> = Api::namespaced(w.client.clone(), "default");
        let ccs: Api<CAPTCluster> = Api::namespaced(w.client.clone(), "default");
        let cp = eventually(30, "control plane ready", || async {
            cps.get("tr")
                .await
                .ok()
                .filter(|c| c.status.as_ref().is_some_and(|s| s.ready))
        })
        .await;
        let cc = ccs.get("tr").await.expect("CAPTCluster");
        w.stop().await;
        (cp, cc)
    });
    let ann = |m: &kube::api::ObjectMeta, k: &str| {
        m.annotations
            .as_ref()
            .and_then(|a| a.get(k))
            .cloned()
            .unwrap_or_else(|| panic!("{k} recorded on {:?}", m.name))
    };
    // capt's own spec writes (the apply name, the endpoint) bump the generation within the step.
    assert_eq!(
        ann(&cp.metadata, "capt.appthrust.io/trace-step"),
        format!("provision/{}", cp.metadata.generation.unwrap_or_default())
    );
    let trace = otel::parse_traceparent(&ann(&cp.metadata, "traceparent"))
        .expect("a valid traceparent")
        .trace_id();
    let cc_trace = otel::parse_traceparent(&ann(&cc.metadata, "traceparent"))
        .unwrap()
        .trace_id();
    assert_eq!(
        cc_trace,
        trace,
        "infrastructure and control plane share the trace: {:?} / {:?}\n{}",
        cc.metadata.annotations,
        cp.metadata.annotations,
        exporter
            .get_finished_spans()
            .unwrap()
            .iter()
            .filter(|s| s.name.starts_with("reconcile CAPT"))
            .map(|s| format!(
                "{} {:?} {} parent {} trigger {:?}",
                s.name,
                s.start_time,
                s.span_context.trace_id(),
                s.parent_span_id,
                attr(s, "capt.trigger")
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );

    let spans = exporter.get_finished_spans().unwrap();
    let in_trace: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_context.trace_id() == trace)
        .collect();
    let names: BTreeSet<&str> = in_trace.iter().map(|s| s.name.as_ref()).collect();
    for want in [
        "reconcile CAPTCluster",
        "reconcile CAPTControlPlane",
        "reconcile WorkspaceTemplateApply",
        "create workspaces",
        "terraform tr-vpc",
    ] {
        assert!(
            names.contains(want),
            "{want} not in the cluster's trace: {names:?}"
        );
    }
    assert!(
        in_trace
            .iter()
            .any(|s| s.name.starts_with("reconcile") && !s.links.links.is_empty()),
        "a reconcile links the object whose event woke it"
    );
    assert!(
        !spans.iter().any(|s| s.name.starts_with("event ")),
        "events are not spans"
    );

    // The failed create is the first Workspace create: the VPC's (in the cluster's trace) or the
    // control plane's, when the control plane created its apply before the CAPTCluster had
    // recorded the trace (the apply then follows that first reconcile's own trace).
    let failed_create: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == "create workspaces" && matches!(s.status, Status::Error { .. }))
        .collect();
    assert_eq!(
        failed_create.len(),
        1,
        "the injected 500 is one ERROR API span"
    );
    let api = failed_create[0];
    assert_eq!(attr(api, "http.response.status_code"), Some(500_i64.into()));
    assert_eq!(api.span_kind, opentelemetry::trace::SpanKind::Client);
    assert!(
        attr(api, "url.template").is_some_and(|t| t.as_str().ends_with("/workspaces")),
        "{:?}",
        api.attributes
    );
    let parent = spans
        .iter()
        .find(|s| s.span_context.span_id() == api.parent_span_id)
        .expect("the API span's reconcile is in the trace");
    assert_eq!(parent.name, "reconcile WorkspaceTemplateApply");
    assert!(
        matches!(parent.status, Status::Error { .. }),
        "the reconcile failed too"
    );

    for s in &spans {
        for kv in &s.attributes {
            assert!(
                !kv.key.as_str().starts_with("code.") && !kv.value.as_str().contains("/.cargo/"),
                "build-machine detail in {}: {kv:?}",
                s.name
            );
        }
    }
    let turned_false: Vec<_> = in_trace
        .iter()
        .flat_map(|s| s.events.iter())
        .filter(|e| e.name == "condition False")
        .collect();
    assert!(
        !turned_false.is_empty(),
        "conditions going False (Ready while creating) are span events"
    );

    let publishes: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == "publish events")
        .collect();
    assert!(!publishes.is_empty(), "Events were sent");
    assert!(
        publishes
            .iter()
            .all(|s| s.parent_span_id != SpanId::INVALID),
        "no orphan Event-send spans"
    );
}
