//! The server as its clients see it: messages built with dhcproto the way
//! a client builds them, replies decoded with dhcproto and read option by
//! option.

use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use moose_config::{DhcpPool, Ipv4Subnet};
use moose_wire::{Mac, Vlan};
use proptest::prelude::*;

use super::*;

const VLAN: u16 = 10;
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const OTHER_SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 53);

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, last)
}

/// 10.0.0.0/24 on VLAN 10, leasing 10.0.0.100 and the `size - 1` after it.
fn pool(size: u8) -> DhcpPool {
    DhcpPool {
        vlan: Vlan::new(u32::from(VLAN)).unwrap(),
        subnet: Ipv4Subnet::new(Ipv4Addr::new(10, 0, 0, 0), 24).unwrap(),
        first: ip(100),
        last: ip(100 + size - 1),
        router: Some(SERVER),
        dns: vec![DNS, Ipv4Addr::new(9, 9, 9, 9)],
        lease: Duration::from_secs(3600),
        server: SERVER,
        domain: Some("lab.example".into()),
    }
}

fn server(size: u8) -> Server {
    Server::new(&[pool(size)], None).unwrap()
}

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn secs(s: u64) -> SystemTime {
    t0() + Duration::from_secs(s)
}

fn mac(n: u16) -> Mac {
    let [a, b] = n.to_be_bytes();
    Mac([0x00, 0x16, 0x3e, 0x01, a, b])
}

/// A client message as a DHCP client builds it.
fn message(kind: MessageType, m: Mac, f: impl FnOnce(&mut Message)) -> Vec<u8> {
    let z = Ipv4Addr::UNSPECIFIED;
    let mut msg = Message::new_with_id(0x5eed_0001, z, z, z, z, &m.0);
    msg.opts_mut().insert(DhcpOption::MessageType(kind));
    msg.opts_mut().insert(DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::Router,
        OptionCode::DomainNameServer,
        OptionCode::DomainName,
    ]));
    f(&mut msg);
    let mut buf = Vec::new();
    msg.encode(&mut Encoder::new(&mut buf)).unwrap();
    buf
}

fn discover(m: Mac) -> Vec<u8> {
    message(MessageType::Discover, m, |_| {})
}

fn discover_for(m: Mac, want: Ipv4Addr) -> Vec<u8> {
    message(MessageType::Discover, m, |msg| {
        msg.opts_mut().insert(DhcpOption::RequestedIpAddress(want));
    })
}

/// SELECTING: server identifier and requested address, no `ciaddr`.
fn select(m: Mac, want: Ipv4Addr, server: Ipv4Addr) -> Vec<u8> {
    message(MessageType::Request, m, |msg| {
        msg.opts_mut().insert(DhcpOption::RequestedIpAddress(want));
        msg.opts_mut().insert(DhcpOption::ServerIdentifier(server));
    })
}

/// INIT-REBOOT: requested address only.
fn reboot(m: Mac, want: Ipv4Addr) -> Vec<u8> {
    message(MessageType::Request, m, |msg| {
        msg.opts_mut().insert(DhcpOption::RequestedIpAddress(want));
    })
}

/// RENEWING / REBINDING: `ciaddr` only.
fn renew(m: Mac, have: Ipv4Addr) -> Vec<u8> {
    message(MessageType::Request, m, |msg| {
        msg.set_ciaddr(have);
    })
}

fn release(m: Mac, have: Ipv4Addr) -> Vec<u8> {
    message(MessageType::Release, m, |msg| {
        msg.set_ciaddr(have);
        msg.opts_mut().insert(DhcpOption::ServerIdentifier(SERVER));
    })
}

fn decline(m: Mac, bad: Ipv4Addr) -> Vec<u8> {
    message(MessageType::Decline, m, |msg| {
        msg.opts_mut().insert(DhcpOption::RequestedIpAddress(bad));
        msg.opts_mut().insert(DhcpOption::ServerIdentifier(SERVER));
    })
}

fn decode(r: &Reply) -> Message {
    Message::decode(&mut Decoder::new(&r.payload)).unwrap()
}

fn opt(msg: &Message, c: OptionCode) -> Option<&DhcpOption> {
    msg.opts().get(c)
}

fn handle(s: &mut Server, m: Mac, payload: &[u8], now: SystemTime) -> Option<Reply> {
    let r = s.handle(VLAN, m, payload, now).unwrap();
    s.check();
    r
}

/// DISCOVER, OFFER, REQUEST, ACK: the address acknowledged.
fn dora(s: &mut Server, m: Mac, now: SystemTime) -> Option<Ipv4Addr> {
    let offer = handle(s, m, &discover(m), now)?;
    assert_eq!(offer.kind, ReplyKind::Offer);
    let ack = handle(s, m, &select(m, offer.yiaddr, SERVER), now)?;
    (ack.kind == ReplyKind::Ack).then_some(ack.yiaddr)
}

/// Every option of an OFFER or ACK of a lease.
fn check_lease_options(msg: &Message, kind: MessageType) {
    assert_eq!(msg.opts().msg_type(), Some(kind));
    assert_eq!(
        opt(msg, OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(SERVER))
    );
    assert_eq!(
        opt(msg, OptionCode::AddressLeaseTime),
        Some(&DhcpOption::AddressLeaseTime(3600))
    );
    assert_eq!(
        opt(msg, OptionCode::Renewal),
        Some(&DhcpOption::Renewal(1800))
    );
    assert_eq!(
        opt(msg, OptionCode::Rebinding),
        Some(&DhcpOption::Rebinding(3150))
    );
    check_config_options(msg);
}

/// Options 1, 3, 6, 15: what the pool configures.
fn check_config_options(msg: &Message) {
    assert_eq!(
        opt(msg, OptionCode::SubnetMask),
        Some(&DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)))
    );
    assert_eq!(
        opt(msg, OptionCode::Router),
        Some(&DhcpOption::Router(vec![SERVER]))
    );
    assert_eq!(
        opt(msg, OptionCode::DomainNameServer),
        Some(&DhcpOption::DomainNameServer(vec![
            DNS,
            Ipv4Addr::new(9, 9, 9, 9)
        ]))
    );
    assert_eq!(
        opt(msg, OptionCode::DomainName),
        Some(&DhcpOption::DomainName("lab.example".into()))
    );
}

