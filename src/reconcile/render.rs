//! Rendering a WorkspaceTemplate's Workspace spec for a WorkspaceTemplateApply.
//!
//! Placeholders `${WORKSPACE_NAME}` and `${<variable>}` are substituted inside every JSON **string value** of the
//! template spec, found by walking the JSON tree. Values are inserted into Rust strings, so quotes, backslashes and
//! newlines in a value are escaped correctly when the spec is serialised (upstream substituted raw text into
//! serialised JSON).
//!
//! Rules:
//! * A placeholder is `${` followed by a name and the next `}`; it is replaced when the name is `WORKSPACE_NAME`
//!   (always the Workspace name, even if a variable of that name exists) or the exact key of a variable.
//! * Each string is scanned once from left to right. Text produced by a substitution is never scanned again, so a
//!   value of `${other}` stays literally `${other}`. Because of this the result does not depend on the order of the
//!   variables (they are a sorted map anyway).
//! * Unknown placeholders, Terraform references such as `${var.x}` or `${module.y}`, and everything else stay as
//!   they are. A placeholder nested in another `${…}` expression is still found (as with upstream's text
//!   replacement).
//! * `$${…}` is Terraform's escape for a literal `${…}` and is never substituted.
//! * Object keys are not substituted; numbers, booleans and nulls are untouched.
//!
//! [`spec_hash`] fingerprints a rendered spec so a changed template or variable can be detected and re-applied to
//! the Workspace.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Name of the built-in placeholder.
pub const WORKSPACE_NAME_VARIABLE: &str = "WORKSPACE_NAME";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("workspace template spec must be a JSON object, found {found}")]
    NotAnObject { found: &'static str },
    #[error("variable name {name:?} is not usable as a placeholder (empty or contains '}}')")]
    InvalidVariableName { name: String },
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Render `template_spec` (the WorkspaceTemplate's `spec.template.spec`) for the Workspace `workspace_name`.
pub fn render(
    template_spec: &Value,
    workspace_name: &str,
    variables: &BTreeMap<String, String>,
) -> Result<Value, RenderError> {
    if !template_spec.is_object() {
        return Err(RenderError::NotAnObject {
            found: kind_of(template_spec),
        });
    }
    if let Some(bad) = variables.keys().find(|k| k.is_empty() || k.contains('}')) {
        return Err(RenderError::InvalidVariableName {
            name: bad.chars().take(64).collect(),
        });
    }
    let mut out = template_spec.clone();
    walk_strings_mut(&mut out, &mut |s| {
        if let Some(rendered) = substitute(s, workspace_name, variables) {
            *s = rendered;
        }
    });
    Ok(out)
}

fn walk_strings_mut(v: &mut Value, f: &mut impl FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|i| walk_strings_mut(i, f)),
        Value::Object(map) => map.values_mut().for_each(|i| walk_strings_mut(i, f)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn walk_strings<'a>(v: &'a Value, f: &mut impl FnMut(&'a str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|i| walk_strings(i, f)),
        Value::Object(map) => map.values().for_each(|i| walk_strings(i, f)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Substitute the placeholders of one string; `None` when nothing was replaced.
fn substitute(
    s: &str,
    workspace_name: &str,
    variables: &BTreeMap<String, String>,
) -> Option<String> {
    if !s.contains("${") {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut changed = false;
    let mut scan = 0;
    let mut copied = 0;
    while let Some(pos) = s[scan..].find("${") {
        let start = scan + pos;
        let body = start + 2;
        scan = body;
        if start > 0 && bytes[start - 1] == b'$' {
            continue;
        }
        let Some(len) = s[body..].find('}') else {
            break;
        };
        let name = &s[body..body + len];
        let value = if name == WORKSPACE_NAME_VARIABLE {
            Some(workspace_name)
        } else {
            variables.get(name).map(String::as_str)
        };
        if let Some(value) = value {
            out.push_str(&s[copied..start]);
            out.push_str(value);
            scan = body + len + 1;
            copied = scan;
            changed = true;
        }
    }
    out.push_str(&s[copied..]);
    changed.then_some(out)
}

/// Names of `${identifier}` placeholders (identifier `[A-Za-z_][A-Za-z0-9_]*` directly followed by `}`, so
/// Terraform references like `${var.x}` are excluded, as are `$${…}` escapes) left in the string values of
/// `rendered` whose name is neither a key of `variables` nor `WORKSPACE_NAME`. Sorted, without duplicates.
///
/// Placeholders named after a variable can only remain when a variable's value contained them literally, which is
/// intended, so they are not reported.
pub fn unresolved_placeholders(
    rendered: &Value,
    variables: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut found = BTreeSet::new();
    walk_strings(rendered, &mut |s| {
        for name in placeholder_identifiers(s) {
            if name != WORKSPACE_NAME_VARIABLE && !variables.contains_key(name) {
                found.insert(name.to_string());
            }
        }
    });
    found.into_iter().collect()
}

fn placeholder_identifiers(s: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(pos) = s[i..].find("${") {
        let start = i + pos;
        let body = start + 2;
        i = body;
        if start > 0 && bytes[start - 1] == b'$' {
            continue;
        }
        let mut end = body;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let starts_ok = bytes
            .get(body)
            .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_');
        if starts_ok && bytes.get(end) == Some(&b'}') {
            names.push(&s[body..end]);
            i = end + 1;
        }
    }
    names
}

/// Stable fingerprint of a JSON value: 16 lowercase hex digits of the FNV-1a 64-bit hash of its canonical JSON
/// (object keys sorted by their UTF-8 bytes, no whitespace, strings escaped minimally). Independent of key order in
/// the input and of serde_json's map implementation.
pub fn spec_hash(spec: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(spec, &mut canonical);
    format!("{:016x}", fnv1a64(canonical.as_bytes()))
}

/// Canonical JSON text used by [`spec_hash`].
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                write_canonical(val, out);
            }
            out.push('}');
        }
    }
}

fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitution_table() {
        let v = vars(&[
            ("cluster_name", "demo"),
            ("region", "ap-northeast-1"),
            ("quote", "a\"b\\c\nd"),
            ("other", "OTHER"),
            ("self_ref", "${other}"),
            ("ws", "${WORKSPACE_NAME}"),
            ("var.x", "VARX"),
        ]);
        let cases: &[(&str, &str)] = &[
            ("${cluster_name}", "demo"),
            ("name-${cluster_name}-${region}", "name-demo-ap-northeast-1"),
            ("${WORKSPACE_NAME}-connection", "ws1-connection"),
            ("${quote}", "a\"b\\c\nd"),
            ("${self_ref}", "${other}"),
            ("${ws}", "${WORKSPACE_NAME}"),
            ("${unknown}", "${unknown}"),
            ("${module.y.id}", "${module.y.id}"),
            ("${var.y}", "${var.y}"),
            ("${var.x}", "VARX"),
            ("$${cluster_name}", "$${cluster_name}"),
            ("$$${cluster_name}", "$$${cluster_name}"),
            ("${cluster_name", "${cluster_name"),
            ("${", "${"),
            ("$", "$"),
            ("", ""),
            ("${}", "${}"),
            ("${${cluster_name}}", "${demo}"),
            (
                "${lookup(var.m, \"${region}\")}",
                "${lookup(var.m, \"ap-northeast-1\")}",
            ),
            ("${cluster_name}${cluster_name}", "demodemo"),
            ("ünïcødé ${region} ✓", "ünïcødé ap-northeast-1 ✓"),
        ];
        for (input, want) in cases {
            let spec = json!({ "s": input });
            let out = render(&spec, "ws1", &v).expect("renders");
            assert_eq!(out["s"], json!(want), "input {input:?}");
        }
    }

    #[test]
    fn builtin_workspace_name_wins_over_variable() {
        let v = vars(&[("WORKSPACE_NAME", "from-variable")]);
        let out = render(&json!({"a": "${WORKSPACE_NAME}"}), "ws", &v).expect("renders");
        assert_eq!(out, json!({"a": "ws"}));
    }

    #[test]
    fn walks_nested_values_and_leaves_keys_and_scalars() {
        let spec = json!({
            "forProvider": {
                "source": "Inline",
                "module": "resource \"x\" \"${cluster_name}\" { name = \"${var.name}\" }",
                "vars": [{"key": "region", "value": "${region}"}, {"key": "n", "value": 3}],
                "env": [{"name": "A", "value": "${cluster_name}"}],
                "enabled": true,
                "nothing": null
            },
            "${cluster_name}": "key-not-substituted",
            "writeConnectionSecretToRef": {"name": "${WORKSPACE_NAME}-connection", "namespace": "default"}
        });
        let v = vars(&[("cluster_name", "demo"), ("region", "eu-west-1")]);
        let out = render(&spec, "demo-eks-controlplane", &v).expect("renders");
        assert_eq!(
            out,
            json!({
                "forProvider": {
                    "source": "Inline",
                    "module": "resource \"x\" \"demo\" { name = \"${var.name}\" }",
                    "vars": [{"key": "region", "value": "eu-west-1"}, {"key": "n", "value": 3}],
                    "env": [{"name": "A", "value": "demo"}],
                    "enabled": true,
                    "nothing": null
                },
                "${cluster_name}": "key-not-substituted",
                "writeConnectionSecretToRef": {"name": "demo-eks-controlplane-connection", "namespace": "default"}
            })
        );
    }

    #[test]
    fn values_with_json_metacharacters_round_trip() {
        let value = "line1\nline2 \"quoted\" back\\slash }{ ${x}";
        let v = vars(&[("tags", value)]);
        let out = render(&json!({"t": "${tags}"}), "w", &v).expect("renders");
        let text = serde_json::to_string(&out).expect("serialises");
        let back: Value = serde_json::from_str(&text).expect("parses back");
        assert_eq!(back["t"], json!(value));
    }

    #[test]
    fn rejects_non_object_specs_and_bad_variable_names() {
        let v = BTreeMap::new();
        for (spec, found) in [
            (json!([1]), "an array"),
            (json!("s"), "a string"),
            (json!(null), "null"),
            (json!(1), "a number"),
            (json!(true), "a boolean"),
        ] {
            assert_eq!(
                render(&spec, "w", &v),
                Err(RenderError::NotAnObject { found })
            );
        }
        for name in ["", "a}b"] {
            assert_eq!(
                render(&json!({}), "w", &vars(&[(name, "x")])),
                Err(RenderError::InvalidVariableName { name: name.into() })
            );
        }
    }

    #[test]
    fn render_is_deterministic() {
        let spec = json!({"a": "${x}-${y}-${z}", "b": ["${y}", "${x}"]});
        let v = vars(&[("x", "${y}"), ("y", "${z}"), ("z", "Z")]);
        let first = render(&spec, "w", &v).expect("renders");
        assert_eq!(first, json!({"a": "${y}-${z}-Z", "b": ["${z}", "${y}"]}));
        for _ in 0..5 {
            assert_eq!(render(&spec, "w", &v).expect("renders"), first);
        }
    }

    #[test]
    fn unresolved_placeholders_table() {
        let v = vars(&[("known", "${literal_from_value}"), ("other", "x")]);
        let cases: &[(Value, &[&str])] = &[
            (json!({"a": "${missing}"}), &["missing"]),
            (json!({"a": "${b} ${a} ${b}"}), &["a", "b"]),
            (
                json!({"a": "${var.x} ${module.y} ${each.key} $${escaped}"}),
                &[],
            ),
            (json!({"a": "${known} ${WORKSPACE_NAME}"}), &[]),
            (json!({"a": "${1abc} ${a-b} ${} ${_ok}"}), &["_ok"]),
            (json!({"${key_only}": 1, "n": [["${deep}"]]}), &["deep"]),
            (json!({"a": "${unterminated"}), &[]),
        ];
        for (rendered, want) in cases {
            assert_eq!(
                unresolved_placeholders(rendered, &v),
                want.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "{rendered}"
            );
        }
        let spec = json!({"a": "${known}", "b": "${region}"});
        let out = render(&spec, "w", &v).expect("renders");
        assert_eq!(
            unresolved_placeholders(&out, &v),
            vec!["literal_from_value", "region"]
        );
    }

    #[test]
    fn spec_hash_is_stable_and_order_independent() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, "x"], "x": null}}"#).expect("json");
        let b: Value =
            serde_json::from_str(r#"{"a": {"x": null, "y": [1, "x"]}, "b": 1}"#).expect("json");
        assert_eq!(spec_hash(&a), spec_hash(&b));
        assert_eq!(canonical_json(&a), r#"{"a":{"x":null,"y":[1,"x"]},"b":1}"#);
        let h = spec_hash(&a);
        assert_eq!(h.len(), 16);
        assert!(
            h.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(spec_hash(&json!({"b": 2})), spec_hash(&json!({"b": 1})));
        assert_ne!(spec_hash(&json!({"b": "1"})), spec_hash(&json!({"b": 1})));
        assert_ne!(spec_hash(&json!([1, 2])), spec_hash(&json!([2, 1])));
        assert_eq!(
            canonical_json(&json!({"s": "q\"\\\n\u{1}"})),
            r#"{"s":"q\"\\\n\u0001"}"#
        );
    }

    #[test]
    fn fnv1a64_known_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(spec_hash(&json!({})), format!("{:016x}", fnv1a64(b"{}")));
    }

    #[test]
    fn spec_hash_changes_when_a_variable_changes() {
        let spec = json!({"forProvider": {"vars": [{"key": "kubernetes_version", "value": "${kubernetes_version}"}]}});
        let h1 =
            spec_hash(&render(&spec, "w", &vars(&[("kubernetes_version", "1.30")])).expect("r"));
        let h2 =
            spec_hash(&render(&spec, "w", &vars(&[("kubernetes_version", "1.31")])).expect("r"));
        assert_ne!(h1, h2);
    }
}
