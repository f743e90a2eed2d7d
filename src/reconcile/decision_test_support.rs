//! Builders and plan inspectors shared by the decision table tests.
#![allow(dead_code)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::api::{Cluster, Condition, Workspace, WorkspaceTemplateApply};
use crate::reconcile::outcome::EventType;
use crate::reconcile::outcome::TimerCmd;
use crate::reconcile::plan::{BlockKind, Child, Op, Plan, SecretWrite};

pub const NS: &str = "default";
pub const T0: &str = "2026-01-01T00:00:00Z";

/// `T0` plus `secs` seconds.
pub fn at(secs: i64) -> Time {
    let t0: Timestamp = T0.parse().expect("timestamp");
    Time(t0 + SignedDuration::from_secs(secs))
}

pub fn mins(m: i64) -> i64 {
    m * 60
}

pub fn from<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("test object: {e}"))
}

/// The controller ownerReference Cluster API sets on infrastructure and control plane objects.
pub fn cluster_owner_ref(name: &str) -> Value {
    json!({
        "apiVersion": "cluster.x-k8s.io/v1beta1",
        "kind": "Cluster",
        "name": name,
        "uid": format!("uid-cluster-{name}"),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

pub fn cluster(name: &str) -> Cluster {
    cluster_with(name, json!({}), json!({}))
}

pub fn cluster_with(name: &str, annotations: Value, spec: Value) -> Cluster {
    from(json!({
        "apiVersion": "cluster.x-k8s.io/v1beta1",
        "kind": "Cluster",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": format!("uid-cluster-{name}"),
            "annotations": annotations,
        },
        "spec": spec,
    }))
}

/// A Workspace with the given `status` (conditions, atProvider).
pub fn workspace(name: &str, status: Value) -> Workspace {
    workspace_meta(name, json!({}), status)
}

pub fn workspace_meta(name: &str, metadata: Value, status: Value) -> Workspace {
    let mut meta = json!({"name": name, "generation": 1});
    if let (Some(m), Some(extra)) = (meta.as_object_mut(), metadata.as_object()) {
        m.extend(extra.clone());
    }
    from(json!({
        "apiVersion": "tf.upbound.io/v1beta1",
        "kind": "Workspace",
        "metadata": meta,
        "spec": {},
        "status": status,
    }))
}

pub fn xp_cond(type_: &str, status: bool, reason: &str, message: Option<&str>) -> Value {
    let mut c = json!({
        "type": type_,
        "status": if status { "True" } else { "False" },
        "reason": reason,
    });
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// A Workspace that is Synced and Ready with `outputs`.
pub fn ready_workspace(name: &str, outputs: Value) -> Workspace {
    workspace(
        name,
        json!({
            "conditions": [
                xp_cond("Synced", true, "ReconcileSuccess", None),
                xp_cond("Ready", true, "Available", None),
            ],
            "atProvider": {"checksum": "abc", "outputs": outputs},
        }),
    )
}

/// A Workspace still applying.
pub fn creating_workspace(name: &str) -> Workspace {
    workspace(
        name,
        json!({
            "conditions": [
                xp_cond("Synced", true, "ReconcileSuccess", None),
                xp_cond("Ready", false, "Creating", None),
            ],
        }),
    )
}

/// A Workspace whose terraform apply failed with `message`.
pub fn failed_workspace(name: &str, message: &str) -> Workspace {
    workspace(
        name,
        json!({
            "conditions": [
                xp_cond("Synced", false, "ReconcileError", Some(message)),
                xp_cond("Ready", false, "Creating", None),
            ],
        }),
    )
}

/// A WorkspaceTemplateApply in `NS` with `spec`, `status` and extra `metadata` fields.
pub fn apply(name: &str, metadata: Value, spec: Value, status: Value) -> WorkspaceTemplateApply {
    let mut meta =
        json!({"name": name, "namespace": NS, "uid": format!("uid-{name}"), "generation": 1});
    if let (Some(m), Some(extra)) = (meta.as_object_mut(), metadata.as_object()) {
        m.extend(extra.clone());
    }
    from(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "WorkspaceTemplateApply",
        "metadata": meta,
        "spec": spec,
        "status": status,
    }))
}

/// Fails when any op of the plan writes a CAPI Cluster (Cluster API owns it).
pub fn assert_no_cluster_writes<S>(plan: &Plan<S>) {
    for op in &plan.ops {
        let kind = match op {
            Op::Create(c) | Op::PatchChild(c) => c.kind,
            Op::Delete { kind, .. } => kind,
            _ => continue,
        };
        assert_ne!(kind, "Cluster", "a plan must never write a Cluster: {op:?}");
    }
}

pub fn event_reasons<S>(plan: &Plan<S>, type_: EventType) -> Vec<&str> {
    plan.events
        .iter()
        .filter(|e| e.type_ == type_)
        .map(|e| e.reason.as_str())
        .collect()
}

pub fn warnings<S>(plan: &Plan<S>) -> Vec<&str> {
    event_reasons(plan, EventType::Warning)
}

pub fn normals<S>(plan: &Plan<S>) -> Vec<&str> {
    event_reasons(plan, EventType::Normal)
}

pub fn created<'a, S>(plan: &'a Plan<S>, kind: &str) -> Vec<&'a Child> {
    plan.ops
        .iter()
        .filter_map(|o| match o {
            Op::Create(c) if c.kind == kind => Some(c),
            _ => None,
        })
        .collect()
}