#[test]
fn discover_offer_request_ack() {
    let mut s = server(100);
    let a = mac(1);
    let offer = handle(&mut s, a, &discover(a), t0()).unwrap();
    assert_eq!(offer.kind, ReplyKind::Offer);
    assert_eq!(offer.yiaddr, ip(100), "the lowest address");
    assert!(offer.lease.is_none(), "an offer binds nothing");
    // No broadcast flag, no ciaddr: unicast to yiaddr at chaddr.
    assert!(!offer.broadcast);
    assert_eq!((offer.to, offer.client, offer.server), (ip(100), a, SERVER));
    assert!(offer.payload.len() >= 300, "padded to the BOOTP minimum");
    let msg = decode(&offer);
    assert_eq!(msg.opcode(), Opcode::BootReply);
    assert_eq!(msg.xid(), 0x5eed_0001);
    assert_eq!(msg.chaddr(), &a.0);
    assert_eq!(msg.yiaddr(), ip(100));
    assert_eq!(msg.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(msg.giaddr(), Ipv4Addr::UNSPECIFIED);
    assert!(!msg.flags().broadcast());
    check_lease_options(&msg, MessageType::Offer);
    assert_eq!(s.held_offers(VLAN), Some((1, 25)));
    assert!(s.leases().next().is_none());

    let ack = handle(&mut s, a, &select(a, ip(100), SERVER), secs(1)).unwrap();
    assert_eq!(ack.kind, ReplyKind::Ack);
    assert_eq!(ack.yiaddr, ip(100));
    let lease = Lease {
        vlan: VLAN,
        mac: a,
        ip: ip(100),
        expires: secs(3601),
    };
    assert_eq!(ack.lease.as_ref(), Some(&lease));
    assert_eq!((ack.broadcast, ack.to), (false, ip(100)));
    let msg = decode(&ack);
    assert_eq!(msg.yiaddr(), ip(100));
    assert_eq!(msg.chaddr(), &a.0);
    check_lease_options(&msg, MessageType::Ack);
    assert_eq!(s.leases().cloned().collect::<Vec<_>>(), vec![lease]);
    assert_eq!(
        s.held_offers(VLAN),
        Some((0, 25)),
        "the offer became the lease"
    );

    let st = s.stats();
    assert_eq!(
        (
            st.discovers,
            st.offers,
            st.requests,
            st.acks,
            st.naks,
            st.malformed
        ),
        (1, 1, 1, 1, 0, 0)
    );
}

#[test]
fn the_broadcast_flag_is_honoured() {
    let mut s = server(10);
    let a = mac(1);
    let d = message(MessageType::Discover, a, |m| {
        m.set_flags(Flags::default().set_broadcast());
    });
    let offer = handle(&mut s, a, &d, t0()).unwrap();
    assert!(offer.broadcast);
    assert_eq!(offer.to, Ipv4Addr::BROADCAST);
    assert!(decode(&offer).flags().broadcast(), "flags are echoed");
}

#[test]
fn renewing_extends_the_lease_by_unicast() {
    let mut s = server(10);
    let a = mac(1);
    assert_eq!(dora(&mut s, a, t0()), Some(ip(100)));
    let ack = handle(&mut s, a, &renew(a, ip(100)), secs(1800)).unwrap();
    assert_eq!(ack.kind, ReplyKind::Ack);
    assert_eq!((ack.broadcast, ack.to), (false, ip(100)), "to ciaddr");
    assert_eq!(ack.lease.as_ref().unwrap().expires, secs(1800 + 3600));
    let msg = decode(&ack);
    assert_eq!(msg.ciaddr(), ip(100), "ciaddr is echoed");
    check_lease_options(&msg, MessageType::Ack);
    assert_eq!(s.leases().next().unwrap().expires, secs(5400));
    // Init-reboot of the same client for its own address: also an ACK.
    let ack = handle(&mut s, a, &reboot(a, ip(100)), secs(1900)).unwrap();
    assert_eq!(ack.kind, ReplyKind::Ack);
    assert_eq!(s.leases().count(), 1);
}

#[test]
fn the_same_client_gets_the_same_address() {
    let mut s = server(10);
    let (a, b) = (mac(1), mac(2));
    let o1 = handle(&mut s, a, &discover(a), t0()).unwrap().yiaddr;
    let o2 = handle(&mut s, a, &discover(a), secs(1)).unwrap().yiaddr;
    assert_eq!(o1, o2, "an offer again");
    assert_eq!(s.held_offers(VLAN), Some((1, 2)), "held once");
    let ob = handle(&mut s, b, &discover(b), secs(2)).unwrap().yiaddr;
    assert_ne!(ob, o1, "the held offer is not offered to another");
    assert_eq!(dora(&mut s, a, secs(3)), Some(o1));
    // With a lease, DISCOVER offers the lease, even after another client
    // asked for that address.
    let o = handle(&mut s, a, &discover_for(a, ip(105)), secs(4)).unwrap();
    assert_eq!(o.yiaddr, o1);
    let o = handle(&mut s, b, &discover_for(b, o1), secs(5)).unwrap();
    assert_eq!(o.yiaddr, ob, "b keeps its own offer");
}

#[test]
fn the_requested_address_is_honoured_if_free() {
    let mut s = server(10);
    let (a, b, c) = (mac(1), mac(2), mac(3));
    let o = handle(&mut s, a, &discover_for(a, ip(105)), t0()).unwrap();
    assert_eq!(o.yiaddr, ip(105));
    assert_eq!(dora(&mut s, a, t0()), Some(ip(105)));
    // Taken: the lowest free instead.
    let o = handle(&mut s, b, &discover_for(b, ip(105)), t0()).unwrap();
    assert_eq!(o.yiaddr, ip(100));
    // Outside the range, or another subnet: the lowest free.
    let o = handle(&mut s, c, &discover_for(c, ip(50)), t0()).unwrap();
    assert_eq!(o.yiaddr, ip(101));
    let o = handle(
        &mut s,
        c,
        &discover_for(c, Ipv4Addr::new(192, 168, 1, 9)),
        t0(),
    )
    .unwrap();
    assert_eq!(o.yiaddr, ip(101));
}

#[test]
fn release_then_discover_again() {
    let mut s = server(10);
    let (a, b) = (mac(1), mac(2));
    assert_eq!(dora(&mut s, a, t0()), Some(ip(100)));
    assert_eq!(handle(&mut s, a, &release(a, ip(100)), secs(10)), None);
    assert_eq!(s.leases().count(), 0);
    assert_eq!(s.stats().releases, 1);
    // The directory is told at the next tick.
    let ended = s.expire(secs(11));
    assert_eq!(ended.len(), 1);
    assert_eq!((ended[0].mac, ended[0].ip), (a, ip(100)));
    assert!(s.expire(secs(12)).is_empty(), "told once");
    // Another client gets an address nobody had; a's is kept for it.
    assert_eq!(dora(&mut s, b, secs(20)), Some(ip(101)));
    assert_eq!(dora(&mut s, a, secs(30)), Some(ip(100)));
    // A RELEASE of an address that is not the client's changes nothing.
    assert_eq!(handle(&mut s, b, &release(b, ip(100)), secs(31)), None);
    assert_eq!(s.leases().count(), 2);
    assert_eq!(s.stats().ignored, 1);
}

#[test]
fn a_release_then_a_new_grant_of_the_same_address_is_not_reported_ended() {
    let mut s = server(10);
    let a = mac(1);
    assert_eq!(dora(&mut s, a, t0()), Some(ip(100)));
    handle(&mut s, a, &release(a, ip(100)), secs(1));
    assert_eq!(dora(&mut s, a, secs(2)), Some(ip(100)));
    assert!(s.expire(secs(3)).is_empty(), "the binding is current again");
}

#[test]
fn naks() {
    let mut s = server(10);
    let (a, b) = (mac(1), mac(2));
    assert_eq!(dora(&mut s, a, t0()), Some(ip(100)));
    let nak = |s: &mut Server, m: Mac, p: Vec<u8>| {
        let r = handle(s, m, &p, secs(1)).unwrap();
        assert_eq!(r.kind, ReplyKind::Nak);
        assert_eq!(r.yiaddr, Ipv4Addr::UNSPECIFIED);
        assert!(r.lease.is_none());
        assert!(r.broadcast, "a NAK is broadcast");
        assert_eq!(r.to, Ipv4Addr::BROADCAST);
        let msg = decode(&r);
        assert_eq!(msg.opts().msg_type(), Some(MessageType::Nak));
        assert_eq!(
            opt(&msg, OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(SERVER))
        );
        assert!(opt(&msg, OptionCode::AddressLeaseTime).is_none());
        assert!(opt(&msg, OptionCode::Router).is_none());
        match opt(&msg, OptionCode::Message) {
            Some(DhcpOption::Message(m)) => m.clone(),
            o => panic!("no message option: {o:?}"),
        }
    };
    // Another client's address, selecting, init-reboot or renewing.
    assert_eq!(nak(&mut s, b, select(b, ip(100), SERVER)), "address in use");
    assert_eq!(nak(&mut s, b, reboot(b, ip(100))), "address in use");
    assert_eq!(nak(&mut s, b, renew(b, ip(100))), "address in use");
    // Another subnet (the client moved), or a host of the subnet that is
    // not in the range.
    assert_eq!(
        nak(&mut s, b, reboot(b, Ipv4Addr::new(192, 168, 1, 20))),
        "wrong subnet"
    );
    assert_eq!(
        nak(&mut s, b, reboot(b, ip(20))),
        "address not leased by this server"
    );
    // An offer held for a is another client's too.
    let c = mac(3);
    let held = handle(&mut s, c, &discover(c), secs(1)).unwrap().yiaddr;
    assert_eq!(nak(&mut s, b, select(b, held, SERVER)), "address in use");
    assert_eq!(s.stats().naks, 6);
    assert_eq!(s.leases().count(), 1, "nothing changed");
    // The NAK'd client starts over and gets an address of its own.
    let got = dora(&mut s, b, secs(2)).unwrap();
    assert!(got != ip(100) && got != held, "{got}");
}

#[test]
fn requests_that_are_not_answered() {
    let mut s = server(10);
    let (a, b) = (mac(1), mac(2));
    // b was offered an address by us but chose another server: the offer
    // is withdrawn, no reply.
    let o = handle(&mut s, b, &discover(b), t0()).unwrap();
    assert_eq!(s.held_offers(VLAN), Some((1, 2)));
    assert_eq!(
        handle(&mut s, b, &select(b, ip(200), OTHER_SERVER), t0()),
        None
    );
    assert_eq!(s.stats().other_server, 1);
    assert_eq!(s.held_offers(VLAN), Some((0, 2)));
    // The address is free for the next client.
    assert_eq!(dora(&mut s, a, secs(1)), Some(o.yiaddr));
    // Init-reboot or renewing for a free address by a client we have no
    // record of: silence (RFC 2131 §4.3.2).
    assert_eq!(handle(&mut s, b, &reboot(b, ip(105)), secs(2)), None);
    assert_eq!(handle(&mut s, b, &renew(b, ip(106)), secs(2)), None);
    assert_eq!(s.stats().unknown_client, 2);
    assert_eq!(s.leases().count(), 1);
}

#[test]
fn a_selecting_request_without_a_held_offer_is_granted_if_free() {
    // An offer not held (past the bound) or forgotten by a restart.
    let mut s = server(10);
    let a = mac(1);
    let ack = handle(&mut s, a, &select(a, ip(107), SERVER), t0()).unwrap();
    assert_eq!((ack.kind, ack.yiaddr), (ReplyKind::Ack, ip(107)));
}

#[test]
fn a_client_that_selects_another_address_leaves_its_old_one() {
    let mut s = server(10);
    let a = mac(1);
    assert_eq!(dora(&mut s, a, t0()), Some(ip(100)));
    let ack = handle(&mut s, a, &select(a, ip(104), SERVER), secs(1)).unwrap();
    assert_eq!(ack.yiaddr, ip(104));
    let leases: Vec<_> = s.leases().map(|l| l.ip).collect();
    assert_eq!(leases, vec![ip(104)], "one lease per client");
    let ended = s.expire(secs(2));
    assert_eq!(
        ended.iter().map(|l| l.ip).collect::<Vec<_>>(),
        vec![ip(100)]
    );
}

#[test]
fn the_pool_runs_out() {
    let mut s = server(4);
    for n in 1..=4 {
        assert_eq!(dora(&mut s, mac(n), t0()), Some(ip(99 + n as u8)));
    }
    let e = mac(5);
    assert_eq!(handle(&mut s, e, &discover(e), secs(1)), None);
    assert_eq!(s.stats().exhausted, 1);
    handle(&mut s, mac(2), &release(mac(2), ip(101)), secs(2));
    // Remembered for mac(2), but the only free address: e gets it.
    assert_eq!(dora(&mut s, e, secs(3)), Some(ip(101)));
    assert_eq!(s.leases().count(), 4);
}

#[test]
fn a_discover_flood_leaves_addresses_to_real_clients() {
    let mut s = server(100);
    // 1000 DISCOVERs from random MACs that never REQUEST.
    for n in 0..1000u16 {
        let m = Mac([0x02, 0xba, 0xd0, 0, (n >> 8) as u8, n as u8]);
        let o = s.handle(VLAN, m, &discover(m), t0()).unwrap();
        assert!(o.is_some(), "every DISCOVER is answered");
    }
    s.check();
    assert_eq!(s.held_offers(VLAN), Some((25, 25)), "a quarter of the pool");
    assert_eq!(s.stats().offers_unheld, 975);
    // Real clients meanwhile: 75 addresses are theirs at once.
    let mut got = Vec::new();
    for n in 1..=80 {
        // A client NAK'd because two unheld offers named one address
        // starts over, as real clients do.
        let m = mac(n);
        let mut lease = None;
        for _ in 0..5 {
            if let Some(a) = dora(&mut s, m, secs(1)) {
                lease = Some(a);
                break;
            }
        }
        got.extend(lease);
    }
    assert_eq!(got.len(), 75, "{got:?}");
    let mut uniq = got.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 75);
    // When the flood's holds lapse the rest are free too.
    s.expire(secs(61));
    assert_eq!(s.held_offers(VLAN), Some((0, 25)));
    for n in 76..=100 {
        assert!(dora(&mut s, mac(n), secs(62)).is_some(), "client {n}");
    }
    assert_eq!(s.leases().count(), 100);
}

