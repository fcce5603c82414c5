//! In-place rewrites of the host MAC addresses carried inside frames'
//! payloads, for the dataplane's mover: frames from a host get the host's
//! MOOSE address in place of its own (`old` = the host's MAC, `new` = its
//! MOOSE address), frames to the host get it back (the other way round).
//!
//! Every function takes the whole Ethernet frame and the length of its
//! Ethernet header (14, 18 with one tag, 22 with two), and
//!
//! * never panics and never changes the frame's length;
//! * changes no byte but the address it replaces and the checksum it then
//!   fixes (incrementally, RFC 1624: a checksum that was right stays right,
//!   one that was wrong stays wrong, a UDP checksum of 0 stays 0);
//! * leaves a frame it cannot read untouched, and says why in its
//!   [`Outcome`].
//!
//! [`classify`] tells cheaply which of them, if any, a frame needs.

use crate::arp;
use crate::checksum;
use crate::dhcp;
use crate::error::WireError;
use crate::icmpv6;
use crate::ip::IpProtocol;
use crate::ipv4;
use crate::ipv6;
use crate::mac::Mac;
use crate::ndisc::{self, NdOptionIter};
use crate::udp;

const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];
const ETHERTYPE_IPV6: [u8; 2] = [0x86, 0xdd];

/// What a rewrite did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// This many addresses equalled `old` and now read `new` (if `old ==
    /// new`, nothing was written).
    Rewritten(usize),
    /// A well-formed message of the right kind, but no address in it
    /// equals `old`. Untouched.
    NoMatch,
    /// Not the kind of message the function rewrites (another EtherType,
    /// IP protocol, next header, ICMPv6 type or UDP port, or an IPv4
    /// fragment). Untouched.
    Other,
    /// It claims to be the right kind but cannot be read (truncated, bad
    /// lengths or options, unsupported hardware type, bad header length).
    /// Untouched.
    Invalid(WireError),
}

impl Outcome {
    /// Whether an address was replaced.
    #[inline]
    pub fn rewritten(self) -> bool {
        matches!(self, Outcome::Rewritten(_))
    }
}

/// Which hardware address of an ARP message.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ArpField {
    Sender,
    Target,
}

/// Which neighbour discovery message.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum NdKind {
    RouterSolicit,
    RouterAdvert,
    NeighborSolicit,
    NeighborAdvert,
    Redirect,
}

impl NdKind {
    #[inline]
    fn from_type(t: u8) -> Option<NdKind> {
        match t {
            133 => Some(NdKind::RouterSolicit),
            134 => Some(NdKind::RouterAdvert),
            135 => Some(NdKind::NeighborSolicit),
            136 => Some(NdKind::NeighborAdvert),
            137 => Some(NdKind::Redirect),
            _ => None,
        }
    }
}

/// A frame's payload, as far as the rewriters care.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Payload {
    /// Ethernet/IPv4 ARP: [`arp_hw`].
    Arp,
    /// An ICMPv6 neighbour discovery message right after the IPv6 header:
    /// [`nd_lla`].
    Ndisc(NdKind),
    /// An unfragmented IPv4 UDP datagram between ports 67 and 68: [`dhcp_chaddr`].
    Dhcp,
    /// Nothing to rewrite.
    Other,
}

/// Says from a few octets which rewriter a frame needs, for the fast path:
/// the EtherType after a header of `hl` octets, then for ARP the hardware
/// and protocol types and lengths, for IPv6 the next header and ICMPv6
/// type, for IPv4 the protocol, fragment bits and UDP ports. It does not
/// validate lengths or options (the rewriters do), so a frame classified
/// as ARP, ND or DHCP may still come back [`Outcome::Invalid`]; a frame
/// classified [`Payload::Other`] always comes back [`Outcome::Other`] or
/// `Invalid`. Never panics.
#[inline]
pub fn classify(frame: &[u8], hl: usize) -> Payload {
    if !valid_hl(hl) {
        return Payload::Other;
    }
    let Some(l3) = frame.get(hl..) else {
        return Payload::Other;
    };
    match [frame[hl - 2], frame[hl - 1]] {
        // Every ARP frame: one that is truncated or of another hardware
        // type comes back `Invalid` from [`arp_hw`], and is counted so.
        ETHERTYPE_ARP => Payload::Arp,
        ETHERTYPE_IPV6 => match (l3.get(6), l3.get(ipv6::HEADER_LEN)) {
            (Some(&icmpv6::NEXT_HEADER), Some(&t)) => {
                NdKind::from_type(t).map_or(Payload::Other, Payload::Ndisc)
            }
            _ => Payload::Other,
        },
        ETHERTYPE_IPV4 => {
            let Some(&vihl) = l3.first() else {
                return Payload::Other;
            };
            let ihl = usize::from(vihl & 0x0f) * 4;
            let (Some(&proto), Some(frag), Some(ports)) =
                (l3.get(9), l3.get(6..8), l3.get(ihl..ihl + 4))
            else {
                return Payload::Other;
            };
            let is_dhcp_port = |p: &[u8]| p == [0, 67] || p == [0, 68];
            if vihl >> 4 == 4
                && ihl >= ipv4::MIN_HEADER_LEN
                && proto == 17
                && frag[0] & 0x3f == 0
                && frag[1] == 0
                && is_dhcp_port(&ports[..2])
                && is_dhcp_port(&ports[2..])
            {
                Payload::Dhcp
            } else {
                Payload::Other
            }
        }
        _ => Payload::Other,
    }
}

