//! MAC longest-prefix match over 48-bit keys: a Poptrie-style compressed
//! multibit trie.
//!
//! # Design
//!
//! A key is a `u64` holding the MAC in its low 48 bits, octet 0 most
//! significant; prefix lengths are 0..=48; values are next-hop ids
//! `0..=0xfffe` ([`NO_ROUTE`] is the "no match" sentinel of the raw API).
//!
//! * **Top level, direct pointing**: the first [`TOP_BITS`] = 12 key bits
//!   index a 4096-entry array of `u32`; an entry is either a leaf
//!   (`LEAF | value`) or the index of a node. 16 KiB, always cache-hot.
//! * **Nodes, 6-bit stride**: the remaining 36 bits are consumed 6 at a time
//!   (at most 6 nodes deep). A node is 24 bytes: `vector` (bit i set = slot i
//!   is an internal child), `leafvec` (bit i set = a new leaf run starts at
//!   slot i), and the bases of its contiguous child block and leaf block.
//!   The child or leaf of slot `v` is found by `popcount` of the bitmap up
//!   to `v` — no per-slot pointers. Leaf pushing plus run-length compression
//!   of leaves (Poptrie's "leafvec") keeps a node with a single next hop
//!   down to one 2-byte leaf.
//! * **Updates**: the authoritative prefix set (the RIB) is a `BTreeMap`
//!   ordered by (prefix, length). An insert or delete rebuilds only the
//!   smallest existing subtree covering the prefix, *in place* (the node
//!   keeps its index, so no parent changes), from a range query on the
//!   RIB. Old child and leaf blocks become garbage; when garbage exceeds the
//!   live structure the whole trie is rebuilt compactly. Prefixes shorter
//!   than 12 bits rewrite each top entry they cover.
//! * **Batched lookup**: keys are walked level-synchronously in groups of
//!   [`BATCH`], so the loads of independent lookups overlap (memory-level
//!   parallelism) instead of serialising on one dependent chain.
//!
//! # Numbers (release, 2-core shared VM, `cargo run --release -p moose-tables --example bench`)
//!
//! Measured while other builds loaded the machine (load average 3–6 on 2
//! cores), so absolute rates are low and noisy; see `perf/tables.md`.
//! 10k prefixes: batched 14–32 M/s, single 13–21 M/s, 1.3–2.3× the
//! per-length hash baseline, 45.6 B/prefix. 1M prefixes: ~2.3 M/s batched
//! (memory- and TLB-bound: 32 MB of nodes on 4 KiB pages in a VM; profile
//! shows the time on the node and leaf loads), 33.6 B/prefix, ≈ baseline.
//! Both miss the goals (≥ 200 / ≥ 100 M/s, ≤ 40 B, ≥ 5×).

use std::collections::BTreeMap;

use crate::publish::Absorb;

/// Sentinel returned by the raw lookups when no prefix matches.
pub const NO_ROUTE: u16 = u16::MAX;
/// Bits resolved by the direct-pointing top array.
pub const TOP_BITS: u32 = 12;
/// Keys per group in [`MacLpm::lookup_batch`].
pub const BATCH: usize = 16;

const STRIDE: u32 = 6;
const MAC_MASK: u64 = (1 << 48) - 1;
const LEAF: u32 = 1 << 31;
const TOP_SHIFT: u32 = 48 - TOP_BITS;

/// A change to an [`MacLpm`], for publication through [`crate::publish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LpmOp {
    /// Insert or replace `prefix/len → value`.
    Insert { prefix: u64, len: u8, value: u16 },
    /// Remove `prefix/len`.
    Remove { prefix: u64, len: u8 },
    /// Remove every prefix.
    Clear,
}

#[derive(Clone, Copy, Debug, Default)]
struct Node {
    /// Bit i set: slot i is a child node (at `base1 + rank`).
    vector: u64,
    /// Bit i set: a leaf run starts at slot i (leaf at `base0 + rank - 1`).
    leafvec: u64,
    base0: u32,
    base1: u32,
}

