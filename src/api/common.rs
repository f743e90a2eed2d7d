//! Shared API pieces: references, conditions, endpoints, failure domains, template metadata.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::names;

/// Reference to a WorkspaceTemplate. An empty namespace means "the referrer's namespace".
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct TemplateRef {
    /// Name of the WorkspaceTemplate.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the WorkspaceTemplate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
}

impl TemplateRef {
    pub fn new(name: impl Into<String>, namespace: Option<String>) -> Self {
        Self {
            name: name.into(),
            namespace,
        }
    }

    /// Namespace of the reference, defaulting to `referrer_namespace` when unset or empty.
    pub fn namespace_or<'a>(&'a self, referrer_namespace: &'a str) -> &'a str {
        match self.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => ns,
            _ => referrer_namespace,
        }
    }
}

/// Reference to a Workspace (cluster-scoped: the namespace is informational).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct WorkspaceRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Name and namespace, both required (secret references, node group references).
#[derive(
    Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
pub struct NamespacedName {
    pub name: String,
    pub namespace: String,
}

impl NamespacedName {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
        }
    }
}

/// A reference to a Secret.
pub type SecretRef = NamespacedName;

/// Host and port of an API server (CAPI `APIEndpoint`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ApiEndpoint {
    /// Hostname, without scheme.
    pub host: String,
    pub port: i32,
}

impl ApiEndpoint {
    pub fn is_zero(&self) -> bool {
        self.host.is_empty() && self.port == 0
    }
}

impl std::fmt::Display for ApiEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// One failure domain (CAPI `FailureDomainSpec`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailureDomainSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// Failure domains by name (CAPI `FailureDomains`).
pub type FailureDomains = BTreeMap<String, FailureDomainSpec>;

/// Embedded object metadata of templates.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct TemplateMeta {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
}

/// Status of the template kinds (CaptControlPlaneTemplate, CAPTClusterTemplate).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A metav1-style condition.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 316))]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    #[schemars(extend("enum" = ["True", "False", "Unknown"]))]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// CamelCase reason.
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub reason: String,
    #[serde(default)]
    #[schemars(length(max = 32768))]
    pub message: String,
}

impl Condition {
    /// A condition with status `True`/`False` from a bool.
    pub fn new(type_: &str, status: bool, reason: &str, message: impl Into<String>) -> Self {
        Self {
            type_: type_.to_string(),
            status: if status {
                names::status::TRUE
            } else {
                names::status::FALSE
            }
            .to_string(),
            observed_generation: None,
            last_transition_time: None,
            reason: reason.to_string(),
            message: message.into(),
        }
    }

    pub fn with_observed_generation(mut self, generation: Option<i64>) -> Self {
        self.observed_generation = generation;
        self
    }

    pub fn is_true(&self) -> bool {
        self.status == names::status::TRUE
    }

    /// Same type, status, reason, message and observed generation (timestamps ignored).
    pub fn same_state(&self, other: &Condition) -> bool {
        self.type_ == other.type_
            && self.status == other.status
            && self.reason == other.reason
            && self.message == other.message
            && self.observed_generation == other.observed_generation
    }
}

/// Insert or replace the condition of `new.type_`.
///
/// `lastTransitionTime` is kept from the existing condition when the status did not change, and set to
/// `now` otherwise (or when `new` carries none and there was no previous condition). Returns whether
/// anything other than timestamps changed.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition, now: Time) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            let changed = !existing.same_state(&new);
            if existing.status == new.status {
                new.last_transition_time = existing.last_transition_time.clone().or(Some(now));
            } else {
                new.last_transition_time = Some(now);
            }
            *existing = new;
            changed
        }
        None => {
            new.last_transition_time = Some(now);
            conditions.push(new);
            true
        }
    }
}

/// Find a condition by type.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Remove a condition by type; returns whether one was removed.
pub fn remove_condition(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    before != conditions.len()
}

/// A Crossplane condition (as found on Workspaces and mirrored onto WorkspaceTemplateApply status).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossplaneCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl CrossplaneCondition {
    pub fn is_true(&self) -> bool {
        self.status == names::status::TRUE
    }
}

/// Find a Crossplane condition by type.
pub fn find_crossplane_condition<'a>(
    conditions: &'a [CrossplaneCondition],
    type_: &str,
) -> Option<&'a CrossplaneCondition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the Crossplane condition of `type_` exists with status `True`.
pub fn crossplane_condition_true(conditions: &[CrossplaneCondition], type_: &str) -> bool {
    find_crossplane_condition(conditions, type_).is_some_and(CrossplaneCondition::is_true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH))
    }

    #[test]
    fn set_condition_inserts_with_now() {
        let mut conds = Vec::new();
        let changed = set_condition(
            &mut conds,
            Condition::new("Ready", false, "Creating", "x"),
            at(10),
        );
        assert!(changed);
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].last_transition_time, Some(at(10)));
    }

    #[test]
    fn set_condition_keeps_time_when_status_unchanged() {
        let mut conds = Vec::new();
        set_condition(
            &mut conds,
            Condition::new("Ready", false, "Creating", "a"),
            at(10),
        );
        let changed = set_condition(
            &mut conds,
            Condition::new("Ready", false, "WorkspaceError", "b"),
            at(20),
        );
        assert!(changed);
        assert_eq!(conds[0].reason, "WorkspaceError");
        assert_eq!(conds[0].last_transition_time, Some(at(10)));
        let unchanged = set_condition(
            &mut conds,
            Condition::new("Ready", false, "WorkspaceError", "b"),
            at(30),
        );
        assert!(!unchanged);
        assert_eq!(conds[0].last_transition_time, Some(at(10)));
    }

    #[test]
    fn set_condition_moves_time_when_status_flips() {
        let mut conds = vec![Condition::new("Other", true, "X", "")];
        set_condition(
            &mut conds,
            Condition::new("Ready", false, "Creating", ""),
            at(10),
        );
        set_condition(
            &mut conds,
            Condition::new("Ready", true, "Ready", ""),
            at(20),
        );
        assert_eq!(conds.len(), 2);
        let ready = find_condition(&conds, "Ready").expect("ready condition");
        assert!(ready.is_true());
        assert_eq!(ready.last_transition_time, Some(at(20)));
        assert!(remove_condition(&mut conds, "Other"));
        assert!(!remove_condition(&mut conds, "Other"));
    }

    #[test]
    fn template_ref_namespace_defaults_to_referrer() {
        let r = TemplateRef::new("vpc", None);
        assert_eq!(r.namespace_or("ns1"), "ns1");
        let r = TemplateRef::new("vpc", Some(String::new()));
        assert_eq!(r.namespace_or("ns1"), "ns1");
        let r = TemplateRef::new("vpc", Some("default".into()));
        assert_eq!(r.namespace_or("ns1"), "default");
    }

    #[test]
    fn endpoint_display() {
        let e = ApiEndpoint {
            host: "abc.eks.amazonaws.com".into(),
            port: 443,
        };
        assert_eq!(e.to_string(), "abc.eks.amazonaws.com:443");
        assert!(ApiEndpoint::default().is_zero());
    }
}
