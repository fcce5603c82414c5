//! A worker alone over the in-memory backend, stepped with `poll_once`,
//! with the control side's rings in the test's hands: what the control
//! runtime would never send, the worker still refuses and counts.

use std::time::Instant;

use moose_config::Config;
use moose_dataplane::mem::{Mem, MemPort};
use moose_dataplane::{DropReason, Inject, Pipeline, PortCounter, PortId, Via, WorkerCounter};

fn config() -> Config {
    let mut t = "[switch]\nname=\"t\"\n".to_string();
    for i in 0..2 {
        t += &format!("[[port]]\nname=\"p{i}\"\ndevice=\"net_null{i}\"\n");
    }
    Config::from_toml(&t).unwrap()
}

fn frame(n: u8) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 0x20]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, n]);
    f[12] = 0x08;
    f
}

#[test]
fn injected_frames_for_unknown_ports_are_counted_and_bursts_stay_bounded() {
    let cfg = config();
    let ports: Vec<MemPort> = (0..2).map(|_| MemPort::with_capacity(4096, 100)).collect();
    let q = moose_dataplane::mem::queues(&ports, 1);
    let mut pipe = Pipeline::<Mem>::build(&cfg, q.rx, q.tx, q.pools).unwrap();
    let mut w = pipe.workers.pop().unwrap();
    let inject = &mut pipe.control.inject[0];

    // A frame for port 9 (there are two): refused, counted, freed.
    inject
        .push(Inject {
            port: PortId(9),
            frame: frame(1),
            via: Via::Tx,
        })
        .unwrap();
    // 500 frames for p1 at once, while p0 receives a burst for p1 too:
    // p1's tx ring holds 100; everything else is counted as tx_full, and
    // the worker takes at most a burst of injected frames per loop.
    for _ in 0..500 {
        inject
            .push(Inject {
                port: PortId(1),
                frame: frame(2),
                via: Via::Tx,
            })
            .unwrap();
    }
    for _ in 0..64 {
        assert!(ports[0].inject(frame(3)));
    }
    let now = Instant::now();
    let first = w.poll_once(now);
    assert!(
        first <= 64 + 64,
        "one rx burst and one inject burst per loop: {first}"
    );
    while w.poll_once(now) > 0 {}
    let s = w.stats();
    assert_eq!(s.worker(WorkerCounter::InjectDropped), 1);
    assert_eq!(s.worker(WorkerCounter::Injected), 500);
    let sent = s.port(1, PortCounter::TxPackets);
    let full = s.dropped(1, DropReason::TxFull);
    assert_eq!(sent, 100);
    assert_eq!(
        sent + full,
        500 + 64,
        "every frame sent or counted: injected and flooded from p0"
    );
    assert_eq!(ports[1].drain().len(), 100);
}
