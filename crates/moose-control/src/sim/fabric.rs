//! Real switches on simulated cables: every switch of a [`Topology`] is a
//! moose pipeline over the in-memory backend with the control runtime and
//! the services the appliance runs (bridge, reserved, hosts, routing, and
//! elk when asked), the same code as `moose run` minus DPDK. The fabric
//! moves frames between the ports of linked switches once a simulated
//! step, counts them by link and message type, and keeps a simulated
//! clock: timers, hello and dead intervals, SPF throttling all run on it,
//! so a second of protocol takes what the code costs, not a second.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moose_config::Config;
use moose_dataplane::mem::{Mem, MemPort};
use moose_dataplane::{Pipeline, PortId, Worker};
use moose_wire::{proto, Mac};

use super::topo::{Tier, Topology};
use crate::api::{Call, ControlHandle};
use crate::ports::{PortDriver, PortQueues, PortState};
use crate::routes::api::RoutesQuery;
use crate::routing::api::{RoutingQuery, RoutingStats};
use crate::Runtime;

/// One simulated step.
pub const STEP: Duration = Duration::from_millis(1);
/// Ring sizes of a simulated port (a frame that finds it full is lost and
/// counted in [`Fabric::lost`]).
pub const RING: usize = 2048;

/// Frames counted by kind: the moose message types 1–8, ARP, other.
pub const KINDS: usize = 10;
pub const KIND_ARP: usize = 8;
pub const KIND_OTHER: usize = 9;

pub fn kind_name(k: usize) -> &'static str {
    [
        "home-hello",
        "fabric-hello",
        "advertisement",
        "ack",
        "host-announce",
        "binding",
        "query",
        "answer",
        "arp",
        "other",
    ][k]
}

fn kind(frame: &[u8]) -> usize {
    if frame.len() < 14 {
        return KIND_OTHER;
    }
    match u16::from_be_bytes([frame[12], frame[13]]) {
        proto::ETHERTYPE if frame.len() > 15 => match frame[15] & 0x7f {
            t @ 1..=8 => usize::from(t) - 1,
            _ => KIND_OTHER,
        },
        0x0806 => KIND_ARP,
        _ => KIND_OTHER,
    }
}

/// Link state the simulation sets and the switch's runtime reads.
struct SimPorts {
    up: Arc<Vec<AtomicBool>>,
}

impl PortDriver<Mem> for SimPorts {
    fn state(&mut self, port: PortId) -> PortState {
        PortState {
            up: self.up[port.index()].load(Ordering::Relaxed),
            tx_max: 1514,
            needs_reattach: false,
        }
    }

    fn reattach(
        &mut self,
        _port: PortId,
        queues: Option<PortQueues<Mem>>,
    ) -> Result<PortQueues<Mem>, String> {
        queues.ok_or_else(|| "simulated ports are never re-attached".to_string())
    }
}

pub struct SimSwitch {
    pub tier: Tier,
    pub name: String,
    /// Fabric ports first (in the topology's order), then on an edge
    /// switch the hosts' port.
    pub ports: Vec<MemPort>,
    up: Arc<Vec<AtomicBool>>,
    worker: Worker<Mem>,
    runtime: Runtime<'static, Mem>,
    handle: ControlHandle,
}

/// The switch id of switch `i` (the base MAC a NIC would give it).
pub fn switch_id(i: usize) -> Mac {
    let n = i + 1;
    Mac([0x52, 0x54, 0x00, (n >> 16) as u8, (n >> 8) as u8, n as u8])
}

/// Switch `i`'s MOOSE prefix: a /32, 16 bits of host ids.
pub fn switch_prefix(i: usize) -> String {
    format!("02:00:{:02x}:{:02x}:00:00/32", (i >> 8) as u8, i as u8)
}

/// What the switches of a run are configured with beyond their ports.
#[derive(Clone, Debug)]
pub struct Options {
    /// `[elk] enabled` (with every core switch a directory).
    pub elk: bool,
    /// `[moose] max_hosts` of the edge switches.
    pub max_hosts: u32,
}

