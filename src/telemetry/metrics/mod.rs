//! Prometheus metrics with controller-runtime compatible names plus capt's own.
//!
//! Counters are registered without their `_total` suffix: prometheus-client appends it, so the
//! exposed names are exactly `controller_runtime_reconcile_total`, `capt_events_total`, ….

mod event_drops;
mod labels;
mod sharding;
mod tokens;
mod triggers;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use labels::{
    ApiRequestLabels, ControllerLabels, EventLabels, KindLabels, QueueLabels, RateLimitScope,
    ReconcileErrorLabels, ReconcileLabels, ReconcileResult, ScopeLabels, SecretSyncLabels,
};

/// Content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// controller-runtime's `controller_runtime_reconcile_time_seconds` buckets.
const RECONCILE_BUCKETS: [f64; 40] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
    1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0,
    25.0, 30.0, 40.0, 50.0, 60.0,
];

fn reconcile_histogram() -> Histogram {
    Histogram::new(RECONCILE_BUCKETS)
}

/// client-go's work queue buckets: 1e-8 s … 10 s, ×10.
fn queue_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1e-8, 10.0, 10))
}

/// 10 µs … ~40 s, ×4.
fn mailbox_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1e-5, 4.0, 12))
}

/// 1 ms … ~4 min, ×3.
fn secret_sync_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 3.0, 12))
}

struct Families {
    reconcile_total: Family<ReconcileLabels, Counter>,
    reconcile_errors: Family<ControllerLabels, Counter>,
    reconcile_errors_by_category: Family<ReconcileErrorLabels, Counter>,
    reconcile_time: HistogramFamily<ControllerLabels>,
    active_workers: Family<ControllerLabels, Gauge>,
    max_concurrent_reconciles: Family<ControllerLabels, Gauge>,
    workqueue_depth: Family<QueueLabels, Gauge>,
    workqueue_adds: Family<QueueLabels, Counter>,
    workqueue_queue_duration: HistogramFamily<QueueLabels>,
    workqueue_retries: Family<QueueLabels, Counter>,
    actors: Family<KindLabels, Gauge>,
    mailbox_wait: HistogramFamily<KindLabels>,
    api_requests: Family<ApiRequestLabels, Counter>,
    rate_limited: Family<ScopeLabels, Counter>,
    reconcile_panics: Family<KindLabels, Counter>,
    status_writes: Family<KindLabels, Counter>,
    status_writes_skipped: Family<KindLabels, Counter>,
    events: Family<EventLabels, Counter>,
    secret_sync: Family<SecretSyncLabels, Counter>,
    secret_sync_duration: Histogram,
    leader: Gauge,
    leader_changes: Counter,
    template_rollout_queued: Counter,
    template_rollout_woken: Counter,
    template_rollout_pending: Gauge,
    resync_wakeups: Family<KindLabels, Counter>,
    tokens: tokens::TokenMetrics,
    triggers: triggers::TriggerMetrics,
    event_drops: event_drops::EventDropMetrics,
    sharding: sharding::ShardingMetrics,
}

impl Families {
    fn new() -> Self {
        Self {
            reconcile_total: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_errors_by_category: Family::default(),
            reconcile_time: Family::new_with_constructor(reconcile_histogram),
            active_workers: Family::default(),
            max_concurrent_reconciles: Family::default(),
            workqueue_depth: Family::default(),
            workqueue_adds: Family::default(),
            workqueue_queue_duration: Family::new_with_constructor(queue_histogram),
            workqueue_retries: Family::default(),
            actors: Family::default(),
            mailbox_wait: Family::new_with_constructor(mailbox_histogram),
            api_requests: Family::default(),
            rate_limited: Family::default(),
            reconcile_panics: Family::default(),
            status_writes: Family::default(),
            status_writes_skipped: Family::default(),
            events: Family::default(),
            secret_sync: Family::default(),
            secret_sync_duration: secret_sync_histogram(),
            leader: Gauge::default(),
            leader_changes: Counter::default(),
            template_rollout_queued: Counter::default(),
            template_rollout_woken: Counter::default(),
            template_rollout_pending: Gauge::default(),
            resync_wakeups: Family::default(),
            tokens: tokens::TokenMetrics::new(),
            triggers: triggers::TriggerMetrics::default(),
            event_drops: event_drops::EventDropMetrics::default(),
            sharding: sharding::ShardingMetrics::default(),
        }
    }

