//! The MOOSE classifiers (`moose_dataplane::classify::moose::{decide_edge,
//! decide_fabric}`) on arbitrary frames, over a `TableSet` with a switch
//! prefix (`tables::Local`), a mix of legacy, edge and fabric ports,
//! per-port pvids and VLAN members, arbitrary translation bindings and
//! unbindings (`HostOp`), FIB routes and ECMP groups.
//!
//! Frames are arbitrary bytes, or built from picked addresses so that the
//! tables are hit: a bound host's real or MOOSE address, an unbound
//! address under the prefix, an address inside a route, broadcast,
//! multicast, with or without an 802.1Q tag of a bound VLAN.
//!
//! Every decision is checked against oracles written here: a model of the
//! bindings (1:1 per VLAN, as `Xlate::bind` promises; the published table
//! must agree with it) and a longest-prefix match by linear scan of the
//! routes. Checks: nothing panics; parse errors and invalid sources drop
//! without learning; an edge frame is forwarded only from a host bound on
//! that very port, always with `SRC | PAYLOAD` and `src` = its MOOSE
//! address, which is under the switch prefix (any other source is punted
//! on class `host`); a fabric frame from the own prefix is dropped
//! (`own_prefix`), and a fabric decision never rewrites the source; a
//! destination under the own prefix goes only to the port its binding
//! names with `DST` = the bound real MAC (`no_host` without one), other
//! unicast follows the longest route (`no_route` without); floods reach
//! every other port of the VLAN (legacy ones too, translated) but those
//! on a segment homed elsewhere; no
//! frame goes back out of its ingress port, also not through an ECMP
//! group as the worker resolves it (`NextHops::pick_except`); applying the
//! rewrite (`action::apply`) leaves the frame with the decided addresses.
//! The frames classified as one burst through a two-slot flow cache get
//! the same actions as one by one.
#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use moose_config::{PuntClass, Role};
use moose_dataplane::action::{apply, Action, RewriteOps, To};
use moose_dataplane::classify::moose::{
    classify_edge, classify_fabric, decide_edge, decide_fabric,
};
use moose_dataplane::classify::{Burst, FlowCache, Learn, Learns};
use moose_dataplane::tables::{FloodSets, Local, NextHop, NextHops, PortTable, TableOp, TableSet};
use moose_dataplane::worker::MAX_BURST;
use moose_dataplane::{DropReason, GroupId};
use moose_tables::lpm::{prefix_mask, MacLpm};
use moose_tables::publish::Absorb;
use moose_tables::xlate::HostOp;
use moose_wire::{ethernet, ExactKey, Header, Mac, MacPrefix, PortId};

const MAC_BITS: u64 = (1 << 48) - 1;

#[derive(Debug, Arbitrary)]
enum Op {
    Bind {
        vlan: u16,
        real: [u8; 6],
        host: u64,
        port: u8,
    },
    /// Unbinds the real MAC of bind op `i` (mod their number).
    Unbind { i: u8 },
}

#[derive(Debug, Arbitrary)]
struct RouteIn {
    addr: [u8; 6],
    len: u8,
    /// Port (`group == false`) or group index.
    hop: u8,
    group: bool,
}

#[derive(Debug, Arbitrary)]
enum Pick {
    /// The frame's own bytes.
    Raw,
    /// The real MAC of bind op `i`.
    Real(u8),
    /// The MOOSE address of bind op `i`.
    Moose(u8),
    /// Host id under the switch prefix (mostly unbound).
    Local(u32),
    /// An address inside route `i`.
    Route(u8, u32),
    Broadcast,
    Multicast([u8; 5]),
}

#[derive(Debug, Arbitrary)]
struct FrameIn {
    port: u8,
    /// Take the ingress port from the bind op the source is picked from.
    at_binding: bool,
    src: Pick,
    dst: Pick,
    /// An 802.1Q tag: `Some(i)` = the VLAN of bind op `i`, with `tci`'s
    /// priority bits; `raw_vid` instead if set.
    tag: Option<(u8, u16, bool)>,
    bytes: Vec<u8>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    n_ports: u8,
    roles: Vec<u8>,
    pvids: Vec<u16>,
    /// (VLAN, member mask) overrides of "every port on every VLAN".
    vlans: Vec<(u16, u64)>,
    max_frame: u16,
    prefix: [u8; 6],
    prefix_len: u8,
    ops: Vec<Op>,
    routes: Vec<RouteIn>,
    groups: Vec<Vec<u8>>,
    frames: Vec<FrameIn>,
}

