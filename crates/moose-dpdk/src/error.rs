//! Typed errors, one variant per operation, each naming what failed (the
//! port, the device arguments, the pool) and DPDK's error code.
//!
//! DPDK reports failure two ways: a negative errno as the return value
//! (ethdev) or `-1`/NULL with the code in the thread-local `rte_errno` (EAL,
//! mempool). [`errno_from_ret`] and [`errno_last`] turn both into an
//! [`Errno`]; they are `#[cold]` so the error path stays out of line.

use std::ffi::CStr;
use std::fmt;

use crate::PortId;

/// A positive DPDK/libc error code (`EINVAL`, `ENOTSUP`, `E_RTE_*`, ...).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// `EINVAL`: bad argument.
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    /// `ENODEV`: no such port/device.
    pub const ENODEV: Errno = Errno(libc::ENODEV);
    /// `ENOTSUP`: the driver does not implement the operation.
    pub const ENOTSUP: Errno = Errno(libc::ENOTSUP);
    /// `ENOMEM`: out of (DPDK) memory.
    pub const ENOMEM: Errno = Errno(libc::ENOMEM);
    /// `EEXIST`: a mempool or device with this name exists.
    pub const EEXIST: Errno = Errno(libc::EEXIST);
    /// `EALREADY`: EAL already initialised.
    pub const EALREADY: Errno = Errno(libc::EALREADY);

    /// DPDK's description of the code (`rte_strerror`, which also knows the
    /// `E_RTE_*` codes). Works before the EAL is initialised.
    pub fn description(self) -> String {
        // SAFETY: rte_strerror accepts any int and returns a pointer to a
        // NUL-terminated string (static, or a thread-local buffer that stays
        // valid until this thread's next call); we copy it out at once.
        unsafe {
            let p = dpdk_ffi::rte_strerror(self.0);
            if p.is_null() {
                return String::from("unknown error");
            }
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error {} ({})", self.0, self.description())
    }
}

/// The control-plane operation on a port that failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum PortOp {
    /// `rte_eth_dev_info_get`.
    Info,
    /// `rte_eth_dev_configure`.
    Configure,
    /// `rte_eth_dev_adjust_nb_rx_tx_desc`.
    AdjustDescriptors,
    /// `rte_eth_rx_queue_setup` of this queue.
    RxQueueSetup(u16),
    /// `rte_eth_tx_queue_setup` of this queue.
    TxQueueSetup(u16),
    /// `rte_eth_dev_start`.
    Start,
    /// `rte_eth_dev_stop`.
    Stop,
    /// `rte_eth_macaddr_get`.
    MacAddr,
    /// `rte_eth_promiscuous_enable` / `_disable`.
    Promiscuous,
    /// `rte_eth_dev_set_mtu`.
    SetMtu,
    /// `rte_eth_stats_get`.
    Stats,
    /// `rte_eth_xstats_get_names` / `rte_eth_xstats_get`.
    Xstats,
}

impl fmt::Display for PortOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortOp::Info => f.write_str("dev_info_get"),
            PortOp::Configure => f.write_str("dev_configure"),
            PortOp::AdjustDescriptors => f.write_str("adjust_nb_rx_tx_desc"),
            PortOp::RxQueueSetup(q) => write!(f, "rx_queue_setup(queue {q})"),
            PortOp::TxQueueSetup(q) => write!(f, "tx_queue_setup(queue {q})"),
            PortOp::Start => f.write_str("dev_start"),
            PortOp::Stop => f.write_str("dev_stop"),
            PortOp::MacAddr => f.write_str("macaddr_get"),
            PortOp::Promiscuous => f.write_str("promiscuous"),
            PortOp::SetMtu => f.write_str("set_mtu"),
            PortOp::Stats => f.write_str("stats_get"),
            PortOp::Xstats => f.write_str("xstats_get"),
        }
    }
}

