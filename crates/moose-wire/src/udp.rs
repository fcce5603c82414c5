//! The UDP header (RFC 768) and its checksum over the IPv4 (RFC 768) or
//! IPv6 (RFC 8200 §8.1) pseudo-header.
//!
//! ```text
//!  0          2          4        6          8
//!  | src port | dst port | length | checksum | payload
//! ```
//!
//! Over IPv4 a checksum field of 0 means "no checksum" (and a computed 0
//! is sent as `0xffff`); over IPv6 the checksum is mandatory.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::checksum;
use crate::error::WireError;

mod field {
    use std::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const HEADER_LEN: usize = 8;
}

pub const HEADER_LEN: usize = field::HEADER_LEN;
/// Offset of the checksum field in the header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

const PROTOCOL: u8 = 17;

/// A zero-copy view of a UDP datagram (the IP payload; anything after the
/// UDP length is not part of the datagram).
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

    /// Wraps untrusted input, checking that it holds the 8-octet header, a
    /// length field of at least 8, and that many octets. After this
    /// succeeds no accessor or setter panics.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The checks of [`new_checked`](Packet::new_checked).
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < field::HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let l = usize::from(self.len());
        if l < field::HEADER_LEN {
            return Err(WireError::BadLength);
        }
        if len < l {
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
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }

    /// Header and payload, in octets.
    #[inline]
    pub fn len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }

    /// Never true of a checked view (the length is at least 8).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// The datagram, header included, up to its length.
    #[inline]
    fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.len())]
    }

    /// The payload, up to the UDP length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.datagram()[field::HEADER_LEN..]
    }

    /// The ones'-complement sum of the datagram with its checksum field
    /// read as zero.
    fn sum_without_checksum(&self) -> u16 {
        let d = self.datagram();
        checksum::combine(&[
            checksum::sum(&d[..field::CHECKSUM.start]),
            checksum::sum(&d[field::CHECKSUM.end..]),
        ])
    }

    /// Over IPv4: true if the checksum is right, or 0 ("none").
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let ph = checksum::pseudo_header_v4(src, dst, PROTOCOL, self.len());
        checksum::combine(&[ph, checksum::sum(self.datagram())]) == 0xffff
    }

    /// Over IPv6: true if the checksum is right (0 is never right).
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        if self.checksum() == 0 {
            return false;
        }
        let ph = checksum::pseudo_header_v6(src, dst, PROTOCOL, u32::from(self.len()));
        checksum::combine(&[ph, checksum::sum(self.datagram())]) == 0xffff
    }

    /// The checksum over IPv4, computed from scratch (never 0).
    pub fn compute_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let ph = checksum::pseudo_header_v4(src, dst, PROTOCOL, self.len());
        nonzero(checksum::finish(checksum::combine(&[
            ph,
            self.sum_without_checksum(),
        ])))
    }

    /// The checksum over IPv6, computed from scratch (never 0).
    pub fn compute_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> u16 {
        let ph = checksum::pseudo_header_v6(src, dst, PROTOCOL, u32::from(self.len()));
        nonzero(checksum::finish(checksum::combine(&[
            ph,
            self.sum_without_checksum(),
        ])))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&v.to_be_bytes());
    }

    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&v.to_be_bytes());
    }

    #[inline]
    pub fn set_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        let c = self.compute_checksum_v4(src, dst);
        self.set_checksum(c);
    }

    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        let c = self.compute_checksum_v6(src, dst);
        self.set_checksum(c);
    }

    /// The payload, mutable, up to the UDP length.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let l = usize::from(self.len());
        &mut self.buffer.as_mut()[field::HEADER_LEN..l]
    }
}

/// A UDP checksum is sent as `0xffff` where it computes to 0.
#[inline]
fn nonzero(c: u16) -> u16 {
    if c == 0 {
        0xffff
    } else {
        c
    }
}

