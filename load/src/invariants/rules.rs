//! The rules: per cluster what must exist, and per object whether it belongs where it claims to.

use std::collections::BTreeMap;

use serde_json::Value;

use super::index::{Fingerprints, Index, Key, is_capt_workspace, workspace_apply};
use super::names as n;
use super::object::{Obj, path};
use super::report::{Category, Tally, Violation};
use super::secrets::{cluster_secrets, connection_secret, owned_secrets};

/// What an apply is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Vpc,
    Eks,
    SpotCheck,
    SpotCreate,
    Kubeconfig,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Vpc => "VPC",
            Role::Eks => "EKS control plane",
            Role::SpotCheck => "spot role check",
            Role::SpotCreate => "spot role create",
            Role::Kubeconfig => "kubeconfig",
        }
    }
}

/// The applies of one owner (`kind`, namespace, name) and role.
type Groups<'a> = BTreeMap<(&'static str, Key<'a>, Role), Vec<Obj<'a>>>;

pub(super) struct Out<'o> {
    found: &'o mut Vec<Violation>,
}

impl Out<'_> {
    pub(super) fn push(
        &mut self,
        category: Category,
        kind: &str,
        ns: &str,
        name: &str,
        what: String,
    ) {
        self.found.push(Violation {
            category,
            kind: kind.to_string(),
            object: path(ns, name),
            what,
        });
    }
}

fn role_of(kind: &str, owner: Obj<'_>, apply: Obj<'_>) -> Option<Role> {
    if kind == "CAPTCluster" {
        return Some(Role::Vpc);
    }
    match apply.str_at("/spec/templateRef/name")? {
        n::SPOT_ROLE_CHECK_TEMPLATE => Some(Role::SpotCheck),
        n::SPOT_ROLE_CREATE_TEMPLATE => Some(Role::SpotCreate),
        n::KUBECONFIG_TEMPLATE => Some(Role::Kubeconfig),
        t if Some(t) == owner.str_at("/spec/workspaceTemplateRef/name") => Some(Role::Eks),
        _ => None,
    }
}

/// The name capt gives the apply of `role` for `owner`.
fn apply_name(role: Role, owner: Obj<'_>) -> String {
    let named = owner
        .str_at("/spec/workspaceTemplateApplyName")
        .filter(|s| !s.is_empty());
    let suffix = match role {
        Role::Vpc => n::VPC,
        Role::Eks => n::EKS_CONTROL_PLANE_APPLY,
        Role::SpotCheck => n::SPOT_ROLE_CHECK,
        Role::SpotCreate => n::SPOT_ROLE_CREATE,
        Role::Kubeconfig => n::KUBECONFIG_APPLY,
    };
    match (role, named) {
        (Role::Vpc | Role::Eks, Some(name)) => name.to_string(),
        _ => format!("{}{suffix}", owner.name()),
    }
}

/// The Workspace an apply renders: the name in its status, else its own name without `-apply`.
fn workspace_name<'a>(apply: Obj<'a>) -> &'a str {
    apply
        .str_at("/status/workspaceName")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| {
            let name = apply.name();
            name.strip_suffix(n::APPLY).unwrap_or(name)
        })
}

