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
        Header::load(self.buffer.as_ref()).check(usize::MAX)
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

/// The first 16 octets of a frame as the fast path reads them: both
/// addresses, the TPID (or EtherType) and the tag control word, in two
/// little-endian 8-byte words and one big-endian 16-bit word, plus the
/// frame length. This is the one header parser of moose: the per-packet
/// classifiers use it directly, and [`parse`] (for everything else) is built
/// on it, so the two can never disagree.
///
/// Loading never fails or panics: a frame shorter than 16 octets reads as
/// zero-padded, and [`Header::check`] then says why it is not a frame.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Octets 0..8: the destination address in bits 0..48.
    w0: u64,
    /// Octets 6..14: the source address in bits 0..48, the TPID (or
    /// EtherType) byte-swapped in bits 48..64.
    w1: u64,
    /// Octets 14..16 (the tag control word if tagged); 0 if the frame is
    /// shorter.
    tci: u16,
    len: u32,
}

/// The 48 address bits of a little-endian load.
const MAC_BITS: u64 = (1 << 48) - 1;

impl Header {
    #[inline]
    pub fn load(frame: &[u8]) -> Header {
        match frame.first_chunk::<16>() {
            Some(b) => Header::from_octets(b, frame.len()),
            None => Header::load_short(frame),
        }
    }

    /// A frame shorter than 16 octets, zero-padded: never a frame the
    /// fast path forwards, so kept out of its way.
    #[cold]
    #[inline(never)]
    fn load_short(frame: &[u8]) -> Header {
        let mut pad = [0u8; 16];
        pad[..frame.len()].copy_from_slice(frame);
        Header::from_octets(&pad, frame.len())
    }

    #[inline(always)]
    fn from_octets(b: &[u8; 16], len: usize) -> Header {
        let w = |at: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(x)
        };
        Header {
            w0: w(0),
            w1: w(6),
            tci: u16::from_be_bytes([b[14], b[15]]),
            len: len as u32,
        }
    }

    /// Checks, in this order, that the frame holds an Ethernet header,
    /// that a tagged frame holds its whole tag, and that it is at most
    /// `max_len` octets long.
    #[inline]
    pub fn check(&self, max_len: usize) -> Result<(), FrameError> {
        let len = self.len();
        if len < field::HEADER_LEN {
            return Err(FrameError::TooShort);
        }
        if self.is_tagged() && len < field::TAGGED_HEADER_LEN {
            return Err(FrameError::TruncatedVlan);
        }
        if len > max_len {
            return Err(FrameError::Oversize);
        }
        Ok(())
    }

    /// The frame's length in octets.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The destination address as little-endian bits (an
    /// [`ExactKey`](crate::ExactKey) MAC).
    #[inline]
    pub fn dst_le(&self) -> u64 {
        self.w0 & MAC_BITS
    }

    /// The source address as little-endian bits.
    #[inline]
    pub fn src_le(&self) -> u64 {
        self.w1 & MAC_BITS
    }

    #[inline]
    pub fn dst(&self) -> Mac {
        let b = self.w0.to_le_bytes();
        Mac([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    #[inline]
    pub fn src(&self) -> Mac {
        let b = self.w1.to_le_bytes();
        Mac([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// Group (multicast or broadcast) destination.
    #[inline]
    pub fn dst_is_group(&self) -> bool {
        self.w0 & 1 != 0
    }

    /// The TPID, or the EtherType of an untagged frame.
    #[inline]
    pub fn tpid(&self) -> u16 {
        ((self.w1 >> 48) as u16).swap_bytes()
    }

    /// An 802.1Q or 802.1ad outer tag.
    #[inline]
    pub fn is_tagged(&self) -> bool {
        let t = self.tpid();
        t == 0x8100 || t == 0x88a8
    }

    /// The raw tag control word (meaningful only if tagged).
    #[inline]
    pub fn tci(&self) -> u16 {
        self.tci
    }

    /// The outer tag's VLAN id; 0 if untagged or priority-tagged.
    #[inline]
    pub fn vid(&self) -> u16 {
        if self.is_tagged() {
            self.tci & 0x0fff
        } else {
            0
        }
    }

    /// Octets of the header (14, or 18 if tagged).
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            field::TAGGED_HEADER_LEN
        } else {
            field::HEADER_LEN
        }
    }

    /// The words an exact-match flow cache keys on: `(w0, w1, tci)`.
    #[inline]
    pub fn words(&self) -> (u64, u64, u16) {
        (self.w0, self.w1, self.tci)
    }

    /// A hash of both addresses and the tag, for choosing among equal-cost
    /// next hops: frames of one flow always hash alike.
    #[inline]
    pub fn flow_hash(&self) -> u32 {
        let x = self.dst_le() ^ self.src_le().rotate_left(23) ^ (u64::from(self.vid()) << 48);
        (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as u32
    }
}

/// What the slow path and tools need from a frame, read in one pass.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ParsedFrame {
    pub dst: Mac,
    pub src: Mac,
    pub tag: Option<VlanTag>,
    pub ethertype: EtherType,
}

/// Parses the header of untrusted input, rejecting frames longer than
/// `max_len` bytes. Never panics. Built on [`Header`].
#[inline]
pub fn parse(frame: &[u8], max_len: usize) -> Result<ParsedFrame, FrameError> {
    let h = Header::load(frame);
    h.check(max_len)?;
    let (tag, ethertype) = if h.is_tagged() {
        // check() saw the whole tag, so octets 16..18 exist.
        let et = u16::from_be_bytes([frame[16], frame[17]]);
        (Some(VlanTag::from_tci(h.tci())), EtherType::from(et))
    } else {
        (None, EtherType::from(h.tpid()))
    };
    Ok(ParsedFrame {
        dst: h.dst(),
        src: h.src(),
        tag,
        ethertype,
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

    #[test]
    fn header_fields() {
        let h = Header::load(&TAGGED);
        assert!(h.is_tagged());
        assert_eq!(h.vid(), 10);
        assert_eq!(h.dst(), Mac([2, 0, 0, 0, 0, 2]));
        assert_eq!(h.src(), Mac([2, 0, 0, 0, 0, 1]));
        assert_eq!(h.header_len(), 18);
        assert_eq!(h.len(), 20);
        let u = Header::load(&UNTAGGED);
        assert!(!u.is_tagged() && u.dst_is_group());
        assert_eq!(u.tpid(), 0x0806);
        assert_eq!(u.vid(), 0);
        assert_eq!(Header::load(&[]).check(100), Err(FrameError::TooShort));
    }

    proptest! {
        /// The view's accessors and the fast header agree on every input.
        #[test]
        fn header_agrees_with_view(data in proptest::collection::vec(prop_oneof![Just(0u8), Just(0x81), Just(0x88), Just(0xa8), any::<u8>()], 0..40)) {
            let h = Header::load(&data);
            match EthernetFrame::new_checked(&data[..]) {
                Ok(f) => {
                    prop_assert_eq!(h.dst(), f.dst());
                    prop_assert_eq!(h.src(), f.src());
                    prop_assert_eq!(h.is_tagged(), f.is_tagged());
                    prop_assert_eq!(h.header_len(), f.header_len());
                    prop_assert_eq!(h.vid(), f.vlan_tag().map_or(0, |t| t.vid));
                }
                Err(e) => prop_assert_eq!(h.check(usize::MAX), Err(e)),
            }
        }

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
