//! Ethernet ports: attaching devices, the control-plane operations
//! (configure, start, stop, close, re-attach) and the queries (info, stats,
//! link, MTU). All of it runs on the slow path; the per-burst path is in
//! [`crate::queue`].
//!
//! # Ownership
//!
//! A [`Port`] is the only owner of its DPDK port in this process: attaching
//! a device that another `Port` owns fails. The operations that would pull
//! the queues from under a worker take `&mut self` (`configure`, `start`,
//! `stop`) or `self` (`close`), and the queue handles borrow the port, so
//! the borrow checker proves no handle is alive when they run. Queries take
//! `&self` and are safe from another thread while workers burst
//! (`Port: Sync`). [`Port::reattach`] is the one `&self` operation that
//! replaces the device: it takes every queue handle back by value, which
//! proves no thread is bursting, and an internal `RwLock` keeps queries off
//! the port meanwhile (they return [`DpdkError::Reattaching`] instead of
//! waiting).

use std::ffi::{c_char, c_int, CStr, CString};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, TryLockError};

use dpdk_ffi as ffi;

use crate::error::{port_err, DpdkError, Errno, KernelOp, PortOp};
use crate::kernel::{self, KernelIface};
use crate::queue::{Queues, RxQueue, TxQueue};
use crate::{Eal, Mempool};

/// A DPDK ethdev port number.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortId(pub u16);

impl std::fmt::Display for PortId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a port's driver can do (from `rte_eth_dev_info_get`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevInfo {
    /// Driver name, e.g. `"net_null"`, `"net_af_packet"`.
    pub driver: String,
    /// Maximum rx queues.
    pub max_rx_queues: u16,
    /// Maximum tx queues.
    pub max_tx_queues: u16,
    /// RSS hash functions supported (`RTE_ETH_RSS_*` bits); 0 = no RSS.
    pub rss_offloads: u64,
    /// Maximum unicast MAC addresses.
    pub max_mac_addrs: u32,
    /// The ethdev name, e.g. `"net_null0"`, `"0000:01:00.0"`.
    pub name: String,
    /// Smallest MTU the device accepts.
    pub min_mtu: u16,
    /// Largest MTU the device accepts.
    pub max_mtu: u16,
    /// NUMA socket of the device (-1 if unknown).
    pub socket: i32,
}

/// How to set a port up; see [`Port::configure`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConf {
    /// Number of rx queues (one per worker reading the port).
    pub rx_queues: u16,
    /// Number of tx queues (one per worker writing the port).
    pub tx_queues: u16,
    /// Descriptors per rx queue (adjusted to the driver's limits).
    pub rx_desc: u16,
    /// Descriptors per tx queue (adjusted to the driver's limits).
    pub tx_desc: u16,
    /// Spread received traffic over the rx queues by IP/UDP/TCP hash.
    pub rss: bool,
    /// Receive frames for every destination MAC.
    pub promiscuous: bool,
    /// MTU to set; `None` keeps the driver's default (1500).
    pub mtu: Option<u16>,
}

impl Default for PortConf {
    /// One rx and one tx queue of 1024 descriptors, promiscuous, no RSS.
    fn default() -> Self {
        PortConf {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            rss: false,
            promiscuous: true,
            mtu: None,
        }
    }
}

/// Link state; see [`Port::link`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Link {
    /// Carrier up.
    pub up: bool,
    /// Speed in Mbit/s (0 if unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// Port counters, cumulative since attach or [`Port::reset_stats`] (also
/// across [`Port::reattach`], which carries the old device's counts over).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets lost on receive for lack of room: the NIC's count of frames
    /// that found no free rx descriptor, **plus** [`kernel_drops`]
    /// (`PortStats::kernel_drops`), so that this one counter covers every
    /// frame that arrived and was not received.
    ///
    /// [`kernel_drops`]: PortStats::kernel_drops
    pub imissed: u64,
    /// Receive errors.
    pub ierrors: u64,
    /// Transmit errors.
    pub oerrors: u64,
    /// Receive failures for lack of mbufs.
    pub rx_nombuf: u64,
    /// `net_af_packet` only (0 elsewhere): frames the kernel dropped because
    /// the port's packet-socket rx ring was full (`tp_drops` of
    /// `PACKET_STATISTICS`, summed over the port's sockets). DPDK 22.11's
    /// driver does not read these, so they appear in no DPDK counter.
    /// Included in `imissed`.
    pub kernel_drops: u64,
}

impl PortStats {
    fn plus(self, o: PortStats) -> PortStats {
        PortStats {
            ipackets: self.ipackets + o.ipackets,
            opackets: self.opackets + o.opackets,
            ibytes: self.ibytes + o.ibytes,
            obytes: self.obytes + o.obytes,
            imissed: self.imissed + o.imissed,
            ierrors: self.ierrors + o.ierrors,
            oerrors: self.oerrors + o.oerrors,
            rx_nombuf: self.rx_nombuf + o.rx_nombuf,
            kernel_drops: self.kernel_drops + o.kernel_drops,
        }
    }
}

/// RSS over IPv4/IPv6 addresses and UDP/TCP ports, before clamping to the
/// device's capabilities.
const RSS_HF: u64 =
    (ffi::RTE_FFI_ETH_RSS_IP | ffi::RTE_FFI_ETH_RSS_UDP | ffi::RTE_FFI_ETH_RSS_TCP) as u64;

/// The DPDK ports and af_packet sockets that `Port` values of this process
/// own. Its lock also serialises hot-plug (probe, close, remove) between
/// ports, so that the sockets a probe creates can be told apart.
struct Registry {
    ports: Vec<u16>,
    sockets: Vec<c_int>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    ports: Vec::new(),
    sockets: Vec::new(),
});

/// `Port::up_oerrors` before the link has been seen up.
const NEVER_UP: u64 = u64::MAX;

/// Serial numbers of `Port` values, so reattach can tell its handles apart.
static NEXT_SERIAL: AtomicU32 = AtomicU32::new(1);

/// The registry; no code panics while holding it, but a poisoned lock is
/// still consistent (every update is a single push or retain).
fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The mutable state of a port, behind its `RwLock`.
struct Inner<'eal> {
    /// The DPDK port exists (false after close, or after a reattach that
    /// failed before the new probe succeeded).
    attached: bool,
    /// The configuration and pool of the last successful `configure`.
    configured: Option<(PortConf, Mempool<'eal>)>,
    started: bool,
    /// af_packet: this port's packet sockets (owned by the PMD; open while
    /// `attached`).
    sockets: Vec<c_int>,
    /// af_packet: the kernel interface's `IFF_PROMISC` before this process
    /// touched it, with the interface index it belongs to.
    saved_promisc: Option<(i32, bool)>,
}

