//! The slow path: the single writer of the FDB.
//!
//! One thread. Each turn it drains the workers' punt rings (learn requests
//! and control frames), applies them to the master [`Fdb`], publishes the
//! resulting view changes to the workers (at most every
//! [`PUBLISH_INTERVAL`], so an update is visible within a millisecond), ages
//! entries once a second and answers [`Control`] requests from the
//! management threads. It transmits through the workers: each worker owns
//! one tx queue per port, and takes the slow path's frames from an inject
//! ring (so a device needs only as many tx queues as there are workers).
//!
//! Shared state and who touches it: the FDB view — written here, read by
//! workers through left-right readers; [`SlowStats`] — written here, read by
//! the management threads through `Control::Stats`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moose_tables::publish::Writer;

use crate::fdb::{Fdb, FdbCounters, FdbOp, FdbRecord, FdbView};
use crate::io::{Backend, FramePool};
use crate::{Inject, Punt};

pub const PUBLISH_INTERVAL: Duration = Duration::from_micros(500);
const AGE_INTERVAL: Duration = Duration::from_secs(1);
/// Punts taken from one ring per turn, so no worker starves the others.
const DRAIN_BATCH: usize = 1024;

/// Requests from management threads (API, metrics, CLI).
pub enum Control {
    FdbDump(Sender<Vec<FdbRecord>>),
    Stats(Sender<SlowStats>),
    /// Transmits a frame on a port (for tools and tests).
    Send(u16, Vec<u8>, Sender<bool>),
}

/// Slow-path totals.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SlowStats {
    pub fdb_entries: usize,
    pub fdb: FdbCounters,
    pub learn_requests: u64,
    /// Control frames punted by the workers, by kind.
    pub control_frames: std::collections::BTreeMap<&'static str, u64>,
    pub publishes: u64,
    pub sent_frames: u64,
    pub send_failures: u64,
}

/// The kind of a reserved-destination frame, from its last octet.
pub fn control_kind(frame: &[u8]) -> &'static str {
    match frame.get(5).copied() {
        Some(0x00) => "stp",
        Some(0x01) => "pause",
        Some(0x02) => "slow_protocols",
        Some(0x03) => "eapol",
        Some(0x0e) => "lldp",
        _ => "other_reserved",
    }
}

pub struct SlowPath<B: Backend> {
    punts: Vec<rtrb::Consumer<Punt<B::Frame>>>,
    fdb: Fdb,
    writer: Writer<FdbView, FdbOp>,
    ops: Vec<FdbOp>,
    /// Inject rings to the workers, by worker.
    inject: Vec<rtrb::Producer<Inject<B::Frame>>>,
    pool: B::Pool,
    control: Receiver<Control>,
    quit: Arc<AtomicBool>,
    stats: SlowStats,
    free: Vec<B::Frame>,
}

impl<B: Backend> SlowPath<B> {
    pub fn new(
        punts: Vec<rtrb::Consumer<Punt<B::Frame>>>,
        fdb: Fdb,
        writer: Writer<FdbView, FdbOp>,
        inject: Vec<rtrb::Producer<Inject<B::Frame>>>,
        pool: B::Pool,
        control: Receiver<Control>,
        quit: Arc<AtomicBool>,
    ) -> SlowPath<B> {
        SlowPath {
            punts,
            fdb,
            writer,
            ops: Vec::new(),
            inject,
            pool,
            control,
            quit,
            stats: SlowStats::default(),
            free: Vec::new(),
        }
    }

    /// Installs the config's static entries and publishes them before any
    /// worker starts.
    pub fn add_static(&mut self, entries: &[(u64, u16)]) {
        let now = Instant::now();
        for &(key, port) in entries {
            self.fdb.add_static(key, port, now, &mut self.ops);
        }
        self.publish();
    }

    /// Sends one frame on `port`, through a worker's tx queue. False if no
    /// buffer was free or the worker's inject ring was full.
    pub fn send(&mut self, port: u16, data: &[u8]) -> bool {
        let w = usize::from(port) % self.inject.len();
        let ok = match self.pool.alloc_copy(data) {
            Some(frame) => match self.inject[w].push(Inject { port, frame }) {
                Ok(()) => true,
                Err(rtrb::PushError::Full(Inject { frame, .. })) => {
                    self.free.push(frame);
                    false
                }
            },
            None => false,
        };
        if ok {
            self.stats.sent_frames += 1;
        } else {
            self.stats.send_failures += 1;
            self.pool.free_bulk(&mut self.free);
        }
        ok
    }

    fn publish(&mut self) {
        if self.ops.is_empty() {
            return;
        }
        for op in self.ops.drain(..) {
            self.writer.append(op);
        }
        self.writer.publish();
        self.stats.publishes += 1;
    }

    /// Drains every punt ring once; returns how many messages it handled.
    pub fn turn(&mut self, now: Instant) -> usize {
        let mut handled = 0;
        for ring in &mut self.punts {
            for _ in 0..DRAIN_BATCH {
                match ring.pop() {
                    Ok(Punt::Learn { key, port }) => {
                        self.stats.learn_requests += 1;
                        self.fdb.learn(key, port, now, &mut self.ops);
                    }
                    Ok(Punt::Frame { frame, .. }) => {
                        *self
                            .stats
                            .control_frames
                            .entry(control_kind(frame.as_ref()))
                            .or_default() += 1;
                        self.free.push(frame);
                    }
                    Err(_) => break,
                }
                handled += 1;
            }
        }
        if !self.free.is_empty() {
            self.pool.free_bulk(&mut self.free);
        }
        handled
    }

    fn answer(&mut self, c: Control) {
        match c {
            Control::FdbDump(reply) => {
                let _ = reply.send(self.fdb.records(Instant::now()));
            }
            Control::Stats(reply) => {
                self.stats.fdb_entries = self.fdb.len();
                self.stats.fdb = self.fdb.counters.clone();
                let _ = reply.send(self.stats.clone());
            }
            Control::Send(port, data, reply) => {
                let _ = reply.send(self.send(port, &data));
            }
        }
    }

    /// Runs until `quit` is set.
    pub fn run(&mut self) {
        let mut last_publish = Instant::now();
        let mut last_age = Instant::now();
        while !self.quit.load(Ordering::Relaxed) {
            let now = Instant::now();
            let handled = self.turn(now);
            if !self.ops.is_empty() && now.duration_since(last_publish) >= PUBLISH_INTERVAL {
                self.publish();
                last_publish = now;
            }
            if now.duration_since(last_age) >= AGE_INTERVAL {
                self.fdb.age(now, &mut self.ops);
                last_age = now;
            }
            while let Ok(c) = self.control.try_recv() {
                self.answer(c);
            }
            if handled == 0 {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        self.publish();
    }
}
