//! The real binary with real Linux hosts: three network namespaces on veth
//! pairs, `moose run` on the other ends (DPDK net_af_packet). Every pair
//! pings; the FDB holds the three hosts on the right ports; /metrics counts
//! the frames; SIGTERM stops it cleanly with final counters.

mod common;

use std::time::Duration;

use common::*;
use moose_testbed::{http_get, unique_tag, Testbed};

#[test]
fn three_hosts_ping_through_moose() {
    three_hosts(1, "a", 9);
}

/// Two workers: each af_packet port has two qpairs (the kernel fans traffic
/// out over both sockets), polled by different workers; every worker has
/// its own tx queue on every port.
#[test]
fn three_hosts_two_workers() {
    three_hosts(2, "b", 10);
}

fn three_hosts(workers: usize, letter: &str, subnet: u8) {
    let tag = unique_tag(&format!("m{letter}"));
    let tb = Testbed::new(&tag, 3, subnet).expect("testbed (needs root)");
    let s = Scratch::new(&format!("netns{letter}"));
    let listen = format!("127.0.0.1:{}", free_port());
    let mut cfg = format!(
        "[switch]\nname = \"netns\"\n[dataplane]\nworkers = {workers}\nidle = \"backoff\"\nmbufs = 4095\n{}\n[bridge]\naging_secs = 120\n[metrics]\nlisten = \"{listen}\"\n",
        eal(&format!("netns{letter}"))
    );
    for (i, h) in tb.hosts.iter().enumerate() {
        cfg += &format!(
            "[[port]]\nname = \"p{i}\"\ndevice = \"net_af_packet{i},iface={},qpairs={workers}\"\n",
            h.port_if
        );
    }
    let cfg = s.write("netns.toml", &cfg);
    let mut app = Running::start(&["run", "--json", "-c"], &cfg, &listen);
    assert!(tb.wait_up(Duration::from_secs(5)));

    for a in &tb.hosts {
        for b in &tb.hosts {
            if a.ns != b.ns {
                assert!(a.ping(&b.ip, 2), "{} -> {} ({})", a.ns, b.ns, b.ip);
            }
        }
    }

    let fdb: serde_json::Value =
        serde_json::from_str(&http_get(&listen, "/api/v1/fdb").unwrap()).unwrap();
    for (i, h) in tb.hosts.iter().enumerate() {
        let e = fdb
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["mac"] == h.mac.as_str())
            .unwrap_or_else(|| panic!("{} not in FDB: {fdb}", h.mac));
        assert_eq!(e["port"], format!("p{i}"), "{e}");
        assert_eq!(e["vlan"], 1);
        assert_eq!(e["type"], "dynamic");
    }

    let ports: serde_json::Value =
        serde_json::from_str(&http_get(&listen, "/api/v1/ports").unwrap()).unwrap();
    assert_eq!(ports.as_array().unwrap().len(), 3);
    assert_eq!(ports[0]["driver"], "net_af_packet");
    assert_eq!(ports[0]["link"]["up"], true);
    assert_eq!(ports[0]["tx_queues"], workers);
    if workers == 2 {
        assert_eq!(ports[0]["rx_queue_workers"], serde_json::json!([0, 1]));
        assert_eq!(ports[1]["rx_queue_workers"], serde_json::json!([1, 0]));
    }

    let x: serde_json::Value =
        serde_json::from_str(&http_get(&listen, "/api/v1/xstats").unwrap()).unwrap();
    assert!(x["p0"]["rx_good_packets"].as_u64().unwrap() >= 8, "{x}");

    let m = http_get(&listen, "/metrics").unwrap();
    for i in 0..3 {
        let port = format!("port=\"p{i}\"");
        // Each host sent at least 2 × 2 echo requests/replies plus ARP.
        let rx = metric(&m, "moose_port_rx_packets_total", &port);
        let tx = metric(&m, "moose_port_tx_packets_total", &port);
        assert!(rx >= 8.0, "p{i} rx {rx}");
        assert!(tx >= 8.0, "p{i} tx {tx}");
        assert!(metric(&m, "moose_nic_rx_packets_total", &port) >= rx);
        assert_eq!(metric(&m, "moose_port_link_up", &port), 1.0);
    }
    // The metric and the API agree (the three hosts are checked above;
    // print anything else the FDB holds, to see where it came from).
    let fdb_now: serde_json::Value =
        serde_json::from_str(&http_get(&listen, "/api/v1/fdb").unwrap()).unwrap();
    let entries = metric(&m, "moose_fdb_entries", "");
    assert!(entries >= 3.0, "{fdb_now}");
    if fdb_now.as_array().unwrap().len() != 3 {
        eprintln!("FDB holds more than the three hosts: {fdb_now}");
    }
    assert!(m.contains("moose_build_info{"), "{m}");
    assert!(
        m.contains("moose_port_drops_total{port=\"p0\",reason=\"too_short\"} 0"),
        "{m}"
    );
    for w in 0..workers {
        assert!(metric(&m, "moose_worker_bursts_total", &format!("worker=\"{w}\"")) > 0.0);
    }

    // Clean stop on SIGTERM, with final counters.
    let child = app.0.take().unwrap();
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["ports"][0]["counters"]["rx_packets"]
            .as_u64()
            .unwrap()
            >= 8
    );
}

