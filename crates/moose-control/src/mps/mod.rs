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
pub mod store;

use std::net::Ipv4Addr;
use std::time::Instant;

use moose_config::mps::{Mps as MpsConfig, Quadrant};
use moose_config::Config;
use moose_dataplane::io::Backend;
use moose_wire::{Mac, MacPrefix};

use crate::api::{serve, Envelope, Refusal};
use crate::{Ctx, Event, Service};
use api::*;
use book::{Ask, AskError, Book};
use store::{Batch, Store, StoreError};

/// An answer held until the turn's commit.
enum Pending {
    Grant(Envelope<MacRequest>, Result<MacGrant, Refusal>),
    Record(
        tokio::sync::oneshot::Sender<Result<MacRecord, Refusal>>,
        Result<MacRecord, Refusal>,
    ),
    /// A DHCPv6 answer; `changed`: it reports a change of this turn.
    Dhcp6 {
        reply: tokio::sync::oneshot::Sender<Option<Vec<u8>>>,
        answer: Option<(Vec<u8>, &'static str)>,
        changed: bool,
    },
}

pub struct Mps {
    cfg: MpsConfig,
    book: Book,
    store: Store,
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
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}

impl Mps {
    /// The service of `cfg.mps`, with the store's assignments; `None`
    /// without `[mps]`.
    pub fn from_config(cfg: &Config) -> Result<Option<Mps>, StoreError> {
        let Some(m) = cfg.mps.clone() else {
            return Ok(None);
        };
        let store = Store::open(&m.state_dir)?;
        let owned = store.load()?;
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
            store,
            batch: Batch::default(),
            pending: Vec::new(),
            own,
            fabric: Vec::new(),
            stats: MpsStats::default(),
            duid: dhcp6::server_duid(name_mac(&cfg.name)),
            owned_news: Vec::new(),
        };
        s.set_fabric();
        Ok(Some(s))
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
                    self.batch.remove.retain(|h| h != &r.handle);
                    self.batch.put.push((r.handle.clone(), g.mac.to_u64()));
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
                self.stage_remove(handle);
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
                self.stage_remove(&handle);
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

    fn stage_remove(&mut self, handle: &str) {
        self.batch.put.retain(|(h, _)| h != handle);
        self.batch.remove.push(handle.to_string());
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
                                    self.batch.remove.retain(|h| h != &handle);
                                    self.batch.put.push((handle.clone(), g.mac.to_u64()));
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
                        self.stage_remove(&handle);
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

    /// Commits the turn's changes and sends the turn's answers; whether
    /// the changes are durable.
    fn commit(&mut self) -> bool {
        if self.pending.is_empty() && self.batch.is_empty() {
            return true;
        }
        let failed = if self.batch.is_empty() {
            None
        } else {
            let t = Instant::now();
            let r = self.store.commit(&self.batch);
            self.stats.commits += 1;
            self.stats.commit_nanos_total += t.elapsed().as_nanos() as u64;
            self.batch = Batch::default();
            r.err()
        };
        if let Some(e) = &failed {
            self.stats.store_errors += 1;
            log::error!("mps: {e}; this turn's changes are refused");
            // The book back to what is durable.
            match self.store.load() {
                Ok(owned) => {
                    let (b, _) = Book::new(&self.cfg.pools, owned, seed());
                    self.book = b;
                    self.set_fabric();
                }
                Err(e) => log::error!("mps: reading the store back: {e}"),
            }
        }
        let store_refusal = |e: &StoreError| {
            Refusal::unavailable(format!("store: {e} (nothing changed; try again)"))
        };
        for p in std::mem::take(&mut self.pending) {
            match p {
                Pending::Grant(env, reply) => {
                    let reply = match (&failed, reply) {
                        (Some(e), Ok(g)) if g.new => {
                            *self.stats.refused.entry("store".into()).or_default() += 1;
                            Err(store_refusal(e))
                        }
                        (_, r) => r,
                    };
                    let _ = env.reply.send(reply);
                }
                Pending::Record(tx, reply) => {
                    let reply = match (&failed, reply) {
                        (Some(e), Ok(_)) => Err(store_refusal(e)),
                        (_, r) => r,
                    };
                    let _ = tx.send(reply);
                }
                Pending::Dhcp6 {
                    reply,
                    answer,
                    changed,
                } => {
                    // Unanswered after a failed commit: the client
                    // retransmits.
                    let answer = match (&failed, answer) {
                        (Some(_), Some(_)) if changed => {
                            self.dhcp6_drop("store");
                            None
                        }
                        (_, Some((bytes, name))) => {
                            *self.stats.dhcp6_replies.entry(name.into()).or_default() += 1;
                            Some(bytes)
                        }
                        (_, None) => None,
                    };
                    let _ = reply.send(answer);
                }
            }
        }
        failed.is_none()
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
        let durable = self.commit();
        for (mac, owned) in std::mem::take(&mut self.owned_news) {
            if durable {
                cx.emit(Event::MacOwned { mac, owned });
            }
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
        let body = match body.downcast::<Envelope<MacRequest>>() {
            Ok(env) => {
                let reply = self.ask(&env.call, true);
                self.pending.push(Pending::Grant(*env, reply));
                return Ok(());
            }
            Err(b) => b,
        };
        let body = match body.downcast::<Envelope<MacRelease>>() {
            Ok(env) => {
                let Envelope { call, reply } = *env;
                let r = self.release(&call.handle);
                self.pending.push(Pending::Record(reply, r));
                return Ok(());
            }
            Err(b) => b,
        };
        let body = match body.downcast::<Envelope<MacReclaim>>() {
            Ok(env) => {
                let Envelope { call, reply } = *env;
                let r = self.reclaim(&call.mac);
                self.pending.push(Pending::Record(reply, r));
                return Ok(());
            }
            Err(b) => b,
        };
        let body = match body.downcast::<Envelope<MacQuery>>() {
            Ok(env) => {
                let Envelope { call, reply } = *env;
                let r = self.query(&call);
                // It may report a change of this turn: sent after the commit.
                self.pending.push(Pending::Record(reply, r));
                return Ok(());
            }
            Err(b) => b,
        };
        let body = match body.downcast::<Envelope<Dhcp6Message>>() {
            Ok(env) => {
                let Envelope { call, reply } = *env;
                let (answer, changed) = self.dhcp6(&call.payload);
                self.pending.push(Pending::Dhcp6 {
                    reply,
                    answer,
                    changed,
                });
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
