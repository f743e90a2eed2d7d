//! A scripted test reconciler for ConfigMaps, a counting observer, and an environment running the
//! actor runtime and its routers against the in-memory API server.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use capt::actors::ActorRuntime;
use capt::actors::backoff::BackoffPolicy;
use capt::actors::cache;
use capt::actors::freshness::{Freshness, parse_rv};
use capt::actors::gate::SyncGate;
use capt::actors::observer::{Observer, Outcome};
use capt::actors::registry::Registry;
use capt::actors::router::{self, OwnersFn, Route, RouterCtx};
use capt::actors::{
    Action, ErrorCategory, ErrorClass, ObjectKey, ReconcileCtx, Reconciled, Reconciler,
};
use capt::actors::{RuntimeSettings, Trigger};
use capt_load::kubesim;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource};
use tokio::task::JoinHandle;

pub const KIND: &str = "ConfigMap";
pub const NS: &str = "default";
/// Annotation on cluster-scoped Namespaces naming the ConfigMap (`namespace/name`) they belong to.
pub const OWNER_ANNOTATION: &str = "capt.test/owner";

/// Short runtime settings so tests finish in seconds.
pub fn fast_settings() -> RuntimeSettings {
    RuntimeSettings {
        object_rate_per_sec: 50,
        object_burst: 50,
        backoff: BackoffPolicy {
            base: Duration::from_millis(20),
            max: Duration::from_millis(200),
            jitter: 0.0,
        },
        reconcile_timeout: Duration::from_millis(300),
        mailbox_capacity: 16,
        max_concurrent_reconciles: 8,
        arbiters: 2,
        freshness_max_wait: Duration::from_secs(2),
        freshness_poll: Duration::from_millis(10),
        event_settle: Duration::from_millis(5),
        idle_actor_sleep: Duration::ZERO,
    }
}

/// A scripted reconcile error.
#[derive(Debug, thiserror::Error)]
#[error("scripted error: {msg}")]
pub struct TestError {
    pub msg: String,
}

impl ErrorCategory for TestError {
    fn category(&self) -> &'static str {
        "scripted"
    }
}

/// A scripted reconcile that ends with `action`.
pub fn done(action: Action) -> Reconciled<TestError> {
    Reconciled::Done(action)
}

/// A scripted failure, retried with backoff.
pub fn transient(msg: &str) -> Reconciled<TestError> {
    Reconciled::Failed(ErrorClass::Transient, TestError { msg: msg.into() })
}

/// A scripted failure not retried until the generation changes.
pub fn terminal(msg: &str) -> Reconciled<TestError> {
    Reconciled::Failed(ErrorClass::Terminal, TestError { msg: msg.into() })
}

/// A scripted wait for a dependency (not an error), until the next event.
pub fn waiting(reason: &'static str) -> Reconciled<TestError> {
    Reconciled::Waiting {
        reason,
        action: Action::await_change(),
    }
}

/// What one scripted reconcile gets.
pub struct Call {
    pub obj: Arc<ConfigMap>,
    pub ctx: ReconcileCtx,
    /// 1-based number of this reconcile of this object.
    pub n: usize,
    pub client: Client,
}

