//! A baseline runtime for comparison: the same reconcilers, caches and routes as the actor
//! runtime, scheduled by kube-runtime's `Controller` (one per reconciled kind) instead of
//! per-object actors. Selected with `capt run --runtime kube-runtime`.
//!
//! Differences that remain by design: kube-runtime keeps one scheduled wake-up per object (timers
//! become a requeue at the earliest one), has no per-object rate limit, and does not hold a
//! reconcile back until the caches show the object's own last writes.

pub mod kind;
pub mod triggers;

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::actors::ObjectKey;
use crate::actors::cache::EventStream;
use crate::actors::freshness::Freshness;
use crate::actors::gate::SyncGate;
use crate::client::events::EventRecorder;
use crate::client::status::StatusWriter;
use crate::controllers::context::{Ctx, SharedCtx};
use crate::controllers::controlplane::ControlPlane;
use crate::controllers::generic::{Controller, Decide};
use crate::controllers::infra::Infra;
use crate::controllers::manager::{self, ManagerConfig};
use crate::controllers::routes::{self, CAPT_CLUSTER, CAPT_CONTROL_PLANE, WORKSPACE_TEMPLATE, WTA};
use crate::controllers::templates::{ClusterTemplates, ControlPlaneTemplates, WorkspaceTemplates};
use crate::controllers::waiters::Waiters;
use crate::controllers::wta::Wta;
use crate::telemetry::Metrics;
use kind::KindSpec;
use triggers::{OwnersFn, Triggers, pump};

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
    stop: tokio::sync::watch::Sender<bool>,
    controllers: Vec<JoinHandle<()>>,
    pumps: Vec<JoinHandle<()>>,
}

fn owners<K: 'static>(
    f: impl Fn(&K) -> Vec<crate::actors::ObjectKey> + Send + Sync + 'static,
) -> OwnersFn<K> {
    Arc::new(f)
}

/// Starts each reconciled kind as a kube-runtime controller, or only polls its stream.
struct Spawner {
    ctx: SharedCtx,
    triggers: Arc<Triggers>,
    settings: crate::actors::RuntimeSettings,
    stop: tokio::sync::watch::Receiver<bool>,
    controllers: Vec<JoinHandle<()>>,
    pumps: Vec<JoinHandle<()>>,
    /// Kinds watched for the enabled controller groups; other streams are dropped unpolled.
    watched: Vec<&'static str>,
}

impl Spawner {
    fn kind<D: Decide>(
        &mut self,
        requests: Option<UnboundedReceiver<ObjectKey>>,
        own: EventStream<D::K>,
        owners: Option<OwnersFn<D::K>>,
    ) {
        let Some(requests) = requests else {
            self.pump(D::KIND, own, owners);
            return;
        };
        let mut rx = self.stop.clone();
        self.controllers.push(kind::spawn(
            KindSpec {
                reconciler: Controller::<D>::new(self.ctx.clone()),
                store: D::store(&self.ctx).clone(),
                own,
                owners,
                requests,
            },
            self.triggers.clone(),
            &self.settings,
            async move {
                let _ = rx.wait_for(|s| *s).await;
            },
        ));
    }

    fn pump<K: kube::Resource + Send + 'static>(
        &mut self,
        kind: &'static str,
        stream: EventStream<K>,
        owners: Option<OwnersFn<K>>,
    ) {
        if !self.watched.contains(&kind) {
            return;
        }
        self.pumps.push(tokio::spawn(pump(
            kind,
            stream,
            owners,
            self.triggers.clone(),
        )));
    }
}

