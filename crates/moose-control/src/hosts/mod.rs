//! The `hosts` service: the MOOSE addresses of this switch's hosts.
//!
//! The edge classifier punts the first frame of an unknown host (or of a
//! known one on another port) on class `host`. This service admits the
//! host ([`control::HostTable`]: quota, bound, id scheme, quarantine),
//! publishes its translation both ways (`TableOp::Xlate`), writes the
//! allocation to the durable store ([`store`]) at the end of the turn, and
//! hands the frame back to the worker that punted it, to be classified
//! again once the translation is published: nothing is lost while an
//! address is allocated. Refreshes of known hosts (the edge's learn
//! requests, on the same class) keep them from going idle; hosts idle for
//! `host_idle_secs` are released and their ids quarantined. Hosts that
//! move between switches: [`mobility`].

pub mod api;
pub mod control;
pub mod mobility;
pub mod store;

use std::time::{Duration, Instant};

use moose_config::Config;
use moose_dataplane::io::Backend;
use moose_dataplane::{Punt, PuntClass, TableOp};
use moose_tables::xlate::HostOp;
use moose_wire::{ExactKey, Header, HostId, Mac, PortId};

use crate::api::serve;
use crate::runtime::{Ctx, Event, HostNews, Service};
use api::{HostRecord, HostStats, HostsPage, HostsQuery, StatsQuery, MAX_PAGE};
use control::{Admitted, Host, HostTable};
use mobility::{Arrival, Tracker};
use store::{Batch, Store, StoreError};

/// The low 48 bits of a little-endian load of `m` (what the fast path's
/// keys and rewrites use).
fn le48(m: Mac) -> u64 {
    ExactKey::new(0, m).raw()
}

pub struct Hosts {
    table: HostTable,
    store: Option<Store>,
    batch: Batch,
    names: Vec<String>,
    /// When punts handled this turn were drained, for the first-frame delay.
    pending_first: Vec<Instant>,
    first_sum_us: u64,
    first_max_us: u64,
    first_count: u64,
    idle_check: Duration,
    tracker: Tracker,
    move_hold: Duration,
    /// Old addresses of hosts that moved away, forwarded to the new ones
    /// until the given time: (VLAN, old MOOSE, new MOOSE, until).
    forwards: Vec<(u16, Mac, Mac, Instant)>,
    /// `[[sticky_host]]`s by (VLAN, MAC) sort key: their port.
    sticky: std::collections::HashMap<u64, PortId>,
    last_refusal_log: Option<Instant>,
    last_frozen_log: Option<Instant>,
}