/// Every way this crate's operations fail.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// `rte_eal_init` failed (bad arguments, no memory, not root, ...).
    #[error("EAL init failed: {0}")]
    EalInit(Errno),
    /// `Eal::init` was called a second time in this process.
    #[error("EAL already initialised in this process, or a previous init failed (DPDK allows one init per process)")]
    EalAlreadyInitialised,
    /// An operation that needs the EAL ran before `Eal::init` or after its drop.
    #[error("EAL not initialised")]
    EalNotInitialised,
    /// A string argument for DPDK contains a NUL byte or is too long.
    #[error("invalid argument {0:?}")]
    InvalidArgument(String),
    /// `rte_thread_register` failed (e.g. no free lcore id).
    #[error("registering thread with the EAL failed: {0}")]
    ThreadRegister(Errno),
    /// `rte_pktmbuf_pool_create` failed.
    #[error("creating mempool {name:?} failed: {code}")]
    MempoolCreate {
        /// The pool's name.
        name: String,
        /// DPDK's code.
        code: Errno,
    },
    /// `rte_dev_probe` or the port lookup after it failed.
    #[error("attaching device {devargs:?} failed: {code}")]
    Attach {
        /// The device arguments as given.
        devargs: String,
        /// DPDK's code.
        code: Errno,
    },
    /// A control-plane operation on a port failed.
    #[error("port {}: {op} failed: {code}", port.0)]
    Port {
        /// The port.
        port: PortId,
        /// What was being done.
        op: PortOp,
        /// DPDK's code.
        code: Errno,
    },
}

impl DpdkError {
    /// DPDK's error code, if the error came from DPDK.
    pub fn code(&self) -> Option<Errno> {
        match self {
            DpdkError::EalInit(c) | DpdkError::ThreadRegister(c) => Some(*c),
            DpdkError::MempoolCreate { code, .. }
            | DpdkError::Attach { code, .. }
            | DpdkError::Port { code, .. } => Some(*code),
            DpdkError::EalAlreadyInitialised
            | DpdkError::EalNotInitialised
            | DpdkError::InvalidArgument(_) => None,
        }
    }
}

/// Maps an ethdev-style negative return value to its code. `-1` means "see
/// `rte_errno`" in the EAL convention, so it reads that instead.
#[cold]
#[inline(never)]
pub(crate) fn errno_from_ret(ret: i32) -> Errno {
    match ret {
        -1 => errno_last(),
        r if r < 0 => Errno(-r),
        // A positive value where failure was expected: keep it visible.
        r => Errno(r),
    }
}

/// The calling thread's `rte_errno`.
#[cold]
#[inline(never)]
pub(crate) fn errno_last() -> Errno {
    // SAFETY: reads the calling thread's rte_errno through a C wrapper;
    // no preconditions.
    let e = unsafe { dpdk_ffi::rte_ffi_errno() };
    if e == 0 {
        // A failure without a recorded code (-1 from an API that does not
        // set rte_errno): report EPERM, as -1 would be read by libc.
        Errno(libc::EPERM)
    } else {
        Errno(e)
    }
}

/// A port operation's error from its return value.
#[cold]
#[inline(never)]
pub(crate) fn port_err(port: PortId, op: PortOp, ret: i32) -> DpdkError {
    DpdkError::Port {
        port,
        op,
        code: errno_from_ret(ret),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_return_maps_to_positive_errno() {
        assert_eq!(errno_from_ret(-libc::EINVAL), Errno::EINVAL);
        assert_eq!(errno_from_ret(-libc::ENOTSUP), Errno::ENOTSUP);
        assert_eq!(errno_from_ret(7), Errno(7));
    }

    #[test]
    fn minus_one_reads_rte_errno() {
        // No DPDK call has failed on this thread: rte_errno is 0.
        assert_eq!(errno_from_ret(-1), Errno(libc::EPERM));
    }

    #[test]
    fn port_error_names_port_op_and_code() {
        let e = port_err(PortId(3), PortOp::RxQueueSetup(1), -libc::ENOMEM);
        assert_eq!(e.code(), Some(Errno::ENOMEM));
        let s = e.to_string();
        assert!(
            s.starts_with("port 3: rx_queue_setup(queue 1) failed: error 12 ("),
            "{s}"
        );
        assert!(s.contains("memory"), "{s}");
    }

    #[test]
    fn attach_error_names_devargs() {
        let e = DpdkError::Attach {
            devargs: "net_bogus0,x=1".into(),
            code: Errno::ENODEV,
        };
        assert!(e.to_string().contains("\"net_bogus0,x=1\""));
    }

    #[test]
    fn dpdk_specific_codes_have_descriptions() {
        // E_RTE_SECONDARY = __ELASTERROR + 1 = 1001.
        let d = Errno(1001).description();
        assert!(d.to_lowercase().contains("secondary"), "{d}");
    }
}
