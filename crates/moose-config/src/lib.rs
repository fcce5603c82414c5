//! The moose configuration file.
//!
//! Two layers, as in Snabb: [`raw`] is the TOML schema exactly as written
//! (serde, unknown keys rejected), and [`Config`] is the validated form the
//! rest of moose uses. Validation happens once, in [`Config::from_toml`], and
//! every error names the key it is about (`port[1].device: ...`); input that
//! is not UTF-8 or not TOML is reported once, with its line and column.
//! Nothing downstream re-checks what is validated here.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use moose_wire::{Mac, Vlan};

mod device;
mod dhcp;
mod diff;
pub mod elk;
mod locate;
mod moose;
pub mod mps;
mod punt;
pub mod raw;

pub use device::{parse_device, DeviceIdentity, DeviceKind};
pub use dhcp::{DhcpPool, Ipv4Subnet};
pub use diff::{show_storm, Changes, Refused};
pub use elk::{Elk, StaticBinding};
pub use locate::Location;
pub use moose::{auto_prefix, slap_quadrant, HostIds, Key, Moose, Route, Routing};
pub use punt::{PuntClass, PuntLimits, PuntRate};

/// A configuration error, naming the key and the reason (or, for input that
/// is not UTF-8 or not TOML, the file and the position). Each is one
/// message: no variant has a `source`, so an error chain prints it once.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {reason}")]
    Io {
        path: String,
        reason: std::io::Error,
    },
    /// The first byte that is not UTF-8: its offset, and the line and
    /// column it starts.
    #[error(
        "{}not valid UTF-8: {} at byte offset {offset} ({at})",
        in_file(file),
        bad_utf8(*byte, *truncated)
    )]
    Utf8 {
        file: Option<String>,
        offset: usize,
        at: Location,
        byte: Option<u8>,
        /// The text ends inside a multi-byte character.
        truncated: bool,
    },
    #[error("{}invalid TOML at {at}: {message}", in_file(file))]
    Syntax {
        file: Option<String>,
        at: Location,
        message: String,
    },
    /// Valid TOML that does not fit the schema: an unknown key, a missing
    /// one, a value of the wrong type.
    #[error("{key}: {reason}{}", at.map(|a| format!(" ({a})")).unwrap_or_default())]
    Schema {
        key: String,
        reason: String,
        at: Option<Location>,
    },
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
}

fn in_file(file: &Option<String>) -> String {
    file.as_ref().map(|f| format!("{f}: ")).unwrap_or_default()
}

fn bad_utf8(byte: Option<u8>, truncated: bool) -> String {
    match (byte, truncated) {
        (Some(b), false) => format!("byte {b:#04x}"),
        (Some(b), true) => format!("the file ends inside a character (byte {b:#04x})"),
        (None, _) => "the file ends inside a character".into(),
    }
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// How a worker waits when its queues are empty.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IdleMode {
    /// Busy-poll: lowest latency, one core at 100 %.
    Poll,
    /// Sleep `sleep` after `polls` consecutive empty polls, so that several
    /// appliances can share cores.
    Backoff { polls: u32, sleep: Duration },
}

/// What a port is for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An 802.1Q learning bridge port.
    Legacy,
    /// A MOOSE edge port: its hosts get MOOSE addresses, frames are
    /// translated in place (needs `[moose]`).
    Edge,
    /// A link to another moose switch: carries translated frames unchanged
    /// (needs `[moose]`).
    Fabric,
}

/// A set of VLAN ids as a 4096-bit map.
#[derive(Clone, PartialEq, Eq)]
pub struct VlanSet([u64; 64]);

impl VlanSet {
    pub fn all() -> VlanSet {
        let mut s = VlanSet([u64::MAX; 64]);
        s.remove(0);
        s.remove(4095);
        s
    }

    pub fn empty() -> VlanSet {
        VlanSet([0; 64])
    }

    pub fn insert(&mut self, vid: u16) {
        self.0[usize::from(vid >> 6) & 63] |= 1 << (vid & 63);
    }

    pub fn remove(&mut self, vid: u16) {
        self.0[usize::from(vid >> 6) & 63] &= !(1 << (vid & 63));
    }

    #[inline]
    pub fn contains(&self, vid: u16) -> bool {
        self.0[usize::from(vid >> 6) & 63] & (1 << (vid & 63)) != 0
    }

