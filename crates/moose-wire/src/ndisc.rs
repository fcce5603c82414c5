//! IPv6 neighbour discovery (RFC 4861 §4): router solicitation and
//! advertisement, neighbour solicitation and advertisement, redirect; the
//! ICMPv6 messages whose options carry link-layer (MAC) addresses.
//!
//! ```text
//!  RS  133: | type | code | cksum | reserved(4)                                      | options
//!  RA  134: | type | code | cksum | hop lim | M O | lifetime | reachable | retrans   | options
//!  NS  135: | type | code | cksum | reserved(4)         | target(16)                 | options
//!  NA  136: | type | code | cksum | R S O | reserved(3) | target(16)                 | options
//!  Redirect | type | code | cksum | reserved(4)         | target(16) | destination(16) | options
//!     137   0      1      2       4                     8            24              40
//!
//!  option:  | type | length (units of 8 octets, never 0) | data ...
//!  link-layer address option on Ethernet (type 1 source, 2 target), length 1:
//!           | 1/2  |  1  | MAC (6) |
//! ```
//!
//! Options are validated as §4.6 says: a length of 0, or an option running
//! past the end of the message, makes the whole message invalid.

use std::net::Ipv6Addr;

use crate::error::WireError;
use crate::icmpv6::{self, Message};
use crate::ipv6::addr;
use crate::mac::Mac;

mod field {
    use std::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    // Router advertisement.
    pub const CUR_HOP_LIMIT: usize = 4;
    pub const ROUTER_FLAGS: usize = 5;
    pub const ROUTER_LIFETIME: Range<usize> = 6..8;
    pub const REACHABLE_TIME: Range<usize> = 8..12;
    pub const RETRANS_TIME: Range<usize> = 12..16;
    // Neighbour advertisement.
    pub const NEIGHBOR_FLAGS: usize = 4;
    // Neighbour solicitation and advertisement, redirect.
    pub const TARGET: Range<usize> = 8..24;
    // Redirect.
    pub const DEST: Range<usize> = 24..40;
    // Option headers.
    pub const OPT_TYPE: usize = 0;
    pub const OPT_LEN: usize = 1;
    pub const OPT_LLADDR: Range<usize> = 2..8;
}

/// Octets of an Ethernet link-layer address option.
pub const LLADDR_OPTION_LEN: usize = 8;
/// Offset of the address in a link-layer address option.
pub const LLADDR_OFFSET: usize = field::OPT_LLADDR.start;

/// Where the options of a neighbour discovery message start (the length of
/// its fixed part), or `None` for a message that is not neighbour discovery.
#[inline]
pub fn options_offset(m: Message) -> Option<usize> {
    match m {
        Message::RouterSolicit => Some(8),
        Message::RouterAdvert => Some(16),
        Message::NeighborSolicit | Message::NeighborAdvert => Some(24),
        Message::Redirect => Some(40),
        _ => None,
    }
}

/// Neighbour discovery option types moose knows by name (RFC 4861 §4.6).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum NdOptionType {
    SourceLinkLayerAddr,
    TargetLinkLayerAddr,
    PrefixInformation,
    RedirectedHeader,
    Mtu,
    Unknown(u8),
}

impl From<u8> for NdOptionType {
    #[inline]
    fn from(v: u8) -> NdOptionType {
        match v {
            1 => NdOptionType::SourceLinkLayerAddr,
            2 => NdOptionType::TargetLinkLayerAddr,
            3 => NdOptionType::PrefixInformation,
            4 => NdOptionType::RedirectedHeader,
            5 => NdOptionType::Mtu,
            other => NdOptionType::Unknown(other),
        }
    }
}

impl From<NdOptionType> for u8 {
    #[inline]
    fn from(v: NdOptionType) -> u8 {
        match v {
            NdOptionType::SourceLinkLayerAddr => 1,
            NdOptionType::TargetLinkLayerAddr => 2,
            NdOptionType::PrefixInformation => 3,
            NdOptionType::RedirectedHeader => 4,
            NdOptionType::Mtu => 5,
            NdOptionType::Unknown(o) => o,
        }
    }
}

