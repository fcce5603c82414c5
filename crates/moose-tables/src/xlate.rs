//! MAC address translation tables: (VLAN, real MAC) → MOOSE MAC on edge
//! ports, and (VLAN, MOOSE MAC) → (real MAC, port) for local delivery.
//!
//! # Design
//!
//! Keys and values are each one `u64`: a key is `(vlan << 48) | mac`
//! ([`xkey`]); a forward value is the MOOSE MAC, a reverse value is
//! `(port << 48) | real_mac` ([`pack_real`]). Each direction is an
//! [`XlateMap`]: open addressing with linear probing over 16-byte
//! `(key, value)` slots (four to a cache line), the home slot taken from
//! the top bits of [`FoldHasher`] — a folded multiply of the key with a
//! per-table random seed (one 64×64→128 multiply; the seed keeps hosts from
//! choosing colliding MACs). Deletion is by backward shift (no tombstones),
//! load ≤ 5/8 (≤ 3/8 while the table is ≤ 512 KiB). A lookup is one probe
//! sequence, normally inside the home slot's cache line: one memory access,
//! where hashbrown's SwissTable (used before) reads a control group and
//! then the slot.
//!
//! * **Batched lookup** ([`XlateMap::get_batch`]): for tables beyond L2
//!   size, software-pipelined — key `i` is hashed and its home slot
//!   prefetched 8 keys before it is probed — so the misses of a burst
//!   overlap. At 1M entries (32 MB) this is what reaches the goal.
//! * **Huge pages**: slot arrays are allocated and advised for 2 MiB THP
//!   before they are first written ([`crate::mem::advise_huge`]), and
//!   written (page-faulted) at construction rather than during inserts.
//! * **Updates** ([`Xlate::bind`] and its [`Absorb`] replay) prefetch both
//!   directions' home slots before touching either, and the left-right
//!   replay prefetches op `i + 8` while applying op `i`
//!   ([`Absorb::absorb_all`]), so binds into big tables overlap their cache
//!   misses.
//!
//! # Numbers (release, 2-core shared VM under load; see `perf/tables.md`)
//!
//! 10k entries: 95–136 M lookups/s batched, 2.0–4.4× `std::collections::
//! HashMap` (SipHash); 1M entries: 26–81 M/s batched, 6–25× the baseline;
//! 52 / 33.6 bytes per entry per direction. Bindings into a published
//! [`Xlate`] with a reader running: ~3 M/s, publishing every 100 µs.

use std::hash::BuildHasher;

use crate::mem;
use crate::publish::Absorb;

/// Raw-lookup sentinel for "not present" (no packed value can equal it: a
/// MAC is 48 bits, and port `0xffff` with the broadcast MAC is never stored).
pub const MISS: u64 = u64::MAX;
/// Chunk size of [`XlateMap::get_batch_opt`] (a DPDK burst).
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

/// Key marking an empty slot. A real key equal to it (impossible for
/// [`xkey`] with a 12-bit VLAN) is kept aside in `max_key`.
const EMPTY: u64 = u64::MAX;
/// Prefetch distance (keys) of [`XlateMap::get_batch`].
pub const PIPE: usize = 8;

/// One direction: a `u64 → u64` open-addressing table (linear probing,
/// 16-byte `(key, value)` slots, backward-shift deletion, load ≤ 5/8).
pub struct XlateMap {
    /// `(key, value)`; `key == EMPTY` marks a free slot. Power-of-two
    /// length, at least one slot always free.
    slots: Vec<(u64, u64)>,
    /// `64 - log2(slots.len())`: the home slot is the hash's top bits.
    shift: u32,
    len: usize,
    /// Value of the key [`EMPTY`], which cannot live in `slots`.
    max_key: Option<u64>,
    hasher: FoldHasher,
}

impl Clone for XlateMap {
    fn clone(&self) -> Self {
        XlateMap {
            slots: huge_vec(&self.slots),
            shift: self.shift,
            len: self.len,
            max_key: self.max_key,
            hasher: self.hasher,
        }
    }
}

/// A copy of `src` in an allocation advised for huge pages before it is
/// written.
fn huge_vec(src: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut v = Vec::with_capacity(src.len());
    mem::advise_huge(&v);
    v.extend_from_slice(src);
    v
}

/// `n` empty slots, advised for huge pages.
fn empty_slots(n: usize) -> Vec<(u64, u64)> {
    let mut v = Vec::with_capacity(n);
    mem::advise_huge(&v);
    v.resize(n, (EMPTY, 0));
    v
}

