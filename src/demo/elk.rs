//! The demo's ELK experiment: the result the design rests on, measured.
//!
//! The triangle with four hosts per switch, twice: ELK off (ARP and ND
//! flood along the broadcast tree, as plain MOOSE does) and ELK on (S2 is
//! the directory). Every host resolves every other host once (the
//! warm-up: it makes the bindings), every neighbour cache is flushed, and
//! every host resolves every other host again while every host's `eth0`
//! and every fabric link is captured. Each host also sends one NetBIOS
//! name-service broadcast (UDP 137) in the measured round: broadcasts
//! that are not ARP, ND or DHCP flood either way.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use moose_testbed::{unique_tag, Host, Testbed, VethPair};

use super::{converge, free_addr, moose_config, Appliance, TempDir, LINKS, SWITCHES};

/// Hosts per switch in the experiment.
pub const PER_SWITCH: usize = 4;

/// What one run measured.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    /// Broadcast ARP frames a host received, per host (mean and max).
    pub arp_per_host: f64,
    pub arp_max: usize,
    /// Neighbour solicitations to a solicited-node group received, per host.
    pub ns_per_host: f64,
    /// ARP and ND (NS, NA) frames on the three fabric links together.
    pub fabric_arp: usize,
    pub fabric_nd: usize,
    /// Other broadcasts (the NetBIOS ones) received, per host.
    pub other_per_host: f64,
    /// The switches' ELK counters: requests answered, directory queries,
    /// floods.
    pub answered: u64,
    pub queries: u64,
    pub floods: u64,
    /// Resolutions (pings) that failed.
    pub failed: usize,
    /// Per switch: what its directory holds at the end.
    pub held: Vec<moose_control::elk::api::ElkStats>,
}

fn count(pcap: &Path, filter: &str) -> anyhow::Result<usize> {
    let out = Command::new("tcpdump")
        .args(["-r"])
        .arg(pcap)
        .args(["-nn", filter])
        .output()
        .context("tcpdump -r")?;
    Ok(String::from_utf8_lossy(&out.stdout).lines().count())
}

/// Every host of `hosts` pings every other one (IPv4 and IPv6) once, all
/// hosts at the same time; the number of pings that failed.
fn resolve_all(hosts: &[Host], ip6: &[String], netbios: bool) -> anyhow::Result<usize> {
    let mut kids = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        let mut script = String::from("f=0\n");
        if netbios {
            // To the subnet's broadcast address (the hosts have no route
            // for 255.255.255.255).
            let bcast = match h.ip.rsplit_once('.') {
                Some((net, _)) => format!("{net}.255"),
                None => bail!("{}: not an IPv4 address", h.ip),
            };
            script += &format!(
                "/usr/bin/python3 -c \"import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.setsockopt(socket.SOL_SOCKET,socket.SO_BROADCAST,1);s.sendto(b'NBNS moose demo',('{bcast}',137))\" || f=$((f+100))\n"
            );
        }
        for (j, o) in hosts.iter().enumerate() {
            if i == j {
                continue;
            }
            script += &format!(
                "ping -n -q -c1 -W2 {} >/dev/null || f=$((f+1))\nping -6 -n -q -c1 -W2 {} >/dev/null || f=$((f+1))\n",
                o.ip, ip6[j]
            );
        }
        script += "exit $f\n";
        kids.push(h.spawn(&["sh", "-c", &script])?);
    }
    let mut failed = 0;
    for k in kids {
        let out = k.wait_with_output()?;
        failed += out.status.code().unwrap_or(1) as usize;
    }
    Ok(failed)
}

