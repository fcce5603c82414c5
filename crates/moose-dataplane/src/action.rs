//! The action contract between classification and the mover.
//!
//! Every classifier, whatever its port role, decides each frame of a burst
//! into one small `Copy` [`Action`]: where the frame goes ([`To`]) and which
//! in-place rewrites apply ([`Rewrite`]). One mover (in [`crate::worker`])
//! executes actions for every role, so the roles differ only in how they
//! decide. Actions are compared whole: a burst whose frames all have the
//! same action moves in one step.
//!
//! Rewrites never change a frame's length, so they are done in place. They
//! are per frame, not per egress port, and applied before a flood is
//! copied, so flood copies are reference counts of one buffer.

use moose_config::PuntClass;
use moose_wire::PortId;

use crate::counters::DropReason;

/// An ECMP next-hop group: an index into the published groups. Resolved to
/// one member port by the frame's flow hash while the tables are held.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub u16);

/// Where a frame goes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum To {
    /// Dropped and counted by reason.
    Drop(DropReason),
    /// Out of one port.
    Port(PortId),
    /// Out of one member of a next-hop group, chosen by flow hash.
    Group(GroupId),
    /// A copy out of every port in the mask (that is up). `unknown` marks
    /// unicast destinations missing from the tables.
    Flood { mask: u64, unknown: bool },
    /// To the control thread, on the ring of the class.
    Punt(PuntClass),
}

/// Rewrite operations, a bit mask.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct RewriteOps(pub u8);

impl RewriteOps {
    pub const NONE: RewriteOps = RewriteOps(0);
    /// Set the Ethernet source address.
    pub const SRC: RewriteOps = RewriteOps(1);
    /// Set the Ethernet destination address.
    pub const DST: RewriteOps = RewriteOps(2);
    /// Set an ARP (Ethernet/IPv4) packet's sender hardware address to the
    /// new source.
    pub const ARP_SHA: RewriteOps = RewriteOps(4);
    /// Set an ARP packet's target hardware address to the new destination.
    pub const ARP_THA: RewriteOps = RewriteOps(8);

    #[inline]
    pub fn has(self, o: RewriteOps) -> bool {
        self.0 & o.0 != 0
    }

    #[inline]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for RewriteOps {
    type Output = RewriteOps;
    fn bitor(self, o: RewriteOps) -> RewriteOps {
        RewriteOps(self.0 | o.0)
    }
}

/// In-place rewrites of one frame: which, and the new addresses (as the
/// six octets, in wire order, in the low 48 bits of a little-endian word).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct Rewrite {
    pub ops: RewriteOps,
    pub src: u64,
    pub dst: u64,
}

impl Rewrite {
    pub const NONE: Rewrite = Rewrite {
        ops: RewriteOps::NONE,
        src: 0,
        dst: 0,
    };
}

/// What to do with one frame: where it goes ([`To`]) and its
/// [`Rewrite`], packed into four plain words.
///
/// Packed because the classifiers compare whole actions on every decided
/// frame (is the burst uniform? is this the previous frame's action?):
/// four word compares, against a branch per variant for a derived
/// comparison of the enum (that comparison was 9 % of a worker's time with
/// 64 interleaved flows). [`Action::to`] and [`Action::rewrite`] unpack.
#[derive(Copy, Clone, PartialEq, Eq)]
pub struct Action {
    /// Bits 0..8 the kind, 8 the flood's `unknown`, 16..32 the argument
    /// (port, group, drop reason or punt class), 32..40 the rewrite ops.
    head: u64,
    /// The flood mask.
    mask: u64,
    src: u64,
    dst: u64,
}

const K_DROP: u64 = 0;
const K_PORT: u64 = 1;
const K_GROUP: u64 = 2;
const K_FLOOD: u64 = 3;
const K_PUNT: u64 = 4;