#[test]
fn leases_expire() {
    let mut s = server(10);
    let a = mac(1);
    assert_eq!(dora(&mut s, a, t0()), Some(ip(100)));
    assert!(s.expire(secs(3599)).is_empty());
    let gone = s.expire(secs(3600));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].ip, ip(100));
    assert_eq!(s.leases().count(), 0);
    assert_eq!(s.stats().expired, 1);
    // Its renewal now finds a free address it last had: an ACK (init-
    // reboot or renewing by the client the address is remembered for).
    let ack = handle(&mut s, a, &renew(a, ip(100)), secs(3700)).unwrap();
    assert_eq!(ack.kind, ReplyKind::Ack);
}

#[test]
fn declined_addresses_rest() {
    let mut s = server(3);
    let (a, b) = (mac(1), mac(2));
    assert_eq!(dora(&mut s, a, t0()), Some(ip(100)));
    assert_eq!(handle(&mut s, a, &decline(a, ip(100)), secs(1)), None);
    assert_eq!(s.leases().count(), 0);
    assert_eq!(s.stats().declines, 1);
    assert_eq!(s.expire(secs(2)).len(), 1, "the directory forgets it");
    // Neither a nor anyone else is offered it for ten minutes.
    assert_eq!(dora(&mut s, a, secs(3)), Some(ip(101)));
    assert_eq!(dora(&mut s, b, secs(3)), Some(ip(102)));
    let c = mac(3);
    assert_eq!(handle(&mut s, c, &discover(c), secs(4)), None);
    assert_eq!(
        handle(&mut s, c, &select(c, ip(100), SERVER), secs(4)).map(|r| r.kind),
        Some(ReplyKind::Nak)
    );
    s.expire(secs(1 + 600));
    assert_eq!(dora(&mut s, c, secs(602)), Some(ip(100)));
}

