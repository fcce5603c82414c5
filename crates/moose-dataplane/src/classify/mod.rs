//! Classification: a classifier per port role decides a whole burst into
//! [`Action`]s.
//!
//! The worker does not know the roles: each of its rx queues holds the
//! [`Classifier`] of its port's role, taken once from [`for_role`] when
//! the worker is built (grout's "input mode" registration), so there is no
//! per-packet branch on the role, nor a per-burst one.
//!
//! What all roles share lives here: [`decide_cached`] loads every frame's
//! [`Header`] once, lets a frame reuse the decision of the frame before it
//! when their headers match (a burst is mostly runs of one flow, as VPP's
//! L2 nodes exploit), and otherwise consults the worker's [`FlowCache`]
//! before calling the role's per-frame decision. Cached decisions are valid
//! only under the same generations of the tables the role reads
//! ([`TableSet::generation`]) and for a time-to-live.

pub mod legacy;
pub mod moose;

use moose_config::Role;
use moose_wire::ethernet::TAGGED_HEADER_LEN;
use moose_wire::{ExactKey, Header, PortId};

use crate::action::{Action, To};
use crate::tables::TableSet;
use crate::worker::MAX_BURST;

/// Learning to do for a frame's source, decided with its action.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Learn {
    /// Known on this port: maybe refresh its age.
    Known(ExactKey),
    /// Unknown, or known on another port: ask the control thread.
    Request(ExactKey),
    None,
}

/// The learn events of a burst, in order (at most one per decided frame).
pub struct Learns {
    buf: [Learn; MAX_BURST],
    n: usize,
}

impl Default for Learns {
    fn default() -> Self {
        Learns {
            buf: [Learn::None; MAX_BURST],
            n: 0,
        }
    }
}

impl Learns {
    #[inline]
    fn push(&mut self, l: Learn) {
        if l != Learn::None && self.n < MAX_BURST {
            self.buf[self.n] = l;
            self.n += 1;
        }
    }

    pub fn clear(&mut self) {
        self.n = 0;
    }

    pub fn as_slice(&self) -> &[Learn] {
        &self.buf[..self.n]
    }
}

/// One burst being classified: the inputs a classifier reads and the
/// arrays it fills.
pub struct Burst<'a> {
    pub tables: &'a TableSet,
    pub port: PortId,
    pub now_ms: u32,
    pub flows: &'a mut FlowCache,
    /// `actions[i]` for frame `i`.
    pub actions: &'a mut [Action],
    pub learns: &'a mut Learns,
    /// Send ARP, ND and DHCP frames of ELK ports to the `directory` class
    /// (false for frames the `elk` service passed back to be delivered).
    pub elk: bool,
}

/// What a classifier reports about the burst besides the actions.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The action of every frame, when they all have the same one; then
    /// only the first slot of the burst's action array was written.
    pub uniform: Option<Action>,
    /// Bytes received.
    pub rx_bytes: u64,
    /// The longest frame's length. The mover compares it with an egress
    /// port's untagged limit ([`PortFacts::tx_max`](crate::tables::PortFacts))
    /// to move a uniform burst at once; a burst with a longer frame goes
    /// frame by frame, where a tagged frame gets its 4 bytes more.
    pub max_len: u16,
    /// Some action is a [`To::Group`] (to resolve by flow hash).
    pub groups: bool,
}

/// 01:80:c2:00:00:00 – 01:80:c2:00:00:0f (little-endian address bits):
/// never forwarded by a bridge.
#[inline]
pub(crate) fn is_reserved(dst_le: u64) -> bool {
    dst_le & !(0xf << 40) == 0x0000_00c2_8001
}

/// [`moose_wire::proto::HOME_GROUP`] as little-endian address bits.
pub(crate) const HOME_GROUP_LE: u64 = {
    let b = moose_wire::proto::HOME_GROUP.0;
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], 0, 0])
};

