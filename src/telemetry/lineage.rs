//! Which trace a reconcile belongs to: one trace per lifecycle step of an object.
//!
//! A step is the object's provisioning, an update (a new `metadata.generation` someone else
//! asked for), or its deletion. The object's `traceparent` annotation names the span the step's
//! reconciles continue under, and [`TRACE_STEP`] the step, as `<phase>/<generation>`
//! (`provision/1`, `update/4`, `delete/4`):
//!
//! - an object capt created carries the context of the reconcile that created it, so its
//!   reconciles join its creator's trace (a control plane's apply and Workspace join the
//!   control plane's);
//! - an object nobody traced yet (a `CAPTCluster` made by the user or by Cluster API's topology
//!   controller), or whose generation moved past the recorded one, or that is being deleted,
//!   starts a new step; its first reconcile joins a sibling's trace for the same phase (see
//!   [`join`]) or is a new root, and capt records it on the object with the write it makes to the
//!   object anyway (the finalizer on a new object), else with one metadata patch;
//! - capt's own spec writes (a field it fills in) bump the generation without a new step: the
//!   recorded generation moves with them.
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

/// The phase of a lifecycle step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Provision,
    Update,
    Delete,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Self::Provision => "provision",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// A lifecycle step: its phase and the generation it has reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub phase: Phase,
    pub generation: i64,
}

impl Step {
    /// Parses `<phase>/<generation>`.
    pub fn parse(s: &str) -> Option<Step> {
        let (phase, generation) = s.split_once('/')?;
        let phase = match phase {
            "provision" => Phase::Provision,
            "update" => Phase::Update,
            "delete" => Phase::Delete,
            _ => return None,
        };
        Some(Step {
            phase,
            generation: generation.parse().ok()?,
        })
    }

    pub fn render(self) -> String {
        format!("{}/{}", self.phase.as_str(), self.generation)
    }
}

/// Where a reconcile's span goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Lineage {
    /// A child of this span (the step's root, or the reconcile that created the object).
    Continue(SpanContext),
    /// A new step, to be recorded on the object.
    Root { step: Step },
}

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

fn generation(meta: &ObjectMeta) -> i64 {
    meta.generation.unwrap_or(0)
}

/// The span context named by the object's `traceparent` annotation, if valid.
pub fn recorded(meta: &ObjectMeta) -> Option<SpanContext> {
    annotation(meta, TRACEPARENT).and_then(parse_traceparent)
}

/// The step recorded on the object, if any.
pub fn recorded_step(meta: &ObjectMeta) -> Option<Step> {
    annotation(meta, TRACE_STEP).and_then(Step::parse)
}

/// Where the next reconcile of the object goes.
pub fn lineage(meta: &ObjectMeta) -> Lineage {
    let deleting = meta.deletion_timestamp.is_some();
    let g = generation(meta);
    let fresh = |phase| Lineage::Root {
        step: Step {
            phase,
            generation: g,
        },
    };
    let Some(sc) = recorded(meta) else {
        return fresh(if deleting {
            Phase::Delete
        } else {
            Phase::Provision
        });
    };
    // `None`: no step recorded; `Some(None)`: one that does not parse.
    match (annotation(meta, TRACE_STEP).map(Step::parse), deleting) {
        // Created by a capt reconcile: follows its creator until it is deleted.
        (None, false) => Lineage::Continue(sc),
        (Some(Some(s)), true) if s.phase == Phase::Delete => Lineage::Continue(sc),
        (_, true) => fresh(Phase::Delete),
        (Some(Some(s)), false) if s.generation == g => Lineage::Continue(sc),
        (Some(_), false) => fresh(Phase::Update),
    }
}

/// The trace a new step of `own` joins: its sibling `peer`'s (the CAPTCluster of a control plane,
/// or the control plane of a CAPTCluster) when the peer recorded a provisioning or a deletion
/// while `own` starts the same, so a cluster's infrastructure and control plane share one trace.
/// Updates are not joined (each object's update is its own story). `None` when `own` continues
/// its own trace or there is nothing to join.
pub fn join(own: &ObjectMeta, peer: &ObjectMeta) -> Option<SpanContext> {
    let Lineage::Root { step } = lineage(own) else {
        return None;
    };
    let peer_step = recorded_step(peer)?;
    (step.phase != Phase::Update && peer_step.phase == step.phase)
        .then(|| recorded(peer))
        .flatten()
}

