//! kubesim: an in-memory Kubernetes API server for tests, demos and load runs.
//!
//! Serves discovery, built-in kinds (namespaces, secrets, configmaps, events, leases, service
//! accounts, CRDs, token/subject access reviews) and any kind registered by a
//! CustomResourceDefinition, with list/watch resourceVersion semantics, selectors, status and
//! scale subresources, finalizers, ownerReference garbage collection, patches, server-side
//! printing, fault injection and request counters. See `load/README.md`.

#![allow(clippy::result_large_err, clippy::collapsible_if)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod bench;
mod codec;
mod discovery;
mod faults;
mod gc;
mod handlers;
mod metrics;
mod negotiate;
mod ops;
mod patch;
mod proto;
mod resources;
mod schema;
mod selectors;
mod status;
mod store;
mod table;
mod watch;

pub use bench::{BenchReport, bench};
pub use faults::{FaultKind, FaultPlan, FaultRule, Faults};
pub use metrics::Counters;
pub use watch::WATCH_BUFFER;

use resources::{ResKey, Special};
use store::{ObjRef, Store};

/// Server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Watch events kept for resuming watches; older resourceVersions get 410 Gone.
    pub history: usize,
    /// Period of BOOKMARK events for watches with `allowWatchBookmarks=true`.
    pub bookmark_interval: Duration,
    /// Faults active from the start.
    pub faults: FaultPlan,
    /// Seed for uids, generated names and fault rates.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            history: 100_000,
            bookmark_interval: Duration::from_secs(1),
            faults: FaultPlan::default(),
            seed: 0,
        }
    }
}

pub(crate) struct App {
    pub store: Store,
    pub faults: Faults,
    pub metrics: metrics::Metrics,
    pub addr: String,
    /// Set during an outage: requests still arriving on open connections get 503 and the
    /// connection is closed.
    pub down: AtomicBool,
    /// Requests refused that way.
    pub refused: AtomicU64,
}

struct Tasks {
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    ticker: Option<JoinHandle<()>>,
}

/// A running kubesim server.
#[derive(Clone)]
pub struct Handle {
    app: Arc<App>,
    port: u16,
    tasks: Arc<Mutex<Tasks>>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").field("url", &self.url()).finish()
    }
}

/// Starts a server on 127.0.0.1 (plain HTTP).
pub async fn start(config: Config) -> anyhow::Result<Handle> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let port = listener.local_addr()?.port();
    let store = Store::new(config.history, config.seed);
    {
        let mut g = store.lock();
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let def = g
                .def(&ResKey::new("", "namespaces"))
                .ok_or_else(|| anyhow::anyhow!("namespaces not registered"))?;
            let body = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            g.create(&def, "v1", "", body, false)
                .map_err(|e| anyhow::anyhow!(e.message))?;
        }
    }
    let app = Arc::new(App {
        store,
        faults: Faults::new(config.faults.clone(), config.seed),
        metrics: metrics::Metrics::default(),
        addr: format!("127.0.0.1:{port}"),
        down: AtomicBool::new(false),
        refused: AtomicU64::new(0),
    });
    let (stop_tx, server) = serve(listener, app.clone());
    let ticker_app = app.clone();
    let interval = config.bookmark_interval.max(Duration::from_millis(10));
    let ticker = tokio::spawn(async move {
        let mut t = tokio::time::interval(interval);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t.tick().await;
        loop {
            t.tick().await;
            ticker_app.store.lock().send_bookmarks();
        }
    });
    Ok(Handle {
        app,
        port,
        tasks: Arc::new(Mutex::new(Tasks {
            stop: Some(stop_tx),
            server: Some(server),
            ticker: Some(ticker),
        })),
    })
}

/// Serves `app` on `listener` until the returned sender fires (then stops accepting; open
/// connections finish their request and close).
fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let router = axum::Router::new()
        .fallback(handlers::handle)
        .with_state(app);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let r = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "kubesim server stopped");
        }
    });
    (stop_tx, server)
}

