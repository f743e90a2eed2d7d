//! Memory and CPU of every controller replica over a run: sampled each second and at the marks
//! of the run (idle, converged, after the quiet window), with CPU time carried across restarts
//! (a killed and restarted replica counts from 0 again).

use super::controller::ControllerProc;
use super::procfs::ProcSample;
use super::report::ControllerUsage;

/// One replica's samples so far.
#[derive(Clone, Debug, Default)]
struct Replica {
    /// The process sampled last and its sample.
    last: Option<(u32, ProcSample)>,
    /// CPU seconds of this replica's processes that ended.
    cpu_ended: f64,
    peak_rss: u64,
    idle: Option<Mark>,
    converged: Option<Mark>,
    quiet: Option<Mark>,
}

/// RSS now and CPU seconds so far (over restarts) at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Mark {
    rss: u64,
    cpu: f64,
}

impl Replica {
    fn observe(&mut self, pid: u32, s: ProcSample) {
        if let Some((last_pid, last)) = self.last
            && last_pid != pid
        {
            self.cpu_ended += last.cpu_seconds;
        }
        self.last = Some((pid, s));
        self.peak_rss = self.peak_rss.max(s.rss_bytes).max(s.hwm_bytes);
    }

    fn mark(&self) -> Option<Mark> {
        let (_, s) = self.last?;
        Some(Mark {
            rss: s.rss_bytes,
            cpu: self.cpu_ended + s.cpu_seconds,
        })
    }

    fn record(&mut self, phase: Phase) {
        let m = self.mark();
        match phase {
            Phase::Idle => self.idle = m,
            Phase::Converged => self.converged = m,
            Phase::Quiet => self.quiet = m,
        }
    }

    fn usage(&self, clusters: usize) -> Option<ControllerUsage> {
        let (pid, _) = self.last?;
        let (idle, conv) = (self.idle?, self.converged?);
        Some(ControllerUsage {
            pid,
            rss_idle_bytes: idle.rss,
            rss_converged_bytes: conv.rss,
            rss_peak_bytes: self.peak_rss,
            rss_per_cluster_bytes: (conv.rss as f64 - idle.rss as f64) / clusters.max(1) as f64,
            cpu_seconds_load: conv.cpu - idle.cpu,
            cpu_seconds_quiet: self.quiet.map_or(0.0, |q| q.cpu - conv.cpu),
        })
    }
}

/// The moment of a run a [`Usage::mark`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Converged,
    Quiet,
}

/// The replicas' memory and CPU over a run.
#[derive(Clone, Debug, Default)]
pub struct Usage {
    replicas: Vec<Replica>,
}

impl Usage {
    pub fn new(replicas: usize) -> Self {
        Self {
            replicas: vec![Replica::default(); replicas],
        }
    }

    /// Records a sample of replica `i` (process `pid`).
    fn observe(&mut self, i: usize, pid: u32, s: ProcSample) {
        if let Some(r) = self.replicas.get_mut(i) {
            r.observe(pid, s);
        }
    }

    /// Samples every running replica.
    pub fn sample(&mut self, procs: &[ControllerProc]) {
        for (i, p) in procs.iter().enumerate() {
            if let Some(s) = p.sample() {
                self.observe(i, p.pid(), s);
            }
        }
    }

    /// Samples every running replica and records the moment `phase`.
    pub fn mark(&mut self, procs: &[ControllerProc], phase: Phase) {
        self.sample(procs);
        for r in &mut self.replicas {
            r.record(phase);
        }
    }

    /// Per replica, its usage over the run (`None` for a replica never sampled at idle and at
    /// convergence); RSS per cluster divides by every cluster of the run.
    pub fn per_replica(&self, clusters: usize) -> Vec<Option<ControllerUsage>> {
        self.replicas.iter().map(|r| r.usage(clusters)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(rss_mib: u64, cpu: f64) -> ProcSample {
        ProcSample {
            rss_bytes: rss_mib << 20,
            hwm_bytes: rss_mib << 20,
            cpu_seconds: cpu,
        }
    }

    fn mark(u: &mut Usage, i: usize, pid: u32, sample: ProcSample, phase: Phase) {
        u.observe(i, pid, sample);
        u.replicas[i].record(phase);
    }

    #[test]
    fn every_replica_has_its_own_figures() {
        let mut u = Usage::new(2);
        mark(&mut u, 0, 10, s(10, 1.0), Phase::Idle);
        mark(&mut u, 1, 11, s(8, 0.5), Phase::Idle);
        u.observe(0, 10, s(30, 4.0));
        mark(&mut u, 0, 10, s(20, 5.0), Phase::Converged);
        mark(&mut u, 1, 11, s(12, 2.5), Phase::Converged);
        mark(&mut u, 0, 10, s(20, 5.5), Phase::Quiet);
        let per = u.per_replica(4);
        let r0 = per[0].clone().unwrap();
        assert_eq!(
            (r0.rss_idle_bytes, r0.rss_converged_bytes, r0.rss_peak_bytes),
            (10 << 20, 20 << 20, 30 << 20)
        );
        assert_eq!(r0.rss_per_cluster_bytes, (10 << 20) as f64 / 4.0);
        assert_eq!((r0.cpu_seconds_load, r0.cpu_seconds_quiet), (4.0, 0.5));
        let r1 = per[1].clone().unwrap();
        assert_eq!((r1.pid, r1.rss_converged_bytes), (11, 12 << 20));
        assert_eq!(r1.cpu_seconds_load, 2.0);
        assert_eq!(r1.cpu_seconds_quiet, 0.0, "no quiet mark");
    }

    #[test]
    fn cpu_is_carried_over_a_restart_and_a_replica_never_sampled_has_none() {
        let mut u = Usage::new(2);
        mark(&mut u, 0, 10, s(10, 1.0), Phase::Idle);
        u.observe(0, 10, s(15, 3.0));
        // Killed and started again: the new process counts from 0.
        u.observe(0, 20, s(9, 0.5));
        mark(&mut u, 0, 20, s(11, 1.0), Phase::Converged);
        let r0 = u.per_replica(1)[0].clone().unwrap();
        assert_eq!(r0.pid, 20);
        assert_eq!(r0.cpu_seconds_load, 3.0);
        assert_eq!(r0.rss_peak_bytes, 15 << 20);
        assert!(u.per_replica(1)[1].is_none());
    }
}
