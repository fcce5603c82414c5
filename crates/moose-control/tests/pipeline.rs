//! The whole pipeline — workers, the control runtime with the bridge and
//! reserved services — over the in-memory backend, stepped by hand:
//! `worker.poll_once(t)` and `runtime.turn(t)` at chosen times, so every
//! test is deterministic (no sleeps, no threads) and can fill a punt ring,
//! empty the pool or overflow a tx queue on purpose and see the right
//! counter move. One test also runs everything on threads.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use moose_config::Config;
use moose_control::bridge::api::{BridgeStats, FdbPage, FdbQuery, StatsQuery};
use moose_control::bridge::Bridge;
use moose_control::ports::{PortDriver, PortQueues, PortState};
use moose_control::reserved::api::{ReservedStats, StatsQuery as ReservedQuery};
use moose_control::reserved::Reserved;
use moose_control::runtime::calls;
use moose_control::{ControlHandle, Runtime, StaticPorts};
use moose_dataplane::mem::{Mem, MemPool, MemPort};
use moose_dataplane::{
    DropReason, Pipeline, PortCounter, PortId, PortTotals, PuntClass, PuntCounter, Worker,
    WorkerCounter, WorkerStats,
};
use moose_wire::ethernet::emit;
use moose_wire::{EtherType, Mac, VlanTag};

fn config(workers: usize, extra: &str, ports_extra: &[&str]) -> Config {
    let mut t = format!(
        "[switch]\nname=\"t\"\n[dataplane]\nworkers={workers}\nidle=\"backoff\"\nbackoff_polls=4\nbackoff_sleep_us=50\n{extra}\n"
    );
    for i in 0..3 {
        t += &format!("[[port]]\nname=\"p{i}\"\ndevice=\"net_null{i}\"\n");
        if i == 1 {
            t += "learn_limit = 2\n";
        }
        if i == 2 {
            t += "vlans=[1,10]\n";
        }
        if let Some(x) = ports_extra.get(i) {
            t += x;
            t += "\n";
        }
    }
    t += "[[static_fdb]]\nmac=\"02:00:00:00:00:99\"\nport=\"p1\"\n";
    Config::from_toml(&t).unwrap()
}

fn frame(dst: Mac, src: Mac, vid: Option<u16>) -> Vec<u8> {
    let mut v = Vec::new();
    emit(
        &mut v,
        dst,
        src,
        vid.map(|vid| VlanTag {
            vid,
            pcp: 0,
            dei: false,
        }),
        EtherType::Ipv4,
        &[7u8; 46],
    );
    v
}

fn mac(n: u8) -> Mac {
    Mac([2, 0, 0, 0, 0, n])
}

fn lldp(src: Mac) -> Vec<u8> {
    frame(Mac([0x01, 0x80, 0xc2, 0, 0, 0x0e]), src, None)
}

/// A pipeline on three in-memory ports, stepped by hand.
struct Rig {
    ports: Vec<MemPort>,
    workers: Vec<Worker<Mem>>,
    runtime: Runtime<'static, Mem>,
    handle: ControlHandle,
    stats: Vec<std::sync::Arc<WorkerStats>>,
    now: Instant,
}

struct Opts {
    workers: usize,
    ring: usize,
    pool_limit: Option<usize>,
    driver: Option<Box<dyn PortDriver<Mem>>>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            workers: 1,
            ring: 1024,
            pool_limit: None,
            driver: None,
        }
    }
}

impl Rig {
    fn new(cfg: Config, o: Opts) -> Rig {
        let ports: Vec<MemPort> = (0..3)
            .map(|_| MemPort::with_capacity(4096, o.ring))
            .collect();
        let w = o.workers;
        let mut rx: Vec<Vec<_>> = (0..w).map(|_| Vec::new()).collect();
        for (i, p) in ports.iter().enumerate() {
            rx[i % w].push((PortId(i as u16), 0u16, p.rx()));
        }
        let tx = (0..w)
            .map(|_| ports.iter().map(|p| p.tx()).collect())
            .collect();
        let pools = (0..=w)
            .map(|_| {
                o.pool_limit
                    .map_or_else(MemPool::default, MemPool::with_limit)
            })
            .collect();
        let pipe = Pipeline::<Mem>::build(&cfg, rx, tx, pools).unwrap();
        let driver = o
            .driver
            .unwrap_or_else(|| Box::new(StaticPorts { tx_max: 1514 }));
        let mut runtime = Runtime::new(pipe.control, driver);
        runtime.set_config(cfg.clone());
        runtime.add(Box::new(Bridge::from_config(&cfg)));
        runtime.add(Box::new(Reserved::from_config(&cfg)));
        let t0 = Instant::now();
        runtime.start(t0);
        let handle = runtime.handle();
        Rig {
            ports,
            workers: pipe.workers,
            runtime,
            handle,
            stats: pipe.stats,
            now: t0,
        }
    }

