//! `capt run`: the controller process.

use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::actors::leader::{LeaderElector, LeaseSettings};
use crate::actors::resync::ResyncSettings;
use crate::actors::{RuntimeSettings, block_on};
use crate::baseline::{RuntimeKind, Started};
use crate::client::ClientLimits;
use crate::controllers::manager::{Controllers, ManagerConfig};
use crate::sharding::replica::{Replica, ReplicaSettings};
use crate::telemetry::health::parse_bind_address;
use crate::telemetry::{LogFormat, Metrics, Readiness, ServeOptions, TelemetryOptions};

/// Upstream's leader-election IDs (per enabled controller set), kept so an upstream and a capt
/// manager never lead at the same time during a migration.
pub fn default_leader_election_id(c: Controllers) -> &'static str {
    match (c.infrastructure, c.control_plane) {
        (true, false) => "6e3301c94e4de897ec67fa9735a848d5.capt.ai",
        (false, true) => "f6ddf68f34963ade25bce356fc63d572.capt.ai",
        _ => "01dc68759cdf086bbc8bf72701e60af7.capt.ai",
    }
}

/// A controller group that `--enable-controller` can select.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ControllerGroup {
    /// CAPTCluster, CAPTClusterTemplate, WorkspaceTemplate, WorkspaceTemplateApply.
    Infrastructure,
    /// CAPTControlPlane, CaptControlPlaneTemplate.
    ControlPlane,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum StreamingLists {
    /// Use streaming lists when the API server reports Kubernetes 1.34 or later (or is the in-memory server).
    #[default]
    Auto,
    On,
    Off,
}

