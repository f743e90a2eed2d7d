//! Idle actors are put to sleep and woken by the next event of their object; an actor with
//! something scheduled stays awake.

mod common;

use std::time::Duration;

use capt::actors::registry::Dispatch;
use capt::actors::{Action, Trigger, block_on};
use common::{Env, behave, done, fast_settings, succeed};

#[test]
fn an_idle_actor_sleeps_and_the_next_event_wakes_a_new_one() {
    block_on(async {
        let env = Env::start(fast_settings(), succeed()).await;
        env.create("s", &[]).await;
        env.wait_count("s", 1).await;
        let key = Env::key("s");
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The first sweep only notes the idle actor; the second puts it to sleep.
        assert_eq!(env.reg.sweep(), 0);
        assert_eq!(env.reg.sweep(), 1);
        assert_eq!(env.reg.len(), 0, "no actor awake");
        assert!(env.reg.keys().contains(&key), "the object keeps its place");
        // An owner's wake-up (the kind a router sends for another object's event) finds it.
        assert!(env.reg.wake(&key, Trigger::Event("Secret"), None));
        env.wait_count("s", 2).await;
        assert_eq!(env.reg.len(), 1);
        let seen = env.rec.seen_of("s");
        assert_eq!(
            seen[1].trigger,
            Trigger::Start,
            "a new actor reconciles from the cache"
        );
        env.stop().await;
    });
}

#[test]
fn an_actor_with_a_requeue_stays_awake() {
    block_on(async {
        let env = Env::start(
            fast_settings(),
            behave(|_| async { done(Action::requeue(Duration::from_secs(60))) }),
        )
        .await;
        env.create("r", &[]).await;
        env.wait_count("r", 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..3 {
            assert_eq!(env.reg.sweep(), 0);
        }
        assert_eq!(env.reg.len(), 1);
        env.stop().await;
    });
}

#[test]
fn a_deleted_object_leaves_no_sleeper_behind() {
    block_on(async {
        let env = Env::start(fast_settings(), succeed()).await;
        env.create("d", &[]).await;
        env.wait_count("d", 1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        env.reg.sweep();
        assert_eq!(env.reg.sweep(), 1);
        let key = Env::key("d");
        env.reg.stop(&key);
        assert!(!env.reg.keys().contains(&key));
        assert!(!env.reg.wake(&key, Trigger::Event("Secret"), None));
        env.stop().await;
    });
}