/// One attached DPDK port, owned (see the module doc). Made by
/// [`Eal::attach`], which takes DPDK's device string:
/// `"net_af_packet0,iface=veth0"`, `"net_pcap0,rx_pcap=a.pcap"`,
/// `"net_null0"`, `"0000:01:00.0"`. If a port named like the text before
/// the first `,` already exists (created by `--vdev`/`-a` EAL arguments) it
/// is taken as is; otherwise the device is hot-plugged (`rte_dev_probe`).
///
/// For `net_af_packet` devices the port also knows the kernel interface
/// named by `iface=` ([`kernel_iface`](Port::kernel_iface)): attach checks
/// it exists, and [`link`](Port::link), [`mtu`](Port::mtu),
/// [`stats`](Port::stats) and [`close`](Port::close) consult or restore it.
///
/// Dropping a port that was not closed closes it (errors ignored).
pub struct Port<'eal> {
    /// The DPDK port number; changes only in reattach (under the write
    /// lock), read by queries under the read lock.
    id: AtomicU16,
    serial: u32,
    devargs: String,
    /// The ethdev name (devargs up to the first `,`).
    name: String,
    driver: String,
    kernel: Option<KernelIface>,
    inner: RwLock<Inner<'eal>>,
    /// `queues()` was called since the last start.
    queues_taken: AtomicBool,
    /// Promiscuous mode and MTU (0 = driver default) to re-apply after a
    /// reattach: from configure, updated by set_promiscuous/set_mtu.
    want_promisc: AtomicBool,
    want_mtu: AtomicU16,
    /// af_packet: the interface index the sockets are bound to; -1 while
    /// detached or unknown.
    bound_ifindex: AtomicI32,
    /// af_packet: kernel ring drops read so far (the kernel resets its
    /// counters on every read, so they are accumulated here).
    kernel_drops: AtomicU64,
    /// DPDK counters of the devices this port had before a reattach.
    base: Mutex<PortStats>,
    /// Serialises the `&self` operations that change the device
    /// (set_promiscuous, set_mtu, reset_stats): ethdev's control functions
    /// are not meant to race each other; plain queries may run alongside.
    control: Mutex<()>,
    /// af_packet link cache: speed/duplex are read when the link comes up.
    link_was_up: AtomicBool,
    /// af_packet: the device's transmit errors (`oerrors`, carried over
    /// reattach) when the link last came up; [`NEVER_UP`] before that.
    up_oerrors: AtomicU64,
    /// af_packet: the link came back up after transmits failed while it
    /// was down; the PMD's tx ring may hold those frames (see
    /// [`needs_reattach`](Port::needs_reattach)).
    stale_tx: AtomicBool,
    link_speed: AtomicU32,
    link_full_duplex: AtomicBool,
    _eal: PhantomData<&'eal Eal>,
}

impl std::fmt::Debug for Port<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port")
            .field("id", &self.id())
            .field("name", &self.name)
            .field("driver", &self.driver)
            .field("kernel_iface", &self.kernel_iface())
            .finish()
    }
}

/// Probes `devargs` (`rte_dev_probe`), mapping its return value. The EAL
/// path returns the driver's value as is, and drivers use -1 for "failed"
/// without setting `rte_errno`, so -1 is not read as an errno (nor is the
/// stale `rte_errno` consulted).
fn probe(devargs: &str, cargs: &CStr) -> Result<(), DpdkError> {
    // SAFETY: the EAL is up (callers hold an &Eal, directly or through a
    // Port); cargs is a valid C string for the call.
    let ret = unsafe { ffi::rte_dev_probe(cargs.as_ptr()) };
    match ret {
        0 => Ok(()),
        -1 => Err(DpdkError::ProbeRejected {
            devargs: devargs.to_owned(),
        }),
        r => Err(DpdkError::Attach {
            devargs: devargs.to_owned(),
            code: Errno(r.abs()),
        }),
    }
}

fn port_by_name(name: &CStr) -> Option<u16> {
    let mut id = 0u16;
    // SAFETY: name is a valid C string; id is a valid out-pointer.
    let ret = unsafe { ffi::rte_eth_dev_get_port_by_name(name.as_ptr(), &mut id) };
    (ret == 0).then_some(id)
}

fn raw_info(id: u16, device: &str) -> Result<ffi::rte_eth_dev_info, DpdkError> {
    let mut info = MaybeUninit::<ffi::rte_eth_dev_info>::zeroed();
    // SAFETY: info is a valid out-pointer; DPDK checks the port number and
    // returns -ENODEV for an invalid one.
    let ret = unsafe { ffi::rte_eth_dev_info_get(id, info.as_mut_ptr()) };
    check(id, device, PortOp::Info, ret)?;
    // SAFETY: zero-initialised POD, filled by DPDK on success.
    Ok(unsafe { info.assume_init() })
}

fn check(id: u16, device: &str, op: PortOp, ret: i32) -> Result<(), DpdkError> {
    if ret < 0 {
        Err(port_err(PortId(id), device, op, ret))
    } else {
        Ok(())
    }
}

/// The packet sockets a port on `iface` owns: those bound to its index
/// that no other port claimed and (after a fresh probe) that did not exist
/// before it.
fn find_sockets(reg: &Registry, ifindex: Option<i32>, before: Option<&[c_int]>) -> Vec<c_int> {
    let Some(ifindex) = ifindex else {
        return Vec::new();
    };
    kernel::packet_sockets()
        .unwrap_or_default()
        .into_iter()
        .filter(|&(fd, idx)| {
            idx == ifindex && !reg.sockets.contains(&fd) && before.is_none_or(|b| !b.contains(&fd))
        })
        .map(|(fd, _)| fd)
        .collect()
}

