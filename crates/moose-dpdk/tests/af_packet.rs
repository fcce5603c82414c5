//! `net_af_packet` ports against a real kernel interface: a veth pair made
//! for the test. Covers what the driver gets wrong and the port corrects:
//! link state, MTU, kernel ring drops, the interface's promiscuous flag,
//! and recovery after the interface is deleted and recreated.
//!
//! One `#[test]` (the EAL can be initialised once per process). Needs root
//! and `ip` (iproute2); skipped, with a message, otherwise. Every interface
//! it creates is deleted again, also when an assertion fails (a guard).

use std::ffi::c_int;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use moose_dpdk::{DpdkError, Eal, Mbuf, Port, PortConf, RxQueue, DEFAULT_DATA_ROOM};

/// EtherType of the test frames (IEEE local experimental), to tell them
/// from the IPv6 neighbour discovery a fresh interface sends.
const TEST_ETHERTYPE: [u8; 2] = [0x88, 0xb5];

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
}

fn ip(args: &str) {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .unwrap_or_else(|e| panic!("running ip {args}: {e}"));
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A veth pair; dropping it deletes both ends (deleting one deletes the
/// pair), whatever state the test left them in.
struct Veth {
    a: String,
    b: String,
}

impl Veth {
    fn create(a: &str, b: &str) -> Veth {
        let v = Veth {
            a: a.to_owned(),
            b: b.to_owned(),
        };
        v.recreate();
        v
    }

    fn recreate(&self) {
        ip(&format!(
            "link add {} type veth peer name {}",
            self.a, self.b
        ));
        ip(&format!("link set {} up", self.a));
        ip(&format!("link set {} up", self.b));
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.a]).output();
        let _ = Command::new("ip").args(["link", "del", &self.b]).output();
    }
}

fn sys(iface: &str, file: &str) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/{file}"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn promisc(iface: &str) -> bool {
    let f = sys(iface, "flags");
    let f = u32::from_str_radix(f.trim_start_matches("0x"), 16).expect("flags");
    f & libc::IFF_PROMISC as u32 != 0
}

