//! The forwarding database of the learning bridge.
//!
//! Two structures:
//!
//! * [`FdbView`], what workers read: one open-addressing `moose_tables`
//!   [`XlateMap`] (the translation tables' map) from the packed key
//!   `VLAN << 48 | MAC` to a packed 32-bit value (port, static flag), both
//!   single words so a probe touches one cache line. It is published to the
//!   workers with `moose_tables::publish` (left-right: two copies, an
//!   operation log, no copy of the whole table per update). Workers never
//!   write it.
//! * [`Fdb`], the slow path's master copy with everything workers do not
//!   need: age, kind, move counts, per-port dynamic entry counts for the
//!   learn limit. Every change to it yields [`FdbOp`]s for the view.
//!
//! Learning is asynchronous: a worker that sees an unknown or moved source
//! sends a learn request over its punt ring (and a refresh at most every
//! quarter of the aging time for known ones); the slow path applies it here
//! and publishes within a millisecond. Until then the worker floods frames
//! towards that address, which is what a bridge does for unknown unicast.

use std::time::{Duration, Instant};

use hashbrown::HashMap;
use moose_tables::publish::Absorb;

use crate::{split_key, MAX_PORTS};
use moose_tables::xlate::XlateMap;

/// A packed view value: bits 0..16 port, bit 16 static.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ViewEntry(u32);

impl ViewEntry {
    const STATIC: u32 = 1 << 16;

    pub fn new(port: u16, is_static: bool) -> ViewEntry {
        ViewEntry(u32::from(port) | if is_static { Self::STATIC } else { 0 })
    }

    #[inline]
    pub fn port(self) -> u16 {
        self.0 as u16
    }

    #[inline]
    pub fn is_static(self) -> bool {
        self.0 & Self::STATIC != 0
    }
}

/// A change to the view.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FdbOp {
    Set(u64, ViewEntry),
    Remove(u64),
}

/// The workers' read-only FDB.
#[derive(Clone, Default)]
pub struct FdbView {
    map: XlateMap,
    /// Changes absorbed so far. Both left-right copies absorb the same
    /// changes in the same order, so equal generations mean equal
    /// contents: a worker's flow cache is valid while it stays the same.
    generation: u64,
}

