//! A replica's side of the hand-over: no reconcile of a cluster that is draining, and a drain
//! waits for the cluster's reconciles in flight before it is acknowledged.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tokio::sync::Notify;

use super::ShardSettings;
use super::group::{GroupKey, group_of, is_sharded};
use crate::api::kinds::Kind;

/// One reconcile of a sharded object, for tests that check no cluster runs on two replicas.
#[derive(Clone, Debug)]
pub struct ReconcileRecord {
    pub replica: String,
    pub group: GroupKey,
    pub kind: &'static str,
    pub started: Instant,
    pub ended: Instant,
}

#[derive(Default)]
struct State {
    draining: HashSet<GroupKey>,
    in_flight: HashMap<GroupKey, usize>,
    /// When each cluster on this shard was first reconciled here.
    arrived: HashMap<GroupKey, Instant>,
}

pub struct ShardGate {
    settings: ShardSettings,
    shard_label: String,
    drain_label: String,
    state: Mutex<State>,
    idle: Notify,
    log: Option<Mutex<Vec<ReconcileRecord>>>,
}

/// When a skipped reconcile is tried again (the object has usually left this shard by then).
pub const RECHECK: Duration = Duration::from_secs(5);

/// A cluster's objects reach a new shard's caches one watch at a time: a reconcile within this
/// long of the cluster's arrival may have seen only part of it, and is followed by one more.
pub const ARRIVAL: Duration = Duration::from_secs(3);

/// The reconcile of an object whose cluster is draining (or which is itself marked) is skipped.
#[derive(Debug, PartialEq, Eq)]
pub struct Draining;

/// A reconcile in flight; the cluster's drain waits until it is dropped.
pub struct Turn {
    gate: Arc<ShardGate>,
    group: GroupKey,
    kind: &'static str,
    started: Instant,
    /// The cluster arrived on this shard less than [`ARRIVAL`] ago.
    arriving: bool,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut st = self.gate.lock();
        if let Some(n) = st.in_flight.get_mut(&self.group) {
            *n -= 1;
            if *n == 0 {
                st.in_flight.remove(&self.group);
            }
        }
        drop(st);
        if let Some(log) = &self.gate.log {
            log.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(ReconcileRecord {
                    replica: self.gate.settings.identity.clone(),
                    group: self.group.clone(),
                    kind: self.kind,
                    started: self.started,
                    ended: Instant::now(),
                });
        }
        self.gate.idle.notify_waiters();
    }
}

