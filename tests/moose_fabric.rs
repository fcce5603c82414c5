//! MOOSE through the real binary: two `moose` processes, switches S1
//! (`02:11:11:00:00:00/24`) and S2 (`02:22:22:00:00:00/24`), joined by a
//! veth pair between their fabric ports `f0`, each with two edge ports
//! (`e1`, `e2`) on real Linux hosts in network namespaces (h0, h1 behind
//! S1; h2, h3 behind S2), all four in one IPv4 /24 and one IPv6 /64, and a
//! static MAC route on each switch to the other's prefix.
//!
//! * every ordered pair pings over IPv4 and IPv6; neighbour caches hold
//!   MOOSE addresses; no host ever receives a byte sequence equal to the
//!   real MAC of a host behind the other switch (headers, ARP, ND
//!   options); the API lists each switch's own hosts and only prefixes as
//!   routes; the rewrite counters move;
//! * the first frame of a new host (allocated, held, re-injected) is
//!   answered, and how long it took is printed;
//! * allocations kept in `moose.state_dir` survive a clean restart and a
//!   SIGKILL: same addresses before any frame, the hosts' caches keep
//!   working, nothing allocated again;
//! * a flood of random source MACs on one edge port stops at its
//!   `host_quota`, the other hosts keep talking, memory stays bounded.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;
use moose_testbed::{unique_tag, Host, Testbed, VethPair};

const P1: &str = "02:11:11:00:00:00/24";
const P2: &str = "02:22:22:00:00:00/24";

// ---------------------------------------------------------------------------
// Addresses.

fn mac_bytes(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .map(|x| u8::from_str_radix(x, 16).unwrap_or_else(|e| panic!("{s}: {e}")))
        .collect();
    v.try_into().unwrap_or_else(|_| panic!("{s}: not a MAC"))
}

fn mac_u64(m: [u8; 6]) -> u64 {
    m.iter().fold(0, |a, b| a << 8 | u64::from(*b))
}

/// Whether `mac` (bytes) lies under `prefix` (`aa:bb:cc:00:00:00/24`).
fn under_b(mac: &[u8], prefix: &str) -> bool {
    let (a, len) = prefix.split_once('/').unwrap();
    let len: u32 = len.parse().unwrap();
    let m: [u8; 6] = mac.try_into().unwrap();
    (mac_u64(m) ^ mac_u64(mac_bytes(a))) >> (48 - len) == 0
}

fn under(mac: &str, prefix: &str) -> bool {
    under_b(&mac_bytes(mac), prefix)
}

fn contains(frame: &[u8], mac: &[u8; 6]) -> bool {
    frame.windows(6).any(|w| w == mac)
}

// ---------------------------------------------------------------------------
// The two switches and their hosts.

struct Switch {
    name: String,
    prefix: &'static str,
    listen: String,
    cfg: PathBuf,
    app: Option<Moose>,
}

impl Switch {
    fn start(&mut self) {
        assert!(self.app.is_none(), "{} runs already", self.name);
        self.app = Some(Moose::start(&self.cfg, &[], &[], &self.listen));
    }

    fn app(&self) -> &Moose {
        self.app.as_ref().expect("running")
    }

    fn metrics(&self) -> String {
        self.app().get("/metrics")
    }

