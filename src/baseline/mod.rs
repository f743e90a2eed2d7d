//! A baseline runtime for comparison: the same reconcilers, caches and routes as the actor
//! runtime, scheduled by kube-runtime's `Controller` (one per reconciled kind) instead of
//! per-object actors. Selected with `capt run --runtime kube-runtime`.
//!
//! Differences that remain by design: kube-runtime keeps one scheduled wake-up per object (timers
//! become a requeue at the earliest one), has no per-object rate limit, and does not hold a
//! reconcile back until the caches show the object's own last writes.

pub mod kind;
pub mod triggers;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::actors::ObjectKey;
use crate::actors::cache::EventStream;
use crate::actors::gate::SyncGate;
use crate::api::kinds::{Controllers, Kind};
use crate::controllers::context::{Ctx, SharedCtx};
use crate::controllers::generic::{Controller, Decide};
use crate::controllers::manager::{self, ManagerConfig};
use crate::controllers::wiring::{self, OwnersFn, Watched};
use crate::telemetry::Metrics;
use kind::KindSpec;
use triggers::{Triggers, pump};

/// Which runtime schedules the reconcilers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeKind {
    /// Per-object actors (the product).
    #[default]
    Actors,
    /// kube-runtime controllers (baseline for comparison).
    KubeRuntime,
}

/// The kube-runtime controllers and the tasks feeding them.
pub struct Running {
    pub ctx: SharedCtx,
    pub gate: SyncGate,
    controllers: Vec<JoinHandle<()>>,
    pumps: Vec<JoinHandle<()>>,
}

/// The baseline's side of [`wiring::wire`]: each reconciled kind as a kube-runtime controller, or
/// (when its controller group is disabled) only a pump of its stream.
struct Spawner {
    ctx: SharedCtx,
    triggers: Arc<Triggers>,
    settings: crate::actors::RuntimeSettings,
    /// The request channel of each kind reconciled by the enabled controller groups.
    requests: HashMap<Kind, UnboundedReceiver<ObjectKey>>,
    controllers: Vec<JoinHandle<()>>,
    pumps: Vec<JoinHandle<()>>,
    enabled: Controllers,
    /// Lists the cached objects of every reconciled kind, for the resync pass.
    listers: Vec<Lister>,
}

type Lister = Box<dyn Fn() -> Vec<ObjectKey> + Send + Sync>;

impl wiring::Runtime for Spawner {
    fn reconciled<D: Decide>(&mut self, own: EventStream<D::K>, owners: Option<OwnersFn<D::K>>) {
        let store = D::store(&self.ctx).clone();
        self.listers.push(Box::new({
            let store = store.clone();
            move || keys_of(D::KIND.name(), &store).collect()
        }));
        let Some(requests) = self.requests.remove(&D::KIND) else {
            self.pump(D::KIND, own, owners);
            return;
        };
        let stop = self.ctx.shutdown.triggered();
        self.controllers.push(kind::spawn(
            KindSpec {
                reconciler: Controller::<D>::new(self.ctx.clone()),
                store,
                own,
                owners,
                requests,
            },
            self.triggers.clone(),
            &self.settings,
            stop,
        ));
    }

    fn watched<K: Watched>(&mut self, kind: Kind, stream: EventStream<K>, owners: OwnersFn<K>) {
        self.pump(kind, stream, Some(owners));
    }
}

impl Spawner {
    /// Poll a watched kind's stream for its events' triggers; a kind not watched is dropped
    /// unpolled (no watch).
    fn pump<K: kube::Resource + Send + 'static>(
        &mut self,
        kind: Kind,
        stream: EventStream<K>,
        owners: Option<OwnersFn<K>>,
    ) {
        if !kind.watched(self.enabled) {
            return;
        }
        self.pumps.push(self.ctx.shutdown.spawn_until(pump(
            kind.name(),
            stream,
            owners,
            self.triggers.clone(),
        )));
    }
}