    pub fn is_all(&self) -> bool {
        *self == VlanSet::all()
    }

    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (1u16..4095).filter(|v| self.contains(*v))
    }
}

impl fmt::Debug for VlanSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return write!(f, "all");
        }
        f.debug_list().entries(self.iter()).finish()
    }
}

#[derive(Clone, Debug)]
pub struct PortConfig {
    pub name: String,
    pub role: Role,
    /// DPDK device arguments: a PCI address or vdev devargs, as written.
    pub device: String,
    /// What `device` resolves to; no two ports share a device name or a
    /// kernel interface.
    pub identity: DeviceIdentity,
    /// VLAN of untagged and priority-tagged frames.
    pub pvid: Vlan,
    /// VLANs this port carries.
    pub vlans: VlanSet,
    /// Most dynamic FDB entries this port may hold; `None` is unlimited.
    pub learn_limit: Option<u32>,
    pub rx_desc: u16,
    pub tx_desc: u16,
    pub promiscuous: bool,
    /// `host_ids = "pool"`: the addresses this edge port's hosts get.
    pub host_pool: Option<moose_wire::MacPrefix>,
    /// Storm control of the frames this port floods.
    pub storm: Storm,
    /// A fabric port's link cost in the link-state protocol.
    pub cost: u16,
    /// `emulate_mac_slots = N`: the port's MAC filter is the software
    /// model with N unicast entries (reported as emulated), not the NIC's.
    pub emulate_mac_slots: Option<usize>,
}

/// The cost of a fabric link without `port[].cost`.
pub const DEFAULT_COST: u16 = 10;

/// Storm control: the most frames per second a port's ingress may flood,
/// per class (`None`: no limit). Enforced by each worker on the frames it
/// receives, with its share of the rate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Storm {
    pub broadcast_pps: Option<u32>,
    pub multicast_pps: Option<u32>,
    pub unknown_unicast_pps: Option<u32>,
}

impl Storm {
    /// Whether any class is limited.
    pub fn any(&self) -> bool {
        self.broadcast_pps.is_some()
            || self.multicast_pps.is_some()
            || self.unknown_unicast_pps.is_some()
    }
}

/// Most frames per second a storm-control rate may name.
pub const MAX_STORM_PPS: u32 = 100_000_000;

#[derive(Clone, Debug)]
pub struct StaticFdb {
    pub mac: Mac,
    pub vlan: Vlan,
    /// Index into [`Config::ports`].
    pub port: usize,
}

#[derive(Clone, Debug)]
pub struct Dataplane {
    pub workers: usize,
    /// Core of each worker (`cores[i]` for worker `i`).
    pub cores: Vec<usize>,
    /// Core of the slow-path thread, if pinned.
    pub control_core: Option<usize>,
    pub idle: IdleMode,
    pub eal: Vec<String>,
    pub burst: usize,
    pub max_frame: usize,
    /// Data room of each mbuf (bytes, without headroom).
    pub mbuf_size: u16,
    pub mbufs: u32,
    /// Per-port tx buffers are flushed at least this often.
    pub drain: Duration,
    /// Capacity of each worker → slow path punt ring.
    pub punt_ring: usize,
    /// Slots of each worker's flow cache (a power of two).
    pub flow_cache: usize,
    /// Let DPDK secondary processes (`dpdk-dumpcap`, `dpdk-pdump`,
    /// `dpdk-proc-info`) attach: the worker and control threads are then
    /// not registered with the EAL, which DPDK 22.11 refuses once a
    /// secondary may attach (`rte_thread_register` disables multi-process).
    pub multi_process: bool,
}

