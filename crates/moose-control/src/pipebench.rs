//! `moose bench pipeline`: the dataplane pipeline of one role over the
//! in-memory backend, in one thread, for a fixed number of frames — what
//! `valgrind --tool=callgrind` counts instructions of (perf/callgrind.sh
//! runs it twice per role, with N and 2N frames, and divides the
//! difference by N: instructions per packet without the set-up).
//!
//! Roles: `bridge` (p0 → p1, destinations learnt from p1 first), `edge`
//! (hosts on an edge port p0 send to remote MOOSE addresses routed to the
//! fabric port p1: source translated), `fabric` (a neighbour on fabric
//! port p0 sends to this switch's hosts on edge port p1: destination
//! restored), and `io`, the baseline: the same frames moved from p0's
//! ingress ring to p1's egress ring in bursts of 32 with no worker — the
//! backend's rx and tx alone, so that `role − io` is the pipeline beyond
//! rx/tx (the measure). The driver around them is the same for
//! every role: it refills p0's ring from a free list (one 60-byte copy of
//! the flow's template per frame, no allocation in steady state) and
//! drains p1's.
//!
//! The driver checks what it measures: every frame must leave by p1 (a
//! frame that did not is a set-up bug, reported as an error, not a
//! figure).

use std::time::Instant;

use moose_config::Config;
use moose_dataplane::io::{RxQueue, TxQueue};
use moose_dataplane::mem::{Mem, MemPort};
use moose_dataplane::{Pipeline, Worker};
use moose_wire::Mac;
use serde::Serialize;

use crate::hosts::Hosts;
use crate::{Runtime, StaticPorts};

/// The roles measured.
pub const ROLES: [&str; 4] = ["io", "bridge", "edge", "fabric"];

const BURST: usize = 32;
const FRAME: usize = 60;

#[derive(Clone, Debug, Serialize)]
pub struct PipelineReport {
    pub role: String,
    pub flows: usize,
    pub frames: u64,
    /// Frames that left by p1 (must equal `frames`).
    pub forwarded: u64,
    pub seconds: f64,
    /// Wall-clock nanoseconds per frame of the measured loop (natively;
    /// under callgrind meaningless).
    pub ns_per_frame: f64,
}

fn host(i: usize) -> Mac {
    Mac([0x00, 0x16, 0x3e, 0x00, (i >> 8) as u8, i as u8])
}

fn peer(i: usize) -> Mac {
    Mac([0x00, 0x16, 0x3e, 0x01, (i >> 8) as u8, i as u8])
}

fn remote(i: usize) -> Mac {
    Mac([0x02, 0x22, 0x22, 0x00, (i >> 8) as u8, i as u8])
}

/// Host `i`'s MOOSE address (sequential ids from 1, learnt in order).
fn local_moose(i: usize) -> Mac {
    let id = i + 1;
    Mac([
        0x02,
        0x11,
        0x11,
        (id >> 16) as u8,
        (id >> 8) as u8,
        id as u8,
    ])
}

/// An IPv4/UDP frame of 60 bytes.
fn udp(dst: Mac, src: Mac, i: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(FRAME);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&[0x08, 0x00]);
    let ip_src = [10, 0, (i >> 8) as u8, i as u8];
    let ip_dst = [10, 1, (i >> 8) as u8, i as u8];
    let mut ip = vec![0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip.extend_from_slice(&ip_src);
    ip.extend_from_slice(&ip_dst);
    let mut sum: u32 = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x04, 0x00, 0x04, 0x00, 0, 26, 0, 0]);
    f.resize(FRAME, 0);
    f
}

