//! The MAC provider's book: who owns which address, and which addresses
//! of each pool are free. Pure state, no I/O: the service stages what it
//! changes here into a store batch and acknowledges after the commit.
//!
//! Invariants (checked by the property tests): an address has at most one
//! owner and a handle at most one address; every owned address inside a
//! pool is absent from that pool's free set and every free one is owned
//! by nobody; a pool's `used` is its owned addresses; a quota's use is the
//! addresses of its pool held by handles with its prefix. An address
//! outside every pool (the pools were changed by a reload) stays owned —
//! ownership ends only by release or reclaim — and is counted an orphan.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use moose_config::mps::{Policy, Pool, Quadrant, MAX_HANDLE};
use moose_wire::{Mac, MacPrefix};

/// Free addresses of a pool as disjoint, non-adjacent intervals
/// (start → end, both inclusive).
#[derive(Clone, Debug, Default)]
struct FreeSet(BTreeMap<u64, u64>);

impl FreeSet {
    fn new(first: u64, last: u64) -> FreeSet {
        FreeSet(BTreeMap::from([(first, last)]))
    }

    fn contains(&self, x: u64) -> bool {
        self.0.range(..=x).next_back().is_some_and(|(_, &e)| x <= e)
    }

    /// Removes `x`; whether it was free.
    fn take(&mut self, x: u64) -> bool {
        let Some((&s, &e)) = self.0.range(..=x).next_back() else {
            return false;
        };
        if x > e {
            return false;
        }
        self.0.remove(&s);
        if s < x {
            self.0.insert(s, x - 1);
        }
        if x < e {
            self.0.insert(x + 1, e);
        }
        true
    }

    /// Gives `x` back (it must be taken).
    fn give(&mut self, x: u64) {
        let mut s = x;
        let mut e = x;
        if let Some((&ps, &pe)) = self.0.range(..x).next_back() {
            if pe + 1 == x {
                s = ps;
                self.0.remove(&ps);
            }
        }
        if let Some(&ne) = self.0.get(&(x + 1)) {
            e = ne;
            self.0.remove(&(x + 1));
        }
        self.0.insert(s, e);
    }

    /// The first free address at or after `from`, else the first at all.
    fn next_from(&self, from: u64) -> Option<u64> {
        if let Some((_, &e)) = self.0.range(..=from).next_back() {
            if from <= e {
                return Some(from);
            }
        }
        self.0
            .range(from..)
            .next()
            .or_else(|| self.0.iter().next())
            .map(|(&s, _)| s)
    }

    fn intervals(&self) -> usize {
        self.0.len()
    }
}

struct PoolState {
    cfg: Pool,
    free: FreeSet,
    used: u64,
    /// Where the sequential policies look next.
    cursor: u64,
    /// Quota prefix → addresses held.
    quota_use: BTreeMap<String, u64>,
    /// Blocks (first, last) this provider leased from the etcd-shared
    /// pool: new addresses come from these first (block delegation).
    blocks: Vec<(u64, u64)>,
}

/// Why a request is refused: the field at fault and the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("pool: no pool named {0:?}")]
    UnknownPool(String),
    #[error("pool {pool:?} has no free address")]
    Exhausted { pool: String },
    #[error("no pool{} has a free address", quadrant.map(|q| format!(" in the {} quadrant", q.as_str())).unwrap_or_default())]
    NoPool { quadrant: Option<Quadrant> },
    #[error(
        "quota: handles starting with {prefix:?} hold {max} of {max} addresses of pool {pool:?}"
    )]
    Quota {
        pool: String,
        prefix: String,
        max: u64,
    },
    #[error("ipv4: {mac} (for {ipv4}) belongs to another handle")]
    Ipv4Taken { ipv4: Ipv4Addr, mac: Mac },
}

impl AskError {
    /// A short name for the refusal counter.
    pub fn reason(&self) -> &'static str {
        match self {
            AskError::Invalid { .. } => "invalid",
            AskError::UnknownPool(_) => "unknown_pool",
            AskError::Exhausted { .. } | AskError::NoPool { .. } => "exhausted",
            AskError::Quota { .. } => "quota",
            AskError::Ipv4Taken { .. } => "ipv4_taken",
        }
    }
}

/// A request for an address.
#[derive(Clone, Debug, Default)]
pub struct Ask<'a> {
    pub handle: &'a str,
    pub requested: Option<Mac>,
    pub pool: Option<&'a str>,
    pub ipv4: Option<Ipv4Addr>,
    pub quadrant: Option<Quadrant>,
}

/// What happened to a requested address.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Requested {
    Granted,
    /// Another handle owns it (or the fabric routes it): one from the pool.
    Taken,
    /// It is in no pool: one from the pools.
    OutsidePools,
}