#[derive(Clone, Debug)]
pub struct Bridge {
    pub aging: Duration,
    /// Most FDB entries the switch holds, static ones included.
    pub max_entries: usize,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub name: String,
    pub dataplane: Dataplane,
    pub bridge: Bridge,
    pub ports: Vec<PortConfig>,
    pub static_fdb: Vec<StaticFdb>,
    pub metrics: Option<SocketAddr>,
    /// Rate limits of each punt class.
    pub punt: PuntLimits,
    /// `[moose]`; `None` on a switch without MOOSE ports.
    pub moose: Option<Moose>,
    /// Static MAC routes.
    pub routes: Vec<Route>,
    /// The link-state protocol (defaults without a `[routing]` table).
    pub routing: Routing,
    /// `[[sticky_host]]`: hosts pinned to an edge port of this switch;
    /// they never move (frames from them elsewhere are dropped, a
    /// handover for them is refused).
    pub sticky_hosts: Vec<StaticFdb>,
    /// `[elk]`: the ARP/ND directory (off without `[moose]`).
    pub elk: Elk,
    /// `[[dhcp.pool]]`: the built-in DHCPv4 server's pools, at most one
    /// per VLAN.
    pub dhcp: Vec<DhcpPool>,
    /// `[mps]`: the MAC provider service's pools; `None` without `[mps]`.
    pub mps: Option<mps::Mps>,
}