/// What a frame is to the `elk` service.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DirectoryKind {
    /// Neither of the others.
    None,
    /// ARP, or an IPv6 neighbour solicitation or advertisement.
    Neighbour,
    /// DHCPv4, or a DHCPv6 message to a client (UDP port 546).
    Dhcp,
}

/// Whether the `elk` service takes a frame: ARP, an IPv6 neighbour
/// solicitation or advertisement (no extension headers: ND has none),
/// DHCPv4 (UDP to port 67 or 68, not a fragment), or DHCPv6 to a client
/// (UDP to port 546: the server's replies, snooped).
#[inline]
pub fn is_directory_frame(frame: &[u8], h: &Header) -> bool {
    directory_kind(frame, h) != DirectoryKind::None
}

/// [`is_directory_frame`], and which kind. Reads at most the first 58
/// octets, which the header load brought into the cache.
#[inline]
pub fn directory_kind(frame: &[u8], h: &Header) -> DirectoryKind {
    let at = h.header_len();
    let ty = if h.is_tagged() {
        match frame.get(16..18) {
            Some(b) => u16::from_be_bytes([b[0], b[1]]),
            None => return DirectoryKind::None,
        }
    } else {
        h.tpid()
    };
    let yes = |b: bool, k: DirectoryKind| if b { k } else { DirectoryKind::None };
    match ty {
        0x0806 => DirectoryKind::Neighbour,
        0x86dd => match frame.get(at + 6) {
            Some(58) => yes(
                frame.len() > at + 40 && matches!(frame[at + 40], 135 | 136),
                DirectoryKind::Neighbour,
            ),
            // UDP straight after the fixed header (a server's DHCPv6
            // messages carry no extension headers), to the client port.
            Some(17) => match frame.get(at + 42..at + 44) {
                Some(p) => yes(u16::from_be_bytes([p[0], p[1]]) == 546, DirectoryKind::Dhcp),
                None => DirectoryKind::None,
            },
            _ => DirectoryKind::None,
        },
        0x0800 => {
            let Some(ip) = frame.get(at..at + 20) else {
                return DirectoryKind::None;
            };
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let not_fragment = ip[6] & 0x1f == 0 && ip[7] == 0;
            if ip[9] != 17 || !not_fragment || ihl < 20 {
                return DirectoryKind::None;
            }
            match frame.get(at + ihl + 2..at + ihl + 4) {
                Some(p) => yes(
                    matches!(u16::from_be_bytes([p[0], p[1]]), 67 | 68),
                    DirectoryKind::Dhcp,
                ),
                None => DirectoryKind::None,
            }
        }
        _ => DirectoryKind::None,
    }
}

/// The action of a frame the `elk` service takes instead of `a`: only
/// frames that would be delivered (or are for the switch itself) are
/// taken, never drops or other punts; and only on the port's ELK VLANs.
///
/// From a fabric port, broadcast and multicast ARP and ND (gratuitous ARP,
/// unsolicited advertisements, requests flooded on a miss) are not taken:
/// what they tell reaches the service as flooded bindings, and a detour
/// through the slow path would let the sender's next frames overtake them
/// (a peer would answer a host that just moved at its old address before
/// the gratuitous ARP told it the new one). DHCP is taken from anywhere
/// (acknowledgements to snoop arrive broadcast from the fabric).
#[inline]
fn to_directory(a: Action, frame: &[u8], h: &Header, port: PortId, t: &TableSet) -> bool {
    let delivered = match a.to() {
        To::Port(_) | To::Group(_) | To::Flood { .. } => true,
        To::Punt(c) => c == moose_config::PuntClass::Protocol,
        To::Drop(_) => false,
    };
    if !delivered {
        return false;
    }
    match directory_kind(frame, h) {
        DirectoryKind::None => return false,
        DirectoryKind::Neighbour if h.dst_is_group() && t.ports.fabric & port.bit() != 0 => {
            return false
        }
        _ => {}
    }
    let vid = h.vid();
    let vlan = if vid != 0 { vid } else { t.ports.pvid(port) };
    t.ports.elk_vlans.contains(vlan)
}

