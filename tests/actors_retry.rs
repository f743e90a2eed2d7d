//! Failure handling of one actor: transient errors back off and stop after success, the
//! per-object rate limit holds bursts back, deadlines cancel and retry, terminal errors are not
//! retried but new input (watch events, a new generation) is reconciled, and waiting is not an error.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use capt::actors::backoff::BackoffPolicy;
use capt::actors::observer::Outcome;
use capt::actors::registry::Dispatch;
use capt::actors::{Action, RuntimeSettings, Trigger, block_on};
use common::{Env, WAIT, behave, fast_settings, succeed, wait_until};

#[test]
fn transient_errors_back_off_and_success_resets() {
    block_on(async {
        let policy = BackoffPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(5),
            jitter: 0.0,
        };
        let settings = RuntimeSettings {
            backoff: policy,
            ..fast_settings()
        };
        let env = Env::start(
            settings,
            behave(|c| async move {
                match c.n {
                    1..=4 | 6 => common::transient("not yet"),
                    _ => common::done(Action::await_change()),
                }
            }),
        )
        .await;
        env.create("b", &[("v", "0")]).await;
        env.wait_count("b", 5).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        let seen = env.rec.seen_of("b");
        assert_eq!(seen.len(), 5, "no retry after a success");
        assert_eq!(seen[0].trigger, Trigger::Start);
        for (i, pair) in seen.windows(2).enumerate() {
            assert_eq!(pair[1].trigger, Trigger::Retry);
            let gap = pair[1].at - pair[0].at;
            let nominal = policy.nominal(i as u32 + 1);
            assert!(
                gap + Duration::from_millis(2) >= nominal,
                "retry {} came after {gap:?}, before its backoff {nominal:?}",
                i + 1
            );
        }
        assert_eq!(env.observer.retried.load(Ordering::SeqCst), 4);
        assert_eq!(env.observer.outcome_count(Outcome::Error), 4);
        assert_eq!(env.observer.outcome_count(Outcome::Success), 1);

        // The success reset the backoff: the next failure waits `base` again, not 1.6 s.
        env.set_data("b", "v", "1").await;
        env.wait_count("b", 7).await;
        let seen = env.rec.seen_of("b");
        assert_eq!(seen[5].trigger, Trigger::Event("ConfigMap"));
        assert_eq!(seen[6].trigger, Trigger::Retry);
        let gap = seen[6].at - seen[5].at;
        assert!(gap + Duration::from_millis(2) >= policy.base);
        assert!(
            gap < policy.nominal(5),
            "backoff was not reset by the success: waited {gap:?}"
        );
        env.stop().await;
    });
}

