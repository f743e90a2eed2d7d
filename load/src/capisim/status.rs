//! The Cluster's status as Cluster API v1.11 writes it through the v1beta1 API: deprecated fields and
//! conditions at the top level, v1beta2 conditions under `status.v1beta2.conditions`.

use serde_json::{Map, Value, json};

use super::cluster::{ClusterView, Endpoint};
use super::conditions::{ConditionSet, V1Condition, V2Condition};
use super::external::{External, failure_domains_map};

/// v1beta2 condition and reason names (Cluster API `api/core/v1beta2`).
pub(crate) mod names {
    pub const PAUSED: &str = "Paused";
    pub const REMOTE_CONNECTION_PROBE: &str = "RemoteConnectionProbe";
    pub const INFRASTRUCTURE_READY: &str = "InfrastructureReady";
    pub const CONTROL_PLANE_INITIALIZED: &str = "ControlPlaneInitialized";
    pub const CONTROL_PLANE_AVAILABLE: &str = "ControlPlaneAvailable";
    pub const WORKERS_AVAILABLE: &str = "WorkersAvailable";
    pub const DELETING: &str = "Deleting";
    pub const AVAILABLE: &str = "Available";
    pub const CONTROL_PLANE_READY_V1: &str = "ControlPlaneReady";
    pub const PROBE_FAILED: &str = "ProbeFailed";
    pub const PROBE_SUCCEEDED: &str = "ProbeSucceeded";
    pub const INTERNAL_ERROR: &str = "InternalError";
    pub const DOES_NOT_EXIST: &str = "DoesNotExist";
    pub const DELETED: &str = "Deleted";
}
use names::*;

/// How a reference turned out in this reconcile.
#[derive(Debug, Clone)]
pub(crate) enum RefOutcome {
    NoRef,
    NotFound,
    /// Reading it failed (e.g. its CRD has no contract label); the message explains why.
    Error(String),
    Found(Box<External>),
}

/// The remote connection probe's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// Infrastructure not provisioned yet (Cluster API does not try to connect), or Secrets not listed yet.
    NotYet,
    Failed(String),
    Succeeded,
}

/// The status being built during one reconcile, starting from the stored one.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    status: Map<String, Value>,
    pub conds: ConditionSet,
    pub infra_provisioned: bool,
    pub cp_initialized: bool,
    pub failure_reason: Option<String>,
    pub failure_message: Option<String>,
    pub failure_domains: Option<Vec<Value>>,
    pub endpoint: Endpoint,
    /// Reason and message of the v1beta2 `Deleting` condition.
    pub deleting: Option<(String, String)>,
}

