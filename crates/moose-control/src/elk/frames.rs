//! What the `elk` service reads from ARP, neighbour discovery and DHCP
//! frames, and the replies and probes it builds. Slow path only; every
//! parser here refuses what is malformed with a reason (a metric label)
//! and never panics.

use std::net::{Ipv4Addr, Ipv6Addr};

use moose_wire::ethernet::{self, EtherType, FrameError};
use moose_wire::{arp, dhcp, ndisc, Mac, VlanTag};

/// A frame the dataplane gave the service, read far enough to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    Arp {
        op: arp::Operation,
        sha: Mac,
        spa: Ipv4Addr,
        tha: Mac,
        tpa: Ipv4Addr,
    },
    /// A neighbour solicitation: from `src` (`::` for duplicate address
    /// detection), for `target`, with the source link-layer option.
    Ns {
        src: Ipv6Addr,
        target: Ipv6Addr,
        lladdr: Option<Mac>,
    },
    /// A neighbour advertisement of `target` (with the target link-layer
    /// option), to `dst`.
    Na {
        dst: Ipv6Addr,
        target: Ipv6Addr,
        lladdr: Option<Mac>,
        solicited: bool,
    },
    /// A DHCPv4 message (`from_server`: UDP source port 67) of `kind`
    /// (option 53), for client `chaddr`, giving `yiaddr`.
    Dhcp {
        from_server: bool,
        kind: Option<dhcp::MessageType>,
        chaddr: Option<Mac>,
        yiaddr: Ipv4Addr,
        /// Where the UDP payload starts in the frame.
        at: usize,
    },
    /// A DHCPv6 message to a client (UDP port 546) of type `kind`, and the
    /// addresses its IA_NA and IA_TA options give with a valid lifetime.
    Dhcp6 { kind: u8, addrs: Vec<Ipv6Addr> },
}

/// DHCPv6 REPLY (RFC 8415 §7.3): the message that confirms addresses.
pub const DHCP6_REPLY: u8 = 7;
/// Most addresses read from one DHCPv6 message.
const MAX_DHCP6_ADDRS: usize = 16;

/// The frame's addresses and tag, and what it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub dst: Mac,
    pub src: Mac,
    pub tag: Option<VlanTag>,
    pub heard: Heard,
}

impl Heard {
    /// `arp` or `nd` (DHCP counts under `arp`: IPv4).
    pub fn family(&self) -> &'static str {
        match self {
            Heard::Ns { .. } | Heard::Na { .. } | Heard::Dhcp6 { .. } => "nd",
            _ => "arp",
        }
    }
}

/// Every reason a frame is refused for (metric labels).
pub const MALFORMED: &[&str] = &[
    "ethernet",
    "arp_truncated",
    "arp_lengths",
    "arp_operation",
    "ipv6_truncated",
    "nd_hop_limit",
    "nd_checksum",
    "nd_options",
    "nd_truncated",
    "ipv4_truncated",
    "udp_truncated",
    "dhcp_truncated",
    "dhcp_options",
    "dhcp6_truncated",
    "dhcp6_options",
    "other",
];

/// Reads a frame the dataplane sent to the `directory` class.
pub fn parse(frame: &[u8]) -> Result<Frame, &'static str> {
    let f = ethernet::parse(frame, usize::MAX).map_err(|e: FrameError| {
        let _ = e;
        "ethernet"
    })?;
    let at = if f.tag.is_some() { 18 } else { 14 };
    let payload = &frame[at..];
    let heard = match f.ethertype {
        EtherType::Arp => {
            let p = arp::Packet::new_checked(payload).map_err(|e| match e {
                moose_wire::WireError::Truncated => "arp_truncated",
                _ => "arp_lengths",
            })?;
            p.check_ethernet_ipv4().map_err(|_| "arp_lengths")?;
            let r = arp::Repr::parse(&p).map_err(|_| "arp_operation")?;
            if !matches!(r.operation, arp::Operation::Request | arp::Operation::Reply) {
                return Err("arp_operation");
            }
            Heard::Arp {
                op: r.operation,
                sha: r.sender_hardware_addr,
                spa: r.sender_protocol_addr,
                tha: r.target_hardware_addr,
                tpa: r.target_protocol_addr,
            }
        }
        EtherType::Ipv6 if payload.get(6) == Some(&17) => dhcp6(payload)?,
        EtherType::Ipv6 => nd(payload)?,
        EtherType::Ipv4 => dhcp_of(payload, at)?,
        _ => return Err("other"),
    };
    Ok(Frame {
        dst: f.dst,
        src: f.src,
        tag: f.tag,
        heard,
    })
}

