//! Cluster status as CAPI v1beta1 computes it from the referenced objects.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::cluster::{ClusterView, Endpoint};

/// A CAPI v1beta1 condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub severity: String,
    #[serde(default)]
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Condition {
    fn truthy(type_: &str) -> Self {
        Self {
            type_: type_.into(),
            status: "True".into(),
            severity: String::new(),
            last_transition_time: String::new(),
            reason: String::new(),
            message: String::new(),
        }
    }

    fn falsy(type_: &str, reason: &str, severity: &str, message: &str) -> Self {
        Self {
            type_: type_.into(),
            status: "False".into(),
            severity: severity.into(),
            last_transition_time: String::new(),
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// What capisim read from a referenced object.
#[derive(Debug, Clone, Default)]
pub(crate) struct RefState {
    pub exists: bool,
    pub ready: bool,
    pub initialized: bool,
    pub ready_condition: Option<Condition>,
    pub endpoint: Option<Endpoint>,
    pub failure_domains: Option<Value>,
    pub failure_reason: Option<String>,
    pub failure_message: Option<String>,
}

impl RefState {
    pub(crate) fn from_object(obj: &kube::api::DynamicObject) -> Self {
        let status = obj.data.get("status");
        let flag = |k: &str| {
            status
                .and_then(|s| s.get(k))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let text = |k: &str| {
            status
                .and_then(|s| s.get(k))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let ready_condition = status
            .and_then(|s| s.get("conditions"))
            .and_then(Value::as_array)
            .and_then(|list| {
                list.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
            })
            .map(|c| {
                let s = |k: &str| {
                    c.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                Condition {
                    type_: "Ready".into(),
                    status: s("status"),
                    severity: s("severity"),
                    last_transition_time: String::new(),
                    reason: s("reason"),
                    message: s("message"),
                }
            });
        let endpoint = obj
            .data
            .get("spec")
            .and_then(|s| s.get("controlPlaneEndpoint"))
            .and_then(|e| serde_json::from_value::<Endpoint>(e.clone()).ok())
            .filter(|e| !e.host.is_empty());
        let failure_domains = status
            .and_then(|s| s.get("failureDomains"))
            .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
            .cloned();
        Self {
            exists: true,
            ready: flag("ready"),
            initialized: flag("initialized"),
            ready_condition,
            endpoint,
            failure_domains,
            failure_reason: text("failureReason"),
            failure_message: text("failureMessage"),
        }
    }
}

fn mirror(type_: &str, r: &RefState, waiting_reason: &str, missing: &str) -> Condition {
    if !r.exists {
        return Condition::falsy(type_, waiting_reason, "Info", missing);
    }
    if let Some(c) = &r.ready_condition {
        if c.status == "True" {
            return Condition::truthy(type_);
        }
        let severity = if c.severity.is_empty() {
            "Info"
        } else {
            c.severity.as_str()
        };
        let reason = if c.reason.is_empty() {
            waiting_reason
        } else {
            c.reason.as_str()
        };
        let mut out = Condition::falsy(type_, reason, severity, &c.message);
        out.status = if c.status.is_empty() {
            "Unknown".into()
        } else {
            c.status.clone()
        };
        return out;
    }
    if r.ready {
        Condition::truthy(type_)
    } else {
        Condition::falsy(type_, waiting_reason, "Info", "")
    }
}

/// Inputs of the status computation.
pub(crate) struct Observed<'a> {
    pub cluster: &'a ClusterView,
    pub infra: Option<RefState>,
    pub cp: Option<RefState>,
    /// The endpoint the Cluster will have after this reconcile.
    pub endpoint: Endpoint,
    pub now: &'a str,
}

/// The full desired `status` object of the Cluster.
pub(crate) fn compute(o: &Observed<'_>) -> Map<String, Value> {
    let c = o.cluster;
    let mut status = c.status.clone();
    let old: Vec<Condition> = status
        .get("conditions")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let mut conds: Vec<Condition> = Vec::new();

    if let Some(infra) = &o.infra {
        status.insert("infrastructureReady".into(), json!(infra.ready));
        conds.push(mirror(
            "InfrastructureReady",
            infra,
            "WaitingForInfrastructure",
            "infrastructure object not found",
        ));
        if let Some(fd) = &infra.failure_domains {
            status.insert("failureDomains".into(), fd.clone());
        }
    } else {
        // No infrastructure reference: nothing to wait for.
        status.insert("infrastructureReady".into(), json!(true));
        conds.push(Condition::truthy("InfrastructureReady"));
    }
    if let Some(cp) = &o.cp {
        status.insert("controlPlaneReady".into(), json!(cp.ready));
        conds.push(mirror(
            "ControlPlaneReady",
            cp,
            "WaitingForControlPlane",
            "control plane object not found",
        ));
        let was_initialized = old
            .iter()
            .any(|x| x.type_ == "ControlPlaneInitialized" && x.status == "True");
        conds.push(if cp.initialized || was_initialized {
            Condition::truthy("ControlPlaneInitialized")
        } else {
            Condition::falsy(
                "ControlPlaneInitialized",
                "WaitingForControlPlaneProviderInitialized",
                "Info",
                "Waiting for control plane provider to indicate the control plane has been initialized",
            )
        });
    }
    let summary = conds
        .iter()
        .filter(|x| x.type_ != "ControlPlaneInitialized")
        .find(|x| x.status != "True")
        .cloned();
    conds.push(match summary {
        None => Condition::truthy("Ready"),
        Some(f) => {
            let mut r = f;
            r.type_ = "Ready".into();
            r
        }
    });

    for (r, what) in [(&o.infra, "infrastructure"), (&o.cp, "control plane")] {
        if let Some(r) = r
            && let Some(reason) = &r.failure_reason
        {
            {
                status.insert("failureReason".into(), json!(reason));
                let msg = r.failure_message.clone().unwrap_or_default();
                status.insert(
                    "failureMessage".into(),
                    json!(format!(
                        "Failure detected from referenced {what} object: {msg}"
                    )),
                );
            }
        }
    }

    let failed = status
        .get("failureReason")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
        || status
            .get("failureMessage")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
    let infra_ready = status
        .get("infrastructureReady")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let phase = if c.deleting {
        "Deleting"
    } else if failed {
        "Failed"
    } else if infra_ready && o.endpoint.is_valid() {
        "Provisioned"
    } else if c.infra_ref.is_some() {
        "Provisioning"
    } else {
        "Pending"
    };
    status.insert("phase".into(), json!(phase));
    status.insert("observedGeneration".into(), json!(c.generation));

    // Keep conditions other writers own; new values keep their transition time while the status holds.
    let mut merged: Vec<Condition> = old
        .iter()
        .filter(|x| !conds.iter().any(|n| n.type_ == x.type_))
        .cloned()
        .collect();
    for mut n in conds {
        n.last_transition_time = match old.iter().find(|x| x.type_ == n.type_) {
            Some(x) if x.status == n.status && !x.last_transition_time.is_empty() => {
                x.last_transition_time.clone()
            }
            _ => o.now.to_string(),
        };
        merged.push(n);
    }
    merged.sort_by(|a, b| {
        let rank = |t: &str| if t == "Ready" { 0 } else { 1 };
        rank(&a.type_)
            .cmp(&rank(&b.type_))
            .then_with(|| a.type_.cmp(&b.type_))
    });
    status.insert(
        "conditions".into(),
        serde_json::to_value(merged).unwrap_or(Value::Null),
    );
    status
}
