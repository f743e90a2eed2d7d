//! What the invariant check found, as stored in `report.json` and printed in the summaries.

use std::fmt;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Details kept in a report (the counts cover every violation).
pub const MAX_DETAILS: usize = 500;

/// What is wrong with an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// An object capt should have created is absent.
    Missing,
    /// More than one object for the same role, or one under another name than capt gives it.
    Duplicate,
    /// A capt-created object whose owner is gone, or that belongs to no existing cluster.
    Orphan,
    /// Owned by, or labelled for, another object than the one it belongs to.
    WrongOwner,
    /// Present but not in the shape Cluster API or capt expect (type, keys, labels).
    Malformed,
    /// A cluster not Ready whose objects did not change over the window.
    Stuck,
    /// `Cluster.status.failureReason` is set (Cluster API never clears it).
    Failed,
    /// Cluster API's `RemoteConnectionProbe` condition is not True.
    KubeconfigUnusable,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Missing => "missing",
            Category::Duplicate => "duplicate",
            Category::Orphan => "orphan",
            Category::WrongOwner => "wrong owner",
            Category::Malformed => "malformed",
            Category::Stuck => "stuck",
            Category::Failed => "failed",
            Category::KubeconfigUnusable => "kubeconfig unusable",
        }
    }
}

/// One violation: which object and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Violation {
    pub category: Category,
    pub kind: String,
    /// `namespace/name` (`name` for cluster-scoped objects).
    pub object: String,
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {}: {}",
            self.category.as_str(),
            self.kind,
            self.object,
            self.what
        )
    }
}

/// Counts that are not violations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    pub clusters: usize,
    pub ready_clusters: usize,
    pub kubeconfig_unknown: usize,
    pub retained: usize,
}

/// The result of one check.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InvariantReport {
    /// Cluster API Clusters checked.
    pub clusters: usize,
    /// Of those, Ready (CAPTCluster and CAPTControlPlane ready, kubeconfig secret present).
    pub ready_clusters: usize,
    /// Sum of every category below.
    pub violations: usize,
    pub missing: usize,
    pub duplicates: usize,
    pub orphans: usize,
    pub wrong_owner: usize,
    pub malformed: usize,
    pub stuck: usize,
    /// Clusters whose `status.failureReason` is set.
    pub failed_clusters: usize,
    /// Clusters whose `RemoteConnectionProbe` condition is present and not True.
    pub kubeconfig_unusable: usize,
    /// Clusters without a `RemoteConnectionProbe` condition (not a violation).
    pub kubeconfig_unknown: usize,
    /// Workspaces kept on purpose after their apply went (spot role; not a violation).
    pub retained: usize,
    /// The first [`MAX_DETAILS`] violations, sorted.
    pub details: Vec<Violation>,
    /// Violations beyond [`MAX_DETAILS`].
    pub details_omitted: usize,
}

impl InvariantReport {
    pub(crate) fn from_findings(mut found: Vec<Violation>, tally: Tally) -> Self {
        found.sort();
        found.dedup();
        let count = |c: Category| found.iter().filter(|v| v.category == c).count();
        let mut r = InvariantReport {
            clusters: tally.clusters,
            ready_clusters: tally.ready_clusters,
            violations: found.len(),
            missing: count(Category::Missing),
            duplicates: count(Category::Duplicate),
            orphans: count(Category::Orphan),
            wrong_owner: count(Category::WrongOwner),
            malformed: count(Category::Malformed),
            stuck: count(Category::Stuck),
            failed_clusters: count(Category::Failed),
            kubeconfig_unusable: count(Category::KubeconfigUnusable),
            kubeconfig_unknown: tally.kubeconfig_unknown,
            retained: tally.retained,
            details_omitted: found.len().saturating_sub(MAX_DETAILS),
            details: found,
        };
        r.details.truncate(MAX_DETAILS);
        r
    }

    pub fn is_clean(&self) -> bool {
        self.violations == 0
    }

    /// One line: the total and every category.
    pub fn counts_line(&self) -> String {
        format!(
            "{} violations (missing {} · duplicates {} · orphans {} · wrong owner {} · malformed {} · stuck {} · failed clusters {} · kubeconfig unusable {}, probe unknown {})",
            self.violations,
            self.missing,
            self.duplicates,
            self.orphans,
            self.wrong_owner,
            self.malformed,
            self.stuck,
            self.failed_clusters,
            self.kubeconfig_unusable,
            self.kubeconfig_unknown,
        )
    }

    /// The first `n` violations, one per line, each prefixed with `prefix`.
    pub fn first_details(&self, n: usize, prefix: &str) -> String {
        let mut out = String::new();
        for v in self.details.iter().take(n) {
            let _ = writeln!(out, "{prefix}{v}");
        }
        let more = self.violations.saturating_sub(n.min(self.details.len()));
        if more > 0 {
            let _ = writeln!(out, "{prefix}… and {more} more");
        }
        out
    }
}
