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
    /// `rte_eth_dev_close`.
    Close,
    /// `rte_dev_remove` (detaching the device after close).
    Remove,
    /// `rte_eth_macaddr_get`.
    MacAddr,
    /// `rte_eth_promiscuous_enable` / `_disable`.
    Promiscuous,
    /// `rte_eth_dev_set_mtu`.
    SetMtu,
    /// `rte_eth_dev_get_mtu`.
    GetMtu,
    /// `rte_eth_stats_get`.
    Stats,
    /// `rte_eth_xstats_get_names` / `rte_eth_xstats_get`.
    Xstats,
    /// `rte_eth_dev_mac_addr_add`.
    MacAddrAdd,
    /// `rte_eth_dev_mac_addr_remove`.
    MacAddrRemove,
    /// `rte_eth_dev_set_mc_addr_list`.
    McAddrList,
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
            PortOp::Close => f.write_str("dev_close"),
            PortOp::Remove => f.write_str("dev_remove"),
            PortOp::MacAddr => f.write_str("macaddr_get"),
            PortOp::Promiscuous => f.write_str("promiscuous"),
            PortOp::SetMtu => f.write_str("set_mtu"),
            PortOp::GetMtu => f.write_str("get_mtu"),
            PortOp::Stats => f.write_str("stats_get"),
            PortOp::Xstats => f.write_str("xstats_get"),
            PortOp::MacAddrAdd => f.write_str("mac_addr_add"),
            PortOp::MacAddrRemove => f.write_str("mac_addr_remove"),
            PortOp::McAddrList => f.write_str("set_mc_addr_list"),
        }
    }
}

/// What was being done with a port's kernel network interface (the one an
/// `net_af_packet` port is bound to) when it failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum KernelOp {
    /// Reading `/sys/class/net/<iface>/mtu`.
    ReadMtu,
    /// Reading the interface flags (`/sys/class/net/<iface>/flags`).
    ReadFlags,
    /// Restoring `IFF_PROMISC` (`SIOCGIFFLAGS` / `SIOCSIFFLAGS`).
    RestorePromiscuous,
}

impl fmt::Display for KernelOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KernelOp::ReadMtu => "reading its MTU",
            KernelOp::ReadFlags => "reading its flags",
            KernelOp::RestorePromiscuous => "restoring its promiscuous flag",
        })
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
    /// A string argument for DPDK contains a NUL byte or is too long.
    #[error("invalid argument {0:?}")]
    InvalidArgument(String),
    /// `rte_thread_register` failed (e.g. no free lcore id).
    #[error("registering thread with the EAL failed: {0}")]
    ThreadRegister(Errno),
    /// `rte_pdump_init` failed (no memory for its statistics, or the
    /// multi-process action could not be registered).
    #[error("starting the packet capture server (rte_pdump_init) failed: {0}")]
    CaptureInit(Errno),
    /// `rte_telemetry_register_cmd` refused a command (a bad name, or no
    /// room for another command).
    #[error("registering telemetry command {command:?} failed: {code}")]
    TelemetryRegister {
        /// The command, e.g. `/moose/ports`.
        command: String,
        /// DPDK's code.
        code: Errno,
    },
    /// `rte_pktmbuf_pool_create` failed.
    #[error("creating mempool {name:?} failed: {code}")]
    MempoolCreate {
        /// The pool's name.
        name: String,
        /// DPDK's code.
        code: Errno,
    },
    /// `rte_dev_probe` returned an error code, or no port appeared for the
    /// device after it.
    #[error("attaching device {devargs:?} failed: {code}")]
    Attach {
        /// The device arguments as given.
        devargs: String,
        /// DPDK's code (the negated return value of `rte_dev_probe`).
        code: Errno,
    },
    /// The driver refused the device without an error code (`rte_dev_probe`
    /// returned -1, which DPDK's drivers use for "failed"; `rte_errno` is
    /// not set on that path, so it is not read). The EAL log says why.
    #[error("attaching device {devargs:?} failed: the driver rejected it (see the EAL log)")]
    ProbeRejected {
        /// The device arguments as given.
        devargs: String,
    },
    /// The kernel network interface named by `iface=` in an `net_af_packet`
    /// device's arguments does not exist (checked before probing, because
    /// DPDK's own error for this is misleading).
    #[error("attaching device {devargs:?} failed: no such network interface {iface:?}")]
    NoSuchInterface {
        /// The device arguments as given.
        devargs: String,
        /// The interface name from `iface=`.
        iface: String,
    },
    /// The device's port is already owned by another [`Port`](crate::Port)
    /// of this process (two owners could burst one queue from two threads).
    #[error("attaching device {devargs:?} failed: port {} is already attached", port.0)]
    AlreadyAttached {
        /// The device arguments as given.
        devargs: String,
        /// The port that owns the device.
        port: PortId,
    },
    /// A control-plane operation on a port failed in DPDK.
    #[error("port {} ({device}): {op} failed: {code}", port.0)]
    Port {
        /// The port number.
        port: PortId,
        /// The device (ethdev) name.
        device: String,
        /// What was being done.
        op: PortOp,
        /// DPDK's code.
        code: Errno,
    },
    /// `start` or `queues` on a port that was never (successfully)
    /// configured.
    #[error("port {device}: not configured")]
    NotConfigured {
        /// The device name.
        device: String,
    },
    /// `queues` on a port that is not started.
    #[error("port {device}: not started")]
    NotStarted {
        /// The device name.
        device: String,
    },
    /// `queues` was called a second time since the port was started: every
    /// queue handle already has an owner.
    #[error("port {device}: queue handles already taken since the last start")]
    QueuesTaken {
        /// The device name.
        device: String,
    },
    /// A query ran while another thread was re-attaching the port; retry.
    #[error("port {device}: re-attach in progress")]
    Reattaching {
        /// The device name.
        device: String,
    },
    /// The port lost its device in a failed re-attach; call
    /// [`Port::reattach`](crate::Port::reattach) again (with no handles).
    #[error("port {device}: detached (a re-attach failed)")]
    Detached {
        /// The device name.
        device: String,
    },
    /// `reattach` was given queue handles that are not exactly all of this
    /// port's outstanding ones.
    #[error("port {device}: re-attach refused: {reason}")]
    ReattachQueues {
        /// The device name.
        device: String,
        /// What was wrong with the handles.
        reason: String,
    },
    /// An operation on the kernel network interface behind a port failed.
    #[error("port {device}: interface {iface:?}: {op} failed: {source}")]
    Kernel {
        /// The device name.
        device: String,
        /// The kernel interface.
        iface: String,
        /// What was being done.
        op: KernelOp,
        /// The OS error.
        source: std::io::Error,
    },
}

