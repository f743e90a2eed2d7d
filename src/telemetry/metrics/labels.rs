//! Label sets and label values of the capt metrics.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use std::fmt::Write as _;

/// Outcome of one reconcile, as controller-runtime labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReconcileResult {
    /// Done; nothing scheduled.
    Success,
    /// Failed; retried with backoff.
    Error,
    /// Asked to run again right away.
    Requeue,
    /// Asked to run again at a given time.
    RequeueAfter,
}

impl ReconcileResult {
    /// Every result, for series created at 0.
    pub const ALL: [ReconcileResult; 4] = [
        Self::Success,
        Self::Error,
        Self::Requeue,
        Self::RequeueAfter,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Requeue => "requeue",
            Self::RequeueAfter => "requeue_after",
        }
    }
}

impl EncodeLabelValue for ReconcileResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// Which limiter held a request back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateLimitScope {
    /// The client-wide QPS/burst limiter.
    Client,
    /// A per-object limiter.
    Object,
}

impl RateLimitScope {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Object => "object",
        }
    }
}

impl EncodeLabelValue for RateLimitScope {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// `{controller}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ControllerLabels {
    /// Controller name, e.g. `captcontrolplane`.
    pub controller: String,
}

/// `{controller, result}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReconcileLabels {
    /// Controller name.
    pub controller: String,
    /// Reconcile outcome.
    pub result: ReconcileResult,
}

/// `{name}` of a work queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct QueueLabels {
    /// Queue name (the controller name).
    pub name: String,
}

/// `{kind}` of an actor or object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct KindLabels {
    /// Kind, e.g. `CAPTCluster`.
    pub kind: String,
}

/// `{verb, resource, code}` of an API request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ApiRequestLabels {
    /// `get`, `list`, `watch`, `create`, `patch`, `update`, `delete`.
    pub verb: String,
    /// Plural resource, e.g. `workspaces`.
    pub resource: String,
    /// HTTP status code, `0` when no response arrived.
    pub code: String,
}

/// `{scope}` of a rate limiter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ScopeLabels {
    /// Limiter scope.
    pub scope: RateLimitScope,
}

/// `{kind, type, reason}` of an emitted Event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EventLabels {
    /// Kind of the regarding object.
    pub kind: String,
    /// `Normal` or `Warning`.
    pub r#type: String,
    /// Event reason.
    pub reason: String,
}

/// `{result, reason}` of a secret sync.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SecretSyncLabels {
    /// Outcome, e.g. `synced`, `unchanged`, `waiting`, `error`.
    pub result: String,
    /// Why, e.g. a condition reason.
    pub reason: String,
}

/// `{controller, class, category}` of a failed reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReconcileErrorLabels {
    /// Controller name.
    pub controller: String,
    /// `transient` or `terminal`.
    pub class: String,
    /// What failed: `api`, `conflict`, `encode`, `invalid-spec`, `dependency`.
    pub category: String,
}