/// A DHCPv6 message in UDP in IPv6 (no extension headers): its type and
/// the addresses of its IA_NA (3) and IA_TA (4) options' IAADDR (5)
/// options whose valid lifetime is not zero. Every option length is
/// checked against what holds it.
fn dhcp6(ip: &[u8]) -> Result<Heard, &'static str> {
    if ip.len() < 40 || ip[0] >> 4 != 6 {
        return Err("ipv6_truncated");
    }
    let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    if ip.len() < 40 + plen || plen < 8 {
        return Err("ipv6_truncated");
    }
    let udp = &ip[40..40 + plen];
    let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if ulen < 8 || ulen > udp.len() {
        return Err("udp_truncated");
    }
    let msg = &udp[8..ulen];
    if msg.len() < 4 {
        return Err("dhcp6_truncated");
    }
    let kind = msg[0];
    let mut addrs = Vec::new();
    for (code, body) in options6(&msg[4..])? {
        let inner = match code {
            3 if body.len() >= 12 => &body[12..],
            4 if body.len() >= 4 => &body[4..],
            3 | 4 => return Err("dhcp6_options"),
            _ => continue,
        };
        for (c, a) in options6(inner)? {
            if c != 5 {
                continue;
            }
            if a.len() < 24 {
                return Err("dhcp6_options");
            }
            let valid = u32::from_be_bytes([a[20], a[21], a[22], a[23]]);
            if valid > 0 && addrs.len() < MAX_DHCP6_ADDRS {
                addrs.push(Ipv6Addr::from(<[u8; 16]>::try_from(&a[..16]).unwrap()));
            }
        }
    }
    Ok(Heard::Dhcp6 { kind, addrs })
}

/// DHCPv6 options (code, body), each length checked.
fn options6(mut b: &[u8]) -> Result<Vec<(u16, &[u8])>, &'static str> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 4 {
            return Err("dhcp6_options");
        }
        let code = u16::from_be_bytes([b[0], b[1]]);
        let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
        if b.len() < 4 + len {
            return Err("dhcp6_options");
        }
        out.push((code, &b[4..4 + len]));
        b = &b[4 + len..];
    }
    Ok(out)
}

fn nd(ip: &[u8]) -> Result<Heard, &'static str> {
    if ip.len() < 40 || ip[0] >> 4 != 6 {
        return Err("ipv6_truncated");
    }
    let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    if ip.len() < 40 + plen || ip[6] != 58 {
        return Err("ipv6_truncated");
    }
    if ip[7] != 255 {
        return Err("nd_hop_limit");
    }
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).unwrap());
    let icmp = &ip[40..40 + plen];
    let p = ndisc::Packet::new_checked(icmp).map_err(|e| match e {
        moose_wire::WireError::Truncated => "nd_truncated",
        _ => "nd_options",
    })?;
    if !moose_wire::icmpv6::Packet::new_unchecked(icmp).verify_checksum(&src, &dst) {
        return Err("nd_checksum");
    }
    if p.msg_code() != 0 {
        return Err("nd_options");
    }
    ndisc::check_options(p.options()).map_err(|_| "nd_options")?;
    match ndisc::Repr::parse(&p).map_err(|_| "nd_truncated")? {
        ndisc::Repr::NeighborSolicit {
            target_addr,
            lladdr,
        } => {
            if src.is_unspecified() && lladdr.is_some() {
                // RFC 4861 7.1.1: DAD carries no source link-layer option.
                return Err("nd_options");
            }
            Ok(Heard::Ns {
                src,
                target: target_addr,
                lladdr,
            })
        }
        ndisc::Repr::NeighborAdvert {
            flags,
            target_addr,
            lladdr,
        } => Ok(Heard::Na {
            dst,
            target: target_addr,
            lladdr,
            solicited: flags.solicited,
        }),
    }
}