impl Config {
    /// Reads and validates a configuration file. Encoding and syntax errors
    /// name the file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|reason| ConfigError::Io {
            path: name.clone(),
            reason,
        })?;
        Config::parse(&bytes, Some(&name))
    }

    /// Validates a configuration held in memory, which must be UTF-8.
    pub fn from_bytes(bytes: &[u8]) -> Result<Config, ConfigError> {
        Config::parse(bytes, None)
    }

    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Config::parse_text(text, None)
    }

    fn parse(bytes: &[u8], file: Option<&str>) -> Result<Config, ConfigError> {
        let text = std::str::from_utf8(bytes).map_err(|e| locate::utf8_error(bytes, e, file))?;
        Config::parse_text(text, file)
    }

    fn parse_text(text: &str, file: Option<&str>) -> Result<Config, ConfigError> {
        let raw: raw::File =
            toml::from_str(text).map_err(|e| locate::toml_error(text, &e, file))?;
        Config::validate(raw)
    }

    /// The core of the control thread (`dataplane.control_core`, default 0).
    pub fn control_core(&self) -> usize {
        self.dataplane.control_core.unwrap_or(0)
    }

    /// The core of each worker on a machine with `n_cpus` cores:
    /// `dataplane.cores`, or by default the cores after the control core,
    /// wrapping around. Fails, naming the key, if the control core or a
    /// listed core does not exist.
    pub fn worker_cores(&self, n_cpus: usize) -> Result<Vec<usize>, ConfigError> {
        let control = self.control_core();
        let missing = |c: usize| format!("core {c} does not exist (this machine has {n_cpus})");
        if control >= n_cpus {
            return Err(invalid("dataplane.control_core", missing(control)));
        }
        if self.dataplane.cores.is_empty() {
            return Ok((0..self.dataplane.workers)
                .map(|i| (control + 1 + i) % n_cpus)
                .collect());
        }
        for (i, &c) in self.dataplane.cores.iter().enumerate() {
            if c >= n_cpus {
                return Err(invalid(format!("dataplane.cores[{i}]"), missing(c)));
            }
        }
        Ok(self.dataplane.cores.clone())
    }

    pub fn port_index(&self, name: &str) -> Option<usize> {
        self.ports.iter().position(|p| p.name == name)
    }

    fn port_names(&self) -> HashMap<String, usize> {
        self.ports
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), i))
            .collect()
    }

    /// A static FDB entry given while moose runs (the management API),
    /// checked as a `[[static_fdb]]` entry is: a unicast MAC, a VLAN the
    /// port carries, an existing port. Errors name `key(field)`.
    pub fn check_static_fdb(
        &self,
        mac: &str,
        vlan: u32,
        port: &str,
        key: &dyn Fn(&str) -> String,
    ) -> Result<StaticFdb, ConfigError> {
        let raw = raw::StaticFdb {
            mac: mac.to_string(),
            vlan,
            port: port.to_string(),
        };
        let (mac, vlan, port) = host_entry(&raw, key, &self.port_names())?;
        static_vlan(&self.ports[port], vlan, key)?;
        Ok(StaticFdb { mac, vlan, port })
    }

    /// A static MAC route given while moose runs (the management API),
    /// checked as a `[[route]]` is, but for the prefix being unique, which
    /// the caller knows. Errors name `key(field)`.
    pub fn check_route(
        &self,
        prefix: &str,
        ports: Vec<String>,
        key: &dyn Fn(&str) -> String,
    ) -> Result<Route, ConfigError> {
        route(
            prefix,
            ports,
            key,
            &self.port_names(),
            &self.ports,
            self.moose.as_ref(),
        )
    }

    fn validate(raw: raw::File) -> Result<Config, ConfigError> {
        let name = raw.switch.name;
        if name.is_empty() || name.len() > 64 {
            return Err(invalid("switch.name", "must be 1 to 64 characters"));
        }

        let dp = raw.dataplane;
        if dp.workers == 0 || dp.workers > 128 {
            return Err(invalid(
                "dataplane.workers",
                format!("{} is not in 1..=128", dp.workers),
            ));
        }
        let cores = match dp.cores {
            Some(c) => {
                if c.len() != dp.workers {
                    return Err(invalid(
                        "dataplane.cores",
                        format!("lists {} cores for {} workers", c.len(), dp.workers),
                    ));
                }
                let mut seen = c.clone();
                seen.sort_unstable();
                seen.dedup();
                if seen.len() != c.len() {
                    return Err(invalid("dataplane.cores", "a core is listed twice"));
                }
                c
            }
            None => Vec::new(),
        };
        let idle = match dp.idle.as_str() {
            "poll" => IdleMode::Poll,
            "backoff" => {
                if dp.backoff_sleep_us == 0 || dp.backoff_sleep_us > 100_000 {
                    return Err(invalid("dataplane.backoff_sleep_us", "must be 1..=100000"));
                }
                IdleMode::Backoff {
                    polls: dp.backoff_polls,
                    sleep: Duration::from_micros(dp.backoff_sleep_us),
                }
            }
            other => {
                return Err(invalid(
                    "dataplane.idle",
                    format!("{other:?} is not one of \"poll\", \"backoff\""),
                ))
            }
        };
        if !(1..=64).contains(&dp.burst) {
            return Err(invalid(
                "dataplane.burst",
                format!("{} is not in 1..=64", dp.burst),
            ));
        }
        if !(64..=9600).contains(&dp.max_frame) {
            return Err(invalid(
                "dataplane.max_frame",
                format!("{} is not in 64..=9600", dp.max_frame),
            ));
        }
        if !(1024..=16384).contains(&dp.mbuf_size) {
            return Err(invalid(
                "dataplane.mbuf_size",
                format!("{} is not in 1024..=16384", dp.mbuf_size),
            ));
        }
        if dp.max_frame > dp.mbuf_size {
            return Err(invalid(
                "dataplane.max_frame",
                format!(
                    "{} is larger than dataplane.mbuf_size ({})",
                    dp.max_frame, dp.mbuf_size
                ),
            ));
        }
        if dp.mbufs < 1024 {
            return Err(invalid("dataplane.mbufs", "must be at least 1024"));
        }
        if !(1..=100_000).contains(&dp.drain_us) {
            return Err(invalid("dataplane.drain_us", "must be 1..=100000"));
        }
        if !dp.punt_ring.is_power_of_two() || dp.punt_ring < 64 {
            return Err(invalid(
                "dataplane.punt_ring",
                "must be a power of two ≥ 64",
            ));
        }
        if !dp.flow_cache.is_power_of_two() || !(16..=1 << 20).contains(&dp.flow_cache) {
            return Err(invalid(
                "dataplane.flow_cache",
                format!("{} is not a power of two in 16..=1048576", dp.flow_cache),
            ));
        }
        let dataplane = Dataplane {
            workers: dp.workers,
            cores,
            control_core: dp.control_core,
            idle,
            eal: dp.eal,
            burst: dp.burst,
            max_frame: dp.max_frame,
            mbuf_size: dp.mbuf_size as u16,
            mbufs: dp.mbufs,
            drain: Duration::from_micros(dp.drain_us),
            punt_ring: dp.punt_ring,
            flow_cache: dp.flow_cache,
            multi_process: dp.multi_process,
        };

        if raw.bridge.aging_secs == 0 || raw.bridge.aging_secs > 1_000_000 {
            return Err(invalid("bridge.aging_secs", "must be 1..=1000000"));
        }
        if !(1..=16_777_216).contains(&raw.bridge.max_entries) {
            return Err(invalid(
                "bridge.max_entries",
                format!("{} is not in 1..=16777216", raw.bridge.max_entries),
            ));
        }
        let bridge = Bridge {
            aging: Duration::from_secs(raw.bridge.aging_secs),
            max_entries: raw.bridge.max_entries,
        };

        if raw.port.is_empty() {
            return Err(invalid("port", "at least one [[port]] is required"));
        }
        if raw.port.len() > 64 {
            return Err(invalid("port", "at most 64 ports are supported"));
        }
        let mut ports = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut devices: HashMap<String, usize> = HashMap::new();
        let mut ifaces: HashMap<String, usize> = HashMap::new();
        let moose = raw.moose.map(|m| moose::validate(m, &name)).transpose()?;
        let has_moose = moose.is_some();
        for (i, p) in raw.port.into_iter().enumerate() {
            let key = |k: &str| format!("port[{i}].{k}");
            if p.name.is_empty()
                || p.name.len() > 32
                || !p
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(invalid(
                    key("name"),
                    format!("{:?} must be 1 to 32 of [A-Za-z0-9._-]", p.name),
                ));
            }
            if let Some(j) = names.insert(p.name.clone(), i) {
                return Err(invalid(
                    key("name"),
                    format!("duplicate port name {:?} (also port[{j}])", p.name),
                ));
            }
            let role = match p.role.as_str() {
                "legacy" => Role::Legacy,
                "edge" | "fabric" if !has_moose => {
                    return Err(invalid(
                        key("role"),
                        format!(
                            "role {:?} needs a [moose] table with the switch's prefix",
                            p.role
                        ),
                    ))
                }
                "edge" => Role::Edge,
                "fabric" => Role::Fabric,
                other => {
                    return Err(invalid(
                        key("role"),
                        format!("{other:?} is not one of \"legacy\", \"edge\", \"fabric\""),
                    ))
                }
            };
            let identity = parse_device(&p.device).map_err(|r| invalid(key("device"), r))?;
            let other = |j: usize| {
                let o: &PortConfig = &ports[j];
                format!("port[{j}] ({:?}, device {:?})", o.name, o.device)
            };
            if let Some(&j) = devices.get(&identity.name) {
                return Err(invalid(
                    key("device"),
                    format!(
                        "{:?} is device {}, already used by {}",
                        p.device,
                        identity.name,
                        other(j)
                    ),
                ));
            }
            for ifname in &identity.kernel_ifaces {
                if let Some(&j) = ifaces.get(ifname) {
                    return Err(invalid(
                        key("device"),
                        format!(
                            "kernel interface {ifname:?} is already used by {}",
                            other(j)
                        ),
                    ));
                }
            }
            devices.insert(identity.name.clone(), i);
            for ifname in &identity.kernel_ifaces {
                ifaces.insert(ifname.clone(), i);
            }
            let pvid = Vlan::new(p.pvid).map_err(|e| invalid(key("pvid"), e.to_string()))?;
            let vlans = match p.vlans {
                None => VlanSet::all(),
                Some(list) => {
                    let mut s = VlanSet::empty();
                    for v in list {
                        let v = Vlan::new(v).map_err(|e| invalid(key("vlans"), e.to_string()))?;
                        s.insert(v.get());
                    }
                    s
                }
            };
            if !vlans.contains(pvid.get()) {
                return Err(invalid(
                    key("pvid"),
                    format!("VLAN {pvid} is not in this port's vlans"),
                ));
            }
            if p.learn_limit == Some(0) {
                return Err(invalid(
                    key("learn_limit"),
                    "must be at least 1 (omit it for no limit)",
                ));
            }
            let storm = match &p.storm {
                None => Storm::default(),
                Some(st) => {
                    for (k, v) in [
                        ("broadcast_pps", st.broadcast_pps),
                        ("multicast_pps", st.multicast_pps),
                        ("unknown_unicast_pps", st.unknown_unicast_pps),
                    ] {
                        if let Some(v) = v {
                            if !(1..=MAX_STORM_PPS).contains(&v) {
                                return Err(invalid(
                                    key(&format!("storm.{k}")),
                                    format!("{v} must be in 1..={MAX_STORM_PPS} frames per second (omit it for no limit)"),
                                ));
                            }
                        }
                    }
                    Storm {
                        broadcast_pps: st.broadcast_pps,
                        multicast_pps: st.multicast_pps,
                        unknown_unicast_pps: st.unknown_unicast_pps,
                    }
                }
            };
            for (k, v) in [("rx_desc", p.rx_desc), ("tx_desc", p.tx_desc)] {
                if !(64..=16384).contains(&v) || !v.is_power_of_two() {
                    return Err(invalid(
                        key(k),
                        format!("{v} must be a power of two in 64..=16384"),
                    ));
                }
            }
            let cost = match (p.cost, role) {
                (None, _) => DEFAULT_COST,
                (Some(c), Role::Fabric) if (1..=65_535).contains(&c) => c as u16,
                (Some(c), Role::Fabric) => {
                    return Err(invalid(key("cost"), format!("{c} is not in 1..=65535")))
                }
                (Some(_), _) => {
                    return Err(invalid(key("cost"), "only fabric ports have a link cost"))
                }
            };
            ports.push(PortConfig {
                name: p.name,
                cost,
                role,
                device: p.device,
                identity,
                pvid,
                vlans,
                learn_limit: p.learn_limit,
                rx_desc: p.rx_desc,
                tx_desc: p.tx_desc,
                promiscuous: p.promiscuous,
                host_pool: host_pool(i, p.host_pool.as_deref(), role, moose.as_ref())?,
                storm,
                emulate_mac_slots: match p.emulate_mac_slots {
                    Some(n) if !(1..=128).contains(&n) => {
                        return Err(invalid(
                            format!("port[{i}].emulate_mac_slots"),
                            format!("{n} is not in 1..=128 (filter entries, the port's own address's included)"),
                        ))
                    }
                    n => n,
                },
            });
        }
        if let Some(m) = &moose {
            check_pools(&ports, m)?;
        }
        let routes = routes(raw.route, &names, &ports, moose.as_ref())?;

        let mut static_fdb = Vec::new();
        let mut seen = HashMap::new();
        for (i, s) in raw.static_fdb.into_iter().enumerate() {
            let key = |k: &str| format!("static_fdb[{i}].{k}");
            let (mac, vlan, port) = host_entry(&s, &key, &names)?;
            static_vlan(&ports[port], vlan, &key)?;
            if seen.insert((vlan, mac), i).is_some() {
                return Err(invalid(
                    key("mac"),
                    format!("{mac} on VLAN {vlan} is listed twice"),
                ));
            }
            static_fdb.push(StaticFdb { mac, vlan, port });
        }

        if static_fdb.len() > bridge.max_entries {
            return Err(invalid(
                "static_fdb",
                format!(
                    "{} static entries do not fit in bridge.max_entries ({})",
                    static_fdb.len(),
                    bridge.max_entries
                ),
            ));
        }

        let metrics = match raw.metrics.listen {
            None => None,
            Some(s) if s.is_empty() => None,
            Some(s) => Some(s.parse::<SocketAddr>().map_err(|e| {
                invalid(
                    "metrics.listen",
                    format!("{s:?} is not an address:port ({e})"),
                )
            })?),
        };

        let punt = PuntLimits::from_raw(raw.punt)?;
        if raw.routing.is_some() && moose.is_none() {
            return Err(invalid(
                "routing",
                "the link-state protocol needs a [moose] table",
            ));
        }
        let routing = moose::validate_routing(raw.routing.unwrap_or_default())?;
        let mut sticky_hosts = Vec::new();
        for (i, s) in raw.sticky_host.into_iter().enumerate() {
            let key = |k: &str| format!("sticky_host[{i}].{k}");
            if moose.is_none() {
                return Err(invalid(key("mac"), "sticky hosts need a [moose] table"));
            }
            let (mac, vlan, port) = host_entry(&s, &key, &names)?;
            if ports[port].role != Role::Edge {
                return Err(invalid(
                    key("port"),
                    format!("{:?} is not an edge port", s.port),
                ));
            }
            if sticky_hosts
                .iter()
                .any(|x: &StaticFdb| x.mac == mac && x.vlan == vlan)
            {
                return Err(invalid(
                    key("mac"),
                    format!("{mac} on VLAN {vlan} is listed twice"),
                ));
            }
            sticky_hosts.push(StaticFdb { mac, vlan, port });
        }

        let roles: Vec<Role> = ports.iter().map(|p| p.role).collect();
        let elk = elk::validate(raw.elk, moose.as_ref(), &roles)?;
        let dhcp = dhcp::validate(raw.dhcp, &ports)?;
        // The server is ELK's: it answers the DHCP frames ELK is given.
        for (i, p) in dhcp.iter().enumerate() {
            if moose.is_none() || !elk.enabled {
                return Err(invalid(
                    "dhcp.pool",
                    "the built-in DHCP server runs in ELK: it needs [moose] and elk.enabled",
                ));
            }
            if !elk.vlans.contains(p.vlan.get()) {
                return Err(invalid(
                    format!("dhcp.pool[{i}].vlan"),
                    format!("VLAN {} is not one of elk.vlans", p.vlan.get()),
                ));
            }
        }

        let mut taken: mps::Taken = Vec::new();
        if let Some(m) = moose.as_ref().filter(|m| !m.auto_prefix) {
            let p = m.switch.prefix();
            taken.push((
                "moose.prefix".into(),
                p.addr().to_u64(),
                p.addr().to_u64() | ((1u64 << (48 - u32::from(p.len()))) - 1),
            ));
        }
        // A route shorter than /8 (a default or an aggregate towards an
        // uplink) is not a switch's block of addresses.
        for (i, r) in routes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.prefix.len() >= 8)
        {
            let a = r.prefix.addr().to_u64();
            taken.push((
                format!("route[{i}] {}", r.prefix),
                a,
                a | ((1u64 << (48 - u32::from(r.prefix.len()))) - 1),
            ));
        }
        if moose.is_some() {
            let d = elk.directory_address.to_u64();
            taken.push(("the directory address".into(), d, d));
        }
        let mps = mps::validate(
            raw.mps,
            moose.as_ref().and_then(|m| m.state_dir.as_ref()),
            &taken,
        )?;

        Ok(Config {
            elk,
            dhcp,
            mps,
            moose,
            routes,
            routing,
            sticky_hosts,
            name,
            dataplane,
            bridge,
            ports,
            static_fdb,
            metrics,
            punt,
        })
    }
}

