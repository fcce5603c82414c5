//! The management plane through the real binary: what clients of
//! `metrics.listen` can and cannot do to a running appliance, and
//! `moose show`, and how `moose run` stops.
//!
//! Each test runs its own `moose run` (own DPDK file prefix, own port,
//! `idle = "backoff"`), so they run side by side; every wait and every
//! socket is bounded in time.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use moose_wire::ethernet::emit;
use moose_wire::{EtherType, Mac};

/// Two `net_null` ports: endless zero-filled frames in, so the workers'
/// receive counters move all the time.
fn null_ports() -> Vec<(&'static str, String)> {
    vec![("p0", "net_null0".into()), ("p1", "net_null1".into())]
}

/// Two `net_null` sinks: no traffic, the workers sleep.
fn quiet_ports() -> Vec<(&'static str, String)> {
    vec![
        ("p0", "net_null0,no-rx=1".into()),
        ("p1", "net_null1,no-rx=1".into()),
    ]
}

fn rx(m: &Moose, port: &str) -> f64 {
    metric(
        &m.get("/metrics"),
        "moose_port_rx_packets_total",
        &format!("port=\"{port}\""),
    )
}

fn report(e: &Exited) -> serde_json::Value {
    serde_json::from_str(&e.stdout)
        .unwrap_or_else(|err| panic!("final report is not JSON ({err}): {:?}", e.stdout))
}

/// 10,000 connections that send nothing: moose stays up and forwarding,
/// refuses what is over its limit, answers again once the idle ones have
/// timed out (while the 10,000 are still open on this side), and stops
/// cleanly.
#[test]
fn connection_flood() {
    const CONNS: usize = 10_000;
    let limit = rlimit::increase_nofile_limit(u64::MAX).expect("RLIMIT_NOFILE");
    assert!(
        limit >= CONNS as u64 + 512,
        "this test needs {} descriptors; the hard limit is {limit}",
        CONNS + 512
    );
    let s = Scratch::new("mgmt-flood");
    let listen = free_addr();
    let cfg = s.write("c.toml", &config("flood", &listen, &null_ports(), ""));
    let mut m = Moose::start(&cfg, &["--json"], &[], &listen);
    let before = rx(&m, "p0");

    let t0 = Instant::now();
    let addr: std::net::SocketAddr = listen.parse().unwrap();
    let mut conns = Vec::with_capacity(CONNS);
    for i in 0..CONNS {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(c) => conns.push(c),
            Err(e) => panic!(
                "connection {i} failed: {e} (moose alive: {}); stderr:\n{}",
                m.alive(),
                m.stderr()
            ),
        }
    }
    eprintln!("{CONNS} connections in {:?}", t0.elapsed());
    assert!(m.alive(), "moose died under the flood:\n{}", m.stderr());

    // Still holding all 10,000: the 256 served ones are closed by the
    // header timeout (5 s), the rest were refused at once, so the API is
    // back within a few seconds and the workers kept counting meanwhile.
    let flood_end = Instant::now();
    let text = wait_for(Duration::from_secs(15), "/metrics during the flood", || {
        http(&listen, "GET", "/metrics")
            .ok()
            .filter(|r| r.status == 200)
            .map(|r| r.text())
    });
    eprintln!(
        "/metrics answered {:?} after the flood",
        flood_end.elapsed()
    );
    let during = metric(&text, "moose_port_rx_packets_total", "port=\"p0\"");
    assert!(during > before, "workers stopped: rx {before} -> {during}");
    let later = wait_for(Duration::from_secs(5), "workers counting on", || {
        Some(rx(&m, "p0")).filter(|&n| n > during)
    });
    assert!(m.alive());
    assert_eq!(conns.len(), CONNS);
    drop(conns);

    // Closed: the API answers at once and counted what it refused.
    let t = Instant::now();
    let text = wait_for(Duration::from_secs(5), "/metrics after the flood", || {
        http(&listen, "GET", "/metrics")
            .ok()
            .filter(|r| r.status == 200)
            .map(|r| r.text())
    });
    assert!(t.elapsed() < Duration::from_secs(5));
    let refused = metric(&text, "moose_api_connections_refused_total", "");
    let accepted = metric(&text, "moose_api_connections_accepted_total", "");
    eprintln!("accepted {accepted}, refused {refused}");
    assert!(refused > 0.0, "nothing refused:\n{text}");
    assert!(accepted >= CONNS as f64, "accepted {accepted}");
    assert!(metric(&text, "moose_api_connections_active", "") <= 256.0);

    let e = m.stop();
    let r = report(&e);
    assert_eq!(r["switch"], "flood");
    assert!(r["ports"][0]["counters"]["rx_packets"].as_f64().unwrap() >= later);
}