    /// `/api/v1/hosts` as (real MAC, MOOSE MAC, port, id), in the API's
    /// order.
    fn hosts(&self) -> Vec<(String, String, String, u64)> {
        let j = self.app().json("/api/v1/hosts");
        j.as_array()
            .unwrap_or_else(|| panic!("{}: hosts not a list: {j}", self.name))
            .iter()
            .map(|h| {
                assert_eq!(h["vlan"], 1, "{h}");
                (
                    h["mac"].as_str().unwrap().to_string(),
                    h["moose_mac"].as_str().unwrap().to_string(),
                    h["port"].as_str().unwrap().to_string(),
                    h["id"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// The MOOSE address of the host with real MAC `real`.
    fn moose_of(&self, real: &str) -> Option<String> {
        self.hosts().into_iter().find(|h| h.0 == real).map(|h| h.1)
    }
}

/// Options of a [`Bed`].
#[derive(Default)]
struct Opts {
    /// Host IPv6 on (each host gets `fd77:<subnet>::<i+1>/64`).
    ipv6: bool,
    /// Keep allocations in a state directory per switch.
    state: bool,
    /// More `[moose]` lines for S1, and whole tables after it.
    s1_moose: &'static str,
    s1_tables: &'static str,
}

/// Two switches, a fabric link, four hosts. Fields drop in order: the
/// switches (killed if still running), the link, the hosts, the scratch
/// directory.
struct Bed {
    s: [Switch; 2],
    link: VethPair,
    tb: Testbed,
    ip6: Vec<String>,
    scratch: Scratch,
}

/// Which switch host `i` is behind.
fn sw_of(i: usize) -> usize {
    i / 2
}

impl Bed {
    /// `letter` makes the names unique among the tests of this file.
    fn new(letter: &str, subnet: u8, o: Opts) -> Bed {
        let tag = unique_tag(&format!("f{letter}"));
        let tb = Testbed::new(&tag, 4, subnet).expect("testbed (needs root)");
        let link = VethPair::new(&format!("{tag}f1"), &format!("{tag}f2")).expect("fabric link");
        let scratch = Scratch::new(&format!("fabric{letter}"));
        let ip6: Vec<String> = (0..4)
            .map(|i| format!("fd77:{subnet}::{}", i + 1))
            .collect();
        let mk = |k: usize| {
            let (prefix, peer) = if k == 0 { (P1, P2) } else { (P2, P1) };
            let name = format!("fab{letter}-s{}", k + 1);
            let listen = free_addr();
            let mut moose = format!("prefix = \"{prefix}\"\n");
            if o.state {
                let dir = scratch.path(&format!("s{}-state", k + 1));
                moose += &format!("state_dir = \"{}\"\n", dir.display());
            }
            let mut tables = String::new();
            if k == 0 {
                moose += o.s1_moose;
                tables += o.s1_tables;
            }
            let fabric = if k == 0 { &link.a } else { &link.b };
            let mut cfg = format!(
                "[switch]\nname = \"{name}\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 8191\n{}\n[metrics]\nlisten = \"{listen}\"\n[moose]\n{moose}\n{tables}\n",
                eal(&name)
            );
            cfg += &format!(
                "[[port]]\nname = \"f0\"\nrole = \"fabric\"\ndevice = \"net_af_packet0,iface={fabric}\"\n"
            );
            for e in 0..2 {
                cfg += &format!(
                    "[[port]]\nname = \"e{}\"\nrole = \"edge\"\ndevice = \"net_af_packet{},iface={}\"\n",
                    e + 1,
                    e + 1,
                    tb.hosts[2 * k + e].port_if
                );
            }
            cfg += &format!("[[route]]\nprefix = \"{peer}\"\nport = \"f0\"\n");
            let cfg = scratch.write(&format!("s{}.toml", k + 1), &cfg);
            Switch {
                name: format!("S{}", k + 1),
                prefix,
                listen,
                cfg,
                app: None,
            }
        };
        let s = [mk(0), mk(1)];
        let mut bed = Bed {
            s,
            link,
            tb,
            ip6,
            scratch,
        };
        bed.s[0].start();
        bed.s[1].start();
        assert!(bed.tb.wait_up(Duration::from_secs(5)), "host links up");
        assert!(bed.link.wait_up(Duration::from_secs(5)), "fabric link up");
        bed.converge();
        if o.ipv6 {
            for (h, a) in bed.tb.hosts.iter().zip(&bed.ip6) {
                h.enable_ipv6(&format!("{a}/64")).expect("IPv6 on");
            }
        }
        bed
    }

    fn h(&self, i: usize) -> &Host {
        &self.tb.hosts[i]
    }

    /// Both switches adjacent over the fabric link, on one broadcast tree,
    /// and SPF run on the result (each has the other's prefix from it).
    fn converge(&self) {
        for sw in &self.s {
            wait_converged(&sw.listen, 1, Duration::from_secs(10));
        }
        let until = Instant::now() + Duration::from_secs(10);
        for sw in &self.s {
            while !sw
                .app()
                .json("/api/v1/routes")
                .as_array()
                .is_some_and(|a| a.iter().any(|r| r["source"] == "spf"))
            {
                assert!(Instant::now() < until, "{}: no SPF route", sw.name);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// The switch host `i` is behind.
    fn sw(&self, i: usize) -> &Switch {
        &self.s[sw_of(i)]
    }

    /// Host `i`'s addresses: IPv4, and IPv6 if `v6`.
    fn ips(&self, i: usize, v6: bool) -> Vec<String> {
        let mut v = vec![self.h(i).ip.clone()];
        if v6 {
            v.push(self.ip6[i].clone());
        }
        v
    }
}

// ---------------------------------------------------------------------------
// Pings.

/// `ping -4|-6 -c count -i interval ip` from `h`, bounded in time; whether
/// every echo was answered, and ping's output.
fn ping(h: &Host, ip: &str, count: u32, interval: &str) -> (bool, String) {
    let fam = if ip.contains(':') { "-6" } else { "-4" };
    let c = count.to_string();
    let e = output_within(
        Command::new("ip").args([
            "netns", "exec", &h.ns, "ping", fam, "-n", "-c", &c, "-i", interval, "-W", "2", ip,
        ]),
        Duration::from_secs(30),
    );
    (e.status.success(), e.stdout)
}

/// Round-trip times by `icmp_seq`, from ping's per-reply lines, ms.
fn rtts(out: &str) -> Vec<(u32, f64)> {
    out.lines()
        .filter_map(|l| {
            let seq = l.split("icmp_seq=").nth(1)?.split_whitespace().next()?;
            let t = l.split("time=").nth(1)?.split_whitespace().next()?;
            Some((seq.parse().ok()?, t.parse().ok()?))
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty());
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// A background `ping`, killed when dropped.
struct Bg(Option<Child>);

impl Bg {
    fn ping(h: &Host, ip: &str, interval: &str) -> Bg {
        Bg(Some(
            h.spawn(&["ping", "-n", "-q", "-i", interval, "-W", "1", ip])
                .expect("spawn ping"),
        ))
    }

    /// SIGINT (ping prints its summary): (transmitted, received).
    fn stop(mut self) -> (u64, u64) {
        stop_ping(self.0.take().expect("running"))
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

/// Every ordered pair pings every address of the other (2 echoes each).
fn ping_all(bed: &Bed, v6: bool) {
    for a in 0..4 {
        for b in 0..4 {
            if a == b {
                continue;
            }
            for ip in bed.ips(b, v6) {
                let (ok, out) = ping(bed.h(a), &ip, 2, "0.1");
                assert!(ok, "h{a} -> h{b} ({ip}):\n{out}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Metrics.

/// The sum of every sample of `name` (any labels).
fn sum_metric(text: &str, name: &str) -> f64 {
    let mut found = false;
    let mut sum = 0.0;
    for l in text.lines() {
        let Some(rest) = l.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        let v = rest.rsplit(' ').next().unwrap();
        sum += v.parse::<f64>().unwrap();
        found = true;
    }
    assert!(found, "no {name} in /metrics");
    sum
}

const REWRITES: [&str; 4] = [
    "moose_worker_rewrite_src_total",
    "moose_worker_rewrite_dst_total",
    "moose_worker_rewrite_arp_total",
    "moose_worker_rewrite_nd_total",
];

// ---------------------------------------------------------------------------
// Frames.

/// The link-layer addresses carried by an IPv6 neighbour discovery message
/// (NS or NA, no extension headers): its source/target link-layer options.
fn nd_options(f: &[u8]) -> Option<Vec<&[u8]>> {
    if f.len() < 78 || f[12..14] != [0x86, 0xdd] || f[20] != 58 || !matches!(f[54], 135 | 136) {
        return None;
    }
    let mut out = Vec::new();
    let mut o = 78;
    while o + 8 <= f.len() {
        let (t, len) = (f[o], usize::from(f[o + 1]) * 8);
        if len == 0 {
            break;
        }
        if matches!(t, 1 | 2) {
            out.push(&f[o + 2..o + 8]);
        }
        o += len;
    }
    Some(out)
}

/// The sender hardware address of an Ethernet/IPv4 ARP message.
fn arp_sender(f: &[u8]) -> Option<&[u8]> {
    (f.len() >= 42 && f[12..14] == [0x08, 0x06]).then(|| &f[22..28])
}

// ---------------------------------------------------------------------------
// The tests.

/// Every ordered pair of the four hosts pings over IPv4 and IPv6 through
/// both switches. Afterwards every host's neighbour tables hold, for each
/// host behind the other switch, exactly the MOOSE address that switch
/// gave it (under its prefix), and no entry anywhere holds a real MAC;
/// captures on every host, from before IPv6 was turned on (router
/// solicitations, neighbour discovery) to after the last ping, hold ARP
/// and ND messages from behind the other switch but no byte sequence equal
/// to the real MAC of any host behind it. `/api/v1/hosts` lists each
/// switch's own two hosts, `/api/v1/routes` the two prefixes only, and the
/// host and rewrite metrics move.
#[test]
fn two_switches_real_hosts() {
    let t0 = Instant::now();
    let bed = Bed::new("a", 40, Opts::default());
    let before: Vec<String> = bed.s.iter().map(|s| s.metrics()).collect();
    for s in &bed.s {
        assert!(
            s.hosts().is_empty(),
            "{}: hosts before any frame: {:?}",
            s.name,
            s.hosts()
        );
    }
    // Capture from the first frame on: IPv6 comes on after the captures
    // start.
    let caps: Vec<_> = (0..4)
        .map(|i| {
            let p = bed.scratch.path(&format!("h{i}.pcap"));
            let c = bed
                .h(i)
                .capture(&p, &[], Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("tcpdump in h{i}: {e}"));
            (p, c)
        })
        .collect();
    for (h, a) in bed.tb.hosts.iter().zip(&bed.ip6) {
        h.enable_ipv6(&format!("{a}/64")).expect("IPv6 on");
    }
    ping_all(&bed, true);
    std::thread::sleep(Duration::from_millis(300));
    let mut frames = Vec::new();
    for (i, (p, c)) in caps.into_iter().enumerate() {
        let log = c
            .stop(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("stop tcpdump in h{i}: {e}"));
        let f = read_pcap(&p);
        eprintln!(
            "h{i}: {} frames captured ({})",
            f.len(),
            log.lines().last().unwrap_or("")
        );
        frames.push(f);
    }

    // The hosts each switch knows: exactly its own two.
    let mut moose = vec![String::new(); 4];
    for (k, s) in bed.s.iter().enumerate() {
        let hosts = s.hosts();
        let mut got: Vec<(String, String)> =
            hosts.iter().map(|h| (h.0.clone(), h.2.clone())).collect();
        got.sort();
        let want = vec![
            (bed.h(2 * k).mac.clone(), "e1".to_string()),
            (bed.h(2 * k + 1).mac.clone(), "e2".to_string()),
        ];
        assert_eq!(got, want, "{}: {hosts:?}", s.name);
        for h in &hosts {
            assert!(
                under(&h.1, s.prefix),
                "{}: {h:?} not under {}",
                s.name,
                s.prefix
            );
            let i = (0..4).find(|&i| bed.h(i).mac == h.0).unwrap();
            moose[i] = h.1.clone();
        }
        assert_ne!(hosts[0].1, hosts[1].1, "{}: two hosts, one address", s.name);
    }
    eprintln!("MOOSE addresses h0..h3: {moose:?}");

    // Routes: the local prefix and the static route, nothing per host;
    // SPF found the peer's prefix too, behind the static route.
    for (k, s) in bed.s.iter().enumerate() {
        let all = s.app().json("/api/v1/routes");
        let (spf, r): (Vec<_>, Vec<_>) = all
            .as_array()
            .unwrap()
            .iter()
            .cloned()
            .partition(|r| r["source"] == "spf");
        assert_eq!(spf.len(), 1, "{}: {all}", s.name);
        assert_eq!(spf[0]["prefix"], bed.s[1 - k].prefix);
        assert_eq!(spf[0]["installed"], false, "the static route wins");
        assert_eq!(r.len(), 2, "{}: {r:?}", s.name);
        assert_eq!(r[0]["prefix"], s.prefix, "{}: {r:?}", s.name);
        assert_eq!(r[0]["local"], true);
        let peer = bed.s[1 - k].prefix;
        assert_eq!(r[1]["prefix"], peer, "{}: {r:?}", s.name);
        assert_eq!(r[1]["ports"], serde_json::json!(["f0"]));
        assert_eq!(r[1]["up"], serde_json::json!(["f0"]));
        assert_eq!(
            (&r[1]["source"], &r[1]["installed"]),
            (&"static".into(), &true.into())
        );
        assert_eq!(metric(&s.metrics(), "moose_fib_entries", ""), 1.0);
    }

    // `moose show` prints the same: hosts (table and JSON), routes, home.
    for (k, s) in bed.s.iter().enumerate() {
        let show = |args: &[&str]| {
            let e = output_within(
                common::moose()
                    .arg("show")
                    .args(args)
                    .args(["--api", &s.listen]),
                Duration::from_secs(15),
            );
            assert!(e.status.success(), "show {args:?}: {}", e.stderr);
            e.stdout
        };
        let table = show(&["hosts"]);
        for h in s.hosts() {
            assert!(
                table.contains(&h.0) && table.contains(&h.1),
                "{}: {h:?} in\n{table}",
                s.name
            );
        }
        assert!(table.trim_end().ends_with("2 hosts"), "{table}");
        let json: serde_json::Value = serde_json::from_str(&show(&["hosts", "--json"])).unwrap();
        assert_eq!(json.as_array().map(Vec::len), Some(2), "{json}");
        let routes = show(&["routes"]);
        assert!(
            routes.contains(bed.s[1 - k].prefix) && routes.contains("local hosts"),
            "{routes}"
        );
        let home = show(&["home"]);
        assert!(home.contains("e1") && home.contains("e2"), "{home}");
    }

    // Neighbour tables: the other switch's hosts by their MOOSE addresses.
    let reals: Vec<String> = bed.tb.hosts.iter().map(|h| h.mac.clone()).collect();
    for a in 0..4 {
        for v6 in [false, true] {
            let n = bed.h(a).neighbours(v6).expect("ip neigh");
            for e in &n {
                if let Some(ll) = &e.lladdr {
                    assert!(
                        moose.contains(ll) && !reals.contains(ll),
                        "h{a}: {e:?} is not a MOOSE address ({n:?})"
                    );
                }
            }
            for b in (0..4).filter(|&b| sw_of(b) != sw_of(a)) {
                let ip = &bed.ips(b, true)[usize::from(v6)];
                let e = n
                    .iter()
                    .find(|e| &e.ip == ip)
                    .unwrap_or_else(|| panic!("h{a}: no neighbour entry for h{b} {ip}: {n:?}"));
                assert_eq!(
                    e.lladdr.as_deref(),
                    Some(moose[b].as_str()),
                    "h{a}'s entry for h{b} ({ip}): {e:?}"
                );
                assert!(under(&moose[b], bed.sw(b).prefix));
            }
        }
    }

    // Captures: nothing carries the real MAC of a host behind the other
    // switch; ARP and ND from behind it were captured (so the search
    // covered their payloads), and the search does find a real MAC where
    // one belongs (the host's own).
    for (a, f) in frames.iter().enumerate() {
        let other = bed.s[1 - sw_of(a)].prefix;
        for b in (0..4).filter(|&b| sw_of(b) != sw_of(a)) {
            let real = mac_bytes(&bed.h(b).mac);
            let leaks: Vec<usize> = (0..f.len()).filter(|&i| contains(&f[i], &real)).collect();
            assert!(
                leaks.is_empty(),
                "h{a} received h{b}'s real MAC {} in {} frames, the first: {:02x?}",
                bed.h(b).mac,
                leaks.len(),
                f[leaks[0]]
            );
        }
        let arp = f
            .iter()
            .filter(|x| arp_sender(x).is_some_and(|s| under_b(s, other)))
            .count();
        let nd = f
            .iter()
            .filter_map(|x| nd_options(x))
            .filter(|o| o.iter().any(|m| under_b(m, other)))
            .count();
        let own = mac_bytes(&bed.h(a).mac);
        let with_own = f.iter().filter(|x| contains(x, &own)).count();
        let peer = a ^ 1;
        let peer_real = f
            .iter()
            .filter(|x| contains(x, &mac_bytes(&bed.h(peer).mac)))
            .count();
        eprintln!(
            "h{a}: {} frames, {arp} ARP with a sender under {other}, {nd} NS/NA with an option under it, {with_own} with its own MAC, {peer_real} with the real MAC of h{peer} (same switch)",
            f.len()
        );
        assert!(arp > 0, "h{a} captured no ARP from behind {other}");
        assert!(nd > 0, "h{a} captured no NS/NA from behind {other}");
        assert!(with_own > 0, "h{a}'s own MAC found in none of its frames");
    }

    // Metrics.
    for (k, s) in bed.s.iter().enumerate() {
        let m = s.metrics();
        assert_eq!(metric(&m, "moose_hosts", ""), 2.0, "{}", s.name);
        assert_eq!(
            metric(&m, "moose_hosts_allocated_total", ""),
            2.0,
            "{}",
            s.name
        );
        assert_eq!(metric(&before[k], "moose_hosts", ""), 0.0);
        for name in REWRITES {
            let (b, a) = (sum_metric(&before[k], name), sum_metric(&m, name));
            eprintln!("{}: {name} {b} -> {a}", s.name);
            assert!(a > b, "{}: {name} did not move ({b} -> {a})", s.name);
        }
    }
    let [s1, s2] = bed.s;
    for s in [s1, s2] {
        s.app.expect("running").stop();
    }
    eprintln!("two_switches_real_hosts: {:?}", t0.elapsed());
}

/// The first ping between two quiet hosts allocates an address on both
/// switches (the ARP request on S1, the reply on S2; each held by the
/// control thread and re-injected once its translation is published). It
/// is answered; its round trip against the later ones', and the control
/// thread's share (`moose_hosts_first_frame_seconds_*`), are printed. For
/// comparison: the first ping after flushing both hosts' neighbour caches
/// (ARP again, no allocation).
#[test]
fn first_frame_delay() {
    let t0 = Instant::now();
    let bed = Bed::new("b", 41, Opts::default());
    for s in &bed.s {
        assert!(s.hosts().is_empty(), "{}: hosts before any frame", s.name);
    }
    for (a, b) in [(0, 2), (1, 3)] {
        let ip = bed.h(b).ip.clone();
        let (ok, out) = ping(bed.h(a), &ip, 20, "0.05");
        let r = rtts(&out);
        assert!(
            r.iter().any(|(s, _)| *s == 1),
            "h{a} -> h{b}: the first echo (allocating h{a} on S1 and h{b} on S2) was not answered:\n{out}"
        );
        let first = r[0].1;
        let later = median(r.iter().skip(1).map(|x| x.1).collect());
        eprintln!(
            "h{a} -> h{b}: first ping {first:.3} ms (allocating), median of the {} later {later:.3} ms; all answered: {ok}",
            r.len() - 1
        );
        assert!(bed.s[0].moose_of(&bed.h(a).mac).is_some(), "h{a} on S1");
        assert!(bed.s[1].moose_of(&bed.h(b).mac).is_some(), "h{b} on S2");
    }
    for s in &bed.s {
        let m = s.metrics();
        let (sum, n, max) = (
            metric(&m, "moose_hosts_first_frame_seconds_sum", ""),
            metric(&m, "moose_hosts_first_frame_seconds_count", ""),
            metric(&m, "moose_hosts_first_frame_seconds_max", ""),
        );
        eprintln!(
            "{}: control-thread first-frame delay: {n} frames, mean {:.1} us, max {:.1} us",
            s.name,
            sum / n * 1e6,
            max * 1e6
        );
        assert_eq!(
            metric(&m, "moose_hosts_allocated_total", ""),
            2.0,
            "{}",
            s.name
        );
    }
    // The same first ping without an allocation: ARP again, known hosts.
    for i in [0, 2] {
        bed.h(i)
            .exec(&["ip", "neigh", "flush", "dev", "eth0"])
            .expect("ip neigh flush");
    }
    let (_, out) = ping(bed.h(0), &bed.h(2).ip, 5, "0.05");
    let r = rtts(&out);
    assert!(!r.is_empty(), "h0 -> h2 after the flush:\n{out}");
    eprintln!(
        "h0 -> h2 after flushing the neighbour caches: first ping {:.3} ms (ARP, no allocation)",
        r[0].1
    );
    let [s1, s2] = bed.s;
    for s in [s1, s2] {
        s.app.expect("running").stop();
    }
    eprintln!("first_frame_delay: {:?}", t0.elapsed());
}

/// Neighbour entries with a link-layer address: IP -> MAC.
fn neigh_map(h: &Host) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = [false, true]
        .iter()
        .flat_map(|&v6| h.neighbours(v6).expect("ip neigh"))
        .filter_map(|e| Some((e.ip, e.lladdr?)))
        .collect();
    v.sort();
    v
}

/// With `moose.state_dir` set, the hosts talk (IPv4 and IPv6), then S1 is
/// restarted cleanly (SIGTERM) and S2 is killed (SIGKILL) and started
/// again. Each lists the same hosts with the same addresses before any new
/// frame; the hosts' neighbour caches, never flushed, hold the same MOOSE
/// addresses and keep working (every pair pings again within a few
/// seconds); nothing is allocated after the restarts.
#[test]
fn restart_and_sigkill_keep_addresses() {
    let t0 = Instant::now();
    let mut bed = Bed::new(
        "c",
        42,
        Opts {
            ipv6: true,
            state: true,
            ..Opts::default()
        },
    );
    ping_all(&bed, true);
    let hosts: Vec<_> = bed.s.iter().map(|s| s.hosts()).collect();
    for (s, h) in bed.s.iter().zip(&hosts) {
        assert_eq!(h.len(), 2, "{}: {h:?}", s.name);
    }
    for s in &bed.s {
        let m = s.metrics();
        eprintln!(
            "{} (state_dir): control-thread first-frame delay: {} frames, mean {:.1} us, max {:.1} us",
            s.name,
            metric(&m, "moose_hosts_first_frame_seconds_count", ""),
            metric(&m, "moose_hosts_first_frame_seconds_sum", "")
                / metric(&m, "moose_hosts_first_frame_seconds_count", "")
                * 1e6,
            metric(&m, "moose_hosts_first_frame_seconds_max", "") * 1e6
        );
    }
    let caches: Vec<_> = bed.tb.hosts.iter().map(neigh_map).collect();
    for (i, c) in caches.iter().enumerate() {
        assert!(c.len() >= 6, "h{i}: neighbour entries {c:?}");
    }

    // S1: SIGTERM, start again.
    let e = bed.s[0].app.take().unwrap().stop();
    assert!(e.status.success());
    bed.s[0].start();
    assert_eq!(
        bed.s[0].hosts(),
        hosts[0],
        "S1 after a clean restart, before any frame of its hosts"
    );
    // S2: SIGKILL, start again.
    let app = bed.s[1].app.take().unwrap();
    app.signal("KILL");
    let e = app.wait(Duration::from_secs(10));
    assert!(!e.status.success(), "S2 was killed: {}", e.status);
    bed.s[1].start();
    bed.converge();
    let restarted = Instant::now();
    assert_eq!(
        bed.s[1].hosts(),
        hosts[1],
        "S2 after SIGKILL, before any frame of its hosts"
    );
    for (i, c) in caches.iter().enumerate() {
        assert_eq!(&neigh_map(bed.h(i)), c, "h{i}'s neighbour cache");
    }

    // Every pair, every address: the first answered echo of each within a
    // few seconds.
    let mut worst = Duration::ZERO;
    for a in 0..4 {
        for b in (0..4).filter(|&b| b != a) {
            for ip in bed.ips(b, true) {
                let t = Instant::now();
                wait_until(
                    &format!("h{a} -> h{b} ({ip}) after the restarts"),
                    Duration::from_secs(5),
                    || ping(bed.h(a), &ip, 1, "0.1").0,
                );
                worst = worst.max(t.elapsed());
            }
        }
    }
    eprintln!(
        "every pair answered again; slowest first answer {worst:?}, all done {:?} after S2 came back",
        restarted.elapsed()
    );
    for (k, s) in bed.s.iter().enumerate() {
        assert_eq!(s.hosts(), hosts[k], "{} after the pings", s.name);
        let m = s.metrics();
        assert_eq!(
            metric(&m, "moose_hosts_allocated_total", ""),
            0.0,
            "{}: allocated again after the restart",
            s.name
        );
        assert_eq!(metric(&m, "moose_hosts", ""), 2.0);
        assert_eq!(metric(&m, "moose_hosts_store_errors_total", ""), 0.0);
        assert!(sum_metric(&m, "moose_worker_rewrite_src_total") > 0.0);
    }
    for (i, c) in caches.iter().enumerate() {
        assert_eq!(
            &neigh_map(bed.h(i)),
            c,
            "h{i}'s neighbour cache after the pings"
        );
    }
    let [s1, s2] = bed.s;
    for s in [s1, s2] {
        s.app.expect("running").stop();
    }
    eprintln!("restart_and_sigkill_keep_addresses: {:?}", t0.elapsed());
}

/// Sends `bursts` × `n` frames with random unicast source MACs from `h`'s
/// eth0 to `dst`, each burst as fast as a raw socket goes, 100 ms between
/// bursts; how many were sent.
fn flood(h: &Host, bursts: u32, n: u32, dst: &str) -> u64 {
    const SCRIPT: &str = r#"
import os, socket, sys, time
bursts, n, dst = int(sys.argv[1]), int(sys.argv[2]), bytes.fromhex(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('eth0', 0))
body = bytes.fromhex('88b5') + bytes(46)
sent = 0
for b in range(bursts):
    if b:
        time.sleep(0.1)
    r = os.urandom(6 * n)
    frames = []
    for i in range(n):
        src = bytearray(r[6 * i:6 * i + 6])
        src[0] = (src[0] & 0xfc) | 0x02
        frames.append(dst + bytes(src) + body)
    for f in frames:
        try:
            s.send(f)
            sent += 1
        except OSError:
            pass
print(sent)
"#;
    let dst: String = dst.split(':').collect();
    let (b, n) = (bursts.to_string(), n.to_string());
    let out = h
        .exec(&[
            "timeout",
            "30",
            "/usr/bin/python3",
            "-c",
            SCRIPT,
            &b,
            &n,
            &dst,
        ])
        .expect("flood");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// S1 has `host_quota = 50`, and its `host` punt class lets each port punt
/// 20,000 frames/s (burst 2000; the defaults are 2000/s and 200), so the
/// flood reaches the control thread. h0 and h1 talk first (h1 is a host of
/// e2 before the flood). h1 sends 20,000 frames with random source MACs
/// while h0 pings h2 every 20 ms: afterwards e2 holds at most 50 hosts,
/// refusals are counted, h0 <-> h2 lost at most 3 echoes, S1's RSS grew by
/// less than 64 MB; h1 (admitted before the flood) still reaches h3, with
/// another MAC it is refused (quota), with its own again it is back.
#[test]
fn host_id_exhaustion_flood() {
    let t0 = Instant::now();
    let bed = Bed::new(
        "d",
        43,
        Opts {
            s1_moose: "host_quota = 50\n",
            s1_tables: "[punt.host]\nrate_pps = 1000000\nburst = 20000\nport_rate_pps = 1000000\nport_burst = 20000\n",
            ..Opts::default()
        },
    );
    let s1 = &bed.s[0];
    for (a, b) in [(0, 2), (1, 3)] {
        let (ok, out) = ping(bed.h(a), &bed.h(b).ip, 2, "0.1");
        assert!(ok, "h{a} -> h{b}:\n{out}");
    }
    let h1_moose = s1.moose_of(&bed.h(1).mac).expect("h1 is a host of S1");
    let m0 = s1.metrics();
    assert_eq!(metric(&m0, "moose_hosts_port", "port=\"e2\""), 1.0);
    let pid = s1.app().pid;
    let rss0 = rss_kib(pid).expect("S1's RSS");

    let bg = Bg::ping(bed.h(0), &bed.h(2).ip, "0.02");
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let sent = flood(bed.h(1), 10, 2_000, "02:22:22:ff:ff:fe");
    let took = t.elapsed();
    // Until S1 has handled what it received.
    let mut last = String::new();
    wait_until("S1's host counters settle", Duration::from_secs(10), || {
        std::thread::sleep(Duration::from_millis(200));
        let m = s1.metrics();
        let now = format!(
            "{} {}",
            metric(&m, "moose_hosts_quota_refused_total", ""),
            metric(&m, "moose_port_rx_packets_total", "port=\"e2\"")
        );
        std::mem::replace(&mut last, now) == last
    });
    std::thread::sleep(Duration::from_millis(200));
    let (tx, rx) = bg.stop();
    let rss1 = rss_kib(pid).expect("S1's RSS");
    let m1 = s1.metrics();
    let d = |name: &str, labels: &str| metric(&m1, name, labels) - metric(&m0, name, labels);
    let e2 = "port=\"e2\"";
    let punted = d("moose_port_rx_punted_total", e2);
    let refused = metric(&m1, "moose_hosts_quota_refused_total", "");
    eprintln!(
        "h1 sent {sent} frames in {took:?}; e2 received {}, punted {punted}, kernel drops {}; {} punts refused on a full ring, {} rate-limited per port, {} per class; quota refusals {refused}",
        d("moose_port_rx_packets_total", e2),
        d("moose_nic_rx_kernel_drops_total", e2),
        sum_metric(&m1, "moose_punt_ring_full_total") - sum_metric(&m0, "moose_punt_ring_full_total"),
        sum_metric(&m1, "moose_punt_port_rate_limited_total") - sum_metric(&m0, "moose_punt_port_rate_limited_total"),
        sum_metric(&m1, "moose_punt_class_rate_limited_total") - sum_metric(&m0, "moose_punt_class_rate_limited_total"),
    );
    eprintln!(
        "h0 -> h2 every 20 ms during the flood: {rx} of {tx} answered ({} lost)",
        tx - rx
    );
    eprintln!(
        "S1 RSS {} KiB before, {} KiB after ({:+} KiB)",
        rss0,
        rss1,
        rss1 as i64 - rss0 as i64
    );
    assert!(sent >= 19_000, "h1 sent only {sent} frames");
    let on_e2 = metric(&m1, "moose_hosts_port", e2);
    assert!(on_e2 <= 50.0, "e2 holds {on_e2} hosts, quota 50");
    assert!(refused > 0.0, "no quota refusals");
    assert!(punted > 50.0, "the flood did not reach the control thread");
    let hosts = s1.hosts();
    assert_eq!(
        hosts.iter().filter(|h| h.2 == "e2").count() as f64,
        on_e2,
        "/api/v1/hosts and moose_hosts_port disagree"
    );
    assert!(
        hosts.iter().filter(|h| h.2 == "e1").count() == 1,
        "{hosts:?}"
    );
    assert!(tx >= 20, "h0 sent only {tx} echoes during the flood");
    assert!(
        tx - rx <= 3,
        "h0 -> h2 lost {} of {tx} during the flood",
        tx - rx
    );
    assert!(
        rss1 < rss0 + 64 * 1024,
        "S1's RSS grew from {rss0} to {rss1} KiB"
    );

    // h1 was admitted before the flood: it keeps its address.
    assert_eq!(
        s1.moose_of(&bed.h(1).mac).as_deref(),
        Some(h1_moose.as_str())
    );
    let (ok, out) = ping(bed.h(1), &bed.h(3).ip, 3, "0.1");
    assert!(ok, "h1 -> h3 after the flood:\n{out}");
    // A new MAC on h1's port is refused: the port is full.
    let other = "02:77:2b:00:00:99";
    let set_mac = |m: &str| {
        bed.h(1)
            .exec(&["ip", "link", "set", "eth0", "address", m])
            .expect("ip link set address")
    };
    set_mac(other);
    let (ok, _) = ping(bed.h(1), &bed.h(3).ip, 3, "0.1");
    let m2 = s1.metrics();
    assert!(!ok, "h1 with a new MAC reached h3 through a full port");
    assert!(
        metric(&m2, "moose_hosts_quota_refused_total", "") > refused,
        "the new MAC was not refused by quota"
    );
    assert_eq!(s1.moose_of(other), None, "{other} got an address");
    assert!(metric(&m2, "moose_hosts_port", e2) <= 50.0);
    set_mac(&bed.h(1).mac);
    wait_until(
        "h1 -> h3 with its own MAC again",
        Duration::from_secs(5),
        || ping(bed.h(1), &bed.h(3).ip, 1, "0.1").0,
    );
    let [s1, s2] = bed.s;
    for s in [s1, s2] {
        s.app.expect("running").stop();
    }
    eprintln!("host_id_exhaustion_flood: {:?}", t0.elapsed());
}
