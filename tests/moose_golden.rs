//! The MOOSE worked example as golden captures, through the real binary.
//!
//! Three switches in a chain, each a separate `moose run` on DPDK
//! `net_pcap` ports, run one after the other, every output capture of one
//! switch the input capture of the next:
//!
//! ```text
//!  host A ── e0 [S1 02:11:11/24] up ── w [S2 02:22:22/24] e ── up [S3 02:33:33/24] e0 ── host B
//! ```
//!
//! A is `00:16:17:6d:b7:cf` behind S1, B is `00:0c:f1:df:6a:84` behind S3;
//! host ids are sequential, so each becomes host 1 of its switch. Static
//! routes: S1 sends 02:22:22/24 and 02:33:33/24 up, S3 02:11:11/24 and
//! 02:22:22/24 up, S2 each side's prefix to its side.
//!
//! Two rounds, each starting every switch again:
//!
//! 1. **Request**, S1 → S2 → S3: A's broadcast ARP request for B, and an
//!    IPv6 neighbour solicitation from A with a source link-layer option.
//!    At S3's edge the request is the one A sent with source and ARP
//!    sender 02:11:11:00:00:01; the solicitation's option reads that
//!    address and its ICMPv6 checksum is right (checked by a sum written
//!    here, and byte for byte against the same message built with that
//!    option from scratch).
//! 2. **Reply**, S3 → S2 → S1: B's ARP reply to A's MOOSE address, and
//!    B's neighbour advertisement with a target link-layer option. At S1's
//!    edge the reply goes to 00:16:17:6d:b7:cf from 02:33:33:00:00:01 with
//!    ARP sender 02:33:33:00:00:01 and target 00:16:17:6d:b7:cf; the
//!    advertisement's option reads 02:33:33:00:00:01, checksum right.
//!
//! S1 and S3 keep their hosts in `moose.state_dir` across the rounds: the
//! reply's destination 02:11:11:00:00:01 is restored by the S1 of round 2,
//! which never saw A and knows it only from the store (a check at the end
//! runs round 2's S1 without the store: the reply is then `no_host`). S2
//! has no hosts; both rounds check it forwards every frame byte for byte.
//! The link-state protocol is off (`[routing] enabled = false`): a
//! capture replayed later has no neighbour to answer hellos. So is ELK
//! (`[elk] enabled = false`): these are plain MOOSE's frames.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::Duration;

use common::*;
use moose_wire::ndisc::{self, NeighborFlags, Repr};
use moose_wire::{ethernet, EtherType, Mac};

const A: Mac = Mac([0x00, 0x16, 0x17, 0x6d, 0xb7, 0xcf]);
const B: Mac = Mac([0x00, 0x0c, 0xf1, 0xdf, 0x6a, 0x84]);
const A_MOOSE: Mac = Mac([0x02, 0x11, 0x11, 0x00, 0x00, 0x01]);
const B_MOOSE: Mac = Mac([0x02, 0x33, 0x33, 0x00, 0x00, 0x01]);
const IP_A: [u8; 4] = [10, 0, 0, 1];
const IP_B: [u8; 4] = [10, 0, 0, 2];

/// How long each `moose run` lasts: the capture is read at once, a new
/// host's first frame is re-injected within milliseconds.
const RUN_SECS: &str = "1.5";

fn ll(m: Mac) -> Ipv6Addr {
    // EUI-64 link-local address of `m`.
    let o = m.0;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        o[0] ^ 2,
        o[1],
        o[2],
        0xff,
        0xfe,
        o[3],
        o[4],
        o[5],
    ])
}

fn arp(op: u16, dst: Mac, src: Mac, sha: Mac, spa: [u8; 4], tha: Mac, tpa: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0, 1, 0x08, 0, 6, 4];
    p.extend_from_slice(&op.to_be_bytes());
    p.extend_from_slice(&sha.0);
    p.extend_from_slice(&spa);
    p.extend_from_slice(&tha.0);
    p.extend_from_slice(&tpa);
    p.resize(46, 0); // the minimum frame, as a host pads it
    let mut f = Vec::new();
    ethernet::emit(&mut f, dst, src, None, EtherType::Arp, &p);
    f
}

