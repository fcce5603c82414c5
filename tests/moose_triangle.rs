//! The MOOSE fabric with loops, through the real binary: the link-state
//! protocol on real veth links, `prefix = "auto"`, real Linux hosts.
//!
//! * **Triangle** — S1, S2, S3, each linked to the other two, two hosts
//!   on each: the switches converge (every neighbour full, the same
//!   database on all three, one broadcast tree agreed); routes are the
//!   other switches' prefixes only, from SPF; every ordered pair pings
//!   over IPv4 and IPv6; one broadcast from a host reaches every other
//!   host exactly once; a fabric link cut in the middle of a ping is
//!   routed around (the gap is printed; duplicates — a loop — fail it),
//!   and traffic takes the link again once it is back.
//! * **Square with a diagonal** — four switches, five links, one host on
//!   each, a continuous broadcast from one host while the diagonal flaps:
//!   no host ever receives more copies than were sent (no storm, not even
//!   in the transitions), and the fabric carries each broadcast over at
//!   most the three links of a spanning tree.
//! * **Mobility** — in the triangle, a host's cable is moved from S1 to a
//!   spare edge port of S2 (its namespace has a second interface with the
//!   same MAC and address; the test takes one down and the other up): it
//!   gets an S2 address, S1 hands it over, every peer's neighbour entry
//!   points at the new address (the gratuitous ARP S2 made for it), a peer
//!   pinned to the old address still reaches it (S1 forwards), and a few
//!   quick moves back and forth freeze it.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use moose_testbed::{sh, unique_tag, Host, Testbed, VethPair};

/// A switch of a lab: its config, API address, and the process.
struct Sw {
    name: String,
    listen: String,
    cfg: PathBuf,
    app: Option<Moose>,
}

impl Sw {
    fn app(&self) -> &Moose {
        self.app.as_ref().expect("running")
    }

    fn json(&self, path: &str) -> serde_json::Value {
        self.app().json(path)
    }
}

/// A lab: `n` switches, fabric links between given (switch, switch) pairs,
/// `per` hosts on edge ports of each switch.
struct Lab {
    sw: Vec<Sw>,
    links: Vec<(usize, usize, VethPair)>,
    /// A spare edge port `mv` of one switch, whose other end is host 0's
    /// `eth1` (down).
    _spare: Option<VethPair>,
    tb: Testbed,
    ip6: Vec<String>,
    _scratch: Scratch,
}

impl Lab {
    fn new(letter: &str, subnet: u8, n: usize, per: usize, links: &[(usize, usize)]) -> Lab {
        Lab::with(letter, subnet, n, per, links, None, "", n, &[])
    }

    /// `spare`: the switch that gets a spare edge port for host 0;
    /// `moose`: more `[moose]` lines (`{dir}` is the scratch directory,
    /// `{k}` the switch's number); `start`: how many switches (the first
    /// ones) are started now; `extra[k]`: more configuration for switch
    /// `k` (tables after its ports).
    #[allow(clippy::too_many_arguments)]
    fn with(
        letter: &str,
        subnet: u8,
        n: usize,
        per: usize,
        links: &[(usize, usize)],
        spare_on: Option<usize>,
        moose: &str,
        start: usize,
        extra: &[String],
    ) -> Lab {
        let tag = unique_tag(&format!("t{letter}"));
        let tb = Testbed::new(&tag, n * per, subnet).expect("testbed (needs root)");
        let scratch = Scratch::new(&format!("triangle{letter}"));
        let links: Vec<(usize, usize, VethPair)> = links
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| {
                let v = VethPair::new(&format!("{tag}l{i}a"), &format!("{tag}l{i}b"))
                    .expect("fabric link");
                (a, b, v)
            })
            .collect();
        let ip6 = (0..n * per)
            .map(|i| format!("fd78:{subnet}::{}", i + 1))
            .collect();
        let spare = spare_on.map(|_| {
            let v = VethPair::new(&format!("{tag}mva"), &format!("{tag}mvb")).expect("spare");
            let h = &tb.hosts[0];
            sh(&["ip", "link", "set", &v.b, "down"]).unwrap();
            sh(&["ip", "link", "set", &v.b, "netns", &h.ns]).unwrap();
            h.exec(&["ip", "link", "set", &v.b, "name", "eth1"])
                .unwrap();
            h.exec(&["ip", "link", "set", "eth1", "address", &h.mac])
                .unwrap();
            h.exec(&["ip", "addr", "add", &format!("{}/24", h.ip), "dev", "eth1"])
                .unwrap();
            v
        });
        let mut sw = Vec::new();
        for k in 0..n {
            let name = format!("tri{letter}-s{}", k + 1);
            let listen = free_addr();
            let moose = moose
                .replace("{dir}", &scratch.0.display().to_string())
                .replace("{k}", &(k + 1).to_string());
            let mut cfg = format!(
                "[switch]\nname = \"{name}\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 8191\n{}\n[metrics]\nlisten = \"{listen}\"\n[moose]\nprefix = \"auto\"\n{moose}\n[routing]\nhello_interval_ms = 100\ndead_interval_ms = 400\n",
                eal(&name)
            );
            let mut dev = 0;
            for (i, (a, b, v)) in links.iter().enumerate() {
                let end = if *a == k {
                    &v.a
                } else if *b == k {
                    &v.b
                } else {
                    continue;
                };
                cfg += &format!(
                    "[[port]]\nname = \"l{i}\"\nrole = \"fabric\"\ndevice = \"net_af_packet{dev},iface={end}\"\n"
                );
                dev += 1;
            }
            for e in 0..per {
                cfg += &format!(
                    "[[port]]\nname = \"e{}\"\nrole = \"edge\"\ndevice = \"net_af_packet{dev},iface={}\"\n",
                    e + 1,
                    tb.hosts[k * per + e].port_if
                );
                dev += 1;
            }
            if let (Some(on), Some(v)) = (spare_on, &spare) {
                if on == k {
                    cfg += &format!(
                        "[[port]]\nname = \"mv\"\nrole = \"edge\"\ndevice = \"net_af_packet{dev},iface={}\"\n",
                        v.a
                    );
                }
            }
            if let Some(x) = extra.get(k) {
                cfg += x;
            }
            let cfg = scratch.write(&format!("s{}.toml", k + 1), &cfg);
            sw.push(Sw {
                name: format!("S{}", k + 1),
                listen,
                cfg,
                app: None,
            });
        }
        let mut lab = Lab {
            sw,
            links,
            _spare: spare,
            tb,
            ip6,
            _scratch: scratch,
        };
        for s in lab.sw.iter_mut().take(start) {
            s.app = Some(Moose::start(&s.cfg, &[], &[], &s.listen));
        }
        assert!(lab.tb.wait_up(Duration::from_secs(5)), "host links up");
        for (_, _, l) in &lab.links {
            assert!(l.wait_up(Duration::from_secs(5)), "{} up", l.a);
        }
        lab
    }

    fn h(&self, i: usize) -> &Host {
        &self.tb.hosts[i]
    }

    /// Waits until every switch's neighbours are full and the tree is
    /// agreed; returns how long it took.
    fn converge(&self) -> Duration {
        let t = Instant::now();
        for (k, s) in self.sw.iter().enumerate() {
            let degree = self
                .links
                .iter()
                .filter(|(a, b, _)| *a == k || *b == k)
                .count();
            wait_converged(&s.listen, degree, Duration::from_secs(15));
        }
        // And the same database everywhere.
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let dbs: Vec<Vec<serde_json::Value>> = self.sw.iter().map(lsdb).collect();
            // … and SPF run on it: a route to every other switch.
            let routed = self.sw.iter().all(|s| {
                let r = s.json("/api/v1/routes");
                r.as_array().is_some_and(|a| {
                    a.iter()
                        .filter(|x| x["source"] == "spf" && x["installed"] == true)
                        .filter(|x| x["prefix"] != DIRECTORY_ROUTE)
                        .count()
                        == self.sw.len() - 1
                })
            });
            if dbs.iter().all(|d| d == &dbs[0]) && dbs[0].len() == self.sw.len() && routed {
                return t.elapsed();
            }
            assert!(Instant::now() < until, "databases differ: {dbs:#?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn prefixes(&self) -> Vec<String> {
        lsdb(&self.sw[0])
            .iter()
            .map(|a| a["prefix"].as_str().unwrap().to_string())
            .collect()
    }
}