fn config(role: &str, flows: usize, flow_cache: usize) -> Config {
    // The set-up offers every flow's first frame at once: punt buckets
    // large enough for all of them (the measured frames punt nothing).
    let base = format!(
        "[switch]\nname = \"bench\"\n[dataplane]\nidle = \"poll\"\nflow_cache = {flow_cache}\n\
        [punt.host]\nrate_pps = 100000\nburst = 100000\nport_rate_pps = 100000\nport_burst = 100000\n\
        [punt.learn]\nrate_pps = 100000\nburst = 100000\nport_rate_pps = 100000\nport_burst = 100000\n"
    );
    // MOOSE roles: no neighbour to talk to, no directory: the pipeline.
    let quiet = "[routing]\nenabled = false\n[elk]\nenabled = false\n";
    let text = match role {
        "bridge" | "io" => format!(
            "{base}[bridge]\nmax_entries = {}\n[[port]]\nname = \"p0\"\ndevice = \"net_null0\"\n[[port]]\nname = \"p1\"\ndevice = \"net_null1\"\n",
            (4 * flows).max(1024)
        ),
        "edge" => format!(
            "{base}{quiet}[moose]\nprefix = \"02:11:11:00:00:00/24\"\nhost_ids = \"sequential\"\nmax_hosts = {0}\nhost_quota = {0}\n\
             [[port]]\nname = \"p0\"\nrole = \"edge\"\ndevice = \"net_null0\"\n\
             [[port]]\nname = \"p1\"\nrole = \"fabric\"\ndevice = \"net_null1\"\n\
             [[route]]\nprefix = \"02:22:22:00:00:00/24\"\nport = \"p1\"\n",
            flows.max(4096)
        ),
        _ => format!(
            "{base}{quiet}[moose]\nprefix = \"02:11:11:00:00:00/24\"\nhost_ids = \"sequential\"\nmax_hosts = {0}\nhost_quota = {0}\n\
             [[port]]\nname = \"p0\"\nrole = \"fabric\"\ndevice = \"net_null0\"\n\
             [[port]]\nname = \"p1\"\nrole = \"edge\"\ndevice = \"net_null1\"\n\
             [[route]]\nprefix = \"02:22:22:00:00:00/24\"\nport = \"p0\"\n",
            flows.max(4096)
        ),
    };
    Config::from_toml(&text).expect("the bench's own config")
}

struct Bench {
    ports: Vec<MemPort>,
    worker: Worker<Mem>,
    runtime: Runtime<'static, Mem>,
}

impl Bench {
    fn new(cfg: &Config, moose: bool) -> Result<Bench, String> {
        let ports: Vec<MemPort> = (0..2).map(|_| MemPort::new(4 * BURST)).collect();
        let q = moose_dataplane::mem::queues(&ports, 1);
        let pipe = Pipeline::<Mem>::build(cfg, q.rx, q.tx, q.pools).map_err(|e| e.to_string())?;
        let mut runtime = Runtime::new(pipe.control, Box::new(StaticPorts { tx_max: 1514 }));
        runtime.set_config(cfg.clone());
        // The services the appliance runs for these tables (src/app.rs).
        runtime.add(Box::new(crate::bridge::Bridge::from_config(cfg)));
        runtime.add(Box::new(crate::reserved::Reserved::from_config(cfg)));
        if moose {
            let hosts = Hosts::from_config(cfg)
                .map_err(|e| e.to_string())?
                .ok_or("no [moose]")?;
            runtime.add(Box::new(hosts));
        }
        if let Some(r) = crate::routing::Routing::from_config(cfg, Mac([0x52, 0x54, 0, 0, 0, 1])) {
            runtime.add(Box::new(r));
        }
        runtime.start(Instant::now());
        let worker = pipe.workers.into_iter().next().ok_or("no worker")?;
        Ok(Bench {
            ports,
            worker,
            runtime,
        })
    }