impl<'eal> Port<'eal> {
    /// See [`Eal::attach`] and the type's doc.
    pub(crate) fn attach(_eal: &'eal Eal, devargs: &str) -> Result<Port<'eal>, DpdkError> {
        let name = devargs.split(',').next().unwrap_or("").trim();
        if name.is_empty() {
            return Err(DpdkError::Attach {
                devargs: devargs.to_owned(),
                code: Errno::EINVAL,
            });
        }
        let cname =
            CString::new(name).map_err(|_| DpdkError::InvalidArgument(devargs.to_owned()))?;
        let cargs =
            CString::new(devargs).map_err(|_| DpdkError::InvalidArgument(devargs.to_owned()))?;
        let kernel = if kernel::is_af_packet_name(name) {
            match kernel::devargs_value(devargs, "iface") {
                Some(iface) => Some(checked_iface(devargs, iface)?),
                // No iface=: the driver will refuse it; let it say so.
                None => None,
            }
        } else {
            None
        };
        // Recorded before the probe, so before anything of ours touched it.
        let saved_promisc = kernel
            .as_ref()
            .and_then(|k| Some((k.ifindex()?, k.promiscuous().ok()?)));

        let mut reg = registry();
        let (id, fresh_sockets) = match port_by_name(&cname) {
            Some(id) if reg.ports.contains(&id) => {
                return Err(DpdkError::AlreadyAttached {
                    devargs: devargs.to_owned(),
                    port: PortId(id),
                })
            }
            Some(id) => (id, None),
            None => {
                let before = kernel.as_ref().map(|_| {
                    kernel::packet_sockets()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(fd, _)| fd)
                        .collect::<Vec<_>>()
                });
                probe(devargs, &cargs)?;
                let id = port_by_name(&cname).ok_or_else(|| DpdkError::Attach {
                    devargs: devargs.to_owned(),
                    code: Errno::ENODEV,
                })?;
                (id, before)
            }
        };
        let info = raw_info(id, name)?;
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: a non-NULL driver_name is the driver's static C string.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        // The devargs prefix suggested af_packet; the driver confirms it.
        let kernel = kernel.filter(|_| driver == "net_af_packet");
        let ifindex = kernel.as_ref().and_then(KernelIface::ifindex);
        let sockets = find_sockets(&reg, ifindex, fresh_sockets.as_deref());
        reg.ports.push(id);
        reg.sockets.extend_from_slice(&sockets);
        drop(reg);

        Ok(Port {
            id: AtomicU16::new(id),
            serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
            devargs: devargs.to_owned(),
            name: name.to_owned(),
            driver,
            inner: RwLock::new(Inner {
                attached: true,
                configured: None,
                started: false,
                sockets,
                saved_promisc: saved_promisc.filter(|_| kernel.is_some()),
            }),
            kernel,
            queues_taken: AtomicBool::new(false),
            want_promisc: AtomicBool::new(false),
            want_mtu: AtomicU16::new(0),
            bound_ifindex: AtomicI32::new(ifindex.unwrap_or(-1)),
            kernel_drops: AtomicU64::new(0),
            base: Mutex::new(PortStats::default()),
            control: Mutex::new(()),
            link_was_up: AtomicBool::new(false),
            up_oerrors: AtomicU64::new(NEVER_UP),
            stale_tx: AtomicBool::new(false),
            link_speed: AtomicU32::new(0),
            link_full_duplex: AtomicBool::new(false),
            _eal: PhantomData,
        })
    }

    /// The DPDK port number (it changes when [`reattach`](Port::reattach)
    /// probes the device again).
    pub fn id(&self) -> PortId {
        PortId(self.id.load(Ordering::Acquire))
    }

    /// The device (ethdev) name, e.g. `"net_af_packet0"`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device arguments the port was attached with.
    pub fn devargs(&self) -> &str {
        &self.devargs
    }

    /// The driver name, e.g. `"net_af_packet"`.
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// The kernel network interface behind a `net_af_packet` port (its
    /// `iface=`), `None` for other drivers.
    pub fn kernel_iface(&self) -> Option<&str> {
        self.kernel.as_ref().map(KernelIface::name)
    }

    /// The read side of the state lock, without waiting: a reattach holds
    /// the write side for as long as a probe takes.
    fn read(&self) -> Result<RwLockReadGuard<'_, Inner<'eal>>, DpdkError> {
        match self.inner.try_read() {
            Ok(g) => Ok(g),
            // No code panics while holding the lock; the state it guards is
            // valid after any early return.
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
            Err(TryLockError::WouldBlock) => Err(DpdkError::Reattaching {
                device: self.name.clone(),
            }),
        }
    }

    /// The read guard and port number of an attached port.
    fn live(&self) -> Result<(RwLockReadGuard<'_, Inner<'eal>>, u16), DpdkError> {
        let g = self.read()?;
        if !g.attached {
            return Err(DpdkError::Detached {
                device: self.name.clone(),
            });
        }
        let id = self.id.load(Ordering::Acquire);
        Ok((g, id))
    }

