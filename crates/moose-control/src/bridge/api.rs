//! The bridge service's management calls and answers, shared by the HTTP
//! server (`/api/v1/fdb`, `/metrics`) and `moose show fdb`.

use std::fmt;
use std::str::FromStr;

use moose_wire::Mac;
use serde::{Deserialize, Serialize};

use crate::api::Call;

/// Most entries one page holds.
pub const MAX_PAGE: usize = 10_000;

/// A position in the FDB's (VLAN, MAC) order: `<vlan>/<mac>`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FdbCursor {
    pub vlan: u16,
    pub mac: Mac,
}

impl fmt::Display for FdbCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.vlan, self.mac)
    }
}

impl FromStr for FdbCursor {
    type Err = String;
    fn from_str(s: &str) -> Result<FdbCursor, String> {
        let bad = || format!("{s:?} is not a cursor like 1/02:00:00:00:00:01 (VLAN/MAC)");
        let (v, m) = s.split_once('/').ok_or_else(bad)?;
        let vlan: u16 = v.parse().map_err(|_| bad())?;
        if vlan > 4095 {
            return Err(bad());
        }
        Ok(FdbCursor {
            vlan,
            mac: m.parse().map_err(|_| bad())?,
        })
    }
}

/// One page of the FDB: at most `limit` entries (≤ [`MAX_PAGE`]) after
/// `after`, in (VLAN, MAC) order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdbQuery {
    pub limit: usize,
    pub after: Option<FdbCursor>,
}

impl Call for FdbQuery {
    const SERVICE: &'static str = "bridge";
    type Reply = FdbPage;
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FdbKind {
    Dynamic,
    Static,
}

/// One FDB entry as operators read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbRecord {
    pub vlan: u16,
    pub mac: Mac,
    /// Port name.
    pub port: String,
    #[serde(rename = "type")]
    pub kind: FdbKind,
    pub age_secs: u64,
    pub moves: u32,
    /// A static entry's origin: `"config"` (`[[static_fdb]]`) or `"api"`
    /// (added through `POST /api/v1/fdb`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbPage {
    pub entries: Vec<FdbRecord>,
    /// The cursor of the next page; `None` at the end.
    pub next: Option<String>,
}

/// Adds a static entry while moose runs (`POST /api/v1/fdb`), checked as
/// a `[[static_fdb]]` entry is. It stays until removed through the API,
/// across reloads, unless the config file takes its (VLAN, MAC) over or
/// its port stops carrying its VLAN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddStatic {
    pub mac: String,
    #[serde(default = "default_vlan")]
    pub vlan: u32,
    pub port: String,
}

fn default_vlan() -> u32 {
    1
}

impl Call for AddStatic {
    const SERVICE: &'static str = "bridge";
    type Reply = Result<FdbRecord, crate::api::Refusal>;
}

/// Removes a static entry added through the API (`DELETE /api/v1/fdb`);
/// the config file's are changed in the file (and a reload).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveStatic {
    pub mac: String,
    pub vlan: u32,
}

impl Call for RemoveStatic {
    const SERVICE: &'static str = "bridge";
    type Reply = Result<FdbRecord, crate::api::Refusal>;
}

/// The bridge's figures.
pub struct StatsQuery;

impl Call for StatsQuery {
    const SERVICE: &'static str = "bridge";
    type Reply = BridgeStats;
}

/// Totals of FDB events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbCounters {
    pub learned: u64,
    pub moved: u64,
    pub aged: u64,
    pub refreshed: u64,
    /// Not learned: the port was at its `learn_limit`.
    pub limit_refused: u64,
    /// Not learned: the FDB held `bridge.max_entries`.
    pub table_full: u64,
    /// Frames seen from a static address on another port.
    pub static_conflicts: u64,
    /// Dynamic entries removed because their port's link went down, or
    /// (a reload) their port stopped carrying their VLAN.
    pub flushed: u64,
    /// Learn requests handled.
    pub requests: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeStats {
    pub entries: usize,
    pub static_entries: usize,
    pub max_entries: usize,
    pub counters: FdbCounters,
}
