//! End-to-end test over DPDK virtual devices, without hugepages or NICs.
//!
//! The EAL can be initialised once per process, so this file holds a single
//! test function that walks through the whole API in order. It needs root
//! (DPDK maps memory and opens /dev); it is skipped, with a message, when
//! not run as root.

use moose_dpdk::{
    lcore_id, tsc, tsc_hz, version, DpdkError, Eal, Errno, Mbuf, PortConf, PortOp, Queues,
    DEFAULT_DATA_ROOM, SOCKET_ID_ANY,
};

fn frame(i: u8) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f[14] = i;
    f
}

fn is_root() -> bool {
    // Avoid unsafe (geteuid) in tests: read the effective uid from /proc.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
}

#[test]
fn eal_ports_queues_and_mbufs_on_vdevs() {
    if !is_root() {
        eprintln!("skipping: DPDK EAL test needs root");
        return;
    }

    let args: Vec<String> = [
        "moose-dpdk-test",
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-telemetry",
        "--log-level=warning",
        &format!("--file-prefix=moose-vdev-{}", std::process::id()),
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
    // The capture server starts (also without hugepages, where no
    // secondary can attach), once; it stops with the EAL.
    eal.enable_capture().expect("rte_pdump_init");
    eal.enable_capture().expect("a second call does nothing");
    // Telemetry commands register (served only without --no-telemetry);
    // a second registration replaces the handler; DPDK refuses a name
    // without the leading '/'.
    eal.telemetry_command(
        "/moose_test/a",
        "test",
        |_| Some(moose_dpdk::TelDict::new()),
    )
    .expect("register");
    eal.telemetry_command("/moose_test/a", "test", |_| None)
        .expect("register again");
    match eal.telemetry_command("moose_test_b", "test", |_| None) {
        Err(DpdkError::TelemetryRegister { command, code }) => {
            assert_eq!(command, "moose_test_b");
            assert_eq!(code, Errno::EINVAL);
        }
        other => panic!("a command without '/': {other:?}"),
    }
    assert_eq!(lcore_id(), Some(0), "main thread is lcore 0");
    // Registering a thread that already is an lcore changes nothing.
    drop(eal.register_thread().expect("register main thread"));
    assert_eq!(lcore_id(), Some(0), "main thread keeps lcore 0");

    let pool = eal
        .mempool("test_pool", 4095, 32, DEFAULT_DATA_ROOM, SOCKET_ID_ANY)
        .expect("mempool");
    assert_eq!(pool.available(), 4095);
    assert_eq!(pool.in_use(), 0);
    match eal.mempool("test_pool", 63, 0, DEFAULT_DATA_ROOM, SOCKET_ID_ANY) {
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
        assert!(!m.is_shared());
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

    // A worker thread registers for an lcore id and uses the pool; the
    // guard unregisters it.
    std::thread::scope(|s| {
        s.spawn(|| {
            assert_eq!(lcore_id(), None);
            let reg = eal.register_thread().expect("register_thread");
            assert!(lcore_id().is_some());
            let m = pool.alloc_copy(&frame(1)).expect("alloc in worker");
            drop(m);
            drop(reg);
            assert_eq!(lcore_id(), None);
        });
    });

    // Existing port (from --vdev) and hot-plugged one.
    let mut ring = eal.attach("net_ring0").expect("attach existing net_ring0");
    let mut null = eal.attach("net_null0").expect("hot-plug net_null0");
    assert_ne!(ring.id(), null.id());
    match eal.attach("net_null0") {
        Err(e @ DpdkError::AlreadyAttached { .. }) => {
            assert!(e.to_string().contains("\"net_null0\""), "{e}");
        }
        other => panic!("second attach of one device: {other:?}"),
    }
    match eal.attach("net_nosuchdriver0,x=1") {
        Err(e @ (DpdkError::Attach { .. } | DpdkError::ProbeRejected { .. })) => {
            eprintln!("bogus devargs: {e}");
            assert!(e.to_string().contains("\"net_nosuchdriver0,x=1\""), "{e}");
        }
        other => panic!("bogus devargs: {other:?}"),
    }
    assert_eq!(ring.kernel_iface(), None);

    let ri = ring.info().expect("ring info");
    let ni = null.info().expect("null info");
    assert_eq!(ri.name, "net_ring0");
    assert_eq!(ri.driver, "net_ring");
    assert_eq!(ni.name, "net_null0");
    assert_eq!(ni.driver, "net_null");
    assert_eq!((ring.name(), null.driver()), ("net_ring0", "net_null"));
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
    match null.start() {
        Err(DpdkError::NotConfigured { device }) => assert_eq!(device, "net_null0"),
        other => panic!("start before configure: {other:?}"),
    }
    for p in [&mut ring, &mut null] {
        match p.queues() {
            Err(DpdkError::NotStarted { .. }) => {}
            other => panic!("queues before start: {other:?}"),
        }
        p.configure(&conf, &pool).expect("configure");
        p.start().expect("start");
    }
    let bad = PortConf {
        rx_queues: 2000, // over RTE_MAX_QUEUES_PER_PORT
        ..conf.clone()
    };
    null.stop().unwrap();
    match null.configure(&bad, &pool) {
        Err(
            e @ DpdkError::Port {
                op: PortOp::Configure,
                ..
            },
        ) => {
            let DpdkError::Port { port, code, .. } = &e else {
                unreachable!()
            };
            assert_eq!(*port, null.id());
            assert_eq!(*code, Errno::EINVAL);
            let want = format!("port {} (net_null0): dev_configure failed", null.id());
            assert!(e.to_string().starts_with(&want), "{e}");
        }
        other => panic!("2000 rx queues: {other:?}"),
    }
    null.configure(&conf, &pool).expect("reconfigure");
    null.start().unwrap();
    assert_eq!(ring.mac_addr().unwrap().len(), 6);
    eprintln!("ring link {:?}, null link {:?}", ring.link(), null.link());
    assert!(null.link().up);
    assert_eq!(null.mtu().unwrap(), 1500);

    let start_avail = pool.available();
    {
        // net_ring0 made from --vdev loops tx back to rx: a full round trip.
        let Queues {
            rx: mut ring_rx,
            tx: mut ring_tx,
        } = ring.queues().expect("ring queues");
        assert_eq!((ring_rx.len(), ring_tx.len()), (1, 1));
        match ring.queues() {
            Err(DpdkError::QueuesTaken { device }) => assert_eq!(device, "net_ring0"),
            other => panic!("queues twice: {other:?}"),
        }
        let (rxq, txq) = (&mut ring_rx[0], &mut ring_tx[0]);
        assert_eq!((rxq.port(), rxq.queue()), (ring.id(), 0));
        // Mbuf<'eal> from the pool coerce to the queue's Mbuf<'_> (variance).
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
        let mut nq = null.queues().expect("null queues");
        assert_eq!(nq.tx[0].tx_burst(&mut rx), 100);
        assert!(rx.is_empty());
        // net_null also generates packets on rx.
        let n = nq.rx[0].rx_burst(&mut rx, 1000);
        assert!(n > 0 && n <= 64, "null rx gave {n}");
        assert_eq!(rx[0].port(), null.id().0);
        Mbuf::free_bulk(&mut rx);

        let rs = ring.stats().unwrap();
        let ns = null.stats().unwrap();
        eprintln!("ring stats {rs:?}\nnull stats {ns:?}");
        assert_eq!((rs.opackets, rs.ipackets), (100, 100));
        assert_eq!(ns.opackets, 100);
        assert_eq!(ns.ipackets, n as u64);
        assert_eq!((ns.kernel_drops, rs.kernel_drops), (0, 0));
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
        assert_eq!(pool.available(), start_avail, "every mbuf back");

        // Floods: share(n) makes n more handles to one mbuf.
        let mut m = pool.alloc_copy(&frame(7)).unwrap();
        let shares = m.share(3);
        assert_eq!(shares.len(), 3);
        assert!(m.is_shared());
        assert!(m.try_as_mut().is_none());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            m.as_mut()[0] = 0;
        }));
        let msg = r.expect_err("as_mut on a shared mbuf panics");
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("shared"), "{msg}");
        assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.adj(1))).is_err());
        let mut copies: Vec<Mbuf> = shares.collect();
        assert!(copies.iter().all(|c| c.as_ptr() == m.as_ptr()));
        assert_eq!(
            pool.available(),
            start_avail - 1,
            "one buffer, four handles"
        );
        // Two go out on the ring (which delivers the same mbuf twice), one
        // out on the null sink, which frees it.
        let mut to_null = vec![copies.pop().unwrap()];
        assert_eq!(txq.tx_burst(&mut copies), 2);
        assert_eq!(nq.tx[0].tx_burst(&mut to_null), 1);
        assert!(m.is_shared(), "the ring still holds two");
        assert_eq!(rxq.rx_burst(&mut rx, 64), 2);
        assert!(rx.iter().all(|c| c.as_ptr() == m.as_ptr()));
        assert_eq!(rx[1].as_ref(), frame(7).as_slice());
        Mbuf::free_bulk(&mut rx);
        assert!(!m.is_shared(), "only this handle is left");
        m.as_mut()[14] = 8;
        assert_eq!(m.as_ref()[14], 8);
        assert!(m.adj(1));
        // share + dropping the iterator early gives the references back.
        let mut it = m.share(5);
        let one = it.next().unwrap();
        assert_eq!(it.len(), 4);
        drop(it);
        assert!(m.is_shared());
        drop(one);
        assert!(!m.is_shared());
        // The last handle frees the buffer: the pool is whole again.
        let extra: Vec<Mbuf> = m.share(2).collect();
        drop(m);
        assert_eq!(pool.available(), start_avail - 1);
        drop(extra);
        assert_eq!(pool.available(), start_avail, "pool back to its start");

        // Reattach wants every handle of the port, and only them.
        let ring_q = Queues {
            rx: ring_rx,
            tx: ring_tx,
        };
        match null.reattach(ring_q) {
            Err(e @ DpdkError::ReattachQueues { .. }) => eprintln!("{e}"),
            other => panic!("reattach with another port's handles: {other:?}"),
        }
        let old_id = null.id();
        let mut nq = null.reattach(nq).expect("reattach net_null0");
        assert_eq!((nq.rx.len(), nq.tx.len()), (1, 1));
        assert!(null.link().up);
        assert!(nq.rx[0].rx_burst(&mut rx, 8) > 0, "fresh handles work");
        Mbuf::free_bulk(&mut rx);
        let ns = null.stats().unwrap();
        assert!(ns.opackets >= 101, "counters carry over a reattach: {ns:?}");
        eprintln!("null reattached: port {old_id} -> {}", null.id());
        drop(nq);
    }
    // The ring's handles went into the refused reattach and were dropped:
    // stop and start give new ones.
    ring.stop().unwrap();
    ring.start().unwrap();
    drop(ring.queues().expect("queues after restart"));

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
    {
        let mut q = null.queues().unwrap();
        assert_eq!((q.rx.len(), q.tx.len()), (2, 2), "every queue, once");
        assert_eq!(q.rx[1].queue(), 1);
        let mut rx = Vec::with_capacity(8);
        assert!(q.rx[1].rx_burst(&mut rx, 8) > 0);
        Mbuf::free_bulk(&mut rx);
    }

    for p in [&mut ring, &mut null] {
        p.stop().expect("stop");
    }
    null.close().expect("close null");
    ring.close().expect("close ring");
    // Closing detached the devices: they can be attached again.
    let null = eal.attach("net_null0").expect("attach after close");
    drop(null); // closes it
    assert_eq!(pool.available(), 4095, "every mbuf back in the pool");
    drop(pool);
    drop(eal);
}