impl Call {
    pub fn name(&self) -> &str {
        self.obj.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn data(&self, key: &str) -> Option<&str> {
        self.obj
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(String::as_str)
    }
}

pub type ReconcileFuture = Pin<Box<dyn Future<Output = Reconciled<TestError>> + Send>>;
pub type Behave = Arc<dyn Fn(Call) -> ReconcileFuture + Send + Sync>;

/// Wraps an async closure as a scripted behaviour.
pub fn behave<F, Fut>(f: F) -> Behave
where
    F: Fn(Call) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reconciled<TestError>> + Send + 'static,
{
    Arc::new(move |c| Box::pin(f(c)))
}

/// A behaviour that always succeeds and waits for the next change.
pub fn succeed() -> Behave {
    behave(|_| async { done(Action::await_change()) })
}

/// One reconcile as the reconciler saw it when it started.
#[derive(Clone, Debug)]
pub struct Seen {
    pub name: String,
    pub n: usize,
    pub trigger: Trigger,
    pub rv: u64,
    pub generation: Option<i64>,
    pub data: BTreeMap<String, String>,
    pub at: Instant,
}

/// The test reconciler: one actor per ConfigMap, behaviour scripted per test.
pub struct TestRec {
    store: Store<ConfigMap>,
    client: Client,
    behave: Behave,
    seen: Mutex<Vec<Seen>>,
    counts: Mutex<HashMap<String, usize>>,
}

impl TestRec {
    pub fn new(store: Store<ConfigMap>, client: Client, behave: Behave) -> Self {
        Self {
            store,
            client,
            behave,
            seen: Mutex::default(),
            counts: Mutex::default(),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn seen_of(&self, name: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.name == name).collect()
    }

    pub fn count(&self, name: &str) -> usize {
        self.counts.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

impl Reconciler for TestRec {
    type Object = ConfigMap;
    type Error = TestError;

    fn kind(&self) -> &'static str {
        KIND
    }

    fn get(&self, key: &ObjectKey) -> Option<Arc<ConfigMap>> {
        self.store
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
    }

    fn reconcile(
        &self,
        obj: Arc<ConfigMap>,
        ctx: ReconcileCtx,
    ) -> impl Future<Output = Reconciled<TestError>> + Send {
        let name = obj.metadata.name.clone().unwrap_or_default();
        let n = {
            let mut counts = self.counts.lock().unwrap();
            let c = counts.entry(name.clone()).or_default();
            *c += 1;
            *c
        };
        self.seen.lock().unwrap().push(Seen {
            name,
            n,
            trigger: ctx.trigger.clone(),
            rv: parse_rv(obj.metadata.resource_version.as_deref()).unwrap_or(0),
            generation: obj.metadata.generation,
            data: obj.data.clone().unwrap_or_default(),
            at: Instant::now(),
        });
        (self.behave)(Call {
            obj,
            ctx,
            n,
            client: self.client.clone(),
        })
    }
}

/// Counts what the runtime reports, and forwards to another observer if given.
#[derive(Default)]
pub struct CountingObserver {
    pub actors: AtomicI64,
    pub queued: AtomicU64,
    pub started: AtomicU64,
    pub rate_limited: AtomicU64,
    pub retried: AtomicU64,
    pub active: AtomicI64,
    pub outcomes: Mutex<Vec<Outcome>>,
    /// Class and category of each failed reconcile.
    pub failures: Mutex<Vec<(ErrorClass, &'static str)>>,
    pub next: Option<Arc<dyn Observer>>,
}

impl CountingObserver {
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.outcomes.lock().unwrap().clone()
    }

    pub fn outcome_count(&self, o: Outcome) -> usize {
        self.outcomes().into_iter().filter(|x| *x == o).count()
    }
}

impl Observer for CountingObserver {
    fn actors(&self, kind: &'static str, delta: i64) {
        self.actors.fetch_add(delta, Ordering::SeqCst);
        if let Some(n) = &self.next {
            n.actors(kind, delta);
        }
    }
    fn queued(&self, kind: &'static str) {
        self.queued.fetch_add(1, Ordering::SeqCst);
        if let Some(n) = &self.next {
            n.queued(kind);
        }
    }
    fn started(&self, kind: &'static str, trigger: &str, mailbox_wait: Duration) {
        self.started.fetch_add(1, Ordering::SeqCst);
        if let Some(n) = &self.next {
            n.started(kind, trigger, mailbox_wait);
        }
    }
    fn finished(&self, kind: &'static str, outcome: Outcome, elapsed: Duration) {
        self.outcomes.lock().unwrap().push(outcome);
        if let Some(n) = &self.next {
            n.finished(kind, outcome, elapsed);
        }
    }
    fn failed(&self, kind: &'static str, class: ErrorClass, category: &'static str) {
        self.failures.lock().unwrap().push((class, category));
        if let Some(n) = &self.next {
            n.failed(kind, class, category);
        }
    }
    fn rate_limited(&self, kind: &'static str) {
        self.rate_limited.fetch_add(1, Ordering::SeqCst);
        if let Some(n) = &self.next {
            n.rate_limited(kind);
        }
    }
    fn retried(&self, kind: &'static str) {
        self.retried.fetch_add(1, Ordering::SeqCst);
        if let Some(n) = &self.next {
            n.retried(kind);
        }
    }
    fn active(&self, kind: &'static str, delta: i64) {
        self.active.fetch_add(delta, Ordering::SeqCst);
        if let Some(n) = &self.next {
            n.active(kind, delta);
        }
    }
}

/// Polls `cond` every 10 ms until it holds; panics after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The generous bound every wait in these tests uses.
pub const WAIT: Duration = Duration::from_secs(10);

/// Owners of a Secret: ConfigMaps named by its ownerReferences.
pub fn secret_owners(s: &Secret) -> Vec<ObjectKey> {
    let ns = s.metadata.namespace.as_deref().unwrap_or_default();
    s.metadata
        .owner_references
        .iter()
        .flatten()
        .filter(|r| r.kind == KIND)
        .map(|r| ObjectKey::new(KIND, ns, &r.name))
        .collect()
}

/// Owner of a cluster-scoped Namespace: the ConfigMap its annotation names.
pub fn namespace_owners(n: &Namespace) -> Vec<ObjectKey> {
    n.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(OWNER_ANNOTATION))
        .and_then(|v| v.split_once('/'))
        .map(|(ns, name)| vec![ObjectKey::new(KIND, ns, name)])
        .unwrap_or_default()
}

/// The kinds whose routers [`Env`] runs.
pub const KINDS: [&str; 3] = [KIND, "Secret", "Namespace"];

/// The in-memory API server, the runtime with the test reconciler, and routers for ConfigMaps
/// (own actors), Secrets (owners by ownerReference) and Namespaces (owner by annotation).
pub struct Env {
    pub sim: kubesim::Handle,
    pub client: Client,
    pub cms: Api<ConfigMap>,
    pub rec: Arc<TestRec>,
    pub reg: Arc<Registry<TestRec>>,
    pub runtime: Option<ActorRuntime>,
    pub observer: Arc<CountingObserver>,
    pub freshness: Freshness,
    pub gate: SyncGate,
    pub routers: Vec<JoinHandle<()>>,
}

/// The pieces of an [`Env`] before its routers run.
pub struct Parts {
    pub sim: kubesim::Handle,
    pub client: Client,
    pub rec: Arc<TestRec>,
    pub reg: Arc<Registry<TestRec>>,
    pub runtime: ActorRuntime,
    pub observer: Arc<CountingObserver>,
    pub cm_store: Store<ConfigMap>,
    pub cm_stream: cache::EventStream<ConfigMap>,
    pub secret_stream: cache::EventStream<Secret>,
    pub ns_stream: cache::EventStream<Namespace>,
}

impl Parts {
    /// Starts the server, the caches (not yet polled) and the runtime with the test reconciler.
    pub async fn new(
        settings: RuntimeSettings,
        behave: Behave,
        next: Option<Arc<dyn Observer>>,
    ) -> Self {
        let sim = kubesim::start(kubesim::Config::default())
            .await
            .expect("kubesim starts");
        let client = sim.client();
        let wc = cache::config(true);
        let (cm_store, cm_stream) =
            cache::watch(Api::<ConfigMap>::namespaced(client.clone(), NS), wc.clone());
        let (_, secret_stream) =
            cache::watch(Api::<Secret>::namespaced(client.clone(), NS), wc.clone());
        let (_, ns_stream) = cache::watch(Api::<Namespace>::all(client.clone()), wc);
        let rec = Arc::new(TestRec::new(cm_store.clone(), client.clone(), behave));
        let observer = Arc::new(CountingObserver {
            next,
            ..Default::default()
        });
        let mut runtime = ActorRuntime::new(settings, Freshness::default(), observer.clone());
        let reg = runtime.register(rec.clone());
        Self {
            sim,
            client,
            rec,
            reg,
            runtime,
            observer,
            cm_store,
            cm_stream,
            secret_stream,
            ns_stream,
        }
    }