/// The route to the directory's anycast address (`[elk]`).
const DIRECTORY_ROUTE: &str = "02:ff:ff:ff:ff:fe/48";

/// A switch's database without the ages and the "own" mark: what must be
/// equal on every switch.
fn lsdb(s: &Sw) -> Vec<serde_json::Value> {
    let j = s.json("/api/v1/lsdb");
    j.as_array()
        .unwrap_or_else(|| panic!("{}: lsdb not a list: {j}", s.name))
        .iter()
        .map(|a| {
            let mut a = a.clone();
            let o = a.as_object_mut().unwrap();
            o.remove("age_s");
            o.remove("own");
            a
        })
        .collect()
}

fn under(mac: &str, prefix: &str) -> bool {
    let (a, len) = prefix.split_once('/').unwrap();
    let len: u32 = len.parse().unwrap();
    let v = |s: &str| {
        s.split(':').fold(0u64, |acc, x| {
            acc << 8 | u64::from_str_radix(x, 16).unwrap()
        })
    };
    (v(mac) ^ v(a)) >> (48 - len) == 0
}

fn ping(h: &Host, ip: &str, count: u32) -> (bool, String) {
    let fam = if ip.contains(':') { "-6" } else { "-4" };
    let c = count.to_string();
    let e = output_within(
        Command::new("ip").args([
            "netns", "exec", &h.ns, "ping", fam, "-n", "-c", &c, "-i", "0.1", "-W", "2", ip,
        ]),
        Duration::from_secs(30),
    );
    (e.status.success(), e.stdout)
}

/// Sends `n` broadcast frames of EtherType 0x88b6 from `h`'s eth0, one
/// every `gap_us` microseconds (a raw socket in Python, so the frames are
/// exactly what the test says).
fn broadcast(h: &Host, n: u32, gap_us: u32) -> std::process::Child {
    let script = format!(
        "import socket,time\n\
         s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n\
         s.bind(('eth0',0))\n\
         src=bytes.fromhex('{}')\n\
         for i in range({n}):\n\
         \x20   s.send(b'\\xff'*6+src+b'\\x88\\xb6'+i.to_bytes(4,'big')+b'moose-tree'*5)\n\
         \x20   time.sleep({gap_us}/1e6)\n",
        h.mac.replace(':', "")
    );
    h.spawn(&["/usr/bin/python3", "-c", &script])
        .expect("python3 raw socket")
}