impl Handle {
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port served on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A kubeconfig for this server (context `kubesim`, namespace `default`, token `kubesim`).
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kubesim\n  cluster:\n    server: {}\ncontexts:\n- name: kubesim\n  context:\n    cluster: kubesim\n    user: kubesim\n    namespace: default\ncurrent-context: kubesim\nusers:\n- name: kubesim\n  user:\n    token: kubesim\npreferences: {{}}\n",
            self.url()
        )
    }

    /// A kube client configuration for this server (kube-rs retries 429/503/504 by default;
    /// set `default_retry = false` to see those faults directly).
    pub fn client_config(&self) -> kube::Config {
        let uri: axum::http::Uri = self
            .url()
            .parse()
            .unwrap_or_else(|_| axum::http::Uri::from_static("http://127.0.0.1"));
        let mut config = kube::Config::new(uri);
        config.default_namespace = "default".to_string();
        config.read_timeout = Some(Duration::from_secs(330));
        config
    }

    /// A kube client for this server. Must be called inside a tokio runtime.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.client_config())
            .expect("a plain-http kube client always builds")
    }

    /// Installs (creates or replaces) every CustomResourceDefinition in a multi-document YAML.
    /// Other documents are ignored. The kinds are served when this returns.
    pub fn install_crds_yaml(&self, yaml: &str) -> anyhow::Result<()> {
        for doc in serde_yaml::Deserializer::from_str(yaml) {
            let v: serde_json::Value = serde::Deserialize::deserialize(doc)?;
            if v.get("kind").and_then(|k| k.as_str()) != Some("CustomResourceDefinition") {
                continue;
            }
            self.install_crd(v)?;
        }
        Ok(())
    }

    fn install_crd(&self, mut v: serde_json::Value) -> anyhow::Result<()> {
        let mut g = self.app.store.lock();
        let def = g
            .def(&ResKey::new(
                "apiextensions.k8s.io",
                "customresourcedefinitions",
            ))
            .ok_or_else(|| anyhow::anyhow!("CRDs not served"))?;
        let name = v
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string();
        let r = ObjRef {
            res: def.key.clone(),
            ns: String::new(),
            name: name.clone(),
        };
        let res = if g.get(&r).is_some() {
            if let Some(m) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                m.remove("resourceVersion");
            }
            g.update(&def, "v1", "", &name, v, ops::Sub::Main, false)
        } else {
            g.create(&def, "v1", "", v, false)
        };
        res.map(|_| ())
            .map_err(|e| anyhow::anyhow!("CRD {name}: {}", e.message))
    }

    /// Installs CRDs from a YAML file, or from every `.yaml`/`.yml` file of a directory.
    pub fn install_crds_path(&self, path: &Path) -> anyhow::Result<()> {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| e == "yaml" || e == "yml")
                })
                .collect();
            files.sort();
            for f in files {
                self.install_crds_path(&f)?;
            }
            Ok(())
        } else {
            let text = std::fs::read_to_string(path)?;
            self.install_crds_yaml(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
    }

    /// Request counters so far.
    pub fn counters(&self) -> Counters {
        self.app.metrics.snapshot()
    }

    /// The runtime fault plan.
    pub fn faults(&self) -> Faults {
        self.app.faults.clone()
    }

    /// Objects stored (all kinds, including namespaces and CRDs).
    pub fn object_count(&self) -> usize {
        self.app.store.lock().count
    }

    /// The newest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.app.store.lock().rv
    }

    /// Open watch streams.
    pub fn watcher_count(&self) -> usize {
        self.app.store.lock().watcher_count()
    }

    /// Drops the whole watch history: every watch resuming from an older resourceVersion
    /// gets 410 Gone, as after an etcd compaction.
    pub fn compact_history(&self) {
        let mut g = self.app.store.lock();
        g.history.clear();
        g.compacted = g.rv;
    }

    /// Closes every open watch stream (clients re-watch from their last resourceVersion).
    pub fn close_watches(&self) {
        self.app.store.lock().watchers.clear();
    }

    /// An API server restart: stops listening (new connections are refused), closes every watch
    /// and open connection (requests racing the close get 503 `ServiceUnavailable` with
    /// `Connection: close`), compacts the history (resumed watches get 410 Gone) and serves
    /// again on the same port after `down`. Returns the number of requests refused with 503.
    pub async fn outage(&self, down: Duration) -> anyhow::Result<u64> {
        let refused0 = self.app.refused.load(Ordering::Relaxed);
        self.app.down.store(true, Ordering::SeqCst);
        let (stop, old) = {
            let mut t = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
            (t.stop.take(), t.server.take())
        };
        if let Some(s) = stop {
            let _ = s.send(());
        }
        self.close_watches();
        self.compact_history();
        tokio::time::sleep(down).await;
        if let Some(old) = old {
            // Connections still draining belong to the old server; it is not waited for.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                old.abort();
            });
        }
        let listener = self.rebind().await?;
        self.app.down.store(false, Ordering::SeqCst);
        let (stop, server) = serve(listener, self.app.clone());
        let mut t = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        t.stop = Some(stop);
        t.server = Some(server);
        Ok(self.app.refused.load(Ordering::Relaxed) - refused0)
    }

    async fn rebind(&self) -> anyhow::Result<tokio::net::TcpListener> {
        let mut last = None;
        for _ in 0..50 {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => return Ok(l),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(anyhow::anyhow!(
            "port {} could not be bound again: {}",
            self.port,
            last.map_or_else(String::new, |e| e.to_string())
        ))
    }

    /// Whether TokenReview/SubjectAccessReview answers allow (default) or deny.
    pub fn set_reviews_allowed(&self, allowed: bool) {
        self.app.store.lock().allow_reviews = allowed;
    }

    /// Whether a resource (by group and plural) is currently served.
    pub fn serves(&self, group: &str, plural: &str) -> bool {
        self.app
            .store
            .lock()
            .def(&ResKey::new(group, plural))
            .is_some()
    }

    /// Number of custom resource kinds served.
    pub fn custom_kinds(&self) -> usize {
        self.app
            .store
            .lock()
            .defs
            .values()
            .filter(|d| d.custom && d.special == Special::None)
            .count()
    }

    /// Stops serving: closes watches, stops accepting, waits briefly for open requests.
    pub async fn shutdown(self) {
        self.close_watches();
        let (stop, server, ticker) = {
            let mut t = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
            (t.stop.take(), t.server.take(), t.ticker.take())
        };
        if let Some(t) = ticker {
            t.abort();
        }
        if let Some(s) = stop {
            let _ = s.send(());
        }
        if let Some(mut srv) = server {
            if tokio::time::timeout(Duration::from_secs(2), &mut srv)
                .await
                .is_err()
            {
                srv.abort();
            }
        }
    }
}

