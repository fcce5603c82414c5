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

/// What to do with one frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Action {
    pub to: To,
    pub rewrite: Rewrite,
}

impl Action {
    #[inline]
    pub const fn to(to: To) -> Action {
        Action {
            to,
            rewrite: Rewrite::NONE,
        }
    }

    #[inline]
    pub const fn drop(r: DropReason) -> Action {
        Action::to(To::Drop(r))
    }

    #[inline]
    pub const fn port(p: PortId) -> Action {
        Action::to(To::Port(p))
    }

    #[inline]
    pub const fn punt(c: PuntClass) -> Action {
        Action::to(To::Punt(c))
    }

    #[inline]
    pub const fn flood(mask: u64, unknown: bool) -> Action {
        Action::to(To::Flood { mask, unknown })
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
    fn action_is_small() {
        assert!(std::mem::size_of::<Action>() <= 40);
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
