//! `moose sim`: a fabric of real moose switches on simulated cables, and
//! the state and broadcast load of MOOSE against a classic learning
//! Ethernet on the same topology and traffic, at data-centre sizes.
//!
//! Two parts, each run on the fabric the command line gives:
//!
//! * **The control plane, real** ([`fabric`]): every switch of the
//!   topology is a moose pipeline over the in-memory backend with the
//!   control runtime and the services `moose run` starts (bridge,
//!   reserved, hosts, routing; elk with the core switches as directories),
//!   on a simulated clock. The simulation lets them converge (hellos,
//!   database exchange, reliable flooding, SPF, the broadcast tree), reads
//!   their FIBs and trees through their management calls, then cuts a
//!   link and counts the link-state messages, SPF runs and simulated time
//!   until every database agrees again. Memory per switch is what one real
//!   switch of each tier holds, built alone (an edge switch once its
//!   rack's hosts have addresses), and for Ethernet what one real learning
//!   bridge holds once it has learnt every host.
//! * **The hosts, counted** ([`load`]): a million hosts are too many to
//!   send real frames for, so their traffic is counted over what the real
//!   switches computed — every host sends its ARP for `peers` peers drawn
//!   at random (seeded), and each request is followed through the fabric
//!   the way each design forwards it: Ethernet floods it along the
//!   spanning tree (the real broadcast tree, as a spanning tree protocol
//!   with the same root would have it) to every host and learns every
//!   source on every switch; MOOSE without the directory floods it along
//!   the same tree but learns nothing beyond the edge; MOOSE with the
//!   directory answers it at the host's own switch from the switch's
//!   bounded answer cache (the elk service's rule: `cache_entries`,
//!   oldest evicted) or asks the nearest directory switch over the fabric,
//!   while every host's binding and announcement are flooded to every
//!   switch once.

pub mod fabric;
pub mod load;
pub mod topo;

use std::time::{Duration, Instant};

use serde::Serialize;

use fabric::{Fabric, Options, Totals};
use load::{Load, Traffic};
use topo::{Shape, Tier, Topology};

/// What `moose sim` is asked.
#[derive(Clone, Debug)]
pub struct Params {
    pub shape: Shape,
    pub racks: usize,
    pub hosts_per_rack: u64,
    /// ARP requests per host (distinct peers).
    pub peers: u64,
    pub seed: u64,
    /// Also simulate these smaller fabrics (hosts per rack) for the growth
    /// fits and plots.
    pub sweep: Vec<u64>,
    /// Bytes in use now: what memory per switch is the growth of.
    pub meter: fn() -> u64,
}