fn dhcp_of(ip: &[u8], at: usize) -> Result<Heard, &'static str> {
    if ip.len() < 20 {
        return Err("ipv4_truncated");
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ihl < 20 || total < ihl + 8 || ip.len() < total {
        return Err("ipv4_truncated");
    }
    let udp = &ip[ihl..total];
    let sport = u16::from_be_bytes([udp[0], udp[1]]);
    let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if ulen < 8 || ulen > udp.len() {
        return Err("udp_truncated");
    }
    let body = &udp[8..ulen];
    let p = dhcp::Packet::new_checked(body).map_err(|_| "dhcp_truncated")?;
    let kind = p.message_type().map_err(|_| "dhcp_options")?;
    Ok(Heard::Dhcp {
        from_server: sport == dhcp::SERVER_PORT,
        kind,
        chaddr: p.client_hw_addr(),
        yiaddr: p.yiaddr(),
        at: at + ihl + 8,
    })
}

fn frame(dst: Mac, src: Mac, tag: Option<VlanTag>, ty: EtherType, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(18 + body.len().max(46));
    let tag = tag.map(|t| VlanTag { pcp: 0, ..t });
    ethernet::emit(&mut f, dst, src, tag, ty, body);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

/// The ARP reply "`ip` is at `moose`" to the requester `to` (real MAC,
/// address `to_ip`), built by the requester's switch.
pub fn arp_reply(
    to: Mac,
    to_ip: Ipv4Addr,
    moose: Mac,
    ip: Ipv4Addr,
    tag: Option<VlanTag>,
) -> Vec<u8> {
    let r = arp::Repr {
        operation: arp::Operation::Reply,
        sender_hardware_addr: moose,
        sender_protocol_addr: ip,
        target_hardware_addr: to,
        target_protocol_addr: to_ip,
    };
    let mut body = vec![0u8; r.buffer_len()];
    r.emit(&mut arp::Packet::new_unchecked(&mut body[..]));
    frame(to, moose, tag, EtherType::Arp, &body)
}

/// A unicast ARP probe from the switch (`own`, sender address 0.0.0.0 as
/// RFC 5227's probes, so no host caches it) to its host at `real` for `ip`.
pub fn arp_probe(real: Mac, own: Mac, ip: Ipv4Addr, tag: Option<VlanTag>) -> Vec<u8> {
    let r = arp::Repr {
        operation: arp::Operation::Request,
        sender_hardware_addr: own,
        sender_protocol_addr: Ipv4Addr::UNSPECIFIED,
        target_hardware_addr: Mac::ZERO,
        target_protocol_addr: ip,
    };
    let mut body = vec![0u8; r.buffer_len()];
    r.emit(&mut arp::Packet::new_unchecked(&mut body[..]));
    frame(real, own, tag, EtherType::Arp, &body)
}

fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, r: &ndisc::Repr) -> Vec<u8> {
    let len = r.buffer_len();
    let mut ip6 = vec![0u8; 40 + len];
    ip6[0] = 0x60;
    ip6[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    ip6[6] = 58;
    ip6[7] = 255;
    ip6[8..24].copy_from_slice(&src.octets());
    ip6[24..40].copy_from_slice(&dst.octets());
    r.emit(
        &src,
        &dst,
        &mut ndisc::Packet::new_unchecked(&mut ip6[40..]),
    );
    ip6
}

/// The solicited neighbour advertisement "`target` is at `moose`" to the
/// requester `to` (real MAC) at `to_ip`.
pub fn na_reply(
    to: Mac,
    to_ip: Ipv6Addr,
    moose: Mac,
    target: Ipv6Addr,
    tag: Option<VlanTag>,
) -> Vec<u8> {
    let r = ndisc::Repr::NeighborAdvert {
        flags: ndisc::NeighborFlags {
            router: false,
            solicited: true,
            override_: true,
        },
        target_addr: target,
        lladdr: Some(moose),
    };
    frame(to, moose, tag, EtherType::Ipv6, &ipv6(target, to_ip, &r))
}

/// A unicast neighbour solicitation probe from the switch to its host:
/// from the unspecified address (so no host caches the switch), which
/// the host answers to all nodes (RFC 4861 7.2.4); the service takes
/// that answer on the host's port and does not pass it on.
pub fn ns_probe(real: Mac, own: Mac, target: Ipv6Addr, tag: Option<VlanTag>) -> Vec<u8> {
    let r = ndisc::Repr::NeighborSolicit {
        target_addr: target,
        lladdr: None,
    };
    let dst = solicited_node(target);
    frame(
        real,
        own,
        tag,
        EtherType::Ipv6,
        &ipv6(Ipv6Addr::UNSPECIFIED, dst, &r),
    )
}

/// ff02::1:ffXX:XXXX of `a`.
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(s: &str) -> Mac {
        s.parse().unwrap()
    }

    #[test]
    fn replies_parse_back() {
        let tag = Some(VlanTag {
            vid: 10,
            pcp: 0,
            dei: false,
        });
        let f = arp_reply(
            mac("00:16:3e:00:00:01"),
            "10.0.0.1".parse().unwrap(),
            mac("02:11:11:00:00:02"),
            "10.0.0.2".parse().unwrap(),
            tag,
        );
        let p = parse(&f).unwrap();
        assert_eq!(p.dst, mac("00:16:3e:00:00:01"));
        assert_eq!(p.tag.map(|t| t.vid), Some(10));
        assert_eq!(
            p.heard,
            Heard::Arp {
                op: arp::Operation::Reply,
                sha: mac("02:11:11:00:00:02"),
                spa: "10.0.0.2".parse().unwrap(),
                tha: mac("00:16:3e:00:00:01"),
                tpa: "10.0.0.1".parse().unwrap(),
            }
        );
        let f = na_reply(
            mac("00:16:3e:00:00:01"),
            "fd00::1".parse().unwrap(),
            mac("02:11:11:00:00:02"),
            "fd00::2".parse().unwrap(),
            None,
        );
        assert_eq!(
            parse(&f).unwrap().heard,
            Heard::Na {
                dst: "fd00::1".parse().unwrap(),
                target: "fd00::2".parse().unwrap(),
                lladdr: Some(mac("02:11:11:00:00:02")),
                solicited: true,
            }
        );
        let f = ns_probe(
            mac("00:16:3e:00:00:01"),
            mac("02:11:11:00:00:00"),
            "fd00::1".parse().unwrap(),
            None,
        );
        assert!(matches!(
            parse(&f).unwrap().heard,
            Heard::Ns { lladdr: None, .. }
        ));
        let f = arp_probe(
            mac("00:16:3e:00:00:01"),
            mac("02:11:11:00:00:00"),
            "10.0.0.1".parse().unwrap(),
            None,
        );
        assert!(matches!(
            parse(&f).unwrap().heard,
            Heard::Arp { spa, .. } if spa.is_unspecified()
        ));
    }

    #[test]
    fn malformed_frames_are_refused_with_a_reason() {
        let good = arp_reply(
            mac("00:16:3e:00:00:01"),
            "10.0.0.1".parse().unwrap(),
            mac("02:11:11:00:00:02"),
            "10.0.0.2".parse().unwrap(),
            None,
        );
        let mut bad = good.clone();
        bad[18] = 4; // hardware length 4
        assert_eq!(parse(&bad), Err("arp_lengths"));
        assert_eq!(parse(&good[..30]), Err("arp_truncated"));
        let na = na_reply(
            mac("00:16:3e:00:00:01"),
            "fd00::1".parse().unwrap(),
            mac("02:11:11:00:00:02"),
            "fd00::2".parse().unwrap(),
            None,
        );
        let mut bad = na.clone();
        bad[14 + 7] = 64;
        assert_eq!(parse(&bad), Err("nd_hop_limit"));
        let mut bad = na.clone();
        bad[14 + 40 + 8] ^= 1; // target changed, checksum not
        assert_eq!(parse(&bad), Err("nd_checksum"));
        for n in 0..na.len() {
            let _ = parse(&na[..n]);
            let _ = parse(&good[..n.min(good.len())]);
        }
    }
}

