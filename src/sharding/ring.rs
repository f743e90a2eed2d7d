//! A consistent-hash ring with virtual nodes: each member owns the arcs before its tokens, so a
//! member joining takes about 1/N of the keys and a member leaving hands over only its own.

use std::collections::BTreeSet;

/// Tokens per member: enough that shares stay within a few percent of 1/N.
pub const VIRTUAL_NODES: usize = 128;

/// 64-bit FNV-1a followed by a SplitMix64 finaliser: stable across processes and versions (every
/// replica and the coordinator must agree), and well spread for short, similar keys.
pub fn hash(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[derive(Clone, Debug, Default)]
pub struct Ring {
    members: Vec<String>,
    /// (token, index into `members`), sorted by token.
    tokens: Vec<(u64, usize)>,
}

impl Ring {
    pub fn new(members: &BTreeSet<String>) -> Self {
        let members: Vec<String> = members.iter().cloned().collect();
        let mut tokens: Vec<(u64, usize)> = members
            .iter()
            .enumerate()
            .flat_map(|(i, m)| (0..VIRTUAL_NODES).map(move |v| (hash(&format!("{m}#{v}")), i)))
            .collect();
        tokens.sort_unstable();
        Self { members, tokens }
    }

    pub fn members(&self) -> &[String] {
        &self.members
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The member owning `key`: the first token at or after the key's hash, wrapping around.
    pub fn owner(&self, key: &str) -> Option<&str> {
        if self.tokens.is_empty() {
            return None;
        }
        let h = hash(key);
        let i = self.tokens.partition_point(|(t, _)| *t < h) % self.tokens.len();
        Some(&self.members[self.tokens[i].1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ring(names: &[&str]) -> Ring {
        Ring::new(&names.iter().map(|s| s.to_string()).collect())
    }

    fn keys(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("ns-{}/cluster-{i}", i % 7))
            .collect()
    }

    fn assign(r: &Ring, keys: &[String]) -> BTreeMap<String, String> {
        keys.iter()
            .map(|k| (k.clone(), r.owner(k).unwrap().to_string()))
            .collect()
    }

    #[test]
    fn an_empty_ring_owns_nothing() {
        assert_eq!(ring(&[]).owner("a/b"), None);
        assert_eq!(ring(&["only"]).owner("a/b"), Some("only"));
    }

    #[test]
    fn assignment_is_stable_and_independent_of_member_order() {
        let ks = keys(2000);
        let a = assign(&ring(&["r0", "r1", "r2"]), &ks);
        let b = assign(&ring(&["r2", "r0", "r1"]), &ks);
        assert_eq!(a, b);
        assert_eq!(a, assign(&ring(&["r0", "r1", "r2"]), &ks));
    }

    #[test]
    fn shares_are_close_to_one_in_n() {
        let ks = keys(9000);
        for n in [2usize, 3, 5] {
            let names: Vec<String> = (0..n).map(|i| format!("capt-{i}")).collect();
            let r = Ring::new(&names.iter().cloned().collect());
            let mut per: BTreeMap<&str, usize> = BTreeMap::new();
            for k in &ks {
                *per.entry(r.owner(k).unwrap()).or_default() += 1;
            }
            let fair = ks.len() / n;
            for (m, c) in &per {
                assert!(
                    c.abs_diff(fair) * 100 < fair * 25,
                    "{n} members: {m} owns {c}, fair share {fair}"
                );
            }
        }
    }

    #[test]
    fn a_joining_member_takes_about_one_in_n_and_nothing_else_moves() {
        let ks = keys(6000);
        let before = assign(&ring(&["r0", "r1", "r2"]), &ks);
        let after = assign(&ring(&["r0", "r1", "r2", "r3"]), &ks);
        let moved: Vec<_> = ks.iter().filter(|k| before[*k] != after[*k]).collect();
        assert!(
            moved.iter().all(|k| after[*k] == "r3"),
            "only to the new member"
        );
        let quarter = ks.len() / 4;
        assert!(
            moved.len().abs_diff(quarter) * 100 < quarter * 25,
            "{} of {} moved",
            moved.len(),
            ks.len()
        );
    }

    #[test]
    fn a_leaving_member_hands_over_only_its_own_keys() {
        let ks = keys(6000);
        let before = assign(&ring(&["r0", "r1", "r2", "r3"]), &ks);
        let after = assign(&ring(&["r0", "r1", "r3"]), &ks);
        for k in &ks {
            if before[k] == "r2" {
                assert_ne!(after[k], "r2");
            } else {
                assert_eq!(before[k], after[k], "{k} moved although its member stayed");
            }
        }
    }
}
