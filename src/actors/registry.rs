//! The registry of live actors of one kind: `DashMap<ObjectKey, handle>`.
//! Guards are never held across an `.await` (nothing here awaits).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix::{Addr, ArbiterHandle, Supervisor};
use dashmap::DashMap;
use opentelemetry::trace::SpanContext;

use super::inbox::Inbox;
use super::key::ObjectKey;
use super::object_actor::{ObjectActor, Stop, Wake};
use super::reconciler::{Reconciler, Trigger};
use super::runtime::Shared;

/// What the router needs from a registry, independent of the reconciler type.
pub trait Dispatch: Send + Sync + 'static {
    fn kind(&self) -> &'static str;
    /// Wake the actor of `key` if it exists; false when there is none.
    fn wake(&self, key: &ObjectKey, trigger: Trigger, link: Option<SpanContext>) -> bool;
    /// Start the actor of `key` if needed, then wake it. `rv` (0 = unknown) skips re-dispatching
    /// an object version the actor has already seen.
    fn ensure(&self, key: &ObjectKey, rv: u64, trigger: Trigger, link: Option<SpanContext>);
    /// Stop and forget the actor of `key`.
    fn stop(&self, key: &ObjectKey);
    fn keys(&self) -> Vec<ObjectKey>;
    fn len(&self) -> usize;
    /// Actors with a wake-up they have not taken yet (the "queue depth").
    fn pending(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Entry<R: Reconciler> {
    addr: Addr<ObjectActor<R>>,
    inbox: Arc<Inbox>,
}

pub struct Registry<R: Reconciler> {
    actors: DashMap<ObjectKey, Entry<R>>,
    reconciler: Arc<R>,
    shared: Arc<Shared>,
    arbiters: Arc<Vec<ArbiterHandle>>,
    next_arbiter: AtomicUsize,
}

impl<R: Reconciler> Registry<R> {
    pub fn new(reconciler: Arc<R>, shared: Arc<Shared>, arbiters: Arc<Vec<ArbiterHandle>>) -> Self {
        Self {
            actors: DashMap::new(),
            reconciler,
            shared,
            arbiters,
            next_arbiter: AtomicUsize::new(0),
        }
    }

    fn send_wake(
        &self,
        addr: &Addr<ObjectActor<R>>,
        inbox: &Inbox,
        trigger: Trigger,
        link: Option<SpanContext>,
    ) {
        if inbox.push(trigger, link) {
            self.shared.observer.queued(self.reconciler.kind());
            // A full mailbox leaves the inbox marked pending: the actor drains it after its
            // current reconcile, so nothing is lost and nothing queues twice.
            let _ = addr.try_send(Wake);
        }
    }

    fn spawn(&self, key: &ObjectKey) -> Entry<R> {
        let inbox = Arc::new(Inbox::default());
        let idx = self.next_arbiter.fetch_add(1, Ordering::Relaxed) % self.arbiters.len().max(1);
        let (k, r, s, i) = (
            key.clone(),
            self.reconciler.clone(),
            self.shared.clone(),
            inbox.clone(),
        );
        let addr = Supervisor::start_in_arbiter(&self.arbiters[idx], move |_| {
            ObjectActor::new(k, r, s, i)
        });
        self.shared.observer.actors(self.reconciler.kind(), 1);
        Entry { addr, inbox }
    }
}

impl<R: Reconciler> Dispatch for Registry<R> {
    fn kind(&self) -> &'static str {
        self.reconciler.kind()
    }

    fn wake(&self, key: &ObjectKey, trigger: Trigger, link: Option<SpanContext>) -> bool {
        let Some((addr, inbox)) = self
            .actors
            .get(key)
            .map(|e| (e.addr.clone(), e.inbox.clone()))
        else {
            return false;
        };
        self.send_wake(&addr, &inbox, trigger, link);
        true
    }

    fn ensure(&self, key: &ObjectKey, rv: u64, trigger: Trigger, link: Option<SpanContext>) {
        if !self.shared.accepting() {
            return;
        }
        let (addr, inbox, fresh) = {
            let mut created = false;
            let e = self.actors.entry(key.clone()).or_insert_with(|| {
                created = true;
                self.spawn(key)
            });
            (e.addr.clone(), e.inbox.clone(), created)
        };
        // A new actor reconciles on start; an existing one only for a version it has not seen
        // and did not write itself.
        let own_write = inbox.is_own_status_write(rv);
        if inbox.note_version(rv) && !fresh && !own_write {
            self.send_wake(&addr, &inbox, trigger, link);
        }
    }

    fn stop(&self, key: &ObjectKey) {
        if let Some((_, e)) = self.actors.remove(key) {
            e.addr.do_send(Stop);
            self.shared.observer.actors(self.reconciler.kind(), -1);
        }
    }

    fn keys(&self) -> Vec<ObjectKey> {
        self.actors.iter().map(|e| e.key().clone()).collect()
    }

    fn len(&self) -> usize {
        self.actors.len()
    }

    fn pending(&self) -> usize {
        self.actors.iter().filter(|e| e.inbox.is_pending()).count()
    }
}
