//! Changes without a restart, through the real binary: `moose reload`,
//! `POST /api/v1/reload` and SIGHUP re-read the config file and apply what
//! can change live — with real hosts pinging through moose meanwhile
//! (network namespaces on veth pairs, DPDK `net_af_packet` ports), not one
//! echo lost; a key that cannot change refuses the whole reload, naming
//! it; a file that does not parse or validate changes nothing. And static
//! routes and FDB entries added and removed through the API, each bad
//! input a 4xx naming its field.

mod common;

use std::io::Write;
use std::process::Child;
use std::time::Duration;

use common::*;
use moose_testbed::{unique_tag, Host, Testbed};

/// A learning bridge of `hosts` (port `p<i>` on host `i`'s root-side end,
/// with `port_extra[i]` added to its table) and `tables` (whole TOML
/// tables) after the ports.
fn bridge(name: &str, listen: &str, hosts: &[Host], port_extra: &[&str], tables: &str) -> String {
    let mut c = format!(
        "[switch]\nname = \"{name}\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 4095\n{}\n[metrics]\nlisten = \"{listen}\"\n",
        eal(name)
    );
    for (i, h) in hosts.iter().enumerate() {
        c += &format!(
            "[[port]]\nname = \"p{i}\"\ndevice = \"net_af_packet{i},iface={}\"\n{}\n",
            h.port_if,
            port_extra.get(i).copied().unwrap_or("")
        );
    }
    c + tables
}

/// `METHOD target` with an optional JSON body; the answer.
fn req(listen: &str, method: &str, target: &str, body: Option<&str>) -> Resp {
    let mut s = connect(listen).expect("connect");
    let b = body.unwrap_or("");
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: {listen}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
        b.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut raw).expect("answer");
    parse_response(&raw).expect("HTTP answer")
}

fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

/// `moose reload --api listen`, at most 20 s.
fn moose_reload(listen: &str) -> Exited {
    output_within(
        moose().args(["reload", "--api", listen]),
        Duration::from_secs(20),
    )
}

fn fdb_entry(m: &Moose, mac: &str) -> Option<serde_json::Value> {
    m.json("/api/v1/fdb")
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["mac"] == mac)
        .cloned()
}

fn drops(m: &Moose, port: &str, reason: &str) -> f64 {
    try_metric(
        &m.get("/metrics"),
        "moose_port_drops_total",
        &format!("port=\"{port}\",reason=\"{reason}\""),
    )
    .unwrap_or(0.0)
}

/// Kills a background command (and reaps it) when dropped.
struct Bg(Option<Child>);

