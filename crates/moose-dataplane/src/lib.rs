//! The moose dataplane: the per-packet fast path run by pinned workers and
//! the slow path that owns all shared state.
//!
//! Everything here is written over frames as byte buffers
//! (`AsRef<[u8]> + AsMut<[u8]>`) and over the small [`io`] traits, so the
//! same pipeline runs on DPDK mbufs in production and on in-memory rings in
//! tests ([`mem`]). Invariants:
//!
//! * Workers never allocate, lock, log or make syscalls per packet; they read
//!   the FDB through a left-right view taken once per burst and count every
//!   drop by [`DropReason`] in worker-local counters that they publish to the
//!   scraper every few loops with plain stores.
//! * The slow path is the only writer of the FDB. Workers ask it to learn
//!   through bounded single-producer rings; a full ring drops the request
//!   and counts it, it never blocks a worker.
#![forbid(unsafe_code)]

pub mod bridge;
pub mod counters;
pub mod fdb;
pub mod io;
pub mod mem;
pub mod slowpath;
pub mod worker;

pub use bridge::{Action, PortTable};
pub use counters::{DropReason, PortCounter, WorkerCounters, WorkerStats};
pub use fdb::{Fdb, FdbEntry, FdbKind, FdbView};
pub use slowpath::{Control, SlowPath};
pub use worker::{Worker, WorkerConfig};

/// Most ports one appliance handles (flood sets are 64-bit masks).
pub const MAX_PORTS: usize = 64;

/// A message from a worker to the slow path.
#[derive(Debug)]
pub enum Punt<F> {
    /// "`key` (VLAN << 48 | MAC) was seen as a source on `port`": learn,
    /// move, or refresh its age.
    Learn { key: u64, port: u16 },
    /// A frame for the control plane (IEEE 802.1D reserved destinations:
    /// BPDUs, LACP, LLDP, ...), which a bridge must never forward.
    Frame { port: u16, frame: F },
}

/// A frame the slow path asks a worker to transmit on `port`.
#[derive(Debug)]
pub struct Inject<F> {
    pub port: u16,
    pub frame: F,
}

/// Packs a VLAN and a MAC into one 64-bit table key: the VLAN in bits
/// 48..60, the MAC's six octets little-endian in bits 0..48 — exactly what
/// one unaligned little-endian load of the frame's address field gives, so
/// the fast path builds keys without byte swaps.
#[inline]
pub fn fdb_key(vlan: u16, mac: moose_wire::Mac) -> u64 {
    let m = mac.0;
    (u64::from(vlan) << 48) | u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], 0, 0])
}

/// Splits a key made by [`fdb_key`].
#[inline]
pub fn split_key(key: u64) -> (u16, moose_wire::Mac) {
    let b = key.to_le_bytes();
    (
        (key >> 48) as u16,
        moose_wire::Mac([b[0], b[1], b[2], b[3], b[4], b[5]]),
    )
}

/// Everything the dataplane runs, wired together and ready to be put on
/// threads: one [`Worker`] per `dataplane.workers`, one [`SlowPath`].
pub struct Pipeline<B: io::Backend> {
    pub workers: Vec<Worker<B>>,
    pub slow: SlowPath<B>,
    /// Each worker's published counters, for the scraper.
    pub stats: Vec<std::sync::Arc<WorkerStats>>,
    pub control: std::sync::mpsc::Sender<Control>,
    pub quit: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<B: io::Backend> Pipeline<B> {
    /// Wires a pipeline. `rx[w]` lists the (port, queue) pairs worker `w`
    /// polls; `tx[w]` holds worker `w`'s queue on every port; `pools[w]` is
    /// worker `w`'s frame pool and `pools[workers]` the slow path's.
    pub fn build(
        cfg: &moose_config::Config,
        rx: Vec<Vec<(u16, B::Rx)>>,
        tx: Vec<Vec<B::Tx>>,
        mut pools: Vec<B::Pool>,
    ) -> Pipeline<B> {
        let n = cfg.dataplane.workers;
        assert_eq!(rx.len(), n);
        assert_eq!(tx.len(), n);
        assert_eq!(pools.len(), n + 1);
        let ports = std::sync::Arc::new(PortTable::from_config(cfg));
        let quit = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (writer, readers) =
            moose_tables::publish::left_right::<FdbView, fdb::FdbOp>(FdbView::default(), n);
        let (control_tx, control_rx) = std::sync::mpsc::channel();
        let slow_pool = pools.pop().expect("slow path pool");
        let mut consumers = Vec::new();
        let mut injectors = Vec::new();
        let mut workers = Vec::new();
        let mut stats = Vec::new();
        for (w, ((rx, tx), (pool, reader))) in rx
            .into_iter()
            .zip(tx)
            .zip(pools.into_iter().zip(readers))
            .enumerate()
        {
            let (p, c) = rtrb::RingBuffer::new(cfg.dataplane.punt_ring);
            consumers.push(c);
            let (ip, ic) = rtrb::RingBuffer::new(worker::INJECT_RING);
            injectors.push(ip);
            let s = std::sync::Arc::new(WorkerStats::new(ports.n_ports));
            stats.push(s.clone());
            workers.push(Worker::new(
                WorkerConfig::from_config(w, cfg),
                rx,
                tx,
                pool,
                ports.clone(),
                reader,
                p,
                ic,
                s,
                quit.clone(),
            ));
        }
        let limits: Vec<Option<u32>> = cfg.ports.iter().map(|p| p.learn_limit).collect();
        let mut slow = SlowPath::new(
            consumers,
            Fdb::new(cfg.bridge.aging, &limits),
            writer,
            injectors,
            slow_pool,
            control_rx,
            quit.clone(),
        );
        let statics: Vec<(u64, u16)> = cfg
            .static_fdb
            .iter()
            .map(|s| (fdb_key(s.vlan.get(), s.mac), s.port as u16))
            .collect();
        slow.add_static(&statics);
        Pipeline {
            workers,
            slow,
            stats,
            control: control_tx,
            quit,
        }
    }
}
