//! Checks of a Flux HelmRelease's `valuesFrom` Secrets: the secret is one capt or a template produces, in the
//! HelmRelease's namespace; the key is an output that reaches the secret, of a shape that suits `targetPath`;
//! the path is valid Helm syntax, set once, and not overridden by `spec.values`.

use std::collections::BTreeMap;

use super::context::{Context, outputs_named, suggest};
use super::finding::{Finding, Severity};
use super::manifest::Doc;
use super::outputs::Shape;
use super::producers::{Keys, SecretSource};
use super::refs::{ValuesFrom, inline_value_paths, values_from};
use super::target_path::{self, canonical};

/// Flux reads this key when `valuesKey` is not set.
const DEFAULT_VALUES_KEY: &str = "values.yaml";

struct At<'d> {
    doc: &'d Doc,
    entry: &'d ValuesFrom,
    entries: &'d [ValuesFrom],
}

impl At<'_> {
    /// A finding on `field` of this entry, located at the entry's line for that field.
    fn finding(
        &self,
        sev: Severity,
        code: &'static str,
        field: &str,
        message: String,
        hint: String,
    ) -> Finding {
        let value = match field {
            "valuesKey" => self.entry.values_key.clone(),
            "targetPath" => self.entry.target_path.clone(),
            _ => Some(self.entry.name.clone()),
        };
        let line = match &value {
            Some(v) => {
                let same = |e: &ValuesFrom| match field {
                    "valuesKey" => e.values_key.as_ref() == Some(v),
                    "targetPath" => e.target_path.as_ref() == Some(v),
                    _ => &e.name == v,
                };
                let nth = self
                    .entries
                    .iter()
                    .take_while(|e| e.index != self.entry.index)
                    .filter(|e| same(e))
                    .count();
                self.doc.line_of(&[&format!("{field}:"), v], nth)
            }
            None => self.doc.line_of(&["valuesFrom:"], 0),
        };
        Finding {
            severity: sev,
            code,
            file: self.doc.file.clone(),
            line,
            path: format!(
                "{} spec.valuesFrom[{}].{field}",
                self.doc.label(),
                self.entry.index
            ),
            message,
            hint,
        }
    }
}

/// Every finding for one HelmRelease; also returns how many references were checked.
pub fn check(d: &Doc, ctx: &Context) -> (Vec<Finding>, usize) {
    let entries = values_from(d);
    let mut out = Vec::new();
    let inline: Vec<String> = inline_value_paths(&d.value["spec"]["values"])
        .iter()
        .map(|p| canonical(p))
        .collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut checked = 0;
    for e in &entries {
        let at = At {
            doc: d,
            entry: e,
            entries: &entries,
        };
        let sources = ctx.sources_for(&e.name);
        if sources.is_empty() {
            out.extend(unrecognised(&at, ctx));
            // A misspelt name is still checked for its key, against the secret it was meant to be.
            if let Some(s) = ctx.near_miss(&e.name) {
                out.extend(key(&at, &[s]));
            }
        } else {
            checked += 1;
            out.extend(namespace(&at, &sources, ctx));
            out.extend(key(&at, &sources));
        }
        if let Some(path) = &e.target_path {
            out.extend(target(&at, path, &inline, &mut seen));
        }
    }
    (out, checked)
}

fn unrecognised(at: &At, ctx: &Context) -> Option<Finding> {
    let name = &at.entry.name;
    match ctx.near_miss(name) {
        Some(s) => Some(at.finding(
            Severity::Error,
            "unknown-secret",
            "name",
            format!("no secret named `{name}` is produced; {} writes `{}`", s.origin, s.pattern),
            format!("name the secret `…{}`", s.pattern.suffix()),
        )),
        None => Some(at.finding(
            Severity::Warning,
            "unrecognised-secret",
            "name",
            format!("`{name}` is not a secret capt or the templates produce; its keys are not checked"),
            "ignore this if the secret comes from elsewhere; otherwise pass the template with --templates".into(),
        )),
    }
}

