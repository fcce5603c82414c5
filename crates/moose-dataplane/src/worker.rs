//! The worker: one pinned thread polling its receive queues.
//!
//! The loop, per receive queue: rx burst → skip if empty → enter the
//! [`TableSet`] (one fence) → the queue's [`Classifier`] decides the burst
//! into an action array (each header read once; shortcuts for repeated
//! frames) → resolve ECMP groups by flow hash → the mover executes the
//! actions (in-place rewrites; one pointer copy when the whole burst goes
//! to one port; floods by reference count; punts onto their class's ring)
//! → leave the tables → offer learn requests → flush full tx buffers. When
//! idle, and every [`CLOCK_LOOPS`] loops if the drain interval passed:
//! flush every buffer. Every [`HOUSEKEEPING_LOOPS`] loops or when idle:
//! publish counters, hand parked ports' queues back to the control thread
//! and take re-attached ones, check for quit, maybe sleep.
//!
//! Nothing in the loop allocates, locks, logs or makes a syscall of its
//! own: the burst, action and tx arrays are allocated once with their full
//! capacity, and a tx buffer never grows past it (every buffer holds fewer
//! than `burst` frames when a burst starts, and one burst adds at most
//! [`MAX_BURST`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moose_config::{IdleMode, PuntClass};
use moose_tables::publish::Reader;
use moose_wire::{ExactKey, Header, PortId};

use crate::action::{self, Action, To};
use crate::classify::{self, Burst, Classifier, FlowCache, Learn, Learns, Summary};
use crate::counters::{
    DropReason, PortCounter, PuntCounter, WorkerCounter, WorkerCounters, WorkerStats,
};
use crate::io::{Backend, FramePool, RxQueue, TxQueue};
use crate::punt::{Bucket, Punt, PuntTx};
use crate::tables::TableSet;

/// Loops between counter publication and quit checks while busy (a power
/// of two).
pub const HOUSEKEEPING_LOOPS: u32 = 64;
/// Loops between clock reads while busy (a power of two).
pub const CLOCK_LOOPS: u32 = 8;
/// Largest burst a worker handles.
pub const MAX_BURST: usize = 64;
const LEARN_CACHE: usize = 1024;
/// Capacity of the control thread → worker transmit ring.
pub const INJECT_RING: usize = 1024;
/// Injected frames taken per loop, so injection cannot crowd out polling.
const INJECT_PER_LOOP: usize = MAX_BURST;
/// A learn request for an unknown source is repeated at most this often
/// (the control thread may have refused it, or its ring may have been full).
const RELEARN_MS: u32 = 100;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub id: usize,
    pub burst: usize,
    pub drain: Duration,
    pub idle: IdleMode,
    /// Known sources are refreshed in the control thread at most this often.
    pub refresh: Duration,
    /// The workers that share each storm-control rate (the rates
    /// themselves are in the published port table).
    pub workers: usize,
    /// Slots of the flow cache.
    pub flow_cache: usize,
}

impl WorkerConfig {
    pub fn from_config(id: usize, cfg: &moose_config::Config) -> WorkerConfig {
        let refresh =
            (cfg.bridge.aging / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
        WorkerConfig {
            id,
            burst: cfg.dataplane.burst.clamp(1, MAX_BURST),
            drain: cfg.dataplane.drain,
            idle: cfg.dataplane.idle,
            refresh,
            workers: cfg.dataplane.workers.max(1),
            flow_cache: cfg.dataplane.flow_cache,
        }
    }
}

/// A port's storm-control buckets on one worker: broadcast, multicast,
/// unknown unicast; `None` where the class is not limited.
type StormBuckets = [Option<Bucket>; 3];

/// This worker's buckets for a port's storm control: its share of each
/// rate (the rate over the workers, at least 1), 100 ms of it as the
/// depth (at least one frame).
fn storm_buckets(s: &moose_config::Storm, workers: usize) -> Option<StormBuckets> {
    let b = |r: Option<u32>| {
        r.map(|pps| {
            let share = pps.div_ceil(workers as u32).max(1);
            Bucket::new(share, (share / 10).max(1))
        })
    };
    s.any().then(|| {
        [
            b(s.broadcast_pps),
            b(s.multicast_pps),
            b(s.unknown_unicast_pps),
        ]
    })
}

/// A frame from the control thread.
#[derive(Debug)]
pub struct Inject<F> {
    pub port: PortId,
    pub frame: F,
    pub via: Via,
}

/// What a worker does with an injected frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// Transmit it on `port`.
    Tx,
    /// Classify it as if `port` had just received it (the first frame of
    /// a new host, once its translation is published).
    Rx,
    /// Classify it as received on `port`, but deliver it: the `elk`
    /// service has seen it and lets it go on (no second punt).
    Pass,
}

/// The queue handles of one port, moving between a worker and the control
/// thread: a worker hands over what it holds of a parked port (its rx
/// queues of the port and its tx queue on it); the control thread gives
/// fresh ones back once the port is re-attached. Owning every handle of a
/// port is the proof that no thread is using it.
pub struct Handover<B: Backend> {
    pub worker: usize,
    pub port: PortId,
    /// `(queue index, handle)`.
    pub rx: Vec<(u16, B::Rx)>,
    pub tx: Option<B::Tx>,
}