    fn register(&self, r: &mut Registry) {
        self.tokens.register(r);
        self.triggers.register(r);
        self.event_drops.register(r);
        self.sharding.register(r);
        self.register_controller_runtime(r);
        self.register_runtime(r);
        self.register_lifecycle(r);
    }

    /// controller-runtime's names, so dashboards built for kubebuilder controllers work.
    fn register_controller_runtime(&self, r: &mut Registry) {
        r.register(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller",
            self.reconcile_total.clone(),
        );
        r.register(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            self.reconcile_errors.clone(),
        );
        r.register(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            self.reconcile_time.clone(),
        );
        r.register(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            self.active_workers.clone(),
        );
        r.register(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            self.max_concurrent_reconciles.clone(),
        );
        r.register(
            "workqueue_depth",
            "Current depth of workqueue",
            self.workqueue_depth.clone(),
        );
        r.register(
            "workqueue_adds",
            "Total number of adds handled by workqueue",
            self.workqueue_adds.clone(),
        );
        r.register(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested",
            self.workqueue_queue_duration.clone(),
        );
        r.register(
            "workqueue_retries",
            "Total number of retries handled by workqueue",
            self.workqueue_retries.clone(),
        );
    }

    /// The actor runtime and the API client.
    fn register_runtime(&self, r: &mut Registry) {
        r.register(
            "capt_reconcile_errors",
            "Reconcile errors by class and category (timeouts and panics are counted elsewhere)",
            self.reconcile_errors_by_category.clone(),
        );
        r.register(
            "capt_actors",
            "Live object actors per kind",
            self.actors.clone(),
        );
        r.register(
            "capt_mailbox_wait_seconds",
            "Time a message waited in an actor mailbox before being handled",
            self.mailbox_wait.clone(),
        );
        r.register(
            "capt_api_requests",
            "Kubernetes API requests by verb, resource and HTTP status code",
            self.api_requests.clone(),
        );
        r.register(
            "capt_rate_limited",
            "Requests delayed by a rate limiter, by limiter scope",
            self.rate_limited.clone(),
        );
        r.register(
            "capt_reconcile_panics",
            "Reconciles that panicked (the actor restarted)",
            self.reconcile_panics.clone(),
        );
        r.register(
            "capt_status_writes",
            "Status writes sent to the API server",
            self.status_writes.clone(),
        );
        r.register(
            "capt_status_writes_skipped",
            "Status writes skipped because nothing but timestamps changed",
            self.status_writes_skipped.clone(),
        );
        r.register(
            "capt_events",
            "Kubernetes Events emitted",
            self.events.clone(),
        );
        r.register(
            "capt_resync_wakeups",
            "Objects woken by the periodic resync pass (paced by --resync-rate)",
            self.resync_wakeups.clone(),
        );
    }

    /// Secrets, leadership and template rollouts.
    fn register_lifecycle(&self, r: &mut Registry) {
        r.register(
            "capt_secret_sync",
            "Secret sync outcomes by result and reason",
            self.secret_sync.clone(),
        );
        r.register(
            "capt_secret_sync_duration_seconds",
            "Duration of one secret sync",
            self.secret_sync_duration.clone(),
        );
        r.register(
            "capt_leader",
            "1 when this replica holds the leader lease",
            self.leader.clone(),
        );
        r.register(
            "capt_leader_changes",
            "Leadership transitions observed by this replica",
            self.leader_changes.clone(),
        );
        r.register(
            "capt_template_rollout_queued",
            "Applies queued for re-rendering because their WorkspaceTemplate changed",
            self.template_rollout_queued.clone(),
        );
        r.register(
            "capt_template_rollout_woken",
            "Applies woken by a WorkspaceTemplate rollout (paced by --template-rollout-rate)",
            self.template_rollout_woken.clone(),
        );
        r.register(
            "capt_template_rollout_pending",
            "Applies waiting in the WorkspaceTemplate rollout queue",
            self.template_rollout_pending.clone(),
        );
    }
}

struct Inner {
    registry: RwLock<Registry>,
    families: Families,
}

/// The process's metrics. Cheap to clone; all clones share one registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn controller(name: &str) -> ControllerLabels {
    ControllerLabels {
        controller: name.to_owned(),
    }
}

fn queue(name: &str) -> QueueLabels {
    QueueLabels {
        name: name.to_owned(),
    }
}

fn kind(name: &str) -> KindLabels {
    KindLabels {
        kind: name.to_owned(),
    }
}

impl Metrics {
    /// A fresh registry with every capt family registered.
    pub fn new() -> Self {
        let families = Families::new();
        let mut registry = Registry::default();
        families.register(&mut registry);
        Self {
            inner: Arc::new(Inner {
                registry: RwLock::new(registry),
                families,
            }),
        }
    }

