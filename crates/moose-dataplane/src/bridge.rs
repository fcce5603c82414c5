//! The forwarding decision of the 802.1Q learning bridge, for one frame.
//!
//! A pure function of the frame, its ingress port, the port table and the
//! FDB view, so it is tested without any I/O. The worker calls it for every
//! frame of a burst, fills an action array, and only then moves frames
//! (decide first, move later).
//!
//! VLAN handling is tag-transparent: a tagged frame belongs to the VLAN of
//! its outer tag, an untagged or priority-tagged frame to the ingress port's
//! `pvid`; frames leave unchanged (moose does not push or pop tags, so
//! frame length never changes and rewriting stays in place).

use moose_config::Config;
use moose_wire::ethernet;

use crate::counters::DropReason;
use crate::fdb::{FdbView, ViewEntry};
use crate::MAX_PORTS;

/// What to do with one frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Drop(DropReason),
    /// Send out of one port.
    Unicast(u16),
    /// Send a copy out of every port in the mask. `unknown` is set for
    /// unicast destinations missing from the FDB.
    Flood {
        mask: u64,
        unknown: bool,
    },
    /// Hand to the slow path (IEEE 802.1D reserved destinations).
    Punt,
}

/// Learning to do for a frame's source, decided with the forwarding.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Learn {
    /// Known on this port: maybe refresh its age.
    Known(u64),
    /// Unknown, or known on another port: ask the slow path.
    Request(u64),
    None,
}

/// Per-port facts the fast path needs, resolved once from the config.
/// Read-only after start-up.
pub struct PortTable {
    pub n_ports: usize,
    pvid: [u16; MAX_PORTS],
    /// `members[vlan]`: bit `p` set if port `p` carries the VLAN.
    members: Box<[u64; 4096]>,
    pub max_frame: usize,
}

impl PortTable {
    pub fn from_config(cfg: &Config) -> PortTable {
        let mut t = PortTable {
            n_ports: cfg.ports.len(),
            pvid: [1; MAX_PORTS],
            members: Box::new([0; 4096]),
            max_frame: cfg.dataplane.max_frame,
        };
        for (i, p) in cfg.ports.iter().enumerate() {
            t.pvid[i] = p.pvid.get();
            for v in p.vlans.iter() {
                t.members[usize::from(v)] |= 1 << i;
            }
        }
        t
    }

    /// A table for tests: `n` ports, all on every VLAN, pvid 1.
    pub fn simple(n: usize, max_frame: usize) -> PortTable {
        let mut t = PortTable {
            n_ports: n,
            pvid: [1; MAX_PORTS],
            members: Box::new([0; 4096]),
            max_frame,
        };
        let all = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        for v in 1..4095 {
            t.members[v] = all;
        }
        t
    }

    #[inline]
    pub fn members(&self, vlan: u16) -> u64 {
        self.members[usize::from(vlan & 0xfff)]
    }
}

/// The 48 address bits of a little-endian `u64` load of a frame.
const MAC_BITS: u64 = 0xffff_ffff_ffff;
/// The I/G (group) bit: bit 0 of octet 0.
const GROUP_BIT: u64 = 1;

/// 01:80:c2:00:00:00 – 01:80:c2:00:00:0f (little-endian address bits):
/// never forwarded by a bridge.
#[inline]
fn is_reserved(dst: u64) -> bool {
    dst & !(0xf << 40) == 0x0000_00c2_8001
}

/// The header fields the bridge reads from a frame: both addresses, the
/// TPID and the tag control word, as two little-endian 8-byte words and one
/// big-endian 16-bit word, plus the frame length.
///
/// The worker loads the headers of a whole burst first and decides after:
/// the loads of different frames are independent, so they overlap in the
/// CPU instead of each decision waiting for its own frame.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Octets 0..8: the destination address in bits 0..48.
    w0: u64,
    /// Octets 6..14: the source address in bits 0..48, the TPID (or
    /// EtherType) byte-swapped in bits 48..64.
    w1: u64,
    /// Octets 14..16 (the tag control word if tagged); 0 if the frame is
    /// shorter.
    tci: u16,
    len: u32,
}