    /// Offers `frames` on `port` (a few at a time) and lets the worker and
    /// the control thread settle: learning, host allocation, publishing.
    fn settle(&mut self, port: usize, frames: &[Vec<u8>]) {
        for chunk in frames.chunks(BURST) {
            for f in chunk {
                let _ = self.ports[port].inject(f.clone());
            }
            for _ in 0..4 {
                let now = Instant::now();
                while self.worker.poll_once(now) > 0 {}
                self.runtime.turn(now);
            }
        }
        for _ in 0..8 {
            let now = Instant::now();
            while self.worker.poll_once(now) > 0 {}
            self.runtime.turn(now);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        for p in &self.ports {
            p.drain();
        }
    }
}

/// Runs `role` over `flows` flows for `frames` frames.
pub fn run(role: &str, flows: usize, frames: u64) -> Result<PipelineReport, String> {
    run_with(role, flows, frames, moose_dataplane::classify::FLOW_CACHE)
}

/// [`run`] with `[dataplane] flow_cache = flow_cache`.
pub fn run_with(
    role: &str,
    flows: usize,
    frames: u64,
    flow_cache: usize,
) -> Result<PipelineReport, String> {
    if !ROLES.contains(&role) {
        return Err(format!("role {role:?}: one of {}", ROLES.join(", ")));
    }
    // The set-up offers every flow's first frame in one go; beyond this
    // the punt path of a single-threaded run loses some (not measured
    // here: perf/compare.sh is for the big tables).
    if !(1..=16_384).contains(&flows) {
        return Err(format!("flows {flows}: 1 to 16384"));
    }
    let cfg = config(role, flows, flow_cache);
    let templates: Vec<Vec<u8>> = (0..flows)
        .map(|i| match role {
            "bridge" | "io" => udp(peer(i), host(i), i),
            "edge" => udp(remote(i), host(i), i),
            _ => udp(local_moose(i), remote(i), i),
        })
        .collect();
    let mut b = Bench::new(&cfg, matches!(role, "edge" | "fabric"))?;
    match role {
        // Destinations learnt on p1, then the sources on p0 (an unknown
        // source is never remembered by the flow cache).
        "bridge" => {
            let back: Vec<Vec<u8>> = (0..flows).map(|i| udp(host(i), peer(i), i)).collect();
            b.settle(1, &back);
            b.settle(0, &templates);
        }
        // The hosts allocated (in order: ids 1..).
        "edge" => b.settle(0, &templates),
        "fabric" => {
            let from_hosts: Vec<Vec<u8>> = (0..flows).map(|i| udp(remote(i), host(i), i)).collect();
            b.settle(1, &from_hosts);
        }
        _ => {}
    }
    let mut io = (role == "io").then(|| (b.ports[0].rx(), b.ports[1].tx()));
    let mut free: Vec<Vec<u8>> = (0..4 * BURST).map(|_| vec![0u8; FRAME]).collect();
    let mut burst: Vec<Vec<u8>> = Vec::with_capacity(BURST);
    let (mut sent, mut forwarded, mut next, mut idle) = (0u64, 0u64, 0usize, 0u32);
    let t0 = Instant::now();
    while forwarded < frames {
        // Refill p0's ring from the free list.
        while sent < frames {
            let Some(mut f) = free.pop() else { break };
            f.clear();
            f.extend_from_slice(&templates[next]);
            next = if next + 1 == flows { 0 } else { next + 1 };
            if let Err(f) = b.ports[0].ingress.push(f) {
                free.push(f);
                break;
            }
            sent += 1;
        }
        let moved = match &mut io {
            Some((rx, tx)) => {
                let n = rx.rx_burst(&mut burst, BURST);
                tx.tx_burst(&mut burst);
                n
            }
            None => b.worker.poll_once(Instant::now()),
        };
        let before = forwarded;
        while let Some(f) = b.ports[1].egress.pop() {
            forwarded += 1;
            free.push(f);
        }
        // Nothing moves any more: frames were dropped or punted (and so
        // never came back to the free list).
        idle = if moved == 0 && forwarded == before {
            idle + 1
        } else {
            0
        };
        if idle > 1000 {
            break;
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    if forwarded != frames {
        return Err(format!(
            "{role}: {forwarded} of {frames} frames left by p1 (the set-up is wrong)"
        ));
    }
    Ok(PipelineReport {
        role: role.to_string(),
        flows,
        frames,
        forwarded,
        seconds,
        ns_per_frame: seconds * 1e9 / frames as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_forwards_every_frame() {
        for role in ROLES {
            for flows in [1, 64] {
                let r = run(role, flows, 5_000).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(r.forwarded, 5_000, "{role}");
            }
        }
        assert!(run("nope", 1, 1).is_err());
        assert!(run("edge", 0, 1).is_err());
    }
}