#[test]
fn inform_gets_options_without_a_lease() {
    let mut s = server(10);
    let a = mac(1);
    let p = message(MessageType::Inform, a, |m| {
        m.set_ciaddr(ip(20));
    });
    let r = handle(&mut s, a, &p, t0()).unwrap();
    assert_eq!(r.kind, ReplyKind::Ack);
    assert_eq!(r.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert!(r.lease.is_none());
    assert_eq!((r.broadcast, r.to), (false, ip(20)));
    let msg = decode(&r);
    assert_eq!(msg.opts().msg_type(), Some(MessageType::Ack));
    assert_eq!(msg.ciaddr(), ip(20));
    assert!(opt(&msg, OptionCode::AddressLeaseTime).is_none());
    assert!(opt(&msg, OptionCode::Renewal).is_none());
    assert!(opt(&msg, OptionCode::Rebinding).is_none());
    assert_eq!(
        opt(&msg, OptionCode::ServerIdentifier),
        Some(&DhcpOption::ServerIdentifier(SERVER))
    );
    check_config_options(&msg);
    assert_eq!(s.stats().informs, 1);
    assert_eq!(s.leases().count(), 0);
    // From another subnet: not ours to configure.
    let p = message(MessageType::Inform, a, |m| {
        m.set_ciaddr(Ipv4Addr::new(192, 168, 0, 5));
    });
    assert_eq!(handle(&mut s, a, &p, t0()), None);
}

#[test]
fn leases_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (mac(1), mac(2));
    let before: Vec<Lease> = {
        let mut s = Server::new(&[pool(10)], Some(dir.path())).unwrap();
        assert_eq!(dora(&mut s, a, t0()), Some(ip(100)));
        assert_eq!(dora(&mut s, b, t0()), Some(ip(101)));
        s.leases().cloned().collect()
    };
    assert!(dir.path().join(STORE_FILE).exists());
    let mut s = Server::new(&[pool(10)], Some(dir.path())).unwrap();
    assert_eq!(s.leases().cloned().collect::<Vec<_>>(), before);
    // The clients keep their addresses: renewal, init-reboot, DISCOVER.
    let r = handle(&mut s, a, &renew(a, ip(100)), secs(60)).unwrap();
    assert_eq!((r.kind, r.yiaddr), (ReplyKind::Ack, ip(100)));
    let r = handle(&mut s, b, &discover(b), secs(60)).unwrap();
    assert_eq!(r.yiaddr, ip(101));
    // And nobody else gets them.
    let c = mac(3);
    assert_eq!(dora(&mut s, c, secs(60)), Some(ip(102)));
}