fn wait_child(mut c: std::process::Child, limit: Duration) {
    let t = Instant::now();
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            assert!(st.success(), "sender failed: {st}");
            return;
        }
        assert!(t.elapsed() < limit, "sender still running after {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How many 0x88b6 frames each of `hosts` captured while `f` ran.
fn count_broadcasts(lab: &Lab, hosts: &[usize], f: impl FnOnce()) -> Vec<usize> {
    let dir = Scratch::new("tri-cap");
    let caps: Vec<_> = hosts
        .iter()
        .map(|&i| {
            let p = dir.path(&format!("h{i}.pcap"));
            let c = lab
                .h(i)
                .capture(&p, &["ether", "proto", "0x88b6"], Duration::from_secs(5))
                .expect("capture");
            (p, c)
        })
        .collect();
    f();
    std::thread::sleep(Duration::from_millis(300));
    caps.into_iter()
        .map(|(p, c)| {
            c.stop(Duration::from_secs(5)).expect("capture stops");
            read_pcap(&p).len()
        })
        .collect()
}

/// The replies of a `ping -i interval` output: the longest run of echoes
/// without a reply (ms) and how many duplicates it saw.
fn gap_and_dups(out: &str, interval_ms: f64) -> (f64, usize) {
    let mut seqs: Vec<u32> = Vec::new();
    let mut dups = 0;
    for l in out.lines() {
        if l.contains("DUP!") {
            dups += 1;
            continue;
        }
        if let Some(s) = l
            .split("icmp_seq=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|s| s.parse().ok())
        {
            seqs.push(s);
        }
    }
    seqs.sort_unstable();
    let gap = seqs
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or(u32::MAX);
    (f64::from(gap) * interval_ms, dups)
}

/// The two labs run one after the other: seven switches, tcpdumps and
/// senders at once are too much for a 2-core machine's timings.
static ONE_LAB: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn triangle_converges_routes_floods_once_and_survives_a_cut() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    // Links: 0 = S1–S2, 1 = S2–S3, 2 = S3–S1.
    let lab = Lab::new("a", 61, 3, 2, &[(0, 1), (1, 2), (2, 0)]);
    let took = lab.converge();
    eprintln!(
        "triangle converged {} ms after the last switch answered",
        took.as_millis()
    );

    // Prefixes: automatic, three different /24s; routes: the other two,
    // from SPF, each straight out of its direct link.
    let prefixes = lab.prefixes();
    assert_eq!(prefixes.len(), 3, "{prefixes:?}");
    let mut uniq = prefixes.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 3, "distinct automatic prefixes: {prefixes:?}");
    for (k, s) in lab.sw.iter().enumerate() {
        let r = s.json("/api/v1/routes");
        let routes = r.as_array().unwrap();
        let installed: Vec<&serde_json::Value> =
            routes.iter().filter(|r| r["installed"] == true).collect();
        assert_eq!(installed.len(), 3, "{}: {r}", s.name);
        for r in &installed {
            let p = r["prefix"].as_str().unwrap();
            assert!(prefixes.iter().any(|x| x == p), "only switch prefixes: {p}");
            if r["local"] == true {
                continue;
            }
            assert_eq!(r["source"], "spf", "{r}");
            assert_eq!(r["ports"].as_array().unwrap().len(), 1, "direct: {r}");
        }
        let n = s.json("/api/v1/neighbors");
        assert_eq!(n.as_array().unwrap().len(), 2, "{}: {n}", s.name);
        let tree = s.json("/api/v1/tree");
        assert_eq!(
            tree["edges"].as_array().unwrap().len(),
            2,
            "S{}: {tree}",
            k + 1
        );
    }

    // The CLI shows the same: `moose show neighbors|lsdb|tree|routes`.
    let show = |what: &str, json: bool| -> String {
        let mut c = moose();
        c.args(["show", what, "--api", &lab.sw[0].listen]);
        if json {
            c.arg("--json");
        }
        let out = run_ok(&mut c);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let n = show("neighbors", false);
    assert_eq!(n.lines().filter(|l| l.contains(" full ")).count(), 2, "{n}");
    let j: serde_json::Value = serde_json::from_str(&show("neighbors", true)).unwrap();
    let j = j.as_array().unwrap();
    assert_eq!(j.len(), 2);
    assert!(j.iter().all(|r| r["state"] == "full"), "{j:?}");
    let mut peers: Vec<&str> = j.iter().map(|r| r["switch_id"].as_str().unwrap()).collect();
    peers.sort_unstable();
    let mut want: Vec<String> = lsdb(&lab.sw[0])
        .iter()
        .map(|a| a["switch_id"].as_str().unwrap().to_string())
        .filter(|id| {
            *id != lab.sw[0].json("/api/v1/routing")["switch_id"]
                .as_str()
                .unwrap()
        })
        .collect();
    want.sort_unstable();
    assert_eq!(peers, want, "S1's neighbours are the two other switches");
    let l = show("lsdb", false);
    assert!(l.contains("3 advertisements"), "{l}");
    for p in &prefixes {
        assert!(l.contains(p.as_str()), "{p} in:\n{l}");
    }
    let t = show("tree", false);
    assert!(t.starts_with("root "), "{t}");
    assert_eq!(t.lines().filter(|x| x.contains(" -> ")).count(), 2, "{t}");
    let r = show("routes", false);
    assert_eq!(r.lines().filter(|x| x.contains(" spf ")).count(), 2, "{r}");

    // Every pair, IPv4 and IPv6.
    for (h, a) in lab.tb.hosts.iter().zip(&lab.ip6) {
        h.enable_ipv6(&format!("{a}/64")).expect("IPv6 on");
    }
    for a in 0..6 {
        for b in 0..6 {
            if a == b {
                continue;
            }
            for ip in [lab.h(b).ip.clone(), lab.ip6[b].clone()] {
                let (ok, out) = ping(lab.h(a), &ip, 1);
                assert!(ok, "h{a} -> h{b} ({ip}):\n{out}");
            }
        }
    }
    // Neighbour caches hold MOOSE addresses only.
    for (i, h) in lab.tb.hosts.iter().enumerate() {
        for v6 in [false, true] {
            for n in h.neighbours(v6).expect("ip neigh") {
                let Some(mac) = n.lladdr else { continue };
                assert!(
                    prefixes.iter().any(|p| under(&mac, p)),
                    "h{i}: {} at {mac}, not a MOOSE address",
                    n.ip
                );
            }
        }
    }

    // One broadcast from h0 reaches each other host exactly once (the
    // triangle's third link is off the tree).
    let got = count_broadcasts(&lab, &[0, 1, 2, 3, 4, 5], || {
        wait_child(broadcast(lab.h(0), 1, 0), Duration::from_secs(10));
    });
    // (h0's capture sees its own frame go out.)
    assert_eq!(got, vec![1, 1, 1, 1, 1, 1], "copies per host");

    // Cut S1–S2 in the middle of a ping h0 -> h2 (S1 to S2): traffic goes
    // round by S3.
    let interval = 0.01;
    let p = lab
        .h(0)
        .spawn(&["ping", "-n", "-i", "0.01", "-W", "1", &lab.h(2).ip.clone()])
        .expect("ping");
    std::thread::sleep(Duration::from_millis(600));
    let cut = &lab.links[0].2;
    sh(&["ip", "link", "set", &cut.a, "down"]).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let out = stop_ping_output(p);
    let (gap, dups) = gap_and_dups(&out, interval * 1000.0);
    eprintln!(
        "link S1–S2 cut: the longest gap in h0 -> h2 echoes was {gap:.0} ms (dead interval 400 ms)"
    );
    assert_eq!(dups, 0, "duplicates: a loop\n{out}");
    assert!(
        gap < 1200.0,
        "recovered within 3 × the dead interval: {gap} ms"
    );
    let r = lab.sw[0].json("/api/v1/routes");
    let s2 = &prefixes[..];
    let to_s2: Vec<&serde_json::Value> = r
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["source"] == "spf" && x["installed"] == true)
        .collect();
    assert_eq!(to_s2.len(), 2, "S1 still reaches both: {r} ({s2:?})");
    assert!(
        to_s2
            .iter()
            .all(|x| x["ports"] == serde_json::json!(["l2"])),
        "both by S3 now: {r}"
    );
    // Broadcasts still reach everyone once, on the new tree.
    let got = count_broadcasts(&lab, &[0, 1, 2, 3, 4, 5], || {
        wait_child(broadcast(lab.h(0), 1, 0), Duration::from_secs(10));
    });
    assert_eq!(got, vec![1, 1, 1, 1, 1, 1], "copies per host after the cut");

    // The link comes back: S1 goes straight to S2 again.
    sh(&["ip", "link", "set", &cut.a, "up"]).unwrap();
    lab.converge();
    // SPF runs within spf_delay_ms of the database settling: poll.
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let r = lab.sw[0].json("/api/v1/routes");
        let direct = r
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["source"] == "spf" && x["ports"] == serde_json::json!(["l0"]))
            .count();
        if direct == 1 {
            break;
        }
        assert!(Instant::now() < until, "S2 direct again: {r}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (ok, out) = ping(lab.h(0), &lab.h(2).ip, 3);
    assert!(ok, "{out}");
}