impl Requested {
    pub fn as_str(self) -> &'static str {
        match self {
            Requested::Granted => "granted",
            Requested::Taken => "taken",
            Requested::OutsidePools => "outside_pools",
        }
    }
}

/// The answer to an [`Ask`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub mac: Mac,
    /// `None`: an orphan (owned, in no pool since a reload).
    pub pool: Option<String>,
    /// A new assignment (false: the handle had it already).
    pub new: bool,
    pub requested: Option<Requested>,
}

/// One pool's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolFigures {
    pub pool: Pool,
    pub used: u64,
    pub quota_use: BTreeMap<String, u64>,
    pub free_intervals: usize,
}

/// A handle: 1 to 255 bytes, no control characters.
pub fn check_handle(h: &str) -> Result<(), AskError> {
    let reason = if h.is_empty() {
        "is empty".to_string()
    } else if h.len() > MAX_HANDLE {
        format!("is {} bytes, at most {MAX_HANDLE}", h.len())
    } else if h.chars().any(char::is_control) {
        "has a control character".to_string()
    } else {
        return Ok(());
    };
    Err(AskError::Invalid {
        field: "handle",
        reason,
    })
}

/// The address the `ipv4` policy gives `ip`.
pub fn ipv4_mac(ip: Ipv4Addr) -> Mac {
    let [a, b, c, d] = ip.octets();
    Mac([0x02, 0x00, a, b, c, d])
}

pub struct Book {
    pools: Vec<PoolState>,
    by_handle: HashMap<String, u64>,
    by_mac: HashMap<u64, String>,
    /// Switch prefixes of the fabric as (first, last): never handed out.
    fabric: Vec<(u64, u64)>,
    orphans: u64,
    /// Candidates passed over because the fabric routes them.
    pub skipped_fabric: u64,
    /// Seed of the `random` policy's draws (xorshift).
    rng: u64,
    /// Picks that found no free address in the pool's leased blocks and
    /// took one from the whole pool (block delegation only).
    pub block_misses: u64,
}

impl Book {
    /// A book of `pools` holding `owned` (handle, address) — what the
    /// store held. A duplicate address keeps its first owner and is
    /// returned (a store written by a bug must not make two owners).
    pub fn new(pools: &[Pool], owned: Vec<(String, u64)>, seed: u64) -> (Book, Vec<(String, u64)>) {
        let mut b = Book {
            pools: pools
                .iter()
                .map(|p| PoolState {
                    cfg: p.clone(),
                    free: FreeSet::new(p.first, p.last),
                    used: 0,
                    cursor: p.first,
                    quota_use: p.quotas.keys().map(|k| (k.clone(), 0)).collect(),
                    blocks: Vec::new(),
                })
                .collect(),
            by_handle: HashMap::with_capacity(owned.len()),
            by_mac: HashMap::with_capacity(owned.len()),
            fabric: Vec::new(),
            orphans: 0,
            skipped_fabric: 0,
            rng: seed | 1,
            block_misses: 0,
        };
        let mut dropped = Vec::new();
        for (h, m) in owned {
            if b.by_mac.contains_key(&m) || b.by_handle.contains_key(&h) {
                dropped.push((h, m));
                continue;
            }
            b.assign(&h, m);
        }
        // Sequential pools go on after the highest address held.
        for p in &mut b.pools {
            if let Some(m) = b
                .by_mac
                .keys()
                .filter(|&&m| p.cfg.contains(m))
                .max()
                .copied()
            {
                p.cursor = if m == p.cfg.last { p.cfg.first } else { m + 1 };
            }
        }
        (b, dropped)
    }

    /// The pools changed (a reload): the same owners over the new pools.
    pub fn repool(&mut self, pools: &[Pool]) {
        let owned: Vec<(String, u64)> = self.by_handle.drain().collect();
        let fabric = std::mem::take(&mut self.fabric);
        let blocks: Vec<(String, Vec<(u64, u64)>)> = self
            .pools
            .iter()
            .map(|p| (p.cfg.name.clone(), p.blocks.clone()))
            .collect();
        let (mut b, _) = Book::new(pools, owned, self.rng);
        for (name, bl) in blocks {
            b.set_blocks(&name, bl);
        }
        b.fabric = fabric;
        b.skipped_fabric = self.skipped_fabric;
        *self = b;
    }

    pub fn set_fabric(&mut self, prefixes: &[MacPrefix]) {
        self.fabric = prefixes
            .iter()
            .map(|p| {
                let a = p.addr().to_u64();
                (a, a | ((1u64 << (48 - u32::from(p.len()))) - 1))
            })
            .collect();
    }

