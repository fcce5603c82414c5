//! The host table of a MOOSE switch: which real (VLAN, MAC) has which host
//! id, on which edge port, seen when; the id allocator; the quarantine of
//! released ids. Owner: the hosts service, on the control thread.
//!
//! A host is (VLAN, real MAC); its MOOSE address is the switch prefix plus
//! its host id, unique across VLANs. Ids come from the scheme of
//! `moose.host_ids`:
//!
//! * `sequential`: the lowest free id after the last one given, over the
//!   whole id space;
//! * `port-sequential`: the same within the edge port's own equal share of
//!   the id space, so an exhaustion attack on one port leaves the others'
//!   ids alone;
//! * `hash`: a keyed hash of (VLAN, MAC), probing forward on collision — a
//!   host gets the same address again even without the store, and the key
//!   (random, kept in the store) keeps hosts from choosing collisions;
//! * `pool`: sequential within the port's `host_pool`.
//!
//! Bounds: `host_quota` hosts per port and `max_hosts` in all; an id
//! released (idle for `host_idle_secs`) is quarantined for
//! `reuse_after_secs` before another host gets it, so that a neighbour's
//! stale ARP entry never reaches a different host. Every bound is counted
//! when it refuses, never turned into flooding.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use moose_config::{Config, HostIds, Role};
use moose_dataplane::MAX_PORTS;
use moose_wire::{ExactKey, HostId, Mac, MooseAddr, PortId, SwitchId};

use super::api::HostCounters;

/// One host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub vlan: u16,
    pub real: Mac,
    pub id: HostId,
    pub port: PortId,
    pub last_seen: Instant,
}

/// What admitting a frame's source did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Admitted {
    /// A new host, with a new address.
    New,
    /// A known host on another port than before (same address).
    Moved { from: PortId },
    /// Known, same port (a frame punted before its translation was out).
    Known,
}

/// Why a host was not admitted.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Its port holds `host_quota` hosts.
    Quota,
    /// The switch holds `max_hosts`, or the scheme has no free id.
    Full,
    /// Not an edge port, or a port without a pool under `pool`.
    NotEdge,
}

/// The id range a port allocates from: `first..=last`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Range {
    first: u64,
    last: u64,
}

pub struct HostTable {
    switch: SwitchId,
    scheme: HostIds,
    quota: u32,
    max: u32,
    idle: Duration,
    reuse_after: Duration,
    /// By `ExactKey::sort_key` of (VLAN, real MAC).
    hosts: BTreeMap<u64, Host>,
    /// Host id → the host's key.
    ids: HashMap<u64, u64>,
    /// Released ids: until when each is quarantined, and in release order.
    quarantined: HashMap<u64, Instant>,
    released: VecDeque<(Instant, u64)>,
    per_port: [u32; MAX_PORTS],
    /// The range of each port (edge ports only).
    ranges: [Option<Range>; MAX_PORTS],
    /// Where sequential allocation goes on, per range.
    cursor: [u64; MAX_PORTS],
    hash_key: u64,
    /// Real MACs the MAC provider has handed out: never released as idle.
    pinned: std::collections::HashSet<Mac>,
    pub counters: HostCounters,
}

