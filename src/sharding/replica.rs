//! A replica in a ring: it joins by taking its shard Lease, keeps it renewed, and competes for the
//! coordinator Lease, coordinating while it holds it.

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::coordinator::{self, CoordinatorSettings};
use super::membership::{self, Member};
use crate::actors::leader::{LeaderElector, LeaseSettings};
use crate::client::events::{EventLimits, EventRecorder};
use crate::telemetry::Metrics;

#[derive(Clone, Debug)]
pub struct ReplicaSettings {
    pub ring: String,
    pub identity: String,
    /// Namespace and timings of the shard and coordinator Leases (its name and identity are not
    /// used).
    pub lease: LeaseSettings,
    /// Namespace of the sharded objects (`None`: all).
    pub namespace: Option<String>,
    /// Pause between the coordinator's passes.
    pub coordinator_interval: Duration,
    /// The budget of the coordinator's Events (its own sender).
    pub events: EventLimits,
}

impl ReplicaSettings {
    fn coordinator(&self) -> CoordinatorSettings {
        CoordinatorSettings {
            ring: self.ring.clone(),
            identity: self.identity.clone(),
            lease_namespace: self.lease.namespace.clone(),
            lease_duration: self.lease.lease_duration,
            namespace: self.namespace.clone(),
            interval: self.coordinator_interval,
        }
    }
}

/// A member of the ring, until [`Replica::leave`].
pub struct Replica {
    member: Arc<Member>,
    coordinator: Arc<LeaderElector>,
    tasks: Vec<JoinHandle<()>>,
    /// Sends the coordinator's Events; ends once the coordinating task is gone.
    events: JoinHandle<()>,
    lost: watch::Receiver<bool>,
}

/// How long leaving waits for the coordinator's last Events to be sent.
const EVENTS_FLUSH: Duration = Duration::from_secs(2);

impl Replica {
    /// Take the shard Lease (waits for it), then keep it and compete for coordination in the
    /// background.
    pub async fn join(client: Client, metrics: Metrics, s: ReplicaSettings) -> Replica {
        let member = Arc::new(Member::new(
            client.clone(),
            membership::shard_lease(&s.lease, &s.ring, &s.identity),
        ));
        member.join().await;
        tracing::info!(ring = %s.ring, identity = %s.identity, "joined the shard ring");
        let (lost_tx, lost) = watch::channel(false);
        let keep = {
            let member = member.clone();
            tokio::spawn(async move {
                member.hold().await;
                let _ = lost_tx.send(true);
            })
        };
        let coordinator = Arc::new(LeaderElector::new(
            client.clone(),
            membership::coordinator_lease(&s.lease, &s.ring, &s.identity),
        ));
        let (recorder, sender) = EventRecorder::new(
            client.clone(),
            "capt",
            s.events,
            Arc::new(metrics.clone()),
            std::future::pending(),
        );
        let events = tokio::spawn(sender);
        let coordinate = tokio::spawn(coordinate(
            client,
            metrics,
            recorder,
            coordinator.clone(),
            s.coordinator(),
        ));
        Replica {
            member,
            coordinator,
            tasks: vec![keep, coordinate],
            events,
            lost,
        }
    }

    /// Resolves when the shard Lease could not be renewed in time.
    pub async fn lost(&self) {
        let mut rx = self.lost.clone();
        let _ = rx.wait_for(|l| *l).await;
    }

    /// Stop renewing and coordinating, and give both Leases up (after the controllers stopped):
    /// the clusters move to the other members at once. The shard Lease goes first, so a replica
    /// taking coordination over finds this one gone at its first pass; the coordinator's last
    /// Events are sent (for at most [`EVENTS_FLUSH`]).
    pub async fn leave(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.member.leave().await;
        self.coordinator.release().await;
        let _ = tokio::time::timeout(EVENTS_FLUSH, self.events).await;
    }

    /// Stop renewing and coordinating without giving the Leases up, as a crashed replica would:
    /// its clusters move once its Lease expires.
    pub fn abandon(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.events.abort();
    }
}

/// Compete for the coordinator Lease; coordinate while holding it.
async fn coordinate(
    client: Client,
    metrics: Metrics,
    events: EventRecorder,
    elector: Arc<LeaderElector>,
    s: CoordinatorSettings,
) {
    loop {
        elector.acquire().await;
        metrics.set_shard_coordinator(true);
        tracing::info!(identity = elector.identity(), "coordinating the shard ring");
        tokio::select! {
            _ = elector.hold() => tracing::warn!("coordinator Lease lost"),
            _ = coordinator::run(client.clone(), metrics.clone(), events.clone(), s.clone()) => {}
        }
        metrics.set_shard_coordinator(false);
    }
}
