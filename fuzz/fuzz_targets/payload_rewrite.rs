//! The payload rewriters of `moose_wire::rewrite` (`arp_hw`, `nd_lla`,
//! `dhcp_chaddr`) and `classify` on arbitrary frames, header lengths and
//! addresses, against an oracle written here from the RFCs.
//!
//! The input frame is first, by `shape`, left as it is or made to look
//! like Ethernet/IPv4 ARP, an IPv6 neighbour discovery message or an IPv4
//! UDP DHCP message (EtherType, version, lengths, next header / protocol,
//! ports, htype/hlen; a DHCP frame is mostly grown to DHCP's minimum
//! length), with `old` planted in some link-layer address
//! options, the ARP fields or `chaddr`, and the checksum made right or
//! left as it is (or, for UDP, 0).
//!
//! Checks, for every rewriter: no panic; the same length; the output is
//! exactly the oracle's (the input with each address the oracle finds equal
//! to `old` replaced by `new`) except for the checksum field; the outcome's
//! count is the oracle's (a client's DHCP request also loses its
//! broadcast flag; DHCP options must walk to their end), and a frame the oracle does not accept comes back
//! untouched as `Other`/`Invalid`; a checksum that was right (computed from
//! scratch here) is right after, one that was wrong is wrong after, and a
//! UDP checksum of 0 stays 0; `classify` names the kind of every frame a
//! rewriter changed, and a frame it calls `Other` is never rewritten.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use moose_wire::rewrite::{arp_hw, classify, dhcp_chaddr, nd_lla, ArpField, Outcome, Payload};
use moose_wire::Mac;

#[derive(Debug, Arbitrary)]
struct Input {
    hl: u8,
    shape: u8,
    /// Bits: which candidate fields get `old` planted.
    plant: u16,
    /// 0: leave the checksum; 1: make it right; 2: UDP 0.
    fix: u8,
    kind: u8,
    old: [u8; 6],
    new: [u8; 6],
    frame: Vec<u8>,
}

const ARP_PREFIX: [u8; 6] = [0, 1, 8, 0, 6, 4];

fn be16(b: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([b[0], b[1]]))
}

fn put16(b: &mut [u8], v: usize) {
    b[..2].copy_from_slice(&(v as u16).to_be_bytes());
}

fn valid_hl(hl: usize) -> bool {
    matches!(hl, 14 | 18 | 22)
}

/// The naive Internet checksum sum over some byte slices, each starting at
/// an even offset of the whole.
fn sum(parts: &[&[u8]]) -> u16 {
    let mut acc: u64 = 0;
    for p in parts {
        for (i, &b) in p.iter().enumerate() {
            acc += if i % 2 == 0 {
                u64::from(b) << 8
            } else {
                u64::from(b)
            };
        }
    }
    while acc > 0xffff {
        acc = (acc >> 16) + (acc & 0xffff);
    }
    acc as u16
}

// ----- the oracle: where each message keeps the addresses -------------

/// `Some(positions)` of the ARP field equal to `old`, if the frame is
/// Ethernet/IPv4 ARP.
fn oracle_arp(f: &[u8], hl: usize, old: Mac, target: bool) -> Option<Vec<usize>> {
    if !valid_hl(hl) || f.len() < hl + 28 || f[hl - 2..hl] != [8, 6] || f[hl..hl + 6] != ARP_PREFIX
    {
        return None;
    }
    let at = hl + if target { 18 } else { 8 };
    Some(if f[at..at + 6] == old.0 {
        vec![at]
    } else {
        vec![]
    })
}

/// The ICMPv6 message of an ND frame: (start, end) in the frame.
fn nd_msg(f: &[u8], hl: usize) -> Option<(usize, usize)> {
    if !valid_hl(hl) || f.len() < hl + 40 || f[hl - 2..hl] != [0x86, 0xdd] {
        return None;
    }
    let l3 = &f[hl..];
    if l3[0] >> 4 != 6 || l3[6] != 58 {
        return None;
    }
    let end = 40 + be16(&l3[4..6]);
    if end > l3.len() || end < 44 {
        return None;
    }
    Some((hl + 40, hl + end))
}

fn nd_options_start(t: u8) -> Option<usize> {
    match t {
        133 => Some(8),
        134 => Some(16),
        135 | 136 => Some(24),
        137 => Some(40),
        _ => None,
    }
}

