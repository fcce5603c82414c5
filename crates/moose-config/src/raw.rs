//! The TOML schema as written by the operator. Every table rejects unknown
//! keys; defaults live here and are documented in README.md.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub switch: Switch,
    #[serde(default)]
    pub dataplane: Dataplane,
    #[serde(default)]
    pub bridge: Bridge,
    #[serde(default)]
    pub port: Vec<Port>,
    #[serde(default)]
    pub static_fdb: Vec<StaticFdb>,
    #[serde(default)]
    pub metrics: Metrics,
    #[serde(default)]
    pub punt: Punt,
    pub moose: Option<Moose>,
    #[serde(default)]
    pub route: Vec<Route>,
    pub routing: Option<Routing>,
    #[serde(default)]
    pub sticky_host: Vec<StaticFdb>,
    pub elk: Option<crate::elk::RawElk>,
    /// `[dhcp]`, with `[[dhcp.pool]]` (see `crate::dhcp`).
    #[serde(default)]
    pub dhcp: crate::dhcp::RawDhcp,
    /// `[mps]`, with `[[mps.pool]]` (see `crate::mps`).
    pub mps: Option<crate::mps::RawMps>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dataplane {
    pub workers: usize,
    pub cores: Option<Vec<usize>>,
    pub control_core: Option<usize>,
    pub idle: String,
    pub backoff_polls: u32,
    pub backoff_sleep_us: u64,
    pub eal: Vec<String>,
    pub burst: usize,
    pub max_frame: usize,
    pub mbuf_size: usize,
    pub mbufs: u32,
    pub drain_us: u64,
    pub punt_ring: usize,
    pub flow_cache: usize,
    pub multi_process: bool,
}

impl Default for Dataplane {
    fn default() -> Self {
        Dataplane {
            workers: 1,
            cores: None,
            control_core: None,
            idle: "poll".into(),
            backoff_polls: 64,
            backoff_sleep_us: 200,
            eal: Vec::new(),
            burst: 32,
            max_frame: 1522,
            mbuf_size: 2048,
            mbufs: 16383,
            drain_us: 100,
            punt_ring: 4096,
            flow_cache: 16384,
            multi_process: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bridge {
    pub aging_secs: u64,
    pub max_entries: usize,
}

impl Default for Bridge {
    fn default() -> Self {
        Bridge {
            aging_secs: 300,
            max_entries: 262_144,
        }
    }
}

fn default_role() -> String {
    "legacy".into()
}
fn default_pvid() -> u32 {
    1
}
fn default_desc() -> u16 {
    1024
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub name: String,
    #[serde(default = "default_role")]
    pub role: String,
    pub device: String,
    #[serde(default = "default_pvid")]
    pub pvid: u32,
    pub vlans: Option<Vec<u32>>,
    pub learn_limit: Option<u32>,
    #[serde(default = "default_desc")]
    pub rx_desc: u16,
    #[serde(default = "default_desc")]
    pub tx_desc: u16,
    #[serde(default = "default_true")]
    pub promiscuous: bool,
    pub host_pool: Option<String>,
    pub storm: Option<Storm>,
    pub cost: Option<u32>,
    pub emulate_mac_slots: Option<usize>,
}

/// `port[].storm`: flood rate limits of the port's ingress, per class.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storm {
    pub broadcast_pps: Option<u32>,
    pub multicast_pps: Option<u32>,
    pub unknown_unicast_pps: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticFdb {
    pub mac: String,
    #[serde(default = "default_pvid")]
    pub vlan: u32,
    pub port: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    pub listen: Option<String>,
}

/// `[punt.<class>]`: one optional table per punt class. A struct rather than
/// a map so that an unknown class is an unknown key (`punt.lldp`). The
/// defaults depend on the class and are filled in by validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Punt {
    pub protocol: Option<PuntRate>,
    pub directory: Option<PuntRate>,
    pub host: Option<PuntRate>,
    pub learn: Option<PuntRate>,
    pub reserved: Option<PuntRate>,
}

/// The token buckets of one punt class; an omitted key takes the class's
/// default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PuntRate {
    pub rate_pps: Option<u32>,
    pub burst: Option<u32>,
    pub port_rate_pps: Option<u32>,
    pub port_burst: Option<u32>,
}

fn default_host_ids() -> String {
    "sequential".into()
}
fn default_host_quota() -> u32 {
    4096
}
fn default_max_hosts() -> u32 {
    65536
}
fn default_host_idle() -> u64 {
    3600
}
fn default_reuse_after() -> u64 {
    14400
}
fn default_home_hello_ms() -> u64 {
    1000
}

/// `[moose]`: this switch's MOOSE prefix and host numbering.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Moose {
    pub prefix: String,
    #[serde(default)]
    pub allow_any_quadrant: bool,
    #[serde(default = "default_host_ids")]
    pub host_ids: String,
    #[serde(default = "default_host_quota")]
    pub host_quota: u32,
    #[serde(default = "default_max_hosts")]
    pub max_hosts: u32,
    #[serde(default = "default_host_idle")]
    pub host_idle_secs: u64,
    #[serde(default = "default_reuse_after")]
    pub reuse_after_secs: u64,
    pub state_dir: Option<String>,
    #[serde(default = "default_home_hello_ms")]
    pub home_hello_ms: u64,
    #[serde(default = "default_move_hold_secs")]
    pub move_hold_secs: u64,
    #[serde(default = "default_move_limit")]
    pub move_limit: u32,
    #[serde(default = "default_move_window_secs")]
    pub move_window_secs: u64,
}

fn default_move_hold_secs() -> u64 {
    300
}
fn default_move_limit() -> u32 {
    5
}
fn default_move_window_secs() -> u64 {
    180
}

/// `[[route]]`: a static MAC route; `port` is a port name or a list of
/// names (ECMP), checked by validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub prefix: String,
    pub port: toml::Value,
}

/// `[routing]`: the link-state protocol between moose switches.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_hello_interval_ms")]
    pub hello_interval_ms: u64,
    #[serde(default = "default_dead_interval_ms")]
    pub dead_interval_ms: u64,
    #[serde(default = "default_retransmit_ms")]
    pub retransmit_ms: u64,
    #[serde(default = "default_spf_delay_ms")]
    pub spf_delay_ms: u64,
    #[serde(default = "default_refresh_secs")]
    pub refresh_secs: u64,
    #[serde(default = "default_max_age_secs")]
    pub max_age_secs: u64,
    pub switch_id: Option<String>,
    pub key: Option<String>,
    #[serde(default = "default_key_id")]
    pub key_id: u32,
    pub previous_key: Option<String>,
    pub previous_key_id: Option<u32>,
}

impl Default for Routing {
    fn default() -> Routing {
        Routing {
            enabled: true,
            hello_interval_ms: default_hello_interval_ms(),
            dead_interval_ms: default_dead_interval_ms(),
            retransmit_ms: default_retransmit_ms(),
            spf_delay_ms: default_spf_delay_ms(),
            refresh_secs: default_refresh_secs(),
            max_age_secs: default_max_age_secs(),
            switch_id: None,
            key: None,
            key_id: default_key_id(),
            previous_key: None,
            previous_key_id: None,
        }
    }
}

fn default_hello_interval_ms() -> u64 {
    100
}
fn default_dead_interval_ms() -> u64 {
    400
}
fn default_retransmit_ms() -> u64 {
    200
}
fn default_spf_delay_ms() -> u64 {
    10
}
fn default_refresh_secs() -> u64 {
    1800
}
fn default_max_age_secs() -> u64 {
    3600
}
fn default_key_id() -> u32 {
    1
}
