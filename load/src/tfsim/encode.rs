//! Value encodings terraform and provider-terraform use: JSON as Go's `encoding/json` writes it (sorted keys,
//! HTML-safe escapes, integral numbers without a fraction) and terraform's `yamlencode` style.

use hcl::Value as Hcl;
use serde_json::Value as Json;

/// An HCL value as JSON, object keys sorted (terraform maps and objects are ordered by key).
pub(crate) fn to_json(v: &Hcl) -> Json {
    match v {
        Hcl::Null => Json::Null,
        Hcl::Bool(b) => Json::Bool(*b),
        Hcl::Number(n) => number_to_json(n),
        Hcl::String(s) => Json::String(s.clone()),
        Hcl::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Hcl::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Json::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), to_json(&map[k])))
                    .collect(),
            )
        }
    }
}

fn number_to_json(n: &hcl::Number) -> Json {
    if let Some(i) = n.as_i64() {
        return Json::from(i);
    }
    if let Some(u) = n.as_u64() {
        return Json::from(u);
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e15 {
        // Integral values print without a fraction, as Go prints float64 values.
        #[allow(clippy::cast_possible_truncation)]
        return Json::from(f as i64);
    }
    serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
}

/// A JSON value as an HCL value.
pub(crate) fn from_json(v: &Json) -> Hcl {
    match v {
        Json::Null => Hcl::Null,
        Json::Bool(b) => Hcl::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Hcl::from(i)
            } else if let Some(u) = n.as_u64() {
                Hcl::from(u)
            } else {
                Hcl::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Json::String(s) => Hcl::String(s.clone()),
        Json::Array(items) => Hcl::Array(items.iter().map(from_json).collect()),
        Json::Object(map) => {
            Hcl::Object(map.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

/// Compact JSON text as Go's `json.Marshal` writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped.
pub(crate) fn go_json(v: &Json) -> String {
    let text = v.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            other => out.push(other),
        }
    }
    out
}

/// YAML text in terraform's `yamlencode` style: block style, keys sorted and double-quoted, strings
/// double-quoted, sequences inside mappings not indented.
pub(crate) fn yaml(v: &Json) -> String {
    let mut out = String::new();
    match v {
        Json::Object(m) if !m.is_empty() => yaml_map(m, 0, &mut out),
        Json::Array(a) if !a.is_empty() => yaml_seq(a, 0, &mut out),
        scalar => {
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
    out
}

fn yaml_scalar(v: &Json) -> String {
    match v {
        Json::Object(_) => "{}".into(),
        Json::Array(_) => "[]".into(),
        // JSON string escapes are valid YAML double-quoted escapes.
        other => other.to_string(),
    }
}

fn is_block(v: &Json) -> bool {
    match v {
        Json::Object(m) => !m.is_empty(),
        Json::Array(a) => !a.is_empty(),
        _ => false,
    }
}

fn yaml_map(m: &serde_json::Map<String, Json>, indent: usize, out: &mut String) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for (i, k) in keys.into_iter().enumerate() {
        // The first key of a mapping that is a sequence item continues the `- ` line.
        if i > 0 || indent == 0 || !out.ends_with("- ") {
            out.push_str(&" ".repeat(indent));
        }
        let v = &m[k];
        out.push_str(&Json::String(k.clone()).to_string());
        out.push(':');
        match v {
            Json::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                yaml_map(inner, indent + 2, out);
            }
            Json::Array(items) if !items.is_empty() => {
                out.push('\n');
                yaml_seq(items, indent, out);
            }
            scalar => {
                out.push(' ');
                out.push_str(&yaml_scalar(scalar));
                out.push('\n');
            }
        }
    }
}

fn yaml_seq(items: &[Json], indent: usize, out: &mut String) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        match item {
            Json::Object(m) if is_block(item) => yaml_map(m, indent + 2, out),
            Json::Array(a) if is_block(item) => {
                out.push('\n');
                yaml_seq(a, indent + 2, out);
            }
            scalar => {
                out.push_str(&yaml_scalar(scalar));
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_json_sorts_and_escapes() {
        let v = to_json(&from_json(
            &json!({"b": 1, "a": ["<x>", 2.5, true, null], "c": {"&": 3.0}}),
        ));
        assert_eq!(
            go_json(&v),
            r#"{"a":["\u003cx\u003e",2.5,true,null],"b":1,"c":{"\u0026":3}}"#
        );
    }

    #[test]
    fn yaml_matches_terraform_style() {
        let v = json!({"foo": [1, {"a": "b", "c": "d"}, 3], "bar": "baz", "e": {}, "n": {"x": []}});
        assert_eq!(
            yaml(&v),
            "\"bar\": \"baz\"\n\"e\": {}\n\"foo\":\n- 1\n- \"a\": \"b\"\n  \"c\": \"d\"\n- 3\n\"n\":\n  \"x\": []\n"
        );
        assert_eq!(yaml(&json!("a\nb")), "\"a\\nb\"\n");
        let back: Json = serde_yaml::from_str(&yaml(&v)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, v);
    }
}
