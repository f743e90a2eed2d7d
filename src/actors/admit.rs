//! Whether an actor may start a reconcile now: the per-object rate limit, the wait for the caches
//! to show the object's own last writes, and no automatic retry of a generation that failed
//! terminally. Decided from plain inputs and the current time, so it is tested without an actor.

use std::time::{Duration, Instant};

use super::reconciler::Trigger;

/// The admission decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Start the reconcile.
    Run,
    /// Try again after this long.
    Defer(Duration),
    /// Drop this wake-up: the object is gone, or its generation failed terminally and the trigger
    /// is not new input.
    Skip,
}

/// What admission remembers between wake-ups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdmitState {
    /// Since when the actor waits for the caches to catch up with its own writes.
    pub fresh_wait_since: Option<Instant>,
    /// The generation (`Some(None)`: an object without one) whose reconcile failed terminally.
    pub terminal_generation: Option<Option<i64>>,
}

/// What admission reads at one wake-up.
#[derive(Clone, Debug)]
pub struct AdmitInput<'a> {
    /// How long the rate limiter holds the next reconcile back (`None`: it may run now).
    pub rate_wait: Option<Duration>,
    /// When the wake-up being admitted came (`None`: unknown, nothing to wait for).
    pub woke_at: Option<Instant>,
    /// How long a watch event waits for more events of the object before it runs.
    pub event_settle: Duration,
    /// The caches show every write of this object's earlier reconciles.
    pub caught_up: bool,
    /// The cached object's generation (`None`: the object is gone from the cache).
    pub object: Option<Option<i64>>,
    pub trigger: &'a Trigger,
    /// The longest wait for the caches before reconciling anyway.
    pub freshness_max_wait: Duration,
    /// How often to look again while waiting for the caches.
    pub freshness_poll: Duration,
}

