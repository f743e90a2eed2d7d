//! Pause, as Cluster API defines it: the `cluster.x-k8s.io/paused` annotation on an object or
//! `spec.paused` (or the annotation) on its Cluster stops every write for it — checked before
//! deletion handling and finalizer adds, so `clusterctl move` can copy a quiet cluster.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::plan::{Blocked, Plan};
use crate::api::Cluster;
use crate::api::names::annotations::PAUSED;

/// Reason of the wait a paused object reports.
pub const PAUSED_REASON: &str = "Paused";

/// The object or its Cluster is paused.
pub fn is_paused(meta: &ObjectMeta, cluster: Option<&Cluster>) -> bool {
    meta.annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(PAUSED))
        || cluster.is_some_and(Cluster::is_paused)
}

/// The plan of a paused object: no write, no Event, no timer; a new event (the unpause) wakes it.
pub fn paused_plan<S>() -> Plan<S> {
    let mut plan = Plan::default();
    plan.block(Blocked::waiting(PAUSED_REASON, "reconciliation is paused"));
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(annotations: serde_json::Value) -> ObjectMeta {
        serde_json::from_value(json!({"name": "x", "annotations": annotations})).unwrap()
    }

    fn cluster(spec_paused: Option<bool>, annotated: bool) -> Cluster {
        let mut c = json!({
            "apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
            "metadata": {"name": "c", "namespace": "ns"}, "spec": {}
        });
        if let Some(p) = spec_paused {
            c["spec"]["paused"] = json!(p);
        }
        if annotated {
            c["metadata"]["annotations"] = json!({PAUSED: ""});
        }
        serde_json::from_value(c).unwrap()
    }

    #[test]
    fn paused_by_the_object_or_its_cluster() {
        // (case, object annotated, cluster: None | (spec.paused, annotated), paused)
        let table = [
            ("nothing", false, None, false),
            ("object annotation", true, None, true),
            (
                "cluster spec.paused",
                false,
                Some((Some(true), false)),
                true,
            ),
            (
                "cluster spec.paused false",
                false,
                Some((Some(false), false)),
                false,
            ),
            ("cluster annotation", false, Some((None, true)), true),
            ("both", true, Some((Some(true), true)), true),
        ];
        for (case, annotated, c, want) in table {
            let m = if annotated {
                meta(json!({PAUSED: "true"}))
            } else {
                meta(json!({"other": "x"}))
            };
            let c = c.map(|(p, a)| cluster(p, a));
            assert_eq!(is_paused(&m, c.as_ref()), want, "{case}");
        }
    }

    #[test]
    fn a_paused_plan_writes_nothing() {
        let plan: Plan<()> = paused_plan();
        assert!(plan.ops.is_empty() && plan.status.is_none() && plan.events.is_empty());
        assert_eq!(plan.blocked.as_ref().map(|b| b.reason), Some(PAUSED_REASON));
    }
}
