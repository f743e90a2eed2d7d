//! The Cluster reconciler: the order of Cluster API v1.11's `Reconcile` (finalizer, pause, infrastructure,
//! control plane, deletion, status), and the writes it makes.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::runtime::reflector;
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::{Value, json};

use super::Config;
use super::cluster::{
    self, CLUSTER_NAME_LABEL, ClusterKey, ClusterView, Endpoint, FINALIZER, OWNER_API_VERSION,
    ObjRef,
};
use super::contract::{Contract, split_api_version};
use super::probe::KubeconfigState;
use super::refs::{RefError, Refs, Watched};
use super::secrets::{KUBECONFIG_SUFFIX, Kubeconfigs, Lookup};
use super::status::{Draft, Probe};
use crate::tfsim::queue;
use crate::tfsim::watch_loop::{WatchLoop, is_status, now_rfc3339};

/// Kubeconfig reads that found an expired token.
pub(crate) static EXPIRED_READS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// A reconcile that should be retried with backoff.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReconcileError {
    #[error("patching cluster {key}: {source}")]
    Patch {
        key: ClusterKey,
        source: Box<kube::Error>,
    },
    #[error("cluster {key}: {source}")]
    Ref {
        key: ClusterKey,
        source: Box<RefError>,
    },
    #[error("cluster {key}: updating {kind} {name}: {source}")]
    RefWrite {
        key: ClusterKey,
        kind: String,
        name: String,
        source: Box<kube::Error>,
    },
    #[error("cluster {key}: {kind} {name} already has controller {owner}")]
    AlreadyOwned {
        key: ClusterKey,
        kind: String,
        name: String,
        owner: String,
    },
    #[error("cluster {key}: {message}")]
    Phase { key: ClusterKey, message: String },
}

pub(crate) struct Ctx {
    api_resource: ApiResource,
    client: kube::Client,
    store: Store<DynamicObject>,
    pub(crate) refs: Refs,
    kubeconfigs: Kubeconfigs,
    config: Config,
}

