//! The `elk` service: ARP and neighbour discovery answered from a
//! directory of (VLAN, IP) → MOOSE address bindings, so that their
//! broadcasts never enter the fabric.
//!
//! The dataplane sends it every ARP frame, IPv6 neighbour solicitation and
//! advertisement and DHCPv4 frame of an ELK port and VLAN (the `directory`
//! punt class, before translation) that it would otherwise deliver; the
//! service either answers or consumes it, or passes it back to be
//! delivered as before (`Ctx::pass`, which skips the class).
//!
//! * **Bindings.** A switch owns the bindings of its own hosts, learned
//!   from their ARP (requests, replies, gratuitous), neighbour
//!   solicitations and advertisements, the DHCP acknowledgements they get
//!   (snooped, from any server), and `[[elk.binding]]`. Each is flooded to
//!   every switch (moose message type 6, through the routing service);
//!   directory switches (`[elk] directory = true`) keep all of them, so
//!   losing one directory loses nothing another holds. Other switches keep
//!   a bounded cache of answers (`cache_entries`, `cache_ttl_secs`). A
//!   binding its host has not confirmed for three quarters of
//!   `binding_ttl_secs` is probed (a unicast ARP request from 0.0.0.0, or
//!   a neighbour solicitation from `::`); three unanswered probes, or the
//!   host leaving the switch, withdraw it.
//! * **Proxy.** A request from a host for a known binding is answered by
//!   its own switch with a unicast reply carrying the MOOSE address, built
//!   here. A miss becomes a unicast query to the directory's anycast
//!   address (routed by SPF to the nearest directory switch); only if the
//!   directory does not know either (or does not answer within
//!   `query_timeout_ms`) is the request flooded along the broadcast tree,
//!   and the answer that comes back is cached. Gratuitous ARP and
//!   unsolicited advertisements update the bindings and are delivered.
//! * **Inspection** (`inspect`): ARP or ND whose sender contradicts a
//!   DHCP-snooped or static binding is dropped and counted. An address
//!   claimed from two places (two hosts here, or a binding of another
//!   switch) is counted and logged.

pub mod api;
pub mod frames;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use moose_config::Config;
use moose_dataplane::io::Backend;
use moose_dataplane::{Punt, PuntClass};
use moose_wire::proto::{Answer, Binding, BindingSource, Query};
use moose_wire::{arp, dhcp, ExactKey, Mac, MacPrefix, PortId, PrefixKey, VlanTag};

use crate::api::serve;
use crate::runtime::{Ctx, Directory, Event, HostNews, Service};
use api::*;
use frames::Heard;

/// The service's periodic work (query time-outs) runs this often …
const TICK: Duration = Duration::from_millis(10);
/// … and its slow part (probes, expiry, static bindings) this often.
const SLOW_TICK: Duration = Duration::from_secs(1);
const TOKEN_TICK: u64 = 1;
/// Probes sent before a binding is withdrawn.
const PROBES: u8 = 3;
/// Requests waiting for directory answers, at most (all addresses).
const MAX_WAITING: usize = 4096;
/// A log line about conflicts or inspection at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Per-entry overhead of the maps, for the memory figures: a B-tree's
/// share of node headers and edges, a hash map's control byte and load
/// factor, rounded up.
const BTREE_OVERHEAD: usize = 16;
const HASH_OVERHEAD: usize = 8;

const MAC_BITS: u64 = (1 << 48) - 1;
/// Most static bindings of other switches a non-directory switch keeps.
const MAX_STATICS: usize = 65_536;
/// Where `chaddr`'s Ethernet address lies in a DHCP message.
const CHADDR: std::ops::Range<usize> = 28..34;

type Key = (u16, IpAddr);

#[derive(Clone, Debug)]
struct Own {
    real: Mac,
    moose: Mac,
    port: PortId,
    source: BindingSource,
    tag: Option<VlanTag>,
    confirmed: Instant,
    probes: u8,
}

#[derive(Clone, Debug)]
struct Stored {
    moose: Mac,
    origin: Mac,
    source: BindingSource,
    at: Instant,
}

#[derive(Clone, Debug)]
struct Cached {
    moose: Mac,
    at: Instant,
}

/// A request waiting for the directory.
struct Waiter {
    port: PortId,
    worker: usize,
    frame: Vec<u8>,
    tag: Option<VlanTag>,
    requester: Mac,
    requester_ip: IpAddr,
}

struct Pending {
    id: u32,
    since: Instant,
    waiters: Vec<Waiter>,
}

/// What becomes of a frame the service was given.
enum Verdict {
    /// Delivered as the dataplane would have.
    Pass,
    /// Answered, dropped or for the switch itself.
    Consume,
}

fn family(ip: &IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "arp",
        IpAddr::V6(_) => "nd",
    }
}

fn bump(m: &mut ByFamily, fam: &str, n: u64) {
    *m.entry(fam.to_string()).or_default() += n;
}

fn servers(pools: &[moose_config::DhcpPool]) -> Vec<Key> {
    pools
        .iter()
        .map(|p| (p.vlan.get(), IpAddr::V4(p.server)))
        .collect()
}

fn mac_of_le(v: u64) -> Mac {
    let b = (v & MAC_BITS).to_le_bytes();
    Mac([b[0], b[1], b[2], b[3], b[4], b[5]])
}