/// How often idle hosts are looked for.
fn idle_check(idle: Duration) -> Duration {
    (idle / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// `[[sticky_host]]`s by (VLAN, MAC) sort key: their port.
fn sticky(cfg: &Config) -> std::collections::HashMap<u64, PortId> {
    cfg.sticky_hosts
        .iter()
        .map(|s| {
            (
                ExactKey::new(s.vlan.get(), s.mac).sort_key(),
                PortId(s.port as u16),
            )
        })
        .collect()
}

/// A repeated warning (refusals, frozen hosts) is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Forwarded old addresses and tracked hosts are checked this often.
const MOBILITY_TICK: Duration = Duration::from_millis(500);
const TOKEN_IDLE: u64 = 0;
const TOKEN_MOBILITY: u64 = 1;

impl Hosts {
    /// The service of a `[moose]` switch (`None` without one), with the
    /// hosts of `moose.state_dir` restored.
    pub fn from_config(cfg: &Config) -> Result<Option<Hosts>, StoreError> {
        let Some(m) = cfg.moose.as_ref() else {
            return Ok(None);
        };
        let store = m.state_dir.as_deref().map(Store::open).transpose()?;
        let loaded = match &store {
            Some(s) => s.load()?,
            None => store::Loaded::default(),
        };
        let mut batch = Batch::default();
        let hash_key = loaded.hash_key.unwrap_or_else(|| {
            let k = std::collections::hash_map::RandomState::new();
            let k = std::hash::BuildHasher::hash_one(&k, 0x6d6f6f7365u64);
            batch.meta.push(("hash_key", k));
            k
        });
        let prefix = m.switch.prefix();
        let prefix_word = prefix.addr().to_u64() | u64::from(prefix.len()) << 48;
        if loaded.prefix != Some(prefix_word) {
            batch.meta.push(("prefix", prefix_word));
        }
        let mut table = HostTable::from_config(cfg, hash_key).expect("[moose] is present");
        for (key, id, port, seen) in loaded.hosts {
            let k = ExactKey::from_sort_key(key);
            let h = Host {
                vlan: k.vlan(),
                real: k.mac(),
                id: HostId(id),
                port: PortId(port),
                last_seen: seen,
            };
            if !table.restore(h) {
                // No longer fits the config (port not an edge, id outside
                // its range): forgotten.
                batch.remove.push(key);
            }
        }
        let now = Instant::now();
        for (id, until) in loaded.quarantine {
            if until > now {
                table.restore_quarantine(id, until);
            } else {
                batch.unquarantine.push(id);
            }
        }
        let idle_check = idle_check(m.host_idle);
        Ok(Some(Hosts {
            table,
            store,
            batch,
            names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
            pending_first: Vec::new(),
            first_sum_us: 0,
            first_max_us: 0,
            first_count: 0,
            idle_check,
            tracker: Tracker::new(m.move_limit, m.move_window),
            move_hold: m.move_hold,
            forwards: Vec::new(),
            sticky: sticky(cfg),
            last_refusal_log: None,
            last_frozen_log: None,
        }))
    }

    pub fn table(&self) -> &HostTable {
        &self.table
    }

    fn bind<B: Backend>(&self, cx: &mut Ctx<'_, B>, h: &Host) {
        cx.table(TableOp::Xlate(HostOp::Bind {
            vlan: h.vlan,
            real: le48(h.real),
            moose: le48(self.table.addr(h.id).mac()),
            port: h.port.0,
        }));
    }

    fn persist(&mut self, h: &Host) {
        if self.store.is_some() {
            self.batch.upsert.push((
                ExactKey::new(h.vlan, h.real).sort_key(),
                h.id.0,
                h.port.0,
                h.last_seen,
            ));
        }
    }

    fn name(&self, p: PortId) -> String {
        self.names
            .get(p.index())
            .cloned()
            .unwrap_or_else(|| format!("port{}", p.0))
    }

    fn page(&self, q: HostsQuery, now: Instant) -> HostsPage {
        let limit = q.limit.clamp(1, MAX_PAGE);
        let (hosts, more) = self.table.page(q.after.map(|c| (c.vlan, c.mac)), limit);
        let entries: Vec<HostRecord> = hosts
            .into_iter()
            .map(|h| HostRecord {
                vlan: h.vlan,
                mac: h.real,
                moose_mac: self.table.addr(h.id).mac(),
                port: self.name(h.port),
                last_seen_ms: now.saturating_duration_since(h.last_seen).as_millis() as u64,
                id: h.id.0,
            })
            .collect();
        let next = if more {
            entries.last().map(|r| {
                crate::bridge::api::FdbCursor {
                    vlan: r.vlan,
                    mac: r.mac,
                }
                .to_string()
            })
        } else {
            None
        };
        HostsPage { entries, next }
    }

    fn stats(&self) -> HostStats {
        let per_port = self
            .names
            .iter()
            .enumerate()
            .filter(|(i, _)| self.table.on_port(PortId(*i as u16)) > 0)
            .map(|(i, n)| (n.clone(), self.table.on_port(PortId(i as u16))))
            .collect();
        HostStats {
            hosts: self.table.len(),
            max_hosts: self.table.max_hosts(),
            host_quota: self.table.quota(),
            per_port,
            quarantined: self.table.quarantined(),
            counters: self.table.counters.clone(),
            first_frame_us_sum: self.first_sum_us,
            first_frame_us_max: self.first_max_us,
            first_frame_count: self.first_count,
            persistent: self.store.is_some(),
            forwarding: self.forwards.len(),
            frozen: self.tracker.frozen(Instant::now()),
        }
    }

    /// Withdraws released hosts' translations (and their store entries).
    fn unbind<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, gone: Vec<Host>) {
        for h in gone {
            cx.table(TableOp::Xlate(HostOp::Unbind {
                vlan: h.vlan,
                real: le48(h.real),
            }));
            if self.store.is_some() {
                self.batch
                    .remove
                    .push(ExactKey::new(h.vlan, h.real).sort_key());
                if let Some(until) = self.table.quarantined_until(h.id.0) {
                    self.batch.quarantine.push((h.id.0, until));
                }
            }
        }
    }

    fn frame<B: Backend>(
        &mut self,
        cx: &mut Ctx<'_, B>,
        worker: usize,
        port: PortId,
        frame: B::Frame,
    ) {
        let h = Header::load(frame.as_ref());
        let src = h.src();
        if h.check(usize::MAX).is_err() || src.is_multicast() || src.is_zero() {
            self.table.counters.bad_frames += 1;
            cx.free(frame);
            return;
        }
        let vid = h.vid();
        let vlan = if vid != 0 {
            vid
        } else {
            cx.tables().ports.pvid(port)
        };
        let key = ExactKey::new(vlan, src).sort_key();
        if self.sticky.get(&key).is_some_and(|p| *p != port) {
            self.table.counters.sticky_refused += 1;
            cx.free(frame);
            return;
        }
        let arrival = if self.table.get(vlan, src).is_some() {
            Arrival::New
        } else {
            self.tracker.arrive(key, cx.now)
        };
        if arrival == Arrival::Frozen {
            if self.table.counters.frozen_refused == 0
                || self
                    .last_frozen_log
                    .is_none_or(|t| cx.now.duration_since(t) >= LOG_EVERY)
            {
                self.last_frozen_log = Some(cx.now);
                log::warn!(
                    "hosts: {src} on VLAN {vlan} is frozen (moved more than moose.move_limit times in moose.move_window_secs: a duplicate MAC or a loop?); its frames on {} are dropped",
                    self.name(port)
                );
            }
            self.table.counters.frozen_refused += 1;
            cx.free(frame);
            return;
        }
        match self.table.admit(vlan, src, port, cx.now) {
            Ok((host, how)) => {
                if how != Admitted::Known {
                    self.bind(cx, &host);
                    self.persist(&host);
                }
                if how == Admitted::New {
                    let (v4, v6) = mobility::addresses_of(frame.as_ref());
                    self.tracker.here(key, cx.now, &v4, &v6);
                    let t = self.tracker.get(key).cloned().unwrap_or_default();
                    let moose = self.table.addr(host.id).mac();
                    if arrival == Arrival::Moved {
                        log::info!(
                            "hosts: {src} on VLAN {vlan} moved in on {}: {moose}",
                            self.name(port)
                        );
                        self.table.counters.moves_in += 1;
                        self.announce_for(cx, Some(worker), port, vid, src, &t);
                    }
                    cx.emit(Event::HostUp {
                        port,
                        host: HostNews {
                            vlan,
                            real: src,
                            moose,
                            ipv4: t.ipv4,
                            ipv6: t.ipv6,
                        },
                    });
                }
                self.table.counters.reinjected += 1;
                self.pending_first.push(cx.now);
                cx.reinject(worker, port, frame);
            }
            Err(why) => {
                if self
                    .last_refusal_log
                    .is_none_or(|t| cx.now.duration_since(t) >= LOG_EVERY)
                {
                    self.last_refusal_log = Some(cx.now);
                    log::warn!(
                        "hosts: {src} on VLAN {vlan} not admitted on {}: {why:?} (quota {} per port, {} of {} hosts; further refusals are counted)",
                        self.name(port),
                        self.table.quota(),
                        self.table.len(),
                        self.table.max_hosts()
                    );
                }
                cx.free(frame)
            }
        }
    }
}

impl Hosts {
    /// The gratuitous ARP and unsolicited neighbour advertisements of a
    /// host that arrived, for every address it is known by, classified as
    /// if it had sent them on `port`, before its frame that was punted (on
    /// the same `worker`). They skip the `elk` service's detour (it binds
    /// the addresses on the `HostUp` event): a frame of the host forwarded
    /// at once must not overtake them, or a peer answers it at its old
    /// address before the old home has heard of the move.
    fn announce_for<B: Backend>(
        &mut self,
        cx: &mut Ctx<'_, B>,
        worker: Option<usize>,
        port: PortId,
        vid: u16,
        real: Mac,
        t: &mobility::Track,
    ) {
        for ip in &t.ipv4 {
            if cx.inject_rx_past_directory(worker, port, &mobility::garp(real, *ip, vid)) {
                self.table.counters.announcements_sent += 1;
            }
        }
        for ip in &t.ipv6 {
            if cx.inject_rx_past_directory(worker, port, &mobility::unsolicited_na(real, *ip, vid))
            {
                self.table.counters.announcements_sent += 1;
            }
        }
    }

    /// The switch's prefix changed: every host gets its id under the new
    /// one, is announced again, and its gratuitous ARP and unsolicited
    /// neighbour advertisements tell its peers.
    fn renumbered<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, prefix: moose_wire::MacPrefix) {
        let Ok(s) = moose_wire::SwitchId::new(prefix) else {
            return;
        };
        self.table.set_switch(s);
        let word = prefix.addr().to_u64() | u64::from(prefix.len()) << 48;
        if self.store.is_some() {
            self.batch.meta.push(("prefix", word));
        }
        let hosts: Vec<Host> = self.table.iter().cloned().collect();
        for h in hosts {
            self.bind(cx, &h);
            let key = ExactKey::new(h.vlan, h.real).sort_key();
            let t = self.tracker.get(key).cloned().unwrap_or_default();
            let vid = if cx.tables().ports.pvid(h.port) == h.vlan {
                0
            } else {
                h.vlan
            };
            self.announce_for(cx, None, h.port, vid, h.real, &t);
            cx.emit(Event::HostUp {
                port: h.port,
                host: HostNews {
                    vlan: h.vlan,
                    real: h.real,
                    moose: self.table.addr(h.id).mac(),
                    ipv4: t.ipv4,
                    ipv6: t.ipv6,
                },
            });
        }
    }

    /// Another switch announced a host: if it is ours, it moved there —
    /// hand it over (release it, forward its old address to the new one).
    fn announced<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, origin: Mac, h: &HostNews) {
        let key = ExactKey::new(h.vlan, h.real).sort_key();
        self.tracker.announced(key, cx.now, &h.ipv4, &h.ipv6);
        if self.table.get(h.vlan, h.real).is_none() {
            return;
        }
        if self.sticky.contains_key(&key) {
            self.table.counters.sticky_refused += 1;
            return;
        }
        let Some(old) = self
            .table
            .release_moved(cx.now, h.vlan, h.real, self.move_hold)
        else {
            return;
        };
        self.table.counters.moves_out += 1;
        let old_moose = self.table.addr(old.id).mac();
        log::info!(
            "hosts: {} on VLAN {} moved to {} behind switch {origin}; {old_moose} forwarded for {} s",
            h.real,
            h.vlan,
            h.moose,
            self.move_hold.as_secs()
        );
        self.unbind(cx, vec![old]);
        self.forwards
            .push((h.vlan, old_moose, h.moose, cx.now + self.move_hold));
        self.forward(cx, h.vlan, old_moose, h.moose);
    }

    /// (Re)installs the forwarding of `old` to `new` out of the port the
    /// FIB gives for `new` now.
    fn forward<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, vlan: u16, old: Mac, new: Mac) {
        let t = cx.tables();
        let hop = match t
            .fib
            .lookup_raw(moose_wire::PrefixKey::from_le48(le48(new)).raw())
        {
            moose_tables::lpm::NO_ROUTE => None,
            v => match moose_dataplane::tables::NextHop::decode(v) {
                moose_dataplane::tables::NextHop::Port(p) => Some(p),
                moose_dataplane::tables::NextHop::Group(g) => t.groups.pick(g, 0),
            },
        };
        match hop {
            Some(p) => cx.table(TableOp::Xlate(HostOp::Forward {
                vlan,
                moose: le48(old),
                to: le48(new),
                port: p.0,
            })),
            None => {
                self.table.counters.forward_unrouted += 1;
                cx.table(TableOp::Xlate(HostOp::Unforward {
                    vlan,
                    moose: le48(old),
                }));
            }
        }
    }

    /// Ends forwardings that are over, re-resolves the others' ports (the
    /// routes may have changed), forgets hosts not announced for a window.
    fn mobility_tick<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        let now = cx.now;
        let (over, keep): (Vec<_>, Vec<_>) = self.forwards.drain(..).partition(|f| f.3 <= now);
        for (vlan, old, _, _) in over {
            cx.table(TableOp::Xlate(HostOp::Unforward {
                vlan,
                moose: le48(old),
            }));
        }
        for &(vlan, old, new, _) in &keep {
            self.forward(cx, vlan, old, new);
        }
        self.forwards = keep;
        self.tracker.expire(now);
    }
}

