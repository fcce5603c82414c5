//! The moose control runtime: the slow path, without DPDK.
//!
//! One thread on the control core runs a [`Runtime`]. It is the single
//! writer of the [`TableSet`](moose_dataplane::TableSet) the workers read;
//! it drains the workers' punt rings by class priority and hands each punt
//! to the service that owns its class; it owns the timers; it transmits
//! through the workers' inject rings; it polls the ports' link state and
//! re-attaches devices whose interface was re-created; and it answers
//! management requests.
//!
//! Features plug in as [`Service`]s, each a folder with `control` (state,
//! timers, what it publishes) and `api` (serde request/response types the
//! HTTP server and `moose show` share): [`bridge`] (the FDB master:
//! learning, moves, limits, aging, static entries), [`reserved`] (IEEE
//! 802.1D reserved destinations, counted), [`hosts`] (MOOSE addresses,
//! durable, mobility) and [`routing`] (the link-state protocol, the FIB of
//! [`routes`], the broadcast tree, the [`home`] election), [`elk`] (the
//! ARP/ND directory and the DHCPv4 server), [`mps`] (the MAC provider)
//! and [`nicslots`] (the ports' MAC filters). A service never touches
//! another's state: they talk through [`Event`]s.
//!
//! Invariants: only this runtime appends to the table writer; a frame a
//! service receives is either sent ([`Ctx::send_frame`]) or freed
//! ([`Ctx::free`]); nothing here blocks on a worker except a publish,
//! which waits at most for read sections in progress (one burst).
#![forbid(unsafe_code)]

pub mod api;
pub mod bench;
pub mod bridge;
pub mod dhcpd;
pub mod elk;
pub mod home;
pub mod hosts;
pub mod mps;
pub mod nic;
pub mod nicslots;
pub mod pipebench;
pub mod ports;
mod redb_file;
pub mod reserved;
pub mod routes;
pub mod routing;
pub mod runtime;
pub mod sim;

pub use api::{Call, CallError, ControlHandle, Refusal, RefusalKind, Request};
pub use ports::{PortDriver, PortState, StaticPorts};
pub use runtime::{Ctx, Event, HostNews, ReloadReport, Runtime, RuntimeStats, Service};
