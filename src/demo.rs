//! `moose demo`: the appliance on a built-in topology of real Linux hosts in
//! network namespaces, each on a veth pair whose other end is a DPDK
//! `net_af_packet` port of a `moose run` child process (no hugepages).
//!
//! * [`moose`] (the default): the MOOSE lab — three switches S1, S2, S3 in
//!   a triangle of fabric veth pairs, automatic prefixes, the link-state
//!   protocol, two hosts on edge ports of each. It waits for the fabric to
//!   converge, pings every pair over IPv4 and IPv6, shows that the hosts'
//!   neighbour tables hold only MOOSE addresses for hosts behind other
//!   switches and that each switch's tables hold its own hosts and one
//!   route per switch; then it cuts the S1–S2 link under a 10 ms ping and
//!   prints how long traffic took to go round by S3, and moves a host from
//!   S1 to a spare port of S2 and prints how long its peer took to reach
//!   it again.
//! * [`bridge`] (`--bridge`): one learning bridge (legacy ports); every
//!   pair pings, then the per-port counters and the FDB.
//!
//! Everything created is removed at the end, also on Ctrl-C.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use moose_control::hosts::api::HostRecord;
use moose_control::routes::api::RouteRecord;
use moose_testbed::{http_get, is_root, unique_tag, Host, Testbed, VethPair};
use moose_wire::{Mac, MacPrefix};

mod elk;

/// Set by SIGINT and SIGTERM. The children share the terminal's process
/// group, so Ctrl-C reaches them too; the demo then reaps them and removes
/// what it made.
fn quit_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let quit = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, quit.clone()).context("installing a signal handler")?;
    }
    Ok(quit)
}

fn need_root() -> anyhow::Result<()> {
    if !is_root() {
        bail!("moose demo creates network namespaces and veth pairs: run it as root");
    }
    Ok(())
}

/// The demo's scratch directory (configs, logs); removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> anyhow::Result<TempDir> {
        let p = std::env::temp_dir().join(format!("moose-demo-{}", std::process::id()));
        std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        Ok(TempDir(p))
    }

    pub(crate) fn write(&self, file: &str, text: &str) -> anyhow::Result<PathBuf> {
        let p = self.0.join(file);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        Ok(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn free_addr() -> anyhow::Result<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free TCP port for the API")?
        .port();
    Ok(format!("127.0.0.1:{port}"))
}

/// `[switch]`, `[dataplane]` and `[metrics]` of a demo appliance: one
/// worker that sleeps when idle (the demo shares the machine), no
/// hugepages, and a DPDK file prefix of its own so that several
/// appliances can run side by side.
pub(crate) fn base_config(name: &str, api: &str) -> String {
    format!(
        "# moose demo: generated\n[switch]\nname = \"{name}\"\n\n[dataplane]\nworkers = 1\nidle = \"backoff\"\n\
         eal = [\"--no-huge\", \"-m\", \"256\", \"--no-pci\", \"--no-telemetry\", \"--file-prefix={name}\"]\nmbufs = 8191\n\n\
         [metrics]\nlisten = \"{api}\"\n"
    )
}

/// How often a start that hit an af_packet fanout group collision is tried.
const START_ATTEMPTS: u32 = 5;

/// A `moose run` child. Dropping it stops it (SIGTERM, SIGKILL after 10 s)
/// and removes the runtime directory DPDK leaves behind.
pub(crate) struct Appliance {
    child: Child,
    /// The EAL `--file-prefix` (the switch name, see [`base_config`]).
    prefix: String,
    api: String,
}

impl Appliance {
    /// Starts `moose run -c cfg` (output to `log`) and waits until its API
    /// answers on `api`. `prefix` is the config's EAL `--file-prefix`;
    /// `label` names the appliance in messages.
    ///
    /// DPDK 22.11's af_packet driver names each port's fanout group
    /// `(pid ^ ifindex) & 0xffff`, shared by every process of the network
    /// namespace, so a second appliance can pick a group the first already
    /// uses ("could not set PACKET_FANOUT"). Each start gets a random pid,
    /// and a start that collided anyway is tried again.
    pub(crate) fn start(
        label: &str,
        prefix: &str,
        cfg: &Path,
        log: &Path,
        api: &str,
        quit: &AtomicBool,
    ) -> anyhow::Result<Appliance> {
        let exe = std::env::current_exe().context("finding the moose binary")?;
        let mut attempt = 1;
        loop {
            let out = std::fs::File::create(log)
                .with_context(|| format!("creating {}", log.display()))?;
            // A random pid: see scatter_next_pid for why.
            moose_testbed::scatter_next_pid();
            let child = Command::new(&exe)
                .args(["run", "-c"])
                .arg(cfg)
                .stdin(Stdio::null())
                .stdout(out.try_clone()?)
                .stderr(out)
                .spawn()
                .with_context(|| format!("starting moose run for {label}"))?;
            let mut app = Appliance {
                child,
                prefix: prefix.to_string(),
                api: api.to_string(),
            };
            let why = match app.wait_up(quit) {
                Ok(()) => return Ok(app),
                Err(why) => why,
            };
            drop(app);
            if quit.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if attempt < START_ATTEMPTS && text.contains("could not set PACKET_FANOUT") {
                attempt += 1;
                println!(
                    "moose demo: {label} hit an af_packet fanout group collision \
                     (DPDK 22.11 names groups pid^ifindex); starting it again ({attempt}/{START_ATTEMPTS})"
                );
                continue;
            }
            bail!("{label} did not come up ({why}); its log:\n{text}");
        }
    }

    /// Waits (at most 30 s) until `/api/v1/status` answers; why not.
    fn wait_up(&mut self, quit: &AtomicBool) -> Result<(), String> {
        let t = Instant::now();
        loop {
            if http_get(&self.api, "/api/v1/status").is_ok() {
                return Ok(());
            }
            match self.child.try_wait() {
                Ok(Some(status)) => return Err(format!("it exited, {status}")),
                Err(e) => return Err(format!("waiting for it: {e}")),
                Ok(None) => {}
            }
            if quit.load(Ordering::Relaxed) {
                return Err("interrupted".into());
            }
            if t.elapsed() > Duration::from_secs(30) {
                return Err(format!("no answer on {} within 30 s", self.api));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A JSON API endpoint, decoded.
    pub(crate) fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let body = http_get(&self.api, path)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("GET http://{}{path}", self.api))?;
        serde_json::from_str(&body).with_context(|| format!("decoding {path}"))
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // Where DPDK keeps a root process's runtime files.
        let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(&self.prefix));
    }
}

/// A host of the demo as the tables name it, and the addresses to ping.
struct Peer<'a> {
    name: String,
    host: &'a Host,
    addrs: Vec<String>,
}

