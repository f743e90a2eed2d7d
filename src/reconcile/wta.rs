//! WorkspaceTemplateApply decisions: render the template into a cluster-scoped Workspace, keep it in
//! step with the rendered spec, recreate it when deleted from outside, mirror its conditions,
//! and delete or retain it on deletion.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{Resource, ResourceExt};
use serde_json::{Map, Value, json};

use super::grants::{REF_NOT_PERMITTED, RefNotPermitted};
use super::ownership::{
    OWNER_ANNOTATION, ROOT_OWNER_ANNOTATION, SPEC_HASH_ANNOTATION, owner_id, workspace_labels,
};
use super::plan::{Blocked, Child, Op, Plan, Wait};
use super::render::{render, spec_hash, unresolved_placeholders};
use crate::api::kinds::Kind;
use crate::api::names::{
    annotations, events, finalizers, groups, status as cstatus, workspace_name_for_apply,
};
use crate::api::{
    CrossplaneCondition, Workspace, WorkspaceTemplate, WorkspaceTemplateApply,
    WorkspaceTemplateApplyStatus,
};

/// capt's own condition on a WorkspaceTemplateApply, beside the mirrored Workspace conditions.
pub const RENDERED: &str = "Rendered";
pub mod reasons {
    pub const APPLIED: &str = "Applied";
    pub const TEMPLATE_NOT_FOUND: &str = "TemplateNotFound";
    pub const WAITING_FOR_SECRETS: &str = "WaitingForSecrets";
    pub const WAITING_FOR_WORKSPACES: &str = "WaitingForWorkspaces";
    pub const WAITING_FOR_CLUSTER: &str = "WaitingForCluster";
    pub const RENDER_FAILED: &str = "RenderFailed";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const NAME_CONFLICT: &str = "WorkspaceNameConflict";
    pub const DELETING: &str = "WaitingForWorkspaceDeletion";
    pub const UPDATED_WORKSPACE: &str = "UpdatedWorkspace";
    pub const RECREATED_WORKSPACE: &str = "RecreatedWorkspace";
    pub const UNRESOLVED_PLACEHOLDERS: &str = "UnresolvedPlaceholders";
}

/// What the caches hold for one apply.
pub struct WtaWorld<'a> {
    pub template: Option<&'a WorkspaceTemplate>,
    /// Workspace by name.
    pub workspace: &'a dyn Fn(&str) -> Option<Arc<Workspace>>,
    /// `namespace/name` of `waitForSecrets` entries that do not exist.
    pub missing_secrets: Vec<String>,
    /// `waitForWorkspaces` entries that do not exist or are not Ready: (name, exists).
    pub unready_workspaces: Vec<(String, bool)>,
    /// `Kind/namespace/name` of the apply's controller owner.
    pub root_owner: Option<String>,
    /// W3C trace context for created Workspaces.
    pub traceparent: Option<String>,
    /// The apply or the Cluster it belongs to (its `cluster.x-k8s.io/cluster-name` label) is paused.
    pub paused: bool,
    /// The apply names a Cluster (its label) that the cache does not hold: whether it is paused is
    /// unknown (a `clusterctl move` creates the Cluster first, but caches fill independently).
    pub cluster_missing: bool,
    /// The template reference is not permitted (see [`super::grants`]): nothing is rendered.
    pub refused: Option<RefNotPermitted>,
    pub now: Time,
}

fn my_id(wta: &WorkspaceTemplateApply) -> String {
    owner_id(
        "WorkspaceTemplateApply",
        &wta.namespace().unwrap_or_default(),
        &wta.name_any(),
    )
}

/// Whose a Workspace is: ours, nobody's (adoptable: created before capt labelled its Workspaces),
/// or another apply's.
#[derive(Debug, PartialEq, Eq)]
pub enum Ownership {
    Ours,
    Unowned,
    Foreign(String),
}

pub fn ownership(ws: &Workspace, me: &str) -> Ownership {
    match ws.annotations().get(OWNER_ANNOTATION) {
        None => Ownership::Unowned,
        Some(o) if o == me => Ownership::Ours,
        Some(o) => Ownership::Foreign(o.clone()),
    }
}

/// Short stable suffix for a namespace, used when the upstream Workspace name is taken by an apply
/// in another namespace (Workspaces are cluster-scoped, G-18).
fn namespace_suffix(ns: &str) -> String {
    spec_hash(&Value::String(ns.to_string()))[..8].to_string()
}

