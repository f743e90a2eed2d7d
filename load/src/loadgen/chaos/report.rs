//! The chaos section of report.json and its fault table in summary.md.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::ChaosKind;
use super::inject::{Injected, WriteMark};

/// One scheduled fault window (seconds from the first cluster create).
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub kind: ChaosKind,
    pub start_secs: f64,
    pub duration_secs: f64,
}

/// A window as it ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRun {
    pub kind: String,
    pub start_secs: f64,
    pub end_secs: f64,
    /// Faults injected: kills, restarts (+ requests refused while down), failed or delayed
    /// requests, cut watches.
    pub injected: u64,
    /// Seconds from the window end until every cluster created so far was Ready; `None` when
    /// that did not happen before the next window started.
    pub recovery_secs: Option<f64>,
    /// Writes from the window start to the next window start (or to recovery after the last):
    /// all clients as the API server counted them, and the controller's own.
    pub server_writes: u64,
    pub controller_writes: Option<u64>,
    /// `leader-kill`: seconds from the kill until a standby led (`None`: no takeover seen).
    /// `replica-kill`, `coordinator-kill`: seconds from the kill until the victim's share had
    /// moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub takeover_secs: Option<f64>,
    /// `replica-kill`, `coordinator-kill`: the replica killed (`replica-<index>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victim: Option<String>,
    /// `replica-kill`, `coordinator-kill`: objects the survivors took over from the victim's
    /// shard until none was left on it (their `capt_shard_moves_total{cause="dead-shard"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Per kind, summed over its windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRow {
    pub kind: String,
    pub windows: usize,
    pub injected: u64,
    /// The longest recovery of its windows (`None` when one did not recover before the next).
    pub recovery_secs: Option<f64>,
    pub controller_writes: Option<u64>,
    pub server_writes: u64,
}

/// `report.json` `chaos`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChaosReport {
    pub kinds: Vec<String>,
    pub seed: u64,
    pub faults: Vec<FaultRun>,
    pub by_kind: Vec<FaultRow>,
    /// End of the last window, seconds from the first create.
    pub last_fault_end_secs: f64,
    /// From the last fault's end until every cluster was Ready.
    pub recovery_ready_secs: Option<f64>,
    /// From the last fault's end until the invariant check was clean (`None`: it never was).
    pub recovery_clean_secs: Option<f64>,
    /// Controller writes from the first window's start until recovery, summed over restarts,
    /// and per cluster (compare with a run without chaos).
    pub controller_writes: Option<u64>,
    pub controller_writes_per_cluster: Option<f64>,
    /// Times the controller exited on its own and was started again.
    pub controller_exits: u64,
    pub violations: Option<u64>,
}

fn diff(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    Some(b?.saturating_sub(a?))
}

/// Everything measured in a chaos run, turned into its report section.
pub struct Inputs<'a> {
    pub kinds: &'a [ChaosKind],
    pub seed: u64,
    pub ran: &'a [Injected],
    pub end: WriteMark,
    pub recovery_ready_secs: Option<f64>,
    pub recovery_clean_secs: Option<f64>,
    pub controller_exits: u64,
    pub clusters: usize,
    pub violations: Option<u64>,
}

impl ChaosReport {
    pub fn build(i: Inputs<'_>) -> ChaosReport {
        let faults: Vec<FaultRun> = i
            .ran
            .iter()
            .enumerate()
            .map(|(n, r)| {
                let next = i.ran.get(n + 1).map_or(i.end, |x| x.at_start);
                FaultRun {
                    kind: r.window.kind.as_str().to_string(),
                    start_secs: r.started,
                    end_secs: r.ended,
                    injected: r.count,
                    recovery_secs: r.recovery_secs,
                    server_writes: next.server.saturating_sub(r.at_start.server),
                    controller_writes: diff(r.at_start.controller, next.controller),
                    takeover_secs: r.takeover_secs,
                    victim: r.shard.as_ref().map(|k| k.victim.clone()),
                    moved: r.shard.as_ref().map(|k| k.moved),
                    error: r.error.clone(),
                }
            })
            .collect();
        let mut kinds: Vec<ChaosKind> = i.kinds.to_vec();
        kinds.sort();
        kinds.dedup();
        let by_kind = kinds
            .iter()
            .map(|k| {
                let f: Vec<&FaultRun> = faults.iter().filter(|f| f.kind == k.as_str()).collect();
                FaultRow {
                    kind: k.as_str().to_string(),
                    windows: f.len(),
                    injected: f.iter().map(|f| f.injected).sum(),
                    recovery_secs: f
                        .iter()
                        .map(|f| f.recovery_secs)
                        .try_fold(0.0_f64, |m, r| r.map(|r| m.max(r))),
                    controller_writes: f.iter().map(|f| f.controller_writes).sum(),
                    server_writes: f.iter().map(|f| f.server_writes).sum(),
                }
            })
            .collect();
        let first = i.ran.first().map(|r| r.at_start).unwrap_or_default();
        let controller_writes = diff(first.controller, i.end.controller);
        ChaosReport {
            kinds: kinds.iter().map(|k| k.as_str().to_string()).collect(),
            seed: i.seed,
            last_fault_end_secs: i.ran.last().map_or(0.0, |r| r.ended),
            faults,
            by_kind,
            recovery_ready_secs: i.recovery_ready_secs,
            recovery_clean_secs: i.recovery_clean_secs,
            controller_writes,
            controller_writes_per_cluster: controller_writes
                .map(|w| w as f64 / i.clusters.max(1) as f64),
            controller_exits: i.controller_exits,
            violations: i.violations,
        }
    }

