//! `moose_wire::arp` on arbitrary bytes.
//!
//! Checks: nothing panics; `new_checked` fails exactly for fewer than 28
//! octets (`Truncated`) or a header other than Ethernet/IPv4
//! (`Unsupported`); a checked view's `Repr` emits the first 28 octets back
//! unchanged and parses again to itself; the hardware address setters
//! write their six octets and nothing else.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moose_wire::arp::{self, Packet, Repr};
use moose_wire::{Mac, WireError};

fuzz_target!(|data: &[u8]| {
    let checked = Packet::new_checked(data);
    match &checked {
        Ok(_) => assert!(data.len() >= 28 && data[..6] == arp::ETHERNET_IPV4_PREFIX),
        Err(WireError::Truncated) => assert!(data.len() < 28),
        Err(WireError::Unsupported) => {
            assert!(data.len() >= 28 && data[..6] != arp::ETHERNET_IPV4_PREFIX)
        }
        Err(e) => panic!("unexpected {e:?}"),
    }
    // Repr::parse of an unchecked view agrees with new_checked.
    let unchecked = Packet::new_unchecked(data);
    assert_eq!(
        Repr::parse(&unchecked).err(),
        checked.as_ref().err().copied()
    );

    let Ok(p) = checked else { return };
    let r = Repr::parse(&p).unwrap();
    assert_eq!(r.sender_hardware_addr, Mac::from_slice(&data[8..14]));
    assert_eq!(r.target_hardware_addr, Mac::from_slice(&data[18..24]));
    assert_eq!(r.sender_protocol_addr.octets(), data[14..18]);
    assert_eq!(r.target_protocol_addr.octets(), data[24..28]);
    assert_eq!(
        u16::from(r.operation),
        u16::from_be_bytes([data[6], data[7]])
    );

    let mut out = [0u8; 28];
    assert_eq!(r.buffer_len(), out.len());
    r.emit(&mut Packet::new_unchecked(&mut out[..]));
    assert_eq!(&out[..], &data[..28]);
    assert_eq!(Repr::parse(&Packet::new_checked(&out[..]).unwrap()), Ok(r));

    // Setters on a copy touch only their field.
    let mut buf = data.to_vec();
    let s = Mac::from_u64(r.sender_hardware_addr.to_u64() ^ 0x0102_0304_0506);
    let t = Mac::from_u64(!r.target_hardware_addr.to_u64());
    let mut m = Packet::new_checked(&mut buf[..]).unwrap();
    m.set_sender_hardware_addr(s);
    m.set_target_hardware_addr(t);
    assert_eq!((m.sender_hardware_addr(), m.target_hardware_addr()), (s, t));
    for (i, (a, b)) in buf.iter().zip(data).enumerate() {
        assert!(
            a == b || (8..14).contains(&i) || (18..24).contains(&i),
            "byte {i}"
        );
    }
});