impl Action {
    /// `to`, with `rw`.
    #[inline]
    pub const fn new(to: To, rw: Rewrite) -> Action {
        let (kind, arg, mask, unknown) = match to {
            To::Drop(r) => (K_DROP, r as u64, 0, false),
            To::Port(p) => (K_PORT, p.0 as u64, 0, false),
            To::Group(g) => (K_GROUP, g.0 as u64, 0, false),
            To::Flood { mask, unknown } => (K_FLOOD, 0, mask, unknown),
            To::Punt(c) => (K_PUNT, c as u64, 0, false),
        };
        Action {
            head: kind | (unknown as u64) << 8 | arg << 16 | (rw.ops.0 as u64) << 32,
            mask,
            src: rw.src,
            dst: rw.dst,
        }
    }

    /// Where the frame goes.
    #[inline]
    pub fn to(&self) -> To {
        let arg = (self.head >> 16) as u16;
        match self.head & 0xff {
            K_PORT => To::Port(PortId(arg)),
            K_GROUP => To::Group(GroupId(arg)),
            K_FLOOD => To::Flood {
                mask: self.mask,
                unknown: self.head & (1 << 8) != 0,
            },
            K_PUNT => To::Punt(PuntClass::ALL[usize::from(arg) % PuntClass::COUNT]),
            _ => To::Drop(DropReason::ALL[usize::from(arg) % DropReason::COUNT]),
        }
    }

    /// Whether it goes to a next-hop group (still to resolve).
    #[inline]
    pub fn is_group(&self) -> bool {
        self.head & 0xff == K_GROUP
    }

    /// Its rewrite.
    #[inline]
    pub fn rewrite(&self) -> Rewrite {
        Rewrite {
            ops: RewriteOps((self.head >> 32) as u8),
            src: self.src,
            dst: self.dst,
        }
    }

    /// Sends it elsewhere, keeping the rewrite.
    #[inline]
    pub fn set_to(&mut self, to: To) {
        *self = Action::new(to, self.rewrite());
    }

    #[inline]
    pub const fn drop(r: DropReason) -> Action {
        Action::new(To::Drop(r), Rewrite::NONE)
    }

    #[inline]
    pub const fn port(p: PortId) -> Action {
        Action::new(To::Port(p), Rewrite::NONE)
    }

    #[inline]
    pub const fn punt(c: PuntClass) -> Action {
        Action::new(To::Punt(c), Rewrite::NONE)
    }

    #[inline]
    pub const fn flood(mask: u64, unknown: bool) -> Action {
        Action::new(To::Flood { mask, unknown }, Rewrite::NONE)
    }
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rw = self.rewrite();
        if rw.ops.is_empty() {
            write!(f, "{:?}", self.to())
        } else {
            write!(f, "{:?} with {:?}", self.to(), rw)
        }
    }
}

/// Where an ARP payload's hardware addresses are, after the Ethernet
/// header: sender at 8..14, target at 18..24 (RFC 826, Ethernet/IPv4).
const ARP_SHA: usize = 8;
const ARP_THA: usize = 18;
const ARP_LEN: usize = 28;

