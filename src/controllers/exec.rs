//! Executes a [`Plan`]: writes to the reconciled object and its children, Events, then status.

use std::fmt::Debug;

use base64::Engine;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::object::HasStatus;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::context::Ctx;
use super::error::{ControllerError, status_code};
use crate::actors::freshness::WriteLog;
use crate::api::names::FIELD_MANAGER;
use crate::api::names::annotations::TRACEPARENT;
use crate::client::events::{EventSpec, object_reference};
use crate::reconcile::plan::{Child, Op, Plan, SecretWrite};
use crate::telemetry::lineage;

fn resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource {
        group: group.to_string(),
        version: version.to_string(),
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        plural: plural.to_string(),
    }
}

fn dyn_api(ctx: &Ctx, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, ar),
        None => Api::all_with(ctx.client.clone(), ar),
    }
}

fn pp() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

fn finalizer_patch<K: Resource>(obj: &K, add: Option<&str>, remove: Option<&str>) -> Value {
    let mut f: Vec<String> = obj.meta().finalizers.clone().unwrap_or_default();
    if let Some(a) = add
        && !f.iter().any(|x| x == a)
    {
        f.push(a.to_string());
    }
    if let Some(r) = remove {
        f.retain(|x| x != r);
    }
    // The resourceVersion makes the patch conditional: a concurrent finalizer change is a 409.
    json!({"metadata": {"finalizers": f, "resourceVersion": obj.meta().resource_version}})
}