/// An Ethernet/IPv6 frame carrying the neighbour discovery message `repr`
/// (checksum filled).
fn nd(dst: Mac, src: Mac, ip_src: Ipv6Addr, ip_dst: Ipv6Addr, repr: Repr) -> Vec<u8> {
    let mut icmp = vec![0u8; repr.buffer_len()];
    repr.emit(
        &ip_src,
        &ip_dst,
        &mut ndisc::Packet::new_unchecked(&mut icmp[..]),
    );
    let mut ip6 = vec![0x60, 0, 0, 0];
    ip6.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    ip6.extend_from_slice(&[58, 255]);
    ip6.extend_from_slice(&ip_src.octets());
    ip6.extend_from_slice(&ip_dst.octets());
    ip6.extend_from_slice(&icmp);
    let mut f = Vec::new();
    ethernet::emit(&mut f, dst, src, None, EtherType::Ipv6, &ip6);
    f
}

fn solicit(src: Mac, lladdr: Mac) -> Vec<u8> {
    // To B's solicited-node group.
    let group: Ipv6Addr = "ff02::1:ffdf:6a84".parse().unwrap();
    nd(
        Mac([0x33, 0x33, 0xff, 0xdf, 0x6a, 0x84]),
        src,
        ll(A),
        group,
        Repr::NeighborSolicit {
            target_addr: ll(B),
            lladdr: Some(lladdr),
        },
    )
}

fn advert(dst: Mac, src: Mac, lladdr: Mac) -> Vec<u8> {
    nd(
        dst,
        src,
        ll(B),
        ll(A),
        Repr::NeighborAdvert {
            flags: NeighborFlags {
                router: false,
                solicited: true,
                override_: true,
            },
            target_addr: ll(B),
            lladdr: Some(lladdr),
        },
    )
}

