//! Ethernet II frames with an optional 802.1Q (or 802.1ad) tag.
//!
//! ```text
//!  0      6      12         14/18
//!  | dst  | src  | type/TPID | [TCI | type] | payload
//! ```
//!
//! The frame check sequence is not part of the buffer (NICs strip it), so the
//! shortest frame we accept is the 14-byte header; the longest is set by the
//! caller (`max_len`), typically 1514 + 4 per tag.

use crate::mac::Mac;

mod field {
    use std::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const TCI: Range<usize> = 14..16;
    pub const INNER_ETHERTYPE: Range<usize> = 16..18;
    pub const HEADER_LEN: usize = 14;
    pub const TAGGED_HEADER_LEN: usize = 18;
}

pub const HEADER_LEN: usize = field::HEADER_LEN;
pub const TAGGED_HEADER_LEN: usize = field::TAGGED_HEADER_LEN;

/// EtherType values moose recognises; everything else is `Unknown`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EtherType {
    Ipv4,
    Arp,
    Vlan,
    QinQ,
    Ipv6,
    Unknown(u16),
}

impl From<u16> for EtherType {
    #[inline]
    fn from(v: u16) -> EtherType {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x8100 => EtherType::Vlan,
            0x88a8 => EtherType::QinQ,
            0x86dd => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    #[inline]
    fn from(v: EtherType) -> u16 {
        match v {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Vlan => 0x8100,
            EtherType::QinQ => 0x88a8,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Unknown(o) => o,
        }
    }
}

/// Why a frame could not be parsed. Each maps to a drop reason.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame shorter than the 14-byte Ethernet header")]
    TooShort,
    #[error("frame ends inside its 802.1Q tag")]
    TruncatedVlan,
    #[error("frame longer than the configured maximum")]
    Oversize,
}

/// An 802.1Q tag control field.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct VlanTag {
    /// VLAN id, 0..=4095 as on the wire (0 = priority tag).
    pub vid: u16,
    pub pcp: u8,
    pub dei: bool,
}

impl VlanTag {
    #[inline]
    pub fn from_tci(tci: u16) -> VlanTag {
        VlanTag {
            vid: tci & 0x0fff,
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
        }
    }

    #[inline]
    pub fn tci(self) -> u16 {
        (u16::from(self.pcp) << 13) | (u16::from(self.dei) << 12) | (self.vid & 0x0fff)
    }
}

/// A zero-copy view of an Ethernet frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps a buffer without checking it; accessors may panic on a short
    /// buffer. For frames we build ourselves.
    pub fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps untrusted input; after this succeeds no accessor panics.
    pub fn new_checked(buffer: T) -> Result<Self, FrameError> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Checks that the header (and a tag if the TPID says there is one) fits.
    pub fn check_len(&self) -> Result<(), FrameError> {
        let b = self.buffer.as_ref();
        if b.len() < field::HEADER_LEN {
            return Err(FrameError::TooShort);
        }
        if self.is_tagged() && b.len() < field::TAGGED_HEADER_LEN {
            return Err(FrameError::TruncatedVlan);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn dst(&self) -> Mac {
        Mac::from_slice(&self.buffer.as_ref()[field::DST])
    }

    #[inline]
    pub fn src(&self) -> Mac {
        Mac::from_slice(&self.buffer.as_ref()[field::SRC])
    }

    /// The EtherType (or TPID) right after the addresses.
    #[inline]
    pub fn outer_ethertype(&self) -> EtherType {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        EtherType::from(u16::from_be_bytes([b[0], b[1]]))
    }

    #[inline]
    pub fn is_tagged(&self) -> bool {
        matches!(self.outer_ethertype(), EtherType::Vlan | EtherType::QinQ)
    }

    /// The outer tag, if any.
    #[inline]
    pub fn vlan_tag(&self) -> Option<VlanTag> {
        if !self.is_tagged() {
            return None;
        }
        let b = &self.buffer.as_ref()[field::TCI];
        Some(VlanTag::from_tci(u16::from_be_bytes([b[0], b[1]])))
    }

    /// The EtherType of the payload, after the outer tag if there is one.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        if self.is_tagged() {
            let b = &self.buffer.as_ref()[field::INNER_ETHERTYPE];
            EtherType::from(u16::from_be_bytes([b[0], b[1]]))
        } else {
            self.outer_ethertype()
        }
    }

    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            field::TAGGED_HEADER_LEN
        } else {
            field::HEADER_LEN
        }
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    #[inline]
    pub fn set_dst(&mut self, m: Mac) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&m.0);
    }

    #[inline]
    pub fn set_src(&mut self, m: Mac) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&m.0);
    }

    #[inline]
    pub fn set_outer_ethertype(&mut self, t: EtherType) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&u16::from(t).to_be_bytes());
    }

    /// Writes the TCI; the frame must already carry a tag.
    #[inline]
    pub fn set_vlan_tag(&mut self, tag: VlanTag) {
        self.buffer.as_mut()[field::TCI].copy_from_slice(&tag.tci().to_be_bytes());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let h = self.header_len();
        &mut self.buffer.as_mut()[h..]
    }
}