/// One receive queue of the worker.
struct RxSlot<B: Backend> {
    port: PortId,
    queue: u16,
    /// `None` while the port is parked.
    rx: Option<B::Rx>,
}

/// How a port's frames are decided: its role's classifier and the punt
/// class of its learn requests, taken once when the worker is built.
struct RoleOf<F> {
    classify: Classifier<F>,
    learn: PuntClass,
}

// Not derived: a derive would ask `F: Copy`, and only the function pointer
// is copied.
impl<F> Clone for RoleOf<F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F> Copy for RoleOf<F> {}

/// A direct-mapped memory of learn requests already sent, so that a busy
/// source costs one request per refresh interval, not one per frame.
/// Worker-local.
struct LearnCache {
    slots: Box<[(u64, u16, u32); LEARN_CACHE]>,
}

impl LearnCache {
    fn new() -> LearnCache {
        LearnCache {
            slots: Box::new([(u64::MAX, 0, 0); LEARN_CACHE]),
        }
    }

    /// True if a request for (key, port) should be sent now (and records it).
    #[inline]
    fn should_send(&mut self, key: ExactKey, port: PortId, now_ms: u32, interval_ms: u32) -> bool {
        let k = key.raw();
        let h = (k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54) as usize;
        let s = &mut self.slots[h & (LEARN_CACHE - 1)];
        if s.0 == k && s.1 == port.0 && now_ms.wrapping_sub(s.2) < interval_ms {
            return false;
        }
        *s = (k, port.0, now_ms);
        true
    }
}

/// The worker's ends of its rings to and from the control thread.
pub struct WorkerRings<B: Backend> {
    pub punt: PuntTx<B::Frame>,
    pub inject: rtrb::Consumer<Inject<B::Frame>>,
    pub handover: rtrb::Producer<Handover<B>>,
    pub handback: rtrb::Consumer<Handover<B>>,
}

pub struct Worker<B: Backend> {
    cfg: WorkerConfig,
    rx: Vec<RxSlot<B>>,
    /// By port index.
    roles: Vec<RoleOf<B::Frame>>,
    /// Frames handed back by the control thread to be classified again, by
    /// ingress port; at most a burst each.
    reinject: Vec<Vec<B::Frame>>,
    /// … and those to deliver without the directory check ([`Via::Pass`]).
    pass: Vec<Vec<B::Frame>>,
    /// This worker's transmit queue on every port, by port index; `None`
    /// while the port is parked.
    tx: Vec<Option<B::Tx>>,
    pool: B::Pool,
    tables: Reader<TableSet>,
    rings: WorkerRings<B>,
    counters: WorkerCounters,
    stats: Arc<WorkerStats>,
    quit: Arc<AtomicBool>,
    burst: Vec<B::Frame>,
    /// Decisions of the current burst.
    actions: Box<[Action; MAX_BURST]>,
    learns: Learns,
    txbuf: Vec<Vec<B::Frame>>,
    /// Bytes in each tx buffer.
    txbytes: Vec<u64>,
    refused: Vec<B::Frame>,
    learn: LearnCache,
    flows: FlowCache,
    /// `cfg.refresh` in milliseconds, converted once.
    refresh_ms: u32,
    start: Instant,
    /// Ports whose tx queue this worker holds.
    held: u64,
    /// Storm control by ingress port index (`None`: no limit).
    storm: Vec<Option<StormBuckets>>,
    /// The rates `storm` and the punt buckets were built from, and the
    /// port table's generation when they were last compared with its own.
    storm_rates: Vec<moose_config::Storm>,
    punt_rates: moose_config::PuntLimits,
    ports_gen: u64,
}

/// The port table alone, for noticing new rates.
const PORTS: crate::tables::TableMask =
    crate::tables::TableMask::of(&[crate::tables::Table::Ports]);

/// Why a worker could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorkerError {
    #[error("worker {worker}: {got} tx queue(s) for {ports} port(s); one per port is needed")]
    TxQueues {
        worker: usize,
        got: usize,
        ports: usize,
    },
    #[error("worker {worker}: rx queue of port {port}, which does not exist")]
    NoSuchPort { worker: usize, port: PortId },
}

/// A worker's queues and pool.
pub struct WorkerIo<B: Backend> {
    /// (port, queue index, handle) of every rx queue the worker polls.
    pub rx: Vec<(PortId, u16, B::Rx)>,
    /// A tx queue on every port: `tx[p]` for port `p`.
    pub tx: Vec<B::Tx>,
    pub pool: B::Pool,
}

