//! A baseline runtime for comparison: the same reconcilers, caches and routes as the actor
//! runtime, scheduled by kube-runtime's `Controller` (one per reconciled kind) instead of
//! per-object actors. Selected with `capt run --runtime kube-runtime`.
//!
//! Differences that remain by design: kube-runtime keeps one scheduled wake-up per object (timers
//! become a requeue at the earliest one), has no per-object rate limit, and does not hold a
//! reconcile back until the caches show the object's own last writes.

pub mod caches;
pub mod kind;
pub mod triggers;

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::task::JoinHandle;

use crate::actors::freshness::Freshness;
use crate::actors::gate::SyncGate;
use crate::client::events::EventRecorder;
use crate::client::status::StatusWriter;
use crate::controllers::context::{Ctx, SharedCtx};
use crate::controllers::generic::Controller;
use crate::controllers::infra::Infra;
use crate::controllers::manager::{self, ManagerConfig};
use crate::controllers::routes::{self, CAPT_CLUSTER, CAPT_CONTROL_PLANE, WORKSPACE_TEMPLATE, WTA};
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

const KINDS: [&str; 9] = [
    CAPT_CLUSTER,
    CAPT_CONTROL_PLANE,
    WTA,
    WORKSPACE_TEMPLATE,
    "Workspace",
    "Cluster",
    "Secret",
    "CaptControlPlaneTemplate",
    "CAPTClusterTemplate",
];

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

/// Start caches, routes and one kube-runtime controller per reconciled kind.
pub fn start(client: Client, metrics: Metrics, cfg: ManagerConfig) -> Running {
    let (world, s) = caches::build(&client, cfg.namespace.as_deref(), cfg.streaming_lists);
    let freshness = Freshness::default();
    let ctx: SharedCtx = Arc::new(Ctx {
        client: client.clone(),
        world: world.clone(),
        status: StatusWriter::new(Arc::new(metrics.clone())),
        events: EventRecorder::new(client.clone(), "capt", 25, 300, Arc::new(metrics.clone())),
        metrics: metrics.clone(),
        freshness: freshness.clone(),
        waiters: Waiters::default(),
    });
    let gate = SyncGate::new(KINDS);
    let mut triggers = Triggers::new(gate.clone(), freshness, Arc::new(metrics.clone()));
    let infra = cfg.controllers.infrastructure;
    let rx_cc = infra.then(|| triggers.channel(CAPT_CLUSTER));
    let rx_wta = infra.then(|| triggers.channel(WTA));
    let t = Arc::new(triggers);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let settings = &cfg.runtime;
    let mut controllers = Vec::new();
    let mut pumps = Vec::new();

    for kind in [CAPT_CLUSTER, CAPT_CONTROL_PLANE, WTA] {
        metrics.set_max_concurrent_reconciles(
            &kind.to_ascii_lowercase(),
            settings.max_concurrent_reconciles as i64,
        );
    }
    match rx_cc {
        Some(requests) => controllers.push(kind::spawn(
            KindSpec {
                reconciler: Controller::<Infra>::new(ctx.clone()),
                store: world.captclusters.clone(),
                own: s.captclusters,
                owners: None,
                requests,
            },
            t.clone(),
            settings,
            stopped(),
        )),
        None => pumps.push(tokio::spawn(pump(
            CAPT_CLUSTER,
            s.captclusters,
            None,
            t.clone(),
        ))),
    }
    match rx_wta {
        Some(requests) => controllers.push(kind::spawn(
            KindSpec {
                reconciler: Controller::<Wta>::new(ctx.clone()),
                store: world.applies.clone(),
                own: s.applies,
                owners: Some(owners(routes::apply_owners)),
                requests,
            },
            t.clone(),
            settings,
            stopped(),
        )),
        None => pumps.push(tokio::spawn(pump(
            WTA,
            s.applies,
            Some(owners(routes::apply_owners)),
            t.clone(),
        ))),
    }
    pumps.push(tokio::spawn(pump(
        CAPT_CONTROL_PLANE,
        s.controlplanes,
        Some(owners(routes::control_plane_owners)),
        t.clone(),
    )));
    let (c1, c2, c3) = (ctx.clone(), ctx.clone(), ctx.clone());
    pumps.push(tokio::spawn(pump(
        WORKSPACE_TEMPLATE,
        s.templates,
        Some(owners(move |x| routes::template_owners(&c1, x))),
        t.clone(),
    )));
    pumps.push(tokio::spawn(pump(
        "Workspace",
        s.workspaces,
        Some(owners(move |x| routes::workspace_owners(&c2, x))),
        t.clone(),
    )));
    pumps.push(tokio::spawn(pump(
        "Cluster",
        s.clusters,
        Some(owners(routes::cluster_owners)),
        t.clone(),
    )));
    pumps.push(tokio::spawn(pump(
        "Secret",
        s.secrets,
        Some(owners(move |x| routes::secret_owners(&c3, x))),
        t.clone(),
    )));
    pumps.push(tokio::spawn(pump(
        "CaptControlPlaneTemplate",
        s.cp_templates,
        None,
        t.clone(),
    )));
    pumps.push(tokio::spawn(pump(
        "CAPTClusterTemplate",
        s.cluster_templates,
        None,
        t.clone(),
    )));
    Running {
        ctx,
        gate,
        stop,
        controllers,
        pumps,
    }
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