    fn inner_mut(&mut self) -> &mut Inner<'eal> {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// Driver capabilities and names.
    pub fn info(&self) -> Result<DevInfo, DpdkError> {
        let (_g, id) = self.live()?;
        let info = raw_info(id, &self.name)?;
        let mut name = [0 as c_char; ffi::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: name is a buffer of RTE_ETH_NAME_MAX_LEN bytes, the size
        // the API requires; the port was validated by raw_info.
        let ret = unsafe { ffi::rte_eth_dev_get_name_by_port(id, name.as_mut_ptr()) };
        check(id, &self.name, PortOp::Info, ret)?;
        // SAFETY: on success DPDK wrote a NUL-terminated name into the buffer.
        let name = unsafe { CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        Ok(DevInfo {
            driver: self.driver.clone(),
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            rss_offloads: info.flow_type_rss_offloads,
            max_mac_addrs: info.max_mac_addrs,
            name,
            min_mtu: info.min_mtu,
            max_mtu: info.max_mtu,
            // SAFETY: plain query on a valid port.
            socket: unsafe { ffi::rte_eth_dev_socket_id(id) },
        })
    }

    /// NUMA socket of the port, or -1 (any) if unknown or the port is
    /// being re-attached.
    pub fn socket(&self) -> i32 {
        match self.live() {
            // SAFETY: plain query; returns -1 (with rte_errno) for a bad port.
            Ok((_g, id)) => unsafe { ffi::rte_eth_dev_socket_id(id) },
            Err(_) => -1,
        }
    }

    /// Configures the (stopped) port: `rte_eth_dev_configure` with RSS on
    /// IP/UDP/TCP if `conf.rss` and more than one rx queue (limited to the
    /// hash functions the device supports; off if none), the MTU, then every
    /// rx queue (receiving into `pool`) and tx queue on the port's NUMA
    /// socket, then promiscuous mode. A driver without promiscuous support
    /// (`ENOTSUP`) is not an error here. No tx offloads are enabled (in
    /// particular not `MBUF_FAST_FREE`, which shared mbufs forbid).
    ///
    /// The conf and pool are remembered for [`reattach`](Port::reattach)
    /// and [`queues`](Port::queues). `pool` must hold at least
    /// `rx_queues * rx_desc` mbufs plus those in flight.
    pub fn configure(&mut self, conf: &PortConf, pool: &Mempool<'eal>) -> Result<(), DpdkError> {
        let id = self.id.load(Ordering::Acquire);
        let inner = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        if !inner.attached {
            return Err(DpdkError::Detached {
                device: self.name.clone(),
            });
        }
        match configure_raw(id, &self.name, conf, pool) {
            Ok(()) => {
                inner.configured = Some((conf.clone(), pool.clone()));
                self.want_promisc.store(conf.promiscuous, Ordering::Relaxed);
                self.want_mtu
                    .store(conf.mtu.unwrap_or(0), Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                // A started port refuses (EBUSY) and keeps its old setup;
                // otherwise the queues are in an unknown state.
                if !inner.started {
                    inner.configured = None;
                }
                Err(e)
            }
        }
    }

    /// Starts the configured port (`rte_eth_dev_start`); then
    /// [`queues`](Port::queues) hands out its queue handles.
    pub fn start(&mut self) -> Result<(), DpdkError> {
        let id = self.id.load(Ordering::Acquire);
        let name = self.name.clone();
        let inner = self.inner_mut();
        if !inner.attached {
            return Err(DpdkError::Detached { device: name });
        }
        if inner.configured.is_none() {
            return Err(DpdkError::NotConfigured { device: name });
        }
        if inner.started {
            return Ok(());
        }
        // SAFETY: valid, configured port (checked above); no queue handle
        // exists (&mut self).
        let ret = unsafe { ffi::rte_eth_dev_start(id) };
        check(id, &name, PortOp::Start, ret)?;
        inner.started = true;
        let rx = inner.configured.as_ref().map_or(0, |(c, _)| c.rx_queues);
        let sockets = inner.sockets.clone();
        if self.kernel.is_some() {
            self.discard_strays(id, rx, &sockets);
        }
        self.queues_taken.store(false, Ordering::Release);
        Ok(())
    }

    /// DPDK 22.11's af_packet driver opens each queue's socket for every
    /// protocol on every interface (`socket(AF_PACKET, SOCK_RAW,
    /// ETH_P_ALL)`) and sets up its rx ring before it binds the socket to
    /// its interface: frames that other interfaces of the network namespace
    /// carry in between land in the ring, and would be received as this
    /// port's (a bridge learns their sources, a MOOSE edge gives them host
    /// addresses). Right after the start, before any queue handle exists,
    /// this empties the rx rings (frames of the port's own interface that
    /// came before the start go too) without counting what it discards:
    /// the device's counters so far are carried into `base` and the
    /// device's reset, and the kernel's drop counts so far are read and
    /// forgotten. Bounded (under endless traffic it stops after 64 Ki
    /// frames a queue). Returns how many frames it discarded.
    fn discard_strays(&self, id: u16, rx_queues: u16, sockets: &[c_int]) -> u64 {
        let before = dpdk_stats(id, &self.name).unwrap_or_default();
        let mut buf = [std::ptr::null_mut::<ffi::rte_mbuf>(); crate::queue::MAX_BURST];
        let mut total = 0u64;
        for q in 0..rx_queues {
            let mut n = 0usize;
            while n < 1 << 16 {
                // SAFETY: started port with queue q configured; no queue
                // handle exists (start holds &mut self, reattach makes them
                // after this), so nothing else bursts it. buf has room for
                // MAX_BURST pointers.
                let nb =
                    unsafe { ffi::rte_eth_rx_burst(id, q, buf.as_mut_ptr(), buf.len() as u16) };
                if nb == 0 {
                    break;
                }
                // SAFETY: DPDK handed us nb valid mbufs, each with one
                // reference we now drop.
                unsafe { ffi::rte_pktmbuf_free_bulk(buf.as_mut_ptr(), u32::from(nb)) };
                n += usize::from(nb);
            }
            total += n as u64;
        }
        if total > 0 {
            // SAFETY: attached, started port; no queue handle exists.
            unsafe { ffi::rte_eth_stats_reset(id) };
            let mut base = self.base.lock().unwrap_or_else(PoisonError::into_inner);
            *base = base.plus(before);
        }
        for &fd in sockets {
            let _ = kernel::take_packet_drops(fd);
        }
        total
    }

    /// Stops the port (`rte_eth_dev_stop`); a no-op if it is not started.
    /// `&mut self`: no queue handle can be alive, so no worker is bursting.
    pub fn stop(&mut self) -> Result<(), DpdkError> {
        let id = self.id.load(Ordering::Acquire);
        let name = self.name.clone();
        let inner = self.inner_mut();
        if !inner.attached || !inner.started {
            return Ok(());
        }
        // SAFETY: valid, started port; no queue handle exists (&mut self).
        let ret = unsafe { ffi::rte_eth_dev_stop(id) };
        check(id, &name, PortOp::Stop, ret)?;
        inner.started = false;
        self.queues_taken.store(false, Ordering::Release);
        Ok(())
    }

    /// Every rx and tx queue handle of the started port, once per start: a
    /// second call fails with [`DpdkError::QueuesTaken`] (one owner per
    /// queue is what makes the unsynchronised bursts sound).
    pub fn queues(&self) -> Result<Queues<'_>, DpdkError> {
        let (g, id) = self.live()?;
        if !g.started {
            return Err(DpdkError::NotStarted {
                device: self.name.clone(),
            });
        }
        let Some((conf, _)) = &g.configured else {
            return Err(DpdkError::NotConfigured {
                device: self.name.clone(),
            });
        };
        if self.queues_taken.swap(true, Ordering::AcqRel) {
            return Err(DpdkError::QueuesTaken {
                device: self.name.clone(),
            });
        }
        Ok(self.make_queues(id, conf))
    }

    fn make_queues(&self, id: u16, conf: &PortConf) -> Queues<'_> {
        Queues {
            rx: (0..conf.rx_queues)
                .map(|q| RxQueue::new(id, q, self.serial))
                .collect(),
            tx: (0..conf.tx_queues)
                .map(|q| TxQueue::new(id, q, self.serial))
                .collect(),
        }
    }

    /// Stops (if started) and closes the port, detaches its device
    /// (`rte_dev_remove`, unless another port shares it) so it can be
    /// attached again, and for `net_af_packet` restores the kernel
    /// interface's `IFF_PROMISC` to what it was before attach (DPDK 22.11
    /// leaves it set). Every step runs; the first error is returned.
    pub fn close(mut self) -> Result<(), DpdkError> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<(), DpdkError> {
        let id = self.id.load(Ordering::Acquire);
        let inner = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        let mut first = Ok(());
        if inner.attached {
            first = detach_device(id, &self.name, inner);
        }
        let restored = restore_promisc(self.kernel.as_ref(), &self.name, inner);
        first.and(restored)
    }

    /// The port's primary MAC address.
    pub fn mac_addr(&self) -> Result<[u8; 6], DpdkError> {
        let (_g, id) = self.live()?;
        let mut mac = ffi::rte_ether_addr::default();
        // SAFETY: mac is a valid out-pointer; the port is attached (read
        // lock held, so reattach cannot replace it meanwhile).
        let ret = unsafe { ffi::rte_eth_macaddr_get(id, &mut mac) };
        check(id, &self.name, PortOp::MacAddr, ret)?;
        Ok(mac.addr_bytes)
    }

    /// Turns promiscuous mode on or off (and remembers it for reattach).
    pub fn set_promiscuous(&self, on: bool) -> Result<(), DpdkError> {
        let (_g, id) = self.live()?;
        let _c = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        set_promiscuous_raw(id, &self.name, on)?;
        self.want_promisc.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Adds `mac` to the NIC's unicast accept filter (`rte_eth_dev_mac_addr_add`,
    /// pool 0). Fails when the filter is full or the driver has none.
    pub fn mac_addr_add(&self, mac: [u8; 6]) -> Result<(), DpdkError> {
        let (_g, id) = self.live()?;
        let _c = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        let mut a = ffi::rte_ether_addr { addr_bytes: mac };
        // SAFETY: attached port (read lock held); `a` outlives the call.
        let ret = unsafe { ffi::rte_eth_dev_mac_addr_add(id, &mut a, 0) };
        check(id, &self.name, PortOp::MacAddrAdd, ret)
    }

    /// Removes `mac` from the NIC's unicast accept filter.
    pub fn mac_addr_remove(&self, mac: [u8; 6]) -> Result<(), DpdkError> {
        let (_g, id) = self.live()?;
        let _c = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        let mut a = ffi::rte_ether_addr { addr_bytes: mac };
        // SAFETY: as in mac_addr_add.
        let ret = unsafe { ffi::rte_eth_dev_mac_addr_remove(id, &mut a) };
        check(id, &self.name, PortOp::MacAddrRemove, ret)
    }

    /// Sets the NIC's multicast accept list (`rte_eth_dev_set_mc_addr_list`;
    /// empty: none).
    pub fn set_mc_addr_list(&self, macs: &[[u8; 6]]) -> Result<(), DpdkError> {
        let (_g, id) = self.live()?;
        let _c = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        let mut list: Vec<ffi::rte_ether_addr> = macs
            .iter()
            .map(|m| ffi::rte_ether_addr { addr_bytes: *m })
            .collect();
        let ptr = if list.is_empty() {
            std::ptr::null_mut()
        } else {
            list.as_mut_ptr()
        };
        // SAFETY: `list` holds `len` addresses and outlives the call; DPDK
        // copies them.
        let ret = unsafe { ffi::rte_eth_dev_set_mc_addr_list(id, ptr, list.len() as u32) };
        check(id, &self.name, PortOp::McAddrList, ret)
    }

    /// Sets the MTU (`rte_eth_dev_set_mtu`; for `net_af_packet` that sets
    /// the kernel interface's MTU) and remembers it for reattach.
    pub fn set_mtu(&self, mtu: u16) -> Result<(), DpdkError> {
        let (_g, id) = self.live()?;
        let _c = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: attached port (read lock held); DPDK validates the value.
        let ret = unsafe { ffi::rte_eth_dev_set_mtu(id, mtu) };
        check(id, &self.name, PortOp::SetMtu, ret)?;
        self.want_mtu.store(mtu, Ordering::Relaxed);
        Ok(())
    }

    /// The MTU frames leaving this port may have: for `net_af_packet` the
    /// kernel interface's (`/sys/class/net/<iface>/mtu`, so it follows `ip
    /// link set ... mtu`), else `rte_eth_dev_get_mtu`. Cheap (one small
    /// file read or one DPDK call); the dataplane refreshes it from here.
    pub fn mtu(&self) -> Result<u16, DpdkError> {
        if let Some(k) = &self.kernel {
            return k
                .mtu()
                // The loopback device has 65536; frames cannot be longer.
                .map(|m| u16::try_from(m).unwrap_or(u16::MAX))
                .map_err(|source| DpdkError::Kernel {
                    device: self.name.clone(),
                    iface: k.name().to_owned(),
                    op: KernelOp::ReadMtu,
                    source,
                });
        }
        let (_g, id) = self.live()?;
        let mut mtu = 0u16;
        // SAFETY: mtu is a valid out-pointer; attached port (read lock).
        let ret = unsafe { ffi::rte_eth_dev_get_mtu(id, &mut mtu) };
        check(id, &self.name, PortOp::GetMtu, ret)?;
        Ok(mtu)
    }

    /// Link state, without waiting. For `net_af_packet` (whose driver
    /// reports "up" whatever the interface does) it is the kernel
    /// interface's: up when it is administratively up with carrier and
    /// operational state up; a missing interface is down. (After the
    /// interface is deleted and recreated the link reads up again, but the
    /// port needs [`reattach`](Port::reattach) to pass traffic: see
    /// [`needs_reattach`](Port::needs_reattach).) For other drivers,
    /// `rte_eth_link_get_nowait`. "Down" if the query fails or a reattach
    /// is in progress.
    ///
    /// Cheap enough to poll every 100 ms: at most three small sysfs reads
    /// (flags, carrier, operstate), plus speed, duplex and the device's
    /// counters when the link comes up; never blocks.
    pub fn link(&self) -> Link {
        if let Some(k) = &self.kernel {
            return self.kernel_link(k);
        }
        let Ok((_g, id)) = self.live() else {
            return Link::default();
        };
        let mut link = ffi::rte_eth_link::default();
        // SAFETY: link is a valid out-pointer; attached port (read lock).
        let ret = unsafe { ffi::rte_eth_link_get_nowait(id, &mut link) };
        if ret < 0 {
            return Link::default();
        }
        Link {
            up: u32::from(link.link_status()) == ffi::RTE_ETH_LINK_UP,
            speed_mbps: link.link_speed,
            full_duplex: u32::from(link.link_duplex()) == ffi::RTE_ETH_LINK_FULL_DUPLEX,
        }
    }

    fn kernel_link(&self, k: &KernelIface) -> Link {
        if !k.link_up() {
            self.link_was_up.store(false, Ordering::Relaxed);
            return Link::default();
        }
        // Speed is read once per down-to-up transition: the kernel serves
        // it under rtnl_trylock, which a busy rtnl makes spin.
        if !self.link_was_up.swap(true, Ordering::Relaxed) {
            self.link_speed
                .store(k.speed_mbps().unwrap_or(0), Ordering::Relaxed);
            self.link_full_duplex
                .store(k.full_duplex(), Ordering::Relaxed);
            self.check_stale_tx();
        }
        Link {
            up: true,
            speed_mbps: self.link_speed.load(Ordering::Relaxed),
            full_duplex: self.link_full_duplex.load(Ordering::Relaxed),
        }
    }

    /// At a down-to-up transition of the af_packet link: if the device
    /// counted transmit errors since the link last came up, marks the tx
    /// ring stale. DPDK 22.11's PMD copies a frame into its tx ring before
    /// the `sendto` that makes the kernel send it; while the interface is
    /// down that call fails (`ENETDOWN`, counted in `oerrors`) and the
    /// frame stays queued in the ring, to go out with the next transmit
    /// after the link is back, seconds late. Those are the frames sent
    /// between the link going down and the dataplane seeing it.
    fn check_stale_tx(&self) {
        let Ok((_g, id)) = self.live() else { return };
        let Ok(s) = dpdk_stats(id, &self.name) else {
            return;
        };
        let base = self.base.lock().unwrap_or_else(PoisonError::into_inner);
        let now = base.oerrors + s.oerrors;
        drop(base);
        let before = self.up_oerrors.swap(now, Ordering::AcqRel);
        if before != NEVER_UP && now > before {
            self.stale_tx.store(true, Ordering::Release);
        }
    }

    /// `net_af_packet` only: whether the kernel interface was deleted and
    /// recreated (it exists again, with an index other than the one the
    /// port's sockets are bound to), or exists again after a failed
    /// reattach. Such a port receives and sends nothing until
    /// [`reattach`](Port::reattach). Also true when the link came back up
    /// after transmits failed while it was down: the driver's tx ring still
    /// holds those frames and would send them late; a reattach discards
    /// the ring. One small sysfs read.
    pub fn needs_reattach(&self) -> bool {
        match &self.kernel {
            Some(k) => {
                self.stale_tx.load(Ordering::Acquire)
                    || k.ifindex()
                        .is_some_and(|i| i != self.bound_ifindex.load(Ordering::Acquire))
            }
            None => false,
        }
    }

    /// Counters: DPDK's (`rte_eth_stats_get`) plus, for `net_af_packet`,
    /// the kernel's ring drops ([`PortStats::kernel_drops`], also added to
    /// `imissed`). Reading them resets the kernel's counters, which are
    /// accumulated here, so calls from several threads are fine.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let (g, id) = self.live()?;
        let now = dpdk_stats(id, &self.name)?;
        let kernel_drops = self.drain_kernel_drops(&g.sockets);
        let base = *self.base.lock().unwrap_or_else(PoisonError::into_inner);
        let mut s = base.plus(now);
        s.kernel_drops = kernel_drops;
        s.imissed += kernel_drops;
        Ok(s)
    }

    /// Adds the kernel's drops since the last read to the total; returns it.
    fn drain_kernel_drops(&self, sockets: &[c_int]) -> u64 {
        let mut new = 0;
        for &fd in sockets {
            // An error (the socket's interface is gone) means no count.
            new += kernel::take_packet_drops(fd).unwrap_or(0);
        }
        self.kernel_drops.fetch_add(new, Ordering::AcqRel) + new
    }

    /// Resets the counters: DPDK's basic and extended ones (ignored if
    /// unsupported), the kernel's drops, and those carried over a reattach.
    pub fn reset_stats(&self) -> Result<(), DpdkError> {
        let (g, id) = self.live()?;
        let _c = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: attached port (read lock held).
        unsafe {
            ffi::rte_eth_stats_reset(id);
            ffi::rte_eth_xstats_reset(id);
        }
        self.drain_kernel_drops(&g.sockets);
        self.kernel_drops.store(0, Ordering::Release);
        *self.base.lock().unwrap_or_else(PoisonError::into_inner) = PortStats::default();
        // Transmit errors count from zero again (see check_stale_tx).
        if self.up_oerrors.load(Ordering::Acquire) != NEVER_UP {
            self.up_oerrors.store(0, Ordering::Release);
        }
        Ok(())
    }

    /// Extended, driver-specific counters as (name, value) pairs.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>, DpdkError> {
        let (_g, id) = self.live()?;
        let dev = self.name.as_str();
        // The count can change between calls (e.g. queues reconfigured):
        // retry a few times on a mismatch.
        for _ in 0..4 {
            // SAFETY: NULL/0 asks only for the count; attached port.
            let n = unsafe { ffi::rte_eth_xstats_get_names(id, std::ptr::null_mut(), 0) };
            check(id, dev, PortOp::Xstats, n)?;
            let n = n as usize;
            let mut names = vec![ffi::rte_eth_xstat_name::default(); n];
            let mut vals = vec![ffi::rte_eth_xstat::default(); n];
            // SAFETY: names has room for n entries, as passed.
            let got = unsafe { ffi::rte_eth_xstats_get_names(id, names.as_mut_ptr(), n as u32) };
            check(id, dev, PortOp::Xstats, got)?;
            // SAFETY: vals has room for n entries, as passed.
            let got_v = unsafe { ffi::rte_eth_xstats_get(id, vals.as_mut_ptr(), n as u32) };
            check(id, dev, PortOp::Xstats, got_v)?;
            if got as usize != n || got_v as usize != n {
                continue;
            }
            return Ok(vals
                .iter()
                .filter_map(|v| {
                    let name = names.get(usize::try_from(v.id).ok()?)?;
                    // SAFETY: DPDK NUL-terminates each name within its
                    // RTE_ETH_XSTATS_NAME_SIZE buffer.
                    let s = unsafe { CStr::from_ptr(name.name.as_ptr()) };
                    Some((s.to_string_lossy().into_owned(), v.value))
                })
                .collect());
        }
        Err(port_err(PortId(id), dev, PortOp::Xstats, -libc::EAGAIN))
    }

