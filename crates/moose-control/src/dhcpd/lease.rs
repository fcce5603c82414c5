//! A pool's address book, and the durable store of leases.
//!
//! Design: a pool keeps state only for the addresses that have some —
//! `slots`, a `BTreeMap` from address to what it is (leased, offered,
//! declined, or free but remembered as a client's last address) — so an
//! untouched range costs nothing and a /16 costs what its clients cost.
//! `by_mac` maps each client to its one slot (its lease, its offer, or its
//! last address), so a returning client is found in O(1) and offered its
//! old address again. Held offers are also kept by deadline (`offers`), so
//! the hold bound is checked in O(log n) however many DISCOVERs arrive.
//! The lowest free address is the first gap in `slots` (O(addresses with
//! state)); addresses with no state at all are preferred, so a remembered
//! address is reused only when nothing else is left.
//!
//! The store is one `redb` table, (VLAN, MAC) → (address, expiry in Unix
//! milliseconds): only leases are durable. Offers, declines and remembered
//! addresses are soft state and start empty. Each write is one transaction
//! with immediate durability (fsync) that returns before the caller acts
//! on it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use moose_config::DhcpPool;
use moose_wire::Mac;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::Lease;

/// How long an offered address is held for its client.
pub const OFFER_HOLD: Duration = Duration::from_secs(60);
/// How long a declined address (in use by a host the server does not
/// know) is kept out of the pool.
pub const DECLINE_HOLD: Duration = Duration::from_secs(600);

/// What one address is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    Leased(Lease),
    /// Offered to `mac`, held until `until`.
    Offered {
        mac: Mac,
        until: SystemTime,
    },
    /// Declined: not offered until `until`.
    Declined {
        until: SystemTime,
    },
    /// Free, and the last address of `mac` (released or expired): offered
    /// to it first, to others only when nothing else is free.
    Remembered {
        mac: Mac,
    },
}

impl Slot {
    fn owner(&self) -> Option<Mac> {
        match self {
            Slot::Leased(l) => Some(l.mac),
            Slot::Offered { mac, .. } | Slot::Remembered { mac } => Some(*mac),
            Slot::Declined { .. } => None,
        }
    }
}

/// What an address is to one client at one moment.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Its lease, its offer, or its last address.
    Mine,
    /// Nobody's.
    Free,
    /// Another client's lease or held offer, or declined.
    Taken,
}

/// One pool's addresses.
pub(crate) struct Book {
    pub pool: DhcpPool,
    slots: BTreeMap<u32, Slot>,
    /// Each client's slot. Invariant: `by_mac[m] == a` exactly when
    /// `slots[a]` is owned by `m`.
    by_mac: HashMap<Mac, u32>,
    /// Held offers by deadline; each is an `Offered` slot.
    offers: BTreeSet<(SystemTime, u32)>,
    /// Most offers held at once: a quarter of the range, at least one.
    max_held: usize,
}

impl Book {
    pub fn new(pool: DhcpPool) -> Book {
        let max_held = (pool.size() as usize / 4).max(1);
        Book {
            pool,
            slots: BTreeMap::new(),
            by_mac: HashMap::new(),
            offers: BTreeSet::new(),
            max_held,
        }
    }

    fn first(&self) -> u32 {
        u32::from(self.pool.first)
    }

    fn last(&self) -> u32 {
        u32::from(self.pool.last)
    }

    pub fn in_range(&self, ip: u32) -> bool {
        (self.first()..=self.last()).contains(&ip)
    }

    pub fn max_held(&self) -> usize {
        self.max_held
    }

    /// Offers held now (lapsed ones included until [`Book::purge`]).
    pub fn held(&self) -> usize {
        self.offers.len()
    }

    pub fn standing(&self, ip: u32, mac: Mac, now: SystemTime) -> Standing {
        match self.slots.get(&ip) {
            None => Standing::Free,
            Some(Slot::Leased(l)) if l.mac == mac => Standing::Mine,
            Some(Slot::Leased(_)) => Standing::Taken,
            Some(Slot::Offered { mac: m, .. }) if *m == mac => Standing::Mine,
            Some(Slot::Offered { until, .. }) | Some(Slot::Declined { until }) => {
                if *until > now {
                    Standing::Taken
                } else {
                    Standing::Free
                }
            }
            Some(Slot::Remembered { mac: m }) if *m == mac => Standing::Mine,
            Some(Slot::Remembered { .. }) => Standing::Free,
        }
    }

    /// Whether `ip` is leased or offered (held) to `mac`.
    pub fn binds(&self, ip: u32, mac: Mac) -> bool {
        match self.slots.get(&ip) {
            Some(Slot::Leased(l)) => l.mac == mac,
            Some(Slot::Offered { mac: m, .. }) => *m == mac,
            _ => false,
        }
    }