fn config(t: &Topology, i: usize, o: &Options) -> Result<Config, String> {
    let s = &t.switches[i];
    let edge = s.tier == Tier::Edge;
    let max_hosts = if edge { o.max_hosts.max(16) } else { 16 };
    // Edge switches answer their hosts; the cores hold the directory; an
    // aggregation switch has no part in it.
    let elk = if o.elk && s.tier != Tier::Aggregation {
        format!(
            "[elk]\nenabled = true\ndirectory = {}\n",
            s.tier == Tier::Core
        )
    } else {
        "[elk]\nenabled = false\n".to_string()
    };
    let mut text = format!(
        "[switch]\nname = \"{}\"\n[dataplane]\nidle = \"poll\"\n\
         [punt.host]\nrate_pps = 1000000\nburst = 100000\nport_rate_pps = 1000000\nport_burst = 100000\n\
         [punt.learn]\nrate_pps = 1000000\nburst = 100000\nport_rate_pps = 1000000\nport_burst = 100000\n\
         [punt.directory]\nrate_pps = 1000000\nburst = 100000\nport_rate_pps = 1000000\nport_burst = 100000\n\
         [punt.protocol]\nrate_pps = 1000000\nburst = 100000\nport_rate_pps = 1000000\nport_burst = 100000\n\
         [moose]\nprefix = \"{}\"\nhost_ids = \"sequential\"\nmax_hosts = {max_hosts}\nhost_quota = {max_hosts}\n{elk}",
        s.name,
        switch_prefix(i)
    );
    for (p, _) in s.ports.iter().enumerate() {
        text.push_str(&format!(
            "[[port]]\nname = \"f{p}\"\nrole = \"fabric\"\ndevice = \"net_null{p}\"\n"
        ));
    }
    if edge {
        text.push_str(&format!(
            "[[port]]\nname = \"h0\"\nrole = \"edge\"\ndevice = \"net_null{}\"\n",
            s.ports.len()
        ));
    }
    Config::from_toml(&text).map_err(|e| format!("{}: {e}", s.name))
}

impl SimSwitch {
    pub fn new(t: &Topology, i: usize, o: &Options, now: Instant) -> Result<SimSwitch, String> {
        let cfg = config(t, i, o)?;
        let n = cfg.ports.len();
        let ports: Vec<MemPort> = (0..n).map(|_| MemPort::new(RING)).collect();
        let q = moose_dataplane::mem::queues(&ports, 1);
        let pipe = Pipeline::<Mem>::build(&cfg, q.rx, q.tx, q.pools).map_err(|e| e.to_string())?;
        let up: Arc<Vec<AtomicBool>> = Arc::new((0..n).map(|_| AtomicBool::new(true)).collect());
        let mut runtime = Runtime::new(pipe.control, Box::new(SimPorts { up: up.clone() }));
        runtime.set_config(cfg.clone());
        // The services `moose run` starts for a MOOSE switch (src/app.rs).
        runtime.add(Box::new(crate::bridge::Bridge::from_config(&cfg)));
        runtime.add(Box::new(crate::reserved::Reserved::from_config(&cfg)));
        let hosts = crate::hosts::Hosts::from_config(&cfg)
            .map_err(|e| e.to_string())?
            .ok_or("no [moose]")?;
        runtime.add(Box::new(hosts));
        let routing =
            crate::routing::Routing::from_config(&cfg, switch_id(i)).ok_or("no routing")?;
        runtime.add(Box::new(routing));
        if let Some(e) =
            crate::elk::Elk::from_config(&cfg, switch_id(i)).map_err(|e| e.to_string())?
        {
            runtime.add(Box::new(e));
        }
        runtime.start(now);
        let handle = runtime.handle();
        let worker = pipe.workers.into_iter().next().ok_or("no worker")?;
        Ok(SimSwitch {
            tier: t.switches[i].tier,
            name: t.switches[i].name.clone(),
            ports,
            up,
            worker,
            runtime,
            handle,
        })
    }

    fn step(&mut self, now: Instant) -> usize {
        let mut work = 0;
        for _ in 0..64 {
            let n = self.worker.poll_once(now);
            work += n;
            if n == 0 {
                break;
            }
        }
        work += self.runtime.turn(now);
        // What the control thread sent this turn leaves now.
        for _ in 0..64 {
            let n = self.worker.poll_once(now);
            work += n;
            if n == 0 {
                break;
            }
        }
        work
    }

    /// Asks the switch's services `call`, turning its runtime until the
    /// answer comes.
    pub fn ask<C: Call>(&mut self, now: Instant, call: C) -> Result<C::Reply, String> {
        let mut rx = self.handle.submit(call).map_err(|e| e.to_string())?;
        for _ in 0..4 {
            self.runtime.turn(now);
            if let Ok(r) = rx.try_recv() {
                return Ok(r);
            }
        }
        Err(format!("{}: no answer", self.name))
    }

