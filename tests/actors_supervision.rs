//! Supervision and shutdown: a panicking reconcile restarts only its actor; shutdown waits for
//! reconciles in flight and stops taking new objects.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use capt::actors::observer::Outcome;
use capt::actors::registry::Dispatch;
use capt::actors::{Action, RuntimeSettings, Trigger, block_on};
use common::{Behave, Call, Env, WAIT, behave, fast_settings, wait_until};

fn panics_once_then_requeues() -> Behave {
    behave(|c: Call| async move {
        if c.name() == "p" && c.n == 1 {
            panic!("scripted panic in reconcile");
        }
        if c.name() == "q" {
            return common::done(Action::requeue(Duration::from_millis(50)));
        }
        common::done(Action::await_change())
    })
}

async fn panicking_actor_restarts_alone(behave: Behave) {
    let env = Env::start(fast_settings(), behave).await;
    env.create("q", &[]).await;
    env.wait_count("q", 2).await;
    env.create("p", &[("v", "0")]).await;
    let obs = env.observer.clone();
    wait_until("the panic", WAIT, || obs.outcome_count(Outcome::Panic) == 1).await;
    let q_at_panic = env.rec.count("q");

    env.wait_count("p", 2).await;
    let p = env.rec.seen_of("p");
    assert_eq!(
        p[1].trigger,
        Trigger::Start,
        "the restarted actor reconciles on start"
    );
    env.wait_count("q", q_at_panic + 3).await;

    // The restarted actor keeps its address: events still reach it.
    env.set_data("p", "v", "1").await;
    env.wait_count("p", 3).await;
    assert_eq!(env.observer.outcome_count(Outcome::Panic), 1);
    assert_eq!(env.reg.len(), 2);
    assert_eq!(env.observer.actors.load(Ordering::SeqCst), 2);
    env.stop().await;
}

#[test]
fn panicking_reconcile_restarts_only_its_actor() {
    block_on(panicking_actor_restarts_alone(panics_once_then_requeues()));
}

#[test]
fn panic_before_the_reconcile_future_exists_is_caught_too() {
    let inner = panics_once_then_requeues();
    let eager: Behave = Arc::new(move |c: Call| {
        if c.name() == "p" && c.n == 1 {
            panic!("scripted panic while building the reconcile future");
        }
        inner(c)
    });
    block_on(panicking_actor_restarts_alone(eager));
}

#[test]
fn shutdown_waits_for_the_reconcile_in_flight_and_stops_intake() {
    block_on(async {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let settings = RuntimeSettings {
            reconcile_timeout: Duration::from_secs(5),
            ..fast_settings()
        };
        let mut env = Env::start(
            settings,
            behave(move |c| {
                let d = d.clone();
                async move {
                    if c.name() == "s" {
                        tokio::time::sleep(Duration::from_millis(800)).await;
                        d.store(true, Ordering::SeqCst);
                    }
                    common::done(Action::await_change())
                }
            }),
        )
        .await;
        env.create("s", &[]).await;
        env.wait_count("s", 1).await;
        let runtime = env.runtime.take().unwrap();
        let drained = runtime.shutdown(Duration::from_secs(5)).await;
        assert!(drained, "shutdown reports the reconcile in flight drained");
        assert!(
            done.load(Ordering::SeqCst),
            "shutdown returned before the reconcile in flight finished"
        );
        assert_eq!(env.observer.outcome_count(Outcome::Success), 1);

        env.create("late", &[]).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(env.rec.count("late"), 0, "no new actors after shutdown");
        assert_eq!(env.reg.len(), 0);
        env.stop().await;
    });
}

#[test]
fn shutdown_gives_up_at_its_deadline() {
    block_on(async {
        let settings = RuntimeSettings {
            reconcile_timeout: Duration::from_secs(30),
            ..fast_settings()
        };
        let mut env = Env::start(
            settings,
            behave(|_| async {
                tokio::time::sleep(Duration::from_secs(20)).await;
                common::done(Action::await_change())
            }),
        )
        .await;
        env.create("stuck", &[]).await;
        env.wait_count("stuck", 1).await;
        let runtime = env.runtime.take().unwrap();
        let drained = runtime.shutdown(Duration::from_millis(300)).await;
        assert!(
            !drained,
            "a reconcile still running at the deadline is reported"
        );
        env.stop().await;
    });
}