    fn start(workers: usize) -> Rig {
        Rig::new(
            config(workers, "", &[]),
            Opts {
                workers,
                ..Opts::default()
            },
        )
    }

    /// Advances the clock by `ms`, lets every worker poll until its queues
    /// are empty, then the runtime turn (and publish), then the workers
    /// once more.
    fn step(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.poll_workers();
        self.runtime.turn(self.now);
        self.runtime.publish(self.now);
        self.poll_workers();
    }

    fn poll_workers(&mut self) {
        for w in &mut self.workers {
            let mut rounds = 0;
            while w.poll_once(self.now) > 0 {
                rounds += 1;
                assert!(rounds < 10_000, "worker never idles");
            }
        }
    }

    fn send(&mut self, port: usize, f: Vec<u8>) {
        assert!(self.ports[port].inject(f), "ingress ring full");
    }

    fn out(&self, port: usize) -> Vec<Vec<u8>> {
        self.ports[port].drain()
    }

    fn call<C: moose_control::Call>(&mut self, c: C) -> C::Reply {
        // The answer comes on the runtime's next turn.
        let h = self.handle.clone();
        let t = std::thread::spawn(move || h.call_blocking(c, Duration::from_secs(5)));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !t.is_finished() && Instant::now() < deadline {
            self.runtime.turn(self.now);
            std::thread::sleep(Duration::from_micros(200));
        }
        t.join().unwrap().expect("answer")
    }

    fn fdb(&mut self) -> Vec<(u16, String, String)> {
        let page: FdbPage = self.call(FdbQuery {
            limit: 10_000,
            after: None,
        });
        page.entries
            .into_iter()
            .map(|r| (r.vlan, r.mac.to_string(), r.port))
            .collect()
    }

    fn bridge(&mut self) -> BridgeStats {
        self.call(StatsQuery)
    }

    fn totals(&self, port: u16) -> PortTotals {
        PortTotals::sum(&self.stats, port)
    }

    fn punt(&self, class: PuntClass, c: PuntCounter) -> u64 {
        self.stats.iter().map(|s| s.punt(class, c)).sum()
    }
}

fn entry(vlan: u16, m: Mac, port: &str) -> (u16, String, String) {
    (vlan, m.to_string(), port.to_string())
}

fn learning_and_flooding(workers: usize) {
    let mut rig = Rig::start(workers);
    // Unknown destination: flooded to both other ports, source learned.
    rig.send(0, frame(mac(2), mac(1), None));
    rig.step(1);
    assert_eq!(rig.out(1), vec![frame(mac(2), mac(1), None)]);
    assert_eq!(rig.out(2).len(), 1);
    let f = rig.fdb();
    assert!(f.contains(&entry(1, mac(1), "p0")), "{f:?}");
    assert!(
        f.contains(&entry(1, "02:00:00:00:00:99".parse().unwrap(), "p1")),
        "static: {f:?}"
    );
    // The reply goes only to port 0 now.
    rig.send(2, frame(mac(1), mac(2), None));
    rig.step(1);
    assert_eq!(rig.out(0), vec![frame(mac(1), mac(2), None)]);
    assert!(rig.out(1).is_empty());
    // And back: unicast to port 2 only.
    rig.send(0, frame(mac(2), mac(1), None));
    rig.step(1);
    assert_eq!(rig.out(2).len(), 1);
    assert!(rig.out(1).is_empty());
    // A move: mac(1) appears on port 1.
    rig.send(1, frame(Mac::BROADCAST, mac(1), None));
    rig.step(1);
    assert!(rig.fdb().contains(&entry(1, mac(1), "p1")));
    let t = rig.totals(0);
    assert_eq!(t.get(PortCounter::RxPackets), 2);
    assert_eq!(t.get(PortCounter::RxUnknownUnicast), 1);
    assert_eq!(rig.bridge().counters.moved, 1);
}

#[test]
fn learning_bridge_one_worker() {
    learning_and_flooding(1);
}

#[test]
fn learning_bridge_two_workers() {
    learning_and_flooding(2);
}