/// The Workspace name: recorded in status once chosen; otherwise the upstream name (apply name
/// without `-apply`) unless another apply owns it, then the upstream name plus a namespace hash.
pub fn choose_name(wta: &WorkspaceTemplateApply, world: &WtaWorld) -> Result<String, String> {
    if let Some(n) = wta
        .status
        .as_ref()
        .and_then(|s| s.workspace_name.clone())
        .filter(|n| !n.is_empty())
    {
        return Ok(n);
    }
    let me = my_id(wta);
    let base = workspace_name_for_apply(&wta.name_any()).to_string();
    let alt = format!(
        "{base}-{}",
        namespace_suffix(&wta.namespace().unwrap_or_default())
    );
    let mut last_owner = String::new();
    for cand in [base, alt] {
        if cand.len() > super::limits::MAX_NAME_LEN {
            continue;
        }
        match (world.workspace)(&cand).map(|ws| ownership(&ws, &me)) {
            None | Some(Ownership::Ours) | Some(Ownership::Unowned) => return Ok(cand),
            Some(Ownership::Foreign(o)) => last_owner = o,
        }
    }
    Err(last_owner)
}

fn set_rendered(
    st: &mut WorkspaceTemplateApplyStatus,
    ok: bool,
    reason: &str,
    message: &str,
    now: &Time,
) {
    let status = if ok { cstatus::TRUE } else { cstatus::FALSE };
    let keep_time = st
        .conditions
        .iter()
        .find(|c| c.type_ == RENDERED && c.status == status)
        .and_then(|c| c.last_transition_time.clone());
    st.conditions.retain(|c| c.type_ != RENDERED);
    st.conditions.push(CrossplaneCondition {
        type_: RENDERED.into(),
        status: status.into(),
        reason: reason.into(),
        message: (!message.is_empty()).then(|| message.to_string()),
        last_transition_time: Some(keep_time.unwrap_or_else(|| now.clone())),
        observed_generation: None,
    });
}

const SPEC_KEYS: [&str; 6] = [
    "forProvider",
    "providerConfigRef",
    "deletionPolicy",
    "managementPolicies",
    "writeConnectionSecretToRef",
    "publishConnectionDetailsTo",
];
const FOR_PROVIDER_KEYS: [&str; 13] = [
    "module",
    "source",
    "entrypoint",
    "vars",
    "varmap",
    "varFiles",
    "env",
    "initArgs",
    "planArgs",
    "applyArgs",
    "destroyArgs",
    "inlineFormat",
    "enableTerraformCLILogging",
];

/// A merge patch that replaces the Workspace spec with `spec` (fields absent from `spec` are removed).
pub fn replace_spec_patch(spec: &Value) -> Value {
    let mut out = spec.as_object().cloned().unwrap_or_default();
    for k in SPEC_KEYS {
        out.entry(k).or_insert(Value::Null);
    }
    if let Some(Value::Object(fp)) = out.get_mut("forProvider") {
        for k in FOR_PROVIDER_KEYS {
            fp.entry(k).or_insert(Value::Null);
        }
        if fp.get("varmap").is_some_and(Value::is_object) {
            // Objects merge in a merge patch; clear the old varmap first by writing it whole.
            let vm = fp["varmap"].clone();
            fp.insert("varmap".into(), vm);
        }
    }
    Value::Object(out)
}

/// Render the apply's Workspace spec: template spec with placeholders substituted, and the apply's
/// `writeConnectionSecretToRef` (if any) in place of the template's.
pub fn rendered_spec(
    wta: &WorkspaceTemplateApply,
    template: &WorkspaceTemplate,
    ws_name: &str,
) -> Result<Value, String> {
    let tspec = serde_json::to_value(&template.spec.template.spec).map_err(|e| e.to_string())?;
    let mut spec = render(&tspec, ws_name, &wta.spec.variables).map_err(|e| e.to_string())?;
    if let (Some(r), Some(obj)) = (
        &wta.spec.write_connection_secret_to_ref,
        spec.as_object_mut(),
    ) {
        obj.insert(
            "writeConnectionSecretToRef".into(),
            json!({"name": r.name, "namespace": r.namespace}),
        );
    }
    Ok(spec)
}