pub fn patched<'a, S>(plan: &'a Plan<S>, kind: &str) -> Vec<&'a Child> {
    plan.ops
        .iter()
        .filter_map(|o| match o {
            Op::PatchChild(c) if c.kind == kind => Some(c),
            _ => None,
        })
        .collect()
}

pub fn deleted<S>(plan: &Plan<S>) -> Vec<(&str, &str)> {
    plan.ops
        .iter()
        .filter_map(|o| match o {
            Op::Delete { kind, name, .. } => Some((*kind, name.as_str())),
            _ => None,
        })
        .collect()
}

pub fn self_patches<S>(plan: &Plan<S>) -> Vec<&Value> {
    plan.ops
        .iter()
        .filter_map(|o| match o {
            Op::Patch(v) => Some(v),
            _ => None,
        })
        .collect()
}

/// The Secrets a plan writes.
pub fn secret_writes<S>(plan: &Plan<S>) -> Vec<&SecretWrite> {
    plan.ops
        .iter()
        .filter_map(|o| match o {
            Op::WriteSecret(w) => Some(w),
            _ => None,
        })
        .collect()
}

pub fn armed<S>(plan: &Plan<S>, name: &str) -> Option<std::time::Duration> {
    plan.action.timers.iter().find_map(|t| match t {
        TimerCmd::Arm { name: n, after } if *n == name => Some(*after),
        _ => None,
    })
}

pub fn cancelled<S>(plan: &Plan<S>, name: &str) -> bool {
    plan.action
        .timers
        .iter()
        .any(|t| matches!(t, TimerCmd::Cancel(n) if *n == name))
}

/// The timer a deadline `left` away is armed with (the plan adds a small margin).
pub fn after(left_secs: u64) -> std::time::Duration {
    std::time::Duration::from_secs(left_secs) + std::time::Duration::from_millis(50)
}

pub fn cond<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// (status, reason, message) of condition `type_`.
pub fn cond_state(conditions: &[Condition], type_: &str) -> Option<(String, String, String)> {
    cond(conditions, type_).map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

pub fn state(status: &str, reason: &str, message: &str) -> Option<(String, String, String)> {
    Some((status.into(), reason.into(), message.into()))
}

/// Applies `edit` to the JSON of an object and reads the object back.
pub fn edited<T: DeserializeOwned>(mut v: Value, edit: impl FnOnce(&mut Value)) -> T {
    edit(&mut v);
    from(v)
}

/// Removes the last key of `path` from the object the rest of `path` leads to.
pub fn remove(v: &mut Value, path: &[&str]) {
    let (last, parents) = path.split_last().expect("path");
    let mut cur = v;
    for p in parents {
        cur = &mut cur[*p];
    }
    if let Some(o) = cur.as_object_mut() {
        o.remove(*last);
    }
}

/// The status the plan writes.
pub fn st<S>(plan: &Plan<S>) -> &S {
    plan.status.as_ref().expect("status")
}

/// (case, Cluster API's owner reference present, owner Cluster cached, the decision waits)
pub const OWNER_WAIT_CASES: [(&str, bool, bool, bool); 4] = [
    ("no owner, no Cluster", false, false, true),
    (
        "same-named Cluster but no owner reference",
        false,
        true,
        true,
    ),
    ("owner reference, Cluster not cached yet", true, false, true),
    ("owner reference and Cluster", true, true, false),
];

/// A decision about an object without Cluster API's owner reference or its Cluster adds the
/// finalizer first and, while `waits`, nothing else, blocked Waiting with `reason`.
pub fn assert_owner_wait<S>(
    plan: &Plan<S>,
    case: &str,
    finalizer: &'static str,
    waits: bool,
    reason: &str,
) {
    assert_eq!(
        plan.ops.first(),
        Some(&Op::AddFinalizer(finalizer)),
        "{case}"
    );
    if waits {
        assert_eq!(plan.ops.len(), 1, "{case}: only the finalizer, no adoption");
        let b = plan.blocked.as_ref().expect(case);
        assert_eq!((b.kind, b.reason), (BlockKind::Waiting, reason), "{case}");
    } else {
        assert!(plan.blocked.is_none(), "{case}: {:?}", plan.blocked);
    }
}

/// A deletion decision: exactly `ops`, blocked Waiting with `blocked`, Normal events `events`, no status.
pub fn assert_deletion<S>(
    plan: &Plan<S>,
    case: &str,
    ops: &[Op],
    blocked: Option<&str>,
    events: &[&str],
) {
    assert_eq!(plan.ops, ops, "{case}");
    assert_eq!(
        plan.blocked.as_ref().map(|b| (b.kind, b.reason)),
        blocked.map(|r| (BlockKind::Waiting, r)),
        "{case}"
    );
    assert_eq!(normals(plan), events, "{case}");
    assert!(plan.status.is_none(), "{case}");
}
