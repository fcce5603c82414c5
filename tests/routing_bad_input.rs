//! The routing service against a hostile or broken neighbour, through the
//! real binary: one MOOSE switch (`02:11:11:00:00:00/24`, `[routing] key`)
//! with a fabric port `f0` on one end of a veth pair and an edge port on
//! another, and on the veth's other end a "switch" played by a Python
//! script (Debian's `/usr/bin/python3`, scapy 2.5) that builds moose's
//! messages byte by byte from the format in `moose_wire::proto`'s module
//! doc and signs them with `hmac`/`hashlib`.
//!
//! * a valid signed fabric hello from `52:54:00:99:99:01` makes it a
//!   neighbour (`init`), one that lists the switch makes it `two-way`, and
//!   an acknowledgement of the switch's advertisement `full`: the script's
//!   encoding and signing are right;
//! * hellos and advertisements signed with a wrong key (`bad_mac`), with
//!   an unknown key id (`unknown_key`), unsigned (`unauthenticated`), cut
//!   short (`truncated`), with a body length over the 1400-byte limit
//!   (`oversize`), with a length wrong for their type (`wrong_length`),
//!   and a valid frame sent twice (`replayed`) are each counted in
//!   `moose_routing_rejected_total` under their reason, exactly as many as
//!   were sent, and under no other; the neighbour stays `full`;
//! * an advertisement of `02:99:99:00:00:00/24` signed with a wrong key
//!   installs no route, and the same advertisement signed right does;
//! * a burst of 20000 bad frames: the management API keeps answering, the
//!   protocol class's punts stay within `[punt.protocol]`'s port bucket,
//!   and every frame is accounted for (rejected, rate-limited, ring full,
//!   or dropped by the kernel before moose); a valid hello is still
//!   accepted afterwards.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use moose_testbed::{unique_tag, VethPair};

const PREFIX: &str = "02:11:11:00:00:00/24";
const SWITCH_ID: &str = "52:54:00:11:11:01";
const KEY: &str = "sixteen-byte-key-0001";
const WRONG_KEY: &str = "not-the-key-of-this-fabric";
const PEER_ID: &str = "52:54:00:99:99:01";
const PEER_PREFIX: &str = "02:99:99:00:00:00/24";

/// `[punt.protocol]` of the switch: the flood runs into the port bucket.
const PORT_RATE: f64 = 2000.0;
const PORT_BURST: f64 = 500.0;
const FLOOD: u64 = 20_000;

/// The peer switch: reads one command a line on stdin, sends the frames
/// it names on the veth end, answers `sent <n> [seconds]`.
const PEER_PY: &str = r#"
import hashlib, hmac, socket, struct, sys, time
from scapy.all import Raw, conf, sendp

conf.verb = 0
IFACE = sys.argv[1]
KEY = sys.argv[2].encode()
WRONG = sys.argv[3].encode()
MOOSE = bytes.fromhex(sys.argv[4].replace(":", ""))
KEY_ID = 1
ME = bytes.fromhex(sys.argv[5].replace(":", ""))
addr, plen = sys.argv[6].split("/")
PREFIX = bytes.fromhex(addr.replace(":", "")) + bytes([int(plen)])
# dst 03:4d:4f:4f:53:45, src, EtherType 0x88b5
ETH = bytes.fromhex("034d4f4f5345") + ME + struct.pack(">H", 0x88B5)
counter = time.time_ns()


def next_counter():
    global counter
    counter += 1
    return counter


def hello(heard):
    # switch id, prefix address + len, flags, port, hello ms, dead ms,
    # tree digest, reserved, n, then n x (switch id, port)
    body = ME + PREFIX + b"\x00" + struct.pack(">HHHQ", 0, 100, 60000, 0)
    body += bytes([0, len(heard)])
    for m, p in heard:
        body += m + struct.pack(">H", p)
    return 2, body


def twoway():
    return hello([(MOOSE, 0)])


def advert(seq, extra=b""):
    # origin, sequence, age, prefix address + len, flags, 4 reserved,
    # then links: neighbour, cost, local port, its port
    body = ME + struct.pack(">IH", seq, 0) + PREFIX + b"\x00" + bytes(4)
    body += MOOSE + struct.pack(">HHH", 10, 0, 0)
    return 3, body + extra