    /// The switch's worker and runtime, to drive it alone.
    pub fn parts(&mut self) -> (&mut Worker<Mem>, &mut Runtime<'static, Mem>) {
        (&mut self.worker, &mut self.runtime)
    }

    /// Hosts with an address here.
    pub fn host_count(&mut self, now: Instant) -> Result<u64, String> {
        Ok(self.ask(now, crate::hosts::api::StatsQuery)?.hosts as u64)
    }

    pub fn routing(&mut self, now: Instant) -> Result<RoutingStats, String> {
        self.ask(now, RoutingQuery)
    }
}

/// Totals over every switch that a phase is measured by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub adverts_sent: u64,
    pub adverts_originated: u64,
    pub adverts_retransmitted: u64,
    pub acks_sent: u64,
    pub hellos_sent: u64,
    pub spf_runs: u64,
    pub spf_nanos: u64,
    pub route_changes: u64,
}

impl Totals {
    pub fn minus(&self, o: &Totals) -> Totals {
        Totals {
            adverts_sent: self.adverts_sent - o.adverts_sent,
            adverts_originated: self.adverts_originated - o.adverts_originated,
            adverts_retransmitted: self.adverts_retransmitted - o.adverts_retransmitted,
            acks_sent: self.acks_sent - o.acks_sent,
            hellos_sent: self.hellos_sent - o.hellos_sent,
            spf_runs: self.spf_runs - o.spf_runs,
            spf_nanos: self.spf_nanos - o.spf_nanos,
            route_changes: self.route_changes - o.route_changes,
        }
    }
}

pub struct Fabric {
    pub topo: Topology,
    pub switches: Vec<SimSwitch>,
    /// The simulated clock.
    pub now: Instant,
    pub start: Instant,
    /// Links carrying frames (a cut link carries none and is down at both
    /// ends).
    pub cut: Vec<bool>,
    /// Frames carried, per link, per kind (both directions).
    pub carried: Vec<[u64; KINDS]>,
    /// Frames a full ring lost.
    pub lost: u64,
}