/// The UDP checksum field after the run `old` at offset `at` of the
/// datagram (header at 0) became `new` (RFC 1624). A field of 0 ("no
/// checksum", over IPv4) stays 0; a result of 0 is sent as `0xffff`.
#[inline]
pub fn update_checksum(field: u16, at: usize, old: &[u8], new: &[u8]) -> u16 {
    if field == 0 {
        0
    } else {
        nonzero(checksum::update(field, at, old, new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// `UDP(sport=1234, dport=53)/b"hello"` between 10.0.0.1 and 10.0.0.2,
    /// checksum from scapy, then padding.
    const DATAGRAM: [u8; 15] = [
        0x04, 0xd2, 0x00, 0x35, 0x00, 0x0d, 0xa2, 0xf8, b'h', b'e', b'l', b'l', b'o', 0xee, 0xee,
    ];

    #[test]
    fn parse_and_verify() {
        let p = Packet::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len()), (1234, 53, 13));
        assert!(!p.is_empty());
        assert_eq!(p.payload(), b"hello");
        assert!(p.verify_checksum_v4(SRC, DST));
        assert!(!p.verify_checksum_v4(SRC, Ipv4Addr::new(10, 0, 0, 3)));
        assert_eq!(p.compute_checksum_v4(SRC, DST), p.checksum());
    }

    #[test]
    fn emit_and_fill() {
        let mut b = [0u8; 13];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_src_port(1234);
        p.set_dst_port(53);
        p.set_len(13);
        p.payload_mut().copy_from_slice(b"hello");
        p.fill_checksum_v4(SRC, DST);
        assert_eq!(&b[..], &DATAGRAM[..13]);
    }

    #[test]
    fn zero_checksum() {
        let mut b = DATAGRAM;
        b[6] = 0;
        b[7] = 0;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum_v4(SRC, DST), "0 is none over IPv4");
        let a: Ipv6Addr = "fe80::1".parse().unwrap();
        assert!(!p.verify_checksum_v6(&a, &a), "but mandatory over IPv6");
        assert_eq!(update_checksum(0, 8, b"he", b"HE"), 0);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum_v6(&a, &a);
        assert!(p.verify_checksum_v6(&a, &a));
    }

    #[test]
    fn errors() {
        let check = |b: &[u8]| Packet::new_checked(b).err();
        assert_eq!(check(&DATAGRAM[..7]), Some(WireError::Truncated));
        assert_eq!(check(&DATAGRAM[..12]), Some(WireError::Truncated));
        let mut b = DATAGRAM;
        b[5] = 7;
        assert_eq!(check(&b), Some(WireError::BadLength));
        b[5] = 8;
        assert_eq!(Packet::new_checked(&b[..]).unwrap().payload(), b"");
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let a: Ipv6Addr = "fe80::1".parse().unwrap();
                let _ = (p.payload(), p.verify_checksum_v4(SRC, DST), p.verify_checksum_v6(&a, &a));
                prop_assert!(usize::from(p.len()) <= data.len());
            }
        }

        /// Filled checksums verify, and the incremental update of a payload
        /// change keeps them verifying, never producing 0.
        #[test]
        fn update_keeps_checksum_valid(
            payload in proptest::collection::vec(any::<u8>(), 1..40),
            at in 0usize..40,
            new in proptest::collection::vec(any::<u8>(), 1..8),
        ) {
            let mut b = vec![0u8; 8 + payload.len()];
            b[8..].copy_from_slice(&payload);
            let mut p = Packet::new_unchecked(&mut b[..]);
            p.set_len((8 + payload.len()) as u16);
            p.fill_checksum_v4(SRC, DST);
            prop_assert!(p.verify_checksum_v4(SRC, DST));
            let at = 8 + at % payload.len();
            let n = new.len().min(b.len() - at);
            let old = b[at..at + n].to_vec();
            b[at..at + n].copy_from_slice(&new[..n]);
            let c = update_checksum(u16::from_be_bytes([b[6], b[7]]), at, &old, &new[..n]);
            prop_assert_ne!(c, 0);
            b[6..8].copy_from_slice(&c.to_be_bytes());
            prop_assert!(Packet::new_checked(&b[..]).unwrap().verify_checksum_v4(SRC, DST));
        }
    }
}