fn workspace_child(name: &str, body: Value) -> Child {
    Child {
        api_version: groups::TERRAFORM_API_VERSION,
        kind: "Workspace",
        plural: "workspaces",
        namespace: None,
        name: name.to_string(),
        body,
    }
}

fn workspace_metadata(wta: &WorkspaceTemplateApply, world: &WtaWorld, hash: &str) -> Value {
    let mut ann = Map::new();
    ann.insert(OWNER_ANNOTATION.into(), my_id(wta).into());
    ann.insert(SPEC_HASH_ANNOTATION.into(), hash.into());
    if let Some(r) = &world.root_owner {
        ann.insert(ROOT_OWNER_ANNOTATION.into(), r.clone().into());
    }
    if let Some(tp) = &world.traceparent {
        ann.insert(annotations::TRACEPARENT.into(), tp.clone().into());
    }
    json!({
        "labels": workspace_labels(&wta.namespace().unwrap_or_default(), &wta.name_any()),
        "annotations": ann,
    })
}

fn has_finalizer<K: Resource>(obj: &K, f: &str) -> bool {
    obj.meta()
        .finalizers
        .as_ref()
        .is_some_and(|v| v.iter().any(|x| x == f))
}

/// Why an apply cannot render and apply now, and whether that deserves a Warning.
type NotReady = (Blocked, bool);

/// Everything the apply step needs: the Workspace name, the existing Workspace
/// (ours or unowned) and the rendered spec — or why not.
fn ready_to_apply(
    wta: &WorkspaceTemplateApply,
    world: &WtaWorld,
    observed: &WorkspaceTemplateApplyStatus,
    me: &str,
) -> Result<(String, Option<Arc<Workspace>>, Value), NotReady> {
    wta.spec.validate().map_err(|e| {
        (
            Blocked::invalid_spec(reasons::INVALID_SPEC, e.to_string()),
            true,
        )
    })?;
    // Checked before the template is looked at: a refused reference learns nothing of it, and an
    // existing Workspace is left as it is (no new render reaches it).
    if let Some(r) = &world.refused {
        return Err((Blocked::waiting(REF_NOT_PERMITTED, r.to_string()), true));
    }
    let Some(template) = world.template else {
        let ns = wta
            .spec
            .template_ref
            .namespace_or(&wta.namespace().unwrap_or_default())
            .to_string();
        let msg = format!(
            "WorkspaceTemplate {ns}/{} not found",
            wta.spec.template_ref.name
        );
        return Err((Blocked::waiting(reasons::TEMPLATE_NOT_FOUND, msg), true));
    };
    let name = choose_name(wta, world).map_err(|owner| {
        let msg = format!("a Workspace with this name belongs to {owner}; not adopting it");
        (Blocked::waiting(reasons::NAME_CONFLICT, msg), true)
    })?;
    let ws = (world.workspace)(&name);
    if let Some(w) = &ws
        && let Ownership::Foreign(owner) = ownership(w, me)
    {
        let msg = format!("Workspace {name} belongs to {owner}; not adopting it");
        return Err((Blocked::waiting(reasons::NAME_CONFLICT, msg), true));
    }
    if ws.is_none() && !observed.applied {
        if !world.missing_secrets.is_empty() {
            let msg = format!("Waiting for secrets: {}", world.missing_secrets.join(", "));
            return Err((Blocked::waiting(reasons::WAITING_FOR_SECRETS, msg), false));
        }
        if !world.unready_workspaces.is_empty() {
            let list: Vec<String> = world
                .unready_workspaces
                .iter()
                .map(|(n, exists)| {
                    if *exists {
                        format!("{n} to be ready")
                    } else {
                        n.clone()
                    }
                })
                .collect();
            let msg = format!("Waiting for workspace {}", list.join(", "));
            return Err((
                Blocked::waiting(reasons::WAITING_FOR_WORKSPACES, msg),
                false,
            ));
        }
    }
    let spec = rendered_spec(wta, template, &name)
        .map_err(|e| (Blocked::invalid_spec(reasons::RENDER_FAILED, e), true))?;
    Ok((name, ws, spec))
}

/// Decide what to do for `wta`.
pub fn decide(
    wta: &WorkspaceTemplateApply,
    world: &WtaWorld,
) -> Plan<WorkspaceTemplateApplyStatus> {
    let mut plan = decide_writes(wta, world);
    plan.waits = waits(wta, world);
    plan
}