/// `Some(positions)` of the Ethernet link-layer address options' addresses
/// equal to `old` (all if `old` is `None`), if the frame is a valid ND
/// message.
fn oracle_nd(f: &[u8], hl: usize, old: Option<Mac>) -> Option<Vec<usize>> {
    let (s, e) = nd_msg(f, hl)?;
    let m = &f[s..e];
    let mut i = nd_options_start(m[0])?;
    if m.len() < i {
        return None;
    }
    let mut out = vec![];
    while i < m.len() {
        if i + 1 >= m.len() {
            return None;
        }
        let l = usize::from(m[i + 1]) * 8;
        if l == 0 || i + l > m.len() {
            return None;
        }
        if (m[i] == 1 || m[i] == 2) && l == 8 && old.is_none_or(|o| m[i + 2..i + 8] == o.0) {
            out.push(s + i + 2);
        }
        i += l;
    }
    Some(out)
}

fn nd_checksum_ok(f: &[u8], hl: usize) -> bool {
    let (s, e) = nd_msg(f, hl).unwrap();
    let ip = &f[hl..];
    let len = ((e - s) as u32).to_be_bytes();
    sum(&[&ip[8..40], &len, &[0, 0, 0, 58], &f[s..e]]) == 0xffff
}

/// The UDP datagram of an unfragmented IPv4 UDP frame between ports
/// 67/68: (ip start, udp start, udp end) in the frame.
fn dhcp_udp(f: &[u8], hl: usize) -> Option<(usize, usize, usize)> {
    if !valid_hl(hl) || f.len() < hl + 20 || f[hl - 2..hl] != [8, 0] {
        return None;
    }
    let l3 = &f[hl..];
    let ihl = usize::from(l3[0] & 15) * 4;
    let total = be16(&l3[2..4]);
    if l3[0] >> 4 != 4 || ihl < 20 || total < ihl || total > l3.len() {
        return None;
    }
    if l3[9] != 17 || be16(&l3[6..8]) & 0x3fff != 0 {
        return None;
    }
    let u = &l3[ihl..total];
    if u.len() < 8 {
        return None;
    }
    let ulen = be16(&u[4..6]);
    let port = |p: usize| p == 67 || p == 68;
    if ulen < 8 || ulen > u.len() || !port(be16(&u[0..2])) || !port(be16(&u[2..4])) {
        return None;
    }
    Some((hl, hl + ihl, hl + ihl + ulen))
}

fn oracle_dhcp(f: &[u8], hl: usize, old: Mac) -> Option<Vec<usize>> {
    let (_, u, e) = dhcp_udp(f, hl)?;
    let d = &f[u + 8..e];
    if d.len() < 240 || d[1] != 1 || d[2] != 6 {
        return None;
    }
    // With the magic cookie, the options must walk to their end (pad,
    // end, or code-length-data inside the message).
    if d[236..240] == [99, 130, 83, 99] {
        let mut i = 240;
        while i < d.len() {
            match d[i] {
                0 => i += 1,
                255 => break,
                _ => {
                    if i + 1 >= d.len() || i + 2 + usize::from(d[i + 1]) > d.len() {
                        return None;
                    }
                    i += 2 + usize::from(d[i + 1]);
                }
            }
        }
    }
    let at = u + 8 + 28;
    Some(if f[at..at + 6] == old.0 {
        vec![at]
    } else {
        vec![]
    })
}

/// A client's request whose chaddr is replaced has its broadcast flag
/// cleared: the flags' first octet and what it becomes.
fn dhcp_flag_patch(f: &[u8], hl: usize, old: Mac, new: Mac) -> Vec<(usize, u8)> {
    let Some((_, u, _)) = dhcp_udp(f, hl) else {
        return vec![];
    };
    let at = u + 8 + 10;
    if at < f.len() && old != new && f[u + 8] == 1 && f[at] & 0x80 != 0 {
        vec![(at, f[at] & 0x7f)]
    } else {
        vec![]
    }
}

/// Right, or 0 ("none").
fn udp_checksum_ok(f: &[u8], hl: usize) -> bool {
    let (ip, u, e) = dhcp_udp(f, hl).unwrap();
    if f[u + 6..u + 8] == [0, 0] {
        return true;
    }
    let len = ((e - u) as u16).to_be_bytes();
    sum(&[&f[ip + 12..ip + 20], &[0, 17], &len, &f[u..e]]) == 0xffff
}

