//! What a coordinator pass changed, summed up for one Event on the coordinator Lease (not one per
//! object: a membership change at 10k clusters moves thousands of objects): the members that
//! joined or left, and the objects and clusters drained from live shards or taken from shards
//! that are gone.

use std::collections::{BTreeMap, BTreeSet};

use super::group::GroupKey;
use super::plan::{Cause, Change};
use crate::reconcile::outcome::{EventSpec, EventType};

/// Event reason: the ring's live members changed (or a replica began coordinating).
pub const MEMBERS_CHANGED: &str = "ShardMembersChanged";
/// Event reason: objects were drained from live shards or taken from shards gone.
pub const SHARDS_MOVED: &str = "ShardObjectsMoved";

/// One label write of a pass that succeeded: the object's cluster, its shard before, the change.
pub struct Written<'a> {
    pub group: &'a GroupKey,
    pub from: Option<&'a str>,
    pub change: &'a Change,
    pub cause: Option<Cause>,
}

/// Objects and clusters moved one way, and the shards they left.
#[derive(Default)]
struct Tally<'a> {
    objects: usize,
    clusters: BTreeSet<&'a GroupKey>,
    from: BTreeMap<&'a str, usize>,
}

impl<'a> Tally<'a> {
    fn add(&mut self, w: &Written<'a>) {
        self.objects += 1;
        self.clusters.insert(w.group);
        if let Some(f) = w.from {
            *self.from.entry(f).or_default() += 1;
        }
    }

    fn describe(&self, what: &str) -> Option<String> {
        (self.objects > 0).then(|| {
            let from: Vec<String> = (self.from.iter())
                .map(|(s, n)| format!("{s}: {n}"))
                .collect();
            format!(
                "{what} {} objects of {} clusters (from {})",
                self.objects,
                self.clusters.len(),
                from.join(", ")
            )
        })
    }
}

fn names(s: &BTreeSet<String>) -> String {
    if s.is_empty() {
        return "none".into();
    }
    s.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// The membership Event: when `before` (the members at the previous pass; `None` on the first
/// pass of this coordinator) differs from `live`.
pub fn membership(
    coordinator: &str,
    before: Option<&BTreeSet<String>>,
    live: &BTreeSet<String>,
) -> Option<EventSpec> {
    let message = match before {
        None => format!("{coordinator} coordinates; members {}", names(live)),
        Some(b) if b == live => return None,
        Some(b) => format!(
            "members {} (joined: {}; left: {})",
            names(live),
            names(&live.difference(b).cloned().collect()),
            names(&b.difference(live).cloned().collect())
        ),
    };
    Some(EventSpec {
        type_: EventType::Normal,
        reason: MEMBERS_CHANGED.into(),
        message,
    })
}

/// The move Event of a pass: objects drained from live shards (rebalance) and objects taken from
/// shards gone; `None` when the pass only placed new objects or changed nothing.
pub fn moves(written: &[Written<'_>]) -> Option<EventSpec> {
    let (mut drained, mut taken) = (Tally::default(), Tally::default());
    for w in written {
        match (w.change, w.cause) {
            (Change::Drain, _) => drained.add(w),
            (Change::Assign(_), Some(Cause::DeadShard)) => taken.add(w),
            _ => {}
        }
    }
    let parts: Vec<String> = [
        drained.describe("draining"),
        taken.describe("took over from shards gone"),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| EventSpec {
        type_: EventType::Normal,
        reason: SHARDS_MOVED.into(),
        message: parts.join("; "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn membership_events_name_who_joined_and_who_left() {
        let first = membership("r0", None, &set(&["r0", "r1"])).unwrap();
        assert_eq!(first.reason, MEMBERS_CHANGED);
        assert_eq!(first.message, "r0 coordinates; members r0, r1");
        assert!(membership("r0", Some(&set(&["r0", "r1"])), &set(&["r0", "r1"])).is_none());
        let changed = membership("r0", Some(&set(&["r0", "r1"])), &set(&["r0", "r2"])).unwrap();
        assert_eq!(
            changed.message, "members r0, r2 (joined: r2; left: r1)",
            "{changed:?}"
        );
        let gone = membership("r0", Some(&set(&["r0", "r1"])), &set(&["r0"])).unwrap();
        assert_eq!(gone.message, "members r0 (joined: none; left: r1)");
    }

    #[test]
    fn one_move_event_sums_a_pass_and_new_objects_are_no_move() {
        let (a, b, c) = (
            GroupKey::new("ns", "a"),
            GroupKey::new("ns", "b"),
            GroupKey::new("ns", "c"),
        );
        let to_r2 = Change::Assign("r2".into());
        let w = |group, from, change, cause| Written {
            group,
            from,
            change,
            cause,
        };
        let written = [
            w(&a, Some("r1"), &Change::Drain, None),
            w(&a, Some("r1"), &Change::Drain, None),
            w(&b, Some("r0"), &to_r2, Some(Cause::DeadShard)),
            w(&c, Some("r3"), &to_r2, Some(Cause::DeadShard)),
            w(&c, None, &to_r2, Some(Cause::Unassigned)),
        ];
        let e = moves(&written).unwrap();
        assert_eq!(e.reason, SHARDS_MOVED);
        assert_eq!(
            e.message,
            "draining 2 objects of 1 clusters (from r1: 2); \
             took over from shards gone 2 objects of 2 clusters (from r0: 1, r3: 1)"
        );
        let only_new = [w(&c, None, &to_r2, Some(Cause::Unassigned))];
        assert!(moves(&only_new).is_none());
        assert!(moves(&[]).is_none());
    }
}
