//! Conditions that turn False, as span events: a trace shows when and why an object stopped
//! being ready (or a check started failing) next to the reconcile that noticed it.

use opentelemetry::KeyValue;
use serde_json::Value;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A condition that is False now with a reason, and was not False with that reason before.
#[derive(Debug, PartialEq, Eq)]
pub struct TurnedFalse {
    pub type_: String,
    pub reason: String,
    pub message: String,
}

fn conditions(status: Option<&Value>) -> Vec<&Value> {
    status
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn field<'a>(c: &'a Value, key: &str) -> &'a str {
    c.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The conditions of `new` (a status as JSON) that turned False with a reason since `old`.
pub fn turned_false(old: Option<&Value>, new: Option<&Value>) -> Vec<TurnedFalse> {
    let before = conditions(old);
    conditions(new)
        .into_iter()
        .filter(|c| field(c, "status") == "False" && !field(c, "reason").is_empty())
        .filter(|c| {
            !before.iter().any(|b| {
                field(b, "type") == field(c, "type")
                    && field(b, "status") == "False"
                    && field(b, "reason") == field(c, "reason")
            })
        })
        .map(|c| TurnedFalse {
            type_: field(c, "type").to_string(),
            reason: field(c, "reason").to_string(),
            message: field(c, "message").to_string(),
        })
        .collect()
}

/// Adds a `condition False` event to the current span per condition that turned False between
/// two statuses as JSON (the status writer's, which has them already).
pub fn record(old: &Value, new: &Value) {
    let span = tracing::Span::current();
    if !super::otel::exporting() || span.is_disabled() {
        return;
    }
    for c in turned_false(Some(old), Some(new)) {
        span.add_event(
            "condition False",
            vec![
                KeyValue::new("capt.condition.type", c.type_),
                KeyValue::new("capt.condition.reason", c.reason),
                KeyValue::new("capt.condition.message", c.message),
            ],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn st(conds: &[(&str, &str, &str)]) -> Value {
        json!({"conditions": conds.iter().map(|(t, s, r)| json!({"type": t, "status": s, "reason": r, "message": "m"})).collect::<Vec<_>>()})
    }

    #[test]
    fn only_conditions_newly_false_with_a_reason() {
        let cases = [
            (
                "first status",
                None,
                st(&[("Ready", "False", "Creating")]),
                vec!["Ready/Creating"],
            ),
            (
                "unchanged",
                Some(st(&[("Ready", "False", "Creating")])),
                st(&[("Ready", "False", "Creating")]),
                vec![],
            ),
            (
                "new reason",
                Some(st(&[("Ready", "False", "Creating")])),
                st(&[("Ready", "False", "WorkspaceFailed")]),
                vec!["Ready/WorkspaceFailed"],
            ),
            (
                "was true",
                Some(st(&[("SecretsReady", "True", "Ready")])),
                st(&[
                    ("SecretsReady", "False", "SecretInvalid"),
                    ("Ready", "True", "Ready"),
                ]),
                vec!["SecretsReady/SecretInvalid"],
            ),
            ("no reason", None, st(&[("Ready", "False", "")]), vec![]),
            ("true", None, st(&[("Ready", "True", "Ready")]), vec![]),
        ];
        for (what, old, new, want) in cases {
            let got: Vec<String> = turned_false(old.as_ref(), Some(&new))
                .into_iter()
                .map(|c| format!("{}/{}", c.type_, c.reason))
                .collect();
            assert_eq!(got, want, "{what}");
        }
    }
}
