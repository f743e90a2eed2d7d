//! Opens once every watched kind's cache has completed its first list, so no actor decides
//! anything from a half-filled cache.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

#[derive(Clone)]
pub struct SyncGate {
    waiting: Arc<Mutex<HashSet<&'static str>>>,
    open: watch::Sender<bool>,
}

impl SyncGate {
    /// A gate waiting for each of `kinds`.
    pub fn new(kinds: impl IntoIterator<Item = &'static str>) -> Self {
        let waiting: HashSet<_> = kinds.into_iter().collect();
        let (open, _) = watch::channel(waiting.is_empty());
        Self {
            waiting: Arc::new(Mutex::new(waiting)),
            open,
        }
    }

    /// `kind`'s cache finished its initial list.
    pub fn synced(&self, kind: &'static str) {
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if w.remove(kind) && w.is_empty() {
            self.open.send_replace(true);
        }
    }

    pub fn is_open(&self) -> bool {
        *self.open.borrow()
    }

    pub async fn wait(&self) {
        let mut rx = self.open.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }

    /// Kinds not yet synced (for `/readyz`).
    pub fn missing(&self) -> Vec<&'static str> {
        let w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = w.iter().copied().collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opens_after_every_kind() {
        let g = SyncGate::new(["A", "B"]);
        assert!(!g.is_open());
        g.synced("A");
        g.synced("A");
        assert_eq!(g.missing(), vec!["B"]);
        assert!(!g.is_open());
        g.synced("B");
        assert!(g.is_open());
        g.wait().await;
    }
}