    pub fn router_ctx(&self, gate: &SyncGate) -> RouterCtx {
        RouterCtx {
            dispatcher: self.runtime.dispatcher(),
            freshness: self.runtime.freshness().clone(),
            gate: gate.clone(),
        }
    }
}

impl Env {
    /// An environment with the counting observer only; returns once the caches synced.
    pub async fn start(settings: RuntimeSettings, behave: Behave) -> Self {
        Self::start_with(settings, behave, None).await
    }

    /// Like [`Env::start`], forwarding runtime reports to `next` as well.
    pub async fn start_with(
        settings: RuntimeSettings,
        behave: Behave,
        next: Option<Arc<dyn Observer>>,
    ) -> Self {
        let p = Parts::new(settings, behave, next).await;
        let gate = SyncGate::new(KINDS);
        let rctx = p.router_ctx(&gate);
        let secret_owners: OwnersFn<Secret> = Arc::new(secret_owners);
        let namespace_owners: OwnersFn<Namespace> = Arc::new(namespace_owners);
        let routers = vec![
            tokio::spawn(router::run(
                KIND,
                p.cm_stream,
                Route::Own(p.cm_store),
                rctx.clone(),
            )),
            tokio::spawn(router::run(
                "Secret",
                p.secret_stream,
                Route::Owners(secret_owners),
                rctx.clone(),
            )),
            tokio::spawn(router::run(
                "Namespace",
                p.ns_stream,
                Route::Owners(namespace_owners),
                rctx,
            )),
        ];
        tokio::time::timeout(WAIT, gate.wait())
            .await
            .expect("caches sync");
        Self {
            cms: Api::namespaced(p.client.clone(), NS),
            freshness: p.runtime.freshness().clone(),
            sim: p.sim,
            client: p.client,
            rec: p.rec,
            reg: p.reg,
            runtime: Some(p.runtime),
            observer: p.observer,
            gate,
            routers,
        }
    }