    /// Replaces the port's device with a fresh probe of the same device
    /// arguments: the recovery for a `net_af_packet` port whose interface
    /// was deleted and recreated (its sockets stay bound to the old index;
    /// see [`needs_reattach`](Port::needs_reattach)).
    ///
    /// `old` must be **every** queue handle of the port (all of this port's
    /// and all present; an empty [`Queues`] if none is outstanding: the
    /// port is not started, its handles were never taken, or a previous
    /// reattach failed). Taking them by value proves no thread is bursting;
    /// otherwise [`DpdkError::ReattachQueues`] is returned and the handles
    /// are dropped (stop and start the port to get new ones).
    ///
    /// Then, holding the port's write lock (queries meanwhile return
    /// [`DpdkError::Reattaching`]): stops and closes the port,
    /// `rte_dev_remove`s the device, checks the interface exists, probes the
    /// devargs again (the DPDK port number may change), configures it with
    /// the remembered conf and pool, re-applies promiscuous mode and MTU,
    /// starts it and returns the fresh handles (empty if the port was never
    /// configured). Counters carry over.
    ///
    /// If a step fails the port is left detached or stopped, and the error
    /// returned; call `reattach` again with an empty [`Queues`].
    pub fn reattach(&self, old: Queues<'_>) -> Result<Queues<'_>, DpdkError> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let outstanding =
            inner.attached && inner.started && self.queues_taken.load(Ordering::Acquire);
        let (n_rx, n_tx) = match (&inner.configured, outstanding) {
            (Some((c, _)), true) => (c.rx_queues, c.tx_queues),
            _ => (0, 0),
        };
        self.check_handles(&old, n_rx, n_tx)?;
        drop(old);

        let id = self.id.load(Ordering::Acquire);
        if inner.attached {
            // Carry the counters of the device going away over.
            if let Ok(s) = dpdk_stats(id, &self.name) {
                let mut base = self.base.lock().unwrap_or_else(PoisonError::into_inner);
                *base = base.plus(s);
            }
            self.drain_kernel_drops(&inner.sockets);
            detach_device(id, &self.name, &mut inner)?;
        }
        self.bound_ifindex.store(-1, Ordering::Release);
        self.queues_taken.store(false, Ordering::Release);
        self.link_was_up.store(false, Ordering::Relaxed);
        // The old device's tx ring goes with it.
        self.stale_tx.store(false, Ordering::Release);
        self.up_oerrors.store(NEVER_UP, Ordering::Release);

        // Probe again.
        let cargs = CString::new(self.devargs.as_str())
            .map_err(|_| DpdkError::InvalidArgument(self.devargs.clone()))?;
        let cname = CString::new(self.name.as_str())
            .map_err(|_| DpdkError::InvalidArgument(self.devargs.clone()))?;
        let ifindex = match &self.kernel {
            Some(k) => {
                let Some(idx) = k.ifindex() else {
                    return Err(DpdkError::NoSuchInterface {
                        devargs: self.devargs.clone(),
                        iface: k.name().to_owned(),
                    });
                };
                // A new interface: its flag now is the one to restore.
                if inner.saved_promisc.is_none_or(|(i, _)| i != idx) {
                    inner.saved_promisc = k.promiscuous().ok().map(|p| (idx, p));
                }
                Some(idx)
            }
            None => None,
        };
        let new_id = {
            let mut reg = registry();
            let before: Vec<c_int> = kernel::packet_sockets()
                .unwrap_or_default()
                .into_iter()
                .map(|(fd, _)| fd)
                .collect();
            probe(&self.devargs, &cargs)?;
            let new_id = port_by_name(&cname).ok_or_else(|| DpdkError::Attach {
                devargs: self.devargs.clone(),
                code: Errno::ENODEV,
            })?;
            let sockets = find_sockets(&reg, ifindex, Some(&before));
            reg.ports.push(new_id);
            reg.sockets.extend_from_slice(&sockets);
            inner.sockets = sockets;
            new_id
        };
        self.id.store(new_id, Ordering::Release);
        inner.attached = true;
        inner.started = false;
        self.bound_ifindex
            .store(ifindex.unwrap_or(-1), Ordering::Release);

        let Some((conf, pool)) = inner.configured.clone() else {
            return Ok(Queues::default());
        };
        if let Err(e) = configure_raw(new_id, &self.name, &conf, &pool) {
            inner.configured = None;
            return Err(e);
        }
        match set_promiscuous_raw(
            new_id,
            &self.name,
            self.want_promisc.load(Ordering::Relaxed),
        ) {
            Err(e) if e.code() != Some(Errno::ENOTSUP) => return Err(e),
            _ => {}
        }
        let mtu = self.want_mtu.load(Ordering::Relaxed);
        if mtu != 0 {
            // SAFETY: attached, configured port (write lock held).
            let ret = unsafe { ffi::rte_eth_dev_set_mtu(new_id, mtu) };
            check(new_id, &self.name, PortOp::SetMtu, ret)?;
        }
        // SAFETY: valid, configured port; no queue handle exists (all were
        // given back above, and the new ones are made below).
        let ret = unsafe { ffi::rte_eth_dev_start(new_id) };
        check(new_id, &self.name, PortOp::Start, ret)?;
        inner.started = true;
        if self.kernel.is_some() {
            self.discard_strays(new_id, conf.rx_queues, &inner.sockets);
        }
        self.queues_taken.store(true, Ordering::Release);
        Ok(self.make_queues(new_id, &conf))
    }

