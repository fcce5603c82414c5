//! `moose sim`: the fabric-scale simulation (crates/moose-control/src/sim)
//! on the command line — a table, `--json`, `--plot DIR`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use moose_control::sim::{self, topo::Shape, Params, Report};

pub const LONG_ABOUT: &str = "\
Simulate a MOOSE fabric of real moose switches (the control runtime and its
services over the in-memory backend, on a simulated clock; no DPDK) and
compare it with a classic learning Ethernet on the same topology and
traffic: forwarding entries per switch by tier, ARP frames per host and per
link when every host resolves --peers peers (with and without the ELK
directory), link-state messages, SPF runs and convergence time after a link
failure, memory per switch, and the growth with the number of hosts fitted
over a sweep of fabric sizes.

Topologies: three-tier (racks in pods of 20, two aggregation switches a pod,
4 cores; the default), leaf-spine (--spines), fat-tree (--k; racks = k²/2).";

#[derive(Args, Debug)]
pub struct SimArgs {
    /// three-tier, leaf-spine or fat-tree.
    #[arg(long, default_value = "three-tier")]
    topology: String,
    /// Racks (edge switches); a fat tree has k²/2 and ignores it.
    #[arg(long, default_value_t = 100)]
    racks: usize,
    /// Hosts (virtual machines) behind each rack's switch.
    #[arg(long, default_value_t = 10_000)]
    hosts_per_rack: u64,
    /// Spines of a leaf-spine fabric.
    #[arg(long, default_value_t = 4)]
    spines: usize,
    /// The fat tree's k (even).
    #[arg(long)]
    k: Option<usize>,
    /// Peers each host resolves with ARP.
    #[arg(long, default_value_t = 10)]
    peers: u64,
    /// Smaller fabrics for the growth fits, as hosts per rack
    /// (comma-separated); default: 1/100, 1/30, 1/10 and 1/3 of
    /// --hosts-per-rack; "none" for none.
    #[arg(long)]
    sweep: Option<String>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Write PNG plots of table size and broadcast load into DIR.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
}

fn shape(a: &SimArgs) -> anyhow::Result<(Shape, usize, u64)> {
    Ok(match a.topology.as_str() {
        "three-tier" => (Shape::ThreeTier, a.racks, a.hosts_per_rack),
        "leaf-spine" => (
            Shape::LeafSpine { spines: a.spines },
            a.racks,
            a.hosts_per_rack,
        ),
        "fat-tree" => {
            let k = a.k.context("--topology fat-tree needs --k")?;
            (Shape::FatTree { k }, k * k / 2, a.hosts_per_rack)
        }
        t => bail!("--topology {t:?}: three-tier, leaf-spine or fat-tree"),
    })
}

fn sweep(a: &SimArgs) -> anyhow::Result<Vec<u64>> {
    match a.sweep.as_deref() {
        None => {
            let h = a.hosts_per_rack;
            let mut v: Vec<u64> = [100, 30, 10, 3]
                .iter()
                .map(|d| h / d)
                .filter(|x| *x >= 1)
                .collect();
            v.dedup();
            Ok(v)
        }
        Some("none") => Ok(Vec::new()),
        Some(list) => list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .with_context(|| format!("--sweep: {s:?} is not a number of hosts per rack"))
            })
            .collect(),
    }
}

/// Bytes the process has allocated and not freed (glibc's own count: heap
/// in use plus mmapped blocks) — what a switch built between two readings
/// holds, whatever memory the allocator reuses.
fn allocated() -> u64 {
    // SAFETY: mallinfo2 takes no arguments and only reads the allocator's
    // statistics.
    let m = unsafe { libc::mallinfo2() };
    (m.uordblks + m.hblkhd) as u64
}