#[test]
fn vlan_separation() {
    let mut rig = Rig::start(1);
    // Port 2 carries only VLANs 1 and 10.
    rig.send(0, frame(Mac::BROADCAST, mac(1), Some(20)));
    rig.step(1);
    assert_eq!(rig.out(1).len(), 1);
    assert!(rig.out(2).is_empty(), "VLAN 20 must not reach port 2");
    rig.send(2, frame(Mac::BROADCAST, mac(3), Some(20)));
    rig.step(1);
    assert!(rig.out(0).is_empty());
    assert_eq!(rig.totals(2).dropped(DropReason::VlanIngress), 1);
    // mac(1) learned on VLAN 20 does not direct VLAN 10 traffic.
    rig.send(2, frame(mac(1), mac(4), Some(10)));
    rig.step(1);
    assert_eq!(rig.out(0).len(), 1);
    assert_eq!(rig.out(1).len(), 1, "unknown on VLAN 10: flooded");
}

#[test]
fn bad_frames_are_counted_and_forwarding_goes_on() {
    let mut rig = Rig::start(1);
    let good = frame(mac(2), mac(1), None);
    rig.send(0, good[..10].to_vec());
    rig.send(0, frame(mac(2), mac(1), Some(10))[..16].to_vec());
    rig.send(0, vec![2u8; 3000]);
    rig.send(0, frame(mac(2), Mac::BROADCAST, None));
    rig.send(0, frame(mac(2), Mac::ZERO, None));
    rig.send(0, frame(Mac([0x01, 0x80, 0xc2, 0, 0, 0]), mac(1), None));
    rig.send(0, good.clone());
    rig.step(1);
    assert_eq!(rig.out(1), vec![good.clone()]);
    let t = rig.totals(0);
    assert_eq!(t.get(PortCounter::RxPackets), 7);
    for r in [
        DropReason::TooShort,
        DropReason::TruncatedVlan,
        DropReason::Oversize,
        DropReason::SrcMulticast,
        DropReason::SrcZero,
    ] {
        assert_eq!(t.dropped(r), 1, "{r:?}");
    }
    assert_eq!(t.get(PortCounter::RxPunted), 1);
    let s: ReservedStats = rig.call(ReservedQuery);
    assert_eq!(s.frames.get("stp"), Some(&1));
    assert_eq!(s.by_port.get("p0"), Some(&1));
    assert!(
        !rig.fdb().iter().any(|e| e.1 == "00:00:00:00:00:00"),
        "the zero MAC is never learned"
    );
}

#[test]
fn control_thread_transmits_through_a_worker() {
    let mut rig = Rig::start(2);
    let f = frame(mac(7), mac(8), None);
    for port in 0..3u16 {
        let sent = rig.call(calls::Send {
            port: PortId(port),
            frame: f.clone(),
        });
        assert!(sent);
    }
    // No such port: refused, counted.
    assert!(!rig.call(calls::Send {
        port: PortId(9),
        frame: f.clone(),
    }));
    rig.step(1);
    for port in 0..3 {
        assert_eq!(rig.out(port), vec![f.clone()]);
    }
    let s = rig.call(calls::Status);
    assert_eq!((s.sent_frames, s.send_failures), (3, 1));
}

#[test]
fn aging_removes_silent_hosts() {
    let mut rig = Rig::new(config(1, "[bridge]\naging_secs = 10", &[]), Opts::default());
    rig.send(0, frame(Mac::BROADCAST, mac(1), None));
    rig.step(1);
    assert!(rig.fdb().contains(&entry(1, mac(1), "p0")));
    // Refreshed while it keeps talking (refresh interval: 2.5 s)...
    for _ in 0..8 {
        rig.send(0, frame(Mac::BROADCAST, mac(1), None));
        rig.step(3000);
    }
    assert!(
        rig.fdb().contains(&entry(1, mac(1), "p0")),
        "a talking host stays"
    );
    // ...and gone after the aging time once silent.
    rig.step(11_000);
    rig.step(1000);
    let f = rig.fdb();
    assert!(!f.iter().any(|e| e.1 == mac(1).to_string()), "{f:?}");
    assert!(
        f.iter().any(|e| e.1 == "02:00:00:00:00:99"),
        "static entries stay"
    );
    assert_eq!(rig.bridge().counters.aged, 1);
}

#[test]
fn learn_limit_caps_a_port() {
    let mut rig = Rig::start(1);
    // p1 may learn two addresses; a third is refused but still forwarded.
    for n in 10..13 {
        rig.send(1, frame(Mac::BROADCAST, mac(n), None));
    }
    rig.step(1);
    assert_eq!(rig.out(0).len(), 3);
    let on_p1 = rig
        .fdb()
        .into_iter()
        .filter(|e| e.2 == "p1" && e.1 != "02:00:00:00:00:99")
        .count();
    assert_eq!(on_p1, 2);
    assert_eq!(rig.bridge().counters.limit_refused, 1);
}

