//! [`Mempool`]: a DPDK packet-buffer pool.
//!
//! Pools live as long as the EAL: dropping the last handle does not call
//! `rte_mempool_free`, because mbufs from the pool may still sit in NIC
//! rings or in other threads, and a port's rx queues refill from it on every
//! start. `rte_eal_cleanup` (dropping [`Eal`]) releases the memory, and the
//! `'eal` lifetime of every handle and [`Mbuf`] makes sure that happens
//! only once they are all gone. A pool's name therefore stays taken.

use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

use dpdk_ffi::rte_mempool;

use crate::error::{errno_last, DpdkError};
use crate::{Eal, Mbuf};

/// A handle to a packet mbuf pool, made by [`Eal::mempool`]; cheap to clone
/// (an `Arc`), usable from any thread (`Send + Sync`). Borrows the EAL.
#[derive(Clone)]
pub struct Mempool<'eal> {
    inner: Arc<PoolInner>,
    _eal: PhantomData<&'eal Eal>,
}

struct PoolInner {
    ptr: NonNull<rte_mempool>,
    name: String,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer and safe to use
// from any thread (threads without an lcore id bypass the per-lcore cache);
// the pointer is never freed before rte_eal_cleanup (see the module doc),
// and every handle borrows the Eal, so it stays valid while used.
unsafe impl Send for PoolInner {}
// SAFETY: as for Send; every method takes &self and DPDK synchronises.
unsafe impl Sync for PoolInner {}

impl<'eal> Mempool<'eal> {
    /// Creates a pool of `n_mbufs` packet mbufs (`rte_pktmbuf_pool_create`);
    /// called through [`Eal::mempool`].
    ///
    /// * `name`: unique per process, at most 25 bytes.
    /// * `n_mbufs`: best as 2^k - 1; must cover every rx/tx descriptor of
    ///   the ports using it plus the mbufs in flight and in caches.
    /// * `cache`: per-lcore cache size (0 or up to 512, ≤ n_mbufs / 1.5).
    /// * `data_room`: buffer size *including* the 128-byte headroom; 2176
    ///   (`RTE_MBUF_DEFAULT_BUF_SIZE`) fits a 2048-byte frame.
    /// * `socket`: NUMA socket, or -1 for any.
    pub(crate) fn create(
        _eal: &'eal Eal,
        name: &str,
        n_mbufs: u32,
        cache: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Mempool<'eal>, DpdkError> {
        let cname = CString::new(name).map_err(|_| DpdkError::InvalidArgument(name.to_owned()))?;
        // SAFETY: the EAL is up (the &Eal token); cname is a valid C string
        // for the call's duration; other arguments are plain values DPDK
        // validates.
        let ptr = unsafe {
            dpdk_ffi::rte_pktmbuf_pool_create(cname.as_ptr(), n_mbufs, cache, 0, data_room, socket)
        };
        let ptr = NonNull::new(ptr).ok_or_else(|| DpdkError::MempoolCreate {
            name: name.to_owned(),
            code: errno_last(),
        })?;
        Ok(Mempool {
            inner: Arc::new(PoolInner {
                ptr,
                name: name.to_owned(),
            }),
            _eal: PhantomData,
        })
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The raw pool, for DPDK calls this crate does not wrap.
    pub fn as_ptr(&self) -> *mut rte_mempool {
        self.inner.ptr.as_ptr()
    }

    /// Takes one mbuf, reset and empty (data_len 0, full headroom).
    /// `None` if the pool is exhausted.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf<'eal>> {
        // SAFETY: the pool pointer is valid while the EAL is (never freed,
        // and 'eal borrows the EAL); rte_pktmbuf_alloc is thread-safe.
        let m = unsafe { dpdk_ffi::rte_pktmbuf_alloc(self.as_ptr()) };
        // SAFETY: a non-NULL result is a fresh mbuf with refcnt 1 that we
        // own, from a pool that lives for 'eal.
        NonNull::new(m).map(|p| unsafe { Mbuf::from_raw(p) })
    }

    /// Takes one mbuf and copies `data` into it. `None` if the pool is
    /// exhausted or `data` does not fit the data room (the mbuf goes back).
    #[inline]
    pub fn alloc_copy(&self, data: &[u8]) -> Option<Mbuf<'eal>> {
        let mut m = self.alloc()?;
        m.append(data.len())?.copy_from_slice(data);
        Some(m)
    }

    /// Mbufs currently free in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: valid pool pointer (never freed before the EAL, which
        // 'eal borrows); a read-only count.
        unsafe { dpdk_ffi::rte_mempool_avail_count(self.as_ptr()) }
    }

    /// Mbufs currently taken from the pool (by the application or held in
    /// NIC rx/tx rings).
    pub fn in_use(&self) -> u32 {
        // SAFETY: as in `available`.
        unsafe { dpdk_ffi::rte_mempool_in_use_count(self.as_ptr()) }
    }
}

impl std::fmt::Debug for Mempool<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("name", &self.inner.name)
            .field("ptr", &self.inner.ptr)
            .finish()
    }
}
