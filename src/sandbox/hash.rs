//! Stable hashing of tenant ids, so every choice the sandbox derives from an
//! id is the same on every machine, in every run and in every release.
//!
//! `std`'s `DefaultHasher` is explicitly allowed to change between Rust
//! versions, which would silently re-shuffle `samples/tenants.csv`, so the
//! algorithm is spelled out here.

use uuid::Uuid;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over the id's 16 bytes (after `salt`'s 8), finished with the
/// splitmix64 mixer: FNV-1a alone barely changes its low bits when only the
/// last byte of the input changes, and callers bucket on `hash % n`.
pub(crate) fn id_hash(id: &Uuid, salt: u64) -> u64 {
    let mut h = FNV_OFFSET;
    for b in salt.to_le_bytes().iter().chain(id.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    mix64(h)
}

/// The splitmix64 finaliser: a bijection on `u64` with full avalanche.
pub(crate) fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A bijection on the low 62 bits (multiplication by an odd constant and a
/// right xorshift are both invertible modulo 2^62), used to spread a counter
/// over the random-looking part of a v4 GUID without ever colliding.
pub(crate) fn scramble62(x: u64) -> u64 {
    const MASK: u64 = (1 << 62) - 1;
    let mut x = x & MASK;
    x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15) & MASK;
    x ^= x >> 29;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9) & MASK;
    x ^ (x >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_pinned() {
        // Pinned so an accidental change of the algorithm (which would
        // re-shuffle every sample id's answer) fails loudly.
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(id_hash(&id, 0), 0xd1c8_e19e_a452_16ce);
        assert_ne!(id_hash(&id, 0), id_hash(&id, 1));
    }

    #[test]
    fn scramble_is_injective_on_a_prefix() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000 {
            let v = scramble62(i);
            assert!(v < 1 << 62);
            assert!(seen.insert(v));
        }
    }
}