/// Big-endian address bits of a Mac / a little-endian load's low 48 bits.
fn be(m: Mac) -> u64 {
    m.to_u64()
}
fn le(m: Mac) -> u64 {
    ExactKey::new(0, m).raw() & MAC_BITS
}
fn mac_of_le(x: u64) -> Mac {
    let b = x.to_le_bytes();
    Mac([b[0], b[1], b[2], b[3], b[4], b[5]])
}

/// The bindings as the hosts service means them: (VLAN, real) ↔ (VLAN,
/// MOOSE) one to one, each with its port.
#[derive(Default)]
struct Model {
    to_moose: BTreeMap<(u16, u64), (u64, u16)>,
    to_real: BTreeMap<(u16, u64), (u64, u16)>,
}

impl Model {
    fn bind(&mut self, vlan: u16, real: u64, moose: u64, port: u16) {
        if let Some((m, _)) = self.to_moose.remove(&(vlan, real)) {
            self.to_real.remove(&(vlan, m));
        }
        if let Some((r, _)) = self.to_real.remove(&(vlan, moose)) {
            self.to_moose.remove(&(vlan, r));
        }
        self.to_moose.insert((vlan, real), (moose, port));
        self.to_real.insert((vlan, moose), (real, port));
    }

    fn unbind(&mut self, vlan: u16, real: u64) {
        if let Some((m, _)) = self.to_moose.remove(&(vlan, real)) {
            self.to_real.remove(&(vlan, m));
        }
    }
}