/// Decide at `now`, updating `state`.
pub fn admit(state: &mut AdmitState, input: &AdmitInput, now: Instant) -> Admit {
    let settle_wait = (matches!(input.trigger, Trigger::Event(_)))
        .then(|| input.woke_at)
        .flatten()
        .map(|woke| {
            input
                .event_settle
                .saturating_sub(now.saturating_duration_since(woke))
        })
        .filter(|d| !d.is_zero());
    if let Some(wait) = input.rate_wait.or(settle_wait) {
        return Admit::Defer(wait.max(Duration::from_millis(1)));
    }
    if !input.caught_up {
        let since = *state.fresh_wait_since.get_or_insert(now);
        if now.saturating_duration_since(since) < input.freshness_max_wait {
            return Admit::Defer(input.freshness_poll);
        }
    }
    state.fresh_wait_since = None;
    // Gone from the cache: the router stops the actor on the delete event.
    let Some(generation) = input.object else {
        return Admit::Skip;
    };
    if let Some(g) = state.terminal_generation {
        // Terminal means no automatic retry of this generation: retries, requeues and timers are
        // dropped, but a watch event (a changed Workspace, template or secret) is new input.
        let automatic = matches!(
            input.trigger,
            Trigger::Retry | Trigger::Requeue | Trigger::Timer(_) | Trigger::Resync
        );
        if g == generation && automatic {
            return Admit::Skip;
        }
        state.terminal_generation = None;
    }
    Admit::Run
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_WAIT: Duration = Duration::from_millis(500);
    const POLL: Duration = Duration::from_millis(10);

    fn input(trigger: &Trigger) -> AdmitInput<'_> {
        AdmitInput {
            rate_wait: None,
            woke_at: None,
            event_settle: Duration::from_millis(15),
            caught_up: true,
            object: Some(Some(1)),
            trigger,
            freshness_max_wait: MAX_WAIT,
            freshness_poll: POLL,
        }
    }

    #[test]
    fn an_event_settles_before_it_runs() {
        let now = Instant::now();
        let t = Trigger::Event("Workspace");
        let mut st = AdmitState::default();
        let i = AdmitInput {
            woke_at: Some(now - Duration::from_millis(3)),
            ..input(&t)
        };
        assert_eq!(
            admit(&mut st, &i, now),
            Admit::Defer(Duration::from_millis(12))
        );
        assert_eq!(admit(&mut st, &input(&t), now), Admit::Run);
        // Settled once the time has passed; what the runtime schedules itself never settles.
        let later = now + Duration::from_millis(12);
        assert_eq!(admit(&mut st, &i, later), Admit::Run);
        let requeue = Trigger::Requeue;
        let r = AdmitInput {
            woke_at: Some(now),
            ..input(&requeue)
        };
        assert_eq!(admit(&mut st, &r, now), Admit::Run);
    }

    #[test]
    fn the_rate_limit_defers_first() {
        let now = Instant::now();
        let t = Trigger::Start;
        let mut st = AdmitState::default();
        let i = AdmitInput {
            rate_wait: Some(Duration::from_millis(40)),
            caught_up: false,
            object: None,
            ..input(&t)
        };
        assert_eq!(
            admit(&mut st, &i, now),
            Admit::Defer(Duration::from_millis(40))
        );
        // The freshness wait has not started: the rate limit came first.
        assert_eq!(st.fresh_wait_since, None);
        let zero = AdmitInput {
            rate_wait: Some(Duration::ZERO),
            ..input(&t)
        };
        assert_eq!(
            admit(&mut st, &zero, now),
            Admit::Defer(Duration::from_millis(1))
        );
    }

    /// Time is an argument: the test steps it by hand.
    #[test]
    fn stale_caches_are_waited_for_up_to_the_limit() {
        let start = Instant::now();
        let t = Trigger::Event("Secret");
        let mut st = AdmitState::default();
        let stale = AdmitInput {
            caught_up: false,
            ..input(&t)
        };
        assert_eq!(admit(&mut st, &stale, start), Admit::Defer(POLL));
        let now = start + MAX_WAIT / 2;
        assert_eq!(admit(&mut st, &stale, now), Admit::Defer(POLL));
        assert_eq!(st.fresh_wait_since, Some(start));
        let now = start + MAX_WAIT;
        assert_eq!(admit(&mut st, &stale, now), Admit::Run, "reconciles anyway");
        assert_eq!(st.fresh_wait_since, None);
        // Caught up: runs at once, and a later wait starts afresh.
        assert_eq!(admit(&mut st, &input(&t), now), Admit::Run);
        assert_eq!(admit(&mut st, &stale, now), Admit::Defer(POLL));
        assert_eq!(st.fresh_wait_since, Some(now));
    }

    #[test]
    fn a_gone_object_is_skipped() {
        let t = Trigger::Start;
        let mut st = AdmitState::default();
        let gone = AdmitInput {
            object: None,
            ..input(&t)
        };
        assert_eq!(admit(&mut st, &gone, Instant::now()), Admit::Skip);
    }

    #[test]
    fn a_terminal_generation_runs_only_on_new_input() {
        let now = Instant::now();
        let cases = [
            (Trigger::Retry, Some(1), Admit::Skip),
            (Trigger::Requeue, Some(1), Admit::Skip),
            (Trigger::Timer("deadline"), Some(1), Admit::Skip),
            (Trigger::Resync, Some(1), Admit::Skip),
            (Trigger::Event("Workspace"), Some(1), Admit::Run),
            (Trigger::Start, Some(1), Admit::Run),
            (Trigger::Retry, Some(2), Admit::Run),
        ];
        for (trigger, generation, want) in cases {
            let mut st = AdmitState {
                terminal_generation: Some(Some(1)),
                ..AdmitState::default()
            };
            let i = AdmitInput {
                object: Some(generation),
                ..input(&trigger)
            };
            assert_eq!(
                admit(&mut st, &i, now),
                want,
                "{trigger:?} at {generation:?}"
            );
            let forgotten = want == Admit::Run;
            assert_eq!(st.terminal_generation.is_none(), forgotten, "{trigger:?}");
        }
    }
}
