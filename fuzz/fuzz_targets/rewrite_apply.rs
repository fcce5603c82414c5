//! `moose_dataplane::action::apply`, the mover's in-place rewrite, on
//! arbitrary frames and rewrites: it runs on frames as received, so it
//! must never panic and never change a frame's length; without the
//! payload operation it changes only the Ethernet addresses, and with it
//! nothing before them is touched but them. (The payload rewriters'
//! own byte-exactness is fuzzed in `payload_rewrite`.)
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
    if f.len() < 12 {
        assert_eq!(f, input.frame, "a frame without both addresses is left alone");
        return;
    }
    if !rw.ops.has(RewriteOps::PAYLOAD) {
        assert_eq!(&f[12..], &input.frame[12..], "only the addresses change");
    }
    // The addresses become what the operations say.
    if rw.ops.has(RewriteOps::DST) {
        assert_eq!(&f[0..6], &input.dst.to_le_bytes()[..6]);
    } else {
        assert_eq!(&f[0..6], &input.frame[0..6]);
    }
    if rw.ops.has(RewriteOps::SRC) {
        assert_eq!(&f[6..12], &input.src.to_le_bytes()[..6]);
    } else {
        assert_eq!(&f[6..12], &input.frame[6..12]);
    }
});
