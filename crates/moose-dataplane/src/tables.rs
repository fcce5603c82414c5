//! The one published set of tables the workers read.
//!
//! Everything a classifier or the mover consults — ports and their roles
//! and link state, per-VLAN flood sets and the broadcast tree, the FDB
//! view, the FIB (MAC LPM), the translation tables and the ECMP next-hop
//! groups — is one [`TableSet`] behind one left-right
//! ([`moose_tables::publish`]). A worker enters it once per burst (one
//! fence), so a change made of several tables (an SPF result: routes,
//! groups and tree) reaches it atomically.
//!
//! Who writes: only the control runtime (`moose-control`), through
//! [`TableOp`]s. Who reads: the workers. Tables the control side rebuilds
//! as a whole (the FIB, the groups, the flood sets) are published as an
//! `Arc` that both left-right copies share, so they are built once and
//! never updated twice; tables changed entry by entry (FDB view,
//! translation) absorb each op in both copies. The control structures
//! behind them — the FDB master, the LPM's RIB — stay on the control side.
//!
//! Every table has a generation, bumped by each op that touches it; both
//! copies absorb the same ops, so equal generations mean equal contents. A
//! flow-cache entry remembers the generations of the tables its decision
//! read ([`TableSet::generation`]).

use std::sync::Arc;

use moose_config::{Config, Role};
use moose_tables::lpm::LpmTable;
use moose_tables::publish::Absorb;
use moose_tables::xlate::{HostOp, Xlate};
use moose_wire::PortId;

use crate::action::GroupId;
use crate::fdb::{FdbOp, FdbView};
use crate::MAX_PORTS;

/// Per-port facts the fast path needs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PortFacts {
    pub role: Role,
    /// VLAN of untagged and priority-tagged frames.
    pub pvid: u16,
    /// Longest untagged frame the port may transmit (its MTU + 14); a
    /// tagged frame may be 4 bytes longer.
    pub tx_max: u16,
}

/// Ports: roles, pvids, link state.
#[derive(Clone, Debug)]
pub struct PortTable {
    pub n_ports: usize,
    pub ports: [PortFacts; MAX_PORTS],
    /// Longest frame accepted on ingress (`dataplane.max_frame`).
    pub max_frame: usize,
    /// Bit `p` set while port `p`'s link is up. Frames to a port that is
    /// down are dropped (`link_down`) and floods skip it.
    pub up: u64,
    /// Bit `p` set while port `p` is parked: its queues are handed back to
    /// the control thread (to re-attach a device), no worker touches them.
    pub parked: u64,
    /// Ports by role.
    pub legacy: u64,
    pub edge: u64,
    pub fabric: u64,
    /// This switch's MOOSE prefix, for "is this destination one of my
    /// hosts": `dst_le & local.mask == local.prefix` on the little-endian
    /// address bits a frame load gives. `None` without `[moose]`.
    pub local: Option<Local>,
    /// Bit `p` set while port `p` (edge or legacy, on a MOOSE switch) is on
    /// a segment whose home is another port: hellos of a lower (prefix,
    /// port) are heard on it. Its hosts' frames are dropped (`not_home`)
    /// and floods skip it, so that the segment never loops.
    pub foreign: u64,
    /// Storm control of each port's ingress, and the punt classes' rates.
    /// Each worker keeps its own token buckets; at housekeeping, when this
    /// table's generation moved, it rebuilds those whose rates differ
    /// from the ones it built them from (a reload reaches the workers
    /// through this one publication, like every other change).
    pub storm: [moose_config::Storm; MAX_PORTS],
    pub punt: moose_config::PuntLimits,
    /// Ports whose ARP, neighbour discovery and DHCP frames go to the
    /// `directory` punt class (the `elk` service) on `elk_vlans`: edge
    /// and fabric ports of a switch with `[elk] enabled`.
    pub elk: u64,
    pub elk_vlans: moose_config::VlanSet,
    /// On a directory switch, its anycast address (little-endian address
    /// bits): frames to it go to the `protocol` class.
    pub directory: Option<u64>,
    /// Bit `p` set while the worker filters port `p`'s received frames in
    /// software (the `nicslots` service: the NIC has no free MAC slot and
    /// runs promiscuous, or its filter is the emulated model): a frame
    /// whose destination is not broadcast and not in `accept[p]` is
    /// dropped (`not_accepted`) before it is classified.
    pub filtered: u64,
    /// The destinations port `p` accepts while filtered: its own address,
    /// the reserved ones and the subscribed multicast ones (little-endian
    /// address bits, sorted).
    pub accept: [Arc<[u64]>; MAX_PORTS],
}

