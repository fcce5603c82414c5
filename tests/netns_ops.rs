//! Operations through the real binary with real Linux hosts (network
//! namespaces on veth pairs, `moose run` on the root-namespace ends as DPDK
//! `net_af_packet` ports): a port's link going down and up, an interface
//! deleted and re-created, an egress MTU smaller than the frames, the
//! kernel's packet ring overflowing, and the interfaces' promiscuous flag
//! after moose exits.

mod common;

use std::process::Child;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use moose_testbed::{sh, unique_tag, Host, Testbed};

/// `IFF_PROMISC` from `<linux/if.h>`.
const IFF_PROMISC: u32 = 0x100;

/// A config for `hosts` (port `p<i>` on host `i`'s root-namespace end,
/// with `devargs[i]` appended to its device string), `idle = "backoff"`,
/// plus `dataplane` lines.
fn config(name: &str, listen: &str, hosts: &[Host], devargs: &[&str], dataplane: &str) -> String {
    let mut cfg = format!(
        "[switch]\nname = \"{name}\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 4095\n{dataplane}{}\n[metrics]\nlisten = \"{listen}\"\n",
        eal(name)
    );
    for (i, h) in hosts.iter().enumerate() {
        cfg += &format!(
            "[[port]]\nname = \"p{i}\"\ndevice = \"net_af_packet{i},iface={}{}\"\n",
            h.port_if,
            devargs.get(i).copied().unwrap_or("")
        );
    }
    cfg
}

/// Every host gets a permanent neighbour entry for every other, so no ARP
/// runs: the only frames are the ones a test sends.
fn no_arp(tb: &Testbed) {
    for a in &tb.hosts {
        for b in &tb.hosts {
            if a.ns != b.ns {
                a.neigh_permanent(b).expect("ip neigh");
            }
        }
    }
}

fn port_json(listen: &str, port: usize) -> serde_json::Value {
    get_json(listen, "/api/v1/ports")[port].clone()
}

fn fdb_port_of(listen: &str, mac: &str) -> Option<String> {
    get_json(listen, "/api/v1/fdb")
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["mac"] == mac)
        .map(|e| e["port"].as_str().unwrap_or("").to_string())
}

fn metrics(listen: &str) -> String {
    moose_testbed::http_get(listen, "/metrics").expect("/metrics")
}

/// A per-port metric, strictly (panics if the sample is missing).
fn port_metric(listen: &str, name: &str, port: &str) -> f64 {
    metric(&metrics(listen), name, &format!("port=\"{port}\""))
}

fn drops(text: &str, port: &str, reason: &str) -> Option<f64> {
    metric_opt(
        text,
        "moose_port_drops_total",
        &format!("port=\"{port}\",reason=\"{reason}\""),
    )
}

/// `ping` from `from` to `to` with a payload pattern (hex, as `ping -p`)
/// and extra options; true if every echo was answered.
fn ping(from: &Host, to: &Host, count: u32, pattern: &str, extra: &[&str]) -> bool {
    let c = count.to_string();
    let mut args = vec![
        "ping", "-n", "-q", "-c", &c, "-i", "0.2", "-W", "1", "-p", pattern,
    ];
    args.extend_from_slice(extra);
    args.push(&to.ip);
    from.exec(&args).is_ok()
}

/// Kills a background command (and reaps it) when dropped.
struct Bg(Option<Child>);

