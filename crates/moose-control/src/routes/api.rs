//! The routes service's management calls, shared by the HTTP server
//! (`/api/v1/routes`) and `moose show routes`.

use serde::{Deserialize, Serialize};

use crate::api::Call;

/// Every route of the FIB, the switch's own prefix first.
pub struct RoutesQuery;

impl Call for RoutesQuery {
    const SERVICE: &'static str = crate::routing::api::SERVICE;
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
    /// `"static"` (from `[[route]]`), `"spf"` (the link-state protocol),
    /// `"local"`.
    pub source: String,
    /// The switch's own prefix: delivered to its hosts.
    pub local: bool,
    /// Whether the FIB holds it now (an SPF route is not while a static
    /// route to the same prefix is).
    pub installed: bool,
    /// SPF routes: the switch that holds the prefix, and the path's cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<u32>,
    /// A static route's origin: `"config"` (`[[route]]`) or `"api"`
    /// (added through `POST /api/v1/routes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// Adds a static route while moose runs (`POST /api/v1/routes`), checked
/// as a `[[route]]` is: `port` a port name or a list of 1–16 (ECMP). It
/// stays until removed through the API, across reloads, unless the config
/// file takes its prefix over. A route the API added before to the same
/// prefix is replaced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddRoute {
    pub prefix: String,
    pub port: Ports,
}

/// One port name or a list of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ports {
    One(String),
    Many(Vec<String>),
}

impl Ports {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Ports::One(p) => vec![p],
            Ports::Many(v) => v,
        }
    }
}

impl Call for AddRoute {
    const SERVICE: &'static str = crate::routing::api::SERVICE;
    type Reply = Result<RouteRecord, crate::api::Refusal>;
}

/// Removes a static route added through the API (`DELETE
/// /api/v1/routes`); the config file's are changed in the file (and a
/// reload).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveRoute {
    pub prefix: String,
}

impl Call for RemoveRoute {
    const SERVICE: &'static str = crate::routing::api::SERVICE;
    type Reply = Result<RouteRecord, crate::api::Refusal>;
}

/// The FIB's figures.
pub struct StatsQuery;

impl Call for StatsQuery {
    const SERVICE: &'static str = crate::routing::api::SERVICE;
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
    /// FIB rebuilds published (start, link changes, SPF results).
    pub rebuilds: u64,
}
