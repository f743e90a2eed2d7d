//! Runs a fault schedule against the in-process API server and the controller process.

use std::time::{Duration, Instant};

use super::report::Window;
use super::shard::{self, ShardKill};
use super::{ChaosKind, Settings};
use crate::kubesim::{self, FaultRule};
use crate::loadgen::controller::{ControllerProc, leader};
use crate::loadgen::observer::Observations;
use crate::loadgen::run::controller_writes;

/// What the faults are injected into.
#[derive(Clone)]
pub struct Target {
    pub server: Option<kubesim::Handle>,
    /// The controller replicas started by the load generator (none: it runs elsewhere).
    pub controllers: Vec<ControllerProc>,
    /// Reads the objects (e.g. which are left on a killed replica's shard).
    pub client: kube::Client,
}

/// The longest a `leader-kill` keeps the leader down waiting for a standby to take over.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(120);

/// Writes so far: all clients as the API server counted them, and the controller's own
/// (summed over its restarts; `None` when it could never be scraped).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WriteMark {
    pub server: u64,
    pub controller: Option<u64>,
}

/// One window as it ran.
#[derive(Clone, Debug)]
pub struct Injected {
    pub window: Window,
    /// Seconds from the first create to the actual start and end.
    pub started: f64,
    pub ended: f64,
    /// Faults injected: kills, restarts, failed or delayed requests, cut watches.
    pub count: u64,
    /// Writes up to the window start.
    pub at_start: WriteMark,
    /// Seconds from the window end until every cluster created so far was Ready (`None`: not
    /// before the next window, or the deadline for the last).
    pub recovery_secs: Option<f64>,
    /// `leader-kill`: seconds from the kill until another replica led; `replica-kill` and
    /// `coordinator-kill`: until the victim's share had moved to the others.
    pub takeover_secs: Option<f64>,
    /// `replica-kill` and `coordinator-kill`: the replica killed and the objects moved.
    pub shard: Option<ShardKill>,
    pub error: Option<String>,
}

/// What one window did.
#[derive(Debug, Default)]
struct Outcome {
    count: u64,
    takeover_secs: Option<f64>,
    shard: Option<ShardKill>,
}

impl From<u64> for Outcome {
    fn from(count: u64) -> Self {
        Self {
            count,
            ..Self::default()
        }
    }
}

/// Keeps the controller's write count across restarts (a restarted process counts from 0).
#[derive(Debug, Default)]
struct ControllerWrites {
    base: u64,
    last: u64,
    seen: bool,
}

impl ControllerWrites {
    fn observe(&mut self, current: u64) {
        if current < self.last {
            self.base += self.last;
        }
        self.last = current;
        self.seen = true;
    }

    fn total(&self) -> Option<u64> {
        self.seen.then_some(self.base + self.last)
    }
}

/// Injects the windows of a schedule, and marks writes for the report.
pub struct Injector {
    target: Target,
    settings: Settings,
    /// Per replica.
    writes: Vec<ControllerWrites>,
}

fn rule(spec: &str) -> FaultRule {
    FaultRule::parse(spec).unwrap_or_else(|e| unreachable!("built-in fault spec {spec}: {e}"))
}

impl Injector {
    pub fn new(target: Target, settings: Settings) -> Self {
        Self {
            writes: target
                .controllers
                .iter()
                .map(|_| ControllerWrites::default())
                .collect(),
            target,
            settings,
        }
    }

    /// Writes so far (scrapes the controller when it runs).
    pub async fn mark(&mut self) -> WriteMark {
        for (c, w) in self.target.controllers.iter().zip(&mut self.writes) {
            if let Some(s) = c.scrape().await {
                w.observe(controller_writes(&s));
            }
        }
        let totals: Vec<u64> = self.writes.iter().filter_map(|w| w.total()).collect();
        WriteMark {
            server: self
                .target
                .server
                .as_ref()
                .map_or(0, |h| server_writes(&h.counters())),
            controller: (!totals.is_empty()).then(|| totals.iter().sum()),
        }
    }

    /// The kubesim rules a window installs.
    fn rules(&self, kind: ChaosKind) -> Vec<FaultRule> {
        let rate = self.settings.rate.clamp(0.0, 1.0);
        match kind {
            ChaosKind::Errors => {
                // Three independent rules that together fail about `rate` of the requests.
                let each = 1.0 - (1.0 - rate).powf(1.0 / 3.0);
                vec![
                    rule(&format!("verb=*,resource=*,code=503,rate={each}")),
                    rule(&format!("verb=*,resource=*,code=500,rate={each}")),
                    rule(&format!(
                        "verb=*,resource=*,code=429,retry_after=1,rate={each}"
                    )),
                ]
            }
            ChaosKind::Conflicts => vec![
                rule(&format!("verb=update,resource=*,code=409,rate={rate}")),
                rule(&format!("verb=patch,resource=*,code=409,rate={rate}")),
            ],
            ChaosKind::WatchDrops => vec![rule("verb=watch,resource=*,cut_after_ms=250")],
            ChaosKind::Slow => vec![rule(&format!(
                "verb=*,resource=*,latency_ms={}",
                self.settings.latency.as_millis()
            ))],
            ChaosKind::ControllerKill
            | ChaosKind::LeaderKill
            | ChaosKind::ReplicaKill
            | ChaosKind::CoordinatorKill
            | ChaosKind::ApiserverRestart => Vec::new(),
        }
    }