// ----- shaping arbitrary bytes into plausible frames -------------------

fn shape_arp(f: &mut [u8], hl: usize, inp: &Input) {
    if let Some(b) = f.get_mut(hl..hl + 6) {
        b.copy_from_slice(&ARP_PREFIX);
    }
    for (bit, at) in [(1, hl + 8), (2, hl + 18)] {
        if inp.plant & bit != 0 {
            if let Some(b) = f.get_mut(at..at + 6) {
                b.copy_from_slice(&inp.old);
            }
        }
    }
}

fn shape_nd(f: &mut [u8], hl: usize, inp: &Input) {
    if f.len() < hl + 44 {
        return;
    }
    let avail = f.len() - hl - 40;
    f[hl] = 0x60 | (f[hl] & 0x0f);
    if inp.plant & 0x8000 == 0 {
        // A payload length that fits (sometimes leaving padding).
        let pl = avail - usize::from(inp.kind >> 4).min(avail - 4);
        put16(&mut f[hl + 4..], pl);
    }
    f[hl + 6] = 58;
    f[hl + 40] = 133 + inp.kind % 5;
    // Plant `old` in the link-layer address options the oracle sees.
    if let Some(pos) = oracle_nd(f, hl, None) {
        for (i, at) in pos.into_iter().enumerate() {
            if inp.plant & (1 << (i % 15)) != 0 {
                f[at..at + 6].copy_from_slice(&inp.old);
            }
        }
    }
    if inp.fix == 1 && nd_msg(f, hl).is_some() {
        let (s, _) = nd_msg(f, hl).unwrap();
        f[s + 2..s + 4].fill(0);
        let c = !{
            let (s, e) = nd_msg(f, hl).unwrap();
            let len = ((e - s) as u32).to_be_bytes();
            sum(&[&f[hl + 8..hl + 40], &len, &[0, 0, 0, 58], &f[s..e]])
        };
        put16(&mut f[s + 2..], usize::from(c));
    }
}

fn shape_dhcp(f: &mut Vec<u8>, hl: usize, inp: &Input) {
    // A DHCP message is long: grow short frames to the minimum (zero
    // options), mostly.
    let min = hl + 20 + 8 + 240;
    if f.len() < min && inp.plant & 0x2000 == 0 {
        f.resize(min + usize::from(inp.kind >> 4), 0);
    }
    if f.len() < min {
        return;
    }
    let l3len = (f.len() - hl).min(0xffff);
    f[hl] = 0x45;
    if inp.plant & 0x8000 == 0 {
        put16(&mut f[hl + 2..], l3len);
        put16(&mut f[hl + 24..], l3len - 20);
    }
    f[hl + 6] &= 0xc0;
    f[hl + 7] = 0;
    f[hl + 9] = 17;
    let ports = [[68, 67], [67, 68], [67, 67], [68, 68]][usize::from(inp.kind % 4)];
    put16(&mut f[hl + 20..], ports[0]);
    put16(&mut f[hl + 22..], ports[1]);
    let d = hl + 28;
    if inp.plant & 0x4000 == 0 {
        f[d + 1] = 1;
        f[d + 2] = 6;
    }
    if inp.plant & 1 != 0 {
        f[d + 28..d + 34].copy_from_slice(&inp.old);
    }
    if let (1 | 2, Some((ip, u, e))) = (inp.fix, dhcp_udp(f, hl)) {
        f[u + 6..u + 8].fill(0);
        if inp.fix == 1 {
            let len = ((e - u) as u16).to_be_bytes();
            let mut c = !sum(&[&f[ip + 12..ip + 20], &[0, 17], &len, &f[u..e]]);
            if c == 0 {
                c = 0xffff;
            }
            put16(&mut f[u + 6..], usize::from(c));
        }
    }
}

// ----- the checks -------------------------------------------------------

#[derive(Copy, Clone, PartialEq)]
enum Ck {
    None,
    Nd,
    Udp,
}

