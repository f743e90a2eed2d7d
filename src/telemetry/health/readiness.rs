//! Shared readiness state behind `/readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
struct Flags {
    caches_synced: AtomicBool,
    leader_known: AtomicBool,
}

/// Ready once the informer caches synced and the leadership state is known. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    flags: Arc<Flags>,
}

/// One readiness check and whether it passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// Check name as printed by `/readyz`.
    pub name: &'static str,
    /// Whether it passes.
    pub ok: bool,
}

impl Readiness {
    /// Not ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records whether every watched kind's cache has synced.
    pub fn set_caches_synced(&self, synced: bool) {
        self.flags.caches_synced.store(synced, Ordering::Release);
    }

    /// Records whether this replica knows if it leads (either answer counts).
    pub fn set_leader_known(&self, known: bool) {
        self.flags.leader_known.store(known, Ordering::Release);
    }

    /// Both checks, in `/readyz` order.
    pub fn checks(&self) -> [Check; 2] {
        [
            Check {
                name: "caches-synced",
                ok: self.flags.caches_synced.load(Ordering::Acquire),
            },
            Check {
                name: "leader-known",
                ok: self.flags.leader_known.load(Ordering::Acquire),
            },
        ]
    }

    /// True when every check passes.
    pub fn is_ready(&self) -> bool {
        self.checks().iter().all(|c| c.ok)
    }

    /// Names of the failing checks.
    pub fn missing(&self) -> Vec<&'static str> {
        self.checks()
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name)
            .collect()
    }
}