#[test]
fn the_fdb_has_a_global_bound() {
    let mut rig = Rig::new(config(1, "[bridge]\nmax_entries = 5", &[]), Opts::default());
    for n in 1..=20 {
        rig.send(0, frame(Mac::BROADCAST, mac(n), None));
    }
    rig.step(1);
    assert_eq!(rig.out(1).len(), 20, "unlearned sources still forward");
    let s = rig.bridge();
    assert_eq!(s.entries, 5, "{s:?}");
    assert_eq!(
        s.counters.table_full, 16,
        "1 static + 4 learned, 16 refused"
    );
}

/// A full punt ring refuses frames and learn requests, counted by class;
/// forwarding goes on.
#[test]
fn a_full_punt_ring_is_counted() {
    let mut rig = Rig::new(config(1, "punt_ring = 64", &[]), Opts::default());
    // 200 BPDUs from p0 in one millisecond, and no runtime turn.
    for _ in 0..200 {
        rig.send(0, frame(Mac([0x01, 0x80, 0xc2, 0, 0, 0]), mac(1), None));
    }
    rig.poll_workers();
    let t = rig.totals(0);
    let sent = rig.punt(PuntClass::Reserved, PuntCounter::Sent);
    let refused_rate = rig.punt(PuntClass::Reserved, PuntCounter::PortRate)
        + rig.punt(PuntClass::Reserved, PuntCounter::ClassRate);
    let refused_ring = rig.punt(PuntClass::Reserved, PuntCounter::RingFull);
    assert_eq!(sent, 50, "p0's reserved bucket holds 50 (port_burst)");
    assert_eq!(sent + refused_rate + refused_ring, 200);
    assert_eq!(t.get(PortCounter::RxPunted), sent);
    assert_eq!(
        t.dropped(DropReason::PuntRateLimited) + t.dropped(DropReason::PuntRingFull),
        150
    );

    // Now a ring smaller than the bucket: the ring refuses.
    let mut rig = Rig::new(
        config(
            1,
            "punt_ring = 64\n[punt.reserved]\nrate_pps = 100000\nburst = 1000\nport_rate_pps = 100000\nport_burst = 1000",
            &[],
        ),
        Opts::default(),
    );
    for _ in 0..200 {
        rig.send(0, lldp(mac(1)));
    }
    rig.poll_workers();
    assert_eq!(rig.punt(PuntClass::Reserved, PuntCounter::Sent), 64);
    assert_eq!(rig.punt(PuntClass::Reserved, PuntCounter::RingFull), 136);
    assert_eq!(rig.totals(0).dropped(DropReason::PuntRingFull), 136);
    // The runtime drains it; the next frames get through again.
    rig.runtime.turn(rig.now);
    rig.send(0, lldp(mac(1)));
    rig.workers[0].poll_once(rig.now);
    assert_eq!(rig.punt(PuntClass::Reserved, PuntCounter::Sent), 65);
}

/// A flood of LLDP frames and a flood of new source MACs on one port do
/// not starve learning or LLDP on another port: each is limited by its
/// own (port, class) bucket, and refusals are counted by class.
#[test]
fn one_class_or_port_cannot_starve_another() {
    let mut rig = Rig::new(
        config(
            1,
            "[punt.learn]\nrate_pps = 500000\nburst = 4096\nport_rate_pps = 100000\nport_burst = 1024",
            &[],
        ),
        Opts::default(),
    );
    let mut n = 0u32;
    for round in 0..10u8 {
        // p0: 100 LLDP frames and 1500 new source MACs per millisecond.
        for _ in 0..100 {
            rig.send(0, lldp(mac(1)));
        }
        for _ in 0..1500 {
            n += 1;
            let src = Mac([2, 1, (n >> 16) as u8, (n >> 8) as u8, n as u8, 0]);
            rig.send(0, frame(Mac::BROADCAST, src, None));
        }
        // p2: one new host and one LLDP frame.
        rig.send(2, frame(Mac::BROADCAST, mac(100 + round), None));
        rig.send(2, lldp(mac(100 + round)));
        rig.step(1);
        for p in 0..3 {
            rig.out(p);
        }
    }
    rig.step(1);
    let f = rig.fdb();
    for round in 0..10u8 {
        assert!(
            f.contains(&entry(1, mac(100 + round), "p2")),
            "p2's host {round} is learned"
        );
    }
    let s: ReservedStats = rig.call(ReservedQuery);
    assert_eq!(
        s.by_port.get("p2"),
        Some(&10),
        "every LLDP frame of p2 reached the control thread"
    );
    let p0_lldp = s.by_port["p0"];
    assert!(
        p0_lldp < 200,
        "p0's LLDP flood was limited: {p0_lldp} of 1000"
    );
    assert_eq!(
        rig.punt(PuntClass::Reserved, PuntCounter::Sent),
        p0_lldp + 10,
        "what was sent is what arrived"
    );
    assert!(rig.punt(PuntClass::Reserved, PuntCounter::PortRate) >= 1000 - p0_lldp);
    let learned = rig.bridge().counters.learned;
    let refused = rig.punt(PuntClass::Learn, PuntCounter::PortRate);
    assert!(
        refused > 10_000,
        "p0's new sources were limited: {refused} refused, {learned} learned"
    );
    assert_eq!(rig.punt(PuntClass::Learn, PuntCounter::RingFull), 0);
}