/// Checks a DPDK device string; see [`parse_device`], which also says what
/// it resolves to.
pub fn validate_device(dev: &str) -> Result<(), String> {
    parse_device(dev).map(|_| ())
}

#[cfg(test)]
mod tests;

/// `port[i].host_pool`: only on edge ports of a `host_ids = "pool"` switch,
/// where every edge port has one, inside the switch prefix.
fn host_pool(
    i: usize,
    pool: Option<&str>,
    role: Role,
    m: Option<&Moose>,
) -> Result<Option<moose_wire::MacPrefix>, ConfigError> {
    let key = format!("port[{i}].host_pool");
    let is_pool = m.is_some_and(|m| m.host_ids == HostIds::Pool);
    match pool {
        None if is_pool && role == Role::Edge => Err(invalid(
            key,
            "moose.host_ids is \"pool\": every edge port needs a host_pool inside the switch prefix",
        )),
        None => Ok(None),
        Some(_) if !is_pool || role != Role::Edge => Err(invalid(
            key,
            "only edge ports of a switch with moose.host_ids = \"pool\" have a host_pool",
        )),
        Some(s) => {
            let p: moose_wire::MacPrefix = s
                .parse()
                .map_err(|e: moose_wire::AddrError| invalid(&key, e.to_string()))?;
            let sw = m.map(|m| m.switch.prefix()).unwrap_or(moose_wire::MacPrefix::ALL);
            if p.len() <= sw.len() || !sw.contains(p.addr()) {
                return Err(invalid(
                    key,
                    format!("{p} is not a part of the switch prefix {sw} (longer, inside it)"),
                ));
            }
            Ok(Some(p))
        }
    }
}

