//! JSON comparisons for writers: equality that ignores condition timestamps, and the JSON merge
//! patch that turns an observed document into a desired one.

use serde_json::{Map, Value};

/// `value` with every `lastTransitionTime` inside a `conditions` array removed.
pub fn without_transition_times(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = if k == "conditions" {
                        strip_conditions(v)
                    } else {
                        without_transition_times(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_transition_times).collect()),
        other => other.clone(),
    }
}

fn strip_conditions(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|c| match c {
                    Value::Object(m) => {
                        let mut m = m.clone();
                        m.remove("lastTransitionTime");
                        Value::Object(m)
                    }
                    other => other.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// True when `a` and `b` differ in more than condition transition times.
pub fn differs(a: &Value, b: &Value) -> bool {
    without_transition_times(a) != without_transition_times(b)
}

/// The JSON merge patch (RFC 7386) that turns `old` into `new`; `None` when they are equal.
pub fn merge_patch(old: &Value, new: &Value) -> Option<Value> {
    if old == new {
        return None;
    }
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(p) = merge_patch(ov, nv) {
                            patch.insert(k.clone(), p);
                        }
                    }
                    None => {
                        patch.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        // Nulls inside `new` would read as deletions in a merge patch; objects are written whole.
        _ => Some(new.clone()),
    }
}

/// Moves a status that observed generation `from` to `to` (the top-level `observedGeneration` and
/// each condition's): for a status decided from a spec that capt itself then changed in the same
/// reconcile, whose echo would otherwise need a status write of its own.
pub fn advance_observed_generation(status: &mut Value, from: i64, to: i64) {
    let bump = |v: &mut Value| {
        if v.as_i64() == Some(from) {
            *v = Value::from(to);
        }
    };
    if let Some(g) = status.get_mut("observedGeneration") {
        bump(g);
    }
    if let Some(conds) = status.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in conds {
            if let Some(g) = c.get_mut("observedGeneration") {
                bump(g);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(target: &mut Value, patch: &Value) {
        if let Value::Object(p) = patch {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    apply(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        } else {
            *target = patch.clone();
        }
    }

    #[test]
    fn patch_round_trips() {
        let cases = [
            (
                json!({"a": 1, "b": {"c": 2, "d": 3}}),
                json!({"a": 1, "b": {"c": 5}}),
            ),
            (
                json!({}),
                json!({"ready": true, "conditions": [{"type": "Ready"}]}),
            ),
            (json!({"x": [1, 2]}), json!({"x": [2]})),
            (json!({"x": {"y": 1}}), json!({"x": "s"})),
        ];
        for (old, new) in cases {
            let p = merge_patch(&old, &new).expect("differs");
            let mut t = old.clone();
            apply(&mut t, &p);
            assert_eq!(t, new, "patch {p}");
        }
        assert_eq!(merge_patch(&json!({"a": 1}), &json!({"a": 1})), None);
    }

    #[test]
    fn condition_timestamps_do_not_count_as_differences() {
        let a = json!({"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
        let b = json!({"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-02-01T00:00:00Z"}]});
        let c = json!({"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "2026-02-01T00:00:00Z"}]});
        assert!(!differs(&a, &b));
        assert!(differs(&a, &c));
    }
}