/// Start caches, routes and one kube-runtime controller per reconciled kind.
pub fn start(client: Client, metrics: Metrics, cfg: ManagerConfig) -> Running {
    let (world, s) =
        crate::controllers::caches::build(&client, cfg.namespace.as_deref(), cfg.streaming_lists);
    let freshness = Freshness::default();
    let ctx: SharedCtx = Arc::new(Ctx {
        client: client.clone(),
        world,
        status: StatusWriter::new(Arc::new(metrics.clone())),
        events: EventRecorder::new(client.clone(), "capt", 25, 300, Arc::new(metrics.clone())),
        metrics: metrics.clone(),
        freshness: freshness.clone(),
        waiters: Waiters::default(),
        rollout: Arc::new(crate::controllers::rollout::Rollout::new(metrics.clone())),
        shared_template_namespace: cfg.shared_namespace(),
        tokens: cfg.tokens.clone(),
    });
    let watched = crate::controllers::manager::watched_kinds(cfg.controllers);
    let gate = SyncGate::new(watched.iter().copied());
    let mut triggers = Triggers::new(gate.clone(), freshness, Arc::new(metrics.clone()));
    // The kinds `manager::start` and `controllers::register_reconcilers` run.
    let (infra, cp) = (
        cfg.controllers.infrastructure,
        cfg.controllers.control_plane,
    );
    let mut channel = |on: bool, kind: &'static str| {
        on.then(|| {
            metrics.register_controller(kind, cfg.runtime.max_concurrent_reconciles as i64);
            triggers.channel(kind)
        })
    };
    let rx_cc = channel(infra, CAPT_CLUSTER);
    let rx_wta = channel(infra, WTA);
    let rx_wt = channel(infra, WORKSPACE_TEMPLATE);
    let rx_ct = channel(infra, "CAPTClusterTemplate");
    let rx_cp = channel(cp, CAPT_CONTROL_PLANE);
    let rx_cpt = channel(cp, "CaptControlPlaneTemplate");
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let triggers = Arc::new(triggers);
    let rollout_triggers = triggers.clone();
    let mut sp = Spawner {
        ctx: ctx.clone(),
        triggers,
        settings: cfg.runtime.clone(),
        stop: stop_rx,
        controllers: Vec::new(),
        pumps: Vec::new(),
        watched,
    };
    let (c1, c2, c3, c4) = (ctx.clone(), ctx.clone(), ctx.clone(), ctx.clone());
    sp.kind::<Infra>(rx_cc, s.captclusters, None);
    sp.kind::<ControlPlane>(
        rx_cp,
        s.controlplanes,
        Some(owners(routes::control_plane_owners)),
    );
    sp.kind::<Wta>(rx_wta, s.applies, Some(owners(routes::apply_owners)));
    sp.kind::<WorkspaceTemplates>(
        rx_wt,
        s.templates,
        Some(owners(move |x| routes::template_owners(&c1, x))),
    );
    sp.kind::<ClusterTemplates>(rx_ct, s.cluster_templates, None);
    sp.pump(
        "Workspace",
        s.workspaces,
        Some(owners(move |x| routes::workspace_owners(&c2, x))),
    );
    let c5 = ctx.clone();
    sp.pump(
        "Cluster",
        s.clusters,
        Some(owners(move |x| routes::cluster_and_waiters(&c5, x))),
    );
    sp.pump(
        "Secret",
        s.secrets,
        Some(owners(move |x| routes::secret_owners(&c3, x))),
    );
    sp.kind::<ControlPlaneTemplates>(rx_cpt, s.cp_templates, None);
    sp.pumps
        .extend(spawn_resync(cfg.resync, &gate, &ctx, &rollout_triggers));
    sp.pump(
        "WorkspaceTemplateGrant",
        s.grants,
        Some(owners(move |g| {
            crate::controllers::grants::grant_referrers(&c4, g)
        })),
    );
    sp.pumps.extend(crate::controllers::rollout::spawn(
        &ctx.rollout,
        cfg.rollout_rate(),
        metrics.clone(),
        move |key| rollout_triggers.send(key),
    ));
    Running {
        ctx,
        gate,
        stop,
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
) -> Option<JoinHandle<()>> {
    let (c, t, metrics) = (ctx.clone(), triggers.clone(), ctx.metrics.clone());
    crate::actors::resync::spawn(
        settings,
        gate.clone(),
        move || {
            let w = &c.world;
            let mut keys: Vec<ObjectKey> = keys_of(CAPT_CLUSTER, &w.captclusters)
                .chain(keys_of(CAPT_CONTROL_PLANE, &w.controlplanes))
                .chain(keys_of(WTA, &w.applies))
                .chain(keys_of(WORKSPACE_TEMPLATE, &w.templates))
                .chain(keys_of("CAPTClusterTemplate", &w.cluster_templates))
                .chain(keys_of("CaptControlPlaneTemplate", &w.cp_templates))
                .collect();
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
        self.stop.send_replace(true);
        let all = futures::future::join_all(self.controllers);
        let drained = tokio::time::timeout(deadline, all).await.is_ok();
        for p in &self.pumps {
            p.abort();
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
