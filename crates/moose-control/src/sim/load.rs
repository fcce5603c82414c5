//! The hosts' ARP traffic counted over the fabric the real switches
//! computed (see the module text of [`super`]), and the memory a real
//! switch takes once its tables hold what the fabric puts there.

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use moose_config::Config;
use moose_dataplane::mem::{Mem, MemPort};
use moose_dataplane::Pipeline;

use super::fabric::{Fabric, Options, SimSwitch};
use super::topo::{Tier, Topology};
use crate::routing::api::TreeQuery;
use crate::{Runtime, StaticPorts};

/// Which links the real switches forward broadcasts over (both ends
/// active on their tree).
pub fn tree_links(fab: &mut Fabric) -> Result<Vec<bool>, String> {
    let now = fab.now;
    let mut on = vec![0u8; fab.topo.links.len()];
    for (i, s) in fab.switches.iter_mut().enumerate() {
        let t = s.ask(now, TreeQuery)?;
        for name in &t.active {
            let p: usize = name
                .strip_prefix('f')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("tree port {name}"))?;
            on[fab.topo.switches[i].ports[p].0] += 1;
        }
    }
    let tree: Vec<bool> = on.iter().map(|n| *n == 2).collect();
    let edges = tree.iter().filter(|t| **t).count();
    if edges + 1 != fab.topo.switches.len() {
        return Err(format!(
            "the broadcast tree has {edges} links for {} switches",
            fab.topo.switches.len()
        ));
    }
    Ok(tree)
}

/// For each switch, the links of its equal-cost shortest paths to the
/// nearest directory (core) switch, each with the share of the switch's
/// queries it carries (ECMP splits evenly at every hop).
pub fn directory_distance(t: &Topology, cut: &[bool]) -> Vec<Vec<(usize, f64)>> {
    let targets: Vec<usize> = (0..t.switches.len())
        .filter(|&i| t.switches[i].tier == Tier::Core)
        .collect();
    let dist = bfs(t, &targets, &|l| !cut[l]);
    (0..t.switches.len())
        .map(|s| spread(t, &dist, s, &|l| !cut[l]))
        .collect()
}

fn bfs(t: &Topology, from: &[usize], usable: &dyn Fn(usize) -> bool) -> Vec<u32> {
    let mut d = vec![u32::MAX; t.switches.len()];
    let mut q = VecDeque::new();
    for &f in from {
        d[f] = 0;
        q.push_back(f);
    }
    while let Some(u) = q.pop_front() {
        for &(l, v) in &t.switches[u].ports {
            if usable(l) && d[v] == u32::MAX {
                d[v] = d[u] + 1;
                q.push_back(v);
            }
        }
    }
    d
}

/// The links from `s` down the gradient of `dist`, each with its share
/// of one unit of traffic split evenly over the next hops at every
/// switch.
fn spread(
    t: &Topology,
    dist: &[u32],
    s: usize,
    usable: &dyn Fn(usize) -> bool,
) -> Vec<(usize, f64)> {
    let mut share = vec![0.0f64; t.switches.len()];
    share[s] = 1.0;
    let mut order: Vec<usize> = (0..t.switches.len())
        .filter(|&i| dist[i] != u32::MAX && dist[i] <= dist[s])
        .collect();
    order.sort_by_key(|&i| std::cmp::Reverse(dist[i]));
    let mut out = Vec::new();
    for u in order {
        if share[u] == 0.0 || dist[u] == 0 {
            continue;
        }
        let next: Vec<(usize, usize)> = t.switches[u]
            .ports
            .iter()
            .copied()
            .filter(|&(l, v)| usable(l) && dist[v] + 1 == dist[u])
            .collect();
        let part = share[u] / next.len() as f64;
        for (l, v) in next {
            share[v] += part;
            out.push((l, part));
        }
    }
    out
}

/// The unique path between two switches over the tree's links.
fn tree_path(t: &Topology, tree: &[bool], a: usize, b: usize) -> Vec<usize> {
    let mut via = vec![usize::MAX; t.switches.len()];
    let mut seen = vec![false; t.switches.len()];
    let mut q = VecDeque::from([b]);
    seen[b] = true;
    while let Some(u) = q.pop_front() {
        for &(l, v) in &t.switches[u].ports {
            if tree[l] && !seen[v] {
                seen[v] = true;
                via[v] = l;
                q.push_back(v);
            }
        }
    }
    let mut path = Vec::new();
    let mut u = a;
    while u != b && via[u] != usize::MAX {
        let l = via[u];
        path.push(l);
        let link = t.links[l];
        u = if link.a == u { link.b } else { link.a };
    }
    path
}