/// A cheap first test for the fast path: false only if [`classify`]
/// would say [`Payload::Other`] — the EtherType is none of ARP, IPv4 and
/// IPv6, an IPv6 next header is not ICMPv6, or an IPv4 datagram is not UDP
/// to port 67 or 68 — read from at most the 12 octets after the header
/// and the UDP destination port. A frame too short to tell passes, and
/// [`classify`] decides.
#[inline]
pub fn may_carry(frame: &[u8], hl: usize) -> bool {
    let Some(w) = frame
        .get(hl.wrapping_sub(2)..)
        .and_then(|s| s.first_chunk::<12>())
    else {
        return true;
    };
    match [w[0], w[1]] {
        ETHERTYPE_ARP => true,
        ETHERTYPE_IPV6 => w[8] == icmpv6::NEXT_HEADER,
        ETHERTYPE_IPV4 => {
            if w[11] != 17 {
                return false;
            }
            let at = hl + usize::from(w[2] & 0x0f) * 4 + 2;
            match frame.get(at..at + 2) {
                Some(p) => p == [0, 67] || p == [0, 68],
                None => true,
            }
        }
        _ => false,
    }
}

#[inline]
fn valid_hl(hl: usize) -> bool {
    matches!(hl, 14 | 18 | 22)
}

/// The network-layer bytes of a frame whose EtherType is `ethertype`.
#[inline]
fn l3_of(frame: &mut [u8], hl: usize, ethertype: [u8; 2]) -> Result<&mut [u8], Outcome> {
    if !valid_hl(hl) {
        return Err(Outcome::Invalid(WireError::BadHeaderLen));
    }
    if frame.len() < hl {
        return Err(Outcome::Invalid(WireError::Truncated));
    }
    if frame[hl - 2..hl] != ethertype {
        return Err(Outcome::Other);
    }
    Ok(&mut frame[hl..])
}

/// Replaces the sender (or target) hardware address of an Ethernet/IPv4
/// ARP message with `new` if it is `old`. ARP has no checksum. Other
/// hardware or protocol types are [`WireError::Unsupported`].
pub fn arp_hw(frame: &mut [u8], hl: usize, old: Mac, new: Mac, which: ArpField) -> Outcome {
    let l3 = match l3_of(frame, hl, ETHERTYPE_ARP) {
        Ok(l3) => l3,
        Err(o) => return o,
    };
    let mut p = match arp::Packet::new_checked(l3) {
        Ok(p) => p,
        Err(e) => return Outcome::Invalid(e),
    };
    let cur = match which {
        ArpField::Sender => p.sender_hardware_addr(),
        ArpField::Target => p.target_hardware_addr(),
    };
    if cur != old {
        return Outcome::NoMatch;
    }
    if old != new {
        match which {
            ArpField::Sender => p.set_sender_hardware_addr(new),
            ArpField::Target => p.set_target_hardware_addr(new),
        }
    }
    Outcome::Rewritten(1)
}

/// In an IPv6 neighbour discovery message (RS, RA, NS, NA, redirect; the
/// ICMPv6 header right after the IPv6 header, no extension headers),
/// replaces every Ethernet source or target link-layer address option
/// equal to `old` with `new`, fixing the ICMPv6 checksum. A message with an
/// invalid option (RFC 4861 §4.6) is [`Outcome::Invalid`] and untouched.
pub fn nd_lla(frame: &mut [u8], hl: usize, old: Mac, new: Mac) -> Outcome {
    let l3 = match l3_of(frame, hl, ETHERTYPE_IPV6) {
        Ok(l3) => l3,
        Err(o) => return o,
    };
    let ip = match ipv6::Packet::new_checked(&*l3) {
        Ok(ip) => ip,
        Err(e) => return Outcome::Invalid(e),
    };
    if ip.next_header() != IpProtocol::Icmpv6 {
        return Outcome::Other;
    }
    let end = ipv6::HEADER_LEN + usize::from(ip.payload_len());
    let msg = &mut l3[ipv6::HEADER_LEN..end];
    let start = match ndisc::Packet::new_checked(&*msg) {
        Ok(p) => p.options_offset(),
        Err(WireError::WrongType) => return Outcome::Other,
        Err(e) => return Outcome::Invalid(e),
    };
    // The options were all checked; walk them again from each match on,
    // writing as we go.
    let mut n = 0;
    let mut cursor = start;
    loop {
        let hit = msg.get(cursor..).and_then(|rest| {
            NdOptionIter::new(rest)
                .map_while(Result::ok)
                .find(|o| o.link_layer_addr() == Some(old))
                .map(|o| (o.offset(), o.len()))
        });
        let Some((off, len)) = hit else { break };
        let at = cursor + off + ndisc::LLADDR_OFFSET;
        if old != new {
            write_and_fix(
                msg,
                icmpv6::CHECKSUM_OFFSET,
                at,
                &old.0,
                &new.0,
                checksum::update,
            );
        }
        n += 1;
        cursor += off + len;
    }
    if n == 0 {
        Outcome::NoMatch
    } else {
        Outcome::Rewritten(n)
    }
}