fn check(
    name: &str,
    input: &[u8],
    hl: usize,
    new: Mac,
    oracle: Option<Vec<usize>>,
    ck: Ck,
    also: &[(usize, u8)],
    rw: impl Fn(&mut [u8]) -> Outcome,
) -> Outcome {
    let mut out = input.to_vec();
    let got = rw(&mut out);
    assert_eq!(out.len(), input.len(), "{name}: length");
    let Some(pos) = oracle else {
        assert!(
            matches!(got, Outcome::Other | Outcome::Invalid(_)),
            "{name}: oracle refuses, got {got:?}"
        );
        assert_eq!(out, input, "{name}: refused frame changed");
        return got;
    };
    if pos.is_empty() {
        assert_eq!(got, Outcome::NoMatch, "{name}");
        assert_eq!(out, input, "{name}: no match but changed");
        return got;
    }
    assert_eq!(got, Outcome::Rewritten(pos.len()), "{name}");
    let mut want = input.to_vec();
    for &at in &pos {
        want[at..at + 6].copy_from_slice(&new.0);
    }
    for &(at, v) in also {
        want[at] = v;
    }
    let ck_at = match ck {
        Ck::None => None,
        Ck::Nd => Some(nd_msg(input, hl).unwrap().0 + 2),
        Ck::Udp => Some(dhcp_udp(input, hl).unwrap().1 + 6),
    };
    for i in 0..out.len() {
        if ck_at.is_some_and(|c| i == c || i == c + 1) {
            continue;
        }
        assert_eq!(out[i], want[i], "{name}: byte {i}");
    }
    match ck {
        Ck::None => {}
        Ck::Nd => assert_eq!(
            nd_checksum_ok(input, hl),
            nd_checksum_ok(&out, hl),
            "{name}: checksum"
        ),
        Ck::Udp => {
            let c = ck_at.unwrap();
            let zero = |f: &[u8]| f[c..c + 2] == [0, 0];
            assert_eq!(zero(input), zero(&out), "{name}: UDP 0 stays 0");
            assert_eq!(
                udp_checksum_ok(input, hl),
                udp_checksum_ok(&out, hl),
                "{name}: checksum"
            );
        }
    }
    got
}

fuzz_target!(|inp: Input| {
    let hl = match inp.hl % 8 {
        0..=2 => 14,
        3 | 4 => 18,
        5 => 22,
        _ => usize::from(inp.hl >> 3),
    };
    let mut f = inp.frame.clone();
    let ethertype = match inp.shape % 4 {
        1 => Some([8, 6]),
        2 => Some([0x86, 0xdd]),
        3 => Some([8, 0]),
        _ => None,
    };
    if let (Some(et), Some(b)) = (ethertype, hl.checked_sub(2).and_then(|s| f.get_mut(s..hl))) {
        b.copy_from_slice(&et);
        match inp.shape % 4 {
            1 => shape_arp(&mut f, hl, &inp),
            2 => shape_nd(&mut f, hl, &inp),
            _ => shape_dhcp(&mut f, hl, &inp),
        }
    }
    let (old, new) = (Mac(inp.old), Mac(inp.new));
    let class = classify(&f, hl);

    let outs = [
        (
            check(
                "arp sender",
                &f,
                hl,
                new,
                oracle_arp(&f, hl, old, false),
                Ck::None,
                &[],
                |g| arp_hw(g, hl, old, new, ArpField::Sender),
            ),
            matches!(class, Payload::Arp),
        ),
        (
            check(
                "arp target",
                &f,
                hl,
                new,
                oracle_arp(&f, hl, old, true),
                Ck::None,
                &[],
                |g| arp_hw(g, hl, old, new, ArpField::Target),
            ),
            matches!(class, Payload::Arp),
        ),
        (
            check(
                "nd",
                &f,
                hl,
                new,
                oracle_nd(&f, hl, Some(old)),
                Ck::Nd,
                &[],
                |g| nd_lla(g, hl, old, new),
            ),
            matches!(class, Payload::Ndisc(_)),
        ),
        (
            check(
                "dhcp",
                &f,
                hl,
                new,
                oracle_dhcp(&f, hl, old),
                Ck::Udp,
                &dhcp_flag_patch(&f, hl, old, new),
                |g| dhcp_chaddr(g, hl, old, new),
            ),
            matches!(class, Payload::Dhcp),
        ),
    ];
    for (out, classified) in outs {
        if matches!(out, Outcome::Rewritten(_) | Outcome::NoMatch) {
            assert!(
                classified,
                "classify said {class:?} for a frame a rewriter read ({out:?})"
            );
        }
    }
    if let Payload::Ndisc(k) = class {
        assert_eq!(133 + k as u8, f[hl + 40]);
    }
});
