//! Watches the clusters' objects and records, per cluster, when it was created, became Ready,
//! when its EKS Workspace became Ready and when the control plane's status next changed.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::watcher::{self, Event};
use serde_json::Value;

use super::objects::{capt_cluster_ar, control_plane_ar, workspace_ar};

const EKS_SUFFIX: &str = "-eks-controlplane";
const KUBECONFIG_SUFFIX: &str = "-kubeconfig";

/// What is known about one cluster.
#[derive(Clone, Debug, Default)]
pub struct ClusterState {
    pub created_at: Option<Instant>,
    pub infra_ready: bool,
    pub cp_ready: bool,
    pub ready_at: Option<Instant>,
    pub cp_phase: String,
    pub cp_version: String,
    pub infra_gone: bool,
    pub cp_gone: bool,
    pub kubeconfig_seen: Option<Instant>,
    /// resourceVersion and time at which the EKS Workspace was first seen Ready.
    pub ws_ready: Option<(u64, Instant)>,
    /// Control plane status changes: resourceVersion and time seen.
    cp_changes: Vec<(u64, Instant)>,
    cp_status_hash: u64,
    /// Time from the EKS Workspace becoming Ready to the control plane status reflecting it.
    pub event_to_status: Option<f64>,
}

impl ClusterState {
    pub fn is_ready(&self) -> bool {
        self.infra_ready && self.cp_ready
    }

    fn link_latency(&mut self) {
        if self.event_to_status.is_some() {
            return;
        }
        let Some((wrv, wt)) = self.ws_ready else {
            return;
        };
        if let Some((_, ct)) = self.cp_changes.iter().find(|(rv, _)| *rv > wrv) {
            self.event_to_status = Some(ct.saturating_duration_since(wt).as_secs_f64());
            self.cp_changes.clear();
        }
    }
}

/// The shared observations.
#[derive(Clone, Default)]
pub struct Observations {
    inner: Arc<Mutex<HashMap<String, ClusterState>>>,
}

fn rv(o: &DynamicObject) -> u64 {
    o.metadata
        .resource_version
        .as_deref()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn status_ready(o: &DynamicObject) -> bool {
    o.data
        .pointer("/status/ready")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn condition_true(o: &DynamicObject, ty: &str) -> bool {
    o.data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(ty)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

fn hash_of(v: Option<&Value>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.map(|v| v.to_string()).unwrap_or_default().hash(&mut h);
    h.finish()
}

impl Observations {
    fn with<R>(&self, name: &str, f: impl FnOnce(&mut ClusterState) -> R) -> R {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(g.entry(name.to_string()).or_default())
    }

    pub fn created(&self, name: &str, at: Instant) {
        self.with(name, |s| s.created_at = Some(at));
    }

    /// A copy of every cluster's state.
    pub fn snapshot(&self) -> HashMap<String, ClusterState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn get(&self, name: &str) -> Option<ClusterState> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Count of created and ready clusters.
    pub fn counts(&self) -> Counts {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut c = Counts::default();
        for s in g.values().filter(|s| s.created_at.is_some()) {
            c.created += 1;
            c.infra_ready += usize::from(s.infra_ready);
            c.cp_ready += usize::from(s.cp_ready);
            c.ready += usize::from(s.is_ready());
            c.ever_ready += usize::from(s.ready_at.is_some());
            let phase = if s.cp_phase.is_empty() {
                "-"
            } else {
                s.cp_phase.as_str()
            };
            *c.cp_phases.entry(phase.to_string()).or_default() += 1;
        }
        c
    }

    fn on_infra(&self, o: &DynamicObject, deleted: bool, now: Instant) {
        let Some(name) = o.metadata.name.as_deref() else {
            return;
        };
        self.with(name, |s| {
            s.infra_gone = deleted;
            s.infra_ready = !deleted && status_ready(o);
            if s.is_ready() && s.ready_at.is_none() {
                s.ready_at = Some(now);
            }
        });
    }

    fn on_control_plane(&self, o: &DynamicObject, deleted: bool, now: Instant) {
        let Some(name) = o.metadata.name.as_deref() else {
            return;
        };
        let rv = rv(o);
        self.with(name, |s| {
            s.cp_gone = deleted;
            s.cp_ready = !deleted && status_ready(o);
            s.cp_phase = o
                .data
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            s.cp_version = o
                .data
                .pointer("/status/version")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let h = hash_of(o.data.get("status"));
            if h != s.cp_status_hash {
                s.cp_status_hash = h;
                if s.event_to_status.is_none() {
                    s.cp_changes.push((rv, now));
                }
                s.link_latency();
            }
            if s.is_ready() && s.ready_at.is_none() {
                s.ready_at = Some(now);
            }
        });
    }

    fn on_workspace(&self, o: &DynamicObject, now: Instant) {
        let Some(cluster) = o
            .metadata
            .name
            .as_deref()
            .and_then(|n| n.strip_suffix(EKS_SUFFIX))
        else {
            return;
        };
        if !condition_true(o, "Ready") {
            return;
        }
        let rv = rv(o);
        self.with(cluster, |s| {
            if s.ws_ready.is_none() {
                s.ws_ready = Some((rv, now));
                s.link_latency();
            }
        });
    }

    fn on_secret(&self, name: &str, now: Instant) {
        if let Some(cluster) = name.strip_suffix(KUBECONFIG_SUFFIX) {
            let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = g.get_mut(cluster) {
                s.kubeconfig_seen = Some(now);
            }
        }
    }

    /// Forget the kubeconfig sighting of `cluster` (before deleting the secret).
    pub fn reset_kubeconfig(&self, cluster: &str) {
        self.with(cluster, |s| s.kubeconfig_seen = None);
    }
}

/// Counts by phase, for progress lines.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    pub created: usize,
    pub infra_ready: usize,
    pub cp_ready: usize,
    pub ready: usize,
    pub ever_ready: usize,
    pub cp_phases: BTreeMap<String, usize>,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "created {} | infra ready {} | cp ready {} | ready {} | cp phases",
            self.created, self.infra_ready, self.cp_ready, self.ready
        )?;
        for (p, n) in &self.cp_phases {
            write!(f, " {p}={n}")?;
        }
        Ok(())
    }
}

