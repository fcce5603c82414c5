//! MAC address translation tables: (VLAN, real MAC) → MOOSE MAC on edge
//! ports, and (VLAN, MOOSE MAC) → (real MAC, port) for local delivery.
//!
//! # Design
//!
//! Keys and values are each one `u64`: a key is `(vlan << 48) | mac`
//! ([`xkey`]); a forward value is the MOOSE MAC, a reverse value is
//! `(port << 48) | real_mac` ([`pack_real`]). Each direction is a
//! `hashbrown::HashTable<(u64, u64)>` — SwissTable open addressing with
//! SIMD group probing, 16-byte entries, one control byte per bucket —
//! hashed by [`FoldHasher`]: a folded multiply of the key with a per-table
//! random seed (one 64×64→128 multiply; the seed keeps hosts from choosing
//! colliding MACs). Batched lookups are a plain loop whose probes the CPU
//! overlaps; hashing a burst first measured slower.
//!
//! We did not write our own open-addressing table: at 10k entries hashbrown
//! reaches the goal, and at 1M the cost is the cache/TLB miss per probe,
//! which a different probing scheme would not remove.
//!
//! # Numbers (release, 2-core shared VM under load; see `perf/tables.md`)
//!
//! 10k entries: 85–175 M lookups/s, 2.6–3.2× `std::collections::HashMap`
//! (SipHash); 1M entries: 10–21 M/s (out of cache), 2.6–5.1× the baseline;
//! 27.9 / 35.7 bytes per entry per direction. Bindings into a published
//! [`Xlate`] with a reader running: 175–258 k/s.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::publish::Absorb;

/// Raw-lookup sentinel for "not present" (no packed value can equal it: a
/// MAC is 48 bits, and port `0xffff` with the broadcast MAC is never stored).
pub const MISS: u64 = u64::MAX;
/// Keys per hashed-then-probed group in batched lookups.
pub const BATCH: usize = 32;

const MAC_MASK: u64 = (1 << 48) - 1;

/// Pack a (VLAN, MAC) key.
#[inline]
pub fn xkey(vlan: u16, mac: u64) -> u64 {
    ((vlan as u64) << 48) | (mac & MAC_MASK)
}

/// Pack a reverse value (real MAC, port).
#[inline]
pub fn pack_real(mac: u64, port: u16) -> u64 {
    ((port as u64) << 48) | (mac & MAC_MASK)
}

/// Unpack a reverse value into (real MAC, port).
#[inline]
pub fn unpack_real(v: u64) -> (u64, u16) {
    (v & MAC_MASK, (v >> 48) as u16)
}

/// Folded-multiply hash of a `u64` key with a per-table seed.
#[derive(Clone, Copy, Debug)]
pub struct FoldHasher {
    seed: u64,
}

impl FoldHasher {
    /// A hasher with a random seed.
    pub fn random() -> Self {
        let seed = std::collections::hash_map::RandomState::new().hash_one(0x006d_6f6f_7365_u64);
        FoldHasher { seed: seed | 1 }
    }

    /// Hash one key.
    #[inline(always)]
    pub fn hash(&self, k: u64) -> u64 {
        let m = ((k ^ self.seed) as u128) * (0x9E37_79B9_7F4A_7C15u64 as u128);
        (m as u64) ^ ((m >> 64) as u64)
    }
}

/// One direction: a `u64 → u64` open-addressing table.
#[derive(Clone)]
pub struct XlateMap {
    table: HashTable<(u64, u64)>,
    hasher: FoldHasher,
}

impl Default for XlateMap {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for XlateMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XlateMap")
            .field("len", &self.len())
            .finish()
    }
}

