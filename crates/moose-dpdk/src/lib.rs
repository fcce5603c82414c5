//! The one safe layer over DPDK for moose: it owns the EAL, ports, queues,
//! mempools and mbufs, and is the only crate with `unsafe` DPDK calls
//! (raw bindings are in `dpdk-ffi`; every other crate forbids `unsafe`).
//!
//! Invariants the types keep, and the ones the caller must:
//!
//! * **One EAL per process, dropped last.** [`Eal::init`] succeeds once per
//!   process; its drop runs `rte_eal_cleanup`, which frees all DPDK memory,
//!   so every [`Mbuf`], queue and port use must end before it. Control-path
//!   calls made without a live EAL return [`DpdkError::EalNotInitialised`].
//! * **An [`Mbuf`] owns exactly one mbuf reference.** Dropping frees it;
//!   a successful [`TxQueue::tx_burst`] hands it to the driver (never freed
//!   twice); [`Mbuf::free_bulk`] frees a whole vector in one call. Its bytes
//!   (`AsRef`/`AsMut<[u8]>`) are computed in Rust from `buf_addr + data_off`
//!   and `data_len`: no C call per packet.
//! * **One owner per queue.** [`RxQueue`] and [`TxQueue`] are `Send` and
//!   burst through `&mut self`; the port and queue exist (checked when the
//!   handle is made). A burst is one C call; the caller's `Vec`s, reserved
//!   once, receive the mbufs, so the fast path never allocates.
//! * **Mempools are never freed** before `rte_eal_cleanup`: rx rings and
//!   in-flight mbufs keep pointing into them.
//! * **Control operations** on [`Port`] are slow-path and belong to one
//!   thread (the main thread); they must not race a stop/close with bursts
//!   on the same port.
//!
//! Errors are typed per operation ([`DpdkError`]) and name the port or
//! device and DPDK's error code.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

mod eal;
mod error;
#[allow(dead_code)] // used by the port rework that follows
mod kernel;
mod mbuf;
mod mempool;
mod port;
mod queue;

pub use eal::{lcore_id, register_thread, unregister_thread, version, Eal};
pub use error::{DpdkError, Errno, PortOp};
pub use mbuf::Mbuf;
pub use mempool::Mempool;
pub use port::{attach, DevInfo, Link, Port, PortConf, PortId, PortStats};
pub use queue::{RxQueue, TxQueue, MAX_BURST};

/// The raw bindings, for the rare call this crate does not wrap.
pub use dpdk_ffi as ffi;

/// `RTE_MBUF_DEFAULT_BUF_SIZE`: a data room (2048 + 128 headroom) that
/// fits a standard frame.
pub const DEFAULT_DATA_ROOM: u16 = dpdk_ffi::RTE_MBUF_DEFAULT_BUF_SIZE as u16;

/// `SOCKET_ID_ANY`: let DPDK pick the NUMA socket.
pub const SOCKET_ID_ANY: i32 = dpdk_ffi::RTE_FFI_SOCKET_ID_ANY;

/// The CPU timestamp counter, read inline (`rdtsc`) on x86-64 so it can be
/// used per burst without a C call.
#[inline(always)]
pub fn tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc exists on every x86-64 CPU and has no preconditions.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: rte_rdtsc (C wrapper) reads the cycle counter; no
        // preconditions.
        unsafe { dpdk_ffi::rte_rdtsc() }
    }
}

/// TSC ticks per second as measured by the EAL; 0 before [`Eal::init`].
pub fn tsc_hz() -> u64 {
    // SAFETY: reads a value the EAL computed at init (0 if not yet).
    unsafe { dpdk_ffi::rte_get_tsc_hz() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_dpdk() {
        let v = version();
        assert!(v.starts_with("DPDK "), "{v}");
        assert!(v.contains(&dpdk_ffi::DPDK_VERSION[..5]), "{v}");
    }

    #[test]
    fn tsc_advances() {
        let a = tsc();
        let b = tsc();
        assert!(b >= a);
    }

    #[test]
    fn no_eal_means_typed_errors_not_crashes() {
        assert!(matches!(
            Mempool::create("x", 63, 0, DEFAULT_DATA_ROOM, SOCKET_ID_ANY),
            Err(DpdkError::EalNotInitialised)
        ));
        assert!(matches!(
            attach("net_null0"),
            Err(DpdkError::EalNotInitialised)
        ));
        assert!(matches!(
            Port::new(PortId(0)).stats(),
            Err(DpdkError::EalNotInitialised)
        ));
        assert_eq!(Port::new(PortId(0)).link(), Link::default());
        assert_eq!(lcore_id(), None);
    }

    #[test]
    fn port_conf_default_is_one_queue_pair() {
        let c = PortConf::default();
        assert_eq!((c.rx_queues, c.tx_queues), (1, 1));
        assert!(c.promiscuous && !c.rss && c.mtu.is_none());
    }

    #[test]
    fn handles_are_send_and_sync_as_documented() {
        fn send<T: Send>() {}
        fn sync<T: Sync>() {}
        send::<Mempool>();
        sync::<Mempool>();
        send::<Mbuf>();
        send::<Port>();
        sync::<Port>();
        send::<RxQueue>();
        send::<TxQueue>();
    }
}
