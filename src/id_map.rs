//! Maps keyed by task id, with a cheap hash instead of the default SipHash (4% of the 32 B
//! profile: the loop's task table and the shared registry are looked up several times for every
//! message). SipHash guards against keys chosen to collide; task ids are issued by libws, one
//! after another, and only libws inserts them, so there is nothing to guard against.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` keyed by task id.
pub type IdMap<V> = HashMap<i64, V, BuildHasherDefault<IdHasher>>;

/// Multiplies by an odd constant (Fibonacci hashing): consecutive ids land in different buckets
/// (the low bits) and get different tags (the high bits hashbrown keeps per slot).
#[derive(Default)]
pub struct IdHasher(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn write_i64(&mut self, n: i64) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(K);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn consecutive_ids_spread_over_buckets_and_tags() {
        let b = BuildHasherDefault::<IdHasher>::default();
        let hashes: Vec<u64> = (1..=1024i64).map(|id| b.hash_one(id)).collect();
        let buckets: std::collections::HashSet<u64> = hashes.iter().map(|h| h & 1023).collect();
        let tags: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert_eq!(buckets.len(), 1024, "1024 ids in 1024 buckets: no two share one");
        assert!(tags.len() > 100, "tags: {}", tags.len());
        let mut m = IdMap::default();
        for id in 1..=1000 {
            m.insert(id, id * 2);
        }
        assert!((1..=1000).all(|id| m[&id] == id * 2) && !m.contains_key(&0) && !m.contains_key(&-5));
    }
}