impl XlateMap {
    /// An empty table.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty table with room for `n` entries without rehashing.
    pub fn with_capacity(n: usize) -> Self {
        XlateMap {
            table: HashTable::with_capacity(n),
            hasher: FoldHasher::random(),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Insert or replace; returns the old value.
    pub fn insert(&mut self, key: u64, value: u64) -> Option<u64> {
        let h = self.hasher.hash(key);
        let hs = self.hasher;
        match self.table.entry(h, |e| e.0 == key, |e| hs.hash(e.0)) {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                Some(std::mem::replace(&mut o.get_mut().1, value))
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert((key, value));
                None
            }
        }
    }

    /// Remove; returns the old value.
    pub fn remove(&mut self, key: u64) -> Option<u64> {
        let h = self.hasher.hash(key);
        match self.table.find_entry(h, |e| e.0 == key) {
            Ok(o) => Some(o.remove().0 .1),
            Err(_) => None,
        }
    }

    /// Remove every entry, keeping the allocation.
    pub fn clear(&mut self) {
        self.table.clear();
    }

    /// Look up one key.
    #[inline]
    pub fn get(&self, key: u64) -> Option<u64> {
        self.table
            .find(self.hasher.hash(key), |e| e.0 == key)
            .map(|e| e.1)
    }

    /// Look up one key; [`MISS`] if absent.
    #[inline]
    pub fn get_raw(&self, key: u64) -> u64 {
        self.get(key).unwrap_or(MISS)
    }

    /// Batched lookup: `out[i] = get_raw(keys[i])`. The probes of
    /// consecutive keys are independent, so the CPU overlaps them; a
    /// variant that hashed the whole burst first and then probed measured
    /// about half as fast at 10k entries (90 vs 175 M/s), so this is the
    /// plain loop.
    ///
    /// # Panics
    /// If `out` is shorter than `keys`.
    #[inline]
    pub fn get_batch(&self, keys: &[u64], out: &mut [u64]) {
        assert!(out.len() >= keys.len());
        for (o, &k) in out.iter_mut().zip(keys) {
            *o = self.get_raw(k);
        }
    }

    /// Batched lookup into `Option`s.
    pub fn get_batch_opt(&self, keys: &[u64], out: &mut [Option<u64>]) {
        assert!(out.len() >= keys.len());
        let mut raw = [0u64; BATCH];
        for (kc, oc) in keys.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
            self.get_batch(kc, &mut raw[..kc.len()]);
            for (r, o) in raw.iter().zip(oc) {
                *o = (*r != MISS).then_some(*r);
            }
        }
    }

    /// Iterate over (key, value), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.table.iter().copied()
    }

    /// Bytes allocated (buckets of 16 bytes plus one control byte each).
    pub fn bytes(&self) -> usize {
        let buckets = if self.table.capacity() == 0 {
            0
        } else {
            (self.table.capacity() * 8 / 7).next_power_of_two()
        };
        buckets * 17 + 16
    }
}

/// A change to one [`XlateMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XlateOp {
    /// Insert or replace `key → value`.
    Insert { key: u64, value: u64 },
    /// Remove `key`.
    Remove { key: u64 },
    /// Remove everything.
    Clear,
}

impl Absorb<XlateOp> for XlateMap {
    fn absorb(&mut self, op: &XlateOp) {
        match *op {
            XlateOp::Insert { key, value } => {
                self.insert(key, value);
            }
            XlateOp::Remove { key } => {
                self.remove(key);
            }
            XlateOp::Clear => self.clear(),
        }
    }
}

/// Both directions of MAC translation, kept consistent.
#[derive(Clone, Debug, Default)]
pub struct Xlate {
    /// (VLAN, real MAC) → MOOSE MAC.
    pub to_moose: XlateMap,
    /// (VLAN, MOOSE MAC) → `pack_real(real MAC, port)`.
    pub to_real: XlateMap,
}

/// A change to an [`Xlate`], for publication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostOp {
    /// Bind `real` on `vlan` (behind `port`) to `moose`, replacing any
    /// previous binding of `real` or of `moose` on that VLAN.
    Bind {
        vlan: u16,
        real: u64,
        moose: u64,
        port: u16,
    },
    /// Remove the binding of `real` on `vlan`.
    Unbind { vlan: u16, real: u64 },
    /// Remove everything.
    Clear,
}

impl Xlate {
    /// Empty tables sized for `n` hosts.
    pub fn with_capacity(n: usize) -> Self {
        Xlate {
            to_moose: XlateMap::with_capacity(n),
            to_real: XlateMap::with_capacity(n),
        }
    }