/// A client that pipelines thousands of requests and never reads its
/// answers stalls only its own connection: other requests keep being
/// answered quickly, and the stalled connection is closed by the write
/// timeout.
#[test]
fn non_reading_client_blocks_nobody() {
    let s = Scratch::new("mgmt-noread");
    let listen = free_addr();
    let cfg = s.write("c.toml", &config("noread", &listen, &quiet_ports(), ""));
    let m = Moose::start(&cfg, &[], &[], &listen);
    let one = m.get("/metrics").len();

    // Thousands of pipelined /metrics requests (each answer is ~15 KB:
    // far more than the socket buffers of both ends hold).
    const REQUESTS: usize = 5000;
    let mut hog = connect(&listen).unwrap();
    hog.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {listen}\r\n\r\n");
    let all = req.repeat(REQUESTS);
    let written = match hog.write_all(all.as_bytes()) {
        Ok(()) => all.len(),
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "{e}"
            );
            0
        }
    };
    eprintln!(
        "pipelined {REQUESTS} requests (answers ~{} MB; all written: {})",
        REQUESTS * one / 1_000_000,
        written > 0
    );
    let stalled_at = Instant::now();

    for i in 0..5 {
        let t = Instant::now();
        let r = http(&listen, "GET", "/api/v1/status").expect("status");
        let took = t.elapsed();
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(took < Duration::from_secs(2), "status #{i} took {took:?}");
        let t = Instant::now();
        let r = http(&listen, "GET", "/metrics").expect("metrics");
        assert_eq!(r.status, 200);
        assert!(t.elapsed() < Duration::from_secs(2), "metrics #{i}");
        std::thread::sleep(Duration::from_millis(300));
    }

    // The server gives up on the hog 10 s after its writes stalled.
    let timeouts = wait_for(Duration::from_secs(25), "a write timeout", || {
        let text = http(&listen, "GET", "/metrics").ok()?.text();
        try_metric(&text, "moose_api_write_timeouts_total", "").filter(|&n| n >= 1.0)
    });
    eprintln!(
        "write timeout counted {:?} after the stall",
        stalled_at.elapsed()
    );
    assert!(timeouts >= 1.0);
    // ... and the hog's connection is closed: what was buffered drains,
    // then end of stream (or a reset).
    hog.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match hog.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => assert!(Instant::now() < deadline, "hog still served"),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("hog connection not closed: {e}"),
        }
    }
    m.stop();
}

/// A broadcast from 02:00:00:00:00:0a, over and over: p0 floods it to p1.
fn flood_pcap(s: &Scratch) -> String {
    let mut f = Vec::new();
    emit(
        &mut f,
        Mac::BROADCAST,
        Mac([2, 0, 0, 0, 0, 0x0a]),
        None,
        EtherType::Ipv4,
        &[7; 46],
    );
    write_pcap(&s.path("in.pcap"), &[f.clone(), f.clone(), f.clone(), f]);
    format!(
        "net_pcap0,rx_pcap={},tx_pcap={},infinite_rx=1",
        s.path("in.pcap").display(),
        s.path("out.pcap").display()
    )
}

fn tx(m: &Moose, port: &str) -> f64 {
    metric(
        &m.get("/metrics"),
        "moose_port_tx_packets_total",
        &format!("port=\"{port}\""),
    )
}