/// Applies: owner present and the right one, labelled for its cluster, of a known role.
fn applies<'a>(idx: &Index<'a>, out: &mut Out) -> Groups<'a> {
    let mut groups = Groups::new();
    for ((ns, name), a) in &idx.applies {
        let kind = "WorkspaceTemplateApply";
        let Some(o) = a.controller() else {
            if let Some(c) = a.label(n::CLUSTER_NAME_LABEL) {
                let what = format!("labelled for cluster {c} but has no controller owner");
                out.push(Category::Orphan, kind, ns, name, what);
            }
            continue;
        };
        let owner_kind = match (o.group(), o.kind) {
            (n::INFRASTRUCTURE_GROUP, "CAPTCluster") => "CAPTCluster",
            (n::CONTROL_PLANE_GROUP, "CAPTControlPlane") => "CAPTControlPlane",
            _ => continue,
        };
        let Some((_, owner)) = idx.controlling(*a) else {
            let what = format!("its owner {owner_kind} {} is gone", o.name);
            out.push(Category::Orphan, kind, ns, name, what);
            continue;
        };
        if !o.uid.is_empty() && o.uid != owner.uid() {
            let what = format!(
                "owned by an earlier {owner_kind} {} (uid {})",
                o.name, o.uid
            );
            out.push(Category::WrongOwner, kind, ns, name, what);
            continue;
        }
        if let Some((_, cluster)) = idx.cluster_of_owner(owner_kind, owner)
            && a.label(n::CLUSTER_NAME_LABEL) != Some(cluster)
        {
            let what = format!(
                "label {} is {:?}, its cluster is {cluster}",
                n::CLUSTER_NAME_LABEL,
                a.label(n::CLUSTER_NAME_LABEL).unwrap_or_default()
            );
            out.push(Category::Malformed, kind, ns, name, what);
        }
        let Some(role) = role_of(owner_kind, owner, *a) else {
            let what = format!(
                "owned by {owner_kind} {} but none of the applies capt creates for it (template {})",
                o.name,
                a.str_at("/spec/templateRef/name").unwrap_or("-")
            );
            out.push(Category::Orphan, kind, ns, name, what);
            continue;
        };
        if !a.deleting() {
            groups
                .entry((owner_kind, (*ns, o.name), role))
                .or_default()
                .push(*a);
        }
    }
    for ((owner_kind, (ns, owner), role), members) in &groups {
        let Some(o) = lookup(idx, owner_kind, ns, owner) else {
            continue;
        };
        let expected = apply_name(*role, o);
        for a in members.iter().filter(|a| a.name() != expected) {
            let what = format!(
                "a second {} apply for {owner_kind} {owner} (capt's is {expected})",
                role.as_str()
            );
            out.push(
                Category::Duplicate,
                "WorkspaceTemplateApply",
                ns,
                a.name(),
                what,
            );
        }
    }
    groups
}

fn lookup<'a>(idx: &Index<'a>, kind: &str, ns: &'a str, name: &'a str) -> Option<Obj<'a>> {
    let m = if kind == "CAPTCluster" {
        &idx.capt_clusters
    } else {
        &idx.control_planes
    };
    m.get(&(ns, name)).copied()
}

/// `role` of `owner` must have its apply when `why` says so.
fn expect_apply<'a>(
    idx: &Index<'a>,
    groups: &Groups<'a>,
    owner_kind: &'static str,
    owner: Obj<'a>,
    role: Role,
    why: Option<&str>,
    out: &mut Out,
) {
    let Some(why) = why else { return };
    let expected = apply_name(role, owner);
    let key = (owner_kind, (owner.namespace(), owner.name()), role);
    let present = groups
        .get(&key)
        .is_some_and(|m| m.iter().any(|a| a.name() == expected));
    // One under the expected name that is not this owner's is reported from its own side.
    if !present
        && !idx
            .applies
            .contains_key(&(owner.namespace(), expected.as_str()))
    {
        let what = format!(
            "{} apply of {owner_kind} {} absent ({why})",
            role.as_str(),
            owner.name()
        );
        out.push(
            Category::Missing,
            "WorkspaceTemplateApply",
            owner.namespace(),
            &expected,
            what,
        );
    }
}

/// Workspaces: each apply that applied has its Workspace, each capt Workspace its apply.
fn workspaces(idx: &Index<'_>, groups: &Groups<'_>, tally: &mut Tally, out: &mut Out) {
    for a in groups.values().flatten() {
        let applied = a.bool_at("/status/applied") || a.str_at("/status/workspaceName").is_some();
        if !applied {
            continue;
        }
        let ws_name = workspace_name(*a);
        let me = (a.namespace(), a.name());
        match idx.workspaces.get(ws_name) {
            None => {
                let what = format!(
                    "Workspace of apply {} absent",
                    path(a.namespace(), a.name())
                );
                out.push(Category::Missing, "Workspace", "", ws_name, what);
            }
            Some(ws) if workspace_apply(*ws) != Some(me) => {
                let what = format!(
                    "apply {} renders it, but it names {} as its owner",
                    path(a.namespace(), a.name()),
                    workspace_apply(*ws).map_or("nobody".to_string(), |(ns, n)| path(ns, n))
                );
                out.push(Category::WrongOwner, "Workspace", "", ws_name, what);
            }
            Some(_) => {}
        }
    }
    for (name, ws) in &idx.workspaces {
        if !is_capt_workspace(*ws) {
            continue;
        }
        let Some((ans, aname)) = workspace_apply(*ws) else {
            let what = "labelled as capt's but names no apply".to_string();
            out.push(Category::Orphan, "Workspace", "", name, what);
            continue;
        };
        match idx.applies.get(&(ans, aname)) {
            None if name.ends_with(n::SPOT_ROLE_CREATE) => tally.retained += 1,
            None => {
                let what = format!("its apply {} is gone", path(ans, aname));
                out.push(Category::Orphan, "Workspace", "", name, what);
            }
            Some(a) if !a.deleting() && workspace_name(*a) != *name => {
                let what = format!(
                    "a second Workspace for apply {} (its Workspace is {})",
                    path(ans, aname),
                    workspace_name(*a)
                );
                out.push(Category::Duplicate, "Workspace", "", name, what);
            }
            Some(_) => {}
        }
        connection_secret(idx, *ws, out);
    }
}

