//! Maps watch events to the objects they concern (the same route functions as the actor
//! routers) and hands them to the kube-runtime controller of each reconciled kind.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;
use futures::StreamExt;
use kube::Resource;
use kube::runtime::watcher::Event;
use tokio::sync::mpsc;

use crate::actors::ObjectKey;
use crate::actors::cache::EventStream;
use crate::actors::freshness::Freshness;
use crate::actors::gate::SyncGate;
use crate::actors::observer::Observer;

/// Which objects an event of a watched kind concerns.
pub type Owners<K> = dyn Fn(&K) -> Vec<ObjectKey> + Send + Sync;
pub type OwnersFn<K> = Arc<Owners<K>>;

/// Per reconciled kind, the channel into its controller, plus the time each pending object was
/// first asked for (the queue wait reported as mailbox wait).
pub struct Triggers {
    senders: HashMap<&'static str, mpsc::UnboundedSender<ObjectKey>>,
    pending: DashMap<ObjectKey, Instant>,
    pub gate: SyncGate,
    pub freshness: Freshness,
    pub observer: Arc<dyn Observer>,
}

impl Triggers {
    pub fn new(gate: SyncGate, freshness: Freshness, observer: Arc<dyn Observer>) -> Self {
        Self {
            senders: HashMap::new(),
            pending: DashMap::new(),
            gate,
            freshness,
            observer,
        }
    }

    /// A channel for `kind`'s controller (call before sharing `self`).
    pub fn channel(&mut self, kind: &'static str) -> mpsc::UnboundedReceiver<ObjectKey> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.senders.insert(kind, tx);
        rx
    }

    /// Record that `key` was asked for (the first request since its last reconcile counts).
    pub fn mark(&self, key: &ObjectKey) {
        if !self.pending.contains_key(key) {
            self.pending.insert(key.clone(), Instant::now());
            self.observer.queued(key.kind);
        }
    }

    /// How long `key` waited since it was first asked for (zero for requeues and retries).
    pub fn take_wait(&self, key: &ObjectKey) -> std::time::Duration {
        self.pending
            .remove(key)
            .map(|(_, t)| t.elapsed())
            .unwrap_or_default()
    }

    /// Ask the controller of `key.kind` to reconcile it; kinds without a controller are dropped.
    pub fn send(&self, key: ObjectKey) {
        if let Some(tx) = self.senders.get(key.kind) {
            self.mark(&key);
            let _ = tx.send(key);
        } else {
            tracing::debug!(%key, "no controller for this kind; dropped");
        }
    }

    /// A resync request for `key`; false when its kind has no controller here.
    pub fn resync(&self, key: &ObjectKey) -> bool {
        let delivered = self.senders.contains_key(key.kind);
        if delivered {
            self.send(key.clone());
        }
        delivered
    }

    /// Bookkeeping for one event of `kind`: freshness, cache sync, and owner wake-ups once the
    /// gate is open.
    pub fn on_event<K: Resource>(
        &self,
        kind: &'static str,
        ev: &Event<K>,
        owners: Option<&Owners<K>>,
        own: bool,
    ) {
        match ev {
            Event::Init => {}
            Event::InitDone => self.gate.synced(kind),
            Event::InitApply(obj) | Event::Apply(obj) | Event::Delete(obj) => {
                self.freshness
                    .observe(kind, obj.meta().resource_version.as_deref());
                if !self.gate.is_open() {
                    return;
                }
                if own {
                    self.mark(&ObjectKey::of(kind, obj));
                }
                if let Some(f) = owners {
                    for key in f(obj) {
                        self.send(key);
                    }
                }
            }
        }
    }
}

/// Poll a stream whose kind has no controller: keeps its cache current and wakes owners.
pub async fn pump<K: Resource + Send + 'static>(
    kind: &'static str,
    mut stream: EventStream<K>,
    owners: Option<OwnersFn<K>>,
    triggers: Arc<Triggers>,
) {
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(ev) => triggers.on_event(kind, &ev, owners.as_deref(), false),
            Err(e) => tracing::warn!(kind, error = %e, "watch error; retrying with backoff"),
        }
    }
}