/// A role's burst classifier.
pub type Classifier<F> = fn(&mut Burst<'_>, &[F]) -> Summary;

/// The classifier of a port role.
pub fn for_role<F: AsRef<[u8]>>(role: Role) -> Classifier<F> {
    match role {
        Role::Legacy => legacy::classify::<F>,
        Role::Edge => moose::classify_edge::<F>,
        Role::Fabric => moose::classify_fabric::<F>,
    }
}

/// The punt class of a role's learn requests: the FDB's for legacy ports,
/// the hosts service's refreshes for edge ports.
pub fn learn_class(role: Role) -> moose_config::PuntClass {
    match role {
        Role::Legacy => moose_config::PuntClass::Learn,
        Role::Edge | Role::Fabric => moose_config::PuntClass::Host,
    }
}

/// Slots in a [`FlowCache`] (a power of two): `[dataplane] flow_cache`'s
/// default. 16384 slots of one 64-byte cache line are 1 MiB a worker,
/// within a server core's L2, and hold 4096 flows with few sets
/// overflowing (with 256 slots nearly every frame of 4096 round-robin
/// flows missed: 489 → 217 instructions a packet beyond rx/tx for the
/// bridge, 756 → 460 for the MOOSE edge, callgrind, perf/RESULTS.md). A
/// burst of few flows touches as few lines as before.
pub const FLOW_CACHE: usize = 16384;

/// A [`Flow::tag`] no frame has (port 0xffff does not exist): an empty
/// slot.
const EMPTY_TAG: u64 = u64::MAX;

/// One remembered decision, one cache line: the header words and the
/// ingress port it was made for, the table generation it was made under,
/// when, and the action.
#[derive(Copy, Clone)]
#[repr(C, align(64))]
struct Flow {
    w0: u64,
    w1: u64,
    /// Octets 14..16 in bits 0..16, the ingress port in 16..32, the low 32
    /// bits of the generation in 32..64 (a cached entry lives for a
    /// time-to-live of at most a minute, far less than 2³² table changes
    /// take): one word compare for the three. [`EMPTY_TAG`] if unused.
    tag: u64,
    at_ms: u32,
    action: Action,
}

impl Flow {
    const EMPTY: Flow = Flow {
        w0: 0,
        w1: 0,
        tag: EMPTY_TAG,
        at_ms: 0,
        action: Action::drop(crate::counters::DropReason::TooShort),
    };
}

/// The bits of a [`Flow::tag`] that name the flow (octets 14..16 and the
/// port), without the generation.
const FLOW_BITS: u64 = 0xffff_ffff;

/// A worker's memory of recent decisions, two-way set-associative by
/// header and ingress port (the idea of OVS's exact-match cache; two ways
/// so that two flows hashing alike do not evict each other on every
/// frame: a miss replaces the way decided longer ago). A frame whose
/// header words (addresses, TPID, and octets 14..16, whether a tag or
/// not), ingress port and in-range length match an entry gets its action
/// without lookups, as long as the tables its role reads have not changed
/// since (same generation) and the entry is younger than `ttl_ms`.
///
/// Only decisions whose learning is [`Learn::Known`] or [`Learn::None`] are
/// remembered; a hit skips learning, so `ttl_ms` is the refresh interval
/// of known sources: an expired entry is decided again and its source
/// offered for refresh. Unknown or moved sources are never remembered.
pub struct FlowCache {
    sets: Box<[[Flow; 2]]>,
    /// 64 − log₂(sets) (at most 63): the set is the product's top bits.
    shift: u32,
    /// `sets.len() - 1`.
    mask: usize,
    ttl_ms: u32,
}

impl FlowCache {
    /// A cache of [`FLOW_CACHE`] slots.
    pub fn new(ttl_ms: u32) -> FlowCache {
        FlowCache::with_slots(FLOW_CACHE, ttl_ms)
    }

    /// A cache of `slots` slots (rounded up to a power of two, at least
    /// one set of two); tests use tiny ones so that every entry collides.
    pub fn with_slots(slots: usize, ttl_ms: u32) -> FlowCache {
        let slots = slots.max(2).next_power_of_two();
        let sets = slots / 2;
        FlowCache {
            sets: vec![[Flow::EMPTY; 2]; sets].into_boxed_slice(),
            // One set would shift by 64, which overflows: 63 and the mask
            // do.
            shift: (64 - sets.trailing_zeros()).min(63),
            mask: sets - 1,
            ttl_ms,
        }
    }

    /// The set of a frame's header words on `port`, in a cache of this
    /// `shift` and `mask`.
    #[inline]
    fn set_of(w0: u64, w1: u64, tci: u16, port: PortId, shift: u32, mask: usize) -> usize {
        let x = w0 ^ w1.rotate_left(29) ^ (u64::from(tci) << 16) ^ u64::from(port.0);
        // The top bits of the product are its best mixed.
        (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize & mask
    }
}

/// Decides a burst with the shared shortcuts: `decide` is the role's
/// per-frame decision (called only for frames that need one), `generation`
/// the generation of the tables it reads. Fills `b.learns`, and
/// `b.actions` unless every frame has the same action: then
/// [`Summary::uniform`] is it and only `b.actions[0]` was written (a
/// uniform burst, the common case, costs no per-frame stores).
///
/// * A frame whose header words equal the previous frame's (and whose
///   length is in range) gets that frame's action; its learning is the
///   previous frame's too, so nothing is added to `learns`.
/// * Otherwise a hit in the worker's [`FlowCache`].
///
/// The loop is what every frame of every role pays, so it is kept to
/// plain word operations: two 8-byte loads for the header, one word
/// compare for octets 14..16, port and generation together.
#[inline]
pub fn decide_cached<F: AsRef<[u8]>>(
    b: &mut Burst<'_>,
    frames: &[F],
    generation: u64,
    mut decide: impl FnMut(&Header) -> (Action, Learn),
) -> Summary {
    let tables = b.tables;
    let port = b.port;
    let now_ms = b.now_ms;
    let flows = &mut *b.flows;
    // The cache's geometry in locals: the loop's stores into `sets` could
    // otherwise alias them, and they would be loaded again every frame.
    let (shift, mask, ttl_ms) = (flows.shift, flows.mask, flows.ttl_ms);
    let sets = &mut flows.sets[..];
    let actions = &mut *b.actions;
    let learns = &mut *b.learns;
    // Lengths a decision may be reused for, TAGGED_HEADER_LEN..=max_frame,
    // as one wrapping compare: `len - lo <= span` (none if max_frame is
    // shorter than a tagged header: `lo` then wraps every length past
    // `span`).
    let (lo, span) = match tables.ports.max_frame.checked_sub(TAGGED_HEADER_LEN) {
        Some(span) => (TAGGED_HEADER_LEN, span),
        None => (usize::MAX, 0),
    };
    let in_range = |len: usize| len.wrapping_sub(lo) <= span;
    let burst_tag = (u64::from(generation as u32) << 32) | (u64::from(port.0) << 16);
    let elk = b.elk && tables.ports.elk & port.bit() != 0;
    let directory = Action::punt(moose_config::PuntClass::Directory);
    let mut rx_bytes = 0u64;
    let mut max_len = 0usize;
    let mut groups = false;
    let mut uniform = true;
    // The previous frame's words; `ptag` is EMPTY_TAG when its action may
    // not be reused (its length was out of range, or the directory took
    // it).
    let (mut p0, mut p1, mut ptag) = (0u64, 0u64, EMPTY_TAG);
    for (i, f) in frames.iter().enumerate() {
        let frame = f.as_ref();
        let h = Header::load(frame);
        let len = h.len();
        rx_bytes += len as u64;
        max_len = max_len.max(len);
        let (w0, w1, tci) = h.words();
        let tag = burst_tag | u64::from(tci);
        let fits = in_range(len);
        let fwd = if (w0 ^ p0) | (w1 ^ p1) | (tag ^ ptag) == 0 && fits {
            // While the burst is uniform only `actions[0]` is written.
            let prev = if uniform { 0 } else { i - 1 };
            if !elk {
                // Same action as the previous frame: `uniform` stands.
                if !uniform {
                    actions[i] = actions[prev];
                }
                continue;
            }
            actions[prev]
        } else {
            let set = &mut sets[FlowCache::set_of(w0, w1, tci, port, shift, mask)];
            let hit = |e: &Flow| {
                (e.w0 ^ w0) | (e.w1 ^ w1) | (e.tag ^ tag) == 0
                    && now_ms.wrapping_sub(e.at_ms) < ttl_ms
            };
            let a = if fits && hit(&set[0]) {
                set[0].action
            } else if fits && hit(&set[1]) {
                set[1].action
            } else {
                miss(&mut decide, h, set, learns, fits, tag, now_ms)
            };
            (p0, p1, ptag) = (w0, w1, if fits { tag } else { EMPTY_TAG });
            a
        };
        // The cached decision stays the forwarding one: the next frame of
        // the flow may be no ARP.
        let action = if elk && to_directory(fwd, frame, &h, port, tables) {
            ptag = EMPTY_TAG;
            directory
        } else {
            fwd
        };
        groups |= action.is_group();
        if !uniform {
            actions[i] = action;
        } else if i == 0 {
            actions[0] = action;
        } else if !action.same(&actions[0]) {
            // The first frame with another action: the ones before it get
            // the first frame's, written now.
            let first = actions[0];
            actions[1..i].fill(first);
            actions[i] = action;
            uniform = false;
        }
    }
    Summary {
        uniform: (uniform && !frames.is_empty()).then(|| actions[0]),
        rx_bytes,
        max_len: max_len.min(usize::from(u16::MAX)) as u16,
        groups,
    }
}

/// A frame the flow cache does not answer: the role decides, its learning
/// is noted, and the decision is remembered if it may be reused (`fits`:
/// its length is in range; its source is not to be learnt). Inlined: out
/// of line it saved a few instructions a frame but cost 30 % with every
/// frame missing (16,384 flows in 1,024 slots, 92 → 121 ns a frame; at
/// 1,000,000 flows 0.70 of the build before). Why is not pinned down:
/// cachegrind's simulated cache misses and mispredictions of the two
/// builds were alike once the lookups were inlined into it.
#[inline]
fn miss(
    decide: &mut impl FnMut(&Header) -> (Action, Learn),
    h: Header,
    set: &mut [Flow; 2],
    learns: &mut Learns,
    fits: bool,
    tag: u64,
    now_ms: u32,
) -> Action {
    let (a, learn) = decide(&h);
    learns.push(learn);
    if fits && !matches!(learn, Learn::Request(_)) {
        let (w0, w1, _) = h.words();
        set[replace_way(set, w0, w1, tag, now_ms)] = Flow {
            w0,
            w1,
            tag,
            at_ms: now_ms,
            action: a,
        };
    }
    a
}

/// The way of `set` a new decision for the flow replaces: the flow's own
/// stale entry, an empty one, else the one decided longer ago.
#[inline]
fn replace_way(set: &[Flow; 2], w0: u64, w1: u64, tag: u64, now_ms: u32) -> usize {
    let own = |e: &Flow| e.w0 == w0 && e.w1 == w1 && e.tag & FLOW_BITS == tag & FLOW_BITS;
    if own(&set[0]) {
        0
    } else if own(&set[1]) {
        1
    } else if set[0].tag == EMPTY_TAG {
        0
    } else if set[1].tag == EMPTY_TAG {
        1
    } else {
        usize::from(now_ms.wrapping_sub(set[1].at_ms) > now_ms.wrapping_sub(set[0].at_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Rewrite;
    use crate::counters::DropReason;
    use crate::tables::{FloodSets, PortTable};

    /// Port 0 an edge port, port 1 a fabric port, both ELK ports of VLAN 1.
    fn tables() -> TableSet {
        let mut p = PortTable::simple(2, 1522);
        p.legacy = 0;
        p.edge = 0b01;
        p.fabric = 0b10;
        p.elk = 0b11;
        p.elk_vlans.insert(1);
        TableSet::new(p, FloodSets::simple(2))
    }

    fn eth(dst: [u8; 6], ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&[2, 0, 0, 0, 0, 9]);
        f.extend_from_slice(&ty.to_be_bytes());
        f.extend_from_slice(payload);
        f.resize(f.len().max(60), 0);
        f
    }

    fn dhcp(dst: [u8; 6]) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&[10, 0, 0, 1, 255, 255, 255, 255]);
        ip.extend_from_slice(&[0, 67, 0, 68, 0, 8, 0, 0]);
        eth(dst, 0x0800, &ip)
    }

    fn dhcp6(dst: [u8; 6], port: u16) -> Vec<u8> {
        let mut ip = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
        ip.extend_from_slice(&[0; 32]);
        ip.extend_from_slice(&547u16.to_be_bytes());
        ip.extend_from_slice(&port.to_be_bytes());
        ip.extend_from_slice(&[0, 8, 0, 0]);
        eth(dst, 0x86dd, &ip)
    }

    const BCAST: [u8; 6] = [0xff; 6];
    const UNI: [u8; 6] = [2, 0, 0, 0, 0, 1];

    #[test]
    fn elk_takes_neighbour_frames_at_the_edge_and_only_unicast_ones_from_the_fabric() {
        let t = tables();
        let flood = Action::flood(0b10, false);
        let fwd = Action::new(To::Port(PortId(0)), Rewrite::NONE);
        let arp = |d| eth(d, 0x0806, &[0; 28]);
        let cases = [
            (arp(BCAST), 0, flood, true, "a broadcast ARP at the edge"),
            (arp(UNI), 0, fwd, true, "a unicast ARP at the edge"),
            (
                arp(BCAST),
                1,
                flood,
                false,
                "a gratuitous ARP from the fabric",
            ),
            (arp(UNI), 1, fwd, true, "an ARP reply from the fabric"),
            (
                dhcp(BCAST),
                1,
                flood,
                true,
                "a broadcast DHCP ack from the fabric",
            ),
            (dhcp(BCAST), 0, flood, true, "a DHCP discover at the edge"),
            (
                dhcp6(UNI, 546),
                1,
                fwd,
                true,
                "a DHCPv6 reply from the fabric",
            ),
            (
                dhcp6(UNI, 547),
                0,
                fwd,
                false,
                "a DHCPv6 request (not snooped)",
            ),
            (eth(UNI, 0x0800, &[0x45; 28]), 0, fwd, false, "plain IPv4"),
            (
                arp(BCAST),
                0,
                Action::drop(DropReason::NoFloodPort),
                false,
                "an ARP that is dropped",
            ),
        ];
        for (f, port, a, want, what) in cases {
            let h = Header::load(&f);
            assert_eq!(to_directory(a, &f, &h, PortId(port), &t), want, "{what}");
        }
        // Not an ELK VLAN: never.
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 9, 0x81, 0, 0, 7, 8, 6]);
        f.resize(60, 0);
        let h = Header::load(&f);
        assert!(!to_directory(flood, &f, &h, PortId(0), &t), "VLAN 7");
    }
}
