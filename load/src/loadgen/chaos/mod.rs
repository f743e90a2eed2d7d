//! Chaos mode of `capt-load run`: a seeded schedule of fault windows (controller kills, API
//! server restarts, error and conflict storms, watch drops, latency) injected while the load
//! runs, and the fault table of the report. All faults stay inside this process and its child
//! controller: the API server is the in-process kubesim on loopback.

mod inject;
mod phase;
mod report;
mod shard;

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use inject::{Injected, Injector, Target, WriteMark};
pub use phase::{Running, start};
pub use report::{ChaosReport, FaultRow, Window};

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum ChaosKind {
    /// SIGKILL the controller (the leading replica); it starts again when the window ends.
    ControllerKill,
    /// SIGKILL the leading replica (needs `--replicas 2` or more) and keep it down until a
    /// standby took the Lease over; it then starts again as a standby.
    LeaderKill,
    /// SIGKILL a sharded replica that does not coordinate the ring (needs `--sharding` and
    /// `--replicas 2` or more) and keep it down until its objects moved to the others; it then
    /// starts again and takes its share back.
    ReplicaKill,
    /// The same for the replica coordinating the ring: another one must take coordination over
    /// before the objects move.
    CoordinatorKill,
    /// The API server drops every connection and watch, refuses connections for the window and
    /// comes back with its watch history compacted (resumed watches get 410 Gone).
    ApiserverRestart,
    /// 503 and 429 (with `Retry-After`) on a share of all requests.
    Errors,
    /// 409 Conflict on a share of updates and patches.
    Conflicts,
    /// Every watch stream is cut at the window start and new ones are cut after a short time.
    WatchDrops,
    /// Added latency on every request.
    Slow,
}

impl ChaosKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ControllerKill => "controller-kill",
            Self::LeaderKill => "leader-kill",
            Self::ReplicaKill => "replica-kill",
            Self::CoordinatorKill => "coordinator-kill",
            Self::ApiserverRestart => "apiserver-restart",
            Self::Errors => "errors",
            Self::Conflicts => "conflicts",
            Self::WatchDrops => "watch-drops",
            Self::Slow => "slow",
        }
    }

    /// Whether the kind needs the in-process API server.
    pub fn needs_server(self) -> bool {
        !self.kills_controller()
    }

    /// Whether the kind kills a controller process (it needs one started by the load generator).
    pub fn kills_controller(self) -> bool {
        matches!(
            self,
            Self::ControllerKill | Self::LeaderKill | Self::ReplicaKill | Self::CoordinatorKill
        )
    }

    /// Whether the kind kills a replica of a shard ring (it needs `--sharding`).
    pub fn kills_shard(self) -> bool {
        matches!(self, Self::ReplicaKill | Self::CoordinatorKill)
    }
}

impl std::fmt::Display for ChaosKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings of the fault schedule (from the `--chaos*` flags).
#[derive(Clone, Debug)]
pub struct Settings {
    pub kinds: Vec<ChaosKind>,
    /// Mean gap before each window, in seconds (drawn from 0.5× to 1.5×).
    pub interval: f64,
    /// Mean window length, in seconds (drawn from 0.5× to 1.5×).
    pub duration: f64,
    /// Windows per kind.
    pub windows: usize,
    /// Share of matching requests failed by `errors` and `conflicts`.
    pub rate: f64,
    /// Latency added by `slow`.
    pub latency: Duration,
    pub seed: u64,
}

/// The fault windows, in time order, not overlapping: every kind `windows` times in a seeded
/// order, each after a seeded gap. Times are seconds from the first cluster create.
pub fn schedule(s: &Settings) -> Vec<Window> {
    let mut rng = StdRng::seed_from_u64(s.seed ^ 0x6368_616f_735f_7363);
    let mut kinds: Vec<ChaosKind> = Vec::new();
    for _ in 0..s.windows {
        kinds.extend(s.kinds.iter().copied());
    }
    // Fisher-Yates with the seeded generator.
    for i in (1..kinds.len()).rev() {
        let j = rng.random_range(0..=i);
        kinds.swap(i, j);
    }
    let mut t = 0.0;
    kinds
        .into_iter()
        .map(|kind| {
            t += s.interval.max(0.0) * rng.random_range(0.5..1.5);
            let duration = s.duration.max(0.05) * rng.random_range(0.5..1.5);
            let w = Window {
                kind,
                start_secs: t,
                duration_secs: duration,
            };
            t += duration;
            w
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(seed: u64) -> Settings {
        Settings {
            kinds: vec![
                ChaosKind::Errors,
                ChaosKind::ControllerKill,
                ChaosKind::Slow,
            ],
            interval: 2.0,
            duration: 1.0,
            windows: 2,
            rate: 0.2,
            latency: Duration::from_millis(100),
            seed,
        }
    }

    #[test]
    fn schedule_is_seeded_bounded_and_does_not_overlap() {
        let a = schedule(&settings(7));
        assert_eq!(a, schedule(&settings(7)));
        assert_eq!(a.len(), 6);
        for k in [
            ChaosKind::Errors,
            ChaosKind::ControllerKill,
            ChaosKind::Slow,
        ] {
            assert_eq!(a.iter().filter(|w| w.kind == k).count(), 2);
        }
        for pair in a.windows(2) {
            assert!(pair[0].start_secs + pair[0].duration_secs <= pair[1].start_secs);
        }
        for w in &a {
            assert!((0.5..1.5).contains(&w.duration_secs));
        }
        let last = a.last().unwrap();
        assert!(last.start_secs + last.duration_secs <= 6.0 * (3.0 + 1.5));
        assert_ne!(
            a.iter().map(|w| w.kind).collect::<Vec<_>>(),
            schedule(&settings(8))
                .iter()
                .map(|w| w.kind)
                .collect::<Vec<_>>(),
            "another seed gives another order"
        );
    }
}