/// Opens a server on a copy of the store file, as if the first had been
/// killed that moment: what a SIGKILL leaves.
fn after_kill(dir: &std::path::Path, pools: &[DhcpPool]) -> Server {
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(dir.join(STORE_FILE), copy.path().join(STORE_FILE)).unwrap();
    let s = Server::new(pools, Some(copy.path())).unwrap();
    // The copy's directory may go: the server read it whole.
    drop(copy);
    s
}

#[test]
fn an_acknowledged_lease_is_on_disk_before_handle_returns() {
    let dir = tempfile::tempdir().unwrap();
    let a = mac(1);
    let mut s = Server::new(&[pool(10)], Some(dir.path())).unwrap();
    let offer = handle(&mut s, a, &discover(a), t0()).unwrap();
    assert_eq!(
        after_kill(dir.path(), &[pool(10)]).leases().count(),
        0,
        "offers are not kept"
    );
    let ack = handle(&mut s, a, &select(a, offer.yiaddr, SERVER), t0()).unwrap();
    // s is still open and has not been asked to do anything since.
    let k = after_kill(dir.path(), &[pool(10)]);
    assert_eq!(
        k.leases().cloned().collect::<Vec<_>>(),
        vec![ack.lease.unwrap()]
    );
    // A renewal's new expiry too.
    let r = handle(&mut s, a, &renew(a, offer.yiaddr), secs(1000)).unwrap();
    let k = after_kill(dir.path(), &[pool(10)]);
    assert_eq!(k.leases().next().unwrap().expires, r.lease.unwrap().expires);
    // And a release.
    handle(&mut s, a, &release(a, offer.yiaddr), secs(1001));
    assert_eq!(after_kill(dir.path(), &[pool(10)]).leases().count(), 0);
    // An expiry.
    assert!(dora(&mut s, a, secs(1002)).is_some());
    assert_eq!(after_kill(dir.path(), &[pool(10)]).leases().count(), 1);
    s.expire(secs(1002 + 3600));
    assert_eq!(after_kill(dir.path(), &[pool(10)]).leases().count(), 0);
}

#[test]
fn leases_outside_the_new_configuration_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = Server::new(&[pool(10)], Some(dir.path())).unwrap();
        for n in 1..=3 {
            dora(&mut s, mac(n), t0()).unwrap();
        }
    }
    // The range shrank to two addresses: the third lease goes, also from
    // the file.
    let s = Server::new(&[pool(2)], Some(dir.path())).unwrap();
    assert_eq!(
        s.leases().map(|l| l.ip).collect::<Vec<_>>(),
        vec![ip(100), ip(101)]
    );
    drop(s);
    let s = Server::new(&[pool(10)], Some(dir.path())).unwrap();
    assert_eq!(s.leases().count(), 2);
    drop(s);
    // No pool on the VLAN any more: all go.
    let other = DhcpPool {
        vlan: Vlan::new(20).unwrap(),
        ..pool(10)
    };
    assert_eq!(
        Server::new(&[other], Some(dir.path()))
            .unwrap()
            .leases()
            .count(),
        0
    );
    assert_eq!(
        Server::new(&[pool(10)], Some(dir.path()))
            .unwrap()
            .leases()
            .count(),
        0
    );
}

#[test]
fn an_unusable_state_dir_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let e = Server::new(&[pool(10)], Some(&file)).err().unwrap();
    assert!(e.to_string().starts_with("DHCP lease store "), "{e}");
    assert!(e.path.contains("not-a-dir"), "{e}");
}

/// Builds a message with dhcproto, then lets `f` damage its bytes.
fn damaged(m: Mac, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = discover(m);
    f(&mut b);
    b
}

/// A client message with raw options after the cookie.
fn with_options(m: Mac, opts: &[u8]) -> Vec<u8> {
    let mut b = discover(m);
    b.truncate(240);
    b.extend_from_slice(opts);
    b
}

