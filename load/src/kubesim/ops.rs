//! Write operations: create, update (main and status), patch, scale. Deletion and garbage
//! collection live in `gc.rs`.

use std::sync::Arc;

use base64::Engine;
use serde_json::{Map, Value, json};

use super::patch::{self, PatchType};
use super::resources::{ResourceDef, Special, from_crd};
use super::schema;
use super::status::{ApiError, ApiResult, Cause, Target};
use super::store::{EventType, Inner, ObjRef, at_version};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    Main,
    Status,
    Scale,
}

pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let m = &mut obj["metadata"];
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    match m {
        Value::Object(map) => map,
        _ => unreachable!("metadata was just made an object"),
    }
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(|f| f.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// A 422 Invalid error with the one cause `reason` on `field`.
fn invalid_field(
    kind: &str,
    target: &Target,
    reason: &str,
    field: impl Into<String>,
    message: impl Into<String>,
) -> ApiError {
    ApiError::invalid(kind, target, vec![Cause::new(reason, field, message)])
}

/// The key of object `name` of `def` in namespace `ns` (empty for cluster-scoped objects).
fn obj_ref(def: &ResourceDef, ns: &str, name: &str) -> ObjRef {
    ObjRef {
        res: def.key.clone(),
        ns: ns.to_string(),
        name: name.to_string(),
    }
}

/// Refuses a body whose `metadata.name` differs from the `name` on the URL.
fn check_url_name(body: &Value, name: &str) -> ApiResult<()> {
    if let Some(n) = meta_str(body, "name") {
        if n != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    Ok(())
}

/// Gives `to` the `status` of `from`, or none when `from` has none.
fn copy_status(from: &Value, to: &mut Value) {
    match from.get("status") {
        Some(s) => to["status"] = s.clone(),
        None => {
            if let Some(o) = to.as_object_mut() {
                o.remove("status");
            }
        }
    }
}

fn valid_name(name: &str, label_only: bool) -> bool {
    let max = if label_only { 63 } else { 253 };
    if name.is_empty() || name.len() > max {
        return false;
    }
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !p.starts_with('-')
            && !p.ends_with('-')
    };
    if label_only {
        part_ok(name)
    } else {
        name.split('.').all(part_ok)
    }
}

fn check_type_meta(def: &ResourceDef, version: &str, body: &Value) -> ApiResult<()> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be an object",
        ));
    }
    if let Some(k) = body.get("kind").and_then(|k| k.as_str()) {
        if k != def.kind && !k.is_empty() {
            return Err(ApiError::bad_request(format!(
                "the kind of the provided object ({k}) does not match the resource ({})",
                def.kind
            )));
        }
    }
    if let Some(av) = body.get("apiVersion").and_then(|k| k.as_str()) {
        if !av.is_empty()
            && def.version(av.rsplit('/').next().unwrap_or("")).is_none()
            && av != def.api_version(version)
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                def.api_version(version)
            )));
        }
    }
    Ok(())
}

fn prepare_secret(obj: &mut Value, t: &Target) -> ApiResult<()> {
    let Some(o) = obj.as_object_mut() else {
        return Ok(());
    };
    if let Some(Value::Object(sd)) = o.remove("stringData") {
        let data = o.entry("data").or_insert_with(|| Value::Object(Map::new()));
        if !data.is_object() {
            *data = Value::Object(Map::new());
        }
        if let Some(d) = data.as_object_mut() {
            for (k, v) in sd {
                let s = v.as_str().unwrap_or_default().to_string();
                d.insert(
                    k,
                    Value::String(base64::engine::general_purpose::STANDARD.encode(s)),
                );
            }
        }
    }
    if let Some(Value::Object(d)) = o.get("data") {
        for (k, v) in d {
            let ok = v
                .as_str()
                .is_some_and(|s| base64::engine::general_purpose::STANDARD.decode(s).is_ok());
            if !ok {
                return Err(invalid_field(
                    "Secret",
                    t,
                    "FieldValueInvalid",
                    format!("data[{k}]"),
                    "Invalid value: illegal base64 data",
                ));
            }
        }
    }
    if !o.get("type").is_some_and(|t| t.is_string()) {
        o.insert("type".into(), json!("Opaque"));
    }
    Ok(())
}