pub struct Elk {
    cfg: moose_config::Elk,
    id: Mac,
    prefix: MacPrefix,
    names: Vec<String>,
    edge: u64,
    own: BTreeMap<Key, Own>,
    store: BTreeMap<Key, Stored>,
    cache: HashMap<Key, Cached>,
    pending: HashMap<Key, Pending>,
    waiting: usize,
    next_query: u32,
    stats: ElkStats,
    last_slow: Instant,
    last_log: Option<Instant>,
    /// The built-in DHCPv4 server of `[[dhcp.pool]]`, if any.
    dhcp: Option<crate::dhcpd::Server>,
    /// Where its leases live (`moose.state_dir`).
    state_dir: Option<std::path::PathBuf>,
    /// Each pool's server address (VLAN, IP): answered with the switch's
    /// own address, flooded as bindings.
    servers: Vec<Key>,
    /// The pools the server was built from.
    pools: Vec<moose_config::DhcpPool>,
    /// On a switch that is not a directory: the static bindings other
    /// switches flooded (their `[[elk.binding]]` and DHCP servers'
    /// addresses), kept until withdrawn — few, and answered like the
    /// directory's.
    statics: HashMap<Key, Mac>,
}

impl Elk {
    /// The service of a switch with `[elk] enabled`; `None` otherwise. With
    /// `[[dhcp.pool]]` it opens the lease store in `moose.state_dir`.
    pub fn from_config(cfg: &Config, id: Mac) -> Result<Option<Elk>, crate::dhcpd::StoreError> {
        let Some(m) = cfg.moose.as_ref() else {
            return Ok(None);
        };
        if !cfg.elk.enabled {
            return Ok(None);
        }
        let dhcp = if cfg.dhcp.is_empty() {
            None
        } else {
            Some(crate::dhcpd::Server::new(
                &cfg.dhcp,
                m.state_dir.as_deref(),
            )?)
        };
        let mut edge = 0u64;
        for (i, p) in cfg.ports.iter().enumerate() {
            if p.role == moose_config::Role::Edge {
                edge |= 1 << i;
            }
        }
        let stats = ElkStats {
            enabled: true,
            directory: cfg.elk.directory,
            ..ElkStats::default()
        };
        Ok(Some(Elk {
            cfg: cfg.elk.clone(),
            id,
            prefix: m.switch.prefix(),
            names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
            edge,
            own: BTreeMap::new(),
            store: BTreeMap::new(),
            cache: HashMap::new(),
            pending: HashMap::new(),
            waiting: 0,
            next_query: 1,
            stats,
            last_slow: Instant::now(),
            last_log: None,
            dhcp,
            state_dir: m.state_dir.clone(),
            servers: servers(&cfg.dhcp),
            pools: cfg.dhcp.clone(),
            statics: HashMap::new(),
        }))
    }

    /// The switch's own address (host id 0 under its prefix): the source
    /// of its probes and directory messages.
    fn own_address(&self) -> Mac {
        self.prefix.addr()
    }

    fn name(&self, p: PortId) -> String {
        self.names
            .get(p.index())
            .cloned()
            .unwrap_or_else(|| format!("port{}", p.0))
    }

