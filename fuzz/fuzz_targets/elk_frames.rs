//! The `elk` service's frame reader (`moose_control::elk::frames::parse`)
//! on arbitrary bytes, and the dataplane's test of which frames go to it.
//!
//! Checks: nothing panics; every frame the reader accepts is one the
//! dataplane would send it (ARP, IPv6 ND, DHCPv4, DHCPv6 to port 546) —
//! or an IPv4 or IPv6 UDP frame whose ports the reader does not look at; an accepted ARP frame's reply,
//! built from what was read, reads back as that reply; so does an
//! accepted solicitation's advertisement.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moose_control::elk::frames::{self, Heard};
use moose_wire::{arp, Header};

fuzz_target!(|data: &[u8]| {
    let Ok(f) = frames::parse(data) else {
        return;
    };
    let h = Header::load(data);
    match &f.heard {
        Heard::Arp { spa, tpa, .. } => {
            assert!(moose_dataplane::classify::is_directory_frame(data, &h));
            let r = frames::arp_reply(f.src, *spa, f.dst, *tpa, f.tag);
            if !f.dst.is_multicast() && !f.dst.is_zero() {
                let back = frames::parse(&r).expect("a built reply reads back");
                assert_eq!(
                    back.heard,
                    Heard::Arp {
                        op: arp::Operation::Reply,
                        sha: f.dst,
                        spa: *tpa,
                        tha: f.src,
                        tpa: *spa,
                    }
                );
            }
        }
        Heard::Ns { src, target, .. } => {
            assert!(moose_dataplane::classify::is_directory_frame(data, &h));
            if !f.dst.is_multicast() && !f.dst.is_zero() {
                let r = frames::na_reply(f.src, *src, f.dst, *target, f.tag);
                let back = frames::parse(&r).expect("a built advertisement reads back");
                assert!(matches!(back.heard, Heard::Na { target: t, solicited: true, .. } if t == *target));
            }
        }
        Heard::Na { .. } => {
            assert!(moose_dataplane::classify::is_directory_frame(data, &h));
        }
        Heard::Dhcp { at, .. } => assert!(*at <= data.len()),
        Heard::Dhcp6 { addrs, .. } => {
            // The reader reads any UDP in IPv6 as DHCPv6 (the dataplane
            // sends it only port 546's); what it gives is bounded.
            assert!(addrs.len() <= 16);
            if data.len() >= 58 && !h.is_tagged() && data[56..58] == [2, 34] {
                assert!(moose_dataplane::classify::is_directory_frame(data, &h));
            }
        }
    }
});
