//! Fast-path queue handles: one C call per burst, no allocation.
//!
//! A queue handle is `Send` so it can move to its worker thread, and its
//! burst methods take `&mut self`: DPDK queues are not thread-safe, and one
//! owner per queue is what makes the unsynchronised burst calls sound.
//! Handles must not be used after their port is stopped and reconfigured
//! with fewer queues, or closed.

use dpdk_ffi::rte_mbuf;

use crate::{Mbuf, PortId};

/// Most mbufs handed to one DPDK burst call.
pub const MAX_BURST: usize = 64;

/// Receive side of one queue of a started port. Not `Clone`: one owner.
#[derive(Debug)]
pub struct RxQueue {
    port: u16,
    queue: u16,
}

impl RxQueue {
    /// Only [`Port::rx_queue`](crate::Port::rx_queue) builds these, after
    /// checking that the port and queue exist.
    pub(crate) fn new(port: PortId, queue: u16) -> RxQueue {
        RxQueue {
            port: port.0,
            queue,
        }
    }

    /// The port.
    pub fn port(&self) -> PortId {
        PortId(self.port)
    }

    /// The queue index.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Receives up to `max` (clamped to [`MAX_BURST`]) packets and appends
    /// them to `out`; returns how many. `out` should have at least `max`
    /// spare capacity (reserved once by the caller); then this never
    /// allocates. On a stopped port DPDK returns 0 but logs an error (with
    /// a stack dump) on every call: stop the workers before the port.
    #[inline]
    pub fn rx_burst(&mut self, out: &mut Vec<Mbuf>, max: usize) -> usize {
        let max = max.min(MAX_BURST);
        // No-op in steady state: the caller reserved capacity up front.
        out.reserve(max);
        let len = out.len();
        // SAFETY: out has room for `max` more elements past len; Mbuf is
        // repr(transparent) over NonNull<rte_mbuf>, so that spare space is a
        // `struct rte_mbuf *[max]` DPDK may fill. The port and queue were
        // checked to exist when this handle was built and &mut self makes
        // this the only caller on the queue. DPDK writes nb <= max valid,
        // non-NULL mbuf pointers whose ownership passes to us, so the first
        // len + nb elements are initialised Mbufs.
        unsafe {
            let dst = out.as_mut_ptr().add(len).cast::<*mut rte_mbuf>();
            let nb = dpdk_ffi::rte_eth_rx_burst(self.port, self.queue, dst, max as u16);
            let nb = usize::from(nb);
            out.set_len(len + nb);
            // Start loading every frame's first cache line now, so the
            // header reads of the burst hit L1 (as DPDK's l2fwd does).
            for m in &out[len..] {
                prefetch(m.as_ref().as_ptr());
            }
            nb
        }
    }
}

/// Transmit side of one queue of a started port. Not `Clone`: one owner.
#[derive(Debug)]
pub struct TxQueue {
    port: u16,
    queue: u16,
}

impl TxQueue {
    /// Only [`Port::tx_queue`](crate::Port::tx_queue) builds these, after
    /// checking that the port and queue exist.
    pub(crate) fn new(port: PortId, queue: u16) -> TxQueue {
        TxQueue {
            port: port.0,
            queue,
        }
    }

    /// The port.
    pub fn port(&self) -> PortId {
        PortId(self.port)
    }

    /// The queue index.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Sends as many of `frames` as the queue takes, in calls of at most
    /// [`MAX_BURST`]; stops at the first short call (the ring is full).
    /// The sent frames, which now belong to the driver, are removed from
    /// the front of `frames`; the unsent stay, in order, for the caller to
    /// retry or free ([`Mbuf::free_bulk`]). Returns how many were sent.
    /// Never allocates.
    #[inline]
    pub fn tx_burst(&mut self, frames: &mut Vec<Mbuf>) -> usize {
        let len = frames.len();
        let mut sent = 0usize;
        let base = frames.as_mut_ptr().cast::<*mut rte_mbuf>();
        while sent < len {
            let chunk = (len - sent).min(MAX_BURST);
            // SAFETY: base[sent..sent + chunk] are valid owned mbuf pointers
            // (Mbuf is repr(transparent)); port/queue were checked at
            // construction and &mut self makes this the only caller on the
            // queue. DPDK takes ownership of the first `n` it returns.
            let n = unsafe {
                dpdk_ffi::rte_eth_tx_burst(self.port, self.queue, base.add(sent), chunk as u16)
            };
            sent += usize::from(n);
            if usize::from(n) < chunk {
                break;
            }
        }
        if sent > 0 {
            // SAFETY: the first `sent` elements now belong to the driver and
            // must not be dropped: they are overwritten by moving the unsent
            // tail (len - sent valid elements) to the front, and the length
            // shrinks to cover exactly that tail. Nothing can panic between.
            unsafe {
                let p = frames.as_mut_ptr();
                std::ptr::copy(p.add(sent), p, len - sent);
                frames.set_len(len - sent);
            }
        }
        sent
    }
}

/// Hints the CPU to load the cache line at `p` into L1.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is only a hint: it never faults, whatever the
    // address, and reads nothing the program can observe.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