impl Bg {
    fn take(&mut self) -> Child {
        self.0.take().expect("running")
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// ICMP echo requests in a capture: (time since the epoch, payload holds
/// `pattern` twice in a row).
fn echo_requests(frames: &[(Duration, Vec<u8>)], pattern: &str) -> Vec<Duration> {
    let p: Vec<u8> = (0..pattern.len() / 2)
        .map(|i| u8::from_str_radix(&pattern[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let twice = [p.clone(), p].concat();
    frames
        .iter()
        .filter(|(_, f)| {
            if f.len() < 34 || f[12..14] != [0x08, 0x00] {
                return false;
            }
            let icmp = 14 + usize::from(f[14] & 0x0f) * 4;
            f.get(icmp) == Some(&8) && f[icmp..].windows(twice.len()).any(|w| w == twice)
        })
        .map(|(t, _)| *t)
        .collect()
}

fn read_pcap_timed(path: &std::path::Path) -> Vec<(Duration, Vec<u8>)> {
    use pcap_file::pcap::PcapReader;
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = PcapReader::new(f).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        out.push((p.timestamp, p.data.into_owned()));
    }
    out
}

fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap()
}

/// Echo payload patterns: sent across the down transition, only while down,
/// after the link is up again.
const PAT_ACROSS: &str = "a1a2a3a4";
const PAT_DOWN: &str = "b1b2b3b4";
const PAT_UP: &str = "c1c2c3c4";

/// `ip link set <p1's interface> down`: within a second the port reads down
/// in the API and the metrics, h1's FDB entry is gone, nothing is sent to
/// p1 and h0 cannot reach h1; echo requests h0 sent while the link was
/// down never reach h1 later (h1 captures everything), also those sent in
/// the instants before moose saw the link go down. `up` again: the link
/// reads up within seconds and h0 reaches h1.
#[test]
fn link_down_and_up() {
    let tag = unique_tag("ol");
    let tb = Testbed::new(&tag, 3, 20).expect("testbed (needs root)");
    no_arp(&tb);
    let s = Scratch::new("opslink");
    let listen = format!("127.0.0.1:{}", free_port());
    let cfg = s.write("link.toml", &config("opslink", &listen, &tb.hosts, &[], ""));
    let _app = Running::start(&["run", "-c"], &cfg, &listen);
    assert!(tb.wait_up(Duration::from_secs(5)));
    let h = &tb.hosts;
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        assert!(ping(&h[a], &h[b], 2, "00", &[]), "h{a} -> h{b}");
    }
    assert_eq!(fdb_port_of(&listen, &h[1].mac).as_deref(), Some("p1"));
    assert_eq!(port_json(&listen, 1)["link"]["up"], true);

    let pcap = s.path("h1.pcap");
    let cap = h[1]
        .capture(
            &pcap,
            &["icmp[icmptype] == icmp-echo"],
            Duration::from_secs(5),
        )
        .expect("tcpdump in h1");
    // Echo requests h0 -> h1 every 20 ms, across the moment the link goes
    // down (moose polls the link every 100 ms: frames in between reach
    // p1's queue).
    let mut across = Bg(Some(
        h[0].spawn(&[
            "ping", "-n", "-q", "-i", "0.02", "-W", "1", "-p", PAT_ACROSS, &h[1].ip,
        ])
        .unwrap(),
    ));
    std::thread::sleep(Duration::from_millis(400));
    let t_down = SystemTime::now();
    h[1].set_port_link(false).unwrap();
    let took = wait_until("p1 down in /api/v1/ports", Duration::from_secs(3), || {
        port_json(&listen, 1)["link"]["up"] == false
    });
    assert!(
        took < Duration::from_millis(1200),
        "p1 read down only after {took:?}"
    );
    let m = metrics(&listen);
    assert_eq!(metric(&m, "moose_port_link_up", "port=\"p1\""), 0.0);
    assert_eq!(metric(&m, "moose_port_link_up", "port=\"p0\""), 1.0);
    // The API reads the link itself; the control thread polls it every
    // 100 ms and flushes the port's entries then.
    wait_until("h1's FDB entry flushed", Duration::from_secs(1), || {
        fdb_port_of(&listen, &h[1].mac).is_none()
    });
    std::thread::sleep(Duration::from_millis(300));
    let (sent, _) = stop_ping(across.take());
    assert!(sent >= 20, "{sent} echo requests across the transition");
    assert_eq!(fdb_port_of(&listen, &h[1].mac), None, "h1 learned again");

    let tx_before = port_metric(&listen, "moose_port_tx_packets_total", "p1");
    assert!(
        !ping(&h[0], &h[1], 5, PAT_DOWN, &[]),
        "h0 reached h1 with p1 down"
    );
    let m = metrics(&listen);
    assert_eq!(
        metric(&m, "moose_port_tx_packets_total", "port=\"p1\""),
        tx_before,
        "frames were sent to p1 while its link was down"
    );
    assert_eq!(metric(&m, "moose_port_link_up", "port=\"p1\""), 0.0);
    assert_eq!(port_json(&listen, 1)["link"]["up"], false);

    let t_up = SystemTime::now();
    h[1].set_port_link(true).unwrap();
    let took = wait_until("p1 up in /api/v1/ports", Duration::from_secs(5), || {
        port_json(&listen, 1)["link"]["up"] == true
    });
    eprintln!("p1 read up {took:?} after ip link set up");
    assert_eq!(port_metric(&listen, "moose_port_link_up", "p1"), 1.0);
    wait_until(
        "h0 -> h1 after the link is up",
        Duration::from_secs(8),
        || ping(&h[0], &h[1], 1, PAT_UP, &[]),
    );
    // More traffic to p1: every transmit would push out whatever still
    // waits in its queue.
    assert!(ping(&h[0], &h[1], 5, PAT_UP, &[]), "h0 -> h1 after up");
    assert!(ping(&h[2], &h[1], 3, PAT_UP, &[]), "h2 -> h1 after up");
    std::thread::sleep(Duration::from_millis(300));
    let log = cap.stop(Duration::from_secs(5)).expect("stop tcpdump");
    eprintln!(
        "p1 nic tx errors {}, re-attaches {}",
        port_metric(&listen, "moose_nic_tx_errors_total", "p1"),
        get_json(&listen, "/api/v1/status")["runtime"]["reattaches"]
    );

    let frames = read_pcap_timed(&pcap);
    let (t_down, t_up) = (since_epoch(t_down), since_epoch(t_up));
    let across = echo_requests(&frames, PAT_ACROSS);
    let before = across.iter().filter(|t| **t < t_down).count();
    let late: Vec<_> = across.iter().filter(|t| **t >= t_up).collect();
    assert!(
        before >= 5,
        "h1 captured {before} echo requests before the link went down ({log})"
    );
    assert!(
        late.is_empty(),
        "{} echo requests h0 sent before the link was up reached h1 after it came up (up at {t_up:?}: {late:?})",
        late.len()
    );
    assert_eq!(
        echo_requests(&frames, PAT_DOWN).len(),
        0,
        "echo requests sent while p1 was down reached h1"
    );
    assert!(
        echo_requests(&frames, PAT_UP).len() >= 9,
        "h1 captured the echo requests after up ({log})"
    );
}

/// h1's veth pair is deleted and created again with the same names, MAC
/// and address: moose re-attaches p1's device (the new interface has a new
/// index), h0 and h1 reach each other again within 10 s, and h0 <-> h2
/// pings every 50 ms in both directions lose nothing meanwhile.
#[test]
fn deleted_interface_is_reattached() {
    let tag = unique_tag("or");
    let tb = Testbed::new(&tag, 3, 21).expect("testbed (needs root)");
    let s = Scratch::new("opsreattach");
    let listen = format!("127.0.0.1:{}", free_port());
    let cfg = s.write(
        "reattach.toml",
        &config("opsreattach", &listen, &tb.hosts, &[], ""),
    );
    let _app = Running::start(&["run", "-c"], &cfg, &listen);
    assert!(tb.wait_up(Duration::from_secs(5)));
    let h = &tb.hosts;
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        assert!(ping(&h[a], &h[b], 2, "00", &[]), "h{a} -> h{b}");
    }
    assert!(port_metric(&listen, "moose_port_tx_packets_total", "p1") > 0.0);
    let m = metrics(&listen);
    assert_eq!(metric(&m, "moose_control_reattaches_total", ""), 0.0);

    let bg = |from: &Host, to: &Host| {
        Bg(Some(
            from.spawn(&["ping", "-n", "-q", "-i", "0.05", "-W", "1", &to.ip])
                .unwrap(),
        ))
    };
    let mut h0h2 = bg(&h[0], &h[2]);
    let mut h2h0 = bg(&h[2], &h[0]);
    std::thread::sleep(Duration::from_millis(300));

    tb.remove_link(1).expect("delete h1's veth pair");
    wait_until(
        "p1 down once its interface is gone",
        Duration::from_secs(3),
        || port_json(&listen, 1)["link"]["up"] == false,
    );
    // The API reads the link itself; the control thread polls it every
    // 100 ms and flushes the port's entries then.
    wait_until("h1's FDB entry flushed", Duration::from_secs(1), || {
        fdb_port_of(&listen, &h[1].mac).is_none()
    });
    std::thread::sleep(Duration::from_millis(300));
    tb.restore_link(1).expect("re-create h1's veth pair");
    let restored = Instant::now();

    let took = wait_until(
        "moose_control_reattaches_total >= 1",
        Duration::from_secs(10),
        || metric(&metrics(&listen), "moose_control_reattaches_total", "") >= 1.0,
    );
    eprintln!("re-attached {took:?} after the interface came back");
    wait_until(
        "h0 -> h1 after the re-attach",
        Duration::from_secs(10),
        || ping(&h[0], &h[1], 1, "00", &[]),
    );
    assert!(
        restored.elapsed() < Duration::from_secs(10),
        "h0 reached h1 only {:?} after the interface was re-created",
        restored.elapsed()
    );
    assert!(ping(&h[1], &h[0], 3, "00", &[]), "h1 -> h0");
    assert!(ping(&h[1], &h[2], 3, "00", &[]), "h1 -> h2");
    let status = get_json(&listen, "/api/v1/status");
    assert!(
        status["runtime"]["reattaches"].as_u64().unwrap() >= 1,
        "{status}"
    );
    assert_eq!(port_json(&listen, 1)["link"]["up"], true);
    assert_eq!(fdb_port_of(&listen, &h[1].mac).as_deref(), Some("p1"));
    assert_eq!(port_metric(&listen, "moose_port_link_up", "p1"), 1.0);

    // The last echo request may still be on its way when ping is stopped.
    for (name, bg) in [("h0 -> h2", &mut h0h2), ("h2 -> h0", &mut h2h0)] {
        let (sent, got) = stop_ping(bg.take());
        eprintln!("{name}: {got} of {sent} answered");
        assert!(sent >= 20, "{name}: {sent} sent");
        assert!(
            got + 1 >= sent,
            "{name} was interrupted: {got} of {sent} answered"
        );
    }
}

/// p1's interface (and h1's eth0) get MTU 1200 while moose runs: frames
/// h0 (MTU 1500) sends to h1 that are longer than 1214 bytes (1200 + the
/// Ethernet header) are dropped on p1 as `mtu_exceeded`, one by one, and
/// never counted as transmitted; a 1214-byte frame and small ones pass.
#[test]
fn egress_mtu_is_enforced() {
    let tag = unique_tag("om");
    let tb = Testbed::new(&tag, 2, 22).expect("testbed (needs root)");
    no_arp(&tb);
    let s = Scratch::new("opsmtu");
    let listen = format!("127.0.0.1:{}", free_port());
    let cfg = s.write("mtu.toml", &config("opsmtu", &listen, &tb.hosts, &[], ""));
    let _app = Running::start(&["run", "-c"], &cfg, &listen);
    assert!(tb.wait_up(Duration::from_secs(5)));
    let h = &tb.hosts;
    assert!(ping(&h[0], &h[1], 2, "00", &[]), "h0 -> h1");
    assert_eq!(port_json(&listen, 1)["mtu"], 1500);

    h[1].set_mtu(1200).unwrap();
    wait_until(
        "p1's MTU 1200 in /api/v1/ports",
        Duration::from_secs(3),
        || port_json(&listen, 1)["mtu"] == 1200,
    );
    // The MTU reaches the workers with the same poll.
    std::thread::sleep(Duration::from_millis(300));

    let m0 = metrics(&listen);
    let dont = ["-M", "dont", "-i", "0.05"];
    // ICMP payload 1173: 14 + 20 + 8 + 1173 = 1215 bytes, one too many;
    // and 1400 (1442 bytes).
    assert!(!ping(
        &h[0],
        &h[1],
        10,
        "00",
        &[&dont[..], &["-s", "1173"]].concat()
    ));
    assert!(!ping(
        &h[0],
        &h[1],
        10,
        "00",
        &[&dont[..], &["-s", "1400"]].concat()
    ));
    let m1 = metrics(&listen);
    let delta = |a: &str, b: &str, name: &str, port: &str| {
        metric(b, name, &format!("port=\"{port}\"")) - metric(a, name, &format!("port=\"{port}\""))
    };
    let exceeded = drops(&m1, "p1", "mtu_exceeded").expect("mtu_exceeded drops of p1")
        - drops(&m0, "p1", "mtu_exceeded").unwrap_or(0.0);
    assert_eq!(
        exceeded, 20.0,
        "every long frame dropped on p1 as mtu_exceeded"
    );
    assert_eq!(
        delta(&m0, &m1, "moose_port_tx_packets_total", "p1"),
        0.0,
        "long frames counted as transmitted on p1"
    );
    assert_eq!(delta(&m0, &m1, "moose_nic_tx_packets_total", "p1"), 0.0);
    assert!(delta(&m0, &m1, "moose_port_rx_packets_total", "p0") >= 20.0);
    assert_eq!(drops(&m1, "p0", "mtu_exceeded").unwrap_or(0.0), 0.0);

    // 14 + 20 + 8 + 1172 = 1214 bytes fits; so do small frames.
    assert!(
        ping(
            &h[0],
            &h[1],
            3,
            "00",
            &[&dont[..], &["-s", "1172"]].concat()
        ),
        "a 1214-byte frame fits p1's MTU 1200"
    );
    assert!(ping(&h[0], &h[1], 3, "00", &[]), "small frames still pass");
    let m2 = metrics(&listen);
    assert_eq!(
        drops(&m2, "p1", "mtu_exceeded"),
        drops(&m1, "p1", "mtu_exceeded")
    );
    assert!(delta(&m1, &m2, "moose_port_tx_packets_total", "p1") >= 6.0);
}

/// Reads p0's received, kernel-dropped and missed counts and the packets
/// p0's interface received, once they have stopped changing (moose wakes
/// every 100 ms and empties the ring).
fn settled_ring_counts(listen: &str, host: &Host) -> [f64; 4] {
    let read = || {
        let m = metrics(listen);
        let p = "port=\"p0\"";
        [
            metric(&m, "moose_nic_rx_packets_total", p),
            metric_opt(&m, "moose_nic_rx_kernel_drops_total", p).unwrap_or(0.0),
            metric(&m, "moose_nic_rx_missed_total", p),
            host.port_stat("rx_packets").unwrap() as f64,
        ]
    };
    let mut last = read();
    wait_until("p0's counters settle", Duration::from_secs(10), || {
        std::thread::sleep(Duration::from_millis(300));
        let now = read();
        let same = now == last;
        last = now;
        same
    });
    last
}

/// p0 has an af_packet ring of 16 frames and its worker sleeps 100 ms
/// whenever a poll finds nothing; h0 sends 20000 frames as fast as a raw
/// socket can. The kernel drops what does not fit the ring; moose counts
/// them (`moose_nic_rx_kernel_drops_total`, included in
/// `moose_nic_rx_missed_total`), and received + dropped equals what p0's
/// interface received.
#[test]
fn kernel_ring_drops_are_counted() {
    let tag = unique_tag("ok");
    let tb = Testbed::new(&tag, 2, 23).expect("testbed (needs root)");
    no_arp(&tb);
    let s = Scratch::new("opsring");
    let listen = format!("127.0.0.1:{}", free_port());
    let cfg = s.write(
        "ring.toml",
        &config(
            "opsring",
            &listen,
            &tb.hosts,
            &[",blocksz=4096,framesz=2048,framecnt=16"],
            "backoff_polls = 1\nbackoff_sleep_us = 100000\n",
        ),
    );
    let _app = Running::start(&["run", "-c"], &cfg, &listen);
    assert!(tb.wait_up(Duration::from_secs(5)));
    let h = &tb.hosts;
    assert!(ping(&h[0], &h[1], 2, "00", &["-W", "2"]), "h0 -> h1");

    let before = settled_ring_counts(&listen, &h[0]);
    // 60-byte frames from h0 to itself (moose learns h0 on p0 and drops
    // them as same_port after the first: no forwarding work).
    let mac: String = h[0].mac.split(':').collect();
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
         s.bind(('eth0', 0))\n\
         m = bytes.fromhex('{mac}')\n\
         f = m + m + bytes.fromhex('88b5') + bytes(46)\n\
         sent = 0\n\
         for i in range(20000):\n\
         \x20   try:\n\
         \x20       s.send(f)\n\
         \x20       sent += 1\n\
         \x20   except OSError:\n\
         \x20       pass\n\
         print(sent)\n"
    );
    let t = Instant::now();
    let out = h[0]
        .exec(&["timeout", "20", "/usr/bin/python3", "-c", &script])
        .expect("blast from h0");
    let sent: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    eprintln!("h0 sent {sent} frames in {:?}", t.elapsed());
    let after = settled_ring_counts(&listen, &h[0]);

