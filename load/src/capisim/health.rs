//! What reports count about a Cluster, read from the Cluster object alone (as `kubectl get -o json` shows it).
//!
//! - failed: `status.failureReason` is set (Cluster API copies it from the infrastructure cluster or control
//!   plane and never clears it);
//! - kubeconfig unusable: `status.v1beta2.conditions[type=RemoteConnectionProbe].status` is not `True`.

use serde_json::Value;

/// Path of the failure reason.
pub const FAILURE_REASON_PATH: &str = "status.failureReason";
/// Path of the failure message.
pub const FAILURE_MESSAGE_PATH: &str = "status.failureMessage";
/// Path of the v1beta2 conditions holding `RemoteConnectionProbe` and `Available`.
pub const V1BETA2_CONDITIONS_PATH: &str = "status.v1beta2.conditions";
/// Condition type telling whether Cluster API could use the Cluster's kubeconfig.
pub const REMOTE_CONNECTION_PROBE: &str = "RemoteConnectionProbe";

/// A Cluster's health as reports count it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterHealth {
    /// `status.failureReason`, when set and non-empty.
    pub failed: Option<String>,
    /// `status.failureMessage`, when set and non-empty.
    pub failure_message: Option<String>,
    /// `RemoteConnectionProbe` status: `Some(true)` when True, `Some(false)` when False or Unknown, `None` when
    /// the condition is absent.
    pub kubeconfig_usable: Option<bool>,
    /// The `RemoteConnectionProbe` message (why the kubeconfig is unusable; never contains credentials).
    pub kubeconfig_message: Option<String>,
    /// `status.phase`.
    pub phase: Option<String>,
    /// v1beta2 `Available` condition: `Some(true)` when True.
    pub available: Option<bool>,
}

impl ClusterHealth {
    /// Cluster API could not use the kubeconfig: `RemoteConnectionProbe` is not True (absent counts).
    pub fn kubeconfig_unusable(&self) -> bool {
        self.kubeconfig_usable != Some(true)
    }
}

fn condition<'a>(cluster: &'a Value, type_: &str) -> Option<&'a Value> {
    cluster
        .pointer("/status/v1beta2/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Reads a `cluster.x-k8s.io/v1beta1` Cluster (JSON) into a [`ClusterHealth`].
pub fn cluster_health(cluster: &Value) -> ClusterHealth {
    let probe = condition(cluster, REMOTE_CONNECTION_PROBE);
    ClusterHealth {
        failed: text(cluster.pointer("/status/failureReason")),
        failure_message: text(cluster.pointer("/status/failureMessage")),
        kubeconfig_usable: probe.map(|c| c.get("status").and_then(Value::as_str) == Some("True")),
        kubeconfig_message: probe.and_then(|c| text(c.get("message"))),
        phase: text(cluster.pointer("/status/phase")),
        available: condition(cluster, "Available")
            .map(|c| c.get("status").and_then(Value::as_str) == Some("True")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_documented_paths() {
        let h = cluster_health(&json!({ "status": {
            "failureReason": "CreateError", "failureMessage": "boom", "phase": "Provisioned",
            "v1beta2": { "conditions": [
                { "type": "RemoteConnectionProbe", "status": "False", "reason": "ProbeFailed", "message": "expired" },
                { "type": "Available", "status": "False", "reason": "NotAvailable", "message": "" }
            ] } } }));
        assert_eq!(h.failed.as_deref(), Some("CreateError"));
        assert_eq!(h.kubeconfig_usable, Some(false));
        assert!(h.kubeconfig_unusable());
        assert_eq!(h.kubeconfig_message.as_deref(), Some("expired"));
        assert_eq!(h.available, Some(false));
        let h = cluster_health(&json!({ "status": { "failureReason": "" } }));
        assert_eq!(h.failed, None);
        assert!(
            h.kubeconfig_unusable(),
            "absent condition counts as unusable"
        );
    }
}
