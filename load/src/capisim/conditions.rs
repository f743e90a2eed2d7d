//! Cluster API condition shapes: the deprecated v1beta1 conditions (`status.conditions`, with severity) and
//! the v1beta2 conditions (`status.v1beta2.conditions`, `metav1.Condition`), and how a condition is set: the
//! transition time only moves when the status changes.

use serde::{Deserialize, Serialize};

/// A v1beta1 Cluster API condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct V1Condition {
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

impl V1Condition {
    pub(crate) fn truthy(type_: &str) -> Self {
        Self {
            type_: type_.into(),
            status: "True".into(),
            severity: String::new(),
            last_transition_time: String::new(),
            reason: String::new(),
            message: String::new(),
        }
    }

    /// A False condition with severity Info.
    pub(crate) fn info(type_: &str, reason: &str, message: &str) -> Self {
        Self {
            type_: type_.into(),
            status: "False".into(),
            severity: "Info".into(),
            last_transition_time: String::new(),
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// Severity rank for summaries: False/Error > False/Warning > False/Info > Unknown > True.
    fn rank(&self) -> u8 {
        match (self.status.as_str(), self.severity.as_str()) {
            ("False", "Error") => 4,
            ("False", "Warning") => 3,
            ("False", _) => 2,
            ("True", _) => 0,
            _ => 1,
        }
    }
}

/// A v1beta2 (`metav1.Condition`) condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct V2Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub observed_generation: i64,
    #[serde(default)]
    pub last_transition_time: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl V2Condition {
    pub(crate) fn new(type_: &str, status: &str, reason: &str, message: &str) -> Self {
        Self {
            type_: type_.into(),
            status: status.into(),
            observed_generation: 0,
            last_transition_time: String::new(),
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// Conditions of both generations with Cluster API's set semantics.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConditionSet {
    pub v1: Vec<V1Condition>,
    pub v2: Vec<V2Condition>,
    pub now: String,
    pub generation: i64,
}

impl ConditionSet {
    /// Writes the v1beta2 conditions into `status.v1beta2.conditions`, keeping the other `v1beta2` fields.
    pub(crate) fn put_v1beta2(&self, status: &mut serde_json::Map<String, serde_json::Value>) {
        let mut v1beta2 = status
            .get("v1beta2")
            .and_then(serde_json::Value::as_object)
            .cloned()
            .unwrap_or_default();
        v1beta2.insert(
            "conditions".into(),
            serde_json::to_value(&self.v2).unwrap_or_default(),
        );
        status.insert("v1beta2".into(), serde_json::Value::Object(v1beta2));
    }

    /// Sets a v1beta1 condition, keeping its transition time while the status holds.
    pub(crate) fn set_v1(&mut self, mut c: V1Condition) {
        match self.v1.iter_mut().find(|x| x.type_ == c.type_) {
            Some(old) => {
                c.last_transition_time =
                    if old.status == c.status && !old.last_transition_time.is_empty() {
                        old.last_transition_time.clone()
                    } else {
                        self.now.clone()
                    };
                *old = c;
            }
            None => {
                c.last_transition_time = self.now.clone();
                self.v1.push(c);
            }
        }
    }

    pub(crate) fn get_v1(&self, type_: &str) -> Option<&V1Condition> {
        self.v1.iter().find(|x| x.type_ == type_)
    }

    /// Sets a v1beta2 condition (observedGeneration = the Cluster's generation); the transition time is kept
    /// while the status holds, else taken from `c` (a mirrored source) or now.
    pub(crate) fn set_v2(&mut self, mut c: V2Condition) {
        c.observed_generation = self.generation;
        let fresh = if c.last_transition_time.is_empty() {
            self.now.clone()
        } else {
            c.last_transition_time.clone()
        };
        match self.v2.iter_mut().find(|x| x.type_ == c.type_) {
            Some(old) => {
                c.last_transition_time =
                    if old.status == c.status && !old.last_transition_time.is_empty() {
                        old.last_transition_time.clone()
                    } else {
                        fresh
                    };
                *old = c;
            }
            None => {
                c.last_transition_time = fresh;
                self.v2.push(c);
            }
        }
    }

    pub(crate) fn get_v2(&self, type_: &str) -> Option<&V2Condition> {
        self.v2.iter().find(|x| x.type_ == type_)
    }

    pub(crate) fn v2_is_true(&self, type_: &str) -> bool {
        self.get_v2(type_).is_some_and(|c| c.status == "True")
    }

    pub(crate) fn v1_is_true(&self, type_: &str) -> bool {
        self.get_v1(type_).is_some_and(|c| c.status == "True")
    }

    /// v1beta1 `Ready` summarising `types`: True when all are True, else a copy of the worst one.
    pub(crate) fn set_v1_summary(&mut self, types: &[&str]) {
        // The first condition of the worst rank, in `types` order.
        let worst = types
            .iter()
            .filter_map(|t| self.get_v1(t))
            .fold(None::<&V1Condition>, |w, c| match w {
                Some(w) if w.rank() >= c.rank() => Some(w),
                _ => Some(c),
            })
            .cloned();
        let ready = match worst {
            Some(w) if w.rank() > 0 => V1Condition {
                type_: "Ready".into(),
                ..w
            },
            _ => V1Condition::truthy("Ready"),
        };
        self.set_v1(ready);
    }

    /// Sorted as Cluster API lists them: `Ready` / `Available` first, then by type.
    pub(crate) fn sort(&mut self) {
        let rank = |t: &str| u8::from(!matches!(t, "Ready" | "Available"));
        self.v1
            .sort_by(|a, b| (rank(&a.type_), &a.type_).cmp(&(rank(&b.type_), &b.type_)));
        self.v2
            .sort_by(|a, b| (rank(&a.type_), &a.type_).cmp(&(rank(&b.type_), &b.type_)));
    }
}
