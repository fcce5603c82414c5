//! Legacy ports on MOOSE switches and a segment attached to two switches,
//! through the real binary with real Linux hosts.
//!
//! ```text
//!          h0 ─ e1 ┐                         ┌ e1 ─ h2
//!          h1 ─ l1 [S1 02:11:11/24] f0 ══ f0 [S2 02:22:22/24]
//!                  └ l2 ─┐             ┌─ l2 ┘
//!                        └─ Linux bridge ─┘
//!                               │
//!                               h3
//! ```
//!
//! S1's `e1` is an edge port, `l1` and `l2` are legacy ports; S2's `e1` and
//! `l2` are edge ports. h3's segment (a plain Linux bridge, no STP) is on
//! both switches: without the home election it would be a loop through the
//! fabric. Both switches send home hellos (every 100 ms here) on the
//! segment; S1's prefix is lower, so S1's `l2` is the segment's home and
//! S2's `l2` drops the frames of the segment's hosts (`not_home`) and is
//! left out of floods.
//!
//! * every pair of hosts pings (IPv4);
//! * among S1's legacy ports frames go as sent: h1 and h3 know each other
//!   by their real MACs; everything beyond the legacy ports sees legacy
//!   hosts at S1 MOOSE addresses (h0 on S1's edge, h2 behind S2), and the
//!   legacy hosts see h0 and h2 at MOOSE addresses;
//! * `/api/v1/home`: S1's `l2` is home, S2's `l2` is not and names S1's
//!   prefix; S2 counts `not_home` drops and holds no host of the segment;
//! * no storm: after a broadcast from h3, the fabric goes quiet.

mod common;

use std::time::Duration;

use common::*;
use moose_testbed::{sh, unique_tag, Host, Testbed, VethPair};

const P1: &str = "02:11:11:00:00:00/24";
const P2: &str = "02:22:22:00:00:00/24";

fn under(mac: &str, prefix: &str) -> bool {
    mac.starts_with(&prefix[..8])
}

/// A Linux bridge in the root namespace; deleted on drop.
struct Bridge(String);

impl Bridge {
    fn new(name: &str, ports: &[&str]) -> Bridge {
        let _ = sh(&["ip", "link", "del", name]);
        sh(&[
            "ip",
            "link",
            "add",
            name,
            "type",
            "bridge",
            "stp_state",
            "0",
        ])
        .expect("bridge");
        let br = Bridge(name.to_string());
        sh(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{name}.disable_ipv6=1"),
        ])
        .expect("sysctl");
        for p in ports {
            sh(&["ip", "link", "set", p, "master", name]).expect("enslave");
        }
        sh(&["ip", "link", "set", name, "up"]).expect("bridge up");
        br
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = sh(&["ip", "link", "del", &self.0]);
    }
}

fn port(name: &str, role: &str, i: usize, iface: &str) -> String {
    format!(
        "[[port]]\nname = \"{name}\"\nrole = \"{role}\"\ndevice = \"net_af_packet{i},iface={iface}\"\n"
    )
}

fn switch_config(name: &str, listen: &str, prefix: &str, peer: &str, ports: &str) -> String {
    format!(
        "[switch]\nname = \"{name}\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 8191\n{}\n\
         [metrics]\nlisten = \"{listen}\"\n[moose]\nprefix = \"{prefix}\"\nhome_hello_ms = 100\n\
         {ports}[[route]]\nprefix = \"{peer}\"\nport = \"f0\"\n",
        eal(name)
    )
}

/// The lladdr `h` has for `ip`, after a ping made sure there is one.
fn lladdr(h: &Host, ip: &str) -> String {
    h.neighbours(false)
        .expect("ip neigh")
        .into_iter()
        .find(|n| n.ip == ip)
        .and_then(|n| n.lladdr)
        .unwrap_or_else(|| panic!("{}: no neighbour entry for {ip}", h.ns))
}

fn home_port<'a>(home: &'a serde_json::Value, port: &str) -> &'a serde_json::Value {
    home["ports"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["port"] == port))
        .unwrap_or_else(|| panic!("no port {port} in {home}"))
}

/// Port `port`'s counters in `/api/v1/ports`.
fn counters(m: &Moose, port: &str) -> serde_json::Value {
    let ports = m.json("/api/v1/ports");
    ports
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == port))
        .unwrap_or_else(|| panic!("no port {port} in {ports}"))["counters"]
        .clone()
}

fn port_counter(m: &Moose, port: &str, key: &str) -> u64 {
    let c = counters(m, port);
    c[key].as_u64().unwrap_or_else(|| panic!("{key} of {c}"))
}

fn drops(m: &Moose, port: &str, reason: &str) -> u64 {
    counters(m, port)["drops"][reason].as_u64().unwrap_or(0)
}

