//! The master FDB of the learning bridge: what the workers' view does not
//! need — ages, kinds, move counts, per-port dynamic counts for the learn
//! limit, the global bound — kept in a `BTreeMap` in (VLAN, MAC) order, so
//! that a page of the table costs its own size, not the table's. Every
//! change yields [`FdbOp`]s for the published view.
//!
//! Owner: the control thread (the bridge service). Bounds: at most
//! `max_entries` entries in all (`bridge.max_entries`), at most
//! `learn_limit` dynamic ones per port; an address refused for either is
//! counted and keeps being flooded to, which is what a full hardware FDB
//! does too — a full table never turns into a crash.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use moose_dataplane::{FdbOp, ViewEntry, MAX_PORTS};
use moose_wire::{ExactKey, PortId};

use super::api::{FdbCounters, FdbCursor, FdbKind, FdbRecord};

#[derive(Clone, Debug)]
pub struct FdbEntry {
    pub port: PortId,
    pub kind: FdbKind,
    pub last_seen: Instant,
    pub moves: u32,
}

/// What a learn request did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Learned {
    New,
    Moved {
        from: PortId,
    },
    Refreshed,
    /// The port is at its learn limit; not learned.
    LimitReached,
    /// The FDB is at `max_entries`; not learned.
    TableFull,
    /// A static entry for this address points elsewhere; not moved.
    StaticConflict,
}

pub struct Fdb {
    /// By [`ExactKey::sort_key`].
    entries: BTreeMap<u64, FdbEntry>,
    /// Dynamic entries per port, for `learn_limit`.
    per_port: [u32; MAX_PORTS],
    limits: [Option<u32>; MAX_PORTS],
    max_entries: usize,
    statics: usize,
    aging: Duration,
    pub counters: FdbCounters,
}