    /// Registers additional metrics in the shared registry.
    pub fn register_extra(&self, f: impl FnOnce(&mut Registry)) {
        let mut registry = self
            .inner
            .registry
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut registry);
    }

    /// OpenMetrics text exposition of every registered metric (see [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let registry = self
            .inner
            .registry
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut out = String::with_capacity(16 * 1024);
        encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }

    fn f(&self) -> &Families {
        &self.inner.families
    }

    /// One reconcile finished: counts it by result (and as an error when it failed) and records
    /// its duration.
    pub fn reconcile_done(&self, controller_name: &str, result: ReconcileResult, took: Duration) {
        let f = self.f();
        f.reconcile_total
            .get_or_create(&ReconcileLabels {
                controller: controller_name.to_owned(),
                result,
            })
            .inc();
        let labels = controller(controller_name);
        if result == ReconcileResult::Error {
            f.reconcile_errors.get_or_create(&labels).inc();
        }
        f.reconcile_time
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// A reconcile failed with an error of `class` and `category`.
    pub fn reconcile_error(&self, controller_name: &str, class: &str, category: &str) {
        self.f()
            .reconcile_errors_by_category
            .get_or_create(&ReconcileErrorLabels {
                controller: controller_name.to_owned(),
                class: class.to_owned(),
                category: category.to_owned(),
            })
            .inc();
    }

    /// A reconcile started (active workers +1).
    pub fn worker_started(&self, controller_name: &str) {
        self.f()
            .active_workers
            .get_or_create(&controller(controller_name))
            .inc();
    }

    /// A reconcile ended (active workers -1).
    pub fn worker_finished(&self, controller_name: &str) {
        self.f()
            .active_workers
            .get_or_create(&controller(controller_name))
            .dec();
    }

    /// Declares the controller of `kind_name` (e.g. `CAPTCluster`; the controller and queue
    /// label is its lowercase name, as in controller-runtime): sets
    /// `controller_runtime_max_concurrent_reconciles` and creates every per-controller series at
    /// 0, so dashboards and alerts work on a controller that has not reconciled yet.
    pub fn register_controller(&self, kind_name: &str, max: i64) {
        let f = self.f();
        let name = kind_name.to_ascii_lowercase();
        let c = controller(&name);
        let q = queue(&name);
        let k = kind(kind_name);
        f.max_concurrent_reconciles.get_or_create(&c).set(max);
        for result in ReconcileResult::ALL {
            let _ = f.reconcile_total.get_or_create(&ReconcileLabels {
                controller: name.clone(),
                result,
            });
        }
        let _ = f.reconcile_errors.get_or_create(&c);
        let _ = f.reconcile_time.get_or_create(&c);
        let _ = f.active_workers.get_or_create(&c);
        let _ = f.workqueue_depth.get_or_create(&q);
        let _ = f.workqueue_adds.get_or_create(&q);
        let _ = f.workqueue_queue_duration.get_or_create(&q);
        let _ = f.workqueue_retries.get_or_create(&q);
        let _ = f.actors.get_or_create(&k);
        let _ = f.mailbox_wait.get_or_create(&k);
        let _ = f.reconcile_panics.get_or_create(&k);
        let _ = f.status_writes.get_or_create(&k);
        let _ = f.status_writes_skipped.get_or_create(&k);
        let _ = f.resync_wakeups.get_or_create(&k);
    }

    /// Sets the number of objects waiting to be reconciled.
    pub fn set_workqueue_depth(&self, name: &str, depth: i64) {
        self.f()
            .workqueue_depth
            .get_or_create(&queue(name))
            .set(depth);
    }

    /// An object was marked dirty (queued).
    pub fn workqueue_add(&self, name: &str) {
        self.f().workqueue_adds.get_or_create(&queue(name)).inc();
    }

    /// How long an object waited between being queued and its reconcile starting.
    pub fn workqueue_queue_duration(&self, name: &str, waited: Duration) {
        self.f()
            .workqueue_queue_duration
            .get_or_create(&queue(name))
            .observe(waited.as_secs_f64());
    }

    /// An object was queued again after a failure.
    pub fn workqueue_retry(&self, name: &str) {
        self.f().workqueue_retries.get_or_create(&queue(name)).inc();
    }

    /// An actor of `kind` started.
    pub fn actor_started(&self, kind_name: &str) {
        self.f().actors.get_or_create(&kind(kind_name)).inc();
    }

    /// An actor of `kind` stopped.
    pub fn actor_stopped(&self, kind_name: &str) {
        self.f().actors.get_or_create(&kind(kind_name)).dec();
    }

    /// The resync pass woke an object of `kind`.
    pub fn resync_wakeup(&self, kind_name: &str) {
        self.f()
            .resync_wakeups
            .get_or_create(&kind(kind_name))
            .inc();
    }

    /// Sets the number of live actors of `kind`.
    pub fn set_actors(&self, kind_name: &str, count: i64) {
        self.f().actors.get_or_create(&kind(kind_name)).set(count);
    }

    /// Time a message waited in a `kind` actor's mailbox.
    pub fn mailbox_wait(&self, kind_name: &str, waited: Duration) {
        self.f()
            .mailbox_wait
            .get_or_create(&kind(kind_name))
            .observe(waited.as_secs_f64());
    }

    /// One API request finished with HTTP status `code` (0 when there was no response).
    pub fn api_request(&self, verb: &str, resource: &str, code: u16) {
        self.f()
            .api_requests
            .get_or_create(&ApiRequestLabels {
                verb: verb.to_owned(),
                resource: resource.to_owned(),
                code: code.to_string(),
            })
            .inc();
    }

    /// A limiter delayed a request.
    pub fn rate_limited(&self, scope: RateLimitScope) {
        self.f()
            .rate_limited
            .get_or_create(&ScopeLabels { scope })
            .inc();
    }

    /// A reconcile of `kind` panicked.
    pub fn reconcile_panic(&self, kind_name: &str) {
        self.f()
            .reconcile_panics
            .get_or_create(&kind(kind_name))
            .inc();
    }

    /// A status write of `kind` was sent.
    pub fn status_write(&self, kind_name: &str) {
        self.f().status_writes.get_or_create(&kind(kind_name)).inc();
    }

    /// A status write of `kind` was skipped (no change).
    pub fn status_write_skipped(&self, kind_name: &str) {
        self.f()
            .status_writes_skipped
            .get_or_create(&kind(kind_name))
            .inc();
    }

    /// An Event was emitted for an object of `kind`.
    pub fn event(&self, kind_name: &str, event_type: &str, reason: &str) {
        self.f()
            .events
            .get_or_create(&EventLabels {
                kind: kind_name.to_owned(),
                r#type: event_type.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// A secret sync ended with `result`/`reason` after `took`.
    pub fn secret_sync(&self, result: &str, reason: &str, took: Duration) {
        let f = self.f();
        f.secret_sync
            .get_or_create(&SecretSyncLabels {
                result: result.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
        f.secret_sync_duration.observe(took.as_secs_f64());
    }

    /// `n` applies were queued by a template change.
    pub fn template_rollout_queued(&self, n: u64) {
        let f = self.f();
        f.template_rollout_queued.inc_by(n);
        f.template_rollout_pending.inc_by(n as i64);
    }

    /// One apply left the rollout queue and was woken.
    pub fn template_rollout_woken(&self) {
        let f = self.f();
        f.template_rollout_woken.inc();
        f.template_rollout_pending.dec();
    }

    /// Records whether this replica leads; counts a change when the value flips.
    pub fn set_leader(&self, leading: bool) {
        let f = self.f();
        let previous = f.leader.set(i64::from(leading));
        if previous != i64::from(leading) {
            f.leader_changes.inc();
        }
    }

    /// Whether this replica is recorded as leader.
    pub fn is_leader(&self) -> bool {
        self.f().leader.get() == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_expose_total_suffix_once() {
        let m = Metrics::new();
        m.reconcile_done(
            "captcluster",
            ReconcileResult::Error,
            Duration::from_millis(5),
        );
        m.event("CAPTCluster", "Warning", "Failed");
        let text = m.encode();
        assert!(text.contains(
            "controller_runtime_reconcile_total{controller=\"captcluster\",result=\"error\"} 1"
        ));
        assert!(
            text.contains(
                "controller_runtime_reconcile_errors_total{controller=\"captcluster\"} 1"
            )
        );
        assert!(text.contains(
            "capt_events_total{kind=\"CAPTCluster\",type=\"Warning\",reason=\"Failed\"} 1"
        ));
        assert!(!text.contains("_total_total"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn leader_changes_count_flips_only() {
        let m = Metrics::new();
        m.set_leader(false);
        m.set_leader(true);
        m.set_leader(true);
        m.set_leader(false);
        assert!(m.encode().contains("capt_leader_changes_total 2"));
        assert!(!m.is_leader());
    }
}
