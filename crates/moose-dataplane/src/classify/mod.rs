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
    /// the burst's action array was not written.
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

/// Whether the `elk` service takes a frame: ARP, an IPv6 neighbour
/// solicitation or advertisement (no extension headers: ND has none), or
/// DHCPv4 (UDP to port 67 or 68, not a fragment). Reads at most the first
/// 58 octets, which the header load brought into the cache.
#[inline]
pub fn is_directory_frame(frame: &[u8], h: &Header) -> bool {
    let at = h.header_len();
    let ty = if h.is_tagged() {
        match frame.get(16..18) {
            Some(b) => u16::from_be_bytes([b[0], b[1]]),
            None => return false,
        }
    } else {
        h.tpid()
    };
    match ty {
        0x0806 => true,
        0x86dd => {
            frame.len() > at + 40 && frame[at + 6] == 58 && matches!(frame[at + 40], 135 | 136)
        }
        0x0800 => {
            let Some(ip) = frame.get(at..at + 20) else {
                return false;
            };
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let not_fragment = ip[6] & 0x1f == 0 && ip[7] == 0;
            if ip[9] != 17 || !not_fragment || ihl < 20 {
                return false;
            }
            match frame.get(at + ihl + 2..at + ihl + 4) {
                Some(p) => matches!(u16::from_be_bytes([p[0], p[1]]), 67 | 68),
                None => false,
            }
        }
        _ => false,
    }
}

