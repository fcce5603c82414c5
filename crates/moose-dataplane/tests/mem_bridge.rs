//! The whole pipeline (workers + slow path on threads) over the in-memory
//! backend: learning, flooding, VLAN separation, bad frames, control frames.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use moose_config::Config;
use moose_dataplane::counters::{DropReason, PortTotals};
use moose_dataplane::mem::{Mem, MemPool, MemPort};
use moose_dataplane::{Control, Pipeline};
use moose_wire::ethernet::emit;
use moose_wire::{EtherType, Mac, VlanTag};

fn config(workers: usize, extra: &str) -> Config {
    let mut t = format!("[switch]\nname=\"t\"\n[dataplane]\nworkers={workers}\nidle=\"backoff\"\nbackoff_polls=4\nbackoff_sleep_us=50\n{extra}\n");
    for i in 0..3 {
        t += &format!("[[port]]\nname=\"p{i}\"\ndevice=\"net_null{i}\"\n");
        if i == 1 {
            t += "learn_limit = 2\n";
        }
    }
    t += "vlans=[1,10]\n";
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

struct Rig {
    ports: Vec<MemPort>,
    control: mpsc::Sender<Control>,
    stats: Vec<std::sync::Arc<moose_dataplane::WorkerStats>>,
    quit: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Rig {
    fn start(workers: usize) -> Rig {
        Rig::with_config(workers, config(workers, ""))
    }

    fn with_config(workers: usize, cfg: Config) -> Rig {
        let ports: Vec<MemPort> = (0..3).map(|_| MemPort::new(1024)).collect();
        let mut rx: Vec<Vec<_>> = (0..workers).map(|_| Vec::new()).collect();
        for (i, p) in ports.iter().enumerate() {
            rx[i % workers].push((i as u16, p.rx()));
        }
        let tx = (0..workers)
            .map(|_| ports.iter().map(|p| p.tx()).collect())
            .collect();
        let pools = (0..=workers).map(|_| MemPool::default()).collect();
        let pipe = Pipeline::<Mem>::build(&cfg, rx, tx, pools);
        let mut threads = Vec::new();
        for mut w in pipe.workers {
            threads.push(std::thread::spawn(move || w.run()));
        }
        let mut slow = pipe.slow;
        threads.push(std::thread::spawn(move || slow.run()));
        Rig {
            ports,
            control: pipe.control,
            stats: pipe.stats,
            quit: pipe.quit,
            threads,
        }
    }

    /// Waits until the frames sent so far have come out (or a timeout).
    fn collect(&self, port: usize, want: usize) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let t = Instant::now();
        while got.len() < want && t.elapsed() < Duration::from_secs(5) {
            got.extend(self.ports[port].drain());
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
        got.extend(self.ports[port].drain());
        got
    }

    fn fdb(&self) -> Vec<(u16, String, u16)> {
        let (tx, rx) = mpsc::channel();
        self.control.send(Control::FdbDump(tx)).unwrap();
        rx.recv_timeout(Duration::from_secs(2))
            .unwrap()
            .into_iter()
            .map(|r| (r.vlan, r.mac, r.port))
            .collect()
    }

    fn wait_fdb(&self, n: usize) -> Vec<(u16, String, u16)> {
        let t = Instant::now();
        loop {
            let f = self.fdb();
            if f.len() >= n || t.elapsed() > Duration::from_secs(5) {
                // let the publication reach the workers
                std::thread::sleep(Duration::from_millis(5));
                return f;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn totals(&self, port: u16) -> PortTotals {
        std::thread::sleep(Duration::from_millis(30));
        PortTotals::sum(&self.stats, port)
    }

    fn stop(self) {
        self.quit.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
    }
}

fn learning_and_flooding(workers: usize) {
    let rig = Rig::start(workers);
    // unknown destination: flooded to both other ports
    rig.ports[0].inject(frame(mac(2), mac(1), None));
    assert_eq!(rig.collect(1, 1), vec![frame(mac(2), mac(1), None)]);
    assert_eq!(rig.collect(2, 1).len(), 1);
    assert!(rig.wait_fdb(2).contains(&(1, mac(1).to_string(), 0)));
    // reply: goes only to port 0 now that mac(1) is learned
    rig.ports[2].inject(frame(mac(1), mac(2), None));
    assert_eq!(rig.collect(0, 1), vec![frame(mac(1), mac(2), None)]);
    assert!(rig.collect(1, 0).is_empty());
    let f = rig.wait_fdb(3);
    assert!(f.contains(&(1, mac(2).to_string(), 2)), "{f:?}");
    assert!(
        f.contains(&(1, "02:00:00:00:00:99".to_string(), 1)),
        "static entry: {f:?}"
    );
    // and back: unicast to port 2 only
    rig.ports[0].inject(frame(mac(2), mac(1), None));
    assert_eq!(rig.collect(2, 1).len(), 1);
    assert!(rig.collect(1, 0).is_empty());
    // a move: mac(1) appears on port 1
    rig.ports[1].inject(frame(Mac::BROADCAST, mac(1), None));
    rig.collect(0, 1);
    rig.collect(2, 1);
    let t = Instant::now();
    while !rig.fdb().contains(&(1, mac(1).to_string(), 1)) {
        assert!(t.elapsed() < Duration::from_secs(5), "move not learned");
        std::thread::sleep(Duration::from_millis(2));
    }
    rig.stop();
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
    let rig = Rig::start(1);
    // port 2 carries only VLANs 1 and 10
    rig.ports[0].inject(frame(Mac::BROADCAST, mac(1), Some(20)));
    assert_eq!(rig.collect(1, 1).len(), 1);
    assert!(
        rig.collect(2, 0).is_empty(),
        "VLAN 20 must not reach port 2"
    );
    rig.ports[2].inject(frame(Mac::BROADCAST, mac(3), Some(20)));
    assert!(rig.collect(0, 0).is_empty());
    assert_eq!(rig.totals(2).drops["vlan_not_allowed"], 1);
    // mac(1) learned on VLAN 20 does not direct VLAN 10 traffic
    rig.wait_fdb(2);
    rig.ports[2].inject(frame(mac(1), mac(4), Some(10)));
    assert_eq!(rig.collect(0, 1).len(), 1);
    assert_eq!(rig.collect(1, 1).len(), 1, "unknown on VLAN 10: flooded");
    rig.stop();
}

#[test]
fn bad_frames_are_counted_and_forwarding_goes_on() {
    let rig = Rig::start(1);
    let good = frame(mac(2), mac(1), None);
    rig.ports[0].inject(good[..10].to_vec());
    rig.ports[0].inject(frame(mac(2), mac(1), Some(10))[..16].to_vec());
    rig.ports[0].inject(vec![2u8; 3000]);
    rig.ports[0].inject(frame(mac(2), Mac::BROADCAST, None));
    rig.ports[0].inject(frame(Mac([0x01, 0x80, 0xc2, 0, 0, 0]), mac(1), None));
    rig.ports[0].inject(good.clone());
    assert_eq!(rig.collect(1, 1), vec![good.clone()]);
    let t = rig.totals(0);
    assert_eq!(t.rx_packets, 6);
    assert_eq!(t.drops["too_short"], 1);
    assert_eq!(t.drops["truncated_vlan"], 1);
    assert_eq!(t.drops["oversize"], 1);
    assert_eq!(t.drops["src_multicast"], 1);
    assert_eq!(t.rx_punted, 1);
    let (tx, rx) = mpsc::channel();
    rig.control.send(Control::Stats(tx)).unwrap();
    let s = rx.recv_timeout(Duration::from_secs(2)).unwrap();
    assert_eq!(s.control_frames.get("stp"), Some(&1));
    let _ = DropReason::ALL;
    rig.stop();
}

#[test]
fn slow_path_transmits_through_a_worker() {
    let rig = Rig::start(2);
    let f = frame(mac(7), mac(8), None);
    for port in 0..3u16 {
        let (tx, rx) = mpsc::channel();
        rig.control
            .send(Control::Send(port, f.clone(), tx))
            .unwrap();
        assert!(rx.recv_timeout(Duration::from_secs(2)).unwrap());
    }
    for port in 0..3 {
        assert_eq!(rig.collect(port, 1), vec![f.clone()]);
    }
    rig.stop();
}

#[test]
fn aging_removes_silent_hosts() {
    let rig = Rig::with_config(1, config(1, "[bridge]\naging_secs = 1"));
    rig.ports[0].inject(frame(Mac::BROADCAST, mac(1), None));
    assert!(rig.wait_fdb(2).contains(&(1, mac(1).to_string(), 0)));
    // Refreshed while it keeps talking...
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(300));
        rig.ports[0].inject(frame(Mac::BROADCAST, mac(1), None));
    }
    assert!(
        rig.fdb().contains(&(1, mac(1).to_string(), 0)),
        "a talking host does not age out"
    );
    // ...and gone within aging time + the 1 s aging sweep once silent.
    let t = Instant::now();
    while rig.fdb().iter().any(|e| e.1 == mac(1).to_string()) {
        assert!(t.elapsed() < Duration::from_secs(4), "not aged");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        rig.fdb().iter().any(|e| e.1 == "02:00:00:00:00:99"),
        "static entries stay"
    );
    rig.stop();
}

#[test]
fn learn_limit_caps_a_port() {
    let rig = Rig::start(1);
    // p1 may learn two addresses; a third is refused but still forwarded.
    for n in 10..13 {
        rig.ports[1].inject(frame(Mac::BROADCAST, mac(n), None));
    }
    assert_eq!(rig.collect(0, 3).len(), 3);
    std::thread::sleep(Duration::from_millis(50));
    let on_p1: Vec<_> = rig
        .fdb()
        .into_iter()
        .filter(|e| e.2 == 1 && e.1 != "02:00:00:00:00:99")
        .collect();
    assert_eq!(on_p1.len(), 2, "{on_p1:?}");
    let (tx, rx) = mpsc::channel();
    rig.control.send(Control::Stats(tx)).unwrap();
    assert!(
        rx.recv_timeout(Duration::from_secs(2))
            .unwrap()
            .fdb
            .limit_refused
            >= 1
    );
    rig.stop();
}
