//! The router's side of an actor: a coalescing inbox that never blocks the router.
//!
//! The router records why the actor should run (the first trigger and the span contexts of the
//! events) and sends at most one wake-up message while the actor has not drained the inbox, so a
//! burst of events costs one message and one reconcile.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use opentelemetry::trace::SpanContext;

use super::freshness::WriteLog;
use super::reconciler::Trigger;

/// Span links kept per wake-up; further events are counted but not linked.
pub const MAX_LINKS: usize = 8;

/// [`Inbox::idle`] states: the actor has work (or may soon), it has none, or it had none at the
/// last sweep too (the next sweep may put it to sleep).
const BUSY: u8 = 0;
const IDLE: u8 = 1;
const IDLE_SEEN: u8 = 2;

#[derive(Default)]
pub struct Inbox {
    pending: AtomicBool,
    /// Whether the actor has nothing to do (no reconcile, timer, retry or wake-up), see
    /// [`Inbox::set_idle`] and [`Inbox::sleepy`].
    idle: std::sync::atomic::AtomicU8,
    /// resourceVersion of the owned object last dispatched (0 = none), to skip re-list echoes.
    last_rv: AtomicU64,
    state: Mutex<Pending>,
    /// What the actor wrote, shared with the router so echoes of its own writes wake nobody.
    pub writes: WriteLog,
}

/// What accumulated since the actor last drained its inbox.
#[derive(Debug, Default)]
pub struct Pending {
    pub trigger: Option<Trigger>,
    pub links: Vec<SpanContext>,
    pub events: u32,
    pub since: Option<Instant>,
}

impl Inbox {
    /// Record a reason to reconcile. Returns true when the caller must send a wake-up message
    /// (the inbox was empty); false when one is already on its way.
    pub fn push(&self, trigger: Trigger, link: Option<SpanContext>) -> bool {
        {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if st.trigger.is_none() {
                st.since = Some(Instant::now());
            }
            st.trigger = Some(Trigger::keep(st.trigger.take(), trigger));
            st.events = st.events.saturating_add(1);
            if let Some(l) = link.filter(|l| l.is_valid())
                && st.links.len() < MAX_LINKS
            {
                st.links.push(l);
            }
        }
        !self.pending.swap(true, Ordering::AcqRel)
    }

    /// Take everything recorded so far.
    pub fn drain(&self) -> Pending {
        // Busy before the wake-up is taken: a sweep that no longer sees it pending sees the
        // actor busy (see `Registry::sweep`).
        self.idle.store(BUSY, Ordering::Release);
        self.pending.store(false, Ordering::Release);
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *st)
    }

    pub fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// The event of the owned object at `rv` is the echo of the actor's own last status write:
    /// the actor decided that status from this very object and wrote everything else before it, so
    /// it need not run again. (Echoes of spec or metadata writes are not skipped: they may change
    /// the generation the status reports.)
    pub fn is_own_status_write(&self, rv: u64) -> bool {
        rv != 0 && self.writes.last_status() == rv
    }

    /// The actor says whether it has nothing to do.
    pub fn set_idle(&self, idle: bool) {
        if !idle {
            self.idle.store(BUSY, Ordering::Release);
        } else {
            let _ = (self.idle).compare_exchange(BUSY, IDLE, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// Called by each sweep: true when the actor was idle at the previous sweep and still is,
    /// with no wake-up waiting (it may be put to sleep); an idle actor seen for the first time is
    /// remembered for the next sweep.
    pub fn sleepy(&self) -> bool {
        if self.is_pending() {
            return false;
        }
        match self.idle.load(Ordering::Acquire) {
            IDLE_SEEN => true,
            IDLE => {
                let _ = (self.idle).compare_exchange(
                    IDLE,
                    IDLE_SEEN,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                false
            }
            _ => false,
        }
    }

    /// Remember the owned object's resourceVersion; false when it was already dispatched.
    pub fn note_version(&self, rv: u64) -> bool {
        rv == 0 || self.last_rv.swap(rv, Ordering::AcqRel) != rv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_wakeup_per_burst_and_first_trigger_wins() {
        let inbox = Inbox::default();
        assert!(inbox.push(Trigger::Event("Secret"), None));
        for _ in 0..99 {
            assert!(!inbox.push(Trigger::Event("Workspace"), None));
        }
        let p = inbox.drain();
        assert_eq!(p.trigger, Some(Trigger::Event("Secret")));
        assert_eq!(p.events, 100);
        assert!(!inbox.is_pending());
        assert!(inbox.push(Trigger::Requeue, None));
    }

    #[test]
    fn an_actor_is_sleepy_only_when_idle_over_two_sweeps_with_nothing_pending() {
        let inbox = Inbox::default();
        assert!(!inbox.sleepy(), "busy");
        inbox.set_idle(true);
        assert!(!inbox.sleepy(), "first sweep only remembers");
        assert!(inbox.sleepy());
        inbox.set_idle(false);
        assert!(!inbox.sleepy());
        inbox.set_idle(true);
        assert!(!inbox.sleepy());
        inbox.push(Trigger::Event("Secret"), None);
        assert!(!inbox.sleepy(), "a wake-up is waiting");
    }

    #[test]
    fn repeated_versions_are_not_dispatched_twice() {
        let inbox = Inbox::default();
        assert!(inbox.note_version(5));
        assert!(!inbox.note_version(5));
        assert!(inbox.note_version(6));
        assert!(inbox.note_version(0));
        assert!(inbox.note_version(0));
    }
}
