//! "Wake me when this object appears or changes": a decision waiting for a Secret or a Workspace
//! registers here, and the router of that kind wakes it — watches instead of polling.

use std::collections::HashSet;

use dashmap::DashMap;

use crate::actors::ObjectKey;
use crate::api::kinds::Kind;

#[derive(Default)]
pub struct Waiters {
    by_target: DashMap<String, HashSet<ObjectKey>>,
}

fn target(kind: Kind, namespace: &str, name: &str) -> String {
    format!("{kind}/{namespace}/{name}")
}

impl Waiters {
    /// `waiter` wants a wake-up on the next event of `kind namespace/name`.
    pub fn wait_for(&self, kind: Kind, namespace: &str, name: &str, waiter: &ObjectKey) {
        self.by_target
            .entry(target(kind, namespace, name))
            .or_default()
            .insert(waiter.clone());
    }

    /// Everyone waiting for `kind namespace/name` (they are forgotten: waiting again re-registers).
    pub fn take(&self, kind: Kind, namespace: &str, name: &str) -> Vec<ObjectKey> {
        self.by_target
            .remove(&target(kind, namespace, name))
            .map(|(_, s)| s.into_iter().collect())
            .unwrap_or_default()
    }

    /// Forget every waiter (their wake-ups are lost; the resync pass recovers them).
    pub fn clear(&self) {
        self.by_target.clear();
    }

    pub fn len(&self) -> usize {
        self.by_target.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_target.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_are_woken_once() {
        let w = Waiters::default();
        let a = ObjectKey::new("WorkspaceTemplateApply", "ns", "a");
        w.wait_for(Kind::Secret, "ns", "s", &a);
        w.wait_for(Kind::Secret, "ns", "s", &a);
        assert_eq!(w.take(Kind::Secret, "ns", "other"), vec![]);
        assert_eq!(w.take(Kind::Secret, "ns", "s"), vec![a]);
        assert!(w.take(Kind::Secret, "ns", "s").is_empty());
        assert!(w.is_empty());
    }
}