/// ff:ff:ff:ff:ff:ff as little-endian address bits.
pub const BROADCAST_LE: u64 = 0xffff_ffff_ffff;

/// The little-endian address bits of `m`, as a frame load gives them.
pub fn mac_le(m: moose_wire::Mac) -> u64 {
    let b = m.0;
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], 0, 0])
}

/// A MOOSE prefix as the fast path compares it: the prefix's address and
/// mask in little-endian address order (a byte swap of the big-endian
/// ones: the mask is a pattern of whole bytes and one partial byte, which
/// a swap keeps).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Local {
    pub prefix: u64,
    pub mask: u64,
}

impl Local {
    pub fn of(p: moose_wire::MacPrefix) -> Local {
        let le = |be: u64| (be & ((1 << 48) - 1)).swap_bytes() >> 16;
        Local {
            prefix: le(p.key().raw()),
            mask: le(p.mask()),
        }
    }

    /// Whether a little-endian destination is under the prefix.
    #[inline]
    pub fn contains(&self, dst_le: u64) -> bool {
        dst_le & self.mask == self.prefix
    }
}

impl PortTable {
    pub fn from_config(cfg: &Config) -> PortTable {
        let mut t = PortTable::simple(cfg.ports.len(), cfg.dataplane.max_frame);
        t.legacy = 0;
        for (i, p) in cfg.ports.iter().enumerate() {
            t.ports[i].role = p.role;
            let bit = 1u64 << i;
            match p.role {
                Role::Legacy => t.legacy |= bit,
                Role::Edge => t.edge |= bit,
                Role::Fabric => t.fabric |= bit,
            }
        }
        t.local = cfg.moose.as_ref().map(|m| Local::of(m.switch.prefix()));
        if cfg.elk.enabled {
            t.elk = t.edge | t.fabric;
            t.elk_vlans = cfg.elk.vlans.clone();
        }
        t.directory =
            (cfg.elk.enabled && cfg.elk.directory).then(|| mac_le(cfg.elk.directory_address));
        t.reconfigure(cfg);
        t
    }

    /// This table with the configured facts of `cfg` (pvids, storm and
    /// punt rates) and its live state (links, parked, MTUs, homes, the
    /// prefix) kept: what a reload publishes. Roles, ports and ELK do not
    /// change while running.
    pub fn reconfigure(&mut self, cfg: &Config) {
        for (i, p) in cfg.ports.iter().enumerate().take(MAX_PORTS) {
            self.ports[i].pvid = p.pvid.get();
            self.storm[i] = p.storm;
        }
        self.punt = cfg.punt.clone();
    }

    /// Whether ELK takes the ARP/ND/DHCP frames of `vlan` on `port`.
    #[inline]
    pub fn elk_on(&self, port: PortId, vlan: u16) -> bool {
        self.elk & port.bit() != 0 && self.elk_vlans.contains(vlan)
    }

    /// `n` legacy ports on pvid 1, all up, transmitting up to `max_frame`
    /// (for tests).
    pub fn simple(n: usize, max_frame: usize) -> PortTable {
        let facts = PortFacts {
            role: Role::Legacy,
            pvid: 1,
            tx_max: max_frame.min(usize::from(u16::MAX)) as u16,
        };
        PortTable {
            n_ports: n,
            ports: [facts; MAX_PORTS],
            max_frame,
            up: all_ports(n),
            parked: 0,
            legacy: all_ports(n),
            edge: 0,
            fabric: 0,
            local: None,
            foreign: 0,
            storm: [moose_config::Storm::default(); MAX_PORTS],
            punt: moose_config::PuntLimits::default(),
            elk: 0,
            elk_vlans: moose_config::VlanSet::empty(),
            directory: None,
            filtered: 0,
            accept: std::array::from_fn(|_| Arc::from(Vec::new())),
        }
    }

    /// Whether port `p`, filtered, accepts a frame to `dst_le`.
    #[inline]
    pub fn accepts(&self, port: PortId, dst_le: u64) -> bool {
        dst_le == BROADCAST_LE
            || self.accept[port.index() & (MAX_PORTS - 1)]
                .binary_search(&dst_le)
                .is_ok()
    }