#[derive(Clone, Debug, Args)]
pub struct RunArgs {
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Watch and reconcile only this namespace (default: all namespaces).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Address of the metrics endpoint (`:8443` for all interfaces, or `127.0.0.1:8443`).
    #[arg(long, default_value = ":8443")]
    pub metrics_bind_address: String,
    /// Serve metrics over TLS with TokenReview/SubjectAccessReview authorization. Set to false for
    /// plain HTTP without authorization (local runs).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics_secure: bool,
    /// Directory with tls.crt and tls.key for the metrics endpoint (default: a self-signed certificate).
    #[arg(long)]
    pub metrics_cert_dir: Option<std::path::PathBuf>,
    /// Address of /healthz and /readyz.
    #[arg(long, default_value = ":8081")]
    pub health_probe_bind_address: String,
    /// Elect a leader through a Lease so only one replica runs the controllers.
    #[arg(long, default_value_t = false)]
    pub leader_elect: bool,
    /// Share the clusters among all replicas: each keeps a shard Lease (in the leader-election
    /// namespace, with the leader-election timings) and reconciles only the clusters the shard
    /// ring gives it. Not with `--leader-elect`.
    #[arg(long, default_value_t = false, conflicts_with = "leader_elect")]
    pub sharding: bool,
    /// Name of the shard ring (replicas of one installation share it).
    #[arg(long, default_value = crate::sharding::labels::DEFAULT_RING)]
    pub shard_ring: String,
    /// Namespace of the leader-election Lease (default: $POD_NAMESPACE, else capt-system).
    #[arg(long, env = "POD_NAMESPACE", default_value = "capt-system")]
    pub leader_election_namespace: String,
    /// Name of the leader-election Lease (default: upstream's ID for the enabled controllers).
    #[arg(long)]
    pub leader_election_id: Option<String>,
    /// How long a standby waits after the leader's last renewal before taking the Lease over
    /// (how long a killed leader's clusters go unreconciled).
    #[arg(long, default_value = "15s", value_parser = parse_period)]
    pub leader_elect_lease_duration: Duration,
    /// How long the leader keeps retrying a failed renewal before it stops leading (and exits);
    /// shorter than the lease duration.
    #[arg(long, default_value = "10s", value_parser = parse_period)]
    pub leader_elect_renew_deadline: Duration,
    /// Pause between acquire or renew attempts; shorter than the renew deadline.
    #[arg(long, default_value = "2s", value_parser = parse_period)]
    pub leader_elect_retry_period: Duration,
    /// Run only these controller groups (repeatable; default: all).
    #[arg(long, value_enum)]
    pub enable_controller: Vec<ControllerGroup>,
    /// Reconciles running at once per kind (per controller, as in controller-runtime).
    #[arg(long, default_value_t = 64)]
    pub max_concurrent_reconciles: usize,
    /// Client-side limit of API requests per second (0: unlimited).
    #[arg(long, default_value_t = 200)]
    pub kube_api_qps: u32,
    /// Client-side burst of API requests.
    #[arg(long, default_value_t = 400)]
    pub kube_api_burst: u32,
    /// Kubernetes Events sent per second: their own budget, apart from `--kube-api-qps` (0:
    /// unlimited). Events wait in a queue and never delay a reconcile.
    #[arg(long, default_value_t = 50)]
    pub event_qps: u32,
    /// Burst of Events sent.
    #[arg(long, default_value_t = 200)]
    pub event_burst: u32,
    /// Events waiting to be sent; when the queue is full new Events are dropped (and counted in
    /// `capt_events_dropped_total`).
    #[arg(long, default_value_t = 4096)]
    pub event_queue: usize,
    /// Sustained reconciles per second for one object, of those the controller schedules itself
    /// (retries, requeues, timers, resync); watch events are not paced by it.
    #[arg(long, default_value_t = 1)]
    pub object_rate: u32,
    /// Burst of reconciles for one object.
    #[arg(long, default_value_t = 5)]
    pub object_burst: u32,
    /// How long a watch event waits for further events of the same object before its reconcile
    /// starts, in milliseconds (0: at once). Watch events are not paced by the per-object rate
    /// limit; this lets a change and its echoes be reconciled once.
    #[arg(long, default_value_t = 15)]
    pub event_settle_ms: u64,
    /// An actor with nothing to do (no reconcile, timer, retry or wake-up) for about this many
    /// seconds is put to sleep to save memory; the next event of its object starts a new one,
    /// which reconciles from the cache (0: actors live as long as their objects).
    #[arg(long, default_value_t = 10)]
    pub idle_actor_sleep_secs: u64,
    /// Deadline of one reconcile, in seconds.
    #[arg(long, default_value_t = 60)]
    pub reconcile_timeout_secs: u64,
    /// How long in-flight reconciles may take to finish on SIGTERM, in seconds.
    #[arg(long, default_value_t = 30)]
    pub shutdown_timeout_secs: u64,
    /// Applies re-rendered per second when a WorkspaceTemplate they use changes (a shared template
    /// edit reaches every cluster, paced; progress in `capt_template_rollout_pending`).
    #[arg(long, default_value_t = crate::controllers::rollout::DEFAULT_ROLLOUT_RATE, value_parser = clap::value_parser!(u32).range(1..))]
    pub template_rollout_rate: u32,
    /// Period of the resync pass that wakes every reconciled object (a safety net for wake-ups
    /// lost between watch events; converged objects write nothing). Jittered by ±10%. A number
    /// with a unit (`ms`, `s`, `m`, `h`; bare numbers are seconds); 0 disables it.
    #[arg(long, default_value = "10m", value_parser = parse_period)]
    pub resync_period: Duration,
    /// Objects woken per second by a resync pass (progress in `capt_resync_wakeups_total`).
    #[arg(long, default_value_t = crate::actors::resync::DEFAULT_RATE, value_parser = clap::value_parser!(u32).range(1..))]
    pub resync_rate: u32,
    /// Namespace whose WorkspaceTemplates objects of every namespace may use; templates of any other
    /// namespace need a WorkspaceTemplateGrant there (the referrer's own namespace always works).
    #[arg(long, default_value = "default")]
    pub shared_template_namespace: String,
    /// List with streaming lists (watch + initial events) instead of paged lists.
    #[arg(long, value_enum, default_value_t = StreamingLists::Auto)]
    pub streaming_lists: StreamingLists,
    /// Console log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Where the EKS token of `<cluster>-kubeconfig` comes from: `generated` (signed by capt from the AWS
    /// credential chain and refreshed) or `terraform-output` (the token terraform wrote; it expires after 15
    /// minutes). Default: generated when the credential chain yields credentials at start.
    #[arg(long, value_enum)]
    pub token_mode: Option<crate::reconcile::token_refresh::TokenMode>,
    /// How often a generated token is re-signed (jittered by up to a tenth; at most 13m).
    #[arg(long, default_value = "10m", value_parser = parse_refresh_interval)]
    pub token_refresh_interval: Duration,
    /// What schedules the reconcilers: per-object actors, or kube-runtime controllers (baseline).
    #[arg(long, value_enum, default_value_t = RuntimeKind::Actors)]
    pub runtime: RuntimeKind,
}