impl Bg {
    fn take(&mut self) -> Child {
        self.0.take().expect("running")
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A 10 ms ping from h0 to h1 runs while `moose reload` applies changes
/// that do not touch its path — a static entry, a storm-control rate and a
/// learn limit on p2, the FDB bound, a punt rate: each is live (the API
/// shows it, and p2's broadcasts are held to the new rate at once), and no
/// echo is lost.
#[test]
fn a_reload_under_traffic_loses_no_ping() {
    let tag = unique_tag("ra");
    let tb = Testbed::new(&tag, 3, 81).expect("testbed (needs root)");
    let h = &tb.hosts;
    let s = Scratch::new("reload-traffic");
    let listen = free_addr();
    let name = "reloadtraffic";
    let path = s.write("moose.toml", &bridge(name, &listen, h, &[], ""));
    let m = Moose::start(&path, &[], &[], &listen);
    assert!(tb.wait_up(Duration::from_secs(5)));
    assert!(h[0].ping(&h[1].ip, 2), "h0 -> h1 before");

    let mut bg = Bg(Some(
        h[0].spawn(&["ping", "-n", "-q", "-i", "0.01", "-W", "1", &h[1].ip])
            .unwrap(),
    ));
    std::thread::sleep(Duration::from_millis(500));
    s.write(
        "moose.toml",
        &bridge(
            name,
            &listen,
            h,
            &["", "", "storm = { broadcast_pps = 50 }\nlearn_limit = 10"],
            "[bridge]\nmax_entries = 5000\n[punt.reserved]\nrate_pps = 1000\n\
             [[static_fdb]]\nmac = \"02:00:00:00:ee:01\"\nport = \"p2\"\n",
        ),
    );
    let out = moose_reload(&listen);
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    for want in [
        "applied: bridge.max_entries: 262144 -> 5000",
        "applied: port[2].learn_limit: none -> 10",
        "applied: port[2].storm: none -> broadcast 50/s",
        "applied: punt.reserved.rate_pps: 2000 -> 1000",
        "applied: static_fdb: + 02:00:00:00:ee:01 vlan 1 on p2",
    ] {
        assert!(out.stdout.contains(want), "no {want:?} in:\n{}", out.stdout);
    }
    wait_for(Duration::from_secs(5), "the reload's log line", || {
        m.stderr()
            .contains("moose: config reloaded: ")
            .then_some(())
    });

    let e = fdb_entry(&m, "02:00:00:00:ee:01").expect("the static entry");
    assert_eq!(
        (e["type"].as_str(), e["port"].as_str()),
        (Some("static"), Some("p2"))
    );
    assert_eq!(e["origin"], "config");
    let p2 = &m.json("/api/v1/ports")[2];
    assert_eq!(p2["storm"]["broadcast_pps"], 50, "{p2}");
    assert_eq!(p2["learn_limit"], 10, "{p2}");
    assert_eq!(m.json("/api/v1/status")["bridge"]["max_entries"], 5000);
    assert_eq!(m.json("/api/v1/status")["runtime"]["reloads"], 1);

    // p2's broadcasts are held to 50/s now (a bucket of 5): a burst of 300
    // passes at most as many as the rate allows over the time it took,
    // and the rest are counted as storm drops.
    assert_eq!(drops(&m, "p2", "storm_broadcast"), 0.0);
    let rx = |m: &Moose| {
        metric(
            &m.get("/metrics"),
            "moose_port_rx_packets_total",
            "port=\"p2\"",
        )
    };
    let rx0 = rx(&m);
    let burst = format!(
        "import socket\n\
         s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
         s.bind(('eth0', 0))\n\
         f = b'\\xff' * 6 + bytes.fromhex('{}') + b'\\x88\\xb6' + bytes(46)\n\
         for _ in range(300): s.send(f)\n",
        h[2].mac.replace(':', "")
    );
    let t = std::time::Instant::now();
    h[2].exec(&["/usr/bin/python3", "-c", &burst])
        .expect("a burst of broadcasts from h2");
    let took = t.elapsed().as_secs_f64();
    // Counters are published every 64 loops: read until they settle.
    let (received, dropped) = wait_for(Duration::from_secs(10), "p2's counters settle", || {
        let a = (rx(&m) - rx0, drops(&m, "p2", "storm_broadcast"));
        std::thread::sleep(Duration::from_millis(300));
        let b = (rx(&m) - rx0, drops(&m, "p2", "storm_broadcast"));
        (a == b && b.0 >= 250.0).then_some(b)
    });
    let passed = received - dropped;
    eprintln!("p2: {received} broadcasts in {took:.2} s, {passed} passed, {dropped} dropped");
    assert!(dropped > 0.0, "no storm drops");
    assert!(
        passed <= 5.0 + 50.0 * took + 5.0,
        "{passed} of {received} passed in {took:.2} s at 50/s"
    );

    // The ping goes on a while after the reload too.
    std::thread::sleep(Duration::from_secs(1));
    let (sent, got) = stop_ping(bg.take());
    eprintln!("h0 -> h1 across the reload: {got} of {sent} answered");
    assert!(sent >= 30, "{sent} sent");
    // The last echo request may still be on its way when ping is stopped.
    assert!(
        got + 1 >= sent,
        "echoes lost across the reload: {got} of {sent}"
    );
    m.stop();
}

/// A reload that changes `dataplane.workers`, or adds a port, is refused
/// naming the key: nothing of it is applied (not even its live changes),
/// the log says so, moose keeps forwarding.
#[test]
fn a_refused_reload_names_the_key_and_changes_nothing() {
    let tag = unique_tag("rb");
    let tb = Testbed::new(&tag, 2, 82).expect("testbed (needs root)");
    let h = &tb.hosts;
    let s = Scratch::new("reload-refused");
    let listen = free_addr();
    let name = "reloadrefused";
    let v1 = bridge(name, &listen, h, &[], "");
    let path = s.write("moose.toml", &v1);
    let mut m = Moose::start(&path, &[], &[], &listen);
    assert!(tb.wait_up(Duration::from_secs(5)));
    let entry = "[[static_fdb]]\nmac = \"02:00:00:00:ee:02\"\nport = \"p1\"\n";

    s.write(
        "moose.toml",
        &(v1.replace("idle = \"backoff\"", "idle = \"backoff\"\nworkers = 2") + entry),
    );
    let out = moose_reload(&listen);
    assert_eq!(out.status.code(), Some(1), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.stderr.trim_end(),
        "moose: error: reload refused: dataplane.workers cannot change while running (restart moose)"
    );
    wait_for(Duration::from_secs(5), "the refusal's log line", || {
        m.stderr()
            .contains("moose: warn: reload refused: dataplane.workers cannot change while running (restart moose)")
            .then_some(())
    });
    assert!(
        fdb_entry(&m, "02:00:00:00:ee:02").is_none(),
        "nothing applied"
    );

    // A port more: refused through the API too, as JSON.
    s.write(
        "moose.toml",
        &(v1.clone() + "[[port]]\nname = \"p9\"\ndevice = \"net_null9\"\n" + entry),
    );
    let r = req(&listen, "POST", "/api/v1/reload", None);
    assert_eq!(r.status, 409, "{}", r.text());
    let j = json(&r);
    assert_eq!(j["applied"], serde_json::json!([]));
    let refused = j["refused"][0].as_str().unwrap();
    assert!(
        refused.starts_with("port: ports cannot be added or removed"),
        "{j}"
    );
    assert!(
        fdb_entry(&m, "02:00:00:00:ee:02").is_none(),
        "nothing applied"
    );
    assert_eq!(m.json("/api/v1/ports").as_array().unwrap().len(), 2);
    let st = m.json("/api/v1/status");
    assert_eq!(
        (
            st["runtime"]["reloads"].as_u64(),
            st["runtime"]["reloads_refused"].as_u64()
        ),
        (Some(0), Some(2))
    );

    assert!(m.alive());
    assert!(h[0].ping(&h[1].ip, 3), "still forwarding");
    // The same file without the refused keys applies.
    s.write("moose.toml", &(v1 + entry));
    let out = moose_reload(&listen);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(fdb_entry(&m, "02:00:00:00:ee:02").is_some());
    m.stop();
}

/// A file with a syntax error, and one that does not validate: each
/// reload is refused with the error (line and column; the key), the old
/// config stays in force; once the file is right again it applies.
#[test]
fn a_bad_file_keeps_the_old_config() {
    let s = Scratch::new("reload-bad");
    let listen = free_addr();
    let ports = [
        ("p0", "net_null0,no-rx=1".to_string()),
        ("p1", "net_null1,no-rx=1".to_string()),
    ];
    let v1 = common::config(
        "reloadbad",
        &listen,
        &ports,
        "[bridge]\nmax_entries = 1000\n",
    );
    let path = s.write("moose.toml", &v1);
    let mut m = Moose::start(&path, &[], &[], &listen);

    s.write(
        "moose.toml",
        &v1.replace("max_entries = 1000", "max_entries = 2000\nbroken = [1,"),
    );
    let r = req(&listen, "POST", "/api/v1/reload", None);
    assert_eq!(r.status, 422, "{}", r.text());
    let err = json(&r)["error"].as_str().unwrap().to_string();
    assert!(err.contains("invalid TOML at line"), "{err}");
    assert!(err.contains("moose.toml"), "names the file: {err}");

    s.write(
        "moose.toml",
        &(v1.replace("max_entries = 1000", "max_entries = 2000")
            + "storm = { broadcast_pps = 0 }\n"),
    );
    let out = moose_reload(&listen);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("moose: error: reload refused: port[1].storm.broadcast_pps: 0 must be in"),
        "{}",
        out.stderr
    );
    assert!(m
        .stderr()
        .contains("moose: warn: reload refused: port[1].storm.broadcast_pps"));
    assert!(m.alive());
    assert_eq!(
        m.json("/api/v1/status")["bridge"]["max_entries"],
        1000,
        "the old config"
    );
    assert_eq!(m.json("/api/v1/ports")[1]["storm"], serde_json::json!({}));

    s.write(
        "moose.toml",
        &v1.replace("max_entries = 1000", "max_entries = 2000"),
    );
    let r = req(&listen, "POST", "/api/v1/reload", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        json(&r),
        serde_json::json!({"applied": ["bridge.max_entries: 1000 -> 2000"], "refused": []})
    );
    assert_eq!(m.json("/api/v1/status")["bridge"]["max_entries"], 2000);
    m.stop();
}

/// SIGHUP applies a change: p1 moved to VLAN 2 (pvid and VLANs) cuts h0
/// off from h1 at once; moved back, they ping again. Each reload is one
/// log line; SIGHUP with a refused key logs the key and changes nothing.
#[test]
fn sighup_applies_a_change() {
    let tag = unique_tag("rd");
    let tb = Testbed::new(&tag, 2, 83).expect("testbed (needs root)");
    let h = &tb.hosts;
    let s = Scratch::new("reload-hup");
    let listen = free_addr();
    let name = "reloadhup";
    let v1 = bridge(name, &listen, h, &[], "");
    let path = s.write("moose.toml", &v1);
    let m = Moose::start(&path, &[], &[], &listen);
    assert!(tb.wait_up(Duration::from_secs(5)));
    assert!(h[0].ping(&h[1].ip, 2), "h0 -> h1 on VLAN 1");

    s.write(
        "moose.toml",
        &bridge(name, &listen, h, &["", "pvid = 2\nvlans = [2]"], ""),
    );
    m.signal("HUP");
    wait_for(Duration::from_secs(5), "the reload's log line", || {
        m.stderr()
            .contains("moose: config reloaded: ")
            .then_some(())
    });
    let line = m
        .stderr()
        .lines()
        .find(|l| l.starts_with("moose: config reloaded: "))
        .unwrap()
        .to_string();
    assert!(
        line.contains("port[1].pvid: 1 -> 2") && line.contains("port[1].vlans: all -> [2]"),
        "{line}"
    );
    assert_eq!(m.json("/api/v1/ports")[1]["pvid"], 2);
    assert!(
        !h[0].ping(&h[1].ip, 2),
        "h0 and h1 are on different VLANs now"
    );

    s.write("moose.toml", &v1);
    m.signal("HUP");
    wait_for(Duration::from_secs(5), "the second reload", || {
        (m.stderr().matches("moose: config reloaded: ").count() == 2).then_some(())
    });
    wait_for(Duration::from_secs(10), "h0 -> h1 on VLAN 1 again", || {
        h[0].ping(&h[1].ip, 1).then_some(())
    });

    s.write("moose.toml", &v1.replace("mbufs = 4095", "mbufs = 8191"));
    m.signal("HUP");
    wait_for(Duration::from_secs(5), "the refusal's log line", || {
        m.stderr()
            .contains("moose: warn: reload refused: dataplane.mbufs cannot change while running (restart moose)")
            .then_some(())
    });
    assert!(h[0].ping(&h[1].ip, 2), "still forwarding");
    m.stop();
}

/// A static FDB entry through the API takes effect at once (h1's MAC
/// pinned to p2: h0 no longer reaches h1) and its removal too; bad input
/// is a 400 naming the field, the file's entries are not the API's to
/// change (409), an unknown one is a 404; an API entry survives a reload.
#[test]
fn fdb_entries_through_the_api() {
    let tag = unique_tag("re");
    let tb = Testbed::new(&tag, 3, 84).expect("testbed (needs root)");
    let h = &tb.hosts;
    let s = Scratch::new("reload-fdb");
    let listen = free_addr();
    let name = "reloadfdb";
    let v1 = bridge(
        name,
        &listen,
        h,
        &["", "", "vlans = [1, 7]"],
        "[[static_fdb]]\nmac = \"02:00:00:00:ee:03\"\nport = \"p2\"\n",
    );
    let path = s.write("moose.toml", &v1);
    let m = Moose::start(&path, &[], &[], &listen);
    assert!(tb.wait_up(Duration::from_secs(5)));
    assert!(h[0].ping(&h[1].ip, 2), "h0 -> h1");

    let add = |body: &str| req(&listen, "POST", "/api/v1/fdb", Some(body));
    let body = format!(
        "{{\"mac\": \"{}\", \"vlan\": 1, \"port\": \"p2\"}}",
        h[1].mac
    );
    let r = add(&body);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = json(&r);
    assert_eq!(
        (j["port"].as_str(), j["origin"].as_str()),
        (Some("p2"), Some("api"))
    );
    assert_eq!(fdb_entry(&m, &h[1].mac).unwrap()["type"], "static");
    assert!(!h[0].ping(&h[1].ip, 2), "h1's MAC is pinned to p2");
    assert!(!h[1].ping(&h[0].ip, 1), "h1's frames on p1 are refused");
    wait_for(Duration::from_secs(5), "static_move drops on p1", || {
        (drops(&m, "p1", "static_move") > 0.0).then_some(())
    });

    for (body, status, field) in [
        (r#"{"mac": "02:00:00:00:00", "port": "p2"}"#, 400, "mac: "),
        (
            r#"{"mac": "ff:ff:ff:ff:ff:ff", "port": "p2"}"#,
            400,
            "mac: ",
        ),
        (
            r#"{"mac": "02:00:00:00:ee:04", "vlan": 9, "port": "p2"}"#,
            400,
            "vlan: ",
        ),
        (
            r#"{"mac": "02:00:00:00:ee:04", "vlan": 5000, "port": "p2"}"#,
            400,
            "vlan: ",
        ),
        (
            r#"{"mac": "02:00:00:00:ee:04", "port": "p7"}"#,
            400,
            "port: ",
        ),
        (
            r#"{"mac": "02:00:00:00:ee:04"}"#,
            400,
            "body: missing field `port`",
        ),
        (
            r#"{"mac": "02:00:00:00:ee:04", "port": "p2", "colour": 1}"#,
            400,
            "body: unknown field `colour`",
        ),
        (
            r#"{"mac": "02:00:00:00:ee:03", "port": "p0"}"#,
            409,
            "mac: ",
        ),
    ] {
        let r = add(body);
        assert_eq!(r.status, status, "{body}: {}", r.text());
        let e = json(&r)["error"].as_str().unwrap().to_string();
        assert!(e.starts_with(field), "{body}: {e}");
    }
    let r = add(r#"{"mac": "02:00:00:00:ee:05", "vlan": 7, "port": "p2"}"#);
    assert_eq!(r.status, 200, "{}", r.text());

    let del = |q: &str| req(&listen, "DELETE", &format!("/api/v1/fdb?{q}"), None);
    for (q, status, field) in [
        ("mac=02:00:00:00:ee:03", 409, "mac: "),
        ("mac=02:00:00:00:ee:09&vlan=1", 404, "mac: "),
        ("mac=zz&vlan=1", 400, "mac: "),
        ("mac=02:00:00:00:ee:05&vlan=x", 400, "vlan: "),
        ("vlan=1", 400, "mac: "),
        ("mac=02:00:00:00:ee:05&colour=1", 400, "query: "),
    ] {
        let r = del(q);
        assert_eq!(r.status, status, "{q}: {}", r.text());
        let e = json(&r)["error"].as_str().unwrap().to_string();
        assert!(e.starts_with(field), "{q}: {e}");
    }

    // A reload keeps the API's entries.
    s.write(
        "moose.toml",
        &(v1.clone() + "[bridge]\nmax_entries = 9000\n"),
    );
    let out = moose_reload(&listen);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(fdb_entry(&m, &h[1].mac).unwrap()["origin"], "api");

    let r = del(&format!("mac={}&vlan=1", h[1].mac));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        fdb_entry(&m, &h[1].mac).is_none_or(|e| e["type"] == "dynamic"),
        "the static entry is gone"
    );
    wait_for(Duration::from_secs(10), "h0 -> h1 again", || {
        h[0].ping(&h[1].ip, 1).then_some(())
    });
    assert!(del("mac=02:00:00:00:ee:05&vlan=7").status == 200);
    m.stop();
}

/// Static routes through the API on a MOOSE switch: added (origin `api`,
/// installed), refused with a 400 naming the field for a bad prefix, the
/// own prefix, an edge port, an unknown port; the file's route is not the
/// API's to change (409); an unknown one is a 404; an API route survives a
/// reload and is removed through the API.
#[test]
fn routes_through_the_api() {
    let s = Scratch::new("reload-routes");
    let listen = free_addr();
    let ports = [
        ("f0", "net_null0,no-rx=1".to_string()),
        ("f1", "net_null1,no-rx=1".to_string()),
        ("e0", "net_null2,no-rx=1".to_string()),
    ];
    let mut v1 = common::config(
        "reloadroutes",
        &listen,
        &ports,
        "[moose]\nprefix = \"02:11:11:00:00:00/24\"\n",
    );
    v1 =
        v1.replace(
            "device = \"net_null0,no-rx=1\"",
            "device = \"net_null0,no-rx=1\"\nrole = \"fabric\"",
        )
        .replace(
            "device = \"net_null1,no-rx=1\"",
            "device = \"net_null1,no-rx=1\"\nrole = \"fabric\"",
        )
        .replace(
            "device = \"net_null2,no-rx=1\"",
            "device = \"net_null2,no-rx=1\"\nrole = \"edge\"",
        ) + "[[route]]\nprefix = \"02:22:22:00:00:00/24\"\nport = \"f0\"\n";
    let path = s.write("moose.toml", &v1);
    let m = Moose::start(&path, &[], &[], &listen);
    let route = |prefix: &str| {
        m.json("/api/v1/routes")
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["prefix"] == prefix)
            .cloned()
    };

    let add = |body: &str| req(&listen, "POST", "/api/v1/routes", Some(body));
    let r = add(r#"{"prefix": "02:33:33:00:00:00/24", "port": ["f0", "f1"]}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let got = route("02:33:33:00:00:00/24").expect("the route");
    assert_eq!(got["origin"], "api");
    assert_eq!(got["ports"], serde_json::json!(["f0", "f1"]));
    assert_eq!(got["installed"], true);
    assert_eq!(route("02:22:22:00:00:00/24").unwrap()["origin"], "config");

    for (body, status, field) in [
        (
            r#"{"prefix": "02:44:44:00:00:00", "port": "f0"}"#,
            400,
            "prefix: ",
        ),
        (
            r#"{"prefix": "02:44:44:00:00:00/49", "port": "f0"}"#,
            400,
            "prefix: ",
        ),
        (
            r#"{"prefix": "02:11:11:00:00:00/24", "port": "f0"}"#,
            400,
            "prefix: ",
        ),
        (
            r#"{"prefix": "02:44:44:00:00:00/24", "port": "e0"}"#,
            400,
            "port: \"e0\" is an edge port",
        ),
        (
            r#"{"prefix": "02:44:44:00:00:00/24", "port": "f9"}"#,
            400,
            "port: ",
        ),
        (
            r#"{"prefix": "02:44:44:00:00:00/24", "port": 3}"#,
            400,
            "port: ",
        ),
        (
            r#"{"prefix": "02:44:44:00:00:00/24", "port": []}"#,
            400,
            "port: ",
        ),
        (
            r#"{"prefix": "02:44:44:00:00:00/24"}"#,
            400,
            "body: missing field `port`",
        ),
        (r#"not json"#, 400, "body: "),
        (
            r#"{"prefix": "02:22:22:00:00:00/24", "port": "f1"}"#,
            409,
            "prefix: ",
        ),
    ] {
        let r = add(body);
        assert_eq!(r.status, status, "{body}: {}", r.text());
        let e = json(&r)["error"].as_str().unwrap().to_string();
        assert!(e.starts_with(field), "{body}: {e}");
    }
    assert!(route("02:44:44:00:00:00/24").is_none());

    let del = |q: &str| req(&listen, "DELETE", &format!("/api/v1/routes?{q}"), None);
    for (q, status, field) in [
        ("prefix=02:22:22:00:00:00/24", 409, "prefix: "),
        ("prefix=02:55:55:00:00:00/24", 404, "prefix: "),
        ("prefix=bogus", 400, "prefix: "),
        ("", 400, "prefix: "),
    ] {
        let r = del(q);
        assert_eq!(r.status, status, "{q}: {}", r.text());
        let e = json(&r)["error"].as_str().unwrap().to_string();
        assert!(e.starts_with(field), "{q}: {e}");
    }

    // A reload that changes the file's route keeps the API's.
    s.write(
        "moose.toml",
        &v1.replace("port = \"f0\"\n", "port = \"f1\"\n"),
    );
    let out = moose_reload(&listen);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("applied: route: 02:22:22:00:00:00/24 -> f1 (was f0)"),
        "{}",
        out.stdout
    );
    assert_eq!(
        route("02:22:22:00:00:00/24").unwrap()["ports"],
        serde_json::json!(["f1"])
    );
    assert_eq!(route("02:33:33:00:00:00/24").unwrap()["origin"], "api");

    let r = del("prefix=02:33:33:00:00:00/24");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(route("02:33:33:00:00:00/24").is_none());
    m.stop();
}

/// `[elk]` through a reload, on a MOOSE switch with two real hosts: the
/// cache bound and inspection change live; a static binding added to the
/// file is in the directory within a second (source `static`, the host's
/// MOOSE address); removed again, it is an ordinary binding its host is
/// probed for, and withdrawn when the host does not answer for it; the
/// directory's shape (`elk.directory`) refuses the reload by name.
#[test]
fn elk_bindings_and_bounds_change_live() {
    let tag = unique_tag("rf");
    let tb = Testbed::new(&tag, 2, 86).expect("testbed (needs root)");
    let h = &tb.hosts;
    let s = Scratch::new("reload-elk");
    let listen = free_addr();
    let name = "reloadelk";
    let edge = ["role = \"edge\"", "role = \"edge\""];
    let moose = "[moose]\nprefix = \"02:44:44:00:00:00/24\"\n";
    let v1 = bridge(
        name,
        &listen,
        h,
        &edge,
        &format!("{moose}[elk]\ncache_entries = 64\n"),
    );
    let path = s.write("moose.toml", &v1);
    let m = Moose::start(&path, &[], &[], &listen);
    assert!(tb.wait_up(Duration::from_secs(5)));
    assert!(h[0].ping(&h[1].ip, 2), "h0 -> h1");
    let spare = "10.77.86.99";
    let binding = |ip: &str| {
        m.json("/api/v1/directory")["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["ip"] == ip)
            .cloned()
    };
    assert!(binding(spare).is_none());
    let own = binding(&h[0].ip).expect("h0's own binding");
    assert_eq!(own["source"], "arp");

    let v2 = bridge(
        name,
        &listen,
        h,
        &edge,
        &format!(
            "{moose}[elk]\ncache_entries = 16\ninspect = true\n\
             [[elk.binding]]\nip = \"{spare}\"\nmac = \"{}\"\n",
            h[0].mac
        ),
    );
    s.write("moose.toml", &v2);
    let out = moose_reload(&listen);
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    for want in [
        "applied: elk.cache_entries: 64 -> 16",
        "applied: elk.inspect: false -> true",
        &format!(
            "applied: elk.binding: added {spare} on VLAN 1 -> {}",
            h[0].mac
        ),
    ] {
        assert!(out.stdout.contains(want), "no {want:?} in:\n{}", out.stdout);
    }
    let b = wait_for(Duration::from_secs(3), "the static binding", || {
        binding(spare)
    });
    assert_eq!(b["source"], "static");
    assert_eq!(b["moose_mac"], own["moose_mac"]);
    // h1 asks for it: the switch answers with h0's MOOSE address.
    let e = h[1]
        .exec(&["arping", "-c", "1", "-w", "2", "-I", "eth0", spare])
        .unwrap();
    let text = String::from_utf8_lossy(&e.stdout).to_lowercase();
    assert!(
        text.contains(own["moose_mac"].as_str().unwrap()),
        "arping {spare}:\n{text}"
    );

    // Removed: probed like any binding, and h0 does not answer for it.
    s.write(
        "moose.toml",
        &v2.replace(
            &format!(
                "[[elk.binding]]\nip = \"{spare}\"\nmac = \"{}\"\n",
                h[0].mac
            ),
            "",
        ),
    );
    let out = moose_reload(&listen);
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains(&format!("applied: elk.binding: removed {spare} on VLAN 1")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("no longer static"), "{}", out.stdout);
    wait_for(Duration::from_secs(10), "the binding withdrawn", || {
        binding(spare).is_none().then_some(())
    });
    assert_eq!(
        binding(&h[0].ip).expect("h0's own binding")["source"],
        "arp"
    );

    s.write(
        "moose.toml",
        &v1.replace("cache_entries = 64", "directory = true"),
    );
    let out = moose_reload(&listen);
    assert!(!out.status.success());
    assert!(
        out.stderr
            .contains("elk.directory cannot change while running")
            || out
                .stdout
                .contains("elk.directory cannot change while running"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(h[0].ping(&h[1].ip, 2), "still forwarding");
    m.stop();
}