    #[inline]
    pub fn pvid(&self, port: PortId) -> u16 {
        self.ports[port.index() & (MAX_PORTS - 1)].pvid
    }

    #[inline]
    pub fn is_up(&self, port: PortId) -> bool {
        self.up & port.bit() != 0
    }
}

/// The mask of ports `0..n`.
pub fn all_ports(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// Flood sets: the member ports of each VLAN, and the broadcast tree's
/// ports (the fabric's spanning tree; all ports until a routing service
/// computes one).
#[derive(Clone, Debug)]
pub struct FloodSets {
    vlan: Box<[u64; 4096]>,
    pub tree: u64,
}

impl FloodSets {
    pub fn from_config(cfg: &Config) -> FloodSets {
        let mut f = FloodSets {
            vlan: Box::new([0; 4096]),
            tree: all_ports(cfg.ports.len()),
        };
        f.reconfigure(cfg);
        f
    }

    /// The VLAN members of `cfg`'s ports; the tree is kept (its owner is
    /// the routing service). Returns whether a VLAN's members changed.
    pub fn reconfigure(&mut self, cfg: &Config) -> bool {
        let mut members = Box::new([0u64; 4096]);
        for (i, p) in cfg.ports.iter().enumerate().take(MAX_PORTS) {
            for v in p.vlans.iter() {
                members[usize::from(v)] |= 1 << i;
            }
        }
        let changed = members != self.vlan;
        self.vlan = members;
        changed
    }

    /// `n` ports, every one on every VLAN (for tests).
    pub fn simple(n: usize) -> FloodSets {
        let mut f = FloodSets {
            vlan: Box::new([0; 4096]),
            tree: all_ports(n),
        };
        for v in 1..4095 {
            f.vlan[v] = all_ports(n);
        }
        f
    }

    /// Ports carrying `vlan`.
    #[inline]
    pub fn vlan(&self, vlan: u16) -> u64 {
        self.vlan[usize::from(vlan & 0xfff)]
    }

    /// Sets the members of `vlan` (for tests and reconfiguration).
    pub fn set_vlan(&mut self, vlan: u16, members: u64) {
        self.vlan[usize::from(vlan & 0xfff)] = members;
    }
}

/// ECMP next-hop groups: the member ports of each [`GroupId`].
#[derive(Clone, Debug, Default)]
pub struct NextHops {
    groups: Vec<Box<[PortId]>>,
}

impl NextHops {
    pub fn new(groups: Vec<Vec<PortId>>) -> NextHops {
        NextHops {
            groups: groups.into_iter().map(Vec::into_boxed_slice).collect(),
        }
    }

    /// The member for a flow hash; `None` for an unknown or empty group.
    #[inline]
    pub fn pick(&self, g: GroupId, hash: u32) -> Option<PortId> {
        let m = self.groups.get(usize::from(g.0))?;
        if m.is_empty() {
            return None;
        }
        // Multiply-shift instead of `%`: uniform over the members, no
        // division on the fast path.
        Some(m[((u64::from(hash) * m.len() as u64) >> 32) as usize])
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// What a FIB entry (a `u16` in the LPM) names: one port, or an ECMP group
/// (bit 15 set).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NextHop {
    Port(PortId),
    Group(GroupId),
}

impl NextHop {
    const GROUP: u16 = 0x8000;

    /// The LPM value for this next hop.
    pub fn encode(self) -> u16 {
        match self {
            NextHop::Port(p) => p.0 & 0x7fff,
            NextHop::Group(g) => Self::GROUP | (g.0 & 0x7fff),
        }
    }

    /// The next hop of an LPM value (`NO_ROUTE` is not one).
    #[inline]
    pub fn decode(v: u16) -> NextHop {
        if v & Self::GROUP != 0 {
            NextHop::Group(GroupId(v & 0x7fff))
        } else {
            NextHop::Port(PortId(v))
        }
    }
}

/// The tables, for generation masks.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Table {
    Ports,
    Flood,
    Fdb,
    Fib,
    Xlate,
    Groups,
}

const N_TABLES: usize = 6;

/// A set of [`Table`]s: the ones a classifier reads.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TableMask(pub u8);

impl TableMask {
    pub const fn of(tables: &[Table]) -> TableMask {
        let mut m = 0u8;
        let mut i = 0;
        while i < tables.len() {
            m |= 1 << tables[i] as u8;
            i += 1;
        }
        TableMask(m)
    }
}

/// Everything the workers read; see the module doc.
#[derive(Clone)]
pub struct TableSet {
    pub ports: Arc<PortTable>,
    pub flood: Arc<FloodSets>,
    pub fdb: FdbView,
    pub fib: Arc<LpmTable>,
    pub xlate: Xlate,
    pub groups: Arc<NextHops>,
    generation: [u64; N_TABLES],
}

impl TableSet {
    pub fn new(ports: PortTable, flood: FloodSets) -> TableSet {
        TableSet {
            ports: Arc::new(ports),
            flood: Arc::new(flood),
            fdb: FdbView::default(),
            fib: Arc::new(LpmTable::default()),
            xlate: Xlate::default(),
            groups: Arc::new(NextHops::default()),
            generation: [0; N_TABLES],
        }
    }

    pub fn from_config(cfg: &Config) -> TableSet {
        TableSet::new(PortTable::from_config(cfg), FloodSets::from_config(cfg))
    }

    /// The sum of the generations of the tables in `mask`: it changes
    /// whenever any of them changes.
    #[inline]
    pub fn generation(&self, mask: TableMask) -> u64 {
        let mut g = 0u64;
        for (i, n) in self.generation.iter().enumerate() {
            if mask.0 & (1 << i) != 0 {
                g = g.wrapping_add(*n);
            }
        }
        g
    }

    fn bump(&mut self, t: Table) {
        self.generation[t as usize] += 1;
    }
}

/// A change to the published tables.
#[derive(Clone, Debug)]
pub enum TableOp {
    Fdb(FdbOp),
    Xlate(HostOp),
    /// Link of a port up or down.
    Link {
        port: PortId,
        up: bool,
    },
    /// Port parked (queues handed back) or not.
    Park {
        port: PortId,
        parked: bool,
    },
    /// Longest untagged frame a port may transmit.
    TxMax {
        port: PortId,
        len: u16,
    },
    /// Port on a segment whose home is elsewhere, or not.
    Home {
        port: PortId,
        foreign: bool,
    },
    /// The switch's MOOSE prefix changed (an automatic prefix renumbered).
    Prefix(moose_wire::MacPrefix),
    /// A port's software filter (`nicslots`): on or off, and what it
    /// accepts (little-endian address bits, sorted).
    Accept {
        port: PortId,
        filtered: bool,
        accept: Arc<[u64]>,
    },
    /// The whole port table (reconfiguration).
    Ports(Arc<PortTable>),
    Flood(Arc<FloodSets>),
    Fib(Arc<LpmTable>),
    Groups(Arc<NextHops>),
}

impl TableOp {
    fn table(&self) -> Table {
        match self {
            TableOp::Fdb(_) => Table::Fdb,
            TableOp::Xlate(_) => Table::Xlate,
            TableOp::Link { .. }
            | TableOp::Park { .. }
            | TableOp::TxMax { .. }
            | TableOp::Home { .. }
            | TableOp::Prefix(_)
            | TableOp::Accept { .. }
            | TableOp::Ports(_) => Table::Ports,
            TableOp::Flood(_) => Table::Flood,
            TableOp::Fib(_) => Table::Fib,
            TableOp::Groups(_) => Table::Groups,
        }
    }
}

fn set_bit(mask: &mut u64, port: PortId, on: bool) {
    if on {
        *mask |= port.bit();
    } else {
        *mask &= !port.bit();
    }
}

impl Absorb<TableOp> for TableSet {
    fn absorb(&mut self, op: &TableOp) {
        self.bump(op.table());
        match op {
            TableOp::Fdb(o) => self.fdb.absorb(o),
            TableOp::Xlate(o) => self.xlate.absorb(o),
            TableOp::Link { port, up } => {
                set_bit(&mut Arc::make_mut(&mut self.ports).up, *port, *up)
            }
            TableOp::Park { port, parked } => {
                set_bit(&mut Arc::make_mut(&mut self.ports).parked, *port, *parked)
            }
            TableOp::Home { port, foreign } => {
                set_bit(&mut Arc::make_mut(&mut self.ports).foreign, *port, *foreign)
            }
            TableOp::TxMax { port, len } => {
                if let Some(p) = Arc::make_mut(&mut self.ports).ports.get_mut(port.index()) {
                    p.tx_max = *len;
                }
            }
            TableOp::Prefix(p) => Arc::make_mut(&mut self.ports).local = Some(Local::of(*p)),
            TableOp::Accept {
                port,
                filtered,
                accept,
            } => {
                let t = Arc::make_mut(&mut self.ports);
                set_bit(&mut t.filtered, *port, *filtered);
                if let Some(a) = t.accept.get_mut(port.index()) {
                    *a = accept.clone();
                }
            }
            TableOp::Ports(p) => self.ports = p.clone(),
            TableOp::Flood(f) => self.flood = f.clone(),
            TableOp::Fib(f) => self.fib = f.clone(),
            TableOp::Groups(g) => self.groups = g.clone(),
        }
    }

    fn absorb_all(&mut self, ops: &[TableOp]) {
        // Runs of translation ops go through the table's own replay, which
        // overlaps their cache misses.
        let mut i = 0;
        while i < ops.len() {
            if let TableOp::Xlate(_) = ops[i] {
                let mut run = Vec::new();
                while let Some(TableOp::Xlate(o)) = ops.get(i) {
                    run.push(*o);
                    i += 1;
                }
                self.generation[Table::Xlate as usize] += run.len() as u64;
                self.xlate.absorb_all(&run);
            } else {
                self.absorb(&ops[i]);
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdb::ViewEntry;
    use moose_wire::{ExactKey, Mac};

    #[test]
    fn generations_follow_the_tables_touched() {
        let mut t = TableSet::new(PortTable::simple(2, 1522), FloodSets::simple(2));
        let bridge = TableMask::of(&[Table::Ports, Table::Flood, Table::Fdb]);
        let fib = TableMask::of(&[Table::Fib]);
        let (b0, f0) = (t.generation(bridge), t.generation(fib));
        t.absorb(&TableOp::Fdb(FdbOp::Set(
            ExactKey::new(1, Mac([2, 0, 0, 0, 0, 1])),
            ViewEntry::new(PortId(1), false),
        )));
        assert_ne!(t.generation(bridge), b0);
        assert_eq!(t.generation(fib), f0);
        t.absorb(&TableOp::Link {
            port: PortId(1),
            up: false,
        });
        assert!(!t.ports.is_up(PortId(1)));
        assert!(t.ports.is_up(PortId(0)));
        t.absorb(&TableOp::Fib(Arc::new(LpmTable::default())));
        assert_ne!(t.generation(fib), f0);
    }

    #[test]
    fn both_copies_share_rebuilt_tables() {
        let t = TableSet::new(PortTable::simple(2, 1522), FloodSets::simple(2));
        let (mut a, mut b) = (t.clone(), t);
        let fib = Arc::new(LpmTable::default());
        let op = TableOp::Fib(fib.clone());
        a.absorb(&op);
        b.absorb(&op);
        drop(op);
        assert!(Arc::ptr_eq(&a.fib, &b.fib), "one FIB, not two");
        assert_eq!(Arc::strong_count(&fib), 3);
    }

    #[test]
    fn local_prefix_in_little_endian_order() {
        use moose_wire::{ExactKey, Mac};
        let le = |m: &str| ExactKey::new(0, m.parse::<Mac>().unwrap()).raw();
        for (prefix, inside, outside) in [
            (
                "02:11:11:00:00:00/24",
                "02:11:11:ab:cd:ef",
                "02:11:12:00:00:01",
            ),
            (
                "02:11:10:00:00:00/20",
                "02:11:1f:00:00:01",
                "02:11:20:00:00:01",
            ),
            (
                "02:11:11:11:00:00/33",
                "02:11:11:11:7f:ff",
                "02:11:11:11:80:00",
            ),
        ] {
            let l = Local::of(prefix.parse().unwrap());
            assert!(l.contains(le(inside)), "{inside} in {prefix}");
            assert!(!l.contains(le(outside)), "{outside} not in {prefix}");
        }
    }

    #[test]
    fn groups_pick_members_by_hash() {
        let g = NextHops::new(vec![vec![PortId(1), PortId(2), PortId(3)], vec![]]);
        let mut seen = [0u32; 4];
        for h in 0..3000u32 {
            let p = g.pick(GroupId(0), h.wrapping_mul(0x9e37_79b9)).unwrap();
            seen[p.index()] += 1;
        }
        assert!(seen[1..].iter().all(|&n| n > 800), "{seen:?}");
        assert_eq!(g.pick(GroupId(1), 5), None);
        assert_eq!(g.pick(GroupId(7), 5), None);
    }
}