/// Waits up to 3 s for `cond`.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(3);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `n` test frames out of `iface` (so they arrive on its veth peer)
/// through a raw packet socket; returns how many the kernel took.
fn send_frames(iface: &str, n: usize) -> usize {
    let ifindex: c_int = sys(iface, "ifindex").parse().expect("ifindex");
    // SAFETY: socket() has no memory preconditions; checked below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    assert!(
        fd >= 0,
        "packet socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: fd is a fresh socket owned here only.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain old data; zeroes are valid.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_ifindex = ifindex;
    sa.sll_halen = 6;
    let mut frame = [0u8; 60];
    frame[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    frame[12..14].copy_from_slice(&TEST_ETHERTYPE);
    let mut sent = 0;
    for i in 0..n {
        frame[14..18].copy_from_slice(&(i as u32).to_be_bytes());
        // SAFETY: frame and sa are valid for the lengths given; the socket
        // is open.
        let r = unsafe {
            libc::sendto(
                sock.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sa as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r == frame.len() as isize {
            sent += 1;
        }
    }
    sent
}

/// Receives for up to `wait`, returns how many test frames arrived.
fn receive<'a>(q: &mut RxQueue<'a>, rx: &mut Vec<Mbuf<'a>>, want: usize, wait: Duration) -> usize {
    let end = Instant::now() + wait;
    let mut got = 0;
    while got < want && Instant::now() < end {
        if q.rx_burst(rx, 64) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        got += rx
            .iter()
            .filter(|m| m.as_ref().get(12..14) == Some(&TEST_ETHERTYPE[..]))
            .count();
        Mbuf::free_bulk(rx);
    }
    got
}

fn drain<'a>(q: &mut RxQueue<'a>, rx: &mut Vec<Mbuf<'a>>) {
    while q.rx_burst(rx, 64) > 0 {
        Mbuf::free_bulk(rx);
    }
}

#[test]
fn af_packet_port_follows_its_kernel_interface() {
    if !is_root() {
        eprintln!("skipping: the af_packet test needs root (veth pairs, DPDK)");
        return;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        eprintln!("skipping: the af_packet test needs `ip` (iproute2)");
        return;
    }
    let pid = std::process::id();
    let (a, b) = (format!("mda{pid}"), format!("mdb{pid}"));
    let veth = Veth::create(&a, &b);

    let args: Vec<String> = [
        "moose-dpdk-afp-test",
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        "--no-telemetry",
        "--log-level=warning",
        &format!("--file-prefix=moose-afp-{pid}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let eal = Eal::init(&args).expect("EAL init");
    let pool = eal
        .mempool("afp_pool", 4095, 32, DEFAULT_DATA_ROOM, -1)
        .expect("mempool");

    // A missing interface is named as such (DPDK itself returns a bare -1).
    let nope = format!("mdx{pid}");
    match eal.attach(&format!("net_af_packet9,iface={nope}")) {
        Err(e @ DpdkError::NoSuchInterface { .. }) => {
            assert!(
                e.to_string()
                    .ends_with(&format!("no such network interface \"{nope}\"")),
                "{e}"
            );
        }
        other => panic!("attach on a missing interface: {other:?}"),
    }

    let conf = PortConf {
        rx_desc: 512,
        tx_desc: 512,
        ..PortConf::default()
    };

    // IFF_PROMISC restored on close, when it was on: the port turns it off
    // (promiscuous: false) and close puts it back.
    ip(&format!("link set {b} promisc on"));
    {
        let mut pb = eal
            .attach(&format!("net_af_packet1,iface={b}"))
            .expect("attach b");
        let off = PortConf {
            promiscuous: false,
            ..conf.clone()
        };
        pb.configure(&off, &pool).expect("configure b");
        pb.start().expect("start b");
        assert!(!promisc(&b), "the driver cleared IFF_PROMISC on {b}");
        pb.close().expect("close b");
        assert!(promisc(&b), "close restored IFF_PROMISC on {b}");
    }
    ip(&format!("link set {b} promisc off"));

    // The port under test, on end a.
    assert!(!promisc(&a));
    let mut port = eal
        .attach(&format!("net_af_packet0,iface={a}"))
        .expect("attach af_packet");
    assert_eq!(port.kernel_iface(), Some(a.as_str()));
    assert_eq!(port.driver(), "net_af_packet");
    match eal.attach(&format!("net_af_packet0,iface={a}")) {
        Err(DpdkError::AlreadyAttached { port: p, .. }) => assert_eq!(p, port.id()),
        other => panic!("second attach: {other:?}"),
    }
    port.configure(&conf, &pool).expect("configure");
    port.start().expect("start");
    assert!(promisc(&a), "the driver set IFF_PROMISC on {a}");

    // Link: up with both ends up; down when either end is down.
    eventually("link up", || port.link().up);
    let l = port.link();
    eprintln!("link {l:?}");
    assert!(l.speed_mbps > 0 && l.full_duplex, "{l:?}");
    ip(&format!("link set {b} down"));
    eventually("link down (peer down)", || !port.link().up);
    ip(&format!("link set {b} up"));
    eventually("link up again", || port.link().up);
    ip(&format!("link set {a} down"));
    eventually("link down (own end down)", || !port.link().up);
    ip(&format!("link set {a} up"));
    eventually("link up once more", || port.link().up);

    // MTU follows the kernel interface.
    assert_eq!(port.mtu().unwrap(), 1500);
    ip(&format!("link set {a} mtu 1400"));
    assert_eq!(port.mtu().unwrap(), 1400);
    ip(&format!("link set {a} mtu 1500"));
    assert!(!port.needs_reattach());

    let mut rx: Vec<Mbuf> = Vec::with_capacity(64);
    let mut q = port.queues().expect("queues");
    assert_eq!((q.rx.len(), q.tx.len()), (1, 1));

    // Frames flow.
    assert_eq!(send_frames(&b, 10), 10);
    assert_eq!(
        receive(&mut q.rx[0], &mut rx, 10, Duration::from_secs(2)),
        10
    );

    // Kernel ring drops: the default ring holds 512 frames; send more
    // while not polling.
    let before = port.stats().unwrap();
    assert_eq!(before.kernel_drops, 0, "{before:?}");
    let sent = send_frames(&b, 3000);
    std::thread::sleep(Duration::from_millis(200));
    let s = port.stats().unwrap();
    eprintln!("sent {sent} unpolled: {s:?}");
    assert!(s.kernel_drops > 0, "{s:?}");
    assert!(s.imissed > 0 && s.imissed >= s.kernel_drops, "{s:?}");
    // Accumulated across reads (the kernel resets its count on each).
    assert_eq!(port.stats().unwrap().kernel_drops, s.kernel_drops);
    drain(&mut q.rx[0], &mut rx);

    // Delete the interface: link down, no reattach possible yet.
    ip(&format!("link del {a}"));
    eventually("link down (deleted)", || !port.link().up);
    assert!(!port.needs_reattach(), "nothing to reattach to");
    assert!(port.mtu().is_err());

    // Recreate it: same name, new index. The link reads up, but the port's
    // sockets are bound to the old index: nothing arrives until reattach.
    veth.recreate();
    eventually("link up (recreated)", || port.link().up);
    assert!(port.needs_reattach());
    send_frames(&b, 10);
    assert_eq!(
        receive(&mut q.rx[0], &mut rx, 1, Duration::from_millis(300)),
        0,
        "a stale port receives nothing"
    );

    // Reattach while a management thread keeps querying the port.
    let stop = AtomicBool::new(false);
    let busy = AtomicUsize::new(0);
    let old_id = port.id();
    let mut q = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                match port.stats() {
                    Ok(_) => {}
                    Err(DpdkError::Reattaching { .. }) => {
                        busy.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => panic!("stats during reattach: {e}"),
                }
                let _ = port.link();
                let _ = port.mtu();
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        let fresh = port.reattach(q);
        stop.store(true, Ordering::Relaxed);
        fresh
    })
    .expect("reattach");
    eprintln!(
        "reattached: port {old_id} -> {}, {} queries saw the reattach",
        port.id(),
        busy.load(Ordering::Relaxed)
    );
    assert!(!port.needs_reattach());
    assert!(port.link().up);
    assert!(promisc(&a), "promiscuous mode re-applied");
    drain(&mut q.rx[0], &mut rx);
    assert_eq!(send_frames(&b, 10), 10);
    assert_eq!(
        receive(&mut q.rx[0], &mut rx, 10, Duration::from_secs(2)),
        10,
        "frames flow again after reattach"
    );
    let s = port.stats().unwrap();
    assert!(s.kernel_drops > 0, "drops carried over: {s:?}");
    // Transmit works on the fresh tx handle too.
    let mut tx: Vec<Mbuf> = vec![pool.alloc_copy(&[0u8; 60]).unwrap()];
    assert_eq!(q.tx[0].tx_burst(&mut tx), 1);

    // Close: the new interface's IFF_PROMISC (off when it was created) is
    // restored.
    drop((q, rx, tx));
    port.stop().expect("stop");
    port.close().expect("close");
    assert!(!promisc(&a), "close restored IFF_PROMISC on {a}");

    // A port dropped without close restores the flag too.
    {
        let mut p: Port = eal
            .attach(&format!("net_af_packet0,iface={a}"))
            .expect("attach again");
        p.configure(&conf, &pool).expect("configure");
        p.start().expect("start");
        assert!(promisc(&a));
    }
    assert!(!promisc(&a), "drop restored IFF_PROMISC on {a}");

    assert_eq!(pool.available(), 4095, "every mbuf back in the pool");
    drop(pool);
    drop(eal);
    drop(veth);
    assert!(sys(&a, "ifindex").is_empty(), "veth removed");
}