pub fn run(a: &SimArgs) -> anyhow::Result<()> {
    // Hundreds of switches log every neighbour change: warnings only,
    // unless RUST_LOG asks for more.
    if std::env::var_os("RUST_LOG").is_none() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    let (shape, racks, hosts_per_rack) = shape(a)?;
    let params = Params {
        shape,
        racks,
        hosts_per_rack,
        peers: a.peers,
        seed: a.seed,
        sweep: sweep(a)?,
        meter: allocated,
    };
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg:<22} [{bar:30}] {pos}/{len}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let report = sim::run(&params, &mut |p| {
        if bar.message() != p.phase {
            bar.set_message(p.phase.to_string());
            bar.set_length(p.total.max(1));
        }
        bar.set_position(p.done);
    });
    bar.finish_and_clear();
    let report = report.map_err(anyhow::Error::msg)?;
    if let Some(dir) = &a.plot {
        let points: Vec<crate::sim_plot::SizePoint> = report
            .sizes
            .iter()
            .map(|s| crate::sim_plot::SizePoint {
                hosts: s.hosts,
                entries_moose: s.entries_moose,
                entries_ethernet: s.entries_ethernet,
                arp_per_host_moose: s.arp_per_host_moose,
                arp_per_host_ethernet: s.arp_per_host_ethernet,
                arp_per_link_moose: s.directory_per_link_moose,
                arp_per_link_ethernet: s.arp_per_link_ethernet,
            })
            .collect();
        let title = report.topology.split(':').next().unwrap_or("moose sim");
        let files = crate::sim_plot::plot(dir, title, &points).map_err(anyhow::Error::msg)?;
        if !a.json {
            for f in files {
                println!("plot: {}", f.display());
            }
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}

fn thousands(n: f64) -> String {
    if n.fract() != 0.0 && n < 100.0 {
        return format!("{n:.1}");
    }
    let s = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let c = &r.convergence;
    s += &format!("moose sim — {}\n\n", r.topology);
    s += &format!(
        "{:<12} {:>8} {:>14} {:>16} {:>7} {:>14}\n",
        "tier", "switches", "entries MOOSE", "entries Ethernet", "routes", "memory MOOSE"
    );
    for t in &r.tiers {
        s += &format!(
            "{:<12} {:>8} {:>14} {:>16} {:>7} {:>14}\n",
            t.tier,
            t.switches,
            thousands(t.entries_moose as f64),
            thousands(t.entries_ethernet as f64),
            t.routes_moose,
            mib(t.memory_bytes_moose)
        );
    }
    s += &format!(
        "(largest switch of each tier; memory: allocated by one real switch of the tier built alone, the edge's after its {} hosts got addresses; a learning bridge that learnt {} hosts: {})\n\n",
        thousands(r.tiers.first().map_or(0, |t| t.hosts_held) as f64),
        thousands(r.ethernet_learnt as f64),
        mib(r.memory_bytes_ethernet)
    );
    s += &format!(
        "ARP, every host resolving {} peers   {:>16} {:>16} {:>16}\n",
        r.peers, "MOOSE+directory", "MOOSE, flooded", "Ethernet"
    );
    s += &format!(
        "  frames received per host          {:>16} {:>16} {:>16}\n",
        thousands(r.arp_per_host_moose),
        thousands(r.arp_per_host_moose_no_directory),
        thousands(r.arp_per_host_ethernet)
    );
    s += &format!(
        "  ARP frames on the busiest link    {:>16} {:>16} {:>16}\n",
        thousands(r.arp_per_link_moose),
        thousands(r.arp_per_link_moose_no_directory),
        thousands(r.arp_per_link_ethernet)
    );
    s += &format!(
        "  directory messages, busiest link  {:>16} {:>16} {:>16}\n",
        thousands(r.directory_per_link_moose),
        "-",
        "-"
    );
    s += &format!(
        "  directory queries (cache misses)  {:>16}\n\n",
        thousands(r.directory_queries as f64)
    );
    s += &format!("convergence: {:.2} s simulated from cold\n", c.initial_s);
    for f in &c.failures {
        s += &format!(
            "  {} of {}: {:.3} s; {} advertisements originated, {} sent, {} retransmitted, {} acks; {} SPF runs ({:.1} ms CPU), {} route changes, {} frames lost\n",
            f.kind,
            f.link,
            f.converged_s,
            f.adverts_originated,
            f.adverts_sent,
            f.adverts_retransmitted,
            f.acks_sent,
            f.spf_runs,
            f.spf_ms,
            f.route_changes,
            f.frames_lost
        );
    }
    s += "\n";
    if !r.sizes.is_empty() {
        s += &format!(
            "{:>10} {:>8} {:>12} {:>12} {:>14} {:>14} {:>14} {:>8}\n",
            "hosts",
            "peers",
            "table MOOSE",
            "table Eth",
            "ARP/host MOOSE",
            "ARP/host Eth",
            "dir msgs/link",
            "seconds"
        );
        for z in &r.sizes {
            s += &format!(
                "{:>10} {:>8} {:>12} {:>12} {:>14} {:>14} {:>14} {:>8.2}\n",
                thousands(z.hosts as f64),
                z.peers,
                thousands(z.entries_moose as f64),
                thousands(z.entries_ethernet as f64),
                thousands(z.arp_per_host_moose),
                thousands(z.arp_per_host_ethernet),
                thousands(z.directory_per_link_moose),
                z.seconds
            );
        }
        s += "\n";
    }
    for f in &r.fits {
        s += &format!("growth: {} ∝ hosts^{:.2}\n", f.what, f.exponent);
    }
    s += &format!(
        "\nelapsed {:.1} s (switches {:.1} s, traffic {:.1} s)\n",
        r.elapsed_s, r.seconds_switches, r.seconds_traffic
    );
    s
}