/// One option, as the iterator found it: never empty, never past the end.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct NdOption<'a> {
    offset: usize,
    bytes: &'a [u8],
}

impl<'a> NdOption<'a> {
    #[inline]
    pub fn kind(&self) -> NdOptionType {
        NdOptionType::from(self.bytes[field::OPT_TYPE])
    }

    /// Offset of the option in the options area it was read from.
    #[inline]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The option's length in octets (a multiple of 8, at least 8).
    #[inline]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true: a length of 0 is invalid.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The option, type and length octets included.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The option after its type and length octets.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        &self.bytes[2..]
    }

    /// The address of a source or target link-layer address option of
    /// Ethernet's size (length 1); `None` for any other option.
    #[inline]
    pub fn link_layer_addr(&self) -> Option<Mac> {
        match self.kind() {
            NdOptionType::SourceLinkLayerAddr | NdOptionType::TargetLinkLayerAddr
                if self.bytes.len() == LLADDR_OPTION_LEN =>
            {
                Some(Mac::from_slice(&self.bytes[field::OPT_LLADDR]))
            }
            _ => None,
        }
    }
}

/// Walks an options area. Yields each option, or one
/// [`WireError::BadOption`] (length 0, or running past the end, a lone
/// trailing octet included) and then nothing: it always ends, after at
/// most `len / 8 + 1` items.
#[derive(Clone, Debug)]
pub struct NdOptionIter<'a> {
    buf: &'a [u8],
    at: usize,
    failed: bool,
}

impl<'a> NdOptionIter<'a> {
    #[inline]
    pub fn new(options: &'a [u8]) -> Self {
        NdOptionIter {
            buf: options,
            at: 0,
            failed: false,
        }
    }
}

impl<'a> Iterator for NdOptionIter<'a> {
    type Item = Result<NdOption<'a>, WireError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = self.buf.get(self.at..).filter(|r| !r.is_empty())?;
        let len = rest.get(field::OPT_LEN).map_or(0, |&l| usize::from(l) * 8);
        match rest.get(..len) {
            Some(bytes) if len > 0 => {
                let opt = NdOption {
                    offset: self.at,
                    bytes,
                };
                self.at += len;
                Some(Ok(opt))
            }
            _ => {
                self.failed = true;
                Some(Err(WireError::BadOption))
            }
        }
    }
}

impl std::iter::FusedIterator for NdOptionIter<'_> {}

/// Checks every option of an options area (§4.6).
#[inline]
pub fn check_options(options: &[u8]) -> Result<(), WireError> {
    NdOptionIter::new(options).try_for_each(|o| o.map(|_| ()))
}

/// The R, S and O flags of a neighbour advertisement.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NeighborFlags {
    pub router: bool,
    pub solicited: bool,
    pub override_: bool,
}

impl NeighborFlags {
    #[inline]
    fn from_byte(b: u8) -> Self {
        NeighborFlags {
            router: b & 0x80 != 0,
            solicited: b & 0x40 != 0,
            override_: b & 0x20 != 0,
        }
    }

    #[inline]
    fn to_byte(self) -> u8 {
        (u8::from(self.router) << 7)
            | (u8::from(self.solicited) << 6)
            | (u8::from(self.override_) << 5)
    }
}

/// The fixed fields of a router advertisement.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct RouterParams {
    pub cur_hop_limit: u8,
    /// M: addresses are available via DHCPv6.
    pub managed: bool,
    /// O: other configuration is available via DHCPv6.
    pub other: bool,
    /// Seconds.
    pub router_lifetime: u16,
    /// Milliseconds.
    pub reachable_time: u32,
    /// Milliseconds.
    pub retrans_time: u32,
}

