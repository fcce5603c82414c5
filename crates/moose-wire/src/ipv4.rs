//! The IPv4 header (RFC 791), as far as moose needs it to find a UDP
//! datagram (DHCP) inside: lengths, fragmentation, protocol, addresses and
//! the header checksum.
//!
//! ```text
//!  0       1        2        4       6          8     9      10       12    16    20
//!  |ver|ihl| dscp/ecn| length | ident | flg|frag | ttl | proto | cksum  | src | dst | options
//! ```

use std::net::Ipv4Addr;

use crate::checksum;
use crate::error::WireError;
use crate::ip::IpProtocol;

mod field {
    use std::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
    pub const MIN_LEN: usize = 20;
}

/// Octets of a header without options.
pub const MIN_HEADER_LEN: usize = field::MIN_LEN;

/// A zero-copy view of an IPv4 packet (the Ethernet payload; anything after
/// the total length, such as Ethernet padding, is not part of the packet).
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

    /// Wraps untrusted input, checking that it holds 20 octets, version 4,
    /// a header length of at least 20 that fits, and a total length of at
    /// least the header that fits. After this succeeds no accessor or
    /// setter panics, and [`payload`](Packet::payload) is the packet's
    /// payload up to its total length.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The checks of [`new_checked`](Packet::new_checked).
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < field::MIN_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 4 {
            return Err(WireError::BadVersion);
        }
        let hl = self.header_len();
        if hl < field::MIN_LEN {
            return Err(WireError::BadLength);
        }
        let total = usize::from(self.total_len());
        if total < hl {
            return Err(WireError::BadLength);
        }
        if len < total {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn u16_at(&self, r: std::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in octets (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Header and payload, in octets.
    #[inline]
    pub fn total_len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }

    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.u16_at(field::FLG_OFF) & 0x4000 != 0
    }

    #[inline]
    pub fn more_frags(&self) -> bool {
        self.u16_at(field::FLG_OFF) & 0x2000 != 0
    }

    /// The fragment offset in octets.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.u16_at(field::FLG_OFF) & 0x1fff) << 3
    }

    /// A fragment of a larger datagram (more fragments, or a non-zero
    /// offset): its payload is not a whole upper-layer message.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.u16_at(field::FLG_OFF) & 0x3fff != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The header's options (empty when IHL is 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::MIN_LEN..self.header_len()]
    }

    /// Whether the header checksum is right.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::sum(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// The header checksum computed from scratch.
    pub fn compute_checksum(&self) -> u16 {
        let h = &self.buffer.as_ref()[..self.header_len()];
        checksum::finish(checksum::combine(&[
            checksum::sum(&h[..field::CHECKSUM.start]),
            checksum::sum(&h[field::CHECKSUM.end..]),
        ]))
    }

    /// The payload, from the end of the header to the total length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Computes and writes the header checksum.
    #[inline]
    pub fn fill_checksum(&mut self) {
        let c = self.compute_checksum();
        self.set_checksum(c);
    }

    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }

    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }

    /// The payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[h..t]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `IP(src="10.0.0.1", dst="10.0.0.2", id=1, ttl=64, proto=17)/b"\x00"*8`
    /// from scapy, then two octets of padding.
    const UDP_PACKET: [u8; 30] = [
        0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x66, 0xce, 0x0a, 0x00, 0x00,
        0x01, 0x0a, 0x00, 0x00, 0x02, // header
        0, 0, 0, 0, 0, 0, 0, 0, // payload
        0xee, 0xee, // padding
    ];

    #[test]
    fn parse() {
        let p = Packet::new_checked(&UDP_PACKET[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 1);
        assert!(!p.is_fragment() && !p.dont_frag() && !p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::Udp);
        assert_eq!(p.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(p.checksum(), 0x66ce);
        assert!(p.verify_checksum());
        assert_eq!(p.compute_checksum(), 0x66ce);
        assert_eq!(p.payload(), &[0u8; 8]);
        assert!(p.options().is_empty());
        assert_eq!((p.dscp(), p.ecn()), (0, 0));
    }

    #[test]
    fn setters_and_checksum() {
        let mut b = UDP_PACKET;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_ttl(1);
        assert!(!p.verify_checksum());
        p.fill_checksum();
        assert!(p.verify_checksum());
        p.set_src_addr(Ipv4Addr::new(192, 0, 2, 1));
        p.set_dst_addr(Ipv4Addr::BROADCAST);
        p.fill_checksum();
        assert!(p.verify_checksum());
        p.payload_mut()[0] = 1;
        assert_eq!(b[20], 1);
        assert_eq!(&b[28..], &[0xee, 0xee]);
    }

    #[test]
    fn errors() {
        let check = |b: &[u8]| Packet::new_checked(b).err();
        assert_eq!(check(&UDP_PACKET[..19]), Some(WireError::Truncated));
        assert_eq!(check(&UDP_PACKET[..27]), Some(WireError::Truncated));
        let mut b = UDP_PACKET;
        b[0] = 0x65;
        assert_eq!(check(&b), Some(WireError::BadVersion));
        b[0] = 0x44;
        assert_eq!(check(&b), Some(WireError::BadLength));
        b[0] = 0x48; // 32-octet header > total length 28
        assert_eq!(check(&b), Some(WireError::BadLength));
        b[3] = 0x20; // total 32: fits the 30-octet buffer? no
        assert_eq!(check(&b), Some(WireError::Truncated));
        let mut b = UDP_PACKET;
        b[6] = 0x20; // more fragments
        assert!(Packet::new_checked(&b[..]).unwrap().is_fragment());
        b[6] = 0x00;
        b[7] = 0x01; // offset 8
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.is_fragment());
        assert_eq!(p.frag_offset(), 8);
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..80), v4 in any::<bool>()) {
            let mut data = data;
            if v4 && !data.is_empty() {
                data[0] = 0x40 | (data[0] & 0x0f);
            }
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = (p.options(), p.payload(), p.verify_checksum(), p.compute_checksum());
                let _ = (p.src_addr(), p.dst_addr(), p.protocol(), p.is_fragment(), p.frag_offset());
                prop_assert!(p.header_len() + p.payload().len() <= data.len());
            }
        }
    }
}
