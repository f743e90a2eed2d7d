//! Checks of CAAPH HelmChartProxy value templates reading the control plane's Workspace outputs, and of
//! ClusterResourceSets naming capt-produced secrets.

use super::context::{Context, suggest};
use super::finding::{Finding, Severity};
use super::manifest::Doc;
use super::outputs::{Lookup, Shape};
use super::refs::{STATUS_OUTPUTS, resource_set_secrets, status_reads};

/// What is wrong with one read: severity, code, message and hint.
type Verdict = (Severity, &'static str, String, String);

/// Every finding for one HelmChartProxy, and how many reads were checked.
pub fn check_chart_proxy(d: &Doc, ctx: &Context) -> (Vec<Finding>, usize) {
    let template = d.value["spec"]["valuesTemplate"]
        .as_str()
        .unwrap_or_default();
    let reads = status_reads(template);
    let mut lines: Vec<usize> = reads.iter().map(|r| r.template_line).collect();
    lines.dedup();
    let mut out = Vec::new();
    for r in &reads {
        let Some((severity, code, message, hint)) = judge(&r.path, ctx) else {
            continue;
        };
        let nth = lines
            .iter()
            .position(|l| *l == r.template_line)
            .unwrap_or(0);
        out.push(Finding {
            severity,
            code,
            file: d.file.clone(),
            line: d.line_of(&[STATUS_OUTPUTS], nth),
            path: format!(
                "{} spec.valuesTemplate {STATUS_OUTPUTS}.{}",
                d.label(),
                r.path.join(".")
            ),
            message,
            hint,
        });
    }
    (out, reads.len())
}

/// A read of `outputs.<path>` against the control plane's templates: the output must be declared, not
/// sensitive (the status holds only the others), not null, and have the keys read after it.
fn judge(path: &[String], ctx: &Context) -> Option<Verdict> {
    let field = format!("outputs.{}", path.join("."));
    if ctx.control_plane.is_empty() {
        return Some((
            Severity::Warning,
            "no-template",
            format!("no control-plane WorkspaceTemplate found, so `{field}` is not checked"),
            "pass the control plane's WorkspaceTemplate with --templates".into(),
        ));
    }
    if ctx.control_plane.iter().any(|t| t.outputs.is_none()) {
        return None;
    }
    let name = &path[0];
    let outputs: Vec<_> = ctx
        .control_plane
        .iter()
        .flat_map(|t| t.outputs.iter().flatten())
        .collect();
    let Some(o) = outputs.iter().find(|o| &o.name == name) else {
        let names: Vec<String> = outputs
            .iter()
            .filter(|o| !o.sensitive)
            .map(|o| o.name.clone())
            .collect();
        return Some((
            Severity::Error,
            "unknown-output",
            format!("`{name}` is not an output of the control plane's WorkspaceTemplate"),
            suggest(name, &names),
        ));
    };
    if o.sensitive {
        return Some((
            Severity::Error,
            "sensitive-output",
            format!("output `{name}` is sensitive: provider-terraform keeps it out of status.atProvider.outputs (only the connection secret has it)"),
            "read it from the `<cluster>-eks-connection` secret (Flux valuesFrom), or drop `sensitive` if it may be shown".into(),
        ));
    }
    if o.shape() == Shape::Null {
        return Some((
            Severity::Error,
            "unpublished-output",
            format!(
                "output `{name}` is null: terraform keeps it out of its state, so the status never has it"
            ),
            "give the output a value".into(),
        ));
    }
    match o.lookup(&path[1..]) {
        Lookup::Missing(seg) => Some((
            Severity::Error,
            "unknown-output-key",
            format!("output `{name}` has no key `{seg}` at `{field}`"),
            "use a key the output's object declares".into(),
        )),
        Lookup::Found | Lookup::Unknown => None,
    }
}

/// Every finding for one ClusterResourceSet: a capt-produced secret is refused by Cluster API, which applies
/// only Secrets of type `addons.cluster.x-k8s.io/resource-set` holding manifests.
pub fn check_resource_set(d: &Doc, ctx: &Context) -> (Vec<Finding>, usize) {
    let mut out = Vec::new();
    let mut checked = 0;
    for (i, name) in resource_set_secrets(d) {
        let finding = |code, message: String, hint: String| Finding {
            severity: Severity::Error,
            code,
            file: d.file.clone(),
            line: d.line_of(&["name:", &name], 0),
            path: format!("{} spec.resources[{i}].name", d.label()),
            message,
            hint,
        };
        if let Some(s) = ctx.sources_for(&name).first() {
            checked += 1;
            out.push(finding(
                "resource-set-secret-type",
                format!(
                    "`{name}` is written by {}; ClusterResourceSet applies only Secrets of type addons.cluster.x-k8s.io/resource-set whose values are manifests, so Cluster API refuses it",
                    s.origin
                ),
                "read the values in the management cluster: a Flux HelmRelease with spec.kubeConfig.secretRef `<cluster>-kubeconfig` and valuesFrom this secret (samples/addons)".into(),
            ));
        } else if let Some(s) = ctx.near_miss(&name) {
            out.push(finding(
                "unknown-secret",
                format!(
                    "no secret named `{name}` is produced; {} writes `{}`",
                    s.origin, s.pattern
                ),
                format!("name the secret `…{}`", s.pattern.suffix()),
            ));
        }
    }
    (out, checked)
}
