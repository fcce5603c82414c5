//! The `legacy` role: an 802.1Q learning bridge port.
//!
//! The per-frame decision is a pure function of the frame's [`Header`], its
//! ingress port and the published tables, so it is tested without any I/O.
//!
//! VLAN handling is tag-transparent: a tagged frame belongs to the VLAN of
//! its outer tag, an untagged or priority-tagged frame to the ingress port's
//! `pvid`; frames leave unchanged (moose does not push or pop tags, so
//! frame length never changes and rewriting stays in place).

use moose_config::PuntClass;
use moose_wire::ethernet::FrameError;
use moose_wire::{ExactKey, Header, PortId};

use super::{decide_cached, is_reserved, Burst, Learn, Summary, HOME_GROUP_LE};
use crate::action::{Action, RewriteOps, To};
use crate::counters::DropReason;
use crate::fdb::{FdbView, ViewEntry};
use crate::tables::{Table, TableMask, TableSet};

/// The tables a legacy decision reads (on a MOOSE switch the translation
/// and the FIB too; elsewhere they never change).
pub const TABLES: TableMask = TableMask::of(&[
    Table::Ports,
    Table::Flood,
    Table::Fdb,
    Table::Xlate,
    Table::Fib,
    Table::Groups,
]);

/// The last FDB lookup of each kind in a burst. Consecutive frames of one
/// flow skip the hash probe, as VPP's l2 nodes do; valid only while one
/// read view is held.
#[derive(Default)]
pub struct BurstCache {
    src: Option<(ExactKey, Option<ViewEntry>)>,
    dst: Option<(ExactKey, Option<ViewEntry>)>,
}

impl BurstCache {
    #[inline]
    fn lookup(
        slot: &mut Option<(ExactKey, Option<ViewEntry>)>,
        fdb: &FdbView,
        key: ExactKey,
    ) -> Option<ViewEntry> {
        match *slot {
            Some((k, v)) if k == key => v,
            _ => {
                let v = fdb.get(key);
                *slot = Some((key, v));
                v
            }
        }
    }
}

fn frame_error(e: FrameError) -> DropReason {
    match e {
        FrameError::TooShort => DropReason::TooShort,
        FrameError::TruncatedVlan => DropReason::TruncatedVlan,
        FrameError::Oversize => DropReason::Oversize,
    }
}

/// On a MOOSE switch a legacy port is a learning-bridge segment whose
/// hosts get MOOSE addresses when they talk beyond it: frames to other
/// legacy hosts are bridged as they are; frames to a MOOSE destination (the
/// switch's own prefix, or a routed one) are translated like an edge
/// host's (an unknown host is punted to the hosts service first); a
/// broadcast goes to the other legacy ports as sent and, translated, to
/// the edge and fabric ports; unknown unicast stays on the legacy ports
/// (the MOOSE side has no real addresses to find).
#[allow(clippy::too_many_arguments)]
#[inline]
fn moose(
    h: &Header,
    vlan: u16,
    members: u64,
    port: PortId,
    skey: ExactKey,
    t: &TableSet,
    fdb: &FdbView,
    cache: &mut BurstCache,
) -> Action {
    let p = &*t.ports;
    let plain = members & !port.bit() & p.legacy;
    let moose_ports = members & (p.edge | p.fabric);
    let dst = h.dst_le();
    let routed = || {
        p.local.is_some_and(|l| l.contains(dst))
            || t.fib
                .lookup_raw(moose_wire::PrefixKey::from_le48(dst).raw())
                != moose_tables::lpm::NO_ROUTE
    };
    // The translation of the source, if the frame leaves the segment.
    let xlate = |t: &TableSet| match t.xlate.to_moose.get(skey.raw()) {
        Some(v) if moose_tables::xlate::unpack_real(v).1 == port.0 => Some(v & ((1 << 48) - 1)),
        _ => None,
    };
    if h.dst_is_group() {
        if moose_ports == 0 {
            return if plain == 0 {
                Action::drop(DropReason::NoFloodPort)
            } else {
                Action::flood(plain, false)
            };
        }
        let Some(m) = xlate(t) else {
            return Action::punt(PuntClass::Host);
        };
        return Action::new(
            To::Flood {
                mask: plain | moose_ports,
                unknown: false,
                plain,
            },
            crate::action::Rewrite {
                ops: RewriteOps::SRC | RewriteOps::PAYLOAD,
                src: m,
                dst: 0,
            },
        );
    }
    if let Some(e) = BurstCache::lookup(&mut cache.dst, fdb, ExactKey::from_le48(vlan, dst)) {
        return if e.port() == port {
            Action::drop(DropReason::SamePort)
        } else {
            Action::port(e.port())
        };
    }
    if !routed() {
        return if plain == 0 {
            Action::drop(DropReason::NoFloodPort)
        } else {
            Action::flood(plain, true)
        };
    }
    let Some(m) = xlate(t) else {
        return Action::punt(PuntClass::Host);
    };
    let mut rw = crate::action::Rewrite {
        ops: RewriteOps::SRC | RewriteOps::PAYLOAD,
        src: m,
        dst: 0,
    };
    match super::moose::unicast(dst, vlan, port, t) {
        Ok((to, real)) => {
            if let Some(real) = real {
                rw.ops = rw.ops | RewriteOps::DST;
                rw.dst = real;
            }
            Action::new(to, rw)
        }
        Err(r) => Action::drop(r),
    }
}

