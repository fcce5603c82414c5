//! The DHCPv4 server (`moose_control::dhcpd`, in memory) and the frame
//! reader in front of it, on arbitrary input.
//!
//! Input (`arbitrary`): a pool size (1..=64 addresses of 10.0.0.0/24 on
//! VLAN 10) and up to 64 steps. A step is raw bytes as a frame
//! (`client_message`, and what it accepts goes on to `handle`), raw bytes
//! as a message from one of eight clients (on VLAN 10, or another), a
//! message built well formed — any message type, any of the clients, with
//! or without a requested address, server identifier (ours or another),
//! `ciaddr` and broadcast flag, then arbitrary option bytes — or time
//! passing and the server's tick.
//!
//! Checks: nothing panics; `client_message` returns a slice of the frame
//! whose `chaddr` is the MAC it returns; a refusal has a label; every reply
//! decodes with dhcproto as a BOOTREPLY with our server identifier, to the
//! client's `chaddr` and `xid`, and its frame carries checksums that
//! verify; an ACK's lease is in `leases()`; no address is leased to two
//! clients, no client holds two leases, every lease lies in the range; no
//! more offers are held than the bound.
#![no_main]

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use dhcproto::v4::{DhcpOption, Message, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder};
use libfuzzer_sys::fuzz_target;
use moose_config::{DhcpPool, Ipv4Subnet};
use moose_control::dhcpd::{client_message, reply_frame, Reply, ReplyKind, Server};
use moose_wire::{ipv4, udp, EthernetFrame, Mac, Vlan};

const VLAN: u16 = 10;
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

#[derive(Arbitrary, Debug)]
enum Step {
    Frame(Vec<u8>),
    Raw {
        client: u8,
        other_vlan: bool,
        bytes: Vec<u8>,
    },
    Msg {
        kind: u8,
        client: u8,
        requested: Option<u8>,
        server: Option<bool>,
        ciaddr: Option<u8>,
        broadcast: bool,
        tail: Vec<u8>,
    },
    Tick(u16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    size: u8,
    steps: Vec<Step>,
}

fn mac(c: u8) -> Mac {
    Mac([0x00, 0x16, 0x3e, 0, 0, c % 8])
}

fn addr(a: u8) -> Ipv4Addr {
    // 90..=169 straddles every range of 100..=163.
    Ipv4Addr::new(10, 0, 0, 90 + a % 80)
}

/// A client message: fixed part, cookie, type, the chosen options, then
/// `tail` (which may end the options or break them).
fn build(kind: u8, m: Mac, requested: Option<u8>, server: Option<bool>, ciaddr: Option<u8>, broadcast: bool, tail: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 240];
    b[0] = 1;
    b[1] = 1;
    b[2] = 6;
    b[4..8].copy_from_slice(&[0x5e, 0xed, 0, 1]);
    if broadcast {
        b[10] = 0x80;
    }
    if let Some(c) = ciaddr {
        b[12..16].copy_from_slice(&addr(c).octets());
    }
    b[28..34].copy_from_slice(&m.0);
    b[236..240].copy_from_slice(&[99, 130, 83, 99]);
    b.extend_from_slice(&[53, 1, kind % 10]);
    if let Some(r) = requested {
        b.extend_from_slice(&[50, 4]);
        b.extend_from_slice(&addr(r).octets());
    }
    if let Some(ours) = server {
        b.extend_from_slice(&[54, 4]);
        b.extend_from_slice(&(if ours { SERVER } else { Ipv4Addr::new(10, 0, 0, 2) }).octets());
    }
    b.extend_from_slice(&tail[..tail.len().min(300)]);
    b
}

fn check_reply(s: &Server, r: &Reply, m: Mac, payload: &[u8]) {
    let msg = Message::decode(&mut Decoder::new(&r.payload)).expect("our replies decode");
    assert_eq!(msg.opcode(), Opcode::BootReply);
    assert_eq!(&msg.chaddr()[..6], &m.0);
    assert_eq!(r.client, m);
    assert_eq!(msg.xid().to_be_bytes(), payload[4..8]);
    assert_eq!(
        msg.opts().get(OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(SERVER))
    );
    assert_eq!(msg.yiaddr(), r.yiaddr);
    match r.kind {
        ReplyKind::Nak => assert!(r.broadcast && r.lease.is_none()),
        ReplyKind::Ack => {
            if let Some(l) = &r.lease {
                assert_eq!((l.mac, l.ip, l.vlan), (m, r.yiaddr, VLAN));
                assert!(s.leases().any(|x| x == l), "an ACK's lease is held");
            }
        }
        ReplyKind::Offer => assert!(r.lease.is_none()),
    }
    let f = reply_frame(r, Mac([2, 0, 0, 0, 0, 1]), Some(VLAN));
    let eth = EthernetFrame::new_checked(&f[..]).unwrap();
    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum());
    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    assert!(u.verify_checksum_v4(ip.src_addr(), ip.dst_addr()));
    assert_eq!(u.payload(), &r.payload[..]);
}

fn check_leases(s: &Server, first: Ipv4Addr, last: Ipv4Addr) {
    let mut ips = HashSet::new();
    let mut macs = HashSet::new();
    for l in s.leases() {
        assert!(ips.insert(l.ip), "{} leased twice", l.ip);
        assert!(macs.insert((l.vlan, l.mac)), "{} holds two leases", l.mac);
        assert!((first..=last).contains(&l.ip));
    }
    let (held, max) = s.held_offers(VLAN).unwrap();
    assert!(held <= max, "{held} offers held, bound {max}");
}

fuzz_target!(|input: Input| {
    let size = input.size % 64 + 1;
    let (first, last) = (Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 99 + size));
    let pool = DhcpPool {
        vlan: Vlan::new(u32::from(VLAN)).unwrap(),
        subnet: Ipv4Subnet::new(Ipv4Addr::new(10, 0, 0, 0), 24).unwrap(),
        first,
        last,
        router: Some(SERVER),
        dns: vec![Ipv4Addr::new(10, 0, 0, 53)],
        lease: Duration::from_secs(600),
        server: SERVER,
        domain: Some("fuzz.example".into()),
    };
    let mut s = Server::new(&[pool], None).unwrap();
    let mut now: SystemTime = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for step in input.steps.into_iter().take(64) {
        let (vlan, m, payload) = match step {
            Step::Tick(d) => {
                now += Duration::from_secs(u64::from(d % 1200));
                for l in s.expire(now) {
                    assert_eq!(l.vlan, VLAN);
                }
                check_leases(&s, first, last);
                continue;
            }
            Step::Frame(f) => match client_message(&f) {
                Ok((vid, m, p)) => {
                    let start = p.as_ptr() as usize - f.as_ptr() as usize;
                    assert!(start + p.len() <= f.len());
                    assert_eq!(&p[28..34], &m.0);
                    (vid.unwrap_or(VLAN), m, p.to_vec())
                }
                Err(e) => {
                    assert!(!e.label().is_empty());
                    continue;
                }
            },
            Step::Raw { client, other_vlan, bytes } => {
                (if other_vlan { 20 } else { VLAN }, mac(client), bytes)
            }
            Step::Msg { kind, client, requested, server, ciaddr, broadcast, tail } => (
                VLAN,
                mac(client),
                build(kind, mac(client), requested, server, ciaddr, broadcast, &tail),
            ),
        };
        match s.handle(vlan, m, &payload, now) {
            Ok(Some(r)) => check_reply(&s, &r, m, &payload),
            Ok(None) => {}
            Err(e) => assert!(!e.label().is_empty()),
        }
        check_leases(&s, first, last);
    }
});
