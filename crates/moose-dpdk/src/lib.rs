//! The one safe layer over DPDK for moose: it owns the EAL, ports, queues,
//! mempools and mbufs, and is the only crate with `unsafe` DPDK calls
//! (raw bindings are in `dpdk-ffi`; every other crate forbids `unsafe`).
//!
//! Invariants the types keep:
//!
//! * **Everything borrows the EAL.** [`Eal::init`] succeeds once per
//!   process and returns a token; pools ([`Eal::mempool`]), ports
//!   ([`Eal::attach`]) and thread registrations ([`Eal::register_thread`])
//!   are made from `&Eal` and carry its lifetime, as do the [`Mbuf`]s and
//!   queue handles made from them. Dropping the `Eal` runs
//!   `rte_eal_cleanup`, which frees all DPDK memory; the borrow checker
//!   makes it wait until all of them are gone.
//! * **An [`Mbuf`] owns one reference to an mbuf.** Dropping frees it;
//!   a successful [`TxQueue::tx_burst`] hands it to the driver (never freed
//!   twice); [`Mbuf::free_bulk`] frees a whole vector in one call.
//!   [`Mbuf::share`] makes more references for floods; a shared mbuf cannot
//!   be mutated (the mutators check the reference count and panic). Its
//!   bytes (`AsRef`/`AsMut<[u8]>`) are computed in Rust from
//!   `buf_addr + data_off` and `data_len`: no C call per packet.
//! * **One owner per port, one owner per queue.** A [`Port`] is the only
//!   owner of its DPDK port in the process. [`Port::queues`] hands out
//!   every [`RxQueue`] and [`TxQueue`] exactly once per start; they are
//!   `Send` (not `Clone`) and burst through `&mut self`, and they borrow
//!   the port, so `stop`/`configure` (`&mut self`) and `close` (`self`)
//!   cannot run while one exists. [`Port::reattach`] takes them all back by
//!   value. A burst is one C call; the caller's `Vec`s, reserved once,
//!   receive the mbufs, so the fast path never allocates.
//! * **Queries are thread-safe.** `Port: Sync`; `info`, `stats`, `xstats`,
//!   `link`, `mac_addr`, `mtu` take `&self` and may run on a management
//!   thread while workers burst.
//! * **Mempools are never freed** before `rte_eal_cleanup`: rx rings and
//!   in-flight mbufs keep pointing into them.
//! * **No panics on set-up paths.** Errors are typed per operation
//!   ([`DpdkError`]) and name the port or device and DPDK's error code.
//!   The only panics are documented fast-path ones: mutating a shared
//!   mbuf, or sharing one past a reference count of `u16::MAX`.
//!
//! * **DPDK's tools work against the process.** [`Eal::enable_capture`]
//!   serves `dpdk-dumpcap` (the pdump server, stopped only when the `Eal`
//!   is dropped, after every queue handle); [`Eal::telemetry_command`]
//!   adds commands to the telemetry socket that `dpdk-telemetry.py`
//!   queries, answered by Rust closures on DPDK's telemetry threads
//!   through one registry (DPDK 22.11's callbacks carry no user data).
//!
//! moose never enables `RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE` (it is
//! incompatible with reference counts above 1, which [`Mbuf::share`]
//! makes).
//!
//! # What the types rule out
//!
//! An mbuf cannot outlive the EAL:
//!
//! ```compile_fail,E0505
//! # fn f(args: &[String]) -> Result<(), moose_dpdk::DpdkError> {
//! let eal = moose_dpdk::Eal::init(args)?;
//! let pool = eal.mempool("p", 63, 0, moose_dpdk::DEFAULT_DATA_ROOM, -1)?;
//! let m = pool.alloc();
//! drop(pool);
//! drop(eal); // error: `eal` is still borrowed by `m`
//! drop(m);
//! # Ok(()) }
//! ```
//!
//! A port cannot be stopped while one of its queue handles is alive:
//!
//! ```compile_fail,E0502
//! # fn f(eal: &moose_dpdk::Eal, pool: &moose_dpdk::Mempool) -> Result<(), moose_dpdk::DpdkError> {
//! let mut port = eal.attach("net_null0")?;
//! port.configure(&moose_dpdk::PortConf::default(), pool)?;
//! port.start()?;
//! let mut q = port.queues()?;
//! port.stop()?; // error: `port` is borrowed by `q`
//! q.rx[0].rx_burst(&mut Vec::new(), 32);
//! # Ok(()) }
//! ```
//!
//! Queue handles cannot be cloned (two threads bursting one queue):
//!
//! ```compile_fail,E0277
//! fn clonable<T: Clone>() {}
//! clonable::<moose_dpdk::RxQueue<'static>>();
//! ```
//!
//! ```compile_fail,E0277
//! fn clonable<T: Clone>() {}
//! clonable::<moose_dpdk::TxQueue<'static>>();
//! ```
//!
//! A thread registration is released on the thread that made it:
//!
//! ```compile_fail,E0277
//! fn send<T: Send>() {}
//! send::<moose_dpdk::ThreadRegistration<'static>>();
//! ```
//!
//! The same code without the offending lines compiles:
//!
//! ```no_run
//! # fn f(args: &[String]) -> Result<(), moose_dpdk::DpdkError> {
//! let eal = moose_dpdk::Eal::init(args)?;
//! let pool = eal.mempool("p", 63, 0, moose_dpdk::DEFAULT_DATA_ROOM, -1)?;
//! let mut port = eal.attach("net_null0")?;
//! port.configure(&moose_dpdk::PortConf::default(), &pool)?;
//! port.start()?;
//! let mut q = port.queues()?;
//! let mut v = Vec::with_capacity(32);
//! q.rx[0].rx_burst(&mut v, 32);
//! v.extend(pool.alloc()); // an Mbuf<'eal> coerces to the queue's Mbuf<'_>
//! q.tx[0].tx_burst(&mut v);
//! moose_dpdk::Mbuf::free_bulk(&mut v);
//! drop(v); // it holds Mbuf<'_> of the port's borrow, as do the queues
//! drop(q);
//! port.stop()?;
//! port.close()?;
//! drop(pool);
//! drop(eal);
//! # Ok(()) }
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

