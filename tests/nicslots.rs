//! NIC MAC slots through the real binary: a `net_af_packet` port (one
//! filter entry, like every virtual PMD here: the fallback path) and an
//! emulated N-entry filter (the multi-slot path) behave the same from
//! outside — reservations by owner and token, the fallback to software
//! filtering with frames to other addresses dropped as `not_accepted`,
//! promiscuous mode left when entries free up, reservations kept across a
//! restart, `moose slots`.

mod common;

use std::time::Duration;

use common::*;
use moose_testbed::{is_root, unique_tag, Testbed};

fn post(listen: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let (st, text) = moose_mgmt::client::request(
        "POST",
        listen,
        path,
        Some(&body.to_string()),
        Duration::from_secs(5),
    )
    .unwrap();
    (
        st,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

fn port<'a>(slots: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    slots
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == name)
        .unwrap()
}

fn not_accepted(m: &Moose, port: &str) -> f64 {
    metric(
        &m.get("/metrics"),
        "moose_port_drops_total",
        &format!("port=\"{port}\",reason=\"not_accepted\""),
    )
}

#[test]
fn slots_fallback_and_emulated_filter_through_the_binary() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let tag = unique_tag("ns");
    let tb = Testbed::new(&tag, 2, 88).unwrap();
    let s = Scratch::new("nicslots");
    let listen = free_addr();
    let ports = vec![
        (
            "p0",
            format!("net_af_packet0,iface={}", tb.hosts[0].port_if),
        ),
        (
            "p1",
            format!("net_af_packet1,iface={}", tb.hosts[1].port_if),
        ),
        ("e0", "net_null0,no-rx=1".to_string()),
    ];
    let mut text = config(
        "nicslots",
        &listen,
        &ports,
        &format!(
            "[mps]\nstate_dir = \"{}\"\n[[mps.pool]]\nname = \"a\"\nprefix = \"02:42:00:00:00:00/24\"\n",
            s.path("state").display()
        ),
    );
    text = text.replace(
        &format!("iface={}\"\n", tb.hosts[0].port_if),
        &format!("iface={}\"\npromiscuous = false\n", tb.hosts[0].port_if),
    );
    text = text.replace(
        "device = \"net_null0,no-rx=1\"\n",
        "device = \"net_null0,no-rx=1\"\npromiscuous = false\nemulate_mac_slots = 3\n",
    );
    let cfg = s.write("c.toml", &text);
    let mut m = Moose::start(&cfg, &[], &[], &listen);
    assert!(tb.wait_up(Duration::from_secs(5)));

    let slots = get_json(&listen, "/api/v1/slots");
    let p0 = port(&slots, "p0");
    assert_eq!(
        (p0["mode"].as_str(), p0["emulated"].as_bool()),
        (Some("filter"), Some(false)),
        "{p0}"
    );
    assert_eq!(p0["total"], 1, "net_af_packet has one entry: {p0}");
    let e0 = port(&slots, "e0");
    assert_eq!(
        (
            e0["emulated"].as_bool(),
            e0["total"].as_u64(),
            e0["free"].as_u64()
        ),
        (Some(true), Some(3), Some(2)),
        "{e0}"
    );
    assert_eq!(port(&slots, "p1")["mode"], "promiscuous");

    // Frames from h0 to two unknown unicast addresses, 10 each.
    let send = |dst: &str| {
        let script = format!(
            "from scapy.all import *\nsendp(Ether(dst='{dst}', src='{}')/IP(dst='10.88.0.9')/UDP()/Raw(b'x'*20), iface='eth0', count=10, verbose=False)",
            tb.hosts[0].mac
        );
        tb.hosts[0]
            .exec(&["/usr/bin/python3", "-c", &script])
            .unwrap();
    };
    let settle = || std::thread::sleep(Duration::from_millis(300));
    send("02:00:00:00:aa:01");
    send("02:00:00:00:aa:02");
    settle();
    assert_eq!(
        not_accepted(&m, "p0"),
        0.0,
        "nothing filtered before a reservation"
    );

    // A reservation on p0 finds no free entry: software filtering.
    let (st, r) = post(
        &listen,
        "/api/v1/slots/p0/reserve",
        serde_json::json!({"owner": "vm-1", "mac": "02:00:00:00:aa:01"}),
    );
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        (
            r["slot"].as_u64(),
            r["in_nic"].as_bool(),
            r["mode"].as_str()
        ),
        (Some(1), Some(false), Some("software")),
        "{r}"
    );
    let token = r["token"].as_str().unwrap().to_string();
    send("02:00:00:00:aa:01");
    send("02:00:00:00:aa:02");
    settle();
    assert_eq!(
        not_accepted(&m, "p0"),
        10.0,
        "frames to the unreserved address dropped"
    );
    assert_eq!(
        port(&get_json(&listen, "/api/v1/slots"), "p0")["filtered_frames"],
        10
    );
    // No stealing, no change without the token; bad input names the field.
    let (st, e) = post(
        &listen,
        "/api/v1/slots/p0/reserve",
        serde_json::json!({"owner": "vm-2", "mac": "02:00:00:00:aa:01"}),
    );
    assert!(
        st == 409 && e["error"].as_str().unwrap().contains("another owner"),
        "{st} {e}"
    );
    let (st, e) = post(
        &listen,
        "/api/v1/slots/p0/modify",
        serde_json::json!({"slot": 1, "token": "nope", "mac": "02:00:00:00:aa:03"}),
    );
    assert!(
        st == 409 && e["error"].as_str().unwrap().starts_with("token:"),
        "{st} {e}"
    );
    let (st, e) = post(
        &listen,
        "/api/v1/slots/p0/reserve",
        serde_json::json!({"owner": "x", "mac": "zz"}),
    );
    assert!(
        st == 400 && e["error"].as_str().unwrap().starts_with("mac:"),
        "{st} {e}"
    );
    let (st, _) = post(
        &listen,
        "/api/v1/slots/p9/reserve",
        serde_json::json!({"owner": "x", "mac": "02:00:00:00:aa:03"}),
    );
    assert_eq!(st, 404);
    let g = get_json(&listen, "/api/v1/slots/p0/7");
    assert_eq!(
        (g["state"].as_str(), g["mac"].as_str()),
        (Some("free"), port(&slots, "p0")["burned_in"].as_str()),
        "{g}"
    );

    // The emulated filter with 3 entries: two reservations fit, the third
    // falls back; freeing one brings it back into the filter.
    let mut e0_tokens = Vec::new();
    for (i, mac) in [
        "02:00:00:00:bb:01",
        "02:00:00:00:bb:02",
        "02:00:00:00:bb:03",
    ]
    .iter()
    .enumerate()
    {
        let (st, r) = post(
            &listen,
            "/api/v1/slots/e0/reserve",
            serde_json::json!({"owner": format!("o{i}"), "mac": mac}),
        );
        assert_eq!(st, 200, "{r}");
        assert_eq!(r["in_nic"].as_bool(), Some(i < 2), "{r}");
        e0_tokens.push(r["token"].as_str().unwrap().to_string());
    }
    assert_eq!(
        port(&get_json(&listen, "/api/v1/slots"), "e0")["mode"],
        "software"
    );
    let (st, r) = post(
        &listen,
        "/api/v1/slots/e0/unreserve",
        serde_json::json!({"slot": 1, "token": e0_tokens[0]}),
    );
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["mode"], "filter", "{r}");
    assert!(
        r["slots"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["in_nic"] == true),
        "{r}"
    );

    // The CLI.
    let out = moose()
        .args(["slots", "show", "e0", "--api", &listen])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && text.contains("e0: filter (emulated filter), 3 filter entries")
            && text.contains("02:00:00:00:bb:03"),
        "{text}"
    );
    let out = moose()
        .args([
            "slots",
            "unreserve",
            "p0",
            "1",
            "--token",
            "nope",
            "--api",
            &listen,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("409"));

    // A restart keeps the reservations (and the fallback).
    m.signal("TERM");
    let _ = m.wait(Duration::from_secs(20));
    m = Moose::start(&cfg, &[], &[], &listen);
    let slots = get_json(&listen, "/api/v1/slots");
    let p0 = port(&slots, "p0");
    assert_eq!(p0["mode"], "software", "{p0}");
    assert_eq!(p0["slots"][1]["mac"], "02:00:00:00:aa:01", "{p0}");
    // The owner gives it back: the port leaves promiscuous mode.
    let (st, r) = post(
        &listen,
        "/api/v1/slots/p0/unreserve",
        serde_json::json!({"slot": 1, "token": token}),
    );
    assert_eq!((st, r["mode"].as_str()), (200, Some("filter")), "{r}");
    m.stop();
}