    /// Number of bound hosts.
    pub fn len(&self) -> usize {
        self.to_moose.len()
    }

    /// Whether no host is bound.
    pub fn is_empty(&self) -> bool {
        self.to_moose.is_empty()
    }

    /// Bind `real` ↔ `moose` on `vlan`; the 1:1 mapping is kept: an old
    /// binding of either address on this VLAN is removed first.
    pub fn bind(&mut self, vlan: u16, real: u64, moose: u64, port: u16) {
        let rk = xkey(vlan, real);
        let mk = xkey(vlan, moose);
        if let Some(old_moose) = self.to_moose.insert(rk, moose & MAC_MASK) {
            if old_moose != moose & MAC_MASK {
                self.to_real.remove(xkey(vlan, old_moose));
            }
        }
        if let Some(old) = self.to_real.insert(mk, pack_real(real, port)) {
            let (old_real, _) = unpack_real(old);
            if old_real != real & MAC_MASK {
                self.to_moose.remove(xkey(vlan, old_real));
            }
        }
    }

    /// Remove the binding of `real` on `vlan`; returns its MOOSE MAC.
    pub fn unbind(&mut self, vlan: u16, real: u64) -> Option<u64> {
        let moose = self.to_moose.remove(xkey(vlan, real))?;
        self.to_real.remove(xkey(vlan, moose));
        Some(moose)
    }

    /// Real → MOOSE.
    #[inline]
    pub fn moose_of(&self, vlan: u16, real: u64) -> Option<u64> {
        self.to_moose.get(xkey(vlan, real))
    }

    /// MOOSE → (real, port).
    #[inline]
    pub fn real_of(&self, vlan: u16, moose: u64) -> Option<(u64, u16)> {
        self.to_real.get(xkey(vlan, moose)).map(unpack_real)
    }

    /// Bytes allocated by both directions.
    pub fn bytes(&self) -> usize {
        self.to_moose.bytes() + self.to_real.bytes()
    }
}

impl Absorb<HostOp> for Xlate {
    fn absorb(&mut self, op: &HostOp) {
        match *op {
            HostOp::Bind {
                vlan,
                real,
                moose,
                port,
            } => self.bind(vlan, real, moose, port),
            HostOp::Unbind { vlan, real } => {
                self.unbind(vlan, real);
            }
            HostOp::Clear => {
                self.to_moose.clear();
                self.to_real.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions() {
        let mut x = Xlate::with_capacity(4);
        x.bind(10, 0x0050_5600_0001, 0x0211_1100_0001, 3);
        assert_eq!(x.moose_of(10, 0x0050_5600_0001), Some(0x0211_1100_0001));
        assert_eq!(x.moose_of(11, 0x0050_5600_0001), None);
        assert_eq!(x.real_of(10, 0x0211_1100_0001), Some((0x0050_5600_0001, 3)));
        // Rebinding the real MAC drops the old MOOSE address.
        x.bind(10, 0x0050_5600_0001, 0x0211_1100_0002, 4);
        assert_eq!(x.real_of(10, 0x0211_1100_0001), None);
        assert_eq!(x.len(), 1);
        assert_eq!(x.to_real.len(), 1);
        assert_eq!(x.unbind(10, 0x0050_5600_0001), Some(0x0211_1100_0002));
        assert!(x.is_empty() && x.to_real.is_empty());
    }

    #[test]
    fn batch_matches_single() {
        let mut m = XlateMap::new();
        for i in 0..1000u64 {
            m.insert(xkey(1, i * 7), i);
        }
        let keys: Vec<u64> = (0..2000u64).map(|i| xkey(1, i * 7 / 2)).collect();
        let mut out = vec![0; keys.len()];
        m.get_batch(&keys, &mut out);
        for (k, o) in keys.iter().zip(&out) {
            assert_eq!(m.get(*k).unwrap_or(MISS), *o);
        }
        assert!(m.bytes() >= 1000 * 16);
    }
}
