//! Timers and requeues armed by a reconcile wake the actor with the right trigger; cancelled
//! timers never fire and re-armed ones fire once.

mod common;

use std::time::Duration;

use capt::actors::{Action, TimerCmd, Trigger, block_on};
use common::{Call, Env, behave, fast_settings};

#[test]
fn timers_fire_by_name_and_cancelled_ones_never_do() {
    block_on(async {
        let env = Env::start(
            fast_settings(),
            behave(|c: Call| async move {
                common::done(match (c.name(), c.n) {
                    ("t", 1) => Action::await_change()
                        .with_timer(TimerCmd::Arm {
                            name: "a",
                            after: Duration::from_millis(100),
                        })
                        .with_timer(TimerCmd::Arm {
                            name: "b",
                            after: Duration::from_millis(1500),
                        })
                        .with_timer(TimerCmd::Arm {
                            name: "c",
                            after: Duration::from_millis(400),
                        }),
                    ("t", 2) => Action::await_change()
                        .with_timer(TimerCmd::Cancel("b"))
                        .with_timer(TimerCmd::Arm {
                            name: "c",
                            after: Duration::from_millis(400),
                        }),
                    ("r", 1) => Action::requeue(Duration::from_millis(100)),
                    _ => Action::await_change(),
                })
            }),
        )
        .await;
        env.create("t", &[]).await;
        env.create("r", &[]).await;
        env.wait_count("t", 3).await;
        env.wait_count("r", 2).await;
        // Past the cancelled timer's deadline (1.5 s after the first reconcile).
        tokio::time::sleep(Duration::from_millis(2000)).await;

        let triggers: Vec<Trigger> = env
            .rec
            .seen_of("t")
            .into_iter()
            .map(|s| s.trigger)
            .collect();
        assert_eq!(
            triggers,
            vec![Trigger::Start, Trigger::Timer("a"), Trigger::Timer("c")],
            "timer a fires, b was cancelled, c was re-armed and fires once"
        );
        let t = env.rec.seen_of("t");
        assert!(
            t[2].at - t[1].at >= Duration::from_millis(398),
            "re-arming replaced c's deadline"
        );

        let requeues: Vec<Trigger> = env
            .rec
            .seen_of("r")
            .into_iter()
            .map(|s| s.trigger)
            .collect();
        assert_eq!(requeues, vec![Trigger::Start, Trigger::Requeue]);
        env.stop().await;
    });
}
