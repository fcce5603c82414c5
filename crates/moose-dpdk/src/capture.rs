//! Packet capture by DPDK's own tools: the pdump server in this process.
//!
//! `dpdk-dumpcap` and `dpdk-pdump` are DPDK *secondary* processes. They
//! attach to a running primary (same `--file-prefix`), ask it over the
//! multi-process socket to start capturing a port, and receive copies of
//! its frames through a ring in shared memory. The primary's half is
//! `librte_pdump`: [`Eal::enable_capture`] runs `rte_pdump_init`, which
//! registers the request handler (on the EAL's multi-process thread, not a
//! worker). While a capture runs, pdump hangs rx and tx callbacks on the
//! port's queues, which `rte_eth_rx_burst` / `rte_eth_tx_burst` call
//! (`RTE_ETHDEV_RXTX_CALLBACKS`, on in Debian's build): the copies are
//! made on the workers, by DPDK, only while a tool is capturing. Without
//! a capture the burst path is unchanged.
//!
//! What the EAL must allow for a secondary to attach: a file prefix it can
//! name (`--file-prefix`, default `rte`), shared config (no `--no-shconf`,
//! no `--in-memory`), and hugepages: DPDK 22.11's secondaries map the
//! primary's memory from its hugepage files, so a primary run with
//! `--no-huge` accepts the capture server but no tool can attach to it
//! (their EAL init fails with "Cannot get hugepage information").

use std::sync::atomic::Ordering;

use crate::error::{errno_from_ret, DpdkError};
use crate::Eal;

impl Eal {
    /// Starts serving capture requests from `dpdk-dumpcap` / `dpdk-pdump`
    /// (`rte_pdump_init`), until the EAL is dropped. A second call does
    /// nothing. A tool attaches as a secondary process with this process's
    /// `--file-prefix`, which needs shared config (without it, with
    /// `--no-shconf` or `--in-memory`, this still succeeds and nothing can
    /// attach) and hugepages (a `--no-huge` process serves, but no
    /// secondary can map its memory). While a capture runs, pdump copies
    /// frames in the rx and tx bursts' callbacks, on the bursting threads.
    ///
    /// The server is stopped (`rte_pdump_uninit`) when the `Eal` is
    /// dropped, just before `rte_eal_cleanup`, and not earlier: the
    /// callbacks of a running capture update statistics that uninit frees,
    /// and only then does the borrow checker guarantee that no queue handle,
    /// and so no burst, is left.
    pub fn enable_capture(&self) -> Result<(), DpdkError> {
        if self
            .capture
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Ok(());
        }
        // SAFETY: &self proves the EAL is initialised and not cleaned up;
        // rte_pdump_init reserves a memzone and registers a multi-process
        // action (thread-safe EAL calls), and the flag above makes this the
        // only successful call until uninit.
        let ret = unsafe { dpdk_ffi::rte_pdump_init() };
        if ret < 0 {
            self.capture.store(false, Ordering::Release);
            return Err(DpdkError::CaptureInit(errno_from_ret(ret)));
        }
        Ok(())
    }
}

/// Stops the capture server; called by `Eal`'s drop when
/// [`Eal::enable_capture`] succeeded.
///
/// # Safety
///
/// `rte_pdump_init` succeeded, the EAL is not cleaned up yet, and no thread
/// can burst on a port any more (no queue handle exists).
pub(crate) unsafe fn disable_capture() {
    // SAFETY: the caller's contract; rte_pdump_uninit unregisters the
    // action and frees the statistics memzone, which no callback can reach
    // without a burst.
    unsafe {
        dpdk_ffi::rte_pdump_uninit();
    }
}