    /// The fault table of summary.md.
    pub fn summary_md(&self) -> String {
        let secs =
            |s: Option<f64>| s.map_or_else(|| "not recovered".into(), |s| format!("{s:.1}s"));
        // A window followed by another before every cluster was Ready.
        let before_next =
            |s: Option<f64>| s.map_or_else(|| "next window first".into(), |s| format!("{s:.1}s"));
        let num = |n: Option<u64>| n.map_or_else(|| "–".into(), |n| n.to_string());
        let mut md = String::new();
        let _ = writeln!(md, "## Chaos\n");
        let _ = writeln!(
            md,
            "Kinds {} (seed {}), {} windows, last fault ended at {:.1}s.\n",
            self.kinds.join(", "),
            self.seed,
            self.faults.len(),
            self.last_fault_end_secs
        );
        let _ = writeln!(
            md,
            "| kind | windows | injected | recovery (longest) | controller writes during+after | all writes during+after | violations |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
        for r in &self.by_kind {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | see all |",
                r.kind,
                r.windows,
                r.injected,
                before_next(r.recovery_secs),
                num(r.controller_writes),
                r.server_writes
            );
        }
        let _ = writeln!(
            md,
            "| **all** | {} | {} | {} to Ready, {} to clean invariants | {} ({}/cluster) | {} | {} |\n",
            self.faults.len(),
            self.faults.iter().map(|f| f.injected).sum::<u64>(),
            secs(self.recovery_ready_secs),
            secs(self.recovery_clean_secs),
            num(self.controller_writes),
            self.controller_writes_per_cluster
                .map_or_else(|| "–".into(), |w| format!("{w:.1}")),
            self.faults.iter().map(|f| f.server_writes).sum::<u64>(),
            num(self.violations)
        );
        let _ = writeln!(
            md,
            "Recovery of a window: from its end until every cluster created so far is Ready (before the next window). \
             Writes during+after: from the window start to the next window start, or to recovery after the last. \
             The controller exited on its own {} times.\n",
            self.controller_exits
        );
        let _ = writeln!(
            md,
            "| # | kind | start | end | injected | recovery | takeover or error |"
        );
        let _ = writeln!(md, "|---:|---|---:|---:|---:|---:|---|");
        for (n, f) in self.faults.iter().enumerate() {
            let _ = writeln!(
                md,
                "| {} | {} | {:.1}s | {:.1}s | {} | {} | {} |",
                n + 1,
                f.kind,
                f.start_secs,
                f.end_secs,
                f.injected,
                if n + 1 == self.faults.len() {
                    secs(f.recovery_secs)
                } else {
                    before_next(f.recovery_secs)
                },
                f.outcome()
            );
        }
        md
    }
}