/// One run of the experiment, ELK on or off.
pub fn run(elk: bool, quit: &AtomicBool) -> anyhow::Result<Counts> {
    let tag = unique_tag(if elk { "mke" } else { "mkf" });
    let n = SWITCHES * PER_SWITCH;
    let dir = TempDir::new()?;
    let tb = Testbed::new(&tag, n, if elk { 3 } else { 2 }).context("building the testbed")?;
    let links: Vec<VethPair> = (0..LINKS.len())
        .map(|i| VethPair::new(&format!("{tag}l{i}a"), &format!("{tag}l{i}b")))
        .collect::<Result<_, _>>()
        .context("creating the fabric links")?;
    let ip6: Vec<String> = (0..n)
        .map(|i| format!("fd77:{}::{}", if elk { 3 } else { 2 }, i + 1))
        .collect();
    let mut switches = Vec::new();
    for k in 0..SWITCHES {
        let name = format!(
            "moose-elk-{}-{}-s{}",
            std::process::id(),
            u8::from(elk),
            k + 1
        );
        let api = free_addr()?;
        let hosts = &tb.hosts[k * PER_SWITCH..(k + 1) * PER_SWITCH];
        let mut cfg = moose_config(k, &name, &api, &links, hosts, None);
        cfg += match (elk, k) {
            (false, _) => "\n[elk]\nenabled = false\n",
            (true, 1) => "\n[elk]\ndirectory = true\n",
            (true, _) => "",
        };
        let cfg = dir.write(&format!("s{}.toml", k + 1), &cfg)?;
        let log = dir.0.join(format!("s{}.log", k + 1));
        let label = format!("S{} (ELK {})", k + 1, if elk { "on" } else { "off" });
        switches.push(Appliance::start(&label, &name, &cfg, &log, &api, quit)?);
    }
    if !tb.wait_up(Duration::from_secs(5))
        || !links.iter().all(|l| l.wait_up(Duration::from_secs(5)))
    {
        bail!("the veth pairs did not come up within 5 s");
    }
    converge(&switches, quit)?;
    if elk {
        // S1 and S3 route queries to the directory once SPF has run.
        let t = Instant::now();
        while !switches.iter().enumerate().all(|(k, s)| {
            k == 1
                || s.get::<Vec<moose_control::routes::api::RouteRecord>>("/api/v1/routes")
                    .is_ok_and(|r| r.iter().any(|r| r.installed && r.prefix.ends_with("/48")))
        }) {
            if t.elapsed() > Duration::from_secs(10) || quit.load(Ordering::Relaxed) {
                bail!("no route to the directory within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for (h, a) in tb.hosts.iter().zip(&ip6) {
        h.enable_ipv6(&format!("{a}/64"))
            .with_context(|| format!("turning IPv6 on in {}", h.ns))?;
    }
    // Let duplicate address detection finish before anything is counted.
    std::thread::sleep(Duration::from_millis(1500));
    let mut c = Counts {
        failed: resolve_all(&tb.hosts, &ip6, false)?,
        ..Counts::default()
    };
    for h in &tb.hosts {
        h.exec(&["ip", "neigh", "flush", "all"])?;
        h.exec(&["ip", "-6", "neigh", "flush", "all"])?;
    }
    let before: Vec<moose_control::elk::api::ElkStats> = switches
        .iter()
        .map(|s| s.get("/api/v1/elk"))
        .collect::<anyhow::Result<_>>()?;
    let filter = ["arp", "or", "icmp6", "or", "udp", "port", "137"];
    let host_caps = tb
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let p: PathBuf = dir.0.join(format!("h{i}.pcap"));
            let cap = h.capture(&p, &filter, Duration::from_secs(5))?;
            Ok((p, cap))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let link_caps = links
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let p: PathBuf = dir.0.join(format!("l{i}.pcap"));
            let cap = moose_testbed::capture(None, &l.a, &p, &filter, Duration::from_secs(5))?;
            Ok((p, cap))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    c.failed += resolve_all(&tb.hosts, &ip6, true)?;
    std::thread::sleep(Duration::from_millis(300));
    let mut arp = Vec::new();
    let (mut ns, mut other) = (0usize, 0usize);
    for ((p, cap), h) in host_caps.into_iter().zip(&tb.hosts) {
        cap.stop(Duration::from_secs(5))?;
        let not_own = format!("not ether src {}", h.mac);
        arp.push(count(
            &p,
            &format!("arp and ether broadcast and {not_own}"),
        )?);
        ns += count(
            &p,
            &format!("icmp6 and ip6[40] == 135 and ether[0:2] == 0x3333 and {not_own}"),
        )?;
        other += count(
            &p,
            &format!("udp port 137 and ether broadcast and {not_own}"),
        )?;
    }
    for (p, cap) in link_caps {
        cap.stop(Duration::from_secs(5))?;
        c.fabric_arp += count(&p, "arp")?;
        c.fabric_nd += count(&p, "icmp6 and (ip6[40] == 135 or ip6[40] == 136)")?;
    }
    let after: Vec<moose_control::elk::api::ElkStats> = switches
        .iter()
        .map(|s| s.get("/api/v1/elk"))
        .collect::<anyhow::Result<_>>()?;
    let sum = |m: &moose_control::elk::api::ByFamily| m.values().sum::<u64>();
    let after: Vec<moose_control::elk::api::ElkStats> = after;
    for (b, a) in before.iter().zip(&after) {
        c.answered += sum(&a.answered) - sum(&b.answered);
        c.queries += sum(&a.queries) - sum(&b.queries);
        c.floods += sum(&a.floods) - sum(&b.floods);
    }
    c.held = after;
    c.arp_max = arp.iter().copied().max().unwrap_or(0);
    c.arp_per_host = arp.iter().sum::<usize>() as f64 / n as f64;
    c.ns_per_host = ns as f64 / n as f64;
    c.other_per_host = other as f64 / n as f64;
    drop(switches);
    drop(links);
    drop(tb);
    Ok(c)
}

/// The table `moose demo` prints (and `perf/elk.md` records).
pub fn table(off: &Counts, on: &Counts) -> String {
    let n = SWITCHES * PER_SWITCH;
    let mut s = format!(
        "ELK off vs on: triangle, {n} hosts, each resolving the {} others over IPv4 and IPv6 after a warm-up\n",
        n - 1
    );
    let row = |s: &mut String, what: &str, a: String, b: String| {
        s.push_str(&format!("  {what:<48} {a:>9} {b:>9}\n"));
    };
    row(&mut s, "", "ELK off".into(), "ELK on".into());
    row(
        &mut s,
        "broadcast ARP received per host (max)",
        format!("{:.1} ({})", off.arp_per_host, off.arp_max),
        format!("{:.1} ({})", on.arp_per_host, on.arp_max),
    );
    row(
        &mut s,
        "solicited-node NS received per host",
        format!("{:.1}", off.ns_per_host),
        format!("{:.1}", on.ns_per_host),
    );
    row(
        &mut s,
        "ARP frames on the fabric links",
        off.fabric_arp.to_string(),
        on.fabric_arp.to_string(),
    );
    row(
        &mut s,
        "ND (NS, NA) frames on the fabric links",
        off.fabric_nd.to_string(),
        on.fabric_nd.to_string(),
    );
    row(
        &mut s,
        "other broadcasts (NetBIOS) received per host",
        format!("{:.1}", off.other_per_host),
        format!("{:.1}", on.other_per_host),
    );
    row(
        &mut s,
        "requests answered by the switches / queries / floods",
        format!("{}/{}/{}", off.answered, off.queries, off.floods),
        format!("{}/{}/{}", on.answered, on.queries, on.floods),
    );
    for (k, h) in on.held.iter().enumerate() {
        s.push_str(&format!(
            "  S{}{}: {} own bindings ({} B), {} directory bindings ({} B), {} cached answers ({} B)\n",
            k + 1,
            if h.directory { " (directory)" } else { "" },
            h.own_entries,
            h.own_bytes,
            h.directory_entries,
            h.directory_bytes,
            h.cache_entries,
            h.cache_bytes
        ));
    }
    s.push_str(
        "  ELK answers ARP and DHCP broadcasts (64.1 % of a campus network's broadcast packets by seed document 004:\n  ARP 63.9 %, DHCP 0.2 %); the other 35.9 % (NetBIOS, mDNS, LLC, IPX, ...) still floods along the tree, as the NetBIOS row shows.",
    );
    s
}
