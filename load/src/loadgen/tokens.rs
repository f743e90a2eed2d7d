//! The token refresh phase of a load run: after convergence, count the writes of `<cluster>-kubeconfig` secrets
//! over a window (each one is a re-signed EKS token) and how many kubeconfigs the Cluster API simulator found
//! expired over the whole run.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::watcher::{self, Event};
use serde::{Deserialize, Serialize};

use crate::capisim::{KUBECONFIG_SUFFIX, expired_kubeconfig_reads};

/// What the token refresh phase measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenRefresh {
    /// `--token-refresh-interval` given to the controller.
    pub interval: String,
    pub window_secs: f64,
    /// Writes of kubeconfig secrets during the window.
    pub kubeconfig_writes: u64,
    pub writes_per_sec: f64,
    /// Kubeconfig secrets written at least once during the window.
    pub clusters_refreshed: usize,
    /// Kubeconfig reads of the Cluster API simulator that found an expired token, over the whole run
    /// (in-process simulator only).
    pub expired_reads: u64,
}

/// Count kubeconfig writes for `window`.
pub async fn measure(client: &kube::Client, interval: &str, window: Duration) -> TokenRefresh {
    let api: Api<PartialObjectMeta<Secret>> = Api::all(client.clone());
    let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
    let mut listed = false;
    let mut writes = 0u64;
    let mut names = HashSet::new();
    let start = Instant::now();
    let deadline = tokio::time::sleep(window);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            ev = stream.next() => match ev {
                Some(Ok(Event::InitDone)) => listed = true,
                Some(Ok(Event::Apply(m))) if listed => {
                    let name = m.metadata.name.clone().unwrap_or_default();
                    if name.ends_with(KUBECONFIG_SUFFIX) {
                        writes += 1;
                        names.insert((m.metadata.namespace.clone(), name));
                    }
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    let secs = start.elapsed().as_secs_f64();
    TokenRefresh {
        interval: interval.to_string(),
        window_secs: secs,
        kubeconfig_writes: writes,
        writes_per_sec: writes as f64 / secs.max(1e-9),
        clusters_refreshed: names.len(),
        expired_reads: expired_kubeconfig_reads(),
    }
}
