//! The `mps` service's management calls, shared by the HTTP server
//! (`/api/v1/mac/*`, `/metrics`), `moose mac` and the DHCPv6 server.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::{Call, Refusal};

/// `POST /api/v1/mac/request`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacRequest {
    pub handle: String,
    /// The address the device had before: granted if it is free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// For an `ipv4` pool: the address is `02:00:` and its four octets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    /// `aai` or `eli` (RFC 8948); `sai` and `reserved` are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quadrant: Option<String>,
}

impl Call for MacRequest {
    const SERVICE: &'static str = "mps";
    type Reply = Result<MacGrant, Refusal>;
}

/// The answer to a [`MacRequest`], given once it is durable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacGrant {
    pub mac: String,
    /// The pool it is in; `null` for an address in no pool since a reload.
    pub pool: Option<String>,
    /// A new assignment; `false`: the handle had it already.
    pub new: bool,
    /// What became of `requested`: `granted`, `taken` (another handle's:
    /// one from the pool) or `outside_pools`; absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<String>,
}

/// `POST /api/v1/mac/release`: the handle gives its address back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacRelease {
    pub handle: String,
}

impl Call for MacRelease {
    const SERVICE: &'static str = "mps";
    type Reply = Result<MacRecord, Refusal>;
}

/// `POST /api/v1/mac/reclaim`: an administrator takes an address back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacReclaim {
    pub mac: String,
}

impl Call for MacReclaim {
    const SERVICE: &'static str = "mps";
    type Reply = Result<MacRecord, Refusal>;
}

/// `GET /api/v1/mac?handle=…` or `?mac=…`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MacQuery {
    pub handle: Option<String>,
    pub mac: Option<String>,
}

impl Call for MacQuery {
    const SERVICE: &'static str = "mps";
    type Reply = Result<MacRecord, Refusal>;
}

/// One assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacRecord {
    pub handle: String,
    pub mac: String,
    pub pool: Option<String>,
}

/// `GET /api/v1/mac/pools`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolsQuery;

impl Call for PoolsQuery {
    const SERVICE: &'static str = "mps";
    type Reply = Vec<PoolReport>;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolReport {
    pub name: String,
    pub policy: String,
    pub quadrant: String,
    pub first: String,
    pub last: String,
    pub size: u64,
    pub used: u64,
    pub free: u64,
    /// Handle prefix → its bound and use.
    pub quotas: BTreeMap<String, QuotaUse>,
    /// The DHCPv6 valid lifetime; `null`: infinite.
    pub lifetime_secs: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaUse {
    pub max: u64,
    pub used: u64,
}

/// The service's figures (`/metrics`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsQuery;

impl Call for StatsQuery {
    const SERVICE: &'static str = "mps";
    type Reply = MpsStats;
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MpsStats {
    /// Requests answered, by outcome: `new`, `existing`, `refused`.
    pub requests: BTreeMap<String, u64>,
    /// Refusals by reason (`invalid`, `unknown_pool`, `exhausted`,
    /// `quota`, `ipv4_taken`, `store`).
    pub refused: BTreeMap<String, u64>,
    pub released: u64,
    pub reclaimed: u64,
    /// Addresses owned, and of those in no pool.
    pub assigned: u64,
    pub orphans: u64,
    /// Durable commits, their total time, and failures.
    pub commits: u64,
    pub commit_nanos_total: u64,
    pub store_errors: u64,
    /// Candidates passed over because a fabric switch prefix holds them.
    pub skipped_fabric: u64,
    /// DHCPv6 messages by type, replies by type, and drops by reason.
    pub dhcp6_messages: BTreeMap<String, u64>,
    pub dhcp6_replies: BTreeMap<String, u64>,
    pub dhcp6_dropped: BTreeMap<String, u64>,
    /// etcd coordination (`mps.etcd`; all zero without it): whether the
    /// link is in sync now, how often it got in sync, commits that
    /// conflicted with another provider (their requests retried) or
    /// failed for want of etcd (refused), blocks leased and held, and
    /// picks that found no free address in the provider's blocks.
    pub etcd: bool,
    pub etcd_up: bool,
    pub etcd_syncs: u64,
    pub etcd_conflicts: u64,
    pub etcd_failures: u64,
    pub etcd_block_claims: u64,
    pub etcd_blocks: u64,
    pub block_misses: u64,
}

/// A DHCPv6 message for the RFC 8947 server, as received on its socket;
/// the reply payload to send back to the sender, or `None` (dropped,
/// counted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dhcp6Message {
    pub payload: Vec<u8>,
}

impl Call for Dhcp6Message {
    const SERVICE: &'static str = "mps";
    type Reply = Option<Vec<u8>>;
}