/// Mask selecting the top `len` bits of a 48-bit key.
#[inline]
pub fn prefix_mask(len: u8) -> u64 {
    debug_assert!(len <= 48);
    if len == 0 {
        0
    } else {
        (MAC_MASK >> (48 - len as u32)) << (48 - len as u32)
    }
}

#[inline]
fn rib_key(prefix: u64, len: u8) -> u64 {
    (prefix << 6) | len as u64
}

/// The MAC LPM table.
#[derive(Clone, Debug)]
pub struct MacLpm {
    /// Direct-pointing level: `LEAF | value` or a node index.
    top: Vec<u32>,
    nodes: Vec<Node>,
    leaves: Vec<u16>,
    /// Authoritative prefix set: `(prefix << 6) | len` → value.
    rib: BTreeMap<u64, u16>,
    garbage_nodes: usize,
    garbage_leaves: usize,
}

impl Default for MacLpm {
    fn default() -> Self {
        Self::new()
    }
}

impl MacLpm {
    /// An empty table (every lookup misses).
    pub fn new() -> Self {
        MacLpm {
            top: vec![LEAF | NO_ROUTE as u32; 1 << TOP_BITS],
            nodes: vec![DUMMY],
            leaves: vec![NO_ROUTE],
            rib: BTreeMap::new(),
            garbage_nodes: 0,
            garbage_leaves: 0,
        }
    }

    /// Build from `(prefix, len, value)`; later duplicates win. Bits of
    /// `prefix` beyond `len` are ignored.
    ///
    /// # Panics
    /// If a `len > 48` or a `value == NO_ROUTE`.
    pub fn from_prefixes<I: IntoIterator<Item = (u64, u8, u16)>>(prefixes: I) -> Self {
        let mut t = Self::new();
        for (p, l, v) in prefixes {
            check(l, v);
            t.rib.insert(rib_key(p & prefix_mask(l), l), v);
        }
        t.rebuild_all();
        t
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.rib.len()
    }

    /// Whether the table holds no prefix.
    pub fn is_empty(&self) -> bool {
        self.rib.is_empty()
    }

    /// Exact-match get of `prefix/len`.
    pub fn get(&self, prefix: u64, len: u8) -> Option<u16> {
        self.rib
            .get(&rib_key(prefix & prefix_mask(len), len))
            .copied()
    }