/// A period (see [`parse_period`]) between 1s and the longest refresh interval.
fn parse_refresh_interval(s: &str) -> Result<Duration, String> {
    let d = parse_period(s)?;
    let max = crate::reconcile::token_refresh::max_interval();
    if d < Duration::from_secs(1) || d > max {
        return Err(format!("must be between 1s and {}s", max.as_secs()));
    }
    Ok(d)
}

/// `10m`, `30s`, `500ms`, `1h` or a bare number of seconds.
fn parse_period(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with an optional unit (ms, s, m, h)"))?;
    let per = match unit {
        "ms" => Duration::from_millis(1),
        "" | "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        other => return Err(format!("{s:?}: unknown unit {other:?} (ms, s, m, h)")),
    };
    per.checked_mul(u32::try_from(n).map_err(|_| format!("{s:?}: too large"))?)
        .ok_or_else(|| format!("{s:?}: too large"))
}

impl RunArgs {
    /// The leader-election Lease settings for `identity`, refused when the timings cannot work
    /// (a renew deadline not shorter than the lease lets two replicas lead at once).
    pub fn lease_settings(&self, id: &str, identity: &str) -> anyhow::Result<LeaseSettings> {
        let (lease, renew, retry) = (
            self.leader_elect_lease_duration,
            self.leader_elect_renew_deadline,
            self.leader_elect_retry_period,
        );
        anyhow::ensure!(
            renew < lease,
            "--leader-elect-renew-deadline ({renew:?}) must be shorter than --leader-elect-lease-duration ({lease:?})"
        );
        anyhow::ensure!(
            !retry.is_zero() && retry < renew,
            "--leader-elect-retry-period ({retry:?}) must be above 0 and shorter than --leader-elect-renew-deadline ({renew:?})"
        );
        Ok(LeaseSettings {
            lease_duration: lease,
            renew_deadline: renew,
            retry_period: retry,
            ..LeaseSettings::new(&self.leader_election_namespace, id, identity)
        })
    }

    pub fn runtime_settings(&self) -> RuntimeSettings {
        RuntimeSettings {
            object_rate_per_sec: self.object_rate,
            object_burst: self.object_burst,
            reconcile_timeout: Duration::from_secs(self.reconcile_timeout_secs),
            max_concurrent_reconciles: self.max_concurrent_reconciles,
            event_settle: Duration::from_millis(self.event_settle_ms),
            idle_actor_sleep: Duration::from_secs(self.idle_actor_sleep_secs),
            ..RuntimeSettings::default()
        }
    }

    pub fn controllers(&self) -> Controllers {
        if self.enable_controller.is_empty() {
            return Controllers::default();
        }
        Controllers {
            infrastructure: self
                .enable_controller
                .contains(&ControllerGroup::Infrastructure),
            control_plane: self
                .enable_controller
                .contains(&ControllerGroup::ControlPlane),
        }
    }

    /// The Events' budget (`--event-qps`, `--event-burst`, `--event-queue`).
    pub fn event_limits(&self) -> crate::client::events::EventLimits {
        crate::client::events::EventLimits {
            qps: self.event_qps,
            burst: self.event_burst,
            queue: self.event_queue,
            ..Default::default()
        }
    }

    pub fn limits(&self) -> ClientLimits {
        ClientLimits {
            qps: self.kube_api_qps,
            burst: self.kube_api_burst,
        }
    }
}