/// Floods copy what the pool allows; the rest is counted as no_buffer.
#[test]
fn an_empty_pool_is_counted() {
    let mut rig = Rig::new(
        config(1, "", &[]),
        Opts {
            pool_limit: Some(3),
            ..Opts::default()
        },
    );
    // Broadcasts to two other ports need one copy each.
    for n in 1..=5 {
        rig.send(0, frame(Mac::BROADCAST, mac(n), None));
    }
    rig.step(1);
    let (o1, o2) = (rig.out(1).len(), rig.out(2).len());
    assert_eq!(o1 + o2, 5 + 3, "5 originals and 3 copies");
    assert_eq!(rig.totals(0).dropped(DropReason::NoBuffer), 2);
}

/// A tx queue that refuses frames: counted as tx_full on the egress port.
#[test]
fn a_full_tx_queue_is_counted() {
    let mut rig = Rig::new(
        config(1, "", &[]),
        Opts {
            ring: 40,
            ..Opts::default()
        },
    );
    // Learn mac(2) on p1 first.
    rig.send(1, frame(Mac::BROADCAST, mac(2), None));
    rig.step(1);
    rig.out(0);
    rig.out(2);
    for _ in 0..80 {
        rig.send(0, frame(mac(2), mac(1), None));
    }
    rig.poll_workers();
    let p1 = rig.totals(1);
    assert_eq!(p1.get(PortCounter::TxPackets), 40, "the ring holds 40");
    assert_eq!(p1.dropped(DropReason::TxFull), 40);
    assert_eq!(rig.out(1).len(), 40);
}

/// Injected frames: one for a port that does not exist is counted; a big
/// inject burst is sent or counted, never lost.
#[test]
fn injected_frames_are_accounted_for() {
    let mut rig = Rig::new(
        config(1, "", &[]),
        Opts {
            ring: 100,
            ..Opts::default()
        },
    );
    let f = frame(mac(7), mac(8), None);
    for _ in 0..300 {
        assert!(rig.call(calls::Send {
            port: PortId(1),
            frame: f.clone()
        }));
    }
    rig.poll_workers();
    let p1 = rig.totals(1);
    let injected = rig.stats[0].worker(WorkerCounter::Injected);
    assert_eq!(injected, 300);
    assert_eq!(p1.get(PortCounter::TxPackets), 100);
    assert_eq!(p1.dropped(DropReason::TxFull), 200);
    assert_eq!(rig.out(1).len(), 100);
}

