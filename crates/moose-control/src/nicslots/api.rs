//! The `nicslots` service's calls, shared by the HTTP server
//! (`/api/v1/slots`) and `moose slots`.

use serde::{Deserialize, Serialize};

use crate::api::{Call, Refusal};

/// `GET /api/v1/slots`: every port's MAC filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotsQuery;

impl Call for SlotsQuery {
    const SERVICE: &'static str = "nicslots";
    type Reply = Vec<PortSlots>;
}

/// One port's filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSlots {
    pub port: String,
    /// `filter` (the NIC filters: every active address has a slot),
    /// `software` (no free slot, or no filter: the NIC runs promiscuous
    /// and the worker filters), `promiscuous` (configured so: nothing is
    /// filtered).
    pub mode: String,
    /// The filter is the software model of `port[].emulate_mac_slots`.
    pub emulated: bool,
    /// Unicast entries of the NIC's filter (its own address's included),
    /// and those free.
    pub total: usize,
    pub free: usize,
    pub burned_in: String,
    /// Frames the worker dropped as `not_accepted` (filled by the HTTP
    /// server from the port counters).
    #[serde(default)]
    pub filtered_frames: u64,
    pub slots: Vec<SlotRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    pub slot: usize,
    pub mac: String,
    /// `burned_in` (slot 0) or `reserved`.
    pub state: String,
    pub owner: Option<String>,
    /// The address is in the NIC's filter (else only the worker's).
    pub in_nic: bool,
}

/// `GET /api/v1/slots/{port}/{slot}`: a slot's active address; a free
/// one answers with the burned-in address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotGet {
    pub port: String,
    pub slot: usize,
}

impl Call for SlotGet {
    const SERVICE: &'static str = "nicslots";
    type Reply = Result<SlotRecord, Refusal>;
}

/// `POST /api/v1/slots/{port}/reserve` `{owner, mac}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReserveBody {
    pub owner: String,
    pub mac: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reserve {
    pub port: String,
    pub owner: String,
    pub mac: String,
}

impl Call for Reserve {
    const SERVICE: &'static str = "nicslots";
    type Reply = Result<Reserved, Refusal>;
}

/// A reservation: its slot and the owner's token (needed to change it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reserved {
    pub port: String,
    pub slot: usize,
    pub mac: String,
    pub token: String,
    pub in_nic: bool,
    pub mode: String,
}

/// `POST /api/v1/slots/{port}/unreserve` `{slot, token}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnreserveBody {
    pub slot: usize,
    pub token: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreserve {
    pub port: String,
    pub slot: usize,
    pub token: String,
}

impl Call for Unreserve {
    const SERVICE: &'static str = "nicslots";
    type Reply = Result<PortSlots, Refusal>;
}

/// `POST /api/v1/slots/{port}/modify` `{slot, token, mac}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifyBody {
    pub slot: usize,
    pub token: String,
    pub mac: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Modify {
    pub port: String,
    pub slot: usize,
    pub token: String,
    pub mac: String,
}

impl Call for Modify {
    const SERVICE: &'static str = "nicslots";
    type Reply = Result<Reserved, Refusal>;
}
