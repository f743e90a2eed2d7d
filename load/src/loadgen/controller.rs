//! The controller under test as a child process: started with loopback metrics and probes,
//! sampled through /proc, scraped through /metrics, killed and restarted on request.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::process::Child;

use super::args::Runtime;
use super::http;
use super::procfs::{self, ProcSample};
use super::promtext::{self, Sample};

/// How to start the controller.
#[derive(Clone, Debug)]
pub struct Launch {
    pub command: Vec<String>,
    pub extra: Vec<String>,
    pub kubeconfig: PathBuf,
    pub runtime: Runtime,
    pub log: PathBuf,
    /// Environment of the process (e.g. `POD_NAME`, the leader-election identity).
    pub env: Vec<(String, String)>,
}

impl Launch {
    /// The launch of replica `index` of `replicas`: with more than one, each runs with
    /// `--leader-elect` (Lease in `default`), its own identity and its own log file; with
    /// `sharding`, with `--sharding` instead (shard Leases in `default`), even alone.
    pub fn replica(&self, index: usize, replicas: usize, sharding: bool) -> Launch {
        let mut l = self.clone();
        if replicas > 1 || sharding {
            let mode = if sharding {
                "--sharding"
            } else {
                "--leader-elect"
            };
            l.extra.splice(
                0..0,
                [
                    mode.to_string(),
                    "--leader-election-namespace=default".to_string(),
                ],
            );
            l.env.push(("POD_NAME".into(), format!("replica-{index}")));
            if index > 0 {
                l.log = self.log.with_file_name(format!("controller-{index}.log"));
            }
        }
        l
    }
}

/// The running controller. Clones share the process, so a fault injector can kill and restart
/// it while the run samples it; a restart keeps the metrics and probe ports.
#[derive(Clone)]
pub struct ControllerProc {
    child: Arc<Mutex<Option<tokio::process::Child>>>,
    pid: Arc<AtomicU32>,
    ports: (u16, u16),
    pub metrics_url: String,
    pub readyz_url: String,
    healthz_url: String,
    launch: Launch,
    ticks: f64,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn spawn_child(launch: &Launch, (metrics, probes): (u16, u16)) -> anyhow::Result<Child> {
    let (prog, args) = launch
        .command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("empty controller command"))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&launch.log)?;
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args)
        .arg("--metrics-secure=false")
        .arg(format!("--metrics-bind-address=127.0.0.1:{metrics}"))
        .arg(format!("--health-probe-bind-address=127.0.0.1:{probes}"))
        .arg("--kubeconfig")
        .arg(&launch.kubeconfig)
        .arg("--runtime")
        .arg(launch.runtime.as_str())
        .args(&launch.extra)
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);
    // The simulated STS knows only the fake credentials; IMDS does not exist here.
    cmd.env("AWS_ACCESS_KEY_ID", crate::capisim::FAKE_ACCESS_KEY_ID)
        .env(
            "AWS_SECRET_ACCESS_KEY",
            crate::capisim::FAKE_SECRET_ACCESS_KEY,
        )
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "warn");
    }
    cmd.spawn()
        .map_err(|e| anyhow::anyhow!("starting {prog}: {e}"))
}

impl ControllerProc {
    pub fn spawn(launch: Launch) -> anyhow::Result<Self> {
        let ports = (free_port()?, free_port()?);
        let child = spawn_child(&launch, ports)?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow::anyhow!("controller exited at once"))?;
        Ok(Self {
            child: Arc::new(Mutex::new(Some(child))),
            pid: Arc::new(AtomicU32::new(pid)),
            ports,
            metrics_url: format!("http://127.0.0.1:{}/metrics", ports.0),
            readyz_url: format!("http://127.0.0.1:{}/readyz", ports.1),
            healthz_url: format!("http://127.0.0.1:{}/healthz", ports.1),
            launch,
            ticks: procfs::clock_ticks(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current process id.
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::Relaxed)
    }

    /// Wait until /readyz answers 200; the time it took.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<Duration> {
        self.wait_for(&self.readyz_url, timeout).await
    }

    /// Wait until /healthz answers 200 (a standby replica is alive but not ready: its caches
    /// start only when it leads); the time it took.
    pub async fn wait_live(&self, timeout: Duration) -> anyhow::Result<Duration> {
        self.wait_for(&self.healthz_url, timeout).await
    }

    /// Whether the process is running and its `capt_leader` gauge says it leads.
    pub async fn is_leader(&self) -> bool {
        if self.lock().is_none() {
            return false;
        }
        self.scrape()
            .await
            .is_some_and(|s| promtext::sum(&s, "capt_leader") >= 1.0)
    }