def ack(origin, seq, extra=b""):
    return 4, origin + struct.pack(">I", seq) + extra


def frame(msg, key=KEY, key_id=KEY_ID, signed=True, length=None):
    ty, body = msg
    n = len(body) if length is None else length
    m = bytes([1, ty | (0x80 if signed else 0)]) + struct.pack(">H", n) + body
    if signed:
        t = bytes([key_id]) + struct.pack(">Q", next_counter())
        m += t + hmac.new(key, ME + m + t, hashlib.sha256).digest()
    return pad(ETH + m)


def pad(f):
    return f + bytes(max(0, 60 - len(f)))


def frames(cmd, args):
    n = int(args[0]) if args else 1
    if cmd == "hello":
        return [frame(hello([]))]
    if cmd == "twoway":
        return [frame(twoway())]
    if cmd == "ack":
        return [frame(ack(MOOSE, int(args[0])))]
    if cmd == "wrong_key":
        return [frame(twoway() if i % 2 == 0 else advert(1), key=WRONG) for i in range(n)]
    if cmd == "unknown_key":
        return [frame(twoway(), key_id=7) for _ in range(n)]
    if cmd == "unsigned":
        return [frame(twoway() if i % 2 == 0 else advert(1), signed=False) for i in range(n)]
    if cmd == "truncated":
        # Header (stating the whole body) and 20 bytes of the body, padded.
        return [pad(frame(twoway())[:14 + 4 + 20]) for _ in range(n)]
    if cmd == "oversize":
        lens = [1401, 2000, 65535]
        return [frame(twoway(), length=lens[i % 3]) for i in range(n)]
    if cmd == "wrong_length":
        bad = [hello([]), ack(MOOSE, 1, b"\x00" * 5), advert(1, b"\x00" * 5)]
        out = []
        for i in range(n):
            ty, body = bad[i % 3]
            if ty == 2:
                body = body + b"\x00"  # 31 bytes, lists none
            out.append(frame((ty, body)))
        return out
    if cmd == "replay":
        f = frame(twoway())
        return [f, f]
    if cmd == "advert_wrong":
        return [frame(advert(1), key=WRONG)]
    if cmd == "advert_good":
        return [frame(advert(1))]
    raise ValueError(cmd)


print("ready", flush=True)
for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    cmd, args = words[0], words[1:]
    if cmd == "quit":
        break
    if cmd == "flood":
        # A burst as fast as Python goes: built first, then written to a
        # raw socket (scapy's sendp costs a packet build per frame).
        fs = [frame(twoway() if i % 2 == 0 else advert(1), key=WRONG) for i in range(int(args[0]))]
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((IFACE, 0))
        t = time.monotonic()
        for f in fs:
            s.send(f)
        print("sent %d %.3f" % (len(fs), time.monotonic() - t), flush=True)
        s.close()
        continue
    fs = frames(cmd, args)
    sendp([Raw(load=f) for f in fs], iface=IFACE, verbose=False)
    print("sent %d" % len(fs), flush=True)
"#;

/// The Python peer on a veth end; killed on drop.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Peer {
    fn start(script: &std::path::Path, iface: &str) -> Peer {
        let mut child = Command::new("/usr/bin/python3")
            .arg("-u")
            .arg(script)
            .args([iface, KEY, WRONG_KEY, SWITCH_ID, PEER_ID, PEER_PREFIX])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn /usr/bin/python3");
        let stdin = child.stdin.take().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for l in out.lines() {
                let Ok(l) = l else { return };
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        let mut p = Peer {
            child,
            stdin,
            lines,
        };
        let first = p.line(Duration::from_secs(20));
        assert_eq!(first, "ready", "the peer script did not start");
        p
    }

    fn line(&mut self, limit: Duration) -> String {
        self.lines
            .recv_timeout(limit)
            .unwrap_or_else(|e| panic!("peer script: no answer within {limit:?} ({e})"))
    }

    /// Runs one command; the number of frames sent and the words after it.
    fn send(&mut self, cmd: &str) -> (u64, Vec<String>) {
        writeln!(self.stdin, "{cmd}").expect("write to the peer");
        self.stdin.flush().unwrap();
        let l = self.line(Duration::from_secs(20));
        let mut w = l.split_whitespace().map(str::to_string);
        assert_eq!(w.next().as_deref(), Some("sent"), "{cmd}: {l}");
        let n = w.next().and_then(|n| n.parse().ok()).expect("count");
        (n, w.collect())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Metrics.

/// Sum of the samples of `name` whose labels contain every one of `with`
/// (`port="f0"`); `None` if the family is not there (the control thread
/// did not answer the scrape in time).
fn sum(text: &str, name: &str, with: &[&str]) -> Option<f64> {
    let mut found = false;
    let mut total = 0.0;
    for l in text.lines() {
        let Some(rest) = l.strip_prefix(name) else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => match r.split_once("} ") {
                Some(x) => x,
                None => continue,
            },
            None => match rest.strip_prefix(' ') {
                Some(v) => ("", v),
                None => continue,
            },
        };
        found = true;
        if with.iter().all(|w| labels.contains(w)) {
            total += value.trim().parse::<f64>().unwrap();
        }
    }
    found.then_some(total)
}

/// `moose_routing_rejected_total` by reason.
fn rejected(text: &str) -> Option<BTreeMap<String, u64>> {
    let name = "moose_routing_rejected_total{reason=\"";
    let m: BTreeMap<String, u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix(name))
        .filter_map(|r| {
            let (reason, v) = r.split_once("\"} ")?;
            Some((reason.to_string(), v.trim().parse::<f64>().ok()? as u64))
        })
        .collect();
    (!m.is_empty()).then_some(m)
}

