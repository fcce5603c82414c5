//! Minimal forwarder over DPDK virtual devices: receives on one port and
//! sends on another for a few seconds, then prints packet rates.
//!
//! Run as root:
//! `cargo run --release -p moose-dpdk --example nullfwd -- [seconds] [rx devargs] [tx devargs]`
//! (default: rx from a generating `net_null0`, tx to a sinking
//! `net_null1,no-rx=1`; any hot-pluggable devargs work, e.g.
//! `net_pcap0,rx_pcap=in.pcap` and `net_pcap1,tx_pcap=out.pcap`).

use std::time::{Duration, Instant};

use moose_dpdk::{
    tsc, tsc_hz, DpdkError, Eal, Mbuf, PortConf, DEFAULT_DATA_ROOM, MAX_BURST, SOCKET_ID_ANY,
};

fn main() -> Result<(), DpdkError> {
    let argv: Vec<String> = std::env::args().collect();
    let secs: u64 = argv.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let src_args = argv.get(2).map_or("net_null0", String::as_str);
    let dst_args = argv.get(3).map_or("net_null1,no-rx=1", String::as_str);
    let args: Vec<String> = [
        "nullfwd",
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-telemetry",
        "--log-level=warning",
        &format!("--file-prefix=nullfwd-{}", std::process::id()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let eal = Eal::init(&args)?;
    println!("{}", moose_dpdk::version());
    let pool = eal.mempool("nullfwd", 8191, 256, DEFAULT_DATA_ROOM, SOCKET_ID_ANY)?;
    let mut src = eal.attach(src_args)?;
    let mut dst = eal.attach(dst_args)?;
    println!("rx {:?}\ntx {:?}", src.info()?, dst.info()?);
    for p in [&mut src, &mut dst] {
        p.configure(&PortConf::default(), &pool)?;
        p.start()?;
    }
    // The queue handles and the mbufs they move borrow the ports: keep them
    // in a scope that ends before the ports are stopped.
    {
        let mut rxq = src.queues()?.rx.swap_remove(0);
        let mut txq = dst.queues()?.tx.swap_remove(0);
        let mut burst: Vec<Mbuf> = Vec::with_capacity(MAX_BURST);
        let (mut rx, mut tx) = (0u64, 0u64);
        let t0 = tsc();
        let end = Instant::now() + Duration::from_secs(secs);
        let mut loops = 0u32;
        loop {
            loops = loops.wrapping_add(1);
            // Checking the clock every 1024 bursts keeps it off the fast path.
            if loops & 1023 == 0 && Instant::now() >= end {
                break;
            }
            let n = rxq.rx_burst(&mut burst, MAX_BURST);
            if n == 0 {
                continue;
            }
            rx += n as u64;
            tx += txq.tx_burst(&mut burst) as u64;
            Mbuf::free_bulk(&mut burst);
        }
        let cycles = tsc() - t0;
        let secs_f = cycles as f64 / tsc_hz() as f64;
        println!(
            "rx {rx} tx {tx} in {secs_f:.2}s: {:.1} Mpps, {:.1} cycles/packet",
            rx as f64 / secs_f / 1e6,
            cycles as f64 / rx.max(1) as f64
        );
    }
    println!("src {:?}\ndst {:?}", src.stats()?, dst.stats()?);
    for mut p in [src, dst] {
        p.stop()?;
        p.close()?;
    }
    drop(pool);
    drop(eal);
    Ok(())
}
