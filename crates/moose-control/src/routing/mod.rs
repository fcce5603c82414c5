//! The `routing` service: the link-state protocol between moose switches,
//! the FIB it feeds and the broadcast tree.
//!
//! It owns the `protocol` punt class and takes every moose message
//! ([`moose_wire::proto`]) by type: home hellos go to the home election
//! ([`crate::home`]) it hosts, fabric hellos, advertisements and
//! acknowledgements are its own. Every message is checked against
//! `[routing] key` ([`auth`]) before anything reads it.
//!
//! * **Neighbours.** Every fabric port sends a hello every
//!   `hello_interval` listing the neighbour it hears. A neighbour heard is
//!   `init`; one that lists us is `two-way`, and we send it our whole
//!   database; once it has acknowledged all of it, it is `full` and goes
//!   into our advertisement. A neighbour not heard for its dead interval,
//!   or whose port's link goes down, is `down` at once.
//! * **Database.** Each switch originates an advertisement (id, prefix,
//!   its full neighbours with their costs and ports, a sequence number, an
//!   age) when its neighbours change and every `refresh`; advertisements
//!   are flooded to every adjacent neighbour but the sender, retransmitted
//!   every `retransmit` until acknowledged; the higher sequence wins; one
//!   older than ours is answered with ours; one not refreshed within
//!   `max_age` is dropped. A switch that hears its own advertisement with
//!   a sequence at or above its own (its previous life's) jumps past it.
//! * **Routes.** SPF ([`spf`]) runs at most every `spf_delay` after a
//!   change; its routes go into the FIB beside the static ones
//!   ([`crate::routes`]), equal-cost first hops as ECMP groups.
//! * **Broadcast tree.** The shortest-path tree from the component's
//!   lowest switch id, which every switch with the same database computes
//!   alike, named by a digest carried in hellos. A fabric port forwards
//!   broadcasts (and accepts them) only while it is on this switch's tree
//!   *and* the neighbour's last hello carried the same digest and said the
//!   link is on its tree. When the tree changes, every tree port stops at
//!   once (published before anything else) and hellos go out with the new
//!   digest; a port starts again only when its neighbour's hello agrees.
//!   So a link carries broadcasts only while both ends hold the same tree,
//!   and since a tree has no cycle, no cycle of links carries broadcasts at
//!   any instant — transitions cost a few milliseconds of broadcast
//!   loss, never a storm. SPF results, groups and flood sets are appended
//!   in one turn, so they reach the workers in one publication.

pub mod api;
pub mod auth;
pub mod prefix;
pub mod spf;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moose_config::{Config, Role};
use moose_dataplane::io::Backend;
use moose_dataplane::tables::FloodSets;
use moose_dataplane::{Punt, PuntClass, TableOp};
use moose_wire::proto::{
    self, Advert, AdvertId, Binding, FabricHello, HostAnnounce, Link, Message,
};
use moose_wire::{EtherType, Mac, MacPrefix, PortId};

use crate::api::serve;
use crate::home::Home;
use crate::routes::Routes;
use crate::runtime::{Ctx, Directory, Event, HostNews, Service};
use api::*;
use auth::{Signer, Verifier};
use spf::{Graph, SpfRoute, Tree};

/// Host announcements remembered (by origin and sequence) this long, so a
/// copy that comes round another way is not passed on again …
const SEEN_HOSTS_FOR: Duration = Duration::from_secs(30);
/// … and at most this many.
const MAX_SEEN_HOSTS: usize = 1 << 18;

/// The service's periodic work runs this often.
const TICK: Duration = Duration::from_millis(10);
/// Timer tokens: the home election's are its own (0).
const TOKEN_TICK: u64 = 1;

/// Every reason a protocol message is dropped for (metric labels).
pub const REJECT_REASONS: &[&str] = &[
    "truncated",
    "oversize",
    "version",
    "type",
    "wrong_length",
    "flags",
    "prefix",
    "switch_id",
    "ethertype",
    "unauthenticated",
    "auth_unexpected",
    "unknown_key",
    "bad_mac",
    "replayed",
    "old_sequence",
    "max_age",
    "not_adjacent",
    "not_fabric",
    "own_hello",
    "home_hello_on_fabric",
    "routing_disabled",
    "announce_flood",
    "binding_flood",
    "not_for_us",
];

/// The kinds of message flooded hop by hop (each remembered apart).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Flooded {
    Host,
    Binding,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Down,
    Init,
    TwoWay,
    Full,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Down => "down",
            State::Init => "init",
            State::TwoWay => "two-way",
            State::Full => "full",
        }
    }
}

struct Neighbor {
    port: PortId,
    state: State,
    since: Instant,
    id: Option<Mac>,
    prefix: Option<MacPrefix>,
    their_port: u16,
    heard: Instant,
    dead: Duration,
    digest: u64,
    tree: bool,
    /// Advertisements sent and not acknowledged: origin → (seq, due).
    unacked: BTreeMap<Mac, (u32, Instant)>,
}

struct Entry {
    advert: Advert,
    at: Instant,
}

impl Entry {
    fn age(&self, now: Instant) -> u64 {
        u64::from(self.advert.age_s) + now.saturating_duration_since(self.at).as_secs()
    }
}

