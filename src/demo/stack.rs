//! Everything the demo runs in-process: the in-memory API server with the CRDs, the
//! provider-terraform and Cluster API simulators, the controller and its metrics/health server.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use capt_load::simstack::{self, SimStack};
use capt_load::{capisim, kubesim, tfsim};
use tokio::task::JoinHandle;

use super::args::DemoArgs;
use super::error::DemoError;
use crate::actors::RuntimeSettings;
use crate::client::ClientLimits;
use crate::controllers::manager::{self, ManagerConfig, Running};
use crate::telemetry::{Metrics, Readiness, ServeOptions};

/// How long the controller may take to fill its caches before the clusters are created anyway.
const SYNC_WAIT: Duration = Duration::from_secs(10);
/// How long in-flight reconciles may finish at shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// The running pieces.
pub struct Stack {
    pub sim: kubesim::Handle,
    /// A plain client for the demo's own requests (creating objects, watching progress).
    pub user: kube::Client,
    pub metrics: Metrics,
    pub metrics_addr: SocketAddr,
    pub probe_addr: SocketAddr,
    running: Running,
    readiness: Readiness,
    simulators: SimStack,
    server_stop: tokio::sync::watch::Sender<bool>,
    server: JoinHandle<()>,
}

/// The metrics and health server the demo runs on localhost.
struct Health {
    metrics_addr: SocketAddr,
    probe_addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
}

async fn serve_health(
    args: &DemoArgs,
    metrics: &Metrics,
    readiness: &Readiness,
) -> Result<Health, DemoError> {
    let bound = crate::telemetry::health::bind(
        &ServeOptions {
            probe_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, args.health_port)),
            metrics_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, args.metrics_port)),
            secure: false,
            cert_dir: None,
        },
        metrics.clone(),
        readiness.clone(),
        None,
    )
    .await?;
    let (metrics_addr, probe_addr) = (bound.metrics_addr(), bound.probe_addr());
    let (server_stop, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(async move {
        let stopped = async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        };
        if let Err(e) = bound.run(stopped).await {
            tracing::warn!(error = %e, "metrics/health server stopped");
        }
    });

    Ok(Health {
        metrics_addr,
        probe_addr,
        stop: server_stop,
        task: server,
    })
}

impl Stack {
    /// Starts everything; the clusters are not created yet.
    pub async fn start(args: &DemoArgs) -> Result<Self, DemoError> {
        let stack = SimStack::start(simstack::Config {
            server: kubesim::Config {
                port: args.api_port,
                seed: args.seed,
                ..kubesim::Config::default()
            },
            crds: vec![crate::api::crds_yaml()],
            tf: tfsim::Config {
                delay: args.tf_delay,
                destroy_delay: args.tf_delay,
                seed: args.seed,
                faults: args
                    .tf_faults
                    .iter()
                    .map(|r| (r.pattern.clone(), r.kind))
                    .collect(),
                ..tfsim::Config::default()
            },
            capi: capisim::Config::default(),
        })
        .await
        .map_err(DemoError::ApiServer)?;
        let sim = stack.server.clone();

        let metrics = Metrics::new();
        let client = crate::client::build(
            sim.client_config(),
            ClientLimits {
                qps: args.kube_api_qps,
                burst: args.kube_api_burst,
            },
            Arc::new(metrics.clone()),
        )
        .map_err(DemoError::Client)?;
        let readiness = Readiness::new();
        readiness.set_leader_known(true);
        metrics.set_leader(true);
        let health = serve_health(args, &metrics, &readiness).await?;
        let running = manager::start(
            client,
            metrics.clone(),
            ManagerConfig {
                namespace: None,
                streaming_lists: true,
                runtime: RuntimeSettings {
                    object_rate_per_sec: args.object_rate,
                    object_burst: args.object_burst,
                    ..RuntimeSettings::default()
                },
                tokens: Some(crate::controllers::tokens::TokenConfig::generated(
                    crate::credentials::CredentialSource::static_keys(
                        capisim::FAKE_ACCESS_KEY_ID,
                        capisim::FAKE_SECRET_ACCESS_KEY,
                    ),
                    args.token_refresh_interval,
                )),
                ..ManagerConfig::default()
            },
        );
        Ok(Self {
            user: sim.client(),
            sim,
            metrics,
            metrics_addr: health.metrics_addr,
            probe_addr: health.probe_addr,
            running,
            readiness,
            simulators: stack,
            server_stop: health.stop,
            server: health.task,
        })
    }

    /// Waits (bounded) until the controller's caches are filled; false when they were not.
    pub async fn wait_synced(&self) -> bool {
        let synced = tokio::time::timeout(SYNC_WAIT, self.running.gate.wait())
            .await
            .is_ok();
        self.readiness.set_caches_synced(synced);
        if !synced {
            tracing::warn!(missing = ?self.running.gate.missing(), "controller caches not synced yet");
        }
        synced
    }

    /// Stops the controller, the simulators, the metrics server and the API server.
    pub async fn shutdown(self) {
        self.readiness.set_caches_synced(false);
        if !self.running.shutdown(DRAIN).await {
            tracing::warn!("some reconciles were still running at shutdown");
        }
        self.simulators.stop_simulators();
        let _ = self.server_stop.send(true);
        let _ = self.server.await;
        self.sim.shutdown().await;
    }
}
