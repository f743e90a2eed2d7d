//! The kubeconfig Secrets of Clusters: one cluster-wide Secret watch keeps, per `<cluster>-kubeconfig`, only
//! the judgement of [`probe::evaluate`] (never the Secret's data), and wakes the Cluster when it changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};

use super::cluster::ClusterKey;
use super::probe::{self, KubeconfigState};
use crate::tfsim::queue::QueueHandle;

/// Suffix of a Cluster's kubeconfig Secret.
pub const KUBECONFIG_SUFFIX: &str = "-kubeconfig";
/// Key of the kubeconfig in that Secret.
pub const KUBECONFIG_KEY: &str = "value";

/// Kubeconfig judgements by Cluster.
#[derive(Clone, Default)]
pub(crate) struct Kubeconfigs {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    states: HashMap<ClusterKey, KubeconfigState>,
    synced: bool,
    /// States seen during a relist, swapped in when it completes.
    relist: Option<HashMap<ClusterKey, KubeconfigState>>,
}

/// The Secret's state as the Cluster sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The watch has not listed Secrets yet.
    Unknown,
    Missing,
    Found(KubeconfigState),
}

fn cluster_of(s: &Secret) -> Option<(ClusterKey, String)> {
    let name = s.metadata.name.as_deref()?;
    let cluster = name
        .strip_suffix(KUBECONFIG_SUFFIX)
        .filter(|c| !c.is_empty())?;
    let namespace = s.metadata.namespace.clone()?;
    let label = format!("{namespace}/{name}");
    Some((
        ClusterKey {
            namespace,
            name: cluster.to_string(),
        },
        label,
    ))
}

fn judge(s: &Secret) -> Option<(ClusterKey, KubeconfigState)> {
    let (key, label) = cluster_of(s)?;
    let value = s
        .data
        .as_ref()
        .and_then(|d| d.get(KUBECONFIG_KEY))
        .map(|b| b.0.as_slice());
    let state = probe::evaluate(&label, &key.name, value);
    Some((key, state))
}

impl Kubeconfigs {
    pub(crate) fn lookup(&self, key: &ClusterKey) -> Lookup {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match inner.states.get(key) {
            Some(s) => Lookup::Found(s.clone()),
            None if inner.synced => Lookup::Missing,
            None => Lookup::Unknown,
        }
    }

    /// Watches Secrets until the future is dropped, waking the Cluster of every changed kubeconfig Secret.
    pub(crate) async fn run(self, client: kube::Client, queue: QueueHandle<ClusterKey>) {
        let api: Api<Secret> = Api::all(client);
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(e) => e,
                Err(err) => {
                    tracing::warn!(error = %err, "secret watch error");
                    continue;
                }
            };
            let mut wake = Vec::new();
            {
                let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                match event {
                    watcher::Event::Init => inner.relist = Some(HashMap::new()),
                    watcher::Event::InitApply(s) => {
                        if let (Some(relist), Some((k, st))) = (inner.relist.as_mut(), judge(&s)) {
                            relist.insert(k, st);
                        }
                    }
                    watcher::Event::InitDone => {
                        let new = inner.relist.take().unwrap_or_default();
                        let old = std::mem::replace(&mut inner.states, new);
                        for (k, st) in &inner.states {
                            if old.get(k) != Some(st) {
                                wake.push(k.clone());
                            }
                        }
                        wake.extend(old.into_keys().filter(|k| !inner.states.contains_key(k)));
                        inner.synced = true;
                    }
                    watcher::Event::Apply(s) => {
                        if let Some((k, st)) = judge(&s)
                            && inner.states.get(&k) != Some(&st)
                        {
                            inner.states.insert(k.clone(), st);
                            wake.push(k);
                        }
                    }
                    watcher::Event::Delete(s) => {
                        if let Some((k, _)) = cluster_of(&s)
                            && inner.states.remove(&k).is_some()
                        {
                            wake.push(k);
                        }
                    }
                }
            }
            for k in wake {
                queue.enqueue(k);
            }
        }
    }
}
