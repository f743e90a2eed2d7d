//! Sharding: the ring's live members and the objects per shard (as the coordinator sees them),
//! clusters moved between shards and drains started and acknowledged.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Metrics;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ShardLabels {
    pub shard: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct MoveLabels {
    pub cause: String,
}

/// Every cause of a move, for series created at 0.
pub const MOVE_CAUSES: [&str; 2] = ["rebalance", "dead-shard"];

#[derive(Default)]
pub(super) struct ShardingMetrics {
    members: Gauge,
    coordinator: Gauge,
    objects: Family<ShardLabels, Gauge>,
    moves: Family<MoveLabels, Counter>,
    drains: Counter,
    drain_acks: Counter,
}

impl ShardingMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        for cause in MOVE_CAUSES {
            let _ = self.moves.get_or_create(&MoveLabels {
                cause: cause.into(),
            });
        }
        r.register(
            "capt_shard_ring_members",
            "Live members of the shard ring (set by the coordinator)",
            self.members.clone(),
        );
        r.register(
            "capt_shard_coordinator",
            "1 when this replica is the ring's coordinator",
            self.coordinator.clone(),
        );
        r.register(
            "capt_shard_objects",
            "Sharded objects per shard, as labelled (set by the coordinator)",
            self.objects.clone(),
        );
        r.register(
            "capt_shard_moves",
            "Objects moved to another shard, by cause (rebalance: drained from a live shard; dead-shard: its shard's Lease expired)",
            self.moves.clone(),
        );
        r.register(
            "capt_shard_drains",
            "Drain marks set by the coordinator",
            self.drains.clone(),
        );
        r.register(
            "capt_shard_drain_acks",
            "Drained objects this replica let go of",
            self.drain_acks.clone(),
        );
    }
}

impl Metrics {
    fn sharding(&self) -> &ShardingMetrics {
        &self.f().sharding
    }

    pub fn set_shard_coordinator(&self, on: bool) {
        self.sharding().coordinator.set(i64::from(on));
    }

    /// The coordinator's view after a pass: live members and objects per shard.
    pub fn shard_view<'a>(
        &self,
        members: usize,
        per_shard: impl Iterator<Item = (&'a String, &'a usize)>,
    ) {
        let s = self.sharding();
        s.members.set(members as i64);
        s.objects.clear();
        for (shard, n) in per_shard {
            s.objects
                .get_or_create(&ShardLabels {
                    shard: shard.clone(),
                })
                .set(*n as i64);
        }
    }

    pub fn shard_move(&self, cause: &str) {
        self.sharding()
            .moves
            .get_or_create(&MoveLabels {
                cause: cause.to_owned(),
            })
            .inc();
    }

    pub fn shard_drain(&self) {
        self.sharding().drains.inc();
    }

    pub fn shard_drain_ack(&self) {
        self.sharding().drain_acks.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_replaces_shards_that_left() {
        let m = Metrics::new();
        let a = ("capt-0".to_string(), 3usize);
        let b = ("capt-1".to_string(), 4usize);
        m.shard_view(2, [(&a.0, &a.1), (&b.0, &b.1)].into_iter());
        m.shard_view(1, [(&b.0, &b.1)].into_iter());
        m.shard_move("dead-shard");
        let text = m.encode();
        assert!(text.contains("capt_shard_ring_members 1"), "{text}");
        assert!(
            text.contains("capt_shard_objects{shard=\"capt-1\"} 4"),
            "{text}"
        );
        assert!(!text.contains("shard=\"capt-0\""), "{text}");
        assert!(
            text.contains("capt_shard_moves_total{cause=\"dead-shard\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("capt_shard_moves_total{cause=\"rebalance\"} 0"),
            "{text}"
        );
    }
}
