//! MAC longest-prefix match over 48-bit keys: a DXR-style range table
//! (direct-pointing top level + per-bucket sorted interval lists).
//!
//! # Design
//!
//! A key is a `u64` holding the MAC in its low 48 bits, octet 0 most
//! significant; prefix lengths are 0..=48; values are next-hop ids
//! `0..=0xfffe` ([`NO_ROUTE`] is the "no match" sentinel of the raw API).
//!
//! A prefix set partitions the 48-bit key space into at most `2n + 1`
//! intervals of constant next hop; a lookup only has to find the interval
//! that holds the key (Zec, Rizzo, Mikuc: "DXR: towards a billion routing
//! lookups per second in software", 2012).
//!
//! * **Top level, direct pointing**: the first `s` key bits index an array
//!   of `u32` (`s` = 12..=21, chosen at (re)build as ⌈log₂ n⌉ + 1 so that
//!   the array costs ≤ ~16 B per prefix: s = 15 at 10k prefixes, 21 at 1M). An
//!   entry is either a leaf (`LEAF | value`: the whole bucket has one next
//!   hop — one load per lookup) or the start and count of the bucket's
//!   intervals.
//! * **Intervals**: one `u64` each, `(offset << 16) | value`, `offset` the
//!   interval's first key relative to the bucket (≤ 36 bits), sorted; the
//!   first offset of a bucket is 0, adjacent intervals never share a value.
//!   The lookup finds the last interval whose offset is ≤ the key's low
//!   bits: binary narrowing down to 16 candidates, then a fixed-length
//!   masked count of those 16 (branch-free, vectorised) — at the sizes above
//!   a bucket holds a handful to a few dozen intervals. A lookup is therefore at
//!   most two dependent memory accesses (top entry, interval line), against
//!   one per 6-bit level (up to 7) in the multibit trie this replaced.
//!   Entries of buckets with ≥ 31 intervals keep their count (and the
//!   list's capacity) in a header word just before the intervals.
//! * **Updates**: the authoritative prefix set (the RIB) is a `BTreeMap`
//!   ordered by (prefix, length). An insert or delete recomputes the
//!   interval lists of the buckets the prefix touches (one bucket unless
//!   the prefix is shorter than `s`) by a stack sweep over a RIB range
//!   query, and stores them: in place when a long list still fits its
//!   capacity (lists rebuilt by updates get 25 % room), else appended with
//!   the top entry repointed. Replaced lists become garbage; when garbage
//!   exceeds the live lists (or the table has grown 4× past its top size)
//!   everything is rebuilt compactly.
//! * **Batched lookup**: for tables beyond L2 size, software-pipelined —
//!   key `i`'s top entry is prefetched, key `i - 8` loads it and prefetches
//!   its intervals, key `i - 16` searches — so the cache and TLB misses of
//!   a burst overlap. Cache-resident tables (≤ [`CACHE_RESIDENT`])
//!   skip the prefetching (slower there) and go in two passes per 32 keys:
//!   all top entries, then all searches.
//! * Large arrays are advised for 2 MiB transparent huge pages
//!   ([`crate::mem::advise_huge`]); at 1M prefixes the tables are ~20 MB
//!   and would otherwise take a TLB miss on most lookups.
//!
//! Worst cases: a bucket holding very many prefixes (e.g. 100k host routes
//! in one /20 of a 1M table) costs a longer binary search (log₂ of its size)
//! and an update in it rewrites the whole bucket.
//!
//! # Numbers
//!
//! Shared 2-core VM, loaded (see `perf/tables.md` for all runs): 10k
//! prefixes 54–89 M lookups/s batched, 31 B/prefix, 2.5–5.2× the per-length
//! hash baseline; 1M prefixes 14–15 M/s batched (12–36 over the round),
//! 26 B/prefix, 4.3–5.6×. The
//! multibit trie this replaced measured 14–32 and 2.3 M/s, 45.6 B/prefix.

use std::collections::BTreeMap;

use crate::mem;
use crate::publish::Absorb;

/// Sentinel returned by the raw lookups when no prefix matches.
pub const NO_ROUTE: u16 = u16::MAX;
/// Fewest key bits resolved by the direct-pointing top array.
pub const TOP_BITS: u32 = 12;
/// Most key bits resolved by the top array (8 MiB of entries).
pub const MAX_TOP_BITS: u32 = 21;
/// Chunk size of [`MacLpm::lookup_batch_opt`] (a DPDK burst).
pub const BATCH: usize = 32;
/// Tables up to this size (bytes) stay in L2 and are looked up in batches
/// without software pipelining.
pub const CACHE_RESIDENT: usize = 512 << 10;
/// Prefetch distance (keys) of each stage of [`MacLpm::lookup_batch`].
pub const PIPE: usize = 8;

