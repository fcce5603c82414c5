//! The frames around DHCP messages: reading a client's (Ethernet, optional
//! 802.1Q tag, IPv4, UDP to port 67) and building the server's reply.
//! Both are built on moose-wire's checked views, so untrusted input never
//! panics.

use std::net::Ipv4Addr;

use moose_wire::ethernet::{self, EtherType, EthernetFrame, VlanTag};
use moose_wire::{dhcp, ipv4, udp, IpProtocol, Mac, WireError};

use super::{Refusal, Reply};

fn wire(e: WireError) -> Refusal {
    match e {
        WireError::Truncated => Refusal::Truncated,
        WireError::BadLength => Refusal::BadLength,
        _ => Refusal::NotDhcp,
    }
}

/// Reads a whole Ethernet frame far enough to say it is a DHCPv4 client
/// message — IPv4 (right header checksum, not a fragment), UDP to port 67
/// (right checksum, or none), a DHCP message of at least 240 octets with an
/// Ethernet `chaddr` equal to the frame's source — and returns its outer
/// VLAN tag's id (0: a priority tag; `None`: untagged), the client's MAC
/// and the UDP payload. Anything else is refused with the reason.
pub fn client_message(frame: &[u8]) -> Result<(Option<u16>, Mac, &[u8]), Refusal> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| Refusal::Truncated)?;
    if eth.ethertype() != EtherType::Ipv4 {
        return Err(Refusal::NotDhcp);
    }
    let vid = eth.vlan_tag().map(|t| t.vid);
    let src = eth.src();
    let ip_at = eth.header_len();
    let ip = ipv4::Packet::new_checked(&frame[ip_at..]).map_err(wire)?;
    if !ip.verify_checksum() {
        return Err(Refusal::BadChecksum);
    }
    if ip.is_fragment() || ip.protocol() != IpProtocol::Udp {
        return Err(Refusal::NotDhcp);
    }
    // new_checked saw the header and the total length fit.
    let at = ip_at + ip.header_len();
    let ip_end = ip_at + usize::from(ip.total_len());
    let (s, d) = (ip.src_addr(), ip.dst_addr());
    let u = udp::Packet::new_checked(&frame[at..ip_end]).map_err(wire)?;
    if u.dst_port() != dhcp::SERVER_PORT {
        return Err(Refusal::NotDhcp);
    }
    if !u.verify_checksum_v4(s, d) {
        return Err(Refusal::BadChecksum);
    }
    let payload = &frame[at + udp::HEADER_LEN..at + usize::from(u.len())];
    let p = dhcp::Packet::new_checked(payload).map_err(|_| Refusal::Truncated)?;
    let mac = p.client_hw_addr().ok_or(Refusal::BadHardware)?;
    if mac != src {
        return Err(Refusal::ChaddrMismatch);
    }
    Ok((vid, mac, payload))
}

/// TTL of replies.
const TTL: u8 = 64;

/// Builds the whole frame of a reply: from `server_mac` and the reply's
/// server address, to the client's MAC and the reply's destination (or
/// `ff:ff:ff:ff:ff:ff` and 255.255.255.255 when it is broadcast), UDP 67 →
/// 68, with an 802.1Q tag of `vid` if given; both checksums filled.
pub fn reply_frame(r: &Reply, server_mac: Mac, vid: Option<u16>) -> Vec<u8> {
    let (dst_mac, dst_ip) = if r.broadcast {
        (Mac::BROADCAST, Ipv4Addr::BROADCAST)
    } else {
        (r.client, r.to)
    };
    let udp_len = udp::HEADER_LEN + r.payload.len();
    let total = ipv4::MIN_HEADER_LEN + udp_len;
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, TTL, 17, 0, 0]);
    p.extend_from_slice(&r.server.octets());
    p.extend_from_slice(&dst_ip.octets());
    p.extend_from_slice(&dhcp::SERVER_PORT.to_be_bytes());
    p.extend_from_slice(&dhcp::CLIENT_PORT.to_be_bytes());
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&r.payload);
    let mut ip = ipv4::Packet::new_unchecked(&mut p[..]);
    ip.fill_checksum();
    udp::Packet::new_unchecked(ip.payload_mut()).fill_checksum_v4(r.server, dst_ip);
    let tag = vid.map(|vid| VlanTag {
        vid,
        pcp: 0,
        dei: false,
    });
    let mut out = Vec::with_capacity(ethernet::TAGGED_HEADER_LEN + total);
    ethernet::emit(&mut out, dst_mac, server_mac, tag, EtherType::Ipv4, &p);
    out
}
