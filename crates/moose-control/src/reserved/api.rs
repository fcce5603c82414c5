//! The reserved service's management calls, shared by the HTTP server and
//! `moose show`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::Call;

/// Frames received for IEEE 802.1D reserved destinations.
pub struct StatsQuery;

impl Call for StatsQuery {
    const SERVICE: &'static str = "reserved";
    type Reply = ReservedStats;
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservedStats {
    /// By kind: `stp`, `pause`, `slow_protocols`, `eapol`, `lldp`,
    /// `other_reserved`.
    pub frames: BTreeMap<String, u64>,
    /// By port name, all kinds.
    pub by_port: BTreeMap<String, u64>,
}