async fn kube_config(path: Option<&std::path::Path>) -> anyhow::Result<kube::Config> {
    Ok(match path {
        Some(p) => {
            let kc = kube::config::Kubeconfig::read_from(p)?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    })
}

/// Whether the server offers streaming lists (WatchList is on by default from Kubernetes 1.34).
pub async fn server_streams(client: &kube::Client) -> bool {
    match client.apiserver_version().await {
        Ok(v) => {
            v.git_version.contains("kubesim")
                || (v.major == "1"
                    && v.minor
                        .trim_end_matches('+')
                        .parse::<u32>()
                        .is_ok_and(|m| m >= 34))
        }
        Err(_) => false,
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    block_on(run_async(args))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run_async(args: RunArgs) -> anyhow::Result<()> {
    let guard = crate::telemetry::init(&TelemetryOptions {
        log_format: args.log_format,
        ..Default::default()
    })?;
    let metrics = Metrics::new();
    let config = kube_config(args.kubeconfig.as_deref()).await?;
    let client = crate::client::build(config, args.limits(), std::sync::Arc::new(metrics.clone()))?;
    let readiness = Readiness::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server_task = serve(&args, &metrics, &readiness, &client, stop_rx).await?;

    let elector = elector(&args, &client)?;
    let ring = ring_settings(&args)?;
    if let Some(e) = &elector {
        tracing::info!(identity = e.identity(), "waiting for leadership");
        readiness.set_leader_known(true);
    }
    let replica = tokio::select! {
        r = take_turn(elector.as_ref(), ring, &client, &metrics) => r,
        _ = shutdown_signal() => {
                let _ = stop_tx.send(true);
                let _ = server_task.await;
                guard.shutdown_async().await?;
            return Ok(());
        }
    };
    metrics.set_leader(true);
    readiness.set_leader_known(true);

    let mut config = manager_config(&args, &client).await;
    config.sharding = replica
        .as_ref()
        .map(|_| crate::sharding::ShardSettings::new(&args.shard_ring, &identity()));
    let running = Started::start(args.runtime, client.clone(), metrics.clone(), config);
    let gate = running.gate();
    let r2 = readiness.clone();
    tokio::spawn(async move {
        gate.wait().await;
        r2.set_caches_synced(true);
        tracing::info!("caches synced");
    });
    let exit_err = stopped(elector.as_ref(), replica.as_ref()).await;
    readiness.set_caches_synced(false);
    let drained = running
        .shutdown(Duration::from_secs(args.shutdown_timeout_secs))
        .await;
    if !drained {
        tracing::warn!("some reconciles were still running at the shutdown deadline");
    }
    if let Some(e) = &elector {
        e.release().await;
    }
    if let Some(r) = replica {
        r.leave().await;
    }
    metrics.set_leader(false);
    let _ = stop_tx.send(true);
    let _ = server_task.await;
    guard.shutdown_async().await?;
    exit_err.map_or(Ok(()), Err)
}

type ServerTask = tokio::task::JoinHandle<Result<(), crate::telemetry::health::ServeError>>;

/// Serve the probes and metrics until `stop` turns true.
async fn serve(
    args: &RunArgs,
    metrics: &Metrics,
    readiness: &Readiness,
    client: &kube::Client,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<ServerTask> {
    let serve_opts = ServeOptions {
        probe_addr: parse_bind_address(&args.health_probe_bind_address)?,
        metrics_addr: parse_bind_address(&args.metrics_bind_address)?,
        secure: args.metrics_secure,
        cert_dir: args.metrics_cert_dir.clone(),
    };
    let server = crate::telemetry::health::bind(
        &serve_opts,
        metrics.clone(),
        readiness.clone(),
        Some(client.clone()),
    )
    .await?;
    let mut rx = stop;
    Ok(tokio::spawn(server.run(async move {
        let _ = rx.wait_for(|s| *s).await;
    })))
}

/// This replica's identity: the pod name, else the host name, else `capt-<pid>`.
fn identity() -> String {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("capt-{}", std::process::id()))
}

/// The shard ring settings, when sharding is on.
fn ring_settings(args: &RunArgs) -> anyhow::Result<Option<ReplicaSettings>> {
    if !args.sharding {
        return Ok(None);
    }
    anyhow::ensure!(
        !args.leader_elect,
        "--sharding and --leader-elect exclude each other: sharding shares the clusters among all replicas, leader election keeps one active"
    );
    anyhow::ensure!(
        args.runtime == RuntimeKind::Actors,
        "--sharding needs --runtime actors"
    );
    let identity = identity();
    for (what, v) in [
        ("--shard-ring", args.shard_ring.as_str()),
        ("the replica identity (POD_NAME)", identity.as_str()),
    ] {
        anyhow::ensure!(
            crate::sharding::labels::valid_value(v),
            "{what} {v:?} must be a label value (at most 63 letters, digits, '-', '_' or '.')"
        );
    }
    Ok(Some(ReplicaSettings {
        ring: args.shard_ring.clone(),
        identity: identity.clone(),
        lease: args.lease_settings(&identity, &identity)?,
        namespace: args.namespace.clone(),
        coordinator_interval: Duration::from_secs(1),
        events: args.event_limits(),
    }))
}

/// Wait for this replica's turn: leadership when electing, the ring's shard Lease when sharding.
async fn take_turn(
    elector: Option<&LeaderElector>,
    ring: Option<ReplicaSettings>,
    client: &kube::Client,
    metrics: &Metrics,
) -> Option<Replica> {
    if let Some(e) = elector {
        e.acquire().await;
        tracing::info!("leading");
    }
    match ring {
        Some(s) => Some(Replica::join(client.clone(), metrics.clone(), s).await),
        None => None,
    }
}

/// The leader elector, when leader election is on.
fn elector(args: &RunArgs, client: &kube::Client) -> anyhow::Result<Option<LeaderElector>> {
    if !args.leader_elect {
        return Ok(None);
    }
    let identity = identity();
    let id = args
        .leader_election_id
        .clone()
        .unwrap_or_else(|| default_leader_election_id(args.controllers()).into());
    Ok(Some(LeaderElector::new(
        client.clone(),
        args.lease_settings(&id, &identity)?,
    )))
}

/// The controllers' configuration from the flags (asks the server whether it streams lists when
/// told to find out).
async fn manager_config(args: &RunArgs, client: &kube::Client) -> ManagerConfig {
    let streaming = match args.streaming_lists {
        StreamingLists::On => true,
        StreamingLists::Off => false,
        StreamingLists::Auto => server_streams(client).await,
    };
    ManagerConfig {
        namespace: args.namespace.clone(),
        runtime: args.runtime_settings(),
        streaming_lists: streaming,
        controllers: args.controllers(),
        template_rollout_rate: args.template_rollout_rate,
        resync: ResyncSettings {
            period: args.resync_period,
            rate: args.resync_rate,
        },
        shared_template_namespace: args.shared_template_namespace.clone(),
        tokens: Some(
            crate::controllers::tokens::resolve(args.token_mode, args.token_refresh_interval).await,
        ),
        events: args.event_limits(),
        sharding: None,
    }
}

/// Wait for a shutdown signal or, when leading, the loss of leadership, or when sharding, the
/// loss of the shard Lease (an error).
async fn stopped(
    elector: Option<&LeaderElector>,
    replica: Option<&Replica>,
) -> Option<anyhow::Error> {
    let lost = async {
        match (elector, replica) {
            (Some(e), _) => e.hold().await,
            (None, Some(r)) => r.lost().await,
            (None, None) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
            None
        }
        _ = lost => {
            tracing::error!("leadership lost; stopping");
            Some(anyhow::anyhow!("leader election lost"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_take_a_unit_and_zero_disables() {
        assert_eq!(parse_period("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_period("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_period("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_period("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_period("0"), Ok(Duration::ZERO));
        assert!(parse_period("10 minutes").is_err());
        assert!(parse_period("m").is_err());
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn lease(flags: &[&str]) -> anyhow::Result<LeaseSettings> {
        use clap::Parser;
        let args = Cli::try_parse_from(std::iter::once("capt").chain(flags.iter().copied()))?;
        args.run.lease_settings("capt-lease", "replica-a")
    }

    #[test]
    fn sharding_and_leader_election_exclude_each_other() {
        use clap::Parser;
        let parse = |flags: &[&str]| {
            Cli::try_parse_from(std::iter::once("capt").chain(flags.iter().copied()))
        };
        let err = parse(&["--sharding", "--leader-elect"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("--sharding") && err.contains("--leader-elect"),
            "{err}"
        );
        let args = parse(&["--sharding"]).unwrap().run;
        assert!(args.sharding && !args.leader_elect);
        assert_eq!(args.shard_ring, "capt");
        let args = parse(&["--sharding", "--shard-ring=blue", "--runtime=kube-runtime"])
            .unwrap()
            .run;
        let err = ring_settings(&args).err().unwrap().to_string();
        assert!(err.contains("--runtime actors"), "{err}");
    }

    #[test]
    fn lease_timings_default_to_controller_runtime_and_must_nest() {
        let d = lease(&[]).unwrap();
        assert_eq!(
            (d.lease_duration, d.renew_deadline, d.retry_period),
            (
                Duration::from_secs(15),
                Duration::from_secs(10),
                Duration::from_secs(2)
            )
        );
        assert_eq!(
            (d.name.as_str(), d.identity.as_str()),
            ("capt-lease", "replica-a")
        );
        let fast = lease(&[
            "--leader-elect-lease-duration=3s",
            "--leader-elect-renew-deadline=2s",
            "--leader-elect-retry-period=250ms",
        ])
        .unwrap();
        assert_eq!(fast.lease_duration, Duration::from_secs(3));
        assert_eq!(fast.retry_period, Duration::from_millis(250));
        let err = lease(&["--leader-elect-renew-deadline=15s"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("must be shorter than --leader-elect-lease-duration"),
            "{err}"
        );
        let err = lease(&["--leader-elect-retry-period=0"]).unwrap_err();
        assert!(
            err.to_string().contains("--leader-elect-retry-period"),
            "{err}"
        );
    }
}