async fn watch_dyn(
    client: kube::Client,
    ar: kube::core::ApiResource,
    cfg: watcher::Config,
    mut on: impl FnMut(&DynamicObject, bool, Instant) + Send,
) {
    let api: Api<DynamicObject> = Api::all_with(client, &ar);
    let mut stream = watcher::watcher(api, cfg).boxed();
    while let Some(ev) = stream.next().await {
        let now = Instant::now();
        match ev {
            Ok(Event::Apply(o) | Event::InitApply(o)) => on(&o, false, now),
            Ok(Event::Delete(o)) => on(&o, true, now),
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(kind = %ar.kind, error = %e, "observer watch error");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    }
}

/// Start the watches; they run until the returned handles are aborted.
pub fn start(client: &kube::Client, obs: &Observations) -> Vec<tokio::task::JoinHandle<()>> {
    let cfg = watcher::Config::default().any_semantic();
    let (o1, o2, o3, o4) = (obs.clone(), obs.clone(), obs.clone(), obs.clone());
    let secrets = watcher::Config::default()
        .any_semantic()
        .labels("cluster.x-k8s.io/cluster-name");
    vec![
        tokio::spawn(watch_dyn(
            client.clone(),
            capt_cluster_ar(),
            cfg.clone(),
            move |o, d, t| o1.on_infra(o, d, t),
        )),
        tokio::spawn(watch_dyn(
            client.clone(),
            control_plane_ar(),
            cfg.clone(),
            move |o, d, t| o2.on_control_plane(o, d, t),
        )),
        tokio::spawn(watch_dyn(
            client.clone(),
            workspace_ar(),
            cfg,
            move |o, d, t| {
                if !d {
                    o3.on_workspace(o, t)
                }
            },
        )),
        tokio::spawn(watch_secrets(client.clone(), secrets, o4)),
    ]
}

async fn watch_secrets(client: kube::Client, cfg: watcher::Config, obs: Observations) {
    use k8s_openapi::api::core::v1::Secret;
    let api: Api<kube::core::PartialObjectMeta<Secret>> = Api::all(client);
    let mut stream = watcher::watcher(api, cfg).boxed();
    while let Some(ev) = stream.next().await {
        let now = Instant::now();
        match ev {
            Ok(Event::Apply(o) | Event::InitApply(o)) => {
                if let Some(n) = o.metadata.name.as_deref() {
                    obs.on_secret(n, now);
                }
            }
            Ok(_) => {}
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn latency_links_workspace_ready_to_the_next_control_plane_status_change() {
        let obs = Observations::default();
        let t0 = Instant::now();
        obs.created("c1", t0);
        let cp = |rv: &str, ready: bool| {
            obj(json!({"apiVersion": "v1", "kind": "X",
                "metadata": {"name": "c1", "resourceVersion": rv},
                "status": {"ready": ready, "phase": if ready {"Ready"} else {"Creating"}}}))
        };
        obs.on_control_plane(&cp("5", false), false, t0);
        // Status change seen before the Workspace event, but written after it (higher RV).
        let t1 = t0 + std::time::Duration::from_millis(30);
        obs.on_control_plane(&cp("11", true), false, t1);
        let ws = obj(json!({"apiVersion": "v1", "kind": "Workspace",
            "metadata": {"name": "c1-eks-controlplane", "resourceVersion": "10"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}));
        obs.on_workspace(&ws, t0 + std::time::Duration::from_millis(10));
        let s = obs.get("c1").unwrap();
        assert!((s.event_to_status.unwrap() - 0.020).abs() < 1e-9);
        let infra = obj(json!({"apiVersion": "v1", "kind": "X",
            "metadata": {"name": "c1"}, "status": {"ready": true}}));
        obs.on_infra(&infra, false, t1);
        let c = obs.counts();
        assert_eq!((c.created, c.ready, c.ever_ready), (1, 1, 1));
        assert_eq!(c.cp_phases["Ready"], 1);
    }
}
