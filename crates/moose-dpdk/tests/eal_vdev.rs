//! End-to-end test over DPDK virtual devices, without hugepages or NICs.
//!
//! The EAL can be initialised once per process, so this file holds a single
//! test function that walks through the whole API in order. It needs root
//! (DPDK maps memory and opens /dev); it is skipped, with a message, when
//! not run as root.

use moose_dpdk::{
    attach, lcore_id, register_thread, tsc, tsc_hz, unregister_thread, version, DpdkError, Eal,
    Errno, Mbuf, Mempool, Port, PortConf, PortId, PortOp, DEFAULT_DATA_ROOM, SOCKET_ID_ANY,
};

fn frame(i: u8) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f[14] = i;
    f
}

#[test]
fn eal_ports_queues_and_mbufs_on_vdevs() {
    // SAFETY-free root check: geteuid has no preconditions, but avoid unsafe
    // in tests by reading /proc.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"));
    if !root {
        eprintln!("skipping: DPDK EAL test needs root");
        return;
    }

    let args: Vec<String> = [
        "moose-dpdk-test",
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-shconf", // --in-memory is rejected with --no-huge (legacy mem) in 22.11
        "--no-telemetry",
        "--log-level=warning",
        "--vdev=net_ring0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let eal = Eal::init(&args).expect("EAL init");
    assert!(matches!(
        Eal::init(&args),
        Err(DpdkError::EalAlreadyInitialised)
    ));
    assert!(version().starts_with("DPDK 22."), "{}", version());
    assert!(tsc_hz() > 0);
    assert!(tsc() > 0);
    assert_eq!(lcore_id(), Some(0), "main thread is lcore 0");

    let pool =
        Mempool::create("test_pool", 4095, 32, DEFAULT_DATA_ROOM, SOCKET_ID_ANY).expect("mempool");
    assert_eq!(pool.available(), 4095);
    assert_eq!(pool.in_use(), 0);
    match Mempool::create("test_pool", 63, 0, DEFAULT_DATA_ROOM, SOCKET_ID_ANY) {
        Err(DpdkError::MempoolCreate { name, code }) => {
            assert_eq!(name, "test_pool");
            assert_eq!(code, Errno::EEXIST);
        }
        other => panic!("duplicate pool name: {other:?}"),
    }

    // alloc / alloc_copy / free_bulk, no port involved.
    {
        let m = pool.alloc().expect("alloc");
        assert!(m.is_empty());
        assert_eq!(m.nb_segs(), 1);
        let big = vec![0u8; usize::from(DEFAULT_DATA_ROOM)];
        assert!(pool.alloc_copy(&big).is_none(), "larger than the data room");
        let mut v: Vec<Mbuf> = (0..10)
            .map(|i| pool.alloc_copy(&frame(i)).unwrap())
            .collect();
        assert_eq!(v[3].as_ref(), frame(3).as_slice());
        v[3].as_mut()[14] = 0xee;
        assert_eq!(v[3].as_ref()[14], 0xee);
        assert_eq!(pool.in_use(), 11);
        Mbuf::free_bulk(&mut v);
        assert!(v.is_empty());
        drop(m);
        assert_eq!(pool.in_use(), 0);
    }

    // A worker thread registers for an lcore id and uses the pool.
    let p2 = pool.clone();
    std::thread::spawn(move || {
        assert_eq!(lcore_id(), None);
        register_thread().expect("register_thread");
        assert!(lcore_id().is_some());
        let m = p2.alloc_copy(&frame(1)).expect("alloc in worker");
        drop(m);
        unregister_thread();
        assert_eq!(lcore_id(), None);
    })
    .join()
    .unwrap();

    // Existing port (from --vdev) and hot-plugged one.
    let ring = attach("net_ring0").expect("attach existing net_ring0");
    let null = attach("net_null0").expect("hot-plug net_null0");
    assert_ne!(ring, null);
    assert_eq!(attach("net_null0").unwrap(), null, "second attach finds it");
    match attach("net_nosuchdriver0,x=1") {
        Err(DpdkError::Attach { devargs, .. }) => assert_eq!(devargs, "net_nosuchdriver0,x=1"),
        other => panic!("bogus devargs: {other:?}"),
    }
    match Port::new(PortId(31)).stats() {
        Err(e @ DpdkError::Port { .. }) => {
            assert!(
                e.to_string().starts_with("port 31: stats_get failed"),
                "{e}"
            );
            assert_eq!(e.code(), Some(Errno::ENODEV));
        }
        other => panic!("stats of a missing port: {other:?}"),
    }

    let ring = Port::new(ring);
    let null = Port::new(null);
    let ri = ring.info().expect("ring info");
    let ni = null.info().expect("null info");
    assert_eq!(ri.name, "net_ring0");
    assert_eq!(ri.driver, "net_ring");
    assert_eq!(ni.name, "net_null0");
    assert_eq!(ni.driver, "net_null");
    eprintln!("ring: {ri:?}\nnull: {ni:?}");

    let conf = PortConf {
        rx_queues: 1,
        tx_queues: 1,
        rx_desc: 512,
        tx_desc: 512,
        rss: true, // one queue: RSS is left off
        promiscuous: true,
        mtu: None,
    };
    for p in [&ring, &null] {
        p.configure(&conf, &pool).expect("configure");
        p.start().expect("start");
    }
    let bad = PortConf {
        rx_queues: 2000, // over RTE_MAX_QUEUES_PER_PORT
        ..conf.clone()
    };
    null.stop().unwrap();
    match null.configure(&bad, &pool) {
        Err(DpdkError::Port {
            port,
            op: PortOp::Configure,
            code,
        }) => {
            assert_eq!(port, null.id());
            assert_eq!(code, Errno::EINVAL);
        }
        other => panic!("2000 rx queues: {other:?}"),
    }
    null.configure(&conf, &pool).expect("reconfigure");
    null.start().unwrap();
    assert_eq!(ring.mac_addr().unwrap().len(), 6);
    eprintln!("ring link {:?}, null link {:?}", ring.link(), null.link());
    assert!(null.link().up);

    // net_ring0 made from --vdev loops tx back to rx: a full round trip.
    let mut rxq = ring.rx_queue(0);
    let mut txq = ring.tx_queue(0);
    let mut tx: Vec<Mbuf> = Vec::with_capacity(256);
    let mut rx: Vec<Mbuf> = Vec::with_capacity(256);
    for i in 0..100u8 {
        tx.push(pool.alloc_copy(&frame(i)).unwrap());
    }
    let cap = (tx.capacity(), rx.capacity());
    let sent = txq.tx_burst(&mut tx);
    assert_eq!(sent, 100, "ring takes all 100 in two chunks");
    assert!(tx.is_empty());
    let mut got = 0;
    while got < 100 {
        let n = rxq.rx_burst(&mut rx, 64);
        assert!(n <= 64);
        if n == 0 {
            break;
        }
        got += n;
    }
    assert_eq!(got, 100);
    assert_eq!((tx.capacity(), rx.capacity()), cap, "no reallocation");
    for (i, m) in rx.iter().enumerate() {
        assert_eq!(m.as_ref(), frame(i as u8).as_slice(), "frame {i}");
        assert_eq!(m.len(), 60);
        assert_eq!(m.nb_segs(), 1);
    }
    // Send them back out on the null port (a sink).
    let mut ntx = null.tx_queue(0);
    let mut nrx = null.rx_queue(0);
    assert_eq!(ntx.tx_burst(&mut rx), 100);
    assert!(rx.is_empty());
    // net_null also generates packets on rx.
    let n = nrx.rx_burst(&mut rx, 1000);
    assert!(n > 0 && n <= 64, "null rx gave {n}");
    assert_eq!(rx[0].port(), null.id().0);
    Mbuf::free_bulk(&mut rx);

    let rs = ring.stats().unwrap();
    let ns = null.stats().unwrap();
    eprintln!("ring stats {rs:?}\nnull stats {ns:?}");
    assert_eq!((rs.opackets, rs.ipackets), (100, 100));
    assert_eq!(ns.opackets, 100);
    assert_eq!(ns.ipackets, n as u64);
    let xs = null.xstats().unwrap();
    assert!(
        xs.iter().any(|(k, v)| k == "tx_good_packets" && *v == 100),
        "{xs:?}"
    );

    // A full tx ring keeps the unsent frames, in order, for the caller.
    let mut many: Vec<Mbuf> = (0..2000u32)
        .map(|i| pool.alloc_copy(&frame(i as u8)).unwrap())
        .collect();
    let sent = txq.tx_burst(&mut many);
    eprintln!("ring accepted {sent} of 2000");
    assert!(sent < 2000);
    assert_eq!(many.len(), 2000 - sent);
    assert_eq!(many[0].as_ref()[14], sent as u8);
    Mbuf::free_bulk(&mut many);
    loop {
        let n = rxq.rx_burst(&mut rx, 64);
        Mbuf::free_bulk(&mut rx);
        if n == 0 {
            break;
        }
    }

    // RSS over two rx queues on net_null (it advertises hash functions).
    null.stop().unwrap();
    let rss = PortConf {
        rx_queues: 2,
        tx_queues: 2,
        rss: true,
        ..conf.clone()
    };
    null.configure(&rss, &pool).expect("configure with RSS");
    null.start().unwrap();
    let mut nrx1 = null.rx_queue(1);
    assert!(nrx1.rx_burst(&mut rx, 8) > 0);
    Mbuf::free_bulk(&mut rx);
    assert!(std::panic::catch_unwind(|| null.rx_queue(2)).is_err());

    for p in [&ring, &null] {
        p.stop().expect("stop");
    }
    null.close();
    ring.close();
    assert!(null.info().is_err(), "closed port is gone");
    drop(eal);
}
