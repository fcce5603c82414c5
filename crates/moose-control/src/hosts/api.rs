//! The hosts service's management calls, shared by the HTTP server
//! (`/api/v1/hosts`, `/metrics`) and `moose show hosts`.

use std::collections::BTreeMap;

use moose_wire::Mac;
use serde::{Deserialize, Serialize};

use crate::api::Call;

/// Most entries one page holds.
pub const MAX_PAGE: usize = 10_000;

/// One page of the hosts of this switch in (VLAN, real MAC) order, after
/// `after` (`<vlan>/<mac>`, as the FDB's cursor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostsQuery {
    pub limit: usize,
    pub after: Option<crate::bridge::api::FdbCursor>,
}

impl Call for HostsQuery {
    const SERVICE: &'static str = "hosts";
    type Reply = HostsPage;
}

/// One host of this switch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    pub vlan: u16,
    /// Its real MAC.
    pub mac: Mac,
    /// The MOOSE address the fabric knows it by.
    pub moose_mac: Mac,
    /// Port name.
    pub port: String,
    /// Milliseconds since a frame from it was last seen (refreshes come at
    /// most every quarter of `bridge.aging_secs`).
    pub last_seen_ms: u64,
    /// The host id under the switch prefix.
    pub id: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostsPage {
    pub entries: Vec<HostRecord>,
    pub next: Option<String>,
}

/// The hosts service's figures.
pub struct StatsQuery;

impl Call for StatsQuery {
    const SERVICE: &'static str = "hosts";
    type Reply = HostStats;
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCounters {
    /// Addresses allocated to new hosts.
    pub allocated: u64,
    /// Hosts released after `host_idle_secs` without a frame.
    pub released: u64,
    /// Hosts that reappeared on another port of this switch.
    pub moved: u64,
    /// Hosts not admitted: their port held `host_quota` hosts.
    pub quota_refused: u64,
    /// Hosts not admitted: the switch held `max_hosts`, or no id was free.
    pub full_refused: u64,
    /// First frames handed back to the workers once the host had an address.
    pub reinjected: u64,
    /// Punted frames that were not a host's (bad source) and were dropped.
    pub bad_frames: u64,
    /// Refreshes of known hosts.
    pub refreshed: u64,
    /// Writes to the persistent store that failed (allocations then live in
    /// memory only until the next successful write).
    pub store_errors: u64,
    /// Hosts that arrived here from another switch (announced there
    /// within `move_window_secs`).
    pub moves_in: u64,
    /// Hosts handed over to the switch they moved to.
    pub moves_out: u64,
    /// Frames of hosts frozen for moving more than `move_limit` times in
    /// `move_window_secs` (a duplicate MAC or a loop), dropped.
    pub frozen_refused: u64,
    /// Frames of sticky hosts on a port not theirs, dropped; handovers of
    /// sticky hosts refused.
    pub sticky_refused: u64,
    /// Gratuitous ARPs and unsolicited neighbour advertisements sent on
    /// behalf of hosts that arrived.
    pub announcements_sent: u64,
    /// Old addresses forwarded to a host's new one that found no route.
    pub forward_unrouted: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostStats {
    pub hosts: usize,
    pub max_hosts: u32,
    pub host_quota: u32,
    /// By port name (edge ports).
    pub per_port: BTreeMap<String, u32>,
    /// Ids released and not yet reusable.
    pub quarantined: usize,
    pub counters: HostCounters,
    /// The control thread's part of a new host's first-frame delay: from
    /// its punt being drained to its re-injection (the store's write and
    /// the table publication included), microseconds.
    pub first_frame_us_sum: u64,
    pub first_frame_us_max: u64,
    pub first_frame_count: u64,
    /// Whether allocations are kept in `moose.state_dir`.
    pub persistent: bool,
    /// Old addresses of hosts that moved away, forwarded now.
    #[serde(default)]
    pub forwarding: usize,
    /// Hosts frozen now.
    #[serde(default)]
    pub frozen: usize,
}
