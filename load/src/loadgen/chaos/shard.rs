//! `replica-kill` and `coordinator-kill`: a replica of a shard ring SIGKILLed under load (its
//! shard Lease is never released), kept down until the survivors moved every object of its share,
//! then started again under the same identity (it takes its share back through drains).

use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, ListParams};

use super::ChaosKind;
use crate::loadgen::controller::ControllerProc;
use crate::loadgen::{objects, promtext};

/// Label key naming an object's shard in the ring `capt` (the default ring of `capt run
/// --sharding`; the load generator starts its replicas with it).
pub const SHARD_LABEL: &str = "shard.capt.appthrust.io/capt";
const MOVES: &str = "capt_shard_moves_total";
const COORDINATOR: &str = "capt_shard_coordinator";
const MEMBERS: &str = "capt_shard_ring_members";

/// What a kill did.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardKill {
    /// `replica-<index>`: its identity and shard.
    pub victim: String,
    /// Objects the survivors took over from a shard gone (their `capt_shard_moves_total{cause=
    /// "dead-shard"}`) from the kill until none was left on the victim's shard.
    pub moved: u64,
    /// Seconds from the kill until no object was left on the victim's shard and the coordinator
    /// counted the survivors only (`None`: not within the limit).
    pub moved_secs: Option<f64>,
}

/// The replica whose `capt_shard_coordinator` gauge is 1, and its samples.
async fn coordinator(replicas: &[ControllerProc]) -> Option<(usize, Vec<promtext::Sample>)> {
    for (i, r) in replicas.iter().enumerate() {
        if let Some(s) = r.scrape().await
            && promtext::sum(&s, COORDINATOR) >= 1.0
        {
            return Some((i, s));
        }
    }
    None
}

/// Moves from shards gone counted by every replica but `except` (the rebalance of a replica
/// that came back is not counted).
async fn moves(replicas: &[ControllerProc], except: usize) -> u64 {
    let mut total = 0.0;
    for (i, r) in replicas.iter().enumerate() {
        if i != except
            && let Some(s) = r.scrape().await
        {
            total += promtext::sum_where(&s, MOVES, "cause", "dead-shard");
        }
    }
    total.round() as u64
}

/// Objects of every sharded kind labelled with `shard` (`None`: a list failed).
async fn on_shard(client: &kube::Client, shard: &str) -> Option<usize> {
    let lp = ListParams::default().labels(&format!("{SHARD_LABEL}={shard}"));
    let mut n = 0;
    for ar in [
        objects::cluster_ar(),
        objects::capt_cluster_ar(),
        objects::control_plane_ar(),
        objects::apply_ar(),
        objects::workspace_ar(),
    ] {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        n += api.list_metadata(&lp).await.ok()?.items.len();
    }
    Some(n)
}

/// The replica a kill of `kind` targets: the coordinator, or the last replica that does not
/// coordinate. Waits up to `limit` for a coordinator to be known.
async fn victim(kind: ChaosKind, replicas: &[ControllerProc], limit: Duration) -> Option<usize> {
    let start = Instant::now();
    loop {
        if let Some((c, _)) = coordinator(replicas).await {
            return match kind {
                ChaosKind::CoordinatorKill => Some(c),
                _ => (0..replicas.len()).rev().find(|i| *i != c),
            };
        }
        if start.elapsed() >= limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the ring moved everything off `shard`: a survivor coordinates, counts `survivors`
/// members, and no object is labelled with `shard` any more.
async fn moved_off(
    client: &kube::Client,
    replicas: &[ControllerProc],
    shard: &str,
    survivors: usize,
) -> bool {
    let Some((_, s)) = coordinator(replicas).await else {
        return false;
    };
    promtext::sum(&s, MEMBERS).round() as usize == survivors
        && on_shard(client, shard).await == Some(0)
}

/// SIGKILL the replica `kind` targets, keep it down until its share moved (at least `hold`, at
/// most `limit`), then start it again.
pub async fn kill(
    kind: ChaosKind,
    replicas: &[ControllerProc],
    client: &kube::Client,
    hold: Duration,
    limit: Duration,
) -> anyhow::Result<ShardKill> {
    anyhow::ensure!(
        replicas.len() > 1,
        "{kind} needs another replica to move to: run with --sharding --replicas 2 or more"
    );
    let i = victim(kind, replicas, limit)
        .await
        .ok_or_else(|| anyhow::anyhow!("{kind}: no replica coordinates the ring"))?;
    let name = format!("replica-{i}");
    let before = moves(replicas, i).await;
    let killed = Instant::now();
    replicas[i].kill().await;
    let mut moved_secs = None;
    while killed.elapsed() < limit {
        if moved_off(client, replicas, &name, replicas.len() - 1).await {
            let secs = killed.elapsed().as_secs_f64();
            eprintln!("chaos: the share of {name} moved to the others after {secs:.1}s");
            moved_secs = Some(secs);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let moved = moves(replicas, i).await.saturating_sub(before);
    tokio::time::sleep(hold.saturating_sub(killed.elapsed())).await;
    replicas[i].start_again()?;
    Ok(ShardKill {
        victim: name,
        moved,
        moved_secs,
    })
}
