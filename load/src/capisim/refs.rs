//! Referenced objects (infrastructure cluster, control plane): kind resolution through CRDs, dynamic watches,
//! and the map from those objects back to their Cluster.
//!
//! CRDs are watched once (a local store); a referenced kind is resolved from its CRD (see
//! [`contract`](super::contract)) and gets one cluster-wide watch with a local store, started the first time a
//! Cluster references it. An event on a watched object wakes the Cluster named by its
//! `cluster.x-k8s.io/cluster-name` label, by a `Cluster` ownerReference, or by a Cluster's spec reference; a
//! CRD event wakes every Cluster referencing its kind (e.g. when a contract label is added).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use tokio::task::JoinSet;

use super::cluster::{CLUSTER_NAME_LABEL, ClusterKey, GROUP, ObjRef};
use super::contract::{self, Contract, ContractError, Resolved};
use crate::tfsim::queue::QueueHandle;

/// (apiVersion, kind) of a resolved kind.
type KindKey = (String, String);
/// (group, kind, namespace, name) of a referenced object.
type TargetKey = (String, String, String, String);
type Index = Arc<Mutex<HashMap<TargetKey, HashSet<ClusterKey>>>>;

/// A watched kind.
pub(crate) struct Watched {
    pub ar: kube::discovery::ApiResource,
    pub namespaced: bool,
    pub store: Store<DynamicObject>,
}

/// Reading a referenced object failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RefError {
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error("reading {kind} {namespace}/{name}: {source}")]
    Get {
        kind: String,
        namespace: String,
        name: String,
        source: kube::Error,
    },
    #[error("reading CustomResourceDefinition {name}: {source}")]
    Crd { name: String, source: kube::Error },
}

/// Kind resolution, watches, and the reverse index.
pub(crate) struct Refs {
    client: kube::Client,
    queue: QueueHandle<ClusterKey>,
    require_contract_label: bool,
    crds: Store<CustomResourceDefinition>,
    kinds: tokio::sync::Mutex<HashMap<KindKey, Arc<Watched>>>,
    index: Index,
    tasks: Mutex<JoinSet<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn group_of(api_version: &str) -> &str {
    contract::split_api_version(api_version).0
}

impl Refs {
    /// Starts the CRD watch.
    pub(crate) fn new(
        client: kube::Client,
        queue: QueueHandle<ClusterKey>,
        require_contract_label: bool,
    ) -> Self {
        let writer = reflector::store::Writer::<CustomResourceDefinition>::default();
        let crds = writer.as_reader();
        let index: Index = Arc::new(Mutex::new(HashMap::new()));
        let mut tasks = JoinSet::new();
        let (api, q, idx) = (Api::all(client.clone()), queue.clone(), index.clone());
        tasks.spawn(async move {
            let stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .modify(|c: &mut CustomResourceDefinition| c.metadata.managed_fields = None)
                .reflect(writer)
                .touched_objects();
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(crd) => {
                        let (group, kind) = (&crd.spec.group, &crd.spec.names.kind);
                        let woken: HashSet<ClusterKey> = lock(&idx)
                            .iter()
                            .filter(|(k, _)| k.0 == *group && k.1 == *kind)
                            .flat_map(|(_, set)| set.iter().cloned())
                            .collect();
                        for c in woken {
                            q.enqueue(c);
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "CRD watch error"),
                }
            }
        });
        Self {
            client,
            queue,
            require_contract_label,
            crds,
            kinds: tokio::sync::Mutex::new(HashMap::new()),
            index,
            tasks: Mutex::new(tasks),
        }
    }

    /// Records that `cluster` references `r`, so events on `r` wake it.
    pub(crate) fn remember(&self, cluster: &ClusterKey, r: &ObjRef) {
        let key = (
            group_of(&r.api_version).to_string(),
            r.kind.clone(),
            cluster.namespace.clone(),
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

    /// The CRD of `r`'s group and kind (from the watch's store once it is ready, else read directly).
    async fn crd(&self, r: &ObjRef) -> Result<CustomResourceDefinition, RefError> {
        let (group, _) = contract::split_api_version(&r.api_version);
        if group.is_empty() || r.api_version.ends_with('/') {
            return Err(ContractError::ApiVersion(r.api_version.clone()).into());
        }
        let name = contract::crd_name(group, &r.kind);
        let ready =
            tokio::time::timeout(Duration::from_millis(100), self.crds.wait_until_ready()).await;
        let found = if matches!(ready, Ok(Ok(()))) {
            self.crds
                .get(&ObjectRef::new(&name))
                .map(|c| c.as_ref().clone())
        } else {
            Api::<CustomResourceDefinition>::all(self.client.clone())
                .get_opt(&name)
                .await
                .map_err(|source| RefError::Crd {
                    name: name.clone(),
                    source,
                })?
        };
        found.ok_or_else(|| ContractError::CrdNotFound(name).into())
    }

    /// The watched kind of `r` (resolved through its CRD) and the contract it implements, starting its watch
    /// on first use.
    pub(crate) async fn watched(&self, r: &ObjRef) -> Result<(Arc<Watched>, Contract), RefError> {
        let crd = self.crd(r).await?;
        let resolved =
            contract::resolve(&crd, &r.api_version, &r.kind, self.require_contract_label)?;
        let contract = resolved.contract;
        let key = (resolved.ar.api_version.clone(), r.kind.clone());
        let mut kinds = self.kinds.lock().await;
        if let Some(w) = kinds.get(&key) {
            return Ok((w.clone(), contract));
        }
        let w = self.start_watch(resolved, r);
        kinds.insert(key, w.clone());
        Ok((w, contract))
    }

    fn start_watch(&self, resolved: Resolved, r: &ObjRef) -> Arc<Watched> {
        let Resolved { ar, namespaced, .. } = resolved;
        let writer = reflector::store::Writer::new(ar.clone());
        let store = writer.as_reader();
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
        let (queue, index) = (self.queue.clone(), self.index.clone());
        let (kind, group) = (r.kind.clone(), ar.group.clone());
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
                        for c in owners_of(&obj, &group, &kind, &index) {
                            queue.enqueue(c);
                        }
                    }
                    Err(err) => tracing::warn!(kind = %kind, error = %err, "watch error"),
                }
            }
        });
        tracing::info!(api_version = %ar.api_version, kind = %ar.kind, plural = %ar.plural, "watching referenced kind");
        Arc::new(Watched {
            ar,
            namespaced,
            store,
        })
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
        self.api(w, namespace)
            .get_opt(name)
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
fn owners_of(obj: &DynamicObject, group: &str, kind: &str, index: &Index) -> Vec<ClusterKey> {
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
