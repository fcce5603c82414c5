//! Fast-path queue handles: one C call per burst, no allocation.
//!
//! A queue handle is `Send` so it can move to its worker thread, and its
//! burst methods take `&mut self`: DPDK queues are not thread-safe, and one
//! owner per queue is what makes the unsynchronised burst calls sound.
//! [`Port::queues`](crate::Port::queues) makes every handle of a started
//! port exactly once, and the handles borrow the port, so it cannot be
//! stopped, reconfigured or closed (all `&mut self` or `self`) while one
//! exists; [`Port::reattach`](crate::Port::reattach) takes them all back by
//! value. A handle carries the raw port and queue numbers, so a burst reads
//! no shared state.

use std::marker::PhantomData;

use dpdk_ffi::rte_mbuf;

use crate::{Mbuf, PortId};

/// Most mbufs handed to one DPDK burst call.
pub const MAX_BURST: usize = 64;

/// Every queue handle of a started port, as returned by
/// [`Port::queues`](crate::Port::queues): `rx[q]` and `tx[q]` are queue `q`.
/// Split them over the workers; gather them all again for
/// [`Port::reattach`](crate::Port::reattach).
#[derive(Debug, Default)]
pub struct Queues<'a> {
    /// The receive queues, in queue order.
    pub rx: Vec<RxQueue<'a>>,
    /// The transmit queues, in queue order.
    pub tx: Vec<TxQueue<'a>>,
}

/// Receive side of one queue of a started port. Not `Clone`: one owner.
/// `'a` borrows the [`Port`](crate::Port); received mbufs carry it too.
#[derive(Debug)]
pub struct RxQueue<'a> {
    port: u16,
    queue: u16,
    /// Serial of the owning Port (checked by reattach).
    owner: u32,
    _port: PhantomData<&'a ()>,
}

impl<'a> RxQueue<'a> {
    /// Only [`Port::queues`](crate::Port::queues) builds these, for a
    /// started port and a queue it configured.
    pub(crate) fn new(port: u16, queue: u16, owner: u32) -> RxQueue<'a> {
        RxQueue {
            port,
            queue,
            owner,
            _port: PhantomData,
        }
    }

    pub(crate) fn owner(&self) -> u32 {
        self.owner
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
    pub fn rx_burst(&mut self, out: &mut Vec<Mbuf<'a>>, max: usize) -> usize {
        let max = max.min(MAX_BURST);
        // No-op in steady state: the caller reserved capacity up front.
        out.reserve(max);
        let len = out.len();
        // SAFETY: out has room for `max` more elements past len; Mbuf is
        // repr(transparent) over NonNull<rte_mbuf>, so that spare space is a
        // `struct rte_mbuf *[max]` DPDK may fill. The handle exists only
        // while its port is started with this queue configured (it borrows
        // the port, which needs &mut or ownership to stop, and reattach
        // takes it back), and &mut self makes this the only caller on the
        // queue. DPDK writes nb <= max valid, non-NULL mbuf pointers whose
        // ownership passes to us (from the port's pool, which outlives 'a),
        // so the first len + nb elements are initialised Mbufs.
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
/// `'a` borrows the [`Port`](crate::Port).
#[derive(Debug)]
pub struct TxQueue<'a> {
    port: u16,
    queue: u16,
    /// Serial of the owning Port (checked by reattach).
    owner: u32,
    _port: PhantomData<&'a ()>,
}

impl<'a> TxQueue<'a> {
    /// Only [`Port::queues`](crate::Port::queues) builds these, for a
    /// started port and a queue it configured.
    pub(crate) fn new(port: u16, queue: u16, owner: u32) -> TxQueue<'a> {
        TxQueue {
            port,
            queue,
            owner,
            _port: PhantomData,
        }
    }

    pub(crate) fn owner(&self) -> u32 {
        self.owner
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
    /// Never allocates. Shared mbufs ([`Mbuf::share`]) may be sent: the
    /// driver drops one reference for each when it is done.
    #[inline]
    pub fn tx_burst(&mut self, frames: &mut Vec<Mbuf<'a>>) -> usize {
        let len = frames.len();
        let mut sent = 0usize;
        let base = frames.as_mut_ptr().cast::<*mut rte_mbuf>();
        while sent < len {
            let chunk = (len - sent).min(MAX_BURST);
            // SAFETY: base[sent..sent + chunk] are valid owned mbuf pointers
            // (Mbuf is repr(transparent)); the port is started with this
            // queue configured while the handle exists (see rx_burst) and
            // &mut self makes this the only caller on the queue. DPDK takes
            // ownership of the first `n` it returns.
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
