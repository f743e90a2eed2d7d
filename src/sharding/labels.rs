//! The labels of a ring: the ring name on shard Leases, and per object the shard it is assigned
//! to and the drain mark of a hand-over in progress.

/// On every shard Lease: the name of the ring the replica belongs to.
pub const RING_LABEL: &str = "sharding.capt.appthrust.io/ring";

/// The ring name used when none is configured.
pub const DEFAULT_RING: &str = "capt";

/// Label key naming the shard an object of `ring` is assigned to (value: the replica identity).
pub fn shard_label(ring: &str) -> String {
    format!("shard.capt.appthrust.io/{ring}")
}

/// Label key set (value `true`) by the coordinator when an object is to leave its shard; the
/// shard acknowledges by removing it together with the shard label.
pub fn drain_label(ring: &str) -> String {
    format!("drain.capt.appthrust.io/{ring}")
}

/// The label selector of one replica's share of `ring`.
pub fn shard_selector(ring: &str, identity: &str) -> String {
    format!("{}={identity}", shard_label(ring))
}

/// The label selector of the shard Leases of `ring`.
pub fn ring_selector(ring: &str) -> String {
    format!("{RING_LABEL}={ring}")
}

/// Whether `s` can be a label value (identities and ring names must be).
pub fn valid_value(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_selectors_name_the_ring() {
        assert_eq!(shard_label("capt"), "shard.capt.appthrust.io/capt");
        assert_eq!(drain_label("blue"), "drain.capt.appthrust.io/blue");
        assert_eq!(
            shard_selector("capt", "capt-7d9f-x2"),
            "shard.capt.appthrust.io/capt=capt-7d9f-x2"
        );
        assert_eq!(
            ring_selector("capt"),
            "sharding.capt.appthrust.io/ring=capt"
        );
    }

    #[test]
    fn label_values_follow_kubernetes_rules() {
        for ok in ["capt", "capt-0", "a.b_c", "x"] {
            assert!(valid_value(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "a/b", "a b", &"x".repeat(64)] {
            assert!(!valid_value(bad), "{bad}");
        }
    }
}
