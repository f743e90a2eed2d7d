//! The coordinator's decision, as pure code: from every sharded object's cluster and labels and
//! the live members, which objects to assign and which to drain.
//!
//! A cluster moves as a whole. While any of its objects is still on a live shard other than its
//! owner on the ring, those objects are drained and none of the cluster's unassigned objects are
//! assigned: the old shard stops, acknowledges each object by removing its labels, and only then
//! does the new shard get the cluster. Objects of a shard that is no longer live are assigned at
//! once (a dead shard reconciles nothing).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::group::{GroupKey, Placement};
use super::ring::Ring;

/// One sharded object as the coordinator sees it.
#[derive(Clone, Debug)]
pub struct Item<R> {
    pub id: R,
    pub group: GroupKey,
    pub placement: Placement,
}

/// What to write on one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Set the shard label to this member (and clear any drain mark).
    Assign(String),
    /// Set the drain mark: the current shard is to let go.
    Drain,
}

/// Why an object is assigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// It had no shard (new, or acknowledged by its old shard).
    Unassigned,
    /// Its shard is no longer live.
    DeadShard,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision<R> {
    pub changes: Vec<(R, Change, Option<Cause>)>,
    /// Objects per live shard, as labelled now.
    pub per_shard: BTreeMap<String, usize>,
    /// Clusters whose objects are being drained from a live shard.
    pub moving: usize,
}

/// Decide for every item; nothing is assigned when no member is live.
pub fn decide<R: Clone>(items: &[Item<R>], ring: &Ring, live: &BTreeSet<String>) -> Decision<R> {
    let mut by_group: HashMap<&GroupKey, Vec<&Item<R>>> = HashMap::new();
    for it in items {
        by_group.entry(&it.group).or_default().push(it);
    }
    let mut d = Decision {
        changes: Vec::new(),
        per_shard: live.iter().map(|m| (m.clone(), 0)).collect(),
        moving: 0,
    };
    for it in items {
        if let Some(n) = it
            .placement
            .shard
            .as_ref()
            .and_then(|s| d.per_shard.get_mut(s))
        {
            *n += 1;
        }
    }
    let mut groups: Vec<_> = by_group.into_iter().collect();
    groups.sort_by(|a, b| a.0.cmp(b.0));
    for (group, members) in groups {
        let Some(owner) = ring.owner(&group.to_string()) else {
            continue;
        };
        decide_group(owner, &members, live, &mut d);
    }
    d
}

fn decide_group<R: Clone>(
    owner: &str,
    items: &[&Item<R>],
    live: &BTreeSet<String>,
    d: &mut Decision<R>,
) {
    let elsewhere = |p: &Placement| {
        p.shard
            .as_deref()
            .is_some_and(|s| s != owner && live.contains(s))
    };
    let moving = items.iter().any(|it| elsewhere(&it.placement));
    if moving {
        d.moving += 1;
    }
    for it in items {
        let p = &it.placement;
        match p.shard.as_deref() {
            Some(s) if s == owner => {}
            // On a live shard that is not the owner: drained (once; an object marked already
            // falls through, and as the cluster is moving nothing else applies to it).
            Some(_) if elsewhere(p) && !p.draining => {
                d.changes.push((it.id.clone(), Change::Drain, None));
            }
            // Unassigned, or on a shard that is gone: the owner takes it once no live shard
            // holds any part of the cluster.
            shard if !moving => {
                let cause = match shard {
                    Some(_) => Cause::DeadShard,
                    None => Cause::Unassigned,
                };
                d.changes.push((
                    it.id.clone(),
                    Change::Assign(owner.to_string()),
                    Some(cause),
                ));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn item(
        id: &'static str,
        cluster: &str,
        shard: Option<&str>,
        draining: bool,
    ) -> Item<&'static str> {
        Item {
            id,
            group: GroupKey::new("ns", cluster),
            placement: Placement {
                shard: shard.map(String::from),
                draining,
            },
        }
    }

    /// A cluster name the ring gives to `want` among `members`.
    fn cluster_owned_by(ring: &Ring, want: &str) -> String {
        (0..)
            .map(|i| format!("c{i}"))
            .find(|c| ring.owner(&GroupKey::new("ns", c).to_string()) == Some(want))
            .unwrap()
    }

    #[test]
    fn table() {
        let live = set(&["a", "b"]);
        let ring = Ring::new(&live);
        let on_a = cluster_owned_by(&ring, "a");
        let assign_a = |cause| (Change::Assign("a".into()), Some(cause));
        let drain = (Change::Drain, None);
        type Row = (
            &'static str,
            Vec<Item<&'static str>>,
            Vec<(&'static str, (Change, Option<Cause>))>,
        );
        let rows: Vec<Row> = vec![
            (
                "new objects go to the owner",
                vec![item("x", &on_a, None, false), item("y", &on_a, None, false)],
                vec![
                    ("x", assign_a(Cause::Unassigned)),
                    ("y", assign_a(Cause::Unassigned)),
                ],
            ),
            (
                "placed objects stay",
                vec![item("x", &on_a, Some("a"), false)],
                vec![],
            ),
            (
                "objects on a live non-owner are drained; nothing is assigned meanwhile",
                vec![
                    item("x", &on_a, Some("b"), false),
                    item("y", &on_a, None, false),
                ],
                vec![("x", drain.clone())],
            ),
            (
                "a drain already marked is not marked again",
                vec![
                    item("x", &on_a, Some("b"), true),
                    item("y", &on_a, Some("b"), false),
                ],
                vec![("y", drain.clone())],
            ),
            (
                "acknowledged objects are assigned once the whole cluster left the old shard",
                vec![
                    item("x", &on_a, None, false),
                    item("y", &on_a, Some("a"), false),
                ],
                vec![("x", assign_a(Cause::Unassigned))],
            ),
            (
                "objects of a dead shard move at once, without a drain",
                vec![
                    item("x", &on_a, Some("gone"), false),
                    item("y", &on_a, Some("gone"), true),
                ],
                vec![
                    ("x", assign_a(Cause::DeadShard)),
                    ("y", assign_a(Cause::DeadShard)),
                ],
            ),
        ];
        for (what, items, want) in rows {
            let got = decide(&items, &ring, &live);
            let got: Vec<_> = got
                .changes
                .into_iter()
                .map(|(id, c, why)| (id, (c, why)))
                .collect();
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn nothing_is_assigned_without_members() {
        let items = vec![
            item("x", "c", None, false),
            item("y", "c", Some("gone"), false),
        ];
        let d = decide(&items, &Ring::new(&set(&[])), &set(&[]));
        assert!(d.changes.is_empty());
    }

    #[test]
    fn counts_objects_per_live_shard_and_moving_clusters() {
        let live = set(&["a", "b"]);
        let ring = Ring::new(&live);
        let on_a = cluster_owned_by(&ring, "a");
        let on_b = cluster_owned_by(&ring, "b");
        let items = vec![
            item("x", &on_a, Some("b"), false),
            item("y", &on_b, Some("b"), false),
            item("z", &on_b, Some("gone"), false),
        ];
        let d = decide(&items, &ring, &live);
        assert_eq!(
            d.per_shard,
            [("a".to_string(), 0), ("b".to_string(), 2)].into()
        );
        assert_eq!(d.moving, 1);
    }
}
