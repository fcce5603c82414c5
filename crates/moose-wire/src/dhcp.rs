//! DHCPv4 (RFC 2131, options RFC 2132) and BOOTP (RFC 951) messages: the
//! UDP payload between ports 67 (server) and 68 (client).
//!
//! ```text
//!  0    1     2    3    4     8     10      12       16       20       24       28         44      108    236     240
//!  | op |htype|hlen|hops| xid | secs | flags | ciaddr | yiaddr | siaddr | giaddr | chaddr(16) | sname | file | cookie | options
//! ```
//!
//! Options (after the magic cookie 99.130.83.99) are `code, length, data`,
//! except pad (0) and end (255), which are one octet. With option
//! overload (52) they continue in `file` and then `sname` (RFC 2131 §4.1).

use std::net::Ipv4Addr;

use crate::error::WireError;
use crate::mac::Mac;

mod field {
    use std::ops::Range;
    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const HOPS: usize = 3;
    pub const XID: Range<usize> = 4..8;
    pub const SECS: Range<usize> = 8..10;
    pub const FLAGS: Range<usize> = 10..12;
    pub const CIADDR: Range<usize> = 12..16;
    pub const YIADDR: Range<usize> = 16..20;
    pub const SIADDR: Range<usize> = 20..24;
    pub const GIADDR: Range<usize> = 24..28;
    pub const CHADDR: Range<usize> = 28..44;
    pub const SNAME: Range<usize> = 44..108;
    pub const FILE: Range<usize> = 108..236;
    pub const MAGIC: Range<usize> = 236..240;
    pub const OPTIONS: usize = 240;
}

/// The server's UDP port.
pub const SERVER_PORT: u16 = 67;
/// The client's UDP port.
pub const CLIENT_PORT: u16 = 68;
/// The octets before the options: fixed part and magic cookie.
pub const MIN_LEN: usize = field::OPTIONS;
/// Offset of `chaddr` in the message.
pub const CHADDR_OFFSET: usize = field::CHADDR.start;
/// Offset of `flags` (the broadcast bit is its top bit).
pub const FLAGS_OFFSET: usize = field::FLAGS.start;
/// The magic cookie, 99.130.83.99.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];

/// The flags field's broadcast bit (RFC 2131 §2).
pub const FLAG_BROADCAST: u16 = 0x8000;

/// Option codes moose reads.
pub mod code {
    pub const PAD: u8 = 0;
    pub const REQUESTED_IP: u8 = 50;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const CLIENT_ID: u8 = 61;
    pub const END: u8 = 255;
}

/// `op`: who sends the message.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// BOOTREQUEST, client to server.
    Request,
    /// BOOTREPLY, server to client.
    Reply,
    Unknown(u8),
}

impl From<u8> for OpCode {
    #[inline]
    fn from(v: u8) -> OpCode {
        match v {
            1 => OpCode::Request,
            2 => OpCode::Reply,
            o => OpCode::Unknown(o),
        }
    }
}

impl From<OpCode> for u8 {
    #[inline]
    fn from(v: OpCode) -> u8 {
        match v {
            OpCode::Request => 1,
            OpCode::Reply => 2,
            OpCode::Unknown(o) => o,
        }
    }
}

/// The DHCP message type (option 53, RFC 2132 §9.6).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    Discover,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
    Unknown(u8),
}

impl From<u8> for MessageType {
    #[inline]
    fn from(v: u8) -> MessageType {
        match v {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            o => MessageType::Unknown(o),
        }
    }
}

impl From<MessageType> for u8 {
    #[inline]
    fn from(v: MessageType) -> u8 {
        match v {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
            MessageType::Unknown(o) => o,
        }
    }
}

/// One option (never pad or end), as the iterator found it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DhcpOption<'a> {
    pub code: u8,
    pub data: &'a [u8],
    /// Offset of the option's code octet in the area it was read from.
    pub offset: usize,
}

/// Walks an options area: skips pad, stops at end (or at the end of the
/// area, which RFC 2131 does not allow but clients send), yields one
/// [`WireError::BadOption`] for an option whose length octet or data runs
/// past the end and then nothing. Always ends, after at most `len / 2 + 1`
/// items.
#[derive(Clone, Debug)]
pub struct DhcpOptionIter<'a> {
    buf: &'a [u8],
    at: usize,
    done: bool,
}

