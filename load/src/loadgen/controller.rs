//! The controller under test as a child process: started with loopback metrics and probes,
//! sampled through /proc, scraped through /metrics, killed and restarted on request.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
}

pub struct ControllerProc {
    child: tokio::process::Child,
    pub pid: u32,
    pub metrics_url: String,
    pub readyz_url: String,
    launch: Launch,
    ticks: f64,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl ControllerProc {
    pub fn spawn(launch: Launch) -> anyhow::Result<Self> {
        let (metrics, probes) = (free_port()?, free_port()?);
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
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        let child = cmd
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting {prog}: {e}"))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow::anyhow!("controller exited at once"))?;
        Ok(Self {
            child,
            pid,
            metrics_url: format!("http://127.0.0.1:{metrics}/metrics"),
            readyz_url: format!("http://127.0.0.1:{probes}/readyz"),
            launch,
            ticks: procfs::clock_ticks(),
        })
    }

    /// Wait until /readyz answers 200; the time it took.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                anyhow::bail!(
                    "controller exited with {status}; see {}",
                    self.launch.log.display()
                );
            }
            if let Ok((200, _)) = http::get(&self.readyz_url, Duration::from_secs(1)).await {
                return Ok(start.elapsed());
            }
            anyhow::ensure!(
                start.elapsed() < timeout,
                "controller not ready after {timeout:?}; see {}",
                self.launch.log.display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn sample(&self) -> Option<ProcSample> {
        procfs::sample(self.pid, self.ticks)
    }

    pub async fn scrape(&self) -> Option<Vec<Sample>> {
        scrape(&self.metrics_url).await
    }

    /// SIGKILL the process and start a new one with the same settings.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        let _ = self.child.wait().await;
        *self = Self::spawn(self.launch.clone())?;
        Ok(())
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = self.child.wait().await;
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
