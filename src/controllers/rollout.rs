//! WorkspaceTemplate rollout: a changed template (a new generation) re-renders every apply that
//! uses it, woken at a bounded rate so one edit to a shared template does not re-apply terraform
//! for thousands of clusters at once. A RenderFailed apply sees the change as new input too.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{Quota, RateLimiter};
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use tokio::sync::mpsc;

use super::routes::WTA;
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
        let mut keys: Vec<ObjectKey> = applies
            .state()
            .iter()
            .filter(|a| a.meta().deletion_timestamp.is_none())
            .filter(|a| {
                let ans = a.namespace().unwrap_or_default();
                a.spec.template_ref.name == name && a.spec.template_ref.namespace_or(&ans) == ns
            })
            .map(|a| ObjectKey::new(WTA, &a.namespace().unwrap_or_default(), &a.name_any()))
            .collect();
        keys.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
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
    let rate = NonZeroU32::new(rate_per_sec).unwrap_or(NonZeroU32::MIN);
    let limiter = RateLimiter::direct(Quota::per_second(rate));
    while let Some(key) = rx.recv().await {
        limiter.until_ready().await;
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
