//! What capt and the WorkspaceTemplates produce for add-ons: connection secrets (every output of a template),
//! capt's own secrets, and `CAPTControlPlane.status.workspaceStatus.atProvider.outputs` (the non-sensitive
//! outputs of the control plane's template).

use super::manifest::Doc;
use super::outputs::{DeclaredOutput, OutputsError, declared_outputs};
use super::pattern::NamePattern;
use crate::api::names::{secrets, suffixes};

/// A WorkspaceTemplate and the outputs of its inline module.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    pub namespace: Option<String>,
    /// `spec.template.spec.writeConnectionSecretToRef` (name pattern, namespace).
    pub secret: Option<(NamePattern, Option<String>)>,
    /// `None` for a remote module, whose outputs are not known here.
    pub outputs: Option<Vec<DeclaredOutput>>,
}

/// The keys a secret holds.
#[derive(Debug, Clone)]
pub enum Keys<'a> {
    /// The outputs of these templates (provider-terraform writes every output to the connection secret).
    Outputs(Vec<&'a Template>),
    /// Fixed keys written by capt.
    Fixed(&'static [&'static str]),
}

/// A secret capt or a template produces.
#[derive(Debug, Clone)]
pub struct SecretSource<'a> {
    pub pattern: NamePattern,
    /// Where it is written: `None` when it follows the cluster's namespace or is unknown.
    pub namespace: Option<String>,
    pub origin: String,
    pub keys: Keys<'a>,
}

/// The WorkspaceTemplate documents among `docs`; a module that does not parse is an error for that template.
pub fn templates(docs: &[Doc]) -> Vec<(Result<Template, OutputsError>, &Doc)> {
    docs.iter()
        .filter(|d| d.kind() == "WorkspaceTemplate")
        .map(|d| (template(d), d))
        .collect()
}

fn template(d: &Doc) -> Result<Template, OutputsError> {
    let spec = &d.value["spec"]["template"]["spec"];
    let secret = spec["writeConnectionSecretToRef"]["name"]
        .as_str()
        .map(|n| {
            let ns = spec["writeConnectionSecretToRef"]["namespace"].as_str();
            (NamePattern::parse(n), ns.map(str::to_string))
        });
    let outputs = match (
        spec["forProvider"]["source"].as_str(),
        spec["forProvider"]["module"].as_str(),
    ) {
        (Some("Inline") | None, Some(module)) => Some(declared_outputs(module)?),
        _ => None,
    };
    Ok(Template {
        name: d.name().to_string(),
        namespace: d.namespace().map(str::to_string),
        secret,
        outputs,
    })
}

/// The names of the templates control planes use: the `workspaceTemplateRef`s of the CAPTControlPlanes and
/// CaptControlPlaneTemplates among `docs`; without any, the templates whose connection secret is
/// `…-eks-connection`.
pub fn control_plane_templates<'a>(docs: &[Doc], templates: &'a [Template]) -> Vec<&'a Template> {
    let refs: Vec<&str> = docs
        .iter()
        .filter_map(|d| match d.kind() {
            "CAPTControlPlane" => d.value["spec"]["workspaceTemplateRef"]["name"].as_str(),
            "CaptControlPlaneTemplate" => {
                d.value["spec"]["template"]["spec"]["workspaceTemplateRef"]["name"].as_str()
            }
            _ => None,
        })
        .collect();
    templates
        .iter()
        .filter(|t| {
            if refs.is_empty() {
                t.secret
                    .as_ref()
                    .is_some_and(|(p, _)| p.suffix().ends_with(suffixes::EKS_CONNECTION))
            } else {
                refs.contains(&t.name.as_str())
            }
        })
        .collect()
}

/// Every secret capt or the templates produce, most specific name first.
pub fn secret_sources<'a>(
    templates: &'a [Template],
    control_plane: &[&'a Template],
) -> Vec<SecretSource<'a>> {
    let cluster = |suffix: &str| NamePattern::parse(&format!("${{CLUSTER_NAME}}{suffix}"));
    let mut out = vec![
        SecretSource {
            pattern: cluster(suffixes::EKS_CONNECTION),
            namespace: None,
            origin: "capt (connection secret of the control plane's Workspace)".into(),
            keys: Keys::Outputs(control_plane.to_vec()),
        },
        SecretSource {
            pattern: cluster(suffixes::KUBECONFIG),
            namespace: None,
            origin: "capt (Cluster API kubeconfig)".into(),
            keys: Keys::Fixed(&[secrets::KUBECONFIG_VALUE_KEY]),
        },
        SecretSource {
            pattern: cluster(suffixes::CA),
            namespace: None,
            origin: "capt (cluster CA)".into(),
            keys: Keys::Fixed(&[secrets::TLS_CRT_KEY, secrets::CA_CRT_KEY]),
        },
    ];
    // capt names the control plane's connection secret itself, whatever its template says.
    let own = templates
        .iter()
        .filter(|t| !control_plane.iter().any(|c| std::ptr::eq(*c, *t)));
    for t in own {
        if let Some((pattern, ns)) = &t.secret {
            out.push(SecretSource {
                pattern: pattern.clone(),
                namespace: ns.clone().filter(|n| !n.contains("${")),
                origin: format!("WorkspaceTemplate {}", t.name),
                keys: Keys::Outputs(vec![t]),
            });
        }
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.pattern.suffix().len()));
    out
}

/// The sources whose name pattern produces `name`, most specific first; only the most specific suffix
/// length is kept (`<c>-outputs-kubeconfig` is not also `<c>-kubeconfig`).
pub fn sources_for<'s, 'a>(
    sources: &'s [SecretSource<'a>],
    name: &NamePattern,
) -> Vec<&'s SecretSource<'a>> {
    let matching: Vec<&SecretSource> = sources.iter().filter(|s| s.pattern.matches(name)).collect();
    let best = matching.first().map(|s| s.pattern.suffix().len());
    matching
        .into_iter()
        .filter(|s| Some(s.pattern.suffix().len()) == best)
        .collect()
}

impl Keys<'_> {
    /// Every key name, for hints.
    pub fn names(&self) -> Vec<String> {
        match self {
            Keys::Fixed(k) => k.iter().map(|s| s.to_string()).collect(),
            Keys::Outputs(ts) => {
                let mut v: Vec<String> = ts
                    .iter()
                    .flat_map(|t| t.outputs.iter().flatten().map(|o| o.name.clone()))
                    .collect();
                v.sort();
                v.dedup();
                v
            }
        }
    }
}