impl DpdkError {
    /// DPDK's (or the OS's) error code, if the error came with one.
    pub fn code(&self) -> Option<Errno> {
        match self {
            DpdkError::EalInit(c) | DpdkError::ThreadRegister(c) | DpdkError::CaptureInit(c) => {
                Some(*c)
            }
            DpdkError::MempoolCreate { code, .. }
            | DpdkError::TelemetryRegister { code, .. }
            | DpdkError::Attach { code, .. }
            | DpdkError::Port { code, .. } => Some(*code),
            DpdkError::Kernel { source, .. } => source.raw_os_error().map(Errno),
            DpdkError::EalAlreadyInitialised
            | DpdkError::InvalidArgument(_)
            | DpdkError::ProbeRejected { .. }
            | DpdkError::NoSuchInterface { .. }
            | DpdkError::AlreadyAttached { .. }
            | DpdkError::NotConfigured { .. }
            | DpdkError::NotStarted { .. }
            | DpdkError::QueuesTaken { .. }
            | DpdkError::Reattaching { .. }
            | DpdkError::Detached { .. }
            | DpdkError::ReattachQueues { .. } => None,
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
pub(crate) fn port_err(port: PortId, device: &str, op: PortOp, ret: i32) -> DpdkError {
    DpdkError::Port {
        port,
        device: device.to_owned(),
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
        let e = port_err(
            PortId(3),
            "net_null0",
            PortOp::RxQueueSetup(1),
            -libc::ENOMEM,
        );
        assert_eq!(e.code(), Some(Errno::ENOMEM));
        let s = e.to_string();
        assert!(
            s.starts_with("port 3 (net_null0): rx_queue_setup(queue 1) failed: error 12 ("),
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
    fn missing_interface_error_names_the_interface() {
        let e = DpdkError::NoSuchInterface {
            devargs: "net_af_packet0,iface=x".into(),
            iface: "x".into(),
        };
        assert!(
            e.to_string().ends_with("no such network interface \"x\""),
            "{e}"
        );
        assert_eq!(e.code(), None);
    }

    #[test]
    fn dpdk_specific_codes_have_descriptions() {
        // E_RTE_SECONDARY = __ELASTERROR + 1 = 1001.
        let d = Errno(1001).description();
        assert!(d.to_lowercase().contains("secondary"), "{d}");
    }
}