/// Every peer pings every address of every other peer (`count` echoes, 2 s
/// each at most: the first frames of a new host are held while the
/// switch allocates for it). Prints a table; the number of pings that
/// failed.
fn ping_all(peers: &[Peer], count: u32, quit: &AtomicBool) -> usize {
    let w = peers.iter().map(|p| p.name.len()).fold(4, usize::max);
    let wa = peers
        .iter()
        .flat_map(|p| &p.addrs)
        .map(|a| a.len())
        .fold(7, usize::max);
    println!("\n{:<w$}  {:<w$}  {:<wa$}  result", "from", "to", "address");
    let mut failed = 0;
    for a in peers {
        for b in peers.iter().filter(|b| b.host.ns != a.host.ns) {
            for addr in &b.addrs {
                if quit.load(Ordering::Relaxed) {
                    return failed;
                }
                let ok = a.host.ping(addr, count);
                failed += usize::from(!ok);
                let res = if ok { "ok" } else { "FAILED" };
                println!("{:<w$}  {:<w$}  {addr:<wa$}  {res}", a.name, b.name);
            }
        }
    }
    failed
}

/// Keeps the demo up after its report until Ctrl-C (`--keep`).
fn hold(keep: bool, how: &str, quit: &AtomicBool) {
    if keep && !quit.load(Ordering::Relaxed) {
        println!("\nmoose demo: running; {how}; Ctrl-C to stop");
        let _ = std::io::stdout().flush();
        while !quit.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

// ---------------------------------------------------------------------------
// The MOOSE lab.

/// Switches of the lab, and hosts behind each.
pub(crate) const SWITCHES: usize = 3;
const HOSTS_PER_SWITCH: usize = 2;

/// The fabric links (switch, switch): a triangle.
pub(crate) const LINKS: [(usize, usize); 3] = [(0, 1), (1, 2), (2, 0)];

/// The switch host `i` is behind: S1 has the first hosts.
fn sw_of(i: usize) -> usize {
    i / HOSTS_PER_SWITCH
}

/// The configuration of switch `k`: an automatic prefix, a fabric port
/// `to-sN` per link, edge ports `e1`, `e2` on `hosts`, and on S2 a spare
/// edge port `mv` (where h0 moves to).
pub(crate) fn moose_config(
    k: usize,
    name: &str,
    api: &str,
    links: &[VethPair],
    hosts: &[Host],
    spare: Option<&str>,
) -> String {
    let mut c = base_config(name, api);
    c += "\n[moose]\nprefix = \"auto\"\n";
    let mut dev = 0;
    let mut port = |c: &mut String, name: String, role: &str, iface: &str| {
        *c += &format!(
            "\n[[port]]\nname = \"{name}\"\nrole = \"{role}\"\ndevice = \"net_af_packet{dev},iface={iface}\"\n"
        );
        dev += 1;
    };
    for (&(a, b), l) in LINKS.iter().zip(links) {
        if a == k {
            port(&mut c, format!("to-s{}", b + 1), "fabric", &l.a);
        } else if b == k {
            port(&mut c, format!("to-s{}", a + 1), "fabric", &l.b);
        }
    }
    for (e, h) in hosts.iter().enumerate() {
        port(&mut c, format!("e{}", e + 1), "edge", &h.port_if);
    }
    if let Some(iface) = spare {
        port(&mut c, "mv".into(), "edge", iface);
    }
    c
}

/// Prints every host's neighbour tables (IPv4 and IPv6), saying of each
/// link-layer address whose it is. Returns how many entries are wrong: a
/// host behind another switch must be known by the MOOSE address its
/// switch gave it, never by its real MAC (nor be missing, after the
/// pings).
fn neighbour_report(
    hosts: &[Host],
    ip6: &[String],
    tables: &[Vec<HostRecord>],
    prefixes: &[MacPrefix],
) -> anyhow::Result<usize> {
    let real: Vec<Mac> = hosts
        .iter()
        .map(|h| h.mac.parse())
        .collect::<Result<_, _>>()?;
    let moose_of: HashMap<Mac, usize> = tables
        .iter()
        .flatten()
        .filter_map(|r| Some((r.moose_mac, real.iter().position(|m| *m == r.mac)?)))
        .collect();
    // (host, address, lladdr, state, whose, wrong)
    let mut rows = Vec::new();
    for (a, h) in hosts.iter().enumerate() {
        let mut entries = Vec::new();
        for v6 in [false, true] {
            entries.extend(
                h.neighbours(v6)
                    .with_context(|| format!("ip neigh in {}", h.ns))?,
            );
        }
        // The other switches' hosts, to be found by address.
        let mut remote: Vec<(usize, &str)> = (0..hosts.len())
            .filter(|&b| sw_of(b) != sw_of(a))
            .flat_map(|b| [(b, hosts[b].ip.as_str()), (b, ip6[b].as_str())])
            .collect();
        for e in entries {
            let ll: Option<Mac> = e.lladdr.as_deref().map(str::parse).transpose()?;
            let moose = ll.and_then(|m| prefixes.iter().position(|p| p.contains(m)));
            let is_real = ll.and_then(|m| real.iter().position(|r| *r == m));
            let of = ll.and_then(|m| moose_of.get(&m).copied());
            let whose = match (moose, is_real, of) {
                (Some(sw), _, Some(b)) => format!("MOOSE address of h{b} (S{})", sw + 1),
                (Some(sw), _, None) => format!("MOOSE address (S{})", sw + 1),
                (None, Some(b), _) => format!("the REAL MAC of h{b}"),
                (None, None, _) if ll.is_none() => "unresolved".into(),
                (None, None, _) => "not a MOOSE address".into(),
            };
            let wrong = match remote.iter().position(|(_, ip)| *ip == e.ip) {
                Some(i) => {
                    let (b, _) = remote.swap_remove(i);
                    moose != Some(sw_of(b)) || of != Some(b)
                }
                None => is_real.is_some_and(|b| sw_of(b) != sw_of(a)),
            };
            let lladdr = e.lladdr.unwrap_or_else(|| "-".into());
            rows.push((a, e.ip, lladdr, e.state, whose, wrong));
        }
        for (b, ip) in remote {
            let whose = format!("no entry for h{b}");
            rows.push((a, ip.to_string(), "-".into(), "-".into(), whose, true));
        }
    }
    let w = rows.iter().map(|r| r.1.len()).fold(7, usize::max);
    println!("\nneighbour tables (ip neigh show dev eth0 in each host)");
    println!(
        "{:<4}  {:<w$}  {:<17}  {:<9}  lladdr is",
        "host", "address", "lladdr", "state"
    );
    for (a, ip, ll, state, whose, wrong) in &rows {
        let mark = if *wrong { "  <- FAILED" } else { "" };
        println!("h{a:<3}  {ip:<w$}  {ll:<17}  {state:<9}  {whose}{mark}");
    }
    Ok(rows.iter().filter(|r| r.5).count())
}

/// Waits until every switch's neighbours are full and every switch has its
/// tree ports agreed; how long it took.
pub(crate) fn converge(switches: &[Appliance], quit: &AtomicBool) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    loop {
        let mut ready = true;
        for sw in switches {
            let n: Vec<moose_control::routing::api::NeighborRecord> =
                sw.get("/api/v1/neighbors")?;
            let t: moose_control::routing::api::TreeReport = sw.get("/api/v1/tree")?;
            ready &=
                n.iter().all(|r| r.state == "full") && !t.ports.is_empty() && t.ports == t.active;
        }
        if ready {
            return Ok(t0.elapsed());
        }
        if t0.elapsed() > Duration::from_secs(15) || quit.load(Ordering::Relaxed) {
            bail!("the switches did not converge within 15 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A background `ping -i 0.01` from `h` to `ip`; stopped by [`gap_of`].
fn fast_ping(h: &Host, ip: &str) -> anyhow::Result<Child> {
    h.spawn(&["ping", "-n", "-i", "0.01", "-W", "1", ip])
        .context("starting ping")
}

/// Stops a [`fast_ping`] and returns the longest run of unanswered echoes
/// (ms; `None` if no echo was answered after it) and the duplicates.
fn gap_of(p: Child) -> anyhow::Result<(Option<u64>, usize)> {
    let _ = Command::new("kill")
        .args(["-INT", &p.id().to_string()])
        .status();
    let out = p.wait_with_output().context("ping output")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut seqs: Vec<u64> = Vec::new();
    let mut dups = 0;
    for l in text.lines() {
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
    Ok((seqs.windows(2).map(|w| (w[1] - w[0]) * 10).max(), dups))
}

/// Three MOOSE switches in a triangle, six hosts: see the module
/// documentation. Fails if a ping failed, a host's neighbour table holds
/// anything but a MOOSE address for a host behind another switch, traffic
/// did not recover from the cut or looped, or the moved host was not
/// reached again.
pub fn moose(keep: bool) -> anyhow::Result<()> {
    need_root()?;
    let quit = quit_flag()?;
    let tag = unique_tag("md");
    let n = SWITCHES * HOSTS_PER_SWITCH;
    println!(
        "moose demo: three MOOSE switches in a triangle, {n} hosts in network namespaces {tag}-h0..{}",
        n - 1
    );

    let dir = TempDir::new()?;
    let tb = Testbed::new(&tag, n, 1).context("building the testbed")?;
    let links: Vec<VethPair> = (0..LINKS.len())
        .map(|i| VethPair::new(&format!("{tag}l{i}a"), &format!("{tag}l{i}b")))
        .collect::<Result<_, _>>()
        .context("creating the fabric links")?;
    // h0's second cable, to S2's spare port, down until h0 moves.
    let spare = VethPair::new(&format!("{tag}mva"), &format!("{tag}mvb"))
        .context("creating the spare cable")?;
    {
        let h = &tb.hosts[0];
        moose_testbed::sh(&["ip", "link", "set", &spare.b, "down"])?;
        moose_testbed::sh(&["ip", "link", "set", &spare.b, "netns", &h.ns])?;
        h.exec(&["ip", "link", "set", &spare.b, "name", "eth1"])?;
        h.exec(&["ip", "link", "set", "eth1", "address", &h.mac])?;
        h.exec(&["ip", "addr", "add", &format!("{}/24", h.ip), "dev", "eth1"])?;
    }
    let ip6: Vec<String> = (0..n).map(|i| format!("fd77:1::{}", i + 1)).collect();
    let mut switches = Vec::new();
    for k in 0..SWITCHES {
        let name = format!("moose-demo-{}-s{}", std::process::id(), k + 1);
        let api = free_addr()?;
        let hosts = &tb.hosts[k * HOSTS_PER_SWITCH..(k + 1) * HOSTS_PER_SWITCH];
        let cfg = dir.write(
            &format!("s{}.toml", k + 1),
            &moose_config(
                k,
                &name,
                &api,
                &links,
                hosts,
                (k == 1).then_some(spare.a.as_str()),
            ),
        )?;
        let log = dir.0.join(format!("s{}.log", k + 1));
        let label = format!("S{}", k + 1);
        switches.push(Appliance::start(&label, &name, &cfg, &log, &api, &quit)?);
        println!(
            "moose demo: S{} up, API http://{api}/api/v1/hosts, config {}",
            k + 1,
            cfg.display()
        );
    }
    if !tb.wait_up(Duration::from_secs(5))
        || !links.iter().all(|l| l.wait_up(Duration::from_secs(5)))
    {
        bail!("the veth pairs did not come up within 5 s");
    }
    let took = converge(&switches, &quit)?;
    println!(
        "moose demo: fabric converged in {} ms (every neighbour full, one broadcast tree agreed)",
        took.as_millis()
    );
    // Each switch's automatic prefix: its own advertisement.
    let mut prefixes = Vec::new();
    for (k, sw) in switches.iter().enumerate() {
        let db: Vec<moose_control::routing::api::LsdbRecord> = sw.get("/api/v1/lsdb")?;
        let own = db
            .iter()
            .find(|a| a.own)
            .context("a switch without its own advertisement")?;
        let p: MacPrefix = own.prefix.parse()?;
        println!(
            "moose demo: S{} switch id {}, prefix {p} (automatic)",
            k + 1,
            own.switch_id
        );
        prefixes.push(p);
    }
    for (h, a) in tb.hosts.iter().zip(&ip6) {
        h.enable_ipv6(&format!("{a}/64"))
            .with_context(|| format!("turning IPv6 on in {}", h.ns))?;
    }
    println!();
    for (i, (h, a)) in tb.hosts.iter().zip(&ip6).enumerate() {
        println!(
            "h{i}: {} behind S{} e{}, {} {a}, MAC {}",
            h.ns,
            sw_of(i) + 1,
            i % HOSTS_PER_SWITCH + 1,
            h.ip,
            h.mac
        );
    }

    let peers: Vec<Peer> = tb
        .hosts
        .iter()
        .zip(&ip6)
        .enumerate()
        .map(|(i, (h, a))| Peer {
            name: format!("h{i}"),
            host: h,
            addrs: vec![h.ip.clone(), a.clone()],
        })
        .collect();
    let failed = ping_all(&peers, 1, &quit);
    if quit.load(Ordering::Relaxed) {
        bail!("interrupted; everything the demo made is removed");
    }

    let hosts: Vec<Vec<HostRecord>> = switches
        .iter()
        .map(|s| s.get("/api/v1/hosts"))
        .collect::<anyhow::Result<_>>()?;
    // The routes the FIB holds.
    let routes: Vec<Vec<RouteRecord>> = switches
        .iter()
        .map(|s| {
            s.get::<Vec<RouteRecord>>("/api/v1/routes")
                .map(|v| v.into_iter().filter(|r| r.installed).collect())
        })
        .collect::<anyhow::Result<_>>()?;

    let wrong = neighbour_report(&tb.hosts, &ip6, &hosts, &prefixes)?;

    println!("\ntables");
    for (k, (hs, rs)) in hosts.iter().zip(&routes).enumerate() {
        for r in hs {
            let (sw, real, moose, port) = (k + 1, r.mac, r.moose_mac, &r.port);
            println!("S{sw} host   {real} is {moose} in the fabric, on {port}");
        }
        for r in rs {
            let via = if r.local {
                "local: delivered to its own hosts".to_string()
            } else {
                format!("via {} ({})", r.ports.join(","), r.source)
            };
            println!("S{} route  {} {via}", k + 1, r.prefix);
        }
    }
    println!();
    for (k, (hs, rs)) in hosts.iter().zip(&routes).enumerate() {
        println!(
            "S{}: {} hosts + {} routes (a learning switch: {n} FDB entries)",
            k + 1,
            hs.len(),
            rs.len()
        );
    }

    // A fabric link fails: S1–S2 goes down under a 10 ms ping h0 -> h2.
    let mut trouble = Vec::new();
    let ping = fast_ping(&tb.hosts[0], &tb.hosts[2].ip)?;
    std::thread::sleep(Duration::from_millis(500));
    moose_testbed::sh(&["ip", "link", "set", &links[0].a, "down"])?;
    std::thread::sleep(Duration::from_millis(2000));
    match gap_of(ping)? {
        (Some(gap), 0) => println!(
            "\nmoose demo: link S1–S2 cut under a 10 ms ping h0 -> h2: traffic recovered through S3 after {gap} ms"
        ),
        (gap, dups) => {
            println!("\nmoose demo: link S1–S2 cut: longest gap {gap:?} ms, {dups} duplicates  <- FAILED");
            trouble.push("the cut link");
        }
    }
    moose_testbed::sh(&["ip", "link", "set", &links[0].a, "up"])?;
    converge(&switches, &quit)?;

    // A host moves: h0's cable goes from S1's e1 to S2's spare port, and
    // h0 announces itself there (a gratuitous ARP, as a hypervisor does
    // for a migrated VM); h2 pings h0 at 10 ms throughout.
    let h0 = &tb.hosts[0];
    let ping = fast_ping(&tb.hosts[2], &h0.ip)?;
    std::thread::sleep(Duration::from_millis(500));
    h0.exec(&["ip", "link", "set", "eth0", "down"])?;
    h0.exec(&["ip", "link", "set", "eth1", "up"])?;
    let t = Instant::now();
    while h0
        .exec(&["cat", "/sys/class/net/eth1/operstate"])
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() != "up")
        .unwrap_or(true)
        && t.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    h0.exec(&["arping", "-q", "-U", "-c", "1", "-I", "eth1", &h0.ip])
        .ok();
    std::thread::sleep(Duration::from_millis(1500));
    let moved: Vec<HostRecord> = switches[1].get("/api/v1/hosts")?;
    let at = moved
        .iter()
        .find(|r| r.mac.to_string() == h0.mac && r.port == "mv")
        .map(|r| r.moose_mac.to_string());
    match (gap_of(ping)?, at) {
        ((Some(gap), 0), Some(m)) => println!(
            "moose demo: h0 moved from S1 e1 to S2 mv and is {m} now; h2 reached it again after {gap} ms"
        ),
        (g, at) => {
            println!("moose demo: h0's move: ping gap {g:?}, address on S2 {at:?}  <- FAILED");
            trouble.push("the move");
        }
    }
    let _ = std::io::stdout().flush();

    hold(
        keep,
        &format!(
            "hosts are `ip netns exec {tag}-hN ...`; try `moose show neighbors|lsdb|tree|routes --api <API>`"
        ),
        &quit,
    );
    drop(switches);
    drop(spare);
    drop(links);
    drop(tb);
    drop(dir);
    println!("\nmoose demo: cleaned up");
    if quit.load(Ordering::Relaxed) && !keep {
        bail!("interrupted");
    }

    // ELK: the broadcasts a directory removes, measured (a lab of its own,
    // twice: ELK off, then on).
    println!(
        "\nmoose demo: ELK: {} hosts on the triangle resolve each other with ELK off, then on (S2 the directory) ...",
        SWITCHES * elk::PER_SWITCH
    );
    let off = elk::run(false, &quit)?;
    let on = elk::run(true, &quit)?;
    println!("{}", elk::table(&off, &on));
    if on.arp_max > 0 || on.ns_per_host > 0.0 {
        trouble.push("ELK let broadcast ARP/ND reach hosts");
    }
    if off.failed + on.failed > 0 {
        println!(
            "moose demo: ELK: {} resolutions failed (off), {} (on)  <- FAILED",
            off.failed, on.failed
        );
        trouble.push("ELK's resolutions");
    }
    if failed > 0 || wrong > 0 || !trouble.is_empty() {
        bail!(
            "{failed} ping(s) failed; {wrong} neighbour entries for hosts behind another switch \
             were not their MOOSE address; {trouble:?} went wrong (see above)"
        );
    }
    println!(
        "moose demo: all {} pairs reachable over IPv4 and IPv6; hosts behind other switches known only by MOOSE addresses",
        n * (n - 1)
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// The learning-bridge demo.

/// The bridge demo's configuration: a legacy port per host.
fn bridge_config(tb: &Testbed, name: &str, api: &str) -> String {
    let mut c = base_config(name, api);
    for (i, h) in tb.hosts.iter().enumerate() {
        c += &format!(
            "\n[[port]]\nname = \"p{i}\"\nrole = \"legacy\"\ndevice = \"net_af_packet{i},iface={}\"\n",
            h.port_if
        );
    }
    c
}

/// One learning bridge, `hosts` hosts: every pair pings, then the port
/// counters and the FDB.
pub fn bridge(hosts: usize, keep: bool) -> anyhow::Result<()> {
    need_root()?;
    if !(2..=8).contains(&hosts) {
        bail!("--hosts must be 2..=8");
    }
    let quit = quit_flag()?;
    let tag = unique_tag("md");
    println!(
        "moose demo: a learning bridge, {hosts} hosts in network namespaces {tag}-h0..{}",
        hosts - 1
    );
    let dir = TempDir::new()?;
    let tb = Testbed::new(&tag, hosts, 1).context("building the testbed")?;
    let api = free_addr()?;
    let name = format!("moose-demo-{}", std::process::id());
    let cfg = dir.write("demo.toml", &bridge_config(&tb, &name, &api))?;
    println!("moose demo: config {}", cfg.display());
    let log = dir.0.join("moose.log");
    let app = Appliance::start("the appliance", &name, &cfg, &log, &api, &quit)?;
    tb.wait_up(Duration::from_secs(5));
    println!("moose demo: appliance up, metrics on http://{api}/metrics");

    let peers: Vec<Peer> = tb
        .hosts
        .iter()
        .map(|h| Peer {
            name: h.ns.clone(),
            host: h,
            addrs: vec![h.ip.clone()],
        })
        .collect();
    let failed = ping_all(&peers, 3, &quit);
    if quit.load(Ordering::Relaxed) {
        // Dropping what was made removes it.
        bail!("interrupted; everything the demo made is removed");
    }

    let ports: serde_json::Value = app.get("/api/v1/ports")?;
    let fdb: serde_json::Value = app.get("/api/v1/fdb")?;
    println!(
        "\n{:<5} {:<14} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "port", "interface", "rx", "tx", "flooded", "unknown", "drops"
    );
    for (p, h) in ports.as_array().into_iter().flatten().zip(&tb.hosts) {
        let c = &p["counters"];
        let drops: u64 = c["drops"]
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0);
        println!(
            "{:<5} {:<14} {:>8} {:>8} {:>8} {:>8} {:>6}",
            p["name"].as_str().unwrap_or("?"),
            h.port_if,
            c["rx_packets"].as_u64().unwrap_or(0),
            c["tx_packets"].as_u64().unwrap_or(0),
            c["tx_flood"].as_u64().unwrap_or(0),
            c["rx_unknown_unicast"].as_u64().unwrap_or(0),
            drops
        );
    }
    println!(
        "\nFDB ({} entries)",
        fdb.as_array().map(|a| a.len()).unwrap_or(0)
    );
    println!(
        "{:<5} {:<18} {:<5} {:<8} host",
        "vlan", "mac", "port", "type"
    );
    for e in fdb.as_array().into_iter().flatten() {
        let mac = e["mac"].as_str().unwrap_or("");
        let host = tb
            .hosts
            .iter()
            .find(|h| h.mac == mac)
            .map(|h| h.ns.as_str())
            .unwrap_or("-");
        println!(
            "{:<5} {:<18} {:<5} {:<8} {host}",
            e["vlan"].as_u64().unwrap_or(0),
            mac,
            e["port"].as_str().unwrap_or("?"),
            e["type"].as_str().unwrap_or("?")
        );
    }
    let _ = std::io::stdout().flush();

    hold(
        keep,
        &format!("hosts are `ip netns exec {tag}-hN ...`"),
        &quit,
    );
    drop(app);
    drop(tb);
    drop(dir);
    println!("\nmoose demo: cleaned up");
    if quit.load(Ordering::Relaxed) && !keep {
        bail!("interrupted");
    }
    if failed > 0 {
        bail!("{failed} ping(s) failed");
    }
    println!("moose demo: all {} pairs reachable", hosts * (hosts - 1));
    Ok(())
}
