//! `moose_wire::ndisc` and `moose_wire::icmpv6` on arbitrary bytes.
//!
//! Input: 32 octets of IPv6 source and destination (zero-padded if
//! shorter), then the ICMPv6 message.
//!
//! Checks: nothing panics; the option iterator ends, within `len / 8 + 1`
//! items, its options tile the area from the start and are each a non-zero
//! multiple of 8 octets, and after an error it yields nothing; a checked
//! view is a neighbour discovery type whose options all parse (and an
//! error from `new_checked` is the one the pieces give); the link-layer
//! address lookups agree with the iterator; a `Repr` parse -> emit -> parse
//! round-trips with a checksum that verifies; `fill_checksum` verifies.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use moose_wire::icmpv6::{self, Message};
use moose_wire::ndisc::{self, NdOptionIter, NdOptionType, Packet, Repr};
use moose_wire::WireError;

/// The iterator's contract on any area; returns whether all options parse.
fn walk(area: &[u8]) -> bool {
    let mut next = 0;
    let mut n = 0;
    let mut it = NdOptionIter::new(area);
    let mut ok = true;
    for o in it.by_ref() {
        n += 1;
        assert!(n <= area.len() / 8 + 1, "too many options");
        match o {
            Ok(o) => {
                assert_eq!(o.offset(), next);
                assert!(o.len() >= 8 && o.len() % 8 == 0 && !o.is_empty());
                assert_eq!(o.bytes(), &area[next..next + o.len()]);
                assert_eq!(o.data().len(), o.len() - 2);
                assert_eq!(u8::from(o.kind()), area[next]);
                next += o.len();
            }
            Err(e) => {
                assert_eq!(e, WireError::BadOption);
                ok = false;
            }
        }
    }
    assert!(it.next().is_none(), "fused");
    assert!(next <= area.len());
    if ok {
        assert_eq!(next, area.len(), "options tile the area");
    }
    ok
}

fuzz_target!(|data: &[u8]| {
    let mut addrs = [0u8; 32];
    let n = data.len().min(32);
    addrs[..n].copy_from_slice(&data[..n]);
    let msg = &data[n..];
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&addrs[..16]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&addrs[16..]).unwrap());

    // The raw iterator on the whole message.
    walk(msg);

    // ICMPv6 header view and checksum.
    if let Ok(i) = icmpv6::Packet::new_checked(msg) {
        let _ = (
            i.msg_type(),
            i.msg_code(),
            i.body(),
            i.verify_checksum(&src, &dst),
        );
        let mut b = msg.to_vec();
        let mut m = icmpv6::Packet::new_checked(&mut b[..]).unwrap();
        m.fill_checksum(&src, &dst);
        assert!(m.verify_checksum(&src, &dst));
    } else {
        assert!(msg.len() < 4);
    }

    let checked = Packet::new_checked(msg);
    let expected = if msg.len() < 4 {
        Err(WireError::Truncated)
    } else {
        match ndisc::options_offset(Message::from(msg[0])) {
            None => Err(WireError::WrongType),
            Some(s) if msg.len() < s => Err(WireError::Truncated),
            Some(s) if !walk(&msg[s..]) => Err(WireError::BadOption),
            Some(_) => Ok(()),
        }
    };
    assert_eq!(checked.as_ref().err().copied(), expected.err());
    let Ok(p) = checked else { return };

    assert!(p.msg_type().is_ndisc());
    assert!(p.option_iter().all(|o| o.is_ok()));
    let first = |k: NdOptionType| {
        p.option_iter()
            .map(Result::unwrap)
            .filter(|o| o.kind() == k)
            .find_map(|o| o.link_layer_addr())
    };
    assert_eq!(p.source_lladdr(), first(NdOptionType::SourceLinkLayerAddr));
    assert_eq!(p.target_lladdr(), first(NdOptionType::TargetLinkLayerAddr));
    let _ = (
        p.msg_code(),
        p.checksum(),
        p.target_addr(),
        p.dest_addr(),
        p.neighbor_flags(),
        p.router_params(),
        p.options(),
        p.verify_checksum(&src, &dst),
    );
    assert_eq!(
        p.target_addr().is_some(),
        matches!(
            p.msg_type(),
            Message::NeighborSolicit | Message::NeighborAdvert | Message::Redirect
        )
    );

    match Repr::parse(&p) {
        Ok(r) => {
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&src, &dst, &mut Packet::new_unchecked(&mut out[..]));
            let q = Packet::new_checked(&out[..]).expect("emitted message parses");
            assert!(q.verify_checksum(&src, &dst));
            assert_eq!(Repr::parse(&q), Ok(r));
        }
        Err(e) => {
            assert_eq!(e, WireError::WrongType);
            assert!(!matches!(
                p.msg_type(),
                Message::NeighborSolicit | Message::NeighborAdvert
            ));
        }
    }

    // Setters on a copy.
    let mut b = msg.to_vec();
    let mut m = Packet::new_checked(&mut b[..]).unwrap();
    m.set_target_addr(&dst);
    m.set_neighbor_flags(ndisc::NeighborFlags {
        router: true,
        solicited: false,
        override_: true,
    });
    let _ = m.options_mut().len();
    m.fill_checksum(&src, &dst);
    assert!(m.verify_checksum(&src, &dst));
});