    let [rx, kdrops, missed, arrived] = [0, 1, 2, 3].map(|i| after[i] - before[i]);
    eprintln!(
        "p0: {arrived} arrived, {rx} received, {kdrops} dropped by the kernel, {missed} missed"
    );
    assert!(sent >= 10000.0, "h0 sent only {sent} frames");
    assert!(kdrops > 0.0, "no kernel ring drops counted");
    assert!(
        after[2] >= after[1],
        "rx_missed {} < kernel drops {}",
        after[2],
        after[1]
    );
    // Every frame that arrived on p0's interface was either received or
    // dropped by the kernel. The counters are read at two instants (the
    // interface's in sysfs, then moose's), both after the ring is empty and
    // the sender is done, and no other traffic runs (no ARP, no IPv6):
    // they must agree up to 2 frames, for a stray frame between the reads.
    assert!(
        (rx + kdrops - arrived).abs() <= 2.0,
        "received {rx} + dropped {kdrops} != arrived {arrived}"
    );
    // What arrived is what h0 sent (veth counts a frame for the peer only
    // when it was accepted, and h0's sends fail when it is not).
    assert!(
        (arrived - sent).abs() <= 2.0,
        "h0 sent {sent}, p0's interface received {arrived}"
    );
}

fn promiscuity(ifname: &str) -> u64 {
    let out = sh(&["ip", "-d", "link", "show", "dev", ifname]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let words: Vec<&str> = text.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| *w == "promiscuity")
        .unwrap_or_else(|| panic!("no promiscuity in {text}"));
    words[i + 1].parse().unwrap()
}