mod capture;
mod eal;
mod error;
mod kernel;
mod mbuf;
mod mempool;
mod port;
mod queue;
pub mod telemetry;

pub use eal::{lcore_id, version, Eal, ThreadRegistration};
pub use error::{DpdkError, Errno, KernelOp, PortOp};
pub use mbuf::{Mbuf, Shares};
pub use mempool::Mempool;
pub use port::{DevInfo, Link, Port, PortConf, PortId, PortStats};
pub use queue::{Queues, RxQueue, TxQueue, MAX_BURST};
pub use telemetry::{TelDict, TelError, TelValue};

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
    fn lcore_id_is_none_without_eal() {
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
        send::<Eal>();
        sync::<Eal>();
        send::<Mempool>();
        sync::<Mempool>();
        send::<Mbuf>();
        send::<Shares>();
        send::<Port>();
        sync::<Port>();
        send::<RxQueue>();
        send::<TxQueue>();
        send::<Queues>();
    }

    /// An Mbuf from the pool (`'eal`) is accepted where a queue's shorter
    /// lifetime is expected: Mbuf, the queues and Queues are covariant.
    #[test]
    fn lifetimes_shorten_by_variance() {
        fn mbuf<'a, 'eal: 'a>(m: Mbuf<'eal>) -> Mbuf<'a> {
            m
        }
        fn vec<'a, 'eal: 'a>(v: Vec<Mbuf<'eal>>) -> Vec<Mbuf<'a>> {
            v
        }
        fn queues<'a, 'b: 'a>(q: Queues<'b>) -> Queues<'a> {
            q
        }
        fn pool<'a, 'eal: 'a>(p: Mempool<'eal>) -> Mempool<'a> {
            p
        }
        let _ = (mbuf, vec, queues, pool);
    }
}
