//! The `mps` service: the MAC provider. Devices ask for an address by a
//! world-wide-unique handle (HTTP `/api/v1/mac/*`, `moose mac`, or DHCPv6
//! link-layer address assignment, RFC 8947); the same handle always gets
//! the same address back, a requested address is granted if it is free,
//! and ownership never expires — it ends by release or an administrator's
//! reclaim.
//!
//! Durability is group commit: every change a turn makes goes into one
//! store transaction, committed (fsync) in [`end_of_turn`](Service::end_of_turn);
//! every answer of the turn — also one that changed nothing, which may
//! report a change still in flight — is sent only after that commit. A
//! failed commit answers every change of the turn with a refusal and puts
//! the book back to what the store holds. So an acknowledged assignment is
//! on disk, and an address is never handed to two handles.
//!
//! The book ([`book::Book`]) never hands out an address under a switch
//! prefix of the fabric ([`Event::FabricPrefixes`]) or this switch's own.

pub mod api;
pub mod book;
pub mod dhcp6;
pub mod etcd;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use moose_config::mps::{Mps as MpsConfig, Quadrant};
use moose_config::Config;
use moose_dataplane::io::Backend;
use moose_wire::{Mac, MacPrefix};

use crate::api::{serve, Envelope, Refusal};
use crate::{Ctx, Event, Service};
use api::*;
use book::{Ask, AskError, Book};
use store::{Batch, Store, StoreError};

/// A request the service holds until it can answer it.
enum Call {
    Ask(Envelope<MacRequest>),
    Release(Envelope<MacRelease>),
    Reclaim(Envelope<MacReclaim>),
    Query(Envelope<MacQuery>),
    Dhcp6(Envelope<Dhcp6Message>),
}

