//! Structural-schema handling for custom resources: defaulting, pruning and validation
//! (`x-kubernetes-validations` CEL rules are not evaluated).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::{Map, Value};

use super::status::Cause;

fn is_root_meta(root: bool, key: &str) -> bool {
    root && matches!(key, "apiVersion" | "kind" | "metadata")
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn preserve(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(|v| v.as_bool())
        == Some(true)
}

fn nullable(schema: &Value) -> bool {
    schema.get("nullable").and_then(|v| v.as_bool()) == Some(true)
}

/// Fills in `default`s, recursing into present objects and array items.
pub fn apply_defaults(schema: &Value, obj: &mut Value) {
    defaults_at(schema, obj, true);
}

fn defaults_at(schema: &Value, obj: &mut Value, root: bool) {
    match obj {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
                for (k, ps) in props {
                    if is_root_meta(root, k) {
                        continue;
                    }
                    if !map.contains_key(k) {
                        if let Some(d) = ps.get("default") {
                            map.insert(k.clone(), d.clone());
                        }
                    }
                    if let Some(v) = map.get_mut(k) {
                        defaults_at(ps, v, false);
                    }
                }
            } else if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for v in map.values_mut() {
                    defaults_at(ap, v, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = schema.get("items") {
                for v in items.iter_mut() {
                    defaults_at(is, v, false);
                }
            }
        }
        _ => {}
    }
}

/// Drops fields the schema does not know (unless `x-kubernetes-preserve-unknown-fields`) and
/// nulls of non-nullable fields.
pub fn prune(schema: &Value, obj: &mut Value) {
    prune_at(schema, obj, true);
}

fn prune_at(schema: &Value, obj: &mut Value, root: bool) {
    match obj {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(|p| p.as_object());
            let addl = schema.get("additionalProperties");
            let keep_unknown = preserve(schema)
                || addl.is_some_and(|a| a.as_bool() == Some(true) || a.is_object());
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if is_root_meta(root, &k) {
                    continue;
                }
                let sub = props
                    .and_then(|p| p.get(&k))
                    .or(addl.filter(|a| a.is_object()));
                match sub {
                    Some(ps) => {
                        if map.get(&k).is_some_and(|v| v.is_null()) && !nullable(ps) {
                            map.remove(&k);
                        } else if let Some(v) = map.get_mut(&k) {
                            prune_at(ps, v, false);
                        }
                    }
                    None => {
                        if !keep_unknown {
                            map.remove(&k);
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = schema.get("items") {
                for v in items.iter_mut() {
                    prune_at(is, v, false);
                }
            }
        }
        _ => {}
    }
}

fn regex(pattern: &str) -> Option<Regex> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    c.entry(pattern.to_string())
        .or_insert_with(|| Regex::new(pattern).ok())
        .clone()
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        _ => true,
    }
}

/// Validates an object against a structural schema, appending one cause per violation.
pub fn validate(schema: &Value, obj: &Value, causes: &mut Vec<Cause>) {
    validate_at(schema, obj, "", true, causes);
}

fn validate_at(schema: &Value, v: &Value, path: &str, root: bool, causes: &mut Vec<Cause>) {
    if v.is_null() {
        if !nullable(schema) && !root {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                path,
                format!(
                    "Invalid value: \"null\": {path} in body must be of type {}: \"null\"",
                    schema
                        .get("type")
                        .and_then(|t| t.as_str())
                        .unwrap_or("object")
                ),
            ));
        }
        return;
    }
    let int_or_string = schema
        .get("x-kubernetes-int-or-string")
        .and_then(|b| b.as_bool())
        == Some(true);
    if int_or_string {
        if !(v.is_string() || type_ok("integer", v)) {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                path,
                format!(
                    "Invalid value: {}: {path} in body must be of type integer,string: {}",
                    show(v),
                    show(v)
                ),
            ));
            return;
        }
    } else if let Some(t) = schema.get("type").and_then(|t| t.as_str()) {
        if !type_ok(t, v) {
            let actual = match v {
                Value::Object(_) => "object",
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Bool(_) => "boolean",
                Value::Number(n) if n.is_f64() => "number",
                Value::Number(_) => "integer",
                Value::Null => "null",
            };
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                path,
                format!(
                    "Invalid value: \"{actual}\": {path} in body must be of type {t}: \"{actual}\""
                ),
            ));
            return;
        }
    }
    if let Some(e) = schema.get("enum").and_then(|e| e.as_array()) {
        if !e.contains(v) {
            let allowed: Vec<String> = e.iter().map(show).collect();
            causes.push(Cause::new(
                "FieldValueNotSupported",
                path,
                format!(
                    "Unsupported value: {}: supported values: {}",
                    show(v),
                    allowed.join(", ")
                ),
            ));
        }
    }
    match v {
        Value::String(s) => {
            if let Some(p) = schema.get("pattern").and_then(|p| p.as_str()) {
                if let Some(re) = regex(p) {
                    if !re.is_match(s) {
                        causes.push(Cause::new(
                            "FieldValueInvalid",
                            path,
                            format!("Invalid value: \"{s}\": {path} in body should match '{p}'"),
                        ));
                    }
                }
            }
            let len = s.chars().count() as u64;
            if let Some(m) = schema.get("maxLength").and_then(|m| m.as_u64()) {
                if len > m {
                    causes.push(Cause::new(
                        "FieldValueTooLong",
                        path,
                        format!("Too long: may not be more than {m} bytes"),
                    ));
                }
            }
            if let Some(m) = schema.get("minLength").and_then(|m| m.as_u64()) {
                if len < m {
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        path,
                        format!("Invalid value: \"{s}\": {path} in body should be at least {m} chars long"),
                    ));
                }
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(m) = schema.get("minimum").and_then(|m| m.as_f64()) {
                let excl = schema.get("exclusiveMinimum").and_then(|b| b.as_bool()) == Some(true);
                if x < m || (excl && x == m) {
                    let rel = if excl {
                        "greater than"
                    } else {
                        "greater than or equal to"
                    };
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        path,
                        format!("Invalid value: {n}: {path} in body should be {rel} {m}"),
                    ));
                }
            }
            if let Some(m) = schema.get("maximum").and_then(|m| m.as_f64()) {
                let excl = schema.get("exclusiveMaximum").and_then(|b| b.as_bool()) == Some(true);
                if x > m || (excl && x == m) {
                    let rel = if excl {
                        "less than"
                    } else {
                        "less than or equal to"
                    };
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        path,
                        format!("Invalid value: {n}: {path} in body should be {rel} {m}"),
                    ));
                }
            }
        }
        Value::Array(items) => {
            let n = items.len() as u64;
            if let Some(m) = schema.get("maxItems").and_then(|m| m.as_u64()) {
                if n > m {
                    causes.push(Cause::new(
                        "FieldValueTooMany",
                        path,
                        format!("Too many: {n}: must have at most {m} items"),
                    ));
                }
            }
            if let Some(m) = schema.get("minItems").and_then(|m| m.as_u64()) {
                if n < m {
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        path,
                        format!(
                            "Invalid value: {n}: {path} in body should have at least {m} items"
                        ),
                    ));
                }
            }
            if let Some(is) = schema.get("items") {
                for (i, it) in items.iter().enumerate() {
                    validate_at(is, it, &format!("{path}[{i}]"), false, causes);
                }
            }
        }
        Value::Object(map) => validate_object(schema, map, path, root, causes),
        _ => {}
    }
}

