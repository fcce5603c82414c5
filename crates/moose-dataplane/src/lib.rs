//! The moose dataplane: the per-packet fast path run by pinned workers,
//! and the contract it keeps with the control side.
//!
//! Everything here is written over frames as byte buffers
//! (`AsRef<[u8]> + AsMut<[u8]>`) and over the small [`io`] traits, so the
//! same pipeline runs on DPDK mbufs in production and on in-memory rings in
//! tests ([`mem`]). The shape:
//!
//! * a [`Worker`] per core polls its rx queues; each queue has the
//!   [`classify::Classifier`] of its port's role, which decides a burst into
//!   [`Action`]s; one mover executes them for every role;
//! * the workers read one published [`TableSet`] (ports, flood sets, FDB
//!   view, FIB, translation, next-hop groups) through a left-right reader,
//!   once per burst; the control runtime (`moose-control`) is its single
//!   writer;
//! * what the control plane must see goes over one bounded ring per
//!   [`PuntClass`] per worker, behind token buckets ([`punt`]); what it
//!   sends comes back over an inject ring per worker.
//!
//! Invariants: workers never allocate, lock, log or make syscalls per
//! packet, and make no atomic read-modify-write per packet; every drop is
//! counted by [`DropReason`] in worker-local counters that are published to
//! the scraper every few loops with plain stores.
#![forbid(unsafe_code)]

pub mod action;
pub mod classify;
pub mod counters;
pub mod fdb;
pub mod io;
pub mod mem;
pub mod punt;
pub mod tables;
pub mod worker;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

pub use action::{Action, GroupId, Rewrite, RewriteOps, To};
pub use counters::{DropReason, PortCounter, PortTotals, PuntCounter, WorkerCounter, WorkerStats};
pub use fdb::{FdbOp, FdbView, ViewEntry};
pub use moose_wire::PortId;
pub use punt::{Punt, PuntClass, PuntRx};
pub use tables::{TableOp, TableSet};
pub use worker::{Handover, Inject, Via, Worker, WorkerConfig, WorkerError, WorkerIo, WorkerRings};

use moose_tables::publish::Writer;

/// Most ports one appliance handles (flood sets are 64-bit masks).
pub const MAX_PORTS: usize = 64;

/// What the control runtime takes from a built pipeline: the single
/// writer of the tables, and its ends of every worker's rings.
pub struct ControlSide<B: io::Backend> {
    pub tables: Writer<TableSet, TableOp>,
    /// By worker.
    pub punts: Vec<PuntRx<B::Frame>>,
    /// By worker.
    pub inject: Vec<rtrb::Producer<Inject<B::Frame>>>,
    /// Queue handles of parked ports, from each worker.
    pub handover: Vec<rtrb::Consumer<Handover<B>>>,
    /// Re-attached queue handles, to each worker.
    pub handback: Vec<rtrb::Producer<Handover<B>>>,
    /// The control thread's own frame pool.
    pub pool: B::Pool,
    /// `rx[w]`: the (port, queue) pairs worker `w` polls.
    pub rx_assignment: Vec<Vec<(PortId, u16)>>,
    pub n_ports: usize,
    pub quit: Arc<AtomicBool>,
}

/// Everything the dataplane runs, wired together and ready to be put on
/// threads: one [`Worker`] per `dataplane.workers`, and the control side.
pub struct Pipeline<B: io::Backend> {
    pub workers: Vec<Worker<B>>,
    pub control: ControlSide<B>,
    /// Each worker's published counters, for the scraper.
    pub stats: Vec<Arc<WorkerStats>>,
    pub quit: Arc<AtomicBool>,
}

/// Why a pipeline could not be wired.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    #[error("{what}: {got} given for {workers} worker(s)")]
    Count {
        what: &'static str,
        got: usize,
        workers: usize,
    },
    #[error(transparent)]
    Worker(#[from] WorkerError),
}

impl<B: io::Backend> Pipeline<B> {
    /// Wires a pipeline. `rx[w]` lists the (port, queue index, handle)
    /// triples worker `w` polls; `tx[w]` holds worker `w`'s queue on every
    /// port; `pools[w]` is worker `w`'s frame pool and `pools[workers]` the
    /// control thread's.
    pub fn build(
        cfg: &moose_config::Config,
        rx: Vec<Vec<(PortId, u16, B::Rx)>>,
        tx: Vec<Vec<B::Tx>>,
        mut pools: Vec<B::Pool>,
    ) -> Result<Pipeline<B>, BuildError> {
        let n = cfg.dataplane.workers;
        let count = |what, got| {
            if got == n {
                Ok(())
            } else {
                Err(BuildError::Count {
                    what,
                    got,
                    workers: n,
                })
            }
        };
        count("rx queue lists", rx.len())?;
        count("tx queue lists", tx.len())?;
        count(
            "frame pools (one per worker, plus one)",
            pools.len().saturating_sub(1),
        )?;
        let quit = Arc::new(AtomicBool::new(false));
        let (writer, readers) =
            moose_tables::publish::left_right::<TableSet, TableOp>(TableSet::from_config(cfg), n);
        let control_pool = pools.pop().expect("counted above");
        let mut control = ControlSide {
            tables: writer,
            punts: Vec::new(),
            inject: Vec::new(),
            handover: Vec::new(),
            handback: Vec::new(),
            pool: control_pool,
            rx_assignment: Vec::new(),
            n_ports: cfg.ports.len(),
            quit: quit.clone(),
        };
        let mut workers = Vec::new();
        let mut stats = Vec::new();
        for (w, ((rx, tx), (pool, reader))) in rx
            .into_iter()
            .zip(tx)
            .zip(pools.into_iter().zip(readers))
            .enumerate()
        {
            let (punt_tx, punt_rx) = punt::rings_for(cfg);
            let (inject_p, inject_c) = rtrb::RingBuffer::new(worker::INJECT_RING);
            let (over_p, over_c) = rtrb::RingBuffer::new(MAX_PORTS);
            let (back_p, back_c) = rtrb::RingBuffer::new(MAX_PORTS);
            control.punts.push(punt_rx);
            control.inject.push(inject_p);
            control.handover.push(over_c);
            control.handback.push(back_p);
            control
                .rx_assignment
                .push(rx.iter().map(|(p, q, _)| (*p, *q)).collect());
            let s = Arc::new(WorkerStats::new(cfg.ports.len()));
            stats.push(s.clone());
            workers.push(Worker::new(
                WorkerConfig::from_config(w, cfg),
                worker::WorkerIo { rx, tx, pool },
                reader,
                WorkerRings {
                    punt: punt_tx,
                    inject: inject_c,
                    handover: over_p,
                    handback: back_c,
                },
                s,
                quit.clone(),
            )?);
        }
        Ok(Pipeline {
            workers,
            control,
            stats,
            quit,
        })
    }
}