fn promisc(h: &Host) -> bool {
    h.port_flags().unwrap() & IFF_PROMISC != 0
}

/// The root-side ends of h0 and h1 are not promiscuous before moose starts,
/// are while it runs, and are not after it exits, on SIGTERM and on SIGINT;
/// h2's end was promiscuous before and stays so (moose restores, it does
/// not clear).
#[test]
fn promiscuous_state_is_restored() {
    let tag = unique_tag("op");
    let tb = Testbed::new(&tag, 3, 24).expect("testbed (needs root)");
    let h = &tb.hosts;
    sh(&["ip", "link", "set", &h[2].port_if, "promisc", "on"]).unwrap();
    let s = Scratch::new("opspromisc");
    for sig in ["TERM", "INT"] {
        for x in &h[..2] {
            assert!(
                !promisc(x),
                "{} promiscuous before moose (SIG{sig})",
                x.port_if
            );
            assert_eq!(promiscuity(&x.port_if), 0, "{}", x.port_if);
        }
        assert!(promisc(&h[2]));
        let listen = format!("127.0.0.1:{}", free_port());
        let name = format!("opspromisc{}", sig.to_lowercase());
        let cfg = s.write(&format!("{sig}.toml"), &config(&name, &listen, h, &[], ""));
        let mut app = Running::start(&["run", "-c"], &cfg, &listen);
        for x in h {
            assert!(promisc(x), "{} not promiscuous while moose runs", x.port_if);
        }
        assert!(ping(&h[0], &h[1], 1, "00", &[]), "h0 -> h1");
        let out = app.stop(sig, Duration::from_secs(10));
        assert!(
            out.status.success(),
            "moose on SIG{sig}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        for x in &h[..2] {
            assert!(!promisc(x), "{} left promiscuous after SIG{sig}", x.port_if);
            assert_eq!(promiscuity(&x.port_if), 0, "{} after SIG{sig}", x.port_if);
        }
        assert!(
            promisc(&h[2]),
            "{} promiscuous before, not after SIG{sig}",
            h[2].port_if
        );
    }
}