fuzz_target!(|input: Input| {
    let n = usize::from(input.n_ports % 64) + 1;
    let all: u64 = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };

    // The switch prefix: first octet unicast and local, 8..=47 bits.
    let plen = 8 + input.prefix_len % 40;
    let mut pa = input.prefix;
    pa[0] = (pa[0] & 0xfc) | 0x02;
    let pbits = be(Mac(pa)) & prefix_mask(plen);
    let prefix = MacPrefix::new(Mac::from_u64(pbits), plen).expect("masked prefix");
    let local = Local::of(prefix);
    let host_mask = MAC_BITS >> plen;
    let moose_le = |host: u64| le(Mac::from_u64(pbits | (host & host_mask)));

    let mut ports = PortTable::simple(n, usize::from(input.max_frame));
    ports.legacy = 0;
    for i in 0..n {
        let role = match input.roles.get(i).copied().unwrap_or(1) % 3 {
            0 => Role::Legacy,
            1 => Role::Edge,
            _ => Role::Fabric,
        };
        ports.ports[i].role = role;
        let bit = 1u64 << i;
        match role {
            Role::Legacy => ports.legacy |= bit,
            Role::Edge => ports.edge |= bit,
            Role::Fabric => ports.fabric |= bit,
        }
        ports.ports[i].pvid = input.pvids.get(i).map_or(1, |v| v & 0xfff);
    }
    ports.local = Some(local);
    let mut flood = FloodSets::simple(n);
    for (v, m) in input.vlans.iter().take(16) {
        flood.set_vlan(*v, m & all);
    }
    let mut t = TableSet::new(ports, flood);

    // Bindings, into the table and the model.
    let mut model = Model::default();
    let mut binds: Vec<(u16, u64, u64, u16)> = Vec::new();
    for op in input.ops.iter().take(64) {
        match *op {
            Op::Bind {
                vlan,
                real,
                host,
                port,
            } => {
                let (vlan, real, moose) = (vlan & 0xfff, le(Mac(real)), moose_le(host));
                let port = u16::from(port) % n as u16;
                t.absorb(&TableOp::Xlate(HostOp::Bind {
                    vlan,
                    real,
                    moose,
                    port,
                }));
                model.bind(vlan, real, moose, port);
                binds.push((vlan, real, moose, port));
            }
            Op::Unbind { i } => {
                if binds.is_empty() {
                    continue;
                }
                let (vlan, real, _, _) = binds[usize::from(i) % binds.len()];
                t.absorb(&TableOp::Xlate(HostOp::Unbind { vlan, real }));
                model.unbind(vlan, real);
            }
        }
    }
    assert_eq!(
        t.xlate.len(),
        model.to_moose.len(),
        "Xlate keeps bindings 1:1"
    );
    for (&(v, r), &(m, p)) in &model.to_moose {
        assert_eq!(t.xlate.moose_of(v, r), Some(m));
        assert_eq!(t.xlate.real_of(v, m), Some((r, p)));
    }

    // Routes and groups.
    let groups: Vec<Vec<PortId>> = input
        .groups
        .iter()
        .take(8)
        .map(|g| {
            g.iter()
                .take(8)
                .map(|&p| PortId(u16::from(p) % n as u16))
                .collect()
        })
        .collect();
    let mut rib = MacLpm::new();
    let mut routes: Vec<(u64, u8, NextHop)> = Vec::new();
    for r in input.routes.iter().take(32) {
        let len = r.len % 49;
        let bits = be(Mac(r.addr)) & prefix_mask(len);
        let hop = if r.group && !groups.is_empty() {
            NextHop::Group(GroupId(u16::from(r.hop) % groups.len() as u16))
        } else {
            NextHop::Port(PortId(u16::from(r.hop) % n as u16))
        };
        rib.insert(bits, len, hop.encode());
        routes.retain(|&(b, l, _)| (b, l) != (bits, len));
        routes.push((bits, len, hop));
    }
    t.absorb(&TableOp::Fib(Arc::new(rib.table())));
    t.absorb(&TableOp::Groups(Arc::new(NextHops::new(groups.clone()))));
    let lpm = |dst_be: u64| -> Option<NextHop> {
        routes
            .iter()
            .filter(|&&(b, l, _)| dst_be & prefix_mask(l) == b)
            .max_by_key(|&&(_, l, _)| l)
            .map(|&(_, _, h)| h)
    };

    let max_frame = t.ports.max_frame;
    let mut frames: Vec<(PortId, Vec<u8>)> = Vec::new();
    for f in input.frames.iter().take(MAX_BURST) {
        let bind = |i: u8| (!binds.is_empty()).then(|| binds[usize::from(i) % binds.len()]);
        let addr = |p: &Pick| -> Option<Mac> {
            match *p {
                Pick::Raw => None,
                Pick::Real(i) => bind(i).map(|b| mac_of_le(b.1)),
                Pick::Moose(i) => bind(i).map(|b| mac_of_le(b.2)),
                Pick::Local(h) => Some(mac_of_le(moose_le(u64::from(h)))),
                Pick::Route(i, x) => (!routes.is_empty()).then(|| {
                    let (b, l, _) = routes[usize::from(i) % routes.len()];
                    Mac::from_u64(b | (u64::from(x) & !prefix_mask(l) & MAC_BITS))
                }),
                Pick::Broadcast => Some(Mac::BROADCAST),
                Pick::Multicast(m) => Some(Mac([0x01, m[0], m[1], m[2], m[3], m[4]])),
            }
        };
        let mut port = PortId(u16::from(f.port) % n as u16);
        let mut bytes = f.bytes.clone();
        let (dst, src) = (addr(&f.dst), addr(&f.src));
        if dst.is_some() || src.is_some() || f.tag.is_some() {
            // Built: dst, src, [tag], then the bytes as EtherType + payload.
            let mut b = Vec::with_capacity(18 + bytes.len());
            b.extend_from_slice(
                &dst.unwrap_or(Mac(*bytes.first_chunk::<6>().unwrap_or(&[0; 6])))
                    .0,
            );
            b.extend_from_slice(&src.unwrap_or(Mac([2, 0, 0, 0, 0, 1])).0);
            if let Some((i, tci, raw)) = f.tag {
                let vid = match bind(i) {
                    Some(bd) if !raw => bd.0,
                    _ => tci & 0xfff,
                };
                b.extend_from_slice(&[0x81, 0x00]);
                b.extend_from_slice(&((tci & 0xf000) | vid).to_be_bytes());
            }
            b.extend_from_slice(&bytes);
            bytes = b;
        }
        if f.at_binding {
            if let Pick::Real(i) | Pick::Moose(i) = f.src {
                if let Some(bd) = bind(i) {
                    port = PortId(bd.3);
                }
            }
        }
        frames.push((port, bytes));
    }

    for (port, frame) in &frames {
        let port = *port;
        let role = t.ports.ports[port.index()].role;
        let h = Header::load(frame);
        let (action, learn) = match role {
            Role::Edge => decide_edge(&h, port, &t),
            Role::Fabric => decide_fabric(&h, port, &t),
            Role::Legacy => continue,
        };
        let rw = action.rewrite();
        let to = action.to();
        let what = format!("{role:?} port {port} frame {frame:02x?}: {action:?} {learn:?}");

        // Admission.
        let p = match ethernet::parse(frame, max_frame) {
            Err(_) => {
                assert!(
                    matches!(
                        to,
                        To::Drop(
                            DropReason::TooShort | DropReason::TruncatedVlan | DropReason::Oversize
                        )
                    ),
                    "{what}"
                );
                assert_eq!(learn, Learn::None, "{what}");
                continue;
            }
            Ok(p) => p,
        };
        if p.src.is_multicast() {
            assert_eq!(action, Action::drop(DropReason::SrcMulticast), "{what}");
            continue;
        }
        if p.src.is_zero() {
            assert_eq!(action, Action::drop(DropReason::SrcZero), "{what}");
            continue;
        }
        let vlan = match p.tag {
            Some(tag) if tag.vid != 0 => tag.vid,
            _ => t.ports.pvid(port),
        };
        let members = t.flood.vlan(vlan);
        if members & port.bit() == 0 {
            assert_eq!(action, Action::drop(DropReason::VlanIngress), "{what}");
            continue;
        }

        // Everywhere: never back out of the ingress port, never to a port
        // that does not exist; floods to edge and fabric ports only.
        match to {
            To::Port(q) => {
                assert!(q.index() < n, "{what}");
                assert_ne!(q, port, "back out of the ingress port: {what}");
            }
            To::Group(g) => {
                if let Some(q) = t.groups.pick(g, h.flow_hash()) {
                    assert_ne!(
                        q, port,
                        "a group sends it back out of the ingress port: {what}"
                    );
                    assert!(groups[usize::from(g.0)].contains(&q), "{what}");
                }
            }
            To::Flood {
                mask,
                unknown,
                plain,
            } => {
                assert!(!unknown, "{what}");
                assert_eq!(plain, 0, "a MOOSE port's flood is translated everywhere: {what}");
                assert_ne!(mask, 0, "{what}");
                assert_eq!(mask & port.bit(), 0, "flood to the ingress port: {what}");
                assert_eq!(
                    mask,
                    members & !port.bit() & !t.ports.foreign,
                    "{what}"
                );
                assert!(p.dst.is_multicast(), "{what}");
            }
            To::Punt(c) => {
                assert_eq!(c, PuntClass::Host, "{what}");
                assert_eq!(role, Role::Edge, "{what}");
                assert!(rw.ops.is_empty(), "{what}");
            }
            To::Drop(_) => {}
        }
        let forwarded = matches!(to, To::Port(_) | To::Group(_) | To::Flood { .. });

        // The source.
        let key = (vlan, le(p.src));
        match role {
            Role::Edge => match model.to_moose.get(&key) {
                Some(&(m, bp)) if bp == port.0 => {
                    assert_eq!(learn, Learn::Known(ExactKey::new(vlan, p.src)), "{what}");
                    assert!(!matches!(to, To::Punt(_)), "{what}");
                    if forwarded {
                        assert!(
                            rw.ops.has(RewriteOps::SRC) && rw.ops.has(RewriteOps::PAYLOAD),
                            "forwarded without translating the source: {what}"
                        );
                        assert_eq!(rw.src, m, "{what}");
                        assert!(
                            local.contains(rw.src),
                            "a MOOSE source outside the prefix: {what}"
                        );
                    }
                }
                _ => {
                    assert_eq!(
                        action,
                        Action::punt(PuntClass::Host),
                        "unknown or moved host: {what}"
                    );
                    continue;
                }
            },
            _ => {
                assert!(
                    !rw.ops.has(RewriteOps::SRC),
                    "a fabric port rewrote the source: {what}"
                );
                if prefix.contains(p.src) {
                    assert_eq!(action, Action::drop(DropReason::OwnPrefix), "{what}");
                    continue;
                }
                assert_eq!(learn, Learn::None, "{what}");
            }
        }

        // The destination.
        if p.dst.is_multicast() {
            let others = members & !port.bit() & (t.ports.edge | t.ports.fabric);
            if others == 0 {
                assert_eq!(to, To::Drop(DropReason::NoFloodPort), "{what}");
            } else {
                assert!(matches!(to, To::Flood { .. }), "{what}");
            }
            assert!(!rw.ops.has(RewriteOps::DST), "{what}");
        } else if prefix.contains(p.dst) {
            match model.to_real.get(&(vlan, le(p.dst))) {
                None => assert_eq!(to, To::Drop(DropReason::NoHost), "{what}"),
                Some(&(_, q)) if q == port.0 => {
                    assert_eq!(to, To::Drop(DropReason::SamePort), "{what}")
                }
                Some(&(real, q)) => {
                    assert_eq!(to, To::Port(PortId(q)), "not to the bound port: {what}");
                    assert!(
                        rw.ops.has(RewriteOps::DST) && rw.ops.has(RewriteOps::PAYLOAD),
                        "{what}"
                    );
                    assert_eq!(rw.dst, real, "{what}");
                }
            }
        } else {
            assert!(!rw.ops.has(RewriteOps::DST), "{what}");
            match lpm(be(p.dst)) {
                None => assert_eq!(to, To::Drop(DropReason::NoRoute), "{what}"),
                Some(NextHop::Port(q)) if q == port => {
                    assert_eq!(to, To::Drop(DropReason::SamePort), "{what}")
                }
                Some(NextHop::Port(q)) => assert_eq!(to, To::Port(q), "{what}"),
                Some(NextHop::Group(g)) => assert_eq!(to, To::Group(g), "{what}"),
            }
        }

        // The rewrite, applied, leaves the decided addresses.
        if !rw.ops.is_empty() {
            let mut out = frame.clone();
            apply(&mut out, h.header_len(), &rw);
            assert_eq!(out.len(), frame.len());
            let want_dst = if rw.ops.has(RewriteOps::DST) {
                mac_of_le(rw.dst)
            } else {
                p.dst
            };
            let want_src = if rw.ops.has(RewriteOps::SRC) {
                mac_of_le(rw.src)
            } else {
                p.src
            };
            assert_eq!(&out[0..6], &want_dst.0, "{what}");
            assert_eq!(&out[6..12], &want_src.0, "{what}");
        }
    }

    // One burst from the first frame's port: the per-frame actions.
    if let Some((port, _)) = frames.first() {
        let port = *port;
        let role = t.ports.ports[port.index()].role;
        if role == Role::Legacy {
            return;
        }
        let burst: Vec<&[u8]> = frames.iter().map(|(_, f)| f.as_slice()).collect();
        let k = burst.len();
        let mut actions = [Action::drop(DropReason::TooShort); MAX_BURST];
        let mut learns = Learns::default();
        let mut flows = FlowCache::with_slots(2, 1000);
        let mut b = Burst {
            tables: &t,
            port,
            now_ms: 0,
            flows: &mut flows,
            actions: &mut actions[..k],
            learns: &mut learns,
            elk: true,
        };
        let s = if role == Role::Edge {
            classify_edge(&mut b, &burst)
        } else {
            classify_fabric(&mut b, &burst)
        };
        if let Some(u) = s.uniform {
            actions[..k].fill(u);
        }
        for (f, a) in burst.iter().zip(&actions[..k]) {
            let h = Header::load(f);
            let single = if role == Role::Edge {
                decide_edge(&h, port, &t).0
            } else {
                decide_fabric(&h, port, &t).0
            };
            assert_eq!(single, *a, "burst and single decisions differ");
        }
        assert_eq!(s.groups, actions[..k].iter().any(|a| a.is_group()));
    }
});
