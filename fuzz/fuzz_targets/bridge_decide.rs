//! `moose_dataplane::bridge::decide` on arbitrary frames, ingress ports,
//! port counts, `max_frame` and FDB contents.
//!
//! Checks: nothing panics, and every decision is one a bridge may make:
//! unicast never goes back out of the ingress port or to a port that does
//! not exist; a flood mask is non-empty, excludes the ingress port and
//! stays within the ports; parse errors and invalid sources are dropped
//! without learning; a learn key is the frame's (VLAN, source). The frames
//! decided as one burst (`decide_burst`, ingress port of the first) get
//! the same actions as one by one.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use moose_dataplane::bridge::{decide, decide_burst, Action, FlowCache, Header, Learn, PortTable};
use moose_dataplane::fdb::{FdbOp, FdbView, ViewEntry};
use moose_dataplane::{fdb_key, DropReason};
use moose_tables::publish::Absorb;
use moose_wire::{ethernet, Mac};

#[derive(Debug, Arbitrary)]
struct Entry {
    vlan: u16,
    mac: [u8; 6],
    port: u8,
    is_static: bool,
    remove: bool,
}

#[derive(Debug, Arbitrary)]
struct Input {
    n_ports: u8,
    max_frame: u16,
    entries: Vec<Entry>,
    frames: Vec<(u8, Vec<u8>)>,
}

fuzz_target!(|input: Input| {
    let n = usize::from(input.n_ports % 64) + 1; // 1..=64
    let table = PortTable::simple(n, usize::from(input.max_frame));
    let all: u64 = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };

    // The FDB only ever holds existing ports: the slow path learns from
    // ingress ports and the config validates static ones.
    let mut view = FdbView::default();
    for e in input.entries.iter().take(256) {
        let key = fdb_key(e.vlan & 0xfff, Mac(e.mac));
        let op = if e.remove {
            FdbOp::Remove(key)
        } else {
            FdbOp::Set(
                key,
                ViewEntry::new(u16::from(e.port) % n as u16, e.is_static),
            )
        };
        view.absorb(&op);
    }

    for (p, frame) in input.frames.iter().take(64) {
        let port = u16::from(*p) % n as u16;
        let (action, learn) = decide(frame, port, &table, &view);
        let me = 1u64 << port;
        let parsed = ethernet::parse(frame, table.max_frame);
        match action {
            Action::Unicast(out) => {
                assert!(usize::from(out) < n, "unicast to port {out} of {n}");
                assert_ne!(out, port, "unicast back out of the ingress port");
            }
            Action::Flood { mask, unknown } => {
                assert_ne!(mask, 0, "empty flood must be a drop");
                assert_eq!(mask & me, 0, "flood includes the ingress port");
                assert_eq!(mask & !all, 0, "flood to a port that does not exist");
                let p = parsed.as_ref().expect("flooded an unparseable frame");
                assert_eq!(unknown, !p.dst.is_multicast());
            }
            Action::Punt => {
                let p = parsed.as_ref().expect("punted an unparseable frame");
                assert_eq!(&p.dst.0[..5], &[0x01, 0x80, 0xc2, 0, 0]);
            }
            Action::Drop(r) => {
                if matches!(
                    r,
                    DropReason::TooShort | DropReason::TruncatedVlan | DropReason::Oversize
                ) {
                    assert!(parsed.is_err());
                    assert_eq!(learn, Learn::None);
                }
                assert!(!matches!(
                    r,
                    DropReason::NoBuffer | DropReason::TxFull | DropReason::PuntRingFull
                ));
            }
        }
        match parsed {
            Err(_) => assert!(matches!(action, Action::Drop(_)) && learn == Learn::None),
            Ok(p) => {
                if p.src.is_multicast() {
                    assert_eq!(action, Action::Drop(DropReason::SrcMulticast));
                }
                let vlan = match p.tag {
                    Some(t) if t.vid != 0 => t.vid,
                    _ => 1,
                };
                match learn {
                    Learn::Known(k) | Learn::Request(k) => assert_eq!(k, fdb_key(vlan, p.src)),
                    Learn::None => {}
                }
                if let Learn::Known(k) = learn {
                    assert_eq!(view.get(k).map(|e| e.port()), Some(port));
                }
            }
        }
    }

    if let Some((p, _)) = input.frames.first() {
        let port = u16::from(*p) % n as u16;
        let frames: Vec<&[u8]> = input
            .frames
            .iter()
            .take(64)
            .map(|(_, f)| f.as_slice())
            .collect();
        let mut actions = vec![Action::Punt; frames.len()];
        let headers = frames.iter().map(|f| Header::load(f));
        // Two slots: the frames collide in the flow cache.
        let mut flows = FlowCache::with_slots(2, 1000);
        let uniform = decide_burst(
            headers,
            port,
            &table,
            &view,
            &mut flows,
            0,
            &mut actions,
            |_| {},
        );
        for (f, a) in frames.iter().zip(&actions) {
            assert_eq!(
                decide(f, port, &table, &view).0,
                *a,
                "burst and single decisions differ"
            );
        }
        if let Some(u) = uniform {
            assert!(
                actions.iter().all(|a| *a == u),
                "uniform action that is not"
            );
        }
    }
});
