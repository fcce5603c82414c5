//! Ethernet ports: attaching devices and the control-plane operations
//! (configure, start, stop, stats). All of it runs on the slow path; the
//! per-burst path is in [`crate::queue`].

use std::ffi::{c_char, CStr, CString};
use std::mem::MaybeUninit;

use dpdk_ffi as ffi;

use crate::eal::ensure_live;
use crate::error::{errno_from_ret, port_err, DpdkError, Errno, PortOp};
use crate::queue::{RxQueue, TxQueue};
use crate::Mempool;

/// A DPDK ethdev port number.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortId(pub u16);

impl std::fmt::Display for PortId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Finds or creates the port for a device.
///
/// `devargs` is DPDK's device string: `"net_af_packet0,iface=veth0"`,
/// `"net_pcap0,rx_pcap=a.pcap,tx_pcap=b.pcap"`, `"net_null0"`,
/// `"0000:01:00.0"`. If a port named like the text before the first `,`
/// already exists (created by `--vdev`/`-a` EAL arguments or an earlier
/// attach) it is returned as is; otherwise the device is hot-plugged with
/// `rte_dev_probe` and its port looked up by name.
pub fn attach(devargs: &str) -> Result<PortId, DpdkError> {
    ensure_live()?;
    let err = |code| DpdkError::Attach {
        devargs: devargs.to_owned(),
        code,
    };
    let name = devargs.split(',').next().unwrap_or("").trim();
    if name.is_empty() {
        return Err(err(Errno::EINVAL));
    }
    let cname = CString::new(name).map_err(|_| DpdkError::InvalidArgument(devargs.to_owned()))?;
    let cargs =
        CString::new(devargs).map_err(|_| DpdkError::InvalidArgument(devargs.to_owned()))?;
    if let Some(id) = port_by_name(&cname) {
        return Ok(id);
    }
    // SAFETY: the EAL is up; cargs is a valid C string for the call.
    let ret = unsafe { ffi::rte_dev_probe(cargs.as_ptr()) };
    if ret < 0 {
        return Err(err(errno_from_ret(ret)));
    }
    port_by_name(&cname).ok_or_else(|| err(Errno::ENODEV))
}

fn port_by_name(name: &CStr) -> Option<PortId> {
    let mut id = 0u16;
    // SAFETY: name is a valid C string; id is a valid out-pointer.
    let ret = unsafe { ffi::rte_eth_dev_get_port_by_name(name.as_ptr(), &mut id) };
    (ret == 0).then_some(PortId(id))
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

/// Link state (`rte_eth_link_get_nowait`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Link {
    /// Carrier up.
    pub up: bool,
    /// Speed in Mbit/s (0 if unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// Basic port counters (`rte_eth_stats_get`), cumulative since start/reset.
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
    /// Packets dropped by the NIC because no rx descriptor was free.
    pub imissed: u64,
    /// Receive errors.
    pub ierrors: u64,
    /// Transmit errors.
    pub oerrors: u64,
    /// Receive failures for lack of mbufs.
    pub rx_nombuf: u64,
}

/// Control handle for one port. Holds only the port number: cheap, `Copy`-
/// like, `Send + Sync`. Its operations are slow-path (each is one or more
/// DPDK calls that may take locks or sleep); run them from the main thread.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Port {
    id: PortId,
}

/// RSS over IPv4/IPv6 addresses and UDP/TCP ports, before clamping to the
/// device's capabilities.
const RSS_HF: u64 =
    (ffi::RTE_FFI_ETH_RSS_IP | ffi::RTE_FFI_ETH_RSS_UDP | ffi::RTE_FFI_ETH_RSS_TCP) as u64;

impl Port {
    /// A handle for `id`; no check is made until an operation runs.
    pub fn new(id: PortId) -> Port {
        Port { id }
    }

    /// The port number.
    pub fn id(&self) -> PortId {
        self.id
    }

    fn check(&self, op: PortOp, ret: i32) -> Result<(), DpdkError> {
        if ret < 0 {
            Err(port_err(self.id, op, ret))
        } else {
            Ok(())
        }
    }

    fn raw_info(&self) -> Result<ffi::rte_eth_dev_info, DpdkError> {
        ensure_live()?;
        let mut info = MaybeUninit::<ffi::rte_eth_dev_info>::zeroed();
        // SAFETY: the EAL is up; info is a valid out-pointer; DPDK checks
        // the port number and returns -ENODEV for an invalid one.
        let ret = unsafe { ffi::rte_eth_dev_info_get(self.id.0, info.as_mut_ptr()) };
        self.check(PortOp::Info, ret)?;
        // SAFETY: zero-initialised POD, filled by DPDK on success.
        Ok(unsafe { info.assume_init() })
    }