impl FaultRun {
    /// The last column of the fault table: the error, or what a kill led to.
    fn outcome(&self) -> String {
        if let Some(e) = &self.error {
            return e.clone();
        }
        if let (Some(v), Some(m)) = (&self.victim, self.moved) {
            return self.takeover_secs.map_or_else(
                || format!("{v} killed; {m} objects moved, some left on its shard"),
                |t| format!("{v} killed; {m} objects moved off its shard in {t:.1}s"),
            );
        }
        if self.kind == ChaosKind::LeaderKill.as_str() {
            return self.takeover_secs.map_or_else(
                || "no standby took over".into(),
                |t| format!("standby led after {t:.1}s"),
            );
        }
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(
        kind: ChaosKind,
        start: f64,
        server: u64,
        controller: u64,
        rec: Option<f64>,
    ) -> Injected {
        Injected {
            window: Window {
                kind,
                start_secs: start,
                duration_secs: 1.0,
            },
            started: start,
            ended: start + 1.0,
            count: 2,
            at_start: WriteMark {
                server,
                controller: Some(controller),
            },
            recovery_secs: rec,
            takeover_secs: None,
            shard: None,
            error: None,
        }
    }

    #[test]
    fn writes_run_to_the_next_window_and_rows_sum_per_kind() {
        let ran = [
            ran(ChaosKind::Errors, 1.0, 10, 4, Some(0.5)),
            ran(ChaosKind::Slow, 3.0, 30, 9, None),
            ran(ChaosKind::Errors, 5.0, 35, 12, Some(1.5)),
        ];
        let r = ChaosReport::build(Inputs {
            kinds: &[ChaosKind::Slow, ChaosKind::Errors],
            seed: 1,
            ran: &ran,
            end: WriteMark {
                server: 50,
                controller: Some(20),
            },
            recovery_ready_secs: Some(1.5),
            recovery_clean_secs: Some(2.0),
            controller_exits: 0,
            clusters: 4,
            violations: Some(0),
        });
        let w: Vec<(u64, Option<u64>)> = r
            .faults
            .iter()
            .map(|f| (f.server_writes, f.controller_writes))
            .collect();
        assert_eq!(w, [(20, Some(5)), (5, Some(3)), (15, Some(8))]);
        assert_eq!(r.controller_writes, Some(16));
        assert_eq!(r.controller_writes_per_cluster, Some(4.0));
        assert_eq!(r.last_fault_end_secs, 6.0);
        let errors = r.by_kind.iter().find(|k| k.kind == "errors").unwrap();
        assert_eq!(
            (errors.windows, errors.injected, errors.recovery_secs),
            (2, 4, Some(1.5))
        );
        let slow = r.by_kind.iter().find(|k| k.kind == "slow").unwrap();
        assert_eq!(slow.recovery_secs, None);
        let md = r.summary_md();
        assert!(md.contains("| errors | 2 | 4 | 1.5s | 13 | 35 |"), "{md}");
        assert!(md.contains("| slow | 1 | 2 | next window first |"), "{md}");
    }

    #[test]
    fn a_leader_kill_row_says_when_a_standby_took_over() {
        let mut taken = ran(ChaosKind::LeaderKill, 1.0, 0, 0, Some(4.0));
        taken.takeover_secs = Some(3.3);
        let lost = ran(ChaosKind::LeaderKill, 9.0, 0, 0, None);
        let r = ChaosReport::build(Inputs {
            kinds: &[ChaosKind::LeaderKill],
            seed: 1,
            ran: &[taken, lost],
            end: WriteMark::default(),
            recovery_ready_secs: None,
            recovery_clean_secs: None,
            controller_exits: 0,
            clusters: 1,
            violations: None,
        });
        assert_eq!(r.faults[0].takeover_secs, Some(3.3));
        let md = r.summary_md();
        assert!(md.contains("| standby led after 3.3s |"), "{md}");
        assert!(md.contains("| no standby took over |"), "{md}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["faults"][0]["takeover_secs"], 3.3);
        assert!(json["faults"][1].get("takeover_secs").is_none());
    }

    #[test]
    fn a_replica_kill_row_names_the_victim_and_the_moves() {
        use crate::loadgen::chaos::shard::ShardKill;
        let mut moved = ran(ChaosKind::ReplicaKill, 1.0, 0, 0, Some(2.0));
        moved.shard = Some(ShardKill {
            victim: "replica-2".into(),
            moved: 14,
            moved_secs: Some(3.31),
        });
        moved.takeover_secs = Some(3.31);
        let mut stuck = ran(ChaosKind::CoordinatorKill, 9.0, 0, 0, None);
        stuck.shard = Some(ShardKill {
            victim: "replica-0".into(),
            moved: 3,
            moved_secs: None,
        });
        let r = ChaosReport::build(Inputs {
            kinds: &[ChaosKind::ReplicaKill, ChaosKind::CoordinatorKill],
            seed: 1,
            ran: &[moved, stuck],
            end: WriteMark::default(),
            recovery_ready_secs: Some(2.0),
            recovery_clean_secs: None,
            controller_exits: 0,
            clusters: 1,
            violations: Some(0),
        });
        assert_eq!(r.faults[0].victim.as_deref(), Some("replica-2"));
        assert_eq!(r.faults[0].moved, Some(14));
        let md = r.summary_md();
        assert!(
            md.contains("| replica-2 killed; 14 objects moved off its shard in 3.3s |"),
            "{md}"
        );
        assert!(
            md.contains("| replica-0 killed; 3 objects moved, some left on its shard |"),
            "{md}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["faults"][0]["victim"], "replica-2");
        assert_eq!(json["faults"][0]["moved"], 14);
    }
}