fn crd_status(def: &ResourceDef, crd: &Value) -> Value {
    let ts = now();
    json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": ts},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": ts}
        ],
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or(json!({})),
        "storedVersions": [def.storage_version],
    })
}

/// Changes outside `metadata` (and `status` when it is a subresource) bump `generation`.
fn spec_changed(old: &Value, new: &Value, status_sub: bool) -> bool {
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return true;
    };
    let skip = |k: &str| k == "metadata" || (status_sub && k == "status");
    o.keys()
        .chain(n.keys())
        .filter(|k| !skip(k))
        .any(|k| o.get(k) != n.get(k))
}

impl Inner {
    fn validate_custom(
        &self,
        def: &ResourceDef,
        version: &str,
        obj: &mut Value,
        name: &str,
    ) -> ApiResult<()> {
        if !def.custom {
            return Ok(());
        }
        if let Some(s) = def.version(version).and_then(|v| v.schema.as_ref()) {
            schema::apply_defaults(s, obj);
            schema::prune(s, obj);
            let mut causes = Vec::new();
            schema::validate(s, obj, &mut causes);
            if !causes.is_empty() {
                return Err(ApiError::invalid(&def.kind, &def.target(name), causes));
            }
        }
        Ok(())
    }

    fn register_crd(&mut self, crd: &Value) {
        if let Ok(rd) = from_crd(crd) {
            self.defs.insert(rd.key.clone(), Arc::new(rd));
            self.discovery_gen += 1;
        }
    }