pub struct Routing {
    id: Mac,
    prefix: MacPrefix,
    auto: bool,
    cfg: moose_config::Routing,
    names: Vec<String>,
    costs: Vec<u16>,
    /// One per port; `None` for the ports that are not fabric ports.
    nbrs: Vec<Option<Neighbor>>,
    lsdb: BTreeMap<Mac, Entry>,
    seq: u32,
    originated: Option<Instant>,
    /// Re-originate at the end of this turn.
    dirty: bool,
    spf_due: Option<Instant>,
    last_spf: Option<Instant>,
    spf_routes: Vec<SpfRoute>,
    /// The prefixes of the LSDB's switches as last announced
    /// ([`Event::FabricPrefixes`]).
    fabric_prefixes: Vec<moose_wire::MacPrefix>,
    tree: Tree,
    /// Fabric ports on the tree, and of those the ones agreed on.
    tree_ports: u64,
    active: u64,
    /// The flood tree mask last published.
    published_tree: Option<u64>,
    fabric: u64,
    up: u64,
    next_hello: Instant,
    last_aging: Instant,
    routes: Routes,
    home: Home,
    signer: Signer,
    verifier: Verifier,
    stats: RoutingStats,
    frame: Vec<u8>,
    body: Vec<u8>,
    host_seq: u32,
    seen_hosts: HashMap<(Mac, u32), Instant>,
    /// `prefix = "auto"`: the attempt the prefix came from, and where it
    /// is kept.
    attempt: u32,
    state_dir: Option<std::path::PathBuf>,
    /// `[elk] directory`: this switch answers the directory's anycast
    /// address, and says so in its advertisement.
    directory: bool,
    directory_address: Mac,
    binding_seq: u32,
    seen_bindings: HashMap<(Mac, u32), Instant>,
    /// Fabric ports whose neighbour was full at the last tick.
    full: u64,
}

fn now_seq() -> u32 {
    // Seconds since 2020: a restarted switch starts above its previous
    // life's sequence numbers (unless it originated more than once a
    // second, which the own-advertisement rule then catches).
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().saturating_sub(1_577_836_800) as u32)
        .unwrap_or(1)
        .max(1)
}