impl FdbView {
    #[inline]
    pub fn get(&self, key: u64) -> Option<ViewEntry> {
        self.map.get(key).map(|v| ViewEntry(v as u32))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl Absorb<FdbOp> for FdbView {
    fn absorb(&mut self, op: &FdbOp) {
        self.generation += 1;
        match *op {
            FdbOp::Set(k, v) => {
                self.map.insert(k, u64::from(v.0));
            }
            FdbOp::Remove(k) => {
                self.map.remove(k);
            }
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FdbKind {
    Dynamic,
    Static,
}

#[derive(Clone, Debug)]
pub struct FdbEntry {
    pub port: u16,
    pub kind: FdbKind,
    pub last_seen: Instant,
    pub moves: u32,
}

/// What a learn request did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Learned {
    New,
    Moved {
        from: u16,
    },
    Refreshed,
    /// The port is at its learn limit; not learned.
    LimitReached,
    /// A static entry for this address points elsewhere; not moved.
    StaticConflict,
}

/// Totals of FDB events, for metrics.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FdbCounters {
    pub learned: u64,
    pub moved: u64,
    pub aged: u64,
    pub refreshed: u64,
    pub limit_refused: u64,
    pub static_conflicts: u64,
}

/// The slow path's master FDB. Single owner: the slow-path thread.
pub struct Fdb {
    entries: HashMap<u64, FdbEntry>,
    /// Dynamic entries per port, for `learn_limit`.
    per_port: [u32; MAX_PORTS],
    limits: [Option<u32>; MAX_PORTS],
    aging: Duration,
    pub counters: FdbCounters,
}

impl Fdb {
    pub fn new(aging: Duration, limits: &[Option<u32>]) -> Fdb {
        let mut l = [None; MAX_PORTS];
        l[..limits.len()].copy_from_slice(limits);
        Fdb {
            entries: HashMap::new(),
            per_port: [0; MAX_PORTS],
            limits: l,
            aging,
            counters: FdbCounters::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn dynamic_on(&self, port: u16) -> u32 {
        self.per_port[usize::from(port)]
    }

    pub fn get(&self, key: u64) -> Option<&FdbEntry> {
        self.entries.get(&key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &FdbEntry)> {
        self.entries.iter().map(|(k, v)| (*k, v))
    }

    /// Installs a static entry (replacing anything there).
    pub fn add_static(&mut self, key: u64, port: u16, now: Instant, ops: &mut Vec<FdbOp>) {
        if let Some(old) = self.entries.get(&key) {
            if old.kind == FdbKind::Dynamic {
                self.per_port[usize::from(old.port)] -= 1;
            }
        }
        self.entries.insert(
            key,
            FdbEntry {
                port,
                kind: FdbKind::Static,
                last_seen: now,
                moves: 0,
            },
        );
        ops.push(FdbOp::Set(key, ViewEntry::new(port, true)));
    }

    /// Applies a learn request from a worker.
    pub fn learn(&mut self, key: u64, port: u16, now: Instant, ops: &mut Vec<FdbOp>) -> Learned {
        let p = usize::from(port);
        let at_limit = |per_port: &[u32; MAX_PORTS], limits: &[Option<u32>; MAX_PORTS]| {
            limits[p].is_some_and(|l| per_port[p] >= l)
        };
        match self.entries.get_mut(&key) {
            Some(e) if e.kind == FdbKind::Static => {
                if e.port == port {
                    Learned::Refreshed
                } else {
                    self.counters.static_conflicts += 1;
                    Learned::StaticConflict
                }
            }
            Some(e) if e.port == port => {
                e.last_seen = now;
                self.counters.refreshed += 1;
                Learned::Refreshed
            }
            Some(e) => {
                if at_limit(&self.per_port, &self.limits) {
                    self.counters.limit_refused += 1;
                    return Learned::LimitReached;
                }
                let from = e.port;
                self.per_port[usize::from(from)] -= 1;
                self.per_port[p] += 1;
                e.port = port;
                e.last_seen = now;
                e.moves += 1;
                self.counters.moved += 1;
                ops.push(FdbOp::Set(key, ViewEntry::new(port, false)));
                Learned::Moved { from }
            }
            None => {
                if at_limit(&self.per_port, &self.limits) {
                    self.counters.limit_refused += 1;
                    return Learned::LimitReached;
                }
                self.per_port[p] += 1;
                self.entries.insert(
                    key,
                    FdbEntry {
                        port,
                        kind: FdbKind::Dynamic,
                        last_seen: now,
                        moves: 0,
                    },
                );
                self.counters.learned += 1;
                ops.push(FdbOp::Set(key, ViewEntry::new(port, false)));
                Learned::New
            }
        }
    }

    /// Removes dynamic entries not seen for the aging time; returns how many.
    pub fn age(&mut self, now: Instant, ops: &mut Vec<FdbOp>) -> usize {
        let aging = self.aging;
        let per_port = &mut self.per_port;
        let before = self.entries.len();
        self.entries.retain(|k, e| {
            let keep =
                e.kind == FdbKind::Static || now.saturating_duration_since(e.last_seen) < aging;
            if !keep {
                per_port[usize::from(e.port)] -= 1;
                ops.push(FdbOp::Remove(*k));
            }
            keep
        });
        let n = before - self.entries.len();
        self.counters.aged += n as u64;
        n
    }

    /// Removes every dynamic entry on `port` (link down).
    pub fn flush_port(&mut self, port: u16, ops: &mut Vec<FdbOp>) -> usize {
        let per_port = &mut self.per_port;
        let before = self.entries.len();
        self.entries.retain(|k, e| {
            let keep = e.kind == FdbKind::Static || e.port != port;
            if !keep {
                per_port[usize::from(e.port)] -= 1;
                ops.push(FdbOp::Remove(*k));
            }
            keep
        });
        before - self.entries.len()
    }

    /// A JSON-friendly listing, sorted by VLAN then MAC.
    pub fn records(&self, now: Instant) -> Vec<FdbRecord> {
        let mut v: Vec<FdbRecord> = self
            .entries
            .iter()
            .map(|(k, e)| {
                let (vlan, mac) = split_key(*k);
                FdbRecord {
                    vlan,
                    mac: mac.to_string(),
                    port: e.port,
                    kind: e.kind,
                    age_secs: now.saturating_duration_since(e.last_seen).as_secs(),
                    moves: e.moves,
                }
            })
            .collect();
        v.sort_by(|a, b| (a.vlan, &a.mac).cmp(&(b.vlan, &b.mac)));
        v
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct FdbRecord {
    pub vlan: u16,
    pub mac: String,
    pub port: u16,
    #[serde(rename = "type")]
    pub kind: FdbKind,
    pub age_secs: u64,
    pub moves: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdb_key;
    use moose_wire::Mac;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn key(n: u8) -> u64 {
        fdb_key(1, Mac([2, 0, 0, 0, 0, n]))
    }

    fn apply(view: &mut FdbView, ops: &mut Vec<FdbOp>) {
        for op in ops.drain(..) {
            view.absorb(&op);
        }
    }

    #[test]
    fn learn_move_refresh() {
        let t0 = Instant::now();
        let mut f = Fdb::new(Duration::from_secs(300), &[None, None]);
        let mut ops = Vec::new();
        assert_eq!(f.learn(key(1), 0, t0, &mut ops), Learned::New);
        assert_eq!(ops, vec![FdbOp::Set(key(1), ViewEntry::new(0, false))]);
        assert_eq!(f.learn(key(1), 0, t0, &mut ops), Learned::Refreshed);
        assert_eq!(ops.len(), 1, "a refresh does not touch the view");
        assert_eq!(f.learn(key(1), 1, t0, &mut ops), Learned::Moved { from: 0 });
        assert_eq!(f.dynamic_on(0), 0);
        assert_eq!(f.dynamic_on(1), 1);
        assert_eq!(f.get(key(1)).unwrap().moves, 1);
        assert_eq!(f.counters.moved, 1);
    }

    #[test]
    fn aging_removes_only_stale_dynamic_entries() {
        let t0 = Instant::now();
        let mut f = Fdb::new(Duration::from_secs(10), &[None]);
        let mut ops = Vec::new();
        f.learn(key(1), 0, t0, &mut ops);
        f.learn(key(2), 0, t0 + Duration::from_secs(5), &mut ops);
        f.add_static(key(3), 0, t0, &mut ops);
        ops.clear();
        assert_eq!(f.age(t0 + Duration::from_secs(9), &mut ops), 0);
        assert_eq!(f.age(t0 + Duration::from_secs(10), &mut ops), 1);
        assert_eq!(ops, vec![FdbOp::Remove(key(1))]);
        assert!(f.get(key(2)).is_some() && f.get(key(3)).is_some());
        assert_eq!(f.age(t0 + Duration::from_secs(1000), &mut ops), 1);
        assert!(f.get(key(3)).is_some(), "static entries never age");
        assert_eq!(f.dynamic_on(0), 0);
        assert_eq!(f.counters.aged, 2);
    }

    #[test]
    fn learn_limit() {
        let t0 = Instant::now();
        let mut f = Fdb::new(Duration::from_secs(300), &[Some(2), None]);
        let mut ops = Vec::new();
        assert_eq!(f.learn(key(1), 0, t0, &mut ops), Learned::New);
        assert_eq!(f.learn(key(2), 0, t0, &mut ops), Learned::New);
        assert_eq!(f.learn(key(3), 0, t0, &mut ops), Learned::LimitReached);
        assert_eq!(f.learn(key(1), 0, t0, &mut ops), Learned::Refreshed);
        assert_eq!(f.learn(key(3), 1, t0, &mut ops), Learned::New);
        assert_eq!(
            f.learn(key(3), 0, t0, &mut ops),
            Learned::LimitReached,
            "a move into a full port is refused"
        );
        f.flush_port(0, &mut ops);
        assert_eq!(f.learn(key(3), 0, t0, &mut ops), Learned::Moved { from: 1 });
        assert_eq!(f.counters.limit_refused, 2);
    }

    #[test]
    fn static_entries_do_not_move() {
        let t0 = Instant::now();
        let mut f = Fdb::new(Duration::from_secs(300), &[None, None]);
        let mut ops = Vec::new();
        f.add_static(key(1), 1, t0, &mut ops);
        assert_eq!(f.learn(key(1), 0, t0, &mut ops), Learned::StaticConflict);
        assert_eq!(f.get(key(1)).unwrap().port, 1);
        let mut v = FdbView::default();
        apply(&mut v, &mut ops);
        assert!(v.get(key(1)).unwrap().is_static());
    }

    #[test]
    fn same_mac_on_two_vlans_is_two_entries() {
        let t0 = Instant::now();
        let mut f = Fdb::new(Duration::from_secs(300), &[None, None]);
        let mut ops = Vec::new();
        let m = Mac([2, 0, 0, 0, 0, 9]);
        f.learn(fdb_key(10, m), 0, t0, &mut ops);
        f.learn(fdb_key(20, m), 1, t0, &mut ops);
        assert_eq!(f.len(), 2);
        let r = f.records(t0);
        assert_eq!((r[0].vlan, r[0].port), (10, 0));
        assert_eq!((r[1].vlan, r[1].port), (20, 1));
    }

    #[derive(Debug, Clone)]
    enum Step {
        Learn(u8, u16),
        Static(u8, u16),
        Advance(u64),
        Age,
        Flush(u16),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (0u8..24, 0u16..4).prop_map(|(m, p)| Step::Learn(m, p)),
            1 => (0u8..24, 0u16..4).prop_map(|(m, p)| Step::Static(m, p)),
            2 => (0u64..20).prop_map(Step::Advance),
            2 => Just(Step::Age),
            1 => (0u16..4).prop_map(Step::Flush),
        ]
    }

    proptest! {
        /// The FDB, and the view built from its ops, against a BTreeMap model.
        #[test]
        fn matches_model(steps in proptest::collection::vec(step(), 1..200)) {
            let aging = Duration::from_secs(30);
            let limits = [Some(5), None, Some(1), None];
            let t0 = Instant::now();
            let mut now = t0;
            let mut f = Fdb::new(aging, &limits);
            let mut view = FdbView::default();
            let mut ops = Vec::new();
            // model: key -> (port, static, last_seen)
            let mut model: BTreeMap<u64, (u16, bool, Instant)> = BTreeMap::new();
            for s in steps {
                match s {
                    Step::Learn(m, p) => {
                        let k = key(m);
                        let count = |model: &BTreeMap<u64, (u16, bool, Instant)>, p: u16| model.values().filter(|e| e.0 == p && !e.1).count() as u32;
                        let full = limits[usize::from(p)].is_some_and(|l| count(&model, p) >= l);
                        let expect = match model.get(&k).copied() {
                            Some((_, true, _)) => None,
                            Some((q, false, _)) if q == p => Some((p, false, now)),
                            _ if full => None,
                            _ => Some((p, false, now)),
                        };
                        f.learn(k, p, now, &mut ops);
                        if let Some(e) = expect { model.insert(k, e); }
                    }
                    Step::Static(m, p) => {
                        f.add_static(key(m), p, now, &mut ops);
                        model.insert(key(m), (p, true, now));
                    }
                    Step::Advance(s) => now += Duration::from_secs(s),
                    Step::Age => {
                        f.age(now, &mut ops);
                        model.retain(|_, e| e.1 || now.saturating_duration_since(e.2) < aging);
                    }
                    Step::Flush(p) => {
                        f.flush_port(p, &mut ops);
                        model.retain(|_, e| e.1 || e.0 != p);
                    }
                }
                apply(&mut view, &mut ops);
                prop_assert_eq!(f.len(), model.len());
                prop_assert_eq!(view.len(), model.len());
                for (k, (p, st, _)) in &model {
                    prop_assert_eq!(f.get(*k).map(|e| e.port), Some(*p));
                    prop_assert_eq!(view.get(*k), Some(ViewEntry::new(*p, *st)));
                }
                for p in 0..4u16 {
                    let n = model.values().filter(|e| e.0 == p && !e.1).count() as u32;
                    prop_assert_eq!(f.dynamic_on(p), n);
                    if let Some(l) = limits[usize::from(p)] { prop_assert!(n <= l); }
                }
            }
        }
    }
}
