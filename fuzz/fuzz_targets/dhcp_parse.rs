//! `moose_wire::dhcp`, and the `ipv4` and `udp` views it sits in, on
//! arbitrary bytes.
//!
//! Input: one mode octet, then bytes. Mode bit 0 clear: the bytes are a
//! DHCP message. Set: they are wrapped in a well-formed IPv4/UDP header
//! (ports 68 -> 67, right lengths and checksums) and read through
//! `ipv4::Packet` and `udp::Packet` first; bit 1 also runs the raw bytes
//! through the IPv4 view.
//!
//! Checks: nothing panics; `new_checked` fails exactly below 240 octets;
//! the options iterator ends within `len / 2 + 1` items, never yields pad
//! or end, reports its offsets and lengths right, and yields nothing after
//! an error; `find_option` (hence the message type and client identifier)
//! finds the first instance in the options field; the IPv4 and UDP views
//! stay within their lengths, and their filled checksums verify.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use moose_wire::dhcp::{self, code, DhcpOptionIter, Packet};
use moose_wire::{ipv4, udp, WireError};

fn walk(area: &[u8]) -> bool {
    let mut n = 0;
    let mut ok = true;
    let mut it = DhcpOptionIter::new(area);
    for o in it.by_ref() {
        n += 1;
        assert!(n <= area.len() / 2 + 1, "too many options");
        match o {
            Ok(o) => {
                assert!(o.code != code::PAD && o.code != code::END);
                assert_eq!(area[o.offset], o.code);
                assert_eq!(usize::from(area[o.offset + 1]), o.data.len());
                assert_eq!(&area[o.offset + 2..o.offset + 2 + o.data.len()], o.data);
            }
            Err(e) => {
                assert_eq!(e, WireError::BadOption);
                ok = false;
            }
        }
    }
    assert!(it.next().is_none(), "fused");
    ok
}

fn dhcp(msg: &[u8]) {
    walk(msg);
    let checked = Packet::new_checked(msg);
    assert_eq!(checked.is_err(), msg.len() < dhcp::MIN_LEN);
    let Ok(p) = checked else { return };
    let _ = (
        p.op(),
        p.htype(),
        p.hlen(),
        p.hops(),
        p.xid(),
        p.secs(),
        p.flags(),
        p.broadcast(),
        p.ciaddr(),
        p.yiaddr(),
        p.siaddr(),
        p.giaddr(),
        p.chaddr(),
        p.sname(),
        p.file(),
    );
    assert_eq!(p.client_hw_addr().is_some(), msg[1] == 1 && msg[2] == 6);
    let mt = p.message_type();
    let ci = p.client_identifier();
    match p.options() {
        Err(e) => {
            assert_eq!(e, WireError::BadMagic);
            assert!(!p.has_magic_cookie());
            assert_eq!(mt, Err(WireError::BadMagic));
            assert_eq!(ci, Err(WireError::BadMagic));
        }
        Ok(it) => {
            walk(&msg[dhcp::MIN_LEN..]);
            // The first instance in the options field wins.
            let first = it
                .map_while(Result::ok)
                .find(|o| o.code == code::CLIENT_ID)
                .map(|o| o.data);
            if let Some(d) = first {
                assert_eq!(ci, Ok(Some(d)));
            }
        }
    }
    // The setter on a copy.
    let mut b = msg.to_vec();
    let mut m = Packet::new_checked(&mut b[..]).unwrap();
    m.set_client_hw_addr(moose_wire::Mac::BROADCAST);
    m.set_flags(dhcp::FLAG_BROADCAST);
    assert!(m.broadcast());
    assert_eq!(&b[28..34], &[0xff; 6]);
}

fn ip(packet: &[u8]) {
    let Ok(p) = ipv4::Packet::new_checked(packet) else {
        return;
    };
    assert!(p.header_len() >= 20 && usize::from(p.total_len()) <= packet.len());
    let _ = (
        p.options(),
        p.verify_checksum(),
        p.protocol(),
        p.is_fragment(),
        p.frag_offset(),
        p.ttl(),
        p.ident(),
        p.dscp(),
        p.ecn(),
    );
    let (s, d) = (p.src_addr(), p.dst_addr());
    let Ok(u) = udp::Packet::new_checked(p.payload()) else {
        return;
    };
    assert!(usize::from(u.len()) <= p.payload().len());
    let _ = (u.src_port(), u.dst_port(), u.verify_checksum_v4(s, d));
    dhcp(u.payload());
    let mut b = p.payload().to_vec();
    let mut m = udp::Packet::new_checked(&mut b[..]).unwrap();
    m.fill_checksum_v4(s, d);
    assert!(m.verify_checksum_v4(s, d));
    assert_ne!(m.checksum(), 0);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        dhcp(rest);
    } else {
        let ulen = rest.len().min(1400);
        let mut b = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0];
        b.extend_from_slice(&[0, 0, 0, 0, 255, 255, 255, 255]);
        b[2..4].copy_from_slice(&((20 + 8 + ulen) as u16).to_be_bytes());
        b.extend_from_slice(&[0, 68, 0, 67]);
        b.extend_from_slice(&((8 + ulen) as u16).to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&rest[..ulen]);
        let mut p = ipv4::Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        let mut u = udp::Packet::new_checked(p.payload_mut()).unwrap();
        u.fill_checksum_v4(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST);
        assert!(u.verify_checksum_v4(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST));
        ip(&b);
    }
    if mode & 2 != 0 {
        ip(rest);
    }
});