/// Recursive JSON merge of `patch` into `into` (objects merge, everything else replaces).
fn merge_into(into: &mut Value, patch: &Value) {
    match (into, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge_into(a.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// The single merge patch for the plan's writes to the object itself, and whether it removes a
/// finalizer. Finalizer changes carry the resourceVersion, so a concurrent change is a 409.
/// `record_trace`: whether the reconcile may record its trace on the object (see
/// `telemetry::lineage`).
fn own_patch<K: Resource>(obj: &K, record_trace: bool, ops: &[Op]) -> (Option<Value>, bool) {
    let mut patch = json!({});
    let mut any = false;
    let (mut add, mut remove) = (None, None);
    for op in ops {
        match op {
            Op::Patch(p) => {
                merge_into(&mut patch, p);
                any = true;
            }
            Op::AddFinalizer(f) => add = Some(*f),
            Op::RemoveFinalizer(f) => remove = Some(*f),
            _ => {}
        }
    }
    if add.is_some() || remove.is_some() {
        merge_into(&mut patch, &finalizer_patch(obj, add, remove));
        any = true;
    }
    // A reconcile that started the trace of the object's lifecycle step records it on the object,
    // with the write it makes anyway when there is one (the finalizer of a new object).
    let bumps_spec = patch.get("spec").is_some();
    if remove.is_none()
        && record_trace
        && let Some(p) = lineage::record_patch(
            obj.meta(),
            crate::telemetry::current_traceparent(),
            bumps_spec,
        )
    {
        merge_into(&mut patch, &p);
        any = true;
    }
    (any.then_some(patch), remove.is_some())
}

fn record(writes: &WriteLog, kind: &'static str, obj: &DynamicObject) {
    writes.record(kind, obj.metadata.resource_version.as_deref());
}

async fn create_child(ctx: &Ctx, c: &Child, writes: &WriteLog) -> Result<(), ControllerError> {
    let ar = resource(c.api_version, c.kind, c.plural);
    let api = dyn_api(ctx, &ar, c.namespace.as_deref());
    let mut obj: DynamicObject =
        serde_json::from_value(c.body.clone()).map_err(|source| ControllerError::Encode {
            what: c.kind,
            source,
        })?;
    // Every object capt creates carries the trace context of the reconcile that created it; its
    // reconciles follow that trace until it is deleted (see `telemetry::lineage`).
    if let Some(tp) = crate::telemetry::current_traceparent() {
        obj.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .entry(TRACEPARENT.to_string())
            .or_insert(tp);
    }
    // A replica of a shard ring creates objects only for clusters it owns: they are its share
    // from the start.
    if let Some(g) = &ctx.shard {
        obj.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(g.shard_label().to_string(), g.settings().identity.clone());
    }
    match api
        .create(
            &PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            &obj,
        )
        .await
    {
        Ok(o) => {
            record(writes, c.kind, &o);
            Ok(())
        }
        // The cache had not seen it yet: the next reconcile will.
        Err(e) if status_code(&e) == Some(409) => Ok(()),
        Err(e) => Err(ControllerError::api(
            format!("create {} {}", c.kind, c.name),
            e,
        )),
    }
}

async fn patch_child(ctx: &Ctx, c: &Child, writes: &WriteLog) -> Result<(), ControllerError> {
    let ar = resource(c.api_version, c.kind, c.plural);
    let api = dyn_api(ctx, &ar, c.namespace.as_deref());
    let o = api
        .patch(&c.name, &pp(), &Patch::Merge(&c.body))
        .await
        .map_err(|e| ControllerError::api(format!("patch {} {}", c.kind, c.name), e))?;
    record(writes, c.kind, &o);
    Ok(())
}

async fn write_secret(
    ctx: &Ctx,
    s: &SecretWrite,
    writes: &WriteLog,
) -> Result<(), ControllerError> {
    let ar = resource("v1", "Secret", "secrets");
    let api = dyn_api(ctx, &ar, Some(&s.namespace));
    let b64 = base64::engine::general_purpose::STANDARD;
    let data: serde_json::Map<String, Value> = s
        .data
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(b64.encode(v))))
        .collect();
    let meta = json!({
        "name": s.name,
        "namespace": s.namespace,
        "labels": s.labels,
        "annotations": s.annotations,
        "ownerReferences": [s.owner],
    });
    let res = if s.exists {
        api.patch(
            &s.name,
            &pp(),
            &Patch::Merge(&json!({"metadata": meta, "data": data})),
        )
        .await
    } else {
        let body = json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": s.type_, "data": data});
        let obj: DynamicObject =
            serde_json::from_value(body).map_err(|source| ControllerError::Encode {
                what: "Secret",
                source,
            })?;
        api.create(&PostParams::default(), &obj).await
    };
    match res {
        Ok(o) => {
            record(writes, "Secret", &o);
            Ok(())
        }
        Err(e) if !s.exists && status_code(&e) == Some(409) => Ok(()),
        Err(e) => Err(ControllerError::api(
            format!("write secret {}/{}", s.namespace, s.name),
            e,
        )),
    }
}

/// Delete a child (background propagation); one already gone counts as deleted.
async fn delete_child(
    ctx: &Ctx,
    ar: &ApiResource,
    namespace: Option<&str>,
    name: &str,
) -> Result<(), ControllerError> {
    match (dyn_api(ctx, ar, namespace))
        .delete(name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if status_code(&e) == Some(404) => Ok(()),
        Err(e) => Err(ControllerError::api(
            format!("delete {} {name}", ar.kind),
            e,
        )),
    }
}

/// Events are best effort and never hold up the reconcile: they are sent in the background
/// (tracked by the shutdown signal).
fn publish_events<K: Resource<DynamicType = ()>>(ctx: &Ctx, obj: &K, events: &[EventSpec]) {
    if events.is_empty() {
        return;
    }
    // A child of the reconcile span, so the sends show in the object's trace.
    let span = tracing::info_span!("publish events", capt.events = events.len());
    ctx.events
        .publish(object_reference(obj), events.to_vec(), span);
}

/// Apply `plan` for `obj` (of kind `kind`). Status is written last, and only when it differs.
/// The plan's block, if any, is the caller's to turn into an outcome (see `generic`).
pub async fn execute<K>(
    ctx: &Ctx,
    kind: &'static str,
    obj: &K,
    plan: Plan<K::Status>,
    writes: &WriteLog,
    record_trace: bool,
) -> Result<(), ControllerError>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + HasStatus
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug
        + Send
        + Sync
        + 'static,
    K::Status: Serialize,
{
    let ar = ApiResource::erase::<K>(&());
    let own = dyn_api(ctx, &ar, obj.meta().namespace.as_deref());
    let name = obj.name_any();
    // Writes to the object itself (finalizers, labels, spec fields) go out as one patch, first.
    let (own_patch, removed_finalizer) = own_patch(obj, record_trace, &plan.ops);
    let mut generation_now = None;
    if let Some(patch) = own_patch {
        match own.patch(&name, &pp(), &Patch::Merge(&patch)).await {
            Ok(o) => {
                record(writes, kind, &o);
                generation_now = o.metadata.generation;
            }
            Err(e) if removed_finalizer && status_code(&e) == Some(404) => {}
            Err(e) => return Err(ControllerError::api(format!("patch {kind} {name}"), e)),
        }
    }
    for op in &plan.ops {
        match op {
            Op::AddFinalizer(_) | Op::RemoveFinalizer(_) | Op::Patch(_) => {}
            Op::Create(c) => create_child(ctx, c, writes).await?,
            Op::PatchChild(c) => patch_child(ctx, c, writes).await?,
            Op::Delete {
                api_version,
                kind,
                plural,
                namespace,
                name,
            } => {
                let ar = resource(api_version, kind, plural);
                delete_child(ctx, &ar, namespace.as_deref(), name).await?
            }
            Op::WriteSecret(s) => write_secret(ctx, s, writes).await?,
        }
    }
    publish_events(ctx, obj, &plan.events);
    // A blocked plan's status is written too, before `generic` returns its error: it says why.
    if let Some(desired) = &plan.status
        && !removed_finalizer
    {
        let api: Api<K> = Api::namespaced(
            ctx.client.clone(),
            obj.meta().namespace.as_deref().unwrap_or_default(),
        );
        let desired = status_to_write(desired, obj.meta().generation, generation_now)?;
        ctx.status
            .write(&api, kind, obj, obj.status(), desired, writes)
            .await
            .map_err(|e| ControllerError::api(format!("write status of {kind} {name}"), e))?;
    }
    Ok(())
}

/// The status to write, as JSON. The own patch carried the resourceVersion the decision read, so
/// when it moved the generation by one, the new spec is the one the decision made: the status
/// observed it already (otherwise its echo would cost a status write for `observedGeneration`).
fn status_to_write<S: Serialize>(
    desired: &S,
    decided_at: Option<i64>,
    generation_now: Option<i64>,
) -> Result<serde_json::Value, ControllerError> {
    let mut v = serde_json::to_value(desired).map_err(|source| ControllerError::Encode {
        what: "status",
        source,
    })?;
    if let (Some(from), Some(to)) = (decided_at, generation_now)
        && to == from + 1
    {
        crate::client::diff::advance_observed_generation(&mut v, from, to);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{CAPTCluster, CAPTClusterSpec};

    #[test]
    fn a_status_observes_the_spec_its_own_patch_wrote() {
        let status = json!({
            "observedGeneration": 3,
            "conditions": [
                {"type": "Ready", "observedGeneration": 3},
                {"type": "Old", "observedGeneration": 2},
            ],
        });
        // (case, generation decided at, generation after the own patch, observedGeneration written)
        let table = [
            ("spec patched by one", Some(3), Some(4), 4),
            ("no own patch", Some(3), None, 3),
            ("metadata-only patch", Some(3), Some(3), 3),
            ("someone else moved it too", Some(3), Some(5), 3),
            ("no generation", None, Some(4), 3),
        ];
        for (case, at, now, want) in table {
            let v = status_to_write(&status, at, now).unwrap();
            assert_eq!(v["observedGeneration"], want, "{case}");
            assert_eq!(v["conditions"][0]["observedGeneration"], want, "{case}");
            assert_eq!(
                v["conditions"][1]["observedGeneration"], 2,
                "{case}: older stays"
            );
        }
    }

    #[test]
    fn own_writes_become_one_patch() {
        let mut cc = CAPTCluster::new("c", CAPTClusterSpec::default());
        cc.metadata.resource_version = Some("7".into());
        cc.metadata.finalizers = Some(vec!["other".into()]);
        let ops = vec![
            Op::AddFinalizer("mine"),
            Op::Patch(json!({"metadata": {"labels": {"a": "1"}}})),
            Op::Patch(
                json!({"spec": {"workspaceTemplateApplyName": "c-vpc"}, "metadata": {"labels": {"b": "2"}}}),
            ),
        ];
        let (patch, removes) = own_patch(&cc, true, &ops);
        assert!(!removes);
        assert_eq!(
            patch.unwrap(),
            json!({
                "metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["other", "mine"], "resourceVersion": "7"},
                "spec": {"workspaceTemplateApplyName": "c-vpc"}
            })
        );
        let (patch, removes) = own_patch(&cc, true, &[Op::RemoveFinalizer("other")]);
        assert!(removes);
        assert_eq!(patch.unwrap()["metadata"]["finalizers"], json!([]));
        assert_eq!(own_patch(&cc, true, &[]).0, None);
    }
}