/// Which applies the control plane must have, and why.
fn control_plane_applies<'a>(
    idx: &Index<'a>,
    groups: &Groups<'a>,
    cluster: Obj<'a>,
    cp: Obj<'a>,
    out: &mut Out,
) {
    if !cp.bool_at("/status/ready") {
        return;
    }
    let ns = cp.namespace();
    let k = "CAPTControlPlane";
    expect_apply(
        idx,
        groups,
        k,
        cp,
        Role::Eks,
        Some("the control plane is ready"),
        out,
    );
    let spot = idx.has_template(ns, n::SPOT_ROLE_CHECK_TEMPLATE);
    let why = spot.then_some("template spot-role-check exists and the control plane is ready");
    expect_apply(idx, groups, k, cp, Role::SpotCheck, why, out);
    let check_ws = idx
        .applies
        .get(&(ns, apply_name(Role::SpotCheck, cp).as_str()))
        .and_then(|a| idx.workspaces.get(workspace_name(*a)));
    let role_missing = check_ws.is_some_and(|ws| {
        ws.condition_true("Ready")
            && ws.0.pointer("/status/atProvider/outputs/role_exists") != Some(&Value::Bool(true))
    });
    let why = (spot && role_missing && idx.has_template(ns, n::SPOT_ROLE_CREATE_TEMPLATE))
        .then_some("the spot role check found no role");
    expect_apply(idx, groups, k, cp, Role::SpotCreate, why, out);
    let template = idx.has_template(ns, n::KUBECONFIG_TEMPLATE)
        || idx.has_template(n::DEFAULT_NAMESPACE, n::KUBECONFIG_TEMPLATE);
    let region = cp
        .str_at("/spec/controlPlaneConfig/region")
        .or_else(|| cluster.annotation(n::REGION_ANNOTATION))
        .is_some_and(|r| !r.is_empty());
    let ca = idx
        .applies
        .get(&(ns, apply_name(Role::Eks, cp).as_str()))
        .and_then(|a| {
            let sns = a.str_at("/spec/writeConnectionSecretToRef/namespace")?;
            let sname = a.str_at("/spec/writeConnectionSecretToRef/name")?;
            idx.secrets.get(&(sns, sname))
        })
        .is_some_and(|s| s.has_data_key(n::CLUSTER_CA_DATA_KEY));
    let why = (template && region && ca).then_some(
        "the control plane is ready, its connection secret has the CA and eks-kubeconfig-template exists",
    );
    expect_apply(idx, groups, k, cp, Role::Kubeconfig, why, out);
}

/// CAPTClusters and CAPTControlPlanes that no Cluster references.
fn unreferenced(idx: &Index<'_>, out: &mut Out) {
    for (kind, objs, refs) in [
        ("CAPTCluster", &idx.capt_clusters, &idx.infra_of),
        (
            "CAPTControlPlane",
            &idx.control_planes,
            &idx.control_plane_of,
        ),
    ] {
        for ((ns, name), o) in objs {
            if refs.contains_key(&(*ns, *name)) {
                continue;
            }
            let what = match o.owner_of_kind(n::CLUSTER_API_GROUP, "Cluster") {
                Some(c) if !idx.clusters.contains_key(&(*ns, c.name)) => {
                    format!("its Cluster {} is gone", c.name)
                }
                Some(c) => format!(
                    "owned by Cluster {} which references another {kind}",
                    c.name
                ),
                None => "no Cluster references it".to_string(),
            };
            out.push(Category::Orphan, kind, ns, name, what);
        }
    }
}