/// How the hosts resolve their peers.
#[derive(Clone, Debug)]
pub struct Traffic {
    /// Distinct peers each host sends an ARP request for.
    pub peers: u64,
    pub seed: u64,
    /// The edge switches' answer cache (`[elk] cache_entries`).
    pub cache_entries: usize,
}

/// What the hosts' ARP did, per design.
pub struct Load {
    pub hosts: u64,
    pub requests: u64,
    /// ARP frames hosts received, all hosts: MOOSE with the directory …
    pub moose_host_arp: u64,
    /// … and flooded (Ethernet, and MOOSE without the directory).
    pub flood_host_arp: u64,
    /// Per link: ARP frames carried.
    pub ethernet_link_arp: Vec<f64>,
    pub moose_flood_link_arp: Vec<f64>,
    pub moose_link_arp: Vec<f64>,
    /// Per link: the directory's messages (bindings, host announcements,
    /// queries and answers).
    pub moose_link_directory: Vec<f64>,
    pub directory_queries: u64,
    /// A learning bridge's MAC table per switch.
    pub ethernet_entries: Vec<u64>,
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Load {
    pub fn per_host(&self, total: u64) -> f64 {
        total as f64 / self.hosts as f64
    }

    pub fn max_link(&self, links: &[f64]) -> f64 {
        links.iter().copied().fold(0.0, f64::max)
    }

    /// Counts `traffic` over topology `t`, whose broadcast tree is `tree`
    /// and whose switches reach the directory along `to_directory`.
    pub fn count(
        t: &Topology,
        traffic: &Traffic,
        tree: &[bool],
        to_directory: &[Vec<(usize, f64)>],
        progress: &mut dyn FnMut(u64, u64),
    ) -> Load {
        let racks = t.racks.len();
        let hpr = t.hosts_per_rack;
        let hosts = t.hosts();
        let links = t.links.len();
        let mut rng = traffic.seed ^ 0x6d6f_6f73_6573_696d;
        // Requests by (source rack, destination rack).
        let mut pairs = vec![0u64; racks * racks];
        let mut queries = vec![0u64; racks];
        let mut peers: Vec<u64> = Vec::with_capacity(traffic.peers as usize);
        for r in 0..racks {
            let mut cache: HashSet<u64> = HashSet::with_capacity(traffic.cache_entries);
            let mut fifo: VecDeque<u64> = VecDeque::with_capacity(traffic.cache_entries);
            for h in 0..hpr {
                let me = r as u64 * hpr + h;
                peers.clear();
                while (peers.len() as u64) < traffic.peers {
                    let p = splitmix(&mut rng) % hosts;
                    if p != me && !peers.contains(&p) {
                        peers.push(p);
                    }
                }
                for &p in &peers {
                    let pr = (p / hpr) as usize;
                    pairs[r * racks + pr] += 1;
                    // The elk rule: a host of this switch is answered
                    // from its own table; another's from the cache, or
                    // the directory is asked and the answer cached.
                    if pr == r || cache.contains(&p) {
                        continue;
                    }
                    queries[r] += 1;
                    if traffic.cache_entries > 0 {
                        if fifo.len() == traffic.cache_entries {
                            let old = fifo.pop_front().expect("full");
                            cache.remove(&old);
                        }
                        fifo.push_back(p);
                        cache.insert(p);
                    }
                }
            }
            progress(r as u64 + 1, racks as u64);
        }
        let requests = hosts * traffic.peers;

        // Flooded requests cross every tree link once and reach every
        // other host; each is answered by one unicast reply.
        let flood_host_arp = requests * (hosts - 1) + requests;
        let mut ethernet_link_arp = vec![0.0; links];
        let mut moose_flood_link_arp = vec![0.0; links];
        for l in 0..links {
            if tree[l] {
                ethernet_link_arp[l] = requests as f64;
                moose_flood_link_arp[l] = requests as f64;
            }
        }
        // Replies go back from the peer's rack to the requester's: along
        // the tree on Ethernet, along SPF's equal-cost paths on MOOSE.
        let all = |_: usize| true;
        for b in 0..racks {
            let dist = bfs(t, &[t.racks[b]], &all);
            for a in 0..racks {
                let n = pairs[a * racks + b];
                if a == b || n == 0 {
                    continue;
                }
                // The reply travels from the peer's switch b to a.
                for l in tree_path(t, tree, t.racks[a], t.racks[b]) {
                    ethernet_link_arp[l] += n as f64;
                }
                for (l, share) in spread(t, &dist, t.racks[a], &all) {
                    moose_flood_link_arp[l] += n as f64 * share;
                }
            }
        }

        // MOOSE with the directory: no ARP frame crosses the fabric; each
        // host's binding and announcement are flooded to every switch
        // (every switch passes a message to every neighbour but the one it
        // first heard it from), and cache misses ask the directory.
        let mut moose_link_directory = vec![0.0; links];
        for (r, &o) in t.racks.iter().enumerate() {
            let dist = bfs(t, &[o], &all);
            // First heard from: the lowest-numbered port towards o.
            let mut parent = vec![usize::MAX; t.switches.len()];
            for (u, p) in parent.iter_mut().enumerate() {
                if u == o {
                    continue;
                }
                *p = t.switches[u]
                    .ports
                    .iter()
                    .find(|&&(_, v)| dist[v] + 1 == dist[u])
                    .map_or(usize::MAX, |&(l, _)| l);
            }
            let per_origin = 2.0 * hpr as f64;
            for (l, (link, n)) in t.links.iter().zip(&mut moose_link_directory).enumerate() {
                // a → b unless a heard it from b, and b → a likewise.
                let ab = parent[link.a] != l;
                let ba = parent[link.b] != l;
                *n += per_origin * (f64::from(u8::from(ab)) + f64::from(u8::from(ba)));
            }
            for &(l, share) in &to_directory[o] {
                // The query there, the answer back.
                moose_link_directory[l] += 2.0 * queries[r] as f64 * share;
            }
        }

        // A learning bridge learns every host that sent a broadcast on
        // every switch the tree takes it to: all of them.
        let mut ethernet_entries = vec![0u64; t.switches.len()];
        for r in 0..racks {
            let mut seen = vec![false; t.switches.len()];
            let mut q = VecDeque::from([t.racks[r]]);
            seen[t.racks[r]] = true;
            while let Some(u) = q.pop_front() {
                ethernet_entries[u] += hpr;
                for &(l, v) in &t.switches[u].ports {
                    if tree[l] && !seen[v] {
                        seen[v] = true;
                        q.push_back(v);
                    }
                }
            }
        }

        Load {
            hosts,
            requests,
            moose_host_arp: requests,
            flood_host_arp,
            ethernet_link_arp,
            moose_flood_link_arp,
            moose_link_arp: vec![0.0; links],
            moose_link_directory,
            directory_queries: queries.iter().sum(),
            ethernet_entries,
        }
    }
}

/// MOOSE's forwarding entries per switch: its installed routes, and at
/// the edge one translation per host of its rack.
pub fn entries_moose(t: &Topology, routes: &[usize]) -> Vec<u64> {
    (0..t.switches.len())
        .map(|i| {
            routes[i] as u64
                + if t.switches[i].tier == Tier::Edge {
                    t.hosts_per_rack
                } else {
                    0
                }
        })
        .collect()
}

/// Offers `frames` on `port` of a lone switch in small bursts, letting
/// its worker and runtime take them in (learning, host allocation).
fn feed(
    worker: &mut moose_dataplane::Worker<Mem>,
    runtime: &mut Runtime<'static, Mem>,
    ports: &[MemPort],
    port: usize,
    frames: impl Iterator<Item = Vec<u8>>,
    now: &mut Instant,
) {
    let mut n = 0;
    for f in frames {
        while !ports[port].inject(f.clone()) {
            *now += std::time::Duration::from_millis(1);
            while worker.poll_once(*now) > 0 {}
            runtime.turn(*now);
        }
        n += 1;
        if n % 32 == 0 {
            *now += std::time::Duration::from_micros(100);
            while worker.poll_once(*now) > 0 {}
            runtime.turn(*now);
            for p in ports {
                while p.egress.pop().is_some() {}
            }
        }
    }
    for _ in 0..50 {
        *now += std::time::Duration::from_millis(1);
        while worker.poll_once(*now) > 0 {}
        runtime.turn(*now);
    }
    for p in ports {
        while p.egress.pop().is_some() {}
    }
}

/// A 60-byte frame from `src` to `dst`.
fn frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb6]);
    f.resize(60, 0);
    f
}