    fn in_fabric(&self, m: u64) -> Option<u64> {
        self.fabric
            .iter()
            .find(|(a, b)| (*a..=*b).contains(&m))
            .map(|&(_, b)| b)
    }

    fn pool_of(&self, m: u64) -> Option<usize> {
        self.pools.iter().position(|p| p.cfg.contains(m))
    }

    pub fn len(&self) -> usize {
        self.by_handle.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_handle.is_empty()
    }

    pub fn orphans(&self) -> u64 {
        self.orphans
    }

    pub fn mac_of(&self, handle: &str) -> Option<Mac> {
        self.by_handle.get(handle).map(|&m| Mac::from_u64(m))
    }

    pub fn handle_of(&self, mac: Mac) -> Option<&str> {
        self.by_mac.get(&mac.to_u64()).map(String::as_str)
    }

    pub fn pool_name(&self, mac: Mac) -> Option<&str> {
        self.pool_of(mac.to_u64())
            .map(|i| self.pools[i].cfg.name.as_str())
    }

    pub fn pools(&self) -> impl Iterator<Item = PoolFigures> + '_ {
        self.pools.iter().map(|p| PoolFigures {
            pool: p.cfg.clone(),
            used: p.used,
            quota_use: p.quota_use.clone(),
            free_intervals: p.free.intervals(),
        })
    }

    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools
            .iter()
            .find(|p| p.cfg.name == name)
            .map(|p| &p.cfg)
    }

    /// Records `handle` as the owner of `m` (both free).
    fn assign(&mut self, handle: &str, m: u64) {
        self.by_handle.insert(handle.to_string(), m);
        self.by_mac.insert(m, handle.to_string());
        match self.pool_of(m) {
            Some(i) => {
                let p = &mut self.pools[i];
                let was_free = p.free.take(m);
                debug_assert!(was_free);
                p.used += 1;
                for (q, n) in p.quota_use.iter_mut() {
                    if handle.starts_with(q.as_str()) {
                        *n += 1;
                    }
                }
            }
            None => self.orphans += 1,
        }
    }

    /// Ends `handle`'s ownership; its address.
    pub fn release(&mut self, handle: &str) -> Option<Mac> {
        let m = self.by_handle.remove(handle)?;
        self.by_mac.remove(&m);
        match self.pool_of(m) {
            Some(i) => {
                let p = &mut self.pools[i];
                p.free.give(m);
                p.used -= 1;
                for (q, n) in p.quota_use.iter_mut() {
                    if handle.starts_with(q.as_str()) {
                        *n -= 1;
                    }
                }
            }
            None => self.orphans -= 1,
        }
        Some(Mac::from_u64(m))
    }

    /// Ends the ownership of `mac`; its former owner.
    pub fn reclaim(&mut self, mac: Mac) -> Option<String> {
        let h = self.by_mac.get(&mac.to_u64())?.clone();
        self.release(&h);
        Some(h)
    }

    /// Makes `handle` own `mac` (or nothing), whoever held either before:
    /// what another provider committed, or a turn's change undone.
    pub fn force(&mut self, handle: &str, mac: Option<u64>) {
        if self.by_handle.get(handle).copied() == mac && mac.is_some() {
            return;
        }
        self.release(handle);
        if let Some(m) = mac {
            if let Some(other) = self.by_mac.get(&m).cloned() {
                self.release(&other);
            }
            self.assign(handle, m);
        }
    }

    /// The blocks of pool `name` this provider holds (its leases).
    pub fn set_blocks(&mut self, name: &str, mut blocks: Vec<(u64, u64)>) {
        if let Some(p) = self.pools.iter_mut().find(|p| p.cfg.name == name) {
            blocks.retain(|&(a, b)| p.cfg.contains(a) && p.cfg.contains(b) && a <= b);
            blocks.sort_unstable();
            p.blocks = blocks;
        }
    }

    pub fn blocks(&self, name: &str) -> &[(u64, u64)] {
        self.pools
            .iter()
            .find(|p| p.cfg.name == name)
            .map_or(&[], |p| &p.blocks)
    }

    /// Free addresses of pool `name` between `a` and `b` (inclusive).
    pub fn free_between(&self, name: &str, a: u64, b: u64) -> u64 {
        let Some(p) = self.pools.iter().find(|p| p.cfg.name == name) else {
            return 0;
        };
        let mut n = 0;
        if let Some((_, &e)) = p.free.0.range(..a).next_back() {
            if e >= a {
                n += e.min(b) - a + 1;
            }
        }
        for (&s, &e) in p.free.0.range(a..=b) {
            n += e.min(b) - s + 1;
        }
        n
    }

    /// Up to `n` blocks of `size` addresses of pool `name` (aligned on the
    /// pool's first address; the last one may be shorter) that have a free
    /// address and are not in `skip` (by first address), from the pool's
    /// cursor on: what a provider asks etcd to lease next.
    pub fn block_candidates(
        &self,
        name: &str,
        size: u64,
        skip: &dyn Fn(u64) -> bool,
        n: usize,
    ) -> Vec<(u64, u64)> {
        let Some(p) = self.pools.iter().find(|p| p.cfg.name == name) else {
            return Vec::new();
        };
        let (first, last) = (p.cfg.first, p.cfg.last);
        let count = (last - first) / size + 1;
        let start = (p.cursor.clamp(first, last) - first) / size;
        let mut out = Vec::new();
        let mut k = 0;
        while k < count && out.len() < n {
            let idx = (start + k) % count;
            k += 1;
            let a = first + idx * size;
            let b = a.saturating_add(size - 1).min(last);
            if skip(a) || p.blocks.iter().any(|&(x, _)| x == a) {
                continue;
            }
            // The first free address at or after a, if it is in the block.
            if p.free.next_from(a).is_some_and(|m| m >= a && m <= b) {
                out.push((a, b));
            }
        }
        out
    }

    /// A free address in pool `i`'s own blocks, not routed.
    fn pick_in_blocks(&self, i: usize) -> Option<u64> {
        let p = &self.pools[i];
        for &(a, b) in &p.blocks {
            let mut from = a;
            while from <= b {
                let m = p.free.next_from(from)?;
                if m < from || m > b {
                    break;
                }
                match self.in_fabric(m) {
                    None => return Some(m),
                    Some(end) => from = end.saturating_add(1),
                }
            }
        }
        None
    }

    fn quota_ok(&self, i: usize, handle: &str) -> Result<(), AskError> {
        let p = &self.pools[i];
        for (q, max) in &p.cfg.quotas {
            if handle.starts_with(q.as_str()) && p.quota_use.get(q).copied().unwrap_or(0) >= *max {
                return Err(AskError::Quota {
                    pool: p.cfg.name.clone(),
                    prefix: q.clone(),
                    max: *max,
                });
            }
        }
        Ok(())
    }

    /// Whether `m` could be handed out now: free in its pool, not routed.
    fn available(&self, i: usize, m: u64) -> bool {
        self.pools[i].free.contains(m) && self.in_fabric(m).is_none()
    }

    fn draw(&mut self) -> u64 {
        // xorshift64*: the random policy needs spread, not secrecy.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A free address of pool `i` by its policy, not under a fabric prefix.
    fn pick(&mut self, i: usize) -> Option<u64> {
        if !self.pools[i].blocks.is_empty() {
            if let Some(m) = self.pick_in_blocks(i) {
                return Some(m);
            }
            self.block_misses += 1;
        }
        let (first, size, policy) = {
            let c = &self.pools[i].cfg;
            (c.first, c.size(), c.policy)
        };
        let mut from = match policy {
            Policy::Random => {
                // Draws with a collision check; past a few collisions the
                // pool is dense and the next free address after a draw is
                // as good.
                for _ in 0..8 {
                    let m = first + self.draw() % size;
                    if self.available(i, m) {
                        return Some(m);
                    }
                }
                first + self.draw() % size
            }
            _ => self.pools[i].cursor,
        };
        // Each pass either finds an address or skips a whole fabric
        // prefix; a wrap past the start twice means nothing is left.
        let mut wraps = 0;
        for _ in 0..self.fabric.len() + 2 {
            let m = self.pools[i].free.next_from(from)?;
            if m < from {
                wraps += 1;
                if wraps > 1 {
                    return None;
                }
            }
            match self.in_fabric(m) {
                None => {
                    if policy != Policy::Random {
                        let c = &self.pools[i].cfg;
                        self.pools[i].cursor = if m == c.last { c.first } else { m + 1 };
                    }
                    return Some(m);
                }
                Some(end) => {
                    self.skipped_fabric += 1;
                    from = end.saturating_add(1);
                    if from > self.pools[i].cfg.last {
                        from = first;
                        wraps += 1;
                        if wraps > 1 {
                            return None;
                        }
                    }
                }
            }
        }
        None
    }

    /// Answers `ask`; with `commit` false nothing changes (a DHCPv6
    /// Advertise offers what a Request would get).
    pub fn request(&mut self, ask: &Ask<'_>, commit: bool) -> Result<Grant, AskError> {
        check_handle(ask.handle)?;
        if let Some(&m) = self.by_handle.get(ask.handle) {
            return Ok(Grant {
                mac: Mac::from_u64(m),
                pool: self.pool_of(m).map(|i| self.pools[i].cfg.name.clone()),
                new: false,
                requested: None,
            });
        }
        let named = match ask.pool {
            Some(n) => Some(
                self.pools
                    .iter()
                    .position(|p| p.cfg.name == n)
                    .ok_or_else(|| AskError::UnknownPool(n.to_string()))?,
            ),
            None => None,
        };
        let bad = |field, reason: String| AskError::Invalid { field, reason };
        if let (Some(i), Some(q)) = (named, ask.quadrant) {
            if self.pools[i].cfg.quadrant != q {
                return Err(bad(
                    "quadrant",
                    format!(
                        "pool {:?} is in the {} quadrant",
                        self.pools[i].cfg.name,
                        self.pools[i].cfg.quadrant.as_str()
                    ),
                ));
            }
        }
        // The ipv4 policy: the address is the IPv4 address.
        if let Some(ip) = ask.ipv4 {
            let m = ipv4_mac(ip).to_u64();
            let i = match named {
                Some(i) if self.pools[i].cfg.policy != Policy::Ipv4 => {
                    return Err(bad(
                        "ipv4",
                        format!("pool {:?} is not an ipv4 pool", self.pools[i].cfg.name),
                    ))
                }
                Some(i) => i,
                None => self
                    .pools
                    .iter()
                    .position(|p| p.cfg.policy == Policy::Ipv4 && p.cfg.contains(m))
                    .ok_or_else(|| {
                        bad(
                            "ipv4",
                            format!("{ip}: no ipv4 pool holds {}", Mac::from_u64(m)),
                        )
                    })?,
            };
            if !self.pools[i].cfg.contains(m) {
                return Err(bad(
                    "ipv4",
                    format!(
                        "{ip}: {} is outside pool {:?}",
                        Mac::from_u64(m),
                        self.pools[i].cfg.name
                    ),
                ));
            }
            if !self.available(i, m) {
                return Err(AskError::Ipv4Taken {
                    ipv4: ip,
                    mac: Mac::from_u64(m),
                });
            }
            self.quota_ok(i, ask.handle)?;
            return Ok(self.grant(ask.handle, m, i, None, commit));
        }
        if let Some(i) = named {
            if self.pools[i].cfg.policy == Policy::Ipv4 {
                return Err(bad(
                    "ipv4",
                    format!(
                        "pool {:?} hands out addresses by IPv4 address: give ipv4",
                        self.pools[i].cfg.name
                    ),
                ));
            }
        }
        // A requested address, granted if it is free.
        let mut requested = None;
        let mut from_pool = named;
        if let Some(r) = ask.requested {
            let m = r.to_u64();
            if r.0[0] & 1 != 0 {
                return Err(bad("requested", format!("{r} is a multicast address")));
            }
            match self.pool_of(m) {
                Some(i)
                    if named.is_none_or(|n| n == i)
                        && ask.quadrant.is_none_or(|q| self.pools[i].cfg.quadrant == q)
                        && self.pools[i].cfg.policy != Policy::Ipv4 =>
                {
                    if self.available(i, m) {
                        self.quota_ok(i, ask.handle)?;
                        return Ok(self.grant(ask.handle, m, i, Some(Requested::Granted), commit));
                    }
                    requested = Some(Requested::Taken);
                    from_pool = Some(i);
                }
                _ => {
                    if r.0[0] & 2 == 0 {
                        return Err(bad(
                            "requested",
                            format!("{r} is universally administered and in no oui pool"),
                        ));
                    }
                    if let Err(why) = Quadrant::of(r) {
                        return Err(bad("requested", format!("{r} is {why}")));
                    }
                    requested = Some(Requested::OutsidePools);
                }
            }
        }
        let candidates: Vec<usize> = match from_pool {
            Some(i) => vec![i],
            None => {
                let wanted = ask.quadrant.unwrap_or(Quadrant::Aai);
                self.pools
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.cfg.policy != Policy::Ipv4 && p.cfg.quadrant == wanted)
                    .map(|(i, _)| i)
                    .collect()
            }
        };
        let mut quota_err = None;
        for &i in &candidates {
            if let Err(e) = self.quota_ok(i, ask.handle) {
                quota_err.get_or_insert(e);
                continue;
            }
            let cursor = self.pools[i].cursor;
            let rng = self.rng;
            if let Some(m) = self.pick(i) {
                if !commit {
                    // An offer moves nothing.
                    self.pools[i].cursor = cursor;
                    self.rng = rng;
                }
                return Ok(self.grant(ask.handle, m, i, requested, commit));
            }
        }
        if let Some(e) = quota_err {
            return Err(e);
        }
        match (from_pool, ask.quadrant) {
            (Some(i), _) => Err(AskError::Exhausted {
                pool: self.pools[i].cfg.name.clone(),
            }),
            (None, q) => Err(AskError::NoPool {
                quadrant: Some(q.unwrap_or(Quadrant::Aai)),
            }),
        }
    }

    fn grant(
        &mut self,
        handle: &str,
        m: u64,
        i: usize,
        requested: Option<Requested>,
        commit: bool,
    ) -> Grant {
        if commit {
            self.assign(handle, m);
        }
        Grant {
            mac: Mac::from_u64(m),
            pool: Some(self.pools[i].cfg.name.clone()),
            new: true,
            requested,
        }
    }

    /// Every (handle, address) owned.
    pub fn owned(&self) -> impl Iterator<Item = (&str, Mac)> + '_ {
        self.by_handle
            .iter()
            .map(|(h, &m)| (h.as_str(), Mac::from_u64(m)))
    }

    /// Checks the invariants of the module doc (tests).
    #[cfg(test)]
    pub fn check(&self) {
        assert_eq!(self.by_handle.len(), self.by_mac.len());
        let mut orphans = 0;
        for (h, &m) in &self.by_handle {
            assert_eq!(self.by_mac.get(&m), Some(h));
            match self.pool_of(m) {
                Some(i) => assert!(!self.pools[i].free.contains(m)),
                None => orphans += 1,
            }
        }
        assert_eq!(orphans, self.orphans);
        for p in &self.pools {
            let used = self.by_mac.keys().filter(|&&m| p.cfg.contains(m)).count() as u64;
            assert_eq!(used, p.used, "{}", p.cfg.name);
            let free: u64 = p.free.0.iter().map(|(s, e)| e - s + 1).sum();
            assert_eq!(free + used, p.cfg.size(), "{}", p.cfg.name);
            let mut prev: Option<u64> = None;
            for (&s, &e) in &p.free.0 {
                assert!(s <= e && p.cfg.contains(s) && p.cfg.contains(e));
                if let Some(pe) = prev {
                    assert!(pe + 1 < s, "adjacent or overlapping free intervals");
                }
                prev = Some(e);
            }
            for (q, &n) in &p.quota_use {
                let held = self
                    .by_handle
                    .iter()
                    .filter(|(h, &m)| h.starts_with(q.as_str()) && p.cfg.contains(m))
                    .count() as u64;
                assert_eq!(held, n, "quota {q}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pool(name: &str, first: u64, last: u64, policy: Policy) -> Pool {
        Pool {
            name: name.into(),
            first,
            last,
            policy,
            quadrant: Quadrant::Aai,
            quotas: BTreeMap::new(),
            lifetime: None,
        }
    }

    const A: u64 = 0x0242_0000_0000;

    fn ask(h: &str) -> Ask<'_> {
        Ask {
            handle: h,
            ..Ask::default()
        }
    }

    #[test]
    fn same_handle_same_address() {
        let (mut b, _) = Book::new(&[pool("p", A, A + 9, Policy::Sequential)], vec![], 1);
        let g = b.request(&ask("urn:a"), true).unwrap();
        assert_eq!((g.mac.to_u64(), g.new), (A, true));
        let again = b.request(&ask("urn:a"), true).unwrap();
        assert_eq!((again.mac, again.new), (g.mac, false));
        assert_eq!(b.request(&ask("urn:b"), true).unwrap().mac.to_u64(), A + 1);
        b.check();
    }

    #[test]
    fn requested_is_granted_when_free() {
        let (mut b, _) = Book::new(&[pool("p", A, A + 9, Policy::Sequential)], vec![], 1);
        let r = Mac::from_u64(A + 5);
        let g = b
            .request(
                &Ask {
                    requested: Some(r),
                    ..ask("h1")
                },
                true,
            )
            .unwrap();
        assert_eq!((g.mac, g.requested), (r, Some(Requested::Granted)));
        let g = b
            .request(
                &Ask {
                    requested: Some(r),
                    ..ask("h2")
                },
                true,
            )
            .unwrap();
        assert_eq!(g.requested, Some(Requested::Taken));
        assert_ne!(g.mac, r);
        let out = Mac::from_u64(0x0299_0000_0001);
        let g = b
            .request(
                &Ask {
                    requested: Some(out),
                    ..ask("h3")
                },
                true,
            )
            .unwrap();
        assert_eq!(g.requested, Some(Requested::OutsidePools));
        let e = b
            .request(
                &Ask {
                    requested: Some(Mac::from_u64(0x001b_2100_0001)),
                    ..ask("h4")
                },
                true,
            )
            .unwrap_err();
        assert!(e.to_string().starts_with("requested:"), "{e}");
        let e = b
            .request(
                &Ask {
                    requested: Some(Mac::from_u64(0x0300_0000_0001)),
                    ..ask("h4")
                },
                true,
            )
            .unwrap_err();
        assert!(e.to_string().contains("multicast"), "{e}");
        b.check();
    }

    #[test]
    fn exhaustion_quota_and_release() {
        let mut p = pool("p", A, A + 3, Policy::Sequential);
        p.quotas.insert("t/".into(), 2);
        let (mut b, _) = Book::new(&[p], vec![], 1);
        b.request(&ask("t/1"), true).unwrap();
        b.request(&ask("t/2"), true).unwrap();
        assert!(matches!(
            b.request(&ask("t/3"), true),
            Err(AskError::Quota { .. })
        ));
        b.request(&ask("u/1"), true).unwrap();
        b.request(&ask("u/2"), true).unwrap();
        assert!(matches!(
            b.request(&ask("u/3"), true),
            Err(AskError::NoPool { .. })
        ));
        assert_eq!(b.release("t/1"), Some(Mac::from_u64(A)));
        assert_eq!(b.request(&ask("t/3"), true).unwrap().mac.to_u64(), A);
        assert_eq!(b.reclaim(Mac::from_u64(A + 2)).as_deref(), Some("u/1"));
        assert_eq!(b.release("nobody"), None);
        b.check();
    }

    #[test]
    fn ipv4_policy() {
        let v4 = pool("v4", 0x0200_0a00_0000, 0x0200_0aff_ffff, Policy::Ipv4);
        let (mut b, _) = Book::new(&[pool("p", A, A + 3, Policy::Sequential), v4], vec![], 1);
        let ip: Ipv4Addr = "10.1.2.3".parse().unwrap();
        let g = b
            .request(
                &Ask {
                    ipv4: Some(ip),
                    ..ask("h")
                },
                true,
            )
            .unwrap();
        assert_eq!(g.mac.to_string(), "02:00:0a:01:02:03");
        assert_eq!(g.pool.as_deref(), Some("v4"));
        assert!(matches!(
            b.request(
                &Ask {
                    ipv4: Some(ip),
                    ..ask("h2")
                },
                true
            ),
            Err(AskError::Ipv4Taken { .. })
        ));
        let e = b
            .request(
                &Ask {
                    ipv4: Some("11.0.0.1".parse().unwrap()),
                    ..ask("h3")
                },
                true,
            )
            .unwrap_err();
        assert!(e.to_string().starts_with("ipv4:"), "{e}");
        // Without ipv4, the ipv4 pool is never picked.
        assert_eq!(
            b.request(&ask("h4"), true).unwrap().pool.as_deref(),
            Some("p")
        );
        b.check();
    }

    #[test]
    fn fabric_prefixes_are_skipped() {
        let (mut b, _) = Book::new(&[pool("p", A, A + 0x1ff, Policy::Sequential)], vec![], 1);
        b.set_fabric(&["02:42:00:00:00:00/40".parse().unwrap()]);
        let g = b.request(&ask("h"), true).unwrap();
        assert_eq!(g.mac.to_u64(), A + 0x100);
        assert!(b.skipped_fabric > 0);
        b.set_fabric(&["02:42:00:00:00:00/24".parse().unwrap()]);
        assert!(b.request(&ask("h2"), true).is_err());
        b.check();
    }

    #[test]
    fn offers_change_nothing() {
        let (mut b, _) = Book::new(&[pool("p", A, A + 9, Policy::Sequential)], vec![], 1);
        let o = b.request(&ask("h"), false).unwrap();
        assert!(b.is_empty());
        let g = b
            .request(
                &Ask {
                    requested: Some(o.mac),
                    ..ask("h")
                },
                true,
            )
            .unwrap();
        assert_eq!((g.mac, g.requested), (o.mac, Some(Requested::Granted)));
        b.check();
    }

    #[test]
    fn repool_keeps_every_owner() {
        let (mut b, _) = Book::new(&[pool("p", A, A + 9, Policy::Sequential)], vec![], 1);
        for i in 0..5 {
            b.request(&ask(&format!("h{i}")), true).unwrap();
        }
        b.repool(&[pool("q", A + 3, A + 20, Policy::Sequential)]);
        assert_eq!(b.len(), 5);
        assert_eq!(b.orphans(), 3);
        assert_eq!(b.mac_of("h0"), Some(Mac::from_u64(A)));
        let g = b.request(&ask("new"), true).unwrap();
        assert_eq!(g.mac.to_u64(), A + 5);
        b.check();
    }

    #[derive(Clone, Debug)]
    enum Op {
        Request(u8, Option<u16>),
        Release(u8),
        Reclaim(u16),
        /// Another provider's committed change (etcd): handle → address.
        Force(u8, Option<u16>),
        /// The blocks of pool "s" this provider leases: starts (× 10).
        Blocks(Vec<u8>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u8>(), proptest::option::of(0u16..300)).prop_map(|(h, r)| Op::Request(h, r)),
            2 => any::<u8>().prop_map(Op::Release),
            1 => (0u16..300).prop_map(Op::Reclaim),
            1 => (any::<u8>(), proptest::option::of(0u16..200)).prop_map(|(h, m)| Op::Force(h, m)),
            1 => proptest::collection::vec(0u8..10, 0..3).prop_map(Op::Blocks),
        ]
    }

    proptest! {
        /// Random operations on a sequential and a random pool, checked
        /// against a model (a map handle → address) after every step.
        #[test]
        fn never_two_owners(ops in proptest::collection::vec(op(), 1..300), seed in any::<u64>()) {
            let mut q = pool("r", A + 100, A + 199, Policy::Random);
            q.quotas.insert("1".into(), 7);
            let (mut b, _) = Book::new(&[pool("s", A, A + 99, Policy::Sequential), q], vec![], seed);
            b.set_fabric(&["02:42:00:00:00:40/46".parse().unwrap()]);
            let mut model: HashMap<String, u64> = HashMap::new();
            for o in ops {
                match o {
                    Op::Request(h, r) => {
                        let h = h.to_string();
                        let req = r.map(|r| Mac::from_u64(A + u64::from(r)));
                        let pool = if h.len() % 2 == 0 { Some("r") } else { None };
                        // A new address of pool "s" comes from a leased
                        // block while one has a free address.
                        let from_block = pool.is_none() && req.is_none() && b.pick_in_blocks(0).is_some();
                        match b.request(&Ask { handle: &h, requested: req, pool, ..Ask::default() }, true) {
                            Ok(g) => {
                                if let Some(&m) = model.get(&h) {
                                    prop_assert_eq!(g.mac.to_u64(), m);
                                    prop_assert!(!g.new);
                                } else {
                                    prop_assert!(g.new);
                                    prop_assert!(!model.values().any(|&m| m == g.mac.to_u64()));
                                    prop_assert!(!(0x0242_0000_0040..=0x0242_0000_0043).contains(&g.mac.to_u64()));
                                    if from_block {
                                        let m = g.mac.to_u64();
                                        prop_assert!(b.blocks("s").iter().any(|&(a, z)| (a..=z).contains(&m)));
                                    }
                                    model.insert(h, g.mac.to_u64());
                                }
                            }
                            Err(_) => prop_assert!(!model.contains_key(&h)),
                        }
                    }
                    Op::Release(h) => {
                        let h = h.to_string();
                        prop_assert_eq!(b.release(&h).map(|m| m.to_u64()), model.remove(&h));
                    }
                    Op::Reclaim(r) => {
                        let m = A + u64::from(r);
                        let owner = model.iter().find(|(_, &v)| v == m).map(|(k, _)| k.clone());
                        prop_assert_eq!(b.reclaim(Mac::from_u64(m)), owner.clone());
                        if let Some(o) = owner { model.remove(&o); }
                    }
                    Op::Force(h, m) => {
                        let h = h.to_string();
                        let m = m.map(|m| A + u64::from(m));
                        model.remove(&h);
                        if let Some(m) = m {
                            model.retain(|_, v| *v != m);
                            model.insert(h.clone(), m);
                        }
                        b.force(&h, m);
                        prop_assert_eq!(b.mac_of(&h).map(|x| x.to_u64()), m);
                    }
                    Op::Blocks(starts) => {
                        let bl: Vec<(u64, u64)> = starts.iter().map(|&k| (A + u64::from(k) * 10, A + u64::from(k) * 10 + 9)).collect();
                        b.set_blocks("s", bl);
                    }
                }
                b.check();
                prop_assert_eq!(b.len(), model.len());
            }
            // A restart from what is owned gives the same book.
            let owned: Vec<(String, u64)> = b.owned().map(|(h, m)| (h.to_string(), m.to_u64())).collect();
            let (b2, dropped) = Book::new(&[pool("s", A, A + 99, Policy::Sequential)], owned, 9);
            prop_assert!(dropped.is_empty());
            b2.check();
            prop_assert_eq!(b2.len(), model.len());
        }
    }
}
