//! Wire formats of the frames moose handles, and the identities and table
//! keys read from them. Frames are zero-copy views over byte
//! buffers (any `T: AsRef<[u8]>`, so a DPDK mbuf, a `Vec<u8>` or a slice).
//!
//! Invariants, in the style of smoltcp's `wire` module: every view has a
//! `new_checked` constructor for untrusted input that validates lengths once;
//! after it succeeds no accessor panics. Protocol numbers are enums with an
//! `Unknown` arm, so reading a field never fails. Setters exist only where
//! the buffer is `AsMut<[u8]>`. Nothing here allocates.
//!
//! Beyond the Ethernet header, the payloads that carry a host's MAC
//! address, for the edge's in-place rewrites ([`rewrite`]): ARP ([`arp`]),
//! IPv6 neighbour discovery ([`ipv6`], [`icmpv6`], [`ndisc`]) and DHCPv4
//! ([`ipv4`], [`udp`], [`dhcp`]), with the Internet checksum and its
//! incremental update ([`checksum`]). moose's own messages between
//! switches are in [`proto`].
#![forbid(unsafe_code)]

pub mod arp;
pub mod checksum;
pub mod dhcp;
pub mod error;
pub mod ethernet;
pub mod icmpv6;
pub mod ids;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod keys;
pub mod mac;
pub mod ndisc;
pub mod proto;
pub mod rewrite;
pub mod udp;

pub use error::WireError;
pub use ethernet::{EtherType, EthernetFrame, FrameError, Header, ParsedFrame, VlanTag};
pub use ids::{AddrError, HostId, MacPrefix, MooseAddr, PortId, SwitchId};
pub use ip::IpProtocol;
pub use keys::{ExactKey, PrefixKey};
pub use mac::{Mac, MacParseError, Vlan, VlanError};
pub use rewrite::{arp_hw, classify, dhcp_chaddr, nd_lla, ArpField, NdKind, Outcome, Payload};