/// The ICMPv6 checksum of an untagged Ethernet/IPv6 frame verifies: the
/// one's complement sum of the pseudo-header (RFC 8200 §8.1) and the whole
/// message is 0xffff. Written here, apart from `moose_wire`.
fn icmpv6_checksum_ok(f: &[u8]) -> bool {
    let ip = &f[14..];
    let len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    let msg = &ip[40..40 + len];
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], 0])
            };
            sum += u32::from(w);
        }
    };
    add(&ip[8..40]); // source and destination
    add(&(len as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

/// The link-layer address in an ND frame's first Ethernet link-layer
/// option (source or target).
fn nd_option_addr(f: &[u8]) -> Option<Mac> {
    let p = ndisc::Packet::new_checked(&f[14 + 40..]).ok()?;
    p.source_lladdr().or_else(|| p.target_lladdr())
}

/// Removes an EAL runtime directory when the run it belongs to is over,
/// also when the test fails.
struct EalDir(String);

impl Drop for EalDir {
    fn drop(&mut self) {
        remove_eal_runtime(&self.0);
    }
}

struct Port {
    name: &'static str,
    role: &'static str,
    input: Vec<Vec<u8>>,
}

fn port(name: &'static str, role: &'static str, input: Vec<Vec<u8>>) -> Port {
    Port { name, role, input }
}

/// One run of one switch: every port a `net_pcap` device reading
/// `input`; what each port sent, by name, and the `--json` report.
fn run_switch(
    s: &Scratch,
    run: &str,
    prefix: &str,
    state_dir: Option<&PathBuf>,
    ports: &[Port],
    routes: &[(&str, &str)],
) -> (BTreeMap<&'static str, Vec<Vec<u8>>>, serde_json::Value) {
    let name = format!("golden-{run}");
    let _eal = EalDir(eal_prefix(&name));
    let mut cfg = format!(
        "[switch]\nname = \"{run}\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 4095\n{}\n\
         [moose]\nprefix = \"{prefix}\"\nhost_ids = \"sequential\"\n",
        eal(&name)
    );
    if let Some(d) = state_dir {
        cfg += &format!("state_dir = \"{}\"\n", d.display());
    }
    for (i, p) in ports.iter().enumerate() {
        let (rx, tx) = (
            s.path(&format!("{run}-{}-in.pcap", p.name)),
            s.path(&format!("{run}-{}-out.pcap", p.name)),
        );
        write_pcap(&rx, &p.input);
        let _ = std::fs::remove_file(&tx);
        cfg += &format!(
            "[[port]]\nname = \"{}\"\nrole = \"{}\"\ndevice = \"net_pcap{i},rx_pcap={},tx_pcap={}\"\n",
            p.name,
            p.role,
            rx.display(),
            tx.display()
        );
    }
    for (prefix, port) in routes {
        cfg += &format!("[[route]]\nprefix = \"{prefix}\"\nport = \"{port}\"\n");
    }
    // Captures replayed one switch after the other: no neighbour answers,
    // so static routes only, broadcasts to every fabric port.
    cfg += "[routing]\nenabled = false\n";
    // Plain MOOSE: ARP, ND and DHCP translated and flooded, not answered
    // (ELK drops what it cannot read; tests/moose_triangle.rs shows that).
    cfg += "[elk]\nenabled = false\n";
    let cfg = s.write(&format!("{run}.toml", run = run), &cfg);
    let e = output_within(
        moose()
            .args(["run", "--duration", RUN_SECS, "--json", "-c"])
            .arg(&cfg),
        Duration::from_secs(30),
    );
    assert!(e.status.success(), "{run}: {}\n{}", e.status, e.stderr);
    let report: serde_json::Value = serde_json::from_str(&e.stdout)
        .unwrap_or_else(|err| panic!("{run}: report: {err}: {}", e.stdout));
    let out = ports
        .iter()
        .map(|p| {
            (
                p.name,
                read_pcap_forwarded(&s.path(&format!("{run}-{}-out.pcap", p.name))),
            )
        })
        .collect();
    (out, report)
}

fn drops(report: &serde_json::Value, port: usize, reason: &str) -> u64 {
    report["ports"][port]["counters"]["drops"][reason]
        .as_u64()
        .unwrap_or_else(|| panic!("no drops.{reason} of port {port}: {report}"))
}

const P1: &str = "02:11:11:00:00:00/24";
const P2: &str = "02:22:22:00:00:00/24";
const P3: &str = "02:33:33:00:00:00/24";

fn s1(
    s: &Scratch,
    run: &str,
    state: Option<&PathBuf>,
    e0: Vec<Vec<u8>>,
    up: Vec<Vec<u8>>,
) -> (BTreeMap<&'static str, Vec<Vec<u8>>>, serde_json::Value) {
    run_switch(
        s,
        run,
        P1,
        state,
        &[port("e0", "edge", e0), port("up", "fabric", up)],
        &[(P2, "up"), (P3, "up")],
    )
}

fn s2(
    s: &Scratch,
    run: &str,
    w: Vec<Vec<u8>>,
    e: Vec<Vec<u8>>,
) -> (BTreeMap<&'static str, Vec<Vec<u8>>>, serde_json::Value) {
    run_switch(
        s,
        run,
        P2,
        None,
        &[port("w", "fabric", w), port("e", "fabric", e)],
        &[(P1, "w"), (P3, "e")],
    )
}

fn s3(
    s: &Scratch,
    run: &str,
    state: Option<&PathBuf>,
    up: Vec<Vec<u8>>,
    e0: Vec<Vec<u8>>,
) -> (BTreeMap<&'static str, Vec<Vec<u8>>>, serde_json::Value) {
    run_switch(
        s,
        run,
        P3,
        state,
        &[port("up", "fabric", up), port("e0", "edge", e0)],
        &[(P1, "up"), (P2, "up")],
    )
}

#[test]
fn worked_example_across_three_switches() {
    let s = Scratch::new("golden");
    let (st1, st3) = (s.path("s1-state"), s.path("s3-state"));

    // Round 1: A asks for B.
    let request = arp(1, Mac::BROADCAST, A, A, IP_A, Mac::ZERO, IP_B);
    let ns = solicit(A, A);
    assert!(icmpv6_checksum_ok(&ns), "the solicitation as A sends it");

    let (o1, r1) = s1(
        &s,
        "s1-req",
        Some(&st1),
        vec![request.clone(), ns.clone()],
        vec![],
    );
    assert!(o1["e0"].is_empty(), "nothing back to A: {:?}", o1["e0"]);
    let up1 = o1["up"].clone();
    assert_eq!(up1.len(), 2, "S1 sends both frames up: {up1:02x?}");
    assert!(
        r1["ports"][0]["counters"]["rx_punted"].as_u64().unwrap() >= 1,
        "A's first frame waits for its address: {r1}"
    );

    let (o2, _) = s2(&s, "s2-req", up1.clone(), vec![]);
    assert_eq!(o2["e"], up1, "S2 forwards the request unchanged");
    assert!(o2["w"].is_empty(), "nothing back towards S1: {:?}", o2["w"]);

    let (o3, r3) = s3(&s, "s3-req", Some(&st3), o2["e"].clone(), vec![]);
    assert!(o3["up"].is_empty(), "nothing back up: {:?}", o3["up"]);
    let at_b = &o3["e0"];
    let want_request = arp(1, Mac::BROADCAST, A_MOOSE, A_MOOSE, IP_A, Mac::ZERO, IP_B);
    assert_eq!(at_b.len(), 2, "{at_b:02x?}");
    assert_eq!(
        at_b[0], want_request,
        "B gets A's request with source and ARP sender 02:11:11:00:00:01"
    );
    let got_ns = &at_b[1];
    assert_eq!(&got_ns[6..12], &A_MOOSE.0, "NS source");
    assert_eq!(
        nd_option_addr(got_ns),
        Some(A_MOOSE),
        "NS source link-layer option"
    );
    assert!(
        icmpv6_checksum_ok(got_ns),
        "NS checksum after the rewrite: {got_ns:02x?}"
    );
    assert_eq!(
        *got_ns,
        solicit(A_MOOSE, A_MOOSE),
        "the solicitation is the one A would have sent with its MOOSE address"
    );
    assert_eq!(drops(&r3, 0, "own_prefix"), 0);

    // Round 2: B answers A's MOOSE address. Every switch starts again.
    let reply = arp(2, A_MOOSE, B, B, IP_B, A_MOOSE, IP_A);
    let na = advert(A_MOOSE, B, B);
    let (o3, r3) = s3(
        &s,
        "s3-rep",
        Some(&st3),
        vec![],
        vec![reply.clone(), na.clone()],
    );
    assert!(o3["e0"].is_empty(), "nothing back to B: {:?}", o3["e0"]);
    let up3 = o3["up"].clone();
    assert_eq!(up3.len(), 2, "{up3:02x?}");
    assert!(
        r3["ports"][1]["counters"]["rx_punted"].as_u64().unwrap() >= 1,
        "B's first frame waits for its address: {r3}"
    );

    let (o2, _) = s2(&s, "s2-rep", vec![], up3.clone());
    assert_eq!(o2["w"], up3, "S2 forwards the reply unchanged");
    assert!(o2["e"].is_empty(), "nothing back towards S3: {:?}", o2["e"]);

    let (o1, r1) = s1(&s, "s1-rep", Some(&st1), vec![], o2["w"].clone());
    assert!(o1["up"].is_empty(), "nothing back up: {:?}", o1["up"]);
    let at_a = &o1["e0"];
    assert_eq!(at_a.len(), 2, "{at_a:02x?}");
    assert_eq!(
        at_a[0],
        arp(2, A, B_MOOSE, B_MOOSE, IP_B, A, IP_A),
        "A gets the reply at its real MAC from 02:33:33:00:00:01, ARP target restored"
    );
    let got_na = &at_a[1];
    assert_eq!(&got_na[0..12], &[A.0, B_MOOSE.0].concat(), "NA addresses");
    assert_eq!(
        nd_option_addr(got_na),
        Some(B_MOOSE),
        "NA target link-layer option"
    );
    assert!(icmpv6_checksum_ok(got_na), "NA checksum: {got_na:02x?}");
    assert_eq!(*got_na, advert(A, B_MOOSE, B_MOOSE));
    assert_eq!(drops(&r1, 1, "no_host"), 0);

    // Without the store, round 2's S1 has never heard of A: the reply has
    // no host to go to.
    let (o1, r1) = s1(&s, "s1-nostate", None, vec![], o2["w"].clone());
    assert!(o1["e0"].is_empty(), "{:02x?}", o1["e0"]);
    assert_eq!(drops(&r1, 1, "no_host"), 2, "{r1}");
}

/// A DHCPDISCOVER from `src` (chaddr `src`) whose last option, a client
/// identifier, claims more octets than the message has.
fn discover_with_truncated_options(src: Mac) -> Vec<u8> {
    let mut bootp = vec![1, 1, 6, 0, 0x12, 0x34, 0x56, 0x78, 0, 0, 0x80, 0];
    bootp.resize(28, 0); // ciaddr, yiaddr, siaddr, giaddr
    bootp.extend_from_slice(&src.0);
    bootp.resize(236, 0); // chaddr padding, sname, file
    bootp.extend_from_slice(&[99, 130, 83, 99, 53, 1, 1, 61, 200, 1, 2, 3]);
    let udp_len = 8 + bootp.len() as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(20 + udp_len).to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255]);
    ip.extend_from_slice(&[0, 68, 0, 67]);
    ip.extend_from_slice(&udp_len.to_be_bytes());
    ip.extend_from_slice(&[0, 0]); // no UDP checksum
    ip.extend_from_slice(&bootp);
    let mut f = Vec::new();
    ethernet::emit(&mut f, Mac::BROADCAST, src, None, EtherType::Ipv4, &ip);
    f
}

