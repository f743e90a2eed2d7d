//! The secrets rules: connection secrets published for Ready Workspaces, the kubeconfig and CA
//! secrets capt writes, and secrets whose owner is gone.

use super::index::Index;
use super::names as n;
use super::object::{Obj, Owner};
use super::report::Category;
use super::rules::Out;

/// A Ready Workspace has published its connection secret.
pub(super) fn connection_secret(idx: &Index<'_>, ws: Obj<'_>, out: &mut Out) {
    let (Some(sname), Some(sns)) = (
        ws.str_at("/spec/writeConnectionSecretToRef/name"),
        ws.str_at("/spec/writeConnectionSecretToRef/namespace"),
    ) else {
        return;
    };
    if ws.deleting() || !ws.condition_true("Ready") || idx.secrets.contains_key(&(sns, sname)) {
        return;
    }
    let what = format!("connection secret of Ready Workspace {} absent", ws.name());
    out.push(Category::Missing, "Secret", sns, sname, what);
}

/// Secrets that name a Workspace or a CAPTControlPlane as owner: the owner exists.
pub(super) fn owned_secrets(idx: &Index<'_>, out: &mut Out) {
    for ((ns, name), s) in &idx.secrets {
        let ws_owners: Vec<_> = s.owners_of_kind(n::TERRAFORM_GROUP, "Workspace").collect();
        if !ws_owners.is_empty() {
            let live = |o: &Owner<'_>| idx.workspaces.get(o.name).copied();
            if !ws_owners
                .iter()
                .any(|o| live(o).is_some_and(|w| o.uid.is_empty() || w.uid() == o.uid))
            {
                let o = ws_owners[0];
                let (category, what) = if live(&o).is_some() {
                    let what = format!("owned by an earlier Workspace {} (uid {})", o.name, o.uid);
                    (Category::WrongOwner, what)
                } else {
                    (
                        Category::Orphan,
                        format!("its Workspace {} is gone", o.name),
                    )
                };
                out.push(category, "Secret", ns, name, what);
            }
        }
        let Some(o) = s.owner_of_kind(n::CONTROL_PLANE_GROUP, "CAPTControlPlane") else {
            continue;
        };
        let Some(cp) = idx.control_planes.get(&(*ns, o.name)) else {
            let what = format!("its owner CAPTControlPlane {} is gone", o.name);
            out.push(Category::Orphan, "Secret", ns, name, what);
            continue;
        };
        let Some((_, cluster)) = idx.cluster_of_owner("CAPTControlPlane", *cp) else {
            continue;
        };
        let known = [n::KUBECONFIG, n::CA].map(|suffix| format!("{cluster}{suffix}"));
        if !known.iter().any(|k| k == name) {
            let what = format!(
                "owned by CAPTControlPlane {} but none of the secrets capt writes for it",
                o.name
            );
            out.push(Category::Orphan, "Secret", ns, name, what);
        }
    }
}

/// `<cluster>-kubeconfig` and `<cluster>-ca`: present once the secret sync is Ready, owned by
/// the control plane as controller, labelled, with the keys Cluster API reads.
pub(super) fn cluster_secrets(idx: &Index<'_>, cp: Obj<'_>, cluster: &str, out: &mut Out) {
    if cp.str_at("/status/secretSync/state") != Some("Ready") {
        return;
    }
    let ns = cp.namespace();
    let shapes: [(&str, Option<&str>, &[&str]); 2] = [
        (
            n::KUBECONFIG,
            Some(n::CLUSTER_SECRET_TYPE),
            &[n::KUBECONFIG_VALUE_KEY],
        ),
        (n::CA, None, &n::CA_KEYS),
    ];
    for (suffix, type_, keys) in shapes {
        let name = format!("{cluster}{suffix}");
        let Some(s) = idx.secrets.get(&(ns, name.as_str())) else {
            let what = format!(
                "secret sync of CAPTControlPlane {} is Ready but the secret is absent",
                cp.name()
            );
            out.push(Category::Missing, "Secret", ns, &name, what);
            continue;
        };
        let mut bad = |category, what: String| out.push(category, "Secret", ns, &name, what);
        match s.owner_of_kind(n::CONTROL_PLANE_GROUP, "CAPTControlPlane") {
            None => bad(
                Category::WrongOwner,
                format!("not owned by CAPTControlPlane {}", cp.name()),
            ),
            Some(o) if o.name != cp.name() || (!o.uid.is_empty() && o.uid != cp.uid()) => bad(
                Category::WrongOwner,
                format!(
                    "owned by CAPTControlPlane {} (uid {}), not {} (uid {})",
                    o.name,
                    o.uid,
                    cp.name(),
                    cp.uid()
                ),
            ),
            Some(o) if s.controller() != Some(o) => bad(
                Category::Malformed,
                "its ownerReference to the control plane is not a controller reference".into(),
            ),
            Some(_) => {}
        }
        if s.label(n::CLUSTER_NAME_LABEL) != Some(cluster) {
            bad(
                Category::Malformed,
                format!("label {} is not {cluster}", n::CLUSTER_NAME_LABEL),
            );
        }
        if let Some(t) = type_
            && s.str_at("/type") != Some(t)
        {
            let what = format!("type {:?}, not {t}", s.str_at("/type").unwrap_or_default());
            bad(Category::Malformed, what);
        }
        for key in keys.iter().filter(|k| !s.has_data_key(k)) {
            bad(Category::Malformed, format!("no data key {key}"));
        }
    }
}