/// Cluster API's view of the cluster: failure recorded, kubeconfig usable.
fn capi_status(c: Obj<'_>, tally: &mut Tally, out: &mut Out) {
    let (ns, name) = (c.namespace(), c.name());
    if let Some(reason) = c.str_at("/status/failureReason").filter(|r| !r.is_empty()) {
        let msg = c.str_at("/status/failureMessage").unwrap_or_default();
        let what = format!("status.failureReason {reason}: {msg}");
        out.push(Category::Failed, "Cluster", ns, name, what);
    }
    match c.condition_in("/status/v1beta2/conditions", n::REMOTE_CONNECTION_PROBE) {
        None => tally.kubeconfig_unknown += 1,
        Some(cond) if cond.get("status").and_then(Value::as_str) != Some("True") => {
            let s = |k: &str| cond.get(k).and_then(Value::as_str).unwrap_or("-");
            let what = format!(
                "{}={} {}: {}",
                n::REMOTE_CONNECTION_PROBE,
                s("status"),
                s("reason"),
                s("message")
            );
            out.push(Category::KubeconfigUnusable, "Cluster", ns, name, what);
        }
        Some(_) => {}
    }
}

fn explain(cc: Option<Obj<'_>>, cp: Option<Obj<'_>>, kubeconfig: bool) -> String {
    let ready = |o: Option<Obj<'_>>| match o {
        None => "absent".to_string(),
        Some(o) => format!("ready={}", o.bool_at("/status/ready")),
    };
    let cp_reason = cp
        .and_then(|o| o.condition("Ready"))
        .and_then(|c| c.get("reason"))
        .and_then(Value::as_str)
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    format!(
        "not Ready and unchanged over the window: CAPTCluster {}, CAPTControlPlane {}{cp_reason}, kubeconfig secret {}",
        ready(cc),
        ready(cp),
        if kubeconfig { "present" } else { "absent" }
    )
}

pub fn run(
    idx: &Index<'_>,
    earlier: Option<&Fingerprints>,
    found: &mut Vec<Violation>,
    tally: &mut Tally,
) {
    let mut out = Out { found };
    let groups = applies(idx, &mut out);
    workspaces(idx, &groups, tally, &mut out);
    owned_secrets(idx, &mut out);
    unreferenced(idx, &mut out);
    let now = earlier.map(|_| idx.fingerprints());
    for ((ns, name), c) in &idx.clusters {
        tally.clusters += 1;
        let cc = idx.infra_of_cluster(ns, name);
        let cp = idx.control_plane_of_cluster(ns, name);
        for (kind, key, obj) in [
            ("CAPTCluster", cc.0, cc.1),
            ("CAPTControlPlane", cp.0, cp.1),
        ] {
            let Some((rns, rname)) = key else { continue };
            match obj {
                None if !c.deleting() => {
                    let what = format!("referenced by Cluster {name} but absent");
                    out.push(Category::Missing, kind, rns, rname, what);
                }
                Some(o) => match o.owner_of_kind(n::CLUSTER_API_GROUP, "Cluster") {
                    Some(w) if w.name != *name || (!w.uid.is_empty() && w.uid != c.uid()) => {
                        let what =
                            format!("owned by Cluster {} (uid {}), not {name}", w.name, w.uid);
                        out.push(Category::WrongOwner, kind, rns, rname, what);
                    }
                    _ => {}
                },
                None => {}
            }
        }
        let (cc, cp) = (cc.1, cp.1);
        let kubeconfig = idx
            .secrets
            .contains_key(&(*ns, format!("{name}{}", n::KUBECONFIG).as_str()));
        let ready = !c.deleting()
            && cc.is_some_and(|o| o.bool_at("/status/ready"))
            && cp.is_some_and(|o| o.bool_at("/status/ready"))
            && kubeconfig;
        if ready {
            tally.ready_clusters += 1;
        } else if let (Some(before), Some(now)) = (earlier, &now) {
            let key = path(ns, name);
            if before.get(&key).is_some() && before.get(&key) == now.get(&key) {
                out.push(
                    Category::Stuck,
                    "Cluster",
                    ns,
                    name,
                    explain(cc, cp, kubeconfig),
                );
            }
        }
        if c.deleting() {
            continue;
        }
        capi_status(*c, tally, &mut out);
        if let Some(cc) = cc.filter(|o| !o.deleting()) {
            let uses_template =
                cc.0.pointer("/spec/vpcTemplateRef")
                    .is_some_and(|v| !v.is_null())
                    && cc.str_at("/spec/existingVpcId").is_none_or(str::is_empty);
            let why = (uses_template && cc.bool_at("/status/ready"))
                .then_some("the VPC comes from a template and is ready");
            expect_apply(idx, &groups, "CAPTCluster", cc, Role::Vpc, why, &mut out);
        }
        if let Some(cp) = cp.filter(|o| !o.deleting()) {
            control_plane_applies(idx, &groups, *c, cp, &mut out);
            cluster_secrets(idx, cp, name, &mut out);
        }
    }
}