    fn log_rarely(&mut self, now: Instant, line: impl FnOnce() -> String) {
        if self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= LOG_EVERY)
        {
            self.last_log = Some(now);
            log::warn!("{}", line());
        }
    }

    /// (MOOSE address, port) of this switch's host `real` on `vlan`.
    fn host_of<B: Backend>(cx: &Ctx<'_, B>, vlan: u16, real: Mac) -> Option<(Mac, PortId)> {
        let v = cx
            .tables()
            .xlate
            .to_moose
            .get(ExactKey::new(vlan, real).raw())?;
        let (m, p) = moose_tables::xlate::unpack_real(v);
        Some((mac_of_le(m), PortId(p)))
    }

    /// (real MAC, port) of this switch's host at `moose` on `vlan`.
    fn real_of<B: Backend>(cx: &Ctx<'_, B>, vlan: u16, moose: Mac) -> Option<(Mac, PortId)> {
        let v = cx
            .tables()
            .xlate
            .to_real
            .get(ExactKey::new(vlan, moose).raw())?;
        let (m, p) = moose_tables::xlate::unpack_real(v);
        Some((mac_of_le(m), PortId(p)))
    }

    fn handle<B: Backend>(
        &mut self,
        cx: &mut Ctx<'_, B>,
        worker: usize,
        port: PortId,
        bytes: &[u8],
    ) -> Verdict {
        let f = match frames::parse(bytes) {
            Ok(f) => f,
            Err(reason) => {
                *self.stats.malformed.entry(reason.to_string()).or_default() += 1;
                return Verdict::Consume;
            }
        };
        let vlan = match f.tag {
            Some(t) if t.vid != 0 => t.vid,
            _ => cx.tables().ports.pvid(port),
        };
        let edge = self.edge & port.bit() != 0;
        let now = cx.now;
        match f.heard {
            Heard::Arp {
                op, sha, spa, tpa, ..
            } => {
                if !edge {
                    if !spa.is_unspecified() {
                        self.heard_remote(cx, vlan, spa.into(), sha);
                    }
                    return Verdict::Pass;
                }
                if f.dst == self.own_address() {
                    // A host answering our probe.
                    if op == arp::Operation::Reply {
                        self.confirm(vlan, spa.into(), f.src, now);
                    }
                    return Verdict::Consume;
                }
                let Some((moose, hport)) = Self::host_of(cx, vlan, f.src) else {
                    return Verdict::Pass;
                };
                if hport != port {
                    return Verdict::Pass;
                }
                if !spa.is_unspecified() {
                    let ip = IpAddr::from(spa);
                    if self.cfg.inspect && (sha != f.src || self.contradicts(vlan, ip, f.src)) {
                        return self.inspection_drop(now, vlan, ip, f.src, port);
                    }
                    self.learn_own(cx, vlan, ip, f.src, moose, port, BindingSource::Arp, f.tag);
                }
                let resolving = op == arp::Operation::Request
                    && spa != tpa
                    && !spa.is_unspecified()
                    && !tpa.is_unspecified();
                if resolving {
                    return self.resolve(
                        cx,
                        worker,
                        port,
                        vlan,
                        f.tag,
                        tpa.into(),
                        f.src,
                        spa.into(),
                        bytes,
                    );
                }
                Verdict::Pass
            }
            Heard::Ns {
                src,
                target,
                lladdr,
            } => {
                if !edge {
                    if !src.is_unspecified() {
                        self.heard_remote(cx, vlan, src.into(), lladdr.unwrap_or(f.src));
                    }
                    return Verdict::Pass;
                }
                let Some((moose, hport)) = Self::host_of(cx, vlan, f.src) else {
                    return Verdict::Pass;
                };
                if src.is_unspecified() || hport != port {
                    // Duplicate address detection: the owner answers.
                    return Verdict::Pass;
                }
                let ip = IpAddr::from(src);
                if self.cfg.inspect
                    && (lladdr.is_some_and(|l| l != f.src) || self.contradicts(vlan, ip, f.src))
                {
                    return self.inspection_drop(now, vlan, ip, f.src, port);
                }
                self.learn_own(cx, vlan, ip, f.src, moose, port, BindingSource::Nd, f.tag);
                self.resolve(
                    cx,
                    worker,
                    port,
                    vlan,
                    f.tag,
                    target.into(),
                    f.src,
                    ip,
                    bytes,
                )
            }
            Heard::Na {
                dst,
                target,
                lladdr,
                ..
            } => {
                let ip = IpAddr::from(target);
                if !edge {
                    self.heard_remote(cx, vlan, ip, lladdr.unwrap_or(f.src));
                    return Verdict::Pass;
                }
                let probed = self
                    .own
                    .get(&(vlan, ip))
                    .is_some_and(|o| o.probes > 0 && o.real == f.src);
                if f.dst == self.own_address() || (probed && dst.is_multicast()) {
                    self.confirm(vlan, ip, f.src, now);
                    return Verdict::Consume;
                }
                let Some((moose, hport)) = Self::host_of(cx, vlan, f.src) else {
                    return Verdict::Pass;
                };
                if hport != port {
                    return Verdict::Pass;
                }
                if self.cfg.inspect
                    && (lladdr.is_some_and(|l| l != f.src) || self.contradicts(vlan, ip, f.src))
                {
                    return self.inspection_drop(now, vlan, ip, f.src, port);
                }
                self.learn_own(cx, vlan, ip, f.src, moose, port, BindingSource::Nd, f.tag);
                Verdict::Pass
            }
            Heard::Dhcp6 { kind, addrs } => {
                // A server's REPLY to one of our hosts, from any server:
                // to its MOOSE address (from the fabric, or from a server
                // on another edge port).
                if kind == frames::DHCP6_REPLY && self.prefix.contains(f.dst) {
                    if let Some((real, hport)) = Self::real_of(cx, vlan, f.dst) {
                        let tag = f.tag.filter(|_| edge);
                        if !addrs.is_empty() {
                            self.stats.dhcp_snooped += 1;
                        }
                        for a in addrs {
                            self.learn_own(
                                cx,
                                vlan,
                                a.into(),
                                real,
                                f.dst,
                                hport,
                                BindingSource::Dhcp,
                                tag,
                            );
                        }
                    }
                }
                Verdict::Pass
            }
            Heard::Dhcp {
                from_server,
                kind,
                chaddr,
                yiaddr,
                ..
            } => {
                if !from_server && self.dhcp.as_ref().is_some_and(|d| d.serves(vlan)) {
                    return self.serve_dhcp(cx, port, vlan, edge, f.tag, bytes);
                }
                // An acknowledgement for one of our hosts, from any server:
                // its chaddr is the host's MOOSE address (translated on the
                // way in).
                let ack = from_server && kind == Some(dhcp::MessageType::Ack);
                if let (true, Some(moose)) = (ack, chaddr) {
                    if !yiaddr.is_unspecified() && self.prefix.contains(moose) {
                        if let Some((real, hport)) = Self::real_of(cx, vlan, moose) {
                            self.stats.dhcp_snooped += 1;
                            let tag = f.tag.filter(|_| edge);
                            self.learn_own(
                                cx,
                                vlan,
                                yiaddr.into(),
                                real,
                                moose,
                                hport,
                                BindingSource::Dhcp,
                                tag,
                            );
                        }
                    }
                }
                Verdict::Pass
            }
        }
    }

    fn inspection_drop(
        &mut self,
        now: Instant,
        vlan: u16,
        ip: IpAddr,
        from: Mac,
        port: PortId,
    ) -> Verdict {
        bump(&mut self.stats.inspection_drops, family(&ip), 1);
        let name = self.name(port);
        self.log_rarely(now, || {
            format!("elk: dropped {} from {from} on {name}: {ip} on VLAN {vlan} is bound to another host (further drops are counted in moose_elk_inspection_drops_total)", family(&ip))
        });
        Verdict::Consume
    }

    /// Whether `real` claiming `ip` contradicts a static or DHCP binding.
    fn contradicts(&self, vlan: u16, ip: IpAddr, real: Mac) -> bool {
        let stat = self
            .cfg
            .bindings
            .iter()
            .any(|b| b.vlan.get() == vlan && b.ip == ip && b.mac != real);
        let dhcp = self.own.get(&(vlan, ip)).is_some_and(|o| {
            matches!(o.source, BindingSource::Dhcp | BindingSource::Static) && o.real != real
        });
        stat || dhcp
    }

    fn confirm(&mut self, vlan: u16, ip: IpAddr, real: Mac, now: Instant) {
        if let Some(o) = self.own.get_mut(&(vlan, ip)) {
            if o.real == real {
                o.confirmed = now;
                o.probes = 0;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn learn_own<B: Backend>(
        &mut self,
        cx: &mut Ctx<'_, B>,
        vlan: u16,
        ip: IpAddr,
        real: Mac,
        moose: Mac,
        port: PortId,
        source: BindingSource,
        tag: Option<VlanTag>,
    ) {
        let now = cx.now;
        let key = (vlan, ip);
        let announce = match self.own.get_mut(&key) {
            Some(o) if o.real == real && o.moose == moose => {
                o.confirmed = now;
                o.probes = 0;
                o.port = port;
                if tag.is_some() || o.tag.is_none() {
                    o.tag = tag.or(o.tag);
                }
                // DHCP and static outrank what ARP or ND showed.
                let upgrade = matches!(source, BindingSource::Dhcp | BindingSource::Static)
                    && o.source != source
                    && o.source != BindingSource::Static;
                if upgrade {
                    o.source = source;
                }
                upgrade
            }
            Some(o) => {
                let was = o.real;
                self.stats.conflicts += 1;
                let name = self.name(port);
                self.log_rarely(now, || {
                    format!(
                        "elk: {ip} on VLAN {vlan} is claimed by {real} on {name}; it was {was}'s"
                    )
                });
                true
            }
            None => true,
        };
        if !announce {
            return;
        }
        if let Some(s) = self.store.get(&key) {
            if s.moose != moose && s.origin != self.id {
                self.stats.conflicts += 1;
            }
        }
        let source = match self.own.get(&key) {
            Some(o) if o.source == BindingSource::Static && o.real == real => o.source,
            _ => source,
        };
        self.own.insert(
            key,
            Own {
                real,
                moose,
                port,
                source,
                tag,
                confirmed: now,
                probes: 0,
            },
        );
        self.cache.remove(&key);
        self.answer_waiters(cx, key, Some(moose));
        cx.emit(Event::Bound(Binding {
            origin: self.id,
            seq: 0,
            vlan,
            ip,
            moose,
            source,
            withdrawn: false,
        }));
    }

    fn withdraw<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, key: Key) {
        let Some(o) = self.own.remove(&key) else {
            return;
        };
        self.stats.expired += 1;
        cx.emit(Event::Bound(Binding {
            origin: self.id,
            seq: 0,
            vlan: key.0,
            ip: key.1,
            moose: o.moose,
            source: o.source,
            withdrawn: true,
        }));
    }

    /// A host got an address on `port` (it is new, moved in, or the
    /// switch renumbered): the addresses it is known by are bound to it
    /// now. Its gratuitous ARP and unsolicited advertisements, which would
    /// have told us, skip the service to keep their place before the
    /// host's frames.
    fn host_up<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, port: PortId, h: &HostNews) {
        let ports = &cx.tables().ports;
        if self.edge & port.bit() == 0 || !ports.elk_vlans.contains(h.vlan) {
            return;
        }
        let tag = (ports.pvid(port) != h.vlan).then_some(VlanTag {
            vid: h.vlan,
            pcp: 0,
            dei: false,
        });
        let addrs = h
            .ipv4
            .iter()
            .map(|a| (IpAddr::from(*a), BindingSource::Arp))
            .chain(h.ipv6.iter().map(|a| (IpAddr::from(*a), BindingSource::Nd)));
        for (ip, source) in addrs.collect::<Vec<_>>() {
            if self.cfg.inspect && self.contradicts(h.vlan, ip, h.real) {
                // Not bound; its own ARP or ND would be dropped here.
                self.stats.conflicts += 1;
                continue;
            }
            self.learn_own(cx, h.vlan, ip, h.real, h.moose, port, source, tag);
        }
    }

    /// A DHCP client message on a VLAN a pool serves: answered here, never
    /// delivered further. At the edge the client is keyed by its MOOSE
    /// address as it is from the fabric (the frame is raw here: `chaddr` is
    /// its real MAC, swapped for the server and back in the reply), so a
    /// host keeps its lease whichever way its messages come; the reply goes
    /// out of the port the message came in on (from the fabric: unicast to
    /// the client's MOOSE address, routed by the neighbour). A lease
    /// granted to one of this switch's hosts is its binding at once; the
    /// home switch of a host behind the fabric snoops the ACK.
    fn serve_dhcp<B: Backend>(
        &mut self,
        cx: &mut Ctx<'_, B>,
        port: PortId,
        vlan: u16,
        edge: bool,
        tag: Option<VlanTag>,
        bytes: &[u8],
    ) -> Verdict {
        use crate::dhcpd;
        let (src, payload) = match dhcpd::client_message(bytes) {
            Ok((_, src, payload)) => (src, payload),
            Err(r) => {
                *self
                    .stats
                    .dhcp_refused
                    .entry(r.label().to_string())
                    .or_default() += 1;
                return Verdict::Consume;
            }
        };
        let mut msg = payload.to_vec();
        let (client, real) = if edge {
            let Some((moose, hport)) = Self::host_of(cx, vlan, src) else {
                return Verdict::Consume;
            };
            if hport != port {
                return Verdict::Consume;
            }
            msg[CHADDR].copy_from_slice(&moose.0);
            (moose, Some(src))
        } else {
            if self.prefix.contains(src) {
                return Verdict::Consume;
            }
            (src, None)
        };
        let Some(server) = self.dhcp.as_mut() else {
            return Verdict::Consume;
        };
        let reply = match server.handle(vlan, client, &msg, std::time::SystemTime::now()) {
            Ok(Some(r)) => r,
            Ok(None) | Err(_) => return Verdict::Consume,
        };
        let mut r = reply;
        if let (Some(l), Some(real)) = (&r.lease, real) {
            let (ip, moose) = (IpAddr::V4(l.ip), l.mac);
            self.stats.dhcp_leased += 1;
            self.learn_own(cx, vlan, ip, real, moose, port, BindingSource::Dhcp, tag);
        }
        match real {
            Some(real) => {
                // Back to the host's own MAC: the reply leaves raw.
                r.payload[CHADDR].copy_from_slice(&real.0);
                r.client = real;
            }
            None => {
                // To the client's MOOSE address across the fabric, even
                // when the client asked for a broadcast (its switch
                // delivers it to the host; the IP destination stays
                // 255.255.255.255).
                r.broadcast = false;
            }
        }
        let vid = tag.filter(|t| t.vid != 0).map(|t| t.vid);
        let frame = crate::dhcpd::reply_frame(&r, self.own_address(), vid);
        cx.send(port, &frame);
        Verdict::Consume
    }

    /// The pools' server addresses, flooded as bindings of the switch's
    /// own address (so a host behind another switch resolves the server
    /// it renews with).
    fn announce_servers<B: Backend>(&self, cx: &mut Ctx<'_, B>) {
        for (vlan, ip) in &self.servers {
            cx.emit(Event::Bound(Binding {
                origin: self.id,
                seq: 0,
                vlan: *vlan,
                ip: *ip,
                moose: self.own_address(),
                source: BindingSource::Static,
                withdrawn: false,
            }));
        }
    }

    /// Leases that ended (expired, released, declined) withdraw their
    /// bindings; leases of hosts that are here (after a restart) are bound.
    fn dhcp_slow<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        let Some(server) = self.dhcp.as_mut() else {
            return;
        };
        let ended = server.expire(std::time::SystemTime::now());
        let leases: Vec<crate::dhcpd::Lease> = server.leases().cloned().collect();
        for l in ended {
            let key = (l.vlan, IpAddr::V4(l.ip));
            if self
                .own
                .get(&key)
                .is_some_and(|o| o.source == BindingSource::Dhcp && o.moose == l.mac)
            {
                self.withdraw(cx, key);
            }
        }
        for l in leases {
            let key = (l.vlan, IpAddr::V4(l.ip));
            if self.own.contains_key(&key) || !self.prefix.contains(l.mac) {
                continue;
            }
            if let Some((real, port)) = Self::real_of(cx, l.vlan, l.mac) {
                let tag = (cx.tables().ports.pvid(port) != l.vlan).then_some(VlanTag {
                    vid: l.vlan,
                    pcp: 0,
                    dei: false,
                });
                self.learn_own(
                    cx,
                    l.vlan,
                    key.1,
                    real,
                    l.mac,
                    port,
                    BindingSource::Dhcp,
                    tag,
                );
            }
        }
    }

    /// An ARP or ND sender seen on a fabric port (already a MOOSE
    /// address): an answer for our cache, and for requests waiting.
    fn heard_remote<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, vlan: u16, ip: IpAddr, moose: Mac) {
        if moose.is_multicast() || moose.is_zero() || self.prefix.contains(moose) {
            return;
        }
        let key = (vlan, ip);
        if !self.cfg.directory {
            self.cache_insert(key, moose, cx.now);
        }
        self.answer_waiters(cx, key, Some(moose));
    }

    fn cache_insert(&mut self, key: Key, moose: Mac, now: Instant) {
        if self.cfg.cache_entries == 0 {
            return;
        }
        if !self.cache.contains_key(&key) && self.cache.len() >= self.cfg.cache_entries {
            let ttl = self.cfg.cache_ttl;
            self.cache.retain(|_, c| now.duration_since(c.at) < ttl);
            if self.cache.len() >= self.cfg.cache_entries {
                // The oldest answer goes (a scan: inserts are bounded by
                // the directory punt class's rate).
                if let Some(old) = self.cache.iter().min_by_key(|(_, c)| c.at).map(|(k, _)| *k) {
                    self.cache.remove(&old);
                }
            }
        }
        self.cache.insert(key, Cached { moose, at: now });
    }

    /// The MOOSE address of `key` for a request arriving on `port`: this
    /// switch's host (not on the same port: that segment answers itself),
    /// a directory binding, or a fresh cached answer.
    fn lookup(&self, key: &Key, port: PortId, now: Instant) -> Option<Mac> {
        if self.servers.contains(key) {
            return Some(self.own_address());
        }
        if let Some(o) = self.own.get(key) {
            return (o.port != port).then_some(o.moose);
        }
        if let Some(s) = self.store.get(key) {
            return Some(s.moose);
        }
        if let Some(m) = self.statics.get(key) {
            return Some(*m);
        }
        self.cache
            .get(key)
            .filter(|c| now.duration_since(c.at) < self.cfg.cache_ttl)
            .map(|c| c.moose)
    }

    fn reply(
        requester: Mac,
        requester_ip: IpAddr,
        moose: Mac,
        ip: IpAddr,
        tag: Option<VlanTag>,
    ) -> Option<Vec<u8>> {
        match (requester_ip, ip) {
            (IpAddr::V4(r), IpAddr::V4(t)) => Some(frames::arp_reply(requester, r, moose, t, tag)),
            (IpAddr::V6(r), IpAddr::V6(t)) => Some(frames::na_reply(requester, r, moose, t, tag)),
            _ => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn resolve<B: Backend>(
        &mut self,
        cx: &mut Ctx<'_, B>,
        worker: usize,
        port: PortId,
        vlan: u16,
        tag: Option<VlanTag>,
        ip: IpAddr,
        requester: Mac,
        requester_ip: IpAddr,
        bytes: &[u8],
    ) -> Verdict {
        let key = (vlan, ip);
        let fam = family(&ip);
        if let Some(moose) = self.lookup(&key, port, cx.now) {
            if let Some(f) = Self::reply(requester, requester_ip, moose, ip, tag) {
                cx.send(port, &f);
                bump(&mut self.stats.answered, fam, 1);
                return Verdict::Consume;
            }
        }
        if self.own.get(&key).is_some_and(|o| o.port == port) {
            return Verdict::Pass;
        }
        let dir = self.cfg.directory_address;
        let reachable = !self.cfg.directory
            && cx
                .tables()
                .fib
                .lookup(PrefixKey::from_mac(dir).raw())
                .is_some();
        if !reachable {
            bump(&mut self.stats.floods, fam, 1);
            return Verdict::Pass;
        }
        if self.waiting >= MAX_WAITING {
            self.stats.pending_full += 1;
            bump(&mut self.stats.floods, fam, 1);
            return Verdict::Pass;
        }
        let waiter = Waiter {
            port,
            worker,
            frame: bytes.to_vec(),
            tag,
            requester,
            requester_ip,
        };
        self.waiting += 1;
        if let Some(p) = self.pending.get_mut(&key) {
            p.waiters.push(waiter);
            return Verdict::Consume;
        }
        let id = self.next_query;
        self.next_query = self.next_query.wrapping_add(1).max(1);
        self.pending.insert(
            key,
            Pending {
                id,
                since: cx.now,
                waiters: vec![waiter],
            },
        );
        bump(&mut self.stats.queries, fam, 1);
        cx.emit(Event::DirectoryOut {
            to: dir,
            msg: Directory::Query(Query { id, vlan, ip }),
        });
        Verdict::Consume
    }

    /// Answers (or, with `None`, floods) the requests waiting for `key`.
    fn answer_waiters<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, key: Key, moose: Option<Mac>) {
        let Some(p) = self.pending.remove(&key) else {
            return;
        };
        self.waiting -= p.waiters.len();
        let fam = family(&key.1);
        for w in p.waiters {
            let reply =
                moose.and_then(|m| Self::reply(w.requester, w.requester_ip, m, key.1, w.tag));
            match reply {
                Some(f) => {
                    cx.send(w.port, &f);
                    bump(&mut self.stats.answered, fam, 1);
                }
                None => {
                    bump(&mut self.stats.floods, fam, 1);
                    self.stats.passed += 1;
                    cx.pass_copy(w.worker, w.port, &w.frame);
                }
            }
        }
    }

    fn directory_in<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, from: Mac, msg: &Directory) {
        match msg {
            Directory::Query(q) if self.cfg.directory => {
                let key = (q.vlan, q.ip);
                let moose = self
                    .own
                    .get(&key)
                    .map(|o| o.moose)
                    .or_else(|| self.store.get(&key).map(|s| s.moose));
                self.stats.queries_served += 1;
                if moose.is_none() {
                    self.stats.queries_unknown += 1;
                }
                cx.emit(Event::DirectoryOut {
                    to: from,
                    msg: Directory::Answer(Answer {
                        id: q.id,
                        vlan: q.vlan,
                        ip: q.ip,
                        moose,
                    }),
                });
            }
            Directory::Answer(a) => {
                let key = (a.vlan, a.ip);
                if self.pending.get(&key).is_none_or(|p| p.id != a.id) {
                    return;
                }
                if let Some(m) = a.moose {
                    self.cache_insert(key, m, cx.now);
                }
                self.answer_waiters(cx, key, a.moose);
            }
            Directory::Query(_) => {}
        }
    }

    fn binding_heard(&mut self, b: &Binding, now: Instant) {
        let key = (b.vlan, b.ip);
        if !b.withdrawn {
            if let Some(o) = self.own.get(&key) {
                if o.moose != b.moose {
                    self.stats.conflicts += 1;
                    let (ip, vlan, origin) = (b.ip, b.vlan, b.origin);
                    self.log_rarely(now, || {
                        format!(
                            "elk: {ip} on VLAN {vlan} is claimed by a host of switch {origin} too"
                        )
                    });
                }
            }
        }
        if self.cfg.directory {
            if b.withdrawn {
                if self.store.get(&key).is_some_and(|s| s.origin == b.origin) {
                    self.store.remove(&key);
                }
            } else {
                self.store.insert(
                    key,
                    Stored {
                        moose: b.moose,
                        origin: b.origin,
                        source: b.source,
                        at: now,
                    },
                );
            }
        } else if b.withdrawn {
            if self.cache.get(&key).is_some_and(|c| c.moose == b.moose) {
                self.cache.remove(&key);
            }
            if self.statics.get(&key) == Some(&b.moose) {
                self.statics.remove(&key);
            }
        } else if b.source == BindingSource::Static
            && (self.statics.len() < MAX_STATICS || self.statics.contains_key(&key))
        {
            self.statics.insert(key, b.moose);
            self.cache.remove(&key);
        } else if let Some(c) = self.cache.get_mut(&key) {
            c.moose = b.moose;
            c.at = now;
        }
    }

    fn tick<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        let now = cx.now;
        // Misses the directory did not answer in time: flood them.
        let late: Vec<Key> = self
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.since) >= self.cfg.query_timeout)
            .map(|(k, _)| *k)
            .collect();
        for k in late {
            self.stats.query_timeouts += 1;
            self.answer_waiters(cx, k, None);
        }
        if now.duration_since(self.last_slow) >= SLOW_TICK {
            self.last_slow = now;
            self.slow(cx);
        }
    }

    /// Once a second: static bindings of hosts that appeared, hosts that
    /// left or were renumbered, probes and expiry.
    /// The static bindings of hosts that are here now.
    fn apply_static<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        for b in self.cfg.bindings.clone() {
            let key = (b.vlan.get(), b.ip);
            if self.own.get(&key).is_some_and(|o| o.real == b.mac) {
                continue;
            }
            if let Some((moose, port)) = Self::host_of(cx, b.vlan.get(), b.mac) {
                self.learn_own(
                    cx,
                    key.0,
                    b.ip,
                    b.mac,
                    moose,
                    port,
                    BindingSource::Static,
                    None,
                );
            }
        }
    }

    fn slow<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        let now = cx.now;
        self.apply_static(cx);
        self.dhcp_slow(cx);
        let mut gone = Vec::new();
        let mut moved = Vec::new();
        let mut probe = Vec::new();
        let due = self.cfg.binding_ttl.mul_f64(0.75);
        for (k, o) in &self.own {
            match Self::host_of(cx, k.0, o.real) {
                None => gone.push(*k),
                Some((m, p)) if m != o.moose || p != o.port => moved.push((*k, m, p)),
                Some(_) if o.source == BindingSource::Static => {}
                Some(_) if now.duration_since(o.confirmed) >= due => {
                    if o.probes >= PROBES {
                        gone.push(*k);
                    } else {
                        probe.push(*k);
                    }
                }
                Some(_) => {}
            }
        }
        for k in gone {
            self.withdraw(cx, k);
        }
        for (k, m, p) in moved {
            if let Some(o) = self.own.get(&k).cloned() {
                self.own.remove(&k);
                self.learn_own(cx, k.0, k.1, o.real, m, p, o.source, o.tag);
            }
        }
        let own = self.own_address();
        for k in probe {
            let Some(o) = self.own.get_mut(&k) else {
                continue;
            };
            o.probes += 1;
            let f = match k.1 {
                IpAddr::V4(ip) => frames::arp_probe(o.real, own, ip, o.tag),
                IpAddr::V6(ip) => frames::ns_probe(o.real, own, ip, o.tag),
            };
            let port = o.port;
            cx.send(port, &f);
            bump(&mut self.stats.probes, family(&k.1), 1);
        }
        let ttl = self.cfg.cache_ttl;
        self.cache.retain(|_, c| now.duration_since(c.at) < ttl);
    }

    fn figures(&self) -> ElkStats {
        let key = std::mem::size_of::<Key>();
        let mut s = self.stats.clone();
        s.own_entries = self.own.len();
        s.directory_entries = self.store.len();
        s.cache_entries = self.cache.len();
        s.own_bytes = self.own.len() * (key + std::mem::size_of::<Own>() + BTREE_OVERHEAD);
        s.directory_bytes =
            self.store.len() * (key + std::mem::size_of::<Stored>() + BTREE_OVERHEAD);
        s.cache_bytes =
            self.cache.capacity() * (key + std::mem::size_of::<Cached>() + HASH_OVERHEAD);
        s.pending = self.waiting;
        s.dhcp = self.dhcp.as_ref().map(|d| {
            let st = d.stats();
            let mut leases = BTreeMap::new();
            for l in d.leases() {
                *leases.entry(l.vlan).or_default() += 1;
            }
            let held_offers = self
                .servers
                .iter()
                .filter_map(|(v, _)| d.held_offers(*v).map(|h| (*v, h)))
                .collect();
            DhcpFigures {
                counters: st.clone(),
                leases,
                held_offers,
            }
        });
        s
    }

    fn lease_records(&self) -> Vec<LeaseRecord> {
        let Some(d) = &self.dhcp else {
            return Vec::new();
        };
        d.leases()
            .map(|l| LeaseRecord {
                vlan: l.vlan,
                ip: l.ip,
                moose_mac: l.mac.to_string(),
                expires_unix: l
                    .expires
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
            })
            .collect()
    }

    fn page(&self, q: DirectoryQuery, now: Instant) -> DirectoryPage {
        let limit = q.limit.clamp(1, MAX_PAGE);
        let ms = |t: Instant| now.saturating_duration_since(t).as_millis() as u64;
        let mut cache: Vec<(&Key, &Cached)> = self.cache.iter().collect();
        cache.sort_by_key(|(k, _)| **k);
        let total = self.own.len() + self.store.len() + cache.len();
        let own = self.own.iter().map(|(k, o)| BindingRecord {
            vlan: k.0,
            ip: k.1.to_string(),
            moose_mac: o.moose.to_string(),
            source: o.source.label().to_string(),
            switch: self.id.to_string(),
            age_ms: ms(o.confirmed),
            kind: "own".into(),
            real_mac: Some(o.real.to_string()),
            port: Some(self.name(o.port)),
        });
        let store = self.store.iter().map(|(k, s)| BindingRecord {
            vlan: k.0,
            ip: k.1.to_string(),
            moose_mac: s.moose.to_string(),
            source: s.source.label().to_string(),
            switch: s.origin.to_string(),
            age_ms: ms(s.at),
            kind: "directory".into(),
            real_mac: None,
            port: None,
        });
        let cached = cache.into_iter().map(|(k, c)| BindingRecord {
            vlan: k.0,
            ip: k.1.to_string(),
            moose_mac: c.moose.to_string(),
            source: "answer".into(),
            switch: String::new(),
            age_ms: ms(c.at),
            kind: "cache".into(),
            real_mac: None,
            port: None,
        });
        let bindings: Vec<BindingRecord> = own
            .chain(store)
            .chain(cached)
            .skip(q.offset)
            .take(limit)
            .collect();
        let end = q.offset + bindings.len();
        DirectoryPage {
            total,
            offset: q.offset,
            bindings,
            next: (end < total).then_some(end),
        }
    }
}