fn validate_object(
    schema: &Value,
    map: &Map<String, Value>,
    path: &str,
    root: bool,
    causes: &mut Vec<Cause>,
) {
    if let Some(req) = schema.get("required").and_then(|r| r.as_array()) {
        for k in req.iter().filter_map(|k| k.as_str()) {
            if is_root_meta(root, k) {
                continue;
            }
            if !map.contains_key(k) {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    child(path, k),
                    "Required value",
                ));
            }
        }
    }
    let n = map.len() as u64;
    if let Some(m) = schema.get("maxProperties").and_then(|m| m.as_u64()) {
        if n > m {
            causes.push(Cause::new(
                "FieldValueTooMany",
                path,
                format!("Too many: {n}: must have at most {m} items"),
            ));
        }
    }
    if let Some(m) = schema.get("minProperties").and_then(|m| m.as_u64()) {
        if n < m {
            causes.push(Cause::new(
                "FieldValueInvalid",
                path,
                format!("Invalid value: {n}: {path} in body should have at least {m} properties"),
            ));
        }
    }
    let props = schema.get("properties").and_then(|p| p.as_object());
    let addl = schema.get("additionalProperties").filter(|a| a.is_object());
    for (k, v) in map {
        if is_root_meta(root, k) {
            continue;
        }
        if let Some(ps) = props.and_then(|p| p.get(k)).or(addl) {
            validate_at(ps, v, &child(path, k), false, causes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_prune_validate() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["region"], "properties": {
                "region": {"type": "string", "pattern": "^[a-z]+-[a-z]+-[0-9]$"},
                "size": {"type": "integer", "default": 3, "minimum": 1, "maximum": 5},
                "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
                "nested": {"type": "object", "default": {}, "properties": {"x": {"type": "string", "default": "y"}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }});
        let mut o = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "spec": {"region": "eu-west-1", "junk": 1, "free": {"k": 1}}});
        apply_defaults(&schema, &mut o);
        prune(&schema, &mut o);
        assert_eq!(o["spec"]["size"], 3);
        assert_eq!(o["spec"]["nested"]["x"], "y");
        assert!(o["spec"].get("junk").is_none());
        assert_eq!(o["spec"]["free"]["k"], 1);
        let mut c = Vec::new();
        validate(&schema, &o, &mut c);
        assert!(c.is_empty(), "{c:?}");
        let bad = json!({"spec": {"region": "nope", "size": 9, "mode": "c"}});
        validate(&schema, &bad, &mut c);
        assert_eq!(c.len(), 3, "{c:?}");
        let mut c = Vec::new();
        validate(&schema, &json!({"spec": {}}), &mut c);
        assert_eq!(c[0].field, "spec.region");
    }
}