impl Routing {
    /// The service of a `[moose]` switch with switch id `id`; `None`
    /// without one.
    pub fn from_config(cfg: &Config, id: Mac) -> Option<Routing> {
        let m = cfg.moose.as_ref()?;
        let now = Instant::now();
        let r = &cfg.routing;
        let signer = Signer::new(r.key.clone());
        let mut fabric = 0u64;
        let nbrs = cfg
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (p.role == Role::Fabric).then(|| {
                    fabric |= 1 << i;
                    Neighbor {
                        port: PortId(i as u16),
                        state: State::Down,
                        since: now,
                        id: None,
                        prefix: None,
                        their_port: 0,
                        heard: now,
                        dead: r.dead_interval,
                        digest: 0,
                        tree: false,
                        unacked: BTreeMap::new(),
                    }
                })
            })
            .collect();
        Some(Routing {
            id,
            prefix: m.switch.prefix(),
            auto: m.auto_prefix,
            cfg: r.clone(),
            names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
            costs: cfg.ports.iter().map(|p| p.cost).collect(),
            nbrs,
            lsdb: BTreeMap::new(),
            seq: now_seq(),
            originated: None,
            dirty: true,
            spf_due: None,
            last_spf: None,
            spf_routes: Vec::new(),
            fabric_prefixes: Vec::new(),
            tree: Tree::default(),
            tree_ports: 0,
            active: 0,
            published_tree: None,
            fabric,
            up: moose_dataplane::tables::all_ports(cfg.ports.len()),
            next_hello: now,
            last_aging: now,
            routes: Routes::from_config(cfg)?,
            home: Home::from_config(cfg, signer.clone())?,
            signer,
            verifier: Verifier::new(r.key.clone(), r.previous_key.clone()),
            stats: RoutingStats::default(),
            frame: Vec::with_capacity(1514),
            body: Vec::with_capacity(1400),
            host_seq: 0,
            seen_hosts: HashMap::new(),
            attempt: 0,
            state_dir: m.state_dir.clone(),
            directory: cfg.elk.enabled && cfg.elk.directory,
            directory_address: cfg.elk.directory_address,
            binding_seq: 0,
            seen_bindings: HashMap::new(),
            full: 0,
        })
    }

    pub fn switch_id(&self) -> Mac {
        self.id
    }

    /// The attempt an automatic prefix came from
    /// ([`prefix::resolve`]).
    pub fn with_attempt(mut self, attempt: u32) -> Routing {
        self.attempt = attempt;
        self
    }

    /// Whether this switch must give up its prefix: another switch's
    /// advertisement claims an overlapping one, and that switch keeps it
    /// (a configured prefix beats an automatic one; between equals, the
    /// lower switch id wins). Both sides apply the same rule to the same
    /// advertisements, so they agree.
    fn loses_prefix(&self) -> bool {
        let mine = self.prefix;
        self.lsdb.values().any(|e| {
            let a = &e.advert;
            let overlap = a.prefix.contains(mine.addr()) || mine.contains(a.prefix.addr());
            a.origin != self.id && overlap && (!a.auto_prefix || a.origin < self.id)
        })
    }

    /// An automatic prefix that lost a conflict takes the next attempt
    /// free in the database, keeps it in `state_dir`, and tells the
    /// tables, the hosts (which are re-addressed and re-announced) and
    /// its neighbours (a new advertisement).
    fn renumber<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        let taken: Vec<MacPrefix> = self
            .lsdb
            .values()
            .filter(|e| e.advert.origin != self.id)
            .map(|e| e.advert.prefix)
            .collect();
        let mut attempt = self.attempt;
        let prefix = loop {
            attempt = attempt.wrapping_add(1);
            let p = moose_config::auto_prefix(&self.id.0, attempt).prefix();
            if !taken
                .iter()
                .any(|t| t.contains(p.addr()) || p.contains(t.addr()))
            {
                break p;
            }
        };
        if let Some(d) = &self.state_dir {
            if prefix::store(d, attempt, prefix).is_err() {
                self.stats.renumber_store_errors += 1;
            }
        }
        log::warn!(
            "routing: prefix {} is claimed by another switch that keeps it; renumbered to {prefix} (attempt {attempt}); hosts re-announced",
            self.prefix
        );
        self.attempt = attempt;
        self.prefix = prefix;
        self.stats.renumbers += 1;
        self.routes.set_local(prefix);
        self.routes.rebuild(cx);
        self.home.set_prefix(prefix);
        cx.table(TableOp::Prefix(prefix));
        cx.emit(Event::Renumbered { prefix });
        self.dirty = true;
    }

    fn name(&self, p: PortId) -> String {
        self.names
            .get(p.index())
            .cloned()
            .unwrap_or_else(|| format!("port{}", p.0))
    }

    fn reject(&mut self, reason: &str) {
        let n = self.stats.rejected.entry(reason.to_string()).or_default();
        *n += 1;
        // The first of each reason is worth a line; the rest are counted
        // (a flood of forged frames must not become a flood of logs).
        if *n == 1 {
            log::warn!("routing: dropped a protocol message: {reason} (further ones are counted in moose_routing_rejected_total)");
        }
    }

    /// A message refused before its type is known: on an edge or legacy
    /// port it was meant as a home hello, and counts as an invalid one too.
    fn refuse(&mut self, fabric: bool, reason: &str) {
        self.reject(reason);
        if !fabric {
            self.home.invalid();
        }
    }

    // -----------------------------------------------------------------
    // Sending.

    /// Frames `self.body` (a message) and sends it on `port`.
    fn send_body<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, port: PortId) -> bool {
        moose_wire::ethernet::emit(
            &mut self.frame,
            proto::GROUP,
            self.id,
            None,
            EtherType::Unknown(proto::ETHERTYPE),
            &self.body,
        );
        self.signer.sign(&mut self.frame, 14);
        if self.frame.len() < 60 {
            self.frame.resize(60, 0);
        }
        cx.send(port, &self.frame)
    }

    fn send_hello<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, port: PortId) {
        let Some(n) = self.nbrs[port.index()].as_ref() else {
            return;
        };
        if !self.cfg.enabled {
            return;
        }
        let heard = match (n.state, n.id) {
            (State::Down, _) | (_, None) => Vec::new(),
            (_, Some(id)) => vec![(id, n.their_port)],
        };
        let h = FabricHello {
            switch_id: self.id,
            prefix: self.prefix,
            port: port.0,
            hello_ms: self.cfg.hello_interval.as_millis().min(65_535) as u16,
            dead_ms: self.cfg.dead_interval.as_millis().min(65_535) as u16,
            tree: self.tree_ports & port.bit() != 0,
            auto_prefix: self.auto,
            tree_digest: self.tree.digest,
            heard,
        };
        self.body.clear();
        proto::emit(&Message::FabricHello(h), &mut self.body);
        if self.send_body(cx, port) {
            self.stats.hellos_sent += 1;
        }
    }

    fn send_hellos<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        if !self.cfg.enabled {
            return;
        }
        for p in 0..self.nbrs.len() {
            let port = PortId(p as u16);
            if self.nbrs[p].is_some() && self.up & port.bit() != 0 {
                self.send_hello(cx, port);
            }
        }
    }

    /// Sends the database's copy of `origin`'s advertisement to `port`.
    fn send_advert<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, port: PortId, origin: Mac) -> bool {
        let Some(e) = self.lsdb.get(&origin) else {
            return false;
        };
        let mut a = e.advert.clone();
        a.age_s = e.age(cx.now).min(u64::from(u16::MAX)) as u16;
        self.body.clear();
        proto::emit(&Message::Advert(a), &mut self.body);
        let ok = self.send_body(cx, port);
        if ok {
            self.stats.adverts_sent += 1;
        }
        ok
    }

    fn send_ack<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, port: PortId, id: AdvertId) {
        self.body.clear();
        proto::emit(&Message::Ack(vec![id]), &mut self.body);
        if self.send_body(cx, port) {
            self.stats.acks_sent += 1;
        }
    }

    /// Queues `origin`'s advertisement for `port`'s neighbour and sends it.
    fn flood_to<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, port: PortId, origin: Mac) {
        let Some(seq) = self.lsdb.get(&origin).map(|e| e.advert.seq) else {
            return;
        };
        let due = cx.now + self.cfg.retransmit;
        if let Some(n) = self.nbrs[port.index()].as_mut() {
            n.unacked.insert(origin, (seq, due));
        }
        self.send_advert(cx, port, origin);
    }

    /// The ports of the adjacent neighbours (two-way or full) but `except`.
    fn adjacent_ports(&self, except: Option<PortId>) -> Vec<PortId> {
        self.nbrs
            .iter()
            .flatten()
            .filter(|n| n.state >= State::TwoWay && Some(n.port) != except)
            .map(|n| n.port)
            .collect()
    }

    /// Floods `origin`'s advertisement to every adjacent neighbour but
    /// the one on `except`.
    fn flood<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, origin: Mac, except: Option<PortId>) {
        for port in self.adjacent_ports(except) {
            self.flood_to(cx, port, origin);
        }
    }

    // -----------------------------------------------------------------
    // Neighbours.

    fn set_state(&mut self, port: PortId, state: State, now: Instant) {
        let Some(n) = self.nbrs[port.index()].as_mut() else {
            return;
        };
        if n.state == state {
            return;
        }
        let was_full = n.state == State::Full;
        let before = n.state;
        if state == State::Full || before == State::Full || state == State::Down {
            let name = self.names.get(port.index()).cloned().unwrap_or_default();
            let id = n.id.map(|m| m.to_string()).unwrap_or_else(|| "-".into());
            log::info!(
                "routing: neighbour {id} on {name}: {} -> {}",
                before.name(),
                state.name()
            );
        }
        n.state = state;
        n.since = now;
        if state < State::TwoWay {
            n.unacked.clear();
        }
        if state == State::Down {
            n.id = None;
            n.prefix = None;
            n.digest = 0;
            n.tree = false;
        }
        if was_full != (state == State::Full) {
            self.dirty = true;
        }
    }

    fn hello<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, port: PortId, h: FabricHello) {
        self.stats.hellos_received += 1;
        if h.switch_id == self.id {
            // Two of our own fabric ports wired together.
            self.reject("own_hello");
            return;
        }
        let now = cx.now;
        let me = (self.id, port.0);
        let Some(n) = self.nbrs[port.index()].as_mut() else {
            return;
        };
        let new = n.id != Some(h.switch_id) || n.their_port != h.port;
        if new && n.state != State::Down {
            // Another switch (or port) behind the link: start over.
            self.set_state(port, State::Down, now);
        }
        let n = self.nbrs[port.index()].as_mut().expect("fabric port");
        n.id = Some(h.switch_id);
        n.prefix = Some(h.prefix);
        n.their_port = h.port;
        n.heard = now;
        n.dead = Duration::from_millis(u64::from(h.dead_ms.max(1)));
        n.digest = h.tree_digest;
        n.tree = h.tree;
        let two_way = h.heard.contains(&me);
        let state = n.state;
        match (state, two_way) {
            (State::Down, false) => self.set_state(port, State::Init, now),
            (State::Down | State::Init, true) => {
                self.set_state(port, State::TwoWay, now);
                // It hears us and we hear it: say so first, so that it
                // is two-way too when our database arrives.
                self.send_hello(cx, port);
                // Database exchange: everything we hold, acknowledged one
                // by one; full once all of it is.
                let origins: Vec<Mac> = self.lsdb.keys().copied().collect();
                for o in origins {
                    self.flood_to(cx, port, o);
                }
                self.maybe_full(port, now);
            }
            (State::TwoWay | State::Full, false) => self.set_state(port, State::Init, now),
            _ => {}
        }
        if new && !two_way {
            // Let it hear us now rather than an interval later.
            self.send_hello(cx, port);
        }
        self.update_active(cx);
    }

    fn maybe_full(&mut self, port: PortId, now: Instant) {
        let ready = self.nbrs[port.index()]
            .as_ref()
            .is_some_and(|n| n.state == State::TwoWay && n.unacked.is_empty());
        if ready {
            self.set_state(port, State::Full, now);
        }
    }

    fn check_dead(&mut self, now: Instant) {
        for p in 0..self.nbrs.len() {
            let expired = self.nbrs[p]
                .as_ref()
                .is_some_and(|n| n.state != State::Down && now.duration_since(n.heard) > n.dead);
            if expired {
                self.set_state(PortId(p as u16), State::Down, now);
            }
        }
    }

    // -----------------------------------------------------------------
    // The database.

    fn advert<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, port: PortId, a: Advert) {
        self.stats.adverts_received += 1;
        let adjacent = self.nbrs[port.index()]
            .as_ref()
            .is_some_and(|n| n.state >= State::TwoWay);
        if !adjacent {
            self.reject("not_adjacent");
            return;
        }
        let id = a.id();
        if a.origin == self.id {
            // Our own, flooded back: acknowledge it; one from a previous
            // life at or above our sequence makes us jump past it.
            self.send_ack(cx, port, id);
            if a.seq >= self.seq {
                self.seq = a.seq;
                self.dirty = true;
            }
            self.implicit_ack(port, id, cx.now);
            return;
        }
        let cur = self.lsdb.get(&a.origin).map(|e| e.advert.seq);
        match cur {
            Some(s) if a.seq < s => {
                // Stale: tell the sender what we hold.
                self.reject("old_sequence");
                self.flood_to(cx, port, a.origin);
            }
            Some(s) if a.seq == s => {
                self.send_ack(cx, port, id);
                self.implicit_ack(port, id, cx.now);
            }
            _ => {
                self.send_ack(cx, port, id);
                if u64::from(a.age_s) >= self.cfg.max_age.as_secs() {
                    self.reject("max_age");
                    return;
                }
                let changed = self
                    .lsdb
                    .get(&a.origin)
                    .is_none_or(|e| e.advert.links != a.links || e.advert.prefix != a.prefix);
                let origin = a.origin;
                self.lsdb.insert(
                    origin,
                    Entry {
                        advert: a,
                        at: cx.now,
                    },
                );
                self.implicit_ack(port, id, cx.now);
                self.flood(cx, origin, Some(port));
                if changed {
                    self.schedule_spf(cx.now);
                }
            }
        }
    }

    /// An advertisement the neighbour on `port` has (acknowledged, or sent
    /// us itself) needs no retransmission to it.
    fn implicit_ack(&mut self, port: PortId, id: AdvertId, now: Instant) {
        if let Some(n) = self.nbrs[port.index()].as_mut() {
            if n.unacked.get(&id.origin).is_some_and(|(s, _)| *s <= id.seq) {
                n.unacked.remove(&id.origin);
            }
        }
        self.maybe_full(port, now);
    }

    fn ack(&mut self, port: PortId, ids: Vec<AdvertId>, now: Instant) {
        self.stats.acks_received += 1;
        for id in ids {
            self.implicit_ack(port, id, now);
        }
    }

    /// Originates our advertisement: our full neighbours.
    fn originate<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        self.dirty = false;
        self.seq = self.seq.wrapping_add(1).max(1);
        let mut links: Vec<Link> = self
            .nbrs
            .iter()
            .flatten()
            .filter(|n| n.state == State::Full)
            .filter_map(|n| {
                Some(Link {
                    neighbor: n.id?,
                    cost: self.costs[n.port.index()],
                    port: n.port.0,
                    neighbor_port: n.their_port,
                })
            })
            .collect();
        links.sort();
        let a = Advert {
            origin: self.id,
            seq: self.seq,
            age_s: 0,
            prefix: self.prefix,
            auto_prefix: self.auto,
            directory: self.directory,
            links,
        };
        self.lsdb.insert(
            self.id,
            Entry {
                advert: a,
                at: cx.now,
            },
        );
        self.originated = Some(cx.now);
        self.stats.adverts_originated += 1;
        self.flood(cx, self.id, None);
        self.schedule_spf(cx.now);
    }

    fn age<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        let now = cx.now;
        let max = self.cfg.max_age.as_secs();
        let me = self.id;
        let before = self.lsdb.len();
        self.lsdb.retain(|o, e| *o == me || e.age(now) < max);
        if self.lsdb.len() != before {
            self.schedule_spf(now);
        }
        if self
            .originated
            .is_none_or(|t| now.duration_since(t) >= self.cfg.refresh)
        {
            self.dirty = true;
        }
    }

    fn retransmit<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        let now = cx.now;
        for p in 0..self.nbrs.len() {
            let due: Vec<Mac> = match self.nbrs[p].as_ref() {
                Some(n) if n.state >= State::TwoWay => n
                    .unacked
                    .iter()
                    .filter(|(_, (_, at))| *at <= now)
                    .map(|(o, _)| *o)
                    .collect(),
                _ => continue,
            };
            for o in due {
                let port = PortId(p as u16);
                match self.lsdb.get(&o).map(|e| e.advert.seq) {
                    Some(seq) => {
                        let next = now + self.cfg.retransmit;
                        if let Some(n) = self.nbrs[p].as_mut() {
                            n.unacked.insert(o, (seq, next));
                        }
                        if self.send_advert(cx, port, o) {
                            self.stats.adverts_retransmitted += 1;
                        }
                    }
                    None => {
                        if let Some(n) = self.nbrs[p].as_mut() {
                            n.unacked.remove(&o);
                        }
                        self.maybe_full(port, now);
                    }
                }
            }
        }
    }

    // -----------------------------------------------------------------
    // SPF and the tree.

    fn schedule_spf(&mut self, now: Instant) {
        if self.spf_due.is_none() {
            let at = match self.last_spf {
                Some(t) => (t + self.cfg.spf_delay).max(now),
                None => now,
            };
            self.spf_due = Some(at);
        }
    }

    fn run_spf<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        self.spf_due = None;
        self.last_spf = Some(cx.now);
        let t0 = Instant::now();
        let g = Graph::new(self.lsdb.values().map(|e| &e.advert));
        let mut routes = g.routes(self.id);
        if let Some(d) = self.directory_route(&routes) {
            routes.push(d);
        }
        let tree = g.tree(self.id);
        let ns = t0.elapsed().as_nanos() as u64;
        self.stats.spf_runs += 1;
        self.stats.spf_nanos_total += ns;
        self.stats.spf_last_nanos = ns;
        if self.auto && self.loses_prefix() {
            self.renumber(cx);
        }
        // Every switch's prefix, for the services that must stay out of
        // the fabric's addresses (the MAC provider).
        let mut prefixes: Vec<moose_wire::MacPrefix> =
            self.lsdb.values().map(|e| e.advert.prefix).collect();
        prefixes.sort_unstable_by_key(|p| (p.addr().to_u64(), p.len()));
        prefixes.dedup();
        if prefixes != self.fabric_prefixes {
            self.fabric_prefixes = prefixes.clone();
            cx.emit(Event::FabricPrefixes(prefixes));
        }
        if routes != self.spf_routes {
            self.stats.route_changes += diff_count(&self.spf_routes, &routes);
            self.spf_routes = routes;
            self.routes.set_spf(&self.spf_routes);
            self.routes.rebuild(cx);
        }
        if tree != self.tree {
            log::debug!(
                "routing: broadcast tree {:016x} (root {}, {} edges)",
                tree.digest,
                tree.root.map(|m| m.to_string()).unwrap_or_default(),
                tree.edges.len()
            );
            self.stats.tree_changes += 1;
            self.tree = tree;
            let mut mask = 0u64;
            for p in self.tree.ports_of(self.id) {
                if let Some(n) = self.nbrs.get(usize::from(p)).and_then(|n| n.as_ref()) {
                    mask |= n.port.bit();
                }
            }
            self.tree_ports = mask;
            // Break before make: the old tree's ports stop now; each
            // starts again when its neighbour's hello agrees.
            self.update_active(cx);
            self.send_hellos(cx);
        }
    }

    /// Recomputes which tree ports carry broadcasts and publishes the
    /// flood tree if that changed.
    fn update_active<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        let mut active = 0u64;
        for n in self.nbrs.iter().flatten() {
            if self.tree_ports & n.port.bit() != 0
                && n.state == State::Full
                && n.tree
                && n.digest == self.tree.digest
            {
                active |= n.port.bit();
            }
        }
        self.active = active;
        let all = moose_dataplane::tables::all_ports(self.nbrs.len());
        let mask = if self.cfg.enabled {
            (all & !self.fabric) | active
        } else {
            all
        };
        if self.published_tree != Some(mask) {
            self.published_tree = Some(mask);
            let mut f: FloodSets = (*cx.tables().flood).clone();
            f.tree = mask;
            cx.table(TableOp::Flood(Arc::new(f)));
        }
    }

    // -----------------------------------------------------------------
    // Receiving.

    fn receive<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, port: PortId, frame: &[u8]) {
        let fabric = self.fabric & port.bit() != 0;
        let Ok(f) = moose_wire::ethernet::parse(frame, usize::MAX) else {
            return self.refuse(fabric, "truncated");
        };
        if f.ethertype != EtherType::Unknown(proto::ETHERTYPE) {
            return self.refuse(fabric, "ethertype");
        }
        let src = Mac::from_slice(&frame[6..12]);
        let at = if f.tag.is_some() { 18 } else { 14 };
        let (msg, auth) = match proto::parse_auth(&frame[at..]) {
            Ok(m) => m,
            Err(e) => return self.refuse(fabric, e.reason()),
        };
        if let Err(r) = self.verifier.check(port, src, auth) {
            return self.refuse(fabric, r.reason());
        }
        if fabric && !self.cfg.enabled {
            return self.reject("routing_disabled");
        }
        match msg {
            Message::HomeHello(_) if !fabric => self.home.heard(cx, port, frame),
            Message::HomeHello(_) => self.reject("home_hello_on_fabric"),
            Message::FabricHello(h) if fabric => self.hello(cx, port, h),
            Message::FabricHello(_) => self.stats.hellos_on_edge += 1,
            _ if !fabric => self.reject("not_fabric"),
            Message::Advert(a) => self.advert(cx, port, a),
            Message::Ack(ids) => self.ack(port, ids, cx.now),
            Message::Host(h) => self.host(cx, port, h),
            Message::Binding(b) => self.binding(cx, port, b),
            Message::Query(q) => self.directory_in(cx, frame, src, Directory::Query(q)),
            Message::Answer(a) => self.directory_in(cx, frame, src, Directory::Answer(a)),
        }
    }

    // -----------------------------------------------------------------
    // The directory's messages: bindings flooded like host announcements,
    // queries and answers unicast along the FIB.

    fn bind<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, b: &Binding) {
        self.binding_seq = self.binding_seq.wrapping_add(1);
        let b = Binding {
            origin: self.id,
            seq: self.binding_seq,
            ..b.clone()
        };
        self.stats.bindings_flooded += 1;
        self.flood_message(cx, &Message::Binding(b), None);
    }

    fn binding<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, port: PortId, b: Binding) {
        if !self.first_heard(port, b.origin, b.seq, cx.now, Flooded::Binding) {
            return;
        }
        self.stats.bindings_received += 1;
        self.flood_message(cx, &Message::Binding(b.clone()), Some(port));
        cx.emit(Event::BindingHeard(b));
    }

    /// A query or answer: for us if it is to our own address (an answer)
    /// or to the directory's while we are one (a query).
    fn directory_in<B: Backend>(
        &mut self,
        cx: &mut Ctx<'_, B>,
        frame: &[u8],
        from: Mac,
        msg: Directory,
    ) {
        let to = Mac::from_slice(&frame[0..6]);
        let ours = match msg {
            Directory::Query(_) => self.directory && to == self.directory_address,
            Directory::Answer(_) => to == self.prefix.addr(),
        };
        if !ours {
            return self.reject("not_for_us");
        }
        self.stats.directory_received += 1;
        cx.emit(Event::DirectoryIn { from, msg });
    }

    /// Sends a query or answer to `to` by the FIB, from our own address.
    fn directory_out<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, to: Mac, msg: &Directory) {
        let Some(port) = self.routes.port_for(to) else {
            self.stats.directory_unrouted += 1;
            return;
        };
        self.body.clear();
        match msg {
            Directory::Query(q) => proto::emit(&Message::Query(q.clone()), &mut self.body),
            Directory::Answer(a) => proto::emit(&Message::Answer(a.clone()), &mut self.body),
        }
        moose_wire::ethernet::emit(
            &mut self.frame,
            to,
            self.prefix.addr(),
            None,
            EtherType::Unknown(proto::ETHERTYPE),
            &self.body,
        );
        self.signer.sign(&mut self.frame, 14);
        if self.frame.len() < 60 {
            self.frame.resize(60, 0);
        }
        if cx.send(port, &self.frame) {
            self.stats.directory_sent += 1;
        }
    }

    /// The route to the nearest directory switch (all of them at the
    /// least cost, as one ECMP group): its anycast address as a /48.
    fn directory_route(&self, routes: &[SpfRoute]) -> Option<SpfRoute> {
        if self.directory {
            return None;
        }
        let is_dir = |id: &Mac| self.lsdb.get(id).is_some_and(|e| e.advert.directory);
        let best = routes
            .iter()
            .filter(|r| is_dir(&r.switch_id))
            .map(|r| r.cost)
            .min()?;
        let mut ports: Vec<PortId> = Vec::new();
        let mut switch_id = None;
        for r in routes
            .iter()
            .filter(|r| r.cost == best && is_dir(&r.switch_id))
        {
            ports.extend(&r.ports);
            switch_id = Some(switch_id.map_or(r.switch_id, |s: Mac| s.min(r.switch_id)));
        }
        ports.sort_unstable();
        ports.dedup();
        Some(SpfRoute {
            prefix: MacPrefix::new(self.directory_address, 48).ok()?,
            switch_id: switch_id?,
            cost: best,
            ports,
        })
    }

    // -----------------------------------------------------------------
    // Host announcements: flooded hop by hop to every adjacent neighbour,
    // each switch passing on an announcement it has not seen (by origin
    // and sequence) and telling the hosts service.

    fn announce<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, h: &HostNews) {
        self.host_seq = self.host_seq.wrapping_add(1);
        let a = HostAnnounce {
            origin: self.id,
            seq: self.host_seq,
            vlan: h.vlan,
            real: h.real,
            moose: h.moose,
            ipv4: h.ipv4.clone(),
            ipv6: h.ipv6.clone(),
        };
        self.stats.hosts_announced += 1;
        self.flood_message(cx, &Message::Host(a), None);
    }

    /// Sends a flooded message (host announcement, binding) to every
    /// adjacent neighbour but the one on `except`.
    fn flood_message<B: Backend>(
        &mut self,
        cx: &mut Ctx<'_, B>,
        m: &Message,
        except: Option<PortId>,
    ) {
        if !self.cfg.enabled {
            return;
        }
        self.body.clear();
        proto::emit(m, &mut self.body);
        for port in self.adjacent_ports(except) {
            self.send_body(cx, port);
        }
    }

    /// Whether a flooded message (`origin`, `seq`) heard on `port` is to be
    /// taken and passed on: from an adjacent neighbour, not our own, and
    /// not seen before (remembered for a while, at most
    /// [`MAX_SEEN_HOSTS`] of each kind).
    fn first_heard(
        &mut self,
        port: PortId,
        origin: Mac,
        seq: u32,
        now: Instant,
        kind: Flooded,
    ) -> bool {
        let adjacent = self.nbrs[port.index()]
            .as_ref()
            .is_some_and(|n| n.state >= State::TwoWay);
        if !adjacent {
            self.reject("not_adjacent");
            return false;
        }
        if origin == self.id {
            return false;
        }
        let seen = match kind {
            Flooded::Host => &mut self.seen_hosts,
            Flooded::Binding => &mut self.seen_bindings,
        };
        if seen.len() >= MAX_SEEN_HOSTS {
            seen.retain(|_, t| now.duration_since(*t) < SEEN_HOSTS_FOR);
            if seen.len() >= MAX_SEEN_HOSTS {
                self.reject(match kind {
                    Flooded::Host => "announce_flood",
                    Flooded::Binding => "binding_flood",
                });
                return false;
            }
        }
        seen.insert((origin, seq), now).is_none()
    }

    fn host<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, port: PortId, a: HostAnnounce) {
        if !self.first_heard(port, a.origin, a.seq, cx.now, Flooded::Host) {
            return;
        }
        self.stats.host_announces_received += 1;
        self.flood_message(cx, &Message::Host(a.clone()), Some(port));
        cx.emit(Event::Announced {
            origin: a.origin,
            host: HostNews {
                vlan: a.vlan,
                real: a.real,
                moose: a.moose,
                ipv4: a.ipv4,
                ipv6: a.ipv6,
            },
        });
    }

    fn tick<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        let now = cx.now;
        if now >= self.next_hello {
            self.send_hellos(cx);
            self.next_hello = now + self.cfg.hello_interval;
        }
        self.check_dead(now);
        self.retransmit(cx);
        let full = self
            .nbrs
            .iter()
            .flatten()
            .filter(|n| n.state == State::Full)
            .fold(0u64, |m, n| m | n.port.bit());
        if full & !self.full != 0 {
            cx.emit(Event::NeighborFull);
        }
        self.full = full;
        if now.duration_since(self.last_aging) >= Duration::from_secs(1) {
            self.last_aging = now;
            self.age(cx);
            self.seen_hosts
                .retain(|_, t| now.duration_since(*t) < SEEN_HOSTS_FOR);
        }
        self.settle(cx);
    }

    /// Originates if neighbours changed, runs a due SPF, and keeps the
    /// active tree ports current.
    fn settle<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        if self.dirty {
            self.originate(cx);
        }
        if self.spf_due.is_some_and(|t| t <= cx.now) {
            self.run_spf(cx);
        }
        self.update_active(cx);
    }

    // -----------------------------------------------------------------
    // Reports.

    fn neighbors(&self, now: Instant) -> Vec<NeighborRecord> {
        self.nbrs
            .iter()
            .flatten()
            .map(|n| NeighborRecord {
                port: self.name(n.port),
                state: n.state.name().into(),
                switch_id: n.id.map(|m| m.to_string()).unwrap_or_default(),
                prefix: n.prefix.map(|p| p.to_string()).unwrap_or_default(),
                neighbor_port: n.id.map(|_| n.their_port),
                since_ms: now.duration_since(n.since).as_millis() as u64,
                last_heard_ms: n.id.map(|_| now.duration_since(n.heard).as_millis() as u64),
                tree_active: self.active & n.port.bit() != 0,
                unacked: n.unacked.len(),
            })
            .collect()
    }

    fn lsdb_records(&self, now: Instant) -> Vec<LsdbRecord> {
        self.lsdb
            .values()
            .map(|e| LsdbRecord {
                switch_id: e.advert.origin.to_string(),
                seq: e.advert.seq,
                age_s: e.age(now),
                prefix: e.advert.prefix.to_string(),
                auto_prefix: e.advert.auto_prefix,
                links: e
                    .advert
                    .links
                    .iter()
                    .map(|l| LinkRecord {
                        neighbor: l.neighbor.to_string(),
                        cost: l.cost,
                        port: l.port,
                        neighbor_port: l.neighbor_port,
                    })
                    .collect(),
                own: e.advert.origin == self.id,
            })
            .collect()
    }

    fn tree_report(&self) -> TreeReport {
        let ports = |mask: u64| {
            (0..self.nbrs.len())
                .filter(|p| mask & (1 << p) != 0)
                .map(|p| self.name(PortId(p as u16)))
                .collect()
        };
        TreeReport {
            root: self.tree.root.map(|m| m.to_string()).unwrap_or_default(),
            digest: format!("{:016x}", self.tree.digest),
            edges: self
                .tree
                .edges
                .iter()
                .map(|e| TreeEdgeRecord {
                    parent: e.parent.to_string(),
                    parent_port: e.parent_port,
                    child: e.child.to_string(),
                    child_port: e.child_port,
                })
                .collect(),
            ports: ports(self.tree_ports),
            active: ports(self.active),
        }
    }

    fn report(&self) -> RoutingStats {
        let mut s = self.stats.clone();
        s.switch_id = self.id.to_string();
        s.prefix = self.prefix.to_string();
        s.auto_prefix = self.auto;
        s.lsdb_entries = self.lsdb.len();
        // FNV-1a over every advertisement's origin and sequence, in id
        // order: equal on two switches exactly when their databases hold
        // the same advertisements (what `moose sim` waits for).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (id, e) in &self.lsdb {
            for b in id.0.iter().chain(e.advert.seq.to_be_bytes().iter()) {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        s.lsdb_digest = format!("{h:016x}");
        s.spf_routes = self.spf_routes.len();
        for st in [State::Down, State::Init, State::TwoWay, State::Full] {
            s.neighbors.insert(st.name().into(), 0);
        }
        for n in self.nbrs.iter().flatten() {
            *s.neighbors.entry(n.state.name().into()).or_default() += 1;
        }
        s
    }
}

