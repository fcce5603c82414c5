//! The `elk` service's management calls, shared by the HTTP server
//! (`/api/v1/directory`, `/metrics`) and `moose show directory`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::Call;

/// Most bindings one page holds.
pub const MAX_PAGE: usize = 10_000;

/// One page of the bindings this switch holds, in (kind, VLAN, IP) order,
/// from `offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryQuery {
    pub offset: usize,
    pub limit: usize,
}

impl Call for DirectoryQuery {
    const SERVICE: &'static str = "elk";
    type Reply = DirectoryPage;
}

/// One binding: `ip` on `vlan` is at `moose_mac`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingRecord {
    pub vlan: u16,
    pub ip: String,
    pub moose_mac: String,
    /// `arp`, `nd`, `dhcp` or `static`; `answer` for a cached answer.
    pub source: String,
    /// The switch id of the host's switch (this switch for its own).
    pub switch: String,
    /// Milliseconds since it was learned or last confirmed.
    pub age_ms: u64,
    /// `own` (a host of this switch), `directory` (held as a directory
    /// server) or `cache` (an answer kept for `cache_ttl_secs`).
    pub kind: String,
    /// For own bindings: the host's real MAC and its port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryPage {
    pub total: usize,
    pub offset: usize,
    pub bindings: Vec<BindingRecord>,
    /// The offset of the next page, if there is one.
    pub next: Option<usize>,
}

/// The service's figures.
pub struct StatsQuery;

impl Call for StatsQuery {
    const SERVICE: &'static str = "elk";
    type Reply = ElkStats;
}

/// Counters by family (`arp`, `nd`).
pub type ByFamily = BTreeMap<String, u64>;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElkStats {
    pub enabled: bool,
    pub directory: bool,
    /// Requests answered by this switch with a reply built here.
    pub answered: ByFamily,
    /// Misses sent to the directory as unicast queries.
    pub queries: ByFamily,
    /// Requests flooded along the broadcast tree (nobody knew).
    pub floods: ByFamily,
    /// Unicast probes sent to this switch's hosts before their binding
    /// expired.
    pub probes: ByFamily,
    /// ARP/ND frames dropped by inspection (`[elk] inspect`).
    pub inspection_drops: ByFamily,
    /// Frames taken from the dataplane and handed back to be delivered.
    pub passed: u64,
    /// ARP/ND/DHCP frames that do not parse, by reason.
    pub malformed: BTreeMap<String, u64>,
    /// An address claimed from two places (two hosts, or two switches).
    pub conflicts: u64,
    /// Directory queries answered (as a directory server), found or not.
    pub queries_served: u64,
    pub queries_unknown: u64,
    /// Misses whose query got no answer in `query_timeout_ms` (flooded).
    pub query_timeouts: u64,
    /// Requests dropped because too many were waiting for answers.
    pub pending_full: u64,
    /// DHCP acknowledgements snooped into bindings.
    pub dhcp_snooped: u64,
    /// Leases the built-in server granted to this switch's hosts (bound at
    /// once).
    pub dhcp_leased: u64,
    /// Client messages on a served VLAN that are not DHCP the server
    /// reads, by reason (dropped).
    pub dhcp_refused: BTreeMap<String, u64>,
    /// The built-in DHCP server's figures, if it runs.
    pub dhcp: Option<DhcpFigures>,
    /// Bindings removed: their host did not answer probes, or left.
    pub expired: u64,
    /// Bindings held: own (this switch's hosts), directory (every
    /// switch's, on a directory server), cache (answers).
    pub own_entries: usize,
    pub directory_entries: usize,
    pub cache_entries: usize,
    /// What they take in memory: per entry its key, its value and the
    /// map's own overhead (see the README's ELK section).
    pub own_bytes: usize,
    pub directory_bytes: usize,
    pub cache_bytes: usize,
    /// Requests waiting for a directory answer now.
    pub pending: usize,
}

/// The built-in DHCPv4 server's counters and leases.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpFigures {
    #[serde(flatten)]
    pub counters: crate::dhcpd::DhcpStats,
    /// Leases held, by VLAN.
    pub leases: BTreeMap<u16, usize>,
    /// Offers held, by VLAN, and the bound on them.
    pub held_offers: BTreeMap<u16, (usize, usize)>,
}

/// `GET /api/v1/dhcp/leases`: every lease of the built-in server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeasesQuery;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub vlan: u16,
    pub ip: std::net::Ipv4Addr,
    /// The client's MOOSE address (the key of its lease).
    pub moose_mac: String,
    pub expires_unix: u64,
}

impl Call for LeasesQuery {
    const SERVICE: &'static str = "elk";
    type Reply = Vec<LeaseRecord>;
}