impl HostTable {
    /// `None` without `[moose]`.
    pub fn from_config(cfg: &Config, hash_key: u64) -> Option<HostTable> {
        let m = cfg.moose.as_ref()?;
        let all = Range {
            first: 1,
            last: (1u64 << m.switch.host_bits()) - 1,
        };
        // Edge ports, and legacy ports (whose hosts get addresses when they
        // talk beyond their segment) except under `pool`, where only the
        // edge ports have pools.
        let edges: Vec<usize> = cfg
            .ports
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.role == Role::Edge || (p.role == Role::Legacy && m.host_ids != HostIds::Pool)
            })
            .map(|(i, _)| i)
            .collect();
        let mut ranges = [None; MAX_PORTS];
        for (ord, &i) in edges.iter().enumerate() {
            ranges[i] = Some(match m.host_ids {
                HostIds::Sequential | HostIds::Hash => all,
                HostIds::PortSequential => {
                    let span = (all.last / edges.len() as u64).max(1);
                    Range {
                        first: 1 + ord as u64 * span,
                        last: (ord as u64 + 1) * span,
                    }
                }
                HostIds::Pool => {
                    let p = cfg.ports[i].host_pool?;
                    let mask = !m.switch.prefix().mask() & ((1 << 48) - 1);
                    let first = p.addr().to_u64() & mask;
                    let last = first | (!p.mask() & ((1 << 48) - 1));
                    Range {
                        first: first.max(1),
                        last,
                    }
                }
            });
        }
        let cursor = std::array::from_fn(|i| ranges[i].map_or(0, |r: Range| r.first));
        Some(HostTable {
            switch: m.switch,
            scheme: m.host_ids,
            quota: m.host_quota,
            max: m.max_hosts,
            idle: m.host_idle,
            reuse_after: m.reuse_after,
            hosts: BTreeMap::new(),
            ids: HashMap::new(),
            quarantined: HashMap::new(),
            released: VecDeque::new(),
            per_port: [0; MAX_PORTS],
            ranges,
            cursor,
            hash_key,
            pinned: std::collections::HashSet::new(),
            counters: HostCounters::default(),
        })
    }

    /// The switch was renumbered: every host keeps its id under `s`
    /// (automatic prefixes are all /24, so every id fits).
    pub fn set_switch(&mut self, s: SwitchId) {
        debug_assert_eq!(s.host_bits(), self.switch.host_bits());
        self.switch = s;
    }

    pub fn switch(&self) -> SwitchId {
        self.switch
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    pub fn quota(&self) -> u32 {
        self.quota
    }

    pub fn max_hosts(&self) -> u32 {
        self.max
    }

    pub fn on_port(&self, p: PortId) -> u32 {
        self.per_port[p.index()]
    }

    pub fn quarantined(&self) -> usize {
        self.quarantined.len()
    }

    /// The MOOSE address of host id `id`.
    pub fn addr(&self, id: HostId) -> MooseAddr {
        self.switch
            .addr(id)
            .expect("ids come from the switch's own id space")
    }

    pub fn get(&self, vlan: u16, real: Mac) -> Option<&Host> {
        self.hosts.get(&ExactKey::new(vlan, real).sort_key())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values()
    }

    /// Hosts after `after` (VLAN, MAC), at most `limit`; and whether more
    /// follow.
    pub fn page(&self, after: Option<(u16, Mac)>, limit: usize) -> (Vec<&Host>, bool) {
        use std::ops::Bound;
        let lower = match after {
            Some((v, m)) => Bound::Excluded(ExactKey::new(v, m).sort_key()),
            None => Bound::Unbounded,
        };
        let mut it = self.hosts.range((lower, Bound::Unbounded)).map(|(_, h)| h);
        let page: Vec<&Host> = it.by_ref().take(limit).collect();
        (page, it.next().is_some())
    }

    fn in_quarantine(&mut self, id: u64, now: Instant) -> bool {
        match self.quarantined.get(&id) {
            Some(&until) if until > now => true,
            Some(_) => {
                self.quarantined.remove(&id);
                false
            }
            None => false,
        }
    }

    fn free(&mut self, id: u64, now: Instant) -> bool {
        !self.ids.contains_key(&id) && !self.in_quarantine(id, now)
    }

    /// A free id for a new host on `port`, by the scheme.
    fn allocate(&mut self, vlan: u16, real: Mac, port: PortId, now: Instant) -> Option<u64> {
        let r = self.ranges[port.index()]?;
        let size = r.last - r.first + 1;
        let start = match self.scheme {
            HostIds::Hash => r.first + self.keyed_hash(vlan, real) % size,
            _ => self.cursor[port.index()].clamp(r.first, r.last),
        };
        // Probe forward from `start`, wrapping: at most the ids in use and
        // in quarantine are skipped (bounded by max_hosts + quarantined).
        let mut id = start;
        for _ in 0..size.min(u64::from(self.max) + self.quarantined.len() as u64 + 1) {
            if self.free(id, now) {
                if self.scheme != HostIds::Hash {
                    self.cursor[port.index()] = if id == r.last { r.first } else { id + 1 };
                }
                return Some(id);
            }
            id = if id == r.last { r.first } else { id + 1 };
        }
        None
    }

    fn keyed_hash(&self, vlan: u16, real: Mac) -> u64 {
        let k = ExactKey::new(vlan, real).raw() ^ self.hash_key;
        // A folded multiply (the tables' hash), keyed.
        let p = u128::from(k).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        (p as u64) ^ ((p >> 64) as u64)
    }

    /// The host behind a frame from `real` on `vlan` received on `port`:
    /// known, moved, or newly allocated.
    pub fn admit(
        &mut self,
        vlan: u16,
        real: Mac,
        port: PortId,
        now: Instant,
    ) -> Result<(Host, Admitted), Refused> {
        let key = ExactKey::new(vlan, real).sort_key();
        if self.ranges[port.index()].is_none() {
            return Err(Refused::NotEdge);
        }
        if let Some(h) = self.hosts.get_mut(&key) {
            h.last_seen = now;
            if h.port == port {
                return Ok((h.clone(), Admitted::Known));
            }
            if self.per_port[port.index()] >= self.quota {
                self.counters.quota_refused += 1;
                return Err(Refused::Quota);
            }
            let from = h.port;
            let old_id = h.id;
            // Where ids are per port (port-sequential, pool), a host that
            // moves takes an id of its new port (the old one is
            // quarantined); elsewhere it keeps its address.
            let per_port_ids = matches!(self.scheme, HostIds::PortSequential | HostIds::Pool);
            let new_id = if per_port_ids {
                match self.allocate(vlan, real, port, now) {
                    Some(id) => HostId(id),
                    None => {
                        self.counters.full_refused += 1;
                        return Err(Refused::Full);
                    }
                }
            } else {
                old_id
            };
            self.per_port[from.index()] -= 1;
            self.per_port[port.index()] += 1;
            if new_id != old_id {
                self.ids.remove(&old_id.0);
                self.ids.insert(new_id.0, key);
                self.quarantined.insert(old_id.0, now + self.reuse_after);
                self.released.push_back((now + self.reuse_after, old_id.0));
            }
            let h = self.hosts.get_mut(&key).expect("present above");
            h.port = port;
            h.id = new_id;
            self.counters.moved += 1;
            return Ok((h.clone(), Admitted::Moved { from }));
        }
        if self.per_port[port.index()] >= self.quota {
            self.counters.quota_refused += 1;
            return Err(Refused::Quota);
        }
        if self.hosts.len() >= self.max as usize {
            self.counters.full_refused += 1;
            return Err(Refused::Full);
        }
        let Some(id) = self.allocate(vlan, real, port, now) else {
            self.counters.full_refused += 1;
            return Err(Refused::Full);
        };
        let h = Host {
            vlan,
            real,
            id: HostId(id),
            port,
            last_seen: now,
        };
        self.insert(key, h.clone());
        self.counters.allocated += 1;
        Ok((h, Admitted::New))
    }

    fn insert(&mut self, key: u64, h: Host) {
        self.per_port[h.port.index()] += 1;
        self.ids.insert(h.id.0, key);
        self.hosts.insert(key, h);
    }

    /// Puts back a host from the store (on start). False if its id or its
    /// port no longer fits this switch's config (it is then forgotten).
    pub fn restore(&mut self, h: Host) -> bool {
        let key = ExactKey::new(h.vlan, h.real).sort_key();
        let fits = self.ranges[h.port.index()]
            .is_some_and(|r| (r.first..=r.last).contains(&h.id.0))
            && !self.ids.contains_key(&h.id.0)
            && self.hosts.len() < self.max as usize;
        if fits {
            self.insert(key, h);
        }
        fits
    }

    /// Puts back a quarantined id from the store.
    pub fn restore_quarantine(&mut self, id: u64, until: Instant) {
        self.quarantined.insert(id, until);
        self.released.push_back((until, id));
    }

    /// A refresh from the fast path: the host on `port` is talking.
    pub fn touch(&mut self, key: ExactKey, port: PortId, now: Instant) -> bool {
        match self.hosts.get_mut(&key.sort_key()) {
            Some(h) if h.port == port => {
                h.last_seen = now;
                self.counters.refreshed += 1;
                true
            }
            _ => false,
        }
    }

    /// Releases the hosts idle for `host_idle_secs`; their ids go into
    /// quarantine until `now + reuse_after_secs`. Returns them.
    pub fn release_idle(&mut self, now: Instant) -> Vec<Host> {
        let idle = self.idle;
        let pinned = std::mem::take(&mut self.pinned);
        let gone = self.release(now, |h| {
            now.saturating_duration_since(h.last_seen) >= idle && !pinned.contains(&h.real)
        });
        self.pinned = pinned;
        gone
    }

    /// Pins (or unpins) the hosts whose real MAC is `mac`: a pinned host
    /// is never released as idle, so it keeps its id (the MAC provider
    /// owns that address for a device).
    pub fn pin(&mut self, mac: Mac, on: bool) {
        if on {
            self.pinned.insert(mac);
        } else {
            self.pinned.remove(&mac);
        }
    }

    /// Releases every host on `port` (its segment is homed elsewhere now),
    /// into quarantine like idle ones. Returns them.
    pub fn release_port(&mut self, now: Instant, port: PortId) -> Vec<Host> {
        self.release(now, |h| h.port == port)
    }

    /// Releases the hosts `gone` says (a reload: their port no longer
    /// carries their VLAN), into quarantine like idle ones. Returns them.
    pub fn release_where(&mut self, now: Instant, gone: impl Fn(&Host) -> bool) -> Vec<Host> {
        self.release(now, gone)
    }

    /// New bounds and times (a reload). Hosts beyond a lowered quota or
    /// bound stay; no more are admitted until their count falls below it.
    pub fn reconfigure(&mut self, m: &moose_config::Moose) {
        self.quota = m.host_quota;
        self.max = m.max_hosts;
        self.idle = m.host_idle;
        self.reuse_after = m.reuse_after;
    }

    fn release(&mut self, now: Instant, gone: impl Fn(&Host) -> bool) -> Vec<Host> {
        let gone: Vec<u64> = self
            .hosts
            .iter()
            .filter(|(_, h)| gone(h))
            .map(|(k, _)| *k)
            .collect();
        let mut out = Vec::with_capacity(gone.len());
        for k in gone {
            if let Some(h) = self.hosts.remove(&k) {
                self.per_port[h.port.index()] -= 1;
                self.ids.remove(&h.id.0);
                let until = now + self.reuse_after;
                self.quarantined.insert(h.id.0, until);
                self.released.push_back((until, h.id.0));
                self.counters.released += 1;
                out.push(h);
            }
        }
        // Forget quarantines that are over (in release order).
        while let Some(&(until, id)) = self.released.front() {
            if until > now {
                break;
            }
            self.released.pop_front();
            if self.quarantined.get(&id).is_some_and(|&u| u <= now) {
                self.quarantined.remove(&id);
            }
        }
        out
    }

    /// Releases host (`vlan`, `real`) — it moved to another switch — with
    /// its id quarantined until `now + hold + reuse_after_secs` (its old
    /// address is forwarded meanwhile). Returns it.
    pub fn release_moved(
        &mut self,
        now: Instant,
        vlan: u16,
        real: Mac,
        hold: Duration,
    ) -> Option<Host> {
        let key = ExactKey::new(vlan, real).sort_key();
        let h = self.hosts.remove(&key)?;
        self.per_port[h.port.index()] -= 1;
        self.ids.remove(&h.id.0);
        let until = now + hold + self.reuse_after;
        self.quarantined.insert(h.id.0, until);
        self.released.push_back((until, h.id.0));
        self.counters.released += 1;
        Some(h)
    }

    /// Until when `id` is quarantined, if it is.
    pub fn quarantined_until(&self, id: u64) -> Option<Instant> {
        self.quarantined.get(&id).copied()
    }

    /// Every quarantined id and until when.
    pub fn quarantine(&self) -> impl Iterator<Item = (u64, Instant)> + '_ {
        self.quarantined.iter().map(|(id, t)| (*id, *t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cfg(ids: &str, extra: &str) -> Config {
        let mut t = format!(
            "[switch]\nname=\"s\"\n[moose]\nprefix = \"02:11:11:11:00:00/32\"\nhost_ids = \"{ids}\"\nhost_quota = 5\nmax_hosts = 8\nhost_idle_secs = 10\nreuse_after_secs = 100\n{extra}\n"
        );
        t += "[[port]]\nname=\"f0\"\nrole=\"fabric\"\ndevice=\"net_null0\"\n";
        for i in 1..3 {
            t += &format!("[[port]]\nname=\"e{i}\"\nrole=\"edge\"\ndevice=\"net_null{i}\"\n");
            if ids == "pool" {
                t += &format!("host_pool = \"02:11:11:11:{i:02x}:00/40\"\n");
            }
        }
        Config::from_toml(&t).unwrap()
    }

    fn mac(n: u8) -> Mac {
        Mac([0, 0x16, 0x17, 0, 0, n])
    }

    const E1: PortId = PortId(1);
    const E2: PortId = PortId(2);

    #[test]
    fn sequential_ids_quota_and_bound() {
        let t0 = Instant::now();
        let mut t = HostTable::from_config(&cfg("sequential", ""), 0).unwrap();
        let (h, a) = t.admit(1, mac(1), E1, t0).unwrap();
        assert_eq!((h.id, a), (HostId(1), Admitted::New));
        assert_eq!(t.addr(h.id).mac().to_string(), "02:11:11:11:00:01");
        assert_eq!(t.admit(1, mac(1), E1, t0).unwrap().1, Admitted::Known);
        // The same MAC on another VLAN is another host.
        assert_eq!(t.admit(2, mac(1), E1, t0).unwrap().0.id, HostId(2));
        for n in 2..5 {
            t.admit(1, mac(n), E1, t0).unwrap();
        }
        assert_eq!(t.admit(1, mac(9), E1, t0), Err(Refused::Quota));
        for n in 10..13 {
            t.admit(1, mac(n), E2, t0).unwrap();
        }
        assert_eq!(
            t.admit(1, mac(13), E2, t0),
            Err(Refused::Full),
            "max_hosts 8"
        );
        assert_eq!(t.admit(1, mac(1), PortId(0), t0), Err(Refused::NotEdge));
        assert_eq!((t.counters.quota_refused, t.counters.full_refused), (1, 1));
    }

    #[test]
    fn moves_keep_the_address() {
        let t0 = Instant::now();
        let mut t = HostTable::from_config(&cfg("sequential", ""), 0).unwrap();
        let (h, _) = t.admit(1, mac(1), E1, t0).unwrap();
        let (h2, a) = t.admit(1, mac(1), E2, t0).unwrap();
        assert_eq!(a, Admitted::Moved { from: E1 });
        assert_eq!(h2.id, h.id);
        assert_eq!((t.on_port(E1), t.on_port(E2)), (0, 1));
    }

    /// A host whose MAC the MAC provider handed out keeps its id however
    /// long it is idle; unpinned, it is released as any other.
    #[test]
    fn hosts_with_provider_macs_are_never_idle() {
        let t0 = Instant::now();
        let mut t = HostTable::from_config(&cfg("sequential", ""), 0).unwrap();
        let (a, _) = t.admit(1, mac(1), E1, t0).unwrap();
        t.admit(1, mac(2), E1, t0).unwrap();
        t.pin(mac(1), true);
        let gone = t.release_idle(t0 + Duration::from_secs(3600));
        assert_eq!(gone.iter().map(|h| h.real).collect::<Vec<_>>(), [mac(2)]);
        assert_eq!(t.get(1, mac(1)).map(|h| h.id), Some(a.id));
        t.pin(mac(1), false);
        assert_eq!(t.release_idle(t0 + Duration::from_secs(7200)).len(), 1);
    }

    #[test]
    fn released_ids_are_quarantined() {
        let t0 = Instant::now();
        let mut t = HostTable::from_config(&cfg("sequential", ""), 0).unwrap();
        let (a, _) = t.admit(1, mac(1), E1, t0).unwrap();
        let later = t0 + Duration::from_secs(5);
        t.admit(1, mac(2), E1, later).unwrap();
        // mac(1) idle for 10 s: released; its id waits 100 s.
        let gone = t.release_idle(t0 + Duration::from_secs(10));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].id, a.id);
        assert_eq!(t.quarantined(), 1);
        // Sequential allocation moves on anyway; wrap around to id 1 only
        // after the quarantine: fill the id space up to it.
        let t1 = t0 + Duration::from_secs(11);
        let mut ids: Vec<u64> = (3..9)
            .map(|n| {
                t.admit(1, mac(n), if n < 6 { E1 } else { E2 }, t1)
                    .unwrap()
                    .0
                    .id
                    .0
            })
            .collect();
        ids.sort();
        assert!(
            !ids.contains(&a.id.0),
            "a quarantined id is not reused: {ids:?}"
        );
        // mac(1) returns as a new host, with another id.
        t.release_idle(t1 + Duration::from_secs(10));
        assert_eq!(t.len(), 0);
        let t2 = t0 + Duration::from_secs(200);
        t.release_idle(t2);
        let (b, _) = t.admit(1, mac(1), E1, t2).unwrap();
        assert_eq!(t.admit(1, mac(1), E1, t2).unwrap().1, Admitted::Known);
        let _ = b;
    }

    #[test]
    fn port_sequential_and_pool_ranges_are_per_port() {
        let t0 = Instant::now();
        let mut t = HostTable::from_config(&cfg("port-sequential", ""), 0).unwrap();
        let a = t.admit(1, mac(1), E1, t0).unwrap().0.id.0;
        let b = t.admit(1, mac(2), E2, t0).unwrap().0.id.0;
        assert_eq!(a, 1);
        assert_eq!(b, 1 + 0xffff / 2, "e2's share starts half way");
        let mut t = HostTable::from_config(&cfg("pool", ""), 0).unwrap();
        let a = t.admit(1, mac(1), E1, t0).unwrap().0;
        let b = t.admit(1, mac(2), E2, t0).unwrap().0;
        assert_eq!(t.addr(a.id).mac().to_string(), "02:11:11:11:01:00");
        assert_eq!(t.addr(b.id).mac().to_string(), "02:11:11:11:02:00");
    }

    #[test]
    fn hash_ids_are_stable_and_keyed() {
        let t0 = Instant::now();
        let id = |key: u64| {
            let mut t = HostTable::from_config(&cfg("hash", ""), key).unwrap();
            t.admit(1, mac(1), E1, t0).unwrap().0.id
        };
        assert_eq!(id(7), id(7), "the same host gets the same id again");
        let ids: std::collections::BTreeSet<_> = (0..16).map(id).collect();
        assert!(ids.len() > 8, "the key changes the id: {ids:?}");
    }

    proptest! {
        /// Whatever hosts come and go, ids are unique, inside their port's
        /// range, never a quarantined one, and the counts add up.
        #[test]
        fn ids_stay_unique(
            scheme in prop_oneof![Just("sequential"), Just("port-sequential"), Just("hash"), Just("pool")],
            steps in proptest::collection::vec((0u8..20, 1u16..3, 0u64..30), 1..80),
        ) {
            let t0 = Instant::now();
            let mut t = HostTable::from_config(&cfg(scheme, ""), 42).unwrap();
            let mut now = t0;
            for (m, port, dt) in steps {
                now += Duration::from_secs(dt);
                t.release_idle(now);
                let quarantined: Vec<u64> = t.quarantine().filter(|(_, u)| *u > now).map(|(id, _)| id).collect();
                if let Ok((h, Admitted::New)) = t.admit(1, mac(m), PortId(port), now) {
                    prop_assert!(!quarantined.contains(&h.id.0));
                }
                let mut seen = std::collections::HashSet::new();
                for h in t.iter() {
                    prop_assert!(seen.insert(h.id.0), "id {} twice", h.id.0);
                    let r = t.ranges[h.port.index()].unwrap();
                    prop_assert!((r.first..=r.last).contains(&h.id.0));
                }
                prop_assert!(t.len() <= 8);
                prop_assert!(t.on_port(E1) <= 5 && t.on_port(E2) <= 5);
                prop_assert_eq!(t.on_port(E1) + t.on_port(E2), t.len() as u32);
            }
        }
    }
}