#[test]
fn malformed_messages_are_refused_by_reason() {
    let a = mac(1);
    let cases: Vec<(&str, Vec<u8>, Refusal)> = vec![
        ("empty", vec![], Refusal::Truncated),
        (
            "239 octets",
            damaged(a, |b| b.truncate(239)),
            Refusal::Truncated,
        ),
        (
            "oversize",
            damaged(a, |b| b.resize(MAX_MESSAGE + 1, 0)),
            Refusal::Oversize,
        ),
        ("a reply", damaged(a, |b| b[0] = 2), Refusal::WrongOp),
        ("op 0", damaged(a, |b| b[0] = 0), Refusal::WrongOp),
        ("token ring", damaged(a, |b| b[1] = 6), Refusal::BadHardware),
        // An hlen above 16 makes dhcproto's chaddr() slice past its
        // 16-octet array: refused before dhcproto is asked.
        ("hlen 17", damaged(a, |b| b[2] = 17), Refusal::BadHardware),
        ("hlen 255", damaged(a, |b| b[2] = 255), Refusal::BadHardware),
        (
            "chaddr",
            damaged(a, |b| b[33] ^= 1),
            Refusal::ChaddrMismatch,
        ),
        ("relayed", damaged(a, |b| b[24] = 10), Refusal::Relayed),
        ("bootp", damaged(a, |b| b[236] = 0), Refusal::Bootp),
        (
            "runs off the end",
            with_options(a, &[53, 1, 1, 12, 9, b'h']),
            Refusal::BadOptions,
        ),
        (
            "a lone code",
            with_options(a, &[53, 1, 1, 12]),
            Refusal::BadOptions,
        ),
        (
            "type of two octets",
            with_options(a, &[53, 2, 1, 1, 255]),
            Refusal::BadOptions,
        ),
        (
            "type of none",
            with_options(a, &[53, 0, 255]),
            Refusal::BadOptions,
        ),
        (
            "requested of three",
            with_options(a, &[53, 1, 1, 50, 3, 10, 0, 0, 255]),
            Refusal::BadOptions,
        ),
        (
            "server id of five",
            with_options(a, &[53, 1, 3, 54, 5, 10, 0, 0, 1, 1, 255]),
            Refusal::BadOptions,
        ),
        (
            "two types",
            with_options(a, &[53, 1, 1, 53, 1, 3, 255]),
            Refusal::DuplicateOption,
        ),
        (
            "two requested",
            with_options(a, &[53, 1, 1, 50, 4, 10, 0, 0, 5, 50, 4, 10, 0, 0, 6, 255]),
            Refusal::DuplicateOption,
        ),
        (
            "overload",
            with_options(a, &[53, 1, 1, 52, 1, 3, 255]),
            Refusal::Overload,
        ),
        (
            "no type",
            with_options(a, &[12, 1, b'h', 255]),
            Refusal::NoType,
        ),
        ("no options", with_options(a, &[]), Refusal::NoType),
        (
            "an OFFER",
            with_options(a, &[53, 1, 2, 255]),
            Refusal::BadType,
        ),
        (
            "an ACK",
            with_options(a, &[53, 1, 5, 255]),
            Refusal::BadType,
        ),
        (
            "type 200",
            with_options(a, &[53, 1, 200, 255]),
            Refusal::BadType,
        ),
        (
            "request without address",
            with_options(a, &[53, 1, 3, 255]),
            Refusal::NoAddress,
        ),
        (
            "release without ciaddr",
            with_options(a, &[53, 1, 7, 255]),
            Refusal::NoAddress,
        ),
        (
            "decline without address",
            with_options(a, &[53, 1, 4, 255]),
            Refusal::NoAddress,
        ),
        (
            "inform without ciaddr",
            with_options(a, &[53, 1, 8, 255]),
            Refusal::NoAddress,
        ),
    ];
    let mut s = server(10);
    for (what, p, want) in &cases {
        assert_eq!(s.handle(VLAN, a, p, t0()), Err(*want), "{what}");
        s.check();
    }
    // The same well-formed message on a VLAN without a pool.
    assert_eq!(s.handle(20, a, &discover(a), t0()), Err(Refusal::NoPool));
    let st = s.stats();
    assert_eq!(st.malformed, cases.len() as u64);
    assert_eq!(st.refused.get(Refusal::BadOptions), 6);
    assert_eq!(st.refused.get(Refusal::NoPool), 1);
    assert_eq!(st.offers + st.acks + st.naks, 0);
    assert_eq!(s.leases().count(), 0);
    assert_eq!(s.held_offers(VLAN), Some((0, 2)));
    // Pad options, a missing end, a long option split in two (RFC 3396)
    // are all fine.
    let ok = with_options(a, &[0, 0, 53, 1, 1, 55, 1, 1, 55, 1, 3]);
    assert_eq!(
        s.handle(VLAN, a, &ok, t0()).unwrap().unwrap().kind,
        ReplyKind::Offer
    );
}

#[test]
fn options_the_server_does_not_read_are_walked_not_decoded() {
    // Each is malformed inside, and each made one of dhcproto's decoders
    // fail or (in a debug build) panic: a subnet mask of three octets
    // (decoding stops there, before the message type), a client FQDN of
    // one octet (`len - 3`), bulk lease query times of two or none
    // (`debug_assert`, what the fuzz target found first), a status code of
    // none (`len - 1`), relay information cut short. None is the server's
    // business: the DISCOVER is served.
    let a = mac(1);
    let mut s = server(10);
    for bad in [
        &[1, 3, 255, 255, 0][..],
        &[81, 1, 0],
        &[152, 2, 0, 0],
        &[153, 0],
        &[155, 1, 1],
        &[151, 0],
        &[82, 2, 1, 9],
    ] {
        let mut opts = bad.to_vec();
        opts.extend_from_slice(&[53, 1, 1, 55, 2, 1, 3, 255]);
        let r = s.handle(VLAN, a, &with_options(a, &opts), t0());
        assert_eq!(r.unwrap().unwrap().kind, ReplyKind::Offer, "{bad:?}");
    }
    // Walked all the same: one that runs off the end is refused.
    let r = s.handle(VLAN, a, &with_options(a, &[53, 1, 1, 81, 9, 0]), t0());
    assert_eq!(r, Err(Refusal::BadOptions));
}

#[test]
fn refusal_labels_are_unique_and_counted() {
    let mut labels: Vec<&str> = Refusal::ALL.iter().map(|r| r.label()).collect();
    assert_eq!(labels[0], "truncated");
    labels.sort();
    labels.dedup();
    assert_eq!(labels.len(), Refusal::ALL.len());
    for (i, r) in Refusal::ALL.iter().enumerate() {
        assert_eq!(*r as usize, i, "ALL is in declaration order");
        assert_eq!(r.to_string(), r.label());
    }
    let mut s = server(10);
    let _ = s.handle(VLAN, mac(1), &[], t0());
    let j = serde_json::to_value(s.stats()).unwrap();
    assert_eq!(j["refused"]["truncated"], 1);
    assert_eq!(j["refused"]["store"], 0);
    assert_eq!(j["malformed"], 1);
    let l = Lease {
        vlan: 10,
        mac: mac(1),
        ip: ip(100),
        expires: t0(),
    };
    assert_eq!(
        serde_json::to_value(&l).unwrap(),
        serde_json::json!({"vlan": 10, "mac": "00:16:3e:01:00:01", "ip": "10.0.0.100", "expires_unix": 1_700_000_000u64})
    );
}

