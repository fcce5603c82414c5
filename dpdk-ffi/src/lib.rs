//! Raw, generated bindings to DPDK (22.11): EAL, lcore, devices, mempool,
//! mbuf, ethdev, pdump (the capture server) and telemetry, plus C wrappers (suffix `__extern`) for DPDK's
//! `static inline` functions such as `rte_eth_rx_burst`.
//!
//! This crate holds generated code and nothing else. Use the safe layer
//! `moose-dpdk` instead of calling these directly; the wrappers are real
//! function calls, fine once per burst but not per packet.
#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    improper_ctypes,
    unnecessary_transmutes,
    unsafe_op_in_unsafe_fn,
    rustdoc::all,
    clippy::all,
    clippy::pedantic
)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

/// DPDK version that pkg-config reported at build time (e.g. "22.11.11").
pub const DPDK_VERSION: &str = env!("DPDK_VERSION");
