//! Who may use which WorkspaceTemplate. A template runs terraform with its namespace's provider
//! credentials, so a reference is permitted only when the template is in the referrer's own
//! namespace, in the shared template namespace (`--shared-template-namespace`, default `default`),
//! or a `WorkspaceTemplateGrant` in the template's namespace names the referrer's kind and
//! namespace and the template.

use crate::api::{TemplateRef, WorkspaceTemplateGrant};

/// Condition reason and Event reason of a refused reference.
pub const REF_NOT_PERMITTED: &str = "RefNotPermitted";
/// Condition type a running control plane reports a refused reference with (its phase and
/// readiness are left as they are).
pub const TEMPLATE_REF_PERMITTED: &str = "TemplateRefPermitted";

/// The object that references a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Referrer<'a> {
    /// `CAPTCluster`, `CAPTControlPlane` or `WorkspaceTemplateApply`.
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    /// For an apply created by a CAPTCluster or CAPTControlPlane that itself references the same
    /// template: that owner's kind, whose grants cover the apply too.
    pub on_behalf_of: Option<&'a str>,
}

/// Why a reference is permitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Permit {
    SameNamespace,
    SharedNamespace,
    /// By the named grant of the template's namespace.
    Granted(String),
}

/// A refused reference: who may not use which template, and the grant that would allow it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{kind} {namespace}/{name} may not use WorkspaceTemplate {template_namespace}/{template}: it is \
     neither in namespace {namespace} nor in the shared template namespace {shared}, and no \
     WorkspaceTemplateGrant in {template_namespace} allows it (a grant there with from \
     [{{kind: {kind}, namespace: {namespace}}}] and to [{{name: {template}}}] would)"
)]
pub struct RefNotPermitted {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub template_namespace: String,
    pub template: String,
    pub shared: String,
}

/// Whether `grant` lets `kind` objects of `namespace` use template `template`.
pub fn grant_allows(
    grant: &WorkspaceTemplateGrant,
    kind: &str,
    namespace: &str,
    template: &str,
) -> bool {
    let from = grant
        .spec
        .from
        .iter()
        .any(|f| f.kind == kind && f.namespace == namespace);
    let to = grant.spec.to.iter().any(|t| match t.name.as_deref() {
        None | Some("") => true,
        Some(n) => n == template,
    });
    from && to
}

/// Check `referrer`'s reference to `template`. `grants` may hold grants of any namespace: only
/// those in the template's namespace count.
pub fn check<'g>(
    referrer: &Referrer,
    template: &TemplateRef,
    shared_namespace: &str,
    grants: impl IntoIterator<Item = &'g WorkspaceTemplateGrant>,
) -> Result<Permit, Box<RefNotPermitted>> {
    let tns = template.namespace_or(referrer.namespace);
    if tns == referrer.namespace {
        return Ok(Permit::SameNamespace);
    }
    if !shared_namespace.is_empty() && tns == shared_namespace {
        return Ok(Permit::SharedNamespace);
    }
    let kinds = [Some(referrer.kind), referrer.on_behalf_of];
    for g in grants {
        if g.metadata.namespace.as_deref() != Some(tns) {
            continue;
        }
        let allowed = kinds
            .iter()
            .flatten()
            .any(|k| grant_allows(g, k, referrer.namespace, &template.name));
        if allowed {
            return Ok(Permit::Granted(g.metadata.name.clone().unwrap_or_default()));
        }
    }
    Err(Box::new(RefNotPermitted {
        kind: referrer.kind.to_string(),
        namespace: referrer.namespace.to_string(),
        name: referrer.name.to_string(),
        template_namespace: tns.to_string(),
        template: template.name.clone(),
        shared: shared_namespace.to_string(),
    }))
}

/// Whether two references (each resolved against its referrer's namespace) name the same template.
pub fn same_template(
    a: &TemplateRef,
    a_namespace: &str,
    b: &TemplateRef,
    b_namespace: &str,
) -> bool {
    a.name == b.name && a.namespace_or(a_namespace) == b.namespace_or(b_namespace)
}

#[cfg(test)]
#[path = "grants_tests.rs"]
mod tests;