/// Progress of a long run: a phase, and how far it is.
pub struct Progress<'a> {
    pub phase: &'a str,
    pub done: u64,
    pub total: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TierReport {
    pub tier: String,
    pub switches: usize,
    /// Forwarding entries of the largest switch of the tier: MOOSE's FIB
    /// routes plus, at the edge, its hosts' translations; a learning
    /// bridge's MAC table.
    pub entries_moose: u64,
    pub entries_ethernet: u64,
    /// Installed routes (the FIB alone) of the tier's largest.
    pub routes_moose: u64,
    /// Memory one real switch of the tier holds (allocated bytes), built
    /// alone, once (at the edge) its rack's hosts have addresses.
    pub memory_bytes_moose: u64,
    /// Hosts that switch gave addresses to while it was measured.
    pub hosts_held: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConvergenceReport {
    /// Simulated time from the start until every database agreed.
    pub initial_s: f64,
    pub failures: Vec<FailureReport>,
}

/// A link that failed, and what the fabric did until every database
/// agreed again (checked every 5 ms of simulated time).
#[derive(Clone, Debug, Serialize)]
pub struct FailureReport {
    /// `link down` (the NIC reports it) or `silent` (frames lost, the
    /// link up: the dead interval finds it).
    pub kind: String,
    pub link: String,
    pub converged_s: f64,
    pub adverts_originated: u64,
    pub adverts_sent: u64,
    pub adverts_retransmitted: u64,
    pub acks_sent: u64,
    pub spf_runs: u64,
    /// CPU time of those SPF runs, all switches.
    pub spf_ms: f64,
    pub route_changes: u64,
    /// Frames the simulated rings lost (should be 0).
    pub frames_lost: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SizeReport {
    pub hosts: u64,
    pub hosts_per_rack: u64,
    pub peers: u64,
    pub entries_moose: u64,
    pub entries_ethernet: u64,
    pub arp_per_host_moose: f64,
    pub arp_per_host_moose_no_directory: f64,
    pub arp_per_host_ethernet: f64,
    pub arp_per_link_moose: f64,
    pub arp_per_link_moose_no_directory: f64,
    pub arp_per_link_ethernet: f64,
    pub directory_per_link_moose: f64,
    pub seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Fit {
    pub what: String,
    /// The exponent e of total ≈ c·hosts^e, least squares on log-log.
    pub exponent: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub topology: String,
    pub switches: usize,
    pub links: usize,
    pub hosts: u64,
    pub peers: u64,
    pub elapsed_s: f64,
    pub tiers: Vec<TierReport>,
    /// Mean ARP frames a host receives.
    pub arp_per_host_moose: f64,
    pub arp_per_host_moose_no_directory: f64,
    pub arp_per_host_ethernet: f64,
    /// ARP frames the busiest fabric link carries.
    pub arp_per_link_moose: f64,
    pub arp_per_link_moose_no_directory: f64,
    pub arp_per_link_ethernet: f64,
    /// What the directory costs instead: bindings, announcements, queries
    /// and answers on the busiest link.
    pub directory_per_link_moose: f64,
    /// Directory queries the edge switches sent (answer-cache misses).
    pub directory_queries: u64,
    /// Memory (allocated bytes) of one real learning bridge that learnt
    /// every host, and how many it learnt.
    pub memory_bytes_ethernet: u64,
    pub ethernet_learnt: u64,
    /// What building the whole simulated fabric (empty host tables)
    /// allocated.
    pub fabric_memory_bytes: u64,
    pub convergence: ConvergenceReport,
    pub sizes: Vec<SizeReport>,
    pub fits: Vec<Fit>,
    /// Wall-clock seconds of the parts.
    pub seconds_switches: f64,
    pub seconds_traffic: f64,
}

/// Resident set size of this process, bytes: the fallback
/// [`Params::meter`] (memory the allocator reuses is not seen by it; the
/// binary passes the allocator's own count of bytes in use).
pub fn resident() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Least-squares slope of ln y over ln x.
pub fn exponent(points: &[(f64, f64)]) -> f64 {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return f64::NAN;
    }
    let (sx, sy) = pts.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = pts.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    num / den
}

/// Runs the simulation; `progress` hears about long phases.
pub fn run(p: &Params, progress: &mut dyn FnMut(Progress<'_>)) -> Result<Report, String> {
    let t0 = Instant::now();
    let topo = Topology::build(p.shape, p.racks, p.hosts_per_rack)?;
    if p.hosts_per_rack > 65_535 {
        return Err(format!(
            "--hosts-per-rack {}: a /32 switch prefix numbers at most 65535 hosts",
            p.hosts_per_rack
        ));
    }
    if p.peers == 0 || p.peers >= topo.hosts() {
        return Err(format!(
            "--peers {}: 1 to the number of hosts less one ({})",
            p.peers,
            topo.hosts().saturating_sub(1)
        ));
    }

    // Memory first, while the allocator has nothing freed to reuse: one
    // real switch of each tier alone (an edge switch with its rack's
    // hosts), and a learning bridge that has learnt every host.
    let n = topo.switches.len();
    progress(Progress {
        phase: "measuring memory",
        done: 0,
        total: 1,
    });
    let mut per_tier_memory: Vec<(Tier, u64, u64)> = Vec::new();
    for tier in Tier::ALL {
        if let Some(i) = topo.switches.iter().position(|s| s.tier == tier) {
            let (bytes, held) = load::switch_memory(&topo, i, p.hosts_per_rack, p.meter)?;
            per_tier_memory.push((tier, bytes, held));
        }
    }
    let (memory_bytes_ethernet, ethernet_learnt) = load::bridge_memory(topo.hosts(), p.meter)?;

    // The real switches.
    progress(Progress {
        phase: "building switches",
        done: 0,
        total: n as u64,
    });
    let mem0 = (p.meter)();
    let mut fab = Fabric::new(
        &topo,
        &Options {
            elk: true,
            max_hosts: p.hosts_per_rack as u32,
        },
    )?;
    let mem1 = (p.meter)();
    let check = Duration::from_millis(50);
    let limit = Duration::from_secs(60);
    progress(Progress {
        phase: "converging",
        done: 0,
        total: n as u64,
    });
    let initial = fab.converge(check, limit)?;
    let routes = fab.routes()?;
    // Tree ports start forwarding once the neighbour's next hello agrees
    // on the tree: wait for every one.
    let tree = loop {
        match load::tree_links(&mut fab) {
            Ok(t) => break t,
            Err(e) if fab.elapsed() > limit => return Err(e),
            Err(_) => fab.run_for(check),
        }
    };
    let dir_dist = load::directory_distance(&topo, &fab.cut);
    // Two failures, each of an uplink (a ToR loses one of its two
    // aggregation switches, or a leaf a spine): a pulled cable, which the
    // NIC reports at once, then on another rack a silent one (frames lost,
    // the link still up), which only the dead interval finds.
    let mut failures = Vec::new();
    for (kind, rack) in [("link down", 0usize), ("silent", 1)] {
        let Some(&sw) = topo.racks.get(rack) else {
            break;
        };
        let l = topo.switches[sw].ports[0].0;
        if topo.switches[sw].ports.len() < 2 {
            break;
        }
        let before: Totals = fab.totals()?;
        let lost = fab.lost;
        progress(Progress {
            phase: kind,
            done: 0,
            total: 1,
        });
        if kind == "silent" {
            fab.silence_link(l);
        } else {
            fab.cut_link(l);
        }
        let took = fab.converge(Duration::from_millis(5), limit)?;
        let d = fab.totals()?.minus(&before);
        let link = topo.links[l];
        failures.push(FailureReport {
            kind: kind.to_string(),
            link: format!(
                "{} f{} — {} f{}",
                topo.switches[link.a].name, link.pa, topo.switches[link.b].name, link.pb
            ),
            converged_s: took.as_secs_f64(),
            adverts_originated: d.adverts_originated,
            adverts_sent: d.adverts_sent,
            adverts_retransmitted: d.adverts_retransmitted,
            acks_sent: d.acks_sent,
            spf_runs: d.spf_runs,
            spf_ms: d.spf_nanos as f64 / 1e6,
            route_changes: d.route_changes,
            frames_lost: fab.lost - lost,
        });
    }
    let convergence = ConvergenceReport {
        initial_s: initial.as_secs_f64(),
        failures,
    };
    let fabric_memory = mem1.saturating_sub(mem0);
    drop(fab);
    let seconds_switches = t0.elapsed().as_secs_f64();

    // The hosts' traffic, at the size asked and the sweep's.
    let t1 = Instant::now();
    let mut sizes = Vec::new();
    let mut hpr: Vec<u64> = p
        .sweep
        .iter()
        .copied()
        .filter(|h| *h < p.hosts_per_rack)
        .collect();
    hpr.push(p.hosts_per_rack);
    hpr.sort_unstable();
    hpr.dedup();
    // The hosts' ARP over one size of the fabric (the same tree and
    // directories: they do not depend on the hosts per rack).
    let count = |t: &Topology, peers: u64, progress: &mut dyn FnMut(u64, u64)| {
        let traffic = Traffic {
            peers,
            seed: p.seed,
            cache_entries: 4096,
        };
        Load::count(t, &traffic, &tree, &dir_dist, progress)
    };
    let mut main: Option<Load> = None;
    for (k, h) in hpr.iter().enumerate() {
        let t = topo.resized(topo.racks.len(), *h)?;
        let peers = p.peers.min(t.hosts() - 1);
        let ts = Instant::now();
        let l = count(&t, peers, &mut |done, total| {
            progress(Progress {
                phase: &format!("traffic {}/{}", k + 1, hpr.len()),
                done,
                total,
            })
        });
        let entries_moose = load::entries_moose(&t, &routes)
            .into_iter()
            .max()
            .unwrap_or(0);
        sizes.push(SizeReport {
            hosts: t.hosts(),
            hosts_per_rack: *h,
            peers,
            entries_moose,
            entries_ethernet: l.ethernet_entries.iter().copied().max().unwrap_or(0),
            arp_per_host_moose: l.per_host(l.moose_host_arp),
            arp_per_host_moose_no_directory: l.per_host(l.flood_host_arp),
            arp_per_host_ethernet: l.per_host(l.flood_host_arp),
            arp_per_link_moose: l.max_link(&l.moose_link_arp),
            arp_per_link_moose_no_directory: l.max_link(&l.moose_flood_link_arp),
            arp_per_link_ethernet: l.max_link(&l.ethernet_link_arp),
            directory_per_link_moose: l.max_link(&l.moose_link_directory),
            seconds: ts.elapsed().as_secs_f64(),
        });
        if *h == p.hosts_per_rack {
            main = Some(l);
        }
    }
    let l = main.expect("the size asked is in the list");
    // The seed's case: every host talks to a fixed share of all hosts
    // (peers ∝ hosts), over the sizes where that share is a peer or more.
    let mut grown: Vec<(f64, f64, f64)> = Vec::new();
    for h in &hpr {
        let peers = p.peers * h / p.hosts_per_rack;
        if peers == 0 {
            continue;
        }
        let t = topo.resized(topo.racks.len(), *h)?;
        let g = count(&t, peers, &mut |_, _| {});
        grown.push((
            t.hosts() as f64,
            g.moose_host_arp as f64,
            g.flood_host_arp as f64,
        ));
    }
    let seconds_traffic = t1.elapsed().as_secs_f64();

    let full = topo.hosts();
    let entries = load::entries_moose(&topo, &routes);
    let mut tiers = Vec::new();
    for tier in Tier::ALL {
        let ids: Vec<usize> = (0..n).filter(|&i| topo.switches[i].tier == tier).collect();
        if ids.is_empty() {
            continue;
        }
        tiers.push(TierReport {
            tier: tier.name().to_string(),
            switches: ids.len(),
            entries_moose: ids.iter().map(|&i| entries[i]).max().unwrap_or(0),
            entries_ethernet: ids
                .iter()
                .map(|&i| l.ethernet_entries[i])
                .max()
                .unwrap_or(0),
            routes_moose: ids.iter().map(|&i| routes[i] as u64).max().unwrap_or(0),
            memory_bytes_moose: per_tier_memory
                .iter()
                .find(|(t, _, _)| *t == tier)
                .map_or(0, |(_, m, _)| *m),
            hosts_held: per_tier_memory
                .iter()
                .find(|(t, _, _)| *t == tier)
                .map_or(0, |(_, _, h)| *h),
        });
    }
    let total = |per_host: f64, hosts: u64| per_host * hosts as f64;
    let fit = |what: &str, f: &dyn Fn(&SizeReport) -> f64| Fit {
        what: what.to_string(),
        exponent: exponent(
            &sizes
                .iter()
                .map(|s| (s.hosts as f64, f(s)))
                .collect::<Vec<_>>(),
        ),
    };
    let fits = if sizes.len() >= 2 {
        vec![
            fit(
                "ARP frames received by all hosts, MOOSE with the directory",
                &|s| total(s.arp_per_host_moose, s.hosts),
            ),
            fit("ARP frames received by all hosts, Ethernet", &|s| {
                total(s.arp_per_host_ethernet, s.hosts)
            }),
            fit("directory messages on the busiest link, MOOSE", &|s| {
                s.directory_per_link_moose
            }),
            fit("ARP frames on the busiest link, Ethernet", &|s| {
                s.arp_per_link_ethernet
            }),
            Fit {
                what: "ARP frames received by all hosts, MOOSE with the directory (peers ∝ hosts)"
                    .into(),
                exponent: exponent(&grown.iter().map(|g| (g.0, g.1)).collect::<Vec<_>>()),
            },
            Fit {
                what: "ARP frames received by all hosts, Ethernet (peers ∝ hosts)".into(),
                exponent: exponent(&grown.iter().map(|g| (g.0, g.2)).collect::<Vec<_>>()),
            },
            fit("largest table, MOOSE", &|s| s.entries_moose as f64),
            fit("largest table, Ethernet", &|s| s.entries_ethernet as f64),
        ]
    } else {
        Vec::new()
    };
    let main_size = sizes.last().expect("at least the size asked").clone();
    Ok(Report {
        topology: topo.describe(),
        switches: n,
        links: topo.links.len(),
        hosts: full,
        peers: main_size.peers,
        elapsed_s: t0.elapsed().as_secs_f64(),
        tiers,
        arp_per_host_moose: main_size.arp_per_host_moose,
        arp_per_host_moose_no_directory: main_size.arp_per_host_moose_no_directory,
        arp_per_host_ethernet: main_size.arp_per_host_ethernet,
        arp_per_link_moose: main_size.arp_per_link_moose,
        arp_per_link_moose_no_directory: main_size.arp_per_link_moose_no_directory,
        arp_per_link_ethernet: main_size.arp_per_link_ethernet,
        directory_per_link_moose: main_size.directory_per_link_moose,
        directory_queries: l.directory_queries,
        memory_bytes_ethernet,
        ethernet_learnt,
        fabric_memory_bytes: fabric_memory,
        convergence,
        sizes,
        fits,
        seconds_switches,
        seconds_traffic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_fabric_of_real_switches() {
        let p = Params {
            shape: Shape::ThreeTier,
            racks: 3,
            hosts_per_rack: 40,
            peers: 4,
            seed: 7,
            sweep: vec![10, 20],
            meter: resident,
        };
        let r = run(&p, &mut |_| {}).unwrap();
        // 3 edge, 2 aggregation, 4 core switches.
        assert_eq!(r.switches, 9);
        let tier = |n: &str| r.tiers.iter().find(|t| t.tier == n).unwrap();
        // Every switch routes to every other's prefix and holds its own;
        // the edge also to the directory's anycast prefix.
        assert!(tier("core").routes_moose >= 9, "{:?}", r.tiers);
        assert_eq!(tier("edge").routes_moose, 10, "{:?}", r.tiers);
        assert_eq!(tier("edge").entries_moose, 10 + 40);
        assert_eq!(tier("edge").hosts_held, 40);
        assert_eq!(tier("core").entries_ethernet, 120);
        assert_eq!(r.ethernet_learnt, 120);
        assert_eq!(r.arp_per_host_moose, 4.0);
        // Every request reaches every host; each host gets its replies.
        assert_eq!(r.arp_per_host_ethernet, 4.0 * 120.0);
        assert_eq!(r.arp_per_link_moose, 0.0);
        assert!(r.directory_per_link_moose > 0.0);
        let [down, silent] = &r.convergence.failures[..] else {
            panic!("{:?}", r.convergence);
        };
        // A link reported down is acted on at once; a silent one after
        // the dead interval (400 ms).
        assert!(down.converged_s < 0.2, "{down:?}");
        assert!(
            silent.converged_s >= 0.4 && silent.converged_s < 1.0,
            "{silent:?}"
        );
        for f in [down, silent] {
            assert!(f.adverts_originated >= 2, "{f:?}");
            assert!(f.spf_runs >= 9, "{f:?}");
            assert_eq!(f.frames_lost, 0);
        }
        assert_eq!(r.sizes.len(), 3);
        let e = r
            .fits
            .iter()
            .find(|f| f.what.contains("Ethernet") && f.what.contains("all hosts"))
            .unwrap();
        assert!((e.exponent - 2.0).abs() < 0.1, "{e:?}");
    }

    #[test]
    fn exponents_of_powers() {
        let pts: Vec<(f64, f64)> = (1..6).map(|x| (x as f64, (x as f64).powi(3))).collect();
        assert!((exponent(&pts) - 3.0).abs() < 1e-9);
    }
}
