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
use moose_wire::rewrite::{self, ArpField, Outcome, Payload};
use moose_wire::{Mac, PortId};

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
    /// unicast destinations missing from the tables. The ports of `plain`
    /// (a subset of `mask`) get the frame as it came, without the rewrite:
    /// a legacy host's broadcast goes to the other legacy ports as sent and
    /// to the MOOSE ports translated (a per-port rewrite: one copy).
    Flood {
        mask: u64,
        unknown: bool,
        plain: u64,
    },
    /// To the control thread, on the ring of the class.
    Punt(PuntClass),
}

/// Rewrite operations, a bit mask.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub struct RewriteOps(pub u8);

impl RewriteOps {
    pub const NONE: RewriteOps = RewriteOps(0);
    /// Set the Ethernet source address to `Rewrite::src`.
    pub const SRC: RewriteOps = RewriteOps(1);
    /// Set the Ethernet destination address to `Rewrite::dst`.
    pub const DST: RewriteOps = RewriteOps(2);
    /// Also rewrite the payload fields that carry the address being
    /// replaced: the ARP sender (with `SRC`) and target (with `DST`)
    /// hardware address, IPv6 neighbour discovery link-layer address
    /// options (ICMPv6 checksum fixed), DHCP `chaddr` (UDP checksum fixed).
    pub const PAYLOAD: RewriteOps = RewriteOps(4);

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
/// [`Rewrite`], packed into four plain words. A flood's destination is a
/// group address and is never rewritten, so a flood's `dst` word carries
/// its `plain` mask instead.
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
    /// `to`, with `rw` (a flood's rewrite has no `DST`: its destination is
    /// a group address).
    #[inline]
    pub const fn new(to: To, rw: Rewrite) -> Action {
        let (kind, arg, mask, unknown, dst, ops) = match to {
            To::Drop(r) => (K_DROP, r as u64, 0, false, rw.dst, rw.ops.0),
            To::Port(p) => (K_PORT, p.0 as u64, 0, false, rw.dst, rw.ops.0),
            To::Group(g) => (K_GROUP, g.0 as u64, 0, false, rw.dst, rw.ops.0),
            To::Flood {
                mask,
                unknown,
                plain,
            } => (
                K_FLOOD,
                0,
                mask,
                unknown,
                plain,
                rw.ops.0 & !RewriteOps::DST.0,
            ),
            To::Punt(c) => (K_PUNT, c as u64, 0, false, rw.dst, rw.ops.0),
        };
        Action {
            head: kind | (unknown as u64) << 8 | arg << 16 | (ops as u64) << 32,
            mask,
            src: rw.src,
            dst,
        }
    }

