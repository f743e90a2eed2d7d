//! Assembles the controller: caches for every watched kind, the actor runtime with one registry per
//! reconciled kind, and one router per watched kind (both as [`super::wiring::wire`] lists them).
//! Must be started inside an actix `System` (see [`crate::actors::block_on`]).

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::task::JoinHandle;

use super::context::{Ctx, SharedCtx};
use super::generic::{Controller, Decide};
use super::wiring::{self, OwnersFn, Watched};
use crate::actors::cache::EventStream;
use crate::actors::gate::SyncGate;
use crate::actors::resync::{self, ResyncSettings};
use crate::actors::router::{self, Route, RouterCtx};
use crate::actors::shutdown::Shutdown;
use crate::actors::{ActorRuntime, RuntimeSettings};
use crate::api::kinds::Kind;
use crate::telemetry::Metrics;

pub use crate::api::kinds::Controllers;

/// Settings of one controller instance.
#[derive(Clone, Debug, Default)]
pub struct ManagerConfig {
    /// Watch one namespace only (`None`: all namespaces).
    pub namespace: Option<String>,
    pub runtime: RuntimeSettings,
    /// Use streaming lists (watch with initial events) instead of paged lists.
    pub streaming_lists: bool,
    pub controllers: Controllers,
    /// Applies re-rendered per second after a WorkspaceTemplate change (0: the default, 5).
    pub template_rollout_rate: u32,
    /// The periodic resync pass over every reconciled object (`Default`: disabled).
    pub resync: ResyncSettings,
    /// Namespace whose WorkspaceTemplates every namespace may use (empty: `default`).
    pub shared_template_namespace: String,
    /// EKS token handling (`None`: the connection kubeconfig is copied as it is).
    pub tokens: Option<super::tokens::TokenConfig>,
    /// The Events' own budget and queue.
    pub events: crate::client::events::EventLimits,
    /// This replica's place in a shard ring (`None`: it reconciles every object).
    pub sharding: Option<crate::sharding::ShardSettings>,
}

impl ManagerConfig {
    /// `template_rollout_rate`, or its default when unset.
    pub fn rollout_rate(&self) -> u32 {
        match self.template_rollout_rate {
            0 => super::rollout::DEFAULT_ROLLOUT_RATE,
            n => n,
        }
    }

    /// `shared_template_namespace`, or `default` when unset.
    pub fn shared_namespace(&self) -> String {
        match self.shared_template_namespace.as_str() {
            "" => crate::api::names::templates::DEFAULT_NAMESPACE.to_string(),
            ns => ns.to_string(),
        }
    }
}

/// A running controller.
pub struct Running {
    pub ctx: SharedCtx,
    pub gate: SyncGate,
    runtime: ActorRuntime,
    routers: Vec<JoinHandle<()>>,
}

/// A router to start once every reconciler is registered (the dispatcher is a snapshot).
type PendingRouter = Box<dyn FnOnce(&Spawn) -> JoinHandle<()>>;

/// What a pending router is started with.
struct Spawn {
    router: RouterCtx,
    shutdown: Shutdown,
}

/// The actor runtime's side of [`wiring::wire`]: a registry per reconciled kind, a router per
/// watched kind (streams of kinds not watched are dropped unpolled: no watch).
struct Actors<'a> {
    ctx: &'a SharedCtx,
    runtime: &'a mut ActorRuntime,
    controllers: Controllers,
    routers: Vec<PendingRouter>,
}

impl Actors<'_> {
    fn route<K: Watched>(&mut self, kind: Kind, stream: EventStream<K>, route: Route<K>) {
        if kind.watched(self.controllers) {
            self.routers.push(Box::new(move |rctx: &Spawn| {
                (rctx.shutdown).spawn_until(router::run(
                    kind.name(),
                    stream,
                    route,
                    rctx.router.clone(),
                ))
            }));
        }
    }
}

