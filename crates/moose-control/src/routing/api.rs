//! The routing service's management calls, shared by the HTTP server
//! (`/api/v1/neighbors`, `/api/v1/lsdb`, `/api/v1/tree`) and `moose show
//! neighbors|lsdb|tree`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::Call;

pub const SERVICE: &str = "routing";

/// The neighbour of every fabric port.
pub struct NeighborsQuery;
impl Call for NeighborsQuery {
    const SERVICE: &'static str = SERVICE;
    type Reply = Vec<NeighborRecord>;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborRecord {
    /// The fabric port's name.
    pub port: String,
    /// `"down"`, `"init"` (heard, but it does not hear us yet),
    /// `"two-way"` (it hears us; databases being exchanged), `"full"`.
    pub state: String,
    /// The neighbour's switch id; empty while down.
    pub switch_id: String,
    pub prefix: String,
    /// Its port number on the link.
    pub neighbor_port: Option<u16>,
    /// Since the last state change.
    pub since_ms: u64,
    /// Since its last hello.
    pub last_heard_ms: Option<u64>,
    /// Both ends have the link on the same broadcast tree: broadcasts
    /// cross it.
    pub tree_active: bool,
    /// Advertisements sent to it and not acknowledged yet.
    pub unacked: usize,
}

/// The link-state database.
pub struct LsdbQuery;
impl Call for LsdbQuery {
    const SERVICE: &'static str = SERVICE;
    type Reply = Vec<LsdbRecord>;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LsdbRecord {
    pub switch_id: String,
    pub seq: u32,
    pub age_s: u64,
    pub prefix: String,
    pub auto_prefix: bool,
    pub links: Vec<LinkRecord>,
    /// This switch's own advertisement.
    pub own: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LinkRecord {
    pub neighbor: String,
    pub cost: u16,
    pub port: u16,
    pub neighbor_port: u16,
}

/// The broadcast tree.
pub struct TreeQuery;
impl Call for TreeQuery {
    const SERVICE: &'static str = SERVICE;
    type Reply = TreeReport;
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeReport {
    pub root: String,
    pub digest: String,
    pub edges: Vec<TreeEdgeRecord>,
    /// This switch's fabric ports on the tree …
    pub ports: Vec<String>,
    /// … and of those, the ones whose neighbour agrees on the tree (the
    /// ones broadcasts cross).
    pub active: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeEdgeRecord {
    pub parent: String,
    pub parent_port: u16,
    pub child: String,
    pub child_port: u16,
}

/// The protocol's figures.
pub struct RoutingQuery;
impl Call for RoutingQuery {
    const SERVICE: &'static str = SERVICE;
    type Reply = RoutingStats;
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingStats {
    pub switch_id: String,
    pub prefix: String,
    pub auto_prefix: bool,
    /// Neighbours by state.
    pub neighbors: BTreeMap<String, u64>,
    pub lsdb_entries: usize,
    /// A digest of the database's (origin, sequence) pairs: two switches
    /// whose databases agree show the same one.
    #[serde(default)]
    pub lsdb_digest: String,
    /// Routes the last SPF run computed.
    #[serde(default)]
    pub spf_routes: usize,
    pub hellos_sent: u64,
    pub hellos_received: u64,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub adverts_retransmitted: u64,
    pub adverts_originated: u64,
    pub acks_sent: u64,
    pub acks_received: u64,
    /// Messages dropped, by reason (`truncated`, `oversize`,
    /// `wrong_length`, `unauthenticated`, `bad_mac`, `replayed`,
    /// `old_sequence`, …).
    pub rejected: BTreeMap<String, u64>,
    pub spf_runs: u64,
    pub spf_nanos_total: u64,
    pub spf_last_nanos: u64,
    /// Routes added, removed or changed by SPF.
    pub route_changes: u64,
    pub tree_changes: u64,
    /// Prefix conflicts this switch lost and renumbered after.
    pub renumbers: u64,
    /// Renumbered prefixes that could not be written to `state_dir`.
    pub renumber_store_errors: u64,
    /// Fabric hellos heard on edge or legacy ports (another switch's
    /// fabric port on a host segment).
    pub hellos_on_edge: u64,
    /// Host announcements this switch originated (a host got an address
    /// here), and other switches' received (each once).
    pub hosts_announced: u64,
    pub host_announces_received: u64,
    /// Directory bindings this switch flooded, and other switches'
    /// received (each once).
    #[serde(default)]
    pub bindings_flooded: u64,
    #[serde(default)]
    pub bindings_received: u64,
    /// Directory queries and answers sent, received, and not sent for
    /// want of a route.
    #[serde(default)]
    pub directory_sent: u64,
    #[serde(default)]
    pub directory_received: u64,
    #[serde(default)]
    pub directory_unrouted: u64,
}
