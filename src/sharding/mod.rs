//! Horizontal sharding: N replicas share the Cluster API clusters, each caching and reconciling
//! only its share, with membership and hand-over through the API server.
//!
//! - Every replica keeps its own shard Lease ([`membership`]), labelled with the ring name; the
//!   live Leases are the members of a consistent-hash [`ring`].
//! - The unit placed on the ring is a Cluster API cluster ([`group`]): everything capt reconciles
//!   or owns for it carries the same shard label, and each replica watches its sharded kinds with a
//!   label selector for its own shard.
//! - One replica, elected through a Lease, is the [`coordinator`]: it labels unassigned objects and
//!   moves clusters when membership changes ([`plan`]), draining a live shard first: the old shard
//!   stops the cluster's reconciles and acknowledges ([`drain`], [`gate`]) before the new shard
//!   gets it.

pub mod coordinator;
pub mod drain;
pub mod gate;
pub mod group;
pub mod labels;
pub mod membership;
pub mod plan;
pub mod replica;
pub mod ring;
pub mod summary;
pub mod write;

use std::time::Duration;

pub use gate::ShardGate;
pub use group::GroupKey;

/// A replica's place in a ring, as the controllers need it.
#[derive(Clone, Debug)]
pub struct ShardSettings {
    /// The ring's name (one ring per capt installation).
    pub ring: String,
    /// This replica's identity: its shard Lease's name and holder, and its shard label value.
    pub identity: String,
    /// How often the replica looks for drain marks on its objects.
    pub drain_interval: Duration,
    /// Keep a log of every reconcile of a sharded object ([`ShardGate::reconciles`]; tests).
    pub record_reconciles: bool,
}

impl ShardSettings {
    pub fn new(ring: &str, identity: &str) -> Self {
        Self {
            ring: ring.into(),
            identity: identity.into(),
            drain_interval: Duration::from_millis(500),
            record_reconciles: false,
        }
    }

    /// The label selector of this replica's share.
    pub fn selector(&self) -> String {
        labels::shard_selector(&self.ring, &self.identity)
    }
}
