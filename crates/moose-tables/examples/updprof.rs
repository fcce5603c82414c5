use moose_tables::publish::left_right;
use moose_tables::xlate::{HostOp, Xlate};
use std::time::{Duration, Instant};
fn main() {
    let n = 1_000_000u64;
    let every: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(1024);
    let t = Instant::now();
    let (mut w, mut rs) = left_right::<Xlate, HostOp>(Xlate::with_capacity(n as usize), 1);
    let mut r = rs.pop().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let st = stop.clone();
    let th = std::thread::spawn(move || {
        let mut c = 0u64;
        let keys: Vec<u64> = (0..32)
            .map(|i| moose_tables::xlate::xkey(1, 0x0050_5600_0000 | (i * 7919)))
            .collect();
        let mut out = [0u64; 32];
        while !st.load(std::sync::atomic::Ordering::Relaxed) {
            let g = r.enter();
            g.to_moose.get_batch(&keys, &mut out);
            drop(g);
            c += 32;
        }
        c
    });
    println!("create {:?}", t.elapsed());
    let mut x = Xlate::with_capacity(n as usize);
    let t0 = Instant::now();
    for i in 0..n {
        x.bind(
            1,
            0x0050_5600_0000 | i,
            0x0211_1100_0000 | i,
            (i % 8) as u16,
        );
    }
    println!("plain bind: {:.0}/s", n as f64 / t0.elapsed().as_secs_f64());
    let t0 = Instant::now();
    let mut pt = Duration::ZERO;
    let mut pmax = Duration::ZERO;
    for i in 0..n {
        w.append(HostOp::Bind {
            vlan: 1,
            real: 0x0050_5600_0000 | i,
            moose: 0x0211_1100_0000 | i,
            port: (i % 8) as u16,
        });
        if i % every == every - 1 {
            let p = Instant::now();
            w.publish();
            let e = p.elapsed();
            pt += e;
            pmax = pmax.max(e);
        }
    }
    w.publish();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let c = th.join().unwrap();
    println!("reader {c}");
    println!(
        "lr bind (every {every}): {:.0}/s publish total {:?} max {:?}",
        n as f64 / t0.elapsed().as_secs_f64(),
        pt,
        pmax
    );
}