/// What the apply waits for, whatever the decision: its missing secrets, its unready
/// Workspaces, its template while absent (and not refused), and its Cluster while not cached.
pub fn waits(wta: &WorkspaceTemplateApply, world: &WtaWorld) -> Vec<Wait> {
    let ns = wta.namespace().unwrap_or_default();
    let mut plan = Plan::<()>::default();
    for s in &wta.spec.wait_for_secrets {
        let sns = if s.namespace.is_empty() {
            ns.as_str()
        } else {
            s.namespace.as_str()
        };
        if world.missing_secrets.contains(&format!("{sns}/{}", s.name)) {
            plan.wait_for(Kind::Secret, sns, &s.name);
        }
    }
    for (name, _) in &world.unready_workspaces {
        plan.wait_for(Kind::Workspace, "", name);
    }
    let tref = &wta.spec.template_ref;
    if world.template.is_none() && world.refused.is_none() {
        plan.wait_for(Kind::WorkspaceTemplate, tref.namespace_or(&ns), &tref.name);
    }
    if let Some(c) = wta
        .labels()
        .get(crate::api::names::labels::CLUSTER_NAME)
        .filter(|_| world.cluster_missing)
    {
        plan.wait_for(Kind::Cluster, &ns, c);
    }
    plan.waits
}

fn decide_writes(
    wta: &WorkspaceTemplateApply,
    world: &WtaWorld,
) -> Plan<WorkspaceTemplateApplyStatus> {
    if world.paused {
        return super::pause::paused_plan();
    }
    if world.cluster_missing && wta.meta().deletion_timestamp.is_none() {
        let mut plan = Plan::default();
        plan.block(Blocked::waiting(
            reasons::WAITING_FOR_CLUSTER,
            "waiting for the Cluster named by the cluster.x-k8s.io/cluster-name label",
        ));
        return plan;
    }
    let observed = wta.status.clone().unwrap_or_default();
    let me = my_id(wta);
    if wta.meta().deletion_timestamp.is_some() {
        return deletion(wta, world, &observed, &me);
    }
    let mut plan = Plan::default();
    let mut st = observed.clone();
    let now = &world.now;
    if !has_finalizer(wta, finalizers::WORKSPACE_TEMPLATE_APPLY) {
        plan.op(Op::AddFinalizer(finalizers::WORKSPACE_TEMPLATE_APPLY));
    }
    st.observed_generation = wta.meta().generation;

    let (name, ws, spec) = match ready_to_apply(wta, world, &observed, &me) {
        Ok(ok) => ok,
        Err((b, warn)) => {
            set_rendered(&mut st, false, b.reason, &b.message, now);
            if st != observed {
                if warn {
                    plan.warning(b.reason, b.message.clone());
                } else {
                    plan.normal(b.reason, b.message.clone());
                }
            }
            plan.status = Some(st);
            plan.block(b);
            return plan;
        }
    };
    write_workspace(
        wta,
        world,
        (&name, ws.as_deref(), &spec),
        &mut st,
        &mut plan,
    );
    st.workspace_name = Some(name.clone());
    st.applied = true;
    mirror_conditions(ws.as_deref(), &mut st, &plan);
    let was_ready = observed.synced_and_ready();
    // Placeholders no variable fills are rendered as written (terraform then reports them); say so.
    let unresolved = unresolved_placeholders(&spec, &wta.spec.variables);
    let note = if unresolved.is_empty() {
        String::new()
    } else {
        format!(
            "placeholders without a variable, rendered as written: {}",
            unresolved.join(", ")
        )
    };
    let noted_before = observed
        .conditions
        .iter()
        .any(|c| c.type_ == RENDERED && c.message.as_deref() == Some(note.as_str()));
    if !note.is_empty() && !noted_before {
        plan.warning(reasons::UNRESOLVED_PLACEHOLDERS, note.clone());
    }
    set_rendered(&mut st, true, reasons::APPLIED, &note, now);
    let ready = st.synced_and_ready();
    if ready && !was_ready {
        plan.normal(events::WORKSPACE_READY, "Workspace is synced and ready");
    }
    plan.status = Some(st);
    plan
}