/// Slots for `n` entries: load ≤ 5/8, and ≤ 3/8 while the table stays
/// cache-sized (≤ 512 KiB), where short probe sequences (fewer mispredicted
/// probe-loop exits) matter more than memory. At least 8.
fn slots_for(n: usize) -> usize {
    let sparse = (n * 8 / 3 + 1).next_power_of_two();
    if sparse * 16 <= crate::lpm::CACHE_RESIDENT {
        sparse.max(8)
    } else {
        (n + n / 2 + n / 8 + 1).next_power_of_two()
    }
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

    /// An empty table with room for `n` entries without rehashing. The
    /// slots are allocated and written (page-faulted) here, not during
    /// inserts.
    pub fn with_capacity(n: usize) -> Self {
        let cap = slots_for(n);
        XlateMap {
            slots: empty_slots(cap),
            shift: 64 - cap.trailing_zeros(),
            len: 0,
            max_key: None,
            hasher: FoldHasher::random(),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len + self.max_key.is_some() as usize
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        (self.hasher.hash(key) >> self.shift) as usize
    }

    #[inline(always)]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Slot holding `key`, or the free slot ending its probe sequence.
    #[inline(always)]
    fn probe(&self, key: u64, mut i: usize) -> usize {
        let mask = self.mask();
        loop {
            let k = self.slots[i].0;
            if k == key || k == EMPTY {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    /// Insert or replace; returns the old value.
    pub fn insert(&mut self, key: u64, value: u64) -> Option<u64> {
        if key == EMPTY {
            return self.max_key.replace(value);
        }
        let i = self.probe(key, self.home(key));
        if self.slots[i].0 == key {
            return Some(std::mem::replace(&mut self.slots[i].1, value));
        }
        if slots_for(self.len + 1) > self.slots.len() {
            self.grow();
            let i = self.probe(key, self.home(key));
            self.slots[i] = (key, value);
        } else {
            self.slots[i] = (key, value);
        }
        self.len += 1;
        None
    }

    /// Double the slots and rehash.
    fn grow(&mut self) {
        let cap = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, empty_slots(cap));
        self.shift = 64 - cap.trailing_zeros();
        for (k, v) in old {
            if k != EMPTY {
                let i = self.probe(k, self.home(k));
                self.slots[i] = (k, v);
            }
        }
    }

    /// Remove; returns the old value.
    pub fn remove(&mut self, key: u64) -> Option<u64> {
        if key == EMPTY {
            return self.max_key.take();
        }
        let mask = self.mask();
        let mut hole = self.probe(key, self.home(key));
        if self.slots[hole].0 != key {
            return None;
        }
        let old = self.slots[hole].1;
        // Backward-shift deletion: pull later entries of the cluster into
        // the hole when the hole lies between their home and their slot.
        let mut j = (hole + 1) & mask;
        loop {
            let k = self.slots[j].0;
            if k == EMPTY {
                break;
            }
            let h = self.home(k);
            if (j.wrapping_sub(h) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.slots[hole] = (EMPTY, 0);
        self.len -= 1;
        Some(old)
    }

    /// Prefetch the home slot of `key` (ahead of an insert or remove).
    #[inline]
    pub fn prefetch(&self, key: u64) {
        mem::prefetch_index(&self.slots, self.home(key));
    }

    /// Remove every entry, keeping the allocation.
    pub fn clear(&mut self) {
        self.slots.fill((EMPTY, 0));
        self.len = 0;
        self.max_key = None;
    }

    /// Look up one key. Always inlined: the fast path's two lookups (source
    /// and destination) then have branches of their own, which predict
    /// better than one shared copy (cachegrind, a bridge with every frame
    /// missing the flow cache: 497,042 mispredictions in the shared copy
    /// against 114,964 inlined, over 400,000 frames).
    #[inline(always)]
    pub fn get(&self, key: u64) -> Option<u64> {
        match self.get_raw(key) {
            MISS if !self.holds_miss(key) => None,
            v => Some(v),
        }
    }

    /// Whether `key` is present with the value [`MISS`] (cold path of `get`).
    #[cold]
    fn holds_miss(&self, key: u64) -> bool {
        if key == EMPTY {
            return self.max_key.is_some();
        }
        self.slots[self.probe(key, self.home(key))].0 == key
    }

    /// Look up one key; [`MISS`] if absent.
    #[inline(always)]
    pub fn get_raw(&self, key: u64) -> u64 {
        if key == EMPTY {
            return self.max_key.unwrap_or(MISS);
        }
        self.get_at(key, self.home(key))
    }

    #[inline(always)]
    fn get_at(&self, key: u64, home: usize) -> u64 {
        let s = self.slots[self.probe(key, home)];
        if s.0 == key {
            s.1
        } else {
            MISS
        }
    }

    /// Batched lookup: `out[i] = get_raw(keys[i])`. Software-pipelined:
    /// key `i`'s home slot is hashed and prefetched [`PIPE`] keys before it
    /// is probed, so the cache/TLB misses of a burst overlap (at 1M entries
    /// the table is 32 MB and nearly every probe misses).
    ///
    /// # Panics
    /// If `out` is shorter than `keys`.
    #[inline]
    pub fn get_batch(&self, keys: &[u64], out: &mut [u64]) {
        assert!(out.len() >= keys.len());
        let out = &mut out[..keys.len()];
        if self.bytes() <= crate::lpm::CACHE_RESIDENT {
            // Cache-resident: the plain loop is faster than the pipeline.
            for (o, &k) in out.iter_mut().zip(keys) {
                *o = self.get_raw(k);
            }
            return;
        }
        let n = keys.len();
        let mut ring = [0usize; PIPE];
        for i in 0..n + PIPE {
            if i >= PIPE {
                let j = i - PIPE;
                let k = keys[j];
                out[j] = if k == EMPTY {
                    self.max_key.unwrap_or(MISS)
                } else {
                    self.get_at(k, ring[j % PIPE])
                };
            }
            if i < n {
                let h = self.home(keys[i]);
                mem::prefetch_index(&self.slots, h);
                ring[i % PIPE] = h;
            }
        }
    }

    /// Batched lookup into `Option`s.
    pub fn get_batch_opt(&self, keys: &[u64], out: &mut [Option<u64>]) {
        assert!(out.len() >= keys.len());
        let mut raw = [0u64; BATCH];
        for (kc, oc) in keys.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
            self.get_batch(kc, &mut raw[..kc.len()]);
            for ((r, o), &k) in raw.iter().zip(oc).zip(kc) {
                *o = if *r != MISS || self.holds_miss(k) {
                    Some(*r)
                } else {
                    None
                };
            }
        }
    }

    /// Iterate over (key, value), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.slots
            .iter()
            .copied()
            .filter(|s| s.0 != EMPTY)
            .chain(self.max_key.map(|v| (EMPTY, v)))
    }

    /// Bytes allocated (16-byte slots).
    pub fn bytes(&self) -> usize {
        self.slots.len() * 16
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
    /// (VLAN, real MAC) → `pack_real(MOOSE MAC, port)`: the port the host
    /// is on, so that the edge can tell a host that moved.
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
    /// Frames to `moose` on `vlan` (the old address of a host that moved to
    /// another switch) go to `to` (its new address) out of `port`: a
    /// MOOSE → MOOSE entry in the restoring direction only.
    Forward {
        vlan: u16,
        moose: u64,
        to: u64,
        port: u16,
    },
    /// Remove the forwarding of `moose` on `vlan`.
    Unforward { vlan: u16, moose: u64 },
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
        // Two independent cache misses in big tables: start both now.
        self.to_real.prefetch(mk);
        if let Some(old) = self.to_moose.insert(rk, pack_real(moose, port)) {
            let (old_moose, _) = unpack_real(old);
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
        let (moose, _) = unpack_real(self.to_moose.remove(xkey(vlan, real))?);
        self.to_real.remove(xkey(vlan, moose));
        Some(moose)
    }

    /// Real → MOOSE.
    #[inline]
    pub fn moose_of(&self, vlan: u16, real: u64) -> Option<u64> {
        self.to_moose
            .get(xkey(vlan, real))
            .map(|v| unpack_real(v).0)
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

impl Xlate {
    fn prefetch_op(&self, op: &HostOp) {
        match *op {
            HostOp::Bind {
                vlan, real, moose, ..
            } => {
                self.to_moose.prefetch(xkey(vlan, real));
                self.to_real.prefetch(xkey(vlan, moose));
            }
            HostOp::Unbind { vlan, real } => self.to_moose.prefetch(xkey(vlan, real)),
            HostOp::Forward { vlan, moose, .. } | HostOp::Unforward { vlan, moose } => {
                self.to_real.prefetch(xkey(vlan, moose))
            }
            HostOp::Clear => {}
        }
    }
}

/// Ops ahead whose slots [`Absorb::absorb_all`] prefetches.
const REPLAY_AHEAD: usize = 8;

impl Absorb<HostOp> for Xlate {
    /// Replay with the slots of op `i + 8` prefetched while op `i` is
    /// applied, so that the misses of consecutive binds overlap.
    fn absorb_all(&mut self, ops: &[HostOp]) {
        for op in ops.iter().take(REPLAY_AHEAD) {
            self.prefetch_op(op);
        }
        for (i, op) in ops.iter().enumerate() {
            if let Some(ahead) = ops.get(i + REPLAY_AHEAD) {
                self.prefetch_op(ahead);
            }
            self.absorb(op);
        }
    }

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
            HostOp::Forward {
                vlan,
                moose,
                to,
                port,
            } => {
                self.to_real.insert(xkey(vlan, moose), pack_real(to, port));
            }
            HostOp::Unforward { vlan, moose } => {
                // Only a forwarding entry: a host bound to the address since
                // has a real MAC that is not under a MOOSE prefix … which
                // the table cannot tell; the hosts service unforwards only
                // addresses it holds in quarantine.
                self.to_real.remove(xkey(vlan, moose));
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