impl<B: Backend> Service<B> for Hosts {
    fn name(&self) -> &'static str {
        "hosts"
    }

    fn classes(&self) -> &'static [PuntClass] {
        &[PuntClass::Host]
    }

    fn start(&mut self, cx: &mut Ctx<'_, B>) {
        let hosts: Vec<Host> = self.table.iter().cloned().collect();
        for h in &hosts {
            self.bind(cx, h);
        }
        if let Some(s) = &self.store {
            if s.write(&self.batch).is_err() {
                self.table.counters.store_errors += 1;
            }
        }
        self.batch = Batch::default();
        cx.timer(cx.now + self.idle_check, TOKEN_IDLE);
        cx.timer(cx.now + MOBILITY_TICK, TOKEN_MOBILITY);
    }

    /// New quotas, times and sticky hosts. Hosts whose port no longer
    /// carries their VLAN, and hosts now pinned to another port than the
    /// one they are on, are released (their next frame is admitted, or
    /// refused, afresh).
    fn reconfigure(&mut self, cx: &mut Ctx<'_, B>, cfg: &Config, report: &mut Vec<String>) {
        let Some(m) = &cfg.moose else { return };
        self.table.reconfigure(m);
        self.idle_check = idle_check(m.host_idle);
        self.move_hold = m.move_hold;
        self.sticky = sticky(cfg);
        let sticky = &self.sticky;
        let gone = self.table.release_where(cx.now, |h| {
            let carried = cfg
                .ports
                .get(h.port.index())
                .is_some_and(|p| p.vlans.contains(h.vlan));
            let pinned_elsewhere = sticky
                .get(&ExactKey::new(h.vlan, h.real).sort_key())
                .is_some_and(|p| *p != h.port);
            !carried || pinned_elsewhere
        });
        if !gone.is_empty() {
            report.push(format!(
                "hosts: released {} (their port no longer carries their VLAN, or they are pinned to another port now)",
                gone.len()
            ));
            self.unbind(cx, gone);
        }
    }

    fn punt(&mut self, cx: &mut Ctx<'_, B>, _class: PuntClass, worker: usize, p: Punt<B::Frame>) {
        match p {
            Punt::Learn { key, port } => {
                if self.table.touch(key, port, cx.now) {
                    if let Some(h) = self.table.get(key.vlan(), key.mac()).cloned() {
                        self.persist(&h);
                    }
                }
            }
            Punt::Frame { port, frame } => self.frame(cx, worker, port, frame),
        }
    }

    fn event(&mut self, cx: &mut Ctx<'_, B>, ev: &Event) {
        match *ev {
            // A legacy host the bridge heard keeps its translation alive.
            Event::Heard { key, port } if self.table.touch(key, port, cx.now) => {
                if let Some(h) = self.table.get(key.vlan(), key.mac()).cloned() {
                    self.persist(&h);
                }
            }
            // The segment's home is elsewhere: its hosts are not ours.
            Event::Home {
                port,
                foreign: true,
            } => {
                let gone = self.table.release_port(cx.now, port);
                self.unbind(cx, gone);
            }
            Event::Announced { origin, ref host } => {
                let host = host.clone();
                self.announced(cx, origin, &host);
            }
            Event::Renumbered { prefix } => self.renumbered(cx, prefix),
            Event::MacOwned { mac, owned } => self.table.pin(mac, owned),
            _ => {}
        }
    }

    fn end_of_turn(&mut self, _cx: &mut Ctx<'_, B>) {
        if let Some(s) = &self.store {
            if !self.batch.is_empty() {
                if s.write(&self.batch).is_err() {
                    self.table.counters.store_errors += 1;
                }
                self.batch = Batch::default();
            }
        }
        if !self.pending_first.is_empty() {
            let done = Instant::now();
            for t in self.pending_first.drain(..) {
                let us = done.saturating_duration_since(t).as_micros() as u64;
                self.first_sum_us += us;
                self.first_max_us = self.first_max_us.max(us);
                self.first_count += 1;
            }
        }
    }

    fn timer(&mut self, cx: &mut Ctx<'_, B>, token: u64) {
        if token == TOKEN_MOBILITY {
            self.mobility_tick(cx);
            cx.timer(cx.now + MOBILITY_TICK, TOKEN_MOBILITY);
            return;
        }
        let gone = self.table.release_idle(cx.now);
        self.unbind(cx, gone);
        cx.timer(cx.now + self.idle_check, TOKEN_IDLE);
    }

    fn request(
        &mut self,
        cx: &mut Ctx<'_, B>,
        body: Box<dyn std::any::Any + Send>,
    ) -> Result<(), Box<dyn std::any::Any + Send>> {
        let now = cx.now;
        let body = match serve::<HostsQuery>(body, |q| self.page(q, now)) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        serve::<StatsQuery>(body, |_| self.stats())
    }
}