    /// The port of a [`To::Port`] action, without unpacking the rest (the
    /// mover asks it of every frame of a burst).
    #[inline]
    pub fn out_port(&self) -> Option<PortId> {
        (self.head & 0xff == K_PORT).then_some(PortId((self.head >> 16) as u16))
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
                plain: self.dst,
            },
            K_PUNT => To::Punt(PuntClass::ALL[usize::from(arg) % PuntClass::COUNT]),
            _ => To::Drop(DropReason::ALL[usize::from(arg) % DropReason::COUNT]),
        }
    }

    /// `self == o`, as four word compares folded into one branch (the
    /// classifiers' uniform-burst test runs it on every frame).
    #[inline]
    pub fn same(&self, o: &Action) -> bool {
        (self.head ^ o.head) | (self.mask ^ o.mask) | (self.src ^ o.src) | (self.dst ^ o.dst) == 0
    }

    /// Whether it goes to a next-hop group (still to resolve).
    #[inline]
    pub fn is_group(&self) -> bool {
        self.head & 0xff == K_GROUP
    }

    /// Its rewrite.
    #[inline]
    pub fn rewrite(&self) -> Rewrite {
        let flood = self.head & 0xff == K_FLOOD;
        Rewrite {
            ops: RewriteOps((self.head >> 32) as u8),
            src: self.src,
            dst: if flood { 0 } else { self.dst },
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
        Action::new(
            To::Flood {
                mask,
                unknown,
                plain: 0,
            },
            Rewrite::NONE,
        )
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

/// What [`apply`] rewrote in a payload, for the counters.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Rewritten {
    pub arp: bool,
    pub nd: bool,
    pub dhcp: bool,
    /// An ARP, ND or DHCP message that could not be read (truncated, bad
    /// lengths or options): forwarded with its payload untouched.
    pub invalid: bool,
}

impl Rewritten {
    #[inline]
    fn note(&mut self, o: Outcome) -> bool {
        self.invalid |= matches!(o, Outcome::Invalid(_));
        o.rewritten()
    }
    #[inline]
    fn note_arp(&mut self, o: Outcome) {
        self.arp |= self.note(o);
    }
    #[inline]
    fn note_nd(&mut self, o: Outcome) {
        self.nd |= self.note(o);
    }
    #[inline]
    fn note_dhcp(&mut self, o: Outcome) {
        self.dhcp |= self.note(o);
    }
}

/// Applies `rw` to `frame` in place (`header_len` 14 or 18). Payload
/// fields equal to the frame's current source (destination) address get
/// `rw.src` (`rw.dst`), then the Ethernet addresses are set. A rewrite never
/// panics and never changes the length; a payload it cannot read is left
/// as it is (the wire rewriters check every length).
#[inline]
pub fn apply(frame: &mut [u8], header_len: usize, rw: &Rewrite) -> Rewritten {
    let ops = rw.ops;
    let mut done = Rewritten::default();
    // Most frames carry no address in their payload: two octets and a
    // port say so, and the payload half stays out of line.
    if ops.has(RewriteOps::PAYLOAD) && rewrite::may_carry(frame, header_len) {
        done = apply_payload(frame, header_len, rw);
    }
    let Some(addrs) = frame.first_chunk_mut::<12>() else {
        return done;
    };
    // Two stores per address (the low 48 bits of the little-endian word).
    if ops.has(RewriteOps::DST) {
        put_mac(&mut addrs[0..6], rw.dst);
    }
    if ops.has(RewriteOps::SRC) {
        put_mac(&mut addrs[6..12], rw.src);
    }
    done
}

#[inline(always)]
fn put_mac(to: &mut [u8], w: u64) {
    to[..4].copy_from_slice(&(w as u32).to_le_bytes());
    to[4..6].copy_from_slice(&((w >> 32) as u16).to_le_bytes());
}

/// The payload half of [`apply`], for the frames that carry ARP, ND or
/// DHCP (most frames carry none, and skip it).
#[inline(never)]
fn apply_payload(frame: &mut [u8], header_len: usize, rw: &Rewrite) -> Rewritten {
    let payload = rewrite::classify(frame, header_len);
    if payload == Payload::Other || frame.len() < 12 {
        return Rewritten::default();
    }
    let ops = rw.ops;
    let mut done = Rewritten::default();
    let b = |w: u64| {
        let x = w.to_le_bytes();
        Mac([x[0], x[1], x[2], x[3], x[4], x[5]])
    };
    let (new_src, new_dst) = (b(rw.src), b(rw.dst));
    let old_dst = Mac::from_slice(&frame[0..6]);
    let old_src = Mac::from_slice(&frame[6..12]);
    let (src, dst) = (ops.has(RewriteOps::SRC), ops.has(RewriteOps::DST));
    match payload {
        Payload::Arp => {
            if src {
                done.note_arp(rewrite::arp_hw(
                    frame,
                    header_len,
                    old_src,
                    new_src,
                    ArpField::Sender,
                ));
            }
            if dst {
                done.note_arp(rewrite::arp_hw(
                    frame,
                    header_len,
                    old_dst,
                    new_dst,
                    ArpField::Target,
                ));
            }
        }
        Payload::Ndisc(_) => {
            if src {
                done.note_nd(rewrite::nd_lla(frame, header_len, old_src, new_src));
            }
            if dst {
                done.note_nd(rewrite::nd_lla(frame, header_len, old_dst, new_dst));
            }
        }
        Payload::Dhcp => {
            if src {
                done.note_dhcp(rewrite::dhcp_chaddr(frame, header_len, old_src, new_src));
            }
            if dst {
                done.note_dhcp(rewrite::dhcp_chaddr(frame, header_len, old_dst, new_dst));
            }
        }
        Payload::Other => {}
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use moose_wire::ExactKey;

    fn le(m: &str) -> u64 {
        ExactKey::new(0, m.parse::<Mac>().unwrap()).raw()
    }

    fn arp(op: u8, sha: [u8; 6], tha: [u8; 6], dst: [u8; 6]) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&sha);
        f.extend_from_slice(&[0x08, 0x06]);
        f.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, op]);
        f.extend_from_slice(&sha);
        f.extend_from_slice(&[10, 0, 0, 1]);
        f.extend_from_slice(&tha);
        f.extend_from_slice(&[10, 0, 0, 2]);
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
                plain: 0,
            },
            To::Flood {
                mask: 0b110,
                unknown: false,
                plain: 0b100,
            },
            To::Punt(PuntClass::Reserved),
        ] {
            let a = Action::new(to, rw);
            // A flood's rewrite keeps no destination.
            let want = match to {
                To::Flood { .. } => Rewrite {
                    ops: RewriteOps::SRC,
                    dst: 0,
                    ..rw
                },
                _ => rw,
            };
            assert_eq!((a.to(), a.rewrite()), (to, want));
            assert_eq!(Action::new(to, Rewrite::NONE).rewrite(), Rewrite::NONE);
            let mut b = a;
            b.set_to(To::Port(PortId(1)));
            assert_eq!((b.to(), b.rewrite()), (To::Port(PortId(1)), want));
        }
        assert_ne!(Action::flood(1, true), Action::flood(1, false));
        assert_ne!(Action::port(PortId(1)), Action::port(PortId(2)));
    }

    #[test]
    fn ingress_rewrites_the_source_and_the_arp_sender() {
        let real = [0, 0x16, 0x17, 0x6d, 0xb7, 0xcf];
        let mut f = arp(1, real, [0; 6], [0xff; 6]);
        let len = f.len();
        let rw = Rewrite {
            ops: RewriteOps::SRC | RewriteOps::PAYLOAD,
            src: le("02:11:11:00:00:01"),
            dst: 0,
        };
        let done = apply(&mut f, 14, &rw);
        assert!(done.arp && !done.nd && !done.dhcp);
        assert_eq!(f.len(), len);
        assert_eq!(&f[0..6], &[0xff; 6], "destination untouched");
        assert_eq!(&f[6..12], &[2, 0x11, 0x11, 0, 0, 1]);
        assert_eq!(&f[22..28], &[2, 0x11, 0x11, 0, 0, 1], "ARP sender");
        assert_eq!(&f[32..38], &[0; 6], "ARP target untouched");
        assert_eq!(&f[28..32], &[10, 0, 0, 1], "IP untouched");
    }

    #[test]
    fn egress_restores_the_destination_and_the_arp_target() {
        // B's reply to A, as it reaches A's switch: A's MOOSE address.
        let a_moose = [2, 0x11, 0x11, 0, 0, 1];
        let b_moose = [2, 0x33, 0x33, 0, 0, 1];
        let mut f = arp(2, b_moose, a_moose, a_moose);
        let rw = Rewrite {
            ops: RewriteOps::DST | RewriteOps::PAYLOAD,
            src: 0,
            dst: le("00:16:17:6d:b7:cf"),
        };
        assert!(apply(&mut f, 14, &rw).arp);
        assert_eq!(&f[0..6], &[0, 0x16, 0x17, 0x6d, 0xb7, 0xcf]);
        assert_eq!(&f[6..12], &b_moose, "source untouched");
        assert_eq!(&f[22..28], &b_moose, "ARP sender untouched");
        assert_eq!(
            &f[32..38],
            &[0, 0x16, 0x17, 0x6d, 0xb7, 0xcf],
            "ARP target restored"
        );
    }

    #[test]
    fn an_unreadable_payload_is_untouched_and_noted() {
        let real = [0, 0x16, 0x17, 0x6d, 0xb7, 0xcf];
        let rw = Rewrite {
            ops: RewriteOps::SRC | RewriteOps::PAYLOAD,
            src: le("02:11:11:00:00:01"),
            dst: 0,
        };
        let mut f = arp(1, real, [0; 6], [0xff; 6]);
        f.truncate(14 + 20); // ends inside the sender's protocol address
        let before = f.clone();
        let done = apply(&mut f, 14, &rw);
        assert!(done.invalid && !done.arp, "{done:?}");
        assert_eq!(&f[12..], &before[12..], "payload untouched");
        assert_eq!(&f[6..12], &[2, 0x11, 0x11, 0, 0, 1], "source translated");
        let mut f = arp(1, real, [0; 6], [0xff; 6]);
        assert!(
            !apply(&mut f, 14, &rw).invalid,
            "a readable one is not noted"
        );
    }

    #[test]
    fn without_payload_only_the_header_changes() {
        let real = [0, 0x16, 0x17, 0x6d, 0xb7, 0xcf];
        let mut f = arp(1, real, [0; 6], [0xff; 6]);
        let before = f.clone();
        let rw = Rewrite {
            ops: RewriteOps::SRC,
            src: le("02:11:11:00:00:01"),
            dst: 0,
        };
        apply(&mut f, 14, &rw);
        assert_eq!(&f[12..], &before[12..]);
        // Short frames: nothing past the end is touched, nothing panics.
        for n in 0..40 {
            let mut g = before[..n].to_vec();
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
