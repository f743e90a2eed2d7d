//! The Cluster reconciler.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::runtime::reflector;
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::{Value, json};

use super::Config;
use super::cluster::{
    self, CLUSTER_NAME_LABEL, ClusterKey, ClusterView, Endpoint, FINALIZER, ObjRef,
};
use super::refs::{RefError, Refs, Watched};
use super::status::{self, Observed, RefState};
use crate::tfsim::queue;
use crate::tfsim::watch_loop::{WatchLoop, is_status, now_rfc3339};

/// A reconcile that should be retried with backoff.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReconcileError {
    #[error("patching cluster {key}: {source}")]
    Patch {
        key: ClusterKey,
        source: kube::Error,
    },
    #[error("cluster {key}: {source}")]
    Ref { key: ClusterKey, source: RefError },
    #[error("cluster {key}: updating {kind} {name}: {source}")]
    RefWrite {
        key: ClusterKey,
        kind: String,
        name: String,
        source: kube::Error,
    },
}

struct Ctx {
    api_resource: ApiResource,
    client: kube::Client,
    store: Store<DynamicObject>,
    refs: Refs,
    config: Config,
}

fn deleting(obj: &DynamicObject) -> bool {
    obj.metadata.deletion_timestamp.is_some()
}

impl Ctx {
    fn api(&self, ns: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), ns, &self.api_resource)
    }

    async fn reconcile(
        self: Arc<Self>,
        key: ClusterKey,
    ) -> Result<Option<Duration>, ReconcileError> {
        let oref = ObjectRef::new_with(&key.name, self.api_resource.clone()).within(&key.namespace);
        let Some(obj) = self.store.get(&oref) else {
            self.refs.forget(&key);
            return Ok(None);
        };
        let c = match ClusterView::from_object(&obj) {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(cluster = %key, error = %err, "skipping unreadable cluster");
                return Ok(None);
            }
        };
        for r in c.infra_ref.iter().chain(c.cp_ref.iter()) {
            self.refs.remember(&c.key, r);
        }
        if c.deleting {
            return self.reconcile_delete(&c).await;
        }
        if c.paused {
            tracing::debug!(cluster = %key, "cluster is paused");
            return Ok(None);
        }
        if !c.has_finalizer() {
            let mut f = c.finalizers.clone();
            f.push(FINALIZER.to_string());
            if !self.patch_finalizers(&c, f).await? {
                return Ok(None);
            }
        }
        let infra = match &c.infra_ref {
            Some(r) => Some(self.observe_ref(&c, r).await?),
            None => None,
        };
        let cp = match &c.cp_ref {
            Some(r) => Some(self.observe_ref(&c, r).await?),
            None => None,
        };
        let mut endpoint = c.endpoint.clone();
        let from_cp = cp.as_ref().and_then(|s| s.endpoint.clone());
        let from_infra = infra.as_ref().and_then(|s| s.endpoint.clone());
        if let Some(e) = from_cp.filter(|e| *e != c.endpoint) {
            endpoint = e;
        } else if let Some(e) = from_infra.filter(|_| !c.endpoint.is_valid()) {
            endpoint = e;
        }
        if endpoint != c.endpoint {
            self.patch_endpoint(&c, &endpoint).await?;
        }
        let now = now_rfc3339();
        let desired = status::compute(&Observed {
            cluster: &c,
            infra,
            cp,
            endpoint,
            now: &now,
        });
        self.write_status(&c, desired).await?;
        Ok(None)
    }

    /// The watched kind of reference `r`, the namespace it points into and the object (`None`: it does
    /// not exist).
    async fn lookup_ref(
        &self,
        c: &ClusterView,
        r: &ObjRef,
    ) -> Result<(Arc<Watched>, String, Option<Arc<DynamicObject>>), ReconcileError> {
        let ref_err = |source| ReconcileError::Ref {
            key: c.key.clone(),
            source,
        };
        let ns = Refs::namespace_of(r, &c.key).to_string();
        let w = self.refs.watched(r).await.map_err(ref_err)?;
        let obj = self.refs.get(&w, &ns, &r.name).await.map_err(ref_err)?;
        Ok((w, ns, obj))
    }

    /// Reads a referenced object and makes sure it carries the Cluster's controller ownerReference and label.
    async fn observe_ref(&self, c: &ClusterView, r: &ObjRef) -> Result<RefState, ReconcileError> {
        let (w, ns, obj) = self.lookup_ref(c, r).await?;
        let Some(obj) = obj else {
            return Ok(RefState::default());
        };
        if !deleting(&obj) {
            self.adopt(c, &w, &ns, &obj).await?;
        }
        Ok(RefState::from_object(&obj))
    }

    async fn adopt(
        &self,
        c: &ClusterView,
        w: &super::refs::Watched,
        ns: &str,
        obj: &DynamicObject,
    ) -> Result<(), ReconcileError> {
        let name = obj.metadata.name.clone().unwrap_or_default();
        let mut owners = obj.metadata.owner_references.clone().unwrap_or_default();
        let labelled = obj
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(CLUSTER_NAME_LABEL))
            .is_some_and(|v| *v == c.key.name);
        let mut owners_changed = false;
        match owners.iter_mut().find(|o| o.uid == c.uid) {
            Some(o) => {
                if o.controller != Some(true) {
                    if owners_other_controller(obj, &c.uid) {
                        tracing::warn!(cluster = %c.key, kind = %w.ar.kind, %name, "object has another controller; not taking control");
                    } else {
                        o.controller = Some(true);
                        o.block_owner_deletion = Some(true);
                        owners_changed = true;
                    }
                }
            }
            None => {
                let other = owners_other_controller(obj, &c.uid);
                if other {
                    tracing::warn!(cluster = %c.key, kind = %w.ar.kind, %name, "object has another controller; adding a non-controller owner reference");
                }
                owners.push(
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                        api_version: format!("{}/{}", cluster::GROUP, cluster::VERSION),
                        kind: "Cluster".into(),
                        name: c.key.name.clone(),
                        uid: c.uid.clone(),
                        controller: Some(!other),
                        block_owner_deletion: Some(true),
                    },
                );
                owners_changed = true;
            }
        }
        if !owners_changed && labelled {
            return Ok(());
        }
        let mut meta = json!({ "labels": { CLUSTER_NAME_LABEL: c.key.name } });
        if owners_changed {
            meta["ownerReferences"] = serde_json::to_value(&owners).unwrap_or(Value::Null);
        }
        if let Some(rv) = &obj.metadata.resource_version {
            meta["resourceVersion"] = json!(rv);
        }
        let patch = json!({ "metadata": meta });
        match self
            .refs
            .api(w, ns)
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(source) => Err(ReconcileError::RefWrite {
                key: c.key.clone(),
                kind: w.ar.kind.clone(),
                name,
                source,
            }),
        }
    }

    async fn patch_finalizers(
        &self,
        c: &ClusterView,
        finalizers: Vec<String>,
    ) -> Result<bool, ReconcileError> {
        let mut meta = json!({ "finalizers": finalizers });
        if let Some(rv) = &c.resource_version {
            meta["resourceVersion"] = json!(rv);
        }
        self.merge(c, json!({ "metadata": meta }), false).await
    }

    /// Merge-patches the Cluster (its `/status` when `status`); `Ok(false)` when it is gone.
    async fn merge(
        &self,
        c: &ClusterView,
        patch: Value,
        status: bool,
    ) -> Result<bool, ReconcileError> {
        let api = self.api(&c.key.namespace);
        let (pp, patch) = (PatchParams::default(), Patch::Merge(&patch));
        let res = if status {
            api.patch_status(&c.key.name, &pp, &patch).await
        } else {
            api.patch(&c.key.name, &pp, &patch).await
        };
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_status(&e, 404) => Ok(false),
            Err(source) => Err(ReconcileError::Patch {
                key: c.key.clone(),
                source,
            }),
        }
    }

    async fn patch_endpoint(&self, c: &ClusterView, e: &Endpoint) -> Result<(), ReconcileError> {
        let patch =
            json!({ "spec": { "controlPlaneEndpoint": { "host": e.host, "port": e.port } } });
        self.merge(c, patch, false).await.map(drop)
    }

    async fn write_status(
        &self,
        c: &ClusterView,
        desired: serde_json::Map<String, Value>,
    ) -> Result<(), ReconcileError> {
        if desired == c.status {
            return Ok(());
        }
        let mut patch_status = desired.clone();
        for k in c.status.keys() {
            patch_status.entry(k.clone()).or_insert(Value::Null);
        }
        self.merge(c, json!({ "status": patch_status }), true)
            .await
            .map(drop)
    }

    /// Deletes the control plane, waits for it to disappear, then the infrastructure cluster, then releases
    /// the Cluster.
    async fn reconcile_delete(&self, c: &ClusterView) -> Result<Option<Duration>, ReconcileError> {
        if !c.has_finalizer() {
            self.refs.forget(&c.key);
            return Ok(None);
        }
        let mut status = c.status.clone();
        status.insert("phase".into(), json!("Deleting"));
        self.write_status(c, status).await?;
        for r in c.cp_ref.iter().chain(c.infra_ref.iter()) {
            let (w, ns, obj) = self.lookup_ref(c, r).await?;
            if let Some(obj) = obj {
                if !deleting(&obj) {
                    match self
                        .refs
                        .api(&w, &ns)
                        .delete(&r.name, &DeleteParams::background())
                        .await
                    {
                        Ok(_) => {
                            tracing::info!(cluster = %c.key, kind = %r.kind, name = %r.name, "deleting referenced object")
                        }
                        Err(e) if is_status(&e, 404) => {}
                        Err(source) => {
                            return Err(ReconcileError::RefWrite {
                                key: c.key.clone(),
                                kind: r.kind.clone(),
                                name: r.name.clone(),
                                source,
                            });
                        }
                    }
                }
                // Woken by the object's deletion event; the timer is only a safety net.
                return Ok(Some(self.config.deletion_resync));
            }
        }
        let remaining: Vec<String> = c
            .finalizers
            .iter()
            .filter(|f| *f != FINALIZER)
            .cloned()
            .collect();
        self.patch_finalizers(c, remaining).await?;
        self.refs.forget(&c.key);
        tracing::info!(cluster = %c.key, "cluster deleted");
        Ok(None)
    }
}

fn owners_other_controller(obj: &DynamicObject, uid: &str) -> bool {
    obj.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid != uid)
}

/// Runs the Cluster controller until the future is dropped.
pub(crate) async fn run(client: kube::Client, config: Config) -> anyhow::Result<()> {
    let ar = cluster::api_resource();
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let writer = reflector::store::Writer::new(ar.clone());
    let store = writer.as_reader();
    let (handle, rx) = queue::channel::<ClusterKey>();
    let concurrency = config.concurrency;
    let ctx = Arc::new(Ctx {
        api_resource: ar,
        client: client.clone(),
        store,
        refs: Refs::new(client, handle.clone()),
        config,
    });
    tracing::info!("capisim started");
    WatchLoop {
        label: "cluster",
        api,
        writer,
        modify: |o: &mut DynamicObject| o.metadata.managed_fields = None,
        key_of: |obj: DynamicObject| {
            let (name, namespace) = (obj.metadata.name?, obj.metadata.namespace?);
            Some(ClusterKey { namespace, name })
        },
        queue: (handle, rx),
        concurrency,
        reconcile: move |key: ClusterKey| {
            let ctx = ctx.clone();
            async move { ctx.reconcile(key).await }
        },
    }
    .run()
    .await
}
