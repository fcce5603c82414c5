//! The home service's management calls, shared by the HTTP server
//! (`/api/v1/home`) and `moose show home`.

use serde::{Deserialize, Serialize};

use crate::api::Call;

/// The home state of every edge and legacy port.
pub struct HomeQuery;

impl Call for HomeQuery {
    const SERVICE: &'static str = crate::routing::api::SERVICE;
    type Reply = HomeReport;
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomeReport {
    pub ports: Vec<HomePort>,
    pub counters: HomeCounters,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomePort {
    pub port: String,
    /// True while this port is its segment's home (nothing lower heard).
    pub home: bool,
    /// The segment's home: `"02:11:11:00:00:00/24 port 3"` (this port's
    /// own when `home`).
    pub home_of_segment: String,
    /// Other switch ports heard on the segment, still valid.
    pub heard: Vec<HeardHello>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeardHello {
    pub prefix: String,
    pub port: u16,
    /// Until it expires.
    pub valid_ms: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomeCounters {
    pub hellos_sent: u64,
    /// Hellos that could not be sent (no buffer, inject ring full).
    pub hello_send_failures: u64,
    pub hellos_received: u64,
    /// Frames to the hello group that are not a valid hello (wrong
    /// EtherType, version, type, length, flags or prefix), or that came in
    /// on a fabric port: counted and dropped.
    pub hellos_invalid: u64,
    /// Ports that stopped or started being their segment's home.
    pub home_changes: u64,
}