impl<B: Backend> Service<B> for Elk {
    fn name(&self) -> &'static str {
        "elk"
    }

    fn classes(&self) -> &'static [PuntClass] {
        &[PuntClass::Directory]
    }

    fn start(&mut self, cx: &mut Ctx<'_, B>) {
        cx.timer(cx.now + TICK, TOKEN_TICK);
        self.announce_servers(cx);
    }

    fn punt(&mut self, cx: &mut Ctx<'_, B>, _class: PuntClass, worker: usize, p: Punt<B::Frame>) {
        let Punt::Frame { port, frame } = p else {
            return;
        };
        match self.handle(cx, worker, port, frame.as_ref()) {
            Verdict::Pass => {
                self.stats.passed += 1;
                cx.pass(worker, port, frame);
            }
            Verdict::Consume => cx.free(frame),
        }
    }

    fn timer(&mut self, cx: &mut Ctx<'_, B>, token: u64) {
        if token == TOKEN_TICK {
            self.tick(cx);
            cx.timer(cx.now + TICK, TOKEN_TICK);
        }
    }

    fn event(&mut self, cx: &mut Ctx<'_, B>, ev: &Event) {
        match ev {
            Event::DirectoryIn { from, msg } => self.directory_in(cx, *from, msg),
            Event::BindingHeard(b) => self.binding_heard(b, cx.now),
            Event::HostUp { port, host } => self.host_up(cx, *port, host),
            Event::Renumbered { prefix } => self.prefix = *prefix,
            Event::NeighborFull => {
                // A new neighbour (perhaps a directory switch that
                // restarted) hears every binding of ours again.
                let all: Vec<(Key, Own)> = self.own.iter().map(|(k, o)| (*k, o.clone())).collect();
                for (k, o) in all {
                    cx.emit(Event::Bound(Binding {
                        origin: self.id,
                        seq: 0,
                        vlan: k.0,
                        ip: k.1,
                        moose: o.moose,
                        source: o.source,
                        withdrawn: false,
                    }));
                }
                self.announce_servers(cx);
            }
            _ => {}
        }
    }

    /// New bounds, times, inspection and static bindings (the rest of
    /// `[elk]` refuses a reload). A static binding removed from the file
    /// becomes an ordinary one of its host (probed, withdrawn when the host
    /// stops answering); one whose MAC changed is bound to the new host
    /// when it is here.
    fn reconfigure(&mut self, cx: &mut Ctx<'_, B>, cfg: &Config, report: &mut Vec<String>) {
        let new = cfg.elk.clone();
        let now = cx.now;
        let mut demoted = 0;
        for (k, o) in self.own.iter_mut() {
            let still = new
                .bindings
                .iter()
                .any(|b| (b.vlan.get(), b.ip) == *k && b.mac == o.real);
            if o.source == BindingSource::Static && !still {
                o.source = BindingSource::Arp;
                // Due for a probe at the next slow tick.
                o.confirmed = now.checked_sub(new.binding_ttl).unwrap_or(now);
                demoted += 1;
            }
        }
        // Bindings now static to another host than the one holding them.
        let taken: Vec<Key> = self
            .own
            .iter()
            .filter(|(k, o)| {
                new.bindings
                    .iter()
                    .any(|b| (b.vlan.get(), b.ip) == **k && b.mac != o.real)
            })
            .map(|(k, _)| *k)
            .collect();
        for k in &taken {
            self.withdraw(cx, *k);
        }
        self.cfg = new;
        if cfg.dhcp != self.pools {
            // The server again, from the same store (its leases outside
            // the new pools are dropped). The old one closes the file first.
            self.dhcp = None;
            let now_served = servers(&cfg.dhcp);
            for (vlan, ip) in self.servers.iter().filter(|k| !now_served.contains(k)) {
                cx.emit(Event::Bound(Binding {
                    origin: self.id,
                    seq: 0,
                    vlan: *vlan,
                    ip: *ip,
                    moose: self.prefix.addr(),
                    source: BindingSource::Static,
                    withdrawn: true,
                }));
            }
            self.servers = now_served;
            self.pools = cfg.dhcp.clone();
            if !cfg.dhcp.is_empty() {
                match crate::dhcpd::Server::new(&cfg.dhcp, self.state_dir.as_deref()) {
                    Ok(d) => {
                        report.push(format!(
                            "dhcp: serving {} pool(s), {} lease(s) kept",
                            cfg.dhcp.len(),
                            d.leases().count()
                        ));
                        self.dhcp = Some(d);
                    }
                    Err(e) => {
                        log::error!("elk: the DHCP server is stopped: {e}");
                        report.push(format!("dhcp: the server is stopped: {e}"));
                    }
                }
            }
            self.announce_servers(cx);
        }
        if self.cache.len() > self.cfg.cache_entries {
            let mut by_age: Vec<(Instant, Key)> =
                self.cache.iter().map(|(k, c)| (c.at, *k)).collect();
            by_age.sort();
            let extra = self.cache.len() - self.cfg.cache_entries;
            for (_, k) in by_age.into_iter().take(extra) {
                self.cache.remove(&k);
            }
            report.push(format!(
                "elk: {extra} cached answers dropped (elk.cache_entries is {})",
                self.cfg.cache_entries
            ));
        }
        if demoted > 0 {
            report.push(format!(
                "elk: {demoted} binding(s) no longer static: probed from now on"
            ));
        }
        if !taken.is_empty() {
            report.push(format!(
                "elk: {} binding(s) withdrawn from the host that held them: now static to another",
                taken.len()
            ));
        }
        self.apply_static(cx);
    }

    fn request(
        &mut self,
        cx: &mut Ctx<'_, B>,
        body: Box<dyn std::any::Any + Send>,
    ) -> Result<(), Box<dyn std::any::Any + Send>> {
        let now = cx.now;
        let body = match serve::<DirectoryQuery>(body, |q| self.page(q, now)) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        let body = match serve::<StatsQuery>(body, |_| self.figures()) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        serve::<LeasesQuery>(body, |_| self.lease_records())
    }
}
