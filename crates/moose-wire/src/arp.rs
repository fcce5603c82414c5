//! ARP for IPv4 over Ethernet (RFC 826), the only kind moose reads.
//!
//! ```text
//!  0        2        4    5    6        8           14       18          24       28
//!  | htype  | ptype  |hlen|plen| oper   | sender HW | sender | target HW | target |
//!  |   1    | 0x0800 | 6  | 4  |        |  (MAC)    | (IPv4) |  (MAC)    | (IPv4) |
//! ```
//!
//! Any other hardware or protocol type, or other address lengths, is
//! [`WireError::Unsupported`]: a caller forwards such frames untouched.
//! Bytes after octet 28 (Ethernet padding) are ignored.

use std::net::Ipv4Addr;

use crate::error::WireError;
use crate::mac::Mac;

mod field {
    use std::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
    pub const LEN: usize = 28;
}

/// Octets of an Ethernet/IPv4 ARP message.
pub const PACKET_LEN: usize = field::LEN;
/// Offset of the sender hardware address in the message.
pub const SENDER_HW_OFFSET: usize = field::SHA.start;
/// Offset of the target hardware address in the message.
pub const TARGET_HW_OFFSET: usize = field::THA.start;

/// The first six octets of every Ethernet/IPv4 ARP message: htype 1,
/// ptype 0x0800, hlen 6, plen 4.
pub const ETHERNET_IPV4_PREFIX: [u8; 6] = [0x00, 0x01, 0x08, 0x00, 6, 4];

/// The ARP operation.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Request,
    Reply,
    Unknown(u16),
}

impl From<u16> for Operation {
    #[inline]
    fn from(v: u16) -> Operation {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    #[inline]
    fn from(v: Operation) -> u16 {
        match v {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(o) => o,
        }
    }
}

/// A zero-copy view of an Ethernet/IPv4 ARP message (the Ethernet payload).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors panic if it is shorter
    /// than [`PACKET_LEN`]. For messages we build ourselves.
    #[inline]
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps untrusted input: [`WireError::Truncated`] if shorter than 28
    /// octets, [`WireError::Unsupported`] if not Ethernet/IPv4 ARP. After
    /// this succeeds no accessor or setter panics.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        p.check_ethernet_ipv4()?;
        Ok(p)
    }

    /// Checks that the buffer holds a whole Ethernet/IPv4 message.
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < field::LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// Checks htype 1, ptype 0x0800, hlen 6, plen 4 (needs six octets).
    #[inline]
    pub fn check_ethernet_ipv4(&self) -> Result<(), WireError> {
        match self.buffer.as_ref().get(..6) {
            None => Err(WireError::Truncated),
            Some(p) if p == ETHERNET_IPV4_PREFIX => Ok(()),
            Some(_) => Err(WireError::Unsupported),
        }
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
    fn ipv4_at(&self, r: std::ops::Range<usize>) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[r];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    #[inline]
    pub fn hardware_type(&self) -> u16 {
        self.u16_at(field::HTYPE)
    }

    #[inline]
    pub fn protocol_type(&self) -> u16 {
        self.u16_at(field::PTYPE)
    }

    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    #[inline]
    pub fn operation(&self) -> Operation {
        Operation::from(self.u16_at(field::OPER))
    }

    #[inline]
    pub fn sender_hardware_addr(&self) -> Mac {
        Mac::from_slice(&self.buffer.as_ref()[field::SHA])
    }

    #[inline]
    pub fn sender_protocol_addr(&self) -> Ipv4Addr {
        self.ipv4_at(field::SPA)
    }

    #[inline]
    pub fn target_hardware_addr(&self) -> Mac {
        Mac::from_slice(&self.buffer.as_ref()[field::THA])
    }

    #[inline]
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        self.ipv4_at(field::TPA)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_operation(&mut self, op: Operation) {
        self.buffer.as_mut()[field::OPER].copy_from_slice(&u16::from(op).to_be_bytes());
    }

    #[inline]
    pub fn set_sender_hardware_addr(&mut self, m: Mac) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&m.0);
    }

    #[inline]
    pub fn set_sender_protocol_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&a.octets());
    }

    #[inline]
    pub fn set_target_hardware_addr(&mut self, m: Mac) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&m.0);
    }

    #[inline]
    pub fn set_target_protocol_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&a.octets());
    }

    /// Writes htype 1, ptype 0x0800, hlen 6, plen 4.
    #[inline]
    pub fn set_ethernet_ipv4(&mut self) {
        self.buffer.as_mut()[..6].copy_from_slice(&ETHERNET_IPV4_PREFIX);
    }
}

/// An Ethernet/IPv4 ARP message, parsed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    pub operation: Operation,
    pub sender_hardware_addr: Mac,
    pub sender_protocol_addr: Ipv4Addr,
    pub target_hardware_addr: Mac,
    pub target_protocol_addr: Ipv4Addr,
}

