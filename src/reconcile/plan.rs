//! What a decision asks for: writes, Events, timers and the next wake-up. Pure data; the actor
//! edge (`crate::controllers`) executes it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::api::kinds::Kind;

use crate::reconcile::outcome::{Action, TimerCmd};
use crate::reconcile::outcome::{EventSpec, EventType};

/// A child object capt creates or updates, as JSON (`apiVersion`, `kind`, `metadata`, `spec`…).
#[derive(Clone, Debug, PartialEq)]
pub struct Child {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    /// `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    pub name: String,
    pub body: Value,
}

/// One write.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Add a finalizer to the reconciled object.
    AddFinalizer(&'static str),
    /// Remove a finalizer from the reconciled object.
    RemoveFinalizer(&'static str),
    /// JSON merge patch on the reconciled object (metadata/spec; never status).
    Patch(Value),
    /// Create a child.
    Create(Child),
    /// JSON merge patch on an existing child (`body` is the patch).
    PatchChild(Child),
    /// Delete a child (background propagation).
    Delete {
        api_version: &'static str,
        kind: &'static str,
        plural: &'static str,
        namespace: Option<String>,
        name: String,
    },
    /// Create or replace a Secret's data, labels, type and owner (`<cluster>-kubeconfig`, `<cluster>-ca`).
    /// The data never appears in logs: `Debug` of the plan prints only keys.
    WriteSecret(SecretWrite),
}

/// A Secret capt owns.
#[derive(Clone, PartialEq)]
pub struct SecretWrite {
    pub namespace: String,
    pub name: String,
    pub type_: &'static str,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub owner: Value,
    pub data: BTreeMap<String, Vec<u8>>,
    /// The secret exists already (update instead of create).
    pub exists: bool,
}

impl std::fmt::Debug for SecretWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretWrite")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("type", &self.type_)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .field("exists", &self.exists)
            .finish()
    }
}

/// Why a decision did not reach the desired state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct Blocked {
    pub kind: BlockKind,
    pub reason: &'static str,
    pub message: String,
}

/// What kind of obstacle a [`Blocked`] decision met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockKind {
    /// A dependency is not ready yet: an event or a timer brings the object back. Not an error.
    Waiting,
    /// The spec (or the template it names) cannot work as written; nothing is retried until the
    /// spec changes.
    InvalidSpec,
    /// A dependency failed in a way retrying will not fix (terraform's non-retryable error);
    /// nothing is retried until the spec changes.
    DependencyFailed,
}

impl Blocked {
    pub fn waiting(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(BlockKind::Waiting, reason, message)
    }
    pub fn invalid_spec(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(BlockKind::InvalidSpec, reason, message)
    }
    pub fn dependency_failed(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(BlockKind::DependencyFailed, reason, message)
    }
    fn new(kind: BlockKind, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            reason,
            message: message.into(),
        }
    }
}

/// The outcome of one decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan<S> {
    /// Intended status (written only if it differs from the observed one).
    pub status: Option<S>,
    pub ops: Vec<Op>,
    pub events: Vec<EventSpec>,
    pub action: Action,
    /// Set when the desired state was not reached; its kind decides what the reconcile returns.
    pub blocked: Option<Blocked>,
    /// Watched objects this decision waits for: their next event wakes the object again.
    pub waits: Vec<Wait>,
}

/// A watched object a decision waits for (to appear, or to change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    pub kind: Kind,
    /// Empty for cluster-scoped kinds.
    pub namespace: String,
    pub name: String,
}

impl<S> Default for Plan<S> {
    fn default() -> Self {
        Self {
            status: None,
            ops: Vec::new(),
            events: Vec::new(),
            action: Action::default(),
            blocked: None,
            waits: Vec::new(),
        }
    }
}

impl<S> Plan<S> {
    /// Wake this object on the next event of `kind namespace/name`.
    pub fn wait_for(&mut self, kind: Kind, namespace: &str, name: &str) -> &mut Self {
        self.waits.push(Wait {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        });
        self
    }

    pub fn op(&mut self, op: Op) -> &mut Self {
        self.ops.push(op);
        self
    }

    pub fn normal(&mut self, reason: &str, message: impl Into<String>) -> &mut Self {
        self.events.push(EventSpec {
            type_: EventType::Normal,
            reason: reason.into(),
            message: message.into(),
        });
        self
    }

    pub fn warning(&mut self, reason: &str, message: impl Into<String>) -> &mut Self {
        self.events.push(EventSpec {
            type_: EventType::Warning,
            reason: reason.into(),
            message: message.into(),
        });
        self
    }

    pub fn requeue(&mut self, after: Duration) -> &mut Self {
        self.action = std::mem::take(&mut self.action).merge(Action::requeue(after));
        self
    }

    pub fn timer(&mut self, cmd: TimerCmd) -> &mut Self {
        self.action.timers.push(cmd);
        self
    }

    pub fn block(&mut self, b: Blocked) -> &mut Self {
        self.blocked = Some(b);
        self
    }
}

/// Arm `name` to fire at `deadline` seen from `now`, or right away when it passed.
pub fn deadline_timer(
    name: &'static str,
    now: k8s_openapi::jiff::Timestamp,
    deadline: k8s_openapi::jiff::Timestamp,
) -> TimerCmd {
    let left = deadline.duration_since(now);
    let after = Duration::try_from(left).unwrap_or(Duration::ZERO);
    TimerCmd::Arm {
        name,
        after: after + Duration::from_millis(50),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::{Timestamp, ToSpan};

    #[test]
    fn secret_writes_never_print_data() {
        let w = SecretWrite {
            namespace: "ns".into(),
            name: "c-kubeconfig".into(),
            type_: "cluster.x-k8s.io/secret",
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            owner: Value::Null,
            data: [("value".to_string(), b"token: s3cr3t".to_vec())].into(),
            exists: false,
        };
        let s = format!("{:?}", Op::WriteSecret(w));
        assert!(s.contains("value"));
        assert!(!s.contains("s3cr3t"));
    }

    #[test]
    fn deadline_timers_fire_at_the_deadline_or_now() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let later = now + 90.seconds();
        assert_eq!(
            deadline_timer("t", now, later),
            TimerCmd::Arm {
                name: "t",
                after: Duration::from_millis(90_050)
            }
        );
        assert_eq!(
            deadline_timer("t", later, now),
            TimerCmd::Arm {
                name: "t",
                after: Duration::from_millis(50)
            }
        );
    }

    #[test]
    fn requeue_keeps_the_earliest() {
        let mut p: Plan<()> = Plan::default();
        p.requeue(Duration::from_secs(10))
            .requeue(Duration::from_secs(3));
        assert_eq!(p.action.requeue_after, Some(Duration::from_secs(3)));
    }
}