/// Flux reads `valuesFrom` from the HelmRelease's namespace. A template's secret goes where the template
/// says; capt's secrets go to the control plane's namespace, known when the manifests hold control planes or
/// Clusters, else presumed to be the namespace of the control plane's template (a warning).
fn namespace(at: &At, sources: &[&SecretSource], ctx: &Context) -> Option<Finding> {
    let ns = at.doc.namespace()?;
    let (expected, sev, whose) = match sources.iter().find_map(|s| s.namespace.clone()) {
        Some(n) => (vec![n], Severity::Error, "the template writes it to"),
        None if !ctx.cluster_namespaces.is_empty() => (
            ctx.cluster_namespaces.clone(),
            Severity::Error,
            "capt writes it to the control plane's namespace,",
        ),
        None => (
            ctx.control_plane
                .iter()
                .filter_map(|t| t.namespace.clone())
                .collect(),
            Severity::Warning,
            "capt writes it to the control plane's namespace, presumably",
        ),
    };
    if expected.is_empty() || expected.iter().any(|e| e == ns) {
        return None;
    }
    Some(at.finding(
        sev,
        "wrong-namespace",
        "name",
        format!(
            "Flux reads valuesFrom Secrets from the HelmRelease's namespace `{ns}`, but {whose} `{}`",
            expected.join("`, `")
        ),
        format!(
            "put the HelmRelease in the namespace of `{}` (`{}`) and install into `{ns}` with spec.targetNamespace",
            at.entry.name, expected[0]
        ),
    ))
}

fn key(at: &At, sources: &[&SecretSource]) -> Vec<Finding> {
    let key = at.entry.values_key.as_deref().unwrap_or(DEFAULT_VALUES_KEY);
    let mut templates = Vec::new();
    let mut fixed = Vec::new();
    for s in sources {
        match &s.keys {
            Keys::Outputs(ts) => templates.extend(ts.iter().copied()),
            Keys::Fixed(k) => fixed.extend(k.iter().map(|s| s.to_string())),
        }
    }
    if !fixed.is_empty() {
        return (!fixed.iter().any(|k| k == key))
            .then(|| missing_key(at, key, sources[0], &fixed))
            .into_iter()
            .collect();
    }
    if templates.is_empty() {
        return vec![at.finding(
            Severity::Warning,
            "no-template",
            "valuesKey",
            format!(
                "no WorkspaceTemplate found for `{}`, so `{key}` is not checked",
                at.entry.name
            ),
            "pass the control plane's WorkspaceTemplate with --templates".into(),
        )];
    }
    if templates.iter().any(|t| t.outputs.is_none()) {
        return Vec::new();
    }
    let keys = Keys::Outputs(templates);
    let found = outputs_named(&keys, key);
    let Some(output) = found.first() else {
        return vec![missing_key(at, key, sources[0], &keys.names())];
    };
    shape(at, key, output.shape()).into_iter().collect()
}

fn missing_key(at: &At, key: &str, source: &SecretSource, names: &[String]) -> Finding {
    let message = match &at.entry.values_key {
        Some(_) => format!(
            "`{key}` is not a key of `{}`, written by {}",
            at.entry.name, source.origin
        ),
        None => format!(
            "valuesKey is not set, so Flux reads `{key}`, which `{}` (written by {}) does not have",
            at.entry.name, source.origin
        ),
    };
    at.finding(
        Severity::Error,
        "unknown-key",
        "valuesKey",
        message,
        suggest(key, names),
    )
}

fn shape(at: &At, key: &str, shape: Shape) -> Option<Finding> {
    let with_path = at.entry.target_path.is_some();
    let (sev, code, message, hint) = match (shape, with_path) {
        (Shape::Null, _) => (
            Severity::Error,
            "unpublished-output",
            format!("output `{key}` is null: terraform keeps it out of its state, so no secret receives it"),
            "give the output a value".to_string(),
        ),
        (Shape::Map | Shape::List, true) => (
            Severity::Error,
            "structured-with-target-path",
            format!("output `{key}` is a {}, but with targetPath Flux sets the key's text as one string", if shape == Shape::Map { "map" } else { "list" }),
            "drop targetPath to merge a map output into the values, or reference a single-value output".to_string(),
        ),
        (Shape::Scalar | Shape::List, false) => (
            Severity::Error,
            "value-without-target-path",
            format!("without targetPath Flux merges the key as a YAML map of values, but output `{key}` is a single value"),
            "set targetPath to the chart value it belongs to".to_string(),
        ),
        (Shape::Unknown, false) => (
            Severity::Warning,
            "value-without-target-path",
            format!("without targetPath Flux merges the key as a YAML map of values; make sure output `{key}` is an object"),
            "set targetPath when the output is a single value".to_string(),
        ),
        _ => return None,
    };
    Some(at.finding(
        sev,
        code,
        if code == "unpublished-output" {
            "valuesKey"
        } else {
            "targetPath"
        },
        message,
        hint,
    ))
}