impl Fabric {
    pub fn new(topo: &Topology, o: &Options) -> Result<Fabric, String> {
        let now = Instant::now();
        let switches = (0..topo.switches.len())
            .map(|i| SimSwitch::new(topo, i, o, now))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Fabric {
            topo: topo.clone(),
            switches,
            now,
            start: now,
            cut: vec![false; topo.links.len()],
            carried: vec![[0; KINDS]; topo.links.len()],
            lost: 0,
        })
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// One step: every switch runs, then the cables carry what they sent.
    pub fn step(&mut self) {
        self.now += STEP;
        let now = self.now;
        for s in &mut self.switches {
            s.step(now);
        }
        for (l, link) in self.topo.links.iter().enumerate() {
            let (a, b) = (link.a, link.b);
            let (pa, pb) = (usize::from(link.pa), usize::from(link.pb));
            for (from, fp, to, tp) in [(a, pa, b, pb), (b, pb, a, pa)] {
                let out = self.switches[from].ports[fp].egress.clone();
                let into = self.switches[to].ports[tp].ingress.clone();
                while let Some(f) = out.pop() {
                    if self.cut[l] {
                        continue;
                    }
                    self.carried[l][kind(&f)] += 1;
                    if into.push(f).is_err() {
                        self.lost += 1;
                    }
                }
            }
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while self.now < until {
            self.step();
        }
    }

    /// Cuts link `l`: no frame crosses it, and both ends see their link
    /// go down (as a NIC reports a pulled cable).
    pub fn cut_link(&mut self, l: usize) {
        self.cut[l] = true;
        let link = self.topo.links[l];
        self.switches[link.a].up[usize::from(link.pa)].store(false, Ordering::Relaxed);
        self.switches[link.b].up[usize::from(link.pb)].store(false, Ordering::Relaxed);
    }

    /// Makes link `l` lose every frame while both ends still see it up
    /// (a failure only the neighbours' dead interval finds).
    pub fn silence_link(&mut self, l: usize) {
        self.cut[l] = true;
    }

    pub fn totals(&mut self) -> Result<Totals, String> {
        let now = self.now;
        let mut t = Totals::default();
        for s in &mut self.switches {
            let r = s.routing(now)?;
            t.adverts_sent += r.adverts_sent;
            t.adverts_originated += r.adverts_originated;
            t.adverts_retransmitted += r.adverts_retransmitted;
            t.acks_sent += r.acks_sent;
            t.hellos_sent += r.hellos_sent;
            t.spf_runs += r.spf_runs;
            t.spf_nanos += r.spf_nanos_total;
            t.route_changes += r.route_changes;
        }
        Ok(t)
    }

    /// Whether the fabric has converged: every live fabric port's neighbour
    /// full, every switch's database holds every switch reachable with the
    /// same sequence numbers, and every switch routes to every other
    /// reachable switch's prefix.
    pub fn converged(&mut self) -> Result<bool, String> {
        Ok(self.unconverged()?.is_none())
    }

    /// What keeps the fabric from having converged, if anything.
    pub fn unconverged(&mut self) -> Result<Option<String>, String> {
        let now = self.now;
        let mut reference: Option<String> = None;
        let reachable = self.reachable();
        for (i, s) in self.switches.iter_mut().enumerate() {
            let live = self.topo.switches[i]
                .ports
                .iter()
                .filter(|(l, _)| !self.cut[*l])
                .count() as u64;
            let r = s.routing(now)?;
            let full = r.neighbors.get("full").copied().unwrap_or(0);
            if full != live {
                return Ok(Some(format!(
                    "{}: {full} of {live} neighbours full",
                    s.name
                )));
            }
            if r.lsdb_entries != reachable {
                let n = r.lsdb_entries;
                return Ok(Some(format!(
                    "{}: {n} of {reachable} advertisements",
                    s.name
                )));
            }
            match &reference {
                None => reference = Some(r.lsdb_digest.clone()),
                Some(d) if *d != r.lsdb_digest => {
                    return Ok(Some(format!("{}: another database", s.name)))
                }
                Some(_) => {}
            }
            // Every other switch's prefix (and, with directories, their
            // anycast prefix).
            if r.spf_routes + 1 < reachable {
                let n = r.spf_routes;
                return Ok(Some(format!(
                    "{}: {n} SPF routes for {reachable} switches",
                    s.name
                )));
            }
        }
        Ok(None)
    }

    /// Switches reachable from switch 0 over uncut links (the simulated
    /// fabrics stay connected after one cut).
    fn reachable(&self) -> usize {
        let mut seen = vec![false; self.switches.len()];
        let mut stack = vec![0];
        seen[0] = true;
        while let Some(s) = stack.pop() {
            for &(l, far) in &self.topo.switches[s].ports {
                if !self.cut[l] && !seen[far] {
                    seen[far] = true;
                    stack.push(far);
                }
            }
        }
        seen.iter().filter(|s| **s).count()
    }

    /// Steps until [`Fabric::converged`] (checked every `check`), at most
    /// `limit`; the simulated time it took.
    pub fn converge(&mut self, check: Duration, limit: Duration) -> Result<Duration, String> {
        let t0 = self.now;
        loop {
            self.run_for(check);
            let why = self.unconverged()?;
            let Some(why) = why else {
                return Ok(self.now - t0);
            };
            if self.now - t0 > limit {
                return Err(format!(
                    "the fabric did not converge within {} s of simulated time ({why})",
                    limit.as_secs()
                ));
            }
        }
    }

    /// Installed routes per switch (the FIB: SPF routes and the local
    /// prefix).
    pub fn routes(&mut self) -> Result<Vec<usize>, String> {
        let now = self.now;
        self.switches
            .iter_mut()
            .map(|s| {
                Ok(s.ask(now, RoutesQuery)?
                    .iter()
                    .filter(|r| r.installed)
                    .count())
            })
            .collect()
    }

    /// Frames carried since `before` (a copy of [`Fabric::carried`]), by
    /// kind, summed over links, and the busiest link's.
    pub fn carried_since(&self, before: &[[u64; KINDS]]) -> ([u64; KINDS], [u64; KINDS]) {
        let mut sum = [0u64; KINDS];
        let mut max = [0u64; KINDS];
        for (now, then) in self.carried.iter().zip(before) {
            for k in 0..KINDS {
                let d = now[k] - then[k];
                sum[k] += d;
                max[k] = max[k].max(d);
            }
        }
        (sum, max)
    }
}