/// VLAN separation with real hosts: p0 and p1 are access ports of VLAN 10
/// (`pvid = 10`, `vlans = [10]`), p2 and p3 of VLAN 1, all hosts in one
/// address range. (The test kernel has no 802.1Q module, so the hosts
/// cannot tag themselves; moose classifies their untagged frames by pvid.)
/// Hosts of different VLANs cannot reach each other; the FDB has every host
/// on its own VLAN; broadcasts of one VLAN never leave through the other's
/// ports.
#[test]
fn vlans_separate_real_hosts() {
    let tag = unique_tag("mv");
    let tb = Testbed::new(&tag, 4, 11).expect("testbed (needs root)");
    let s = Scratch::new("netnsv");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut cfg = format!(
        "[switch]\nname = \"vlans\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 4095\n{}\n[metrics]\nlisten = \"{listen}\"\n",
        eal("netnsv")
    );
    for (i, h) in tb.hosts.iter().enumerate() {
        let vlan = if i < 2 { 10 } else { 1 };
        cfg += &format!(
            "[[port]]\nname = \"p{i}\"\ndevice = \"net_af_packet{i},iface={}\"\npvid = {vlan}\nvlans = [{vlan}]\n",
            h.port_if
        );
    }
    let cfg = s.write("vlans.toml", &cfg);
    let _app = Running::start(&["run", "-c"], &cfg, &listen);
    assert!(tb.wait_up(Duration::from_secs(5)));
    let h = &tb.hosts;
    assert!(h[0].ping(&h[1].ip, 2), "VLAN 10 pair");
    assert!(h[2].ping(&h[3].ip, 2), "VLAN 1 pair");
    let tx = |p: &str| {
        let m = http_get(&listen, "/metrics").unwrap();
        metric(&m, "moose_port_tx_packets_total", &format!("port=\"{p}\""))
    };
    let before: Vec<f64> = (0..4).map(|i| tx(&format!("p{i}"))).collect();
    assert!(!h[0].ping(&h[2].ip, 1), "VLAN 10 must not reach VLAN 1");
    let after: Vec<f64> = (0..4).map(|i| tx(&format!("p{i}"))).collect();
    assert!(
        after[1] > before[1],
        "h0's ARP broadcasts reach p1 (VLAN 10)"
    );
    assert_eq!(
        (after[2], after[3]),
        (before[2], before[3]),
        "and nothing reaches VLAN 1's ports"
    );
    assert!(!h[3].ping(&h[1].ip, 1), "VLAN 1 must not reach VLAN 10");
    let last: Vec<f64> = (0..4).map(|i| tx(&format!("p{i}"))).collect();
    assert!(last[2] > after[2], "h3's ARP broadcasts reach p2 (VLAN 1)");
    // (p1 may still see h0's ARP retries for h2, which are VLAN 10's own.)
    assert_eq!(last[0], after[0], "and nothing reaches VLAN 10's ports");

    let fdb: serde_json::Value =
        serde_json::from_str(&http_get(&listen, "/api/v1/fdb").unwrap()).unwrap();
    let find = |mac: &str| {
        fdb.as_array()
            .unwrap()
            .iter()
            .find(|e| e["mac"] == mac)
            .cloned()
    };
    for (i, (host, vlan)) in h.iter().zip([10, 10, 1, 1]).enumerate() {
        let e = find(&host.mac).unwrap_or_else(|| panic!("{} not in FDB: {fdb}", host.mac));
        assert_eq!(e["vlan"], vlan, "{e}");
        assert_eq!(e["port"], format!("p{i}"), "{e}");
    }
}

/// The bridge demo, `moose demo --bridge`, pings every pair and removes
/// every namespace and link it made.
#[test]
fn demo_runs_and_cleans_up() {
    let out = moose()
        .args(["demo", "--bridge", "--hosts", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all 2 pairs reachable"), "{stdout}");
    assert!(
        stdout.contains("02:77:01:00:00:01"),
        "FDB in the report: {stdout}"
    );
    let tag = stdout
        .split_whitespace()
        .find(|w| w.starts_with("md") && w.ends_with("-h0"))
        .map(|w| w.trim_end_matches("-h0").to_string())
        .expect("namespace names in the report");
    assert_no_netns_or_links(&tag);
}
