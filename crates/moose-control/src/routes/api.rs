//! The routes service's management calls, shared by the HTTP server
//! (`/api/v1/routes`) and `moose show routes`.

use serde::{Deserialize, Serialize};

use crate::api::Call;

/// Every route of the FIB, the switch's own prefix first.
pub struct RoutesQuery;

impl Call for RoutesQuery {
    const SERVICE: &'static str = "routes";
    type Reply = Vec<RouteRecord>;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRecord {
    /// `02:22:22:00:00:00/24`.
    pub prefix: String,
    /// Port names: the next hops (several: ECMP). Empty for the local
    /// prefix.
    pub ports: Vec<String>,
    /// Of `ports`, those whose link is up (a route with none is withdrawn
    /// from the FIB until one comes back).
    pub up: Vec<String>,
    /// `"static"` (from `[[route]]`), `"local"`; later `"spf"`.
    pub source: String,
    /// The switch's own prefix: delivered to its hosts.
    pub local: bool,
    /// Whether the FIB holds it now.
    pub installed: bool,
}

/// The FIB's figures.
pub struct StatsQuery;

impl Call for StatsQuery {
    const SERVICE: &'static str = "routes";
    type Reply = RouteStats;
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteStats {
    /// Prefixes in the FIB.
    pub fib_entries: usize,
    /// Bytes of the published lookup table.
    pub fib_bytes: usize,
    /// ECMP groups published.
    pub groups: usize,
    /// FIB rebuilds published (start, link changes).
    pub rebuilds: u64,
}
