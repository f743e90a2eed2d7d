//! What Cluster API v1.11 reads from a referenced infrastructure cluster or control plane, per contract.
//!
//! | field | v1beta1 contract | v1beta2 contract |
//! |---|---|---|
//! | infrastructure provisioned | `status.ready` | `status.initialization.provisioned` |
//! | control plane initialized | `status.initialized` | `status.initialization.controlPlaneInitialized` |
//! | failure domains (infrastructure) | `status.failureDomains` map name → {controlPlane, attributes} | `status.failureDomains` list of {name, controlPlane, attributes} |
//! | endpoint | `spec.controlPlaneEndpoint` | `spec.controlPlaneEndpoint` |
//! | failure | `status.failureReason`, `status.failureMessage` | the same (still read) |
//! | v1beta1 condition mirrored | `status.conditions[Ready]` | `status.conditions[Ready]` |
//! | v1beta2 condition mirrored | infra `Ready`, control plane `Available`, from `status.v1beta2.conditions` if present, else `status.conditions` | same |
//!
//! A missing field reads as false / absent; a field of the wrong type is an error (the reconcile fails).

use kube::api::DynamicObject;
use serde_json::{Map, Value, json};

use super::cluster::Endpoint;
use super::conditions::{V1Condition, V2Condition};
use super::contract::Contract;

/// Which reference an object was read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Infrastructure,
    ControlPlane,
}

/// A field of the wrong type or an invalid condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {name}: {what}")]
pub(crate) struct FieldError {
    pub kind: String,
    pub name: String,
    pub what: String,
}

/// A referenced object as Cluster API reads it.
#[derive(Debug, Clone)]
pub(crate) struct External {
    /// `group/version, Kind=Kind`, as Cluster API prints a GroupVersionKind in failure messages.
    pub gvk: String,
    pub name: String,
    pub deleting: bool,
    /// Provisioned (infrastructure) or initialized (control plane).
    pub flag: Result<bool, FieldError>,
    /// `spec.controlPlaneEndpoint` when it is present.
    pub endpoint: Result<Option<Endpoint>, FieldError>,
    /// Failure domains as a sorted list of {name, controlPlane, attributes}, when present.
    pub failure_domains: Result<Option<Vec<Value>>, FieldError>,
    pub failure_reason: String,
    pub failure_message: String,
    pub v1_ready: Option<V1Condition>,
    /// The v1beta2 condition mirrored (`Ready` or `Available`); an error for an invalid one.
    pub v2_condition: Result<Option<V2Condition>, String>,
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

impl External {
    /// Reads `obj`, an object of `api_version`/`kind`, implementing `contract`.
    pub(crate) fn read(
        obj: &DynamicObject,
        (api_version, kind): (&str, &str),
        role: Role,
        contract: Contract,
    ) -> Self {
        let root = json!({ "spec": obj.data.get("spec"), "status": obj.data.get("status") });
        let kind = kind.to_string();
        let name = obj.metadata.name.clone().unwrap_or_default();
        let (group, version) = super::contract::split_api_version(api_version);
        let gvk = format!("{group}/{version}, Kind={kind}");
        let err = |what: String| FieldError {
            kind: kind.clone(),
            name: name.clone(),
            what,
        };
        let flag_path: &[&str] = match (role, contract) {
            (Role::Infrastructure, Contract::V1Beta1) => &["status", "ready"],
            (Role::Infrastructure, Contract::V1Beta2) => {
                &["status", "initialization", "provisioned"]
            }
            (Role::ControlPlane, Contract::V1Beta1) => &["status", "initialized"],
            (Role::ControlPlane, Contract::V1Beta2) => {
                &["status", "initialization", "controlPlaneInitialized"]
            }
        };
        let flag = match at(&root, flag_path) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(err(format!(".{} is not a boolean", flag_path.join(".")))),
        };
        let endpoint = match at(&root, &["spec", "controlPlaneEndpoint"]) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value::<Endpoint>(v.clone())
                .map(Some)
                .map_err(|e| err(format!(".spec.controlPlaneEndpoint: {e}"))),
        };
        let failure_domains = match role {
            Role::ControlPlane => Ok(None),
            Role::Infrastructure => {
                read_failure_domains(at(&root, &["status", "failureDomains"]), contract)
                    .map_err(err)
            }
        };
        let text = |k: &str| {
            at(&root, &["status", k])
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let v1_ready = at(&root, &["status", "conditions"])
            .and_then(Value::as_array)
            .and_then(|l| {
                l.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
            })
            .and_then(|c| serde_json::from_value::<V1Condition>(c.clone()).ok());
        let v2_type = match role {
            Role::Infrastructure => "Ready",
            Role::ControlPlane => "Available",
        };
        let v2_condition = v2_condition(&root, v2_type, &kind);
        Self {
            deleting: obj.metadata.deletion_timestamp.is_some(),
            flag,
            endpoint,
            failure_domains,
            failure_reason: text("failureReason"),
            failure_message: text("failureMessage"),
            v1_ready,
            v2_condition,
            gvk,
            name,
        }
    }
}