    /// The client's slot: its lease, offer or last address.
    pub fn own(&self, mac: Mac) -> Option<u32> {
        self.by_mac.get(&mac).copied()
    }

    pub fn lease_of(&self, mac: Mac) -> Option<&Lease> {
        match self.slots.get(self.by_mac.get(&mac)?) {
            Some(Slot::Leased(l)) => Some(l),
            _ => None,
        }
    }

    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.slots.values().filter_map(|s| match s {
            Slot::Leased(l) => Some(l),
            _ => None,
        })
    }

    /// The first address in `from..=to` without a slot.
    fn gap(&self, from: u32, to: u32) -> Option<u32> {
        let mut next = from;
        for &ip in self.slots.range(from..=to).map(|(ip, _)| ip) {
            if ip > next {
                return Some(next);
            }
            next = ip + 1;
        }
        (next <= to).then_some(next)
    }

    /// The first address with a slot that is free for `mac` (a remembered
    /// address of another client, a lapsed offer or decline).
    fn reusable(&self, mac: Mac, now: SystemTime) -> Option<u32> {
        self.slots
            .range(self.first()..=self.last())
            .map(|(&ip, _)| ip)
            .find(|&ip| self.standing(ip, mac, now) == Standing::Free)
    }

    /// The address to offer a client without a slot: `requested` if it is
    /// in the range and free, else the lowest address without state, else
    /// the lowest reusable one. `spread` starts the search at a point
    /// derived from the MAC instead of the bottom, so that offers not held
    /// for their clients seldom name the same address.
    pub fn choose(
        &self,
        mac: Mac,
        requested: Option<Ipv4Addr>,
        now: SystemTime,
        spread: bool,
    ) -> Option<u32> {
        if let Some(r) = requested.map(u32::from) {
            if self.in_range(r) && self.standing(r, mac, now) == Standing::Free {
                return Some(r);
            }
        }
        let (first, last) = (self.first(), self.last());
        let start = if spread {
            first + fnv(&mac.0) % self.pool.size()
        } else {
            first
        };
        self.gap(start, last)
            .or_else(|| {
                (start > first)
                    .then(|| self.gap(first, start - 1))
                    .flatten()
            })
            .or_else(|| self.reusable(mac, now))
    }

    /// Whether another offer may be held now (lapsed ones are dropped
    /// first).
    pub fn room(&mut self, now: SystemTime) -> bool {
        self.purge_offers(now);
        self.offers.len() < self.max_held
    }

    /// Holds `ip` for `mac` until `until` (the client's own lease needs no
    /// hold; its own held offer is extended).
    pub fn hold(&mut self, mac: Mac, ip: u32, until: SystemTime) {
        if matches!(self.slots.get(&ip), Some(Slot::Leased(l)) if l.mac == mac) {
            return;
        }
        self.put(ip, Slot::Offered { mac, until });
    }

    /// A client chose another server: its held offer is let go.
    pub fn withdraw(&mut self, mac: Mac) {
        if let Some(ip) = self.own(mac) {
            if matches!(self.slots.get(&ip), Some(Slot::Offered { .. })) {
                self.clear(ip);
            }
        }
    }

    /// Binds `lease`; returns the client's previous lease at another
    /// address, which this one replaces.
    pub fn bind(&mut self, lease: Lease) -> Option<Lease> {
        self.put(u32::from(lease.ip), Slot::Leased(lease))
    }

    /// Ends the client's lease at `ip` (released or expired): the address
    /// is remembered as its last.
    pub fn end(&mut self, ip: u32) -> Option<Lease> {
        let Some(Slot::Leased(l)) = self.slots.get(&ip).cloned() else {
            return None;
        };
        self.put(ip, Slot::Remembered { mac: l.mac });
        Some(l)
    }

    /// Marks `ip` declined until `until`; returns the lease it ends.
    pub fn decline(&mut self, ip: u32, until: SystemTime) -> Option<Lease> {
        let old = self.clear(ip);
        self.put(ip, Slot::Declined { until });
        match old {
            Some(Slot::Leased(l)) => Some(l),
            _ => None,
        }
    }

    /// Leases whose time is past.
    pub fn expired(&self, now: SystemTime) -> Vec<Lease> {
        self.leases()
            .filter(|l| l.expires <= now)
            .cloned()
            .collect()
    }

    /// Drops lapsed offers and declines.
    pub fn purge(&mut self, now: SystemTime) {
        self.purge_offers(now);
        let lapsed: Vec<u32> = self
            .slots
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Declined { until } if *until <= now))
            .map(|(&ip, _)| ip)
            .collect();
        for ip in lapsed {
            self.clear(ip);
        }
    }

    fn purge_offers(&mut self, now: SystemTime) {
        while let Some(&(until, ip)) = self.offers.first() {
            if until > now {
                break;
            }
            self.offers.pop_first();
            if matches!(self.slots.get(&ip), Some(Slot::Offered { until: u, .. }) if *u == until) {
                self.clear(ip);
            }
        }
    }

    /// Removes the slot of `ip` and everything that points at it.
    fn clear(&mut self, ip: u32) -> Option<Slot> {
        let old = self.slots.remove(&ip)?;
        if let Slot::Offered { until, .. } = old {
            self.offers.remove(&(until, ip));
        }
        if let Some(m) = old.owner() {
            if self.by_mac.get(&m) == Some(&ip) {
                self.by_mac.remove(&m);
            }
        }
        Some(old)
    }

    /// Sets the slot of `ip`, keeping every index right: whatever was at
    /// `ip` goes, and the owner's other slot goes (returned if it was a
    /// lease).
    fn put(&mut self, ip: u32, slot: Slot) -> Option<Lease> {
        self.clear(ip);
        let mut replaced = None;
        if let Some(m) = slot.owner() {
            if let Some(other) = self.by_mac.get(&m).copied() {
                if let Some(Slot::Leased(l)) = self.clear(other) {
                    replaced = Some(l);
                }
            }
            self.by_mac.insert(m, ip);
        }
        if let Slot::Offered { until, .. } = slot {
            self.offers.insert((until, ip));
        }
        self.slots.insert(ip, slot);
        replaced
    }

    /// Checks the indices against the slots (tests).
    #[cfg(test)]
    pub fn check(&self) {
        let mut owners = HashMap::new();
        for (&ip, s) in &self.slots {
            assert!(self.in_range(ip), "{ip} outside the range");
            if let Some(m) = s.owner() {
                assert!(owners.insert(m, ip).is_none(), "{m} owns two slots");
            }
        }
        assert_eq!(owners, self.by_mac);
        let offered: BTreeSet<(SystemTime, u32)> = self
            .slots
            .iter()
            .filter_map(|(&ip, s)| match s {
                Slot::Offered { until, .. } => Some((*until, ip)),
                _ => None,
            })
            .collect();
        assert_eq!(offered, self.offers);
    }
}