/// On deletion: keep the Workspace when asked to, else delete it (unless another object owns
/// it) and release the finalizer once it is gone.
fn deletion(
    wta: &WorkspaceTemplateApply,
    world: &WtaWorld,
    observed: &WorkspaceTemplateApplyStatus,
    me: &str,
) -> Plan<WorkspaceTemplateApplyStatus> {
    let mut plan = Plan::default();
    if !has_finalizer(wta, finalizers::WORKSPACE_TEMPLATE_APPLY) {
        return plan;
    }
    let name = observed
        .workspace_name
        .clone()
        .unwrap_or_else(|| workspace_name_for_apply(&wta.name_any()).to_string());
    let ws =
        (world.workspace)(&name).filter(|ws| !matches!(ownership(ws, me), Ownership::Foreign(_)));
    if wta.spec.retain_workspace_on_delete {
        plan.normal(
            events::RETAINED_WORKSPACE,
            format!("Retained workspace {name} as specified"),
        );
        plan.op(Op::RemoveFinalizer(finalizers::WORKSPACE_TEMPLATE_APPLY));
        return plan;
    }
    let waiting = || {
        Blocked::waiting(
            reasons::DELETING,
            format!("waiting for workspace {name} to be deleted"),
        )
    };
    match ws {
        Some(ws) if ws.meta().deletion_timestamp.is_none() => {
            plan.op(Op::Delete {
                api_version: groups::TERRAFORM_API_VERSION,
                kind: "Workspace",
                plural: "workspaces",
                namespace: None,
                name: name.clone(),
            });
            plan.normal(
                events::DELETED_WORKSPACE,
                format!("Initiated deletion of workspace {name}"),
            );
            plan.block(waiting());
        }
        Some(_) => {
            plan.block(waiting());
        }
        None => {
            plan.op(Op::RemoveFinalizer(finalizers::WORKSPACE_TEMPLATE_APPLY));
        }
    }
    plan
}

/// Create the Workspace `name` with the rendered `spec`, or patch it when its spec hash differs.
fn write_workspace(
    wta: &WorkspaceTemplateApply,
    world: &WtaWorld,
    (name, ws, spec): (&str, Option<&Workspace>, &Value),
    st: &mut WorkspaceTemplateApplyStatus,
    plan: &mut Plan<WorkspaceTemplateApplyStatus>,
) {
    let hash = spec_hash(spec);
    let meta = workspace_metadata(wta, world, &hash);
    match ws {
        None => {
            let body = json!({
                "apiVersion": groups::TERRAFORM_API_VERSION,
                "kind": "Workspace",
                "metadata": {"name": name, "labels": meta["labels"], "annotations": meta["annotations"]},
                "spec": spec,
            });
            plan.op(Op::Create(workspace_child(name, body)));
            // `applied` is still as observed: this decision sets it after writing.
            if st.applied {
                plan.normal(
                    reasons::RECREATED_WORKSPACE,
                    format!("Recreated Workspace {name} deleted from outside"),
                );
            } else {
                plan.normal(events::CREATED_WORKSPACE, "Created Workspace from template");
            }
            st.last_applied_time = Some(world.now.clone());
        }
        Some(w) if w.annotations().get(SPEC_HASH_ANNOTATION) != Some(&hash) => {
            let body = json!({"metadata": meta, "spec": replace_spec_patch(spec)});
            plan.op(Op::PatchChild(workspace_child(name, body)));
            plan.normal(
                reasons::UPDATED_WORKSPACE,
                format!("Updated Workspace {name} to the rendered spec"),
            );
            st.last_applied_time = Some(world.now.clone());
        }
        Some(_) => {}
    }
}

/// Mirror the Workspace's conditions beside Rendered (a new or updated Workspace reports afresh).
fn mirror_conditions(
    ws: Option<&Workspace>,
    st: &mut WorkspaceTemplateApplyStatus,
    plan: &Plan<WorkspaceTemplateApplyStatus>,
) {
    let written = (plan.ops.iter()).any(|o| matches!(o, Op::Create(_) | Op::PatchChild(_)));
    let mirrored: Vec<CrossplaneCondition> = match (ws, written) {
        (Some(w), false) => (w.status.as_ref())
            .map(|s| s.conditions.clone())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    st.conditions.retain(|c| c.type_ == RENDERED);
    let rendered = st.conditions.pop();
    st.conditions = mirrored;
    if let Some(r) = rendered {
        st.conditions.push(r);
    }
}

#[cfg(test)]
#[path = "wta_tests.rs"]
mod tests;