impl<B: Backend> Worker<B> {
    /// A worker polling `io.rx`, with a tx queue on every port.
    pub fn new(
        cfg: WorkerConfig,
        io: WorkerIo<B>,
        mut tables: Reader<TableSet>,
        rings: WorkerRings<B>,
        stats: Arc<WorkerStats>,
        quit: Arc<AtomicBool>,
    ) -> Result<Worker<B>, WorkerError> {
        let WorkerIo { rx, tx, pool } = io;
        let (n, roles, storm_rates, punt_rates, ports_gen) = {
            let t = tables.enter();
            let n = t.ports.n_ports;
            let roles: Vec<_> = t.ports.ports[..n].iter().map(|p| p.role).collect();
            let storm = t.ports.storm[..n].to_vec();
            (n, roles, storm, t.ports.punt.clone(), t.generation(PORTS))
        };
        if tx.len() != n {
            return Err(WorkerError::TxQueues {
                worker: cfg.id,
                got: tx.len(),
                ports: n,
            });
        }
        let mut slots = Vec::with_capacity(rx.len());
        for (port, queue, q) in rx {
            if port.index() >= n {
                return Err(WorkerError::NoSuchPort {
                    worker: cfg.id,
                    port,
                });
            }
            slots.push(RxSlot {
                port,
                queue,
                rx: Some(q),
            });
        }
        let roles = roles
            .into_iter()
            .map(|r| RoleOf {
                classify: classify::for_role::<B::Frame>(r),
                learn: classify::learn_class(r),
            })
            .collect();
        let refresh_ms = cfg.refresh.as_millis() as u32;
        Ok(Worker {
            rx: slots,
            roles,
            reinject: (0..n).map(|_| Vec::with_capacity(MAX_BURST)).collect(),
            pass: (0..n).map(|_| Vec::with_capacity(MAX_BURST)).collect(),
            tx: tx.into_iter().map(Some).collect(),
            pool,
            tables,
            rings,
            counters: WorkerCounters::new(n),
            stats,
            quit,
            burst: Vec::with_capacity(MAX_BURST),
            actions: Box::new([Action::drop(DropReason::TooShort); MAX_BURST]),
            learns: Learns::default(),
            // Fewer than `burst` frames wait in a buffer when a burst
            // starts, and a burst adds at most MAX_BURST.
            txbuf: (0..n).map(|_| Vec::with_capacity(MAX_BURST * 2)).collect(),
            txbytes: vec![0; n],
            refused: Vec::with_capacity(MAX_BURST * 2),
            learn: LearnCache::new(),
            flows: FlowCache::with_slots(cfg.flow_cache, refresh_ms),
            refresh_ms,
            start: Instant::now(),
            held: crate::tables::all_ports(n),
            storm: storm_rates
                .iter()
                .map(|s| storm_buckets(s, cfg.workers))
                .collect(),
            storm_rates,
            punt_rates,
            ports_gen,
            cfg,
        })
    }

    pub fn id(&self) -> usize {
        self.cfg.id
    }

    /// Milliseconds since the worker was built, its clock for token buckets
    /// and caches.
    fn ms(&self, now: Instant) -> u32 {
        now.saturating_duration_since(self.start).as_millis() as u32
    }

    /// Runs until `quit` is set; returns after flushing and publishing the
    /// final counters.
    pub fn run(&mut self) {
        let mut loops: u32 = 0;
        let mut empty_loops: u32 = 0;
        let mut last_drain = Instant::now();
        let mut now_ms: u32 = self.ms(last_drain);
        loop {
            let t0 = B::cycles();
            let got = self.poll_all(now_ms);
            loops = loops.wrapping_add(1);
            if got == 0 {
                empty_loops += 1;
            } else {
                // Buffers that fill are flushed within the loop, so this
                // holds tx too (all but the drain timer's partial flushes).
                let dt = B::cycles().wrapping_sub(t0);
                self.counters.worker(WorkerCounter::BusyCycles, dt);
                self.counters.worker(WorkerCounter::BusyFrames, got as u64);
                empty_loops = 0;
            }
            // The clock is read when idle and every CLOCK_LOOPS loops: busy
            // buffers are flushed when full anyway, so the drain timer
            // needs no per-loop precision.
            if got == 0 || loops & (CLOCK_LOOPS - 1) == 0 {
                let now = Instant::now();
                if got == 0 || now.duration_since(last_drain) >= self.cfg.drain {
                    self.flush_all();
                    last_drain = now;
                }
                now_ms = self.ms(now);
            }
            let housekeeping = loops & (HOUSEKEEPING_LOOPS - 1) == 0;
            if housekeeping || empty_loops > 0 {
                if housekeeping {
                    self.counters
                        .worker(WorkerCounter::Loops, u64::from(HOUSEKEEPING_LOOPS));
                }
                self.housekeeping();
                if self.quit.load(Ordering::Relaxed) {
                    break;
                }
                if let IdleMode::Backoff { polls, sleep } = self.cfg.idle {
                    if empty_loops >= polls {
                        self.counters.worker(WorkerCounter::Sleeps, 1);
                        self.counters.publish(&self.stats);
                        // Outside any read section, so the control thread
                        // never waits on a sleeping worker.
                        self.tables.offline();
                        std::thread::sleep(sleep);
                        self.tables.online();
                    }
                }
            }
        }
        self.flush_all();
        self.counters.publish(&self.stats);
        self.tables.offline();
    }