/// The action of a frame the `elk` service takes instead of `a`: only
/// frames that would be delivered (or are for the switch itself) are
/// taken, never drops or other punts; and only on the port's ELK VLANs.
#[inline]
fn to_directory(a: Action, frame: &[u8], h: &Header, port: PortId, t: &TableSet) -> bool {
    let delivered = match a.to() {
        To::Port(_) | To::Group(_) | To::Flood { .. } => true,
        To::Punt(c) => c == moose_config::PuntClass::Protocol,
        To::Drop(_) => false,
    };
    if !delivered || !is_directory_frame(frame, h) {
        return false;
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

/// Slots in a [`FlowCache`] (a power of two).
pub const FLOW_CACHE: usize = 256;

/// One remembered decision: the header words and ingress port it was made
/// for, the table generation it was made under, when, and the action.
#[derive(Copy, Clone)]
struct Flow {
    w0: u64,
    w1: u64,
    generation: u64,
    action: Action,
    tci: u16,
    port: PortId,
    at_ms: u32,
}

/// A worker's memory of recent decisions, direct-mapped by header and
/// ingress port (the idea of OVS's exact-match cache). A frame whose
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
    flows: Box<[Option<Flow>]>,
    /// 64 − log₂(slots) (at most 63): the slot is the product's top bits.
    shift: u32,
    /// `flows.len() - 1`.
    mask: usize,
    ttl_ms: u32,
}

impl FlowCache {
    /// A cache of [`FLOW_CACHE`] slots.
    pub fn new(ttl_ms: u32) -> FlowCache {
        FlowCache::with_slots(FLOW_CACHE, ttl_ms)
    }

    /// A cache of `slots` slots (rounded up to a power of two); tests use
    /// tiny ones so that every entry collides.
    pub fn with_slots(slots: usize, ttl_ms: u32) -> FlowCache {
        let slots = slots.max(1).next_power_of_two();
        FlowCache {
            flows: vec![None; slots].into_boxed_slice(),
            // One slot would shift by 64, which overflows: 63 and the
            // mask do.
            shift: (64 - slots.trailing_zeros()).min(63),
            mask: slots - 1,
            ttl_ms,
        }
    }

    #[inline]
    fn slot(&self, h: &Header, port: PortId) -> usize {
        let (w0, w1, tci) = h.words();
        let x = w0 ^ w1.rotate_left(29) ^ (u64::from(tci) << 16) ^ u64::from(port.0);
        // The top bits of the product are its best mixed.
        (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize & self.mask
    }
}

/// Decides a burst with the shared shortcuts: `decide` is the role's
/// per-frame decision (called only for frames that need one), `generation`
/// the generation of the tables it reads. Fills `b.learns`, and
/// `b.actions` unless every frame has the same action: then
/// [`Summary::uniform`] is it and `b.actions` is left as it was (a uniform
/// burst, the common case, costs no per-frame stores).
///
/// * A frame whose addresses, TPID and (if tagged) VLAN equal the previous
///   decided frame's, and whose length is in range, gets that frame's
///   action; its learning is the previous frame's too, so nothing is added
///   to `learns`.
/// * Otherwise a hit in the worker's [`FlowCache`].
#[inline]
pub fn decide_cached<F: AsRef<[u8]>>(
    b: &mut Burst<'_>,
    frames: &[F],
    generation: u64,
    mut decide: impl FnMut(&Header) -> (Action, Learn),
) -> Summary {
    let max_frame = b.tables.ports.max_frame;
    let in_range = |len: usize| (TAGGED_HEADER_LEN..=max_frame).contains(&len);
    let port = b.port;
    let now_ms = b.now_ms;
    let ttl_ms = b.flows.ttl_ms;
    let mut s = Summary::default();
    // The previous decided frame: its words, the tci bits that matter
    // (0 if untagged) and its action; valid only if its length was in range.
    let mut prev: Option<(u64, u64, u16, u16, Action)> = None;
    let mut uniform: Option<Action> = None;
    // Whether `actions[..i]` hold the frames' actions: not while every
    // frame so far has the same one (a uniform burst writes none).
    let mut written = false;
    let mut max_len = 0usize;
    let actions = &mut *b.actions;
    let tables = b.tables;
    let elk = b.elk && tables.ports.elk & port.bit() != 0;
    let directory = Action::punt(moose_config::PuntClass::Directory);
    'frames: for (i, f) in frames.iter().enumerate() {
        let h = Header::load(f.as_ref());
        let len = h.len();
        s.rx_bytes += len as u64;
        max_len = max_len.max(len);
        let (w0, w1, tci) = h.words();
        let action = 'decided: {
            if let Some((p0, p1, mask, ptci, a)) = prev {
                if w0 == p0 && w1 == p1 && tci & mask == ptci && in_range(len) {
                    if elk && to_directory(a, f.as_ref(), &h, port, tables) {
                        break 'decided directory;
                    }
                    // Same action as the previous frame: `uniform` stands.
                    if written {
                        actions[i] = a;
                    }
                    continue 'frames;
                }
            }
            let at = b.flows.slot(&h, port);
            let entry = &mut b.flows.flows[at];
            let action = match *entry {
                Some(e)
                    if e.w0 == w0
                        && e.w1 == w1
                        && e.tci == tci
                        && e.port == port
                        && e.generation == generation
                        && now_ms.wrapping_sub(e.at_ms) < ttl_ms
                        && in_range(len) =>
                {
                    e.action
                }
                _ => {
                    let (action, learn) = decide(&h);
                    b.learns.push(learn);
                    if in_range(len) && !matches!(learn, Learn::Request(_)) {
                        *entry = Some(Flow {
                            w0,
                            w1,
                            generation,
                            action,
                            tci,
                            port,
                            at_ms: now_ms,
                        });
                    }
                    action
                }
            };
            let mask = if h.is_tagged() { 0x0fff } else { 0 };
            prev = in_range(len).then_some((w0, w1, mask, tci & mask, action));
            // The cached and the remembered decision stay the forwarding one:
            // the next frame of the flow may be no ARP.
            if elk && to_directory(action, f.as_ref(), &h, port, tables) {
                directory
            } else {
                action
            }
        };
        s.groups |= action.is_group();
        if !written {
            match uniform {
                None => uniform = Some(action),
                Some(u) if u == action => {}
                Some(u) => {
                    actions[..i].fill(u);
                    written = true;
                }
            }
        }
        if written {
            actions[i] = action;
        }
    }
    s.uniform = if written { None } else { uniform };
    s.max_len = max_len.min(usize::from(u16::MAX)) as u16;
    s
}
