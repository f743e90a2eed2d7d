//! Checks against a running management cluster: for every CAPTControlPlane, the secrets the HelmReleases
//! read have the keys, non-empty, and the control plane's status has the outputs the HelmChartProxies read.
//! Values are only tested for presence and emptiness; none is printed.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

use super::context::Context;
use super::finding::{Finding, Severity};
use super::manifest::Doc;
use super::pattern::NamePattern;
use super::refs::{self, STATUS_OUTPUTS};
use crate::api::CAPTControlPlane;

/// What the cluster has for one control plane.
struct Live<'a> {
    client: &'a Client,
    cp: &'a CAPTControlPlane,
}

/// Live findings for every add-on document; also returns how many control planes were looked at.
pub async fn check(
    client: &Client,
    docs: &[Doc],
    ctx: &Context<'_>,
) -> Result<(Vec<Finding>, usize), kube::Error> {
    let cps = Api::<CAPTControlPlane>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items;
    let mut out = Vec::new();
    for cp in &cps {
        let live = Live { client, cp };
        for d in docs {
            if d.namespace()
                .is_some_and(|ns| Some(ns.to_string()) != cp.namespace())
            {
                continue;
            }
            if refs::is_helm_release(d) {
                out.extend(live.helm_release(d, ctx).await?);
            } else if refs::is_helm_chart_proxy(d) {
                out.extend(live.chart_proxy(d));
            }
        }
    }
    Ok((out, cps.len()))
}

impl Live<'_> {
    fn cluster(&self) -> String {
        format!(
            "{}/{}",
            self.cp.namespace().unwrap_or_default(),
            self.cp.name_any()
        )
    }

    /// Missing values of a control plane that is not ready yet are expected: a warning, not an error.
    fn severity(&self) -> Severity {
        if self.cp.status.as_ref().is_some_and(|s| s.ready) {
            Severity::Error
        } else {
            Severity::Warning
        }
    }

    async fn helm_release(&self, d: &Doc, ctx: &Context<'_>) -> Result<Vec<Finding>, kube::Error> {
        let ns = self.cp.namespace().unwrap_or_default();
        let secrets = Api::<Secret>::namespaced(self.client.clone(), &ns);
        let mut out = Vec::new();
        for e in refs::values_from(d) {
            if ctx.sources_for(&e.name).is_empty() {
                continue;
            }
            let pattern = NamePattern::parse(&e.name);
            // A literal name belongs to one cluster: check it for that control plane only.
            if pattern
                .literal()
                .is_some_and(|l| !l.starts_with(&format!("{}-", self.cp.name_any())))
            {
                continue;
            }
            let name = pattern.instantiate(&self.cp.name_any());
            let key = e.values_key.clone().unwrap_or_else(|| "values.yaml".into());
            let problem = match secrets.get_opt(&name).await? {
                None => Some(format!("secret `{ns}/{name}` does not exist")),
                Some(s) => match s.data.as_ref().and_then(|m| m.get(&key)) {
                    None => Some(format!("secret `{ns}/{name}` has no key `{key}`")),
                    Some(v) if v.0.is_empty() => {
                        Some(format!("key `{key}` of secret `{ns}/{name}` is empty"))
                    }
                    Some(_) => None,
                },
            };
            let Some(message) = problem else { continue };
            out.push(Finding {
                severity: if e.optional { Severity::Warning } else { self.severity() },
                code: "live-secret-value",
                file: d.file.clone(),
                line: d.line_of(&["valuesKey:", &key], 0),
                path: format!("{} spec.valuesFrom[{}] for control plane {}", d.label(), e.index, self.cluster()),
                message,
                hint: "check the control plane's Workspace outputs (kubectl describe workspace) and that the template declares the output".into(),
            });
        }
        Ok(out)
    }

    fn chart_proxy(&self, d: &Doc) -> Vec<Finding> {
        let template = d.value["spec"]["valuesTemplate"]
            .as_str()
            .unwrap_or_default();
        let outputs = self
            .cp
            .status
            .as_ref()
            .and_then(|s| s.workspace_status.as_ref())
            .and_then(|w| w.at_provider.as_ref())
            .map(|a| a["outputs"].clone())
            .unwrap_or_default();
        let mut out = Vec::new();
        for r in refs::status_reads(template) {
            let value = r.path.iter().fold(&outputs, |v, k| &v[k]);
            let empty = match value {
                serde_json::Value::Null => true,
                serde_json::Value::String(s) => s.is_empty(),
                _ => false,
            };
            if !empty {
                continue;
            }
            let field = r.path.join(".");
            out.push(Finding {
                severity: self.severity(),
                code: "live-status-output",
                file: d.file.clone(),
                line: d.line_of(&[STATUS_OUTPUTS], 0),
                path: format!("{} {STATUS_OUTPUTS}.{field} for control plane {}", d.label(), self.cluster()),
                message: format!("status.workspaceStatus.atProvider.outputs.{field} is missing or empty"),
                hint: "wait for the control plane to be Ready, or check that the output is declared and not sensitive".into(),
            });
        }
        out
    }
}