/// A zero-copy view of a neighbour discovery message: the whole ICMPv6
/// message (the IPv6 payload).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic.
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps untrusted input: [`WireError::Truncated`] if it does not hold
    /// the ICMPv6 header or the fixed part of its message type,
    /// [`WireError::WrongType`] if the type is not neighbour discovery,
    /// [`WireError::BadOption`] if an option is invalid. After this
    /// succeeds no accessor or setter panics, and the option iterator
    /// yields no error.
    ///
    /// The code (0), hop limit (255) and checksum are not checked: that is
    /// the receiving host's business, not the switch's.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The checks of [`new_checked`](Packet::new_checked).
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < icmpv6::HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let start = options_offset(Message::from(b[field::TYPE])).ok_or(WireError::WrongType)?;
        let opts = b.get(start..).ok_or(WireError::Truncated)?;
        check_options(opts)
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn msg_type(&self) -> Message {
        Message::from(self.buffer.as_ref()[field::TYPE])
    }

    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Offset of the options (the length of the fixed part).
    #[inline]
    pub fn options_offset(&self) -> usize {
        // A checked view is neighbour discovery; anything else has no
        // options area (its length is the buffer's).
        options_offset(self.msg_type()).unwrap_or(self.buffer.as_ref().len())
    }

    /// The target address of a neighbour solicitation, advertisement or
    /// redirect.
    #[inline]
    pub fn target_addr(&self) -> Option<Ipv6Addr> {
        match self.msg_type() {
            Message::NeighborSolicit | Message::NeighborAdvert | Message::Redirect => {
                Some(addr(&self.buffer.as_ref()[field::TARGET]))
            }
            _ => None,
        }
    }

    /// The destination address of a redirect.
    #[inline]
    pub fn dest_addr(&self) -> Option<Ipv6Addr> {
        match self.msg_type() {
            Message::Redirect => Some(addr(&self.buffer.as_ref()[field::DEST])),
            _ => None,
        }
    }

    /// The flags of a neighbour advertisement.
    #[inline]
    pub fn neighbor_flags(&self) -> Option<NeighborFlags> {
        match self.msg_type() {
            Message::NeighborAdvert => Some(NeighborFlags::from_byte(
                self.buffer.as_ref()[field::NEIGHBOR_FLAGS],
            )),
            _ => None,
        }
    }

    /// The fixed fields of a router advertisement.
    pub fn router_params(&self) -> Option<RouterParams> {
        if self.msg_type() != Message::RouterAdvert {
            return None;
        }
        let b = self.buffer.as_ref();
        let u32_at = |r: std::ops::Range<usize>| {
            let x = &b[r];
            u32::from_be_bytes([x[0], x[1], x[2], x[3]])
        };
        let l = &b[field::ROUTER_LIFETIME];
        Some(RouterParams {
            cur_hop_limit: b[field::CUR_HOP_LIMIT],
            managed: b[field::ROUTER_FLAGS] & 0x80 != 0,
            other: b[field::ROUTER_FLAGS] & 0x40 != 0,
            router_lifetime: u16::from_be_bytes([l[0], l[1]]),
            reachable_time: u32_at(field::REACHABLE_TIME),
            retrans_time: u32_at(field::RETRANS_TIME),
        })
    }

    /// The options area.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[self.options_offset()..]
    }

    /// The options; on a checked view every item is `Ok`.
    #[inline]
    pub fn option_iter(&self) -> NdOptionIter<'_> {
        NdOptionIter::new(self.options())
    }

    /// The first Ethernet source link-layer address option's address.
    #[inline]
    pub fn source_lladdr(&self) -> Option<Mac> {
        self.find_lladdr(NdOptionType::SourceLinkLayerAddr)
    }

    /// The first Ethernet target link-layer address option's address.
    #[inline]
    pub fn target_lladdr(&self) -> Option<Mac> {
        self.find_lladdr(NdOptionType::TargetLinkLayerAddr)
    }

    fn find_lladdr(&self, kind: NdOptionType) -> Option<Mac> {
        self.option_iter()
            .map_while(Result::ok)
            .filter(|o| o.kind() == kind)
            .find_map(|o| o.link_layer_addr())
    }

    /// Whether the ICMPv6 checksum is right (the buffer must be exactly
    /// the IPv6 payload).
    #[inline]
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        icmpv6::Packet::new_unchecked(self.buffer.as_ref()).verify_checksum(src, dst)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Computes and writes the ICMPv6 checksum over the whole buffer.
    #[inline]
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        icmpv6::Packet::new_unchecked(self.buffer.as_mut()).fill_checksum(src, dst);
    }

    /// Writes the target address of a neighbour solicitation,
    /// advertisement or redirect; other messages have none (no-op).
    #[inline]
    pub fn set_target_addr(&mut self, a: &Ipv6Addr) {
        if self.target_addr().is_some() {
            self.buffer.as_mut()[field::TARGET].copy_from_slice(&a.octets());
        }
    }

    /// Writes the flags of a neighbour advertisement, keeping the reserved
    /// bits; other messages have none (no-op).
    #[inline]
    pub fn set_neighbor_flags(&mut self, f: NeighborFlags) {
        if self.msg_type() == Message::NeighborAdvert {
            let b = &mut self.buffer.as_mut()[field::NEIGHBOR_FLAGS];
            *b = (*b & 0x1f) | f.to_byte();
        }
    }

    /// The options area, mutable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let at = self.options_offset();
        &mut self.buffer.as_mut()[at..]
    }
}