/// In an IPv4 UDP DHCP (or BOOTP) message between ports 67 and 68 with an
/// Ethernet hardware address (htype 1, hlen 6), replaces `chaddr` with
/// `new` if it is `old`, fixing the UDP checksum (a checksum of 0, "none",
/// stays 0). In a client's request whose `chaddr` is replaced, the
/// broadcast flag is cleared too (same checksum fix). Other hardware types
/// are [`WireError::Unsupported`]; options
/// that run past the message are [`WireError::BadOption`].
pub fn dhcp_chaddr(frame: &mut [u8], hl: usize, old: Mac, new: Mac) -> Outcome {
    let l3 = match l3_of(frame, hl, ETHERTYPE_IPV4) {
        Ok(l3) => l3,
        Err(o) => return o,
    };
    let ip = match ipv4::Packet::new_checked(&*l3) {
        Ok(ip) => ip,
        Err(e) => return Outcome::Invalid(e),
    };
    if ip.protocol() != IpProtocol::Udp || ip.is_fragment() {
        return Outcome::Other;
    }
    let (ihl, total) = (ip.header_len(), usize::from(ip.total_len()));
    let dgram = &mut l3[ihl..total];
    let u = match udp::Packet::new_checked(&*dgram) {
        Ok(u) => u,
        Err(e) => return Outcome::Invalid(e),
    };
    let dhcp_port = |p| p == dhcp::SERVER_PORT || p == dhcp::CLIENT_PORT;
    if !dhcp_port(u.src_port()) || !dhcp_port(u.dst_port()) {
        return Outcome::Other;
    }
    let ulen = usize::from(u.len());
    let d = match dhcp::Packet::new_checked(&dgram[udp::HEADER_LEN..ulen]) {
        Ok(d) => d,
        Err(e) => return Outcome::Invalid(e),
    };
    // A DHCP message (with the cookie) whose options cannot be walked is
    // left for the server to refuse, untouched: its chaddr would name an
    // address the client may never see restored.
    if let Ok(mut opts) = d.options() {
        if opts.any(|o| o.is_err()) {
            return Outcome::Invalid(WireError::BadOption);
        }
    }
    match d.client_hw_addr() {
        None => return Outcome::Invalid(WireError::Unsupported),
        Some(m) if m != old => return Outcome::NoMatch,
        Some(_) => {}
    }
    let flags = d.flags();
    let clear_broadcast = d.op() == dhcp::OpCode::Request && flags & dhcp::FLAG_BROADCAST != 0;
    if old != new {
        let at = udp::HEADER_LEN + dhcp::CHADDR_OFFSET;
        write_and_fix(
            &mut dgram[..ulen],
            udp::CHECKSUM_OFFSET,
            at,
            &old.0,
            &new.0,
            udp::update_checksum,
        );
        // A reply broadcast to a translated client would name it by its
        // MOOSE chaddr, which no switch restores in a broadcast: asking for
        // a unicast reply lets the client's home switch restore both the
        // destination and chaddr on the way out. (Clients that set the bit
        // — Windows does by default — receive the unicast reply: it is
        // addressed to their real MAC.)
        if clear_broadcast {
            let old_flags = flags.to_be_bytes();
            let new_flags = (flags & !dhcp::FLAG_BROADCAST).to_be_bytes();
            write_and_fix(
                &mut dgram[..ulen],
                udp::CHECKSUM_OFFSET,
                udp::HEADER_LEN + dhcp::FLAGS_OFFSET,
                &old_flags,
                &new_flags,
                udp::update_checksum,
            );
        }
    }
    Outcome::Rewritten(1)
}

