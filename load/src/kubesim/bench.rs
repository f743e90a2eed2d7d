//! A small benchmark of kubesim itself: write throughput through HTTP, watch fan-out latency
//! and memory per stored object.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};

use super::{Config, start};

/// Result of [`bench`].
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub objects: usize,
    pub watchers: usize,
    pub elapsed: Duration,
    pub writes_per_sec: f64,
    pub fanout_p50: Duration,
    pub fanout_p99: Duration,
    pub events_delivered: u64,
    pub rss_bytes_per_object: f64,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "kubesim bench: {} objects, {} watchers",
            self.objects, self.watchers
        )?;
        writeln!(
            f,
            "  writes: {:.0}/s ({:.2}s total)",
            self.writes_per_sec,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "  watch fan-out latency: p50 {:.2} ms, p99 {:.2} ms ({} events delivered)",
            self.fanout_p50.as_secs_f64() * 1e3,
            self.fanout_p99.as_secs_f64() * 1e3,
            self.events_delivered
        )?;
        write!(
            f,
            "  memory: {:.0} bytes RSS per object",
            self.rss_bytes_per_object
        )
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Creates `objects` ConfigMaps through HTTP (16 concurrent writers) while `watchers` watch
/// streams receive every event; reports throughput, fan-out latency and RSS growth per object.
pub async fn bench(objects: usize, watchers: usize) -> anyhow::Result<BenchReport> {
    let rss0 = rss_bytes();
    let h = start(Config::default()).await?;
    let client = h.client();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let base = Instant::now();
    let rv = h.resource_version().to_string();
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let api = api.clone();
        let rv = rv.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(objects);
            let mut last = rv;
            let mut seen = 0usize;
            while seen < objects {
                let wp = WatchParams::default().timeout(290);
                let Ok(stream) = api.watch(&wp, &last).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let mut stream = stream.boxed();
                while let Ok(Some(ev)) = stream.try_next().await {
                    if let WatchEvent::Added(cm) = ev {
                        seen += 1;
                        if let Some(rv) = cm.metadata.resource_version.clone() {
                            last = rv;
                        }
                        let sent = cm
                            .metadata
                            .annotations
                            .as_ref()
                            .and_then(|a| a.get("t"))
                            .and_then(|t| t.parse::<u64>().ok());
                        if let Some(t) = sent {
                            let now = base.elapsed().as_micros() as u64;
                            lat.push(Duration::from_micros(now.saturating_sub(t)));
                        }
                        if seen >= objects {
                            break;
                        }
                    }
                }
            }
            lat
        }));
    }
    while h.watcher_count() < watchers {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let start_t = Instant::now();
    let writers = 16usize;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut ws = Vec::new();
    for _ in 0..writers {
        let api = api.clone();
        let next = next.clone();
        ws.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= objects {
                    break;
                }
                let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": format!("bench-{i}"), "labels": {"bench": "true"},
                                 "annotations": {"t": (base.elapsed().as_micros() as u64).to_string()}},
                    "data": {"cluster": format!("cluster-{i}"), "region": "eu-west-1", "payload": "x".repeat(512)}
                }))?;
                api.create(&PostParams::default(), &cm).await?;
            }
            anyhow::Ok(())
        }));
    }
    for w in ws {
        w.await??;
    }
    let elapsed = start_t.elapsed();
    let mut lat = Vec::new();
    for t in tasks {
        if let Ok(Ok(l)) = tokio::time::timeout(Duration::from_secs(120), t).await {
            lat.extend(l);
        }
    }
    lat.sort();
    let rss1 = rss_bytes();
    let report = BenchReport {
        objects,
        watchers,
        elapsed,
        writes_per_sec: objects as f64 / elapsed.as_secs_f64().max(1e-9),
        fanout_p50: percentile(&lat, 0.5),
        fanout_p99: percentile(&lat, 0.99),
        events_delivered: lat.len() as u64,
        rss_bytes_per_object: rss1.saturating_sub(rss0) as f64 / objects.max(1) as f64,
    };
    h.shutdown().await;
    Ok(report)
}