/// Decides one frame received on `port`.
#[inline]
pub fn decide(h: &Header, port: PortId, t: &TableSet, cache: &mut BurstCache) -> (Action, Learn) {
    let (ports, flood, fdb) = (&*t.ports, &*t.flood, &t.fdb);
    if let Err(e) = h.check(ports.max_frame) {
        return (Action::drop(frame_error(e)), Learn::None);
    }
    let src = h.src_le();
    if src & 1 != 0 {
        return (Action::drop(DropReason::SrcMulticast), Learn::None);
    }
    if src == 0 {
        return (Action::drop(DropReason::SrcZero), Learn::None);
    }
    let vid = h.vid();
    let vlan = if vid != 0 { vid } else { ports.pvid(port) };
    let members = flood.vlan(vlan);
    if members & port.bit() == 0 {
        return (Action::drop(DropReason::VlanIngress), Learn::None);
    }

    let skey = ExactKey::from_le48(vlan, src);
    let learn = match BurstCache::lookup(&mut cache.src, fdb, skey) {
        Some(e) if e.port() == port => Learn::Known(skey),
        Some(e) if e.is_static() => return (Action::drop(DropReason::StaticMove), Learn::None),
        _ => Learn::Request(skey),
    };

    let dst = h.dst_le();
    if is_reserved(dst) {
        return (Action::punt(PuntClass::Reserved), learn);
    }
    if ports.local.is_some() {
        if dst == HOME_GROUP_LE {
            return (Action::punt(PuntClass::Protocol), Learn::None);
        }
        if ports.foreign & port.bit() != 0 {
            return (Action::drop(DropReason::NotHome), Learn::None);
        }
        let members = members & !ports.foreign & flood.tree;
        return (moose(h, vlan, members, port, skey, t, fdb, cache), learn);
    }
    let others = members & !port.bit();
    let action = if h.dst_is_group() {
        Action::flood(others, false)
    } else {
        match BurstCache::lookup(&mut cache.dst, fdb, ExactKey::from_le48(vlan, dst)) {
            Some(e) if e.port() == port => Action::drop(DropReason::SamePort),
            Some(e) => Action::port(e.port()),
            None => Action::flood(others, true),
        }
    };
    if others == 0 && matches!(action.to(), crate::action::To::Flood { .. }) {
        return (Action::drop(DropReason::NoFloodPort), learn);
    }
    (action, learn)
}

/// The legacy role's [`Classifier`](super::Classifier).
pub fn classify<F: AsRef<[u8]>>(b: &mut Burst<'_>, frames: &[F]) -> Summary {
    let t = b.tables;
    let port = b.port;
    let mut cache = BurstCache::default();
    decide_cached(b, frames, t.generation(TABLES), |h| {
        decide(h, port, t, &mut cache)
    })
}

