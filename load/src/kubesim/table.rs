//! Server-side printing: `meta.k8s.io/v1 Table` with printer columns.

use std::sync::Arc;

use serde_json::{Value, json};

use super::resources::{PrinterColumn, ResourceDef, Special};

/// Evaluates the JSONPath subset used by printer columns: `.a.b`, `.a[0].b`,
/// `.a[?(@.type=='Ready')].status`, `{.a.b}`.
pub fn json_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut cur = obj;
    let mut rest = path.trim_start_matches('.');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = r[end + 1..].trim_start_matches('.');
            let arr = cur.as_array()?;
            if let Some(f) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (k, v) = f.split_once("==")?;
                let v = v.trim().trim_matches('\'').trim_matches('"');
                cur = arr.iter().find(|e| {
                    json_path(e, k.trim()).is_some_and(|x| match x {
                        Value::String(s) => s == v,
                        other => serde_json::from_str::<Value>(v).ok().as_ref() == Some(other),
                    })
                })?;
            } else if inner == "*" {
                cur = arr.first()?;
            } else {
                cur = arr.get(inner.parse::<usize>().ok()?)?;
            }
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let key = &rest[..end];
        cur = cur.get(key)?;
        rest = rest[end..].trim_start_matches('.');
    }
    Some(cur)
}

fn age(ts: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    let (d, h, m, s) = (
        secs / 86400,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
    );
    if d > 0 {
        if d < 3 && h > 0 {
            format!("{d}d{h}h")
        } else {
            format!("{d}d")
        }
    } else if secs >= 3600 {
        if h < 3 && m > 0 {
            format!("{h}h{m}m")
        } else {
            format!("{h}h")
        }
    } else if secs >= 60 {
        if m < 10 && s > 0 {
            format!("{m}m{s}s")
        } else {
            format!("{m}m")
        }
    } else {
        format!("{s}s")
    }
}

fn cell(obj: &Value, c: &PrinterColumn) -> Value {
    let Some(v) = json_path(obj, &c.json_path) else {
        return Value::Null;
    };
    match (c.type_.as_str(), v) {
        ("date", Value::String(s)) => json!(age(s)),
        ("integer", Value::Number(_))
        | ("number", Value::Number(_))
        | ("boolean", Value::Bool(_)) => v.clone(),
        (_, Value::String(s)) => json!(s),
        (_, Value::Null) => Value::Null,
        (_, other) => json!(other.to_string()),
    }
}

fn col(name: &str, type_: &str, format: &str, description: &str, priority: i64) -> Value {
    json!({"name": name, "type": type_, "format": format, "description": description, "priority": priority})
}

type CellFn = fn(&Value) -> Value;

fn builtin_columns(def: &ResourceDef) -> Vec<(Value, CellFn)> {
    fn name(o: &Value) -> Value {
        o.pointer("/metadata/name").cloned().unwrap_or(Value::Null)
    }
    fn created(o: &Value) -> Value {
        json!(age(o
            .pointer("/metadata/creationTimestamp")
            .and_then(|v| v.as_str())
            .unwrap_or("")))
    }
    fn data_len(o: &Value) -> Value {
        let n = o
            .get("data")
            .and_then(|d| d.as_object())
            .map_or(0, |d| d.len())
            + o.get("binaryData")
                .and_then(|d| d.as_object())
                .map_or(0, |d| d.len());
        json!(n)
    }
    fn secret_type(o: &Value) -> Value {
        o.get("type").cloned().unwrap_or(json!("Opaque"))
    }
    fn phase(o: &Value) -> Value {
        o.pointer("/status/phase")
            .cloned()
            .unwrap_or(json!("Active"))
    }
    let name_col = col(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace.",
        0,
    );
    let age_col = col(
        "Age",
        "string",
        "",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
        0,
    );
    let mut out: Vec<(Value, CellFn)> = vec![(name_col, name)];
    match (def.special, def.key.plural.as_str()) {
        (Special::Secret, _) => {
            out.push((
                col("Type", "string", "", "The type of the secret", 0),
                secret_type,
            ));
            out.push((
                col("Data", "string", "", "The number of data items", 0),
                data_len,
            ));
        }
        (Special::Namespace, _) => {
            out.push((
                col("Status", "string", "", "The status of the namespace", 0),
                phase,
            ));
        }
        (_, "configmaps") => {
            out.push((
                col("Data", "string", "", "The number of data items", 0),
                data_len,
            ));
        }
        _ => {}
    }
    out.push((age_col, created));
    out
}

/// Renders objects as a Table. `include` is `None`, `Metadata` (default) or `Object`.
pub fn render(
    def: &ResourceDef,
    version: &str,
    objs: &[Arc<Value>],
    list_meta: Value,
    include: &str,
) -> Value {
    let row_object = |o: &Value| -> Value {
        match include {
            "None" => Value::Null,
            "Object" => o.clone(),
            _ => json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": o.get("metadata").cloned().unwrap_or(json!({})),
            }),
        }
    };
    let custom_cols = def
        .version(version)
        .map(|v| v.columns.clone())
        .unwrap_or_default();
    let (defs, rows): (Vec<Value>, Vec<Value>) = if def.custom {
        let mut cols = vec![col(
            "Name",
            "string",
            "name",
            "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated.",
            0,
        )];
        let printer: Vec<PrinterColumn> = if custom_cols.is_empty() {
            vec![PrinterColumn {
                name: "Age".into(),
                type_: "date".into(),
                format: String::new(),
                description: "Creation timestamp".into(),
                priority: 0,
                json_path: ".metadata.creationTimestamp".into(),
            }]
        } else {
            custom_cols
        };
        for c in &printer {
            cols.push(col(
                &c.name,
                &c.type_,
                &c.format,
                &c.description,
                c.priority,
            ));
        }
        let rows = objs
            .iter()
            .map(|o| {
                let mut cells = vec![o.pointer("/metadata/name").cloned().unwrap_or(Value::Null)];
                cells.extend(printer.iter().map(|c| cell(o, c)));
                json!({"cells": cells, "object": row_object(o)})
            })
            .collect();
        (cols, rows)
    } else {
        let cols = builtin_columns(def);
        let rows = objs
            .iter()
            .map(|o| {
                let cells: Vec<Value> = cols.iter().map(|(_, f)| f(o)).collect();
                json!({"cells": cells, "object": row_object(o)})
            })
            .collect();
        (cols.into_iter().map(|(c, _)| c).collect(), rows)
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": defs,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let o = json!({"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]}, "spec": {"n": [1, 2]}});
        assert_eq!(
            json_path(&o, ".status.conditions[?(@.type=='Ready')].status"),
            Some(&json!("True"))
        );
        assert_eq!(json_path(&o, ".spec.n[1]"), Some(&json!(2)));
        assert_eq!(json_path(&o, ".spec.missing"), None);
    }
}
