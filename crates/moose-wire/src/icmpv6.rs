//! The ICMPv6 header (RFC 4443 §2.1) and its checksum over the IPv6
//! pseudo-header. Neighbour discovery messages are read by
//! [`ndisc`](crate::ndisc).
//!
//! ```text
//!  0      1      2          4
//!  | type | code | checksum | message body
//! ```

use std::net::Ipv6Addr;

use crate::checksum;
use crate::error::WireError;

mod field {
    use std::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const HEADER_LEN: usize = 4;
}

pub const HEADER_LEN: usize = field::HEADER_LEN;
/// Offset of the checksum field in the message.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// The IPv6 next header of ICMPv6.
pub const NEXT_HEADER: u8 = 58;

/// ICMPv6 message types moose knows by name.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    DstUnreachable,
    PktTooBig,
    TimeExceeded,
    ParamProblem,
    EchoRequest,
    EchoReply,
    MldQuery,
    MldReport,
    MldDone,
    RouterSolicit,
    RouterAdvert,
    NeighborSolicit,
    NeighborAdvert,
    Redirect,
    MldReportV2,
    Unknown(u8),
}

impl From<u8> for Message {
    #[inline]
    fn from(v: u8) -> Message {
        match v {
            1 => Message::DstUnreachable,
            2 => Message::PktTooBig,
            3 => Message::TimeExceeded,
            4 => Message::ParamProblem,
            128 => Message::EchoRequest,
            129 => Message::EchoReply,
            130 => Message::MldQuery,
            131 => Message::MldReport,
            132 => Message::MldDone,
            133 => Message::RouterSolicit,
            134 => Message::RouterAdvert,
            135 => Message::NeighborSolicit,
            136 => Message::NeighborAdvert,
            137 => Message::Redirect,
            143 => Message::MldReportV2,
            other => Message::Unknown(other),
        }
    }
}

impl From<Message> for u8 {
    #[inline]
    fn from(v: Message) -> u8 {
        match v {
            Message::DstUnreachable => 1,
            Message::PktTooBig => 2,
            Message::TimeExceeded => 3,
            Message::ParamProblem => 4,
            Message::EchoRequest => 128,
            Message::EchoReply => 129,
            Message::MldQuery => 130,
            Message::MldReport => 131,
            Message::MldDone => 132,
            Message::RouterSolicit => 133,
            Message::RouterAdvert => 134,
            Message::NeighborSolicit => 135,
            Message::NeighborAdvert => 136,
            Message::Redirect => 137,
            Message::MldReportV2 => 143,
            Message::Unknown(o) => o,
        }
    }
}

impl Message {
    /// One of the five neighbour discovery messages (RFC 4861 §4).
    #[inline]
    pub fn is_ndisc(self) -> bool {
        matches!(
            self,
            Message::RouterSolicit
                | Message::RouterAdvert
                | Message::NeighborSolicit
                | Message::NeighborAdvert
                | Message::Redirect
        )
    }
}

/// A zero-copy view of an ICMPv6 message: the whole IPv6 payload, which the
/// checksum covers.
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

    /// Wraps untrusted input, checking that it holds the 4-octet header.
    /// After this succeeds no accessor or setter panics.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < field::HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
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

    /// The message after the 4-octet header.
    #[inline]
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[field::HEADER_LEN..]
    }

    /// Whether the checksum over the pseudo-header and the whole buffer is
    /// right. The buffer must be exactly the IPv6 payload.
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let b = self.buffer.as_ref();
        checksum::combine(&[pseudo(src, dst, b.len()), checksum::sum(b)]) == 0xffff
    }

    /// The checksum computed from scratch.
    pub fn compute_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> u16 {
        let b = self.buffer.as_ref();
        checksum::finish(checksum::combine(&[
            pseudo(src, dst, b.len()),
            checksum::sum(&b[..field::CHECKSUM.start]),
            checksum::sum(&b[field::CHECKSUM.end..]),
        ]))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_msg_type(&mut self, m: Message) {
        self.buffer.as_mut()[field::TYPE] = u8::from(m);
    }

    #[inline]
    pub fn set_msg_code(&mut self, c: u8) {
        self.buffer.as_mut()[field::CODE] = c;
    }

    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Computes and writes the checksum.
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        let c = self.compute_checksum(src, dst);
        self.set_checksum(c);
    }

    #[inline]
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::HEADER_LEN..]
    }
}

/// The pseudo-header sum for an ICMPv6 message of `len` octets. A length
/// beyond `u32` cannot come from an IPv6 payload; it saturates.
#[inline]
fn pseudo(src: &Ipv6Addr, dst: &Ipv6Addr, len: usize) -> u16 {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    checksum::pseudo_header_v6(src, dst, NEXT_HEADER, len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `ICMPv6EchoRequest(id=1, seq=2, data=b"ping")` from fe80::1 to
    /// fe80::2, as scapy builds it.
    const ECHO: [u8; 12] = [
        0x80, 0x00, 0xa3, 0xe0, 0x00, 0x01, 0x00, 0x02, b'p', b'i', b'n', b'g',
    ];

    fn addrs() -> (Ipv6Addr, Ipv6Addr) {
        ("fe80::1".parse().unwrap(), "fe80::2".parse().unwrap())
    }

    #[test]
    fn parse_and_checksum() {
        let (s, d) = addrs();
        let p = Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(p.msg_type(), Message::EchoRequest);
        assert!(!p.msg_type().is_ndisc());
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.body(), &ECHO[4..]);
        assert!(p.verify_checksum(&s, &d));
        assert!(!p.verify_checksum(&d, &d));
        assert_eq!(p.compute_checksum(&s, &d), p.checksum());
    }

    #[test]
    fn emit() {
        let (s, d) = addrs();
        let mut b = [0u8; 12];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_msg_type(Message::EchoRequest);
        p.set_msg_code(0);
        p.body_mut().copy_from_slice(&ECHO[4..]);
        p.fill_checksum(&s, &d);
        assert_eq!(b, ECHO);
        assert_eq!(
            Packet::new_checked(&b[..3]).err(),
            Some(WireError::Truncated)
        );
    }

    #[test]
    fn types() {
        for v in 0..=255u8 {
            let m = Message::from(v);
            assert_eq!(u8::from(m), v);
            assert_eq!(m.is_ndisc(), (133..=137).contains(&v));
        }
    }

    proptest! {
        #[test]
        fn fill_then_verify(body in proptest::collection::vec(any::<u8>(), 0..40), t in any::<u8>()) {
            let (s, d) = addrs();
            let mut b = vec![t, 0, 0, 0];
            b.extend_from_slice(&body);
            let mut p = Packet::new_checked(&mut b[..]).unwrap();
            p.fill_checksum(&s, &d);
            prop_assert!(p.verify_checksum(&s, &d));
        }
    }
}
