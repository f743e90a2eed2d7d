//! What every controller shares: the client, the caches, the writers and the metrics.

use std::sync::Arc;

use crate::actors::freshness::Freshness;
use crate::actors::shutdown::Shutdown;
use crate::client::events::EventRecorder;
use crate::client::status::StatusWriter;
use crate::telemetry::Metrics;

/// The current time as an API timestamp.
pub fn now() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now())
}

use super::waiters::Waiters;
use super::world::World;

pub struct Ctx {
    pub client: kube::Client,
    pub world: World,
    pub status: StatusWriter,
    pub events: EventRecorder,
    pub metrics: Metrics,
    pub freshness: Freshness,
    pub waiters: Waiters,
    /// Re-renders the applies of a changed WorkspaceTemplate at a bounded rate.
    pub rollout: std::sync::Arc<super::rollout::Rollout>,
    /// Namespace whose WorkspaceTemplates every namespace may use (`--shared-template-namespace`).
    pub shared_template_namespace: String,
    /// EKS token handling (`None`: the connection kubeconfig is copied as it is).
    pub tokens: Option<super::tokens::TokenConfig>,
    /// Stops the controller's tasks; tracks the Event sender.
    pub shutdown: Shutdown,
    /// This replica's share of a shard ring: no reconcile of a cluster being handed over.
    pub shard: Option<Arc<crate::sharding::ShardGate>>,
}

pub type SharedCtx = Arc<Ctx>;

impl Ctx {
    /// The context of one controller instance over `world`'s caches.
    pub fn shared(
        client: kube::Client,
        world: World,
        metrics: Metrics,
        cfg: &super::manager::ManagerConfig,
    ) -> SharedCtx {
        let shutdown = Shutdown::default();
        let (events, sender) = EventRecorder::new(
            client.clone(),
            "capt",
            cfg.events,
            Arc::new(metrics.clone()),
            shutdown.triggered(),
        );
        shutdown.spawn_background(sender);
        Arc::new(Ctx {
            client,
            world,
            status: StatusWriter::new(Arc::new(metrics.clone())),
            events,
            metrics: metrics.clone(),
            freshness: Freshness::default(),
            waiters: Waiters::default(),
            rollout: Arc::new(super::rollout::Rollout::new(metrics)),
            shared_template_namespace: cfg.shared_namespace(),
            tokens: cfg.tokens.clone(),
            shutdown,
            shard: (cfg.sharding.as_ref()).map(|s| Arc::new(crate::sharding::ShardGate::new(s))),
        })
    }
}