/// One scrape with the figures the test follows.
#[derive(Clone, Debug)]
struct Snap {
    rejected: BTreeMap<String, u64>,
    hellos_received: u64,
    adverts_received: u64,
    acks_received: u64,
    punt_sent: u64,
    rate_limited: u64,
    /// `moose_punt_{port,class}_rate_limited_total` of the protocol class.
    punt_refused: u64,
    ring_full: u64,
    rx_missed: u64,
    rx_packets: u64,
}

impl Snap {
    fn take(app: &Moose) -> Snap {
        wait_for(Duration::from_secs(10), "a whole scrape", || {
            let t = app.get("/metrics");
            let c = |name: &str, with: &[&str]| sum(&t, name, with).map(|v| v as u64);
            Some(Snap {
                rejected: rejected(&t)?,
                hellos_received: c("moose_routing_hellos_received_total", &[])?,
                adverts_received: c("moose_routing_adverts_received_total", &[])?,
                acks_received: c("moose_routing_acks_received_total", &[])?,
                punt_sent: c("moose_punt_sent_total", &["class=\"protocol\""])?,
                rate_limited: c(
                    "moose_port_drops_total",
                    &["port=\"f0\"", "reason=\"punt_rate_limited\""],
                )?,
                punt_refused: c(
                    "moose_punt_port_rate_limited_total",
                    &["class=\"protocol\""],
                )? + c(
                    "moose_punt_class_rate_limited_total",
                    &["class=\"protocol\""],
                )?,
                ring_full: c(
                    "moose_port_drops_total",
                    &["port=\"f0\"", "reason=\"punt_ring_full\""],
                )?,
                rx_missed: c("moose_nic_rx_missed_total", &["port=\"f0\""])?,
                rx_packets: c("moose_port_rx_packets_total", &["port=\"f0\""])?,
            })
        })
    }