/// Applies `rw` to `frame` in place (`header_len` 14 or 18). Operations
/// whose bytes the frame does not hold, or ARP operations on a frame that
/// is not Ethernet/IPv4 ARP, are skipped: a rewrite never panics and never
/// changes the length.
#[inline]
pub fn apply(frame: &mut [u8], header_len: usize, rw: &Rewrite) {
    let ops = rw.ops;
    if frame.len() < 12 {
        return;
    }
    let src = &rw.src.to_le_bytes()[..6];
    let dst = &rw.dst.to_le_bytes()[..6];
    if ops.has(RewriteOps::DST) {
        frame[0..6].copy_from_slice(dst);
    }
    if ops.has(RewriteOps::SRC) {
        frame[6..12].copy_from_slice(src);
    }
    if ops.has(RewriteOps::ARP_SHA) || ops.has(RewriteOps::ARP_THA) {
        let at = header_len;
        let is_arp = frame.len() >= at + ARP_LEN
            && frame[at - 2..at] == [0x08, 0x06]
            && frame[at..at + 6] == [0, 1, 0x08, 0x00, 6, 4];
        if is_arp {
            if ops.has(RewriteOps::ARP_SHA) {
                frame[at + ARP_SHA..at + ARP_SHA + 6].copy_from_slice(src);
            }
            if ops.has(RewriteOps::ARP_THA) {
                frame[at + ARP_THA..at + ARP_THA + 6].copy_from_slice(dst);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moose_wire::{ExactKey, Mac};

    fn le(m: &str) -> u64 {
        ExactKey::new(0, m.parse::<Mac>().unwrap()).raw()
    }

    fn arp_request() -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&[0x08, 0x06]);
        f.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 10, 0, 0, 1]);
        f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
        f
    }

    #[test]
    fn action_is_four_words_and_round_trips() {
        assert_eq!(std::mem::size_of::<Action>(), 32);
        let rw = Rewrite {
            ops: RewriteOps::SRC | RewriteOps::DST,
            src: 7,
            dst: 9,
        };
        for to in [
            To::Drop(DropReason::NoRoute),
            To::Drop(DropReason::TooShort),
            To::Port(PortId(63)),
            To::Group(GroupId(0x7fff)),
            To::Flood {
                mask: u64::MAX,
                unknown: true,
            },
            To::Flood {
                mask: 0b110,
                unknown: false,
            },
            To::Punt(PuntClass::Reserved),
        ] {
            let a = Action::new(to, rw);
            assert_eq!((a.to(), a.rewrite()), (to, rw));
            assert_eq!(Action::new(to, Rewrite::NONE).rewrite(), Rewrite::NONE);
            let mut b = a;
            b.set_to(To::Port(PortId(1)));
            assert_eq!((b.to(), b.rewrite()), (To::Port(PortId(1)), rw));
        }
        assert_ne!(Action::flood(1, true), Action::flood(1, false));
        assert_ne!(Action::port(PortId(1)), Action::port(PortId(2)));
    }

    #[test]
    fn rewrites_addresses_and_arp_in_place() {
        let mut f = arp_request();
        let len = f.len();
        let rw = Rewrite {
            ops: RewriteOps::SRC | RewriteOps::ARP_SHA | RewriteOps::ARP_THA,
            src: le("02:11:11:00:00:07"),
            dst: le("02:22:22:00:00:09"),
        };
        apply(&mut f, 14, &rw);
        assert_eq!(f.len(), len);
        assert_eq!(&f[0..6], &[0xff; 6], "destination untouched");
        assert_eq!(&f[6..12], &[2, 0x11, 0x11, 0, 0, 7]);
        assert_eq!(&f[22..28], &[2, 0x11, 0x11, 0, 0, 7], "ARP sender");
        assert_eq!(&f[32..38], &[2, 0x22, 0x22, 0, 0, 9], "ARP target");
        assert_eq!(&f[28..32], &[10, 0, 0, 1], "IP untouched");
    }

    #[test]
    fn arp_ops_skip_what_is_not_arp() {
        let mut f = arp_request();
        f[12] = 0x08;
        f[13] = 0x00; // IPv4, not ARP
        let before = f.clone();
        let rw = Rewrite {
            ops: RewriteOps::ARP_SHA,
            src: le("02:11:11:00:00:07"),
            dst: 0,
        };
        apply(&mut f, 14, &rw);
        assert_eq!(f, before);
        // Short frames: nothing past the end is touched, nothing panics.
        for n in 0..30 {
            let mut g = arp_request()[..n].to_vec();
            apply(
                &mut g,
                14,
                &Rewrite {
                    ops: RewriteOps(0xff),
                    src: 1,
                    dst: 2,
                },
            );
            assert_eq!(g.len(), n);
        }
    }
}