fn host_mac(i: u64) -> [u8; 6] {
    [
        0x00,
        0x16,
        (i >> 24) as u8,
        (i >> 16) as u8,
        (i >> 8) as u8,
        i as u8,
    ]
}

/// Memory (allocated bytes) of switch `i` of `t` once its rack's hosts (edge) have
/// addresses: built alone, hosts sending one frame each. Returns bytes and
/// the hosts it holds.
pub fn switch_memory(
    t: &Topology,
    i: usize,
    hosts: u64,
    meter: fn() -> u64,
) -> Result<(u64, u64), String> {
    let before = meter();
    let mut s = SimSwitch::new(
        t,
        i,
        &Options {
            elk: true,
            max_hosts: hosts as u32,
        },
        Instant::now(),
    )?;
    let mut held = 0;
    if t.switches[i].tier == Tier::Edge {
        let mut now = Instant::now();
        let port = s.ports.len() - 1;
        let ports = s.ports.clone();
        let (worker, runtime) = s.parts();
        feed(
            worker,
            runtime,
            &ports,
            port,
            (0..hosts).map(|h| frame([0xff; 6], host_mac(h))),
            &mut now,
        );
        held = s.host_count(now)?;
    }
    let after = meter();
    // The simulated cables' rings are the simulation's, not the switch's
    // (a NIC's descriptor rings are not in these figures either).
    let n_ports = s.ports.len() as u64;
    drop(s);
    let r0 = meter();
    let ring = MemPort::new(super::fabric::RING);
    let per_port = meter().saturating_sub(r0);
    drop(ring);
    Ok((
        after
            .saturating_sub(before)
            .saturating_sub(n_ports * per_port),
        held,
    ))
}

