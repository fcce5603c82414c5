//! `moose_dataplane::action::apply`, the mover's in-place rewrite, on
//! arbitrary frames and rewrites: it runs on frames as received, so it
//! must never panic, never change a frame's length, and change only the
//! bytes its operations name (the Ethernet addresses, and an Ethernet/IPv4
//! ARP payload's hardware addresses).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use moose_dataplane::action::{apply, Rewrite, RewriteOps};

#[derive(Debug, Arbitrary)]
struct Input {
    tagged: bool,
    ops: u8,
    src: u64,
    dst: u64,
    frame: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let mut f = input.frame.clone();
    let hl = if input.tagged { 18 } else { 14 };
    let rw = Rewrite {
        ops: RewriteOps(input.ops),
        src: input.src,
        dst: input.dst,
    };
    apply(&mut f, hl, &rw);
    assert_eq!(f.len(), input.frame.len());
    let mut allowed = vec![false; f.len()];
    let mut allow = |r: std::ops::Range<usize>| {
        for i in r {
            if let Some(a) = allowed.get_mut(i) {
                *a = true;
            }
        }
    };
    allow(0..12);
    allow(hl + 8..hl + 14);
    allow(hl + 18..hl + 24);
    for (i, (a, b)) in f.iter().zip(&input.frame).enumerate() {
        assert!(a == b || allowed[i], "byte {i} changed");
    }
});