    pub fn runtime(&self) -> &ActorRuntime {
        self.runtime.as_ref().expect("runtime not shut down")
    }

    /// Creates ConfigMap `name` with `data`.
    pub async fn create(&self, name: &str, data: &[(&str, &str)]) -> ConfigMap {
        let cm = ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                namespace: Some(NS.into()),
                ..Default::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        };
        self.cms
            .create(&PostParams::default(), &cm)
            .await
            .expect("create ConfigMap")
    }

    /// Sets one data key of ConfigMap `name` (bumps its generation).
    pub async fn set_data(&self, name: &str, key: &str, value: &str) -> ConfigMap {
        let patch = serde_json::json!({ "data": { key: value } });
        self.cms
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch ConfigMap data")
    }

    /// Sets one label of ConfigMap `name` (metadata only: the generation stays).
    pub async fn set_label(&self, name: &str, key: &str, value: &str) -> ConfigMap {
        let patch = serde_json::json!({ "metadata": { "labels": { key: value } } });
        self.cms
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch ConfigMap labels")
    }

    pub fn key(name: &str) -> ObjectKey {
        ObjectKey::new(KIND, NS, name)
    }

    /// Waits until ConfigMap `name` was reconciled at least `n` times.
    pub async fn wait_count(&self, name: &str, n: usize) {
        let rec = self.rec.clone();
        wait_until(&format!("{n} reconciles of {name}"), WAIT, || {
            rec.count(name) >= n
        })
        .await;
    }

    /// Waits until the ConfigMap cache has seen resourceVersion `rv`.
    pub async fn wait_cache(&self, rv: u64) {
        let f = self.freshness.clone();
        wait_until(&format!("cache at rv {rv}"), WAIT, || f.seen(KIND) >= rv).await;
    }

    /// Stops routers, runtime and server.
    pub async fn stop(mut self) {
        for r in &self.routers {
            r.abort();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown(Duration::from_secs(2)).await;
        }
        self.sim.shutdown().await;
    }
}

/// resourceVersion of an object as a number.
pub fn rv<K: Resource>(obj: &K) -> u64 {
    parse_rv(obj.meta().resource_version.as_deref()).unwrap_or(0)
}