/// Link state: a port that goes down gets nothing (floods skip it, its
/// FDB entries are flushed, unicast to a static entry on it is dropped as
/// link_down), and works again once up.
#[test]
fn link_down_and_up() {
    use std::sync::{Arc, Mutex};
    struct Links(Arc<Mutex<[bool; 3]>>);
    impl PortDriver<Mem> for Links {
        fn state(&mut self, port: PortId) -> PortState {
            PortState {
                up: self.0.lock().unwrap()[port.index()],
                tx_max: 1514,
                needs_reattach: false,
            }
        }
        fn reattach(
            &mut self,
            _: PortId,
            q: Option<PortQueues<Mem>>,
        ) -> Result<PortQueues<Mem>, String> {
            q.ok_or_else(|| "none".into())
        }
    }
    let up = Arc::new(Mutex::new([true; 3]));
    let mut rig = Rig::new(
        config(1, "", &[]),
        Opts {
            driver: Some(Box::new(Links(up.clone()))),
            ..Opts::default()
        },
    );
    rig.send(1, frame(Mac::BROADCAST, mac(2), None));
    rig.step(1);
    rig.out(0);
    rig.out(2);
    assert!(rig.fdb().contains(&entry(1, mac(2), "p1")));
    up.lock().unwrap()[1] = false;
    rig.step(200);
    assert!(
        !rig.fdb().contains(&entry(1, mac(2), "p1")),
        "flushed on link down"
    );
    // Unknown now: flooded, but not to the down port.
    rig.send(0, frame(mac(2), mac(1), None));
    // The static entry 02:00:00:00:00:99 is on p1: dropped, counted.
    rig.send(0, frame("02:00:00:00:00:99".parse().unwrap(), mac(1), None));
    rig.step(1);
    assert!(rig.out(1).is_empty(), "nothing goes out of a down port");
    assert_eq!(rig.out(2).len(), 1);
    assert_eq!(rig.totals(1).dropped(DropReason::LinkDown), 1);
    let links = rig.call(calls::Links);
    assert!(!links[1].up && links[0].up);
    up.lock().unwrap()[1] = true;
    rig.step(200);
    rig.send(0, frame("02:00:00:00:00:99".parse().unwrap(), mac(1), None));
    rig.step(1);
    assert_eq!(rig.out(1).len(), 1, "up again");
    assert_eq!(rig.call(calls::Status).link_changes, 2);

    // Down again; it comes up and a new host talks on it at once, well
    // within one link poll: the frame it punts tells the runtime, and the
    // answer to it is not dropped as `link_down`.
    up.lock().unwrap()[1] = false;
    rig.step(200);
    assert!(!rig.call(calls::Links)[1].up);
    up.lock().unwrap()[1] = true;
    rig.step(1);
    rig.send(1, frame(mac(1), mac(7), None));
    rig.step(1);
    rig.send(0, frame(mac(7), mac(1), None));
    rig.step(1);
    let drops = rig.totals(1).dropped(DropReason::LinkDown);
    assert_eq!(
        rig.out(1).len(),
        1,
        "the answer goes out ({drops} link_down drops)"
    );
    assert_eq!(drops, 1, "only the frame sent while it was down");
    assert_eq!(rig.call(calls::Status).link_changes, 4);
}

/// A port whose device must be re-attached: the workers hand its queues
/// back, the driver re-attaches it, the workers get fresh ones and
/// traffic flows again.
#[test]
fn reattach_hands_queues_round_trip() {
    use std::sync::{Arc, Mutex};
    struct Replug {
        need: Arc<Mutex<bool>>,
        calls: Arc<Mutex<Vec<(usize, usize)>>>,
    }
    impl PortDriver<Mem> for Replug {
        fn state(&mut self, port: PortId) -> PortState {
            PortState {
                up: true,
                tx_max: 1514,
                needs_reattach: port == PortId(1) && *self.need.lock().unwrap(),
            }
        }
        fn reattach(
            &mut self,
            _: PortId,
            q: Option<PortQueues<Mem>>,
        ) -> Result<PortQueues<Mem>, String> {
            let q = q.ok_or("no queues")?;
            self.calls.lock().unwrap().push((q.rx.len(), q.tx.len()));
            *self.need.lock().unwrap() = false;
            Ok(q)
        }
    }
    let need = Arc::new(Mutex::new(false));
    let calls_made = Arc::new(Mutex::new(Vec::new()));
    let mut rig = Rig::new(
        config(2, "", &[]),
        Opts {
            workers: 2,
            driver: Some(Box::new(Replug {
                need: need.clone(),
                calls: calls_made.clone(),
            })),
            ..Opts::default()
        },
    );
    *need.lock().unwrap() = true;
    rig.step(200);
    rig.send(1, frame(Mac::BROADCAST, mac(5), None));
    rig.send(0, frame(Mac::BROADCAST, mac(6), None));
    rig.step(1);
    rig.step(1);
    rig.step(200);
    assert_eq!(
        *calls_made.lock().unwrap(),
        vec![(1, 2)],
        "one rx queue, a tx queue from each worker"
    );
    assert_eq!(rig.call(calls::Status).reattaches, 1);
    // Frames queued on p1's rx while it was parked come through now, and
    // p1 receives again.
    rig.send(0, frame(Mac::BROADCAST, mac(6), None));
    rig.step(1);
    assert!(!rig.out(1).is_empty(), "p1 transmits again");
    assert!(
        rig.fdb().contains(&entry(1, mac(5), "p1")),
        "p1 receives again"
    );
}

