//! Referenced objects (infrastructure cluster, control plane): kind resolution, dynamic watches, and the map
//! from those objects back to their Cluster.
//!
//! The plural of a referenced kind comes from API discovery of its group/version; when discovery fails the
//! plural is the lowercased kind with English pluralisation (`y` → `ies`; `s`, `x`, `ch`, `sh` → `+es`;
//! otherwise `+s`). Each kind gets one cluster-wide watch with a local store, started the first time a
//! Cluster references it. An event on a watched object wakes the Cluster named by its
//! `cluster.x-k8s.io/cluster-name` label, by a `Cluster` ownerReference, or by a Cluster's spec reference.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use tokio::task::JoinSet;

use super::cluster::{CLUSTER_NAME_LABEL, ClusterKey, GROUP, ObjRef};
use crate::tfsim::queue::QueueHandle;

/// (apiVersion, kind).
type KindKey = (String, String);
/// (group, kind, namespace, name) of a referenced object.
type TargetKey = (String, String, String, String);

/// A watched kind.
pub(crate) struct Watched {
    pub ar: ApiResource,
    pub namespaced: bool,
    pub store: Store<DynamicObject>,
}

/// Reading a referenced object failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RefError {
    #[error("invalid apiVersion {0:?}")]
    ApiVersion(String),
    #[error("reading {kind} {namespace}/{name}: {source}")]
    Get {
        kind: String,
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

/// English plural of a kind, lowercased.
pub(crate) fn plural_of(kind: &str) -> String {
    let k = kind.to_ascii_lowercase();
    if let Some(stem) = k.strip_suffix('y')
        && !stem.ends_with(['a', 'e', 'i', 'o', 'u'])
    {
        return format!("{stem}ies");
    }
    if k.ends_with('s') || k.ends_with('x') || k.ends_with("ch") || k.ends_with("sh") {
        return format!("{k}es");
    }
    format!("{k}s")
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Kind resolution, watches, and the reverse index.
pub(crate) struct Refs {
    client: kube::Client,
    queue: QueueHandle<ClusterKey>,
    kinds: tokio::sync::Mutex<HashMap<KindKey, Arc<Watched>>>,
    index: Arc<Mutex<HashMap<TargetKey, HashSet<ClusterKey>>>>,
    tasks: Mutex<JoinSet<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Refs {
    pub(crate) fn new(client: kube::Client, queue: QueueHandle<ClusterKey>) -> Self {
        Self {
            client,
            queue,
            kinds: tokio::sync::Mutex::new(HashMap::new()),
            index: Arc::new(Mutex::new(HashMap::new())),
            tasks: Mutex::new(JoinSet::new()),
        }
    }

    /// Namespace of a reference (defaults to the Cluster's).
    pub(crate) fn namespace_of<'a>(r: &'a ObjRef, cluster: &'a ClusterKey) -> &'a str {
        r.namespace
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(&cluster.namespace)
    }

    /// Records that `cluster` references `r`, so events on `r` wake it.
    pub(crate) fn remember(&self, cluster: &ClusterKey, r: &ObjRef) {
        let key = (
            group_of(&r.api_version).to_string(),
            r.kind.clone(),
            Self::namespace_of(r, cluster).to_string(),
            r.name.clone(),
        );
        lock(&self.index)
            .entry(key)
            .or_default()
            .insert(cluster.clone());
    }

    /// Forgets every reference of `cluster`.
    pub(crate) fn forget(&self, cluster: &ClusterKey) {
        lock(&self.index).retain(|_, set| {
            set.remove(cluster);
            !set.is_empty()
        });
    }

    /// The watched kind of `r`, starting its watch on first use.
    pub(crate) async fn watched(&self, r: &ObjRef) -> Result<Arc<Watched>, RefError> {
        let key = (r.api_version.clone(), r.kind.clone());
        let mut kinds = self.kinds.lock().await;
        if let Some(w) = kinds.get(&key) {
            return Ok(w.clone());
        }
        let (group, version) = match r.api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), r.api_version.clone()),
        };
        if version.is_empty() {
            return Err(RefError::ApiVersion(r.api_version.clone()));
        }
        let gvk = GroupVersionKind::gvk(&group, &version, &r.kind);
        let (ar, namespaced) = match kube::discovery::pinned_kind(&self.client, &gvk).await {
            Ok((ar, caps)) => (ar, caps.scope == Scope::Namespaced),
            Err(err) => {
                let plural = plural_of(&r.kind);
                tracing::debug!(api_version = %r.api_version, kind = %r.kind, %plural, error = %err, "discovery failed; using plural rule");
                (ApiResource::from_gvk_with_plural(&gvk, &plural), true)
            }
        };
        let writer = reflector::store::Writer::new(ar.clone());
        let store = writer.as_reader();
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
        let queue = self.queue.clone();
        let index = self.index.clone();
        let kind = r.kind.clone();
        let group_name = group.clone();
        lock(&self.tasks).spawn(async move {
            let stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .modify(|o: &mut DynamicObject| o.metadata.managed_fields = None)
                .reflect(writer)
                .touched_objects();
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(obj) => {
                        for c in owners_of(&obj, &group_name, &kind, &index) {
                            queue.enqueue(c);
                        }
                    }
                    Err(err) => tracing::warn!(kind = %kind, error = %err, "watch error"),
                }
            }
        });
        tracing::info!(api_version = %r.api_version, kind = %r.kind, plural = %ar.plural, "watching referenced kind");
        let w = Arc::new(Watched {
            ar,
            namespaced,
            store,
        });
        kinds.insert(key, w.clone());
        Ok(w)
    }

    /// The current state of the referenced object (`None` when it does not exist).
    pub(crate) async fn get(
        &self,
        w: &Watched,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<DynamicObject>>, RefError> {
        let ready =
            tokio::time::timeout(Duration::from_millis(100), w.store.wait_until_ready()).await;
        if matches!(ready, Ok(Ok(()))) {
            let mut key = ObjectRef::new_with(name, w.ar.clone());
            if w.namespaced {
                key = key.within(namespace);
            }
            return Ok(w.store.get(&key));
        }
        let api: Api<DynamicObject> = if w.namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &w.ar)
        } else {
            Api::all_with(self.client.clone(), &w.ar)
        };
        api.get_opt(name)
            .await
            .map(|o| o.map(Arc::new))
            .map_err(|source| RefError::Get {
                kind: w.ar.kind.clone(),
                namespace: namespace.to_string(),
                name: name.to_string(),
                source,
            })
    }

    /// An API handle for the referenced object.
    pub(crate) fn api(&self, w: &Watched, namespace: &str) -> Api<DynamicObject> {
        if w.namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &w.ar)
        } else {
            Api::all_with(self.client.clone(), &w.ar)
        }
    }
}