/// Writes `new` over `old` at `at` of `data`, which is checksummed from
/// its start with the field at `ck`, and updates the field with `fix`.
/// The caller has checked that both ranges lie in `data`.
#[inline]
fn write_and_fix(
    data: &mut [u8],
    ck: usize,
    at: usize,
    old: &[u8],
    new: &[u8],
    fix: fn(u16, usize, &[u8], &[u8]) -> u16,
) {
    let (Some(field), true) = (data.get(ck..ck + 2), at + new.len() <= data.len()) else {
        return;
    };
    let c = fix(u16::from_be_bytes([field[0], field[1]]), at, old, new);
    data[at..at + new.len()].copy_from_slice(new);
    data[ck..ck + 2].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::icmpv6::Message;
    use crate::ndisc::NdOptionType;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const HOST: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    const MOOSE: Mac = Mac([0x02, 0x00, 0x0a, 0x00, 0x01, 0x07]);
    const OTHER: Mac = Mac([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]);

    fn eth(tagged: bool, ethertype: [u8; 2], payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&HOST.0);
        if tagged {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
        }
        f.extend_from_slice(&ethertype);
        f.extend_from_slice(payload);
        f
    }

    fn hl(tagged: bool) -> usize {
        if tagged {
            18
        } else {
            14
        }
    }

    /// Indices where two frames differ.
    fn diff(a: &[u8], b: &[u8]) -> Vec<usize> {
        assert_eq!(a.len(), b.len());
        (0..a.len()).filter(|&i| a[i] != b[i]).collect()
    }

    // scapy: ARP(hwsrc=HOST, psrc="192.168.1.1", pdst="192.168.1.2"), padded to 46.
    fn arp_request(tagged: bool) -> Vec<u8> {
        let mut p = hex("0001080006040001 525400123456 c0a80101 000000000000 c0a80102");
        p.resize(46, 0);
        eth(tagged, ETHERTYPE_ARP, &p)
    }

    fn ipv6(src: &str, dst: &str, icmp: &[u8]) -> Vec<u8> {
        let mut b = vec![0x60, 0, 0, 0];
        b.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
        b.extend_from_slice(&[58, 255]);
        b.extend_from_slice(&src.parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(&dst.parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(icmp);
        b
    }

    // scapy: IPv6(src="fe80::1", dst="ff02::1:ff00:2")/ICMPv6ND_NS(tgt="fe80::2")/
    // ICMPv6NDOptSrcLLAddr(lladdr=HOST), and the same with lladdr=MOOSE.
    const NS_HOST: &str = "8700 f5db 00000000 fe800000000000000000000000000002 0101 525400123456";
    const NS_MOOSE: &str = "8700 6f91 00000000 fe800000000000000000000000000002 0101 02000a000107";

    // scapy: IP(src="0.0.0.0", dst="255.255.255.255")/UDP(sport=68, dport=67)/
    // BOOTP(chaddr=HOST, xid=0x12345678, flags=0x8000)/DHCP(options=[
    // ("message-type", "discover"), ("client_id", b"\x01" + HOST),
    // ("param_req_list", [1, 3, 6]), "end"]); UDP checksum 0xcd02, or
    // 0x46b8 with chaddr=MOOSE.
    fn dhcp_discover(tagged: bool) -> Vec<u8> {
        let mut b = hex("4500011e00010000401179cf00000000ffffffff 00440043010acd02
             01010600 12345678 0000 8000 00000000 00000000 00000000 00000000
             52540012345600000000000000000000");
        b.resize(20 + 8 + 236, 0);
        b.extend(hex("63825363 350101 3d0701525400123456 3703010306 ff"));
        assert_eq!(b.len(), 286);
        eth(tagged, ETHERTYPE_IPV4, &b)
    }

    #[test]
    fn arp_rewrites_and_restores() {
        for tagged in [false, true] {
            let h = hl(tagged);
            let orig = arp_request(tagged);
            let mut f = orig.clone();
            assert_eq!(classify(&f, h), Payload::Arp);
            assert_eq!(
                arp_hw(&mut f, h, HOST, MOOSE, ArpField::Sender),
                Outcome::Rewritten(1)
            );
            assert_eq!(&f[h + 8..h + 14], &MOOSE.0);
            assert_eq!(diff(&f, &orig), (h + 8..h + 14).collect::<Vec<_>>());
            // The target is all-zero, not HOST; the sender is no longer HOST.
            assert_eq!(
                arp_hw(&mut f, h, HOST, MOOSE, ArpField::Target),
                Outcome::NoMatch
            );
            assert_eq!(
                arp_hw(&mut f, h, HOST, MOOSE, ArpField::Sender),
                Outcome::NoMatch
            );
            assert_eq!(
                arp_hw(&mut f, h, MOOSE, HOST, ArpField::Sender),
                Outcome::Rewritten(1)
            );
            assert_eq!(f, orig);
            // A reply to the host: the target is its MOOSE address.
            let mut r = orig.clone();
            r[h + 18..h + 24].copy_from_slice(&MOOSE.0);
            assert_eq!(
                arp_hw(&mut r, h, MOOSE, HOST, ArpField::Target),
                Outcome::Rewritten(1)
            );
            assert_eq!(&r[h + 18..h + 24], &HOST.0);
        }
    }

    #[test]
    fn arp_refuses() {
        let orig = arp_request(false);
        let mut f = orig.clone();
        f[15] = 6; // htype 6
        let g = f.clone();
        assert_eq!(
            classify(&f, 14),
            Payload::Arp,
            "counted as invalid by arp_hw"
        );
        assert_eq!(
            arp_hw(&mut f, 14, HOST, MOOSE, ArpField::Sender),
            Outcome::Invalid(WireError::Unsupported)
        );
        assert_eq!(f, g);
        let mut f = orig[..14 + 27].to_vec();
        assert_eq!(
            arp_hw(&mut f, 14, HOST, MOOSE, ArpField::Sender),
            Outcome::Invalid(WireError::Truncated)
        );
        let mut f = orig.clone();
        assert_eq!(
            arp_hw(&mut f, 18, HOST, MOOSE, ArpField::Sender),
            Outcome::Other
        );
        assert_eq!(
            arp_hw(&mut f, 16, HOST, MOOSE, ArpField::Sender),
            Outcome::Invalid(WireError::BadHeaderLen)
        );
        assert_eq!(
            arp_hw(&mut f[..10], 14, HOST, MOOSE, ArpField::Sender),
            Outcome::Invalid(WireError::Truncated)
        );
        assert_eq!(f, orig);
    }

    #[test]
    fn ns_matches_scapy() {
        for tagged in [false, true] {
            let h = hl(tagged);
            let from_host = eth(
                tagged,
                ETHERTYPE_IPV6,
                &ipv6("fe80::1", "ff02::1:ff00:2", &hex(NS_HOST)),
            );
            let from_moose = eth(
                tagged,
                ETHERTYPE_IPV6,
                &ipv6("fe80::1", "ff02::1:ff00:2", &hex(NS_MOOSE)),
            );
            let mut f = from_host.clone();
            assert_eq!(classify(&f, h), Payload::Ndisc(NdKind::NeighborSolicit));
            assert_eq!(nd_lla(&mut f, h, HOST, MOOSE), Outcome::Rewritten(1));
            assert_eq!(f, from_moose, "byte for byte what scapy builds");
            assert_eq!(nd_lla(&mut f, h, HOST, MOOSE), Outcome::NoMatch);
            assert_eq!(nd_lla(&mut f, h, MOOSE, HOST), Outcome::Rewritten(1));
            assert_eq!(f, from_host);
        }
    }

    #[test]
    fn ra_with_two_matches_and_other_options() {
        // An RA with SLLA(HOST), MTU, SLLA(OTHER), a 16-octet link-layer
        // option (not Ethernet), SLLA(HOST); checksum filled from scratch.
        let mut icmp = hex("8600 0000 40 00 0708 00007530 000003e8");
        icmp.extend(hex(
            "0101 525400123456 0501 0000 000005dc 0101 525400abcdef",
        ));
        icmp.extend(hex("0102 525400123456 0000000000000000 0201 525400123456"));
        let (s, d): (Ipv6Addr, Ipv6Addr) = ("fe80::2".parse().unwrap(), "ff02::1".parse().unwrap());
        icmpv6::Packet::new_unchecked(&mut icmp[..]).fill_checksum(&s, &d);
        let orig = eth(false, ETHERTYPE_IPV6, &ipv6("fe80::2", "ff02::1", &icmp));
        let mut f = orig.clone();
        assert_eq!(nd_lla(&mut f, 14, HOST, MOOSE), Outcome::Rewritten(2));
        let m = 14 + 40;
        let changed = diff(&f, &orig);
        assert!(changed.iter().all(|&i| (m + 2..m + 4).contains(&i)
            || (m + 18..m + 24).contains(&i)
            || (m + 58..m + 64).contains(&i)));
        let p = ndisc::Packet::new_checked(&f[m..]).unwrap();
        assert!(p.verify_checksum(&s, &d));
        let lla: Vec<_> = p
            .option_iter()
            .filter_map(|o| o.unwrap().link_layer_addr())
            .collect();
        assert_eq!(lla, [MOOSE, OTHER, MOOSE]);
        let _ = NdOptionType::Mtu;
    }

    #[test]
    fn nd_refuses() {
        let good = eth(
            false,
            ETHERTYPE_IPV6,
            &ipv6("fe80::1", "ff02::1:ff00:2", &hex(NS_HOST)),
        );
        let check = |f: &mut Vec<u8>, want: Outcome| {
            let before = f.clone();
            assert_eq!(nd_lla(f, 14, HOST, MOOSE), want);
            assert_eq!(*f, before);
        };
        // Option length 0.
        let mut f = good.clone();
        f[14 + 40 + 25] = 0;
        check(&mut f, Outcome::Invalid(WireError::BadOption));
        // Payload length beyond the frame.
        let mut f = good.clone();
        f[14 + 5] += 1;
        check(&mut f, Outcome::Invalid(WireError::Truncated));
        // Payload length cutting the option: it runs past the end.
        let mut f = good.clone();
        f[14 + 5] -= 1;
        check(&mut f, Outcome::Invalid(WireError::BadOption));
        // An echo request, a hop-by-hop header, UDP, IPv4.
        let mut f = good.clone();
        f[14 + 40] = 128;
        assert_eq!(classify(&f, 14), Payload::Other);
        check(&mut f, Outcome::Other);
        let mut f = good.clone();
        f[14 + 6] = 0;
        check(&mut f, Outcome::Other);
        let mut f = good.clone();
        f[12] = 0x08;
        f[13] = 0x00;
        check(&mut f, Outcome::Other);
        let mut f = good.clone();
        f[14] = 0x40;
        check(&mut f, Outcome::Invalid(WireError::BadVersion));
        // Ethernet padding after the message is not an option.
        let mut f = good.clone();
        f.extend([1, 1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(nd_lla(&mut f, 14, HOST, MOOSE), Outcome::Rewritten(1));
        assert_eq!(&f[f.len() - 6..], &HOST.0);
    }

    #[test]
    fn dhcp_matches_scapy() {
        for tagged in [false, true] {
            let h = hl(tagged);
            let orig = dhcp_discover(tagged);
            let mut f = orig.clone();
            assert_eq!(classify(&f, h), Payload::Dhcp);
            assert_eq!(dhcp_chaddr(&mut f, h, HOST, MOOSE), Outcome::Rewritten(1));
            let u = h + 20;
            assert_eq!(
                &f[u + 6..u + 8],
                &[0xc6, 0xb8],
                "scapy's checksum for chaddr=MOOSE, flags=0"
            );
            assert_eq!(&f[u + 36..u + 42], &MOOSE.0);
            assert_eq!(&f[u + 18..u + 20], &[0, 0], "broadcast flag cleared");
            let mut want: Vec<usize> = (u + 6..u + 8).collect();
            want.push(u + 18);
            want.extend(u + 36..u + 42);
            assert_eq!(diff(&f, &orig), want);
            assert_eq!(dhcp_chaddr(&mut f, h, HOST, MOOSE), Outcome::NoMatch);
            assert_eq!(dhcp_chaddr(&mut f, h, MOOSE, HOST), Outcome::Rewritten(1));
            let mut without_flag = orig.clone();
            without_flag[u + 18] = 0;
            assert_eq!(&f[u + 8..], &without_flag[u + 8..], "chaddr restored");
            assert!(udp_checksum_ok(&f, h));

            // A reply keeps its flags: only a client's request asks.
            let mut r = orig.clone();
            r[u + 8] = 2; // BOOTREPLY
            let r0 = r.clone();
            assert_eq!(dhcp_chaddr(&mut r, h, HOST, MOOSE), Outcome::Rewritten(1));
            assert_eq!(&r[u + 18..u + 20], &r0[u + 18..u + 20]);
        }
    }

    #[test]
    fn dhcp_zero_checksum_and_refusals() {
        let mut f = dhcp_discover(false);
        f[14 + 26] = 0;
        f[14 + 27] = 0;
        assert_eq!(dhcp_chaddr(&mut f, 14, HOST, MOOSE), Outcome::Rewritten(1));
        assert_eq!(
            &f[14 + 26..14 + 28],
            &[0, 0],
            "no checksum stays no checksum"
        );

        let good = dhcp_discover(false);
        let check = |f: &mut Vec<u8>, want: Outcome| {
            let before = f.clone();
            assert_eq!(dhcp_chaddr(f, 14, HOST, MOOSE), want);
            assert_eq!(*f, before);
        };
        let mut f = good.clone();
        f[14 + 20 + 8 + 1] = 6; // htype IEEE 802
        check(&mut f, Outcome::Invalid(WireError::Unsupported));
        let mut f = good.clone();
        f[14 + 20 + 3] = 53; // DNS
        assert_eq!(classify(&f, 14), Payload::Other);
        check(&mut f, Outcome::Other);
        let mut f = good.clone();
        f[14 + 6] = 0x20; // more fragments
        assert_eq!(classify(&f, 14), Payload::Other);
        check(&mut f, Outcome::Other);
        let mut f = good.clone();
        f[14 + 9] = 6; // TCP
        check(&mut f, Outcome::Other);
        let mut f = good.clone();
        f[14 + 20 + 5] = 0xf0; // UDP length 0x01f0 > IP payload
        check(&mut f, Outcome::Invalid(WireError::Truncated));
        let mut f = good.clone();
        f[14 + 20 + 4] = 0;
        f[14 + 20 + 5] = 200; // UDP length too short for DHCP
        check(&mut f, Outcome::Invalid(WireError::Truncated));
        let mut f = good.clone();
        f.truncate(200);
        check(&mut f, Outcome::Invalid(WireError::Truncated));
        let mut f = good.clone();
        let n = f.len();
        f[n - 2] = 61; // a last option whose length octet runs off the end
        f[n - 1] = 1;
        check(&mut f, Outcome::Invalid(WireError::BadOption));
    }

    #[test]
    fn classify_edges() {
        assert_eq!(classify(&[], 14), Payload::Other);
        assert_eq!(classify(&[0; 13], 14), Payload::Other);
        assert_eq!(classify(&arp_request(false), 0), Payload::Other);
        assert_eq!(classify(&arp_request(false)[..14 + 27], 14), Payload::Arp);
        let mut f = dhcp_discover(false);
        f[14] = 0x46; // options: the ports move
        assert_eq!(classify(&f, 14), Payload::Other);
        let kinds = [133u8, 134, 135, 136, 137].map(NdKind::from_type);
        assert!(kinds.iter().all(Option::is_some));
    }

    /// A valid ND message of a random type and options, with some
    /// link-layer options set to `old`.
    fn arb_nd() -> impl Strategy<Value = (Vec<u8>, Mac)> {
        let opt = prop_oneof![
            any::<[u8; 6]>().prop_map(|m| (1u8, m.to_vec(), false)),
            any::<[u8; 6]>().prop_map(|m| (2u8, m.to_vec(), false)),
            Just((1u8, vec![], true)),
            Just((2u8, vec![], true)),
            (3u8..=250, proptest::collection::vec(any::<u8>(), 0..3)).prop_map(|(t, units)| (
                t,
                vec![0; 6 + 8 * units.len()],
                false
            )),
        ];
        (
            133u8..=137,
            proptest::collection::vec(opt, 0..6),
            any::<[u8; 6]>(),
            any::<[u8; 16]>(),
            any::<bool>(),
        )
            .prop_map(|(t, opts, old, src, tagged)| {
                let old = Mac(old);
                let mut icmp = vec![t, 0, 0, 0];
                icmp.resize(ndisc::options_offset(Message::from(t)).unwrap(), 0x11);
                for (ty, mut data, is_old) in opts {
                    if is_old {
                        data = old.0.to_vec();
                    }
                    icmp.push(ty);
                    icmp.push(((data.len() + 2) / 8) as u8);
                    icmp.extend_from_slice(&data);
                }
                let s = Ipv6Addr::from(src);
                let d: Ipv6Addr = "ff02::1".parse().unwrap();
                icmpv6::Packet::new_unchecked(&mut icmp[..]).fill_checksum(&s, &d);
                let mut ip = ipv6(&s.to_string(), "ff02::1", &icmp);
                ip.extend_from_slice(&[0xee; 3]); // padding
                (eth(tagged, ETHERTYPE_IPV6, &ip), old)
            })
    }

    fn nd_checksum_ok(f: &[u8], h: usize) -> bool {
        let ip = ipv6::Packet::new_checked(&f[h..]).unwrap();
        icmpv6::Packet::new_checked(ip.payload())
            .unwrap()
            .verify_checksum(&ip.src_addr(), &ip.dst_addr())
    }

    fn udp_checksum_ok(f: &[u8], h: usize) -> bool {
        let ip = ipv4::Packet::new_checked(&f[h..]).unwrap();
        udp::Packet::new_checked(ip.payload())
            .unwrap()
            .verify_checksum_v4(ip.src_addr(), ip.dst_addr())
    }

    /// Frames near the ones `classify` takes: one of its EtherTypes after
    /// a header of any length, then octets biased to the values it tests.
    fn arb_near_payload() -> impl Strategy<Value = (Vec<u8>, usize)> {
        let octet = prop_oneof![
            Just(0u8),
            Just(17),
            Just(58),
            Just(67),
            Just(68),
            Just(0x45),
            Just(0x46),
            Just(135),
            any::<u8>()
        ];
        (
            0usize..26,
            prop_oneof![
                Just([0x08u8, 0x00]),
                Just([0x08, 0x06]),
                Just([0x86, 0xdd]),
                any::<[u8; 2]>()
            ],
            proptest::collection::vec(octet, 0..80),
        )
            .prop_map(|(hl, et, body)| {
                let mut f = vec![2u8; hl.saturating_sub(2)];
                f.extend_from_slice(&et);
                f.extend_from_slice(&body);
                (f, hl)
            })
    }

    #[test]
    fn may_carry_passes_over_plain_traffic() {
        let mut udp = vec![0u8; 12];
        udp.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17]);
        udp.resize(60, 0);
        udp[14 + 22..14 + 24].copy_from_slice(&9u16.to_be_bytes());
        assert!(!may_carry(&udp, 14), "UDP to port 9");
        udp[14 + 22..14 + 24].copy_from_slice(&67u16.to_be_bytes());
        assert!(may_carry(&udp, 14), "UDP to port 67");
        udp[14 + 9] = 6;
        assert!(!may_carry(&udp, 14), "TCP");
    }

    proptest! {
        /// The fast test never hides a frame `classify` would rewrite.
        #[test]
        fn may_carry_covers_classify((f, hl) in arb_near_payload()) {
            if classify(&f, hl) != Payload::Other {
                prop_assert!(may_carry(&f, hl), "{:?} at {}", classify(&f, hl), hl);
            }
        }

        #[test]
        fn nd_rewrite_keeps_checksum((f, old) in arb_nd(), new in any::<[u8; 6]>()) {
            let new = Mac(new);
            let h = if f[12] == 0x81 { 18 } else { 14 };
            prop_assert!(nd_checksum_ok(&f, h));
            let expected = ndisc::Packet::new_checked(&f[h + 40..f.len() - 3]).unwrap()
                .option_iter().filter(|o| o.unwrap().link_layer_addr() == Some(old)).count();
            let mut g = f.clone();
            let out = nd_lla(&mut g, h, old, new);
            prop_assert_eq!(out, if expected == 0 { Outcome::NoMatch } else { Outcome::Rewritten(expected) });
            prop_assert!(nd_checksum_ok(&g, h));
            prop_assert_eq!(&g[..h + 42], &f[..h + 42]);
            prop_assert_eq!(&g[g.len() - 3..], &[0xee; 3]);
            // Back again: the same frame, byte for byte, unless the checksum
            // changed encoding (0x0000 and 0xffff are one value).
            if old != new && expected > 0 {
                prop_assert_eq!(nd_lla(&mut g, h, new, old), Outcome::Rewritten(expected));
                let ck = |x: &[u8]| u16::from_be_bytes([x[h + 42], x[h + 43]]);
                prop_assert!(ck(&g) == ck(&f) || matches!((ck(&g), ck(&f)), (0, 0xffff) | (0xffff, 0)));
                prop_assert_eq!(&g[h + 44..], &f[h + 44..]);
            }
        }

        #[test]
        fn dhcp_rewrite_keeps_checksum(
            tagged in any::<bool>(),
            body in proptest::collection::vec(any::<u8>(), 0..40),
            xid in any::<u32>(),
            src in any::<[u8; 4]>(),
            new in any::<[u8; 6]>(),
            zero in any::<bool>(),
        ) {
            let h = hl(tagged);
            let mut f = dhcp_discover(tagged);
            f[h + 12..h + 16].copy_from_slice(&src);
            f[h + 32..h + 36].copy_from_slice(&xid.to_be_bytes());
            f.extend_from_slice(&body);
            let total = (f.len() - h) as u16;
            f[h + 2..h + 4].copy_from_slice(&total.to_be_bytes());
            f[h + 24..h + 26].copy_from_slice(&(total - 20).to_be_bytes());
            {
                let mut ip = ipv4::Packet::new_checked(&mut f[h..]).unwrap();
                ip.fill_checksum();
                let (s, d) = (ip.src_addr(), ip.dst_addr());
                let mut u = udp::Packet::new_checked(ip.payload_mut()).unwrap();
                if zero { u.set_checksum(0) } else { u.fill_checksum_v4(s, d) }
            }
            prop_assert!(udp_checksum_ok(&f, h));
            let mut g = f.clone();
            prop_assert_eq!(dhcp_chaddr(&mut g, h, HOST, Mac(new)), Outcome::Rewritten(1));
            prop_assert!(udp_checksum_ok(&g, h));
            prop_assert!(ipv4::Packet::new_checked(&g[h..]).unwrap().verify_checksum());
            let ck = u16::from_be_bytes([g[h + 26], g[h + 27]]);
            prop_assert_eq!(ck == 0, zero);
            for i in diff(&f, &g) {
                prop_assert!((h + 26..h + 28).contains(&i) || i == h + 38 || (h + 56..h + 62).contains(&i), "byte {} changed", i);
            }
        }

        /// On arbitrary bytes (shaped a little towards each protocol) and
        /// any header length, nothing panics, the length stays, and a frame
        /// that is not rewritten is untouched.
        #[test]
        fn rewriters_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..120),
            hl in prop_oneof![Just(14usize), Just(18), Just(22), 0usize..30],
            shape in 0u8..4,
            old in any::<[u8; 6]>(),
            new in any::<[u8; 6]>(),
        ) {
            let mut data = data;
            if let Some(et) = data.get_mut(hl.saturating_sub(2)..hl) {
                if et.len() == 2 {
                    et.copy_from_slice(&[ETHERTYPE_ARP, ETHERTYPE_IPV6, ETHERTYPE_IPV4, [0x88, 0xcc]][usize::from(shape)]);
                }
            }
            let (old, new) = (Mac(old), Mac(new));
            let _ = classify(&data, hl);
            type Rw = fn(&mut [u8], usize, Mac, Mac) -> Outcome;
            let rws: [Rw; 4] = [
                |f, h, o, n| arp_hw(f, h, o, n, ArpField::Sender),
                |f, h, o, n| arp_hw(f, h, o, n, ArpField::Target),
                nd_lla,
                dhcp_chaddr,
            ];
            for rw in rws {
                let mut g = data.clone();
                let out = rw(&mut g, hl, old, new);
                prop_assert_eq!(g.len(), data.len());
                if !out.rewritten() {
                    prop_assert_eq!(&g, &data);
                }
            }
        }
    }

    #[test]
    fn addresses_are_std() {
        // The views speak std::net types.
        let f = dhcp_discover(false);
        let ip = ipv4::Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(ip.dst_addr(), Ipv4Addr::BROADCAST);
    }
}
