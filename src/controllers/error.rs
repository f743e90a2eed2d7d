//! Errors of the controllers: failed IO, and decisions that refuse the object. Each has a class
//! (whether retrying can help) and a category (a label for metrics and spans). A dependency that
//! is not ready yet is not an error: see [`crate::reconcile::outcome::Reconciled::Waiting`].

use crate::reconcile::outcome::{ErrorCategory, ErrorClass};
use crate::reconcile::plan::{BlockKind, Blocked};

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
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
    /// The decision refused the spec (or the template it names) as written.
    #[error("{reason}: {message}")]
    InvalidSpec {
        reason: &'static str,
        message: String,
    },
    /// A dependency failed in a way retrying will not fix.
    #[error("{reason}: {message}")]
    DependencyFailed {
        reason: &'static str,
        message: String,
    },
}

impl ControllerError {
    pub fn api(action: impl Into<String>, source: kube::Error) -> Self {
        Self::Api {
            action: action.into(),
            source,
        }
    }

    /// The error of a decision that refused the object, or the block itself when it only waits.
    pub fn refused(b: Blocked) -> Result<Self, Blocked> {
        let (reason, message) = (b.reason, b.message);
        match b.kind {
            BlockKind::Waiting => Err(Blocked::waiting(reason, message)),
            BlockKind::InvalidSpec => Ok(Self::InvalidSpec { reason, message }),
            BlockKind::DependencyFailed => Ok(Self::DependencyFailed { reason, message }),
        }
    }

    /// A 409 Conflict: the object changed since it was read.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Api { source, .. } if status_code(source) == Some(409))
    }

    /// Whether retrying can help.
    pub fn class(&self) -> ErrorClass {
        match self {
            // Invalid requests will not get better by retrying the same request, but the spec
            // or a dependency may change, so they wait for the next event rather than spin.
            Self::Api { source, .. } => match status_code(source) {
                Some(400 | 422) => ErrorClass::Terminal,
                _ => ErrorClass::Transient,
            },
            Self::Encode { .. } | Self::InvalidSpec { .. } | Self::DependencyFailed { .. } => {
                ErrorClass::Terminal
            }
        }
    }
}

/// HTTP status of an API error, if it is one.
pub fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

impl ErrorCategory for ControllerError {
    fn category(&self) -> &'static str {
        match self {
            Self::Api { .. } if self.is_conflict() => "conflict",
            Self::Api { .. } => "api",
            Self::Encode { .. } => "encode",
            Self::InvalidSpec { .. } => "invalid-spec",
            Self::DependencyFailed { .. } => "dependency",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> ControllerError {
        ControllerError::api(
            "patch",
            kube::Error::Api(
                kube::core::Status::failure("x", "y")
                    .with_code(code)
                    .boxed(),
            ),
        )
    }

    #[test]
    fn class_and_category_table() {
        let refused = |kind| {
            ControllerError::refused(Blocked {
                kind,
                reason: "R",
                message: "m".into(),
            })
        };
        let table = [
            ("conflict", api(409), ErrorClass::Transient, "conflict"),
            ("server error", api(500), ErrorClass::Transient, "api"),
            ("bad request", api(400), ErrorClass::Terminal, "api"),
            ("unprocessable", api(422), ErrorClass::Terminal, "api"),
            (
                "invalid spec",
                refused(BlockKind::InvalidSpec).unwrap(),
                ErrorClass::Terminal,
                "invalid-spec",
            ),
            (
                "dependency failed",
                refused(BlockKind::DependencyFailed).unwrap(),
                ErrorClass::Terminal,
                "dependency",
            ),
        ];
        for (case, e, class, category) in table {
            assert_eq!((e.class(), e.category()), (class, category), "{case}");
        }
        assert!(refused(BlockKind::Waiting).is_err(), "waiting is no error");
    }
}