    /// One loop of [`run`](Self::run) at time `now`, for tests that step
    /// the pipeline: polls every queue and the inject ring, flushes every
    /// tx buffer, publishes the counters and exchanges parked ports' queues
    /// with the control thread. Returns the frames handled.
    pub fn poll_once(&mut self, now: Instant) -> usize {
        let t0 = B::cycles();
        let got = self.poll_all(self.ms(now));
        self.counters.worker(WorkerCounter::Loops, 1);
        self.flush_all();
        if got > 0 {
            let dt = B::cycles().wrapping_sub(t0);
            self.counters.worker(WorkerCounter::BusyCycles, dt);
            self.counters.worker(WorkerCounter::BusyFrames, got as u64);
        }
        self.housekeeping();
        got
    }

    /// The worker's counters as last published.
    pub fn stats(&self) -> &Arc<WorkerStats> {
        &self.stats
    }

    fn poll_all(&mut self, now_ms: u32) -> usize {
        let mut got = 0;
        for i in 0..self.rx.len() {
            got += self.poll(i, now_ms);
        }
        if !self.rings.inject.is_empty() {
            got += self.take_injected();
        }
        got
    }

    /// Publishes counters; hands over the queues of ports the control
    /// thread parked; takes back re-attached ones.
    fn housekeeping(&mut self) {
        self.counters.publish(&self.stats);
        let t = self.tables.enter();
        let parked = t.ports.parked;
        let g = t.generation(PORTS);
        if g != self.ports_gen {
            // The port table changed (a link, a park, or a reload): follow
            // rates that differ from the ones the buckets were built from.
            // Each slot is overwritten in place; nothing allocates.
            self.ports_gen = g;
            for (i, rates) in self.storm_rates.iter_mut().enumerate() {
                if t.ports.storm[i] != *rates {
                    *rates = t.ports.storm[i];
                    self.storm[i] = storm_buckets(rates, self.cfg.workers);
                }
            }
            if t.ports.punt != self.punt_rates {
                self.punt_rates = t.ports.punt.clone();
                self.rings.punt.set_limits(&self.punt_rates);
            }
        }
        drop(t);
        let mut give = parked & self.held;
        while give != 0 {
            let p = PortId(give.trailing_zeros() as u16);
            give &= give - 1;
            self.hand_over(p);
        }
        while let Ok(h) = self.rings.handback.pop() {
            self.take_back(h);
        }
    }

    fn hand_over(&mut self, port: PortId) {
        let out = port.index();
        // Frames waiting for the port are lost with its link.
        let buf = &mut self.txbuf[out];
        if !buf.is_empty() {
            self.counters
                .drop(port.0, DropReason::LinkDown, buf.len() as u64);
            self.pool.free_bulk(buf);
            self.txbytes[out] = 0;
        }
        let rx: Vec<(u16, B::Rx)> = self
            .rx
            .iter_mut()
            .filter(|s| s.port == port)
            .filter_map(|s| s.rx.take().map(|q| (s.queue, q)))
            .collect();
        let h = Handover {
            worker: self.cfg.id,
            port,
            rx,
            tx: self.tx[out].take(),
        };
        self.held &= !port.bit();
        if let Err(rtrb::PushError::Full(h)) = self.rings.handover.push(h) {
            // The ring holds one entry per port, so this cannot happen;
            // keep the queues rather than lose them.
            self.take_back(h);
        }
    }

    fn take_back(&mut self, h: Handover<B>) {
        for (queue, q) in h.rx {
            if let Some(s) = self
                .rx
                .iter_mut()
                .find(|s| s.port == h.port && s.queue == queue)
            {
                s.rx = Some(q);
            }
        }
        if let Some(t) = h.tx {
            if let Some(slot) = self.tx.get_mut(h.port.index()) {
                *slot = Some(t);
                self.held |= h.port.bit();
            }
        }
    }

    /// One rx burst on one queue, fully processed. Returns frames received.
    #[inline]
    fn poll(&mut self, i: usize, now_ms: u32) -> usize {
        let slot = &mut self.rx[i];
        let port = slot.port;
        let Some(rxq) = slot.rx.as_mut() else {
            return 0;
        };
        let n = rxq.rx_burst(&mut self.burst, self.cfg.burst);
        self.counters.worker(WorkerCounter::Bursts, 1);
        if n == 0 {
            self.counters.worker(WorkerCounter::EmptyPolls, 1);
            return 0;
        }
        self.process(port, now_ms, true, true);
        n
    }