/// What the fast path needs from a frame, read in one pass.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ParsedFrame {
    pub dst: Mac,
    pub src: Mac,
    pub tag: Option<VlanTag>,
    pub ethertype: EtherType,
}

/// Parses the header of untrusted input, rejecting frames longer than
/// `max_len` bytes. Never panics.
#[inline]
pub fn parse(frame: &[u8], max_len: usize) -> Result<ParsedFrame, FrameError> {
    let f = EthernetFrame::new_checked(frame)?;
    if frame.len() > max_len {
        return Err(FrameError::Oversize);
    }
    Ok(ParsedFrame {
        dst: f.dst(),
        src: f.src(),
        tag: f.vlan_tag(),
        ethertype: f.ethertype(),
    })
}

/// Builds an untagged or tagged frame into `out` (cleared first); for tests,
/// tools and the slow path, not the fast path.
pub fn emit(
    out: &mut Vec<u8>,
    dst: Mac,
    src: Mac,
    tag: Option<VlanTag>,
    ethertype: EtherType,
    payload: &[u8],
) {
    out.clear();
    out.extend_from_slice(&dst.0);
    out.extend_from_slice(&src.0);
    if let Some(t) = tag {
        out.extend_from_slice(&0x8100u16.to_be_bytes());
        out.extend_from_slice(&t.tci().to_be_bytes());
    }
    out.extend_from_slice(&u16::from(ethertype).to_be_bytes());
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UNTAGGED: [u8; 18] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x08, 0x06, // ARP
        0xde, 0xad, 0xbe, 0xef,
    ];

    const TAGGED: [u8; 20] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x81, 0x00, 0xa0, 0x0a, // pcp 5, vid 10
        0x08, 0x00, // IPv4
        0x45, 0x00,
    ];

    #[test]
    fn parse_untagged() {
        let p = parse(&UNTAGGED, 1514).unwrap();
        assert!(p.dst.is_broadcast());
        assert_eq!(p.src.to_string(), "02:00:00:00:00:01");
        assert_eq!(p.tag, None);
        assert_eq!(p.ethertype, EtherType::Arp);
        assert_eq!(
            EthernetFrame::new_checked(&UNTAGGED[..]).unwrap().payload(),
            &[0xde, 0xad, 0xbe, 0xef]
        );
    }

    #[test]
    fn parse_tagged() {
        let p = parse(&TAGGED, 1518).unwrap();
        assert_eq!(
            p.tag,
            Some(VlanTag {
                vid: 10,
                pcp: 5,
                dei: false
            })
        );
        assert_eq!(p.ethertype, EtherType::Ipv4);
        assert_eq!(
            EthernetFrame::new_checked(&TAGGED[..]).unwrap().payload(),
            &[0x45, 0x00]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse(&UNTAGGED[..13], 1514), Err(FrameError::TooShort));
        assert_eq!(parse(&[], 1514), Err(FrameError::TooShort));
        assert_eq!(parse(&TAGGED[..17], 1514), Err(FrameError::TruncatedVlan));
        assert_eq!(parse(&TAGGED[..14], 1514), Err(FrameError::TruncatedVlan));
        assert_eq!(parse(&UNTAGGED, 17), Err(FrameError::Oversize));
        assert!(parse(&UNTAGGED, 18).is_ok());
    }

    #[test]
    fn emit_parse_roundtrip() {
        let mut out = Vec::new();
        let tag = VlanTag {
            vid: 10,
            pcp: 5,
            dei: false,
        };
        emit(
            &mut out,
            Mac([2, 0, 0, 0, 0, 2]),
            Mac([2, 0, 0, 0, 0, 1]),
            Some(tag),
            EtherType::Ipv4,
            &[0x45, 0],
        );
        assert_eq!(out, TAGGED);
        emit(
            &mut out,
            Mac::BROADCAST,
            Mac([2, 0, 0, 0, 0, 1]),
            None,
            EtherType::Arp,
            &[0xde, 0xad, 0xbe, 0xef],
        );
        assert_eq!(out, UNTAGGED);
    }

    #[test]
    fn setters() {
        let mut b = TAGGED;
        let mut f = EthernetFrame::new_checked(&mut b[..]).unwrap();
        f.set_src(Mac([2, 9, 9, 9, 9, 9]));
        f.set_dst(Mac::BROADCAST);
        f.set_vlan_tag(VlanTag {
            vid: 20,
            pcp: 0,
            dei: true,
        });
        assert_eq!(f.src(), Mac([2, 9, 9, 9, 9, 9]));
        assert!(f.dst().is_broadcast());
        assert_eq!(f.vlan_tag().unwrap().vid, 20);
        assert!(f.vlan_tag().unwrap().dei);
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64), max in 0usize..80) {
            let _ = parse(&data, max);
        }

        #[test]
        fn tci_roundtrip(tci in any::<u16>()) {
            prop_assert_eq!(VlanTag::from_tci(tci).tci(), tci);
        }
    }
}