#[test]
fn per_object_rate_limit_holds_scheduled_wakeups_back() {
    block_on(async {
        let settings = RuntimeSettings {
            object_rate_per_sec: 1,
            object_burst: 2,
            ..fast_settings()
        };
        let env = Env::start(settings, succeed()).await;
        env.create("r", &[]).await;
        env.wait_count("r", 1).await;
        let key = Env::key("r");
        for _ in 0..10 {
            env.reg.wake(&key, Trigger::Resync, None);
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        // The held-back wake-ups are not lost: one more reconcile comes once a token is free.
        env.wait_count("r", 3).await;
        let seen = env.rec.seen_of("r");
        let first = seen[0].at;
        let early = seen
            .iter()
            .filter(|s| s.at < first + Duration::from_secs(1))
            .count();
        assert!(
            early <= 3,
            "rate 1/s burst 2 allows at most 3 reconciles in the first second, got {early}"
        );
        assert!(env.observer.rate_limited.load(Ordering::SeqCst) > 0);
        env.stop().await;
    });
}

#[test]
fn watch_events_are_not_paced_by_the_rate_limit() {
    block_on(async {
        let settings = RuntimeSettings {
            object_rate_per_sec: 1,
            object_burst: 1,
            ..fast_settings()
        };
        let env = Env::start(settings, succeed()).await;
        env.create("e", &[]).await;
        env.wait_count("e", 1).await;
        let key = Env::key("e");
        // A resync wake-up takes the only token; the next one waits a second for it...
        env.reg.wake(&key, Trigger::Resync, None);
        env.wait_count("e", 2).await;
        env.reg.wake(&key, Trigger::Resync, None);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(env.rec.seen_of("e").len(), 2, "the resync is held back");
        // ...but watch events run as they come, one at a time, and take over the held-back wake-up.
        for _ in 0..5 {
            env.reg.wake(&key, Trigger::Event("Secret"), None);
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        let seen = env.rec.seen_of("e");
        let first = seen[0].at;
        let events = seen
            .iter()
            .filter(|s| s.trigger == Trigger::Event("Secret"))
            .filter(|s| s.at < first + Duration::from_secs(1))
            .count();
        assert_eq!(
            events, 5,
            "every event reconciled within the second: {seen:?}"
        );
        env.stop().await;
    });
}

#[test]
fn reconcile_past_its_deadline_is_cancelled_and_retried() {
    block_on(async {
        let finished_late = Arc::new(AtomicBool::new(false));
        let f = finished_late.clone();
        let env = Env::start(
            fast_settings(),
            behave(move |c| {
                let f = f.clone();
                async move {
                    if c.n == 1 {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        f.store(true, Ordering::SeqCst);
                    }
                    common::done(Action::await_change())
                }
            }),
        )
        .await;
        env.create("d", &[]).await;
        env.wait_count("d", 2).await;
        let seen = env.rec.seen_of("d");
        assert_eq!(seen[1].trigger, Trigger::Retry);
        assert_eq!(env.observer.outcome_count(Outcome::Timeout), 1);
        assert!(env.observer.retried.load(Ordering::SeqCst) >= 1);
        let obs = env.observer.clone();
        wait_until("the retry to finish", WAIT, || {
            obs.outcome_count(Outcome::Success) >= 1
        })
        .await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(
            !finished_late.load(Ordering::SeqCst),
            "the timed-out reconcile was not cancelled"
        );
        assert_eq!(env.observer.active.load(Ordering::SeqCst), 0);
        assert_eq!(env.rec.count("d"), 2);
        env.stop().await;
    });
}

#[test]
fn terminal_error_is_not_retried_but_sees_new_input() {
    block_on(async {
        let env = Env::start(
            fast_settings(),
            behave(|c| async move {
                if c.data("mode") == Some("bad") {
                    common::terminal("invalid spec")
                } else {
                    common::done(Action::await_change())
                }
            }),
        )
        .await;
        let created = env.create("t", &[("mode", "bad")]).await;
        env.wait_count("t", 1).await;
        let obs = env.observer.clone();
        wait_until("the terminal error", WAIT, || {
            obs.outcome_count(Outcome::Error) == 1
        })
        .await;

        // No automatic retry at the same generation: retries, requeues and timers are dropped.
        let key = Env::key("t");
        for _ in 0..5 {
            env.reg.wake(&key, Trigger::Retry, None);
            env.reg.wake(&key, Trigger::Requeue, None);
            env.reg.wake(&key, Trigger::Timer("deadline"), None);
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(env.rec.count("t"), 1, "no retry at the same generation");
        assert_eq!(env.observer.retried.load(Ordering::SeqCst), 0);

        // A watch event is new input (a Workspace or secret that changed): it is reconciled,
        // still without a retry of its own.
        let relabelled = env.set_label("t", "touched", "yes").await;
        assert_eq!(
            relabelled.metadata.generation, created.metadata.generation,
            "a metadata change keeps the generation"
        );
        env.wait_count("t", 2).await;
        env.reg.wake(&key, Trigger::Event("Secret"), None);
        env.wait_count("t", 3).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(env.rec.count("t"), 3, "one reconcile per new input");
        assert_eq!(env.observer.retried.load(Ordering::SeqCst), 0);

        // A spec (data) change bumps the generation and reconciles again.
        let fixed = env.set_data("t", "mode", "good").await;
        assert!(fixed.metadata.generation > created.metadata.generation);
        env.wait_count("t", 4).await;
        let seen = env.rec.seen_of("t");
        assert_eq!(seen[3].generation, fixed.metadata.generation);
        assert_eq!(seen[3].data["mode"], "good");
        let obs = env.observer.clone();
        wait_until("the success", WAIT, || {
            obs.outcome_count(Outcome::Success) == 1
        })
        .await;
        env.stop().await;
    });
}

#[test]
fn waiting_is_not_retried_but_events_still_reconcile() {
    block_on(async {
        let env = Env::start(
            fast_settings(),
            behave(|c| async move {
                if c.n == 1 {
                    common::waiting("DependencyNotReady")
                } else {
                    common::done(Action::await_change())
                }
            }),
        )
        .await;
        env.create("w", &[]).await;
        env.wait_count("w", 1).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(env.rec.count("w"), 1);
        assert_eq!(env.observer.retried.load(Ordering::SeqCst), 0);
        assert_eq!(env.observer.outcome_count(Outcome::Error), 0);
        assert!(env.observer.failures.lock().unwrap().is_empty());
        env.reg.wake(&Env::key("w"), Trigger::Event("Secret"), None);
        env.wait_count("w", 2).await;
        env.stop().await;
    });
}