/// The v1beta2 condition `type_` from `status.v1beta2.conditions` if that list exists, else `status.conditions`.
fn v2_condition(root: &Value, type_: &str, kind: &str) -> Result<Option<V2Condition>, String> {
    let (list, path) =
        match at(root, &["status", "v1beta2", "conditions"]).and_then(Value::as_array) {
            Some(l) => (l, "status.v1beta2.conditions"),
            None => match at(root, &["status", "conditions"]).and_then(Value::as_array) {
                Some(l) => (l, "status.conditions"),
                None => return Ok(None),
            },
        };
    for c in list {
        let t = c.get("type").and_then(Value::as_str).unwrap_or_default();
        let status = c.get("status").and_then(Value::as_str).unwrap_or_default();
        if t.is_empty() {
            return Err(format!(
                "failed to convert {path} from {kind}: type must be set for all conditions"
            ));
        }
        if !matches!(status, "True" | "False" | "Unknown") {
            return Err(format!(
                "failed to convert {path} from {kind}: status for the {t} condition must be one of True, False, Unknown"
            ));
        }
        if t != type_ {
            continue;
        }
        let s = |k: &str| {
            c.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let reason = Some(s("reason"))
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "NoReasonReported".into());
        let mut out = V2Condition::new(type_, status, &reason, &s("message"));
        out.last_transition_time = s("lastTransitionTime");
        return Ok(Some(out));
    }
    Ok(None)
}

/// Failure domains in the v1beta2 shape, sorted by name (`controlPlane` defaults to false).
fn read_failure_domains(
    v: Option<&Value>,
    contract: Contract,
) -> Result<Option<Vec<Value>>, String> {
    let v = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let domain = |name: &str, d: &Value| -> Result<Value, String> {
        let d = d
            .as_object()
            .ok_or_else(|| format!("failure domain {name:?} is not an object"))?;
        let cp = match d.get("controlPlane") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(format!(
                    "failure domain {name:?}: controlPlane is not a boolean"
                ));
            }
        };
        let mut out = Map::new();
        out.insert("name".into(), json!(name));
        out.insert("controlPlane".into(), json!(cp));
        if let Some(a) = d.get("attributes").filter(|a| !a.is_null()) {
            out.insert("attributes".into(), a.clone());
        }
        Ok(Value::Object(out))
    };
    let mut list = match (contract, v) {
        (Contract::V1Beta1, Value::Object(m)) => m
            .iter()
            .map(|(k, d)| domain(k, d))
            .collect::<Result<Vec<_>, _>>()?,
        (Contract::V1Beta2, Value::Array(l)) => l
            .iter()
            .map(|d| {
                let name = d.get("name").and_then(Value::as_str).unwrap_or_default();
                domain(name, d)
            })
            .collect::<Result<Vec<_>, _>>()?,
        (Contract::V1Beta1, _) => {
            return Err(".status.failureDomains is not a map (v1beta1 contract)".into());
        }
        (Contract::V1Beta2, _) => {
            return Err(".status.failureDomains is not a list (v1beta2 contract)".into());
        }
    };
    list.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(Some(list))
}

/// The v1beta1 Cluster's `status.failureDomains` map for a v1beta2-shaped list.
pub(crate) fn failure_domains_map(list: &[Value]) -> Value {
    let mut m = Map::new();
    for d in list {
        let name = d["name"].as_str().unwrap_or_default().to_string();
        let mut spec = Map::new();
        spec.insert("controlPlane".into(), d["controlPlane"].clone());
        if let Some(a) = d.get("attributes") {
            spec.insert("attributes".into(), a.clone());
        }
        m.insert(name, Value::Object(spec));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(data: Value) -> DynamicObject {
        let mut v = data;
        v["metadata"] = json!({ "name": "x", "namespace": "ns" });
        serde_json::from_value(v).expect("object")
    }

    const INFRA: (&str, &str) = ("infrastructure.example.io/v1beta1", "ExampleCluster");
    const CP: (&str, &str) = ("controlplane.example.io/v1beta1", "ExampleControlPlane");

    #[test]
    fn reads_each_contract_at_its_own_paths() {
        let o = obj(
            json!({ "status": { "ready": true, "initialization": { "provisioned": false },
                    "failureDomains": { "b": { "controlPlane": true }, "a": {} } } }),
        );
        let e = External::read(&o, INFRA, Role::Infrastructure, Contract::V1Beta1);
        assert_eq!(e.flag, Ok(true));
        assert_eq!(
            e.gvk,
            "infrastructure.example.io/v1beta1, Kind=ExampleCluster"
        );
        let fd = e.failure_domains.expect("fd").expect("some");
        assert_eq!(fd[0], json!({ "name": "a", "controlPlane": false }));
        assert_eq!(fd[1], json!({ "name": "b", "controlPlane": true }));
        let e = External::read(&o, INFRA, Role::Infrastructure, Contract::V1Beta2);
        assert_eq!(e.flag, Ok(false));
        assert!(e.failure_domains.is_err(), "a map is not a v1beta2 list");

        let o = obj(json!({ "status": { "initialized": "yes",
                    "initialization": { "controlPlaneInitialized": true },
                    "conditions": [{ "type": "Available", "status": "True" }] } }));
        assert!(
            External::read(&o, CP, Role::ControlPlane, Contract::V1Beta1)
                .flag
                .is_err()
        );
        let e = External::read(&o, CP, Role::ControlPlane, Contract::V1Beta2);
        assert_eq!(e.flag, Ok(true));
        let c = e.v2_condition.expect("valid").expect("present");
        assert_eq!(c.reason, "NoReasonReported");
    }

    #[test]
    fn invalid_v2_condition_is_reported() {
        let o = obj(
            json!({ "status": { "v1beta2": { "conditions": [{ "type": "Available", "status": "yes" }] } } }),
        );
        let e = External::read(&o, CP, Role::ControlPlane, Contract::V1Beta1);
        assert!(e.v2_condition.is_err());
    }
}
