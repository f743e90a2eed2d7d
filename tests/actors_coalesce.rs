//! Coalescing: a burst of events while a reconcile is in flight costs at most two more reconciles,
//! and the last one sees the latest state.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use capt::actors::registry::Dispatch;
use capt::actors::{Action, RuntimeSettings, Trigger, block_on};
use common::{Env, WAIT, behave, fast_settings, rv, wait_until};
use tokio::sync::Semaphore;

/// The first reconcile of every object blocks until the test releases it.
fn held_first(hold: Arc<Semaphore>) -> common::Behave {
    behave(move |c| {
        let hold = hold.clone();
        async move {
            if c.n == 1 {
                hold.acquire().await.expect("semaphore open").forget();
            }
            common::done(Action::await_change())
        }
    })
}

fn settings() -> RuntimeSettings {
    RuntimeSettings {
        reconcile_timeout: Duration::from_secs(30),
        ..fast_settings()
    }
}

#[test]
fn hundred_updates_during_a_reconcile_coalesce() {
    block_on(async {
        let hold = Arc::new(Semaphore::new(0));
        let env = Env::start(settings(), held_first(hold.clone())).await;
        env.create("c", &[("v", "0")]).await;
        env.wait_count("c", 1).await;
        let queued_before = env.observer.queued.load(Ordering::SeqCst);

        let mut last = 0;
        for i in 1..=100 {
            last = rv(&env.set_data("c", "v", &i.to_string()).await);
        }
        env.wait_cache(last).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            env.rec.count("c"),
            1,
            "nothing runs beside the reconcile in flight"
        );
        hold.add_permits(1);

        let rec = env.rec.clone();
        wait_until("a reconcile of the last state", WAIT, || {
            rec.seen_of("c")
                .iter()
                .any(|s| s.data.get("v").map(String::as_str) == Some("100"))
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;

        let seen = env.rec.seen_of("c");
        assert!(
            (2..=3).contains(&seen.len()),
            "100 events during one reconcile must cost at most 2 more, got {}: {:?}",
            seen.len() - 1,
            seen.iter().map(|s| &s.trigger).collect::<Vec<_>>()
        );
        let last_seen = seen.last().unwrap();
        assert_eq!(last_seen.data["v"], "100");
        assert!(last_seen.rv >= last);
        assert_eq!(last_seen.trigger, Trigger::Event("ConfigMap"));
        let queued = env.observer.queued.load(Ordering::SeqCst) - queued_before;
        assert!(
            queued <= 2,
            "a burst queues one wake-up message, not one per event (got {queued})"
        );
        env.stop().await;
    });
}

#[test]
fn hundred_wakes_during_a_reconcile_coalesce() {
    block_on(async {
        let hold = Arc::new(Semaphore::new(0));
        let env = Env::start(settings(), held_first(hold.clone())).await;
        env.create("w", &[("v", "0")]).await;
        env.wait_count("w", 1).await;

        let key = Env::key("w");
        for _ in 0..100 {
            assert!(env.reg.wake(&key, Trigger::Event("Secret"), None));
        }
        assert!(
            !env.reg
                .wake(&Env::key("nobody"), Trigger::Event("Secret"), None)
        );
        hold.add_permits(1);
        env.wait_count("w", 2).await;
        tokio::time::sleep(Duration::from_millis(500)).await;

        let seen = env.rec.seen_of("w");
        assert_eq!(
            seen.len(),
            2,
            "100 wake-ups during one reconcile cost exactly one more: {:?}",
            seen.iter().map(|s| &s.trigger).collect::<Vec<_>>()
        );
        assert_eq!(seen[0].trigger, Trigger::Start);
        assert_eq!(seen[1].trigger, Trigger::Event("Secret"));
        env.stop().await;
    });
}