fn list<T: serde::de::DeserializeOwned>(v: Option<&Value>) -> Vec<T> {
    v.and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

impl Draft {
    pub(crate) fn new(c: &ClusterView, now: &str) -> Self {
        let s = &c.status;
        let text = |k: &str| s.get(k).and_then(Value::as_str).map(str::to_string);
        Self {
            conds: ConditionSet {
                v1: list(s.get("conditions")),
                v2: list(s.get("v1beta2").and_then(|v| v.get("conditions"))),
                now: now.to_string(),
                generation: c.generation,
            },
            infra_provisioned: s.get("infrastructureReady") == Some(&json!(true)),
            cp_initialized: s.get("controlPlaneReady") == Some(&json!(true)),
            failure_reason: text("failureReason"),
            failure_message: text("failureMessage"),
            failure_domains: None,
            endpoint: c.endpoint.clone(),
            deleting: None,
            status: s.clone(),
        }
    }

    /// The v1beta2 `Paused` condition for `c` (as Cluster API's `EnsurePausedCondition` computes it).
    pub(crate) fn set_paused(&mut self, c: &ClusterView) {
        let mut why = Vec::new();
        if c.paused_spec {
            why.push("Cluster spec.paused is set to true");
        }
        if c.paused_annotation {
            why.push("Cluster has the cluster.x-k8s.io/paused annotation");
        }
        self.conds.set_v2(if why.is_empty() {
            V2Condition::new(PAUSED, "False", "NotPaused", "")
        } else {
            V2Condition::new(PAUSED, "True", "Paused", &why.join(", "))
        });
    }

    /// The full desired status. `ok`: the reconcile succeeded (only then is `observedGeneration` moved).
    pub(crate) fn finish(
        mut self,
        c: &ClusterView,
        infra: &RefOutcome,
        cp: &RefOutcome,
        probe: &Probe,
        ok: bool,
    ) -> Map<String, Value> {
        let phase = self.phase(c);
        self.set_probe(probe);
        self.set_infrastructure_ready(c, infra);
        self.set_control_plane_available(c, cp);
        self.set_control_plane_initialized(c, cp);
        self.conds
            .set_v2(V2Condition::new(WORKERS_AVAILABLE, "True", "NoWorkers", ""));
        self.conds.set_v2(match (&self.deleting, c.deleting) {
            (Some((reason, message)), true) => V2Condition::new(DELETING, "True", reason, message),
            (None, true) => V2Condition::new(
                DELETING,
                "True",
                INTERNAL_ERROR,
                "Please check controller logs for errors",
            ),
            (_, false) => V2Condition::new(DELETING, "False", "NotDeleting", ""),
        });
        self.set_available(c);
        self.conds
            .set_v1_summary(&[CONTROL_PLANE_READY_V1, INFRASTRUCTURE_READY]);
        self.conds.sort();

        let mut s = self.status;
        s.insert("phase".into(), json!(phase));
        s.insert("infrastructureReady".into(), json!(self.infra_provisioned));
        s.insert("controlPlaneReady".into(), json!(self.cp_initialized));
        for (k, v) in [
            ("failureReason", &self.failure_reason),
            ("failureMessage", &self.failure_message),
        ] {
            if let Some(v) = v {
                s.insert(k.into(), json!(v));
            }
        }
        if let Some(fd) = &self.failure_domains {
            if fd.is_empty() {
                s.remove("failureDomains");
            } else {
                s.insert("failureDomains".into(), failure_domains_map(fd));
            }
        }
        if ok {
            s.insert("observedGeneration".into(), json!(c.generation));
        }
        s.insert(
            "conditions".into(),
            serde_json::to_value(&self.conds.v1).unwrap_or_default(),
        );
        self.conds.put_v1beta2(&mut s);
        s
    }

    fn phase(&self, c: &ClusterView) -> &'static str {
        let current = self
            .status
            .get("phase")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut phase = match current {
            "" => "Pending",
            "Pending" => "Pending",
            "Provisioning" => "Provisioning",
            "Provisioned" => "Provisioned",
            "Deleting" => "Deleting",
            "Failed" => "Failed",
            _ => "Unknown",
        };
        if c.infra_ref.is_some() || c.cp_ref.is_some() {
            phase = "Provisioning";
        }
        if self.infra_provisioned && self.endpoint.is_valid() {
            phase = "Provisioned";
        }
        if c.deleting {
            phase = "Deleting";
        }
        phase
    }

    fn set_probe(&mut self, probe: &Probe) {
        let c = match probe {
            Probe::NotYet if self.conds.get_v2(REMOTE_CONNECTION_PROBE).is_some() => return,
            Probe::NotYet => V2Condition::new(
                REMOTE_CONNECTION_PROBE,
                "False",
                PROBE_FAILED,
                "Remote connection not established yet",
            ),
            Probe::Failed(m) => V2Condition::new(
                REMOTE_CONNECTION_PROBE,
                "False",
                PROBE_FAILED,
                &format!("Remote connection probe failed: {m}"),
            ),
            Probe::Succeeded => {
                V2Condition::new(REMOTE_CONNECTION_PROBE, "True", PROBE_SUCCEEDED, "")
            }
        };
        self.conds.set_v2(c);
    }

    fn set_infrastructure_ready(&mut self, c: &ClusterView, infra: &RefOutcome) {
        let kind = c
            .infra_ref
            .as_ref()
            .map(|r| r.kind.as_str())
            .unwrap_or_default();
        let provisioned = self.infra_provisioned;
        let cond = match infra {
            RefOutcome::Found(e) => mirror(
                e,
                INFRASTRUCTURE_READY,
                provisioned,
                ("Ready", "NotReady"),
                &format!("{kind} status.initialization.provisioned is false"),
            ),
            RefOutcome::Error(m) => {
                V2Condition::new(INFRASTRUCTURE_READY, "Unknown", INTERNAL_ERROR, m)
            }
            RefOutcome::NoRef => V2Condition::new(
                INFRASTRUCTURE_READY,
                "Unknown",
                INTERNAL_ERROR,
                "Please check controller logs for errors",
            ),
            RefOutcome::NotFound => missing(INFRASTRUCTURE_READY, kind, c.deleting, provisioned),
        };
        self.conds.set_v2(cond);
    }

    fn set_control_plane_available(&mut self, c: &ClusterView, cp: &RefOutcome) {
        let kind = c
            .cp_ref
            .as_ref()
            .map(|r| r.kind.as_str())
            .unwrap_or_default();
        let initialized = self.cp_initialized;
        let cond = match cp {
            RefOutcome::Found(e) => mirror(
                e,
                CONTROL_PLANE_AVAILABLE,
                initialized,
                ("Available", "NotAvailable"),
                &format!("{kind} status.initialization.controlPlaneInitialized is false"),
            ),
            RefOutcome::Error(m) => {
                V2Condition::new(CONTROL_PLANE_AVAILABLE, "Unknown", INTERNAL_ERROR, m)
            }
            RefOutcome::NoRef => V2Condition::new(
                CONTROL_PLANE_AVAILABLE,
                "Unknown",
                INTERNAL_ERROR,
                "Please check controller logs for errors",
            ),
            RefOutcome::NotFound => missing(CONTROL_PLANE_AVAILABLE, kind, c.deleting, initialized),
        };
        self.conds.set_v2(cond);
    }

    fn set_control_plane_initialized(&mut self, c: &ClusterView, cp: &RefOutcome) {
        if self.conds.v2_is_true(CONTROL_PLANE_INITIALIZED) {
            return;
        }
        let kind = c
            .cp_ref
            .as_ref()
            .map(|r| r.kind.as_str())
            .unwrap_or_default();
        let not_yet = V2Condition::new(
            CONTROL_PLANE_INITIALIZED,
            "False",
            "NotInitialized",
            "Control plane not yet initialized",
        );
        let cond = match cp {
            RefOutcome::Found(e) => match e.flag {
                Ok(true) => V2Condition::new(CONTROL_PLANE_INITIALIZED, "True", "Initialized", ""),
                Ok(false) => not_yet,
                Err(_) => V2Condition::new(
                    CONTROL_PLANE_INITIALIZED,
                    "Unknown",
                    INTERNAL_ERROR,
                    "Please check controller logs for errors",
                ),
            },
            RefOutcome::Error(m) => {
                V2Condition::new(CONTROL_PLANE_INITIALIZED, "Unknown", INTERNAL_ERROR, m)
            }
            RefOutcome::NotFound => V2Condition::new(
                CONTROL_PLANE_INITIALIZED,
                "Unknown",
                DOES_NOT_EXIST,
                &format!("{kind} does not exist"),
            ),
            RefOutcome::NoRef => V2Condition::new(
                CONTROL_PLANE_INITIALIZED,
                "False",
                "NotInitialized",
                "Waiting for the first control plane machine to have status.nodeRef set",
            ),
        };
        self.conds.set_v2(cond);
    }

    /// `Available`: True when Deleting is False and RemoteConnectionProbe, InfrastructureReady,
    /// ControlPlaneAvailable and WorkersAvailable are True; False on any issue; Unknown otherwise.
    fn set_available(&mut self, c: &ClusterView) {
        let mut issues = Vec::new();
        let mut unknown = Vec::new();
        for t in [
            DELETING,
            REMOTE_CONNECTION_PROBE,
            INFRASTRUCTURE_READY,
            CONTROL_PLANE_AVAILABLE,
            WORKERS_AVAILABLE,
        ] {
            let Some(x) = self.conds.get_v2(t) else {
                unknown.push(format!("* {t}: Condition not yet reported"));
                continue;
            };
            let negative = t == DELETING;
            let good = if negative {
                x.status == "False"
            } else {
                x.status == "True"
            };
            let info_while_deleting = c.deleting
                && matches!(t, INFRASTRUCTURE_READY | CONTROL_PLANE_AVAILABLE)
                && matches!(x.reason.as_str(), DELETED | DOES_NOT_EXIST);
            if good || info_while_deleting {
                continue;
            }
            let line = if x.message.is_empty() {
                format!("* {t}: {}", x.reason)
            } else {
                format!("* {t}: {}", x.message)
            };
            if x.status == "Unknown" {
                unknown.push(line)
            } else {
                issues.push(line)
            }
        }
        let cond = if !issues.is_empty() {
            V2Condition::new(AVAILABLE, "False", "NotAvailable", &issues.join("\n"))
        } else if !unknown.is_empty() {
            V2Condition::new(
                AVAILABLE,
                "Unknown",
                "AvailableUnknown",
                &unknown.join("\n"),
            )
        } else {
            V2Condition::new(AVAILABLE, "True", "Available", "")
        };
        self.conds.set_v2(cond);
    }

    /// v1beta1 `InfrastructureReady` / `ControlPlaneReady`: the object's `Ready` condition, else `fallback`
    /// (True, or False/`reason`/Info); while the Cluster is deleting the fallback is False/Deleting.
    pub(crate) fn mirror_v1(
        &mut self,
        type_: &str,
        e: &External,
        fallback: bool,
        reason: &str,
        cluster_deleting: bool,
    ) {
        let cond = match &e.v1_ready {
            Some(r) => V1Condition {
                type_: type_.into(),
                ..r.clone()
            },
            None if cluster_deleting => V1Condition::info(type_, "Deleting", ""),
            None if fallback => V1Condition::truthy(type_),
            None => V1Condition::info(type_, reason, ""),
        };
        self.conds.set_v1(cond);
    }
}