/// A handler that panics gets a 500; nothing else notices: the workers go
/// on forwarding, the server goes on serving, and SIGTERM still stops moose
/// with status 0 and its final report.
#[test]
fn panic_in_a_handler_is_a_500() {
    let s = Scratch::new("mgmt-panic");
    let listen = free_addr();
    let ports = vec![
        ("p0", flood_pcap(&s)),
        ("p1", "net_null1,no-rx=1".to_string()),
    ];
    let cfg = s.write("c.toml", &config("panic", &listen, &ports, ""));
    let m = Moose::start(&cfg, &["--json"], &[("MOOSE_TEST_FAULTS", "1")], &listen);
    let before = wait_for(Duration::from_secs(5), "forwarding", || {
        Some(tx(&m, "p1")).filter(|&n| n > 0.0)
    });

    let r = http(&listen, "GET", "/api/v1/debug/panic").expect("an answer, not a reset");
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        !r.text().contains("test fault"),
        "panic message leaked: {}",
        r.text()
    );

    let text = m.get("/metrics");
    assert_eq!(metric(&text, "moose_api_handler_panics_total", ""), 1.0);
    let after = wait_for(Duration::from_secs(5), "forwarding to go on", || {
        Some(tx(&m, "p1")).filter(|&n| n > before)
    });
    assert_eq!(m.json("/api/v1/status")["switch"], "panic");

    let e = m.stop();
    let r = report(&e);
    assert_eq!(r["switch"], "panic");
    assert!(r["ports"][1]["counters"]["tx_packets"].as_f64().unwrap() >= after);
}

/// HEAD works; errors never repeat what the client sent.
#[test]
fn http_hygiene() {
    let s = Scratch::new("mgmt-http");
    let listen = free_addr();
    let cfg = s.write("c.toml", &config("hygiene", &listen, &quiet_ports(), ""));
    let m = Moose::start(&cfg, &[], &[], &listen);

    for path in ["/metrics", "/api/v1/status"] {
        let r = http(&listen, "HEAD", path).unwrap();
        assert_eq!(r.status, 200, "HEAD {path}: {}", r.head);
        assert!(r.body.is_empty(), "HEAD {path} has a body: {:?}", r.text());
        let get = http(&listen, "GET", path).unwrap();
        assert_eq!(get.status, 200);
        assert!(!get.body.is_empty());
    }

    // The path, escaped as a client sends it, and raw (which HTTP does not
    // allow: a 400 then, but no echo either).
    for target in ["/no/such/%3Cscript%3E", "/no/such/<script>"] {
        let r = http(&listen, "GET", target).unwrap();
        let want = if target.contains('<') { 400 } else { 404 };
        assert_eq!(r.status, want, "{target}: {}", r.head);
        let all = format!("{}\n{}", r.head, r.text()).to_lowercase();
        assert!(!all.contains("script"), "{target} echoed: {all}");
        assert!(!all.contains("no/such"), "{target} echoed: {all}");
    }
    // Without MOOSE_TEST_FAULTS the fault route does not exist.
    assert_eq!(
        http(&listen, "GET", "/api/v1/debug/panic").unwrap().status,
        404
    );

    let bad = |target: &str, names: &str, secret: &str| {
        let r = http(&listen, "GET", target).unwrap();
        assert_eq!(r.status, 400, "{target}: {}", r.text());
        let body = r.text();
        assert!(body.contains(names), "{target}: {body}");
        assert!(!body.contains(secret), "{target} echoed {secret:?}: {body}");
    };
    bad("/api/v1/fdb?limit=abc", "limit", "abc");
    bad("/api/v1/fdb?limit=0", "limit", "=0");
    bad("/api/v1/fdb?limit=10001", "limit", "10001");
    bad("/api/v1/fdb?after=zzz9", "after", "zzz9");
    bad("/api/v1/fdb?bogus=1", "query", "bogus");
    let r = http(&listen, "GET", "/api/v1/fdb?limit=5").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    m.stop();
}

/// Frames from `n` distinct source MACs (02:00:00:xx:xx:xx, 1..=n) to the
/// broadcast address.
fn many_sources(n: u32) -> Vec<Vec<u8>> {
    (1..=n)
        .map(|i| {
            let b = i.to_be_bytes();
            let mut f = Vec::with_capacity(60);
            emit(
                &mut f,
                Mac::BROADCAST,
                Mac([2, 0, 0, b[1], b[2], b[3]]),
                None,
                EtherType::Ipv4,
                &[0; 46],
            );
            f
        })
        .collect()
}

