//! The chaos phase of a run: the injector task started with the load, and the report section
//! built once the clusters converged.

use std::time::Instant;

use tokio::task::JoinHandle;

use super::inject::{Injected, Injector, Target};
use super::report::{ChaosReport, Inputs};
use super::{Settings, schedule};
use crate::invariants::{Settle, check_settled};
use crate::loadgen::observer::Observations;

/// The fault schedule running alongside the load.
pub struct Running {
    task: JoinHandle<(Vec<Injected>, Injector)>,
    settings: Settings,
    t0: Instant,
}

/// Starts the schedule of `settings`; window times count from `t0` (the first create).
pub fn start(
    settings: Settings,
    target: Target,
    sharding: bool,
    t0: Instant,
    obs: Observations,
    deadline: Instant,
) -> anyhow::Result<Running> {
    if target.server.is_none()
        && let Some(k) = settings.kinds.iter().find(|k| k.needs_server())
    {
        anyhow::bail!("--chaos {k} needs the in-process API server (no --kubeconfig)");
    }
    if target.controllers.is_empty()
        && let Some(k) = settings.kinds.iter().find(|k| k.kills_controller())
    {
        anyhow::bail!("--chaos {k} needs a controller started by the load generator");
    }
    if target.controllers.len() < 2 && settings.kinds.contains(&super::ChaosKind::LeaderKill) {
        anyhow::bail!("--chaos leader-kill needs a standby: run with --replicas 2 or more");
    }
    if let Some(k) = settings.kinds.iter().find(|k| k.kills_shard())
        && (!sharding || target.controllers.len() < 2)
    {
        anyhow::bail!("--chaos {k} needs a shard ring: run with --sharding --replicas 2 or more");
    }
    let plan = schedule(&settings);
    let injector = Injector::new(target, settings.clone());
    let task = tokio::spawn(injector.run(plan, t0, obs, deadline));
    Ok(Running { task, settings, t0 })
}

impl Running {
    /// Whether every window ran and the last one's recovery was awaited.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits for the schedule to end, checks the invariants (timing the recovery to a clean
    /// check) and builds the report section.
    pub async fn finish(
        self,
        client: &kube::Client,
        settle: &Settle,
        converged: bool,
        clusters: usize,
        controller_exits: u64,
    ) -> anyhow::Result<ChaosReport> {
        if !converged && !self.task.is_finished() {
            self.task.abort();
            anyhow::bail!("the fault schedule had not ended when the run timed out");
        }
        let (ran, mut injector) = self.task.await?;
        let last_end = ran.last().map_or(0.0, |r| r.ended);
        // Re-checked until clean: a settled result can still change later (e.g. a probe
        // condition refreshed on its own period); the recovery is the time to a clean check.
        let started = Instant::now();
        let check = loop {
            let check = check_settled(client, settle).await;
            let clean = check.as_ref().is_ok_and(|r| r.is_clean());
            if clean || !converged || started.elapsed() >= settle.timeout {
                break check;
            }
            tokio::time::sleep(settle.poll).await;
        };
        let since_last = self.t0.elapsed().as_secs_f64() - last_end;
        let violations = check.as_ref().ok().map(|r| r.violations as u64);
        let end = injector.mark().await;
        if let Ok(r) = &check {
            eprintln!("invariants after chaos: {}", r.counts_line());
        }
        Ok(ChaosReport::build(Inputs {
            kinds: &self.settings.kinds,
            seed: self.settings.seed,
            recovery_ready_secs: ran
                .last()
                .and_then(|r| r.recovery_secs)
                .filter(|_| converged),
            recovery_clean_secs: (violations == Some(0) && converged).then_some(since_last),
            ran: &ran,
            end,
            controller_exits,
            clusters,
            violations,
        }))
    }
}
