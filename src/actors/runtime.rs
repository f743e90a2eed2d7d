//! The actor runtime: arbiters, shared limits, the dispatcher the routers use, and shutdown.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix::{Arbiter, ArbiterHandle};
use tokio::sync::Semaphore;

use super::freshness::Freshness;
use super::observer::Observer;
use super::reconciler::Reconciler;
use super::registry::{Dispatch, Registry};
use super::settings::RuntimeSettings;

/// State every actor shares.
pub struct Shared {
    pub settings: RuntimeSettings,
    /// Reconciles running at once, per kind (like controller-runtime's MaxConcurrentReconciles).
    semaphores: dashmap::DashMap<&'static str, Arc<Semaphore>>,
    pub freshness: Freshness,
    pub observer: Arc<dyn Observer>,
    accepting: AtomicBool,
}

impl Shared {
    /// The concurrency limit of `kind`'s reconciles.
    pub fn semaphore(&self, kind: &'static str) -> Arc<Semaphore> {
        if let Some(s) = self.semaphores.get(kind) {
            return s.clone();
        }
        let max = self.settings.max_concurrent_reconciles.max(1);
        self.semaphores
            .entry(kind)
            .or_insert_with(|| Arc::new(Semaphore::new(max)))
            .clone()
    }

    pub fn accepting(&self) -> bool {
        self.accepting.load(Ordering::Acquire)
    }
}

/// Registries by kind, for the routers.
pub type Dispatcher = Arc<HashMap<&'static str, Arc<dyn Dispatch>>>;

/// Owns the arbiters and the registries. Must be created inside a running actix `System`
/// (see [`block_on`]).
pub struct ActorRuntime {
    shared: Arc<Shared>,
    arbiters: Arc<Vec<ArbiterHandle>>,
    owned: Vec<Arbiter>,
    registries: HashMap<&'static str, Arc<dyn Dispatch>>,
}

impl ActorRuntime {
    pub fn new(
        settings: RuntimeSettings,
        freshness: Freshness,
        observer: Arc<dyn Observer>,
    ) -> Self {
        let n = settings.arbiters.max(1);
        let owned: Vec<Arbiter> = (0..n).map(|_| Arbiter::new()).collect();
        let arbiters = Arc::new(owned.iter().map(|a| a.handle()).collect());
        let shared = Arc::new(Shared {
            semaphores: dashmap::DashMap::new(),
            settings,
            freshness,
            observer,
            accepting: AtomicBool::new(true),
        });
        Self {
            shared,
            arbiters,
            owned,
            registries: HashMap::new(),
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn freshness(&self) -> &Freshness {
        &self.shared.freshness
    }

    /// Register a reconciler: its objects get actors once the router sees them.
    pub fn register<R: Reconciler>(&mut self, reconciler: Arc<R>) -> Arc<Registry<R>> {
        let reg = Arc::new(Registry::new(
            reconciler,
            self.shared.clone(),
            self.arbiters.clone(),
        ));
        self.registries.insert(reg.kind(), reg.clone());
        reg
    }

    /// The sweeper putting idle actors to sleep (see `Registry::sweep`): two sweeps per
    /// `idle_actor_sleep`, an actor idle at both sleeps. `None` when disabled.
    pub fn sweeper(&self) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let every = self.shared.settings.idle_actor_sleep / 2;
        if every.is_zero() {
            return None;
        }
        let registries = self.dispatcher();
        Some(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for reg in registries.values() {
                    let slept = reg.sweep();
                    if slept > 0 {
                        tracing::debug!(kind = reg.kind(), slept, "idle actors put to sleep");
                    }
                }
            }
        })
    }

    /// Actors alive per registered kind.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        let mut v: Vec<_> = self.registries.iter().map(|(k, r)| (*k, r.len())).collect();
        v.sort_unstable();
        v
    }

    pub fn dispatcher(&self) -> Dispatcher {
        Arc::new(self.registries.clone())
    }

    /// Stop intake, stop every actor, and wait up to `deadline` for running reconciles to end.
    /// Returns true when nothing was still running.
    pub async fn shutdown(self, deadline: Duration) -> bool {
        self.shared.accepting.store(false, Ordering::Release);
        for reg in self.registries.values() {
            for key in reg.keys() {
                reg.stop(&key);
            }
        }
        let max = self.shared.settings.max_concurrent_reconciles.max(1) as u32;
        let sems: Vec<Arc<Semaphore>> = self
            .shared
            .semaphores
            .iter()
            .map(|e| e.value().clone())
            .collect();
        let drained = tokio::time::timeout(deadline, async {
            for s in &sems {
                let _ = s.acquire_many(max).await;
            }
        })
        .await
        .is_ok();
        for a in &self.owned {
            a.stop();
        }
        drained
    }
}

/// Run `fut` inside an actix `System` backed by a multi-thread tokio runtime.
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    actix_rt::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
    .block_on(fut)
}
