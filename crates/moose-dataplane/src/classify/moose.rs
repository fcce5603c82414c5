//! The MOOSE roles: `edge` (ports to hosts, whose addresses are translated
//! in place) and `fabric` (links to other moose switches, which carry
//! translated frames unchanged).
//!
//! Both decide from the frame's [`Header`], the ingress port and the
//! published tables:
//!
//! * **Edge, from a host.** Every source is translated — also one that
//!   looks like a MOOSE address: a host is never trusted. The translation
//!   key is (VLAN, real MAC); an unknown host, or a known one on another
//!   port (it moved), is punted to the `hosts` service (class `host`),
//!   which allocates its address and re-injects the frame. The source
//!   becomes the host's MOOSE address, and so do the payload fields that
//!   carried the real one (ARP sender, ND link-layer options, DHCP
//!   `chaddr`).
//! * **To a host of this switch** (the destination is under the switch's
//!   own prefix, from either role): the destination is restored to the
//!   host's real MAC, with the payload fields that carried its MOOSE
//!   address (ARP target, ND options, DHCP `chaddr`); a destination with no
//!   host is dropped (`no_host`).
//! * **Elsewhere:** the longest matching MAC route gives a port or an ECMP
//!   group; none is `no_route`.
//! * **Broadcast and multicast** go to every other port of the VLAN —
//!   edge and legacy, and the fabric ports on the broadcast tree
//!   (`FloodSets::tree`, kept by the routing service) — translated; one
//!   from a fabric port off the tree is dropped (`off_tree`).
//!
//! A fabric port drops frames whose source is under the switch's own
//! prefix (`own_prefix`): only a loop brings them back.
//!
//! On both roles the 802.1D reserved group addresses go to the `reserved`
//! service and home hellos ([`moose_wire::proto`]) to the `protocol`
//! class, never to the VLAN. An edge (or legacy) port on a segment whose
//! home is another port (`PortTable::foreign`) translates nothing: its
//! hosts' frames are dropped (`not_home`) and floods skip it.

use moose_config::PuntClass;
use moose_tables::lpm::NO_ROUTE;
use moose_wire::ethernet::FrameError;
use moose_wire::{ExactKey, Header, PortId, PrefixKey};

use super::{decide_cached, is_reserved, Burst, Learn, Summary, HOME_GROUP_LE};
use crate::action::{Action, GroupId, Rewrite, RewriteOps, To};
use crate::counters::DropReason;
use crate::tables::{NextHop, Table, TableMask, TableSet};

/// The tables a MOOSE decision reads.
pub const TABLES: TableMask = TableMask::of(&[
    Table::Ports,
    Table::Flood,
    Table::Xlate,
    Table::Fib,
    Table::Groups,
]);

const MAC_BITS: u64 = (1 << 48) - 1;

fn frame_error(e: FrameError) -> DropReason {
    match e {
        FrameError::TooShort => DropReason::TooShort,
        FrameError::TruncatedVlan => DropReason::TruncatedVlan,
        FrameError::Oversize => DropReason::Oversize,
    }
}

/// The checks every role makes after the length and control groups:
/// source, VLAN membership.
/// `Ok(vlan, members)` — the VLAN's ports less those on segments homed
/// elsewhere and the fabric ports off the broadcast tree — or the drop.
#[inline]
fn admit(h: &Header, port: PortId, t: &TableSet) -> Result<(u16, u64), DropReason> {
    let src = h.src_le();
    if src & 1 != 0 {
        return Err(DropReason::SrcMulticast);
    }
    if src == 0 {
        return Err(DropReason::SrcZero);
    }
    let vid = h.vid();
    let vlan = if vid != 0 { vid } else { t.ports.pvid(port) };
    let members = t.flood.vlan(vlan);
    if members & port.bit() == 0 {
        return Err(DropReason::VlanIngress);
    }
    Ok((vlan, members & !t.ports.foreign & t.flood.tree))
}

/// A malformed frame's drop, or the punt of a frame for the slow path
/// rather than the VLAN: the 802.1D reserved range (class `reserved`) and
/// home hellos (class `protocol`), whatever VLAN they came in on.
#[inline]
fn first_checks(h: &Header, t: &TableSet) -> Option<Action> {
    if let Err(e) = h.check(t.ports.max_frame) {
        return Some(Action::drop(frame_error(e)));
    }
    if !h.dst_is_group() {
        return None;
    }
    let dst_le = h.dst_le();
    if is_reserved(dst_le) {
        Some(Action::punt(PuntClass::Reserved))
    } else if dst_le == HOME_GROUP_LE {
        Some(Action::punt(PuntClass::Protocol))
    } else {
        None
    }
}

