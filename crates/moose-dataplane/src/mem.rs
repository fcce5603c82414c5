//! An in-memory port backend: each port is a pair of bounded rings inside
//! one process, one towards the switch and one away from it. For
//! in-process tests and benchmarks of the pipeline without DPDK.

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use crate::io::{Backend, FramePool, RxQueue, TxQueue};
use crate::PortId;

pub struct Mem;

impl Backend for Mem {
    type Frame = Vec<u8>;
    type Rx = MemRx;
    type Tx = MemTx;
    type Pool = MemPool;

    /// Nanoseconds since the first call (no cycle counter in safe code).
    fn cycles() -> u64 {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos() as u64
    }
}

/// The receive queues one worker polls: (port, queue, handle).
pub type WorkerRx = Vec<(PortId, u16, MemRx)>;

/// What [`Pipeline::build`](crate::Pipeline::build) takes, over in-memory
/// ports: see [`queues`].
pub struct Queues {
    pub rx: Vec<WorkerRx>,
    pub tx: Vec<Vec<MemTx>>,
    pub pools: Vec<MemPool>,
}

/// The queues of `workers` workers over `ports`, as `moose run` spreads a
/// single-queue port: port i's (only) rx queue to worker i mod workers,
/// every worker a tx handle on every port, and workers + 1 unbounded
/// pools (the last is the control side's).
pub fn queues(ports: &[MemPort], workers: usize) -> Queues {
    let mut rx: Vec<WorkerRx> = (0..workers).map(|_| Vec::new()).collect();
    for (i, p) in ports.iter().enumerate() {
        rx[i % workers].push((PortId(i as u16), 0, p.rx()));
    }
    Queues {
        rx,
        tx: (0..workers)
            .map(|_| ports.iter().map(MemPort::tx).collect())
            .collect(),
        pools: (0..=workers).map(|_| MemPool::default()).collect(),
    }
}

/// One port: `ingress` carries frames into the switch, `egress` out of it.
#[derive(Clone)]
pub struct MemPort {
    pub ingress: Arc<ArrayQueue<Vec<u8>>>,
    pub egress: Arc<ArrayQueue<Vec<u8>>>,
}

impl MemPort {
    pub fn new(capacity: usize) -> MemPort {
        MemPort::with_capacity(capacity, capacity)
    }

    /// A port whose rings hold `ingress` frames towards the switch and
    /// `egress` frames out of it (a small egress ring is a NIC tx queue
    /// that fills up).
    pub fn with_capacity(ingress: usize, egress: usize) -> MemPort {
        MemPort {
            ingress: Arc::new(ArrayQueue::new(ingress)),
            egress: Arc::new(ArrayQueue::new(egress)),
        }
    }

    /// The switch's receive side of this port.
    pub fn rx(&self) -> MemRx {
        MemRx(self.ingress.clone())
    }

    /// The switch's transmit side of this port.
    pub fn tx(&self) -> MemTx {
        MemTx(self.egress.clone())
    }

    /// Host side: send a frame into the switch. False if the ring is full.
    pub fn inject(&self, frame: Vec<u8>) -> bool {
        self.ingress.push(frame).is_ok()
    }

    /// Host side: everything the switch has sent out of this port so far.
    pub fn drain(&self) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| self.egress.pop()).collect()
    }
}

pub struct MemRx(Arc<ArrayQueue<Vec<u8>>>);
pub struct MemTx(Arc<ArrayQueue<Vec<u8>>>);

impl RxQueue for MemRx {
    type Frame = Vec<u8>;
    fn rx_burst(&mut self, out: &mut Vec<Vec<u8>>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            match self.0.pop() {
                Some(f) => {
                    out.push(f);
                    n += 1;
                }
                None => break,
            }
        }
        n
    }
}

impl TxQueue for MemTx {
    type Frame = Vec<u8>;
    fn tx_burst(&mut self, frames: &mut Vec<Vec<u8>>) -> usize {
        let mut sent = 0;
        let mut it = std::mem::take(frames).into_iter();
        while let Some(f) = it.next() {
            if let Err(f) = self.0.push(f) {
                frames.push(f);
                frames.extend(it);
                break;
            }
            sent += 1;
        }
        sent
    }
}

/// Heap-backed frame pool with an optional limit on the buffers it ever
/// hands out, to test buffer exhaustion.
#[derive(Default)]
pub struct MemPool {
    pub limit: Option<usize>,
    allocated: usize,
}

impl MemPool {
    pub fn with_limit(limit: usize) -> MemPool {
        MemPool {
            limit: Some(limit),
            allocated: 0,
        }
    }
}

impl FramePool for MemPool {
    type Frame = Vec<u8>;
    fn alloc_copy(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        if let Some(l) = self.limit {
            if self.allocated >= l {
                return None;
            }
        }
        self.allocated += 1;
        Some(data.to_vec())
    }

    /// Copies (a heap buffer has no reference count); counts against the
    /// limit like allocations, so tests can exhaust it.
    fn share(&mut self, frame: &mut Vec<u8>, n: u16, mut out: impl FnMut(Vec<u8>)) -> bool {
        let n = usize::from(n);
        if let Some(l) = self.limit {
            if self.allocated + n > l {
                return false;
            }
        }
        self.allocated += n;
        for _ in 0..n {
            out(frame.clone());
        }
        true
    }
}
