//! Errors of the controllers, each with its class.

use crate::actors::{Classify, ErrorClass};
use crate::reconcile::plan::Blocked;

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The decision did not reach the desired state (waiting, terminal, or transient).
    #[error(transparent)]
    Blocked(#[from] Blocked),
    /// An API call failed.
    #[error("{action}: {source}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error("encoding {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl ControllerError {
    pub fn api(action: impl Into<String>, source: kube::Error) -> Self {
        Self::Api {
            action: action.into(),
            source,
        }
    }

    /// A 409 Conflict: the object changed since it was read.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Api { source, .. } if status_code(source) == Some(409))
    }
}

/// HTTP status of an API error, if it is one.
pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

impl Classify for ControllerError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Blocked(b) => b.class(),
            // Invalid requests will not get better by retrying the same request, but the spec
            // or a dependency may change, so they wait for the next event rather than spin.
            Self::Api { source, .. } => match status_code(source) {
                Some(400 | 422) => ErrorClass::Terminal,
                _ => ErrorClass::Transient,
            },
            Self::Encode { .. } => ErrorClass::Terminal,
        }
    }
}