/// Where a unicast destination goes, and the destination rewrite if it is
/// a local host.
#[inline]
pub(super) fn unicast(
    dst: u64,
    vlan: u16,
    port: PortId,
    t: &TableSet,
) -> Result<(To, Option<u64>), DropReason> {
    if t.ports.directory == Some(dst) {
        return Ok((To::Punt(PuntClass::Protocol), None));
    }
    let local = t.ports.local.is_some_and(|l| l.contains(dst));
    if local {
        if t.ports.local.is_some_and(|l| l.prefix == dst) {
            // The switch's own address (host id 0): directory answers,
            // probe replies (taken by ELK on the way).
            return Ok((To::Punt(PuntClass::Protocol), None));
        }
        let Some(v) = t.xlate.to_real.get(ExactKey::from_le48(vlan, dst).raw()) else {
            return Err(DropReason::NoHost);
        };
        let (real, p) = moose_tables::xlate::unpack_real(v);
        let p = PortId(p);
        if p == port {
            return Err(DropReason::SamePort);
        }
        return Ok((To::Port(p), Some(real)));
    }
    match t.fib.lookup_raw(PrefixKey::from_le48(dst).raw()) {
        NO_ROUTE => Err(DropReason::NoRoute),
        v => match NextHop::decode(v) {
            NextHop::Port(p) if p == port => Err(DropReason::SamePort),
            NextHop::Port(p) => Ok((To::Port(p), None)),
            NextHop::Group(g) => Ok((To::Group(GroupId(g.0)), None)),
        },
    }
}

/// Decides one frame received on an edge port.
#[inline]
pub fn decide_edge(h: &Header, port: PortId, t: &TableSet) -> (Action, Learn) {
    if let Some(a) = first_checks(h, t) {
        return (a, Learn::None);
    }
    let (vlan, members) = match admit(h, port, t) {
        Ok(v) => v,
        Err(r) => return (Action::drop(r), Learn::None),
    };
    if t.ports.foreign & port.bit() != 0 {
        return (Action::drop(DropReason::NotHome), Learn::None);
    }
    let key = ExactKey::from_le48(vlan, h.src_le());
    let moose = match t.xlate.to_moose.get(key.raw()) {
        Some(v) if moose_tables::xlate::unpack_real(v).1 == port.0 => v & MAC_BITS,
        // Unknown, or known on another port (moved): the hosts service
        // decides; the frame is re-injected once it has.
        _ => return (Action::punt(PuntClass::Host), Learn::None),
    };
    let learn = Learn::Known(key);
    let mut rw = Rewrite {
        ops: RewriteOps::SRC | RewriteOps::PAYLOAD,
        src: moose,
        dst: 0,
    };
    if h.dst_is_group() {
        let others = members & !port.bit();
        if others == 0 {
            return (Action::drop(DropReason::NoFloodPort), learn);
        }
        return (
            Action::new(
                To::Flood {
                    mask: others,
                    unknown: false,
                    plain: 0,
                },
                rw,
            ),
            learn,
        );
    }
    match unicast(h.dst_le(), vlan, port, t) {
        Ok((to, real)) => {
            if let Some(real) = real {
                rw.ops = rw.ops | RewriteOps::DST;
                rw.dst = real;
            }
            (Action::new(to, rw), learn)
        }
        Err(r) => (Action::drop(r), learn),
    }
}

/// Decides one frame received on a fabric port.
#[inline]
pub fn decide_fabric(h: &Header, port: PortId, t: &TableSet) -> (Action, Learn) {
    if let Some(a) = first_checks(h, t) {
        return (a, Learn::None);
    }
    let (vlan, members) = match admit(h, port, t) {
        Ok(v) => v,
        Err(r) => return (Action::drop(r), Learn::None),
    };
    if t.ports.local.is_some_and(|l| l.contains(h.src_le())) {
        return (Action::drop(DropReason::OwnPrefix), Learn::None);
    }
    if h.dst_is_group() {
        if t.flood.tree & port.bit() == 0 {
            return (Action::drop(DropReason::OffTree), Learn::None);
        }
        let others = members & !port.bit();
        if others == 0 {
            return (Action::drop(DropReason::NoFloodPort), Learn::None);
        }
        return (Action::flood(others, false), Learn::None);
    }
    match unicast(h.dst_le(), vlan, port, t) {
        Ok((to, Some(real))) => (
            Action::new(
                to,
                Rewrite {
                    ops: RewriteOps::DST | RewriteOps::PAYLOAD,
                    src: 0,
                    dst: real,
                },
            ),
            Learn::None,
        ),
        Ok((to, None)) => (Action::new(to, Rewrite::NONE), Learn::None),
        Err(r) => (Action::drop(r), Learn::None),
    }
}

/// The edge role's [`Classifier`](super::Classifier).
pub fn classify_edge<F: AsRef<[u8]>>(b: &mut Burst<'_>, frames: &[F]) -> Summary {
    let t = b.tables;
    let port = b.port;
    decide_cached(b, frames, t.generation(TABLES), |h| decide_edge(h, port, t))
}

/// The fabric role's [`Classifier`](super::Classifier).
pub fn classify_fabric<F: AsRef<[u8]>>(b: &mut Burst<'_>, frames: &[F]) -> Summary {
    let t = b.tables;
    let port = b.port;
    decide_cached(b, frames, t.generation(TABLES), |h| {
        decide_fabric(h, port, t)
    })
}
