//! The `legacy` classifier (`moose_dataplane::classify::legacy`) on
//! arbitrary frames, ingress ports, port counts, `max_frame` and FDB
//! contents.
//!
//! Checks: nothing panics, and every decision is one a bridge may make:
//! to a port never back out of the ingress port or to a port that does not
//! exist; a flood mask is non-empty, excludes the ingress port and stays
//! within the ports; punts only for 01:80:c2:00:00:0x, on the reserved
//! class; parse errors and invalid (multicast, all-zero) sources are
//! dropped without learning; a learn key is the frame's (VLAN, source);
//! no rewrite. The frames classified as one burst (ingress port of the
//! first, a two-slot flow cache so that entries collide) get the same
//! actions as one by one, and the summary's byte count and uniform action
//! are right.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use moose_config::PuntClass;
use moose_dataplane::action::{Action, To};
use moose_dataplane::classify::legacy::{classify, decide_frame};
use moose_dataplane::classify::{Burst, FlowCache, Learn, Learns};
use moose_dataplane::fdb::{FdbOp, ViewEntry};
use moose_dataplane::tables::{FloodSets, PortTable, TableOp, TableSet};
use moose_dataplane::worker::MAX_BURST;
use moose_dataplane::DropReason;
use moose_tables::publish::Absorb;
use moose_wire::{ethernet, ExactKey, Mac, PortId};

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
    let mut t = TableSet::new(
        PortTable::simple(n, usize::from(input.max_frame)),
        FloodSets::simple(n),
    );
    let all: u64 = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };

    // The FDB only ever holds existing ports: the control thread learns
    // from ingress ports and the config validates static ones.
    for e in input.entries.iter().take(256) {
        let key = ExactKey::new(e.vlan & 0xfff, Mac(e.mac));
        let op = if e.remove {
            FdbOp::Remove(key)
        } else {
            FdbOp::Set(
                key,
                ViewEntry::new(PortId(u16::from(e.port) % n as u16), e.is_static),
            )
        };
        t.absorb(&TableOp::Fdb(op));
    }
    let max_frame = t.ports.max_frame;

    for (p, frame) in input.frames.iter().take(MAX_BURST) {
        let port = PortId(u16::from(*p) % n as u16);
        let (action, learn) = decide_frame(frame, port, &t);
        assert!(action.rewrite().ops.is_empty(), "a bridge rewrites nothing");
        let parsed = ethernet::parse(frame, max_frame);
        match action.to() {
            To::Port(out) => {
                assert!(out.index() < n, "unicast to port {out} of {n}");
                assert_ne!(out, port, "unicast back out of the ingress port");
            }
            To::Flood { mask, unknown, .. } => {
                assert_ne!(mask, 0, "empty flood must be a drop");
                assert_eq!(mask & port.bit(), 0, "flood includes the ingress port");
                assert_eq!(mask & !all, 0, "flood to a port that does not exist");
                let p = parsed.as_ref().expect("flooded an unparseable frame");
                assert_eq!(unknown, !p.dst.is_multicast());
            }
            To::Punt(class) => {
                assert_eq!(class, PuntClass::Reserved);
                let p = parsed.as_ref().expect("punted an unparseable frame");
                assert_eq!(&p.dst.0[..5], &[0x01, 0x80, 0xc2, 0, 0]);
            }
            To::Group(_) => panic!("a bridge has no next-hop groups"),
            To::Drop(r) => {
                if matches!(
                    r,
                    DropReason::TooShort | DropReason::TruncatedVlan | DropReason::Oversize
                ) {
                    assert!(parsed.is_err());
                    assert_eq!(learn, Learn::None);
                }
                assert!(!matches!(
                    r,
                    DropReason::NoBuffer
                        | DropReason::TxFull
                        | DropReason::PuntRingFull
                        | DropReason::LinkDown
                        | DropReason::MtuExceeded
                ));
            }
        }
        match parsed {
            Err(_) => assert!(matches!(action.to(), To::Drop(_)) && learn == Learn::None),
            Ok(p) => {
                if p.src.is_multicast() {
                    assert_eq!(action, Action::drop(DropReason::SrcMulticast));
                } else if p.src.is_zero() {
                    assert_eq!(action, Action::drop(DropReason::SrcZero));
                }
                let vlan = match p.tag {
                    Some(t) if t.vid != 0 => t.vid,
                    _ => 1,
                };
                match learn {
                    Learn::Known(k) | Learn::Request(k) => {
                        assert_eq!(k, ExactKey::new(vlan, p.src))
                    }
                    Learn::None => {}
                }
                if let Learn::Known(k) = learn {
                    assert_eq!(t.fdb.get(k).map(|e| e.port()), Some(port));
                }
            }
        }
    }

    if let Some((p, _)) = input.frames.first() {
        let port = PortId(u16::from(*p) % n as u16);
        let frames: Vec<&[u8]> = input
            .frames
            .iter()
            .take(MAX_BURST)
            .map(|(_, f)| f.as_slice())
            .collect();
        let k = frames.len();
        let mut actions = [Action::drop(DropReason::TooShort); MAX_BURST];
        let mut learns = Learns::default();
        // Two slots: the frames collide in the flow cache.
        let mut flows = FlowCache::with_slots(2, 1000);
        let mut b = Burst {
            tables: &t,
            port,
            now_ms: 0,
            flows: &mut flows,
            actions: &mut actions[..k],
            learns: &mut learns,
            elk: true,
        };
        let s = classify(&mut b, &frames);
        if let Some(u) = s.uniform {
            actions[..k].fill(u);
        }
        for (f, a) in frames.iter().zip(&actions[..k]) {
            assert_eq!(
                decide_frame(f, port, &t).0,
                *a,
                "burst and single decisions differ"
            );
        }
        if let Some(u) = s.uniform {
            assert!(
                actions[..k].iter().all(|a| *a == u),
                "uniform action that is not"
            );
        } else {
            assert!(actions[..k].windows(2).any(|w| w[0] != w[1]));
        }
        let bytes: usize = frames.iter().map(|f| f.len()).sum();
        assert_eq!(s.rx_bytes, bytes as u64);
        let longest = frames.iter().map(|f| f.len()).max().unwrap_or(0);
        assert_eq!(usize::from(s.max_len), longest.min(usize::from(u16::MAX)));
    }
});