    /// Decides and moves the frames in `self.burst`, received on `port`
    /// (`fresh`: from the NIC, counted as received; otherwise re-injected by
    /// the control thread, counted already).
    ///
    /// Decide first, move later: the port's classifier decides every frame
    /// under one table view; the mover then executes the actions — all at
    /// once when every frame has the same one. Then the buffers that are
    /// full are flushed.
    #[inline]
    fn process(&mut self, port: PortId, now_ms: u32, fresh: bool, elk: bool) {
        let Worker {
            roles,
            pool,
            tables,
            rings,
            counters,
            burst,
            actions,
            learns,
            txbuf,
            txbytes,
            refused,
            learn,
            flows,
            refresh_ms,
            storm,
            ..
        } = self;
        let role = roles[port.index()];
        learns.clear();
        let view = tables.enter();
        // A port the NIC cannot filter (no free MAC slot: promiscuous) is
        // filtered here, before anything learns from its frames; kept
        // frames keep their order.
        if fresh && view.ports.filtered & port.bit() != 0 {
            let mut kept = 0;
            for i in 0..burst.len() {
                let dst = Header::load(burst[i].as_ref()).dst_le();
                if view.ports.accepts(port, dst) {
                    burst.swap(kept, i);
                    kept += 1;
                }
            }
            let filtered = (burst.len() - kept) as u64;
            if filtered > 0 {
                let bytes: usize = burst[kept..].iter().map(|f| f.as_ref().len()).sum();
                counters.drop(port.0, DropReason::NotAccepted, filtered);
                counters.add(port.0, PortCounter::RxPackets, filtered);
                counters.add(port.0, PortCounter::RxBytes, bytes as u64);
                refused.extend(burst.drain(kept..));
                if burst.is_empty() {
                    drop(view);
                    pool.free_bulk(refused);
                    return;
                }
            }
        }
        let n = burst.len();
        let actions = &mut actions[..n];
        let mut b = Burst {
            tables: &view,
            port,
            now_ms,
            flows: &mut *flows,
            actions,
            learns: &mut *learns,
            elk,
        };
        let mut s = (role.classify)(&mut b, &burst[..]);
        let Burst { actions, .. } = b;
        if s.groups {
            if let Some(u) = s.uniform.take() {
                actions.fill(u);
            }
            resolve_groups(&view, &burst[..], actions);
        }
        let mut mv = Mover::<B> {
            port,
            up: view.ports.up & !view.ports.parked,
            tx_max: &view.ports.ports,
            counters,
            pool,
            punt: &mut rings.punt,
            now_ms,
            txbuf,
            txbytes,
            refused,
            tally: Tally::default(),
            storm: storm[port.index()].as_mut(),
        };
        mv.move_burst(burst, actions, &s);
        mv.count_rewrites();
        drop(view);

        // Learning, at most one request per source per interval.
        // New sources first: a refresh takes only the upper half of the
        // learn budget (PuntTx::offer_spare).
        let mut last: Option<ExactKey> = None;
        for &l in learns.as_slice() {
            let (k, interval, refresh) = match l {
                Learn::Known(k) => (k, *refresh_ms, true),
                Learn::Request(k) => (k, RELEARN_MS, false),
                Learn::None => continue,
            };
            if last == Some(k) || !learn.should_send(k, port, now_ms, interval) {
                continue;
            }
            last = Some(k);
            counters.worker(WorkerCounter::LearnRequests, 1);
            let p = Punt::Learn { key: k, port };
            let offered = if refresh {
                rings.punt.offer_spare(role.learn, port, now_ms, p)
            } else {
                rings.punt.offer(role.learn, port, now_ms, p)
            };
            let why = match offered {
                Ok(()) => PuntCounter::Sent,
                Err((_, why)) => why,
            };
            counters.punt(role.learn, why);
        }

        if fresh {
            counters.add(port.0, PortCounter::RxPackets, n as u64);
            counters.add(port.0, PortCounter::RxBytes, s.rx_bytes);
        } else {
            counters.worker(WorkerCounter::Reinjected, n as u64);
        }
        if !self.refused.is_empty() {
            self.pool.free_bulk(&mut self.refused);
        }
        for out in 0..self.txbuf.len() {
            if self.txbuf[out].len() >= self.cfg.burst {
                self.flush(out);
            }
        }
    }

    /// Moves frames from the control thread into the tx buffers.
    fn take_injected(&mut self) -> usize {
        let mut n = 0;
        let mut again = 0u64;
        let mut pass = 0u64;
        while n < INJECT_PER_LOOP {
            let Ok(Inject { port, frame, via }) = self.rings.inject.pop() else {
                break;
            };
            n += 1;
            let out = port.index();
            if via == Via::Rx && out < self.reinject.len() {
                again |= port.bit();
                self.reinject[out].push(frame);
                continue;
            }
            if via == Via::Pass && out < self.pass.len() {
                pass |= port.bit();
                self.pass[out].push(frame);
                continue;
            }
            if out >= self.tx.len() || self.tx[out].is_none() {
                self.counters.worker(WorkerCounter::InjectDropped, 1);
                self.refused.push(frame);
                continue;
            }
            self.counters.worker(WorkerCounter::Injected, 1);
            self.txbytes[out] += frame.as_ref().len() as u64;
            self.txbuf[out].push(frame);
            if self.txbuf[out].len() >= self.cfg.burst {
                self.flush(out);
            }
        }
        if !self.refused.is_empty() {
            self.pool.free_bulk(&mut self.refused);
        }
        // Frames to classify again: each port's as one burst, under the
        // tables as they are now (with the new host's translation).
        while again != 0 {
            let p = PortId(again.trailing_zeros() as u16);
            again &= again - 1;
            debug_assert!(self.burst.is_empty());
            std::mem::swap(&mut self.burst, &mut self.reinject[p.index()]);
            let now_ms = self.ms(Instant::now());
            self.process(p, now_ms, false, true);
            std::mem::swap(&mut self.burst, &mut self.reinject[p.index()]);
        }
        while pass != 0 {
            let p = PortId(pass.trailing_zeros() as u16);
            pass &= pass - 1;
            debug_assert!(self.burst.is_empty());
            std::mem::swap(&mut self.burst, &mut self.pass[p.index()]);
            let now_ms = self.ms(Instant::now());
            self.process(p, now_ms, false, false);
            std::mem::swap(&mut self.burst, &mut self.pass[p.index()]);
        }
        n
    }