/// Host pools of different ports may not overlap.
fn check_pools(ports: &[PortConfig], _m: &Moose) -> Result<(), ConfigError> {
    for (i, a) in ports.iter().enumerate() {
        let Some(pa) = a.host_pool else { continue };
        for (j, b) in ports.iter().enumerate().skip(i + 1) {
            let Some(pb) = b.host_pool else { continue };
            if pa.contains(pb.addr()) || pb.contains(pa.addr()) {
                return Err(invalid(
                    format!("port[{j}].host_pool"),
                    format!("{pb} overlaps port[{i}]'s host_pool {pa}"),
                ));
            }
        }
    }
    Ok(())
}

/// A unicast MAC written at `key`.
pub(crate) fn unicast_mac(key: &str, text: &str) -> Result<Mac, ConfigError> {
    let mac: Mac = text
        .parse()
        .map_err(|e: moose_wire::MacParseError| invalid(key, e.to_string()))?;
    if mac.is_multicast() || mac.is_zero() {
        return Err(invalid(key, format!("{mac} is not a unicast address")));
    }
    Ok(mac)
}

/// The (MAC, VLAN, port) of a `[[static_fdb]]` or `[[sticky_host]]`
/// entry: a unicast MAC, a valid VLAN, an existing port.
fn host_entry(
    s: &raw::StaticFdb,
    key: &dyn Fn(&str) -> String,
    names: &HashMap<String, usize>,
) -> Result<(Mac, Vlan, usize), ConfigError> {
    let mac = unicast_mac(&key("mac"), &s.mac)?;
    let vlan = Vlan::new(s.vlan).map_err(|e| invalid(key("vlan"), e.to_string()))?;
    let port = names
        .get(&s.port)
        .copied()
        .ok_or_else(|| invalid(key("port"), format!("no port named {:?}", s.port)))?;
    Ok((mac, vlan, port))
}

