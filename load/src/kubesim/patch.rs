//! Patch application: JSON merge patch, JSON patch, strategic merge patch (reduced, for
//! built-in types) and the merge step of server-side apply.

use serde_json::{Map, Value};

use super::status::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// RFC 7386 merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// RFC 6902 JSON patch.
pub fn json_patch(target: &mut Value, patch: &Value) -> ApiResult<()> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    json_patch::patch(target, &ops.0).map_err(|e| {
        ApiError::new(
            422,
            "Invalid",
            format!("the server rejected our request due to an error in our request: {e}"),
        )
    })
}

const MERGE_KEYS: &[&str] = &["name", "uid", "type", "key", "mountPath", "containerPort"];

fn merge_key(items: &[Value]) -> Option<&'static str> {
    if items.is_empty() || !items.iter().all(|i| i.is_object()) {
        return None;
    }
    MERGE_KEYS.iter().copied().find(|k| {
        items
            .iter()
            .all(|i| i.get(*k).is_some() || i.get("$patch").is_some())
    })
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Strategic merge patch with the list semantics of the common built-in fields: lists of
/// objects merge by `name`/`uid`/`type`/`key`, `finalizers` merge as a set, other lists are
/// replaced. Supports `$patch: replace|delete`, `$deleteFromPrimitiveList/…`, and ignores
/// `$setElementOrder/…` and `$retainKeys`.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(pm) = patch else {
        *target = strip_directives(patch);
        return;
    };
    if pm.get("$patch").and_then(|v| v.as_str()) == Some("replace") {
        *target = strip_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(tm) = target else {
        return;
    };
    for (k, v) in pm {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(del)) = (tm.get_mut(field), v) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        match v {
            Value::Null => {
                tm.remove(k);
            }
            Value::Object(o) if o.get("$patch").and_then(|p| p.as_str()) == Some("delete") => {
                tm.remove(k);
            }
            Value::Object(_) => {
                let t = tm.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(t, v);
            }
            Value::Array(items) => match tm.get_mut(k) {
                Some(Value::Array(existing)) => merge_list(k, existing, items),
                _ => {
                    tm.insert(k.clone(), strip_directives(v));
                }
            },
            other => {
                tm.insert(k.clone(), other.clone());
            }
        }
    }
}

fn merge_list(field: &str, existing: &mut Vec<Value>, items: &[Value]) {
    if field == "finalizers" {
        for i in items {
            if !existing.contains(i) {
                existing.push(i.clone());
            }
        }
        return;
    }
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(|p| p.as_str()) == Some("replace"))
    {
        *existing = items
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .map(strip_directives)
            .collect();
        return;
    }
    let Some(key) = merge_key(items) else {
        *existing = items.iter().map(strip_directives).collect();
        return;
    };
    for item in items {
        let Some(kv) = item.get(key) else { continue };
        let pos = existing.iter().position(|e| e.get(key) == Some(kv));
        let delete = item.get("$patch").and_then(|p| p.as_str()) == Some("delete");
        match (pos, delete) {
            (Some(p), true) => {
                existing.remove(p);
            }
            (Some(p), false) => strategic_merge(&mut existing[p], item),
            (None, true) => {}
            (None, false) => existing.push(strip_directives(item)),
        }
    }
}

fn sub_schema<'a>(schema: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    let s = schema?;
    s.get("properties")
        .and_then(|p| p.get(key))
        .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
}

/// Merges an applied configuration into the live object (server-side apply, reduced model):
/// maps merge recursively; lists follow `x-kubernetes-list-type` (`map` merges by
/// `x-kubernetes-list-map-keys`, `set` unions, otherwise atomic replace); without a schema,
/// lists of objects merge by their `name`/`uid`/`type` key and `finalizers` as a set.
pub fn apply_merge(target: &mut Value, applied: &Value, schema: Option<&Value>) {
    let Value::Object(am) = applied else {
        *target = applied.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(tm) = target else {
        return;
    };
    for (k, v) in am {
        let ks = sub_schema(schema, k);
        match v {
            Value::Null => {
                tm.remove(k);
            }
            Value::Object(_) => {
                let t = tm.entry(k.clone()).or_insert(Value::Null);
                apply_merge(t, v, ks);
            }
            Value::Array(items) => {
                let list_type = ks
                    .and_then(|s| s.get("x-kubernetes-list-type"))
                    .and_then(|t| t.as_str());
                let existing = tm.get_mut(k).and_then(|e| e.as_array_mut());
                match (existing, list_type) {
                    (Some(ex), Some("map")) => {
                        let keys: Vec<String> = ks
                            .and_then(|s| s.get("x-kubernetes-list-map-keys"))
                            .and_then(|k| k.as_array())
                            .map(|a| {
                                a.iter()
                                    .filter_map(|x| x.as_str().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_default();
                        let item_schema = ks.and_then(|s| s.get("items"));
                        for it in items {
                            let pos = ex
                                .iter()
                                .position(|e| keys.iter().all(|kk| e.get(kk) == it.get(kk)));
                            match pos {
                                Some(p) => apply_merge(&mut ex[p], it, item_schema),
                                None => ex.push(it.clone()),
                            }
                        }
                    }
                    (Some(ex), Some("set")) => {
                        for it in items {
                            if !ex.contains(it) {
                                ex.push(it.clone());
                            }
                        }
                    }
                    (Some(ex), None)
                        if schema.is_none() || k == "finalizers" || k == "ownerReferences" =>
                    {
                        merge_list(k, ex, items)
                    }
                    _ => {
                        tm.insert(k.clone(), v.clone());
                    }
                }
            }
            other => {
                tm.insert(k.clone(), other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic() {
        let mut t = json!({"metadata": {"finalizers": ["a"], "labels": {"x": "1"}},
            "spec": {"containers": [{"name": "c", "image": "i1"}, {"name": "d", "image": "i2"}]}});
        strategic_merge(
            &mut t,
            &json!({"metadata": {"finalizers": ["b"], "labels": {"x": null}},
            "$setElementOrder/x": [],
            "spec": {"containers": [{"name": "c", "image": "i3"}, {"name": "d", "$patch": "delete"}]}}),
        );
        assert_eq!(t["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(t["metadata"]["labels"], json!({}));
        assert_eq!(
            t["spec"]["containers"],
            json!([{"name": "c", "image": "i3"}])
        );
    }

    #[test]
    fn apply() {
        let schema = json!({"properties": {"status": {"properties": {"conditions": {
            "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}}}}});
        let mut t = json!({"status": {"conditions": [{"type": "A", "status": "True"}], "x": 1}});
        apply_merge(
            &mut t,
            &json!({"status": {"conditions": [{"type": "B", "status": "False"}]}}),
            Some(&schema),
        );
        assert_eq!(t["status"]["conditions"].as_array().unwrap().len(), 2);
        assert_eq!(t["status"]["x"], 1);
    }
}