    /// All prefixes in (prefix, len) order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u8, u16)> + '_ {
        self.rib.iter().map(|(&k, &v)| (k >> 6, (k & 63) as u8, v))
    }

    /// Insert or replace `prefix/len → value`; returns the old value.
    ///
    /// # Panics
    /// If `len > 48` or `value == NO_ROUTE`.
    pub fn insert(&mut self, prefix: u64, len: u8, value: u16) -> Option<u16> {
        check(len, value);
        let p = prefix & prefix_mask(len);
        let old = self.rib.insert(rib_key(p, len), value);
        if old != Some(value) {
            self.rebuild_for(p, len);
        }
        old
    }

    /// Remove `prefix/len`; returns its value.
    pub fn remove(&mut self, prefix: u64, len: u8) -> Option<u16> {
        if len > 48 {
            return None;
        }
        let p = prefix & prefix_mask(len);
        let old = self.rib.remove(&rib_key(p, len));
        if old.is_some() {
            self.rebuild_for(p, len);
        }
        old
    }

    /// Remove every prefix.
    pub fn clear(&mut self) {
        *self = Self::new();
    }

    /// Bytes of the lookup structure (top array, nodes, leaves, including
    /// garbage not yet compacted). The RIB is reported by [`Self::rib_bytes`].
    pub fn bytes(&self) -> usize {
        self.top.len() * 4 + self.nodes.len() * std::mem::size_of::<Node>() + self.leaves.len() * 2
    }

    /// Estimated bytes of the control-plane prefix set (B-tree of 8 + 2
    /// byte entries, about 2/3 full, plus node headers).
    pub fn rib_bytes(&self) -> usize {
        self.rib.len() * 16
    }

    /// Longest-prefix match of `key`; `None` if nothing matches.
    #[inline]
    pub fn lookup(&self, key: u64) -> Option<u16> {
        match self.lookup_raw(key) {
            NO_ROUTE => None,
            v => Some(v),
        }
    }

    /// Longest-prefix match of `key`; [`NO_ROUTE`] if nothing matches.
    #[inline]
    pub fn lookup_raw(&self, key: u64) -> u16 {
        let key = key & MAC_MASK;
        let mut cur = self.top[(key >> TOP_SHIFT) as usize];
        let mut shift = TOP_SHIFT;
        while cur & LEAF == 0 {
            shift -= STRIDE;
            cur = self.step(cur, key, shift);
        }
        cur as u16
    }

    /// One level: from node `idx`, follow the 6 key bits at `shift`.
    #[inline(always)]
    fn step(&self, idx: u32, key: u64, shift: u32) -> u32 {
        let n = &self.nodes[idx as usize];
        let v = ((key >> shift) & 63) as u32;
        let upto = u64::MAX >> (63 - v);
        if (n.vector >> v) & 1 != 0 {
            n.base1 + (n.vector & upto).count_ones() - 1
        } else {
            LEAF | self.leaves[(n.base0 + (n.leafvec & upto).count_ones() - 1) as usize] as u32
        }
    }

    /// Batched lookup: `out[i] = lookup_raw(keys[i])` ([`NO_ROUTE`] on miss).
    ///
    /// # Panics
    /// If `out` is shorter than `keys`.
    pub fn lookup_batch(&self, keys: &[u64], out: &mut [u16]) {
        assert!(out.len() >= keys.len());
        let mut kc = keys.chunks_exact(BATCH);
        let mut oc = out.chunks_exact_mut(BATCH);
        for (k, o) in (&mut kc).zip(&mut oc) {
            let k: &[u64; BATCH] = k.try_into().expect("chunk");
            let o: &mut [u16; BATCH] = o.try_into().expect("chunk");
            self.lookup_group(k, o);
        }
        for (k, o) in kc.remainder().iter().zip(oc.into_remainder()) {
            *o = self.lookup_raw(*k);
        }
    }

    /// Batched lookup into `Option`s.
    pub fn lookup_batch_opt(&self, keys: &[u64], out: &mut [Option<u16>]) {
        assert!(out.len() >= keys.len());
        let mut raw = [0u16; BATCH];
        for (k, o) in keys.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
            self.lookup_batch(k, &mut raw[..k.len()]);
            for (r, o) in raw.iter().zip(o.iter_mut()) {
                *o = if *r == NO_ROUTE { None } else { Some(*r) };
            }
        }
    }

    /// Walk `BATCH` independent keys one level at a time so that the
    /// loads of independent lookups overlap; lanes that reached a leaf
    /// drop out of the `live` mask. (A branch-free variant that keeps
    /// stepping finished lanes through a dummy node measured slower: it
    /// pays an extra leaf load per lane per level.)
    #[inline]
    fn lookup_group(&self, keys: &[u64; BATCH], out: &mut [u16; BATCH]) {
        let mut cur = [0u32; BATCH];
        let mut live = 0u32;
        for i in 0..BATCH {
            let c = self.top[((keys[i] & MAC_MASK) >> TOP_SHIFT) as usize];
            cur[i] = c;
            live |= ((c & LEAF == 0) as u32) << i;
        }
        let mut shift = TOP_SHIFT;
        while live != 0 {
            shift -= STRIDE;
            let mut lanes = live;
            while lanes != 0 {
                let i = lanes.trailing_zeros() as usize;
                lanes &= lanes - 1;
                let c = self.step(cur[i], keys[i] & MAC_MASK, shift);
                cur[i] = c;
                if c & LEAF != 0 {
                    live &= !(1 << i);
                }
            }
        }
        for i in 0..BATCH {
            out[i] = cur[i] as u16;
        }
    }

    // ---- construction ----

    /// Longest prefix in the RIB of length `<= max_len` covering `p`.
    fn best_covering(&self, p: u64, max_len: u32) -> u16 {
        for l in (0..=max_len as u8).rev() {
            if let Some(&v) = self.rib.get(&rib_key(p & prefix_mask(l), l)) {
                return v;
            }
        }
        NO_ROUTE
    }

    /// Prefixes strictly longer than `s` inside region `p/s`.
    fn region(&self, p: u64, s: u32) -> Vec<(u64, u8, u16)> {
        let lo = p & prefix_mask(s as u8);
        let hi = lo | (MAC_MASK >> s);
        self.rib
            .range(rib_key(lo, 0)..=rib_key(hi, 48))
            .map(|(&k, &v)| (k >> 6, (k & 63) as u8, v))
            .filter(|&(_, l, _)| l as u32 > s)
            .collect()
    }

    fn rebuild_all(&mut self) {
        self.nodes.clear();
        self.nodes.push(DUMMY);
        self.leaves.clear();
        self.leaves.push(NO_ROUTE);
        self.garbage_nodes = 0;
        self.garbage_leaves = 0;
        let all: Vec<(u64, u8, u16)> = self.iter().collect();
        // Short prefixes (< TOP_BITS) expand over top entries, in
        // (prefix, len) order so that a longer one overrides its cover.
        let mut top_default = vec![NO_ROUTE; 1 << TOP_BITS];
        for &(p, l, v) in all.iter().filter(|e| (e.1 as u32) <= TOP_BITS) {
            let first = (p >> TOP_SHIFT) as usize;
            let count = 1usize << (TOP_BITS - l as u32);
            top_default[first..first + count].fill(v);
        }
        let mut rest = &all[..];
        for (t, &dflt) in top_default.iter().enumerate() {
            let region_end = ((t as u64) + 1) << TOP_SHIFT;
            let n = rest.partition_point(|e| e.0 < region_end);
            let (mine, tail) = rest.split_at(n);
            rest = tail;
            self.top[t] = if mine.iter().any(|e| e.1 as u32 > TOP_BITS) {
                let idx = self.nodes.len() as u32;
                self.nodes.push(Node::default());
                let node = self.build(TOP_BITS, dflt, mine);
                self.nodes[idx as usize] = node;
                idx
            } else {
                LEAF | dflt as u32
            };
        }
    }

    /// Build the node whose stride starts at bit `s`, with `default` as the
    /// value of every slot no prefix covers. `prefs` is sorted by
    /// (prefix, len) and lies inside the node's region; entries with length
    /// `<= s` are already folded into `default` and are skipped. Pushes the
    /// node's leaf block and child block; returns the node itself.
    fn build(&mut self, s: u32, default: u16, prefs: &[(u64, u8, u16)]) -> Node {
        let end = s + STRIDE;
        let slot_shift = 48 - end;
        let mut vals = [default; 64];
        let mut vector = 0u64;
        // Sorted by (prefix, len): a covering prefix precedes what it covers.
        for &(p, l, v) in prefs {
            let l = l as u32;
            if l <= s {
                continue;
            }
            let slot = ((p >> slot_shift) & 63) as usize;
            if l <= end {
                let count = 1usize << (end - l);
                vals[slot..slot + count].fill(v);
            } else {
                vector |= 1 << slot;
            }
        }
        let base0 = self.leaves.len() as u32;
        let mut leafvec = 0u64;
        let mut prev = None;
        for (i, &v) in vals.iter().enumerate() {
            if (vector >> i) & 1 == 0 && prev != Some(v) {
                leafvec |= 1 << i;
                self.leaves.push(v);
                prev = Some(v);
            }
        }
        let base1 = self.nodes.len() as u32;
        self.nodes.resize(
            self.nodes.len() + vector.count_ones() as usize,
            Node::default(),
        );
        let mut k = 0usize;
        let mut i = 0usize;
        let mut child = 0u32;
        while k < prefs.len() {
            let slot = ((prefs[k].0 >> slot_shift) & 63) as usize;
            let mut j = k;
            while j < prefs.len() && ((prefs[j].0 >> slot_shift) & 63) as usize == slot {
                j += 1;
            }
            if (vector >> slot) & 1 != 0 {
                let node = self.build(end, vals[slot], &prefs[k..j]);
                self.nodes[(base1 + child) as usize] = node;
                child += 1;
            }
            k = j;
            i += 1;
        }
        debug_assert!(i <= 64 && child == vector.count_ones());
        Node {
            vector,
            leafvec,
            base0,
            base1,
        }
    }

    /// Count the nodes and leaves below node `idx` (not the node itself).
    fn count_below(&self, idx: u32) -> (usize, usize) {
        let n = self.nodes[idx as usize];
        let mut nodes = n.vector.count_ones() as usize;
        let mut leaves = n.leafvec.count_ones() as usize;
        for c in 0..n.vector.count_ones() {
            let (a, b) = self.count_below(n.base1 + c);
            nodes += a;
            leaves += b;
        }
        (nodes, leaves)
    }

    /// Rebuild node `idx` (stride at `s`, region containing `p`) in place.
    fn rebuild_node(&mut self, idx: u32, s: u32, p: u64) {
        let (gn, gl) = self.count_below(idx);
        self.garbage_nodes += gn;
        self.garbage_leaves += gl;
        let default = self.best_covering(p, s);
        let prefs = self.region(p, s);
        let node = self.build(s, default, &prefs);
        self.nodes[idx as usize] = node;
    }

    fn rebuild_top(&mut self, t: usize) {
        let p = (t as u64) << TOP_SHIFT;
        let e = self.top[t];
        let prefs = self.region(p, TOP_BITS);
        let default = self.best_covering(p, TOP_BITS);
        if e & LEAF == 0 {
            let (gn, gl) = self.count_below(e);
            self.garbage_nodes += gn;
            self.garbage_leaves += gl;
            if prefs.is_empty() {
                self.garbage_nodes += 1;
            }
        }
        self.top[t] = if prefs.is_empty() {
            LEAF | default as u32
        } else {
            let idx = if e & LEAF == 0 {
                e
            } else {
                self.nodes.push(Node::default());
                self.nodes.len() as u32 - 1
            };
            let node = self.build(TOP_BITS, default, &prefs);
            self.nodes[idx as usize] = node;
            idx
        };
    }

    /// Bring the trie in line with the RIB after `p/len` changed.
    fn rebuild_for(&mut self, p: u64, len: u8) {
        let len = len as u32;
        if len <= TOP_BITS {
            let first = (p >> TOP_SHIFT) as usize;
            for t in first..first + (1usize << (TOP_BITS - len)) {
                self.rebuild_top(t);
            }
        } else {
            let t = (p >> TOP_SHIFT) as usize;
            let mut cur = self.top[t];
            if cur & LEAF != 0 {
                self.rebuild_top(t);
            } else {
                let mut s = TOP_BITS;
                loop {
                    if len <= s + STRIDE {
                        self.rebuild_node(cur, s, p);
                        break;
                    }
                    let n = self.nodes[cur as usize];
                    let v = ((p >> (48 - s - STRIDE)) & 63) as u32;
                    if (n.vector >> v) & 1 == 0 {
                        self.rebuild_node(cur, s, p);
                        break;
                    }
                    cur = n.base1 + (n.vector & (u64::MAX >> (63 - v))).count_ones() - 1;
                    s += STRIDE;
                }
            }
        }
        let live = self.nodes.len() - self.garbage_nodes;
        if self.garbage_nodes > 4096 && self.garbage_nodes > live {
            self.rebuild_all();
        }
    }
}

