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
    /// Every object with an actor, awake or asleep.
    fn keys(&self) -> Vec<ObjectKey>;
    /// Actors awake.
    fn len(&self) -> usize;
    /// Put to sleep the actors idle since the previous sweep (see [`Registry::sweep`]); returns
    /// how many.
    fn sweep(&self) -> usize;
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
    /// Objects whose idle actor was put to sleep: the next wake-up starts a new one, which
    /// reconciles from the cache as any actor does on start.
    asleep: dashmap::DashSet<ObjectKey>,
    reconciler: Arc<R>,
    shared: Arc<Shared>,
    arbiters: Arc<Vec<ArbiterHandle>>,
    next_arbiter: AtomicUsize,
}

impl<R: Reconciler> Registry<R> {
    pub fn new(reconciler: Arc<R>, shared: Arc<Shared>, arbiters: Arc<Vec<ArbiterHandle>>) -> Self {
        Self {
            actors: DashMap::new(),
            asleep: dashmap::DashSet::new(),
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
        // The wake-up is pushed while the entry is held, so a sweep (which removes entries under
        // the same lock) either sees it pending or is over before it.
        if let Some(e) = self.actors.get(key) {
            self.send_wake(&e.addr, &e.inbox, trigger, link);
            return true;
        }
        if self.asleep.contains(key) {
            self.ensure(key, 0, trigger, link);
            return true;
        }
        false
    }

    fn ensure(&self, key: &ObjectKey, rv: u64, trigger: Trigger, link: Option<SpanContext>) {
        if !self.shared.accepting() {
            return;
        }
        self.asleep.remove(key);
        let mut created = false;
        let e = self.actors.entry(key.clone()).or_insert_with(|| {
            created = true;
            self.spawn(key)
        });
        // A new actor reconciles on start; an existing one only for a version it has not seen
        // and did not write itself.
        let own_write = e.inbox.is_own_status_write(rv);
        if e.inbox.note_version(rv) && !created && !own_write {
            self.send_wake(&e.addr, &e.inbox, trigger, link);
        }
    }

    fn stop(&self, key: &ObjectKey) {
        if let Some((_, e)) = self.actors.remove(key) {
            e.addr.do_send(Stop);
            self.shared.observer.actors(self.reconciler.kind(), -1);
        }
        // After the entry is gone no sweep can put this object to sleep again.
        self.asleep.remove(key);
    }

    fn sweep(&self) -> usize {
        let mut slept = 0;
        for key in self
            .actors
            .iter()
            .map(|e| e.key().clone())
            .collect::<Vec<_>>()
        {
            // Marked asleep before the entry goes (under its lock): a wake-up that misses the
            // entry finds the mark and starts a new actor.
            let sleepy = |k: &ObjectKey, e: &Entry<R>| {
                let sleepy = e.inbox.sleepy();
                if sleepy {
                    self.asleep.insert(k.clone());
                }
                sleepy
            };
            if let Some((_, e)) = self.actors.remove_if(&key, sleepy) {
                e.addr.do_send(Stop);
                self.shared.observer.actors(self.reconciler.kind(), -1);
                slept += 1;
            }
        }
        slept
    }

    fn keys(&self) -> Vec<ObjectKey> {
        let awake = self.actors.iter().map(|e| e.key().clone());
        awake.chain(self.asleep.iter().map(|k| k.clone())).collect()
    }

    fn len(&self) -> usize {
        self.actors.len()
    }

    fn pending(&self) -> usize {
        self.actors.iter().filter(|e| e.inbox.is_pending()).count()
    }
}
