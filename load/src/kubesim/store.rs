//! The object store: objects per resource, one resourceVersion counter, the watch history ring
//! and the registered watchers. Everything sits behind one mutex that is never held across an
//! `.await`; events are serialized once and the bytes shared by every watcher.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::sync::mpsc;

use super::resources::{ResKey, ResourceDef, builtins};
use super::selectors::Filter;

/// An object's place in the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjRef {
    pub res: ResKey,
    pub ns: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, kept in the history ring and fanned out to watchers.
pub struct Event {
    pub rv: u64,
    pub res: ResKey,
    pub ns: String,
    pub type_: EventType,
    pub obj: Arc<Value>,
    pub line: Bytes,
}

/// A live watch: receives serialized watch-event lines.
pub struct Watcher {
    pub ns: Option<String>,
    pub filter: Filter,
    pub tx: mpsc::Sender<Bytes>,
    pub bookmarks: bool,
    pub api_version: String,
    pub kind: String,
}

pub fn event_line(type_: &str, obj: &Value) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"{\"type\":\"");
    buf.extend_from_slice(type_.as_bytes());
    buf.extend_from_slice(b"\",\"object\":");
    if serde_json::to_writer(&mut buf, obj).is_err() {
        buf.extend_from_slice(b"null");
    }
    buf.extend_from_slice(b"}\n");
    Bytes::from(buf)
}

/// Rewrites `apiVersion` when an object is served at a version other than its storage one.
pub fn at_version(obj: &Arc<Value>, api_version: &str) -> Arc<Value> {
    if obj.get("apiVersion").and_then(|v| v.as_str()) == Some(api_version) {
        return obj.clone();
    }
    let mut o = (**obj).clone();
    o["apiVersion"] = Value::String(api_version.to_string());
    Arc::new(o)
}

pub struct Inner {
    pub rv: u64,
    pub defs: HashMap<ResKey, Arc<ResourceDef>>,
    pub objects: HashMap<ResKey, BTreeMap<(String, String), Arc<Value>>>,
    pub history: VecDeque<Arc<Event>>,
    pub history_cap: usize,
    /// Newest resourceVersion evicted from the history (0 = nothing evicted yet).
    pub compacted: u64,
    pub watchers: HashMap<ResKey, Vec<Watcher>>,
    pub next_watcher: u64,
    pub uids: HashMap<String, ObjRef>,
    pub dependents: HashMap<String, BTreeSet<ObjRef>>,
    pub terminating_ns: HashSet<String>,
    pub rng: StdRng,
    /// Bumped whenever the set of served resources changes (discovery and openapi hashes).
    pub discovery_gen: u64,
    pub count: usize,
    pub allow_reviews: bool,
    pub pending: VecDeque<super::gc::Work>,
}

pub struct Store {
    inner: Mutex<Inner>,
}