/// Node 0 and leaf 0 are placeholders, so that no real index is 0.
const DUMMY: Node = Node {
    vector: 0,
    leafvec: 1,
    base0: 0,
    base1: 0,
};

fn check(len: u8, value: u16) {
    assert!(len <= 48, "MAC prefix length {len} > 48");
    assert!(value != NO_ROUTE, "next hop {NO_ROUTE:#x} is reserved");
}

impl Absorb<LpmOp> for MacLpm {
    fn absorb(&mut self, op: &LpmOp) {
        match *op {
            LpmOp::Insert { prefix, len, value } => {
                self.insert(prefix, len, value);
            }
            LpmOp::Remove { prefix, len } => {
                self.remove(prefix, len);
            }
            LpmOp::Clear => self.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(s: &str) -> u64 {
        s.split(':')
            .fold(0, |a, o| (a << 8) | u64::from_str_radix(o, 16).unwrap())
    }

    #[test]
    fn default_and_host_routes() {
        let mut t = MacLpm::new();
        assert_eq!(t.lookup(mac("02:11:11:00:00:01")), None);
        assert_eq!(t.insert(0, 0, 7), None);
        assert_eq!(t.lookup(mac("ff:ff:ff:ff:ff:ff")), Some(7));
        t.insert(mac("02:11:11:00:00:00"), 24, 1);
        t.insert(mac("02:11:11:01:00:00"), 32, 2);
        t.insert(mac("02:11:11:01:00:05"), 48, 3);
        assert_eq!(t.lookup(mac("02:11:11:00:00:01")), Some(1));
        assert_eq!(t.lookup(mac("02:11:11:01:00:04")), Some(2));
        assert_eq!(t.lookup(mac("02:11:11:01:00:05")), Some(3));
        assert_eq!(t.lookup(mac("02:11:12:00:00:00")), Some(7));
        assert_eq!(t.insert(mac("02:11:11:01:00:05"), 48, 4), Some(3));
        assert_eq!(t.lookup(mac("02:11:11:01:00:05")), Some(4));
        assert_eq!(t.remove(mac("02:11:11:01:00:00"), 32), Some(2));
        assert_eq!(t.lookup(mac("02:11:11:01:00:04")), Some(1));
        assert_eq!(t.lookup(mac("02:11:11:01:00:05")), Some(4));
        assert_eq!(t.remove(0, 0), Some(7));
        assert_eq!(t.lookup(mac("02:11:12:00:00:00")), None);
        let keys = [mac("02:11:11:01:00:05"), mac("03:00:00:00:00:00"), 1 << 60];
        let mut out = [None; 3];
        t.lookup_batch_opt(&keys, &mut out);
        assert_eq!(out, [Some(4), None, None]);
    }

    #[test]
    fn build_equals_incremental() {
        let ps = [
            (0u64, 0u8, 1u16),
            (mac("02:00:00:00:00:00"), 7, 2),
            (mac("02:11:00:00:00:00"), 16, 3),
            (mac("02:11:11:00:00:00"), 24, 4),
            (mac("02:11:11:80:00:00"), 25, 5),
            (mac("02:11:11:80:00:01"), 48, 6),
        ];
        let a = MacLpm::from_prefixes(ps);
        let mut b = MacLpm::new();
        for (p, l, v) in ps {
            b.insert(p, l, v);
        }
        for k in [
            0,
            mac("02:11:11:80:00:01"),
            mac("02:11:11:80:00:02"),
            mac("02:11:11:7f:ff:ff"),
            mac("02:11:10:ff:ff:ff"),
            mac("02:ff:00:00:00:00"),
            mac("04:00:00:00:00:00"),
        ] {
            assert_eq!(a.lookup(k), b.lookup(k), "{k:012x}");
        }
        assert!(a.bytes() > 0);
    }

    #[test]
    fn churn_compacts_and_stays_correct() {
        let base = mac("02:11:11:00:00:00");
        let mut t = MacLpm::new();
        for i in 0..1500u64 {
            t.insert(base | (i * 0x1_0100), 40, (i % 50) as u16);
        }
        let before = t.bytes();
        for round in 0..40u16 {
            // Each change of the /24 rebuilds the whole subtree below it.
            t.insert(base, 24, round);
            t.remove(base, 24);
        }
        assert!(t.bytes() <= 2 * before + 64 * 1024, "garbage was compacted");
        let fresh = MacLpm::from_prefixes(t.iter());
        for i in 0..5000u64 {
            let k = base | (i * 0xfff3);
            assert_eq!(t.lookup(k), fresh.lookup(k), "{k:012x}");
        }
    }
}
