//! moose's control messages from untrusted bytes (`proto::parse_auth`):
//! parsing never panics; whatever parses emits back to the same message,
//! with the same header (but the authentication bit, which `emit` never
//! sets) and the same body bytes; a trailer, when there is one, is the
//! [`proto::AUTH_LEN`] bytes after the body, and what its HMAC covers is
//! exactly the header, body, key id and counter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moose_wire::proto::{self, AUTHENTICATED, AUTH_LEN, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok((m, auth)) = proto::parse_auth(data) else {
        return;
    };
    let mut out = Vec::new();
    proto::emit(&m, &mut out);
    assert_eq!(proto::parse_auth(&out), Ok((m.clone(), None)));
    assert!(out.len() >= HEADER_LEN);
    let n = out.len();
    // Header: version, type and body length as received, the auth bit
    // aside; body: the same bytes (every field is read, reserved ones
    // must be zero).
    assert_eq!(out[0], data[0]);
    assert_eq!(out[1], data[1] & !AUTHENTICATED);
    assert_eq!(out[2..4], data[2..4]);
    assert_eq!(out[HEADER_LEN..], data[HEADER_LEN..n]);

    match auth {
        None => assert_eq!(data[1] & AUTHENTICATED, 0),
        Some(a) => {
            assert_ne!(data[1] & AUTHENTICATED, 0);
            assert!(data.len() >= n + AUTH_LEN);
            // Header + body + key id + counter, from the start of data.
            assert_eq!(a.signed.len(), n + 9);
            assert_eq!(a.signed, &data[..n + 9]);
            assert_eq!(a.key_id, data[n]);
            assert_eq!(a.counter.to_be_bytes(), data[n + 1..n + 9]);
            assert_eq!(&a.mac[..], &data[n + 9..n + AUTH_LEN]);
            // The trailer round trip: begin_trailer over emit's bytes
            // signs the same range.
            let mut signed = out.clone();
            let range = proto::begin_trailer(&mut signed, 0, a.key_id, a.counter);
            assert_eq!(&signed[range.clone()], a.signed);
            signed.extend_from_slice(a.mac);
            assert_eq!(signed[..], data[..n + AUTH_LEN]);
            let (m2, a2) = proto::parse_auth(&signed).expect("re-signed parses");
            assert_eq!(m2, m);
            assert_eq!(a2, Some(a));
        }
    }
});
