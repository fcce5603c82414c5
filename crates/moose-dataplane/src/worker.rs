//! The worker: one pinned thread polling its receive queues.
//!
//! The loop, per receive queue: rx burst → skip if empty → take the FDB view
//! → decide the burst into an action array ([`decide_burst`]: each frame's
//! header is read once; a frame like the one before, or like one in the
//! worker's [`FlowCache`], reuses that decision) →
//! ask the slow path to learn unknown or moved sources → release the view →
//! move frames into per-port tx buffers (copies for floods; one pointer copy
//! when the whole burst goes to one port) → flush full buffers. When idle,
//! and every `CLOCK_LOOPS` loops if the drain interval passed: flush all
//! buffers. Every [`HOUSEKEEPING_LOOPS`] loops or when idle: publish
//! counters, check for quit, maybe sleep.
//!
//! Nothing in the loop allocates: the burst, action and tx arrays are
//! allocated once with their full capacity and reused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moose_config::IdleMode;
use moose_tables::publish::Reader;

use crate::bridge::{decide_burst, Action, FlowCache, Header, Learn, PortTable};
use crate::counters::{DropReason, GlobalCounter, PortCounter, WorkerCounters, WorkerStats};
use crate::fdb::FdbView;
use crate::io::{Backend, FramePool, RxQueue, TxQueue};
use crate::{Inject, Punt};

/// Loops between counter publication and quit checks while busy (a power
/// of two).
pub const HOUSEKEEPING_LOOPS: u32 = 64;
/// Loops between clock reads while busy (a power of two).
const CLOCK_LOOPS: u32 = 8;
/// Largest burst a worker handles.
pub const MAX_BURST: usize = 64;
const LEARN_CACHE: usize = 1024;
/// Capacity of the slow path → worker transmit ring.
pub const INJECT_RING: usize = 1024;
/// A learn request for an unknown source is repeated at most this often
/// (the slow path may have refused it, or its ring may have been full).
const RELEARN_MS: u32 = 100;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub id: usize,
    pub burst: usize,
    pub drain: Duration,
    pub idle: IdleMode,
    /// Known sources are refreshed in the slow path at most this often.
    pub refresh: Duration,
}

impl WorkerConfig {
    pub fn from_config(id: usize, cfg: &moose_config::Config) -> WorkerConfig {
        let refresh =
            (cfg.bridge.aging / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
        WorkerConfig {
            id,
            burst: cfg.dataplane.burst.min(MAX_BURST),
            drain: cfg.dataplane.drain,
            idle: cfg.dataplane.idle,
            refresh,
        }
    }
}

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
    fn should_send(&mut self, key: u64, port: u16, now_ms: u32, interval_ms: u32) -> bool {
        let h = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54) as usize;
        let s = &mut self.slots[h & (LEARN_CACHE - 1)];
        if s.0 == key && s.1 == port && now_ms.wrapping_sub(s.2) < interval_ms {
            return false;
        }
        *s = (key, port, now_ms);
        true
    }
}

pub struct Worker<B: Backend> {
    cfg: WorkerConfig,
    /// (port index, queue) pairs this worker polls.
    rx: Vec<(u16, B::Rx)>,
    /// This worker's transmit queue on every port, by port index.
    tx: Vec<B::Tx>,
    pool: B::Pool,
    ports: Arc<PortTable>,
    fdb: Reader<FdbView>,
    punt: rtrb::Producer<Punt<B::Frame>>,
    /// Frames the slow path wants sent; the worker owns every tx queue, so
    /// the slow path transmits through it.
    inject: rtrb::Consumer<Inject<B::Frame>>,
    counters: WorkerCounters,
    stats: Arc<WorkerStats>,
    quit: Arc<AtomicBool>,
    burst: Vec<B::Frame>,
    /// Decisions of the current burst.
    actions: Box<[Action; MAX_BURST]>,
    txbuf: Vec<Vec<B::Frame>>,
    /// Bytes in each tx buffer.
    txbytes: Vec<u64>,
    refused: Vec<B::Frame>,
    learn: LearnCache,
    flows: FlowCache,
    /// `cfg.refresh` in milliseconds, converted once.
    refresh_ms: u32,
    start: Instant,
}