impl ShardGate {
    pub fn new(settings: &ShardSettings) -> Self {
        Self {
            shard_label: super::labels::shard_label(&settings.ring),
            drain_label: super::labels::drain_label(&settings.ring),
            log: settings.record_reconciles.then(Mutex::default),
            settings: settings.clone(),
            state: Mutex::default(),
            idle: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn settings(&self) -> &ShardSettings {
        &self.settings
    }

    pub fn shard_label(&self) -> &str {
        &self.shard_label
    }

    pub fn drain_label(&self) -> &str {
        &self.drain_label
    }

    /// Start a reconcile of `meta` (of `kind`): `Ok(None)` for kinds not sharded, a [`Turn`]
    /// otherwise, [`Draining`] when its cluster is being handed over.
    pub fn enter(
        self: &Arc<Self>,
        kind: Kind,
        meta: &ObjectMeta,
    ) -> Result<Option<Turn>, Draining> {
        if !is_sharded(kind) {
            return Ok(None);
        }
        if meta
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(&self.drain_label))
        {
            return Err(Draining);
        }
        let Some(group) = group_of(kind, meta, |_, _| None) else {
            return Ok(None);
        };
        let mut st = self.lock();
        if st.draining.contains(&group) {
            return Err(Draining);
        }
        *st.in_flight.entry(group.clone()).or_default() += 1;
        let now = Instant::now();
        let arrived = *st.arrived.entry(group.clone()).or_insert(now);
        Ok(Some(Turn {
            gate: self.clone(),
            group,
            kind: kind.name(),
            started: now,
            arriving: now.duration_since(arrived) < ARRIVAL,
        }))
    }

    /// Stop starting reconciles of `group` and wait for those in flight.
    pub async fn drain(&self, group: &GroupKey) {
        loop {
            let idle = self.idle.notified();
            {
                let mut st = self.lock();
                st.draining.insert(group.clone());
                if !st.in_flight.contains_key(group) {
                    return;
                }
            }
            idle.await;
        }
    }

    /// Clusters draining now.
    pub fn draining(&self) -> Vec<GroupKey> {
        self.lock().draining.iter().cloned().collect()
    }

    /// `group` has left this shard: should it come back, it is reconciled again (and arrives
    /// anew).
    pub fn release(&self, group: &GroupKey) {
        let mut st = self.lock();
        st.draining.remove(group);
        st.arrived.remove(group);
    }

    /// Forget the arrival of clusters of which no object is in the caches any more (`present`
    /// says which are).
    pub fn forget_gone(&self, present: impl Fn(&GroupKey) -> bool) {
        self.lock().arrived.retain(|g, _| present(g));
    }

    /// Every reconcile recorded so far (empty unless `record_reconciles`).
    pub fn reconciles(&self) -> Vec<ReconcileRecord> {
        self.log
            .as_ref()
            .map(|l| l.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default()
    }
}

/// How a reconcile under `turn` ends: one that may have seen an arriving cluster only in part is
/// followed by another once the rest reached the caches.
pub fn finish<E>(
    turn: Option<Turn>,
    done: crate::actors::Reconciled<E>,
) -> crate::actors::Reconciled<E> {
    use crate::actors::{Action, Reconciled};
    if !turn.is_some_and(|t| t.arriving) {
        return done;
    }
    let again = || Action::requeue(ARRIVAL);
    match done {
        Reconciled::Done(a) => Reconciled::Done(a.merge(again())),
        Reconciled::Waiting { reason, action } => Reconciled::Waiting {
            reason,
            action: action.merge(again()),
        },
        failed => failed,
    }
}

/// [`ShardGate::enter`] when sharding is on.
pub fn enter(
    gate: Option<&Arc<ShardGate>>,
    kind: Kind,
    meta: &ObjectMeta,
) -> Result<Option<Turn>, Draining> {
    match gate {
        Some(g) => g.enter(kind, meta),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::names::labels::CLUSTER_NAME;
    use std::time::Duration;

    fn gate() -> Arc<ShardGate> {
        Arc::new(ShardGate::new(&ShardSettings {
            record_reconciles: true,
            ..ShardSettings::new("capt", "r0")
        }))
    }

    fn meta(name: &str, cluster: &str, drain: bool) -> ObjectMeta {
        let mut labels =
            std::collections::BTreeMap::from([(CLUSTER_NAME.to_string(), cluster.to_string())]);
        if drain {
            labels.insert("drain.capt.appthrust.io/capt".into(), "true".into());
        }
        ObjectMeta {
            namespace: Some("ns".into()),
            name: Some(name.into()),
            labels: Some(labels),
            ..Default::default()
        }
    }

    #[test]
    fn unsharded_kinds_pass_and_marked_objects_are_skipped() {
        let g = gate();
        assert!(matches!(
            g.enter(Kind::WorkspaceTemplate, &meta("t", "c", false)),
            Ok(None)
        ));
        assert!(matches!(
            g.enter(Kind::CaptCluster, &meta("c", "c", false)),
            Ok(Some(_))
        ));
        assert!(matches!(
            g.enter(Kind::CaptCluster, &meta("c", "c", true)),
            Err(Draining)
        ));
        assert_eq!(g.reconciles().len(), 1);
    }

    #[test]
    fn reconciles_of_an_arriving_cluster_are_followed_by_one_more() {
        use crate::actors::{Action, Reconciled};
        let g = gate();
        let done = |t| finish::<()>(t, Reconciled::Done(Action::await_change()));
        let turn = g.enter(Kind::CaptCluster, &meta("c", "c", false)).unwrap();
        assert!(
            matches!(done(turn), Reconciled::Done(a) if a == Action::requeue(ARRIVAL)),
            "first reconcile on this shard"
        );
        assert!(matches!(done(None), Reconciled::Done(a) if a == Action::await_change()));
        let waiting = finish::<()>(
            g.enter(Kind::CaptControlPlane, &meta("c", "c", false))
                .unwrap(),
            Reconciled::Waiting {
                reason: "vpc",
                action: Action::requeue(Duration::from_secs(1)),
            },
        );
        assert!(
            matches!(waiting, Reconciled::Waiting { reason: "vpc", action } if action == Action::requeue(Duration::from_secs(1))),
            "the earlier requeue stays"
        );
    }

    #[tokio::test]
    async fn a_drain_waits_for_reconciles_in_flight_and_blocks_new_ones() {
        let g = gate();
        let turn = g
            .enter(Kind::CaptControlPlane, &meta("c-cp", "c", false))
            .unwrap();
        let other = g.enter(Kind::CaptCluster, &meta("d", "d", false)).unwrap();
        let group = GroupKey::new("ns", "c");
        let g2 = g.clone();
        let drained = tokio::spawn(async move { g2.drain(&GroupKey::new("ns", "c")).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !drained.is_finished(),
            "a reconcile of the cluster is still running"
        );
        assert!(matches!(
            g.enter(Kind::WorkspaceTemplateApply, &meta("c-vpc", "c", false)),
            Err(Draining)
        ));
        drop(turn);
        tokio::time::timeout(Duration::from_secs(5), drained)
            .await
            .unwrap()
            .unwrap();
        drop(other);
        assert_eq!(g.draining(), vec![group.clone()]);
        g.release(&group);
        assert!(matches!(
            g.enter(Kind::CaptCluster, &meta("c", "c", false)),
            Ok(Some(_))
        ));
        let log = g.reconciles();
        assert_eq!(log.len(), 3);
        assert!(
            log.iter()
                .all(|r| r.replica == "r0" && r.ended >= r.started)
        );
    }
}