impl Fdb {
    pub fn new(aging: Duration, limits: &[Option<u32>], max_entries: usize) -> Fdb {
        let mut l = [None; MAX_PORTS];
        l[..limits.len()].copy_from_slice(limits);
        Fdb {
            entries: BTreeMap::new(),
            per_port: [0; MAX_PORTS],
            limits: l,
            max_entries,
            statics: 0,
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

    pub fn statics(&self) -> usize {
        self.statics
    }

    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    pub fn dynamic_on(&self, port: PortId) -> u32 {
        self.per_port[port.index()]
    }

    pub fn get(&self, key: ExactKey) -> Option<&FdbEntry> {
        self.entries.get(&key.sort_key())
    }

    /// New bounds (a reload): each port's learn limit and the table's.
    /// Entries beyond a lowered bound stay; no more are learned until the
    /// count falls below it.
    pub fn set_limits(&mut self, limits: &[Option<u32>], max_entries: usize) {
        let mut l = [None; MAX_PORTS];
        l[..limits.len()].copy_from_slice(limits);
        self.limits = l;
        self.max_entries = max_entries;
    }

    /// Removes the static entry of `key`; false if there is none (a
    /// dynamic entry there is left alone).
    pub fn remove_static(&mut self, key: ExactKey, ops: &mut Vec<FdbOp>) -> bool {
        let k = key.sort_key();
        if !self
            .entries
            .get(&k)
            .is_some_and(|e| e.kind == FdbKind::Static)
        {
            return false;
        }
        self.entries.remove(&k);
        self.statics -= 1;
        ops.push(FdbOp::Remove(key));
        true
    }

    /// Installs a static entry (replacing anything there).
    pub fn add_static(&mut self, key: ExactKey, port: PortId, now: Instant, ops: &mut Vec<FdbOp>) {
        let old = self.entries.insert(
            key.sort_key(),
            FdbEntry {
                port,
                kind: FdbKind::Static,
                last_seen: now,
                moves: 0,
            },
        );
        match old {
            Some(e) if e.kind == FdbKind::Dynamic => self.per_port[e.port.index()] -= 1,
            Some(_) => self.statics -= 1,
            None => {}
        }
        self.statics += 1;
        ops.push(FdbOp::Set(key, ViewEntry::new(port, true)));
    }

    /// Applies a learn request from a worker.
    pub fn learn(
        &mut self,
        key: ExactKey,
        port: PortId,
        now: Instant,
        ops: &mut Vec<FdbOp>,
    ) -> Learned {
        self.counters.requests += 1;
        let p = port.index();
        let at_limit = self.limits[p].is_some_and(|l| self.per_port[p] >= l);
        let full = self.entries.len() >= self.max_entries;
        match self.entries.get_mut(&key.sort_key()) {
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
                if at_limit {
                    self.counters.limit_refused += 1;
                    return Learned::LimitReached;
                }
                let from = e.port;
                self.per_port[from.index()] -= 1;
                self.per_port[p] += 1;
                e.port = port;
                e.last_seen = now;
                e.moves += 1;
                self.counters.moved += 1;
                ops.push(FdbOp::Set(key, ViewEntry::new(port, false)));
                Learned::Moved { from }
            }
            None => {
                if at_limit {
                    self.counters.limit_refused += 1;
                    return Learned::LimitReached;
                }
                if full {
                    self.counters.table_full += 1;
                    return Learned::TableFull;
                }
                self.per_port[p] += 1;
                self.entries.insert(
                    key.sort_key(),
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

    /// Removes the dynamic entries `gone` says, returns how many.
    fn remove_where(
        &mut self,
        ops: &mut Vec<FdbOp>,
        mut gone: impl FnMut(ExactKey, &FdbEntry) -> bool,
    ) -> usize {
        let per_port = &mut self.per_port;
        let before = self.entries.len();
        self.entries.retain(|k, e| {
            let keep = e.kind == FdbKind::Static || !gone(ExactKey::from_sort_key(*k), e);
            if !keep {
                per_port[e.port.index()] -= 1;
                ops.push(FdbOp::Remove(ExactKey::from_sort_key(*k)));
            }
            keep
        });
        before - self.entries.len()
    }

    /// Removes dynamic entries not seen for the aging time; returns how many.
    pub fn age(&mut self, now: Instant, ops: &mut Vec<FdbOp>) -> usize {
        let aging = self.aging;
        let n = self.remove_where(ops, |_, e| {
            now.saturating_duration_since(e.last_seen) >= aging
        });
        self.counters.aged += n as u64;
        n
    }

    /// Removes every dynamic entry on `port` (its link went down).
    pub fn flush_port(&mut self, port: PortId, ops: &mut Vec<FdbOp>) -> usize {
        let n = self.remove_where(ops, |_, e| e.port == port);
        self.counters.flushed += n as u64;
        n
    }

    /// Removes every dynamic entry whose port does not carry its VLAN (a
    /// reload took the VLAN off the port).
    pub fn flush_vlans(
        &mut self,
        carries: impl Fn(PortId, u16) -> bool,
        ops: &mut Vec<FdbOp>,
    ) -> usize {
        let n = self.remove_where(ops, |k, e| !carries(e.port, k.vlan()));
        self.counters.flushed += n as u64;
        n
    }

    /// Up to `limit` entries after `after` in (VLAN, MAC) order, and whether
    /// more follow.
    pub fn page(
        &self,
        after: Option<FdbCursor>,
        limit: usize,
        now: Instant,
        name: impl Fn(PortId) -> String,
    ) -> (Vec<FdbRecord>, bool) {
        use std::ops::Bound;
        let lower = match after {
            Some(c) => Bound::Excluded(ExactKey::new(c.vlan, c.mac).sort_key()),
            None => Bound::Unbounded,
        };
        let mut it = self.entries.range((lower, Bound::Unbounded));
        let records: Vec<FdbRecord> = it
            .by_ref()
            .take(limit)
            .map(|(k, e)| {
                let key = ExactKey::from_sort_key(*k);
                FdbRecord {
                    vlan: key.vlan(),
                    mac: key.mac(),
                    port: name(e.port),
                    kind: e.kind,
                    age_secs: now.saturating_duration_since(e.last_seen).as_secs(),
                    moves: e.moves,
                    origin: None,
                }
            })
            .collect();
        (records, it.next().is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moose_dataplane::FdbView;
    use moose_tables::publish::Absorb;
    use moose_wire::Mac;
    use proptest::prelude::*;
    use std::collections::BTreeMap as Model;

    fn key(n: u8) -> ExactKey {
        ExactKey::new(1, Mac([2, 0, 0, 0, 0, n]))
    }

    fn p(n: u16) -> PortId {
        PortId(n)
    }

    fn apply(view: &mut FdbView, ops: &mut Vec<FdbOp>) {
        for op in ops.drain(..) {
            view.absorb(&op);
        }
    }

    #[test]
    fn learn_move_refresh() {
        let t0 = Instant::now();
        let mut f = Fdb::new(Duration::from_secs(300), &[None, None], 100);
        let mut ops = Vec::new();
        assert_eq!(f.learn(key(1), p(0), t0, &mut ops), Learned::New);
        assert_eq!(ops, vec![FdbOp::Set(key(1), ViewEntry::new(p(0), false))]);
        assert_eq!(f.learn(key(1), p(0), t0, &mut ops), Learned::Refreshed);
        assert_eq!(ops.len(), 1, "a refresh does not touch the view");
        assert_eq!(
            f.learn(key(1), p(1), t0, &mut ops),
            Learned::Moved { from: p(0) }
        );
        assert_eq!(f.dynamic_on(p(0)), 0);
        assert_eq!(f.dynamic_on(p(1)), 1);
        assert_eq!(f.get(key(1)).unwrap().moves, 1);
        assert_eq!(f.counters.moved, 1);
    }

    #[test]
    fn aging_removes_only_stale_dynamic_entries() {
        let t0 = Instant::now();
        let mut f = Fdb::new(Duration::from_secs(10), &[None], 100);
        let mut ops = Vec::new();
        f.learn(key(1), p(0), t0, &mut ops);
        f.learn(key(2), p(0), t0 + Duration::from_secs(5), &mut ops);
        f.add_static(key(3), p(0), t0, &mut ops);
        ops.clear();
        assert_eq!(f.age(t0 + Duration::from_secs(9), &mut ops), 0);
        assert_eq!(f.age(t0 + Duration::from_secs(10), &mut ops), 1);
        assert_eq!(ops, vec![FdbOp::Remove(key(1))]);
        assert!(f.get(key(2)).is_some() && f.get(key(3)).is_some());
        assert_eq!(f.age(t0 + Duration::from_secs(1000), &mut ops), 1);
        assert!(f.get(key(3)).is_some(), "static entries never age");
        assert_eq!(f.dynamic_on(p(0)), 0);
        assert_eq!(f.counters.aged, 2);
    }

    #[test]
    fn learn_limit_and_global_bound() {
        let t0 = Instant::now();
        let mut f = Fdb::new(Duration::from_secs(300), &[Some(2), None], 4);
        let mut ops = Vec::new();
        assert_eq!(f.learn(key(1), p(0), t0, &mut ops), Learned::New);
        assert_eq!(f.learn(key(2), p(0), t0, &mut ops), Learned::New);
        assert_eq!(f.learn(key(3), p(0), t0, &mut ops), Learned::LimitReached);
        assert_eq!(f.learn(key(1), p(0), t0, &mut ops), Learned::Refreshed);
        assert_eq!(f.learn(key(3), p(1), t0, &mut ops), Learned::New);
        assert_eq!(
            f.learn(key(3), p(0), t0, &mut ops),
            Learned::LimitReached,
            "a move into a full port is refused"
        );
        assert_eq!(f.learn(key(4), p(1), t0, &mut ops), Learned::New);
        assert_eq!(f.learn(key(5), p(1), t0, &mut ops), Learned::TableFull);
        assert_eq!(f.len(), 4);
        f.flush_port(p(0), &mut ops);
        assert_eq!(
            f.learn(key(3), p(0), t0, &mut ops),
            Learned::Moved { from: p(1) }
        );
        assert_eq!(f.counters.limit_refused, 2);
        assert_eq!(f.counters.table_full, 1);
        assert_eq!(f.counters.flushed, 2);
    }

    #[test]
    fn static_entries_do_not_move() {
        let t0 = Instant::now();
        let mut f = Fdb::new(Duration::from_secs(300), &[None, None], 100);
        let mut ops = Vec::new();
        f.add_static(key(1), p(1), t0, &mut ops);
        assert_eq!(f.learn(key(1), p(0), t0, &mut ops), Learned::StaticConflict);
        assert_eq!(f.get(key(1)).unwrap().port, p(1));
        let mut v = FdbView::default();
        apply(&mut v, &mut ops);
        assert!(v.get(key(1)).unwrap().is_static());
        assert_eq!(f.statics(), 1);
    }

    #[test]
    fn reload_limits_statics_and_vlans() {
        let t0 = Instant::now();
        let mut f = Fdb::new(Duration::from_secs(300), &[None, None], 100);
        let mut ops = Vec::new();
        let on_vlan = |v: u16, n: u8| ExactKey::new(v, Mac([2, 0, 0, 0, 0, n]));
        f.learn(on_vlan(1, 1), p(0), t0, &mut ops);
        f.learn(on_vlan(2, 2), p(0), t0, &mut ops);
        f.learn(on_vlan(2, 3), p(1), t0, &mut ops);
        f.add_static(on_vlan(2, 4), p(0), t0, &mut ops);
        ops.clear();
        // Port 0 stops carrying VLAN 2: its dynamic entry there goes, the
        // static one (the caller's to remove) and the others stay.
        let n = f.flush_vlans(|port, v| port != p(0) || v != 2, &mut ops);
        assert_eq!(n, 1);
        assert_eq!(ops, vec![FdbOp::Remove(on_vlan(2, 2))]);
        assert!(f.get(on_vlan(2, 4)).is_some() && f.get(on_vlan(2, 3)).is_some());
        assert_eq!(f.dynamic_on(p(0)), 1);
        ops.clear();
        assert!(
            !f.remove_static(on_vlan(1, 1), &mut ops),
            "dynamic: left alone"
        );
        assert!(f.remove_static(on_vlan(2, 4), &mut ops));
        assert_eq!(ops, vec![FdbOp::Remove(on_vlan(2, 4))]);
        assert_eq!(f.statics(), 0);
        // A lower learn limit and bound: what is there stays, no more.
        f.set_limits(&[Some(1), None], 2);
        assert_eq!(f.learn(key(9), p(0), t0, &mut ops), Learned::LimitReached);
        assert_eq!(f.learn(key(9), p(1), t0, &mut ops), Learned::TableFull);
        assert_eq!((f.len(), f.max_entries()), (2, 2));
    }

    #[test]
    fn pages_walk_the_table_in_order() {
        let t0 = Instant::now();
        let mut f = Fdb::new(Duration::from_secs(300), &[None, None], 1000);
        let mut ops = Vec::new();
        let m = Mac([2, 0, 0, 0, 0, 9]);
        f.learn(ExactKey::new(20, m), p(1), t0, &mut ops);
        f.learn(ExactKey::new(10, m), p(0), t0, &mut ops);
        for n in 0..25u8 {
            f.learn(
                ExactKey::new(10, Mac([2, 0, 0, 0, 1, n])),
                p(0),
                t0,
                &mut ops,
            );
        }
        let name = |p: PortId| format!("p{}", p.0);
        let mut after = None;
        let mut seen = Vec::new();
        loop {
            let (page, more) = f.page(after, 10, t0, name);
            assert!(page.len() <= 10);
            seen.extend(page.iter().map(|r| (r.vlan, r.mac)));
            if !more {
                break;
            }
            let last = page.last().unwrap();
            after = Some(FdbCursor {
                vlan: last.vlan,
                mac: last.mac,
            });
        }
        assert_eq!(seen.len(), 27);
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted, "(VLAN, MAC) order");
        assert_eq!(seen.last().unwrap().0, 20);
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
        /// The FDB, and the view built from its ops, against a BTreeMap
        /// model, with per-port limits and a global bound.
        #[test]
        fn matches_model(steps in proptest::collection::vec(step(), 1..200), max in 1usize..30) {
            let aging = Duration::from_secs(30);
            let limits = [Some(5), None, Some(1), None];
            let t0 = Instant::now();
            let mut now = t0;
            let mut f = Fdb::new(aging, &limits, max);
            let mut view = FdbView::default();
            let mut ops = Vec::new();
            // model: key -> (port, static, last_seen)
            let mut model: Model<ExactKey, (u16, bool, Instant)> = Model::new();
            for s in steps {
                match s {
                    Step::Learn(m, q) => {
                        let k = key(m);
                        let count = |model: &Model<ExactKey, (u16, bool, Instant)>, q: u16| model.values().filter(|e| e.0 == q && !e.1).count() as u32;
                        let full_port = limits[usize::from(q)].is_some_and(|l| count(&model, q) >= l);
                        let full = model.len() >= max;
                        let expect = match model.get(&k).copied() {
                            Some((_, true, _)) => None,
                            Some((r, false, _)) if r == q => Some((q, false, now)),
                            Some(_) if full_port => None,
                            Some(_) => Some((q, false, now)),
                            None if full_port || full => None,
                            None => Some((q, false, now)),
                        };
                        f.learn(k, p(q), now, &mut ops);
                        if let Some(e) = expect { model.insert(k, e); }
                    }
                    Step::Static(m, q) => {
                        f.add_static(key(m), p(q), now, &mut ops);
                        model.insert(key(m), (q, true, now));
                    }
                    Step::Advance(s) => now += Duration::from_secs(s),
                    Step::Age => {
                        f.age(now, &mut ops);
                        model.retain(|_, e| e.1 || now.saturating_duration_since(e.2) < aging);
                    }
                    Step::Flush(q) => {
                        f.flush_port(p(q), &mut ops);
                        model.retain(|_, e| e.1 || e.0 != q);
                    }
                }
                apply(&mut view, &mut ops);
                prop_assert_eq!(f.len(), model.len());
                prop_assert_eq!(view.len(), model.len());
                for (k, (q, st, _)) in &model {
                    prop_assert_eq!(f.get(*k).map(|e| e.port), Some(p(*q)));
                    prop_assert_eq!(view.get(*k), Some(ViewEntry::new(p(*q), *st)));
                }
                for q in 0..4u16 {
                    let n = model.values().filter(|e| e.0 == q && !e.1).count() as u32;
                    prop_assert_eq!(f.dynamic_on(p(q)), n);
                    if let Some(l) = limits[usize::from(q)] { prop_assert!(n <= l); }
                }
                prop_assert!(model.values().filter(|e| !e.1).count() <= max);
            }
        }
    }
}