    /// Checks `old` is exactly this port's `n_rx` + `n_tx` handles.
    fn check_handles(&self, old: &Queues<'_>, n_rx: u16, n_tx: u16) -> Result<(), DpdkError> {
        let refuse = |reason: String| DpdkError::ReattachQueues {
            device: self.name.clone(),
            reason,
        };
        if old.rx.len() != usize::from(n_rx) || old.tx.len() != usize::from(n_tx) {
            return Err(refuse(format!(
                "{n_rx} rx and {n_tx} tx queue handles are outstanding, {} and {} were given",
                old.rx.len(),
                old.tx.len()
            )));
        }
        let all = |qs: &mut dyn Iterator<Item = (u32, u16)>, n: u16, dir: &str| {
            let mut seen = vec![false; usize::from(n)];
            for (owner, q) in qs {
                if owner != self.serial {
                    return Err(refuse(format!("{dir} queue {q} belongs to another port")));
                }
                match seen.get_mut(usize::from(q)) {
                    Some(s) if !*s => *s = true,
                    _ => return Err(refuse(format!("{dir} queue {q} given twice"))),
                }
            }
            Ok(())
        };
        all(
            &mut old.rx.iter().map(|q| (q.owner(), q.queue())),
            n_rx,
            "rx",
        )?;
        all(
            &mut old.tx.iter().map(|q| (q.owner(), q.queue())),
            n_tx,
            "tx",
        )
    }
}