/// [`decide`] of a whole frame without any cache (tests, fuzzing).
pub fn decide_frame(frame: &[u8], port: PortId, t: &TableSet) -> (Action, Learn) {
    decide(&Header::load(frame), port, t, &mut BurstCache::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::To;
    use crate::classify::{FlowCache, Learns};
    use crate::fdb::FdbOp;
    use crate::tables::{FloodSets, PortTable, TableOp};
    use crate::worker::MAX_BURST;
    use moose_tables::publish::Absorb;
    use moose_wire::ethernet::{self, FrameError};
    use moose_wire::{EtherType, Mac, VlanTag};
    use proptest::prelude::*;

    fn mac(n: u8) -> Mac {
        Mac([2, 0, 0, 0, 0, n])
    }

    fn frame(dst: Mac, src: Mac, vid: Option<u16>) -> Vec<u8> {
        let mut v = Vec::new();
        let tag = vid.map(|vid| VlanTag {
            vid,
            pcp: 0,
            dei: false,
        });
        ethernet::emit(&mut v, dst, src, tag, EtherType::Ipv4, &[0u8; 46]);
        v
    }

    fn tables(n: usize, max_frame: usize, entries: &[(u16, Mac, u16, bool)]) -> TableSet {
        let mut t = TableSet::new(PortTable::simple(n, max_frame), FloodSets::simple(n));
        for (vlan, m, p, s) in entries {
            t.absorb(&TableOp::Fdb(FdbOp::Set(
                ExactKey::new(*vlan, *m),
                ViewEntry::new(PortId(*p), *s),
            )));
        }
        t
    }

    fn set_vlan(t: &mut TableSet, vlan: u16, members: u64) {
        let mut f = (*t.flood).clone();
        f.set_vlan(vlan, members);
        t.absorb(&TableOp::Flood(std::sync::Arc::new(f)));
    }

    fn p(n: u16) -> PortId {
        PortId(n)
    }

    fn key(vlan: u16, m: Mac) -> ExactKey {
        ExactKey::new(vlan, m)
    }

    #[test]
    fn unknown_unicast_floods_and_requests_learning() {
        let t = tables(3, 1522, &[]);
        let (a, l) = decide_frame(&frame(mac(2), mac(1), None), p(0), &t);
        assert_eq!(a, Action::flood(0b110, true));
        assert_eq!(l, Learn::Request(key(1, mac(1))));
    }

    #[test]
    fn known_unicast_goes_to_its_port() {
        let t = tables(3, 1522, &[(1, mac(2), 2, false), (1, mac(1), 0, false)]);
        let (a, l) = decide_frame(&frame(mac(2), mac(1), None), p(0), &t);
        assert_eq!(a, Action::port(p(2)));
        assert_eq!(l, Learn::Known(key(1, mac(1))));
        let (a, _) = decide_frame(&frame(mac(1), mac(3), None), p(0), &t);
        assert_eq!(a, Action::drop(DropReason::SamePort));
    }

    #[test]
    fn broadcast_floods_in_vlan_only() {
        let mut t = tables(3, 1522, &[]);
        set_vlan(&mut t, 10, 0b011);
        let (a, _) = decide_frame(&frame(Mac::BROADCAST, mac(1), Some(10)), p(0), &t);
        assert_eq!(a, Action::flood(0b010, false));
        let (a, _) = decide_frame(&frame(Mac::BROADCAST, mac(1), Some(10)), p(2), &t);
        assert_eq!(a, Action::drop(DropReason::VlanIngress));
    }

    #[test]
    fn vlans_are_separate_tables() {
        let t = tables(3, 1522, &[(10, mac(2), 2, false)]);
        assert_eq!(
            decide_frame(&frame(mac(2), mac(1), Some(10)), p(0), &t).0,
            Action::port(p(2))
        );
        assert!(matches!(
            decide_frame(&frame(mac(2), mac(1), Some(20)), p(0), &t)
                .0
                .to(),
            To::Flood { unknown: true, .. }
        ));
        // priority-tagged (vid 0) frames use the pvid
        assert!(matches!(
            decide_frame(&frame(mac(2), mac(1), Some(0)), p(0), &t)
                .0
                .to(),
            To::Flood { .. }
        ));
    }

    #[test]
    fn bad_frames_are_dropped_by_reason() {
        let t = tables(2, 100, &[]);
        let f = frame(mac(2), mac(1), Some(5));
        let d = |f: &[u8]| decide_frame(f, p(0), &t).0;
        assert_eq!(d(&f[..10]), Action::drop(DropReason::TooShort));
        assert_eq!(d(&f[..16]), Action::drop(DropReason::TruncatedVlan));
        assert_eq!(d(&[0x02u8; 101]), Action::drop(DropReason::Oversize));
        assert_eq!(
            d(&frame(mac(2), Mac::BROADCAST, None)),
            Action::drop(DropReason::SrcMulticast)
        );
        assert_eq!(
            d(&frame(mac(2), Mac::ZERO, None)),
            Action::drop(DropReason::SrcZero)
        );
    }

    #[test]
    fn static_entries_pin_the_source() {
        let t = tables(2, 1522, &[(1, mac(1), 1, true)]);
        assert_eq!(
            decide_frame(&frame(mac(2), mac(1), None), p(0), &t).0,
            Action::drop(DropReason::StaticMove)
        );
    }

    #[test]
    fn reserved_destinations_are_punted() {
        let t = tables(2, 1522, &[]);
        let bpdu = Mac([0x01, 0x80, 0xc2, 0, 0, 0]);
        let lldp = Mac([0x01, 0x80, 0xc2, 0, 0, 0x0e]);
        let reserved = Action::punt(PuntClass::Reserved);
        assert_eq!(
            decide_frame(&frame(bpdu, mac(1), None), p(0), &t).0,
            reserved
        );
        assert_eq!(
            decide_frame(&frame(lldp, mac(1), None), p(0), &t).0,
            reserved
        );
        let not_reserved = Mac([0x01, 0x80, 0xc2, 0, 0, 0x10]);
        assert!(matches!(
            decide_frame(&frame(not_reserved, mac(1), None), p(0), &t)
                .0
                .to(),
            To::Flood { .. }
        ));
    }

    #[test]
    fn single_port_vlan_has_nowhere_to_flood() {
        let mut t = tables(2, 1522, &[]);
        set_vlan(&mut t, 7, 0b01);
        assert_eq!(
            decide_frame(&frame(Mac::BROADCAST, mac(1), Some(7)), p(0), &t).0,
            Action::drop(DropReason::NoFloodPort)
        );
    }

    /// Classifies one burst the way the worker does.
    fn classify_burst(
        t: &TableSet,
        port: PortId,
        flows: &mut FlowCache,
        now_ms: u32,
        frames: &[&[u8]],
    ) -> (Vec<Action>, Vec<Learn>, Summary) {
        let mut actions = [Action::drop(DropReason::TooShort); MAX_BURST];
        let mut learns = Learns::default();
        let n = frames.len();
        let mut b = Burst {
            tables: t,
            port,
            now_ms,
            flows,
            actions: &mut actions[..n],
            learns: &mut learns,
            elk: true,
        };
        let s = classify(&mut b, frames);
        let actions = match s.uniform {
            Some(u) => vec![u; n],
            None => actions[..n].to_vec(),
        };
        (actions, learns.as_slice().to_vec(), s)
    }

    proptest! {
        /// The decision agrees with the wire parser on every input: same
        /// drops, same VLAN.
        #[test]
        fn decide_agrees_with_wire_parse(
            frames in proptest::collection::vec(proptest::collection::vec(prop_oneof![Just(0u8), Just(2u8), Just(0x81u8), Just(0xffu8), any::<u8>()], 0..40), 1..12),
            max in 14usize..40,
            port in 0u16..3,
        ) {
            let t = tables(3, max, &[(1, mac(2), 2, false), (1, mac(1), 0, false), (5, mac(2), 1, true)]);
            for f in &frames {
                let plain = decide_frame(f, p(port), &t);
                let drop = |r| Action::drop(r);
                match ethernet::parse(f, max) {
                    Err(FrameError::TooShort) => prop_assert_eq!(plain.0, drop(DropReason::TooShort)),
                    Err(FrameError::TruncatedVlan) => prop_assert_eq!(plain.0, drop(DropReason::TruncatedVlan)),
                    Err(FrameError::Oversize) => prop_assert_eq!(plain.0, drop(DropReason::Oversize)),
                    Ok(parsed) => {
                        let bad = [DropReason::TooShort, DropReason::TruncatedVlan, DropReason::Oversize];
                        prop_assert!(!bad.iter().any(|r| plain.0 == drop(*r)));
                        let ok_src = !parsed.src.is_multicast() && !parsed.src.is_zero();
                        if ok_src && plain.0 != drop(DropReason::StaticMove) && plain.0 != drop(DropReason::VlanIngress) {
                            let vlan = match parsed.tag { Some(t) if t.vid != 0 => t.vid, _ => 1 };
                            let k = key(vlan, parsed.src);
                            prop_assert!(plain.1 == Learn::Known(k) || plain.1 == Learn::Request(k));
                        }
                    }
                }
            }
        }

        /// A burst decided at once, reusing the previous frame's or a
        /// cached decision for repeats, gets the same actions as deciding
        /// every frame on its own, and reports an action exactly when every
        /// frame has it. With an empty flow cache, learning is the same up
        /// to repeats.
        #[test]
        fn burst_decision_equals_per_frame(
            pool in frame_pool(),
            picks in proptest::collection::vec(0usize..7, 1..MAX_BURST_TEST),
            max in 14usize..70,
            port in 0u16..3,
        ) {
            let t = tables(3, max, &[(1, mac(2), 2, false), (1, mac(1), 0, false), (5, mac(2), 1, true), (7, mac(3), 0, false)]);
            let frames = build_frames(&pool);
            let burst: Vec<&[u8]> = picks.iter().map(|&i| frames[i % frames.len()].as_slice()).collect();
            let mut flows = FlowCache::new(1000);
            let (actions, learned, s) = classify_burst(&t, p(port), &mut flows, 0, &burst);

            let single: Vec<(Action, Learn)> = burst.iter().map(|f| decide_frame(f, p(port), &t)).collect();
            let expect: Vec<Action> = single.iter().map(|x| x.0).collect();
            prop_assert_eq!(&actions, &expect);
            let want: std::collections::BTreeSet<String> = single.iter().filter(|x| x.1 != Learn::None).map(|x| format!("{:?}", x.1)).collect();
            let got: std::collections::BTreeSet<String> = learned.iter().map(|l| format!("{l:?}")).collect();
            prop_assert_eq!(got, want);
            let all_same = expect.iter().all(|a| *a == expect[0]);
            prop_assert_eq!(s.uniform, all_same.then_some(expect[0]));
            let bytes: usize = burst.iter().map(|f| f.len()).sum();
            prop_assert_eq!(s.rx_bytes, bytes as u64);
        }

        /// Over many bursts, with FDB changes and time passing in between,
        /// the flow cache never changes a decision; a known source is
        /// offered for refresh again once the cache's time-to-live passes.
        #[test]
        fn flow_cache_follows_table_changes_and_time(
            pool in frame_pool(),
            rounds in proptest::collection::vec((
                proptest::collection::vec(0usize..7, 1..MAX_BURST_TEST),
                0u16..3,
                proptest::option::of((1u16..8, 0u8..4, 0u16..3, any::<bool>())),
                0u32..1500,
            ), 1..8),
            max in 14usize..70,
            // One slot makes every entry collide; 256 is the worker's size.
            slots in prop_oneof![Just(1usize), Just(2), Just(256)],
        ) {
            let mut t = tables(3, max, &[(1, mac(2), 2, false), (1, mac(1), 0, false), (5, mac(2), 1, true)]);
            let frames = build_frames(&pool);
            let mut flows = FlowCache::with_slots(slots, 1000);
            let mut now = 0u32;
            for (picks, port, change, dt) in rounds {
                if let Some((vlan, m, q, remove)) = change {
                    let k = key(vlan, mac(m));
                    t.absorb(&TableOp::Fdb(if remove { FdbOp::Remove(k) } else { FdbOp::Set(k, ViewEntry::new(p(q), false)) }));
                }
                now = now.wrapping_add(dt);
                let burst: Vec<&[u8]> = picks.iter().map(|&i| frames[i % frames.len()].as_slice()).collect();
                let (actions, learned, _) = classify_burst(&t, p(port), &mut flows, now, &burst);
                let single: Vec<(Action, Learn)> = burst.iter().map(|f| decide_frame(f, p(port), &t)).collect();
                let expect: Vec<Action> = single.iter().map(|x| x.0).collect();
                prop_assert_eq!(&actions, &expect);
                // Unknown or moved sources are never served from the cache.
                for (_, l) in &single {
                    if let Learn::Request(_) = l {
                        prop_assert!(learned.contains(l));
                    }
                }
            }
            // After the time-to-live every known source is offered again.
            now = now.wrapping_add(1000);
            let burst: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
            let (_, learned, _) = classify_burst(&t, p(0), &mut flows, now, &burst);
            for f in &burst {
                let l = decide_frame(f, p(0), &t).1;
                if let Learn::Known(_) = l {
                    prop_assert!(learned.contains(&l));
                }
            }
        }
    }

    type Pool = Vec<(u8, u8, Option<u16>, usize, u8)>;

    fn frame_pool() -> impl Strategy<Value = Pool> {
        // Few addresses, so that frames differing in one field only (the
        // destination, or the VLAN) are common; source 0 is the zero MAC.
        proptest::collection::vec(
            (
                0u8..3,
                1u8..3,
                prop_oneof![
                    Just(None),
                    Just(Some(0u16)),
                    Just(Some(5u16)),
                    Just(Some(7u16))
                ],
                0usize..70,
                any::<u8>(),
            ),
            1..7,
        )
    }

    fn build_frames(pool: &Pool) -> Vec<Vec<u8>> {
        pool.iter()
            .map(|&(d, s, vid, len, fill)| {
                let mut f = frame(mac(d), mac(s), vid);
                f.resize(len.max(1), fill);
                f
            })
            .collect()
    }

    const MAX_BURST_TEST: usize = 40;
}
#[cfg(test)]
mod hit_rate {
    use super::*;
    use crate::classify::{FlowCache, Learns};
    use crate::fdb::FdbOp;
    use crate::tables::TableOp;
    use crate::tables::{FloodSets, PortTable};
    use crate::worker::MAX_BURST;
    use moose_tables::publish::Absorb;
    use moose_wire::Mac;

    /// 64 interleaved flows (bench-bridge.sh's FLOWS=64) fit the 256-slot
    /// flow cache: after the first round every frame is a hit. With the
    /// slot taken from bits 40..48 of the hash product instead of its top
    /// bits, 27 of every 64 frames missed.
    #[test]
    fn sixty_four_flows_stay_cached() {
        let mut t = TableSet::new(PortTable::simple(2, 1522), FloodSets::simple(2));
        let mac = |n: u16| Mac([2, 0, 0, 0, (n >> 8) as u8, n as u8]);
        let mut frames = Vec::new();
        for k in 0..64u16 {
            let (src, dst) = (mac(2 * k + 1), mac(2 * k + 2));
            t.absorb(&TableOp::Fdb(FdbOp::Set(
                ExactKey::new(1, dst),
                ViewEntry::new(PortId(1), true),
            )));
            t.absorb(&TableOp::Fdb(FdbOp::Set(
                ExactKey::new(1, src),
                ViewEntry::new(PortId(0), false),
            )));
            let mut f = Vec::new();
            moose_wire::ethernet::emit(
                &mut f,
                dst,
                src,
                None,
                moose_wire::EtherType::Ipv4,
                &[0; 46],
            );
            frames.push(f);
        }
        let mut flows = FlowCache::new(75_000);
        let mut calls = 0;
        for round in 0..10 {
            for chunk in frames.chunks(32) {
                let mut actions = [Action::drop(DropReason::TooShort); MAX_BURST];
                let mut learns = Learns::default();
                let mut b = Burst {
                    tables: &t,
                    port: PortId(0),
                    now_ms: round,
                    flows: &mut flows,
                    actions: &mut actions[..32],
                    learns: &mut learns,
                    elk: true,
                };
                let mut cache = BurstCache::default();
                decide_cached(&mut b, chunk, t.generation(TABLES), |h| {
                    calls += 1;
                    decide(h, PortId(0), &t, &mut cache)
                });
            }
        }
        assert!(
            calls <= 64 + 4,
            "{calls} decisions for 640 frames of 64 flows"
        );
    }
}