    /// Driver capabilities and names.
    pub fn info(&self) -> Result<DevInfo, DpdkError> {
        let info = self.raw_info()?;
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: a non-NULL driver_name is the driver's static C string.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        let mut name = [0 as c_char; ffi::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: name is a buffer of RTE_ETH_NAME_MAX_LEN bytes, the size
        // the API requires; the port was validated by raw_info.
        let ret = unsafe { ffi::rte_eth_dev_get_name_by_port(self.id.0, name.as_mut_ptr()) };
        self.check(PortOp::Info, ret)?;
        // SAFETY: on success DPDK wrote a NUL-terminated name into the buffer.
        let name = unsafe { CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        Ok(DevInfo {
            driver,
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            rss_offloads: info.flow_type_rss_offloads,
            max_mac_addrs: info.max_mac_addrs,
            name,
            min_mtu: info.min_mtu,
            max_mtu: info.max_mtu,
            socket: self.socket(),
        })
    }

    /// NUMA socket of the port, or -1 (any) if unknown.
    pub fn socket(&self) -> i32 {
        // SAFETY: plain query; returns -1 (with rte_errno) for a bad port.
        unsafe { ffi::rte_eth_dev_socket_id(self.id.0) }
    }

    /// Configures the port (stopped): `rte_eth_dev_configure` with RSS on
    /// IP/UDP/TCP if `conf.rss` and more than one rx queue (limited to the
    /// hash functions the device supports; off if none), the MTU, then every
    /// rx queue (receiving into `pool`) and tx queue on the port's NUMA
    /// socket, then promiscuous mode. A driver without promiscuous support
    /// (`ENOTSUP`) is not an error here.
    ///
    /// `pool` must hold at least `rx_queues * rx_desc` mbufs plus those in
    /// flight. Pools are never freed, so the rx queues may keep using it.
    pub fn configure(&self, conf: &PortConf, pool: &Mempool) -> Result<(), DpdkError> {
        let info = self.raw_info()?;
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
        // SAFETY: port validated by raw_info; eth_conf is a fully
        // initialised struct that DPDK only reads during the call.
        let ret = unsafe {
            ffi::rte_eth_dev_configure(self.id.0, conf.rx_queues, conf.tx_queues, &eth_conf)
        };
        self.check(PortOp::Configure, ret)?;

        let (mut rx_desc, mut tx_desc) = (conf.rx_desc, conf.tx_desc);
        // SAFETY: valid port; both are valid in/out pointers.
        let ret =
            unsafe { ffi::rte_eth_dev_adjust_nb_rx_tx_desc(self.id.0, &mut rx_desc, &mut tx_desc) };
        self.check(PortOp::AdjustDescriptors, ret)?;

        // SOCKET_ID_ANY (-1) becomes u32::MAX, which DPDK reads as "any".
        let socket = self.socket() as u32;
        for q in 0..conf.rx_queues {
            // SAFETY: valid, configured port; q < configured rx queues; a
            // NULL rx_conf selects the driver default; the pool outlives the
            // queue (pools are never freed).
            let ret = unsafe {
                ffi::rte_eth_rx_queue_setup(
                    self.id.0,
                    q,
                    rx_desc,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            };
            self.check(PortOp::RxQueueSetup(q), ret)?;
        }
        for q in 0..conf.tx_queues {
            // SAFETY: valid, configured port; q < configured tx queues; a
            // NULL tx_conf selects the driver default.
            let ret = unsafe {
                ffi::rte_eth_tx_queue_setup(self.id.0, q, tx_desc, socket, std::ptr::null())
            };
            self.check(PortOp::TxQueueSetup(q), ret)?;
        }
        match self.set_promiscuous(conf.promiscuous) {
            Err(e) if e.code() == Some(Errno::ENOTSUP) => Ok(()),
            r => r,
        }
    }

    /// Starts the port (`rte_eth_dev_start`): rx/tx bursts work from now on.
    pub fn start(&self) -> Result<(), DpdkError> {
        ensure_live()?;
        // SAFETY: DPDK validates the port and its configuration.
        let ret = unsafe { ffi::rte_eth_dev_start(self.id.0) };
        self.check(PortOp::Start, ret)
    }

    /// Stops the port (`rte_eth_dev_stop`). Workers must have stopped
    /// bursting on it first: DPDK does not synchronise the two.
    pub fn stop(&self) -> Result<(), DpdkError> {
        ensure_live()?;
        // SAFETY: DPDK validates the port; the caller's contract (doc above)
        // covers concurrent bursts.
        let ret = unsafe { ffi::rte_eth_dev_stop(self.id.0) };
        self.check(PortOp::Stop, ret)
    }

    /// Closes the (stopped) port and releases its queues
    /// (`rte_eth_dev_close`); the port number becomes invalid. Errors are
    /// ignored: this is teardown.
    pub fn close(&self) {
        if ensure_live().is_err() {
            return;
        }
        // SAFETY: DPDK validates the port; no queue handle may be used after
        // close (documented on RxQueue/TxQueue).
        unsafe {
            ffi::rte_eth_dev_close(self.id.0);
        }
    }

    /// The port's primary MAC address.
    pub fn mac_addr(&self) -> Result<[u8; 6], DpdkError> {
        ensure_live()?;
        let mut mac = ffi::rte_ether_addr::default();
        // SAFETY: mac is a valid out-pointer; DPDK validates the port.
        let ret = unsafe { ffi::rte_eth_macaddr_get(self.id.0, &mut mac) };
        self.check(PortOp::MacAddr, ret)?;
        Ok(mac.addr_bytes)
    }

    /// Turns promiscuous mode on or off.
    pub fn set_promiscuous(&self, on: bool) -> Result<(), DpdkError> {
        ensure_live()?;
        // SAFETY: DPDK validates the port.
        let ret = unsafe {
            if on {
                ffi::rte_eth_promiscuous_enable(self.id.0)
            } else {
                ffi::rte_eth_promiscuous_disable(self.id.0)
            }
        };
        self.check(PortOp::Promiscuous, ret)
    }

    /// Sets the MTU (`rte_eth_dev_set_mtu`).
    pub fn set_mtu(&self, mtu: u16) -> Result<(), DpdkError> {
        ensure_live()?;
        // SAFETY: DPDK validates the port and the value.
        let ret = unsafe { ffi::rte_eth_dev_set_mtu(self.id.0, mtu) };
        self.check(PortOp::SetMtu, ret)
    }

    /// Link state without waiting for autonegotiation; "down" if the query
    /// fails.
    pub fn link(&self) -> Link {
        if ensure_live().is_err() {
            return Link::default();
        }
        let mut link = ffi::rte_eth_link::default();
        // SAFETY: link is a valid out-pointer; DPDK validates the port.
        let ret = unsafe { ffi::rte_eth_link_get_nowait(self.id.0, &mut link) };
        if ret < 0 {
            return Link::default();
        }
        Link {
            up: u32::from(link.link_status()) == ffi::RTE_ETH_LINK_UP,
            speed_mbps: link.link_speed,
            full_duplex: u32::from(link.link_duplex()) == ffi::RTE_ETH_LINK_FULL_DUPLEX,
        }
    }

    /// Basic counters.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        ensure_live()?;
        let mut s = ffi::rte_eth_stats::default();
        // SAFETY: s is a valid out-pointer; DPDK validates the port.
        let ret = unsafe { ffi::rte_eth_stats_get(self.id.0, &mut s) };
        self.check(PortOp::Stats, ret)?;
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Resets the basic and extended counters (ignored if unsupported).
    pub fn reset_stats(&self) {
        if ensure_live().is_err() {
            return;
        }
        // SAFETY: DPDK validates the port.
        unsafe {
            ffi::rte_eth_stats_reset(self.id.0);
            ffi::rte_eth_xstats_reset(self.id.0);
        }
    }

    /// Extended, driver-specific counters as (name, value) pairs.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>, DpdkError> {
        ensure_live()?;
        // The count can change between calls (e.g. queues reconfigured):
        // retry a few times on a mismatch.
        for _ in 0..4 {
            // SAFETY: NULL/0 asks only for the count; DPDK validates the port.
            let n = unsafe { ffi::rte_eth_xstats_get_names(self.id.0, std::ptr::null_mut(), 0) };
            self.check(PortOp::Xstats, n)?;
            let n = n as usize;
            let mut names = vec![ffi::rte_eth_xstat_name::default(); n];
            let mut vals = vec![ffi::rte_eth_xstat::default(); n];
            // SAFETY: names has room for n entries, as passed.
            let got =
                unsafe { ffi::rte_eth_xstats_get_names(self.id.0, names.as_mut_ptr(), n as u32) };
            self.check(PortOp::Xstats, got)?;
            // SAFETY: vals has room for n entries, as passed.
            let got_v = unsafe { ffi::rte_eth_xstats_get(self.id.0, vals.as_mut_ptr(), n as u32) };
            self.check(PortOp::Xstats, got_v)?;
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
        Err(port_err(self.id, PortOp::Xstats, -libc::EAGAIN))
    }

    /// The fast-path handle for rx queue `q`, for one worker thread.
    ///
    /// # Panics
    /// If the port does not exist or has no rx queue `q`: bursting on it
    /// would read out of DPDK's arrays, so this is checked once, here.
    pub fn rx_queue(&self, q: u16) -> RxQueue {
        let n = self.raw_info().map(|i| i.nb_rx_queues);
        match n {
            Ok(n) if q < n => RxQueue::new(self.id, q),
            Ok(n) => panic!("port {}: rx queue {q} requested, port has {n}", self.id),
            Err(e) => panic!("port {}: rx queue {q} requested: {e}", self.id),
        }
    }

    /// The fast-path handle for tx queue `q`, for one worker thread.
    ///
    /// # Panics
    /// If the port does not exist or has no tx queue `q` (as for
    /// [`rx_queue`](Port::rx_queue)).
    pub fn tx_queue(&self, q: u16) -> TxQueue {
        let n = self.raw_info().map(|i| i.nb_tx_queues);
        match n {
            Ok(n) if q < n => TxQueue::new(self.id, q),
            Ok(n) => panic!("port {}: tx queue {q} requested, port has {n}", self.id),
            Err(e) => panic!("port {}: tx queue {q} requested: {e}", self.id),
        }
    }
}