/// Clusters an event on `obj` should wake.
fn owners_of(
    obj: &DynamicObject,
    group: &str,
    kind: &str,
    index: &Mutex<HashMap<TargetKey, HashSet<ClusterKey>>>,
) -> Vec<ClusterKey> {
    let ns = obj.metadata.namespace.clone().unwrap_or_default();
    let mut out: HashSet<ClusterKey> = HashSet::new();
    if let Some(name) = obj
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CLUSTER_NAME_LABEL))
    {
        out.insert(ClusterKey {
            namespace: ns.clone(),
            name: name.clone(),
        });
    }
    for o in obj.metadata.owner_references.iter().flatten() {
        if o.kind == "Cluster" && group_of(&o.api_version) == GROUP {
            out.insert(ClusterKey {
                namespace: ns.clone(),
                name: o.name.clone(),
            });
        }
    }
    if let Some(name) = &obj.metadata.name {
        let key = (group.to_string(), kind.to_string(), ns, name.clone());
        if let Some(set) = lock(index).get(&key) {
            out.extend(set.iter().cloned());
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        assert_eq!(plural_of("CAPTCluster"), "captclusters");
        assert_eq!(plural_of("Policy"), "policies");
        assert_eq!(plural_of("Gateway"), "gateways");
        assert_eq!(plural_of("Ingress"), "ingresses");
        assert_eq!(plural_of("Box"), "boxes");
    }
}
