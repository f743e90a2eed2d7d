//! What the manifests are checked against: the templates, the secrets they and capt produce, and where
//! clusters live.

use super::finding::{Finding, Severity};
use super::manifest::Doc;
use super::outputs::DeclaredOutput;
use super::pattern::NamePattern;
use super::producers::{self, Keys, SecretSource, Template};

pub struct Context<'a> {
    pub templates: &'a [Template],
    pub control_plane: Vec<&'a Template>,
    pub sources: Vec<SecretSource<'a>>,
    /// Namespaces of the CAPTControlPlanes and Clusters among the manifests (where capt writes their secrets).
    pub cluster_namespaces: Vec<String>,
}

/// Parses the WorkspaceTemplates among `docs`; a module that does not parse is a finding.
pub fn load_templates(docs: &[Doc]) -> (Vec<Template>, Vec<Finding>) {
    let mut templates = Vec::new();
    let mut findings = Vec::new();
    for (t, d) in producers::templates(docs) {
        match t {
            Ok(t) => templates.push(t),
            Err(e) => findings.push(Finding {
                severity: Severity::Error,
                code: "template-module",
                file: d.file.clone(),
                line: d.line_of(&["module:"], 0),
                path: format!("{} spec.template.spec.forProvider.module", d.label()),
                message: format!("the module's outputs cannot be read: {e}"),
                hint: "fix the module; terraform would refuse it too".into(),
            }),
        }
    }
    (templates, findings)
}

impl<'a> Context<'a> {
    pub fn new(docs: &[Doc], templates: &'a [Template]) -> Self {
        let control_plane = producers::control_plane_templates(docs, templates);
        let sources = producers::secret_sources(templates, &control_plane);
        let mut cluster_namespaces: Vec<String> = docs
            .iter()
            .filter(|d| matches!(d.kind(), "CAPTControlPlane" | "Cluster"))
            .filter_map(|d| d.namespace().map(str::to_string))
            .collect();
        cluster_namespaces.sort();
        cluster_namespaces.dedup();
        Context {
            templates,
            control_plane,
            sources,
            cluster_namespaces,
        }
    }

    /// The sources producing `name`.
    pub fn sources_for(&self, name: &str) -> Vec<&SecretSource<'a>> {
        producers::sources_for(&self.sources, &NamePattern::parse(name))
    }

    /// A source whose name is within two edits of `name`'s ending (a misspelt suffix).
    pub fn near_miss(&self, name: &str) -> Option<&SecretSource<'a>> {
        let inst: Vec<char> = NamePattern::parse(name).instantiate("x").chars().collect();
        self.sources
            .iter()
            .filter(|s| s.pattern.suffix().len() >= 6)
            .filter(|s| {
                let want = s.pattern.suffix();
                let n = want.chars().count();
                (n.saturating_sub(2)..=n + 2).any(|len| {
                    let tail: String = inst[inst.len().saturating_sub(len)..].iter().collect();
                    strsim::levenshtein(&tail, want) <= 2
                })
            })
            .min_by_key(|s| std::cmp::Reverse(s.pattern.suffix().len()))
    }
}

/// The outputs of the templates behind `keys` named `key` (one per template that declares it).
pub fn outputs_named<'t>(keys: &Keys<'t>, key: &str) -> Vec<&'t DeclaredOutput> {
    match keys {
        Keys::Fixed(_) => Vec::new(),
        Keys::Outputs(ts) => ts
            .iter()
            .filter_map(|t| t.outputs.as_ref()?.iter().find(|o| o.name == key))
            .collect(),
    }
}

/// "did you mean `x`?" for the closest of `names`, else the list of them.
pub fn suggest(word: &str, names: &[String]) -> String {
    let best = names
        .iter()
        .map(|n| (strsim::levenshtein(word, n), n))
        .min_by_key(|(d, _)| *d)
        .filter(|(d, n)| *d <= 2.max(n.len() / 3));
    match best {
        Some((_, n)) => format!("did you mean `{n}`?"),
        None if names.is_empty() => "the template declares no outputs".into(),
        None => format!("use one of: {}", names.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::addons::manifest::parse;

    const TEMPLATES: &str = "kind: WorkspaceTemplate\nmetadata:\n  name: kubeconfig\nspec:\n  template:\n    spec:\n      writeConnectionSecretToRef:\n        name: ${WORKSPACE_NAME}-outputs-kubeconfig\n        namespace: default\n      forProvider:\n        source: Inline\n        module: |\n          output \"kubeconfig\" { value = \"x\" }\n";

    #[test]
    fn names_resolve_to_the_most_specific_source() {
        let docs = parse(Path::new("t.yaml"), TEMPLATES).expect("parses");
        let (templates, _) = load_templates(&docs);
        let ctx = Context::new(&docs, &templates);
        let origin = |name: &str| {
            ctx.sources_for(name)
                .iter()
                .map(|s| s.origin.clone())
                .collect::<Vec<_>>()
        };
        let table: [(&str, &[&str]); 5] = [
            ("${C}-outputs-kubeconfig", &["WorkspaceTemplate kubeconfig"]),
            ("demo-kubeconfig", &["capt (Cluster API kubeconfig)"]),
            (
                "demo-eks-connection",
                &["capt (connection secret of the control plane's Workspace)"],
            ),
            ("demo-ca", &["capt (cluster CA)"]),
            ("unrelated", &[]),
        ];
        for (name, want) in table {
            assert_eq!(origin(name), want, "{name}");
        }
        let near = |name: &str| ctx.near_miss(name).map(|s| s.pattern.suffix().to_string());
        assert_eq!(
            near("${C}-eks-conection").as_deref(),
            Some("-eks-connection")
        );
        assert_eq!(
            near("${C}-output-kubeconfig").as_deref(),
            Some("-outputs-kubeconfig")
        );
        assert_eq!(near("grafana-admin"), None);
    }
}