/// Frames whose payload cannot be read — a truncated ARP, a neighbour
/// solicitation with a zero-length option, a DHCPDISCOVER whose options
/// run off its end — are forwarded with only their Ethernet source
/// translated and the payload as sent, counted as `rewrite_invalid`;
/// invalid sources are dropped by reason; the switch goes on.
#[test]
fn unreadable_payloads_are_forwarded_untouched_and_counted() {
    let s = Scratch::new("golden-bad");
    let good = arp(1, Mac::BROADCAST, A, A, IP_A, Mac::ZERO, IP_B);
    let short_arp = good[..14 + 20].to_vec();
    let mut bad_ns = solicit(A, A);
    assert_eq!(bad_ns[14 + 40 + 24], 1, "the source link-layer option");
    bad_ns[14 + 40 + 25] = 0; // RFC 4861 §4.6: length 0 is invalid
    let bad_dhcp = discover_with_truncated_options(A);
    let mut zero_src = good.clone();
    zero_src[6..12].fill(0);
    let mut mcast_src = good.clone();
    mcast_src[6] |= 1;
    let input = vec![
        good.clone(),
        short_arp.clone(),
        bad_ns.clone(),
        bad_dhcp.clone(),
        zero_src,
        mcast_src,
    ];
    let (out, r) = s1(&s, "s1-bad", None, input, vec![]);
    let up = &out["up"];
    assert_eq!(up.len(), 4, "the four frames from A go up: {up:02x?}");
    let translated = |f: &[u8]| {
        let mut g = f.to_vec();
        g[6..12].copy_from_slice(&A_MOOSE.0);
        g
    };
    for (what, sent) in [
        ("truncated ARP", &short_arp),
        ("ND with a bad option", &bad_ns),
        ("DHCP with truncated options", &bad_dhcp),
    ] {
        assert!(
            up.contains(&translated(sent)),
            "{what}: forwarded with only its source translated: {up:02x?}"
        );
    }
    assert!(
        up.contains(&arp(
            1,
            Mac::BROADCAST,
            A_MOOSE,
            A_MOOSE,
            IP_A,
            Mac::ZERO,
            IP_B
        )),
        "the readable ARP is rewritten: {up:02x?}"
    );
    assert_eq!(r["workers"]["rewrite_invalid"], 3, "{}", r["workers"]);
    assert_eq!(r["workers"]["rewrite_arp"], 1, "{}", r["workers"]);
    assert_eq!(drops(&r, 0, "src_zero"), 1);
    assert_eq!(drops(&r, 0, "src_multicast"), 1);
}