impl Drop for Port<'_> {
    fn drop(&mut self) {
        // No queue handle can be alive (they borrow the port), so closing is
        // sound; errors cannot be reported from drop.
        let _ = self.teardown();
    }
}

/// The interface must exist before probing: DPDK's own failure for a
/// missing one is a bare -1 (with an unrelated, stale `rte_errno`).
fn checked_iface(devargs: &str, iface: &str) -> Result<KernelIface, DpdkError> {
    let missing = || DpdkError::NoSuchInterface {
        devargs: devargs.to_owned(),
        iface: iface.to_owned(),
    };
    let k = KernelIface::new(iface).ok_or_else(missing)?;
    if !k.exists() {
        return Err(missing());
    }
    Ok(k)
}

fn dpdk_stats(id: u16, device: &str) -> Result<PortStats, DpdkError> {
    let mut s = ffi::rte_eth_stats::default();
    // SAFETY: s is a valid out-pointer; DPDK validates the port (callers
    // hold the state lock, so it is not being replaced).
    let ret = unsafe { ffi::rte_eth_stats_get(id, &mut s) };
    check(id, device, PortOp::Stats, ret)?;
    Ok(PortStats {
        ipackets: s.ipackets,
        opackets: s.opackets,
        ibytes: s.ibytes,
        obytes: s.obytes,
        imissed: s.imissed,
        ierrors: s.ierrors,
        oerrors: s.oerrors,
        rx_nombuf: s.rx_nombuf,
        kernel_drops: 0,
    })
}