fn lowest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
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
        if c.deleting && !c.has_finalizer() {
            self.refs.forget(&c.key);
            return Ok(None);
        }
        // The finalizer comes first, even on a paused Cluster; the update wakes the next reconcile.
        if !c.deleting && !c.has_finalizer() {
            let mut f = c.finalizers.clone();
            f.push(FINALIZER.to_string());
            self.patch_finalizers(&c, f).await?;
            return Ok(None);
        }
        let now = now_rfc3339();
        let mut draft = Draft::new(&c, &now);
        draft.set_paused(&c);
        if c.paused() {
            // Paused (also while deleting): only the Paused condition is written.
            let mut status = c.status.clone();
            draft.conds.put_v1beta2(&mut status);
            self.write_status(&c, status).await?;
            return Ok(None);
        }

        let (infra, infra_res) = self.reconcile_infrastructure(&c, &mut draft).await;
        let (cp, cp_res) = self.reconcile_control_plane(&c, &mut draft).await;
        let mut release = false;
        let mut requeue = None;
        let mut first_err = None;
        for res in [infra_res, cp_res] {
            match res {
                Ok(d) => requeue = lowest(requeue, d),
                Err(e) => first_err = first_err.or(Some(e)),
            }
        }
        if c.deleting {
            match self.reconcile_delete(&c, &mut draft, &infra, &cp).await {
                Ok(done) => release = done,
                Err(e) => first_err = first_err.or(Some(e)),
            }
            if !release {
                // Woken by the objects' events; the timer is only a safety net.
                requeue = lowest(requeue, Some(self.config.deletion_resync));
            }
        }
        let (probe, expiry) = self.probe(&c, &draft);
        requeue = lowest(requeue, expiry);
        let endpoint = draft.endpoint.clone();
        let status = draft.finish(&c, &infra, &cp, &probe, first_err.is_none());
        // Spec first, then status (as Cluster API's patch helper does).
        if endpoint != c.endpoint {
            self.patch_endpoint(&c, &endpoint).await?;
        }
        self.write_status(&c, status).await?;
        if release {
            let remaining: Vec<String> = c
                .finalizers
                .iter()
                .filter(|f| *f != FINALIZER)
                .cloned()
                .collect();
            self.patch_finalizers(&c, remaining).await?;
            self.refs.forget(&c.key);
            tracing::info!(cluster = %c.key, "cluster deleted");
            return Ok(None);
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(requeue),
        }
    }

    /// The remote connection probe from the kubeconfig Secret, and when to look again (token expiry).
    fn probe(&self, c: &ClusterView, draft: &Draft) -> (Probe, Option<Duration>) {
        if !draft.infra_provisioned {
            return (Probe::NotYet, None);
        }
        let now = chrono::Utc::now();
        match self.kubeconfigs.lookup(&c.key) {
            Lookup::Unknown => (Probe::NotYet, None),
            Lookup::Missing => (
                Probe::Failed(format!(
                    "secret {}/{}{KUBECONFIG_SUFFIX} not found",
                    c.key.namespace, c.key.name
                )),
                None,
            ),
            Lookup::Found(state) => match state.at(now) {
                Err(m) => {
                    if matches!(state, KubeconfigState::Usable { .. }) {
                        EXPIRED_READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    (Probe::Failed(m), None)
                }
                Ok(expiry) => {
                    let wait = expiry
                        .and_then(|t| (t - now).to_std().ok())
                        .map(|d| d + Duration::from_secs(1));
                    (Probe::Succeeded, wait)
                }
            },
        }
    }

    /// The watched kind of reference `r`, its contract and the object in the Cluster's namespace (`None`: it
    /// does not exist).
    pub(crate) async fn lookup_ref(
        &self,
        c: &ClusterView,
        r: &ObjRef,
    ) -> Result<(Arc<Watched>, Contract, Option<Arc<DynamicObject>>), ReconcileError> {
        let ref_err = |source| ReconcileError::Ref {
            key: c.key.clone(),
            source: Box::new(source),
        };
        let (w, contract) = self.refs.watched(r).await.map_err(ref_err)?;
        let obj = self
            .refs
            .get(&w, &c.key.namespace, &r.name)
            .await
            .map_err(ref_err)?;
        Ok((w, contract, obj))
    }

    /// Makes the Cluster the object's controller owner and labels it (Cluster API's `ensureOwnerRefAndLabel`):
    /// a reference to a Cluster of the same name is replaced; another controller is an error.
    pub(crate) async fn adopt(
        &self,
        c: &ClusterView,
        w: &Watched,
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
        let exact = owners.iter().any(|o| {
            o.api_version == OWNER_API_VERSION
                && o.kind == "Cluster"
                && o.name == c.key.name
                && o.uid == c.uid
                && o.controller == Some(true)
        });
        if exact && labelled {
            return Ok(());
        }
        let same = |o: &OwnerReference| {
            o.kind == "Cluster"
                && split_api_version(&o.api_version).0 == cluster::GROUP
                && o.name == c.key.name
        };
        if let Some(other) = owners
            .iter()
            .find(|o| o.controller == Some(true) && !same(o))
        {
            return Err(ReconcileError::AlreadyOwned {
                key: c.key.clone(),
                kind: w.ar.kind.clone(),
                name,
                owner: format!("{} {}", other.kind, other.name),
            });
        }
        let desired = OwnerReference {
            api_version: OWNER_API_VERSION.into(),
            kind: "Cluster".into(),
            name: c.key.name.clone(),
            uid: c.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        match owners.iter_mut().find(|o| same(o)) {
            Some(o) => *o = desired,
            None => owners.push(desired),
        }
        // A plain merge patch without resourceVersion, as Cluster API's patch helper sends it.
        let meta = json!({
            "labels": { CLUSTER_NAME_LABEL: c.key.name },
            "ownerReferences": serde_json::to_value(&owners).unwrap_or(Value::Null),
        });
        match self
            .refs
            .api(w, &c.key.namespace)
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({ "metadata": meta })),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(source) => Err(ReconcileError::RefWrite {
                key: c.key.clone(),
                kind: w.ar.kind.clone(),
                name,
                source: Box::new(source),
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
                source: Box::new(source),
            }),
        }
    }

    async fn patch_endpoint(&self, c: &ClusterView, e: &Endpoint) -> Result<(), ReconcileError> {
        let patch =
            json!({ "spec": { "controlPlaneEndpoint": { "host": e.host, "port": e.port } } });
        self.merge(c, patch, false).await.map(drop)
    }

    /// Writes `desired` as the whole status (keys no longer present are removed), only when it changed.
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
}

/// Runs the Cluster controller until the future is dropped.
pub(crate) async fn run(client: kube::Client, config: Config) -> anyhow::Result<()> {
    let ar = cluster::api_resource();
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let writer = reflector::store::Writer::new(ar.clone());
    let store = writer.as_reader();
    let (handle, rx) = queue::channel::<ClusterKey>();
    let concurrency = config.concurrency;
    let kubeconfigs = Kubeconfigs::default();
    let secrets = tokio::spawn(kubeconfigs.clone().run(client.clone(), handle.clone()));
    let _abort_secrets = AbortOnDrop(secrets);
    let ctx = Arc::new(Ctx {
        api_resource: ar,
        client: client.clone(),
        store,
        refs: Refs::new(client, handle.clone(), config.require_contract_label),
        kubeconfigs,
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

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