    fn flush_all(&mut self) {
        for out in 0..self.txbuf.len() {
            if !self.txbuf[out].is_empty() {
                self.flush(out);
            }
        }
    }

    /// Sends port `out`'s buffer; what the NIC refuses is freed and counted.
    fn flush(&mut self, out: usize) {
        let port = out as u16;
        let buf = &mut self.txbuf[out];
        let Some(txq) = self.tx[out].as_mut() else {
            self.counters
                .drop(port, DropReason::LinkDown, buf.len() as u64);
            self.pool.free_bulk(buf);
            self.txbytes[out] = 0;
            return;
        };
        let sent = txq.tx_burst(buf);
        let mut bytes = std::mem::take(&mut self.txbytes[out]);
        if !buf.is_empty() {
            let left: u64 = buf.iter().map(|f| f.as_ref().len() as u64).sum();
            bytes -= left;
            self.counters
                .drop(port, DropReason::TxFull, buf.len() as u64);
            self.pool.free_bulk(buf);
        }
        self.counters.add(port, PortCounter::TxPackets, sent as u64);
        self.counters.add(port, PortCounter::TxBytes, bytes);
    }
}

/// Turns every [`To::Group`] into one member port by the frame's flow
/// hash, while the tables are held; an unknown or empty group is a drop.
#[cold]
fn resolve_groups<F: AsRef<[u8]>>(t: &TableSet, frames: &[F], actions: &mut [Action]) {
    for (a, f) in actions.iter_mut().zip(frames) {
        if let To::Group(g) = a.to() {
            let h = Header::load(f.as_ref()).flow_hash();
            a.set_to(match t.groups.pick(g, h) {
                Some(p) => To::Port(p),
                None => To::Drop(DropReason::NoRoute),
            });
        }
    }
}

/// The mover: executes a burst's actions for every role.
struct Mover<'a, B: Backend> {
    /// Ingress port.
    port: PortId,
    /// Ports that may transmit (up and not parked).
    up: u64,
    tx_max: &'a [crate::tables::PortFacts],
    counters: &'a mut WorkerCounters,
    pool: &'a mut B::Pool,
    punt: &'a mut PuntTx<B::Frame>,
    now_ms: u32,
    txbuf: &'a mut [Vec<B::Frame>],
    txbytes: &'a mut [u64],
    refused: &'a mut Vec<B::Frame>,
    /// Rewrites of this burst by kind, added to the counters once.
    tally: Tally,
    /// The ingress port's storm control, if it has any.
    storm: Option<&'a mut StormBuckets>,
}

/// A burst's rewrites by kind.
#[derive(Default)]
struct Tally {
    src: u32,
    dst: u32,
    arp: u32,
    nd: u32,
    dhcp: u32,
    invalid: u32,
}

