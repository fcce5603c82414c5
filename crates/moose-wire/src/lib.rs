//! Wire formats of the frames moose handles, as zero-copy views over byte
//! buffers (any `T: AsRef<[u8]>`, so a DPDK mbuf, a `Vec<u8>` or a slice).
//!
//! Invariants, in the style of smoltcp's `wire` module: every view has a
//! `new_checked` constructor for untrusted input that validates lengths once;
//! after it succeeds no accessor panics. Protocol numbers are enums with an
//! `Unknown` arm, so reading a field never fails. Setters exist only where
//! the buffer is `AsMut<[u8]>`. Nothing here allocates.
#![forbid(unsafe_code)]

pub mod ethernet;
pub mod mac;

pub use ethernet::{EtherType, EthernetFrame, FrameError, ParsedFrame, VlanTag};
pub use mac::{Mac, MacParseError, Vlan, VlanError};