    fn rejected_since(&self, before: &Snap) -> BTreeMap<String, u64> {
        self.rejected
            .iter()
            .map(|(r, n)| (r.clone(), n - before.rejected.get(r).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// Waits until the rejections since `before` reach `want` (reason →
/// count), lets the switch settle, and asserts they are exactly `want`:
/// no reason more, none other.
fn expect_rejected(app: &Moose, before: &Snap, what: &str, want: &[(&str, u64)]) -> Snap {
    let want: BTreeMap<String, u64> = want.iter().map(|(r, n)| (r.to_string(), *n)).collect();
    let reached = |s: &Snap| {
        let got = s.rejected_since(before);
        want.iter()
            .all(|(r, n)| got.get(r).copied().unwrap_or(0) >= *n)
    };
    let t = Instant::now();
    loop {
        if reached(&Snap::take(app)) {
            break;
        }
        if t.elapsed() > Duration::from_secs(5) {
            let got = Snap::take(app).rejected_since(before);
            panic!("{what}: rejections {got:?}, want {want:?}");
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    // Anything counted late would show now.
    std::thread::sleep(Duration::from_millis(200));
    let s = Snap::take(app);
    let got = s.rejected_since(before);
    assert_eq!(got, want, "{what}: rejections by reason");
    eprintln!("{what}: rejected {got:?}");
    s
}

// ---------------------------------------------------------------------------
// The API.

fn neighbor(app: &Moose) -> serde_json::Value {
    let n = app.json("/api/v1/neighbors");
    n.as_array()
        .expect("neighbours: a list")
        .iter()
        .find(|r| r["port"] == "f0")
        .cloned()
        .unwrap_or_else(|| panic!("no neighbour record of f0: {n}"))
}

fn wait_state(app: &Moose, states: &[&str]) -> serde_json::Value {
    wait_for(
        Duration::from_secs(5),
        &format!("f0's neighbour {states:?}"),
        || {
            let n = neighbor(app);
            states.iter().any(|s| n["state"] == *s).then_some(n)
        },
    )
}

/// The switch's own advertisement in its LSDB.
fn own_advert(app: &Moose) -> serde_json::Value {
    let l = app.json("/api/v1/lsdb");
    l.as_array()
        .expect("lsdb: a list")
        .iter()
        .find(|e| e["own"] == true)
        .cloned()
        .unwrap_or_else(|| panic!("no own advertisement: {l}"))
}

fn spf_route_to_peer(app: &Moose) -> Option<serde_json::Value> {
    let r = app.json("/api/v1/routes");
    r.as_array()
        .expect("routes: a list")
        .iter()
        .find(|r| r["prefix"] == PEER_PREFIX && r["source"] == "spf")
        .cloned()
}

fn veth_rx_dropped(iface: &str) -> u64 {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/statistics/rx_dropped"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn bad_protocol_input_is_refused_and_counted() {
    let t0 = Instant::now();
    let tag = unique_tag("rb");
    let fabric = VethPair::new(&format!("{tag}fa"), &format!("{tag}fb")).expect("veth (root)");
    let edge = VethPair::new(&format!("{tag}ea"), &format!("{tag}eb")).expect("veth (root)");
    assert!(fabric.wait_up(Duration::from_secs(5)) && edge.wait_up(Duration::from_secs(5)));
    let scratch = Scratch::new("rtbad");
    let listen = free_addr();
    let cfg = format!(
        "[switch]\nname = \"rtbad\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 8191\n{}\n\
         [metrics]\nlisten = \"{listen}\"\n\
         [moose]\nprefix = \"{PREFIX}\"\n\
         [routing]\nswitch_id = \"{SWITCH_ID}\"\nkey = \"{KEY}\"\nkey_id = 1\n\
         [punt.protocol]\nrate_pps = 5000\nburst = 1000\nport_rate_pps = {PORT_RATE}\nport_burst = {PORT_BURST}\n\
         [[port]]\nname = \"f0\"\nrole = \"fabric\"\ndevice = \"net_af_packet0,iface={}\"\n\
         [[port]]\nname = \"e0\"\nrole = \"edge\"\ndevice = \"net_af_packet1,iface={}\"\n",
        eal("rtbad"),
        fabric.a,
        edge.a,
    );
    let cfg = scratch.write("rtbad.toml", &cfg);
    let app = Moose::start(&cfg, &[], &[], &listen);
    let script = scratch.write("peer.py", PEER_PY);
    let mut peer = Peer::start(&script, &fabric.b);
    eprintln!("switch and peer up after {:?}", t0.elapsed());

    // (a) A valid signed hello: a neighbour, `init` (it does not list us).
    let s = Snap::take(&app);
    assert_eq!(peer.send("hello").0, 1);
    let n = wait_state(&app, &["init", "two-way", "full"]);
    assert_eq!(n["switch_id"], PEER_ID, "{n}");
    assert_eq!(n["prefix"], PEER_PREFIX, "{n}");
    assert_eq!(n["state"], "init", "{n}");
    let s2 = Snap::take(&app);
    assert_eq!(s2.hellos_received - s.hellos_received, 1);
    assert_eq!(s2.rejected_since(&s), BTreeMap::new(), "a valid hello");

    // A hello listing the switch: two-way; acknowledging its
    // advertisement: full. The switch then advertises the link.
    assert_eq!(peer.send("twoway").0, 1);
    wait_state(&app, &["two-way", "full"]);
    let seq = own_advert(&app)["seq"].as_u64().unwrap();
    assert_eq!(peer.send(&format!("ack {seq}")).0, 1);
    wait_state(&app, &["full"]);
    let own = wait_for(
        Duration::from_secs(5),
        "the link to the peer advertised",
        || {
            let a = own_advert(&app);
            a["links"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["neighbor"] == PEER_ID)
                .then_some(a)
        },
    );
    // (Stops its retransmissions.)
    peer.send(&format!("ack {}", own["seq"]));
    let s = Snap::take(&app);
    assert_eq!(s.rejected_total(), 0, "{:?}", s.rejected);
    assert!(s.acks_received >= 2);
    eprintln!("neighbour full after {:?}", t0.elapsed());

    // (b)–(f) Refused before anything reads them.
    // (command, frames, the reason each is refused for)
    let cases = [
        ("wrong_key", 10, "bad_mac"),
        ("unknown_key", 4, "unknown_key"),
        ("unsigned", 6, "unauthenticated"),
        ("truncated", 5, "truncated"),
        ("oversize", 6, "oversize"),
        ("wrong_length", 6, "wrong_length"),
    ];
    let mut s = s;
    for (cmd, n, reason) in cases {
        let cmd = format!("{cmd} {n}");
        let (sent, _) = peer.send(&cmd);
        assert_eq!(sent, n, "{cmd}");
        let after = expect_rejected(&app, &s, &cmd, &[(reason, n)]);
        assert_eq!(after.hellos_received, s.hellos_received, "{cmd}: none read");
        assert_eq!(
            after.adverts_received, s.adverts_received,
            "{cmd}: none read"
        );
        assert_eq!(after.acks_received, s.acks_received, "{cmd}: none read");
        s = after;
    }
    assert_eq!(neighbor(&app)["state"], "full");

    // (g) The same valid frame twice: read once, then `replayed`.
    let (sent, _) = peer.send("replay");
    assert_eq!(sent, 2);
    let after = expect_rejected(&app, &s, "replay", &[("replayed", 1)]);
    assert_eq!(after.hellos_received - s.hellos_received, 1);
    s = after;

    // (h) An advertisement of the peer's prefix with a wrong key, while
    // the peer is adjacent (the same one signed right is accepted below).
    let (sent, _) = peer.send("advert_wrong");
    assert_eq!(sent, 1);
    let after = expect_rejected(&app, &s, "advert, wrong key", &[("bad_mac", 1)]);
    assert_eq!(after.adverts_received, s.adverts_received);
    std::thread::sleep(Duration::from_millis(100)); // SPF runs within spf_delay (10 ms)
    assert_eq!(
        spf_route_to_peer(&app),
        None,
        "route from a forged advertisement"
    );
    let lsdb = app.json("/api/v1/lsdb");
    assert!(
        lsdb.as_array()
            .unwrap()
            .iter()
            .all(|e| e["switch_id"] != PEER_ID),
        "forged advertisement in the LSDB: {lsdb}"
    );
    assert_eq!(neighbor(&app)["state"], "full");
    s = after;

    // (i) A burst of bad frames, with the API asked all along.
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let stop = stop.clone();
        let listen = listen.clone();
        std::thread::spawn(move || {
            // (start, end) of every answer; the failures.
            let (mut ok, mut failed) = (Vec::new(), Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match http(&listen, "GET", "/api/v1/status") {
                    Ok(r) if r.status == 200 => ok.push((t, Instant::now())),
                    Ok(r) => failed.push(format!("status {}", r.status)),
                    Err(e) => failed.push(e.to_string()),
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            (ok, failed)
        })
    };
    let dropped0 = veth_rx_dropped(&fabric.a);
    let flood_start = Instant::now();
    let (sent, rest) = peer.send(&format!("flood {FLOOD}"));
    assert_eq!(sent, FLOOD);
    let send_secs: f64 = rest[0].parse().unwrap();
    // Every frame ends up counted somewhere: read by the routing service
    // (and refused), refused by the punt buckets or the ring, or dropped
    // by the kernel (af_packet ring full, or the veth's own backlog).
    let accounted = |x: &Snap, dropped: u64| {
        (x.rejected_total() - s.rejected_total())
            + (x.rate_limited - s.rate_limited)
            + (x.ring_full - s.ring_full)
            + (x.rx_missed - s.rx_missed)
            + (dropped - dropped0)
    };
    let f = wait_for(Duration::from_secs(15), "the flood accounted for", || {
        let x = Snap::take(&app);
        (accounted(&x, veth_rx_dropped(&fabric.a)) >= FLOOD).then_some(x)
    });
    let flood_end = Instant::now();
    let window = (flood_end - flood_start).as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    let f2 = Snap::take(&app);
    stop.store(true, Ordering::Relaxed);
    let (api_ok, api_failed) = poller.join().unwrap();
    let api_worst = api_ok
        .iter()
        .map(|(a, b)| *b - *a)
        .max()
        .unwrap_or_default();
    // Answers to requests made while the flood was on its way in.
    let api_during = api_ok
        .iter()
        .filter(|(a, _)| *a >= flood_start && *a <= flood_end)
        .count();
    let dropped = veth_rx_dropped(&fabric.a) - dropped0;
    let rejected = f2.rejected_since(&s);
    let punted = f2.punt_sent - s.punt_sent;
    let limited = f2.rate_limited - s.rate_limited;
    eprintln!(
        "flood: {FLOOD} frames sent in {send_secs:.3} s; accounted within {window:.2} s: \
         rx {} (+{} missed by the NIC, +{dropped} dropped by the veth), punted {punted}, \
         rejected {rejected:?}, punt_rate_limited {limited}, punt_ring_full {}; \
         API answered {api_during} requests made during it ({} in all, slowest {api_worst:?}), \
         failed {api_failed:?}",
        f2.rx_packets - s.rx_packets,
        f2.rx_missed - s.rx_missed,
        f2.ring_full - s.ring_full,
        api_ok.len(),
    );
    assert_eq!(
        accounted(&f2, dropped0 + dropped),
        FLOOD,
        "every flood frame counted once (f = {f:?})"
    );
    // Only bad MACs came in, and every punted frame was read and refused.
    assert_eq!(rejected.keys().collect::<Vec<_>>(), ["bad_mac"]);
    assert_eq!(rejected["bad_mac"], punted, "punted = refused");
    assert_eq!(f2.hellos_received, s.hellos_received);
    assert_eq!(f2.adverts_received, s.adverts_received);
    // The port's bucket held: its depth plus its rate over the whole
    // window (an upper bound of the time the frames arrived in).
    let bound = PORT_BURST + PORT_RATE * window + 1.0;
    assert!(
        (punted as f64) <= bound,
        "{punted} punts, more than the bucket allows ({bound:.0})"
    );
    assert!(limited > 0, "a burst of {FLOOD} never met the bucket");
    assert_eq!(
        f2.punt_refused - s.punt_refused,
        limited,
        "moose_punt_*_rate_limited"
    );
    assert!(api_failed.is_empty(), "API failures: {api_failed:?}");
    assert!(api_during >= 1, "the API was never asked during the flood");
    assert!(api_worst < Duration::from_secs(2), "API took {api_worst:?}");
    // Still the neighbour it was, and still reading valid hellos.
    assert_eq!(neighbor(&app)["state"], "full");
    let (sent, _) = peer.send("twoway");
    assert_eq!(sent, 1);
    wait_for(
        Duration::from_secs(5),
        "a valid hello after the flood",
        || (Snap::take(&app).hellos_received > f2.hellos_received).then_some(()),
    );
    eprintln!("flood done after {:?}", t0.elapsed());

    // After all of it: no route to the peer's prefix from SPF.
    assert_eq!(
        spf_route_to_peer(&app),
        None,
        "{}",
        app.get("/api/v1/routes")
    );
    // The same advertisement signed right is accepted and routed: the
    // checks above could have failed.
    let before = Snap::take(&app);
    assert_eq!(peer.send("advert_good").0, 1);
    let r = wait_for(
        Duration::from_secs(5),
        "the route from a valid advert",
        || spf_route_to_peer(&app),
    );
    assert_eq!(r["switch_id"], PEER_ID, "{r}");
    assert_eq!(r["ports"], serde_json::json!(["f0"]), "{r}");
    let after = Snap::take(&app);
    assert_eq!(after.adverts_received - before.adverts_received, 1);
    assert_eq!(after.rejected_since(&before), BTreeMap::new());

    drop(peer);
    app.stop();
    eprintln!("total {:?}", t0.elapsed());
}