/// FNV-1a: a stable spread of MACs over the range (no secrecy needed: an
/// offer it places reserves nothing).
fn fnv(b: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &x in b {
        h ^= u32::from(x);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// (VLAN, MAC) as the store's key: the VLAN above the 48 MAC bits.
const LEASES: TableDefinition<u64, (u32, u64)> = TableDefinition::new("leases");

fn key(vlan: u16, mac: Mac) -> u64 {
    u64::from(vlan) << 48 | mac.to_u64()
}

pub(crate) fn to_unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        .min(u128::from(u64::MAX)) as u64
}

pub(crate) fn from_unix_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The lease store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
#[error("DHCP lease store {path}: {reason}")]
pub struct StoreError {
    pub path: String,
    pub reason: String,
}

/// `state_dir/dhcp-leases.redb`.
pub(crate) struct Store {
    db: Database,
    path: PathBuf,
}

/// The file name of the lease store in the state directory.
pub const STORE_FILE: &str = "dhcp-leases.redb";

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let (db, path) = crate::redb_file::open(dir, STORE_FILE)
            .map_err(|(path, reason)| StoreError { path, reason })?;
        Ok(Store { db, path })
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    pub fn load(&self) -> Result<Vec<Lease>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = match r.open_table(LEASES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            let (k, (ip, expires)) = (k.value(), v.value());
            out.push(Lease {
                vlan: (k >> 48) as u16,
                mac: Mac::from_u64(k & 0xffff_ffff_ffff),
                ip: Ipv4Addr::from(ip),
                expires: from_unix_ms(expires),
            });
        }
        Ok(out)
    }

    /// Puts `put` and removes the leases of `remove` ((VLAN, MAC)) in one
    /// durable transaction.
    pub fn write(&self, put: &[Lease], remove: &[(u16, Mac)]) -> Result<(), StoreError> {
        if put.is_empty() && remove.is_empty() {
            return Ok(());
        }
        let mut w = self.db.begin_write().map_err(|e| self.err(e))?;
        w.set_durability(Durability::Immediate)
            .map_err(|e| self.err(e))?;
        {
            let mut t = w.open_table(LEASES).map_err(|e| self.err(e))?;
            for l in put {
                t.insert(key(l.vlan, l.mac), (u32::from(l.ip), to_unix_ms(l.expires)))
                    .map_err(|e| self.err(e))?;
            }
            for &(vlan, mac) in remove {
                t.remove(key(vlan, mac)).map_err(|e| self.err(e))?;
            }
        }
        w.commit().map_err(|e| self.err(e))
    }
}