/// Command-line arguments of `capt-load apiserver`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 6443)]
    pub port: u16,
    /// Write a kubeconfig for the server to this file.
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
    /// CRD YAML file or directory of YAML files to install at start (repeatable).
    #[arg(long = "crds")]
    pub crds: Vec<PathBuf>,
    /// Fault rule, e.g. 'verb=update,resource=captclusters,code=409,count=3' (repeatable).
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    /// Seed for uids, generated names and fault rates.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Watch history length (events).
    #[arg(long, default_value_t = 100_000)]
    pub history: usize,
}

/// Runs `capt-load apiserver` until interrupted.
pub async fn run_cli(args: Args) -> anyhow::Result<()> {
    let config = Config {
        port: args.port,
        history: args.history,
        faults: FaultPlan::parse(&args.faults)?,
        seed: args.seed,
        ..Config::default()
    };
    let h = start(config).await?;
    for p in &args.crds {
        h.install_crds_path(p)?;
    }
    if let Some(out) = &args.kubeconfig_out {
        std::fs::write(out, h.kubeconfig_yaml())?;
    }
    tracing::info!(url = %h.url(), "kubesim serving");
    println!("{}", h.url());
    tokio::signal::ctrl_c().await?;
    h.shutdown().await;
    Ok(())
}