/// Memory (allocated bytes) of a learning bridge (two ports) that has learnt
/// `hosts` sources, and how many it learnt.
pub fn bridge_memory(hosts: u64, meter: fn() -> u64) -> Result<(u64, u64), String> {
    let before = meter();
    let text = format!(
        "[switch]\nname = \"ethernet\"\n[dataplane]\nidle = \"poll\"\n\
         [punt.learn]\nrate_pps = 10000000\nburst = 1000000\nport_rate_pps = 10000000\nport_burst = 1000000\n\
         [bridge]\nmax_entries = {}\n\
         [[port]]\nname = \"p0\"\ndevice = \"net_null0\"\n[[port]]\nname = \"p1\"\ndevice = \"net_null1\"\n",
        hosts.max(1024)
    );
    let cfg = Config::from_toml(&text).map_err(|e| e.to_string())?;
    let ports: Vec<MemPort> = (0..2).map(|_| MemPort::new(4096)).collect();
    let q = moose_dataplane::mem::queues(&ports, 1);
    let pipe = Pipeline::<Mem>::build(&cfg, q.rx, q.tx, q.pools).map_err(|e| e.to_string())?;
    let mut runtime = Runtime::new(pipe.control, Box::new(StaticPorts { tx_max: 1514 }));
    runtime.set_config(cfg.clone());
    runtime.add(Box::new(crate::bridge::Bridge::from_config(&cfg)));
    let mut now = Instant::now();
    runtime.start(now);
    let handle = runtime.handle();
    let mut worker = pipe.workers.into_iter().next().ok_or("no worker")?;
    feed(
        &mut worker,
        &mut runtime,
        &ports,
        0,
        (0..hosts).map(|h| frame([0xff; 6], host_mac(h))),
        &mut now,
    );
    let mut rx = handle
        .submit(crate::bridge::api::StatsQuery)
        .map_err(|e| e.to_string())?;
    runtime.turn(now);
    let learnt = rx
        .try_recv()
        .map_err(|_| "the bridge did not answer".to_string())?
        .entries as u64;
    let after = meter();
    let r0 = meter();
    let ring = MemPort::new(4096);
    let per_port = meter().saturating_sub(r0);
    drop(ring);
    Ok((
        after.saturating_sub(before).saturating_sub(2 * per_port),
        learnt,
    ))
}