fn set_promiscuous_raw(id: u16, device: &str, on: bool) -> Result<(), DpdkError> {
    // SAFETY: DPDK validates the port; callers hold the state lock.
    let ret = unsafe {
        if on {
            ffi::rte_eth_promiscuous_enable(id)
        } else {
            ffi::rte_eth_promiscuous_disable(id)
        }
    };
    check(id, device, PortOp::Promiscuous, ret)
}

/// `rte_eth_dev_configure` and the queue setups; see [`Port::configure`].
fn configure_raw(id: u16, dev: &str, conf: &PortConf, pool: &Mempool<'_>) -> Result<(), DpdkError> {
    let info = raw_info(id, dev)?;
    let mut eth_conf = ffi::rte_eth_conf::default();
    if conf.rss && conf.rx_queues > 1 {
        let hf = RSS_HF & info.flow_type_rss_offloads;
        if hf != 0 {
            eth_conf.rxmode.mq_mode = ffi::RTE_ETH_MQ_RX_RSS;
            eth_conf.rx_adv_conf.rss_conf.rss_key = std::ptr::null_mut();
            eth_conf.rx_adv_conf.rss_conf.rss_hf = hf;
        }
    }
    if let Some(mtu) = conf.mtu {
        eth_conf.rxmode.mtu = u32::from(mtu);
    }
    // SAFETY: port validated by raw_info; eth_conf is a fully initialised
    // struct that DPDK only reads during the call; the caller holds the
    // port exclusively (&mut Port or the write lock), so no queue is in use.
    let ret = unsafe { ffi::rte_eth_dev_configure(id, conf.rx_queues, conf.tx_queues, &eth_conf) };
    check(id, dev, PortOp::Configure, ret)?;

    let (mut rx_desc, mut tx_desc) = (conf.rx_desc, conf.tx_desc);
    // SAFETY: valid port; both are valid in/out pointers.
    let ret = unsafe { ffi::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_desc, &mut tx_desc) };
    check(id, dev, PortOp::AdjustDescriptors, ret)?;

    // SAFETY: plain query on a valid port. SOCKET_ID_ANY (-1) becomes
    // u32::MAX, which DPDK reads as "any".
    let socket = unsafe { ffi::rte_eth_dev_socket_id(id) } as u32;
    for q in 0..conf.rx_queues {
        // SAFETY: valid, configured port; q < configured rx queues; a NULL
        // rx_conf selects the driver default; the pool outlives the queue
        // (pools live until the EAL is cleaned up, which the port's 'eal
        // borrow forbids while it exists).
        let ret = unsafe {
            ffi::rte_eth_rx_queue_setup(id, q, rx_desc, socket, std::ptr::null(), pool.as_ptr())
        };
        check(id, dev, PortOp::RxQueueSetup(q), ret)?;
    }
    for q in 0..conf.tx_queues {
        // SAFETY: valid, configured port; q < configured tx queues; a NULL
        // tx_conf selects the driver default (no MBUF_FAST_FREE).
        let ret = unsafe { ffi::rte_eth_tx_queue_setup(id, q, tx_desc, socket, std::ptr::null()) };
        check(id, dev, PortOp::TxQueueSetup(q), ret)?;
    }
    match set_promiscuous_raw(id, dev, conf.promiscuous) {
        Err(e) if e.code() == Some(Errno::ENOTSUP) => Ok(()),
        r => r,
    }
}

/// Stops (if started) and closes port `id`, removes its device unless
/// another port still uses it, and releases it and its sockets from the
/// registry. Every step runs; the first error is returned. The caller
/// holds the port exclusively (so no queue handle exists).
fn detach_device(id: u16, dev: &str, inner: &mut Inner<'_>) -> Result<(), DpdkError> {
    let mut first = Ok(());
    let mut keep = |r: Result<(), DpdkError>| {
        if first.is_ok() {
            first = r;
        }
    };
    let mut reg = registry();
    if inner.started {
        // SAFETY: valid, started port; the caller holds it exclusively.
        let ret = unsafe { ffi::rte_eth_dev_stop(id) };
        keep(check(id, dev, PortOp::Stop, ret));
    }
    let device = raw_info(id, dev).map(|i| i.device);
    // SAFETY: valid port, stopped; the caller holds it exclusively and
    // drops every record of it below. The PMD closes its sockets here.
    let ret = unsafe { ffi::rte_eth_dev_close(id) };
    keep(check(id, dev, PortOp::Close, ret));
    match device {
        Ok(device) if !device.is_null() && !device_in_use(device) => {
            // SAFETY: device is the rte_device the closed port belonged to;
            // it lives until removed (the vdev/PCI bus owns it, not the
            // ethdev), and no port uses it any more.
            let ret = unsafe { ffi::rte_dev_remove(device) };
            keep(check(id, dev, PortOp::Remove, ret));
        }
        Ok(_) => {}
        Err(e) => keep(Err(e)),
    }
    reg.ports.retain(|&p| p != id);
    reg.sockets.retain(|fd| !inner.sockets.contains(fd));
    inner.sockets.clear();
    inner.attached = false;
    inner.started = false;
    first
}

/// Whether any ethdev port still belongs to `device`.
fn device_in_use(device: *mut ffi::rte_device) -> bool {
    (0..ffi::RTE_MAX_ETHPORTS as u16).any(|p| {
        // SAFETY: plain validity query for any port number.
        if unsafe { ffi::rte_eth_dev_is_valid_port(p) } == 0 {
            return false;
        }
        let mut info = MaybeUninit::<ffi::rte_eth_dev_info>::zeroed();
        // SAFETY: valid port (checked), valid out-pointer.
        let ret = unsafe { ffi::rte_eth_dev_info_get(p, info.as_mut_ptr()) };
        // SAFETY: zero-initialised POD, filled by DPDK on success.
        ret == 0 && unsafe { info.assume_init() }.device == device
    })
}

/// Puts the af_packet interface's `IFF_PROMISC` back to its value before
/// attach, if it is still the same interface (same index).
fn restore_promisc(
    kernel: Option<&KernelIface>,
    dev: &str,
    inner: &mut Inner<'_>,
) -> Result<(), DpdkError> {
    let (Some(k), Some((idx, was))) = (kernel, inner.saved_promisc) else {
        return Ok(());
    };
    if k.ifindex() != Some(idx) {
        // Deleted (or replaced by another interface): nothing to restore.
        inner.saved_promisc = None;
        return Ok(());
    }
    let kerr = |op, source| DpdkError::Kernel {
        device: dev.to_owned(),
        iface: k.name().to_owned(),
        op,
        source,
    };
    let now = k.promiscuous().map_err(|e| kerr(KernelOp::ReadFlags, e))?;
    if now != was {
        k.set_promiscuous(was)
            .map_err(|e| kerr(KernelOp::RestorePromiscuous, e))?;
    }
    inner.saved_promisc = None;
    Ok(())
}