/// Start caches, routes and one kube-runtime controller per reconciled kind.
pub fn start(client: Client, metrics: Metrics, cfg: ManagerConfig) -> Running {
    let (world, streams) = crate::controllers::caches::build(
        &client,
        cfg.namespace.as_deref(),
        cfg.streaming_lists,
        None,
    );
    let ctx = Ctx::shared(client, world, metrics.clone(), &cfg);
    let gate = SyncGate::new(Kind::watched_names(cfg.controllers));
    let mut triggers = Triggers::new(
        gate.clone(),
        ctx.freshness.clone(),
        Arc::new(metrics.clone()),
    );
    let requests: HashMap<Kind, _> = Kind::ALL
        .into_iter()
        .filter(|k| k.reconciled(cfg.controllers))
        .map(|k| {
            metrics.register_controller(k.name(), cfg.runtime.max_concurrent_reconciles as i64);
            (k, triggers.channel(k.name()))
        })
        .collect();
    let triggers = Arc::new(triggers);
    let mut sp = Spawner {
        ctx: ctx.clone(),
        triggers: triggers.clone(),
        settings: cfg.runtime.clone(),
        requests,
        controllers: Vec::new(),
        pumps: Vec::new(),
        enabled: cfg.controllers,
        listers: Vec::new(),
    };
    wiring::wire(&ctx, streams, &mut sp);
    let listers = std::mem::take(&mut sp.listers);
    sp.pumps
        .extend(spawn_resync(cfg.resync, &gate, &ctx, &triggers, listers));
    sp.pumps.extend(crate::controllers::rollout::spawn(
        &ctx.rollout,
        cfg.rollout_rate(),
        metrics.clone(),
        move |key| triggers.send(key),
    ));
    Running {
        ctx,
        gate,
        controllers: sp.controllers,
        pumps: sp.pumps,
    }
}

fn keys_of<K: kube::Resource<DynamicType = ()> + Clone>(
    kind: &'static str,
    store: &kube::runtime::reflector::Store<K>,
) -> impl Iterator<Item = ObjectKey> {
    store
        .state()
        .into_iter()
        .map(move |o| ObjectKey::of(kind, o.as_ref()))
}

/// Resync passes over every cached object of every reconciled kind (as the actor runtime's pass
/// wakes every actor).
fn spawn_resync(
    settings: crate::actors::resync::ResyncSettings,
    gate: &SyncGate,
    ctx: &SharedCtx,
    triggers: &Arc<Triggers>,
    listers: Vec<Lister>,
) -> Option<JoinHandle<()>> {
    let (t, metrics) = (triggers.clone(), ctx.metrics.clone());
    crate::actors::resync::spawn(
        settings,
        gate.clone(),
        move || {
            let mut keys: Vec<ObjectKey> = listers.iter().flat_map(|list| list()).collect();
            keys.sort_unstable();
            keys
        },
        move |key| {
            if t.resync(key) {
                metrics.resync_wakeup(key.kind);
            }
        },
    )
}

impl Running {
    /// Stop taking new work and wait up to `deadline` for running reconciles.
    pub async fn shutdown(self, deadline: Duration) -> bool {
        let started = std::time::Instant::now();
        self.ctx.shutdown.trigger();
        let all = futures::future::join_all(self.controllers);
        let drained = tokio::time::timeout(deadline, all).await.is_ok();
        // The resync and rollout loops do no work of their own to finish.
        for p in &self.pumps {
            p.abort();
        }
        let left = deadline.saturating_sub(started.elapsed());
        if !self.ctx.shutdown.drain(left).await {
            tracing::warn!("some Events were still being sent at shutdown");
        }
        drained
    }
}

/// The controller started by `capt run`, on either runtime.
pub enum Started {
    Actors(manager::Running),
    KubeRuntime(Running),
}

impl Started {
    pub fn start(
        runtime: RuntimeKind,
        client: Client,
        metrics: Metrics,
        cfg: ManagerConfig,
    ) -> Self {
        match runtime {
            RuntimeKind::Actors => Self::Actors(manager::start(client, metrics, cfg)),
            RuntimeKind::KubeRuntime => Self::KubeRuntime(start(client, metrics, cfg)),
        }
    }

    pub fn gate(&self) -> SyncGate {
        match self {
            Self::Actors(r) => r.gate.clone(),
            Self::KubeRuntime(r) => r.gate.clone(),
        }
    }

    pub async fn shutdown(self, deadline: Duration) -> bool {
        match self {
            Self::Actors(r) => r.shutdown(deadline).await,
            Self::KubeRuntime(r) => r.shutdown(deadline).await,
        }
    }
}
