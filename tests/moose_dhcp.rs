//! DHCP across two MOOSE switches, through the real binary, with a real
//! client (`dhclient`) and server (`dnsmasq`).
//!
//! ```text
//!  client ns ── e0 [S1 02:11:11/24] f0 ══ veth ══ f0 [S2 02:22:22/24] e0 ── server ns
//!  dhclient                                                               dnsmasq
//! ```
//!
//! Both switches are `moose run` on `net_af_packet` ports; their fabric
//! ports are the two ends of one veth pair, each edge port the
//! root-namespace end of a host's veth (`moose-testbed`). Static routes
//! send the other switch's prefix out of `f0`.
//!
//! How it works:
//!
//! * The client (real MAC R, its static address removed) broadcasts a
//!   DISCOVER with `chaddr` = R. S1's edge translates the source to the
//!   client's MOOSE address M = 02:11:11:00:00:01 and, because `chaddr`
//!   equals the source it replaces, `chaddr` too, fixing the UDP checksum
//!   incrementally. The broadcast floods over the fabric to S2's edge.
//! * dnsmasq sees a client M: it offers and acknowledges to M (unicast
//!   to M, as dhclient does not ask for broadcast replies) and holds the
//!   lease for M (checked in its lease file). S2 translates dnsmasq's
//!   source to 02:22:22:00:00:01 and leaves `chaddr` alone (M is not its
//!   host's address: S2 rewrites no `chaddr` at all, checked on /metrics).
//! * S2 routes M's prefix to the fabric; S1, the owner of the prefix,
//!   restores the destination to R and `chaddr` M to R (UDP checksum
//!   fixed again), so dhclient, which drops replies whose `chaddr` is not
//!   its own address, takes the lease.
//!
//! The broadcast flag: S1 clears it in a client's request whose `chaddr`
//! it translates (a broadcast reply naming M could not be restored), so
//! a client that sets it (a scapy DISCOVER here) gets a unicast offer at
//! its real MAC with `chaddr` R.
//!
//! Renewal: dnsmasq sends T1 = 5 s (`dhcp-option-force=option:T1,5`), so
//! within the test the client enters RENEWING and sends a *unicast*
//! DHCPREQUEST (`ciaddr` set) to the server's address, which it reaches
//! at the server's MOOSE address; the ACK keeps the same address. That is
//! the path a renewal takes in production (unicast both ways, chaddr
//! rewritten both ways), unlike a second `dhclient` run, whose
//! INIT-REBOOT request is broadcast again.
//!
//! Captures on both hosts check every DHCP message each one received:
//! at the server `chaddr` = M, at the client `chaddr` = R, and IPv4 and
//! UDP checksums right (summed here, not by `moose_wire`).
//!
//! Both hosts' `eth0` have transmit checksum offload off (see
//! `Host::tx_checksum_off`): with it on, a veth hands af_packet UDP packets
//! with unfinished checksums, which no switch between two veths can pass.

mod common;

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use moose_testbed::{unique_tag, Testbed, VethPair};