    pub fn create(
        &mut self,
        def: &Arc<ResourceDef>,
        version: &str,
        ns: &str,
        mut body: Value,
        dry_run: bool,
    ) -> ApiResult<Arc<Value>> {
        check_type_meta(def, version, &body)?;
        body["apiVersion"] = Value::String(def.storage_api_version());
        body["kind"] = Value::String(def.kind.clone());
        if def.special == Special::Review {
            return Ok(Arc::new(self.review(body)));
        }
        let generate = meta_str(&body, "generateName").map(String::from);
        let mut name = meta_str(&body, "name").unwrap_or_default().to_string();
        let body_ns = meta_str(&body, "namespace").unwrap_or_default().to_string();
        let scope = if def.namespaced { ns } else { "" };
        if def.namespaced {
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        if name.is_empty() {
            if let Some(g) = generate.filter(|g| !g.is_empty()) {
                for _ in 0..16 {
                    let candidate = format!("{g}{}", self.random_suffix());
                    let r = obj_ref(def, scope, &candidate);
                    if self.get(&r).is_none() {
                        name = candidate;
                        break;
                    }
                }
            }
        }
        let target = def.target(&name);
        if name.is_empty() {
            return Err(invalid_field(
                &def.kind,
                &target,
                "FieldValueRequired",
                "metadata.name",
                "Required value: name or generateName is required",
            ));
        }
        if !valid_name(&name, def.special == Special::Namespace) {
            return Err(invalid_field(
                &def.kind,
                &target,
                "FieldValueInvalid",
                "metadata.name",
                format!(
                    "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                ),
            ));
        }
        let r = obj_ref(def, scope, &name);
        if def.namespaced {
            if !self.namespace_exists(ns) {
                return Err(ApiError::not_found(&Target::new("", "namespaces", ns)));
            }
            if self.terminating_ns.contains(ns) {
                return Err(ApiError::new(
                    403,
                    "Forbidden",
                    format!(
                        "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        def.key.plural
                    ),
                ));
            }
        }
        if self.get(&r).is_some() {
            return Err(ApiError::already_exists(&target));
        }
        let uid = self.new_uid();
        {
            let m = meta_mut(&mut body);
            m.insert("name".into(), json!(name));
            if def.namespaced {
                m.insert("namespace".into(), json!(ns));
            } else {
                m.remove("namespace");
            }
            for k in [
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "managedFields",
                "selfLink",
            ] {
                m.remove(k);
            }
            m.insert("uid".into(), json!(uid));
            m.insert("creationTimestamp".into(), json!(now()));
            m.insert("generation".into(), json!(1));
        }
        if def.custom && def.has_status(version) {
            if let Some(o) = body.as_object_mut() {
                o.remove("status");
            }
        }
        match def.special {
            Special::Namespace => {
                body["spec"] = json!({"finalizers": ["kubernetes"]});
                body["status"] = json!({"phase": "Active"});
            }
            Special::Secret => prepare_secret(&mut body, &target)?,
            Special::Crd => {
                let rd = from_crd(&body)?;
                if self.defs.get(&rd.key).is_some_and(|d| !d.custom) {
                    return Err(invalid_field(
                        "CustomResourceDefinition",
                        &target,
                        "FieldValueInvalid",
                        "spec.group",
                        "Invalid value: built-in group",
                    ));
                }
                body["status"] = crd_status(&rd, &body);
            }
            _ => {}
        }
        self.validate_custom(def, version, &mut body, &name)?;
        if dry_run {
            return Ok(Arc::new(body));
        }
        let obj = self.commit(def, &r, body, EventType::Added);
        if def.special == Special::Crd {
            self.register_crd(&obj);
        }
        Ok(obj)
    }

    fn review(&self, mut body: Value) -> Value {
        let allowed = self.allow_reviews;
        if body.get("kind").and_then(|k| k.as_str()) == Some("TokenReview") {
            body["status"] = json!({
                "authenticated": allowed,
                "user": {"username": "kubesim", "uid": "kubesim", "groups": ["system:masters", "system:authenticated"]}
            });
        } else {
            body["status"] = json!({"allowed": allowed, "reason": if allowed { "kubesim allows everything" } else { "kubesim denies everything" }});
        }
        body
    }

    /// PUT on the object or its `/status`.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        def: &Arc<ResourceDef>,
        version: &str,
        ns: &str,
        name: &str,
        body: Value,
        sub: Sub,
        dry_run: bool,
    ) -> ApiResult<Arc<Value>> {
        check_type_meta(def, version, &body)?;
        let r = obj_ref(def, ns, name);
        let target = def.target(name);
        let old = self.get(&r).ok_or_else(|| ApiError::not_found(&target))?;
        check_url_name(&body, name)?;
        if let Some(rv) = meta_str(&body, "resourceVersion").filter(|s| !s.is_empty()) {
            if Some(rv) != meta_str(&old, "resourceVersion") {
                return Err(ApiError::stale(&target));
            }
        }
        if sub == Sub::Scale {
            return self.update_scale(def, version, &r, &old, &body, dry_run);
        }
        let new = self.merge_sub(def, version, &old, body, sub);
        self.finish_update(def, version, &r, &old, new, dry_run)
    }

    fn merge_sub(
        &self,
        def: &ResourceDef,
        version: &str,
        old: &Value,
        mut body: Value,
        sub: Sub,
    ) -> Value {
        match sub {
            Sub::Status => {
                let mut n = old.clone();
                copy_status(&body, &mut n);
                n
            }
            _ => {
                if def.has_status(version) {
                    copy_status(old, &mut body);
                }
                body
            }
        }
    }

    fn finish_update(
        &mut self,
        def: &Arc<ResourceDef>,
        version: &str,
        r: &ObjRef,
        old: &Arc<Value>,
        mut new: Value,
        dry_run: bool,
    ) -> ApiResult<Arc<Value>> {
        let target = def.target(&r.name);
        if !new.is_object() {
            return Err(invalid_field(
                &def.kind,
                &target,
                "FieldValueInvalid",
                "",
                "Invalid value: the object must be a JSON object",
            ));
        }
        new["apiVersion"] = Value::String(def.storage_api_version());
        new["kind"] = Value::String(def.kind.clone());
        {
            let om = old.get("metadata").and_then(|m| m.as_object());
            let m = meta_mut(&mut new);
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "resourceVersion",
                "name",
                "namespace",
            ] {
                match om.and_then(|o| o.get(k)) {
                    Some(v) => {
                        m.insert(k.into(), v.clone());
                    }
                    None => {
                        m.remove(k);
                    }
                }
            }
            m.remove("managedFields");
            m.remove("selfLink");
        }
        if is_deleting(old) {
            let before = finalizers(old);
            let added: Vec<String> = finalizers(&new)
                .into_iter()
                .filter(|f| !before.contains(f))
                .collect();
            if !added.is_empty() {
                return Err(invalid_field(
                    &def.kind,
                    &target,
                    "FieldValueForbidden",
                    "metadata.finalizers",
                    format!(
                        "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
                    ),
                ));
            }
        }
        match def.special {
            Special::Secret => prepare_secret(&mut new, &target)?,
            Special::Crd => {
                let rd = from_crd(&new)?;
                if rd.key != from_crd(old)?.key {
                    return Err(invalid_field(
                        "CustomResourceDefinition",
                        &target,
                        "FieldValueInvalid",
                        "spec.names.plural",
                        "Invalid value: field is immutable",
                    ));
                }
                new["status"] = crd_status(&rd, &new);
                if let Some(c) = old.pointer("/status/conditions") {
                    new["status"]["conditions"] = c.clone();
                }
            }
            Special::Namespace if new.get("spec").is_none() => {
                new["spec"] = old.get("spec").cloned().unwrap_or(json!({}));
            }
            _ => {}
        }
        self.validate_custom(def, version, &mut new, &r.name)?;
        if spec_changed(old, &new, def.has_status(version)) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(|g| g.as_i64())
                .unwrap_or(0);
            meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        if new == **old {
            return Ok(old.clone());
        }
        if dry_run {
            return Ok(Arc::new(new));
        }
        if is_deleting(&new) && finalizers(&new).is_empty() {
            let obj = self.remove_object(def, r, new);
            self.run_gc();
            return Ok(obj);
        }
        let obj = self.commit(def, r, new, EventType::Modified);
        if def.special == Special::Crd {
            self.register_crd(&obj);
        }
        Ok(obj)
    }