/// Routes added, removed or changed between two SPF results.
fn diff_count(old: &[SpfRoute], new: &[SpfRoute]) -> u64 {
    let a: HashMap<MacPrefix, &Vec<PortId>> = old.iter().map(|r| (r.prefix, &r.ports)).collect();
    let b: HashMap<MacPrefix, &Vec<PortId>> = new.iter().map(|r| (r.prefix, &r.ports)).collect();
    let changed = b.iter().filter(|(p, v)| a.get(*p) != Some(*v)).count();
    let removed = a.keys().filter(|p| !b.contains_key(*p)).count();
    (changed + removed) as u64
}

impl<B: Backend> Service<B> for Routing {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn classes(&self) -> &'static [PuntClass] {
        &[PuntClass::Protocol]
    }

    fn start(&mut self, cx: &mut Ctx<'_, B>) {
        self.up = cx.tables().ports.up;
        self.routes.start(cx);
        Service::<B>::start(&mut self.home, cx);
        self.next_hello = cx.now;
        self.settle(cx);
        cx.timer(cx.now, TOKEN_TICK);
    }

    fn punt(&mut self, cx: &mut Ctx<'_, B>, _class: PuntClass, _worker: usize, p: Punt<B::Frame>) {
        if let Punt::Frame { port, frame } = p {
            self.receive(cx, port, frame.as_ref());
            cx.free(frame);
        }
    }

    fn event(&mut self, cx: &mut Ctx<'_, B>, ev: &Event) {
        Service::<B>::event(&mut self.home, cx, ev);
        match ev {
            Event::HostUp { host, .. } => return self.announce(cx, host),
            Event::Bound(b) => return self.bind(cx, b),
            Event::DirectoryOut { to, msg } => return self.directory_out(cx, *to, msg),
            _ => {}
        }
        let Event::Link { port, up } = *ev else {
            return;
        };
        if (self.up & port.bit() != 0) != up {
            log::info!(
                "port {}: link {}",
                self.name(port),
                if up { "up" } else { "down" }
            );
        }
        if up {
            self.up |= port.bit();
        } else {
            self.up &= !port.bit();
        }
        self.routes.link(cx, port, up);
        if self.fabric & port.bit() != 0 {
            if up {
                self.send_hello(cx, port);
            } else {
                self.set_state(port, State::Down, cx.now);
                self.settle(cx);
            }
        }
    }

    fn timer(&mut self, cx: &mut Ctx<'_, B>, token: u64) {
        if token != TOKEN_TICK {
            return Service::<B>::timer(&mut self.home, cx, token);
        }
        self.tick(cx);
        cx.timer(cx.now + TICK, TOKEN_TICK);
    }

    /// New link costs (re-originated at the end of the turn) and static
    /// routes.
    fn reconfigure(&mut self, cx: &mut Ctx<'_, B>, cfg: &Config, report: &mut Vec<String>) {
        let costs: Vec<u16> = cfg.ports.iter().map(|p| p.cost).collect();
        if costs != self.costs {
            self.costs = costs;
            self.dirty = true;
        }
        self.routes.reconfigure(cx, cfg, report);
    }

    fn end_of_turn(&mut self, cx: &mut Ctx<'_, B>) {
        if self.dirty || self.spf_due.is_some_and(|t| t <= cx.now) {
            self.settle(cx);
        }
    }

    fn request(
        &mut self,
        cx: &mut Ctx<'_, B>,
        body: Box<dyn std::any::Any + Send>,
    ) -> Result<(), Box<dyn std::any::Any + Send>> {
        let now = cx.now;
        let body = match serve::<NeighborsQuery>(body, |_| self.neighbors(now)) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        let body = match serve::<LsdbQuery>(body, |_| self.lsdb_records(now)) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        let body = match serve::<TreeQuery>(body, |_| self.tree_report()) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        let body = match serve::<RoutingQuery>(body, |_| self.report()) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        let body = match self.routes.request(cx, body) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        Service::<B>::request(&mut self.home, cx, body)
    }
}