/// Stops a `ping` with SIGINT and returns its output.
fn stop_ping_output(child: std::process::Child) -> String {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let out = child.wait_with_output().expect("ping output");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn square_with_a_diagonal_never_storms_while_a_link_flaps() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    // 0 = S1–S2, 1 = S2–S4, 2 = S4–S3, 3 = S3–S1, 4 = S2–S3 (diagonal).
    let lab = Lab::new("b", 62, 4, 1, &[(0, 1), (1, 3), (3, 2), (2, 0), (1, 2)]);
    lab.converge();
    let fabric_tx = |lab: &Lab| -> f64 {
        lab.sw
            .iter()
            .map(|s| {
                let m = s.app().get("/metrics");
                (0..5)
                    .filter_map(|i| {
                        try_metric(&m, "moose_port_tx_flood_total", &format!("port=\"l{i}\""))
                    })
                    .sum::<f64>()
            })
            .sum()
    };
    let sent = 600u32;
    let before = fabric_tx(&lab);
    let diag = lab.links[4].2.a.clone();
    let got = count_broadcasts(&lab, &[0, 1, 2, 3], || {
        // 600 broadcasts over about 3 s while the diagonal goes down and
        // up three times.
        let sender = broadcast(lab.h(0), sent, 5000);
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(400));
            sh(&["ip", "link", "set", &diag, "down"]).unwrap();
            std::thread::sleep(Duration::from_millis(400));
            sh(&["ip", "link", "set", &diag, "up"]).unwrap();
        }
        wait_child(sender, Duration::from_secs(30));
    });
    let crossed = fabric_tx(&lab) - before;
    eprintln!(
        "square: {sent} broadcasts from h0 while the diagonal flapped: hosts got {got:?}, fabric ports flooded {crossed} copies (a tree of 4 has 3 links: at most {})",
        3 * sent
    );
    assert_eq!(got[0], sent as usize, "h0's capture sees what it sent");
    for (i, n) in got.iter().enumerate().skip(1) {
        assert!(
            *n <= sent as usize,
            "h{i} got {n} copies of {sent}: a storm"
        );
        assert!(*n >= sent as usize / 2, "h{i} got only {n} of {sent}");
    }
    assert!(
        crossed <= f64::from(3 * sent),
        "fabric copies {crossed} > 3 × {sent}"
    );
    lab.converge();
}

