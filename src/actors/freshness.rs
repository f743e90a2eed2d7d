//! Read-your-writes: remember the resourceVersions an actor wrote and how far each cache has seen,
//! so a reconcile never starts from a cache older than the actor's own last write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// resourceVersions are opaque in the API; in practice (etcd, the in-memory server) they are
/// decimal revisions. Non-numeric versions are treated as "unknown" and never block.
pub fn parse_rv(rv: Option<&str>) -> Option<u64> {
    rv.and_then(|s| s.parse().ok())
}

/// The highest resourceVersion each watched kind's cache has applied.
#[derive(Clone, Default)]
pub struct Freshness {
    seen: Arc<dashmap::DashMap<&'static str, Arc<AtomicU64>>>,
}

impl Freshness {
    /// The counter for `kind`, created on first use (hold on to it in hot paths).
    pub fn counter(&self, kind: &'static str) -> Arc<AtomicU64> {
        if let Some(c) = self.seen.get(kind) {
            return c.clone();
        }
        self.seen.entry(kind).or_default().clone()
    }

    pub fn observe(&self, kind: &'static str, rv: Option<&str>) {
        if let Some(v) = parse_rv(rv) {
            self.counter(kind).fetch_max(v, Ordering::Relaxed);
        }
    }

    pub fn seen(&self, kind: &'static str) -> u64 {
        self.seen
            .get(kind)
            .map(|c| c.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// True when every write in `log` is visible in its kind's cache.
    pub fn caught_up(&self, log: &WriteLog) -> bool {
        log.pending()
            .into_iter()
            .all(|(kind, rv)| self.seen(kind) >= rv)
    }
}

/// The writes one actor made, by kind (only the highest version per kind matters).
#[derive(Clone, Debug, Default)]
pub struct WriteLog {
    inner: Arc<Mutex<HashMap<&'static str, u64>>>,
    /// resourceVersion of the actor's last status write of its own object.
    status: Arc<AtomicU64>,
}

impl WriteLog {
    /// Record a status write of the actor's own object (also recorded as a write of `kind`).
    pub fn record_status(&self, kind: &'static str, rv: Option<&str>) {
        self.record(kind, rv);
        if let Some(v) = parse_rv(rv) {
            self.status.store(v, Ordering::Release);
        }
    }

    /// The resourceVersion of the last status write, 0 when none.
    pub fn last_status(&self) -> u64 {
        self.status.load(Ordering::Acquire)
    }

    /// Record that an object of `kind` was written and the server answered with `rv`.
    pub fn record(&self, kind: &'static str, rv: Option<&str>) {
        if let Some(v) = parse_rv(rv) {
            let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let e = m.entry(kind).or_default();
            *e = (*e).max(v);
        }
    }

    /// The highest version written for `kind` and not yet pruned.
    pub fn last(&self, kind: &'static str) -> Option<u64> {
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        m.get(kind).copied()
    }

    pub fn pending(&self) -> Vec<(&'static str, u64)> {
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        m.iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Forget writes the caches have caught up with.
    pub fn prune(&self, fresh: &Freshness) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|kind, rv| fresh.seen(kind) < *rv);
    }

    pub fn is_empty(&self) -> bool {
        self.inner.lock().map(|m| m.is_empty()).unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_up_only_when_every_written_kind_is_seen() {
        let fresh = Freshness::default();
        let log = WriteLog::default();
        assert!(fresh.caught_up(&log));
        log.record("Secret", Some("10"));
        log.record("Secret", Some("7"));
        log.record("CAPTControlPlane", Some("12"));
        assert!(!fresh.caught_up(&log));
        fresh.observe("Secret", Some("10"));
        assert!(!fresh.caught_up(&log));
        fresh.observe("CAPTControlPlane", Some("13"));
        assert!(fresh.caught_up(&log));
        log.prune(&fresh);
        assert!(log.is_empty());
    }

    #[test]
    fn opaque_versions_never_block() {
        let fresh = Freshness::default();
        let log = WriteLog::default();
        log.record("Secret", Some("abc"));
        assert!(fresh.caught_up(&log));
        fresh.observe("Secret", Some("xyz"));
        assert_eq!(fresh.seen("Secret"), 0);
    }
}
