//! MOOSE edge and fabric in-process: two switches over the in-memory
//! backend, joined by a fabric link, stepped by hand. Checks the worked
//! example (a host's ARP request leaves its switch with its MOOSE address
//! as source and sender, the reply comes back to its real MAC with the
//! remote host's MOOSE address), IPv6 neighbour discovery and DHCP rewrites
//! with valid checksums, quotas, drops, and allocations that survive a
//! restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use moose_config::Config;
use moose_control::home::api::HomeQuery;
use moose_control::hosts::api::{HostStats, HostsPage, HostsQuery, StatsQuery as HostStatsQuery};
use moose_control::hosts::Hosts;
use moose_control::routes::api::RoutesQuery;
use moose_control::routing::api::NeighborsQuery;
use moose_control::routing::Routing;
use moose_control::{ControlHandle, Runtime, StaticPorts};
use moose_dataplane::mem::{Mem, MemPort};
use moose_dataplane::{
    DropReason, Pipeline, PortCounter, PortTotals, Worker, WorkerCounter, WorkerStats,
};
use moose_wire::{ethernet, EtherType, Mac};

fn mac(s: &str) -> Mac {
    s.parse().unwrap()
}

const A: &str = "00:16:17:6d:b7:cf";
const B: &str = "00:0c:f1:df:6a:84";

fn switch_config(prefix: &str, peer: &str, extra: &str, edges: usize) -> Config {
    switch_config_with(prefix, peer, extra, edges, 0)
}

/// Ports in this order: f0 (fabric), e1..=e`edges` (edge), l1..=l`legacy`.
fn switch_config_with(
    prefix: &str,
    peer: &str,
    extra: &str,
    edges: usize,
    legacy: usize,
) -> Config {
    let mut t = format!(
        "[switch]\nname=\"s\"\n[dataplane]\nidle=\"backoff\"\n[moose]\nprefix = \"{prefix}\"\n{extra}\n"
    );
    t += "[[port]]\nname=\"f0\"\nrole=\"fabric\"\ndevice=\"net_null0\"\n";
    for i in 1..=edges {
        t += &format!("[[port]]\nname=\"e{i}\"\nrole=\"edge\"\ndevice=\"net_null{i}\"\n");
    }
    for i in 1..=legacy {
        let d = edges + i;
        t += &format!("[[port]]\nname=\"l{i}\"\nrole=\"legacy\"\ndevice=\"net_null{d}\"\n");
    }
    t += &format!("[[route]]\nprefix = \"{peer}\"\nport = \"f0\"\n");
    // These pipelines test translation: ARP and ND go through it, not to
    // the directory (tests/moose_triangle.rs runs ELK).
    t += "[elk]\nenabled = false\n";
    Config::from_toml(&t).unwrap()
}

struct Switch {
    ports: Vec<MemPort>,
    workers: Vec<Worker<Mem>>,
    runtime: Runtime<'static, Mem>,
    handle: ControlHandle,
    stats: Vec<Arc<WorkerStats>>,
}

impl Switch {
    fn new(cfg: &Config, ports: Vec<MemPort>) -> Switch {
        let q = moose_dataplane::mem::queues(&ports, 1);
        let pipe = Pipeline::<Mem>::build(cfg, q.rx, q.tx, q.pools).unwrap();
        let mut runtime = Runtime::new(pipe.control, Box::new(StaticPorts { tx_max: 1514 }));
        runtime.set_config(cfg.clone());
        runtime.add(Box::new(Hosts::from_config(cfg).unwrap().unwrap()));
        let p = cfg.moose.as_ref().unwrap().switch.prefix().addr().0;
        let id = Mac([0x52, 0x54, 0, p[1], p[2], 1]);
        runtime.add(Box::new(Routing::from_config(cfg, id).unwrap()));
        runtime.start(Instant::now());
        let handle = runtime.handle();
        Switch {
            ports,
            workers: pipe.workers,
            runtime,
            handle,
            stats: pipe.stats,
        }
    }

    /// Polls until idle, lets the control thread turn (publish, re-inject),
    /// polls again.
    fn step(&mut self, now: Instant) {
        for _ in 0..3 {
            for w in &mut self.workers {
                while w.poll_once(now) > 0 {}
            }
            self.runtime.turn(now);
        }
        for w in &mut self.workers {
            while w.poll_once(now) > 0 {}
        }
    }

    fn call<C: moose_control::Call>(&mut self, c: C) -> C::Reply {
        let h = self.handle.clone();
        let t = std::thread::spawn(move || h.call_blocking(c, Duration::from_secs(5)));
        while !t.is_finished() {
            self.runtime.turn(Instant::now());
            std::thread::sleep(Duration::from_micros(200));
        }
        t.join().unwrap().expect("answer")
    }