const MAC_MASK: u64 = (1 << 48) - 1;
/// Top entry: the whole bucket maps to the value in the low 16 bits.
const LEAF: u32 = 1 << 31;
/// Top entry of a list bucket: `count << CNT_SHIFT | start`.
const CNT_SHIFT: u32 = 26;
const START_MASK: u32 = (1 << CNT_SHIFT) - 1;
/// Count code meaning "count in the header word at `start - 1`".
const LONG: u32 = 31;
/// Intervals compared at once at the end of a search; `ranges` ends with
/// this many padding words so the comparison window never runs off it.
const SCAN: usize = 16;

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

/// The lookup half of a MAC LPM: the top array and the interval lists,
/// without the RIB. This is what the fast path reads; the control side
/// keeps the [`MacLpm`] (RIB included) and publishes a copy of its
/// `LpmTable` (an `Arc`), so the prefix set is never kept twice.
#[derive(Clone, Debug)]
pub struct LpmTable {
    /// Direct-pointing level: `LEAF | value` or `count << 26 | start`.
    top: Vec<u32>,
    /// Key bits resolved by `top`.
    top_bits: u32,
    /// Interval lists of all buckets: `(offset << 16) | value`, plus a count
    /// header before each list of ≥ [`LONG`] intervals.
    ranges: Vec<u64>,
}

impl Default for LpmTable {
    /// A table every lookup misses.
    fn default() -> Self {
        LpmTable {
            top: vec![LEAF | NO_ROUTE as u32; 1 << TOP_BITS],
            top_bits: TOP_BITS,
            ranges: vec![0; 1 + SCAN],
        }
    }
}

/// The MAC LPM table: the authoritative prefix set and its lookup table.
/// Derefs to [`LpmTable`] for lookups.
#[derive(Clone, Debug)]
pub struct MacLpm {
    table: LpmTable,
    /// Authoritative prefix set: `(prefix << 6) | len` → value.
    rib: BTreeMap<u64, u16>,
    /// Words of `ranges` no longer referenced.
    garbage: usize,
}

impl std::ops::Deref for MacLpm {
    type Target = LpmTable;
    fn deref(&self) -> &LpmTable {
        &self.table
    }
}

impl LpmTable {
    /// Bytes of the lookup structure (top array and interval lists,
    /// including garbage not yet compacted). The RIB is reported by
    /// [`Self::rib_bytes`].
    pub fn bytes(&self) -> usize {
        self.top.len() * 4 + self.ranges.len() * 8
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
        let shift = 48 - self.top_bits;
        let e = self.top[(key >> shift) as usize];
        if e & LEAF != 0 {
            return e as u16;
        }
        self.search(e, key, shift)
    }

    /// The (start, count) of a list bucket's intervals.
    #[inline(always)]
    fn list(&self, e: u32) -> (usize, usize) {
        let start = (e & START_MASK) as usize;
        let code = e >> CNT_SHIFT;
        let cnt = if code == LONG {
            self.ranges[start - 1] as u32 as usize
        } else {
            code as usize
        };
        (start, cnt)
    }

    /// Binary search of the list bucket `e` for `key` (bucket-relative bits
    /// below `shift`). Branch-free: the loop count depends only on the
    /// bucket's size.
    #[inline(always)]
    fn search(&self, e: u32, key: u64, shift: u32) -> u16 {
        let (start, cnt) = self.list(e);
        let iv = &self.ranges[start..start + cnt + SCAN];
        let probe = ((key & ((1u64 << shift) - 1)) << 16) | 0xffff;
        // Narrow big buckets by binary search, then count the boundaries
        // ≤ the key among the remaining ≤ 16 with a fixed-length masked
        // count: no data-dependent branch or loop exit (LLVM turns an `if`
        // in a binary search, or a variable-length count, into branches that
        // mispredict on most lookups), and it vectorises. The 16 words may
        // run past the list (into the next list or the padding at the end of
        // `ranges`); the `j < n` mask ignores them.
        let mut base = 0usize;
        let mut n = cnt;
        while n > SCAN {
            let half = n / 2;
            base += half & ((iv[base + half] <= probe) as usize).wrapping_neg();
            n -= half;
        }
        let w: &[u64; SCAN] = self.ranges[start + base..start + base + SCAN]
            .try_into()
            .expect("SCAN words");
        let mut c = 0usize;
        for (j, &b) in w.iter().enumerate().skip(1) {
            c += ((b <= probe) & (j < n)) as usize;
        }
        base += c;
        iv[base] as u16
    }