#[cfg(test)]
mod dhcp6_tests {
    use super::*;

    /// An Ethernet + IPv6 + UDP (547 → 546) frame around `msg`.
    fn frame(msg: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd];
        let ulen = 8 + msg.len();
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(ulen as u16).to_be_bytes());
        f.extend_from_slice(&[17, 64]);
        f.extend_from_slice(&[0; 32]);
        f.extend_from_slice(&547u16.to_be_bytes());
        f.extend_from_slice(&546u16.to_be_bytes());
        f.extend_from_slice(&(ulen as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(msg);
        f
    }

    fn opt(code: u16, body: &[u8]) -> Vec<u8> {
        let mut o = code.to_be_bytes().to_vec();
        o.extend_from_slice(&(body.len() as u16).to_be_bytes());
        o.extend_from_slice(body);
        o
    }

    fn iaaddr(a: &str, valid: u32) -> Vec<u8> {
        let ip: Ipv6Addr = a.parse().unwrap();
        let mut b = ip.octets().to_vec();
        b.extend_from_slice(&100u32.to_be_bytes());
        b.extend_from_slice(&valid.to_be_bytes());
        opt(5, &b)
    }

    #[test]
    fn a_reply_gives_its_addresses_with_a_lifetime() {
        let mut ia = vec![0, 0, 0, 1, 0, 0, 0, 50, 0, 0, 0, 80];
        ia.extend(iaaddr("fd00::100", 3600));
        ia.extend(iaaddr("fd00::101", 0));
        let mut ta = vec![0, 0, 0, 2];
        ta.extend(iaaddr("fd00::200", 60));
        let mut msg = vec![DHCP6_REPLY, 1, 2, 3];
        msg.extend(opt(1, &[0, 1, 0, 1, 9, 9, 9, 9]));
        msg.extend(opt(3, &ia));
        msg.extend(opt(4, &ta));
        let p = parse(&frame(&msg)).unwrap();
        assert_eq!(
            p.heard,
            Heard::Dhcp6 {
                kind: DHCP6_REPLY,
                addrs: vec!["fd00::100".parse().unwrap(), "fd00::200".parse().unwrap()],
            }
        );
    }

    #[test]
    fn malformed_dhcp6_is_refused_by_reason() {
        let mut msg = vec![DHCP6_REPLY, 1, 2, 3];
        msg.extend(opt(3, &[0, 0, 0, 1]));
        assert_eq!(parse(&frame(&msg)), Err("dhcp6_options"), "a short IA_NA");
        let mut msg = vec![DHCP6_REPLY, 1, 2, 3, 0, 3, 0, 40, 0];
        msg.push(0);
        assert_eq!(
            parse(&frame(&msg)),
            Err("dhcp6_options"),
            "an option past the end"
        );
        let mut ia = vec![0; 12];
        ia.extend(opt(5, &[0; 10]));
        let mut msg = vec![DHCP6_REPLY, 1, 2, 3];
        msg.extend(opt(3, &ia));
        assert_eq!(parse(&frame(&msg)), Err("dhcp6_options"), "a short IAADDR");
        assert_eq!(parse(&frame(&[7, 1])), Err("dhcp6_truncated"));
        let mut f = frame(&[7, 1, 2, 3]);
        f.truncate(f.len() - 6);
        assert_eq!(parse(&f), Err("ipv6_truncated"));
    }
}