/// A client's frame: Ethernet (tagged with `vid` if given), IPv4 from
/// 0.0.0.0 to 255.255.255.255, UDP 68 → 67, both checksums filled.
fn client_frame(src: Mac, vid: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let r = Reply {
        payload: payload.to_vec(),
        kind: ReplyKind::Ack,
        yiaddr: Ipv4Addr::UNSPECIFIED,
        broadcast: true,
        to: Ipv4Addr::BROADCAST,
        client: Mac::BROADCAST,
        server: Ipv4Addr::UNSPECIFIED,
        lease: None,
    };
    // A reply frame from the client's MAC, with the ports turned round.
    let mut f = reply_frame(&r, src, vid);
    let at = if vid.is_some() { 18 } else { 14 } + 20;
    f[at..at + 4].copy_from_slice(&[0, 68, 0, 67]);
    fix_udp(&mut f, at);
    f
}

/// Refills the UDP checksum of the datagram at `at` (from the IPv4 header
/// before it).
fn fix_udp(f: &mut [u8], at: usize) {
    let ip = moose_wire::ipv4::Packet::new_checked(&f[at - 20..]).unwrap();
    let (s, d) = (ip.src_addr(), ip.dst_addr());
    let end = at - 20 + usize::from(ip.total_len());
    moose_wire::udp::Packet::new_checked(&mut f[at..end])
        .unwrap()
        .fill_checksum_v4(s, d);
}

/// Refills the IPv4 header checksum of the header at `at`.
fn fix_ip(f: &mut [u8], at: usize) {
    moose_wire::ipv4::Packet::new_unchecked(&mut f[at..]).fill_checksum();
}

#[test]
fn client_frames_are_read() {
    let a = mac(1);
    let p = discover(a);
    let f = client_frame(a, None, &p);
    assert_eq!(client_message(&f), Ok((None, a, &p[..])));
    let f = client_frame(a, Some(10), &p);
    assert_eq!(client_message(&f), Ok((Some(10), a, &p[..])));
    // Ethernet padding after the IP packet is not part of the message.
    let mut padded = f.clone();
    padded.extend_from_slice(&[0; 20]);
    assert_eq!(client_message(&padded), Ok((Some(10), a, &p[..])));
    // No UDP checksum (0) is allowed over IPv4.
    let mut nock = client_frame(a, None, &p);
    nock[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]);
    assert!(client_message(&nock).is_ok());
    // And the server takes what it returns.
    let mut s = server(10);
    let (vid, m, payload) = client_message(&f).unwrap();
    assert_eq!(vid, Some(VLAN));
    let r = s.handle(vid.unwrap(), m, payload, t0()).unwrap().unwrap();
    assert_eq!(r.kind, ReplyKind::Offer);
}

#[test]
fn other_frames_are_refused_by_reason() {
    let a = mac(1);
    let p = discover(a);
    let good = client_frame(a, None, &p);
    let change = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        b
    };
    let (ip_at, udp) = (14, 14 + 20);
    let cases: Vec<(&str, Vec<u8>, Refusal)> = vec![
        ("empty", vec![], Refusal::Truncated),
        ("13 octets", good[..13].to_vec(), Refusal::Truncated),
        (
            "half a tag",
            change(&|b| {
                b[12..14].copy_from_slice(&[0x81, 0]);
                b.truncate(16)
            }),
            Refusal::Truncated,
        ),
        (
            "ARP",
            change(&|b| b[12..14].copy_from_slice(&[0x08, 0x06])),
            Refusal::NotDhcp,
        ),
        (
            "IPv6",
            change(&|b| b[12..14].copy_from_slice(&[0x86, 0xdd])),
            Refusal::NotDhcp,
        ),
        (
            "IP header cut",
            good[..14 + 19].to_vec(),
            Refusal::Truncated,
        ),
        (
            "IPv6 in IPv4's place",
            change(&|b| b[ip_at] = 0x65),
            Refusal::NotDhcp,
        ),
        (
            "IHL 4",
            change(&|b| {
                b[ip_at] = 0x44;
                fix_ip(b, ip_at)
            }),
            Refusal::BadLength,
        ),
        (
            "total length past the frame",
            change(&|b| {
                b[ip_at + 2] = 0x0f;
                fix_ip(b, ip_at)
            }),
            Refusal::Truncated,
        ),
        (
            "IP checksum",
            change(&|b| b[ip_at + 10] ^= 1),
            Refusal::BadChecksum,
        ),
        (
            "TCP",
            change(&|b| {
                b[ip_at + 9] = 6;
                fix_ip(b, ip_at)
            }),
            Refusal::NotDhcp,
        ),
        (
            "a fragment",
            change(&|b| {
                b[ip_at + 6] = 0x20;
                fix_ip(b, ip_at)
            }),
            Refusal::NotDhcp,
        ),
        (
            "to port 68",
            change(&|b| {
                b[udp + 3] = 68;
                fix_udp(b, udp)
            }),
            Refusal::NotDhcp,
        ),
        (
            "UDP length 7",
            change(&|b| b[udp + 4..udp + 6].copy_from_slice(&[0, 7])),
            Refusal::BadLength,
        ),
        (
            "UDP length past IP",
            change(&|b| b[udp + 4..udp + 6].copy_from_slice(&[0x0f, 0])),
            Refusal::Truncated,
        ),
        (
            "UDP checksum",
            change(&|b| b[udp + 6] ^= 1),
            Refusal::BadChecksum,
        ),
        (
            "DHCP cut",
            client_frame(a, None, &p[..200]),
            Refusal::Truncated,
        ),
        (
            "hlen 0",
            client_frame(a, None, &damaged(a, |b| b[2] = 0)),
            Refusal::BadHardware,
        ),
        (
            "chaddr of another",
            client_frame(mac(2), None, &p),
            Refusal::ChaddrMismatch,
        ),
    ];
    for (what, f, want) in &cases {
        assert_eq!(client_message(f).map(|_| ()), Err(*want), "{what}");
    }
}