/// The annotations a write to the object itself carries for its trace: a reconcile that started
/// a step records it (`traceparent` = the current reconcile span, a new root or a join); a write
/// that changes the object's spec (capt filling in a field it owns) bumps the generation without
/// starting a new step, so the recorded generation moves along with it. `None` when nothing
/// changes or nothing is exported (`traceparent` is `None`).
pub fn record_patch(
    meta: &ObjectMeta,
    traceparent: Option<String>,
    bumps_spec: bool,
) -> Option<Value> {
    let tp = traceparent?;
    let deleting = meta.deletion_timestamp.is_some();
    let bump = |step: Step| Step {
        generation: step.generation + i64::from(bumps_spec && !deleting),
        ..step
    };
    match lineage(meta) {
        Lineage::Root { step } => Some(json!({"metadata": {"annotations": {
            TRACEPARENT: tp,
            TRACE_STEP: bump(step).render(),
        }}})),
        Lineage::Continue(_) if bumps_spec && !deleting => {
            let step = bump(recorded_step(meta)?);
            Some(json!({"metadata": {"annotations": {TRACE_STEP: step.render()}}}))
        }
        Lineage::Continue(_) => None,
    }
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
        Lineage::Root {
            step: Step::parse(step).unwrap(),
        }
    }

    #[test]
    fn steps_continue_or_start_a_trace() {
        let sc = parse_traceparent(TP).unwrap();
        let cases = [
            ("nothing recorded", meta(1, false, &[]), root("provision/1")),
            (
                "created by a capt reconcile",
                meta(1, false, &[(TRACEPARENT, TP)]),
                Lineage::Continue(sc.clone()),
            ),
            (
                "same step",
                meta(3, false, &[(TRACEPARENT, TP), (TRACE_STEP, "provision/3")]),
                Lineage::Continue(sc.clone()),
            ),
            (
                "a new generation",
                meta(4, false, &[(TRACEPARENT, TP), (TRACE_STEP, "provision/3")]),
                root("update/4"),
            ),
            (
                "deletion",
                meta(4, true, &[(TRACEPARENT, TP), (TRACE_STEP, "update/4")]),
                root("delete/4"),
            ),
            (
                "deletion of an object capt created",
                meta(1, true, &[(TRACEPARENT, TP)]),
                root("delete/1"),
            ),
            (
                "deletion traced",
                meta(4, true, &[(TRACEPARENT, TP), (TRACE_STEP, "delete/4")]),
                Lineage::Continue(sc.clone()),
            ),
            (
                "garbage traceparent",
                meta(2, false, &[(TRACEPARENT, "00-nope")]),
                root("provision/2"),
            ),
            (
                "garbage step",
                meta(2, false, &[(TRACEPARENT, TP), (TRACE_STEP, "later")]),
                root("update/2"),
            ),
        ];
        for (what, m, want) in cases {
            assert_eq!(lineage(&m), want, "{what}");
        }
    }

    #[test]
    fn siblings_join_a_provisioning_or_a_deletion() {
        let sc = parse_traceparent(TP).unwrap();
        let provisioning = meta(3, false, &[(TRACEPARENT, TP), (TRACE_STEP, "provision/3")]);
        assert_eq!(join(&meta(1, false, &[]), &provisioning), Some(sc.clone()));
        let updating = meta(5, false, &[(TRACEPARENT, TP), (TRACE_STEP, "update/5")]);
        assert_eq!(join(&meta(1, false, &[]), &updating), None);
        let own_update = meta(2, false, &[(TRACEPARENT, TP), (TRACE_STEP, "provision/1")]);
        assert_eq!(join(&own_update, &updating), None, "updates are not joined");
        assert_eq!(join(&meta(1, true, &[]), &provisioning), None);
        let deleting = meta(3, true, &[(TRACEPARENT, TP), (TRACE_STEP, "delete/3")]);
        assert_eq!(join(&meta(7, true, &[]), &deleting), Some(sc));
        assert_eq!(
            join(&meta(1, false, &[]), &meta(1, false, &[])),
            None,
            "nothing to join"
        );
        assert_eq!(
            join(&provisioning, &provisioning),
            None,
            "continues its own"
        );
    }

    #[test]
    fn a_root_is_recorded_only_when_exported() {
        let fresh = meta(2, false, &[]);
        assert_eq!(record_patch(&fresh, None, false), None, "nothing exported");
        let p = record_patch(&fresh, Some(TP.into()), false).unwrap();
        assert_eq!(p["metadata"]["annotations"][TRACEPARENT], TP);
        assert_eq!(p["metadata"]["annotations"][TRACE_STEP], "provision/2");
        let traced = meta(2, false, &[(TRACEPARENT, TP), (TRACE_STEP, "provision/2")]);
        assert_eq!(record_patch(&traced, Some(TP.into()), false), None);
    }

    #[test]
    fn capts_own_spec_writes_stay_in_the_step() {
        let p = record_patch(&meta(1, false, &[]), Some(TP.into()), true).unwrap();
        assert_eq!(p["metadata"]["annotations"][TRACE_STEP], "provision/2");
        let traced = meta(2, false, &[(TRACEPARENT, TP), (TRACE_STEP, "provision/2")]);
        let p = record_patch(&traced, Some(TP.into()), true).unwrap();
        assert_eq!(p["metadata"]["annotations"][TRACE_STEP], "provision/3");
        assert!(p["metadata"]["annotations"].get(TRACEPARENT).is_none());
        let created = meta(1, false, &[(TRACEPARENT, TP)]);
        assert_eq!(
            record_patch(&created, Some(TP.into()), true),
            None,
            "an object following its creator records no step"
        );
        let deleting = meta(3, true, &[(TRACEPARENT, TP), (TRACE_STEP, "delete/3")]);
        assert_eq!(record_patch(&deleting, Some(TP.into()), true), None);
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
