//! The `nic` service's calls: what the ports' devices themselves report
//! (ethdev counters, link, extended statistics, the mbuf pool). The
//! service is the backend's (the binary implements it over DPDK), so that
//! every device query runs on the control thread, never on a management
//! thread; these types are shared by the HTTP server and `moose show`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::Call;

/// Every port's device counters and link, and the pool's free buffers.
pub struct NicQuery;

impl Call for NicQuery {
    const SERVICE: &'static str = "nic";
    type Reply = NicReport;
}

/// Every port's extended statistics, by port name then counter name.
pub struct XstatsQuery;

impl Call for XstatsQuery {
    const SERVICE: &'static str = "nic";
    type Reply = BTreeMap<String, Option<BTreeMap<String, u64>>>;
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub up: bool,
    pub speed_mbps: u32,
    pub full_duplex: bool,
}

/// The device's own counters (ethdev `rte_eth_stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicCounters {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    /// Frames that arrived and found no room: no free rx descriptor, or
    /// (`net_af_packet`) a full kernel ring (`kernel_drops`, included).
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    pub rx_nombuf: u64,
    pub kernel_drops: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicPort {
    pub name: String,
    pub link: Link,
    pub mtu: Option<u16>,
    /// `None` if the device did not answer (e.g. while it is re-attached).
    pub counters: Option<NicCounters>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicReport {
    pub ports: Vec<NicPort>,
    pub mempool_available: u64,
    pub mempool_in_use: u64,
}