fn target(
    at: &At,
    path: &str,
    inline: &[String],
    seen: &mut BTreeMap<String, usize>,
) -> Option<Finding> {
    let segs = match target_path::parse(path) {
        Ok(s) => s,
        Err(e) => {
            return Some(at.finding(
                Severity::Error,
                "invalid-target-path",
                "targetPath",
                format!("targetPath `{path}`: {e}"),
                "separate keys with `.`, escape literal dots as `\\.`, index lists as `name[0]`".into(),
            ));
        }
    };
    let c = canonical(&segs);
    if let Some(first) = seen.insert(c.clone(), at.entry.index) {
        seen.insert(c.clone(), first);
        return Some(at.finding(
            Severity::Error,
            "duplicate-target-path",
            "targetPath",
            format!("targetPath `{path}` is also set by spec.valuesFrom[{first}]; the later entry silently wins"),
            "remove one of the two entries".into(),
        ));
    }
    let overlap = inline
        .iter()
        .find(|p| **p == c || p.starts_with(&format!("{c}.")) || c.starts_with(&format!("{p}.")))?;
    Some(at.finding(
        Severity::Error,
        "overridden-by-values",
        "targetPath",
        format!("spec.values also sets `{overlap}`, and Flux merges spec.values last: it overrides the secret's value at `{path}`"),
        format!("remove `{overlap}` from spec.values"),
    ))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::context::{Context, load_templates};
    use super::super::manifest::parse;

    const TEMPLATE: &str = r#"apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: WorkspaceTemplate
metadata:
  name: eks
  namespace: default
spec:
  template:
    spec:
      writeConnectionSecretToRef:
        name: ${WORKSPACE_NAME}-eks-connection
        namespace: default
      forProvider:
        source: Inline
        module: |
          output "name" { value = var.n }
          output "literal" { value = "x" }
          output "map" { value = { a = 1 } }
          output "doc" { value = yamlencode({ a = 1 }) }
          output "gone" { value = null }
---
apiVersion: controlplane.cluster.x-k8s.io/v1beta1
kind: CAPTControlPlane
metadata:
  name: c1
  namespace: team
spec:
  version: "1.31"
  workspaceTemplateRef:
    name: eks
"#;

    /// The codes of the findings for one `valuesFrom` entry of a HelmRelease in `namespace`.
    fn codes(namespace: &str, entry: &str) -> Vec<&'static str> {
        let text = format!(
            "{TEMPLATE}---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: r\n  namespace: {namespace}\nspec:\n  valuesFrom:\n  - kind: Secret\n{entry}"
        );
        let docs = parse(Path::new("t.yaml"), &text).expect("parses");
        let (templates, errors) = load_templates(&docs);
        assert!(errors.is_empty(), "{errors:?}");
        let ctx = Context::new(&docs, &templates);
        let (findings, _) = super::check(&docs[2], &ctx);
        findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn keys_shapes_and_namespaces() {
        let secret = "    name: ${CLUSTER_NAME}-eks-connection\n";
        let table: [(&str, String, Vec<&str>); 10] = [
            (
                "team",
                format!("{secret}    valuesKey: name\n    targetPath: a.b\n"),
                vec![],
            ),
            ("team", format!("{secret}    valuesKey: doc\n"), vec![]),
            ("team", format!("{secret}    valuesKey: map\n"), vec![]),
            (
                "team",
                format!("{secret}    valuesKey: map\n    targetPath: a\n"),
                vec!["structured-with-target-path"],
            ),
            (
                "team",
                format!("{secret}    valuesKey: literal\n"),
                vec!["value-without-target-path"],
            ),
            (
                "team",
                format!("{secret}    valuesKey: name\n"),
                vec!["value-without-target-path"],
            ),
            (
                "team",
                format!("{secret}    valuesKey: gone\n    targetPath: a\n"),
                vec!["unpublished-output"],
            ),
            (
                "team",
                format!("{secret}    targetPath: a\n"),
                vec!["unknown-key"],
            ),
            (
                "default",
                format!("{secret}    valuesKey: name\n    targetPath: a\n"),
                vec!["wrong-namespace"],
            ),
            (
                "team",
                "    name: other-secret\n    valuesKey: x\n".to_string(),
                vec!["unrecognised-secret"],
            ),
        ];
        for (ns, entry, want) in table {
            assert_eq!(codes(ns, &entry), want, "{ns}: {entry}");
        }
    }
}
