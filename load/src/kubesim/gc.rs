//! Deletion: finalizers and `deletionTimestamp`, propagation policies, ownerReference garbage
//! collection, namespace and CRD cleanup. Garbage collection runs synchronously inside the
//! write that triggers it.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::{Value, json};

use super::ops::{finalizers, is_deleting, meta_mut, meta_str, now};
use super::resources::{ResKey, ResourceDef, Special};
use super::status::{ApiError, ApiResult};
use super::store::{EventType, Inner, ObjRef, uid_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Background,
    Foreground,
    Orphan,
}

impl Policy {
    pub fn parse(s: &str) -> ApiResult<Policy> {
        match s {
            "Background" => Ok(Policy::Background),
            "Foreground" => Ok(Policy::Foreground),
            "Orphan" => Ok(Policy::Orphan),
            other => Err(ApiError::bad_request(format!(
                "invalid propagationPolicy {other:?}: must be Background, Foreground or Orphan"
            ))),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub policy: Option<Policy>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

pub(crate) enum Work {
    OwnerGone(String),
    CheckOwner(String),
    CheckNamespace(String),
}

const FOREGROUND: &str = "foregroundDeletion";

impl Inner {
    /// DELETE of one object. Returns the object and whether it is gone.
    pub fn delete(
        &mut self,
        def: &Arc<ResourceDef>,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> ApiResult<(Arc<Value>, bool)> {
        let r = ObjRef {
            res: def.key.clone(),
            ns: ns.to_string(),
            name: name.to_string(),
        };
        let target = def.target(name);
        let old = self.get(&r).ok_or_else(|| ApiError::not_found(&target))?;
        if let Some(u) = &opts.uid {
            if uid_of(&old) != Some(u.as_str()) {
                return Err(ApiError::conflict(
                    &target,
                    &format!(
                        "Precondition failed: UID in precondition: {u}, UID in object meta: {}",
                        uid_of(&old).unwrap_or_default()
                    ),
                ));
            }
        }
        if let Some(rv) = &opts.resource_version {
            if meta_str(&old, "resourceVersion") != Some(rv.as_str()) {
                return Err(ApiError::conflict(
                    &target,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        meta_str(&old, "resourceVersion").unwrap_or_default()
                    ),
                ));
            }
        }
        if opts.dry_run {
            return Ok((old, false));
        }
        let res = self.delete_ref(def, &r, opts.policy.unwrap_or(Policy::Background));
        self.run_gc();
        Ok(res)
    }

    fn delete_ref(
        &mut self,
        def: &Arc<ResourceDef>,
        r: &ObjRef,
        policy: Policy,
    ) -> (Arc<Value>, bool) {
        let Some(old) = self.get(r) else {
            return (Arc::new(Value::Null), true);
        };
        let uid = uid_of(&old).unwrap_or_default().to_string();
        if policy == Policy::Orphan {
            self.orphan(&uid);
        }
        if def.special == Special::Namespace {
            return self.delete_namespace(def, r, &old);
        }
        let mut fins = finalizers(&old);
        let has_deps = self.dependents.get(&uid).is_some_and(|d| !d.is_empty());
        if policy == Policy::Foreground && has_deps && !fins.iter().any(|f| f == FOREGROUND) {
            fins.push(FOREGROUND.to_string());
        }
        if fins.is_empty() {
            let obj = self.remove_object(def, r, (*old).clone());
            return (obj, true);
        }
        let mut new = (*old).clone();
        let changed = !is_deleting(&old) || fins != finalizers(&old);
        let obj = if changed {
            let generation = old.pointer("/metadata/generation").and_then(|g| g.as_i64());
            let deleting = is_deleting(&old);
            let m = meta_mut(&mut new);
            m.insert("finalizers".into(), json!(fins));
            if !deleting {
                m.insert("deletionTimestamp".into(), json!(now()));
                m.insert("deletionGracePeriodSeconds".into(), json!(0));
                if let Some(g) = generation {
                    m.insert("generation".into(), json!(g + 1));
                }
            }
            self.commit(def, r, new, EventType::Modified)
        } else {
            old
        };
        if policy == Policy::Foreground && has_deps {
            let mut work = VecDeque::new();
            work.push_back(Work::OwnerGone(uid));
            self.process(work);
        }
        (obj, false)
    }

    fn delete_namespace(
        &mut self,
        def: &Arc<ResourceDef>,
        r: &ObjRef,
        old: &Arc<Value>,
    ) -> (Arc<Value>, bool) {
        let ns = r.name.clone();
        self.terminating_ns.insert(ns.clone());
        let obj = if is_deleting(old) {
            old.clone()
        } else {
            let mut new = (**old).clone();
            let m = meta_mut(&mut new);
            m.insert("deletionTimestamp".into(), json!(now()));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            new["status"] = json!({"phase": "Terminating"});
            self.commit(def, r, new, EventType::Modified)
        };
        let keys: Vec<ResKey> = self
            .objects
            .keys()
            .filter(|k| k.plural != "namespaces")
            .cloned()
            .collect();
        for k in keys {
            let Some(d) = self.def(&k) else { continue };
            if !d.namespaced {
                continue;
            }
            let names: Vec<String> = self
                .scan(&k, Some(&ns), None)
                .into_iter()
                .map(|((_, n), _)| n.clone())
                .collect();
            for n in names {
                let dr = ObjRef {
                    res: k.clone(),
                    ns: ns.clone(),
                    name: n,
                };
                self.delete_ref(&d, &dr, Policy::Background);
            }
        }
        let mut work = VecDeque::new();
        work.push_back(Work::CheckNamespace(ns));
        self.process(work);
        let gone = self.get(r).is_none();
        (obj, gone)
    }

    fn orphan(&mut self, uid: &str) {
        let deps: Vec<ObjRef> = self
            .dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for d in deps {
            self.strip_owner(&d, uid);
        }
    }

    fn strip_owner(&mut self, r: &ObjRef, uid: &str) {
        let (Some(obj), Some(def)) = (self.get(r), self.def(&r.res)) else {
            return;
        };
        let mut new = (*obj).clone();
        if let Some(refs) = new
            .pointer_mut("/metadata/ownerReferences")
            .and_then(|v| v.as_array_mut())
        {
            refs.retain(|o| o.get("uid").and_then(|u| u.as_str()) != Some(uid));
            if refs.is_empty() {
                meta_mut(&mut new).remove("ownerReferences");
            }
        }
        self.commit(&def, r, new, EventType::Modified);
    }

    /// Removes an object for good: emits DELETED and schedules the follow-up collection.
    pub fn remove_object(&mut self, def: &Arc<ResourceDef>, r: &ObjRef, obj: Value) -> Arc<Value> {
        let owners: Vec<String> = obj
            .pointer("/metadata/ownerReferences")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|o| o.get("uid").and_then(|u| u.as_str()).map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let uid = uid_of(&obj).map(String::from);
        let out = self.commit(def, r, obj, EventType::Deleted);
        if def.special == Special::Crd {
            self.drop_crd_instances(&out);
        }
        if def.special == Special::Namespace {
            self.terminating_ns.remove(&r.name);
        }
        let mut work = VecDeque::new();
        if let Some(u) = uid {
            work.push_back(Work::OwnerGone(u));
        }
        for o in owners {
            work.push_back(Work::CheckOwner(o));
        }
        if !r.ns.is_empty() && self.terminating_ns.contains(&r.ns) {
            work.push_back(Work::CheckNamespace(r.ns.clone()));
        }
        self.pending.extend(work);
        out
    }

    fn drop_crd_instances(&mut self, crd: &Value) {
        let (Some(group), Some(plural)) = (
            crd.pointer("/spec/group").and_then(|v| v.as_str()),
            crd.pointer("/spec/names/plural").and_then(|v| v.as_str()),
        ) else {
            return;
        };
        let key = ResKey::new(group, plural);
        if let Some(def) = self.def(&key) {
            let keys: Vec<(String, String)> = self
                .objects
                .get(&key)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            for (ns, name) in keys {
                let r = ObjRef {
                    res: key.clone(),
                    ns,
                    name,
                };
                if let Some(o) = self.get(&r) {
                    self.remove_object(&def, &r, (*o).clone());
                }
            }
        }
        self.defs.remove(&key);
        self.objects.remove(&key);
        self.watchers.remove(&key);
        self.discovery_gen += 1;
    }

    /// Runs the garbage collection scheduled by earlier removals until nothing is left.
    pub fn run_gc(&mut self) {
        let work: VecDeque<Work> = std::mem::take(&mut self.pending);
        self.process(work);
    }

    fn process(&mut self, mut work: VecDeque<Work>) {
        let mut guard = 0usize;
        loop {
            work.extend(std::mem::take(&mut self.pending));
            let Some(item) = work.pop_front() else {
                break;
            };
            guard += 1;
            if guard > 10_000_000 {
                break;
            }
            match item {
                Work::OwnerGone(uid) => {
                    let owner_alive = self.uids.get(&uid).and_then(|r| self.get(r));
                    let foreground = owner_alive
                        .as_ref()
                        .is_some_and(|o| finalizers(o).iter().any(|f| f == FOREGROUND));
                    if owner_alive.is_some() && !foreground {
                        continue;
                    }
                    let deps: Vec<ObjRef> = self
                        .dependents
                        .get(&uid)
                        .map(|s| s.iter().cloned().collect())
                        .unwrap_or_default();
                    for d in deps {
                        let Some(obj) = self.get(&d) else { continue };
                        let other_alive = obj
                            .pointer("/metadata/ownerReferences")
                            .and_then(|v| v.as_array())
                            .map(|a| {
                                a.iter().any(|o| {
                                    o.get("uid")
                                        .and_then(|u| u.as_str())
                                        .is_some_and(|u| u != uid && self.uids.contains_key(u))
                                })
                            })
                            .unwrap_or(false);
                        if other_alive && !foreground {
                            self.strip_owner(&d, &uid);
                        } else if !is_deleting(&obj) {
                            if let Some(def) = self.def(&d.res) {
                                self.delete_ref(&def, &d, Policy::Background);
                            }
                        }
                    }
                }
                Work::CheckOwner(uid) => {
                    let Some(r) = self.uids.get(&uid).cloned() else {
                        continue;
                    };
                    let Some(owner) = self.get(&r) else { continue };
                    let fins = finalizers(&owner);
                    if !is_deleting(&owner) || !fins.iter().any(|f| f == FOREGROUND) {
                        continue;
                    }
                    if self.dependents.get(&uid).is_some_and(|d| !d.is_empty()) {
                        continue;
                    }
                    let Some(def) = self.def(&r.res) else {
                        continue;
                    };
                    let rest: Vec<String> = fins.into_iter().filter(|f| f != FOREGROUND).collect();
                    let mut new = (*owner).clone();
                    meta_mut(&mut new).insert("finalizers".into(), json!(rest));
                    if rest.is_empty() {
                        self.remove_object(&def, &r, new);
                    } else {
                        self.commit(&def, &r, new, EventType::Modified);
                    }
                }
                Work::CheckNamespace(ns) => {
                    if !self.terminating_ns.contains(&ns) || !self.namespace_is_empty(&ns) {
                        continue;
                    }
                    let r = ObjRef {
                        res: ResKey::new("", "namespaces"),
                        ns: String::new(),
                        name: ns.clone(),
                    };
                    if let (Some(o), Some(def)) = (self.get(&r), self.def(&r.res)) {
                        if finalizers(&o).is_empty() {
                            self.remove_object(&def, &r, (*o).clone());
                        }
                    }
                    self.terminating_ns.remove(&ns);
                }
            }
        }
    }
}
