//! WorkspaceTemplate rollout: a changed template (a new generation) re-renders every apply that
//! uses it, woken at a bounded rate so one edit to a shared template does not re-apply terraform
//! for thousands of clusters at once. A RenderFailed apply sees the change as new input too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use tokio::sync::mpsc;

use crate::api::kinds::Kind;

const WTA: &str = Kind::WorkspaceTemplateApply.name();
use crate::actors::ObjectKey;
use crate::api::{WorkspaceTemplate, WorkspaceTemplateApply};
use crate::telemetry::Metrics;

/// Default of `--template-rollout-rate` (applies woken per second).
pub const DEFAULT_ROLLOUT_RATE: u32 = 5;

type Receiver = mpsc::UnboundedReceiver<ObjectKey>;

/// Remembers each template's generation and queues the applies of a changed one.
pub struct Rollout {
    seen: Mutex<HashMap<(String, String), i64>>,
    tx: mpsc::UnboundedSender<ObjectKey>,
    rx: Mutex<Option<Receiver>>,
    metrics: Metrics,
}

impl Rollout {
    pub fn new(metrics: Metrics) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            seen: Mutex::default(),
            tx,
            rx: Mutex::new(Some(rx)),
            metrics,
        }
    }

    /// A template event: when its generation differs from the one last seen (not on first sight:
    /// every apply is reconciled when it starts), queue the live applies that use it. Returns how
    /// many were queued.
    pub fn template_event(
        &self,
        t: &WorkspaceTemplate,
        applies: &Store<WorkspaceTemplateApply>,
    ) -> usize {
        let (ns, name) = (t.namespace().unwrap_or_default(), t.name_any());
        let generation = t.meta().generation.unwrap_or_default();
        let previous = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.insert((ns.clone(), name.clone()), generation)
        };
        if previous.is_none_or(|g| g == generation) || t.meta().deletion_timestamp.is_some() {
            return 0;
        }
        let keys: Vec<ObjectKey> = super::world::template_users(applies, &ns, &name)
            .into_iter()
            .map(|(ns, name)| ObjectKey::new(WTA, &ns, &name))
            .collect();
        let n = keys.len();
        self.metrics.template_rollout_queued(n as u64);
        for k in keys {
            let _ = self.tx.send(k);
        }
        tracing::info!(template = %format!("{ns}/{name}"), generation, applies = n, "WorkspaceTemplate changed; re-rendering its applies");
        n
    }

    /// The queue's receiving end, for [`run`] (taken once).
    pub fn take_receiver(&self) -> Option<Receiver> {
        self.rx.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Wake queued applies, at most `rate_per_sec` a second (burst of the same size).
pub async fn run(mut rx: Receiver, rate_per_sec: u32, metrics: Metrics, wake: impl Fn(ObjectKey)) {
    let rate = rate_per_sec.max(1);
    let limiter = crate::client::Limiter::new(rate, rate);
    while let Some(key) = rx.recv().await {
        if let Some(l) = &limiter {
            l.acquire().await;
        }
        metrics.template_rollout_woken();
        wake(key);
    }
}

/// Spawn [`run`] for `rollout` when its receiver is still there.
pub fn spawn(
    rollout: &Arc<Rollout>,
    rate_per_sec: u32,
    metrics: Metrics,
    wake: impl Fn(ObjectKey) + Send + 'static,
) -> Option<tokio::task::JoinHandle<()>> {
    let rx = rollout.take_receiver()?;
    Some(tokio::spawn(run(rx, rate_per_sec, metrics, wake)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use kube::runtime::{reflector, watcher};
    use serde_json::json;

    fn template(ns: &str, name: &str, generation: i64) -> WorkspaceTemplate {
        serde_json::from_value(json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "WorkspaceTemplate",
            "metadata": {"name": name, "namespace": ns, "generation": generation},
            "spec": {"template": {"spec": {"forProvider": {"source": "Inline", "module": ""}}}}
        }))
        .unwrap()
    }

    fn apply(
        ns: &str,
        name: &str,
        tref: serde_json::Value,
        deleting: bool,
    ) -> WorkspaceTemplateApply {
        let mut v = json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "WorkspaceTemplateApply",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"templateRef": tref}
        });
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
            v["metadata"]["finalizers"] = json!(["x"]);
        }
        serde_json::from_value(v).unwrap()
    }

    fn store(applies: Vec<WorkspaceTemplateApply>) -> Store<WorkspaceTemplateApply> {
        let (reader, mut writer) = reflector::store();
        for a in applies {
            writer.apply_watcher_event(&watcher::Event::Apply(a));
        }
        reader
    }

    #[tokio::test]
    async fn a_new_generation_queues_the_live_applies_of_that_template_only() {
        let applies = store(vec![
            apply("a", "same-ns", json!({"name": "vpc"}), false),
            apply(
                "b",
                "shared",
                json!({"name": "vpc", "namespace": "a"}),
                false,
            ),
            apply("a", "other-template", json!({"name": "eks"}), false),
            apply("b", "same-name-other-ns", json!({"name": "vpc"}), false),
            apply("a", "deleting", json!({"name": "vpc"}), true),
        ]);
        let r = Rollout::new(Metrics::new());
        assert_eq!(
            r.template_event(&template("a", "vpc", 1), &applies),
            0,
            "first sight"
        );
        assert_eq!(
            r.template_event(&template("a", "vpc", 1), &applies),
            0,
            "same generation"
        );
        assert_eq!(r.template_event(&template("a", "vpc", 2), &applies), 2);
        let mut rx = r.take_receiver().expect("receiver");
        assert!(r.take_receiver().is_none(), "taken once");
        let mut got = Vec::new();
        while let Ok(k) = rx.try_recv() {
            got.push(format!("{}/{}/{}", k.kind, k.namespace, k.name));
        }
        assert_eq!(
            got,
            vec![
                "WorkspaceTemplateApply/a/same-ns",
                "WorkspaceTemplateApply/b/shared"
            ]
        );
    }

    #[tokio::test]
    async fn the_rollout_is_paced() {
        let (tx, rx) = mpsc::unbounded_channel();
        for i in 0..10 {
            tx.send(ObjectKey::new(WTA, "ns", &format!("a{i}")))
                .unwrap();
        }
        drop(tx);
        let woken = Arc::new(Mutex::new(Vec::new()));
        let w2 = woken.clone();
        let started = std::time::Instant::now();
        run(rx, 5, Metrics::new(), move |k| {
            w2.lock().unwrap().push((k.name.clone(), started.elapsed()));
        })
        .await;
        let woken = woken.lock().unwrap();
        assert_eq!(woken.len(), 10);
        // A burst of five, then five a second, in order: the tenth waits about a second.
        assert_eq!(&*woken[9].0, "a9");
        assert!(woken[4].1 < Duration::from_millis(500), "{:?}", woken[4].1);
        assert!(woken[9].1 >= Duration::from_millis(900), "{:?}", woken[9].1);
    }
}