    /// Batched lookup: `out[i] = lookup_raw(keys[i])` ([`NO_ROUTE`] on miss).
    ///
    /// Software-pipelined over the keys: at step `i` the top entry of key
    /// `i` is prefetched, key `i - D` loads its (by now cached) top entry
    /// and prefetches its bucket's intervals, and key `i - 2D` searches its
    /// (by now cached) intervals, with `D` = [`PIPE`]. Every memory access
    /// thus has `D` other lookups' work to hide behind, instead of stalling
    /// its own lookup.
    ///
    /// # Panics
    /// If `out` is shorter than `keys`.
    pub fn lookup_batch(&self, keys: &[u64], out: &mut [u16]) {
        assert!(out.len() >= keys.len());
        let out = &mut out[..keys.len()];
        let shift = 48 - self.top_bits;
        if self.bytes() <= CACHE_RESIDENT {
            // Cache-resident table: nothing to prefetch. Two passes per
            // chunk — all top entries, then all searches — so the loads
            // of independent keys sit next to each other for the CPU to
            // overlap, without the pipeline's bookkeeping.
            for (kc, oc) in keys.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
                let mut ent = [0u32; BATCH];
                for (e, &k) in ent.iter_mut().zip(kc) {
                    *e = self.top[((k & MAC_MASK) >> shift) as usize];
                }
                for ((o, &e), &k) in oc.iter_mut().zip(&ent).zip(kc) {
                    *o = if e & LEAF != 0 {
                        e as u16
                    } else {
                        self.search(e, k & MAC_MASK, shift)
                    };
                }
            }
            return;
        }
        let n = keys.len();
        // A top array beyond 64 KiB is not L1/L2-resident: prefetch it.
        let pf_top = self.top_bits > 14;
        let mut ring = [0u32; 2 * PIPE];
        let slot = |k: u64| ((k & MAC_MASK) >> shift) as usize;
        for i in 0..n + 2 * PIPE {
            if pf_top && i < n {
                mem::prefetch_index(&self.top, slot(keys[i]));
            }
            if i >= 2 * PIPE {
                let j = i - 2 * PIPE;
                let e = ring[j % (2 * PIPE)];
                out[j] = if e & LEAF != 0 {
                    e as u16
                } else {
                    self.search(e, keys[j] & MAC_MASK, shift)
                };
            }
            if i >= PIPE && i - PIPE < n {
                let j = i - PIPE;
                let e = self.top[slot(keys[j])];
                ring[j % (2 * PIPE)] = e;
                if e & LEAF == 0 {
                    // First and last line of the search's first window
                    // (for long lists: its first binary probe).
                    let start = (e & START_MASK) as usize;
                    let cnt = (e >> CNT_SHIFT) as usize;
                    mem::prefetch_index(&self.ranges, start);
                    let second = if cnt > SCAN { cnt / 2 } else { cnt - 1 };
                    mem::prefetch_index(&self.ranges, start + second);
                }
            }
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
}

impl Default for MacLpm {
    fn default() -> Self {
        Self::new()
    }
}

/// Top bits for a table of `n` prefixes: ⌈log₂ n⌉ within the limits.
fn top_bits_for(n: usize) -> u32 {
    (usize::BITS + 1 - n.saturating_sub(1).leading_zeros()).clamp(TOP_BITS, MAX_TOP_BITS)
}

impl MacLpm {
    /// An empty table (every lookup misses).
    pub fn new() -> Self {
        MacLpm {
            table: LpmTable::default(),
            rib: BTreeMap::new(),
            garbage: 0,
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

    /// Estimated bytes of the control-plane prefix set (B-tree of 8 + 2
    /// byte entries, about 2/3 full, plus node headers).
    pub fn rib_bytes(&self) -> usize {
        self.rib.len() * 16
    }

    /// The lookup table alone (what workers are given), as a copy.
    pub fn table(&self) -> LpmTable {
        self.table.clone()
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

    /// Store the interval list of bucket `t` (given its default value and
    /// the RIB entries inside it) and return its top entry. `old` is the
    /// bucket's current top entry (its list is reused or becomes garbage);
    /// `slack`: leave room for growth.
    fn build_bucket(
        &mut self,
        t: usize,
        default: u16,
        prefs: &[(u64, u8, u16)],
        old: u32,
        slack: bool,
    ) -> u32 {
        let shift = 48 - self.table.top_bits;
        let lo = (t as u64) << shift;
        let end = lo + (1u64 << shift);
        let tb = self.table.top_bits;
        // Stack sweep over the laminar family of prefix intervals, sorted
        // by (prefix, len): a covering prefix precedes what it covers.
        let mut out: Vec<(u64, u16)> = Vec::with_capacity(2 * prefs.len() + 1);
        let mut stack: Vec<(u64, u16)> = vec![(end, default)];
        emit(&mut out, lo, default);
        for &(p, l, v) in prefs {
            if l as u32 <= tb {
                continue;
            }
            let hi = p + (1u64 << (48 - l as u32));
            while stack.last().expect("bucket frame").0 <= p {
                let (at, _) = stack.pop().expect("frame");
                emit(&mut out, at, stack.last().expect("bucket frame").1);
            }
            stack.push((hi, v));
            emit(&mut out, p, v);
        }
        while stack.len() > 1 {
            let (at, _) = stack.pop().expect("frame");
            emit(&mut out, at, stack.last().expect("bucket frame").1);
        }
        // `emit` may have recorded the bucket's end as a boundary.
        if out.last().is_some_and(|e| e.0 >= end) {
            out.pop();
        }
        let words = out.iter().map(|&(at, v)| ((at - lo) << 16) | v as u64);
        let cnt = out.len();
        // A long list with room for the new one is rewritten in place (the
        // writer owns this copy), so that repeated updates in a crowded
        // bucket neither copy it nor pile up garbage.
        if cnt >= LONG as usize && old & LEAF == 0 && old >> CNT_SHIFT == LONG {
            let start = (old & START_MASK) as usize;
            let cap = (self.table.ranges[start - 1] >> 32) as usize;
            if cnt <= cap {
                self.table.ranges[start - 1] = (cap as u64) << 32 | cnt as u64;
                for (d, w) in self.table.ranges[start..start + cnt].iter_mut().zip(words) {
                    *d = w;
                }
                return old;
            }
        }
        self.garbage += self.words(old);
        if cnt == 1 {
            return LEAF | out[0].1 as u32;
        }
        self.table.ranges.truncate(self.table.ranges.len() - SCAN);
        // Long lists rebuilt by an update get 25 % room to grow in place.
        let cap = if slack { cnt + cnt / 4 } else { cnt };
        let code = if cnt >= LONG as usize {
            self.table.ranges.push((cap as u64) << 32 | cnt as u64);
            LONG
        } else {
            cnt as u32
        };
        let start = self.table.ranges.len() as u32;
        assert!(
            (start as usize + cap) < (1 << CNT_SHIFT),
            "MAC LPM interval table full"
        );
        self.table.ranges.extend(words);
        if code == LONG {
            self.table.ranges.resize(start as usize + cap, 0);
        }
        self.table.ranges.extend([0; SCAN]);
        (code << CNT_SHIFT) | start
    }

    /// Words of `ranges` used by top entry `e`.
    fn words(&self, e: u32) -> usize {
        if e & LEAF != 0 {
            0
        } else if e >> CNT_SHIFT == LONG {
            let start = (e & START_MASK) as usize;
            (self.table.ranges[start - 1] >> 32) as usize + 1
        } else {
            (e >> CNT_SHIFT) as usize
        }
    }

    fn rebuild_all(&mut self) {
        let all: Vec<(u64, u8, u16)> = self.iter().collect();
        let tb = top_bits_for(all.len());
        self.table.top_bits = tb;
        let shift = 48 - tb;
        let mut top = Vec::with_capacity(1 << tb);
        mem::advise_huge(&top);
        top.resize(1 << tb, LEAF | NO_ROUTE as u32);
        self.table.top = top;
        // About 2 intervals per prefix; a fresh allocation advised for huge
        // pages before it is written, with room for updates.
        let mut ranges = Vec::with_capacity(2 * all.len() + all.len() / 4 + 64);
        mem::advise_huge(&ranges);
        ranges.resize(1 + SCAN, 0);
        self.table.ranges = ranges;
        self.garbage = 0;
        // Short prefixes (<= top bits) expand over top entries, in
        // (prefix, len) order so that a longer one overrides its cover.
        let mut top_default = vec![NO_ROUTE; 1 << tb];
        for &(p, l, v) in all.iter().filter(|e| (e.1 as u32) <= tb) {
            let first = (p >> shift) as usize;
            let count = 1usize << (tb - l as u32);
            top_default[first..first + count].fill(v);
        }
        let mut rest = &all[..];
        for (t, &dflt) in top_default.iter().enumerate() {
            let region_end = ((t as u64) + 1) << shift;
            let n = rest.partition_point(|e| e.0 < region_end);
            let (mine, tail) = rest.split_at(n);
            rest = tail;
            self.table.top[t] = if mine.iter().any(|e| e.1 as u32 > tb) {
                self.build_bucket(t, dflt, mine, LEAF, false)
            } else {
                LEAF | dflt as u32
            };
        }
    }

    /// Recompute bucket `t` from the RIB.
    fn rebuild_top(&mut self, t: usize) {
        let tb = self.table.top_bits;
        let lo = (t as u64) << (48 - tb);
        let hi = lo | (MAC_MASK >> tb);
        let prefs: Vec<(u64, u8, u16)> = self
            .rib
            .range(rib_key(lo, 0)..=rib_key(hi, 48))
            .map(|(&k, &v)| (k >> 6, (k & 63) as u8, v))
            .filter(|&(_, l, _)| l as u32 > tb)
            .collect();
        let default = self.best_covering(lo, tb);
        let old = self.table.top[t];
        self.table.top[t] = if prefs.is_empty() {
            self.garbage += self.words(old);
            LEAF | default as u32
        } else {
            self.build_bucket(t, default, &prefs, old, true)
        };
    }

    /// Bring the table in line with the RIB after `p/len` changed.
    fn rebuild_for(&mut self, p: u64, len: u8) {
        let len = len as u32;
        let tb = self.table.top_bits;
        let first = (p >> (48 - tb)) as usize;
        let count = if len <= tb { 1usize << (tb - len) } else { 1 };
        for t in first..first + count {
            self.rebuild_top(t);
        }
        let live = self.table.ranges.len() - SCAN - self.garbage;
        let grown = tb < MAX_TOP_BITS && self.rib.len() > 4 << tb;
        if (self.garbage > 4096 && self.garbage > live) || grown {
            self.rebuild_all();
        }
    }
}

/// Append boundary `at → val` to an interval list under construction:
/// a boundary at the same point as the last one replaces it, and a value
/// equal to the current one adds nothing (adjacent intervals merge).
fn emit(out: &mut Vec<(u64, u16)>, at: u64, val: u16) {
    if let Some(last) = out.last_mut() {
        if last.0 == at {
            last.1 = val;
            let n = out.len();
            if n >= 2 && out[n - 2].1 == val {
                out.pop();
            }
            return;
        }
        if last.1 == val {
            return;
        }
    }
    out.push((at, val));
}

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

    /// Longest match by probing every length (reference for big tests).
    fn reference(t: &MacLpm, key: u64) -> Option<u16> {
        (0..=48u8).rev().find_map(|l| t.get(key, l))
    }

    #[test]
    fn long_buckets_and_growth() {
        // Thousands of prefixes in one bucket (lists of >= 31 intervals with
        // a count header, binary narrowing before the scan), grown past the
        // top-size threshold incrementally (rebuild with more top bits).
        let base = mac("02:11:11:00:00:00");
        let mut t = MacLpm::new();
        t.insert(base, 24, 1);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut keys = Vec::new();
        for i in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (p, l) = match i % 4 {
                0 => (base | (x & 0xff_ffff), 48),
                1 => (base | (x & 0xff_ff00), 40),
                2 => (base | (x & 0xff_f000), 36),
                _ => ((x & MAC_MASK) | 0x0200_0000_0000, 48),
            };
            t.insert(p, l, (i % 1000) as u16 + 2);
            keys.extend([
                p,
                p | !prefix_mask(l) & MAC_MASK,
                p.wrapping_sub(1) & MAC_MASK,
            ]);
            if i % 7 == 0 {
                t.remove(p, l);
            }
        }
        assert!(t.top_bits > TOP_BITS, "grew its top level");
        let mut out = vec![0u16; keys.len()];
        t.lookup_batch(&keys, &mut out);
        for (k, o) in keys.iter().zip(&out) {
            let want = reference(&t, *k);
            assert_eq!(t.lookup(*k), want, "{k:012x}");
            assert_eq!(*o, want.unwrap_or(NO_ROUTE), "batched {k:012x}");
        }
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