/// Host 0's cable to `eth1` (the spare port) if `to_spare`, else back to
/// `eth0`.
fn move_host(lab: &Lab, to_spare: bool) {
    let h = lab.h(0);
    let (down, up) = if to_spare {
        ("eth0", "eth1")
    } else {
        ("eth1", "eth0")
    };
    h.exec(&["ip", "link", "set", down, "down"]).unwrap();
    h.exec(&["ip", "link", "set", up, "up"]).unwrap();
    // Carrier on the new cable before the host talks.
    let t = Instant::now();
    while !h
        .exec(&["cat", &format!("/sys/class/net/{up}/operstate")])
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "up")
        .unwrap_or(false)
    {
        assert!(t.elapsed() < Duration::from_secs(5), "{up} not up");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The MOOSE address `s` gives host 0 (its real MAC), if any.
fn moose_of_h0(lab: &Lab, s: usize) -> Option<String> {
    let j = lab.sw[s].json("/api/v1/hosts");
    j.as_array()?
        .iter()
        .find(|h| h["mac"] == lab.h(0).mac.as_str())
        .map(|h| h["moose_mac"].as_str().unwrap().to_string())
}

/// `h`'s neighbour entry for `ip` on any interface: its link-layer address.
fn lladdr(h: &Host, ip: &str) -> Option<String> {
    let out = h.exec(&["ip", "-4", "neigh", "show", ip]).ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let w: Vec<&str> = text.split_whitespace().collect();
    let i = w.iter().position(|x| *x == "lladdr")?;
    w.get(i + 1).map(|s| s.to_string())
}

#[test]
fn a_host_moves_between_switches_and_too_many_moves_freeze_it() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    // Links: 0 = S1–S2, 1 = S2–S3, 2 = S3–S1; h0 on S1, a spare port on S2.
    let lab = Lab::with(
        "c",
        63,
        3,
        2,
        &[(0, 1), (1, 2), (2, 0)],
        Some(1),
        "move_hold_secs = 60\nmove_limit = 3\nmove_window_secs = 60",
        3,
        &[],
    );
    lab.converge();
    // Everyone knows h0 at its S1 address.
    for b in 1..6 {
        let (ok, out) = ping(lab.h(b), &lab.h(0).ip, 1);
        assert!(ok, "h{b} -> h0:\n{out}");
    }
    let old = moose_of_h0(&lab, 0).expect("h0 on S1");
    for b in 1..6 {
        assert_eq!(
            lladdr(lab.h(b), &lab.h(0).ip).as_deref(),
            Some(old.as_str()),
            "h{b}"
        );
    }
    // h5 keeps the old address whatever it hears: it reaches h0 only if S1
    // forwards.
    lab.h(5)
        .exec(&[
            "ip",
            "neigh",
            "replace",
            &lab.h(0).ip,
            "lladdr",
            &old,
            "nud",
            "permanent",
            "dev",
            "eth0",
        ])
        .unwrap();

    // The move: h0 talks from S2's spare port.
    let t0 = Instant::now();
    move_host(&lab, true);
    let (ok, out) = ping(lab.h(0), &lab.h(2).ip, 1);
    assert!(ok, "h0 -> h2 from its new port:\n{out}");
    let new = moose_of_h0(&lab, 1).expect("h0 on S2");
    assert_ne!(new, old);
    let s2_prefix = lsdb(&lab.sw[1])
        .iter()
        .find(|a| under(&new, a["prefix"].as_str().unwrap()))
        .map(|a| a["switch_id"].clone());
    assert!(s2_prefix.is_some(), "{new} under a switch prefix");
    // Every peer (but the pinned one) points at the new address, without
    // having asked.
    let until = Instant::now() + Duration::from_secs(5);
    for b in 1..5 {
        loop {
            let l = lladdr(lab.h(b), &lab.h(0).ip);
            if l.as_deref() == Some(new.as_str()) {
                break;
            }
            assert!(
                Instant::now() < until,
                "h{b}'s entry for h0: {l:?}, want {new}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    eprintln!(
        "h0 moved S1 -> S2: every peer's cache pointed at {new} {} ms after the cable moved",
        t0.elapsed().as_millis()
    );
    for b in 1..6 {
        let (ok, out) = ping(lab.h(b), &lab.h(0).ip, 1);
        assert!(ok, "h{b} -> h0 after the move:\n{out}");
    }
    assert_eq!(moose_of_h0(&lab, 0), None, "S1 handed h0 over");
    let m1 = lab.sw[0].app().get("/metrics");
    let m2 = lab.sw[1].app().get("/metrics");
    assert_eq!(metric(&m1, "moose_hosts_moves_out_total", ""), 1.0);
    assert_eq!(metric(&m1, "moose_hosts_forwarding", ""), 1.0);
    assert_eq!(metric(&m2, "moose_hosts_moves_in_total", ""), 1.0);
    assert!(metric(&m2, "moose_hosts_announcements_sent_total", "") >= 1.0);
    // One line per event in the logs, none per packet.
    let (e1, e2) = (lab.sw[0].app().stderr(), lab.sw[1].app().stderr());
    let h0mac = lab.h(0).mac.clone();
    assert!(
        e1.lines()
            .any(|l| l.contains(&format!("hosts: {h0mac} on VLAN 1 moved to {new}"))),
        "S1's log:\n{e1}"
    );
    assert!(
        e2.lines()
            .any(|l| l.contains(&format!("hosts: {h0mac} on VLAN 1 moved in on mv: {new}"))),
        "S2's log:\n{e2}"
    );
    assert!(
        e1.lines()
            .filter(|l| l.contains("routing: neighbour") && l.ends_with("-> full"))
            .count()
            >= 2,
        "S1's log:\n{e1}"
    );
    assert!(
        e1.lines().count() < 200,
        "S1 logged {} lines",
        e1.lines().count()
    );

    // Back and forth: moves 2 and 3 work, the 4th in the window is one too
    // many — h0 is frozen on S2's side… wherever it arrives.
    move_host(&lab, false);
    let (ok, out) = ping(lab.h(0), &lab.h(2).ip, 1);
    assert!(ok, "move 2:\n{out}");
    move_host(&lab, true);
    let (ok, out) = ping(lab.h(0), &lab.h(2).ip, 1);
    assert!(ok, "move 3:\n{out}");
    move_host(&lab, false);
    let (ok, _) = ping(lab.h(0), &lab.h(2).ip, 2);
    assert!(!ok, "move 4 froze h0");
    let m1 = lab.sw[0].app().get("/metrics");
    assert_eq!(metric(&m1, "moose_hosts_frozen", ""), 1.0, "S1 froze h0");
    let e1 = lab.sw[0].app().stderr();
    assert_eq!(
        e1.lines().filter(|l| l.contains("is frozen")).count(),
        1,
        "one warning for the frozen host, however many frames:\n{e1}"
    );
    assert!(metric(&m1, "moose_hosts_frozen_refused_total", "") >= 1.0);
    assert_eq!(moose_of_h0(&lab, 0), None, "not admitted on S1");
}

#[test]
fn an_automatic_prefix_that_loses_a_conflict_is_renumbered_and_kept() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    // 0 = S1–S2, 1 = S1–S3; one host each; S3 starts later.
    let mut lab = Lab::with(
        "d",
        64,
        3,
        1,
        &[(0, 1), (0, 2)],
        None,
        "state_dir = \"{dir}/s{k}\"",
        2,
        &[],
    );
    for s in &lab.sw[..2] {
        wait_converged(&s.listen, 1, Duration::from_secs(15));
        let until = Instant::now() + Duration::from_secs(10);
        while !s.json("/api/v1/routes").as_array().is_some_and(|a| {
            a.iter()
                .any(|r| r["source"] == "spf" && r["installed"] == true)
        }) {
            assert!(Instant::now() < until, "{}: no SPF route", s.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let (ok, out) = ping(lab.h(0), &lab.h(1).ip, 1);
    assert!(ok, "h0 -> h1:\n{out}");
    let status = |s: &Sw| s.json("/api/v1/routing");
    let old = status(&lab.sw[1])["prefix"].as_str().unwrap().to_string();
    assert_eq!(status(&lab.sw[1])["auto_prefix"], true);
    let h1_old = lladdr(lab.h(0), &lab.h(1).ip).expect("h0 knows h1");
    assert!(under(&h1_old, &old), "{h1_old} under {old}");

    // S3 comes with S2's prefix configured: a configured prefix keeps it,
    // the automatic one renumbers.
    let text = std::fs::read_to_string(&lab.sw[2].cfg).unwrap();
    let text = text.replace("prefix = \"auto\"", &format!("prefix = \"{old}\""));
    std::fs::write(&lab.sw[2].cfg, text).unwrap();
    let s3 = &mut lab.sw[2];
    s3.app = Some(Moose::start(&s3.cfg, &[], &[], &s3.listen));
    lab.converge();
    let st = status(&lab.sw[1]);
    let new = st["prefix"].as_str().unwrap().to_string();
    assert_ne!(new, old, "S2 renumbered: {st}");
    assert_eq!(st["renumbers"], 1, "{st}");
    assert_eq!(status(&lab.sw[2])["prefix"], old.as_str(), "S3 keeps it");
    assert_eq!(status(&lab.sw[0])["renumbers"], 0);
    let prefixes = lab.prefixes();
    assert!(
        prefixes.contains(&new) && prefixes.contains(&old),
        "{prefixes:?}"
    );

    // h1 re-addressed and re-announced: h0's entry follows, pings work.
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let l = lladdr(lab.h(0), &lab.h(1).ip);
        if l.as_deref().is_some_and(|m| under(m, &new)) {
            break;
        }
        assert!(
            Instant::now() < until,
            "h0's entry for h1: {l:?}, want under {new}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for (a, b) in [(0, 1), (1, 0), (2, 1), (1, 2)] {
        let (ok, out) = ping(lab.h(a), &lab.h(b).ip, 1);
        assert!(ok, "h{a} -> h{b} after the renumbering:\n{out}");
    }

    let e2 = lab.sw[1].app().stderr();
    assert!(
        e2.contains(&format!("moose: warn: routing: prefix {old} is claimed by another switch that keeps it; renumbered to {new}")),
        "S2's log:\n{e2}"
    );

    // Kept across a restart: S2 comes back with the new prefix at once.
    let kept = std::fs::read_to_string(lab._scratch.path("s2/auto-prefix")).unwrap();
    assert!(kept.starts_with("1 ") && kept.contains(&new), "{kept}");
    let s2 = &mut lab.sw[1];
    let e = s2.app.take().unwrap().stop();
    assert!(e.status.success());
    s2.app = Some(Moose::start(
        &s2.cfg,
        &["--log-level", "warn"],
        &[],
        &s2.listen,
    ));
    lab.converge();
    let e = lab.sw[1].app().stderr();
    assert!(
        !e.contains("routing: neighbour") && !e.contains("config "),
        "--log-level warn keeps info lines out:\n{e}"
    );
    let e1 = lab.sw[1 - 1].app().stderr();
    assert!(e1.contains("routing: neighbour"), "S1 at info:\n{e1}");
    let st = status(&lab.sw[1]);
    assert_eq!(st["prefix"], new.as_str(), "{st}");
    assert_eq!(st["renumbers"], 0, "no conflict this time: {st}");
    let (ok, out) = ping(lab.h(0), &lab.h(1).ip, 2);
    assert!(ok, "h0 -> h1 after S2's restart:\n{out}");
}

/// Broadcast ARP frames, and neighbour solicitations to a solicited-node
/// group, a host received (its own are in its capture too).
fn resolution_floods(frames: &[Vec<u8>], own: &str) -> (usize, usize) {
    let own: moose_wire::Mac = own.parse().unwrap();
    let mut arp = 0;
    let mut ns = 0;
    for f in frames {
        if f.len() < 14 || f[6..12] == own.0 {
            continue;
        }
        let ty = u16::from_be_bytes([f[12], f[13]]);
        if ty == 0x0806 && f[..6] == [0xff; 6] {
            arp += 1;
        }
        if ty == 0x86dd && f[..3] == [0x33, 0x33, 0xff] && f.len() > 54 && f[54] == 135 {
            ns += 1;
        }
    }
    (arp, ns)
}

fn elk_metric(s: &Sw, name: &str, family: &str) -> f64 {
    metric(
        &s.app().get("/metrics"),
        name,
        &format!("family=\"{family}\""),
    )
}

fn flush_neigh(h: &Host) {
    h.exec(&["ip", "neigh", "flush", "dev", "eth0"]).unwrap();
}

#[test]
fn elk_answers_arp_and_nd_from_the_directory_and_survives_a_directory_loss() {
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    // S1 inspects, with h1's address pinned (the testbed numbers its hosts
    // 10.77.<subnet>.<i+1>, 02:77:<subnet>:00:00:<i+1>); S2 and S3 are the
    // directory.
    // S1 keeps no answers (cache_entries = 0): each of its misses is a
    // query, so what the directory answers is visible.
    let s1 = "[elk]\ninspect = true\ncache_entries = 0\n[[elk.binding]]\nip = \"10.77.65.2\"\nmac = \"02:77:41:00:00:02\"\n".to_string();
    let dir = "[elk]\ndirectory = true\n".to_string();
    let lab = Lab::with(
        "e",
        65,
        3,
        2,
        &[(0, 1), (1, 2), (2, 0)],
        None,
        "",
        3,
        &[s1, dir.clone(), dir],
    );
    assert_eq!(
        (lab.h(1).ip.as_str(), lab.h(1).mac.as_str()),
        ("10.77.65.2", "02:77:41:00:00:02")
    );
    for (h, a) in lab.tb.hosts.iter().zip(&lab.ip6) {
        h.enable_ipv6(&format!("{a}/64")).expect("IPv6 on");
    }
    lab.converge();
    // S1 routes queries to the nearest directory switch.
    let until = Instant::now() + Duration::from_secs(10);
    while !lab.sw[0]
        .json("/api/v1/routes")
        .as_array()
        .is_some_and(|a| {
            a.iter()
                .any(|r| r["prefix"] == DIRECTORY_ROUTE && r["installed"] == true)
        })
    {
        assert!(Instant::now() < until, "S1: no route to the directory");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Warm-up: every host talks once (its ARP and ND make its bindings).
    for b in 0..6 {
        let peer = if b == 1 { 0 } else { 1 };
        let (ok, out) = ping(lab.h(b), &lab.h(peer).ip, 1);
        assert!(ok, "h{b} -> h{peer}:\n{out}");
        let (ok, out) = ping(lab.h(b), &lab.ip6[peer], 1);
        assert!(ok, "h{b} -> h{peer} v6:\n{out}");
    }
    // Every binding reaches both directory switches.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let n: Vec<u64> = lab.sw[1..]
            .iter()
            .map(|s| {
                let d = s.json("/api/v1/directory?limit=1000");
                let all = d["bindings"].as_array().unwrap();
                all.iter()
                    .filter(|b| b["kind"] == "own" || b["kind"] == "directory")
                    .count() as u64
            })
            .collect();
        if n.iter().all(|&x| x >= 12) {
            break;
        }
        assert!(
            Instant::now() < until,
            "directories hold {n:?} of 12 bindings"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let d = lab.sw[0].json("/api/v1/directory?limit=2");
    assert_eq!(d["bindings"].as_array().unwrap().len(), 2, "a page: {d}");
    assert!(d["next"].as_u64().is_some(), "paginated: {d}");
    let b = &d["bindings"][0];
    for k in ["vlan", "ip", "moose_mac", "source", "switch", "age_ms"] {
        assert!(b.get(k).is_some(), "{k} in {b}");
    }

    // h0 resolves h4 (behind S3) over IPv4 and IPv6: answered by S1 from
    // the directory; no host that did not ask sees a broadcast for it.
    let answered = elk_metric(&lab.sw[0], "moose_elk_answered_total", "arp");
    let answered6 = elk_metric(&lab.sw[0], "moose_elk_answered_total", "nd");
    let floods = elk_metric(&lab.sw[0], "moose_elk_floods_total", "arp");
    let dir = Scratch::new("elk-cap");
    let caps: Vec<_> = (1..6)
        .map(|i| {
            let p = dir.path(&format!("h{i}.pcap"));
            let c = lab
                .h(i)
                .capture(&p, &["arp", "or", "icmp6"], Duration::from_secs(5))
                .expect("capture");
            (p, c)
        })
        .collect();
    flush_neigh(lab.h(0));
    let e = output_within(
        Command::new("ip").args([
            "netns",
            "exec",
            &lab.h(0).ns,
            "arping",
            "-c",
            "3",
            "-w",
            "5",
            "-I",
            "eth0",
            &lab.h(4).ip,
        ]),
        Duration::from_secs(20),
    );
    assert!(e.status.success(), "arping h4:\n{}{}", e.stdout, e.stderr);
    let (ok, out) = ping(lab.h(0), &lab.h(4).ip, 2);
    assert!(ok, "h0 -> h4:\n{out}");
    let (ok, out) = ping(lab.h(0), &lab.ip6[4], 2);
    assert!(ok, "h0 -> h4 v6:\n{out}");
    std::thread::sleep(Duration::from_millis(300));
    for (i, (p, c)) in caps.into_iter().enumerate() {
        c.stop(Duration::from_secs(5)).expect("capture stops");
        let (arp, ns) = resolution_floods(&read_pcap(&p), &lab.h(i + 1).mac);
        assert_eq!((arp, ns), (0, 0), "h{}: broadcast ARP / NS seen", i + 1);
    }
    let m = moose_of(&lab, 2, 4);
    assert_eq!(
        lladdr(lab.h(0), &lab.h(4).ip),
        m,
        "h0 knows h4's MOOSE address"
    );
    assert!(
        elk_metric(&lab.sw[0], "moose_elk_answered_total", "arp") >= answered + 3.0,
        "S1 answered the arpings"
    );
    assert!(elk_metric(&lab.sw[0], "moose_elk_answered_total", "nd") > answered6);
    assert_eq!(
        elk_metric(&lab.sw[0], "moose_elk_floods_total", "arp"),
        floods,
        "nothing flooded"
    );

    // `moose show directory` lists the same bindings.
    let out = run_ok(moose().args(["show", "directory", "--api", &lab.sw[2].listen]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&lab.h(0).ip) && text.contains("directory"),
        "{text}"
    );
    let out = run_ok(moose().args(["show", "directory", "--json", "--api", &lab.sw[2].listen]));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(j.as_array().unwrap().len() >= 12, "{j}");

    // A spoofed gratuitous ARP from h0 claiming h1's address (pinned by a
    // static binding on S1): dropped by inspection, never delivered.
    let drops = elk_metric(&lab.sw[0], "moose_elk_inspection_drops_total", "arp");
    let p = dir.path("spoof.pcap");
    let c = lab
        .h(2)
        .capture(&p, &["arp"], Duration::from_secs(5))
        .expect("capture");
    let script = format!(
        "from scapy.all import Ether,ARP,sendp\n\
         sendp(Ether(src='{m0}',dst='ff:ff:ff:ff:ff:ff')/ARP(op=2,hwsrc='{m0}',psrc='{ip1}',hwdst='ff:ff:ff:ff:ff:ff',pdst='{ip1}'),iface='eth0',count=3,verbose=False)\n",
        m0 = lab.h(0).mac,
        ip1 = lab.h(1).ip
    );
    let e = output_within(
        Command::new("ip").args([
            "netns",
            "exec",
            &lab.h(0).ns,
            "/usr/bin/python3",
            "-c",
            &script,
        ]),
        Duration::from_secs(30),
    );
    assert!(e.status.success(), "scapy: {}", e.stderr);
    let until = Instant::now() + Duration::from_secs(5);
    while elk_metric(&lab.sw[0], "moose_elk_inspection_drops_total", "arp") < drops + 3.0 {
        assert!(Instant::now() < until, "inspection did not drop the spoof");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    c.stop(Duration::from_secs(5)).unwrap();
    let m0: moose_wire::Mac = moose_of(&lab, 0, 0).unwrap().parse().unwrap();
    let ip1: std::net::Ipv4Addr = lab.h(1).ip.parse().unwrap();
    let spoof = read_pcap(&p)
        .iter()
        .filter(|f| f.len() >= 42 && f[22..28] == m0.0 && f[28..32] == ip1.octets())
        .count();
    assert_eq!(spoof, 0, "the spoofed ARP reached h2");

    // Malformed ARP, ND and DHCP from h0: counted by reason, dropped, and
    // S1 carries on.
    let m = |reason: &str| {
        metric(
            &lab.sw[0].app().get("/metrics"),
            "moose_elk_malformed_total",
            &format!("reason=\"{reason}\""),
        )
    };
    let reasons = ["arp_lengths", "nd_options", "dhcp_options"];
    let before: Vec<f64> = reasons.iter().map(|r| m(r)).collect();
    // ARP with a 4-byte hardware length; a solicitation with a zero-length
    // option; a DISCOVER whose message-type option runs past the end.
    let script = format!(
        "from scapy.all import *\n\
         me='{m0}'\n\
         sendp(Ether(src=me,dst='ff:ff:ff:ff:ff:ff',type=0x0806)/Raw(b'\\x00\\x01\\x08\\x00\\x04\\x04\\x00\\x01'+bytes(20)),iface='eth0',verbose=False)\n\
         ns=IPv6(src='{ip6}',dst='ff02::1:ff00:5',hlim=255)/ICMPv6ND_NS(tgt='fd78:65::5')/Raw(b'\\x01\\x00'+bytes(6))\n\
         sendp(Ether(src=me,dst='33:33:ff:00:00:05')/ns,iface='eth0',verbose=False)\n\
         b=bytes([1,1,6,0])+bytes(4)+bytes(20)+bytes.fromhex(me.replace(':',''))+bytes(10+64+128)+bytes.fromhex('63825363')+bytes([53,9,1])\n\
         sendp(Ether(src=me,dst='ff:ff:ff:ff:ff:ff')/IP(src='0.0.0.0',dst='255.255.255.255')/UDP(sport=68,dport=67)/Raw(b),iface='eth0',verbose=False)\n",
        m0 = lab.h(0).mac,
        ip6 = lab.ip6[0],
    );
    let e = output_within(
        Command::new("ip").args([
            "netns",
            "exec",
            &lab.h(0).ns,
            "/usr/bin/python3",
            "-c",
            &script,
        ]),
        Duration::from_secs(30),
    );
    assert!(e.status.success(), "scapy: {}", e.stderr);
    let until = Instant::now() + Duration::from_secs(5);
    for (r, b) in reasons.iter().zip(&before) {
        while m(r) < b + 1.0 {
            assert!(Instant::now() < until, "{r} not counted");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(lab.sw[0]
        .app
        .as_ref()
        .unwrap()
        .get("/api/v1/status")
        .contains("uptime"));

    // S2, a directory switch, dies: S1's queries go to S3, which holds
    // every binding; h0 resolves h5 without a flood.
    let mut lab = lab;
    let e = lab.sw[1].app.take().unwrap().stop();
    assert!(e.status.success());
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let r = lab.sw[0].json("/api/v1/routes");
        let to_dir: Vec<&serde_json::Value> = r
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["prefix"] == DIRECTORY_ROUTE && r["installed"] == true)
            .collect();
        if to_dir.len() == 1 && to_dir[0]["ports"] == serde_json::json!(["l2"]) {
            break;
        }
        assert!(Instant::now() < until, "S1 still routes queries to S2: {r}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let s3 = lab.sw[2].json("/api/v1/directory?limit=1000");
    for i in [0usize, 1, 4, 5] {
        assert!(
            s3["bindings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b["ip"] == lab.h(i).ip.as_str()),
            "S3 lost h{i}'s binding: {s3}"
        );
    }
    let queries = elk_metric(&lab.sw[0], "moose_elk_queries_total", "arp");
    let floods = elk_metric(&lab.sw[0], "moose_elk_floods_total", "arp");
    flush_neigh(lab.h(0));
    let (ok, out) = ping(lab.h(0), &lab.h(5).ip, 2);
    assert!(ok, "h0 -> h5 with S2 gone:\n{out}");
    assert!(elk_metric(&lab.sw[0], "moose_elk_queries_total", "arp") > queries);
    assert_eq!(
        elk_metric(&lab.sw[0], "moose_elk_floods_total", "arp"),
        floods
    );
}

/// The MOOSE address switch `s` gave host `h`.
fn moose_of(lab: &Lab, s: usize, h: usize) -> Option<String> {
    let hosts = lab.sw[s].json("/api/v1/hosts");
    hosts.as_array()?.iter().find_map(|r| {
        (r["mac"] == lab.h(h).mac.as_str()).then(|| r["moose_mac"].as_str().unwrap().to_string())
    })
}