    async fn wait_for(&self, url: &str, timeout: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        loop {
            let exited = self
                .lock()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                anyhow::bail!(
                    "controller exited with {status}; see {}",
                    self.launch.log.display()
                );
            }
            if let Ok((200, _)) = http::get(url, Duration::from_secs(1)).await {
                return Ok(start.elapsed());
            }
            anyhow::ensure!(
                start.elapsed() < timeout,
                "controller: no 200 from {url} after {timeout:?}; see {}",
                self.launch.log.display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn sample(&self) -> Option<ProcSample> {
        self.lock().as_ref()?;
        procfs::sample(self.pid(), self.ticks)
    }

    pub async fn scrape(&self) -> Option<Vec<Sample>> {
        scrape(&self.metrics_url).await
    }

    /// SIGKILL the process (no graceful shutdown) and wait until it is gone.
    pub async fn kill(&self) {
        let old = self.lock().take();
        if let Some(mut c) = old {
            let _ = c.kill().await;
            let _ = c.wait().await;
        }
    }

    /// Start the process again (after [`kill`](Self::kill)) on the same ports.
    pub fn start_again(&self) -> anyhow::Result<()> {
        let child = spawn_child(&self.launch, self.ports)?;
        if let Some(pid) = child.id() {
            self.pid.store(pid, Ordering::Relaxed);
        }
        *self.lock() = Some(child);
        Ok(())
    }

    /// If the process exited on its own, start it again (as the kubelet restarts a crashed
    /// container); whether it did. A killed process (see [`kill`](Self::kill)) is left alone.
    pub fn restart_if_exited(&self) -> anyhow::Result<bool> {
        let exited = self
            .lock()
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_some());
        if exited {
            self.start_again()?;
        }
        Ok(exited)
    }

    /// SIGKILL the process and start a new one with the same settings.
    pub async fn restart(&self) -> anyhow::Result<()> {
        self.kill().await;
        self.start_again()
    }

    pub async fn stop(self) {
        self.kill().await;
    }

    pub fn log(&self) -> &Path {
        &self.launch.log
    }
}

/// Samples of a /metrics endpoint, `None` when unreachable.
pub async fn scrape(url: &str) -> Option<Vec<Sample>> {
    match http::get(url, Duration::from_secs(5)).await {
        Ok((200, body)) => Some(promtext::parse(&body)),
        _ => None,
    }
}

/// Where the controller's metrics come from: the replicas started here (their samples side by
/// side, so counters add up over replicas), a URL given on the command line, or nowhere.
#[derive(Clone)]
pub enum Scraper {
    Replicas(Vec<ControllerProc>),
    Url(String),
    Nothing,
}

impl Scraper {
    pub fn new(replicas: &[ControllerProc], url: Option<&str>) -> Self {
        match (replicas.is_empty(), url) {
            (false, _) => Self::Replicas(replicas.to_vec()),
            (true, Some(u)) => Self::Url(u.to_string()),
            (true, None) => Self::Nothing,
        }
    }

    /// Samples of every replica that answered; `None` when none did.
    pub async fn scrape(&self) -> Option<Vec<Sample>> {
        match self {
            Self::Replicas(rs) => {
                let mut all: Option<Vec<Sample>> = None;
                for r in rs {
                    if let Some(s) = r.scrape().await {
                        all.get_or_insert_with(Vec::new).extend(s);
                    }
                }
                all
            }
            Self::Url(u) => scrape(u).await,
            Self::Nothing => None,
        }
    }
}

/// The replica that leads now (its `capt_leader` gauge is 1), if any.
pub async fn leader(replicas: &[ControllerProc]) -> Option<usize> {
    for (i, r) in replicas.iter().enumerate() {
        if r.is_leader().await {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch() -> Launch {
        Launch {
            command: vec!["capt".into(), "run".into()],
            extra: vec!["--kube-api-qps=2000".into()],
            kubeconfig: PathBuf::from("kubeconfig"),
            runtime: Runtime::Actors,
            log: PathBuf::from("out/controller.log"),
            env: Vec::new(),
        }
    }

    #[test]
    fn replicas_elect_a_leader_or_share_the_clusters() {
        let one = launch().replica(0, 1, false);
        assert_eq!(one.extra, vec!["--kube-api-qps=2000"]);
        let standby = launch().replica(1, 2, false);
        assert_eq!(standby.extra[0], "--leader-elect");
        assert_eq!(standby.log, PathBuf::from("out/controller-1.log"));
        assert!(
            standby
                .env
                .contains(&("POD_NAME".into(), "replica-1".into()))
        );
        let shard = launch().replica(0, 1, true);
        assert_eq!(shard.extra[0], "--sharding");
        assert!(!shard.extra.iter().any(|a| a == "--leader-elect"));
        assert!(shard.env.contains(&("POD_NAME".into(), "replica-0".into())));
    }
}