/// A static entry's port must carry its VLAN.
fn static_vlan(
    port: &PortConfig,
    vlan: Vlan,
    key: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    if port.vlans.contains(vlan.get()) {
        Ok(())
    } else {
        Err(invalid(
            key("vlan"),
            format!("port {:?} does not carry VLAN {vlan}", port.name),
        ))
    }
}

/// `[[route]]`: prefixes parse, are not the switch's own (nor inside it),
/// appear once, and go to existing fabric or legacy ports.
fn routes(
    raw: Vec<raw::Route>,
    names: &HashMap<String, usize>,
    ports: &[PortConfig],
    m: Option<&Moose>,
) -> Result<Vec<Route>, ConfigError> {
    let mut out: Vec<Route> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("route[{i}].{k}");
        let bad = || invalid(key("port"), "expected a port name or a list of port names");
        let list: Vec<String> = match r.port {
            toml::Value::String(p) => vec![p],
            toml::Value::Array(v) => v
                .into_iter()
                .map(|x| match x {
                    toml::Value::String(p) => Ok(p),
                    _ => Err(bad()),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(bad()),
        };
        let r = route(&r.prefix, list, &key, names, ports, m)?;
        if let Some(j) = out.iter().position(|o| o.prefix == r.prefix) {
            return Err(invalid(
                key("prefix"),
                format!("{} is also route[{j}]", r.prefix),
            ));
        }
        out.push(r);
    }
    Ok(out)
}

/// One static route: the prefix parses and is not the switch's own (nor
/// inside it); 1 to 16 distinct existing ports, none of them an edge port.
fn route(
    prefix: &str,
    list: Vec<String>,
    key: &dyn Fn(&str) -> String,
    names: &HashMap<String, usize>,
    ports: &[PortConfig],
    m: Option<&Moose>,
) -> Result<Route, ConfigError> {
    let Some(m) = m else {
        return Err(invalid(key("prefix"), "MAC routes need a [moose] table"));
    };
    let prefix: moose_wire::MacPrefix = prefix
        .parse()
        .map_err(|e: moose_wire::AddrError| invalid(key("prefix"), e.to_string()))?;
    let own = m.switch.prefix();
    if !m.auto_prefix && prefix.len() >= own.len() && own.contains(prefix.addr()) {
        return Err(invalid(
            key("prefix"),
            format!("{prefix} is inside this switch's own prefix {own}, which is local"),
        ));
    }
    if list.is_empty() || list.len() > 16 {
        return Err(invalid(key("port"), "needs 1 to 16 ports"));
    }
    let mut idx = Vec::new();
    for name in &list {
        let &p = names
            .get(name)
            .ok_or_else(|| invalid(key("port"), format!("no port named {name:?}")))?;
        if ports[p].role == Role::Edge {
            return Err(invalid(
                key("port"),
                format!("{name:?} is an edge port; routes lead to fabric (or legacy) ports"),
            ));
        }
        if idx.contains(&p) {
            return Err(invalid(key("port"), format!("{name:?} is listed twice")));
        }
        idx.push(p);
    }
    Ok(Route { prefix, ports: idx })
}
