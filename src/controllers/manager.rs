//! Assembles the controller: caches for every watched kind, the actor runtime with one registry per
//! reconciled kind, and one router per watched kind. Must be started inside an actix `System`
//! (see [`crate::actors::block_on`]).

use std::sync::Arc;
use std::time::Duration;

use kube::{Client, Resource};
use tokio::task::JoinHandle;

use super::context::{Ctx, SharedCtx};
use super::generic::Controller;
use super::routes::{self, CAPT_CLUSTER, CAPT_CONTROL_PLANE, WORKSPACE_TEMPLATE, WTA};
use super::waiters::Waiters;
use super::wta::Wta;
use crate::actors::cache::EventStream;
use crate::actors::freshness::Freshness;
use crate::actors::gate::SyncGate;
use crate::actors::resync::{self, ResyncSettings};
use crate::actors::router::{self, OwnersFn, Route, RouterCtx};
use crate::actors::{ActorRuntime, RuntimeSettings};
use crate::client::events::EventRecorder;
use crate::client::status::StatusWriter;
use crate::telemetry::Metrics;

/// Which controller groups run (upstream's `--enable-controller`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Controllers {
    pub infrastructure: bool,
    pub control_plane: bool,
}

impl Default for Controllers {
    fn default() -> Self {
        Self {
            infrastructure: true,
            control_plane: true,
        }
    }
}

/// The kinds watched (and waited for by the sync gate) for the enabled controller groups. An
/// infrastructure-only install has no control-plane CRDs, so their kinds are not watched; the
/// control plane reads CAPTClusters (its VPC dependency) and both create applies and read
/// templates, Workspaces, Clusters and Secrets.
pub fn watched_kinds(c: Controllers) -> Vec<&'static str> {
    let mut kinds = vec![
        CAPT_CLUSTER,
        WTA,
        WORKSPACE_TEMPLATE,
        "Workspace",
        "Cluster",
        "Secret",
        "WorkspaceTemplateGrant",
    ];
    if c.infrastructure {
        kinds.push("CAPTClusterTemplate");
    }
    if c.control_plane {
        kinds.extend([CAPT_CONTROL_PLANE, "CaptControlPlaneTemplate"]);
    }
    kinds
}

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

/// Route `kind`'s events when it is watched; otherwise its stream is dropped unpolled (no watch).
fn spawn<K>(
    kind: &'static str,
    stream: EventStream<K>,
    route: Route<K>,
    rctx: &RouterCtx,
    watched: &[&'static str],
) -> Option<JoinHandle<()>>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    watched
        .contains(&kind)
        .then(|| tokio::spawn(router::run(kind, stream, route, rctx.clone())))
}

fn owners<K: 'static>(
    f: impl Fn(&K) -> Vec<crate::actors::ObjectKey> + Send + Sync + 'static,
) -> OwnersFn<K> {
    Arc::new(f)
}

/// Start caches, actors and routers.
pub fn start(client: Client, metrics: Metrics, cfg: ManagerConfig) -> Running {
    let (world, streams) =
        super::caches::build(&client, cfg.namespace.as_deref(), cfg.streaming_lists);
    let freshness = Freshness::default();
    let ctx: SharedCtx = Arc::new(Ctx {
        client: client.clone(),
        world: world.clone(),
        status: StatusWriter::new(Arc::new(metrics.clone())),
        events: EventRecorder::new(client.clone(), "capt", 25, 300, Arc::new(metrics.clone())),
        metrics: metrics.clone(),
        freshness: freshness.clone(),
        waiters: Waiters::default(),
        rollout: Arc::new(crate::controllers::rollout::Rollout::new(metrics.clone())),
        shared_template_namespace: cfg.shared_namespace(),
        tokens: cfg.tokens.clone(),
    });
    let mut runtime = ActorRuntime::new(
        cfg.runtime.clone(),
        freshness.clone(),
        Arc::new(metrics.clone()),
    );
    if cfg.controllers.infrastructure {
        runtime.register(Controller::<Wta>::new(ctx.clone()));
    }
    super::register_reconcilers(&mut runtime, &ctx, cfg.controllers);
    let kinds = watched_kinds(cfg.controllers);
    let gate = SyncGate::new(kinds.iter().copied());
    for (kind, _) in runtime.counts() {
        metrics.register_controller(kind, cfg.runtime.max_concurrent_reconciles as i64);
    }
    let rctx = RouterCtx {
        dispatcher: runtime.dispatcher(),
        freshness,
        gate: gate.clone(),
    };
    let (c1, c2, c3, c4) = (ctx.clone(), ctx.clone(), ctx.clone(), ctx.clone());
    let routers: Vec<JoinHandle<()>> = [
        spawn(
            CAPT_CLUSTER,
            streams.captclusters,
            Route::Own(world.captclusters.clone()),
            &rctx,
            &kinds,
        ),
        spawn(
            CAPT_CONTROL_PLANE,
            streams.controlplanes,
            Route::OwnAndOwners(
                world.controlplanes.clone(),
                owners(routes::control_plane_owners),
            ),
            &rctx,
            &kinds,
        ),
        spawn(
            WTA,
            streams.applies,
            Route::OwnAndOwners(world.applies.clone(), owners(routes::apply_owners)),
            &rctx,
            &kinds,
        ),
        spawn(
            WORKSPACE_TEMPLATE,
            streams.templates,
            Route::OwnAndOwners(
                world.templates.clone(),
                owners(move |t| routes::template_owners(&c1, t)),
            ),
            &rctx,
            &kinds,
        ),
        spawn(
            "Workspace",
            streams.workspaces,
            Route::Owners(owners(move |w| routes::workspace_owners(&c2, w))),
            &rctx,
            &kinds,
        ),
        spawn(
            "Cluster",
            streams.clusters,
            Route::Owners(owners({
                let c = ctx.clone();
                move |x| routes::cluster_and_waiters(&c, x)
            })),
            &rctx,
            &kinds,
        ),
        spawn(
            "Secret",
            streams.secrets,
            Route::Owners(owners(move |s| routes::secret_owners(&c3, s))),
            &rctx,
            &kinds,
        ),
        spawn(
            "CaptControlPlaneTemplate",
            streams.cp_templates,
            Route::Own(world.cp_templates.clone()),
            &rctx,
            &kinds,
        ),
        spawn(
            "CAPTClusterTemplate",
            streams.cluster_templates,
            Route::Own(world.cluster_templates.clone()),
            &rctx,
            &kinds,
        ),
        spawn(
            "WorkspaceTemplateGrant",
            streams.grants,
            Route::Owners(owners(move |g| super::grants::grant_referrers(&c4, g))),
            &rctx,
            &kinds,
        ),
    ]
    .into_iter()
    .flatten()
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
                        crate::actors::Trigger::Event(WORKSPACE_TEMPLATE),
                        None,
                    );
                }
            },
        )
    })
    .chain(spawn_resync(cfg.resync, &gate, &runtime, &metrics))
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
    /// Stop the routers, stop all actors and wait up to `deadline` for running reconciles.
    pub async fn shutdown(self, deadline: Duration) -> bool {
        for r in &self.routers {
            r.abort();
        }
        self.runtime.shutdown(deadline).await
    }
}
