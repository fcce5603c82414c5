//! moose's own control messages between switches, in Ethernet frames of
//! the IEEE 802 Local Experimental EtherType 1 (0x88b5).
//!
//! Every message starts with a four-byte header:
//!
//! ```text
//!  0        1        2                 4
//! +--------+--------+--------+--------+------ ...
//! | version|  type  |  body length    | body
//! +--------+--------+--------+--------+------ ...
//! ```
//!
//! Version is 1; the body length (big-endian) counts the bytes after the
//! header, which must all be present (Ethernet padding may follow). Types:
//!
//! * **1, home hello** — sent about once a second on every edge and legacy
//!   port of a MOOSE switch to [`HOME_GROUP`], so that a segment attached to
//!   two ports (of one switch or of two) elects one home: the port whose
//!   (switch prefix, port number) is lowest. Body (12 bytes):
//!
//!   ```text
//!   0                 6        7        8        10       12
//!   | prefix address  | length | flags  | port   | hold ms|
//!   ```
//!
//!   `flags` must be zero; `hold ms` is how long the hello stays valid.

use crate::ids::MacPrefix;
use crate::mac::Mac;

/// IEEE 802 Local Experimental EtherType 1.
pub const ETHERTYPE: u16 = 0x88b5;

/// The group address home hellos go to: multicast, locally administered,
/// "MOOSE" in its low five bytes. Not one of the 01:80:c2 addresses, so
/// ordinary bridges on a legacy segment forward it.
pub const HOME_GROUP: Mac = Mac([0x03, 0x4d, 0x4f, 0x4f, 0x53, 0x45]);

pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 4;

/// Message types.
pub const TYPE_HOME_HELLO: u8 = 1;
const HOME_HELLO_LEN: usize = 12;

/// A decoded message.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Message {
    HomeHello(HomeHello),
}

/// "Port `port` of the switch with prefix `prefix` is on this segment."
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct HomeHello {
    pub prefix: MacPrefix,
    pub port: u16,
    pub hold_ms: u16,
}

impl HomeHello {
    /// The election key: the segment's home is the lowest one heard.
    pub fn rank(&self) -> (u64, u8, u16) {
        (self.prefix.addr().to_u64(), self.prefix.len(), self.port)
    }
}

/// Why a message was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("shorter than its header or its stated length")]
    Truncated,
    #[error("version {0} (want 1)")]
    Version(u8),
    #[error("unknown message type {0}")]
    Type(u8),
    #[error("body length {0} wrong for its type")]
    Length(usize),
    #[error("reserved flags set")]
    Flags,
    #[error("invalid prefix")]
    Prefix,
}

/// Decodes a message from an Ethernet payload (the bytes after the
/// EtherType). Never panics; trailing padding is ignored.
pub fn parse(payload: &[u8]) -> Result<Message, ProtoError> {
    if payload.len() < HEADER_LEN {
        return Err(ProtoError::Truncated);
    }
    if payload[0] != VERSION {
        return Err(ProtoError::Version(payload[0]));
    }
    let len = usize::from(u16::from_be_bytes([payload[2], payload[3]]));
    let body = payload
        .get(HEADER_LEN..HEADER_LEN + len)
        .ok_or(ProtoError::Truncated)?;
    match payload[1] {
        TYPE_HOME_HELLO => {
            if len != HOME_HELLO_LEN {
                return Err(ProtoError::Length(len));
            }
            if body[7] != 0 {
                return Err(ProtoError::Flags);
            }
            let mut a = [0u8; 6];
            a.copy_from_slice(&body[..6]);
            let prefix = MacPrefix::new(Mac(a), body[6]).map_err(|_| ProtoError::Prefix)?;
            Ok(Message::HomeHello(HomeHello {
                prefix,
                port: u16::from_be_bytes([body[8], body[9]]),
                hold_ms: u16::from_be_bytes([body[10], body[11]]),
            }))
        }
        t => Err(ProtoError::Type(t)),
    }
}

/// Appends `m` (header and body, no Ethernet header) to `out`.
pub fn emit(m: &Message, out: &mut Vec<u8>) {
    match m {
        Message::HomeHello(h) => {
            out.extend_from_slice(&[VERSION, TYPE_HOME_HELLO]);
            out.extend_from_slice(&(HOME_HELLO_LEN as u16).to_be_bytes());
            out.extend_from_slice(&h.prefix.addr().0);
            out.extend_from_slice(&[h.prefix.len(), 0]);
            out.extend_from_slice(&h.port.to_be_bytes());
            out.extend_from_slice(&h.hold_ms.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> HomeHello {
        HomeHello {
            prefix: "02:11:11:00:00:00/24".parse().unwrap(),
            port: 3,
            hold_ms: 3500,
        }
    }

    #[test]
    fn round_trip_with_padding() {
        let mut b = Vec::new();
        emit(&Message::HomeHello(hello()), &mut b);
        assert_eq!(b.len(), HEADER_LEN + HOME_HELLO_LEN);
        b.resize(46, 0);
        assert_eq!(parse(&b), Ok(Message::HomeHello(hello())));
    }

    #[test]
    fn refuses_what_is_wrong() {
        let mut b = Vec::new();
        emit(&Message::HomeHello(hello()), &mut b);
        for n in 0..b.len() {
            assert_eq!(parse(&b[..n]), Err(ProtoError::Truncated), "{n} bytes");
        }
        let mut v = b.clone();
        v[0] = 2;
        assert_eq!(parse(&v), Err(ProtoError::Version(2)));
        let mut v = b.clone();
        v[1] = 9;
        assert_eq!(parse(&v), Err(ProtoError::Type(9)));
        let mut v = b.clone();
        v[3] = 11;
        assert_eq!(parse(&v), Err(ProtoError::Length(11)));
        let mut v = b.clone();
        v[HEADER_LEN + 7] = 1;
        assert_eq!(parse(&v), Err(ProtoError::Flags));
        let mut v = b.clone();
        v[HEADER_LEN + 5] = 1; // a host bit under /24
        assert_eq!(parse(&v), Err(ProtoError::Prefix));
    }

    #[test]
    fn lowest_prefix_then_port_ranks_first() {
        let a = hello();
        let b = HomeHello {
            prefix: "02:22:22:00:00:00/24".parse().unwrap(),
            port: 0,
            hold_ms: 3500,
        };
        assert!(a.rank() < b.rank());
        assert!(a.rank() < HomeHello { port: 4, ..a }.rank());
    }
}
