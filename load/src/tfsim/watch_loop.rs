//! The loop both simulators run: watch one kind into a reflector store, enqueue the key of every touched
//! object, and reconcile keys on a [`queue`](super::queue) until either side ends.

use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use chrono::SecondsFormat;
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::store::Writer;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc::UnboundedReceiver;

use super::queue::{self, QueueConfig, QueueHandle};

/// Whether `err` is an API error with HTTP status `code`.
pub(crate) fn is_status(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == code)
}

/// The current time as the RFC 3339 timestamp (whole seconds, `Z`) Kubernetes writes.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What one controller watches and how it reconciles.
pub(crate) struct WatchLoop<K, M, Q, F> {
    /// Names the watched kind in log lines and errors ("cluster", "workspace").
    pub label: &'static str,
    pub api: Api<DynamicObject>,
    pub writer: Writer<DynamicObject>,
    /// Trims each object before it is stored.
    pub modify: M,
    /// The queue key of a touched object, if it has one.
    pub key_of: Q,
    pub queue: (QueueHandle<K>, UnboundedReceiver<K>),
    /// Maximum number of reconciles running at once (at least one).
    pub concurrency: usize,
    pub reconcile: F,
}

impl<K, M, Q, F, Fut, E> WatchLoop<K, M, Q, F>
where
    K: Hash + Eq + Clone + Display + Send + 'static,
    M: FnMut(&mut DynamicObject) + Send + 'static,
    Q: Fn(DynamicObject) -> Option<K>,
    F: Fn(K) -> Fut,
    Fut: Future<Output = Result<Option<Duration>, E>> + Send + 'static,
    E: Display + Send + 'static,
{
    /// Runs until the watch or the work queue ends, which is returned as an error.
    pub(crate) async fn run(self) -> anyhow::Result<()> {
        let WatchLoop {
            label,
            api,
            writer,
            modify,
            key_of,
            queue: (handle, rx),
            concurrency,
            reconcile,
        } = self;
        let qcfg = QueueConfig {
            concurrency: concurrency.max(1),
            ..QueueConfig::default()
        };
        let watch = async move {
            let stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .modify(modify)
                .reflect(writer)
                .touched_objects();
            futures::pin_mut!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(obj) => {
                        if let Some(key) = key_of(obj) {
                            handle.enqueue(key);
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "{label} watch error"),
                }
            }
        };
        let work = queue::run(rx, qcfg, reconcile);
        tokio::select! {
            _ = watch => anyhow::bail!("{label} watch ended"),
            _ = work => anyhow::bail!("work queue ended"),
        }
    }
}
