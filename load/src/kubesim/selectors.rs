//! Label and field selectors.

use serde_json::Value;

use super::status::{ApiError, ApiResult};

#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, PartialEq)]
enum FieldReq {
    Eq(String, String),
    Ne(String, String),
}

/// Label and field selectors of a list or watch request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    labels: Vec<LabelReq>,
    fields: Vec<FieldReq>,
}

fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
            }
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_set(rest: &str, raw: &str) -> ApiResult<Vec<String>> {
    let rest = rest.trim();
    if !rest.starts_with('(') || !rest.ends_with(')') {
        return Err(ApiError::bad_request(format!(
            "unable to parse requirement: found '{raw}', expected: '('"
        )));
    }
    Ok(rest[1..rest.len() - 1]
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn parse_label_req(raw: &str) -> ApiResult<LabelReq> {
    if let Some(k) = raw.strip_prefix('!') {
        return Ok(LabelReq::NotExists(k.trim().to_string()));
    }
    if let Some((k, v)) = raw.split_once("!=") {
        return Ok(LabelReq::Ne(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = raw.split_once("==") {
        return Ok(LabelReq::Eq(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = raw.split_once('=') {
        return Ok(LabelReq::Eq(k.trim().into(), v.trim().into()));
    }
    let parts: Vec<&str> = raw.splitn(2, char::is_whitespace).collect();
    if parts.len() == 2 {
        let key = parts[0].trim().to_string();
        let rest = parts[1].trim();
        if let Some(r) = rest.strip_prefix("notin") {
            return Ok(LabelReq::NotIn(key, parse_set(r, raw)?));
        }
        if let Some(r) = rest.strip_prefix("in") {
            return Ok(LabelReq::In(key, parse_set(r, raw)?));
        }
        return Err(ApiError::bad_request(format!(
            "unable to parse requirement: {raw}"
        )));
    }
    if raw.contains('(') || raw.contains(')') {
        return Err(ApiError::bad_request(format!(
            "unable to parse requirement: {raw}"
        )));
    }
    Ok(LabelReq::Exists(raw.trim().to_string()))
}

impl Filter {
    pub fn parse(label: Option<&str>, field: Option<&str>) -> ApiResult<Filter> {
        let mut f = Filter::default();
        if let Some(l) = label {
            for part in split_top(l) {
                f.labels.push(parse_label_req(&part)?);
            }
        }
        if let Some(fs) = field {
            for part in split_top(fs) {
                let req = if let Some((k, v)) = part.split_once("!=") {
                    FieldReq::Ne(k.trim().into(), v.trim().into())
                } else if let Some((k, v)) = part.split_once("==") {
                    FieldReq::Eq(k.trim().into(), v.trim().into())
                } else if let Some((k, v)) = part.split_once('=') {
                    FieldReq::Eq(k.trim().into(), v.trim().into())
                } else {
                    return Err(ApiError::bad_request(format!(
                        "invalid selector: '{fs}'; can't understand '{part}'"
                    )));
                };
                f.fields.push(req);
            }
        }
        Ok(f)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// The `metadata.name` this filter pins, if any (lets lookups skip a scan).
    pub fn exact_name(&self) -> Option<&str> {
        self.fields.iter().find_map(|f| match f {
            FieldReq::Eq(k, v) if k == "metadata.name" => Some(v.as_str()),
            _ => None,
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        if self.is_empty() {
            return true;
        }
        let labels = obj.pointer("/metadata/labels");
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(|v| v.as_str());
        for r in &self.labels {
            let ok = match r {
                LabelReq::Eq(k, v) => label(k) == Some(v.as_str()),
                LabelReq::Ne(k, v) => label(k) != Some(v.as_str()),
                LabelReq::In(k, vs) => label(k).is_some_and(|x| vs.iter().any(|v| v == x)),
                LabelReq::NotIn(k, vs) => !label(k).is_some_and(|x| vs.iter().any(|v| v == x)),
                LabelReq::Exists(k) => label(k).is_some(),
                LabelReq::NotExists(k) => label(k).is_none(),
            };
            if !ok {
                return false;
            }
        }
        for r in &self.fields {
            let (k, v, eq) = match r {
                FieldReq::Eq(k, v) => (k, v, true),
                FieldReq::Ne(k, v) => (k, v, false),
            };
            let actual = field_value(obj, k);
            if (actual.as_deref() == Some(v.as_str())) != eq {
                return false;
            }
        }
        true
    }
}

fn field_value(obj: &Value, path: &str) -> Option<String> {
    let mut cur = obj;
    for p in path.split('.') {
        cur = cur.get(p)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
    .or_else(|| {
        if path == "metadata.namespace" {
            Some(String::new())
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let o = json!({"metadata": {"name": "a", "namespace": "ns", "labels": {"app": "web", "tier": "fe"}}, "type": "Opaque"});
        let m = |l: &str| Filter::parse(Some(l), None).unwrap().matches(&o);
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("app in (web, db),tier notin (be)"));
        assert!(!m("app notin (web)"));
        assert!(m("!missing"));
        assert!(!m("missing"));
        let f = |s: &str| Filter::parse(None, Some(s)).unwrap().matches(&o);
        assert!(f("metadata.name=a,metadata.namespace=ns"));
        assert!(f("type=Opaque"));
        assert!(!f("metadata.name!=a"));
    }
}