/// (VLAN, MAC as a number, port) of one FDB record.
fn fdb_key(e: &serde_json::Value) -> (u64, u64, String) {
    let mac = e["mac"].as_str().expect("mac");
    let n = u64::from_str_radix(&mac.replace(':', ""), 16).expect("hex MAC");
    (
        e["vlan"].as_u64().expect("vlan"),
        n,
        e["port"].as_str().expect("port").to_string(),
    )
}

/// 200,000 new source MACs against `bridge.max_entries = 150000`: the FDB
/// stops at its bound and counts the rest; the whole table streams out in
/// order without moose's memory growing with it, `/metrics` answers during
/// the dump, and paging walks the same entries.
#[test]
fn bounded_fdb_and_streamed_dump() {
    const SOURCES: u32 = 200_000;
    const MAX: usize = 150_000;
    let s = Scratch::new("mgmt-fdb");
    write_pcap(&s.path("in.pcap"), &many_sources(SOURCES));
    let listen = free_addr();
    let ports = vec![
        (
            "p0",
            format!(
                "net_pcap0,rx_pcap={},tx_pcap={}",
                s.path("in.pcap").display(),
                s.path("out.pcap").display()
            ),
        ),
        ("p1", "net_null1,no-rx=1".to_string()),
    ];
    // Every learn request must reach the control thread, however fast the
    // capture replays: a punt ring and learn buckets larger than the
    // capture.
    let extra = format!(
        "[bridge]\nmax_entries = {MAX}\n[punt.learn]\nrate_pps = 100000000\nburst = 262144\nport_rate_pps = 100000000\nport_burst = 262144\n"
    );
    let mut text = config("fdb", &listen, &ports, &extra);
    text = text.replace("mbufs = 4095\n", "mbufs = 4095\npunt_ring = 262144\n");
    let cfg = s.write("c.toml", &text);
    let m = Moose::start(&cfg, &[], &[], &listen);

    let status = wait_for(
        Duration::from_secs(30),
        "all frames learned or refused",
        || {
            let st = m.json("/api/v1/status");
            let c = &st["bridge"]["counters"];
            let done = c["learned"].as_u64()? + c["table_full"].as_u64()?;
            (done >= u64::from(SOURCES)).then_some(st)
        },
    );
    let b = &status["bridge"];
    assert_eq!(b["entries"], MAX, "{b}");
    assert_eq!(b["max_entries"], MAX, "{b}");
    let full = b["counters"]["table_full"].as_u64().unwrap();
    assert!(full >= u64::from(SOURCES) - MAX as u64, "{b}");
    let text = m.get("/metrics");
    assert_eq!(metric(&text, "moose_fdb_table_full_total", ""), full as f64);
    assert_eq!(metric(&text, "moose_fdb_entries", ""), MAX as f64);

    // The dump, read at a steady pace so that it lasts a while; moose's
    // RSS sampled every 10 ms meanwhile.
    let _ = m.get("/api/v1/fdb?limit=1000");
    let base = rss_kib(m.pid).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(base));
    let sampler = {
        let (stop, peak, pid) = (stop.clone(), peak.clone(), m.pid);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(r) = rss_kib(pid) {
                    peak.fetch_max(r, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let got = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let dump = {
        let (got, done, listen) = (got.clone(), done.clone(), listen.clone());
        std::thread::spawn(move || {
            let mut c = connect(&listen).unwrap();
            write!(
                c,
                "GET /api/v1/fdb HTTP/1.1\r\nHost: {listen}\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let deadline = Instant::now() + Duration::from_secs(25);
            let mut raw = Vec::new();
            let mut buf = vec![0u8; 16384];
            loop {
                assert!(Instant::now() < deadline, "dump too slow");
                match c.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        raw.extend_from_slice(&buf[..n]);
                        got.store(raw.len(), Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(e) => panic!("dump: {e}"),
                }
            }
            done.store(true, Ordering::Relaxed);
            raw
        })
    };
    wait_for(Duration::from_secs(10), "the dump to start", || {
        (got.load(Ordering::Relaxed) > 0).then_some(())
    });
    for i in 0..3 {
        let t = Instant::now();
        let r = http(&listen, "GET", "/metrics").unwrap_or_else(|e| {
            panic!("/metrics #{i} during the dump: {e} after {:?}", t.elapsed())
        });
        let took = t.elapsed();
        assert_eq!(r.status, 200);
        assert!(took < Duration::from_secs(1), "/metrics #{i} took {took:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !done.load(Ordering::Relaxed),
        "the dump ended before /metrics was asked three times"
    );
    let raw = dump.join().expect("dump thread");
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let growth_kib = peak.load(Ordering::Relaxed).saturating_sub(base);
    eprintln!(
        "dump: {} bytes; RSS {base} KiB, +{growth_kib} KiB at most",
        raw.len()
    );
    assert!(
        growth_kib < 32 * 1024,
        "RSS grew by {growth_kib} KiB during the dump"
    );

    let resp = parse_response(&raw).unwrap();
    assert_eq!(resp.status, 200);
    let all: Vec<serde_json::Value> = serde_json::from_slice(&resp.body).expect("a JSON array");
    assert_eq!(all.len(), MAX);
    let keys: Vec<_> = all.iter().map(fdb_key).collect();
    for w in keys.windows(2) {
        assert!((w[0].0, w[0].1) < (w[1].0, w[1].1), "out of order: {w:?}");
    }
    assert!(keys.iter().all(|k| k.0 == 1 && k.2 == "p0"));
    assert!(all.iter().all(|e| e["type"] == "dynamic"));

    // The same table, page by page.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &after {
            Some(a) => format!("/api/v1/fdb?limit=1000&after={a}"),
            None => "/api/v1/fdb?limit=1000".to_string(),
        };
        let page = m.json(&path);
        let entries = page["entries"].as_array().expect("entries");
        assert!(entries.len() <= 1000);
        paged.extend(entries.iter().map(fdb_key));
        pages += 1;
        assert!(pages <= MAX / 1000 + 1, "paging does not end");
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(paged.len(), MAX);
    assert!(paged == keys, "paging and the dump disagree");
    m.stop();
}

/// `moose show` against a running appliance, as tables and as JSON, with
/// the address from `--api` or from the config; and against nothing.
#[test]
fn moose_show() {
    let s = Scratch::new("mgmt-show");
    let listen = free_addr();
    let extra = "[[static_fdb]]\nmac = \"02:00:00:00:00:01\"\nport = \"p1\"\n[[static_fdb]]\nmac = \"02:00:00:00:00:02\"\nvlan = 7\nport = \"p0\"\n";
    let cfg = s.write("c.toml", &config("showme", &listen, &null_ports(), extra));
    let m = Moose::start(&cfg, &[], &[], &listen);
    let show = |args: &[&str]| {
        let e = output_within(
            moose().arg("show").args(args).env("RUST_BACKTRACE", "1"),
            Duration::from_secs(15),
        );
        assert!(
            e.status.success(),
            "show {args:?}: {}\n{}",
            e.status,
            e.stderr
        );
        e.stdout
    };
    let starts = |out: &str, word: &str| out.lines().any(|l| l.starts_with(word));

    let out = show(&["ports", "--api", &listen]);
    let head = out.lines().next().unwrap_or_default();
    assert!(head.starts_with("PORT") && head.contains("DRIVER"), "{out}");
    assert!(starts(&out, "p0 ") && starts(&out, "p1 "), "{out}");
    assert!(out.contains("net_null"), "{out}");

    let out = show(&["fdb", "--api", &listen]);
    let head = out.lines().next().unwrap_or_default();
    assert!(
        head.contains("VLAN") && head.contains("MAC") && head.contains("PORT"),
        "{out}"
    );
    let line = |mac: &str| {
        out.lines()
            .find(|l| l.contains(mac))
            .unwrap_or_else(|| panic!("{mac} missing: {out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        line("02:00:00:00:00:01")[..4],
        ["1", "02:00:00:00:00:01", "p1", "static"]
    );
    assert_eq!(
        line("02:00:00:00:00:02")[..4],
        ["7", "02:00:00:00:00:02", "p0", "static"]
    );
    assert!(out.trim_end().ends_with("2 entries"), "{out}");

    let out = show(&["status", "--api", &listen]);
    assert!(starts(&out, "switch") && out.contains("showme"), "{out}");
    assert!(starts(&out, "fdb") && out.contains("2 entries"), "{out}");

    let out = show(&["counters", "--api", &listen]);
    let head = out.lines().next().unwrap_or_default();
    assert!(head.starts_with("PORT") && head.contains("RX"), "{out}");
    assert!(starts(&out, "p0 ") && starts(&out, "p1 "), "{out}");
    assert!(out.contains("src_zero"), "null frames are dropped: {out}");

    let json = |args: &[&str]| -> serde_json::Value {
        let out = show(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("show {args:?}: {e}: {out}"))
    };
    let ports = json(&["ports", "--json", "--api", &listen]);
    let names: Vec<_> = ports
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["p0", "p1"]);
    let fdb = json(&["fdb", "--json", "--api", &listen]);
    assert_eq!(fdb.as_array().unwrap().len(), 2, "{fdb}");
    assert_eq!(fdb[0]["mac"], "02:00:00:00:00:01");
    assert_eq!(fdb[1]["vlan"], 7);
    let st = json(&["status", "--json", "--api", &listen]);
    assert_eq!(st["switch"], "showme");
    assert_eq!(st["bridge"]["static_entries"], 2);
    let c = json(&["counters", "--json", "--api", &listen]);
    assert!(
        c["ports"]["p0"].is_object() && c["ports"]["p1"].is_object(),
        "{c}"
    );

    // The address from the config's metrics.listen.
    let cfg_arg = cfg.display().to_string();
    let out = show(&["status", "-c", &cfg_arg]);
    assert!(out.contains("showme"), "{out}");
    let st = json(&["status", "--json", "-c", &cfg_arg]);
    assert_eq!(st["switch"], "showme");
    m.stop();

    // Nothing listening: one clear line, no panic.
    let nowhere = free_addr();
    let e = output_within(
        moose()
            .args(["show", "status", "--api", &nowhere])
            .env("RUST_BACKTRACE", "1"),
        Duration::from_secs(15),
    );
    assert!(!e.status.success());
    assert_eq!(e.status.code(), Some(1), "{}", e.stderr);
    let err = e.stderr.trim_end();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("moose: error: ")
            && err.contains("cannot connect")
            && err.contains(&nowhere),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert!(e.stdout.is_empty(), "{}", e.stdout);
}

/// SIGHUP reloads the config instead of stopping (an unchanged file:
/// nothing to apply, one log line); SIGTERM then stops as always: status
/// 0, final report.
#[test]
fn sighup_reloads_and_sigterm_stops() {
    let s = Scratch::new("mgmt-hup");
    let listen = free_addr();
    let cfg = s.write("c.toml", &config("hup", &listen, &null_ports(), ""));
    let mut m = Moose::start(&cfg, &["--json"], &[], &listen);
    let seen = wait_for(Duration::from_secs(10), "frames counted", || {
        Some(rx(&m, "p0")).filter(|&n| n > 0.0)
    });
    m.signal("HUP");
    wait_for(Duration::from_secs(10), "the reload's log line", || {
        m.stderr()
            .contains("moose: config reloaded: ")
            .then_some(())
    });
    assert!(m.stderr().contains(": nothing changed"), "{}", m.stderr());
    assert!(m.alive(), "SIGHUP must not stop moose");
    assert!(rx(&m, "p0") >= seen, "still forwarding");
    let t = Instant::now();
    m.signal("TERM");
    let e = m.wait(Duration::from_secs(10));
    eprintln!("stopped {:?} after SIGTERM", t.elapsed());
    assert_eq!(e.status.code(), Some(0), "{}: {}", e.status, e.stderr);
    let r = report(&e);
    assert_eq!(r["switch"], "hup");
    assert_eq!(r["ports"].as_array().unwrap().len(), 2);
    assert!(r["ports"][0]["counters"]["rx_packets"].as_f64().unwrap() >= seen);
    assert!(e.stderr.contains("moose: stopping"), "{}", e.stderr);
}