impl Store {
    pub fn new(history: usize, seed: u64) -> Store {
        let mut defs = HashMap::new();
        for d in builtins() {
            defs.insert(d.key.clone(), Arc::new(d));
        }
        let inner = Inner {
            rv: 0,
            defs,
            objects: HashMap::new(),
            history: VecDeque::new(),
            history_cap: history.max(1),
            compacted: 0,
            watchers: HashMap::new(),
            next_watcher: 1,
            uids: HashMap::new(),
            dependents: HashMap::new(),
            terminating_ns: HashSet::new(),
            rng: StdRng::seed_from_u64(seed),
            discovery_gen: 1,
            count: 0,
            allow_reviews: true,
            pending: VecDeque::new(),
        };
        Store {
            inner: Mutex::new(inner),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("uid").and_then(|u| u.as_str()).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub fn uid_of(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/uid").and_then(|v| v.as_str())
}

impl Inner {
    pub fn def(&self, key: &ResKey) -> Option<Arc<ResourceDef>> {
        self.defs.get(key).cloned()
    }

    pub fn get(&self, r: &ObjRef) -> Option<Arc<Value>> {
        self.objects
            .get(&r.res)?
            .get(&(r.ns.clone(), r.name.clone()))
            .cloned()
    }

    pub fn new_uid(&mut self) -> String {
        let b: [u8; 16] = self.rng.random();
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    pub fn random_suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..5)
            .map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    }

    pub fn namespace_exists(&self, ns: &str) -> bool {
        self.objects
            .get(&ResKey::new("", "namespaces"))
            .is_some_and(|m| m.contains_key(&(String::new(), ns.to_string())))
    }

    pub fn namespace_is_empty(&self, ns: &str) -> bool {
        let lo = (ns.to_string(), String::new());
        self.objects.iter().all(|(k, m)| {
            k.plural == "namespaces"
                || m.range(lo.clone()..)
                    .next()
                    .is_none_or(|((n, _), _)| n != ns)
        })
    }

    /// Objects of a resource in a namespace (`None` = all namespaces), in key order,
    /// starting after `after`.
    pub fn scan(
        &self,
        res: &ResKey,
        ns: Option<&str>,
        after: Option<&(String, String)>,
    ) -> Vec<(&(String, String), &Arc<Value>)> {
        let Some(m) = self.objects.get(res) else {
            return Vec::new();
        };
        let start = match (after, ns) {
            (Some(a), _) => std::ops::Bound::Excluded(a.clone()),
            (None, Some(n)) => std::ops::Bound::Included((n.to_string(), String::new())),
            (None, None) => std::ops::Bound::Unbounded,
        };
        m.range((start, std::ops::Bound::Unbounded))
            .take_while(|((n, _), _)| ns.is_none_or(|x| x == n))
            .collect()
    }

    fn index_remove(&mut self, r: &ObjRef, obj: &Value) {
        if let Some(u) = uid_of(obj) {
            self.uids.remove(u);
        }
        for o in owner_uids(obj) {
            if let Some(set) = self.dependents.get_mut(&o) {
                set.remove(r);
                if set.is_empty() {
                    self.dependents.remove(&o);
                }
            }
        }
    }

    fn index_add(&mut self, r: &ObjRef, obj: &Value) {
        if let Some(u) = uid_of(obj) {
            self.uids.insert(u.to_string(), r.clone());
        }
        for o in owner_uids(obj) {
            self.dependents.entry(o).or_default().insert(r.clone());
        }
    }

    /// Stores (or removes, for `Deleted`) an object at a new resourceVersion and emits the event.
    pub fn commit(
        &mut self,
        def: &ResourceDef,
        r: &ObjRef,
        mut obj: Value,
        type_: EventType,
    ) -> Arc<Value> {
        self.rv += 1;
        let rv = self.rv;
        if let Some(m) = obj.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            m.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        let obj = Arc::new(obj);
        let key = (r.ns.clone(), r.name.clone());
        let map = self.objects.entry(r.res.clone()).or_default();
        let old = match type_ {
            EventType::Deleted => map.remove(&key),
            _ => map.insert(key, obj.clone()),
        };
        match (&old, type_) {
            (None, EventType::Added) => self.count += 1,
            (Some(_), EventType::Deleted) => self.count -= 1,
            _ => {}
        }
        if let Some(o) = &old {
            self.index_remove(r, o);
        }
        if type_ != EventType::Deleted {
            self.index_add(r, &obj);
        }
        let line = event_line(type_.as_str(), &obj);
        let ev = Arc::new(Event {
            rv,
            res: r.res.clone(),
            ns: r.ns.clone(),
            type_,
            obj: obj.clone(),
            line,
        });
        self.fan_out(def, &ev, old.as_deref());
        if self.history.len() >= self.history_cap {
            if let Some(e) = self.history.pop_front() {
                self.compacted = e.rv;
            }
        }
        self.history.push_back(ev);
        obj
    }

    fn fan_out(&mut self, def: &ResourceDef, ev: &Event, old: Option<&Value>) {
        let Some(ws) = self.watchers.get_mut(&ev.res) else {
            return;
        };
        let storage_av = def.storage_api_version();
        ws.retain(|w| {
            if w.ns.as_deref().is_some_and(|n| n != ev.ns) {
                return !w.tx.is_closed();
            }
            let line = if w.filter.is_empty() {
                if w.api_version == storage_av {
                    Some(ev.line.clone())
                } else {
                    Some(event_line(
                        ev.type_.as_str(),
                        &at_version(&ev.obj, &w.api_version),
                    ))
                }
            } else {
                let now = w.filter.matches(&ev.obj);
                let before = old.is_some_and(|o| w.filter.matches(o));
                let t = match (ev.type_, before, now) {
                    (EventType::Added, _, true) => Some("ADDED"),
                    (EventType::Deleted, _, true) => Some("DELETED"),
                    (EventType::Modified, true, true) => Some("MODIFIED"),
                    (EventType::Modified, false, true) => Some("ADDED"),
                    (EventType::Modified, true, false) => Some("DELETED"),
                    _ => None,
                };
                t.map(|t| {
                    if t == ev.type_.as_str() && w.api_version == storage_av {
                        ev.line.clone()
                    } else {
                        event_line(t, &at_version(&ev.obj, &w.api_version))
                    }
                })
            };
            match line {
                Some(l) => w.tx.try_send(l).is_ok(),
                None => !w.tx.is_closed(),
            }
        });
    }

    /// Sends a BOOKMARK at the current resourceVersion to every watcher that asked for them.
    pub fn send_bookmarks(&mut self) {
        let rv = self.rv.to_string();
        for ws in self.watchers.values_mut() {
            ws.retain(|w| {
                if !w.bookmarks {
                    return !w.tx.is_closed();
                }
                let line = bookmark_line(&w.api_version, &w.kind, &rv, false);
                w.tx.try_send(line).is_ok()
            });
        }
        self.watchers.retain(|_, v| !v.is_empty());
    }

    pub fn watcher_count(&self) -> usize {
        self.watchers.values().map(|v| v.len()).sum()
    }
}

pub fn bookmark_line(api_version: &str, kind: &str, rv: &str, initial_end: bool) -> Bytes {
    let mut meta = serde_json::json!({"resourceVersion": rv});
    if initial_end {
        meta["annotations"] = serde_json::json!({"k8s.io/initial-events-end": "true"});
    }
    event_line(
        "BOOKMARK",
        &serde_json::json!({"apiVersion": api_version, "kind": kind, "metadata": meta}),
    )
}
