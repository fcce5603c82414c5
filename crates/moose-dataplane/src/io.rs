//! The port backend interface the pipeline is written against.
//!
//! A backend provides receive queues, transmit queues and a frame pool, each
//! owned by exactly one thread. DPDK implements it over ethdev queues and an
//! mbuf mempool (in the `moose` binary); [`crate::mem`] implements it over
//! in-process rings for tests. Nothing here requires `'static`: DPDK's
//! handles borrow the EAL and their port, and the threads that use them
//! are scoped.

/// A frame buffer: the bytes of one frame, rewritable in place.
pub trait Frame: AsRef<[u8]> + AsMut<[u8]> + Send {}
impl<T: AsRef<[u8]> + AsMut<[u8]> + Send> Frame for T {}

pub trait RxQueue: Send {
    type Frame: Frame;
    /// Appends up to `max` received frames to `out`; returns how many.
    fn rx_burst(&mut self, out: &mut Vec<Self::Frame>, max: usize) -> usize;
}

pub trait TxQueue: Send {
    type Frame: Frame;
    /// Sends from the front of `frames`, removes what was sent and returns
    /// how many. What remains was refused (queue full).
    fn tx_burst(&mut self, frames: &mut Vec<Self::Frame>) -> usize;
}

pub trait FramePool: Send {
    type Frame: Frame;
    /// A new frame holding a copy of `data`, or `None` if the pool is empty.
    fn alloc_copy(&mut self, data: &[u8]) -> Option<Self::Frame>;
    /// Returns every frame in `frames` to the pool and empties it.
    fn free_bulk(&mut self, frames: &mut Vec<Self::Frame>) {
        frames.clear();
    }
    /// Makes `n` more handles to `frame`'s buffer and passes them to `out`
    /// one by one (a flood's copies). DPDK raises the mbuf's reference
    /// count once; nothing is copied. Returns false, calling `out` for
    /// none, if the handles could not be made.
    fn share(&mut self, frame: &mut Self::Frame, n: u16, out: impl FnMut(Self::Frame)) -> bool;
}

/// The queues and pool types of one backend.
pub trait Backend {
    type Frame: Frame;
    type Rx: RxQueue<Frame = Self::Frame>;
    type Tx: TxQueue<Frame = Self::Frame>;
    type Pool: FramePool<Frame = Self::Frame>;

    /// A cycle counter (the TSC under DPDK), read twice per poll loop to
    /// measure what a frame costs.
    fn cycles() -> u64;
}
