//! The MAC provider's link to etcd, where providers that share a fabric
//! coordinate their pools (`[mps] etcd = [...]`).
//!
//! Keys, under `mps.etcd_prefix`:
//!
//! * `h/<handle>` → the address (`aa:bb:cc:dd:ee:ff`) the handle owns;
//! * `m/<12 hex digits>` → the handle that owns the address;
//! * `b/<pool>/<12 hex digits>` → the provider leasing the block of the
//!   pool that starts there (attached to the provider's etcd lease).
//!
//! A turn's changes are one transaction that compares every handle and
//! address it touches with what the provider believed they were and, only
//! if all match, writes the new states; otherwise it reads them back (the
//! conflict) and writes nothing. So two providers can never give one
//! address to two handles, nor one handle two addresses, whatever they
//! believe. Blocks are only a way to make such conflicts rare: each
//! provider allocates inside the blocks it leases, and a block whose
//! provider died (its lease expired) can be leased by another; the
//! assignments in it stay, as they are keys of their own.
//!
//! The link runs on its own thread (a current-thread tokio runtime): the
//! control thread sends [`Job`]s and reads [`News`] without ever waiting
//! for the network.

use std::sync::mpsc;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, PutOptions, Txn, TxnOp,
    TxnOpResponse, WatchOptions,
};
use moose_config::mps::Etcd as EtcdConfig;
use moose_wire::Mac;
use tokio::sync::mpsc as tmpsc;

use super::store::Batch;

/// How long the provider's lease (and so its blocks) outlives it.
pub const LEASE_TTL_SECS: i64 = 10;

/// What the service asks of the link.
#[derive(Debug)]
pub enum Job {
    /// Write a turn's changes, if nothing they touch changed meanwhile.
    Commit(Batch),
    /// Lease the first free one of `candidates` (first, last) of `pool`.
    Claim {
        pool: String,
        candidates: Vec<(u64, u64)>,
    },
    /// Give the block of `pool` starting at `first` back.
    Unclaim { pool: String, first: u64 },
}

/// A block lease as etcd holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub pool: String,
    pub first: u64,
    /// The provider holding it; `None`: given back (watched delete).
    pub provider: Option<String>,
}

/// What the link tells the service.
#[derive(Debug)]
pub enum News {
    /// Connected, and this is all etcd holds at `revision`; changes after
    /// it follow as [`News::Watched`].
    Synced {
        owned: Vec<(String, u64)>,
        blocks: Vec<Block>,
        revision: i64,
    },
    /// The link is down (and every job fails until the next `Synced`).
    Down(String),
    /// The last `Commit` is written, at `revision`.
    Committed { revision: i64 },
    /// The last `Commit` wrote nothing: these are the current states of
    /// what it touched (handle → address, address → handle).
    Conflict {
        handles: Vec<(String, Option<u64>)>,
        macs: Vec<(u64, Option<String>)>,
        revision: i64,
    },
    /// The last `Commit` failed for want of etcd: nothing written.
    Failed(String),
    /// Changes in etcd (also our own): handle → address, at a revision.
    Watched {
        owned: Vec<(String, Option<u64>, i64)>,
        blocks: Vec<Block>,
    },
    /// A `Claim` got `(first, last)`, or none of its candidates (`None`).
    Claimed {
        pool: String,
        block: Option<(u64, u64)>,
    },
}

/// The service's ends of the link.
pub struct Link {
    jobs: tmpsc::UnboundedSender<Job>,
    pub news: mpsc::Receiver<News>,
}

impl Link {
    /// Starts the link thread for provider `provider`.
    pub fn start(cfg: &EtcdConfig, provider: &str) -> std::io::Result<Link> {
        let (jobs, jobs_rx) = tmpsc::unbounded_channel();
        let (news_tx, news) = mpsc::channel();
        let cfg = cfg.clone();
        let provider = provider.to_string();
        std::thread::Builder::new()
            .name("mps-etcd".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = news_tx.send(News::Down(format!("no runtime: {e}")));
                        return;
                    }
                };
                rt.block_on(run(cfg, provider, jobs_rx, news_tx));
            })?;
        Ok(Link { jobs, news })
    }

    /// Sends `job`; false if the link thread is gone.
    pub fn send(&self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }
}

fn mac_key(prefix: &str, m: u64) -> String {
    format!("{prefix}/m/{m:012x}")
}

fn handle_key(prefix: &str, h: &str) -> String {
    format!("{prefix}/h/{h}")
}

fn block_key(prefix: &str, pool: &str, first: u64) -> String {
    format!("{prefix}/b/{pool}/{first:012x}")
}