#[test]
fn reply_frames_are_well_formed() {
    use moose_wire::ethernet::{EtherType, EthernetFrame};
    let server_mac = Mac([0x02, 0x11, 0x11, 0, 0, 0]);
    let mut s = server(10);
    let a = mac(1);
    let offer = handle(&mut s, a, &discover(a), t0()).unwrap();
    let nak = handle(&mut s, mac(2), &select(mac(2), ip(100), SERVER), t0()).unwrap();
    for (r, vid) in [(&offer, None), (&offer, Some(10)), (&nak, Some(10))] {
        let f = reply_frame(r, server_mac, vid);
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(eth.src(), server_mac);
        assert_eq!(eth.vlan_tag().map(|t| t.vid), vid);
        assert_eq!(eth.ethertype(), EtherType::Ipv4);
        let pkt = moose_wire::ipv4::Packet::new_checked(eth.payload()).unwrap();
        assert!(pkt.verify_checksum());
        assert_eq!(pkt.ttl(), 64);
        assert!(!pkt.is_fragment());
        assert_eq!(pkt.protocol(), moose_wire::IpProtocol::Udp);
        assert_eq!(pkt.src_addr(), SERVER);
        let u = moose_wire::udp::Packet::new_checked(pkt.payload()).unwrap();
        assert_ne!(u.checksum(), 0);
        assert!(u.verify_checksum_v4(pkt.src_addr(), pkt.dst_addr()));
        assert_eq!((u.src_port(), u.dst_port()), (67, 68));
        assert_eq!(u.payload(), &r.payload[..]);
        if r.broadcast {
            assert_eq!(eth.dst(), Mac::BROADCAST);
            assert_eq!(pkt.dst_addr(), Ipv4Addr::BROADCAST);
        } else {
            assert_eq!(eth.dst(), a);
            assert_eq!(pkt.dst_addr(), ip(100));
        }
    }
    assert!(!offer.broadcast && nak.broadcast);
}

/// What a client may do, for the property test.
#[derive(Clone, Debug)]
enum Op {
    Discover(u8, Option<u8>),
    Select(u8, u8, bool),
    Reboot(u8, u8),
    Renew(u8, u8),
    Release(u8, u8),
    Decline(u8, u8),
    /// Seconds pass, and the tick.
    Tick(u16),
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0u8..8;
    // Addresses 98..=107: some below the range of 100..=105.
    let a = 98u8..108;
    prop_oneof![
        (c.clone(), proptest::option::of(a.clone())).prop_map(|(c, a)| Op::Discover(c, a)),
        (c.clone(), a.clone(), any::<bool>()).prop_map(|(c, a, o)| Op::Select(c, a, o)),
        (c.clone(), a.clone()).prop_map(|(c, a)| Op::Reboot(c, a)),
        (c.clone(), a.clone()).prop_map(|(c, a)| Op::Renew(c, a)),
        (c.clone(), a.clone()).prop_map(|(c, a)| Op::Release(c, a)),
        (c, a).prop_map(|(c, a)| Op::Decline(c, a)),
        (0u16..4000).prop_map(Op::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever clients do, no address is leased to two clients at once,
    /// no client holds two leases, every lease is in the range, every ACK
    /// names an address no other client held, and the bindings a
    /// directory keeps from ACKs and `expire` are the server's leases.
    #[test]
    fn no_address_is_ever_leased_twice(ops in proptest::collection::vec(op(), 1..200)) {
        let mut s = server(6);
        let mut now = t0();
        // What a directory of IP → MAC bindings learns from the ACKs and
        // from `expire`.
        let mut directory: std::collections::HashMap<Ipv4Addr, Mac> = Default::default();
        for o in ops {
            let before: Vec<Lease> = s.leases().cloned().collect();
            let (m, p) = match o {
                Op::Discover(c, a) => (mac(c.into()), match a {
                    Some(a) => discover_for(mac(c.into()), ip(a)),
                    None => discover(mac(c.into())),
                }),
                Op::Select(c, a, ours) => (mac(c.into()), select(mac(c.into()), ip(a), if ours { SERVER } else { OTHER_SERVER })),
                Op::Reboot(c, a) => (mac(c.into()), reboot(mac(c.into()), ip(a))),
                Op::Renew(c, a) => (mac(c.into()), renew(mac(c.into()), ip(a))),
                Op::Release(c, a) => (mac(c.into()), release(mac(c.into()), ip(a))),
                Op::Decline(c, a) => (mac(c.into()), decline(mac(c.into()), ip(a))),
                Op::Tick(d) => {
                    now += Duration::from_secs(d.into());
                    for l in s.expire(now) {
                        if directory.get(&l.ip) == Some(&l.mac) {
                            directory.remove(&l.ip);
                        }
                    }
                    s.check();
                    let held: std::collections::HashMap<Ipv4Addr, Mac> =
                        s.leases().map(|l| (l.ip, l.mac)).collect();
                    prop_assert_eq!(&directory, &held);
                    continue;
                }
            };
            let r = s.handle(VLAN, m, &p, now);
            s.check();
            let r = r.expect("well-formed messages are served");
            if let Some(Reply { kind: ReplyKind::Ack, lease: Some(l), .. }) = &r {
                prop_assert!(
                    !before.iter().any(|b| b.ip == l.ip && b.mac != l.mac),
                    "{} granted to {} while {:?}", l.ip, l.mac, before
                );
                directory.insert(l.ip, l.mac);
            }
            if let Some(Reply { kind: ReplyKind::Offer, yiaddr, .. }) = &r {
                prop_assert!(
                    !before.iter().any(|b| b.ip == *yiaddr && b.mac != m),
                    "{} offered to {} while leased", yiaddr, m
                );
            }
            let leases: Vec<Lease> = s.leases().cloned().collect();
            let mut ips: Vec<Ipv4Addr> = leases.iter().map(|l| l.ip).collect();
            ips.sort();
            ips.dedup();
            prop_assert_eq!(ips.len(), leases.len(), "an address leased twice: {:?}", leases);
            let mut macs: Vec<Mac> = leases.iter().map(|l| l.mac).collect();
            macs.sort();
            macs.dedup();
            prop_assert_eq!(macs.len(), leases.len(), "a client with two leases: {:?}", leases);
            for l in &leases {
                prop_assert!((ip(100)..=ip(105)).contains(&l.ip));
            }
        }
        // After a last tick the directory and the server agree.
        for l in s.expire(now) {
            if directory.get(&l.ip) == Some(&l.mac) {
                directory.remove(&l.ip);
            }
        }
        let held: std::collections::HashMap<Ipv4Addr, Mac> =
            s.leases().map(|l| (l.ip, l.mac)).collect();
        prop_assert_eq!(directory, held);
    }
}