    /// The replica a kill targets: the leader, else the first (a single replica without
    /// leader election never reports leading before it is ready).
    async fn victim(&self, kind: ChaosKind) -> anyhow::Result<usize> {
        let replicas = &self.target.controllers;
        anyhow::ensure!(
            !replicas.is_empty(),
            "{kind} needs a controller started by the load generator"
        );
        Ok(leader(replicas).await.unwrap_or(0))
    }

    /// SIGKILL the leader and keep it down until another replica leads (at least for `hold`,
    /// at most [`TAKEOVER_LIMIT`]); then start it again, as a standby.
    async fn leader_kill(&self, hold: Duration) -> anyhow::Result<Outcome> {
        let replicas = &self.target.controllers;
        anyhow::ensure!(
            replicas.len() > 1,
            "leader-kill needs a standby: run with --replicas 2 or more"
        );
        let i = self.victim(ChaosKind::LeaderKill).await?;
        let killed = Instant::now();
        replicas[i].kill().await;
        let mut takeover = None;
        while killed.elapsed() < TAKEOVER_LIMIT {
            if let Some(j) = leader(replicas).await {
                let secs = killed.elapsed().as_secs_f64();
                eprintln!("chaos: replica-{j} took over from replica-{i} after {secs:.1}s");
                takeover = Some(secs);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(hold.saturating_sub(killed.elapsed())).await;
        replicas[i].start_again()?;
        Ok(Outcome {
            count: 1,
            takeover_secs: takeover,
            shard: None,
        })
    }

    /// Runs one window from now: inject, hold for its duration, lift. Returns the faults
    /// injected.
    async fn window(&mut self, w: &Window) -> anyhow::Result<Outcome> {
        let hold = Duration::from_secs_f64(w.duration_secs);
        match w.kind {
            ChaosKind::ControllerKill => {
                let c = self.target.controllers[self.victim(w.kind).await?].clone();
                c.kill().await;
                tokio::time::sleep(hold).await;
                c.start_again()?;
                Ok(1.into())
            }
            ChaosKind::LeaderKill => self.leader_kill(hold).await,
            ChaosKind::ReplicaKill | ChaosKind::CoordinatorKill => {
                let k = shard::kill(
                    w.kind,
                    &self.target.controllers,
                    &self.target.client,
                    hold,
                    TAKEOVER_LIMIT,
                )
                .await?;
                Ok(Outcome {
                    count: 1,
                    takeover_secs: k.moved_secs,
                    shard: Some(k),
                })
            }
            ChaosKind::ApiserverRestart => {
                let h = self.server()?;
                let refused = h.outage(hold).await?;
                Ok((1 + refused).into())
            }
            kind => {
                let h = self.server()?;
                let faults = h.faults();
                let rules = self.rules(kind);
                let mut count = 0;
                if kind == ChaosKind::WatchDrops {
                    count += h.watcher_count() as u64;
                    h.close_watches();
                }
                for r in &rules {
                    faults.add(r.clone());
                }
                tokio::time::sleep(hold).await;
                for r in &rules {
                    count += faults.remove(r);
                }
                Ok(count.into())
            }
        }
    }

    fn server(&self) -> anyhow::Result<kubesim::Handle> {
        self.target
            .server
            .clone()
            .ok_or_else(|| anyhow::anyhow!("this chaos kind needs the in-process API server"))
    }

    /// Runs the schedule; times are relative to `t0`. After each window, watches `obs` until
    /// every cluster created so far is Ready, or the next window starts (`deadline` after the
    /// last).
    pub async fn run(
        mut self,
        plan: Vec<Window>,
        t0: Instant,
        obs: Observations,
        deadline: Instant,
    ) -> (Vec<Injected>, Injector) {
        let mut out: Vec<Injected> = Vec::with_capacity(plan.len());
        let mut ended_at: Option<Instant> = None;
        for w in plan {
            let start = t0 + Duration::from_secs_f64(w.start_secs);
            let recovered = recover(&obs, ended_at, start).await;
            if let Some(last) = out.last_mut() {
                last.recovery_secs = recovered;
            }
            tokio::time::sleep_until(start.into()).await;
            let at_start = self.mark().await;
            let started = t0.elapsed().as_secs_f64();
            eprintln!(
                "[{started:>6.1}s] chaos: {} for {:.1}s",
                w.kind, w.duration_secs
            );
            let (outcome, error) = match self.window(&w).await {
                Ok(o) => (o, None),
                Err(e) => (Outcome::default(), Some(e.to_string())),
            };
            ended_at = Some(Instant::now());
            out.push(Injected {
                window: w,
                started,
                ended: t0.elapsed().as_secs_f64(),
                count: outcome.count,
                at_start,
                recovery_secs: None,
                takeover_secs: outcome.takeover_secs,
                shard: outcome.shard,
                error,
            });
        }
        let recovered = recover(&obs, ended_at, deadline).await;
        if let Some(last) = out.last_mut() {
            last.recovery_secs = recovered;
        }
        (out, self)
    }
}

/// Seconds from `since` until every cluster created so far is Ready, polled until `until`.
async fn recover(obs: &Observations, since: Option<Instant>, until: Instant) -> Option<f64> {
    let since = since?;
    loop {
        let c = obs.counts();
        if c.ready >= c.created {
            return Some(since.elapsed().as_secs_f64());
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn server_writes(c: &kubesim::Counters) -> u64 {
    crate::loadgen::run::writes(&c.total_by_verb())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_writes_survive_restarts() {
        let mut w = ControllerWrites::default();
        assert_eq!(w.total(), None);
        w.observe(10);
        w.observe(25);
        w.observe(3);
        w.observe(7);
        assert_eq!(w.total(), Some(32));
    }
}