fn parse_mac(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v)
        .ok()?
        .parse::<Mac>()
        .ok()
        .map(|m| m.to_u64())
}

/// A block key's pool and first address.
fn parse_block(prefix: &str, key: &[u8]) -> Option<(String, u64)> {
    let k = std::str::from_utf8(key).ok()?;
    let rest = k.strip_prefix(prefix)?.strip_prefix("/b/")?;
    let (pool, first) = rest.rsplit_once('/')?;
    Some((pool.to_string(), u64::from_str_radix(first, 16).ok()?))
}

struct Session {
    client: Client,
    lease: i64,
    cfg: EtcdConfig,
    provider: String,
}

/// Reconnects until the service is gone, answering every job.
///
/// A session talks to one member (its watch and lease streams too); when
/// that member fails the next one is tried at once, so a dead member costs
/// one resync, and only a whole round of failed members backs off.
async fn run(
    cfg: EtcdConfig,
    provider: String,
    mut jobs: tmpsc::UnboundedReceiver<Job>,
    news: mpsc::Sender<News>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut old_lease = None;
    let n = cfg.endpoints.len();
    let mut next = 0;
    let mut failed_in_a_row = 0;
    loop {
        let endpoint = cfg.endpoints[next % n].clone();
        next += 1;
        let mut synced = false;
        let why = match session(
            &cfg,
            &endpoint,
            &provider,
            &mut jobs,
            &news,
            &mut old_lease,
            &mut synced,
        )
        .await
        {
            Ok(()) => return,
            Err(e) => format!("{endpoint}: {e}"),
        };
        log::warn!("mps: etcd: {why}; trying the next member");
        if news.send(News::Down(why.clone())).is_err() {
            return;
        }
        if synced {
            failed_in_a_row = 0;
            backoff = Duration::from_millis(100);
        }
        failed_in_a_row += 1;
        if failed_in_a_row < n {
            continue;
        }
        // Every member failed: wait, failing every job at once.
        failed_in_a_row = 0;
        let pause = tokio::time::sleep(backoff);
        tokio::pin!(pause);
        loop {
            tokio::select! {
                _ = &mut pause => break,
                j = jobs.recv() => match j {
                    None => return,
                    Some(j) => {
                        if let Some(n) = fail(j, &why) {
                            if news.send(n).is_err() {
                                return;
                            }
                        }
                    }
                },
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// The news that answers `job` when etcd cannot be reached.
fn fail(job: Job, why: &str) -> Option<News> {
    match job {
        Job::Commit(_) => Some(News::Failed(format!("etcd unreachable: {why}"))),
        Job::Claim { pool, .. } => Some(News::Claimed { pool, block: None }),
        Job::Unclaim { .. } => None,
    }
}

async fn timed<T>(
    t: Duration,
    what: &str,
    f: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(t, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {} ms", t.as_millis())),
    }
}

#[allow(clippy::too_many_arguments)]
async fn session(
    cfg: &EtcdConfig,
    endpoint: &str,
    provider: &str,
    jobs: &mut tmpsc::UnboundedReceiver<Job>,
    news: &mpsc::Sender<News>,
    old_lease: &mut Option<i64>,
    synced: &mut bool,
) -> Result<(), String> {
    let t = cfg.timeout;
    let opts = ConnectOptions::new()
        .with_connect_timeout(t)
        .with_timeout(t)
        .with_keep_alive(Duration::from_secs(1), t);
    let client = timed(t, "connect", Client::connect([endpoint], Some(opts))).await?;
    let mut s = Session {
        client,
        lease: 0,
        cfg: cfg.clone(),
        provider: provider.to_string(),
    };
    let grant = timed(t, "lease", s.client.lease_grant(LEASE_TTL_SECS, None)).await?;
    s.lease = grant.id();
    let (mut keeper, mut alive) =
        timed(t, "lease keep-alive", s.client.lease_keep_alive(s.lease)).await?;
    let p = &cfg.prefix;
    let owned_resp = timed(
        t,
        "read assignments",
        s.client
            .get(format!("{p}/h/"), Some(GetOptions::new().with_prefix())),
    )
    .await?;
    let revision = owned_resp.header().map_or(0, |h| h.revision());
    let blocks_resp = timed(
        t,
        "read blocks",
        s.client.get(
            format!("{p}/b/"),
            Some(GetOptions::new().with_prefix().with_revision(revision)),
        ),
    )
    .await?;
    let hp = format!("{p}/h/");
    let owned: Vec<(String, u64)> = owned_resp
        .kvs()
        .iter()
        .filter_map(|kv| {
            let h = std::str::from_utf8(kv.key()).ok()?.strip_prefix(&hp)?;
            Some((h.to_string(), parse_mac(kv.value())?))
        })
        .collect();
    let mut blocks = Vec::new();
    for kv in blocks_resp.kvs() {
        let Some((pool, first)) = parse_block(p, kv.key()) else {
            continue;
        };
        let holder = String::from_utf8_lossy(kv.value()).to_string();
        if holder == provider {
            // Ours from before a reconnect or a restart: under the new
            // lease, if nobody took it since.
            let key = kv.key().to_vec();
            let txn = Txn::new()
                .when([Compare::value(key.clone(), CompareOp::Equal, provider)])
                .and_then([TxnOp::put(
                    key,
                    provider,
                    Some(PutOptions::new().with_lease(s.lease)),
                )]);
            let r = timed(t, "keep blocks", s.client.txn(txn)).await?;
            if !r.succeeded() {
                continue;
            }
        }
        blocks.push(Block {
            pool,
            first,
            provider: Some(holder),
        });
    }
    if let Some(l) = old_lease.take() {
        // Blocks moved to the new lease above; the old one can go.
        let _ = timed(t, "revoke old lease", s.client.lease_revoke(l)).await;
    }
    *old_lease = Some(s.lease);
    news.send(News::Synced {
        owned,
        blocks,
        revision,
    })
    .map_err(|_| "service gone".to_string())?;
    *synced = true;
    let mut watch = timed(
        t,
        "watch",
        s.client.watch(
            format!("{p}/"),
            Some(
                WatchOptions::new()
                    .with_prefix()
                    .with_start_revision(revision + 1),
            ),
        ),
    )
    .await?;
    let mut tick = tokio::time::interval(Duration::from_secs((LEASE_TTL_SECS / 4).max(1) as u64));
    loop {
        tokio::select! {
            j = jobs.recv() => {
                let Some(j) = j else {
                    // The service is gone (shutdown): blocks back now.
                    let _ = timed(t, "revoke lease", s.client.lease_revoke(s.lease)).await;
                    *old_lease = None;
                    return Ok(());
                };
                let Some(answer) = s.job(j).await else { continue };
                let down = match &answer {
                    News::Failed(why) => Some(why.clone()),
                    _ => None,
                };
                news.send(answer).map_err(|_| "service gone".to_string())?;
                if let Some(why) = down {
                    return Err(why);
                }
            }
            m = watch.message() => {
                let resp = match m {
                    Ok(Some(r)) => r,
                    Ok(None) => return Err("watch ended".into()),
                    Err(e) => return Err(format!("watch: {e}")),
                };
                if resp.canceled() {
                    return Err(format!("watch cancelled: {}", resp.cancel_reason()));
                }
                let mut owned = Vec::new();
                let mut blocks = Vec::new();
                for ev in resp.events() {
                    let Some(kv) = ev.kv() else { continue };
                    let put = ev.event_type() == EventType::Put;
                    if let Some(h) = std::str::from_utf8(kv.key()).ok().and_then(|k| k.strip_prefix(&hp)) {
                        let mac = if put { parse_mac(kv.value()) } else { None };
                        owned.push((h.to_string(), mac, kv.mod_revision()));
                    } else if let Some((pool, first)) = parse_block(p, kv.key()) {
                        blocks.push(Block {
                            pool,
                            first,
                            provider: put.then(|| String::from_utf8_lossy(kv.value()).to_string()),
                        });
                    }
                }
                if !owned.is_empty() || !blocks.is_empty() {
                    news.send(News::Watched { owned, blocks }).map_err(|_| "service gone".to_string())?;
                }
            }
            _ = tick.tick() => {
                timed(t, "lease keep-alive", keeper.keep_alive()).await?;
            }
            a = alive.message() => match a {
                Ok(Some(r)) if r.ttl() > 0 => {}
                Ok(Some(_)) => return Err("the provider's lease expired".into()),
                Ok(None) => return Err("lease keep-alive ended".into()),
                Err(e) => return Err(format!("lease keep-alive: {e}")),
            },
        }
    }
}

impl Session {
    async fn job(&mut self, job: Job) -> Option<News> {
        Some(match job {
            Job::Commit(b) => self.commit(&b).await,
            Job::Claim { pool, candidates } => {
                for (first, last) in candidates {
                    let key = block_key(&self.cfg.prefix, &pool, first);
                    let txn = Txn::new()
                        .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                        .and_then([TxnOp::put(
                            key,
                            self.provider.as_str(),
                            Some(PutOptions::new().with_lease(self.lease)),
                        )]);
                    match timed(self.cfg.timeout, "lease a block", self.client.txn(txn)).await {
                        Ok(r) if r.succeeded() => {
                            return Some(News::Claimed {
                                pool,
                                block: Some((first, last)),
                            })
                        }
                        Ok(_) => continue,
                        Err(e) => {
                            log::warn!("mps: etcd: {e}");
                            break;
                        }
                    }
                }
                News::Claimed { pool, block: None }
            }
            Job::Unclaim { pool, first } => {
                let key = block_key(&self.cfg.prefix, &pool, first);
                let txn = Txn::new()
                    .when([Compare::value(
                        key.clone(),
                        CompareOp::Equal,
                        self.provider.as_str(),
                    )])
                    .and_then([TxnOp::delete(key, None)]);
                if let Err(e) =
                    timed(self.cfg.timeout, "give a block back", self.client.txn(txn)).await
                {
                    log::warn!("mps: etcd: {e}");
                }
                return None;
            }
        })
    }

    /// One transaction: every before-state compared, every after-state
    /// written, or (a conflict) the current states read back. A transport
    /// error is retried within the timeout — a retry of a transaction that
    /// was in fact applied finds its own writes and reports them as a
    /// conflict, which the service resolves to the same outcome.
    async fn commit(&mut self, b: &Batch) -> News {
        let p = self.cfg.prefix.clone();
        let mut when = Vec::new();
        let mut then = Vec::new();
        let mut reads = Vec::new();
        for (h, (before, after)) in &b.handles {
            let key = handle_key(&p, h);
            when.push(match before {
                None => Compare::create_revision(key.clone(), CompareOp::Equal, 0),
                Some(m) => {
                    Compare::value(key.clone(), CompareOp::Equal, Mac::from_u64(*m).to_string())
                }
            });
            then.push(match after {
                None => TxnOp::delete(key.clone(), None),
                Some(m) => TxnOp::put(key.clone(), Mac::from_u64(*m).to_string(), None),
            });
            reads.push(TxnOp::get(key, None));
        }
        for (m, (before, after)) in &b.macs {
            let key = mac_key(&p, *m);
            when.push(match before {
                None => Compare::create_revision(key.clone(), CompareOp::Equal, 0),
                Some(h) => Compare::value(key.clone(), CompareOp::Equal, h.as_str()),
            });
            then.push(match after {
                None => TxnOp::delete(key.clone(), None),
                Some(h) => TxnOp::put(key.clone(), h.as_str(), None),
            });
            reads.push(TxnOp::get(key, None));
        }
        let txn = Txn::new().when(when).and_then(then).or_else(reads);
        let deadline = tokio::time::Instant::now() + self.cfg.timeout;
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            let left = deadline - tokio::time::Instant::now();
            match timed(left, "commit", self.client.txn(txn.clone())).await {
                Ok(r) => {
                    let revision = r.header().map_or(0, |h| h.revision());
                    if r.succeeded() {
                        return News::Committed { revision };
                    }
                    return self.conflict(b, &r.op_responses(), revision);
                }
                Err(e) => {
                    last = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        News::Failed(format!("etcd unreachable: {last}"))
    }

    fn conflict(&self, b: &Batch, reads: &[TxnOpResponse], revision: i64) -> News {
        let value = |i: usize| -> Option<Vec<u8>> {
            match reads.get(i) {
                Some(TxnOpResponse::Get(g)) => g.kvs().first().map(|kv| kv.value().to_vec()),
                _ => None,
            }
        };
        let n = b.handles.len();
        let handles = b
            .handles
            .keys()
            .enumerate()
            .map(|(i, h)| (h.clone(), value(i).and_then(|v| parse_mac(&v))))
            .collect();
        let macs = b
            .macs
            .keys()
            .enumerate()
            .map(|(i, &m)| {
                (
                    m,
                    value(n + i).map(|v| String::from_utf8_lossy(&v).to_string()),
                )
            })
            .collect();
        News::Conflict {
            handles,
            macs,
            revision,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        assert_eq!(mac_key("/p", 0x0242_0000_0001), "/p/m/024200000001");
        assert_eq!(handle_key("/p", "urn:x"), "/p/h/urn:x");
        let k = block_key("/p", "vms", 0x0242_0000_0100);
        assert_eq!(
            parse_block("/p", k.as_bytes()),
            Some(("vms".into(), 0x0242_0000_0100))
        );
        assert_eq!(parse_block("/p", b"/p/h/x"), None);
        assert_eq!(parse_mac(b"02:42:00:00:00:01"), Some(0x0242_0000_0001));
        assert_eq!(parse_mac(b"junk"), None);
    }
}