    /// PATCH on the object or its `/status` (or `/scale`, merge patch only).
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        def: &Arc<ResourceDef>,
        version: &str,
        ns: &str,
        name: &str,
        ptype: PatchType,
        body: &[u8],
        sub: Sub,
        field_manager: Option<&str>,
        dry_run: bool,
    ) -> ApiResult<Arc<Value>> {
        let target = def.target(name);
        if ptype == PatchType::Strategic && def.custom {
            return Err(ApiError::unsupported_media(
                "application/strategic-merge-patch+json",
            ));
        }
        let pv: Value = if ptype == PatchType::Apply {
            serde_yaml::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
        };
        if ptype == PatchType::Apply {
            if field_manager.is_none_or(|f| f.is_empty()) {
                return Err(invalid_field(
                    "PatchOptions",
                    &Target::new("meta.k8s.io", "patchoptions", ""),
                    "FieldValueRequired",
                    "fieldManager",
                    "Required value: is required for apply patch",
                ));
            }
            if !pv.is_object() {
                return Err(ApiError::bad_request("apply patch must be an object"));
            }
            check_url_name(&pv, name)?;
        }
        let r = obj_ref(def, ns, name);
        let old = match self.get(&r) {
            Some(o) => o,
            None if ptype == PatchType::Apply && sub == Sub::Main => {
                let mut body = pv;
                meta_mut(&mut body).insert("name".into(), json!(name));
                return self.create(def, version, ns, body, dry_run);
            }
            None => return Err(ApiError::not_found(&target)),
        };
        if sub == Sub::Scale {
            let mut scale = self.scale_of(def, version, &old);
            match ptype {
                PatchType::Json => patch::json_patch(&mut scale, &pv)?,
                _ => patch::merge_patch(&mut scale, &pv),
            }
            return self.update_scale(def, version, &r, &old, &scale, dry_run);
        }
        let served = at_version(&old, &def.api_version(version));
        let mut cur = (*served).clone();
        match ptype {
            PatchType::Merge => patch::merge_patch(&mut cur, &pv),
            PatchType::Json => patch::json_patch(&mut cur, &pv)?,
            PatchType::Strategic => patch::strategic_merge(&mut cur, &pv),
            PatchType::Apply => {
                let schema = def.version(version).and_then(|v| v.schema.as_ref());
                patch::apply_merge(&mut cur, &pv, schema);
            }
        }
        if meta_str(&cur, "resourceVersion") != meta_str(&old, "resourceVersion") {
            return Err(ApiError::stale(&target));
        }
        if meta_str(&cur, "name") != Some(name) {
            return Err(ApiError::bad_request(
                "metadata.name cannot be changed by a patch",
            ));
        }
        let new = self.merge_sub(def, version, &old, cur, sub);
        self.finish_update(def, version, &r, &old, new, dry_run)
    }

    pub fn scale_of(&self, def: &ResourceDef, version: &str, obj: &Value) -> Value {
        let sd = def.version(version).and_then(|v| v.scale.clone());
        let ptr = |p: &str| p.replace('.', "/");
        let spec = sd
            .as_ref()
            .and_then(|s| obj.pointer(&ptr(&s.spec_replicas)).cloned())
            .unwrap_or(json!(0));
        let status = sd
            .as_ref()
            .and_then(|s| obj.pointer(&ptr(&s.status_replicas)).cloned())
            .unwrap_or(json!(0));
        let mut st = json!({"replicas": status});
        if let Some(sel) = sd
            .as_ref()
            .and_then(|s| s.label_selector.as_ref())
            .and_then(|p| obj.pointer(&ptr(p)))
        {
            st["selector"] = sel.clone();
        }
        json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": obj.pointer("/metadata/name"),
                "namespace": obj.pointer("/metadata/namespace"),
                "uid": obj.pointer("/metadata/uid"),
                "resourceVersion": obj.pointer("/metadata/resourceVersion"),
                "creationTimestamp": obj.pointer("/metadata/creationTimestamp"),
            },
            "spec": {"replicas": spec},
            "status": st,
        })
    }

    fn update_scale(
        &mut self,
        def: &Arc<ResourceDef>,
        version: &str,
        r: &ObjRef,
        old: &Arc<Value>,
        scale: &Value,
        dry_run: bool,
    ) -> ApiResult<Arc<Value>> {
        let Some(sd) = def.version(version).and_then(|v| v.scale.clone()) else {
            return Err(ApiError::path_not_found());
        };
        let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
        let mut new = (**old).clone();
        let parts: Vec<&str> = sd
            .spec_replicas
            .trim_start_matches('.')
            .split('.')
            .collect();
        let mut cur = &mut new;
        for (i, p) in parts.iter().enumerate() {
            if i + 1 == parts.len() {
                cur[*p] = replicas.clone();
            } else {
                if !cur.get(*p).is_some_and(|v| v.is_object()) {
                    cur[*p] = json!({});
                }
                cur = &mut cur[*p];
            }
        }
        let obj = self.finish_update(def, version, r, old, new, dry_run)?;
        Ok(Arc::new(self.scale_of(def, version, &obj)))
    }
}