/// What a request was answered, sent once the turn's changes are durable.
enum Answer {
    Grant(Result<MacGrant, Refusal>),
    Record(Result<MacRecord, Refusal>),
    Dhcp6(Option<(Vec<u8>, &'static str)>),
}

/// An answered request held until the commit; `changed`: it reports a
/// change of this turn (refused if the commit fails).
struct Pending {
    call: Call,
    answer: Answer,
    changed: bool,
    tries: u8,
}

/// Where the assignments are durable.
enum Backing {
    /// The embedded store: this provider alone.
    Local(Store),
    /// etcd, shared with the other providers.
    Etcd(Box<Shared>),
}

/// A commit sent to etcd and not answered yet.
struct InFlight {
    batch: Batch,
    pending: Vec<Pending>,
    owned_news: Vec<(Mac, bool)>,
    sent: Instant,
}

/// The etcd side of the service (see [`etcd`]).
struct Shared {
    cfg: moose_config::mps::Etcd,
    link: etcd::Link,
    provider: String,
    /// In sync with etcd (a `Synced` came and no `Down` since).
    ready: bool,
    why_down: String,
    in_flight: Option<InFlight>,
    /// Requests not looked at yet, with how often a conflict sent them back.
    waiting: std::collections::VecDeque<(Call, u8)>,
    /// Watched changes, applied between commits.
    watched: Vec<(String, Option<u64>, i64)>,
    /// Handle → the newest revision known for it (older watched changes
    /// are stale).
    seen: HashMap<String, i64>,
    /// Blocks other providers lease: (pool, first).
    others: HashSet<(String, u64)>,
    /// Pools with a block claim in flight, and when a pool may try again.
    claiming: HashSet<String>,
    retry_claim: HashMap<String, Instant>,
    /// When the blocks are looked at next (after each commit and claim,
    /// else every [`BLOCK_CHECK`]).
    blocks_due: Option<Instant>,
}

/// How often the blocks are looked at without a commit or a claim.
const BLOCK_CHECK: Duration = Duration::from_millis(50);

/// Requests a commit to etcd carries at most (its compares and writes stay
/// under etcd's default `--max-txn-ops` of 128).
const TXN_CHANGES: usize = 100;
/// Requests waiting for etcd beyond which new ones are refused as busy.
const MAX_WAITING: usize = 8192;
/// Conflicts after which a request is refused (another provider keeps
/// winning the same addresses).
const MAX_TRIES: u8 = 16;

pub struct Mps {
    cfg: MpsConfig,
    book: Book,
    backing: Backing,
    batch: Batch,
    pending: Vec<Pending>,
    /// This switch's own MOOSE prefix (with the fabric's).
    own: Option<MacPrefix>,
    fabric: Vec<MacPrefix>,
    stats: MpsStats,
    /// The DHCPv6 server's DUID-LL (from the switch name: stable).
    duid: Vec<u8>,
    /// Addresses handed out or given up this turn, told to the other
    /// services once the commit holds them ([`Event::MacOwned`]).
    owned_news: Vec<(Mac, bool)>,
    /// Ready news for the other services ([`Event::MacOwned`]).
    emit: Vec<(Mac, bool)>,
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}

impl Mps {
    /// The service of `cfg.mps`, with the store's assignments; `None`
    /// without `[mps]`. With `mps.etcd` it starts the link to etcd and
    /// answers once it is in sync.
    pub fn from_config(cfg: &Config) -> Result<Option<Mps>, StoreError> {
        let Some(m) = cfg.mps.clone() else {
            return Ok(None);
        };
        let (backing, owned) = match &m.etcd {
            None => {
                let store = Store::open(&m.state_dir)?;
                let owned = store.load()?;
                (Backing::Local(store), owned)
            }
            Some(e) => {
                let link = etcd::Link::start(e, &cfg.name).map_err(|err| StoreError {
                    path: e.endpoints.join(","),
                    reason: format!("cannot start the etcd link: {err}"),
                })?;
                let shared = Shared {
                    cfg: e.clone(),
                    link,
                    provider: cfg.name.clone(),
                    ready: false,
                    why_down: "not in sync with etcd yet".into(),
                    in_flight: None,
                    waiting: Default::default(),
                    watched: Vec::new(),
                    seen: HashMap::new(),
                    others: HashSet::new(),
                    claiming: HashSet::new(),
                    retry_claim: HashMap::new(),
                    blocks_due: None,
                };
                (Backing::Etcd(Box::new(shared)), Vec::new())
            }
        };
        let (book, dropped) = Book::new(&m.pools, owned, seed());
        for (h, mac) in dropped {
            log::warn!(
                "mps: the store holds {} twice (for {h:?}); the first owner keeps it",
                Mac::from_u64(mac)
            );
        }
        if book.orphans() > 0 {
            log::info!(
                "mps: {} assigned addresses are in no configured pool; their handles keep them",
                book.orphans()
            );
        }
        let own = cfg.moose.as_ref().map(|m| m.switch.prefix());
        let mut s = Mps {
            cfg: m,
            book,
            backing,
            batch: Batch::default(),
            pending: Vec::new(),
            own,
            fabric: Vec::new(),
            stats: MpsStats::default(),
            duid: dhcp6::server_duid(name_mac(&cfg.name)),
            owned_news: Vec::new(),
            emit: Vec::new(),
        };
        s.set_fabric();
        Ok(Some(s))
    }

    /// Answers `call` against the book, staging what it changes.
    fn process(&mut self, call: Call, tries: u8) -> Pending {
        let (answer, changed) = match &call {
            Call::Ask(env) => {
                let r = self.ask(&env.call, true);
                let changed = r.as_ref().is_ok_and(|g| g.new);
                (Answer::Grant(r), changed)
            }
            Call::Release(env) => {
                let r = self.release(&env.call.handle);
                let changed = r.is_ok();
                (Answer::Record(r), changed)
            }
            Call::Reclaim(env) => {
                let r = self.reclaim(&env.call.mac);
                let changed = r.is_ok();
                (Answer::Record(r), changed)
            }
            Call::Query(env) => (Answer::Record(self.query(&env.call)), false),
            Call::Dhcp6(env) => {
                let (a, changed) = self.dhcp6(&env.call.payload);
                (Answer::Dhcp6(a), changed)
            }
        };
        Pending {
            call,
            answer,
            changed,
            tries,
        }
    }

    /// Sends `p`'s answer; a change is refused with `failed` instead.
    fn answer(&mut self, p: Pending, failed: Option<&str>) {
        let refuse =
            |why: &str| Refusal::unavailable(format!("{why} (nothing changed; try again)"));
        match (p.call, p.answer) {
            (Call::Ask(env), Answer::Grant(r)) => {
                let r = match (failed, r) {
                    (Some(why), Ok(_)) if p.changed => {
                        *self
                            .stats
                            .refused
                            .entry(self.fail_reason().into())
                            .or_default() += 1;
                        Err(refuse(why))
                    }
                    (_, r) => r,
                };
                let _ = env.reply.send(r);
            }
            (Call::Release(Envelope { reply, .. }), Answer::Record(r))
            | (Call::Reclaim(Envelope { reply, .. }), Answer::Record(r))
            | (Call::Query(Envelope { reply, .. }), Answer::Record(r)) => {
                let r = match (failed, r) {
                    (Some(why), Ok(_)) if p.changed => Err(refuse(why)),
                    (_, r) => r,
                };
                let _ = reply.send(r);
            }
            (Call::Dhcp6(env), Answer::Dhcp6(a)) => {
                // Unanswered after a failed commit: the client retransmits.
                let a = match (failed, a) {
                    (Some(_), Some(_)) if p.changed => {
                        let r = self.fail_reason();
                        self.dhcp6_drop(r);
                        None
                    }
                    (_, Some((bytes, name))) => {
                        *self.stats.dhcp6_replies.entry(name.into()).or_default() += 1;
                        Some(bytes)
                    }
                    (_, None) => None,
                };
                let _ = env.reply.send(a);
            }
            _ => unreachable!("an answer of another call's kind"),
        }
    }

    /// Refuses `call` without looking at it: etcd is not reachable.
    fn refuse_now(&mut self, call: Call, why: &str) {
        let r = Refusal::unavailable(format!("{why} (nothing changed; try again)"));
        *self.stats.requests.entry("refused".into()).or_default() += 1;
        *self
            .stats
            .refused
            .entry(self.fail_reason().into())
            .or_default() += 1;
        match call {
            Call::Ask(env) => {
                let _ = env.reply.send(Err(r));
            }
            Call::Release(Envelope { reply, .. })
            | Call::Reclaim(Envelope { reply, .. })
            | Call::Query(Envelope { reply, .. }) => {
                let _ = reply.send(Err(r));
            }
            Call::Dhcp6(env) => {
                let reason = self.fail_reason();
                self.dhcp6_drop(reason);
                let _ = env.reply.send(None);
            }
        }
    }

    fn fail_reason(&self) -> &'static str {
        match self.backing {
            Backing::Local(_) => "store",
            Backing::Etcd(_) => "etcd",
        }
    }

    /// Takes `call`: at once with the embedded store, queued for the next
    /// commit with etcd (refused if etcd is not reachable).
    fn take(&mut self, call: Call) {
        match &mut self.backing {
            Backing::Local(_) => {
                let p = self.process(call, 0);
                self.pending.push(p);
            }
            Backing::Etcd(sh) => {
                if !sh.ready {
                    let why = format!("etcd unreachable: {}", sh.why_down);
                    self.refuse_now(call, &why);
                } else if sh.waiting.len() >= MAX_WAITING {
                    self.refuse_now(call, "busy: too many requests wait for etcd");
                } else {
                    sh.waiting.push_back((call, 0));
                }
            }
        }
    }

    fn set_fabric(&mut self) {
        let mut all = self.fabric.clone();
        all.extend(self.own);
        self.book.set_fabric(&all);
    }

    fn count_refusal(&mut self, reason: &str) {
        *self.stats.requests.entry("refused".into()).or_default() += 1;
        *self.stats.refused.entry(reason.into()).or_default() += 1;
    }

    /// Answers a request (staging what it changes); the reply.
    fn ask(&mut self, r: &MacRequest, commit: bool) -> Result<MacGrant, Refusal> {
        let parsed = parse_request(r);
        let out = parsed.and_then(|(requested, ipv4, quadrant)| {
            self.book.request(
                &Ask {
                    handle: &r.handle,
                    requested,
                    pool: r.pool.as_deref(),
                    ipv4,
                    quadrant,
                },
                commit,
            )
        });
        match out {
            Ok(g) => {
                let kind = if g.new { "new" } else { "existing" };
                if commit {
                    *self.stats.requests.entry(kind.into()).or_default() += 1;
                }
                if g.new && commit {
                    self.batch.assign(&r.handle, g.mac.to_u64());
                    self.owned_news.push((g.mac, true));
                }
                Ok(MacGrant {
                    mac: g.mac.to_string(),
                    pool: g.pool,
                    new: g.new,
                    requested: g.requested.map(|q| q.as_str().to_string()),
                })
            }
            Err(e) => {
                self.count_refusal(e.reason());
                Err(refusal(&e))
            }
        }
    }

    fn release(&mut self, handle: &str) -> Result<MacRecord, Refusal> {
        if let Err(e) = book::check_handle(handle) {
            self.count_refusal(e.reason());
            return Err(refusal(&e));
        }
        let pool = self
            .book
            .mac_of(handle)
            .and_then(|m| self.book.pool_name(m).map(str::to_string));
        match self.book.release(handle) {
            Some(mac) => {
                self.stats.released += 1;
                self.batch.unassign(handle, mac.to_u64());
                self.owned_news.push((mac, false));
                Ok(MacRecord {
                    handle: handle.to_string(),
                    mac: mac.to_string(),
                    pool,
                })
            }
            None => Err(Refusal::not_found(format!(
                "handle: {handle:?} holds no address"
            ))),
        }
    }

    fn reclaim(&mut self, mac: &str) -> Result<MacRecord, Refusal> {
        let m = parse_mac("mac", mac)?;
        let pool = self.book.pool_name(m).map(str::to_string);
        match self.book.reclaim(m) {
            Some(handle) => {
                self.stats.reclaimed += 1;
                self.batch.unassign(&handle, m.to_u64());
                self.owned_news.push((m, false));
                log::info!("mps: {m} reclaimed from {handle:?}");
                Ok(MacRecord {
                    handle,
                    mac: m.to_string(),
                    pool,
                })
            }
            None => Err(Refusal::not_found(format!("mac: {m} is not assigned"))),
        }
    }

    fn query(&self, q: &MacQuery) -> Result<MacRecord, Refusal> {
        let (handle, mac) = match (&q.handle, &q.mac) {
            (Some(h), None) => {
                let m = self
                    .book
                    .mac_of(h)
                    .ok_or_else(|| Refusal::not_found(format!("handle: {h:?} holds no address")))?;
                (h.clone(), m)
            }
            (None, Some(m)) => {
                let m = parse_mac("mac", m)?;
                let h = self
                    .book
                    .handle_of(m)
                    .ok_or_else(|| Refusal::not_found(format!("mac: {m} is not assigned")))?;
                (h.to_string(), m)
            }
            _ => return Err(Refusal::invalid("give handle or mac (one of them)")),
        };
        Ok(MacRecord {
            handle,
            pool: self.book.pool_name(mac).map(str::to_string),
            mac: mac.to_string(),
        })
    }

    fn pools(&self) -> Vec<PoolReport> {
        self.book
            .pools()
            .map(|f| PoolReport {
                name: f.pool.name.clone(),
                policy: f.pool.policy.as_str().into(),
                quadrant: f.pool.quadrant.as_str().into(),
                first: Mac::from_u64(f.pool.first).to_string(),
                last: Mac::from_u64(f.pool.last).to_string(),
                size: f.pool.size(),
                used: f.used,
                free: f.pool.size() - f.used,
                quotas: f
                    .pool
                    .quotas
                    .iter()
                    .map(|(q, &max)| {
                        let used = f.quota_use.get(q).copied().unwrap_or(0);
                        (q.clone(), QuotaUse { max, used })
                    })
                    .collect(),
                lifetime_secs: f.pool.lifetime.map(|d| d.as_secs()),
            })
            .collect()
    }

    fn figures(&self) -> MpsStats {
        let mut s = self.stats.clone();
        s.assigned = self.book.len() as u64;
        s.orphans = self.book.orphans();
        s.skipped_fabric = self.book.skipped_fabric;
        if let Backing::Etcd(sh) = &self.backing {
            s.etcd = true;
            s.etcd_up = sh.ready;
            s.block_misses = self.book.block_misses;
            s.etcd_blocks = self
                .cfg
                .pools
                .iter()
                .map(|p| self.book.blocks(&p.name).len() as u64)
                .sum();
        }
        s
    }

    fn dhcp6_drop(&mut self, reason: &str) {
        *self.stats.dhcp6_dropped.entry(reason.into()).or_default() += 1;
    }

    /// Answers a DHCPv6 link-layer address message (RFC 8947): the reply
    /// payload and its type, and whether it changed an assignment.
    ///
    /// Each IA_LL is one handle, `dhcpv6:<DUID hex>:<IAID hex>`, so a
    /// client gets the same address for the same IA_LL every time (also
    /// through the HTTP API). Solicit offers without assigning (Rapid
    /// Commit assigns); Request assigns, preferring the LLADDR it carries
    /// (the one advertised); Renew and Rebind answer the address held
    /// (NoBinding without one); Release and Decline end the assignment;
    /// Confirm says whether each address is still the client's. One
    /// address per IA_LL (extra-addresses 0). The valid lifetime is the
    /// pool's `lifetime_secs`, infinite without one (T1 = T2 = infinite:
    /// never renew); the assignment itself never expires either way.
    fn dhcp6(&mut self, payload: &[u8]) -> (Option<(Vec<u8>, &'static str)>, bool) {
        use dhcp6::{status, IaLlAnswer, Kind, LlResult, ReplyKind};
        let msg = match dhcp6::parse(payload) {
            Ok(m) => m,
            Err(e) => {
                self.dhcp6_drop(e.reason());
                return (None, false);
            }
        };
        *self
            .stats
            .dhcp6_messages
            .entry(kind_name(msg.kind).into())
            .or_default() += 1;
        if msg.server_id.as_ref().is_some_and(|id| *id != self.duid) {
            // Meant for another server (RFC 8415 §16).
            self.dhcp6_drop("other_server");
            return (None, false);
        }
        // The most preferred quadrant this provider serves (0 AAI, 1 ELI).
        let mut quads = msg.quadrants.clone();
        quads.sort_by_key(|&(_, pref)| std::cmp::Reverse(pref));
        let quadrant = quads.iter().find_map(|&(q, _)| match q {
            0 => Some(Quadrant::Aai),
            1 => Some(Quadrant::Eli),
            _ => None,
        });
        let only_unserved = !quads.is_empty() && quadrant.is_none();
        let duid_hex: String = msg.client_id.iter().map(|b| format!("{b:02x}")).collect();
        let commit = match msg.kind {
            Kind::Solicit => msg.rapid_commit,
            _ => true,
        };
        let mut changed = false;
        let mut answers = Vec::new();
        for ia in &msg.ia_ll {
            let handle = format!("dhcpv6:{duid_hex}:{:08x}", ia.iaid);
            let lifetime = |book: &Book, mac: Mac| -> u32 {
                book.pool_name(mac)
                    .and_then(|p| book.pool(p))
                    .and_then(|p| p.lifetime)
                    .map(|d| d.as_secs() as u32)
                    .unwrap_or(dhcp6::INFINITY)
            };
            let granted = |book: &Book, mac: Mac| {
                let valid = lifetime(book, mac);
                let (t1, t2) = dhcp6::timers(valid);
                LlResult::Granted {
                    mac,
                    extra: 0,
                    valid,
                    t1,
                    t2,
                }
            };
            let fail = |code: u16, message: String| LlResult::Status { code, message };
            let result = match msg.kind {
                Kind::Solicit | Kind::Request if only_unserved => fail(
                    status::NO_ADDRS_AVAIL,
                    "only SAI or Reserved requested; this provider assigns AAI and ELI".into(),
                ),
                Kind::Solicit | Kind::Request => {
                    let ask = Ask {
                        handle: &handle,
                        requested: ia.addr,
                        pool: None,
                        ipv4: None,
                        quadrant,
                    };
                    match self.book.request(&ask, commit) {
                        Ok(g) => {
                            if commit {
                                let kind = if g.new { "new" } else { "existing" };
                                *self.stats.requests.entry(kind.into()).or_default() += 1;
                                if g.new {
                                    changed = true;
                                    self.batch.assign(&handle, g.mac.to_u64());
                                    self.owned_news.push((g.mac, true));
                                }
                            }
                            granted(&self.book, g.mac)
                        }
                        Err(e) => {
                            self.count_refusal(e.reason());
                            fail(status::NO_ADDRS_AVAIL, e.to_string())
                        }
                    }
                }
                Kind::Renew | Kind::Rebind => match self.book.mac_of(&handle) {
                    Some(mac) => granted(&self.book, mac),
                    None => fail(
                        status::NO_BINDING,
                        "no address is held for this IA_LL".into(),
                    ),
                },
                Kind::Release | Kind::Decline => match self.book.mac_of(&handle) {
                    Some(mac) if ia.addr.is_none_or(|a| a == mac) => {
                        self.book.release(&handle);
                        self.owned_news.push((mac, false));
                        self.stats.released += 1;
                        self.batch.unassign(&handle, mac.to_u64());
                        changed = true;
                        fail(status::SUCCESS, "released".into())
                    }
                    _ => fail(
                        status::NO_BINDING,
                        "no such address is held for this IA_LL".into(),
                    ),
                },
                Kind::Confirm => match self.book.mac_of(&handle) {
                    Some(mac) if ia.addr == Some(mac) => granted(&self.book, mac),
                    _ => fail(status::NOT_ON_LINK, "not this client's address".into()),
                },
                Kind::InformationRequest => continue,
            };
            answers.push(IaLlAnswer {
                iaid: ia.iaid,
                result,
            });
        }
        let (kind, name) = match msg.kind {
            Kind::Solicit if !msg.rapid_commit => (ReplyKind::Advertise, "advertise"),
            _ => (ReplyKind::Reply, "reply"),
        };
        let top = match msg.kind {
            Kind::Release | Kind::Decline => Some((status::SUCCESS, "done")),
            _ => None,
        };
        let out = dhcp6::build(&msg, kind, &self.duid, &answers, top);
        (Some((out, name)), changed)
    }

    /// Commits the turn's changes to the embedded store and sends the
    /// turn's answers.
    fn commit_local(&mut self) {
        let Backing::Local(store) = &self.backing else {
            return;
        };
        if self.pending.is_empty() && self.batch.is_empty() {
            return;
        }
        self.batch.settle();
        let failed = if self.batch.is_empty() {
            None
        } else {
            let t = Instant::now();
            let r = store.commit(&self.batch);
            self.stats.commits += 1;
            self.stats.commit_nanos_total += t.elapsed().as_nanos() as u64;
            self.batch = Batch::default();
            r.err()
        };
        if let Some(e) = &failed {
            self.stats.store_errors += 1;
            log::error!("mps: {e}; this turn's changes are refused");
            // The book back to what is durable.
            match store.load() {
                Ok(owned) => {
                    let (b, _) = Book::new(&self.cfg.pools, owned, seed());
                    self.book = b;
                    self.set_fabric();
                }
                Err(e) => log::error!("mps: reading the store back: {e}"),
            }
        }
        let why = failed.map(|e| format!("store: {e}"));
        for p in std::mem::take(&mut self.pending) {
            self.answer(p, why.as_deref());
        }
        let news = std::mem::take(&mut self.owned_news);
        if why.is_none() {
            self.emit.extend(news);
        }
    }

    fn shared(&mut self) -> Option<&mut Shared> {
        match &mut self.backing {
            Backing::Etcd(sh) => Some(sh),
            Backing::Local(_) => None,
        }
    }

    /// One turn with etcd: what the link says, then the next commit if
    /// none is in flight, then the blocks.
    fn turn_etcd(&mut self, now: Instant) {
        while let Some(n) = self.shared().and_then(|sh| sh.link.news.try_recv().ok()) {
            self.news(n);
        }
        let Some(sh) = self.shared() else { return };
        if sh.in_flight.is_some() || !sh.ready {
            return;
        }
        self.apply_watched();
        let mut taken = 0;
        while self.batch.len() + 2 <= TXN_CHANGES && taken < 4 * TXN_CHANGES {
            let Some((call, tries)) = self.shared().and_then(|sh| sh.waiting.pop_front()) else {
                break;
            };
            taken += 1;
            let p = self.process(call, tries);
            self.pending.push(p);
        }
        self.batch.settle();
        if self.batch.is_empty() {
            // Nothing to write: the answers go now.
            for p in std::mem::take(&mut self.pending) {
                self.answer(p, None);
            }
            let news = std::mem::take(&mut self.owned_news);
            self.emit.extend(news);
        } else {
            let batch = std::mem::take(&mut self.batch);
            let flight = InFlight {
                batch: batch.clone(),
                pending: std::mem::take(&mut self.pending),
                owned_news: std::mem::take(&mut self.owned_news),
                sent: now,
            };
            let sh = self.shared().expect("etcd");
            if sh.link.send(etcd::Job::Commit(batch)) {
                sh.in_flight = Some(flight);
            } else {
                self.book_undo(&flight.batch);
                for p in flight.pending {
                    self.answer(p, Some("etcd link stopped"));
                }
            }
        }
        self.blocks(now);
    }

    /// Undoes `b` in the book (a commit that wrote nothing).
    fn book_undo(&mut self, b: &Batch) {
        for (h, (_, after)) in &b.handles {
            if after.is_some() {
                self.book.release(h);
            }
        }
        for (h, (before, _)) in &b.handles {
            if before.is_some() {
                self.book.force(h, *before);
            }
        }
    }

    /// Applies the watched changes of other providers (and echoes of
    /// ours, which the revisions tell apart).
    fn apply_watched(&mut self) {
        let Some(sh) = self.shared() else { return };
        if sh.watched.is_empty() {
            return;
        }
        let watched = std::mem::take(&mut sh.watched);
        let mut newest = 0;
        for (h, mac, rev) in watched {
            newest = newest.max(rev);
            let sh = self.shared().expect("etcd");
            if sh.seen.get(&h).is_some_and(|&r| r >= rev) {
                continue;
            }
            sh.seen.insert(h.clone(), rev);
            self.set_owner(&h, mac);
        }
        // No watched change older than `newest` can come any more.
        if let Some(sh) = self.shared() {
            sh.seen.retain(|_, r| *r > newest);
        }
    }

    /// Makes `handle` own `mac` (or nothing) in the book, telling the
    /// other services what changed.
    fn set_owner(&mut self, handle: &str, mac: Option<u64>) {
        let before = self.book.mac_of(handle).map(|m| m.to_u64());
        if before == mac {
            return;
        }
        let kicked = mac.and_then(|m| self.book.handle_of(Mac::from_u64(m)).map(str::to_string));
        self.book.force(handle, mac);
        if let Some(b) = before {
            self.emit.push((Mac::from_u64(b), false));
        }
        if let (Some(m), Some(k)) = (mac, kicked) {
            log::debug!(
                "mps: {} moved from {k:?} to {handle:?} (etcd)",
                Mac::from_u64(m)
            );
        }
        if let Some(m) = mac {
            self.emit.push((Mac::from_u64(m), true));
        }
    }

    fn news(&mut self, n: etcd::News) {
        use etcd::News;
        match n {
            News::Synced {
                owned,
                blocks,
                revision,
            } => {
                if let Some(f) = self.shared().and_then(|sh| sh.in_flight.take()) {
                    self.flight_failed(f, "etcd link restarted");
                }
                let before: Vec<Mac> = self.book.owned().map(|(_, m)| m).collect();
                let (b, dropped) = Book::new(&self.cfg.pools, owned, seed());
                for (h, m) in dropped {
                    log::warn!(
                        "mps: etcd holds {} twice (also for {h:?})",
                        Mac::from_u64(m)
                    );
                }
                self.book = b;
                self.set_fabric();
                for m in before {
                    if self.book.handle_of(m).is_none() {
                        self.emit.push((m, false));
                    }
                }
                let now_owned: Vec<Mac> = self.book.owned().map(|(_, m)| m).collect();
                self.emit.extend(now_owned.into_iter().map(|m| (m, true)));
                let me = self.shared().expect("etcd").provider.clone();
                let mut mine: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
                let mut others = HashSet::new();
                for b in blocks {
                    if b.provider.as_deref() == Some(me.as_str()) {
                        let size = self.shared().expect("etcd").cfg.block;
                        if let Some(p) = self.book.pool(&b.pool) {
                            let last = b.first.saturating_add(size - 1).min(p.last);
                            mine.entry(b.pool).or_default().push((b.first, last));
                        }
                    } else {
                        others.insert((b.pool, b.first));
                    }
                }
                for p in self.cfg.pools.clone() {
                    self.book
                        .set_blocks(&p.name, mine.remove(&p.name).unwrap_or_default());
                }
                let sh = self.shared().expect("etcd");
                sh.others = others;
                sh.claiming.clear();
                sh.watched.clear();
                sh.seen.clear();
                sh.ready = true;
                self.stats.etcd_syncs += 1;
                log::info!(
                    "mps: in sync with etcd at revision {revision}: {} assignments",
                    self.book.len()
                );
            }
            News::Down(why) => {
                let sh = self.shared().expect("etcd");
                sh.ready = false;
                sh.why_down = why.clone();
                sh.watched.clear();
                let waiting: Vec<_> = sh.waiting.drain(..).collect();
                let msg = format!("etcd unreachable: {why}");
                for (c, _) in waiting {
                    self.refuse_now(c, &msg);
                }
            }
            News::Committed { revision } => {
                let Some(f) = self.shared().and_then(|sh| sh.in_flight.take()) else {
                    return;
                };
                self.stats.commits += 1;
                self.stats.commit_nanos_total += f.sent.elapsed().as_nanos() as u64;
                let sh = self.shared().expect("etcd");
                sh.blocks_due = None;
                for h in f.batch.handles.keys() {
                    sh.seen.insert(h.clone(), revision);
                }
                for p in f.pending {
                    self.answer(p, None);
                }
                self.emit.extend(f.owned_news);
            }
            News::Conflict {
                handles,
                macs,
                revision,
            } => {
                let Some(f) = self.shared().and_then(|sh| sh.in_flight.take()) else {
                    return;
                };
                self.stats.etcd_conflicts += 1;
                self.book_undo(&f.batch);
                // What etcd holds now.
                for (h, m) in handles {
                    self.shared()
                        .expect("etcd")
                        .seen
                        .insert(h.clone(), revision);
                    self.set_owner(&h, m);
                }
                for (m, owner) in macs {
                    match owner {
                        Some(h) => {
                            self.shared()
                                .expect("etcd")
                                .seen
                                .insert(h.clone(), revision);
                            self.set_owner(&h, Some(m));
                        }
                        None => {
                            if let Some(h) =
                                self.book.handle_of(Mac::from_u64(m)).map(str::to_string)
                            {
                                self.set_owner(&h, None);
                            }
                        }
                    }
                }
                // Every request of the commit again, first in line.
                let mut again = Vec::new();
                for p in f.pending {
                    if p.tries + 1 >= MAX_TRIES {
                        self.answer(p, Some("etcd: other providers keep taking these addresses"));
                    } else {
                        again.push((p.call, p.tries + 1));
                    }
                }
                let sh = self.shared().expect("etcd");
                for c in again.into_iter().rev() {
                    sh.waiting.push_front(c);
                }
            }
            News::Failed(why) => {
                if let Some(f) = self.shared().and_then(|sh| sh.in_flight.take()) {
                    self.flight_failed(f, &why);
                }
            }
            News::Watched { owned, blocks } => {
                let me = self.shared().expect("etcd").provider.clone();
                self.shared().expect("etcd").watched.extend(owned);
                for b in blocks {
                    match b.provider {
                        Some(p) if p == me => {}
                        Some(_) => {
                            self.shared()
                                .expect("etcd")
                                .others
                                .insert((b.pool, b.first));
                        }
                        None => {
                            self.shared()
                                .expect("etcd")
                                .others
                                .remove(&(b.pool.clone(), b.first));
                            // Ours, gone: the lease expired under us.
                            let mut mine = self.book.blocks(&b.pool).to_vec();
                            let n = mine.len();
                            mine.retain(|&(a, _)| a != b.first);
                            if mine.len() != n {
                                self.book.set_blocks(&b.pool, mine);
                            }
                        }
                    }
                }
            }
            News::Claimed { pool, block } => {
                let sh = self.shared().expect("etcd");
                sh.claiming.remove(&pool);
                sh.blocks_due = None;
                match block {
                    Some(b) => {
                        self.stats.etcd_block_claims += 1;
                        let mut mine = self.book.blocks(&pool).to_vec();
                        mine.push(b);
                        self.book.set_blocks(&pool, mine);
                    }
                    None => {
                        sh.retry_claim
                            .insert(pool, Instant::now() + Duration::from_millis(200));
                    }
                }
            }
        }
    }

    /// A commit that wrote nothing for want of etcd: undone, its changes
    /// refused.
    fn flight_failed(&mut self, f: InFlight, why: &str) {
        self.stats.etcd_failures += 1;
        self.book_undo(&f.batch);
        log::warn!("mps: {why}; {} requests refused", f.pending.len());
        for p in f.pending {
            self.answer(p, Some(why));
        }
    }

    /// Block delegation: leases another block of a pool when its own run
    /// low, and gives back the ones it filled.
    fn blocks(&mut self, now: Instant) {
        let Some(sh) = self.shared() else { return };
        let size = sh.cfg.block;
        if size == 0 || sh.blocks_due.is_some_and(|t| now < t) {
            return;
        }
        sh.blocks_due = Some(now + BLOCK_CHECK);
        for p in self.cfg.pools.clone() {
            if p.policy == moose_config::mps::Policy::Ipv4 {
                continue;
            }
            let mine = self.book.blocks(&p.name).to_vec();
            let mut keep = Vec::new();
            let mut free = 0;
            for &(a, b) in &mine {
                let f = self.book.free_between(&p.name, a, b);
                if f == 0 {
                    self.shared().expect("etcd").link.send(etcd::Job::Unclaim {
                        pool: p.name.clone(),
                        first: a,
                    });
                } else {
                    keep.push((a, b));
                }
                free += f;
            }
            if keep.len() != mine.len() {
                self.book.set_blocks(&p.name, keep);
            }
            let sh = self.shared().expect("etcd");
            if free >= size / 4
                || sh.claiming.contains(&p.name)
                || sh.retry_claim.get(&p.name).is_some_and(|&t| now < t)
            {
                continue;
            }
            let taken: HashSet<u64> = sh
                .others
                .iter()
                .filter(|(pool, _)| *pool == p.name)
                .map(|&(_, a)| a)
                .collect();
            let cands = self
                .book
                .block_candidates(&p.name, size, &|a| taken.contains(&a), 8);
            let sh = self.shared().expect("etcd");
            if cands.is_empty() {
                sh.retry_claim
                    .insert(p.name.clone(), now + Duration::from_millis(500));
                continue;
            }
            if sh.link.send(etcd::Job::Claim {
                pool: p.name.clone(),
                candidates: cands,
            }) {
                sh.claiming.insert(p.name.clone());
            }
        }
    }
}

/// A locally administered unicast address made from the switch name
/// (FNV-1a), for the DHCPv6 server's DUID.
fn name_mac(name: &str) -> Mac {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut m = Mac::from_u64(h & 0xffff_ffff_ffff);
    m.0[0] = (m.0[0] & 0xf0) | 0x02;
    m
}

fn kind_name(k: dhcp6::Kind) -> &'static str {
    use dhcp6::Kind::*;
    match k {
        Solicit => "solicit",
        Request => "request",
        Confirm => "confirm",
        Renew => "renew",
        Rebind => "rebind",
        Release => "release",
        Decline => "decline",
        InformationRequest => "information_request",
    }
}

/// A refusal naming the field, with the HTTP status it answers with.
fn refusal(e: &AskError) -> Refusal {
    match e {
        AskError::Invalid { .. } => Refusal::invalid(e.to_string()),
        AskError::UnknownPool(_) => Refusal::invalid(e.to_string()),
        AskError::Exhausted { .. }
        | AskError::NoPool { .. }
        | AskError::Quota { .. }
        | AskError::Ipv4Taken { .. } => Refusal::conflict(e.to_string()),
    }
}

fn parse_mac(field: &str, s: &str) -> Result<Mac, Refusal> {
    s.parse()
        .map_err(|e| Refusal::invalid(format!("{field}: {s:?} is not a MAC address ({e})")))
}

type Parsed = (Option<Mac>, Option<Ipv4Addr>, Option<Quadrant>);

fn parse_request(r: &MacRequest) -> Result<Parsed, AskError> {
    let bad = |field, reason: String| AskError::Invalid { field, reason };
    let requested = r
        .requested
        .as_deref()
        .map(|s| {
            s.parse::<Mac>()
                .map_err(|e| bad("requested", format!("{s:?} is not a MAC address ({e})")))
        })
        .transpose()?;
    let ipv4 = r
        .ipv4
        .as_deref()
        .map(|s| {
            s.parse::<Ipv4Addr>()
                .map_err(|_| bad("ipv4", format!("{s:?} is not an IPv4 address")))
        })
        .transpose()?;
    let quadrant = match r
        .quadrant
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => None,
        Some("aai") => Some(Quadrant::Aai),
        Some("eli") => Some(Quadrant::Eli),
        Some(q @ ("sai" | "reserved")) => {
            return Err(bad(
                "quadrant",
                format!("{q:?}: SAI and Reserved addresses are never handed out (RFC 8948)"),
            ))
        }
        Some(q) => return Err(bad("quadrant", format!("{q:?} is not aai or eli"))),
    };
    Ok((requested, ipv4, quadrant))
}