impl<'a> DhcpOptionIter<'a> {
    #[inline]
    pub fn new(area: &'a [u8]) -> Self {
        DhcpOptionIter {
            buf: area,
            at: 0,
            done: false,
        }
    }
}

impl<'a> Iterator for DhcpOptionIter<'a> {
    type Item = Result<DhcpOption<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let Some(&c) = self.buf.get(self.at) else {
                self.done = true;
                return None;
            };
            match c {
                code::PAD => self.at += 1,
                code::END => {
                    self.done = true;
                    return None;
                }
                _ => break,
            }
        }
        let at = self.at;
        let code = self.buf[at];
        let data = self.buf.get(at + 1).and_then(|&l| {
            let start = at + 2;
            self.buf.get(start..start + usize::from(l))
        });
        match data {
            Some(data) => {
                self.at = at + 2 + data.len();
                Some(Ok(DhcpOption {
                    code,
                    data,
                    offset: at,
                }))
            }
            None => {
                self.done = true;
                Some(Err(WireError::BadOption))
            }
        }
    }
}

impl std::iter::FusedIterator for DhcpOptionIter<'_> {}

/// A zero-copy view of a DHCP (or BOOTP) message: the UDP payload.
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

    /// Wraps untrusted input, checking only that it holds the fixed part
    /// and the cookie's place ([`MIN_LEN`], 240 octets; a BOOTP message is
    /// longer still). After this succeeds no accessor or setter panics; the
    /// cookie and the options are checked when read
    /// ([`options`](Packet::options)).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < MIN_LEN {
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
    fn ipv4_at(&self, r: std::ops::Range<usize>) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[r];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    #[inline]
    pub fn op(&self) -> OpCode {
        OpCode::from(self.buffer.as_ref()[field::OP])
    }

    /// Hardware address type (1 for Ethernet).
    #[inline]
    pub fn htype(&self) -> u8 {
        self.buffer.as_ref()[field::HTYPE]
    }

    /// Hardware address length (6 for Ethernet).
    #[inline]
    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    #[inline]
    pub fn hops(&self) -> u8 {
        self.buffer.as_ref()[field::HOPS]
    }

    #[inline]
    pub fn xid(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::XID];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    #[inline]
    pub fn secs(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::SECS];
        u16::from_be_bytes([b[0], b[1]])
    }

    #[inline]
    pub fn flags(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::FLAGS];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The client asks for replies to be broadcast.
    #[inline]
    pub fn broadcast(&self) -> bool {
        self.flags() & FLAG_BROADCAST != 0
    }

    #[inline]
    pub fn ciaddr(&self) -> Ipv4Addr {
        self.ipv4_at(field::CIADDR)
    }

    #[inline]
    pub fn yiaddr(&self) -> Ipv4Addr {
        self.ipv4_at(field::YIADDR)
    }

    #[inline]
    pub fn siaddr(&self) -> Ipv4Addr {
        self.ipv4_at(field::SIADDR)
    }

    #[inline]
    pub fn giaddr(&self) -> Ipv4Addr {
        self.ipv4_at(field::GIADDR)
    }

    /// All 16 octets of `chaddr`.
    #[inline]
    pub fn chaddr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::CHADDR]
    }

    /// The client's MAC, if the hardware type is Ethernet (htype 1, hlen 6).
    #[inline]
    pub fn client_hw_addr(&self) -> Option<Mac> {
        if self.htype() == 1 && self.hlen() == 6 {
            Some(Mac::from_slice(self.chaddr()))
        } else {
            None
        }
    }

    #[inline]
    pub fn sname(&self) -> &[u8] {
        &self.buffer.as_ref()[field::SNAME]
    }

    #[inline]
    pub fn file(&self) -> &[u8] {
        &self.buffer.as_ref()[field::FILE]
    }

    /// The four octets where DHCP puts its magic cookie.
    #[inline]
    pub fn magic_cookie(&self) -> [u8; 4] {
        let b = &self.buffer.as_ref()[field::MAGIC];
        [b[0], b[1], b[2], b[3]]
    }

    /// DHCP (or BOOTP with RFC 1497 vendor extensions) rather than plain
    /// BOOTP.
    #[inline]
    pub fn has_magic_cookie(&self) -> bool {
        self.magic_cookie() == MAGIC_COOKIE
    }

    /// The options field's options; [`WireError::BadMagic`] without the
    /// cookie.
    #[inline]
    pub fn options(&self) -> Result<DhcpOptionIter<'_>, WireError> {
        if self.has_magic_cookie() {
            Ok(DhcpOptionIter::new(&self.buffer.as_ref()[field::OPTIONS..]))
        } else {
            Err(WireError::BadMagic)
        }
    }

    /// The data of the first option `code`: in the options field, then, if
    /// option 52 says they are overloaded, in `file` and then `sname`
    /// (RFC 2131 §4.1). A missing cookie, or an invalid option met before
    /// it is found, is an error. (Long options split over several instances,
    /// RFC 3396, are not concatenated: this is the first instance.)
    pub fn find_option(&self, code: u8) -> Result<Option<&[u8]>, WireError> {
        let mut overload = 0u8;
        for o in self.options()? {
            let o = o?;
            if o.code == code {
                return Ok(Some(o.data));
            }
            if o.code == code::OVERLOAD && o.data.len() == 1 {
                overload = o.data[0];
            }
        }
        let areas: [(bool, &[u8]); 2] = [
            (overload & 1 != 0, self.file()),
            (overload & 2 != 0, self.sname()),
        ];
        for (_, area) in areas.into_iter().filter(|(on, _)| *on) {
            for o in DhcpOptionIter::new(area) {
                let o = o?;
                if o.code == code {
                    return Ok(Some(o.data));
                }
            }
        }
        Ok(None)
    }

    /// The message type (option 53), if present with its one octet; plain
    /// BOOTP has none.
    pub fn message_type(&self) -> Result<Option<MessageType>, WireError> {
        Ok(match self.find_option(code::MESSAGE_TYPE)? {
            Some([t]) => Some(MessageType::from(*t)),
            _ => None,
        })
    }

    /// The client identifier (option 61): a type octet (1 for an Ethernet
    /// address, RFC 2132 §9.14) and the identifier.
    pub fn client_identifier(&self) -> Result<Option<&[u8]>, WireError> {
        self.find_option(code::CLIENT_ID)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_flags(&mut self, v: u16) {
        self.buffer.as_mut()[field::FLAGS].copy_from_slice(&v.to_be_bytes());
    }

    /// Writes the first six octets of `chaddr` (htype and hlen are left
    /// as they are).
    #[inline]
    pub fn set_client_hw_addr(&mut self, m: Mac) {
        self.buffer.as_mut()[field::CHADDR][..6].copy_from_slice(&m.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const HOST: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

    /// scapy's `BOOTP(chaddr=HOST, xid=0x12345678, flags=0x8000)/
    /// DHCP(options=[("message-type", "discover"), ("client_id", b"\x01" + HOST),
    /// ("param_req_list", [1, 3, 6]), "end"])`: 258 octets, zero from 44 to 236.
    fn discover() -> Vec<u8> {
        let mut b = hex(
            "01010600 12345678 0000 8000 00000000 00000000 00000000 00000000
             52540012345600000000000000000000",
        );
        b.resize(236, 0);
        b.extend(hex("63825363 350101 3d0701525400123456 3703010306 ff"));
        b
    }

    #[test]
    fn parse_discover() {
        let b = discover();
        assert_eq!(b.len(), 258);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.op(), OpCode::Request);
        assert_eq!((p.htype(), p.hlen(), p.hops()), (1, 6, 0));
        assert_eq!(p.xid(), 0x1234_5678);
        assert_eq!(p.secs(), 0);
        assert!(p.broadcast());
        assert_eq!(p.ciaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(
            (p.yiaddr(), p.siaddr(), p.giaddr()),
            (
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::UNSPECIFIED
            )
        );
        assert_eq!(p.client_hw_addr(), Some(HOST));
        assert_eq!(&p.chaddr()[6..], &[0; 10]);
        assert!(p.has_magic_cookie());
        assert_eq!(p.message_type(), Ok(Some(MessageType::Discover)));
        assert_eq!(
            p.client_identifier(),
            Ok(Some(&[1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56][..]))
        );
        assert_eq!(p.find_option(code::SERVER_ID), Ok(None));
        let codes: Vec<_> = p.options().unwrap().map(|o| o.unwrap().code).collect();
        assert_eq!(codes, [53, 61, 55]);
        assert!(p.sname().iter().chain(p.file()).all(|&b| b == 0));
    }

    #[test]
    fn setters() {
        let mut b = discover();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_client_hw_addr(Mac([2, 0, 0, 0, 0, 9]));
        p.set_flags(0);
        assert!(!p.broadcast());
        assert_eq!(p.client_hw_addr(), Some(Mac([2, 0, 0, 0, 0, 9])));
        assert_eq!(&b[28..34], &[2, 0, 0, 0, 0, 9]);
    }

    #[test]
    fn bootp_and_other_hardware() {
        let mut b = discover();
        b[236] = 0;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(!p.has_magic_cookie());
        assert_eq!(p.options().err(), Some(WireError::BadMagic));
        assert_eq!(p.message_type(), Err(WireError::BadMagic));
        let mut b = discover();
        b[1] = 6; // IEEE 802
        assert_eq!(Packet::new_checked(&b[..]).unwrap().client_hw_addr(), None);
        b[1] = 1;
        b[2] = 16;
        assert_eq!(Packet::new_checked(&b[..]).unwrap().client_hw_addr(), None);
        assert_eq!(
            Packet::new_checked(&b[..239]).err(),
            Some(WireError::Truncated)
        );
    }

    #[test]
    fn options_and_overload() {
        // Pad, then the overload option pointing at file and sname, no end.
        let mut b = discover();
        b.truncate(240);
        b.extend([0, 0, 52, 1, 3]);
        b[108..112].copy_from_slice(&[0, 61, 1, 7]); // in file: client id
        b[112] = 255;
        b[44..47].copy_from_slice(&[53, 1, 5]); // in sname: ACK
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.client_identifier(), Ok(Some(&[7][..])));
        assert_eq!(p.message_type(), Ok(Some(MessageType::Ack)));
        // Without the overload option the other areas are not read.
        b[242] = 1;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.message_type(), Ok(None));
        // An option running past the end; the length octet itself missing.
        let mut b = discover();
        b.truncate(240);
        b.extend([53, 2, 1]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.message_type(), Err(WireError::BadOption));
        let mut it = p.options().unwrap();
        assert_eq!(it.next(), Some(Err(WireError::BadOption)));
        assert_eq!(it.next(), None);
        assert_eq!(
            DhcpOptionIter::new(&[0, 0, 53]).next(),
            Some(Err(WireError::BadOption))
        );
        // Zero-length options are fine; after end nothing is read.
        let v: Vec<_> = DhcpOptionIter::new(&[80, 0, 255, 1, 9]).collect();
        assert_eq!(
            v,
            [Ok(DhcpOption {
                code: 80,
                data: &[],
                offset: 0
            })]
        );
        assert_eq!(DhcpOptionIter::new(&[]).next(), None);
    }

    #[test]
    fn enums_roundtrip() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(MessageType::from(v)), v);
            assert_eq!(u8::from(OpCode::from(v)), v);
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..64), cookie in any::<bool>(), head in any::<[u8; 4]>()) {
            let mut b = discover();
            b.truncate(236);
            b[..4].copy_from_slice(&head);
            if cookie { b.extend(MAGIC_COOKIE) } else { b.extend([1, 2, 3, 4]) }
            b.extend(&tail);
            let p = Packet::new_checked(&b[..]).unwrap();
            let _ = (p.message_type(), p.client_identifier(), p.client_hw_addr(), p.op(), p.broadcast());
            if let Ok(it) = p.options() {
                prop_assert!(it.count() <= tail.len() / 2 + 1);
            }
        }

        #[test]
        fn option_iter_terminates(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut n = 0;
            for o in DhcpOptionIter::new(&data) {
                n += 1;
                prop_assert!(n <= data.len() / 2 + 1);
                if let Ok(o) = o {
                    prop_assert!(o.code != code::PAD && o.code != code::END);
                    prop_assert_eq!(data[o.offset], o.code);
                    prop_assert_eq!(usize::from(data[o.offset + 1]), o.data.len());
                }
            }
        }
    }
}