/// A DHCPDISCOVER with the broadcast flag from the MAC in argv[1], sent on
/// eth0; prints how the offer came back.
const BROADCAST_FLAG_PROBE: &str = r#"
import sys
from scapy.all import Ether, IP, UDP, BOOTP, DHCP, conf, mac2str, srp1
r = sys.argv[1]
conf.checkIPaddr = False
p = (Ether(src=r, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
     / UDP(sport=68, dport=67) / BOOTP(chaddr=mac2str(r), xid=0x4d4f4f53, flags=0x8000)
     / DHCP(options=[("message-type", "discover"), "end"]))
a = srp1(p, iface="eth0", timeout=5, verbose=0)
if a is None:
    print("no offer")
else:
    ch = ":".join("%02x" % b for b in bytes(a[BOOTP].chaddr)[:6])
    print("offer to %s chaddr %s flags %d" % (a[Ether].dst, ch, a[BOOTP].flags))
"#;

/// Removes an EAL runtime directory when the test ends, however it ends.
struct EalDir(String);

impl Drop for EalDir {
    fn drop(&mut self) {
        remove_eal_runtime(&self.0);
    }
}

/// A host's daemon (dnsmasq, dhclient): killed and reaped on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `args` in namespace `ns`, stdout and stderr to `log`.
fn daemon(ns: &str, args: &[&str], log: &Path) -> Daemon {
    let out = File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    Daemon(child)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Polls until `f` gives `Some`, at most `limit`; on time-out panics with
/// `what` and the logs named.
fn wait_logs<T>(
    limit: Duration,
    what: &str,
    logs: &[&Path],
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if t.elapsed() > limit {
            let mut msg = format!("{what}: not within {limit:?}");
            for l in logs {
                msg += &format!("\n--- {}:\n{}", l.display(), read(l));
            }
            panic!("{msg}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One DHCP message of a capture.
#[derive(Debug)]
struct Dhcp {
    eth_dst: [u8; 6],
    eth_src: [u8; 6],
    ip_dst: Ipv4Addr,
    msg_type: u8,
    ciaddr: Ipv4Addr,
    yiaddr: Ipv4Addr,
    chaddr: [u8; 6],
    ip_checksum_ok: bool,
    /// `None`: the sender sent no checksum (0).
    udp_checksum_ok: Option<bool>,
}

fn sum16(data: &[u8], mut sum: u32) -> u32 {
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The DHCP message in an untagged Ethernet/IPv4/UDP frame, if it is one.
fn dhcp(f: &[u8]) -> Option<Dhcp> {
    if f.len() < 14 + 20 || f[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &f[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ip[0] >> 4 != 4 || ihl < 20 || total < ihl + 8 || total > ip.len() || ip[9] != 17 {
        return None;
    }
    let udp = &ip[ihl..total];
    let (sport, dport) = (
        u16::from_be_bytes([udp[0], udp[1]]),
        u16::from_be_bytes([udp[2], udp[3]]),
    );
    if !matches!((sport, dport), (67, 68) | (68, 67)) {
        return None;
    }
    let ulen = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if ulen < 8 + 240 || ulen > udp.len() {
        return None;
    }
    let udp = &udp[..ulen];
    let udp_checksum_ok = (udp[6..8] != [0, 0]).then(|| {
        let mut s = sum16(&ip[12..20], 0);
        s += 17 + ulen as u32;
        fold(sum16(udp, s)) == 0xffff
    });
    let b = &udp[8..];
    let v4 = |o: usize| Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]);
    let mut chaddr = [0u8; 6];
    chaddr.copy_from_slice(&b[28..34]);
    // Options after the magic cookie; the message type (53).
    let mut msg_type = 0;
    let mut i = 240;
    while i < b.len() {
        match b[i] {
            0 => i += 1,
            255 => break,
            code => {
                let len = usize::from(*b.get(i + 1)?);
                if code == 53 && len == 1 {
                    msg_type = *b.get(i + 2)?;
                }
                i += 2 + len;
            }
        }
    }
    let mut eth_dst = [0u8; 6];
    let mut eth_src = [0u8; 6];
    eth_dst.copy_from_slice(&f[0..6]);
    eth_src.copy_from_slice(&f[6..12]);
    Some(Dhcp {
        eth_dst,
        eth_src,
        ip_dst: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
        msg_type,
        ciaddr: v4(12),
        yiaddr: v4(16),
        chaddr,
        ip_checksum_ok: fold(sum16(&ip[..ihl], 0)) == 0xffff,
        udp_checksum_ok,
    })
}

fn mac_bytes(s: &str) -> [u8; 6] {
    let m: moose_wire::Mac = s.parse().unwrap();
    m.0
}

const DISCOVER: u8 = 1;
const OFFER: u8 = 2;
const REQUEST: u8 = 3;
const ACK: u8 = 5;

/// The client's address script: logs each call and sets the address
/// itself (the distribution's script would also rewrite the machine's
/// `/etc/resolv.conf`). dhclient runs it with a clean environment, so the
/// log's path (`@LOG@`) is written into it.
const SCRIPT: &str = r#"#!/bin/sh
echo "$reason $new_ip_address $old_ip_address" >> "@LOG@"
case "$reason" in
PREINIT) ip link set dev "$interface" up ;;
BOUND|RENEW|REBIND|REBOOT)
    if [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ]; then
        ip -4 addr del "$old_ip_address/$old_subnet_mask" dev "$interface"
    fi
    ip -4 addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
EXPIRE|FAIL|RELEASE|STOP)
    if [ -n "$old_ip_address" ]; then
        ip -4 addr del "$old_ip_address/$old_subnet_mask" dev "$interface"
    fi ;;
esac
exit 0
"#;

fn switch_config(
    name: &str,
    listen: &str,
    prefix: &str,
    peer: &str,
    fabric: &str,
    edge: &str,
) -> String {
    format!(
        "[switch]\nname = \"{name}\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 4095\n{}\n\
         [metrics]\nlisten = \"{listen}\"\n\
         [moose]\nprefix = \"{prefix}\"\nhost_ids = \"sequential\"\n\
         [[port]]\nname = \"f0\"\nrole = \"fabric\"\ndevice = \"net_af_packet0,iface={fabric}\"\n\
         [[port]]\nname = \"e0\"\nrole = \"edge\"\ndevice = \"net_af_packet1,iface={edge}\"\n\
         [[route]]\nprefix = \"{peer}\"\nport = \"f0\"\n",
        eal(name)
    )
}

/// The switch at `listen`'s own binding of `ip` (a host of its own), as
/// `/api/v1/directory` shows it.
fn own_binding(listen: &str, ip: &str) -> Option<serde_json::Value> {
    get_json(listen, "/api/v1/directory")["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["ip"] == ip && b["kind"] == "own")
        .cloned()
}

/// How many ARP frames of a capture `mac` sent with sender address `ip`.
fn arp_sent_from(pcap: &Path, mac: &str, ip: Ipv4Addr) -> usize {
    let own = mac_bytes(mac);
    read_pcap(pcap)
        .iter()
        .filter(|f| f.len() >= 42 && f[6..12] == own && f[28..32] == ip.octets())
        .count()
}

/// S1 (prefix 02:11:11/24, its edge port on the testbed's first host)
/// and S2 (02:22:22/24, on the second), their fabric ports the two ends
/// of `cable`, each routing the other's prefix there — running and
/// converged. `s1_more` edits S1's config.
struct Pair {
    c1: std::path::PathBuf,
    l1: String,
    l2: String,
    s1: Running,
    _s2: Running,
    _eal: (EalDir, EalDir),
}

fn start_pair(
    s: &Scratch,
    name: &str,
    tb: &Testbed,
    cable: &VethPair,
    s1_more: &dyn Fn(String) -> String,
) -> Pair {
    let (l1, l2) = (free_addr(), free_addr());
    let (n1, n2) = (format!("{name}-s1"), format!("{name}-s2"));
    let (p1, p2) = ("02:11:11:00:00:00/24", "02:22:22:00:00:00/24");
    let (h1, h2) = (&tb.hosts[0].port_if, &tb.hosts[1].port_if);
    let c1 = s.write(
        "s1.toml",
        &s1_more(switch_config(&n1, &l1, p1, p2, &cable.a, h1)),
    );
    let c2 = s.write("s2.toml", &switch_config(&n2, &l2, p2, p1, &cable.b, h2));
    let _eal = (EalDir(eal_prefix(&n1)), EalDir(eal_prefix(&n2)));
    let s1 = Running::start(&["run", "-c"], &c1, &l1);
    let _s2 = Running::start(&["run", "-c"], &c2, &l2);
    assert!(tb.wait_up(Duration::from_secs(5)) && cable.wait_up(Duration::from_secs(5)));
    wait_converged(&l1, 1, Duration::from_secs(10));
    wait_converged(&l2, 1, Duration::from_secs(10));
    Pair {
        c1,
        l1,
        l2,
        s1,
        _s2,
        _eal,
    }
}

#[test]
fn dhcp_lease_and_renewal_across_two_switches() {
    let tag = unique_tag("mdh");
    let tb = Testbed::new(&tag, 2, 31).expect("testbed (needs root)");
    let (client, server) = (&tb.hosts[0], &tb.hosts[1]);
    let cable = VethPair::new(&format!("{tag}fa"), &format!("{tag}fb")).expect("fabric veth");
    for h in [client, server] {
        h.tx_checksum_off().expect("tx checksum offload off");
    }
    client
        .exec(&["ip", "-4", "addr", "flush", "dev", "eth0"])
        .unwrap();
    let s = Scratch::new("dhcp");

    let p = start_pair(&s, "dhcp", &tb, &cable, &|c| c);
    let (l1, l2) = (p.l1.clone(), p.l2.clone());

    let cap_timeout = Duration::from_secs(5);
    let (cpcap, spcap) = (s.path("client.pcap"), s.path("server.pcap"));
    let filter = ["udp", "port", "67", "or", "udp", "port", "68"];
    let ccap = client.capture(&cpcap, &filter, cap_timeout).unwrap();
    let scap = server.capture(&spcap, &filter, cap_timeout).unwrap();
    let carp_path = s.path("client-arp.pcap");
    let carp = client.capture(&carp_path, &["arp"], cap_timeout).unwrap();

    // The server: a pool of 11 addresses in the hosts' subnet, two-minute
    // leases (dnsmasq's least) renewed after 5 s.
    let (dlog, dleases) = (s.path("dnsmasq.log"), s.path("dnsmasq.leases"));
    let _dnsmasq = daemon(
        &server.ns,
        &[
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--interface=eth0",
            "--bind-interfaces",
            "--dhcp-range=10.77.31.100,10.77.31.110,255.255.255.0,2m",
            &format!("--dhcp-leasefile={}", dleases.display()),
            "--pid-file=",
            "--no-ping",
            "--dhcp-authoritative",
            "--dhcp-option-force=option:T1,5",
            "--dhcp-option-force=option:T2,60",
            "--log-dhcp",
            "--log-facility=-",
        ],
        &dlog,
    );
    wait_logs(Duration::from_secs(10), "dnsmasq serving", &[&dlog], || {
        read(&dlog).contains("DHCP, sockets bound").then_some(())
    });

    // The client.
    let (hlog, slog) = (s.path("dhclient.log"), s.path("script.log"));
    let script = s.write(
        "script.sh",
        &SCRIPT.replace("@LOG@", &slog.display().to_string()),
    );
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let conf = s.write(
        "dhclient.conf",
        "request subnet-mask, dhcp-lease-time, dhcp-renewal-time, dhcp-rebinding-time, dhcp-server-identifier;\n",
    );
    let p = |x: &Path| x.display().to_string();
    let _dhclient = {
        let out = File::create(&hlog).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &client.ns])
            .args(["dhclient", "-4", "-1", "-d", "-v", "-cf", &p(&conf)])
            .args(["-lf", &p(&s.path("dhclient.leases"))])
            .args(["-pf", &p(&s.path("dhclient.pid"))])
            .args(["-sf", &p(&script), "eth0"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        Daemon(child)
    };
    let logs = [hlog.as_path(), slog.as_path(), dlog.as_path()];
    let bound = wait_logs(Duration::from_secs(20), "a lease", &logs, || {
        read(&slog).lines().find_map(|l| {
            l.strip_prefix("BOUND ")
                .map(|r| r.split(' ').next().unwrap().to_string())
        })
    });
    let ip: Ipv4Addr = bound.parse().unwrap_or_else(|_| panic!("BOUND {bound:?}"));
    assert!(
        (100..=110).contains(&ip.octets()[3]) && ip.octets()[..3] == [10, 77, 31],
        "{ip} from the pool"
    );
    let addrs = String::from_utf8_lossy(
        &client
            .exec(&["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(addrs.contains(&format!("inet {ip}/24")), "{addrs}");
    // Snooped: S1's directory binds the lease to the client before the
    // client has sent any ARP from it.
    let bound = wait_for(Duration::from_secs(3), "the snooped binding", || {
        own_binding(&l1, &ip.to_string())
    });
    assert_eq!(bound["source"], "dhcp", "{bound}");
    assert_eq!(bound["real_mac"], client.mac.as_str(), "{bound}");
    carp.stop(cap_timeout).unwrap();
    let early = arp_sent_from(&carp_path, &client.mac, ip);
    assert_eq!(early, 0, "ARP from {ip} before the binding was checked");
    assert!(client.ping(&server.ip, 2), "the client pings the server");

    // Who the client is, to the fabric: S1's host table.
    let hosts = get_json(&l1, "/api/v1/hosts");
    let entry = hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["mac"] == client.mac.as_str())
        .unwrap_or_else(|| panic!("{} not a host of S1: {hosts}", client.mac));
    let moose_mac = entry["moose_mac"].as_str().unwrap().to_string();
    assert_eq!(moose_mac, "02:11:11:00:00:01", "{entry}");
    assert_eq!(entry["port"], "e0");
    // dnsmasq holds the lease for the MOOSE address: "<expiry> <mac> <ip> ..."
    let leases = read(&dleases);
    let lease = leases
        .lines()
        .find(|l| l.split(' ').nth(2) == Some(&ip.to_string()))
        .unwrap_or_else(|| panic!("no lease of {ip} in:\n{leases}"));
    assert_eq!(lease.split(' ').nth(1), Some(moose_mac.as_str()), "{lease}");
    assert!(
        !leases.contains(&client.mac),
        "the real MAC never reaches the server: {leases}"
    );

    // The renewal (T1 = 5 s): same address.
    let renewed = wait_logs(Duration::from_secs(15), "a renewal", &logs, || {
        read(&slog)
            .lines()
            .find_map(|l| l.strip_prefix("RENEW ").map(|r| r.to_string()))
    });
    assert_eq!(renewed, format!("{ip} {ip}"), "renewed to the same address");
    assert!(
        read(&hlog).contains(&format!(
            "DHCPREQUEST for {ip} on eth0 to {} port 67",
            server.ip
        )),
        "a unicast renewal request:\n{}",
        read(&hlog)
    );
    assert!(
        client.ping(&server.ip, 1),
        "still reachable after the renewal"
    );

    // A client that sets the broadcast flag (Windows does by default):
    // S1 clears it with chaddr, so the server unicasts its offer to M, and
    // S1 delivers it to R with chaddr R. Sent with scapy from the client.
    let probe = client
        .exec(&["/usr/bin/python3", "-c", BROADCAST_FLAG_PROBE, &client.mac])
        .expect("scapy probe");
    let out = String::from_utf8_lossy(&probe.stdout).into_owned();
    assert_eq!(
        out.trim(),
        format!("offer to {r} chaddr {r} flags 0", r = client.mac),
        "a broadcast-flag DISCOVER is answered at the client's real MAC:\n{}",
        String::from_utf8_lossy(&probe.stderr)
    );

    // The switches' rewrite counters: S1 rewrote chaddr both ways, S2 never.
    let m1 = moose_testbed::http_get(&l1, "/metrics").unwrap();
    let m2 = moose_testbed::http_get(&l2, "/metrics").unwrap();
    let w = "worker=\"0\"";
    assert!(
        metric(&m1, "moose_worker_rewrite_dhcp_total", w) >= 6.0,
        "S1: 3 out, 3 in at least"
    );
    assert_eq!(
        metric(&m2, "moose_worker_rewrite_dhcp_total", w),
        0.0,
        "S2 leaves chaddr M alone"
    );

    ccap.stop(cap_timeout).unwrap();
    scap.stop(cap_timeout).unwrap();
    let received = |pcap: &Path, own: &str| -> Vec<Dhcp> {
        let own = mac_bytes(own);
        read_pcap(pcap)
            .iter()
            .filter_map(|f| dhcp(f))
            .filter(|d| d.eth_src != own)
            .collect()
    };
    let (r, m) = (mac_bytes(&client.mac), mac_bytes(&moose_mac));
    let server_moose = mac_bytes("02:22:22:00:00:01");
    let at_server = received(&spcap, &server.mac);
    let at_client = received(&cpcap, &client.mac);
    for d in at_server.iter().chain(&at_client) {
        assert!(d.ip_checksum_ok, "IPv4 checksum: {d:?}");
        assert_eq!(d.udp_checksum_ok, Some(true), "UDP checksum: {d:?}");
    }
    for d in &at_server {
        assert_eq!(
            (d.eth_src, d.chaddr),
            (m, m),
            "at the server, the client is M: {d:?}"
        );
    }
    for d in &at_client {
        assert_eq!(d.chaddr, r, "at the client, chaddr is its own: {d:?}");
        assert_eq!(
            d.eth_src, server_moose,
            "from the server's MOOSE address: {d:?}"
        );
        assert_eq!(d.eth_dst, r, "to the client's real MAC: {d:?}");
    }
    let types = |v: &[Dhcp]| v.iter().map(|d| d.msg_type).collect::<Vec<_>>();
    assert!(types(&at_server).contains(&DISCOVER), "{at_server:?}");
    assert!(types(&at_client).contains(&OFFER), "{at_client:?}");
    assert!(
        types(&at_client).iter().filter(|&&t| t == ACK).count() >= 2,
        "the lease's ACK and the renewal's: {at_client:?}"
    );
    let renewal = at_server
        .iter()
        .find(|d| d.msg_type == REQUEST && d.ciaddr == ip)
        .unwrap_or_else(|| panic!("no renewal request at the server: {at_server:?}"));
    assert_eq!(
        (renewal.eth_dst, renewal.ip_dst),
        (mac_bytes(&server.mac), server.ip.parse().unwrap()),
        "the renewal is unicast to the server, its destination restored by S2"
    );
    assert!(at_client
        .iter()
        .any(|d| d.msg_type == ACK && d.yiaddr == ip));
}

/// `dhclient` on eth0 of namespace `ns` with the test's address script,
/// its lease file `leases` kept across runs; `log`/`slog` its output and
/// the script's log.
fn dhclient(s: &Scratch, ns: &str, name: &str, leases: &Path) -> (Daemon, std::path::PathBuf) {
    let slog = s.path(&format!("{name}-script.log"));
    let script = s.write(
        &format!("{name}-script.sh"),
        &SCRIPT.replace("@LOG@", &slog.display().to_string()),
    );
    Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let conf = s.write(
        &format!("{name}.conf"),
        "request subnet-mask, routers, domain-name-servers, dhcp-lease-time, dhcp-renewal-time, dhcp-rebinding-time, dhcp-server-identifier;\n",
    );
    let p = |x: &Path| x.display().to_string();
    let d = daemon(
        ns,
        &[
            "dhclient",
            "-4",
            "-1",
            "-d",
            "-v",
            "-cf",
            &p(&conf),
            "-lf",
            &p(leases),
            "-pf",
            &p(&s.path(&format!("{name}.pid"))),
            "-sf",
            &p(&script),
            "eth0",
        ],
        &s.path(&format!("{name}.log")),
    );
    (d, slog)
}

/// `n` DHCPDISCOVERs from random (locally administered) MACs, `chaddr`
/// each frame's source, sent from `h`'s eth0 with scapy.
fn client_flood(h: &moose_testbed::Host, n: u32) -> std::process::Output {
    let script = format!(
        "import random\n\
         from scapy.all import Ether, IP, UDP, BOOTP, DHCP, sendp, mac2str\n\
         ps = []\n\
         for i in range({n}):\n\
         \x20   m = '02:%02x:%02x:%02x:%02x:%02x' % tuple(random.randrange(256) for _ in range(5))\n\
         \x20   ps.append(Ether(src=m, dst='ff:ff:ff:ff:ff:ff') / IP(src='0.0.0.0', dst='255.255.255.255')\n\
         \x20             / UDP(sport=68, dport=67) / BOOTP(chaddr=mac2str(m), xid=i)\n\
         \x20             / DHCP(options=[('message-type', 'discover'), 'end']))\n\
         sendp(ps, iface='eth0', verbose=0)\n"
    );
    h.exec(&["/usr/bin/python3", "-c", &script])
        .expect("scapy flood")
}

/// The address a script log says the client got (`BOUND` or, on a run
/// with a lease file, `REBOOT`).
fn leased(slog: &Path) -> Option<Ipv4Addr> {
    read(slog).lines().find_map(|l| {
        let (reason, rest) = l.split_once(' ')?;
        matches!(reason, "BOUND" | "REBOOT")
            .then(|| rest.split(' ').next()?.parse().ok())
            .flatten()
    })
}

/// The built-in DHCPv4 server (`[[dhcp.pool]]` on S1), with `dhclient` on
/// both switches:
///
/// * a client on S1 gets a lease from the pool, and not one DHCP frame
///   crosses the fabric in either direction (captured on both ends of the
///   fabric link): its broadcasts are answered at the edge;
/// * a client behind S2 gets one too (its DISCOVER floods to S1, which
///   answers unicast to its MOOSE address);
/// * both leases are bindings at once: S1's own (source `dhcp`), S2's
///   snooped from the ACK — before either client has sent an ARP from its
///   address (captured); the two clients reach each other by the leased
///   addresses; `/api/v1/dhcp/leases` and the `moose_dhcp_*` metrics show
///   them;
/// * 300 DISCOVERs from random MACs on the S1 client's port: the host
///   quota (16) refuses most, the offers held stay within their bound,
///   the leases do not change;
/// * S1 killed with SIGKILL and started again: both leases are still
///   there, and the S1 client, started again with its lease file, gets
///   the same address back.
#[test]
fn the_built_in_server_answers_at_the_edge_and_keeps_leases_through_sigkill() {
    let tag = unique_tag("mds");
    let tb = Testbed::new(&tag, 2, 32).expect("testbed (needs root)");
    let (a, b) = (&tb.hosts[0], &tb.hosts[1]);
    let cable = VethPair::new(&format!("{tag}fa"), &format!("{tag}fb")).expect("fabric veth");
    for h in [a, b] {
        h.tx_checksum_off().expect("tx checksum offload off");
        h.exec(&["ip", "-4", "addr", "flush", "dev", "eth0"])
            .unwrap();
    }
    let s = Scratch::new("dhcpd");
    let state = s.path("s1-state");
    std::fs::create_dir_all(&state).unwrap();
    let p = start_pair(&s, "dhcpd", &tb, &cable, &|c| {
        c.replace(
            "host_ids = \"sequential\"\n",
            &format!(
                "host_ids = \"sequential\"\nhost_quota = 16\nstate_dir = \"{}\"\n",
                state.display()
            ),
        ) + "[[dhcp.pool]]\nvlan = 1\nsubnet = \"10.77.32.0/24\"\nrange = \"10.77.32.100-10.77.32.110\"\n\
               router = \"10.77.32.254\"\ndns = [\"10.77.32.53\"]\nlease_secs = 600\n"
    });
    let (l1, l2, c1) = (p.l1.clone(), p.l2.clone(), p.c1.clone());
    let mut s1 = p.s1;

    // The S1 client, with both ends of the fabric link captured.
    let cap_timeout = Duration::from_secs(5);
    let filter = ["udp", "port", "67", "or", "udp", "port", "68"];
    let (fa, fb) = (s.path("fabric-a.pcap"), s.path("fabric-b.pcap"));
    let cap_a = moose_testbed::capture(None, &cable.a, &fa, &filter, cap_timeout).unwrap();
    let cap_b = moose_testbed::capture(None, &cable.b, &fb, &filter, cap_timeout).unwrap();
    // ARP from both clients, to show the directory holds their bindings
    // before either has sent any.
    let (arp_a, arp_b) = (s.path("arp-a.pcap"), s.path("arp-b.pcap"));
    let carp_a = a.capture(&arp_a, &["arp"], cap_timeout).unwrap();
    let carp_b = b.capture(&arp_b, &["arp"], cap_timeout).unwrap();
    let a_leases = s.path("a.leases");
    let (da, a_log) = dhclient(&s, &a.ns, "a", &a_leases);
    let ip_a = wait_logs(
        Duration::from_secs(20),
        "a lease for the S1 client",
        &[&a_log, &s.path("a.log")],
        || leased(&a_log),
    );
    std::thread::sleep(Duration::from_millis(500));
    cap_a.stop(cap_timeout).unwrap();
    cap_b.stop(cap_timeout).unwrap();
    assert!(
        (100..=110).contains(&ip_a.octets()[3]) && ip_a.octets()[..3] == [10, 77, 32],
        "{ip_a} from the pool"
    );
    let crossed = read_pcap(&fa).len() + read_pcap(&fb).len();
    assert_eq!(
        crossed, 0,
        "DHCP frames on the fabric link for a client of S1"
    );
    let hlog = read(&s.path("a.log"));
    assert!(
        hlog.contains("DHCPOFFER of") && hlog.contains("from 10.77.32.254"),
        "offered by the pool's server address:\n{hlog}"
    );

    // The S2 client: across the fabric (where the same captures do see
    // its messages).
    let (fa2, fb2) = (s.path("fabric-a2.pcap"), s.path("fabric-b2.pcap"));
    let cap_a = moose_testbed::capture(None, &cable.a, &fa2, &filter, cap_timeout).unwrap();
    let cap_b = moose_testbed::capture(None, &cable.b, &fb2, &filter, cap_timeout).unwrap();
    let (_db, b_log) = dhclient(&s, &b.ns, "b", &s.path("b.leases"));
    let ip_b = wait_logs(
        Duration::from_secs(20),
        "a lease for the S2 client",
        &[&b_log, &s.path("b.log")],
        || leased(&b_log),
    );
    std::thread::sleep(Duration::from_millis(500));
    cap_a.stop(cap_timeout).unwrap();
    cap_b.stop(cap_timeout).unwrap();
    let (from_s2, from_s1) = (read_pcap(&fa2).len(), read_pcap(&fb2).len());
    assert!(
        from_s2 >= 2 && from_s1 >= 2,
        "the S2 client's exchange crosses the link: {from_s2} frames S2 -> S1, {from_s1} S1 -> S2"
    );
    assert_ne!(ip_a, ip_b);
    assert!((100..=110).contains(&ip_b.octets()[3]), "{ip_b}");

    // The directory and the leases.
    let binding = |listen: &str, ip: Ipv4Addr| own_binding(listen, &ip.to_string());
    let ba = binding(&l1, ip_a).expect("S1 binds its client's lease");
    assert_eq!(
        (ba["source"].as_str(), ba["real_mac"].as_str()),
        (Some("dhcp"), Some(a.mac.as_str())),
        "{ba}"
    );
    let bb = wait_for(Duration::from_secs(3), "S2's snooped binding", || {
        binding(&l2, ip_b)
    });
    assert_eq!(bb["source"], "dhcp", "{bb}");
    carp_a.stop(cap_timeout).unwrap();
    carp_b.stop(cap_timeout).unwrap();
    for (pcap, ip, mac) in [(&arp_a, ip_a, &a.mac), (&arp_b, ip_b, &b.mac)] {
        let sent = arp_sent_from(pcap, mac, ip);
        assert_eq!(sent, 0, "ARP from {ip} before its binding was checked");
    }
    assert!(a.ping(&ip_b.to_string(), 2), "{ip_a} -> {ip_b}");
    let leases = get_json(&l1, "/api/v1/dhcp/leases");
    let by_ip = |ip: Ipv4Addr| {
        leases
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["ip"] == ip.to_string())
            .cloned()
            .unwrap_or_else(|| panic!("no lease of {ip}: {leases}"))
    };
    assert_eq!(by_ip(ip_a)["moose_mac"], ba["moose_mac"]);
    assert_eq!(by_ip(ip_b)["moose_mac"], bb["moose_mac"]);
    let m = moose_testbed::http_get(&l1, "/metrics").unwrap();
    assert_eq!(metric(&m, "moose_dhcp_leases", "vlan=\"1\""), 2.0);
    assert!(metric(&m, "moose_dhcp_replies_total", "type=\"ack\"") >= 2.0);
    assert!(metric(&m, "moose_dhcp_messages_total", "type=\"discover\"") >= 2.0);
    assert_eq!(
        metric(&m, "moose_dhcp_leased_total", ""),
        1.0,
        "one of S1's own hosts"
    );

    // A flood of DISCOVERs from 300 random MACs on the S1 client's port:
    // the host quota admits a few, the server holds offers for at most a
    // quarter of the range, and nobody's lease changes.
    let flood = client_flood(a, 300);
    assert!(
        flood.status.success(),
        "{}",
        String::from_utf8_lossy(&flood.stderr)
    );
    let m = wait_for(Duration::from_secs(5), "the flood counted", || {
        let m = moose_testbed::http_get(&l1, "/metrics").unwrap();
        (metric(&m, "moose_hosts_quota_refused_total", "") > 0.0).then_some(m)
    });
    let held = metric(&m, "moose_dhcp_offers_held", "vlan=\"1\"");
    assert!(
        held <= metric(&m, "moose_dhcp_offers_held_max", "vlan=\"1\""),
        "{held} offers held"
    );
    assert!(metric(&m, "moose_dhcp_messages_total", "type=\"discover\"") > 2.0);
    assert_eq!(
        get_json(&l1, "/api/v1/dhcp/leases"),
        leases,
        "the leases after the flood"
    );
    assert!(
        a.ping(&ip_b.to_string(), 2),
        "{ip_a} -> {ip_b} after the flood"
    );

    // SIGKILL, and back: the leases are where they were.
    drop(da);
    let mut child = s1.0.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let _s1 = Running::start(&["run", "-c"], &c1, &l1);
    wait_converged(&l1, 1, Duration::from_secs(10));
    let after = get_json(&l1, "/api/v1/dhcp/leases");
    assert_eq!(after, leases, "the leases after SIGKILL");
    std::fs::remove_file(&a_log).unwrap();
    a.exec(&["ip", "-4", "addr", "flush", "dev", "eth0"])
        .unwrap();
    let (_da, a_log) = dhclient(&s, &a.ns, "a2", &a_leases);
    let again = wait_logs(
        Duration::from_secs(20),
        "the S1 client's address again",
        &[&a_log, &s.path("a2.log")],
        || leased(&a_log),
    );
    assert_eq!(again, ip_a, "the same address after the restart");
    wait_for(Duration::from_secs(3), "S1 binds the lease again", || {
        binding(&l1, ip_a)
    });
    assert!(
        a.ping(&ip_b.to_string(), 2),
        "{ip_a} -> {ip_b} after the restart"
    );
}

/// The client's DHCPv6 address script: logs each call, sets the address.
const SCRIPT6: &str = r#"#!/bin/sh
echo "$reason $new_ip6_address" >> "@LOG@"
case "$reason" in
BOUND6|RENEW6|REBIND6|REBOOT6)
    ip -6 addr replace "$new_ip6_address/128" dev "$interface" nodad ;;
esac
exit 0
"#;

/// DHCPv6 snooping: `dhclient -6` behind S1 gets an address from
/// `dnsmasq` behind S2; S1, the client's home, reads the server's REPLY on
/// its way in and binds the address to the client (source `dhcp`, in the
/// directory as soon as the client is bound), and the client pings the
/// server from it.
#[test]
fn dhcpv6_replies_are_snooped_into_bindings() {
    let tag = unique_tag("md6");
    let tb = Testbed::new(&tag, 2, 33).expect("testbed (needs root)");
    let (client, server) = (&tb.hosts[0], &tb.hosts[1]);
    let cable = VethPair::new(&format!("{tag}fa"), &format!("{tag}fb")).expect("fabric veth");
    for h in [client, server] {
        h.tx_checksum_off().expect("tx checksum offload off");
    }
    server.enable_ipv6("fd33::1/64").unwrap();
    client
        .exec(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.eth0.accept_dad=0",
            "net.ipv6.conf.eth0.accept_ra=0",
            "net.ipv6.conf.all.disable_ipv6=0",
            "net.ipv6.conf.default.disable_ipv6=0",
            "net.ipv6.conf.eth0.disable_ipv6=0",
        ])
        .unwrap();
    let s = Scratch::new("dhcp6");
    let p = start_pair(&s, "dhcp6", &tb, &cable, &|c| c);
    let l1 = p.l1.clone();
    // The client's link-local address, needed to solicit, past DAD.
    wait_for(
        Duration::from_secs(10),
        "the client's link-local address",
        || {
            let o = client
                .exec(&["ip", "-6", "addr", "show", "dev", "eth0", "scope", "link"])
                .unwrap();
            let t = String::from_utf8_lossy(&o.stdout).into_owned();
            (t.contains("inet6 fe80") && !t.contains("tentative")).then_some(())
        },
    );

    let dlog = s.path("dnsmasq.log");
    let _dnsmasq = daemon(
        &server.ns,
        &[
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--interface=eth0",
            "--bind-interfaces",
            "--dhcp-range=fd33::100,fd33::1ff,64,2m",
            &format!("--dhcp-leasefile={}", s.path("dnsmasq.leases").display()),
            "--pid-file=",
            "--dhcp-authoritative",
            "--log-dhcp",
            "--log-facility=-",
        ],
        &dlog,
    );
    wait_logs(Duration::from_secs(10), "dnsmasq serving", &[&dlog], || {
        read(&dlog).contains("DHCPv6").then_some(())
    });
    let slog = s.path("script6.log");
    let script = s.write(
        "script6.sh",
        &SCRIPT6.replace("@LOG@", &slog.display().to_string()),
    );
    Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let hlog = s.path("dhclient6.log");
    let p = |x: &Path| x.display().to_string();
    let _dhclient = daemon(
        &client.ns,
        &[
            "dhclient",
            "-6",
            "-N",
            "-1",
            "-d",
            "-v",
            "-cf",
            "/dev/null",
            "-lf",
            &p(&s.path("dhclient6.leases")),
            "-pf",
            &p(&s.path("dhclient6.pid")),
            "-sf",
            &p(&script),
            "eth0",
        ],
        &hlog,
    );
    let logs = [hlog.as_path(), slog.as_path(), dlog.as_path()];
    let ip: std::net::Ipv6Addr =
        wait_logs(Duration::from_secs(30), "a DHCPv6 lease", &logs, || {
            read(&slog).lines().find_map(|l| {
                l.strip_prefix("BOUND6 ")
                    .and_then(|a| a.trim().parse().ok())
            })
        });
    let seg = ip.segments();
    assert!(
        seg[0] == 0xfd33 && (0x100..=0x1ff).contains(&seg[7]),
        "{ip} from the range"
    );
    let b = wait_for(
        Duration::from_secs(3),
        "S1's snooped DHCPv6 binding",
        || own_binding(&l1, &ip.to_string()),
    );
    assert_eq!(b["source"], "dhcp", "{b}");
    assert_eq!(b["real_mac"], client.mac.as_str(), "{b}");
    // No router advertises the prefix here: the client reaches the server
    // on-link.
    client
        .exec(&["ip", "-6", "route", "add", "fd33::/64", "dev", "eth0"])
        .unwrap();
    let e = client.exec(&[
        "ping",
        "-6",
        "-n",
        "-c",
        "2",
        "-W",
        "2",
        "-I",
        &ip.to_string(),
        "fd33::1",
    ]);
    assert!(e.is_ok(), "ping -6 from {ip}: {e:?}");
    let m = moose_testbed::http_get(&l1, "/metrics").unwrap();
    assert!(metric(&m, "moose_elk_dhcp_snooped_total", "") >= 1.0);
}