impl<B: Backend> Mover<'_, B> {
    #[inline]
    fn fits(&self, out: usize, len: u16) -> bool {
        len <= self.tx_max[out].tx_max
    }

    /// Moves the whole burst. The common cases — the whole burst to one
    /// port (unicast, or a flood with one other port), or all dropped for
    /// one reason — are one copy of the pointers.
    #[inline]
    fn move_burst(&mut self, burst: &mut Vec<B::Frame>, actions: &[Action], s: &Summary) {
        let n = burst.len() as u64;
        if let Some(a) = s.uniform {
            let rw = a.rewrite();
            // The whole burst of one host to one port (a MOOSE flow): each
            // frame rewritten in place, then moved in one copy.
            if !rw.ops.is_empty() {
                if let To::Port(out) = a.to() {
                    let o = out.index();
                    if self.up & out.bit() != 0 && self.fits(o, s.max_len) {
                        for f in burst.iter_mut() {
                            let hl = Header::load(f.as_ref()).header_len();
                            self.rewrite(f, hl, &rw);
                        }
                        self.txbytes[o] += s.rx_bytes;
                        self.txbuf[o].append(burst);
                        return;
                    }
                }
            }
            if rw.ops.is_empty() {
                match a.to() {
                    To::Port(out)
                        if self.up & out.bit() != 0 && self.fits(out.index(), s.max_len) =>
                    {
                        let o = out.index();
                        self.txbytes[o] += s.rx_bytes;
                        self.txbuf[o].append(burst);
                        return;
                    }
                    To::Flood {
                        mask,
                        unknown,
                        plain: 0,
                    } if self.storm.is_none() => {
                        let m = mask & self.up;
                        if m.count_ones() == 1 && self.fits(m.trailing_zeros() as usize, s.max_len)
                        {
                            let o = m.trailing_zeros() as usize;
                            if unknown {
                                self.counters
                                    .add(self.port.0, PortCounter::RxUnknownUnicast, n);
                            }
                            self.counters.add(o as u16, PortCounter::TxFlood, n);
                            self.txbytes[o] += s.rx_bytes;
                            self.txbuf[o].append(burst);
                            return;
                        }
                    }
                    To::Drop(r) => {
                        self.counters.drop(self.port.0, r, n);
                        self.refused.append(burst);
                        return;
                    }
                    _ => {}
                }
            }
        }
        // Several hosts' frames to one port (unicast, or floods whose only
        // port up is that one): each rewritten in place, one copy.
        if s.uniform.is_none() {
            if let Some((o, floods, unknown)) = self.one_port(&actions[..burst.len()], s.max_len) {
                for (f, a) in burst.iter_mut().zip(actions) {
                    let rw = a.rewrite();
                    if !rw.ops.is_empty() {
                        let hl = Header::load(f.as_ref()).header_len();
                        self.rewrite(f, hl, &rw);
                    }
                }
                if floods > 0 {
                    self.counters.add(o as u16, PortCounter::TxFlood, floods);
                }
                if unknown > 0 {
                    self.counters
                        .add(self.port.0, PortCounter::RxUnknownUnicast, unknown);
                }
                self.txbytes[o] += s.rx_bytes;
                self.txbuf[o].append(burst);
                return;
            }
        }
        let uniform = s.uniform;
        for (i, mut f) in burst.drain(..).enumerate() {
            let a = uniform.unwrap_or(actions[i]);
            let (to, rw) = (a.to(), a.rewrite());
            // Length against the egress untagged limit: a tagged frame may
            // be 4 bytes longer.
            let h = Header::load(f.as_ref());
            let len = (h.len() - 4 * usize::from(h.is_tagged() && h.len() >= 4))
                .min(usize::from(u16::MAX)) as u16;
            if let To::Flood { unknown, .. } = to {
                if let Some(r) = self.storm_refuses(h.dst_le(), unknown) {
                    self.counters.drop(self.port.0, r, 1);
                    self.refused.push(f);
                    continue;
                }
            }
            let split = matches!(to, To::Flood { plain, .. } if plain != 0);
            if !rw.ops.is_empty() && !split && !matches!(to, To::Drop(_) | To::Punt(_)) {
                self.rewrite(&mut f, h.header_len(), &rw);
            }
            match to {
                To::Port(out) => self.unicast(out, f, len),
                To::Drop(r) => {
                    self.counters.drop(self.port.0, r, 1);
                    self.refused.push(f);
                }
                To::Flood {
                    mask,
                    unknown,
                    plain,
                } => {
                    if unknown {
                        self.counters
                            .add(self.port.0, PortCounter::RxUnknownUnicast, 1);
                    }
                    if plain == 0 || rw.ops.is_empty() {
                        self.flood(mask, f, len);
                    } else {
                        // A per-port rewrite: the `plain` ports get the
                        // frame as it came, the others one rewritten copy.
                        let up = mask & self.up;
                        let (keep, change) = (up & plain, up & !plain);
                        if change != 0 {
                            match self.pool.alloc_copy(f.as_ref()) {
                                Some(mut c) => {
                                    self.rewrite(&mut c, h.header_len(), &rw);
                                    self.flood(change, c, len);
                                }
                                None => self.counters.drop(
                                    self.port.0,
                                    DropReason::NoBuffer,
                                    u64::from(change.count_ones()),
                                ),
                            }
                        }
                        if keep != 0 {
                            self.flood(keep, f, len);
                        } else {
                            self.refused.push(f);
                        }
                    }
                }
                To::Punt(class) => self.punt(class, f),
                // Resolved under the tables; one left means no route.
                To::Group(_) => {
                    self.counters.drop(self.port.0, DropReason::NoRoute, 1);
                    self.refused.push(f);
                }
            }
        }
    }

    /// The one port every action sends its frame to, if there is one that
    /// is up and takes the burst's longest frame: unicasts to it, and
    /// floods (with no per-port rewrite) whose only port up it is. With
    /// the floods and unknown-unicast floods among them, for the counters.
    #[inline]
    fn one_port(&self, actions: &[Action], max_len: u16) -> Option<(usize, u64, u64)> {
        let mut port = None;
        let (mut floods, mut unknown) = (0u64, 0u64);
        for a in actions {
            // Unicast, the common case, without unpacking the action.
            let p = match a.out_port() {
                Some(p) => p.index(),
                None => match a.to() {
                    To::Flood {
                        mask,
                        unknown: u,
                        plain: 0,
                    } if (mask & self.up).count_ones() == 1 && self.storm.is_none() => {
                        floods += 1;
                        unknown += u64::from(u);
                        (mask & self.up).trailing_zeros() as usize
                    }
                    _ => return None,
                },
            };
            match port {
                None => port = Some(p),
                Some(q) if q == p => {}
                Some(_) => return None,
            }
        }
        let o = port?;
        (self.up & (1 << o) != 0 && self.fits(o, max_len)).then_some((o, floods, unknown))
    }

    /// Storm control of a flood from the ingress port: the drop reason if
    /// its class's bucket is empty.
    #[inline]
    fn storm_refuses(&mut self, dst_le: u64, unknown: bool) -> Option<DropReason> {
        let b = self.storm.as_deref_mut()?;
        let (i, r) = if unknown {
            (2, DropReason::StormUnknownUnicast)
        } else if dst_le == 0xffff_ffff_ffff {
            (0, DropReason::StormBroadcast)
        } else {
            (1, DropReason::StormMulticast)
        };
        let now_ms = self.now_ms;
        let limited = b[i].as_mut()?;
        (!limited.try_take(now_ms)).then_some(r)
    }

    /// Applies a rewrite and tallies it by kind.
    #[inline(always)]
    fn rewrite(&mut self, f: &mut B::Frame, hl: usize, rw: &crate::action::Rewrite) {
        use crate::action::RewriteOps;
        let done = action::apply(f.as_mut(), hl, rw);
        let t = &mut self.tally;
        t.src += u32::from(rw.ops.has(RewriteOps::SRC));
        t.dst += u32::from(rw.ops.has(RewriteOps::DST));
        if done != action::Rewritten::default() {
            t.arp += u32::from(done.arp);
            t.nd += u32::from(done.nd);
            t.dhcp += u32::from(done.dhcp);
            t.invalid += u32::from(done.invalid);
        }
    }

    /// Adds the burst's rewrites to the counters.
    #[inline]
    fn count_rewrites(&mut self) {
        let t = std::mem::take(&mut self.tally);
        if t.src | t.dst == 0 {
            return;
        }
        let c = &mut *self.counters;
        c.worker(WorkerCounter::RewriteSrc, u64::from(t.src));
        c.worker(WorkerCounter::RewriteDst, u64::from(t.dst));
        c.worker(WorkerCounter::RewriteArp, u64::from(t.arp));
        c.worker(WorkerCounter::RewriteNd, u64::from(t.nd));
        c.worker(WorkerCounter::RewriteDhcp, u64::from(t.dhcp));
        c.worker(WorkerCounter::RewriteInvalid, u64::from(t.invalid));
    }

    #[inline]
    fn unicast(&mut self, out: PortId, f: B::Frame, len: u16) {
        let o = out.index();
        if self.up & out.bit() == 0 {
            self.counters.drop(out.0, DropReason::LinkDown, 1);
            self.refused.push(f);
        } else if !self.fits(o, len) {
            self.counters.drop(out.0, DropReason::MtuExceeded, 1);
            self.refused.push(f);
        } else {
            self.txbytes[o] += f.as_ref().len() as u64;
            self.txbuf[o].push(f);
        }
    }

    /// A copy out of every port of `mask` that is up and whose MTU the
    /// frame fits: reference counts of one buffer, the last port gets the
    /// original.
    #[inline]
    fn flood(&mut self, mask: u64, mut f: B::Frame, len: u16) {
        let mut m = mask & self.up;
        let mut too_big = m;
        let mut t = too_big;
        while t != 0 {
            let o = t.trailing_zeros() as usize;
            t &= t - 1;
            if self.fits(o, len) {
                too_big &= !(1 << o);
            }
        }
        while too_big != 0 {
            let o = too_big.trailing_zeros();
            too_big &= too_big - 1;
            self.counters.drop(o as u16, DropReason::MtuExceeded, 1);
            m &= !(1 << o);
        }
        if m == 0 {
            if mask & self.up == 0 {
                self.counters.drop(self.port.0, DropReason::NoFloodPort, 1);
            }
            self.refused.push(f);
            return;
        }
        let bytes = f.as_ref().len() as u64;
        let copies = m.count_ones() - 1;
        if copies > 0 {
            let (txbuf, txbytes, counters) =
                (&mut *self.txbuf, &mut *self.txbytes, &mut *self.counters);
            let mut rest = m;
            let shared = self.pool.share(&mut f, copies as u16, |c| {
                let o = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                counters.add(o as u16, PortCounter::TxFlood, 1);
                txbytes[o] += bytes;
                txbuf[o].push(c);
            });
            if shared {
                m = rest;
            } else {
                // No copies: only the last port gets the frame.
                self.counters
                    .drop(self.port.0, DropReason::NoBuffer, u64::from(copies));
                m = 1 << (63 - m.leading_zeros());
            }
        }
        let o = m.trailing_zeros() as usize;
        self.counters.add(o as u16, PortCounter::TxFlood, 1);
        self.txbytes[o] += bytes;
        self.txbuf[o].push(f);
    }

    #[inline]
    fn punt(&mut self, class: PuntClass, f: B::Frame) {
        let port = self.port;
        match self
            .punt
            .offer(class, port, self.now_ms, Punt::Frame { port, frame: f })
        {
            Ok(()) => {
                self.counters.add(port.0, PortCounter::RxPunted, 1);
                self.counters.punt(class, PuntCounter::Sent);
            }
            Err((p, why)) => {
                self.counters.punt(class, why);
                let r = if why == PuntCounter::RingFull {
                    DropReason::PuntRingFull
                } else {
                    DropReason::PuntRateLimited
                };
                self.counters.drop(port.0, r, 1);
                if let Punt::Frame { frame, .. } = p {
                    self.refused.push(frame);
                }
            }
        }
    }
}