impl<B: Backend> Worker<B> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: WorkerConfig,
        rx: Vec<(u16, B::Rx)>,
        tx: Vec<B::Tx>,
        pool: B::Pool,
        ports: Arc<PortTable>,
        fdb: Reader<FdbView>,
        punt: rtrb::Producer<Punt<B::Frame>>,
        inject: rtrb::Consumer<Inject<B::Frame>>,
        stats: Arc<WorkerStats>,
        quit: Arc<AtomicBool>,
    ) -> Worker<B> {
        assert_eq!(tx.len(), ports.n_ports, "one tx queue per port");
        let n = ports.n_ports;
        let refresh_ms = cfg.refresh.as_millis() as u32;
        Worker {
            cfg,
            rx,
            tx,
            pool,
            ports,
            fdb,
            punt,
            inject,
            counters: WorkerCounters::new(n),
            stats,
            quit,
            burst: Vec::with_capacity(MAX_BURST),
            // A flood can add a whole burst to every port before a flush.
            txbuf: (0..n).map(|_| Vec::with_capacity(MAX_BURST * 2)).collect(),
            actions: Box::new([Action::Punt; MAX_BURST]),
            txbytes: vec![0; n],
            refused: Vec::with_capacity(MAX_BURST * 2),
            learn: LearnCache::new(),
            flows: FlowCache::new(refresh_ms),
            refresh_ms,
            start: Instant::now(),
        }
    }

    pub fn id(&self) -> usize {
        self.cfg.id
    }

    /// Runs until `quit` is set; returns after flushing and publishing the
    /// final counters.
    pub fn run(&mut self) {
        let mut loops: u32 = 0;
        let mut empty_loops: u32 = 0;
        let mut last_drain = Instant::now();
        let mut now_ms: u32 = 0;
        loop {
            let mut got = 0;
            for i in 0..self.rx.len() {
                got += self.poll(i, now_ms);
            }
            if !self.inject.is_empty() {
                got += self.take_injected();
            }
            loops = loops.wrapping_add(1);
            if got == 0 {
                empty_loops += 1;
            } else {
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
                now_ms = now.duration_since(self.start).as_millis() as u32;
            }
            let housekeeping = loops & (HOUSEKEEPING_LOOPS - 1) == 0;
            if housekeeping || empty_loops > 0 {
                if housekeeping {
                    self.counters
                        .global(GlobalCounter::Loops, u64::from(HOUSEKEEPING_LOOPS));
                    self.counters.publish(&self.stats);
                    if self.quit.load(Ordering::Relaxed) {
                        break;
                    }
                }
                if let IdleMode::Backoff { polls, sleep } = self.cfg.idle {
                    if empty_loops >= polls {
                        self.counters.global(GlobalCounter::Sleeps, 1);
                        self.counters.publish(&self.stats);
                        if self.quit.load(Ordering::Relaxed) {
                            break;
                        }
                        // Offline while asleep so the slow path never waits on us.
                        self.fdb.offline();
                        std::thread::sleep(sleep);
                        self.fdb.online();
                    }
                }
            }
        }
        self.flush_all();
        self.counters.publish(&self.stats);
        self.fdb.offline();
    }

    /// One rx burst on one queue, fully processed. Returns frames received.
    ///
    /// Decide first, move later: one pass over the burst under one FDB read
    /// view decides every frame ([`decide_burst`], with its shortcuts for
    /// repeated frames) and requests learning; a second pass moves the
    /// frames to their tx buffer(s) — all at once when every frame has the
    /// same action. Then the buffers that are full are flushed.
    #[inline]
    fn poll(&mut self, i: usize, now_ms: u32) -> usize {
        let Worker {
            cfg,
            rx,
            pool,
            ports,
            fdb,
            punt,
            counters,
            burst,
            actions,
            txbuf,
            txbytes,
            refused,
            learn,
            flows,
            refresh_ms,
            ..
        } = self;
        let refresh_ms = *refresh_ms;
        let (port, rxq) = &mut rx[i];
        let port = *port;
        let n = rxq.rx_burst(burst, cfg.burst);
        counters.global(GlobalCounter::Bursts, 1);
        if n == 0 {
            counters.global(GlobalCounter::EmptyPolls, 1);
            return 0;
        }
        let mut rx_bytes = 0u64;
        let mut unknown = 0u64;
        let mut last_learn = u64::MAX;
        // Pass 1, under one read view: decide every frame and ask for
        // learning (at most one request per source per interval); frames
        // stay where they are.
        let view = fdb.enter();
        let actions = &mut actions[..n];
        let headers = burst.iter().map(|f| {
            let h = Header::load(f.as_ref());
            rx_bytes += h.len() as u64;
            h
        });
        let uniform = decide_burst(headers, port, ports, &view, flows, now_ms, actions, |l| {
            let send = match l {
                Learn::Known(k) if k != last_learn => {
                    last_learn = k;
                    learn.should_send(k, port, now_ms, refresh_ms).then_some(k)
                }
                Learn::Request(k) if k != last_learn => {
                    last_learn = k;
                    learn.should_send(k, port, now_ms, RELEARN_MS).then_some(k)
                }
                _ => None,
            };
            if let Some(key) = send {
                counters.global(GlobalCounter::LearnRequests, 1);
                if punt.push(Punt::Learn { key, port }).is_err() {
                    counters.global(GlobalCounter::LearnRingFull, 1);
                }
            }
        });
        drop(view);

        // Pass 2: move. The common cases — the whole burst to one port
        // (unicast, or a flood with one other port), or all dropped for one
        // reason — are one copy of the pointers.
        let n64 = n as u64;
        match uniform {
            Some(Action::Unicast(out)) => {
                let out = usize::from(out);
                txbytes[out] += rx_bytes;
                txbuf[out].append(burst);
            }
            Some(Action::Flood { mask, unknown: u }) if mask.count_ones() == 1 => {
                let out = mask.trailing_zeros() as usize;
                if u {
                    unknown += n64;
                }
                counters.add(out as u16, PortCounter::TxFlood, n64);
                txbytes[out] += rx_bytes;
                txbuf[out].append(burst);
            }
            Some(Action::Drop(r)) => {
                counters.drop(port, r, n64);
                refused.append(burst);
            }
            _ => {}
        }
        for (f, &action) in burst.drain(..).zip(actions.iter()) {
            let len = f.as_ref().len();
            match action {
                Action::Unicast(out) => {
                    let out = usize::from(out);
                    txbytes[out] += len as u64;
                    txbuf[out].push(f);
                }
                Action::Drop(r) => {
                    counters.drop(port, r, 1);
                    refused.push(f);
                }
                Action::Punt => {
                    counters.add(port, PortCounter::RxPunted, 1);
                    if let Err(rtrb::PushError::Full(Punt::Frame { frame, .. })) =
                        punt.push(Punt::Frame { port, frame: f })
                    {
                        counters.drop(port, DropReason::PuntRingFull, 1);
                        refused.push(frame);
                    }
                }
                Action::Flood { mask, unknown: u } => {
                    unknown += u64::from(u);
                    let mut m = mask;
                    loop {
                        let out = m.trailing_zeros() as usize;
                        m &= m - 1;
                        if m == 0 {
                            // The last port gets the original frame.
                            counters.add(out as u16, PortCounter::TxFlood, 1);
                            txbytes[out] += len as u64;
                            txbuf[out].push(f);
                            break;
                        }
                        match pool.alloc_copy(f.as_ref()) {
                            Some(c) => {
                                counters.add(out as u16, PortCounter::TxFlood, 1);
                                txbytes[out] += len as u64;
                                txbuf[out].push(c);
                            }
                            None => counters.drop(port, DropReason::NoBuffer, 1),
                        }
                    }
                }
            }
        }
        counters.add(port, PortCounter::RxPackets, n as u64);
        counters.add(port, PortCounter::RxBytes, rx_bytes);
        if unknown != 0 {
            counters.add(port, PortCounter::RxUnknownUnicast, unknown);
        }
        if !refused.is_empty() {
            pool.free_bulk(refused);
        }
        for out in 0..self.txbuf.len() {
            if self.txbuf[out].len() >= self.cfg.burst {
                self.flush(out);
            }
        }
        n
    }

    /// Moves frames from the slow path into the tx buffers.
    fn take_injected(&mut self) -> usize {
        let mut n = 0;
        while let Ok(Inject { port, frame }) = self.inject.pop() {
            let out = usize::from(port);
            if out < self.txbuf.len() {
                if self.txbuf[out].len() == self.txbuf[out].capacity() {
                    self.flush(out);
                }
                self.txbytes[out] += frame.as_ref().len() as u64;
                self.txbuf[out].push(frame);
                n += 1;
            }
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
        let buf = &mut self.txbuf[out];
        let sent = self.tx[out].tx_burst(buf);
        let port = out as u16;
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