impl wiring::Runtime for Actors<'_> {
    fn reconciled<D: Decide>(&mut self, stream: EventStream<D::K>, owners: Option<OwnersFn<D::K>>) {
        if D::KIND.reconciled(self.controllers) {
            self.runtime
                .register(Controller::<D>::new(self.ctx.clone()));
        }
        let store = D::store(self.ctx).clone();
        let route = match owners {
            Some(f) => Route::OwnAndOwners(store, f),
            None => Route::Own(store),
        };
        self.route(D::KIND, stream, route);
    }

    fn watched<K: Watched>(&mut self, kind: Kind, stream: EventStream<K>, owners: OwnersFn<K>) {
        self.route(kind, stream, Route::Owners(owners));
    }
}

/// Start caches, actors and routers.
pub fn start(client: Client, metrics: Metrics, cfg: ManagerConfig) -> Running {
    let selector = cfg.sharding.as_ref().map(|s| s.selector());
    let (world, streams) = super::caches::build(
        &client,
        cfg.namespace.as_deref(),
        cfg.streaming_lists,
        selector.as_deref(),
    );
    let ctx = Ctx::shared(client, world, metrics.clone(), &cfg);
    let freshness = ctx.freshness.clone();
    let mut runtime = ActorRuntime::new(
        cfg.runtime.clone(),
        freshness.clone(),
        Arc::new(metrics.clone()),
    );
    let mut actors = Actors {
        ctx: &ctx,
        runtime: &mut runtime,
        controllers: cfg.controllers,
        routers: Vec::new(),
    };
    wiring::wire(&ctx, streams, &mut actors);
    let pending = actors.routers;
    let gate = SyncGate::new(Kind::watched_names(cfg.controllers));
    for (kind, _) in runtime.counts() {
        metrics.register_controller(kind, cfg.runtime.max_concurrent_reconciles as i64);
    }
    let rctx = Spawn {
        router: RouterCtx {
            dispatcher: runtime.dispatcher(),
            freshness,
            gate: gate.clone(),
        },
        shutdown: ctx.shutdown.clone(),
    };
    let routers: Vec<JoinHandle<()>> = pending
        .into_iter()
        .map(|spawn| spawn(&rctx))
        .chain({
            let dispatcher = runtime.dispatcher();
            super::rollout::spawn(
                &ctx.rollout,
                cfg.rollout_rate(),
                metrics.clone(),
                move |key| {
                    if let Some(d) = dispatcher.get(key.kind) {
                        d.ensure(
                            &key,
                            0,
                            crate::actors::Trigger::Event(Kind::WorkspaceTemplate.name()),
                            None,
                        );
                    }
                },
            )
        })
        .chain(spawn_resync(cfg.resync, &gate, &runtime, &metrics))
        .chain(runtime.sweeper().map(|s| rctx.shutdown.spawn_until(s)))
        .chain(
            ctx.shard
                .clone()
                .map(|g| (ctx.shutdown).spawn_until(crate::sharding::drain::run(ctx.clone(), g))),
        )
        .collect();
    Running {
        ctx,
        gate,
        runtime,
        routers,
    }
}

/// Resync passes over every actor of every reconciled kind.
fn spawn_resync(
    settings: ResyncSettings,
    gate: &SyncGate,
    runtime: &ActorRuntime,
    metrics: &Metrics,
) -> Option<JoinHandle<()>> {
    let (list, wake) = (runtime.dispatcher(), runtime.dispatcher());
    let metrics = metrics.clone();
    resync::spawn(
        settings,
        gate.clone(),
        move || {
            let mut keys: Vec<_> = list.values().flat_map(|reg| reg.keys()).collect();
            keys.sort_unstable();
            keys
        },
        move |key| {
            if wake
                .get(key.kind)
                .is_some_and(|reg| reg.wake(key, crate::actors::Trigger::Resync, None))
            {
                metrics.resync_wakeup(key.kind);
            }
        },
    )
}

impl Running {
    /// Stop the routers, stop all actors and wait up to `deadline` for running reconciles, then
    /// for the Event sends they started.
    pub async fn shutdown(self, deadline: Duration) -> bool {
        let started = std::time::Instant::now();
        self.ctx.shutdown.trigger();
        let drained = self.runtime.shutdown(deadline).await;
        // The rollout and resync loops do no work of their own to finish.
        for r in &self.routers {
            r.abort();
        }
        let left = deadline.saturating_sub(started.elapsed());
        if !self.ctx.shutdown.drain(left).await {
            tracing::warn!("some Events were still being sent at shutdown");
        }
        drained
    }
}