impl Repr {
    /// Reads a message. A checked view is always Ethernet/IPv4; an
    /// unchecked one is checked here.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr, WireError> {
        p.check_len()?;
        p.check_ethernet_ipv4()?;
        Ok(Repr {
            operation: p.operation(),
            sender_hardware_addr: p.sender_hardware_addr(),
            sender_protocol_addr: p.sender_protocol_addr(),
            target_hardware_addr: p.target_hardware_addr(),
            target_protocol_addr: p.target_protocol_addr(),
        })
    }

    /// Octets [`emit`](Repr::emit) writes.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        field::LEN
    }

    /// Writes the message into the first [`buffer_len`](Repr::buffer_len)
    /// octets of `p` (which must hold them; a view from `new_checked` or a
    /// buffer of `buffer_len()` octets does).
    pub fn emit(&self, p: &mut Packet<&mut [u8]>) {
        p.set_ethernet_ipv4();
        p.set_operation(self.operation);
        p.set_sender_hardware_addr(self.sender_hardware_addr);
        p.set_sender_protocol_addr(self.sender_protocol_addr);
        p.set_target_hardware_addr(self.target_hardware_addr);
        p.set_target_protocol_addr(self.target_protocol_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An ARP request "who has 192.168.1.2, tell 192.168.1.1" from
    /// 52:54:00:12:34:56, as scapy builds it
    /// (`ARP(hwsrc="52:54:00:12:34:56", psrc="192.168.1.1", pdst="192.168.1.2")`).
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // Ethernet, IPv4, 6, 4, request
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0xc0, 0xa8, 0x01, 0x01, // sender
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x02, // target
    ];

    fn request_repr() -> Repr {
        Repr {
            operation: Operation::Request,
            sender_hardware_addr: Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            sender_protocol_addr: Ipv4Addr::new(192, 168, 1, 1),
            target_hardware_addr: Mac::ZERO,
            target_protocol_addr: Ipv4Addr::new(192, 168, 1, 2),
        }
    }

    #[test]
    fn parse_request() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.hardware_type(), 1);
        assert_eq!(p.protocol_type(), 0x0800);
        assert_eq!((p.hardware_len(), p.protocol_len()), (6, 4));
        assert_eq!(Repr::parse(&p).unwrap(), request_repr());
    }

    #[test]
    fn emit_request() {
        let mut buf = [0xa5u8; 28];
        let r = request_repr();
        assert_eq!(r.buffer_len(), 28);
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, REQUEST);
    }

    #[test]
    fn padded_reply_and_setters() {
        // A reply padded to the Ethernet minimum (46 octets of payload).
        let mut buf = [0u8; 46];
        let mut r = request_repr();
        r.operation = Operation::Reply;
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        assert_eq!(p.operation(), Operation::Reply);
        p.set_sender_hardware_addr(Mac([2, 0, 0, 0, 0, 7]));
        p.set_target_hardware_addr(Mac::BROADCAST);
        assert_eq!(p.sender_hardware_addr(), Mac([2, 0, 0, 0, 0, 7]));
        assert_eq!(p.target_hardware_addr(), Mac::BROADCAST);
        assert_eq!(&buf[8..14], &[2, 0, 0, 0, 0, 7]);
        assert_eq!(&buf[18..24], &[0xff; 6]);
        assert!(buf[28..].iter().all(|&b| b == 0), "padding untouched");
    }

    #[test]
    fn errors() {
        assert_eq!(
            Packet::new_checked(&REQUEST[..27]).err(),
            Some(WireError::Truncated)
        );
        assert_eq!(
            Packet::new_checked(&[][..]).err(),
            Some(WireError::Truncated)
        );
        for (i, v) in [(1, 6u8), (3, 0xdd), (4, 8), (5, 16)] {
            let mut b = REQUEST;
            b[i] = v;
            assert_eq!(
                Packet::new_checked(&b[..]).err(),
                Some(WireError::Unsupported)
            );
            assert_eq!(
                Repr::parse(&Packet::new_unchecked(&b[..])),
                Err(WireError::Unsupported)
            );
        }
        let mut b = REQUEST;
        b[7] = 9;
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap().operation(),
            Operation::Unknown(9)
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..40), eth in any::<bool>()) {
            let mut data = data;
            if eth && data.len() >= 6 {
                data[..6].copy_from_slice(&ETHERNET_IPV4_PREFIX);
            }
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let r = Repr::parse(&p).unwrap();
                let mut out = [0u8; 28];
                r.emit(&mut Packet::new_unchecked(&mut out[..]));
                prop_assert_eq!(&out[..], &data[..28]);
            }
        }

        #[test]
        fn operation_roundtrip(v in any::<u16>()) {
            prop_assert_eq!(u16::from(Operation::from(v)), v);
        }
    }
}