/// The same pipeline on real threads, as `moose run` runs it.
#[test]
fn on_threads() {
    let cfg = config(2, "", &[]);
    let ports: Vec<MemPort> = (0..3).map(|_| MemPort::new(1024)).collect();
    let q = moose_dataplane::mem::queues(&ports, 2);
    let pipe = Pipeline::<Mem>::build(&cfg, q.rx, q.tx, q.pools).unwrap();
    let quit = pipe.quit.clone();
    let mut runtime = Runtime::new(pipe.control, Box::new(StaticPorts { tx_max: 1514 }));
    runtime.add(Box::new(Bridge::from_config(&cfg)));
    runtime.add(Box::new(Reserved::from_config(&cfg)));
    runtime.start(Instant::now());
    let handle = runtime.handle();
    std::thread::scope(|s| {
        for mut w in pipe.workers {
            s.spawn(move || w.run());
        }
        s.spawn(move || runtime.run());
        ports[0].inject(frame(mac(2), mac(1), None));
        let t = Instant::now();
        loop {
            let page = handle
                .call_blocking(
                    FdbQuery {
                        limit: 100,
                        after: None,
                    },
                    Duration::from_secs(2),
                )
                .unwrap();
            if page.entries.iter().any(|r| r.mac == mac(1)) {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(5), "not learned");
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(5));
        ports[2].inject(frame(mac(1), mac(2), None));
        let t = Instant::now();
        while ports[0].egress.is_empty() {
            assert!(t.elapsed() < Duration::from_secs(5), "reply not forwarded");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(ports[0].drain(), vec![frame(mac(1), mac(2), None)]);
        quit.store(true, Ordering::Relaxed);
    });
}

/// `cfg` with p2 on VLAN 1 only (instead of 1 and 10).
fn p2_on_vlan_1(mut cfg: Config) -> Config {
    let mut v = moose_config::VlanSet::empty();
    v.insert(1);
    cfg.ports[2].vlans = v;
    cfg
}

/// A reload changes what is live in one publication: a static entry, a
/// port's VLANs (its ingress and the flood sets), a storm-control rate the
/// worker picks up at housekeeping; the runtime's report names each key.
#[test]
fn reload_applies_live_changes() {
    let mut rig = Rig::start(1);
    let b = |src: Mac| frame(Mac::BROADCAST, src, None);
    for _ in 0..5 {
        rig.send(0, b(mac(1)));
    }
    rig.send(2, frame(Mac::BROADCAST, mac(3), Some(10)));
    rig.step(1);
    assert_eq!(
        rig.out(1).len(),
        6,
        "before: no storm limit, VLAN 10 on p2 and p1"
    );
    assert_eq!(rig.out(2).len(), 5);
    assert_eq!(rig.out(0).len(), 1, "p2's VLAN 10 broadcast");

    let new = p2_on_vlan_1(config(
        1,
        "[[static_fdb]]\nmac=\"02:00:00:00:00:77\"\nport=\"p2\"\n",
        &["storm = { broadcast_pps = 10 }"],
    ));
    let report: moose_control::ReloadReport = rig.call(calls::Reload {
        config: Box::new(new),
    });
    assert!(report.refused.is_empty(), "{report:?}");
    assert_eq!(
        report.applied,
        vec![
            "port[0].storm: none -> broadcast 10/s",
            "port[2].vlans: [1, 10] -> [1]",
            "static_fdb: + 02:00:00:00:00:77 vlan 1 on p2",
            "fdb: flushed 1 dynamic entry of ports that no longer carry their VLAN",
        ]
    );
    rig.step(1);
    assert!(rig.fdb().contains(&entry(1, mac(0x77), "p2")));
    // 10/s over one worker: a bucket of one frame.
    for _ in 0..5 {
        rig.send(0, b(mac(1)));
    }
    rig.send(2, frame(Mac::BROADCAST, mac(3), Some(10)));
    rig.send(1, frame(Mac::BROADCAST, mac(4), Some(10)));
    rig.step(1);
    assert_eq!(rig.out(1).len(), 1, "one broadcast of p0's five");
    assert_eq!(
        rig.out(2).len(),
        1,
        "p0's one; p1's VLAN 10 broadcast not to p2"
    );
    assert_eq!(rig.out(0).len(), 1, "p1's VLAN 10 broadcast");
    assert_eq!(rig.totals(0).dropped(DropReason::StormBroadcast), 4);
    assert_eq!(rig.totals(2).dropped(DropReason::VlanIngress), 1);
    let st: moose_control::RuntimeStats = rig.call(calls::Status);
    assert_eq!((st.reloads, st.reloads_refused), (1, 0));
}

/// A reload with a key that cannot change is refused whole: the report
/// names the key, the live change beside it is not made, the running
/// config stays.
#[test]
fn refused_reload_changes_nothing() {
    let mut rig = Rig::start(1);
    let new = config(
        2,
        "[[static_fdb]]\nmac=\"02:00:00:00:00:77\"\nport=\"p2\"\n",
        &[],
    );
    let report: moose_control::ReloadReport = rig.call(calls::Reload {
        config: Box::new(new),
    });
    assert!(report.applied.is_empty(), "{report:?}");
    assert_eq!(
        report.refused,
        vec!["dataplane.workers cannot change while running (restart moose)"]
    );
    rig.step(1);
    assert!(!rig.fdb().iter().any(|e| e.1 == mac(0x77).to_string()));
    let running = rig.call(calls::Running).expect("a running config");
    assert_eq!(running.dataplane.workers, 1);
    assert!(running.static_fdb.iter().all(|s| s.mac != mac(0x77)));
    // The same file again: nothing to do.
    let same: moose_control::ReloadReport = rig.call(calls::Reload {
        config: Box::new(config(1, "", &[])),
    });
    assert_eq!(same, moose_control::ReloadReport::default());
}

/// Static entries through the API: checked as the file's are (each
/// refusal names its field), kept across a reload, removed through the
/// API; the file's own cannot be removed or replaced through it.
#[test]
fn api_static_entries() {
    use moose_control::bridge::api::{AddStatic, RemoveStatic};
    use moose_control::RefusalKind;
    let mut rig = Rig::start(1);
    let add = |mac: &str, vlan: u32, port: &str| AddStatic {
        mac: mac.into(),
        vlan,
        port: port.into(),
    };
    let r = rig.call(add("02:00:00:00:00:55", 10, "p2")).expect("added");
    assert_eq!((r.port.as_str(), r.origin.as_deref()), ("p2", Some("api")));
    for (a, kind, field) in [
        (
            add("02:00:00:00:00", 1, "p2"),
            RefusalKind::Invalid,
            "mac: ",
        ),
        (
            add("01:00:5e:00:00:01", 1, "p2"),
            RefusalKind::Invalid,
            "mac: ",
        ),
        (
            add("02:00:00:00:00:56", 20, "p2"),
            RefusalKind::Invalid,
            "vlan: ",
        ),
        (
            add("02:00:00:00:00:56", 1, "p7"),
            RefusalKind::Invalid,
            "port: ",
        ),
        (
            add("02:00:00:00:00:99", 1, "p2"),
            RefusalKind::Conflict,
            "mac: ",
        ),
    ] {
        let e = rig.call(a).unwrap_err();
        assert_eq!(e.kind, kind, "{e:?}");
        assert!(e.message.starts_with(field), "{e:?}");
    }
    rig.step(1);
    // Known unicast now: to p2 only.
    rig.send(0, frame(mac(0x55), mac(1), Some(10)));
    rig.step(1);
    assert_eq!(rig.out(2).len(), 1);
    assert!(rig.out(1).is_empty());
    // A reload that takes VLAN 10 off p2 drops the API's entry (and says
    // so); one that does not keeps it.
    let keep: moose_control::ReloadReport = rig.call(calls::Reload {
        config: Box::new(config(1, "[bridge]\nmax_entries = 5000\n", &[])),
    });
    assert_eq!(keep.applied, vec!["bridge.max_entries: 262144 -> 5000"]);
    assert!(rig.fdb().contains(&entry(10, mac(0x55), "p2")));
    let rm = |mac: &str, vlan: u32| RemoveStatic {
        mac: mac.into(),
        vlan,
    };
    assert_eq!(
        rig.call(rm("02:00:00:00:00:99", 1)).unwrap_err().kind,
        RefusalKind::Conflict
    );
    assert_eq!(
        rig.call(rm("02:00:00:00:00:55", 1)).unwrap_err().kind,
        RefusalKind::NotFound
    );
    assert!(rig.call(rm("02:00:00:00:00:55", 10)).is_ok());
    assert!(!rig.fdb().contains(&entry(10, mac(0x55), "p2")));
    rig.call(add("02:00:00:00:00:55", 10, "p2"))
        .expect("added again");
    let drop: moose_control::ReloadReport = rig.call(calls::Reload {
        config: Box::new(p2_on_vlan_1(config(
            1,
            "[bridge]\nmax_entries = 5000\n",
            &[],
        ))),
    });
    assert!(
        drop.applied
            .iter()
            .any(|l| l.contains("02:00:00:00:00:55") && l.contains("no longer carries VLAN 10")),
        "{drop:?}"
    );
    assert!(!rig.fdb().contains(&entry(10, mac(0x55), "p2")));
}
