//! `KeyMap`: the FDB view's table — open addressing with linear probing
//! over packed `u64` keys (`VLAN << 48 | MAC`) and `u32` values.
//!
//! Design: one flat array of `(key, value)` slots, power-of-two capacity,
//! load factor ≤ 1/2, `u64::MAX` marks an empty slot (no key can be all
//! ones: VLAN ids stop at 4095). The hash is one seeded 64×64→128-bit
//! multiply folded to 64 bits; the seed is random per table, so a host
//! cannot pick MACs that collide on every appliance. Deletion shifts the
//! following run back (no tombstones), so probe lengths never degrade.
//!
//! Why not hashbrown: for this key/value shape a lookup here is a multiply,
//! a shift and usually one compare in an L1-resident slot; hashbrown's
//! general probing (control bytes, SIMD group match, foldhash) measured
//! ~30 cycles per probe in the bridge profile (perf/README.md), about twice
//! this table's cost in `perf/bench-bridge.sh` with 8 flows.

const EMPTY: u64 = u64::MAX;
const MULT: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835;

#[derive(Clone)]
pub struct KeyMap {
    slots: Box<[(u64, u32)]>,
    mask: usize,
    len: usize,
    seed: u64,
}

impl Default for KeyMap {
    fn default() -> Self {
        KeyMap::with_capacity(64)
    }
}

impl KeyMap {
    pub fn with_capacity(n: usize) -> KeyMap {
        use std::hash::BuildHasher;
        let cap = (n.max(8) * 2).next_power_of_two();
        KeyMap {
            slots: vec![(EMPTY, 0); cap].into_boxed_slice(),
            mask: cap - 1,
            len: 0,
            seed: std::collections::hash_map::RandomState::new().hash_one(0x6d6f_6f73_65u64),
        }
    }

    #[inline]
    fn slot(&self, key: u64) -> usize {
        let m = u128::from(key ^ self.seed).wrapping_mul(MULT);
        ((m as u64) ^ ((m >> 64) as u64)) as usize & self.mask
    }

    #[inline]
    pub fn get(&self, key: u64) -> Option<u32> {
        let mut i = self.slot(key);
        loop {
            let (k, v) = self.slots[i];
            if k == key {
                return Some(v);
            }
            if k == EMPTY {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Inserts or replaces; returns the old value.
    pub fn insert(&mut self, key: u64, value: u32) -> Option<u32> {
        assert_ne!(key, EMPTY, "u64::MAX is the empty marker");
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mut i = self.slot(key);
        loop {
            let s = &mut self.slots[i];
            if s.0 == key {
                return Some(std::mem::replace(&mut s.1, value));
            }
            if s.0 == EMPTY {
                *s = (key, value);
                self.len += 1;
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    pub fn remove(&mut self, key: u64) -> Option<u32> {
        let mut i = self.slot(key);
        loop {
            let (k, v) = self.slots[i];
            if k == EMPTY {
                return None;
            }
            if k == key {
                self.slots[i] = (EMPTY, 0);
                self.len -= 1;
                self.backshift(i);
                return Some(v);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Moves the entries after the hole at `hole` back so every entry stays
    /// reachable from its home slot without passing an empty slot.
    fn backshift(&mut self, mut hole: usize) {
        let mut j = (hole + 1) & self.mask;
        loop {
            let (k, v) = self.slots[j];
            if k == EMPTY {
                return;
            }
            let home = self.slot(k);
            // Move if the hole lies cyclically in [home, j).
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.slots[hole] = (k, v);
                self.slots[j] = (EMPTY, 0);
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
    }

    fn grow(&mut self) {
        let bigger = vec![(EMPTY, 0); self.slots.len() * 2].into_boxed_slice();
        let old = std::mem::replace(&mut self.slots, bigger);
        self.mask = self.slots.len() - 1;
        self.len = 0;
        for (k, v) in old.iter().copied() {
            if k != EMPTY {
                self.insert(k, v);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.slots.iter().copied().filter(|s| s.0 != EMPTY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn basics() {
        let mut m = KeyMap::default();
        assert_eq!(m.get(1), None);
        assert_eq!(m.insert(1, 10), None);
        assert_eq!(m.insert(1, 11), Some(10));
        assert_eq!(m.get(1), Some(11));
        assert_eq!(m.remove(1), Some(11));
        assert_eq!(m.remove(1), None);
        assert!(m.is_empty());
        for k in 0..10_000u64 {
            m.insert(k << 20, k as u32);
        }
        assert_eq!(m.len(), 10_000);
        assert!(m.capacity() >= 20_000);
        for k in 0..10_000u64 {
            assert_eq!(m.get(k << 20), Some(k as u32));
        }
    }

    proptest! {
        /// Against std's HashMap, with keys from a small space so inserts,
        /// replacements and removals collide and runs wrap around.
        #[test]
        fn matches_hashmap(ops in proptest::collection::vec((0u8..3, 0u64..64, any::<u32>()), 1..400)) {
            let mut m = KeyMap::with_capacity(8);
            let mut r: HashMap<u64, u32> = HashMap::new();
            for (op, k, v) in ops {
                let key = k.wrapping_mul(0x0001_0000_0000_0001) & 0x0fff_ffff_ffff_ffff;
                match op {
                    0 => prop_assert_eq!(m.insert(key, v), r.insert(key, v)),
                    1 => prop_assert_eq!(m.remove(key), r.remove(&key)),
                    _ => prop_assert_eq!(m.get(key), r.get(&key).copied()),
                }
                prop_assert_eq!(m.len(), r.len());
            }
            for (k, v) in &r {
                prop_assert_eq!(m.get(*k), Some(*v));
            }
            prop_assert_eq!(m.iter().count(), r.len());
        }
    }
}