/// The MAC provider request `body` holds, if it is one.
fn into_call(body: Box<dyn std::any::Any + Send>) -> Result<Call, Box<dyn std::any::Any + Send>> {
    let body = match body.downcast::<Envelope<MacRequest>>() {
        Ok(env) => return Ok(Call::Ask(*env)),
        Err(b) => b,
    };
    let body = match body.downcast::<Envelope<MacRelease>>() {
        Ok(env) => return Ok(Call::Release(*env)),
        Err(b) => b,
    };
    let body = match body.downcast::<Envelope<MacReclaim>>() {
        Ok(env) => return Ok(Call::Reclaim(*env)),
        Err(b) => b,
    };
    // A query may report a change of this turn: answered after the commit.
    let body = match body.downcast::<Envelope<MacQuery>>() {
        Ok(env) => return Ok(Call::Query(*env)),
        Err(b) => b,
    };
    body.downcast::<Envelope<Dhcp6Message>>()
        .map(|env| Call::Dhcp6(*env))
}

impl<B: Backend> Service<B> for Mps {
    fn name(&self) -> &'static str {
        "mps"
    }

    fn start(&mut self, cx: &mut Ctx<'_, B>) {
        let owned: Vec<Mac> = self.book.owned().map(|(_, m)| m).collect();
        for mac in owned {
            cx.emit(Event::MacOwned { mac, owned: true });
        }
    }

    fn end_of_turn(&mut self, cx: &mut Ctx<'_, B>) {
        match self.backing {
            Backing::Local(_) => self.commit_local(),
            Backing::Etcd(_) => self.turn_etcd(cx.now),
        }
        for (mac, owned) in std::mem::take(&mut self.emit) {
            cx.emit(Event::MacOwned { mac, owned });
        }
    }

    fn event(&mut self, _cx: &mut Ctx<'_, B>, ev: &Event) {
        match ev {
            Event::FabricPrefixes(p) => {
                self.fabric = p.clone();
                self.set_fabric();
            }
            Event::Renumbered { prefix } => {
                self.own = Some(*prefix);
                self.set_fabric();
            }
            _ => {}
        }
    }

    fn reconfigure(&mut self, _cx: &mut Ctx<'_, B>, cfg: &Config, report: &mut Vec<String>) {
        let Some(m) = cfg.mps.clone() else { return };
        if m.pools != self.cfg.pools {
            let before = self.book.orphans();
            self.book.repool(&m.pools);
            self.set_fabric();
            if self.book.orphans() != before {
                report.push(format!(
                    "mps: {} assigned addresses are in no pool now (their handles keep them)",
                    self.book.orphans()
                ));
            }
        }
        self.cfg = m;
    }

    fn request(
        &mut self,
        _cx: &mut Ctx<'_, B>,
        body: Box<dyn std::any::Any + Send>,
    ) -> Result<(), Box<dyn std::any::Any + Send>> {
        let body = match into_call(body) {
            Ok(call) => {
                self.take(call);
                return Ok(());
            }
            Err(b) => b,
        };
        let body = match serve::<PoolsQuery>(body, |_| self.pools()) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        serve::<StatsQuery>(body, |_| self.figures())
    }
}
