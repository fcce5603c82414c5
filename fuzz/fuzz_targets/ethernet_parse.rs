//! `moose_wire::ethernet::parse` and the `EthernetFrame` accessors on
//! arbitrary bytes and an arbitrary `max_len`.
//!
//! Input: 2 bytes little-endian `max_len`, then the frame.
//! Checks: nothing panics; `parse` succeeds exactly when `new_checked`
//! does and the frame fits `max_len`; parsed fields equal the accessors;
//! re-emitting a parsed 802.1Q/untagged frame gives the same bytes; the
//! setters write what the getters read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moose_wire::ethernet::{self, EthernetFrame, FrameError, VlanTag};
use moose_wire::{EtherType, Mac};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let max_len = usize::from(u16::from_le_bytes([data[0], data[1]]));
    let frame = &data[2..];

    let parsed = ethernet::parse(frame, max_len);
    let checked = EthernetFrame::new_checked(frame);
    match (&parsed, &checked) {
        (Ok(_), Ok(_)) => assert!(frame.len() <= max_len),
        (Err(FrameError::Oversize), Ok(_)) => assert!(frame.len() > max_len),
        (Err(e), Err(c)) => assert_eq!(e, c),
        (p, c) => panic!(
            "parse {p:?} disagrees with new_checked {:?}",
            c.as_ref().err()
        ),
    }
    if frame.len() < 14 {
        assert!(checked.is_err());
    }

    let Ok(f) = checked else { return };
    // Every accessor must be panic-free after new_checked.
    let dst = f.dst();
    let src = f.src();
    let outer = f.outer_ethertype();
    let tagged = f.is_tagged();
    let tag = f.vlan_tag();
    let et = f.ethertype();
    let hl = f.header_len();
    let payload = f.payload();
    assert_eq!(tag.is_some(), tagged);
    assert_eq!(hl, if tagged { 18 } else { 14 });
    assert_eq!(payload.len(), frame.len() - hl);
    assert_eq!(dst, Mac::from_slice(&frame[0..6]));
    assert_eq!(src, Mac::from_slice(&frame[6..12]));
    assert_eq!(u16::from(outer), u16::from_be_bytes([frame[12], frame[13]]));
    if let Some(t) = tag {
        assert_eq!(VlanTag::from_tci(t.tci()), t);
        assert!(t.vid <= 4095 && t.pcp <= 7);
    }
    // MAC helpers on arbitrary addresses.
    assert_eq!(Mac::from_u64(dst.to_u64()), dst);
    let _ = (
        dst.is_multicast(),
        dst.is_broadcast(),
        dst.is_unicast(),
        dst.is_local(),
        dst.is_zero(),
    );
    let _ = dst.to_string();

    if let Ok(p) = parsed {
        assert_eq!((p.dst, p.src, p.tag, p.ethertype), (dst, src, tag, et));
        // Round trip through emit (which writes 0x8100 for any tag, so skip
        // 802.1ad outer tags).
        if outer != EtherType::QinQ {
            let mut out = Vec::new();
            ethernet::emit(&mut out, p.dst, p.src, p.tag, p.ethertype, payload);
            assert_eq!(out.as_slice(), frame);
        }
    }

    // Setters on a copy.
    let mut buf = frame.to_vec();
    let mut m = EthernetFrame::new_checked(&mut buf[..]).unwrap();
    let (nd, ns) = (
        Mac::from_u64(src.to_u64() ^ 1),
        Mac::from_u64(dst.to_u64() ^ 2),
    );
    m.set_dst(nd);
    m.set_src(ns);
    assert_eq!((m.dst(), m.src()), (nd, ns));
    if m.is_tagged() {
        let t = VlanTag {
            vid: 4095,
            pcp: 7,
            dei: true,
        };
        m.set_vlan_tag(t);
        assert_eq!(m.vlan_tag(), Some(t));
    }
    let _ = m.payload_mut().len();
    m.set_outer_ethertype(EtherType::Ipv6);
    assert!(!m.is_tagged());
    assert_eq!(m.header_len(), 14);
});
