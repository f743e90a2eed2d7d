//! The load report: `report.json` (schema `capt-load/report/v1`) and `summary.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::chaos::ChaosReport;
use super::stats::Dist;
use crate::invariants::InvariantReport;

pub const SCHEMA: &str = "capt-load/report/v1";

/// `replicas` of a report written before the field existed.
fn one() -> u8 {
    1
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub label: String,
    pub runtime: String,
    pub target: String,
    pub machine: Machine,
    pub clusters: usize,
    pub namespaces: usize,
    pub rate_per_sec: f64,
    pub tf_delay: String,
    pub timeout_secs: u64,
    pub converged: bool,
    pub ready_clusters: usize,
    /// From the first create to the last cluster Ready.
    pub convergence_secs: f64,
    pub time_to_ready_secs: Dist,
    /// EKS Workspace Ready → the CAPTControlPlane status write reflecting it, both seen by watch.
    pub event_to_status_ms: Dist,
    pub api_requests: ApiRequests,
    pub controller: Option<ControllerUsage>,
    /// With more than one replica: each replica's memory and CPU, by replica index (`None`: it
    /// could not be sampled at idle and at convergence). `controller` is replica 0's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controllers: Vec<Option<ControllerUsage>>,
    pub reconciles: Option<Reconciles>,
    pub quiet: Quiet,
    pub restart: Option<Restart>,
    pub churn: Vec<Churn>,
    /// Invariants after convergence (and the quiet window): every cluster has exactly the
    /// objects capt creates for it. `None`: the check could not run.
    #[serde(default)]
    pub invariants: Option<InvariantReport>,
    /// The same check after churn and restart, when either ran.
    #[serde(default)]
    pub invariants_after_churn: Option<InvariantReport>,
    /// Fault schedule and recovery of a `--chaos` run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaos: Option<ChaosReport>,
    /// Kubeconfig writes by token refreshes, with `--token-refresh-interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_refresh: Option<super::tokens::TokenRefresh>,
    /// Seconds since the first create → clusters created and Ready.
    /// Controller replicas started (more than one: with leader election).
    #[serde(default = "one")]
    pub replicas: u8,
    /// The replicas shared the clusters (`--sharding`) instead of electing a leader.
    #[serde(default)]
    pub sharding: bool,
    /// With replicas: the most replicas seen leading at once (sampled each second; above 1
    /// means two replicas reconciled at the same time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaders_max: Option<u64>,
    /// With `--otlp-sink`: what the controller exported (counted when the report is written,
    /// before the controller stops: its last batch may be missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp: Option<super::otlp_sink::SinkCounts>,
    pub timeline: Vec<Point>,
    /// Limits hit and caveats of this run.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpus: usize,
    pub os: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiRequests {
    /// All clients (controller, simulators, load generator), from the API server's counters,
    /// from the first create to convergence. Empty when not targeting the in-process server.
    pub server_by_verb: BTreeMap<String, u64>,
    pub server_per_cluster: BTreeMap<String, f64>,
    /// The controller's own requests (its `capt_api_requests_total`), same window.
    pub controller_by_verb: BTreeMap<String, u64>,
    pub controller_per_cluster: BTreeMap<String, f64>,
    /// The controller's writes per cluster by `verb resource` (e.g. `create events`), same window.
    #[serde(default)]
    pub controller_writes_per_cluster_by_resource: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ControllerUsage {
    pub pid: u32,
    pub rss_idle_bytes: u64,
    pub rss_converged_bytes: u64,
    pub rss_peak_bytes: u64,
    /// (converged RSS − idle RSS) / clusters.
    pub rss_per_cluster_bytes: f64,
    pub cpu_seconds_load: f64,
    pub cpu_seconds_quiet: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reconciles {
    pub total: u64,
    pub errors: u64,
    pub per_sec_avg: f64,
    pub per_sec_peak: f64,
    pub per_cluster: f64,
    pub mailbox_wait_mean_ms: f64,
    /// Upper bound of the histogram bucket holding the 99th percentile.
    pub mailbox_wait_p99_ms: f64,
    pub by_controller: BTreeMap<String, u64>,
    /// Reconciles per cluster by `"<controller> <trigger>"` (the actor runtime only).
    #[serde(default)]
    pub by_trigger_per_cluster: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Quiet {
    pub secs: u64,
    /// create/update/patch/delete requests seen by the API server in the window (all clients).
    pub server_writes: Option<u64>,
    /// The controller's write requests in the window.
    pub controller_writes: Option<u64>,
    pub controller_reconciles: Option<u64>,
    pub controller_writes_per_cluster: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Restart {
    /// Kill → /readyz 200.
    pub ready_secs: f64,
    /// Kill → every reconciled object reconciled once and reconciles settled.
    pub noop_pass_secs: Option<f64>,
    pub reconciles: u64,
    pub controller_writes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Churn {
    pub kind: String,
    pub clusters: usize,
    pub completed: usize,
    pub secs: Dist,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub t: f64,
    pub created: usize,
    pub ready: usize,
}

/// Invariant violations listed in summary.md (all counted; report.json holds more).
pub const SUMMARY_DETAILS: usize = 20;

impl Report {
    /// Violations of every invariant check that ran, and whether the one after convergence ran.
    pub fn invariant_violations(&self) -> Option<usize> {
        let after = self
            .invariants_after_churn
            .as_ref()
            .map_or(0, |r| r.violations);
        self.invariants.as_ref().map(|r| r.violations + after)
    }
}

pub const WRITE_VERBS: [&str; 4] = ["create", "update", "patch", "delete"];

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn verbs(m: &BTreeMap<String, f64>) -> String {
    if m.is_empty() {
        return "–".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v:.1}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Report {
    /// Human-readable summary (Markdown).
    pub fn summary_md(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# capt-load: {}\n", self.label);
        let _ = writeln!(
            s,
            "{} clusters over {} namespaces at {}/s, runtime `{}`, target {}, tfsim delay `{}`, {} CPUs ({}).\n",
            self.clusters,
            self.namespaces,
            self.rate_per_sec,
            self.runtime,
            self.target,
            self.tf_delay,
            self.machine.cpus,
            self.machine.os
        );
        let _ = writeln!(s, "| measure | value |\n|---|---|");
        let _ = writeln!(
            s,
            "| converged | {} ({} / {} Ready) |",
            if self.converged { "yes" } else { "**no**" },
            self.ready_clusters,
            self.clusters
        );
        let _ = writeln!(
            s,
            "| convergence (first create → last Ready) | {:.1} s |",
            self.convergence_secs
        );
        if let Some(o) = &self.otlp {
            let _ = writeln!(
                s,
                "| spans exported (OTLP) | {} spans in {} traces ({} roots, {} batches) |",
                o.spans, o.traces, o.roots, o.batches
            );
        }
        if self.sharding {
            let _ = writeln!(
                s,
                "| replicas (sharding) | {}, each active; RSS and CPU per replica below |",
                self.replicas
            );
        }
        if let Some(l) = self.leaders_max {
            let _ = writeln!(
                s,
                "| replicas (leader election) | {}, at most {l} leading at once |",
                self.replicas
            );
        }
        let t = &self.time_to_ready_secs;
        let _ = writeln!(
            s,
            "| time to Ready p50 / p90 / p99 / max | {:.1} / {:.1} / {:.1} / {:.1} s |",
            t.p50, t.p90, t.p99, t.max
        );
        let e = &self.event_to_status_ms;
        let _ = writeln!(
            s,
            "| event → status p50 / p90 / p99 / max ({} samples) | {:.0} / {:.0} / {:.0} / {:.0} ms |",
            e.samples, e.p50, e.p90, e.p99, e.max
        );
        let a = &self.api_requests;
        let _ = writeln!(
            s,
            "| controller API requests per cluster | {} |",
            verbs(&a.controller_per_cluster)
        );
        if !a.controller_writes_per_cluster_by_resource.is_empty() {
            let _ = writeln!(
                s,
                "| controller writes per cluster by resource | {} |",
                verbs(&a.controller_writes_per_cluster_by_resource)
            );
        }
        let _ = writeln!(
            s,
            "| API server requests per cluster (all clients) | {} |",
            verbs(&a.server_per_cluster)
        );
        if !self.controllers.is_empty() {
            self.replica_rows(&mut s);
        } else if let Some(c) = &self.controller {
            let _ = writeln!(
                s,
                "| controller RSS idle / converged / peak | {:.1} / {:.1} / {:.1} MiB |",
                mib(c.rss_idle_bytes),
                mib(c.rss_converged_bytes),
                mib(c.rss_peak_bytes)
            );
            let _ = writeln!(
                s,
                "| controller RSS per cluster above idle | {:.1} KiB |",
                c.rss_per_cluster_bytes / 1024.0
            );
            let _ = writeln!(
                s,
                "| controller CPU during load / quiet window | {:.1} / {:.2} s |",
                c.cpu_seconds_load, c.cpu_seconds_quiet
            );
        }
        if let Some(r) = &self.reconciles {
            let _ = writeln!(
                s,
                "| reconciles total (errors) / per cluster | {} ({}) / {:.1} |",
                r.total, r.errors, r.per_cluster
            );
            let _ = writeln!(
                s,
                "| reconciles/s avg / peak | {:.1} / {:.1} |",
                r.per_sec_avg, r.per_sec_peak
            );
            let _ = writeln!(
                s,
                "| queue (mailbox) wait mean / p99 bucket | {:.1} / {} ms |",
                r.mailbox_wait_mean_ms,
                fmt_ms(r.mailbox_wait_p99_ms)
            );
            if !r.by_trigger_per_cluster.is_empty() {
                let _ = writeln!(
                    s,
                    "| reconciles per cluster by controller and trigger | {} |",
                    verbs(&r.by_trigger_per_cluster)
                );
            }
        }
        let q = &self.quiet;
        let _ = writeln!(
            s,
            "| writes in {} s quiet window: controller / all clients | {} / {} |",
            q.secs,
            opt(q.controller_writes),
            opt(q.server_writes)
        );
        if let Some(r) = &self.restart {
            let _ = writeln!(
                s,
                "| restart: kill → ready / → no-op pass done | {:.2} s / {} |",
                r.ready_secs,
                r.noop_pass_secs
                    .map_or("not settled".to_string(), |x| format!("{x:.2} s"))
            );
            let _ = writeln!(
                s,
                "| restart pass: reconciles / controller writes | {} / {} |",
                r.reconciles, r.controller_writes
            );
        }
        for c in &self.churn {
            let _ = writeln!(
                s,
                "| churn {}: {}/{} done, p50 / p99 | {:.1} / {:.1} s |",
                c.kind, c.completed, c.clusters, c.secs.p50, c.secs.p99
            );
        }
        for (when, inv) in [
            ("after convergence", &self.invariants),
            ("after churn and restart", &self.invariants_after_churn),
        ] {
            if let Some(r) = inv {
                let _ = writeln!(s, "| invariants {when} | {} |", r.counts_line());
            }
        }
        if self.invariants.is_none() {
            let _ = writeln!(s, "| invariants after convergence | not checked |");
        }
        if let Some(t) = &self.token_refresh {
            let _ = writeln!(
                s,
                "| token refresh every {}: kubeconfig writes over {:.0} s | {} ({:.1}/s, {} clusters) |",
                t.interval,
                t.window_secs,
                t.kubeconfig_writes,
                t.writes_per_sec,
                t.clusters_refreshed
            );
            let _ = writeln!(
                s,
                "| kubeconfig reads by Cluster API that found an expired token | {} |",
                t.expired_reads
            );
        }
        if let Some(c) = &self.chaos {
            let _ = write!(s, "\n{}", c.summary_md());
        }
        if !self.notes.is_empty() {
            let _ = writeln!(s, "\nNotes:\n");
            for n in &self.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        for (when, inv) in [
            ("after convergence", &self.invariants),
            ("after churn and restart", &self.invariants_after_churn),
        ] {
            if let Some(r) = inv.as_ref().filter(|r| !r.is_clean()) {
                let _ = writeln!(s, "\nInvariant violations {when}:\n");
                s.push_str(&r.first_details(SUMMARY_DETAILS, "- "));
            }
        }
        let _ = writeln!(s, "\n![convergence](convergence.svg)");
        s
    }
}

impl Report {
    /// A row per replica: RSS idle / converged / peak, RSS per cluster above idle, CPU.
    fn replica_rows(&self, s: &mut String) {
        for (i, c) in self.controllers.iter().enumerate() {
            let Some(c) = c else {
                let _ = writeln!(s, "| replica-{i} RSS and CPU | not sampled |");
                continue;
            };
            let _ = writeln!(
                s,
                "| replica-{i} RSS idle / converged / peak; per cluster above idle; CPU load / quiet | \
                 {:.1} / {:.1} / {:.1} MiB; {:.1} KiB; {:.1} / {:.2} s |",
                mib(c.rss_idle_bytes),
                mib(c.rss_converged_bytes),
                mib(c.rss_peak_bytes),
                c.rss_per_cluster_bytes / 1024.0,
                c.cpu_seconds_load,
                c.cpu_seconds_quiet
            );
        }
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or("–".into(), |v| v.to_string())
}

fn fmt_ms(v: f64) -> String {
    if v.is_finite() {
        format!("≤ {v:.0}")
    } else {
        "> largest bucket".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sample() -> Report {
        Report {
            schema: SCHEMA.into(),
            label: "actors-2".into(),
            runtime: "actors".into(),
            target: "in-process kubesim".into(),
            clusters: 2,
            namespaces: 1,
            rate_per_sec: 10.0,
            converged: true,
            ready_clusters: 2,
            convergence_secs: 3.5,
            time_to_ready_secs: Dist::of(&[2.0, 3.0]),
            controller: Some(ControllerUsage {
                rss_idle_bytes: 10 << 20,
                rss_converged_bytes: 12 << 20,
                rss_peak_bytes: 13 << 20,
                rss_per_cluster_bytes: 1024.0 * 1024.0,
                ..Default::default()
            }),
            quiet: Quiet {
                secs: 10,
                controller_writes: Some(0),
                server_writes: Some(0),
                ..Default::default()
            },
            invariants: Some(InvariantReport {
                clusters: 2,
                ready_clusters: 2,
                ..Default::default()
            }),
            timeline: vec![
                Point {
                    t: 0.0,
                    created: 1,
                    ready: 0,
                },
                Point {
                    t: 3.5,
                    created: 2,
                    ready: 2,
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn json_has_the_documented_fields_and_round_trips() {
        let r = sample();
        let v = serde_json::to_value(&r).unwrap();
        for key in [
            "schema",
            "runtime",
            "clusters",
            "converged",
            "convergence_secs",
            "time_to_ready_secs",
            "event_to_status_ms",
            "api_requests",
            "controller",
            "reconciles",
            "quiet",
            "restart",
            "churn",
            "timeline",
            "notes",
            "invariants",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["schema"], SCHEMA);
        assert_eq!(v["time_to_ready_secs"]["p50"], 2.0);
        let back: Report = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn summary_states_convergence_memory_and_quiet_writes() {
        let md = sample().summary_md();
        assert!(md.contains("| converged | yes (2 / 2 Ready) |"));
        assert!(md.contains("| controller RSS idle / converged / peak | 10.0 / 12.0 / 13.0 MiB |"));
        assert!(md.contains("| writes in 10 s quiet window: controller / all clients | 0 / 0 |"));
        assert!(md.contains("convergence.svg"));
        assert!(md.contains("| invariants after convergence | 0 violations (missing 0 "));
        assert!(!md.contains("Invariant violations"));
        assert_eq!(sample().invariant_violations(), Some(0));
    }

    #[test]
    fn replicas_get_a_row_each() {
        let mut r = sample();
        let mut second = r.controller.clone().unwrap();
        second.rss_converged_bytes = 20 << 20;
        second.cpu_seconds_load = 2.5;
        r.replicas = 3;
        r.sharding = true;
        r.controllers = vec![r.controller.clone(), Some(second), None];
        let md = r.summary_md();
        assert!(md.contains("| replica-0 RSS idle / converged / peak; per cluster above idle; CPU load / quiet | 10.0 / 12.0 / 13.0 MiB; 1024.0 KiB; 0.0 / 0.00 s |"), "{md}");
        assert!(
            md.contains("| 10.0 / 20.0 / 13.0 MiB; 1024.0 KiB; 2.5 / 0.00 s |"),
            "{md}"
        );
        assert!(
            md.contains("| replica-2 RSS and CPU | not sampled |"),
            "{md}"
        );
        assert!(!md.contains("| controller RSS idle"), "{md}");
        let back: Report = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back.controllers, r.controllers);
        let one = serde_json::to_value(sample()).unwrap();
        assert!(
            one.get("controllers").is_none(),
            "one replica: no per-replica list"
        );
    }

    #[test]
    fn summary_lists_invariant_violations() {
        use crate::invariants::{Category, Violation};
        let mut r = sample();
        let v = Violation {
            category: Category::Missing,
            kind: "WorkspaceTemplateApply".into(),
            object: "load-0/c00001-kubeconfig-apply".into(),
            what: "kubeconfig apply of CAPTControlPlane c00001 absent".into(),
        };
        r.invariants_after_churn = Some(InvariantReport {
            violations: 1,
            missing: 1,
            details: vec![v],
            ..Default::default()
        });
        assert_eq!(r.invariant_violations(), Some(1));
        let md = r.summary_md();
        assert!(md.contains("| invariants after churn and restart | 1 violations (missing 1 "));
        assert!(md.contains("Invariant violations after churn and restart:\n\n- missing: WorkspaceTemplateApply load-0/c00001-kubeconfig-apply: kubeconfig apply"), "{md}");
        r.invariants = None;
        assert_eq!(r.invariant_violations(), None);
        assert!(
            r.summary_md()
                .contains("| invariants after convergence | not checked |")
        );
    }
}