#[test]
fn legacy_hosts_and_a_segment_on_two_switches() {
    let tag = unique_tag("lg");
    let tb = Testbed::new(&tag, 4, 61).expect("testbed (needs root)");
    let fabric = VethPair::new(&format!("{tag}f1"), &format!("{tag}f2")).expect("fabric link");
    let seg1 = VethPair::new(&format!("{tag}s1"), &format!("{tag}b1")).expect("segment to S1");
    let seg2 = VethPair::new(&format!("{tag}s2"), &format!("{tag}b2")).expect("segment to S2");
    let bridge = Bridge::new(
        &format!("{tag}br"),
        &[&seg1.b, &seg2.b, &tb.hosts[3].port_if],
    );
    let s = Scratch::new("legacy");
    let (l1, l2) = (free_addr(), free_addr());
    let cfg1 = switch_config(
        "lg-s1",
        &l1,
        P1,
        P2,
        &[
            port("f0", "fabric", 0, &fabric.a),
            port("e1", "edge", 1, &tb.hosts[0].port_if),
            port("l1", "legacy", 2, &tb.hosts[1].port_if),
            port("l2", "legacy", 3, &seg1.a),
        ]
        .concat(),
    );
    let cfg2 = switch_config(
        "lg-s2",
        &l2,
        P2,
        P1,
        &[
            port("f0", "fabric", 0, &fabric.b),
            port("e1", "edge", 1, &tb.hosts[2].port_if),
            port("l2", "edge", 2, &seg2.a),
        ]
        .concat(),
    );
    let s1 = Moose::start(&s.write("s1.toml", &cfg1), &[], &[], &l1);
    let s2 = Moose::start(&s.write("s2.toml", &cfg2), &[], &[], &l2);
    assert!(tb.wait_up(Duration::from_secs(5)), "host links up");
    for p in [&fabric, &seg1, &seg2] {
        assert!(p.wait_up(Duration::from_secs(5)), "{} up", p.a);
    }
    wait_converged(&l1, 1, Duration::from_secs(10));
    wait_converged(&l2, 1, Duration::from_secs(10));

    // The election, before any host talks.
    wait_until("S2's l2 hears S1's hellos", Duration::from_secs(5), || {
        home_port(&s2.json("/api/v1/home"), "l2")["home"] == false
    });
    let h1 = s1.json("/api/v1/home");
    let h2 = s2.json("/api/v1/home");
    assert_eq!(home_port(&h1, "l2")["home"], true, "{h1}");
    let theirs = home_port(&h2, "l2");
    assert!(
        theirs["home_of_segment"].as_str().unwrap().starts_with(P1),
        "S2's l2 names S1's port as the segment's home: {theirs}"
    );
    assert_eq!(home_port(&h1, "l1")["home"], true, "l1 is alone: {h1}");

    // Every pair.
    let hosts = &tb.hosts;
    for a in hosts {
        for b in hosts {
            if a.ns != b.ns {
                assert!(a.ping(&b.ip, 2), "{} -> {} ({})", a.ns, b.ns, b.ip);
            }
        }
    }

    // Who sees whom how.
    let (h0, h1, h2, h3) = (&hosts[0], &hosts[1], &hosts[2], &hosts[3]);
    assert_eq!(lladdr(h1, &h3.ip), h3.mac, "legacy to legacy: as sent");
    assert_eq!(lladdr(h3, &h1.ip), h1.mac, "legacy to legacy: as sent");
    for (seer, seen, prefix) in [
        (h0, h1, P1),
        (h0, h3, P1),
        (h2, h1, P1),
        (h2, h3, P1),
        (h1, h0, P1),
        (h3, h0, P1),
        (h1, h2, P2),
        (h3, h2, P2),
    ] {
        let l = lladdr(seer, &seen.ip);
        assert!(
            under(&l, prefix),
            "{} knows {} at {l}, not a MOOSE address under {prefix}",
            seer.ns,
            seen.ns
        );
    }

    // S1 translated the legacy hosts, S2 has only h2.
    let hosts1 = s1.json("/api/v1/hosts");
    let hosts2 = s2.json("/api/v1/hosts");
    let macs = |j: &serde_json::Value| -> Vec<String> {
        let mut v: Vec<String> = j
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["mac"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    // The Linux bridge is a station of the segment too (the root
    // namespace sends from its address now and then).
    let br_mac = std::fs::read_to_string(format!("/sys/class/net/{}/address", bridge.0))
        .unwrap()
        .trim()
        .to_string();
    let mut got1 = macs(&hosts1);
    got1.retain(|m| *m != br_mac);
    let mut want1 = vec![h0.mac.clone(), h1.mac.clone(), h3.mac.clone()];
    want1.sort();
    assert_eq!(got1, want1, "{hosts1}");
    assert_eq!(macs(&hosts2), vec![h2.mac.clone()], "{hosts2}");
    assert!(
        drops(&s2, "l2", "not_home") > 0,
        "S2 refused the segment's frames"
    );

    // No storm: one broadcast from h3, then the fabric goes quiet (a loop
    // would carry it round for ever).
    let _ = h3.exec(&["arping", "-c", "1", "-b", "-I", "eth0", "10.77.61.250"]);
    std::thread::sleep(Duration::from_secs(1));
    // Frames on the fabric less the link-state protocol's own (hellos
    // every 100 ms each way, the odd advertisement).
    let data = |m: &Moose| {
        let t = m.get("/metrics");
        let proto: f64 = [
            "moose_routing_hellos_received_total",
            "moose_routing_adverts_received_total",
            "moose_routing_acks_received_total",
            "moose_routing_host_announces_received_total",
        ]
        .iter()
        .map(|n| metric(&t, n, ""))
        .sum();
        port_counter(m, "f0", "rx_packets") as f64 - proto
    };
    let before = data(&s1) + data(&s2);
    std::thread::sleep(Duration::from_secs(2));
    let after = data(&s1) + data(&s2);
    assert!(
        after - before < 20.0,
        "{} frames other than the protocol's crossed the idle fabric in 2 s",
        after - before
    );
    eprintln!(
        "S2 l2: {} not_home drops; fabric quiet: {} frames in 2 s",
        drops(&s2, "l2", "not_home"),
        after - before
    );
}
