//! The outcome of a demo run and how it is printed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::invariants::InvariantCheck;
use super::stats::{fmt_duration, percentile};
use super::view::{ClusterView, Stage};

/// One cluster at the end of the run.
#[derive(Clone, Debug)]
pub struct ClusterReport {
    pub name: String,
    pub view: ClusterView,
    /// From the creation of its objects to Ready.
    pub time_to_ready: Option<Duration>,
}

/// Why the demo stopped waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    AllReady,
    TimedOut,
    Interrupted,
}

/// Everything the demo measured.
#[derive(Clone, Debug)]
pub struct DemoSummary {
    pub clusters: Vec<ClusterReport>,
    pub ending: Ending,
    /// From the first create to the end of the wait.
    pub elapsed: Duration,
    /// Requests served by the API server by verb (every client: controller, simulators, demo).
    pub api_calls: BTreeMap<String, u64>,
    /// Requests of the controller's client by verb.
    pub controller_api_calls: BTreeMap<String, u64>,
    /// Reconciles by controller (`controller_runtime_reconcile_total`).
    pub reconciles: BTreeMap<String, u64>,
    /// Peak resident set size of the process, KiB.
    pub peak_rss_kib: Option<u64>,
    pub api_url: String,
    pub metrics_url: String,
    pub health_url: String,
    pub kubeconfig_path: PathBuf,
    /// Every cluster has exactly the objects capt creates for it.
    pub invariants: InvariantCheck,
}

fn per_cluster(n: u64, clusters: usize) -> String {
    format!("{:.1}", n as f64 / clusters.max(1) as f64)
}

fn verbs_line(calls: &BTreeMap<String, u64>, clusters: usize) -> String {
    calls
        .iter()
        .map(|(verb, n)| format!("{verb} {}", per_cluster(*n, clusters)))
        .collect::<Vec<_>>()
        .join(" · ")
}

impl DemoSummary {
    pub fn ready_count(&self) -> usize {
        self.clusters.iter().filter(|c| c.view.is_ready()).count()
    }

    pub fn all_ready(&self) -> bool {
        !self.clusters.is_empty() && self.ready_count() == self.clusters.len()
    }

    fn times(&self) -> Vec<Duration> {
        self.clusters
            .iter()
            .filter_map(|c| c.time_to_ready)
            .collect()
    }

    /// Median time to Ready of the clusters that got there.
    pub fn p50(&self) -> Option<Duration> {
        percentile(&self.times(), 0.5)
    }

    /// 99th percentile time to Ready of the clusters that got there.
    pub fn p99(&self) -> Option<Duration> {
        percentile(&self.times(), 0.99)
    }

    pub fn total_reconciles(&self) -> u64 {
        self.reconciles.values().sum()
    }

    /// Clusters that are not Ready.
    pub fn stuck(&self) -> impl Iterator<Item = &ClusterReport> {
        self.clusters.iter().filter(|c| !c.view.is_ready())
    }