/// The v1beta2 mirror of the object's condition, else a fallback from the Cluster's own flag.
fn mirror(
    e: &External,
    type_: &str,
    flag: bool,
    reasons: (&str, &str),
    false_message: &str,
) -> V2Condition {
    match &e.v2_condition {
        Err(m) => V2Condition::new(type_, "Unknown", "InvalidConditionReported", m),
        Ok(Some(src)) => {
            let mut c = src.clone();
            c.type_ = type_.into();
            if c.reason == "NoReasonReported" && c.status == "True" {
                c.reason = reasons.0.into();
            }
            c
        }
        Ok(None) if flag => V2Condition::new(type_, "True", reasons.0, ""),
        Ok(None) => V2Condition::new(type_, "False", reasons.1, false_message),
    }
}

/// A referenced object that does not exist.
fn missing(type_: &str, kind: &str, deleting: bool, was_up: bool) -> V2Condition {
    match (deleting, was_up) {
        (true, true) => {
            V2Condition::new(type_, "False", DELETED, &format!("{kind} has been deleted"))
        }
        (false, true) => V2Condition::new(
            type_,
            "False",
            DELETED,
            &format!("{kind} has been deleted while the cluster still exists"),
        ),
        (_, false) => V2Condition::new(
            type_,
            "False",
            DOES_NOT_EXIST,
            &format!("{kind} does not exist"),
        ),
    }
}
