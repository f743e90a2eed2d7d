//! Watches the demo's CAPTClusters, CAPTControlPlanes and kubeconfig secrets (three watches on
//! the user's client, so the controller's request counts stay its own) and tells when something
//! changed.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::objects::NAMESPACE;
use super::view::ClusterView;
use crate::actors::cache::{self, EventStream};
use crate::api::names::{secrets, suffixes};
use crate::api::{CAPTCluster, CAPTControlPlane};

/// Caches of what the demo watches.
pub struct Monitor {
    clusters: Store<CAPTCluster>,
    control_planes: Store<CAPTControlPlane>,
    secrets: Store<Secret>,
    changed: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

fn drive<K: Send + 'static>(stream: EventStream<K>, changed: Arc<Notify>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut stream = stream;
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(_) => tracing::trace!("demo watch event"),
                Err(e) => tracing::debug!(error = %e, "demo watch error (retrying)"),
            }
            changed.notify_one();
        }
    })
}

impl Monitor {
    /// Starts the watches.
    pub fn start(client: &kube::Client) -> Self {
        let changed = Arc::new(Notify::new());
        let cfg = cache::config(true);
        let (clusters, s1) = cache::watch(
            Api::<CAPTCluster>::namespaced(client.clone(), NAMESPACE),
            cfg.clone(),
        );
        let (control_planes, s2) = cache::watch(
            Api::<CAPTControlPlane>::namespaced(client.clone(), NAMESPACE),
            cfg.clone(),
        );
        let secret_cfg = cfg.fields(&format!("type={}", secrets::CLUSTER_SECRET_TYPE));
        let (secrets, s3) = cache::watch(
            Api::<Secret>::namespaced(client.clone(), NAMESPACE),
            secret_cfg,
        );
        let tasks = vec![
            drive(s1, changed.clone()),
            drive(s2, changed.clone()),
            drive(s3, changed.clone()),
        ];
        Self {
            clusters,
            control_planes,
            secrets,
            changed,
            tasks,
        }
    }

    /// Completes at the next change seen by any watch.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// The current state of cluster `name`.
    pub fn view(&self, name: &str) -> ClusterView {
        let cc = self.clusters.get(&ObjectRef::new(name).within(NAMESPACE));
        let cp = self
            .control_planes
            .get(&ObjectRef::new(name).within(NAMESPACE));
        let secret_name = format!("{name}{}", suffixes::KUBECONFIG);
        let s = self
            .secrets
            .get(&ObjectRef::new(&secret_name).within(NAMESPACE));
        ClusterView::from_objects(cc.as_deref(), cp.as_deref(), s.as_deref())
    }

    /// Stops the watches.
    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}
