//! moose's control messages from untrusted bytes: parsing never panics, and
//! whatever parses emits back to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moose_wire::proto;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = proto::parse(data) {
        let mut out = Vec::new();
        proto::emit(&m, &mut out);
        assert_eq!(proto::parse(&out), Ok(m));
        assert!(data.starts_with(&out[..2]));
    }
});