impl Header {
    #[inline]
    pub fn load(frame: &[u8]) -> Header {
        let mut pad = [0u8; 16];
        let b: &[u8; 16] = match frame.first_chunk::<16>() {
            Some(b) => b,
            None => {
                pad[..frame.len()].copy_from_slice(frame);
                &pad
            }
        };
        let w = |at: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(x)
        };
        Header {
            w0: w(0),
            w1: w(6),
            tci: u16::from_be_bytes([b[14], b[15]]),
            len: frame.len() as u32,
        }
    }

    /// The frame's length in octets.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The last FDB lookup of each kind in a burst. Consecutive frames of one
/// flow (the common case in a burst) skip the hash probe, as VPP's l2
/// nodes do; valid only while one read view is held.
#[derive(Default)]
pub struct BurstCache {
    src: Option<(u64, Option<ViewEntry>)>,
    dst: Option<(u64, Option<ViewEntry>)>,
}

impl BurstCache {
    #[inline]
    fn lookup(
        slot: &mut Option<(u64, Option<ViewEntry>)>,
        fdb: &FdbView,
        key: u64,
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

/// Decides what to do with `frame` received on `port`.
#[inline]
pub fn decide(frame: &[u8], port: u16, ports: &PortTable, fdb: &FdbView) -> (Action, Learn) {
    decide_cached(frame, port, ports, fdb, &mut BurstCache::default())
}

/// [`decide`] with a per-burst lookup cache.
#[inline]
pub fn decide_cached(
    frame: &[u8],
    port: u16,
    ports: &PortTable,
    fdb: &FdbView,
    cache: &mut BurstCache,
) -> (Action, Learn) {
    decide_header(&Header::load(frame), port, ports, fdb, cache)
}

/// The decision from a frame's [`Header`] (the bridge needs only the
/// addresses and the outer tag), with the same checks as
/// `moose_wire::ethernet::parse`.
#[inline]
pub fn decide_header(
    h: &Header,
    port: u16,
    ports: &PortTable,
    fdb: &FdbView,
    cache: &mut BurstCache,
) -> (Action, Learn) {
    let len = h.len();
    if len < ethernet::HEADER_LEN {
        return (Action::Drop(DropReason::TooShort), Learn::None);
    }
    // Little-endian address bits are the key order (see `fdb_key`).
    let dst = h.w0 & MAC_BITS;
    let src = h.w1 & MAC_BITS;
    let tpid = ((h.w1 >> 48) as u16).swap_bytes();
    let tag = if tpid == 0x8100 || tpid == 0x88a8 {
        if len < ethernet::TAGGED_HEADER_LEN {
            return (Action::Drop(DropReason::TruncatedVlan), Learn::None);
        }
        h.tci & 0x0fff
    } else {
        0
    };
    if len > ports.max_frame {
        return (Action::Drop(DropReason::Oversize), Learn::None);
    }
    if src & GROUP_BIT != 0 {
        return (Action::Drop(DropReason::SrcMulticast), Learn::None);
    }
    let vlan = if tag != 0 {
        tag
    } else {
        ports.pvid[usize::from(port)]
    };
    let members = ports.members(vlan);
    if members & (1 << port) == 0 {
        return (Action::Drop(DropReason::VlanIngress), Learn::None);
    }

    let skey = (u64::from(vlan) << 48) | src;
    let learn = match BurstCache::lookup(&mut cache.src, fdb, skey) {
        Some(e) if e.port() == port => Learn::Known(skey),
        Some(e) if e.is_static() => return (Action::Drop(DropReason::StaticMove), Learn::None),
        _ => Learn::Request(skey),
    };

    if is_reserved(dst) {
        return (Action::Punt, learn);
    }
    let others = members & !(1 << port);
    let action = if dst & GROUP_BIT != 0 {
        Action::Flood {
            mask: others,
            unknown: false,
        }
    } else {
        match BurstCache::lookup(&mut cache.dst, fdb, (u64::from(vlan) << 48) | dst) {
            Some(e) if e.port() == port => Action::Drop(DropReason::SamePort),
            Some(e) => Action::Unicast(e.port()),
            None => Action::Flood {
                mask: others,
                unknown: true,
            },
        }
    };
    let action = match action {
        Action::Flood { mask: 0, .. } => Action::Drop(DropReason::NoFloodPort),
        a => a,
    };
    (action, learn)
}

/// Slots in a [`FlowCache`] (a power of two).
pub const FLOW_CACHE: usize = 256;

/// One remembered decision: the header words and ingress port it was made
/// for, the FDB generation it was made under, when, and the action.
#[derive(Copy, Clone)]
struct Flow {
    w0: u64,
    w1: u64,
    generation: u64,
    action: Action,
    tci: u16,
    port: u16,
    at_ms: u32,
}

/// A worker's memory of recent decisions, direct-mapped by header and
/// ingress port (the idea of OVS's exact-match cache). A frame whose
/// header words (addresses, TPID, and octets 14..16, whether a tag or
/// not), ingress port and in-range length match an entry gets its action
/// without lookups, as long as the FDB view has not changed since
/// (same generation) and the entry is younger than `ttl_ms`.
///
/// Only decisions whose learning is [`Learn::Known`] or [`Learn::None`] are
/// remembered; a hit skips learning, so `ttl_ms` is the refresh interval
/// of known sources: an expired entry is decided again and its source
/// offered for refresh. Unknown or moved sources are never remembered: they
/// are asked for every time (the worker's learn cache rate-limits them).
pub struct FlowCache {
    flows: Box<[Option<Flow>]>,
    /// `flows.len() - 1`.
    mask: usize,
    ttl_ms: u32,
}

impl FlowCache {
    /// A cache of [`FLOW_CACHE`] slots.
    pub fn new(ttl_ms: u32) -> FlowCache {
        FlowCache::with_slots(FLOW_CACHE, ttl_ms)
    }

    /// A cache of `slots` (a power of two) slots; tests use tiny ones so
    /// that every entry collides.
    pub fn with_slots(slots: usize, ttl_ms: u32) -> FlowCache {
        assert!(
            slots.is_power_of_two(),
            "flow cache slots must be a power of two"
        );
        FlowCache {
            flows: vec![None; slots].into_boxed_slice(),
            mask: slots - 1,
            ttl_ms,
        }
    }

    #[inline]
    fn slot(&self, h: &Header, port: u16) -> usize {
        let x = h.w0 ^ h.w1.rotate_left(29) ^ (u64::from(h.tci) << 16) ^ u64::from(port);
        (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize & self.mask
    }
}

/// Decides a whole burst: `actions[i]` for `headers[i]`; `learn` is called
/// with the learning of each frame that needed a decision of its own.
///
/// Two shortcuts spare most frames the lookups:
/// * a frame whose addresses, TPID and (if tagged) VLAN equal the previous
///   decided frame's, and whose length is in range, gets that frame's
///   action: a burst is mostly runs of one flow (VPP's L2 nodes do the
///   same). Its learning is the previous frame's too, so `learn` is not
///   called again;
/// * otherwise a hit in the worker's [`FlowCache`] (at time `now_ms`).
///
/// Returns the action when every frame of the burst has the same one.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn decide_burst(
    headers: impl IntoIterator<Item = Header>,
    port: u16,
    ports: &PortTable,
    fdb: &FdbView,
    flows: &mut FlowCache,
    now_ms: u32,
    actions: &mut [Action],
    mut learn: impl FnMut(Learn),
) -> Option<Action> {
    let mut cache = BurstCache::default();
    let in_range = |len: usize| (ethernet::TAGGED_HEADER_LEN..=ports.max_frame).contains(&len);
    let generation = fdb.generation();
    let ttl_ms = flows.ttl_ms;
    // The previous decided frame: its words, the tci bits that matter
    // (0 if untagged) and its action; valid only if its length was in range.
    let mut prev: Option<(u64, u64, u16, u16, Action)> = None;
    let mut uniform: Option<Action> = None;
    let mut all_same = true;
    for (h, slot) in headers.into_iter().zip(actions.iter_mut()) {
        if let Some((w0, w1, mask, tci, a)) = prev {
            if h.w0 == w0 && h.w1 == w1 && h.tci & mask == tci && in_range(h.len()) {
                // Same action as the previous frame: `uniform` stands.
                *slot = a;
                continue;
            }
        }
        let i = flows.slot(&h, port);
        let entry = &mut flows.flows[i];
        let action = match *entry {
            Some(f)
                if f.w0 == h.w0
                    && f.w1 == h.w1
                    && f.tci == h.tci
                    && f.port == port
                    && f.generation == generation
                    && now_ms.wrapping_sub(f.at_ms) < ttl_ms
                    && in_range(h.len()) =>
            {
                f.action
            }
            _ => {
                let (action, l) = decide_header(&h, port, ports, fdb, &mut cache);
                learn(l);
                if in_range(h.len()) && !matches!(l, Learn::Request(_)) {
                    *entry = Some(Flow {
                        w0: h.w0,
                        w1: h.w1,
                        generation,
                        action,
                        tci: h.tci,
                        port,
                        at_ms: now_ms,
                    });
                }
                action
            }
        };
        let tpid = ((h.w1 >> 48) as u16).swap_bytes();
        let mask = if tpid == 0x8100 || tpid == 0x88a8 {
            0x0fff
        } else {
            0
        };
        prev = in_range(h.len()).then_some((h.w0, h.w1, mask, h.tci & mask, action));
        match uniform {
            None => uniform = Some(action),
            Some(u) if u == action => {}
            Some(_) => all_same = false,
        }
        *slot = action;
    }
    if all_same {
        uniform
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdb::FdbOp;
    use crate::fdb_key;
    use moose_tables::publish::Absorb;
    use moose_wire::ethernet::FrameError;
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

    fn view(entries: &[(u16, Mac, u16, bool)]) -> FdbView {
        let mut v = FdbView::default();
        for (vlan, m, p, s) in entries {
            v.absorb(&FdbOp::Set(fdb_key(*vlan, *m), ViewEntry::new(*p, *s)));
        }
        v
    }

    #[test]
    fn unknown_unicast_floods_and_requests_learning() {
        let t = PortTable::simple(3, 1522);
        let (a, l) = decide(&frame(mac(2), mac(1), None), 0, &t, &FdbView::default());
        assert_eq!(
            a,
            Action::Flood {
                mask: 0b110,
                unknown: true
            }
        );
        assert_eq!(l, Learn::Request(fdb_key(1, mac(1))));
    }

    #[test]
    fn known_unicast_goes_to_its_port() {
        let t = PortTable::simple(3, 1522);
        let v = view(&[(1, mac(2), 2, false), (1, mac(1), 0, false)]);
        let (a, l) = decide(&frame(mac(2), mac(1), None), 0, &t, &v);
        assert_eq!(a, Action::Unicast(2));
        assert_eq!(l, Learn::Known(fdb_key(1, mac(1))));
        let (a, _) = decide(&frame(mac(1), mac(3), None), 0, &t, &v);
        assert_eq!(a, Action::Drop(DropReason::SamePort));
    }

    #[test]
    fn broadcast_floods_in_vlan_only() {
        let mut cfg_ports = PortTable::simple(3, 1522);
        cfg_ports.members[10] = 0b011;
        let (a, _) = decide(
            &frame(Mac::BROADCAST, mac(1), Some(10)),
            0,
            &cfg_ports,
            &FdbView::default(),
        );
        assert_eq!(
            a,
            Action::Flood {
                mask: 0b010,
                unknown: false
            }
        );
        let (a, _) = decide(
            &frame(Mac::BROADCAST, mac(1), Some(10)),
            2,
            &cfg_ports,
            &FdbView::default(),
        );
        assert_eq!(a, Action::Drop(DropReason::VlanIngress));
    }

    #[test]
    fn vlans_are_separate_tables() {
        let t = PortTable::simple(3, 1522);
        let v = view(&[(10, mac(2), 2, false)]);
        assert_eq!(
            decide(&frame(mac(2), mac(1), Some(10)), 0, &t, &v).0,
            Action::Unicast(2)
        );
        assert!(matches!(
            decide(&frame(mac(2), mac(1), Some(20)), 0, &t, &v).0,
            Action::Flood { unknown: true, .. }
        ));
        // priority-tagged (vid 0) frames use the pvid
        assert!(matches!(
            decide(&frame(mac(2), mac(1), Some(0)), 0, &t, &v).0,
            Action::Flood { .. }
        ));
    }

    #[test]
    fn bad_frames_are_dropped_by_reason() {
        let t = PortTable::simple(2, 100);
        let v = FdbView::default();
        let f = frame(mac(2), mac(1), Some(5));
        assert_eq!(
            decide(&f[..10], 0, &t, &v).0,
            Action::Drop(DropReason::TooShort)
        );
        assert_eq!(
            decide(&f[..16], 0, &t, &v).0,
            Action::Drop(DropReason::TruncatedVlan)
        );
        let big = vec![0x02u8; 101];
        assert_eq!(
            decide(&big, 0, &t, &v).0,
            Action::Drop(DropReason::Oversize)
        );
        assert_eq!(
            decide(&frame(mac(2), Mac::BROADCAST, None), 0, &t, &v).0,
            Action::Drop(DropReason::SrcMulticast)
        );
    }

    #[test]
    fn static_entries_pin_the_source() {
        let t = PortTable::simple(2, 1522);
        let v = view(&[(1, mac(1), 1, true)]);
        assert_eq!(
            decide(&frame(mac(2), mac(1), None), 0, &t, &v).0,
            Action::Drop(DropReason::StaticMove)
        );
    }

    #[test]
    fn reserved_destinations_are_punted() {
        let t = PortTable::simple(2, 1522);
        let bpdu = Mac([0x01, 0x80, 0xc2, 0, 0, 0]);
        let lldp = Mac([0x01, 0x80, 0xc2, 0, 0, 0x0e]);
        let v = FdbView::default();
        assert_eq!(
            decide(&frame(bpdu, mac(1), None), 0, &t, &v).0,
            Action::Punt
        );
        assert_eq!(
            decide(&frame(lldp, mac(1), None), 0, &t, &v).0,
            Action::Punt
        );
        let not_reserved = Mac([0x01, 0x80, 0xc2, 0, 0, 0x10]);
        assert!(matches!(
            decide(&frame(not_reserved, mac(1), None), 0, &t, &v).0,
            Action::Flood { .. }
        ));
    }

    #[test]
    fn single_port_vlan_has_nowhere_to_flood() {
        let mut t = PortTable::simple(2, 1522);
        t.members[7] = 0b01;
        assert_eq!(
            decide(
                &frame(Mac::BROADCAST, mac(1), Some(7)),
                0,
                &t,
                &FdbView::default()
            )
            .0,
            Action::Drop(DropReason::NoFloodPort)
        );
    }

    proptest! {
        /// The bridge's own header reading agrees with the wire parser on
        /// every input: same drops, same VLAN, and the per-burst cache never
        /// changes a decision.
        #[test]
        fn decide_agrees_with_wire_parse(
            frames in proptest::collection::vec(proptest::collection::vec(prop_oneof![Just(0u8), Just(2u8), Just(0x81u8), Just(0xffu8), any::<u8>()], 0..40), 1..12),
            max in 14usize..40,
            port in 0u16..3,
        ) {
            let t = PortTable::simple(3, max);
            let v = view(&[(1, mac(2), 2, false), (1, mac(1), 0, false), (5, mac(2), 1, true)]);
            let mut cache = BurstCache::default();
            for f in &frames {
                let plain = decide(f, port, &t, &v);
                let cached = decide_cached(f, port, &t, &v, &mut cache);
                prop_assert_eq!(plain, cached);
                match ethernet::parse(f, max) {
                    Err(FrameError::TooShort) => prop_assert_eq!(plain.0, Action::Drop(DropReason::TooShort)),
                    Err(FrameError::TruncatedVlan) => prop_assert_eq!(plain.0, Action::Drop(DropReason::TruncatedVlan)),
                    Err(FrameError::Oversize) => prop_assert_eq!(plain.0, Action::Drop(DropReason::Oversize)),
                    Ok(p) => {
                        prop_assert!(!matches!(plain.0, Action::Drop(DropReason::TooShort | DropReason::TruncatedVlan | DropReason::Oversize)));
                        if !p.src.is_multicast() && !matches!(plain.0, Action::Drop(DropReason::StaticMove | DropReason::VlanIngress)) {
                            let vlan = match p.tag { Some(t) if t.vid != 0 => t.vid, _ => 1 };
                            let k = fdb_key(vlan, p.src);
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
        /// to repeats: every source the single decisions learn is offered,
        /// and nothing else.
        #[test]
        fn burst_decision_equals_per_frame(
            // A few distinct frames (some tagged, some short or long); the
            // burst picks among them so that repeats are common.
            pool in frame_pool(),
            picks in proptest::collection::vec(0usize..7, 1..MAX_BURST_TEST),
            max in 14usize..70,
            port in 0u16..3,
        ) {
            let t = PortTable::simple(3, max);
            let v = view(&[(1, mac(2), 2, false), (1, mac(1), 0, false), (5, mac(2), 1, true), (7, mac(3), 0, false)]);
            let frames = build_frames(&pool);
            let burst: Vec<&[u8]> = picks.iter().map(|&i| frames[i % frames.len()].as_slice()).collect();
            let headers: Vec<Header> = burst.iter().map(|f| Header::load(f)).collect();
            let mut actions = vec![Action::Punt; burst.len()];
            let mut learned = Vec::new();
            let mut flows = FlowCache::new(1000);
            let uniform = decide_burst(headers.iter().copied(), port, &t, &v, &mut flows, 0, &mut actions, |l| learned.push(l));

            let single: Vec<(Action, Learn)> = burst.iter().map(|f| decide(f, port, &t, &v)).collect();
            let expect: Vec<Action> = single.iter().map(|x| x.0).collect();
            prop_assert_eq!(&actions, &expect);
            let want: std::collections::BTreeSet<String> = single.iter().map(|x| format!("{:?}", x.1)).collect();
            let got: std::collections::BTreeSet<String> = learned.iter().map(|l| format!("{l:?}")).collect();
            prop_assert_eq!(got, want);
            let all_same = expect.iter().all(|a| *a == expect[0]);
            prop_assert_eq!(uniform, all_same.then_some(expect[0]));
        }

        /// Over many bursts, with FDB changes and time passing in between,
        /// the flow cache never changes a decision; a known source is
        /// offered for refresh again once the cache's time-to-live passes.
        #[test]
        fn flow_cache_follows_fdb_changes_and_time(
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
            let t = PortTable::simple(3, max);
            let mut v = view(&[(1, mac(2), 2, false), (1, mac(1), 0, false), (5, mac(2), 1, true)]);
            let frames = build_frames(&pool);
            let mut flows = FlowCache::with_slots(slots, 1000);
            let mut now = 0u32;
            for (picks, port, change, dt) in rounds {
                if let Some((vlan, m, p, remove)) = change {
                    let key = fdb_key(vlan, mac(m));
                    v.absorb(&if remove { FdbOp::Remove(key) } else { FdbOp::Set(key, ViewEntry::new(p, false)) });
                }
                now = now.wrapping_add(dt);
                let burst: Vec<&[u8]> = picks.iter().map(|&i| frames[i % frames.len()].as_slice()).collect();
                let mut actions = vec![Action::Punt; burst.len()];
                let mut learned = Vec::new();
                decide_burst(burst.iter().map(|f| Header::load(f)), port, &t, &v, &mut flows, now, &mut actions, |l| learned.push(l));
                let single: Vec<(Action, Learn)> = burst.iter().map(|f| decide(f, port, &t, &v)).collect();
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
            let port = 0;
            let burst: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
            let mut actions = vec![Action::Punt; burst.len()];
            let mut learned = Vec::new();
            decide_burst(burst.iter().map(|f| Header::load(f)), port, &t, &v, &mut flows, now, &mut actions, |l| learned.push(l));
            for f in &burst {
                let l = decide(f, port, &t, &v).1;
                if let Learn::Known(_) = l {
                    prop_assert!(learned.contains(&l));
                }
            }
        }
    }

    type Pool = Vec<(u8, u8, Option<u16>, usize, u8)>;

    fn frame_pool() -> impl Strategy<Value = Pool> {
        // Few addresses, so that frames differing in one field only (the
        // destination, or the VLAN) are common.
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
