//! Which trace a reconcile belongs to: one trace per lifecycle step of an object.
//!
//! A step is the object's provisioning or update to one `metadata.generation`, or its deletion.
//! The object's `traceparent` annotation names the span the step's reconciles continue under:
//!
//! - an object capt created or patched carries the context of the reconcile that did it, so its
//!   reconciles join its creator's trace (a control plane's apply and Workspace join the
//!   control plane's);
//! - an object nobody traced yet (a `CAPTCluster` made by the user or by Cluster API's topology
//!   controller), or whose recorded step ([`TRACE_STEP`]) is not its current one, starts a new
//!   root trace; capt records that root and the step on the object with the first write it makes
//!   to the object anyway (the finalizer on a new object) or, for a later step, one metadata patch.
//!
//! A trace is bounded: an object continues one trace for at most [`MAX_RECONCILES_PER_TRACE`]
//! reconciles; later ones are roots of their own, linked to it (a converged object woken by the
//! periodic resync for weeks does not grow its provisioning trace forever).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use opentelemetry::trace::SpanContext;
use serde_json::{Value, json};

use super::otel::parse_traceparent;
use crate::api::names::annotations::{TRACE_STEP, TRACEPARENT};

/// Reconciles of one object continuing one trace before later ones start their own.
pub const MAX_RECONCILES_PER_TRACE: u32 = 200;

/// Where a reconcile's span goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Lineage {
    /// A child of this span (the step's root, or the reconcile that created the object).
    Continue(SpanContext),
    /// A new trace for `step`, to be recorded on the object.
    Root { step: String },
}

/// The current lifecycle step of an object.
pub fn step_of(meta: &ObjectMeta) -> String {
    if meta.deletion_timestamp.is_some() {
        "delete".into()
    } else {
        format!("generation-{}", meta.generation.unwrap_or(0))
    }
}

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The span context named by the object's `traceparent` annotation, if valid.
pub fn recorded(meta: &ObjectMeta) -> Option<SpanContext> {
    annotation(meta, TRACEPARENT).and_then(parse_traceparent)
}

/// Where the next reconcile of the object goes.
pub fn lineage(meta: &ObjectMeta) -> Lineage {
    let step = step_of(meta);
    match (recorded(meta), annotation(meta, TRACE_STEP)) {
        (Some(sc), None) => Lineage::Continue(sc),
        (Some(sc), Some(s)) if s == step => Lineage::Continue(sc),
        _ => Lineage::Root { step },
    }
}

/// The merge patch recording `traceparent` (the current reconcile span, a new root) as the
/// object's current step; `None` when the object continues a trace or nothing is exported.
pub fn record_patch(meta: &ObjectMeta, traceparent: Option<String>) -> Option<Value> {
    let Lineage::Root { step } = lineage(meta) else {
        return None;
    };
    let tp = traceparent?;
    Some(json!({"metadata": {"annotations": {TRACEPARENT: tp, TRACE_STEP: step}}}))
}

/// Counts the reconciles of one object under one trace, and says when the cap is reached.
#[derive(Debug, Default)]
pub struct TraceBudget {
    trace: Option<opentelemetry::trace::TraceId>,
    used: u32,
}

impl TraceBudget {
    /// Whether one more reconcile may continue `sc`'s trace (and counts it).
    pub fn admit(&mut self, sc: &SpanContext) -> bool {
        if self.trace != Some(sc.trace_id()) {
            self.trace = Some(sc.trace_id());
            self.used = 0;
        }
        self.used += 1;
        self.used <= MAX_RECONCILES_PER_TRACE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn meta(generation: i64, deleting: bool, ann: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            generation: Some(generation),
            deletion_timestamp: deleting.then(|| Time(k8s_openapi::jiff::Timestamp::now())),
            annotations: (!ann.is_empty()).then(|| {
                ann.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }),
            ..Default::default()
        }
    }

    fn root(step: &str) -> Lineage {
        Lineage::Root { step: step.into() }
    }

    #[test]
    fn steps_continue_or_start_a_trace() {
        let sc = parse_traceparent(TP).unwrap();
        let cases = [
            (
                "nothing recorded",
                meta(1, false, &[]),
                root("generation-1"),
            ),
            (
                "created by a capt reconcile",
                meta(1, false, &[(TRACEPARENT, TP)]),
                Lineage::Continue(sc.clone()),
            ),
            (
                "same step",
                meta(3, false, &[(TRACEPARENT, TP), (TRACE_STEP, "generation-3")]),
                Lineage::Continue(sc.clone()),
            ),
            (
                "a new generation",
                meta(4, false, &[(TRACEPARENT, TP), (TRACE_STEP, "generation-3")]),
                root("generation-4"),
            ),
            (
                "deletion",
                meta(4, true, &[(TRACEPARENT, TP), (TRACE_STEP, "generation-4")]),
                root("delete"),
            ),
            (
                "deletion traced",
                meta(4, true, &[(TRACEPARENT, TP), (TRACE_STEP, "delete")]),
                Lineage::Continue(sc.clone()),
            ),
            (
                "garbage traceparent",
                meta(2, false, &[(TRACEPARENT, "00-nope")]),
                root("generation-2"),
            ),
        ];
        for (what, m, want) in cases {
            assert_eq!(lineage(&m), want, "{what}");
        }
    }

    #[test]
    fn a_root_is_recorded_only_when_exported() {
        let fresh = meta(2, false, &[]);
        assert_eq!(record_patch(&fresh, None), None, "nothing exported");
        let p = record_patch(&fresh, Some(TP.into())).unwrap();
        assert_eq!(p["metadata"]["annotations"][TRACEPARENT], TP);
        assert_eq!(p["metadata"]["annotations"][TRACE_STEP], "generation-2");
        let traced = meta(2, false, &[(TRACEPARENT, TP), (TRACE_STEP, "generation-2")]);
        assert_eq!(record_patch(&traced, Some(TP.into())), None);
    }

    #[test]
    fn a_trace_takes_a_bounded_number_of_reconciles() {
        let a = parse_traceparent(TP).unwrap();
        let b =
            parse_traceparent("00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
        let mut budget = TraceBudget::default();
        let admitted = (0..MAX_RECONCILES_PER_TRACE + 5)
            .filter(|_| budget.admit(&a))
            .count();
        assert_eq!(admitted as u32, MAX_RECONCILES_PER_TRACE);
        assert!(budget.admit(&b), "another trace starts a new count");
    }
}
