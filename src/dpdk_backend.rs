//! The DPDK port backend: the dataplane's queue and pool traits over
//! `moose_dpdk` rx/tx queues and an mbuf mempool. Safe code only; every
//! `unsafe` is inside `moose-dpdk`.

use std::sync::Arc;

use moose_dataplane::io::{Backend, FramePool, RxQueue, TxQueue};
use moose_dpdk::{Mbuf, Mempool};

pub struct Dpdk;

impl Backend for Dpdk {
    type Frame = Mbuf;
    type Rx = Rx;
    type Tx = Tx;
    type Pool = Pool;
}

pub struct Rx(pub moose_dpdk::RxQueue);
pub struct Tx(pub moose_dpdk::TxQueue);
pub struct Pool(pub Arc<Mempool>);

impl RxQueue for Rx {
    type Frame = Mbuf;
    #[inline]
    fn rx_burst(&mut self, out: &mut Vec<Mbuf>, max: usize) -> usize {
        self.0.rx_burst(out, max)
    }
}

impl TxQueue for Tx {
    type Frame = Mbuf;
    #[inline]
    fn tx_burst(&mut self, frames: &mut Vec<Mbuf>) -> usize {
        self.0.tx_burst(frames)
    }
}

impl FramePool for Pool {
    type Frame = Mbuf;
    #[inline]
    fn alloc_copy(&mut self, data: &[u8]) -> Option<Mbuf> {
        self.0.alloc_copy(data)
    }
    #[inline]
    fn free_bulk(&mut self, frames: &mut Vec<Mbuf>) {
        Mbuf::free_bulk(frames)
    }
}