/// The neighbour discovery messages moose builds: a solicitation (to probe
/// a host) and an advertisement (to answer one from the directory), each
/// with at most one Ethernet link-layer address option.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Repr {
    /// With the source link-layer address option if `lladdr` is set.
    NeighborSolicit {
        target_addr: Ipv6Addr,
        lladdr: Option<Mac>,
    },
    /// With the target link-layer address option if `lladdr` is set.
    NeighborAdvert {
        flags: NeighborFlags,
        target_addr: Ipv6Addr,
        lladdr: Option<Mac>,
    },
}

impl Repr {
    /// Reads a neighbour solicitation or advertisement (its first Ethernet
    /// source, resp. target, link-layer address option; other options are
    /// ignored); any other message is [`WireError::WrongType`]. An
    /// unchecked view is checked here.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        p.check_len()?;
        let target_addr = p.target_addr();
        match (p.msg_type(), target_addr) {
            (Message::NeighborSolicit, Some(target_addr)) => Ok(Repr::NeighborSolicit {
                target_addr,
                lladdr: p.source_lladdr(),
            }),
            (Message::NeighborAdvert, Some(target_addr)) => Ok(Repr::NeighborAdvert {
                flags: p.neighbor_flags().unwrap_or_default(),
                target_addr,
                lladdr: p.target_lladdr(),
            }),
            _ => Err(WireError::WrongType),
        }
    }

    /// Octets [`emit`](Repr::emit) writes: 24, plus 8 with an address.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        let (Repr::NeighborSolicit { lladdr, .. } | Repr::NeighborAdvert { lladdr, .. }) = self;
        24 + if lladdr.is_some() {
            LLADDR_OPTION_LEN
        } else {
            0
        }
    }

    /// Writes the message into the first [`buffer_len`](Repr::buffer_len)
    /// octets of `p` (which must hold them) with its checksum over the
    /// pseudo-header `src`, `dst` and those octets, so the IPv6 payload
    /// length must be `buffer_len()`.
    pub fn emit(&self, src: &Ipv6Addr, dst: &Ipv6Addr, p: &mut Packet<&mut [u8]>) {
        let len = self.buffer_len();
        let b = &mut p.buffer[..len];
        let (ty, flags, target, lladdr, opt) = match *self {
            Repr::NeighborSolicit {
                target_addr,
                lladdr,
            } => (
                Message::NeighborSolicit,
                0,
                target_addr,
                lladdr,
                NdOptionType::SourceLinkLayerAddr,
            ),
            Repr::NeighborAdvert {
                flags,
                target_addr,
                lladdr,
            } => (
                Message::NeighborAdvert,
                flags.to_byte(),
                target_addr,
                lladdr,
                NdOptionType::TargetLinkLayerAddr,
            ),
        };
        b[field::TYPE] = u8::from(ty);
        b[field::CODE] = 0;
        b[field::CHECKSUM].fill(0);
        b[4..8].copy_from_slice(&[flags, 0, 0, 0]);
        b[field::TARGET].copy_from_slice(&target.octets());
        if let Some(m) = lladdr {
            let o = &mut b[24..32];
            o[field::OPT_TYPE] = u8::from(opt);
            o[field::OPT_LEN] = 1;
            o[field::OPT_LLADDR].copy_from_slice(&m.0);
        }
        icmpv6::Packet::new_unchecked(b).fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const HOST: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    const ROUTER: Mac = Mac([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]);

    // The messages below are scapy's, fe80::1 (HOST) <-> fe80::2 (ROUTER):
    // NS = ICMPv6ND_NS(tgt="fe80::2")/ICMPv6NDOptSrcLLAddr(lladdr=HOST),
    //      fe80::1 -> ff02::1:ff00:2
    const NS: &str = "8700 f5db 00000000 fe800000000000000000000000000002 0101 525400123456";
    // NA = ICMPv6ND_NA(tgt="fe80::2", R=1, S=1, O=1)/ICMPv6NDOptDstLLAddr(lladdr=ROUTER),
    //      fe80::2 -> fe80::1
    const NA: &str = "8800 792c e0000000 fe800000000000000000000000000002 0201 525400abcdef";
    // RS = ICMPv6ND_RS()/ICMPv6NDOptSrcLLAddr(lladdr=HOST), fe80::1 -> ff02::2
    const RS: &str = "8500 f570 00000000 0101 525400123456";
    // RA = ICMPv6ND_RA(chlim=64, M=1, routerlifetime=1800, reachabletime=30000,
    //      retranstimer=1000)/SrcLLAddr(ROUTER)/MTU(1500)/PrefixInfo(2001:db8::/64),
    //      (scapy sets the default router preference, 0x08, in the flags)
    //      fe80::2 -> ff02::1
    const RA: &str = "8600 1d0b 40 88 0708 00007530 000003e8 0101 525400abcdef
        0501 0000 000005dc
        0304 40c0 ffffffff ffffffff 00000000 20010db8000000000000000000000000";
    // Redirect = ICMPv6ND_Redirect(tgt="fe80::3", dst="2001:db8::9")/DstLLAddr(ROUTER),
    //      fe80::2 -> fe80::1
    const REDIRECT: &str = "8900 2a5a 00000000 fe800000000000000000000000000003
        20010db8000000000000000000000009 0201 525400abcdef";

    #[test]
    fn parse_ns() {
        let b = hex(NS);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), Message::NeighborSolicit);
        assert_eq!(p.target_addr(), Some(a("fe80::2")));
        assert_eq!(p.source_lladdr(), Some(HOST));
        assert_eq!(p.target_lladdr(), None);
        assert_eq!(p.neighbor_flags(), None);
        assert!(p.verify_checksum(&a("fe80::1"), &a("ff02::1:ff00:2")));
        assert_eq!(
            Repr::parse(&p).unwrap(),
            Repr::NeighborSolicit {
                target_addr: a("fe80::2"),
                lladdr: Some(HOST)
            }
        );
    }

    fn na_repr() -> Repr {
        Repr::NeighborAdvert {
            flags: NeighborFlags {
                router: true,
                solicited: true,
                override_: true,
            },
            target_addr: a("fe80::2"),
            lladdr: Some(ROUTER),
        }
    }

    #[test]
    fn parse_emit_na() {
        let b = hex(NA);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), na_repr());
        assert!(p.verify_checksum(&a("fe80::2"), &a("fe80::1")));
        let r = na_repr();
        assert_eq!(r.buffer_len(), 32);
        let mut out = [0xa5u8; 40];
        r.emit(
            &a("fe80::2"),
            &a("fe80::1"),
            &mut Packet::new_unchecked(&mut out[..]),
        );
        assert_eq!(&out[..32], &b[..]);
        assert_eq!(&out[32..], &[0xa5; 8], "nothing past buffer_len");
    }

    #[test]
    fn emit_without_lladdr() {
        let r = Repr::NeighborSolicit {
            target_addr: a("2001:db8::1"),
            lladdr: None,
        };
        let mut out = [0u8; 24];
        r.emit(
            &Ipv6Addr::UNSPECIFIED,
            &a("ff02::1:ff00:1"),
            &mut Packet::new_unchecked(&mut out[..]),
        );
        let p = Packet::new_checked(&out[..]).unwrap();
        assert!(p.verify_checksum(&Ipv6Addr::UNSPECIFIED, &a("ff02::1:ff00:1")));
        assert_eq!(Repr::parse(&p).unwrap(), r);
        assert_eq!(p.option_iter().count(), 0);
    }

    #[test]
    fn parse_rs_ra_redirect() {
        let b = hex(RS);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), Message::RouterSolicit);
        assert_eq!(p.source_lladdr(), Some(HOST));
        assert_eq!(p.target_addr(), None);
        assert!(p.verify_checksum(&a("fe80::1"), &a("ff02::2")));
        assert_eq!(Repr::parse(&p), Err(WireError::WrongType));

        let b = hex(RA);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(&a("fe80::2"), &a("ff02::1")));
        assert_eq!(
            p.router_params(),
            Some(RouterParams {
                cur_hop_limit: 64,
                managed: true,
                other: false,
                router_lifetime: 1800,
                reachable_time: 30000,
                retrans_time: 1000,
            })
        );
        let kinds: Vec<_> = p.option_iter().map(|o| o.unwrap().kind()).collect();
        assert_eq!(
            kinds,
            [
                NdOptionType::SourceLinkLayerAddr,
                NdOptionType::Mtu,
                NdOptionType::PrefixInformation
            ]
        );
        let offsets: Vec<_> = p.option_iter().map(|o| o.unwrap().offset()).collect();
        assert_eq!(offsets, [0, 8, 16]);
        assert_eq!(p.source_lladdr(), Some(ROUTER));

        let b = hex(REDIRECT);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(&a("fe80::2"), &a("fe80::1")));
        assert_eq!(p.target_addr(), Some(a("fe80::3")));
        assert_eq!(p.dest_addr(), Some(a("2001:db8::9")));
        assert_eq!(p.target_lladdr(), Some(ROUTER));
        assert_eq!(p.router_params(), None);
    }

    #[test]
    fn invalid_options() {
        let good = hex(NS);
        // Length 0.
        let mut b = good.clone();
        b[25] = 0;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadOption)
        );
        // Running past the end.
        let mut b = good.clone();
        b[25] = 2;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadOption)
        );
        // A lone trailing octet.
        let mut b = good.clone();
        b.push(1);
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::BadOption)
        );
        // Truncated fixed part, wrong type.
        assert_eq!(
            Packet::new_checked(&good[..23]).err(),
            Some(WireError::Truncated)
        );
        assert_eq!(
            Packet::new_checked(&good[..3]).err(),
            Some(WireError::Truncated)
        );
        let mut b = good.clone();
        b[0] = 128;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::WrongType)
        );
        // The iterator reports once, then stops.
        let mut it = NdOptionIter::new(&[1, 1, 0, 0, 0, 0, 0, 0, 5, 0, 9, 9]);
        assert!(it.next().unwrap().is_ok());
        assert_eq!(it.next(), Some(Err(WireError::BadOption)));
        assert_eq!(it.next(), None);
        // A non-Ethernet link-layer address option (length 2) is no MAC.
        let o = NdOptionIter::new(&[1, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0])
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(
            (o.kind(), o.len(), o.link_layer_addr()),
            (NdOptionType::SourceLinkLayerAddr, 16, None)
        );
        assert_eq!(o.data().len(), 14);
    }

    #[test]
    fn setters() {
        let mut b = hex(NA);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_neighbor_flags(NeighborFlags::default());
        p.set_target_addr(&a("fe80::9"));
        p.options_mut()[2] = 0x02;
        p.fill_checksum(&a("fe80::2"), &a("fe80::1"));
        assert!(p.verify_checksum(&a("fe80::2"), &a("fe80::1")));
        assert_eq!(
            Repr::parse(&p).unwrap(),
            Repr::NeighborAdvert {
                flags: NeighborFlags::default(),
                target_addr: a("fe80::9"),
                lladdr: Some(Mac([0x02, 0x54, 0x00, 0xab, 0xcd, 0xef])),
            }
        );
        // No target in a router solicitation: a no-op.
        let mut b = hex(RS);
        let before = b.clone();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_target_addr(&a("fe80::9"));
        p.set_neighbor_flags(NeighborFlags::default());
        assert_eq!(b, before);
    }

    fn arb_repr() -> impl Strategy<Value = Repr> {
        let mac = proptest::option::of(any::<[u8; 6]>().prop_map(Mac));
        let addr = any::<[u8; 16]>().prop_map(Ipv6Addr::from);
        prop_oneof![
            (addr.clone(), mac.clone()).prop_map(|(target_addr, lladdr)| Repr::NeighborSolicit {
                target_addr,
                lladdr
            }),
            (any::<(bool, bool, bool)>(), addr, mac).prop_map(
                |((r, s, o), target_addr, lladdr)| {
                    Repr::NeighborAdvert {
                        flags: NeighborFlags {
                            router: r,
                            solicited: s,
                            override_: o,
                        },
                        target_addr,
                        lladdr,
                    }
                }
            ),
        ]
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..96), t in 133u8..=137) {
            let mut data = data;
            if let Some(b) = data.first_mut() {
                *b = t;
            }
            if let Ok(p) = Packet::new_checked(&data[..]) {
                prop_assert!(p.option_iter().all(|o| o.is_ok()));
                let _ = (p.target_addr(), p.dest_addr(), p.router_params(), p.neighbor_flags());
                let _ = (p.source_lladdr(), p.target_lladdr(), Repr::parse(&p));
            }
        }

        /// The iterator ends, never yields more than it could, and its
        /// options tile the area up to the first error.
        #[test]
        fn option_iter_terminates(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut next = 0;
            let mut n = 0;
            for o in NdOptionIter::new(&data) {
                n += 1;
                prop_assert!(n <= data.len() / 8 + 1);
                match o {
                    Ok(o) => {
                        prop_assert_eq!(o.offset(), next);
                        prop_assert!(o.len() >= 8 && o.len() % 8 == 0);
                        next += o.len();
                    }
                    Err(e) => prop_assert_eq!(e, WireError::BadOption),
                }
            }
            prop_assert!(next <= data.len());
        }

        #[test]
        fn repr_roundtrip(r in arb_repr(), src in any::<[u8; 16]>(), dst in any::<[u8; 16]>()) {
            let (src, dst) = (Ipv6Addr::from(src), Ipv6Addr::from(dst));
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&src, &dst, &mut Packet::new_unchecked(&mut out[..]));
            let p = Packet::new_checked(&out[..]).unwrap();
            prop_assert!(p.verify_checksum(&src, &dst));
            prop_assert_eq!(Repr::parse(&p).unwrap(), r);
        }
    }
}