    fn hosts(&mut self) -> Vec<(String, String, String)> {
        let p: HostsPage = self.call(HostsQuery {
            limit: 100,
            after: None,
        });
        p.entries
            .into_iter()
            .map(|h| (h.mac.to_string(), h.moose_mac.to_string(), h.port))
            .collect()
    }

    /// What port `i` transmitted, less home hellos.
    fn out(&self, i: usize) -> Vec<Vec<u8>> {
        let mut v = self.ports[i].drain();
        v.retain(|f| f[..6] != moose_wire::proto::HOME_GROUP.0);
        v
    }

    fn totals(&self, port: u16) -> PortTotals {
        PortTotals::sum(&self.stats, port)
    }

    fn worker(&self, c: WorkerCounter) -> u64 {
        self.stats.iter().map(|s| s.worker(c)).sum()
    }
}

/// Two switches joined at f0: S1 02:11:11/24 with edges e1, e2; S2
/// 02:22:22/24 with edge e1.
fn pair(extra1: &str, extra2: &str) -> (Switch, Switch) {
    pair_with_legacy(extra1, extra2, 0)
}

/// [`pair`] with `legacy` legacy ports on S1 after its two edges.
fn pair_with_legacy(extra1: &str, extra2: &str, legacy: usize) -> (Switch, Switch) {
    let q1 = Arc::new(ArrayQueue::new(4096));
    let q2 = Arc::new(ArrayQueue::new(4096));
    let f1 = MemPort {
        ingress: q2.clone(),
        egress: q1.clone(),
    };
    let f2 = MemPort {
        ingress: q1,
        egress: q2,
    };
    let c1 = switch_config_with(
        "02:11:11:00:00:00/24",
        "02:22:22:00:00:00/24",
        extra1,
        2,
        legacy,
    );
    let c2 = switch_config("02:22:22:00:00:00/24", "02:11:11:00:00:00/24", extra2, 1);
    let mut ports1 = vec![f1, MemPort::new(4096), MemPort::new(4096)];
    ports1.extend((0..legacy).map(|_| MemPort::new(4096)));
    let mut s1 = Switch::new(&c1, ports1);
    let mut s2 = Switch::new(&c2, vec![f2, MemPort::new(4096)]);
    converge(&mut s1, &mut s2);
    (s1, s2)
}

/// Steps both switches in real time until their link-state adjacency is
/// full and the fabric link is on both broadcast trees.
fn converge(s1: &mut Switch, s2: &mut Switch) {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        for _ in 0..5 {
            s1.step(Instant::now());
            s2.step(Instant::now());
            std::thread::sleep(Duration::from_millis(2));
        }
        let (n1, n2) = (s1.call(NeighborsQuery), s2.call(NeighborsQuery));
        let active = |n: &[moose_control::routing::api::NeighborRecord]| {
            n.iter().all(|r| r.state == "full" && r.tree_active)
        };
        if active(&n1) && active(&n2) {
            return;
        }
        assert!(Instant::now() < until, "no adjacency: {n1:?} {n2:?}");
    }
}

fn arp(
    op: u16,
    eth_dst: Mac,
    eth_src: Mac,
    sha: Mac,
    spa: [u8; 4],
    tha: Mac,
    tpa: [u8; 4],
) -> Vec<u8> {
    let mut p = vec![0, 1, 0x08, 0, 6, 4];
    p.extend_from_slice(&op.to_be_bytes());
    p.extend_from_slice(&sha.0);
    p.extend_from_slice(&spa);
    p.extend_from_slice(&tha.0);
    p.extend_from_slice(&tpa);
    p.resize(46, 0);
    let mut f = Vec::new();
    ethernet::emit(&mut f, eth_dst, eth_src, None, EtherType::Arp, &p);
    f
}

fn step_both(s1: &mut Switch, s2: &mut Switch, now: Instant) {
    for _ in 0..3 {
        s1.step(now);
        s2.step(now);
    }
}