    /// NAME, VPC-ID, PHASE, ENDPOINT, TIME-TO-READY.
    pub fn table(&self) -> String {
        let header = ["NAME", "VPC-ID", "PHASE", "ENDPOINT", "TIME-TO-READY"];
        let rows: Vec<[String; 5]> = self
            .clusters
            .iter()
            .map(|c| {
                [
                    c.name.clone(),
                    c.view.vpc_id.clone().unwrap_or_else(|| "-".into()),
                    c.view.stage().as_str().to_string(),
                    c.view.endpoint.clone().unwrap_or_else(|| "-".into()),
                    c.time_to_ready.map_or_else(|| "-".into(), fmt_duration),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for r in &rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut push_row = |cells: &[&str]| {
            let line: Vec<String> = cells
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            let _ = writeln!(out, "{}", line.join("   ").trim_end());
        };
        push_row(&header);
        for r in &rows {
            push_row(&r.each_ref().map(String::as_str));
        }
        out
    }

    /// Totals: readiness, time to Ready, API calls, reconciles, memory.
    pub fn totals(&self) -> String {
        let n = self.clusters.len();
        let mut out = String::new();
        let ending = match self.ending {
            Ending::AllReady => "",
            Ending::TimedOut => " (timed out)",
            Ending::Interrupted => " (interrupted)",
        };
        let _ = writeln!(
            out,
            "Ready:              {}/{n} in {}{ending}",
            self.ready_count(),
            fmt_duration(self.elapsed)
        );
        let opt = |d: Option<Duration>| d.map_or_else(|| "-".into(), fmt_duration);
        let _ = writeln!(
            out,
            "Time to Ready:      p50 {} · p99 {}",
            opt(self.p50()),
            opt(self.p99())
        );
        let all: u64 = self.api_calls.values().sum();
        let _ = writeln!(
            out,
            "API calls/cluster:  {} total ({}) — all clients: controller, simulators, demo",
            per_cluster(all, n),
            verbs_line(&self.api_calls, n)
        );
        let ctl: u64 = self.controller_api_calls.values().sum();
        let _ = writeln!(
            out,
            "  of which capt:    {} ({})",
            per_cluster(ctl, n),
            verbs_line(&self.controller_api_calls, n)
        );
        let by_controller = self
            .reconciles
            .iter()
            .map(|(c, r)| format!("{c} {r}"))
            .collect::<Vec<_>>()
            .join(" · ");
        let _ = writeln!(
            out,
            "Reconciles:         {} ({} per cluster; {by_controller})",
            self.total_reconciles(),
            per_cluster(self.total_reconciles(), n)
        );
        let rss = self.peak_rss_kib.map_or_else(
            || "unknown".into(),
            |k| format!("{:.1} MiB", k as f64 / 1024.0),
        );
        let _ = writeln!(
            out,
            "Peak RSS:           {rss} (whole process: API server, simulators, controller)"
        );
        out
    }

    /// Which clusters are not Ready and why.
    pub fn stuck_report(&self) -> String {
        let mut out = String::new();
        for c in self.stuck() {
            let v = &c.view;
            let _ = writeln!(
                out,
                "{}: {} (infrastructure ready: {}, control plane ready: {}, kubeconfig secret: {})",
                c.name,
                c.view.stage().as_str(),
                v.infrastructure_ready,
                v.control_plane_ready,
                if v.kubeconfig_secret {
                    "present"
                } else {
                    "missing"
                }
            );
            if v.conditions.is_empty() {
                let _ = writeln!(out, "    no conditions reported yet");
            }
            for l in &v.conditions {
                let _ = writeln!(
                    out,
                    "    {} {}={} {}: {}",
                    l.kind,
                    l.type_,
                    l.status,
                    if l.reason.is_empty() { "-" } else { &l.reason },
                    if l.message.is_empty() {
                        "-"
                    } else {
                        &l.message
                    }
                );
            }
        }
        out
    }

    /// Clusters per stage, for the one-line verdict.
    pub fn stage_counts(&self) -> BTreeMap<Stage, usize> {
        let mut m = BTreeMap::new();
        for c in &self.clusters {
            *m.entry(c.view.stage()).or_insert(0) += 1;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(views: Vec<(ClusterView, Option<u64>)>) -> DemoSummary {
        DemoSummary {
            clusters: views
                .into_iter()
                .enumerate()
                .map(|(i, (view, ms))| ClusterReport {
                    name: format!("demo-{:02}", i + 1),
                    view,
                    time_to_ready: ms.map(Duration::from_millis),
                })
                .collect(),
            ending: Ending::TimedOut,
            elapsed: Duration::from_secs(3),
            api_calls: [("get".to_string(), 10), ("watch".to_string(), 4)].into(),
            controller_api_calls: [("get".to_string(), 4)].into(),
            reconciles: [("captcluster".to_string(), 6)].into(),
            peak_rss_kib: Some(2048),
            api_url: "http://127.0.0.1:1".into(),
            metrics_url: "http://127.0.0.1:2/metrics".into(),
            health_url: "http://127.0.0.1:3/readyz".into(),
            kubeconfig_path: "x".into(),
            invariants: InvariantCheck::NotRun,
        }
    }

    fn ready_view() -> ClusterView {
        ClusterView {
            vpc_id: Some("vpc-0123".into()),
            infrastructure_ready: true,
            control_plane_ready: true,
            kubeconfig_secret: true,
            endpoint: Some("abc.example".into()),
            ..ClusterView::default()
        }
    }

    #[test]
    fn table_and_totals() {
        let s = summary(vec![
            (ready_view(), Some(1500)),
            (ClusterView::default(), None),
        ]);
        assert!(!s.all_ready());
        let t = s.table();
        let lines: Vec<_> = t.lines().collect();
        assert!(lines[0].starts_with("NAME    "));
        assert!(lines[1].contains("vpc-0123") && lines[1].contains("1.50s"));
        assert!(lines[2].contains("Pending"));
        let totals = s.totals();
        assert!(totals.contains("1/2"), "{totals}");
        assert!(totals.contains("(timed out)"));
        assert!(totals.contains("get 5.0 · watch 2.0"), "{totals}");
        assert!(totals.contains("2.0 MiB"));
        let stuck = s.stuck_report();
        assert!(stuck.starts_with("demo-02: Pending"), "{stuck}");
        assert!(!stuck.contains("demo-01"));
    }

    #[test]
    fn verdict_needs_ready_clusters_and_no_violations() {
        use super::super::invariants::{INVARIANT_EXIT_CODE, NOT_READY_EXIT_CODE, verdict};
        use capt_load::invariants::{Category, InvariantReport, Violation};

        let mut s = summary(vec![
            (ready_view(), Some(10)),
            (ClusterView::default(), None),
        ]);
        let f = verdict(&s).unwrap_err();
        assert_eq!(f.code, NOT_READY_EXIT_CODE);
        assert!(
            f.message
                .starts_with("1 of 2 clusters did not become Ready (timed out): demo-02")
        );

        s = summary(vec![(ready_view(), Some(10))]);
        s.ending = Ending::AllReady;
        s.invariants = InvariantCheck::Checked(InvariantReport::default());
        assert_eq!(verdict(&s), Ok(()));

        let dup = Violation {
            category: Category::Duplicate,
            kind: "Workspace".into(),
            object: "demo-01-vpc-copy".into(),
            what: "a second Workspace for apply default/demo-01-vpc".into(),
        };
        s.invariants = InvariantCheck::Checked(InvariantReport {
            violations: 1,
            duplicates: 1,
            details: vec![dup],
            ..InvariantReport::default()
        });
        let f = verdict(&s).unwrap_err();
        assert_eq!(f.code, INVARIANT_EXIT_CODE);
        assert!(
            f.message
                .contains("1 invariant violations remain: duplicate: Workspace demo-01-vpc-copy"),
            "{}",
            f.message
        );
        let lines = s.invariants.lines();
        assert!(
            lines.starts_with("Invariants:         1 violations (missing 0 · duplicates 1"),
            "{lines}"
        );
        assert!(
            lines.contains("\n  duplicate: Workspace demo-01-vpc-copy: "),
            "{lines}"
        );

        s.invariants = InvariantCheck::Failed("listing Secrets: connection refused".into());
        assert_eq!(verdict(&s).unwrap_err().code, INVARIANT_EXIT_CODE);
    }
}
