//! Stable, seedable identifiers (independent of the standard library's hasher).

/// FNV-1a over `bytes`, continued from `state`.
fn fnv1a(state: u64, bytes: &[u8]) -> u64 {
    let mut h = state;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64 finaliser.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A 64-bit hash of `seed` and the parts (parts are length-delimited).
pub(crate) fn hash(seed: u64, parts: &[&str]) -> u64 {
    let mut h = fnv1a(0xcbf2_9ce4_8422_2325, &seed.to_le_bytes());
    for p in parts {
        h = fnv1a(h, &(p.len() as u64).to_le_bytes());
        h = fnv1a(h, p.as_bytes());
    }
    mix(h)
}

/// `len` lowercase hex characters derived from `seed` and the parts.
pub(crate) fn hex(seed: u64, parts: &[&str], len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    let mut state = hash(seed, parts);
    while out.len() < len {
        state = mix(state);
        out.push_str(&format!("{state:016x}"));
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_sized() {
        assert_eq!(hex(1, &["a", "b"], 32), hex(1, &["a", "b"], 32));
        assert_ne!(hex(1, &["a", "b"], 32), hex(2, &["a", "b"], 32));
        assert_ne!(hex(1, &["ab"], 32), hex(1, &["a", "b"], 32));
        assert_eq!(hex(1, &["x"], 17).len(), 17);
    }
}