/// The worked example: host A behind 02:11:11, host B behind 02:22:22.
#[test]
fn worked_example_arp_both_ways() {
    let (mut s1, mut s2) = pair("", "");
    let now = Instant::now();
    let (a, b) = (mac(A), mac(B));
    let (ip_a, ip_b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    // A asks for B: a broadcast ARP request into S1's e1.
    assert!(s1.ports[1].inject(arp(1, Mac::BROADCAST, a, a, ip_a, Mac::ZERO, ip_b)));
    step_both(&mut s1, &mut s2, now);
    let a_moose = mac("02:11:11:00:00:01");
    let got = s2.out(1);
    assert_eq!(got.len(), 1, "the request reaches B, once");
    let want = arp(1, Mac::BROADCAST, a_moose, a_moose, ip_a, Mac::ZERO, ip_b);
    assert_eq!(got[0], want, "source and ARP sender are A's MOOSE address");
    // S1's other edge port got it too, translated the same way.
    assert_eq!(s1.out(2), vec![want]);
    // B answers A's MOOSE address.
    assert!(s2.ports[1].inject(arp(2, a_moose, b, b, ip_b, a_moose, ip_a)));
    step_both(&mut s1, &mut s2, now);
    let b_moose = mac("02:22:22:00:00:01");
    let got = s1.out(1);
    assert_eq!(
        got,
        vec![arp(2, a, b_moose, b_moose, ip_b, a, ip_a)],
        "the reply reaches A at its real MAC, from B's MOOSE address, target restored"
    );
    assert!(s1.out(2).is_empty(), "unicast: not to e2");
    // Each switch holds its own host only, and prefixes for the rest.
    assert_eq!(
        s1.hosts(),
        vec![(A.to_string(), a_moose.to_string(), "e1".to_string())]
    );
    assert_eq!(
        s2.hosts(),
        vec![(B.to_string(), b_moose.to_string(), "e1".to_string())]
    );
    let mut routes = s1.call(RoutesQuery);
    // SPF found S2's prefix too; the static route to it wins.
    let spf = routes.pop().unwrap();
    assert_eq!(
        (spf.source.as_str(), spf.installed),
        ("spf", false),
        "{spf:?}"
    );
    assert_eq!(routes.len(), 2);
    assert!(routes[0].local && routes[0].prefix == "02:11:11:00:00:00/24");
    assert_eq!(
        (routes[1].prefix.as_str(), routes[1].ports.clone()),
        ("02:22:22:00:00:00/24", vec!["f0".to_string()])
    );
    // First frames were held, not lost: re-injected once the address existed.
    assert!(s1.worker(WorkerCounter::Reinjected) >= 1);
    assert!(s2.worker(WorkerCounter::Reinjected) >= 1);
    assert!(
        s1.worker(WorkerCounter::RewriteArp) >= 2,
        "sender on the way out, target on the way in"
    );
    let st: HostStats = s1.call(HostStatsQuery);
    assert_eq!((st.hosts, st.counters.allocated), (1, 1));
    assert!(st.first_frame_count >= 1);
}

/// Frames that must not pass are dropped and counted.
#[test]
fn drops_at_the_edge_and_the_fabric() {
    let (mut s1, mut s2) = pair("", "");
    let now = Instant::now();
    let a = mac(A);
    // A known host first.
    s1.ports[1].inject(arp(
        1,
        Mac::BROADCAST,
        a,
        a,
        [10, 0, 0, 1],
        Mac::ZERO,
        [10, 0, 0, 2],
    ));
    step_both(&mut s1, &mut s2, now);
    let _ = (s1.out(2), s2.out(1));
    let ipv4 = |dst: Mac, src: Mac| {
        let mut f = Vec::new();
        ethernet::emit(&mut f, dst, src, None, EtherType::Ipv4, &[0x45; 46]);
        f
    };
    // To an address under the own prefix that no host has.
    s1.ports[1].inject(ipv4(mac("02:11:11:00:00:99"), a));
    // To a prefix with no route.
    s1.ports[1].inject(ipv4(mac("02:33:33:00:00:01"), a));
    // From the fabric with this switch's own prefix as source: a loop.
    s1.ports[0].inject(ipv4(mac("02:11:11:00:00:01"), mac("02:11:11:00:00:05")));
    // Multicast and all-zero sources at the edge.
    s1.ports[1].inject(ipv4(mac("02:22:22:00:00:01"), Mac::BROADCAST));
    s1.ports[1].inject(ipv4(mac("02:22:22:00:00:01"), Mac::ZERO));
    step_both(&mut s1, &mut s2, now);
    let e1 = s1.totals(1);
    assert_eq!(e1.dropped(DropReason::NoHost), 1);
    assert_eq!(e1.dropped(DropReason::NoRoute), 1);
    assert_eq!(e1.dropped(DropReason::SrcMulticast), 1);
    assert_eq!(e1.dropped(DropReason::SrcZero), 1);
    assert_eq!(s1.totals(0).dropped(DropReason::OwnPrefix), 1);
    assert!(s2.out(1).is_empty());
    // A source that looks like a MOOSE address is translated like any
    // other: a new host.
    s1.ports[2].inject(ipv4(mac("02:22:22:00:00:01"), mac("02:11:11:00:00:01")));
    step_both(&mut s1, &mut s2, now);
    let hosts = s1.hosts();
    assert!(
        hosts
            .iter()
            .any(|h| h.0 == "02:11:11:00:00:01" && h.2 == "e2"),
        "{hosts:?}"
    );
}

/// An exhaustion flood on one port stops at its quota; the port's hosts and
/// the other port keep working.
#[test]
fn host_quota_bounds_a_flood() {
    let (mut s1, mut s2) = pair("host_quota = 5\nmax_hosts = 100\n[punt.host]\nport_burst = 2000\nburst = 2000\nport_rate_pps = 20000", "");
    let now = Instant::now();
    let ipv4 = |dst: Mac, src: Mac| {
        let mut f = Vec::new();
        ethernet::emit(&mut f, dst, src, None, EtherType::Ipv4, &[0x45; 46]);
        f
    };
    for n in 0..1000u32 {
        let src = Mac([0x00, 0x50, 0x56, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
        s1.ports[1].inject(ipv4(mac("02:22:22:00:00:01"), src));
    }
    s1.ports[2].inject(ipv4(mac("02:22:22:00:00:01"), mac(A)));
    step_both(&mut s1, &mut s2, now);
    let st: HostStats = s1.call(HostStatsQuery);
    assert_eq!(st.per_port.get("e1"), Some(&5));
    assert_eq!(
        st.per_port.get("e2"),
        Some(&1),
        "the other port's host got its address"
    );
    assert!(st.counters.quota_refused >= 900, "{st:?}");
    assert_eq!(st.hosts, 6);
}

/// IPv6 neighbour discovery: a solicitation's source link-layer option
/// leaves with the MOOSE address and a valid ICMPv6 checksum.
#[test]
fn neighbour_solicitation_is_rewritten_with_a_valid_checksum() {
    use moose_wire::icmpv6;
    use moose_wire::ndisc::{self, Repr};
    use std::net::Ipv6Addr;
    let (mut s1, mut s2) = pair("", "");
    let now = Instant::now();
    let a = mac(A);
    let src: Ipv6Addr = "fe80::216:17ff:fe6d:b7cf".parse().unwrap();
    let target: Ipv6Addr = "fe80::20c:f1ff:fedf:6a84".parse().unwrap();
    let dst: Ipv6Addr = "ff02::1:ffdf:6a84".parse().unwrap();
    let repr = Repr::NeighborSolicit {
        target_addr: target,
        lladdr: Some(a),
    };
    let mut icmp = vec![0u8; repr.buffer_len()];
    repr.emit(&src, &dst, &mut ndisc::Packet::new_unchecked(&mut icmp[..]));
    let mut ip6 = vec![0x60, 0, 0, 0];
    ip6.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    ip6.extend_from_slice(&[58, 255]);
    ip6.extend_from_slice(&src.octets());
    ip6.extend_from_slice(&dst.octets());
    ip6.extend_from_slice(&icmp);
    let mut f = Vec::new();
    ethernet::emit(
        &mut f,
        mac("33:33:ff:df:6a:84"),
        a,
        None,
        EtherType::Ipv6,
        &ip6,
    );
    s1.ports[1].inject(f);
    step_both(&mut s1, &mut s2, now);
    let got = s2.out(1);
    assert_eq!(got.len(), 1);
    let g = &got[0];
    assert_eq!(&g[6..12], &mac("02:11:11:00:00:01").0);
    let body = &g[14 + 40..];
    let p = ndisc::Packet::new_checked(body).unwrap();
    assert_eq!(p.source_lladdr(), Some(mac("02:11:11:00:00:01")));
    assert!(
        icmpv6::Packet::new_checked(body)
            .unwrap()
            .verify_checksum(&src, &dst),
        "checksum stays valid"
    );
    assert!(s1.worker(WorkerCounter::RewriteNd) >= 1);
}

/// Allocations survive a restart (the store in `state_dir`).
#[test]
fn addresses_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("state_dir = \"{}\"", dir.path().display());
    let ipv4 = |dst: Mac, src: Mac| {
        let mut f = Vec::new();
        ethernet::emit(&mut f, dst, src, None, EtherType::Ipv4, &[0x45; 46]);
        f
    };
    let now = Instant::now();
    let first = {
        let (mut s1, mut s2) = pair(&extra, "");
        // Two hosts, so that the second's id is not the first one.
        s1.ports[1].inject(ipv4(mac("02:22:22:00:00:01"), mac("00:50:56:00:00:01")));
        s1.ports[1].inject(ipv4(mac("02:22:22:00:00:01"), mac(A)));
        step_both(&mut s1, &mut s2, now);
        s1.hosts()
    };
    assert_eq!(first.len(), 2);
    let (mut s1, mut s2) = pair(&extra, "");
    assert_eq!(s1.hosts(), first, "restored before any frame");
    s1.ports[1].inject(ipv4(mac("02:22:22:00:00:01"), mac(A)));
    step_both(&mut s1, &mut s2, now);
    let st: HostStats = s1.call(HostStatsQuery);
    assert_eq!(
        st.counters.allocated, 0,
        "no new allocation after the restart"
    );
    assert!(st.persistent);
}

/// A legacy segment on a MOOSE switch: its hosts are bridged among
/// themselves as they are, get MOOSE addresses beyond it, and answers come
/// back to their real MACs. One broadcast leaves unchanged on the other
/// legacy port and translated on the edge and fabric ports.
#[test]
fn legacy_segment_on_a_moose_switch() {
    let (mut s1, mut s2) = pair_with_legacy("", "", 2);
    let now = Instant::now();
    let (l, l2, b) = (mac("00:aa:00:00:00:01"), mac("00:aa:00:00:00:02"), mac(B));
    let (ip_l, ip_l2, ip_b) = ([10, 0, 0, 11], [10, 0, 0, 12], [10, 0, 0, 2]);
    // L (on l1) asks for B.
    let ask = arp(1, Mac::BROADCAST, l, l, ip_l, Mac::ZERO, ip_b);
    assert!(s1.ports[3].inject(ask.clone()));
    step_both(&mut s1, &mut s2, now);
    let hosts = s1.hosts();
    let l_moose = hosts
        .iter()
        .find(|h| h.0 == l.to_string())
        .map(|h| mac(&h.1))
        .unwrap_or_else(|| panic!("L has a MOOSE address: {hosts:?}"));
    assert_eq!(hosts.iter().find(|h| h.0 == l.to_string()).unwrap().2, "l1");
    assert_eq!(s1.out(4), vec![ask], "the other legacy port: as sent");
    let translated = arp(1, Mac::BROADCAST, l_moose, l_moose, ip_l, Mac::ZERO, ip_b);
    assert_eq!(s1.out(1), vec![translated.clone()], "edge: translated");
    assert_eq!(s2.out(1), vec![translated], "across the fabric: translated");
    assert!(s1.out(3).is_empty(), "not back to the sender");
    // B answers L's MOOSE address: L gets it at its real MAC.
    let b_moose = mac("02:22:22:00:00:01");
    assert!(s2.ports[1].inject(arp(2, l_moose, b, b, ip_b, l_moose, ip_l)));
    step_both(&mut s1, &mut s2, now);
    assert_eq!(
        s1.out(3),
        vec![arp(2, l, b_moose, b_moose, ip_b, l, ip_l)],
        "the reply reaches L at its real MAC, target restored"
    );
    assert!(s1.out(4).is_empty());
    // L2 (on l2) speaks; then L to L2 is bridged untouched.
    let hello = arp(1, Mac::BROADCAST, l2, l2, ip_l2, Mac::ZERO, ip_l);
    assert!(s1.ports[4].inject(hello.clone()));
    step_both(&mut s1, &mut s2, now);
    assert_eq!(s1.out(3), vec![hello]);
    let _ = (s1.out(1), s1.out(2), s2.out(1));
    let reply = arp(2, l2, l, l, ip_l, l2, ip_l2);
    assert!(s1.ports[3].inject(reply.clone()));
    step_both(&mut s1, &mut s2, now);
    assert_eq!(s1.out(4), vec![reply], "legacy to legacy: as sent");
    assert!(s1.out(1).is_empty() && s2.out(1).is_empty());
}

/// A segment on two switches (a hub joining S1's e2, S2's e1 and host H):
/// S1 has the lower prefix, so it is the segment's home; S2 hears its
/// hellos, translates nothing for H and floods nothing onto the segment;
/// once S1's hellos stop, S2 takes over.
#[test]
fn a_segment_on_two_switches_has_one_home() {
    let (mut s1, mut s2) = pair("home_hello_ms = 100", "home_hello_ms = 100");
    let h = mac("00:aa:00:00:00:07");
    let mut on_segment: Vec<Vec<u8>> = Vec::new();
    // The hub: what one switch sends onto the segment reaches the other
    // switch and the host. `pass_s1` false: S1's frames are lost.
    let hub = |s1: &mut Switch, s2: &mut Switch, seen: &mut Vec<Vec<u8>>, pass_s1: bool| {
        for f in s1.ports[2].drain() {
            if pass_s1 {
                s2.ports[1].inject(f.clone());
                seen.push(f);
            }
        }
        for f in s2.ports[1].drain() {
            s1.ports[2].inject(f.clone());
            seen.push(f);
        }
    };
    let t0 = Instant::now();
    for i in 0..5 {
        let now = t0 + Duration::from_millis(100 * i);
        step_both(&mut s1, &mut s2, now);
        hub(&mut s1, &mut s2, &mut on_segment, true);
        step_both(&mut s1, &mut s2, now);
    }
    let r1 = s1.call(HomeQuery);
    let r2 = s2.call(HomeQuery);
    let e2 = r1.ports.iter().find(|p| p.port == "e2").unwrap();
    assert!(e2.home, "{r1:?}");
    assert_eq!(e2.heard.len(), 1, "S2's port heard: {r1:?}");
    let s2e1 = r2.ports.iter().find(|p| p.port == "e1").unwrap();
    assert!(!s2e1.home, "{r2:?}");
    assert_eq!(s2e1.home_of_segment, "02:11:11:00:00:00/24 port 2");
    assert!(r1.counters.hellos_sent >= 5 && r2.counters.hellos_received >= 4);
    assert_eq!(r2.counters.home_changes, 1);
    // H broadcasts onto the segment: both switches get it.
    on_segment.clear();
    let ask = arp(
        1,
        Mac::BROADCAST,
        h,
        h,
        [10, 0, 0, 7],
        Mac::ZERO,
        [10, 0, 0, 1],
    );
    s1.ports[2].inject(ask.clone());
    s2.ports[1].inject(ask);
    let now = t0 + Duration::from_millis(450);
    step_both(&mut s1, &mut s2, now);
    hub(&mut s1, &mut s2, &mut on_segment, true);
    step_both(&mut s1, &mut s2, now);
    assert_eq!(s2.totals(1).dropped(DropReason::NotHome), 1, "S2 refused H");
    assert!(s2.hosts().is_empty());
    let hosts = s1.hosts();
    assert_eq!(hosts.len(), 1);
    assert_eq!(
        (hosts[0].0.as_str(), hosts[0].2.as_str()),
        ("00:aa:00:00:00:07", "e2")
    );
    // S1's translated flood reached S2 over the fabric, and S2 did not put
    // it back onto the segment: only hellos are on it.
    assert!(
        on_segment
            .iter()
            .all(|f| f[..6] == moose_wire::proto::HOME_GROUP.0),
        "{on_segment:?}"
    );
    assert_eq!(s1.out(1).len(), 1, "S1's other edge got H's request");
    // S1's hellos stop: after the hold time (3.5 intervals) S2's port is
    // home again and takes H.
    for i in 5..12 {
        let now = t0 + Duration::from_millis(100 * i);
        step_both(&mut s1, &mut s2, now);
        hub(&mut s1, &mut s2, &mut on_segment, false);
        step_both(&mut s1, &mut s2, now);
    }
    let r2 = s2.call(HomeQuery);
    assert!(
        r2.ports.iter().find(|p| p.port == "e1").unwrap().home,
        "{r2:?}"
    );
    s2.ports[1].inject(arp(
        1,
        Mac::BROADCAST,
        h,
        h,
        [10, 0, 0, 7],
        Mac::ZERO,
        [10, 0, 0, 1],
    ));
    step_both(&mut s1, &mut s2, t0 + Duration::from_millis(1200));
    assert_eq!(s2.hosts().len(), 1);
}

/// A port that joins a segment whose home is elsewhere learns it within
/// a round trip, not a hello interval: the home answers a new, higher
/// port at once.
#[test]
fn a_new_port_on_the_segment_learns_its_home_at_once() {
    let (mut s1, mut s2) = pair("", "");
    let t0 = Instant::now();
    // S1's first hellos are lost (S2's port is not on the segment yet);
    // S2's reach S1.
    step_both(&mut s1, &mut s2, t0);
    let _ = s1.ports[2].drain();
    for f in s2.ports[1].drain() {
        s1.ports[2].inject(f);
    }
    // 10 ms later, far less than the 1000 ms interval: S1 heard a new,
    // higher port and answered it.
    let now = t0 + Duration::from_millis(10);
    step_both(&mut s1, &mut s2, now);
    for f in s1.ports[2].drain() {
        s2.ports[1].inject(f);
    }
    step_both(&mut s1, &mut s2, now);
    let r2 = s2.call(HomeQuery);
    let e1 = r2.ports.iter().find(|p| p.port == "e1").unwrap();
    assert!(!e1.home, "S2's port knows S1's is home: {r2:?}");
    assert_eq!(e1.home_of_segment, "02:11:11:00:00:00/24 port 2");
}

/// Two edge ports of one switch on one segment: the lower port is home.
#[test]
fn two_ports_of_one_switch_on_one_segment() {
    let (mut s1, mut s2) = pair("home_hello_ms = 100", "");
    let t0 = Instant::now();
    for i in 0..4 {
        let now = t0 + Duration::from_millis(100 * i);
        step_both(&mut s1, &mut s2, now);
        for f in s1.ports[1].drain() {
            s1.ports[2].inject(f);
        }
        for f in s1.ports[2].drain() {
            s1.ports[1].inject(f);
        }
        step_both(&mut s1, &mut s2, now);
    }
    let r = s1.call(HomeQuery);
    let home: Vec<(String, bool)> = r.ports.iter().map(|p| (p.port.clone(), p.home)).collect();
    assert_eq!(home, vec![("e1".into(), true), ("e2".into(), false)]);
}

/// Frames to the hello group that are not hellos are counted, not obeyed.
#[test]
fn malformed_hellos_are_counted() {
    let (mut s1, mut s2) = pair("", "");
    let now = Instant::now();
    let mut body = Vec::new();
    moose_wire::proto::emit(
        &moose_wire::proto::Message::HomeHello(moose_wire::proto::HomeHello {
            prefix: "02:00:00:00:00:00/24".parse().unwrap(),
            port: 0,
            hold_ms: 60_000,
        }),
        &mut body,
    );
    let good = body.clone();
    let mut frames = Vec::new();
    for cut in [0, 3, 10] {
        frames.push(body[..cut].to_vec());
    }
    body[0] = 9;
    frames.push(body.clone());
    for b in frames {
        let mut f = Vec::new();
        let mut b = b;
        b.resize(46, 0);
        ethernet::emit(
            &mut f,
            moose_wire::proto::HOME_GROUP,
            mac("02:00:00:00:00:00"),
            None,
            EtherType::Unknown(moose_wire::proto::ETHERTYPE),
            &b,
        );
        s1.ports[1].inject(f);
    }
    // The right body under another EtherType.
    let mut f = Vec::new();
    let mut g = good;
    g.resize(46, 0);
    ethernet::emit(
        &mut f,
        moose_wire::proto::HOME_GROUP,
        mac("02:00:00:00:00:00"),
        None,
        EtherType::Ipv4,
        &g,
    );
    s1.ports[1].inject(f);
    step_both(&mut s1, &mut s2, now);
    let r = s1.call(HomeQuery);
    assert!(r.ports.iter().all(|p| p.home), "{r:?}");
    // Zero-length bodies are padded to 46 zero octets: version 0, invalid.
    assert_eq!(r.counters.hellos_invalid, 5, "{r:?}");
    assert_eq!(r.counters.hellos_received, 0);
}

/// One rx burst of several hosts' frames that all leave by the fabric
/// port — unicasts to another switch and a broadcast whose only other
/// port is that one — is moved in one copy, each frame with its own
/// host's rewrite (the mover's one-port path), and counted as it goes.
#[test]
fn several_hosts_in_one_burst_to_the_fabric() {
    // No neighbour on the fabric port: without the protocol it floods
    // there as on a loop-free fabric.
    let cfg = switch_config(
        "02:22:22:00:00:00/24",
        "02:11:11:00:00:00/24",
        "[routing]\nenabled = false",
        1,
    );
    let mut s = Switch::new(&cfg, vec![MemPort::new(4096), MemPort::new(4096)]);
    let now = Instant::now();
    let hosts = [
        mac("00:16:3e:00:00:01"),
        mac("00:16:3e:00:00:02"),
        mac("00:16:3e:00:00:03"),
    ];
    let moose = |i: usize| mac(&format!("02:22:22:00:00:0{}", i + 1));
    let ip = |i: usize| [10, 0, 0, 10 + i as u8];
    // Each host announces itself first (sequential ids in this order).
    for (i, &h) in hosts.iter().enumerate() {
        assert!(s.ports[1].inject(arp(1, Mac::BROADCAST, h, h, ip(i), Mac::ZERO, ip(i))));
        s.step(now);
    }
    let _ = s.out(0);
    let data = |dst: Mac, src: Mac| {
        let mut f = Vec::new();
        ethernet::emit(&mut f, dst, src, None, EtherType::Unknown(0x88b6), &[7; 46]);
        f
    };
    let (r1, r2) = (mac("02:11:11:00:00:07"), mac("02:11:11:00:00:08"));
    let burst = [
        data(r1, hosts[0]),
        arp(
            1,
            Mac::BROADCAST,
            hosts[1],
            hosts[1],
            ip(1),
            Mac::ZERO,
            [10, 0, 0, 99],
        ),
        data(r2, hosts[2]),
        data(r1, hosts[1]),
    ];
    for f in &burst {
        assert!(s.ports[1].inject(f.clone()));
    }
    let flood_before = s.totals(0).get(PortCounter::TxFlood);
    s.step(now);
    let want = vec![
        data(r1, moose(0)),
        arp(
            1,
            Mac::BROADCAST,
            moose(1),
            moose(1),
            ip(1),
            Mac::ZERO,
            [10, 0, 0, 99],
        ),
        data(r2, moose(2)),
        data(r1, moose(1)),
    ];
    assert_eq!(s.out(0), want);
    assert_eq!(s.totals(0).get(PortCounter::TxFlood) - flood_before, 1);
}

/// A `[[sticky_host]]` never moves: its frames on another port are
/// dropped and counted, before and after it was seen on its own port.
#[test]
fn a_sticky_host_stays_on_its_port() {
    let (mut s1, mut s2) = pair(
        &format!("[[sticky_host]]\nmac = \"{A}\"\nport = \"e1\""),
        "",
    );
    let now = Instant::now();
    let a = mac(A);
    let frame = arp(
        1,
        Mac::BROADCAST,
        a,
        a,
        [10, 0, 0, 1],
        Mac::ZERO,
        [10, 0, 0, 9],
    );
    assert!(s1.ports[2].inject(frame.clone()));
    step_both(&mut s1, &mut s2, now);
    let st: HostStats = s1.call(HostStatsQuery);
    assert_eq!(st.counters.sticky_refused, 1, "{st:?}");
    assert!(s1.hosts().is_empty());
    assert!(s1.ports[1].inject(frame.clone()));
    step_both(&mut s1, &mut s2, now);
    assert_eq!(s1.hosts().len(), 1);
    assert!(s1.ports[2].inject(frame));
    step_both(&mut s1, &mut s2, now);
    let st: HostStats = s1.call(HostStatsQuery);
    assert_eq!(st.counters.sticky_refused, 2, "{st:?}");
    assert_eq!(st.counters.moved, 0);
    assert_eq!(s1.hosts()[0].2, "e1");
}

/// Static routes through the API (checked as the file's: each refusal
/// names its field), live at once, kept across a reload until the file
/// takes their prefix over; the file's own cannot be changed through it;
/// a reload's quota and bound reach the hosts service.
#[test]
fn routes_and_quotas_change_without_restart() {
    use moose_control::routes::api::{AddRoute, Ports, RemoveRoute};
    use moose_control::runtime::calls;
    use moose_control::{RefusalKind, ReloadReport};
    let cfg = switch_config("02:11:11:00:00:00/24", "02:22:22:00:00:00/24", "", 2);
    let ports = (0..3).map(|_| MemPort::new(256)).collect();
    let mut s = Switch::new(&cfg, ports);
    let now = Instant::now();
    let add = |prefix: &str, port: &str| AddRoute {
        prefix: prefix.into(),
        port: Ports::One(port.into()),
    };
    let r = s.call(add("02:33:33:00:00:00/24", "f0")).expect("added");
    assert_eq!((r.origin.as_deref(), r.installed), (Some("api"), true));
    for (a, kind, field) in [
        (
            add("02:33:33:00:00:00", "f0"),
            RefusalKind::Invalid,
            "prefix: ",
        ),
        (
            add("02:11:11:00:01:00/40", "f0"),
            RefusalKind::Invalid,
            "prefix: ",
        ),
        (
            add("02:44:44:00:00:00/24", "e1"),
            RefusalKind::Invalid,
            "port: ",
        ),
        (
            add("02:44:44:00:00:00/24", "x9"),
            RefusalKind::Invalid,
            "port: ",
        ),
        (
            add("02:22:22:00:00:00/24", "f0"),
            RefusalKind::Conflict,
            "prefix: ",
        ),
    ] {
        let e = s.call(a).unwrap_err();
        assert_eq!(e.kind, kind, "{e:?}");
        assert!(e.message.starts_with(field), "{e:?}");
    }
    // A host's frame to the new prefix leaves by the fabric.
    let mut f = Vec::new();
    ethernet::emit(
        &mut f,
        mac("02:33:33:00:00:05"),
        mac(A),
        None,
        EtherType::Ipv4,
        &[0x45; 46],
    );
    s.ports[1].inject(f);
    s.step(now);
    assert_eq!(s.out(0).len(), 1, "routed to f0");

    let mut new = switch_config(
        "02:11:11:00:00:00/24",
        "02:22:22:00:00:00/24",
        "host_quota = 7\n[[route]]\nprefix = \"02:33:33:00:00:00/24\"\nport = \"f0\"",
        2,
    );
    let report: ReloadReport = s.call(calls::Reload {
        config: Box::new(new.clone()),
    });
    assert!(report.refused.is_empty(), "{report:?}");
    assert!(
        report
            .applied
            .contains(&"moose.host_quota: 4096 -> 7".to_string()),
        "{report:?}"
    );
    assert!(
        report
            .applied
            .iter()
            .any(|l| l.contains("02:33:33:00:00:00/24 is the config file's now")),
        "{report:?}"
    );
    let st: HostStats = s.call(HostStatsQuery);
    assert_eq!(st.host_quota, 7);
    let routes = s.call(RoutesQuery);
    let r33 = routes
        .iter()
        .find(|r| r.prefix == "02:33:33:00:00:00/24")
        .unwrap();
    assert_eq!(r33.origin.as_deref(), Some("config"));
    let rm = |prefix: &str| RemoveRoute {
        prefix: prefix.into(),
    };
    assert_eq!(
        s.call(rm("02:33:33:00:00:00/24")).unwrap_err().kind,
        RefusalKind::Conflict
    );
    assert_eq!(
        s.call(rm("02:55:55:00:00:00/24")).unwrap_err().kind,
        RefusalKind::NotFound
    );
    // An API route stays across a reload that does not name its prefix.
    s.call(add("02:55:55:00:00:00/24", "f0")).expect("added");
    new.moose.as_mut().unwrap().max_hosts = 100;
    let report: ReloadReport = s.call(calls::Reload {
        config: Box::new(new),
    });
    assert_eq!(report.applied, vec!["moose.max_hosts: 65536 -> 100"]);
    assert!(s
        .call(RoutesQuery)
        .iter()
        .any(|r| r.prefix == "02:55:55:00:00:00/24"));
    let gone = s.call(rm("02:55:55:00:00:00/24")).expect("removed");
    assert_eq!(gone.origin.as_deref(), Some("api"));
    assert!(!s
        .call(RoutesQuery)
        .iter()
        .any(|r| r.prefix == "02:55:55:00:00:00/24"));
}
