//! Keyed MACs of moose's protocol messages (HMAC-SHA-256, `[routing]
//! key`), and the replay check.
//!
//! The HMAC covers the frame's source address and the message up to the
//! MAC itself (header, body, key id, counter). The counter starts at the
//! sender's wall-clock time in nanoseconds and grows by one per message,
//! so it also grows across the sender's restarts; a receiver keeps the
//! highest counter it accepted per (port, source address) and refuses any
//! that is not higher (`replayed`).

use std::collections::HashMap;

use hmac::{Hmac, Mac as _};
use moose_config::Key;
use moose_wire::proto::{self, Auth};
use moose_wire::{Mac, PortId};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What signs outgoing messages.
#[derive(Clone, Debug)]
pub struct Signer {
    key: Option<Key>,
    counter: u64,
}

impl Signer {
    pub fn new(key: Option<Key>) -> Signer {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Signer { key, counter: now }
    }

    /// Appends the trailer to the message at `frame[at..]` (as
    /// `proto::emit` wrote it), the frame's source address at 6..12. No
    /// key: nothing.
    pub fn sign(&mut self, frame: &mut Vec<u8>, at: usize) {
        let Some(k) = &self.key else {
            return;
        };
        self.counter += 1;
        let range = proto::begin_trailer(frame, at, k.id, self.counter);
        let mut m = HmacSha256::new_from_slice(&k.secret).expect("any key length");
        m.update(&frame[6..12]);
        m.update(&frame[range]);
        frame.extend_from_slice(&m.finalize().into_bytes());
    }
}

/// Why an authenticated exchange was refused (metric labels).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    Unauthenticated,
    Unexpected,
    UnknownKey,
    BadMac,
    Replayed,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::Unexpected => "auth_unexpected",
            Refusal::UnknownKey => "unknown_key",
            Refusal::BadMac => "bad_mac",
            Refusal::Replayed => "replayed",
        }
    }
}

/// Checks incoming messages.
#[derive(Debug, Default)]
pub struct Verifier {
    keys: Vec<Key>,
    seen: HashMap<(PortId, Mac), u64>,
}

/// Most (port, source) pairs remembered; beyond it the table is cleared
/// (a flood of forged sources cannot grow it without bound; a cleared
/// entry only lets one replay through, which the LSDB ignores as old).
const MAX_SENDERS: usize = 4096;

impl Verifier {
    pub fn new(key: Option<Key>, previous: Option<Key>) -> Verifier {
        Verifier {
            keys: key.into_iter().chain(previous).collect(),
            seen: HashMap::new(),
        }
    }

    pub fn keyed(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Checks a message's trailer against the keys; records its counter.
    pub fn check(&mut self, port: PortId, src: Mac, auth: Option<Auth<'_>>) -> Result<(), Refusal> {
        let auth = match (self.keyed(), auth) {
            (false, None) => return Ok(()),
            (false, Some(_)) => return Err(Refusal::Unexpected),
            (true, None) => return Err(Refusal::Unauthenticated),
            (true, Some(a)) => a,
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id == auth.key_id)
            .ok_or(Refusal::UnknownKey)?;
        let mut m = HmacSha256::new_from_slice(&key.secret).expect("any key length");
        m.update(&src.0);
        m.update(auth.signed);
        m.verify_slice(auth.mac).map_err(|_| Refusal::BadMac)?;
        let last = self.seen.get(&(port, src)).copied().unwrap_or(0);
        if auth.counter <= last {
            return Err(Refusal::Replayed);
        }
        if self.seen.len() >= MAX_SENDERS {
            self.seen.clear();
        }
        self.seen.insert((port, src), auth.counter);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moose_wire::proto::{HomeHello, Message};

    fn key(id: u8, s: &str) -> Key {
        Key {
            id,
            secret: s.as_bytes().to_vec(),
        }
    }

    fn frame(s: &mut Signer) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[6..12].copy_from_slice(&[0x52, 0x54, 0, 0, 0, 1]);
        let m = Message::HomeHello(HomeHello {
            prefix: "02:11:11:00:00:00/24".parse().unwrap(),
            port: 1,
            hold_ms: 100,
        });
        proto::emit(&m, &mut f);
        s.sign(&mut f, 14);
        f
    }

    fn check(v: &mut Verifier, f: &[u8]) -> Result<(), Refusal> {
        let (_, auth) = proto::parse_auth(&f[14..]).unwrap();
        v.check(PortId(0), Mac::from_slice(&f[6..12]), auth)
    }

    #[test]
    fn signed_messages_pass_once() {
        let k = key(1, "a key of sixteen bytes");
        let mut s = Signer::new(Some(k.clone()));
        let mut v = Verifier::new(Some(k), None);
        let f = frame(&mut s);
        assert_eq!(check(&mut v, &f), Ok(()));
        assert_eq!(check(&mut v, &f), Err(Refusal::Replayed));
        assert_eq!(check(&mut v, &frame(&mut s)), Ok(()));
    }

    #[test]
    fn wrong_key_forged_source_or_body_fail() {
        let mut s = Signer::new(Some(key(1, "a key of sixteen bytes")));
        let mut v = Verifier::new(Some(key(1, "another key, same id")), None);
        assert_eq!(check(&mut v, &frame(&mut s)), Err(Refusal::BadMac));
        let mut v = Verifier::new(Some(key(2, "a key of sixteen bytes")), None);
        assert_eq!(check(&mut v, &frame(&mut s)), Err(Refusal::UnknownKey));
        let mut v = Verifier::new(Some(key(1, "a key of sixteen bytes")), None);
        let mut f = frame(&mut s);
        f[11] ^= 1;
        assert_eq!(check(&mut v, &f), Err(Refusal::BadMac));
        let mut f = frame(&mut s);
        f[14 + 4 + 9] ^= 1; // the port
        assert_eq!(check(&mut v, &f), Err(Refusal::BadMac));
    }

    #[test]
    fn keys_must_match_on_both_sides() {
        let mut plain = Signer::new(None);
        let mut keyed = Signer::new(Some(key(1, "a key of sixteen bytes")));
        let mut v = Verifier::new(Some(key(1, "a key of sixteen bytes")), None);
        assert_eq!(
            check(&mut v, &frame(&mut plain)),
            Err(Refusal::Unauthenticated)
        );
        let mut v = Verifier::new(None, None);
        assert_eq!(check(&mut v, &frame(&mut keyed)), Err(Refusal::Unexpected));
        assert_eq!(check(&mut v, &frame(&mut plain)), Ok(()));
    }

    #[test]
    fn the_previous_key_is_accepted_during_rotation() {
        let old = key(1, "the old key, 16+ bytes");
        let new = key(2, "the new key, 16+ bytes");
        let mut v = Verifier::new(Some(new.clone()), Some(old.clone()));
        assert_eq!(check(&mut v, &frame(&mut Signer::new(Some(old)))), Ok(()));
        assert_eq!(check(&mut v, &frame(&mut Signer::new(Some(new)))), Ok(()));
    }
}
