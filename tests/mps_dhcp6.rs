//! RFC 8947 DHCPv6 link-layer address assignment through the real binary,
//! against a client built from the RFC in scapy (`tests/rfc8947_client.py`,
//! not our codec): direct from a host in a network namespace (multicast to
//! ff02::1:2 on the veth moose's server joined) and relayed (a relay agent
//! on ::1); Solicit/Advertise/Request/Reply, Rapid Commit, Renew, Release,
//! quadrant selection; the DHCPv6 and HTTP interfaces agree on the handle;
//! malformed messages are dropped and counted with nothing changed.

mod common;

use std::time::Duration;

use common::*;
use moose_testbed::{is_root, sh, unique_tag, Testbed};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rfc8947_client.py");

/// Runs the client (in `ns` if given); its exit code and JSON answer.
fn client(ns: Option<&str>, args: &[&str]) -> (i32, serde_json::Value) {
    let mut cmd: Vec<&str> = match ns {
        Some(ns) => vec!["ip", "netns", "exec", ns],
        None => vec![],
    };
    cmd.extend(["/usr/bin/python3", CLIENT]);
    cmd.extend(args);
    let out = std::process::Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "{cmd:?}: {e}: {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

fn used(listen: &str) -> serde_json::Value {
    get_json(listen, "/api/v1/mac/pools")
}

#[test]
fn rfc8947_clients_direct_and_relayed() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let tag = unique_tag("m6");
    let tb = Testbed::new(&tag, 1, 87).unwrap();
    let h = &tb.hosts[0];
    h.enable_ipv6("fd87::2/64").unwrap();
    // The server's side of the link: IPv6 on, a link-local address at once.
    let port_if = h.port_if.clone();
    sh(&[
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.{port_if}.accept_dad=0"),
        &format!("net.ipv6.conf.{port_if}.disable_ipv6=0"),
    ])
    .unwrap();

    let s = Scratch::new("mps-dhcp6");
    let listen = free_addr();
    let extra = format!(
        "[mps]\nstate_dir = \"{}\"\ndhcp6_listen = \"[::]:547\"\ndhcp6_interfaces = [\"{port_if}\"]\n\
         [[mps.pool]]\nname = \"vms\"\nprefix = \"02:42:00:00:00:00/24\"\n\
         [[mps.pool]]\nname = \"eli\"\nquadrant = \"eli\"\ncid = \"0a:12:34\"\nprefix = \"0a:12:34:00:00:00/40\"\nlifetime_secs = 3600\n",
        s.path("state").display()
    );
    let cfg = s.write(
        "c.toml",
        &config(
            "mps6",
            &listen,
            &[("p0", "net_null0,no-rx=1".into())],
            &extra,
        ),
    );
    let m = Moose::start(&cfg, &[], &[], &listen);
    std::thread::sleep(Duration::from_millis(300));

    // Direct: Solicit → Advertise → Request → Reply from the host.
    let duid = "00030001020000870001";
    let direct = ["--iface", "eth0", "--timeout", "2"];
    let acquire = |extra: &[&str]| {
        let mut a = vec!["acquire"];
        a.extend(direct);
        a.extend(["--duid", duid]);
        a.extend(extra);
        client(Some(&h.ns), &a)
    };
    let (rc, a) = acquire(&["--iaid", "1"]);
    assert_eq!(rc, 0, "{a}");
    let mac = a["mac"].as_str().unwrap().to_string();
    assert!(mac.starts_with("02:42:00:00:00:"), "{a}");
    assert_eq!(a["advertised"].as_str(), Some(mac.as_str()), "{a}");
    // Infinite lifetime without lifetime_secs: T1 = T2 = infinite.
    assert_eq!(
        (a["valid"].as_u64(), a["t1"].as_u64(), a["t2"].as_u64()),
        (
            Some(u32::MAX as u64),
            Some(u32::MAX as u64),
            Some(u32::MAX as u64)
        ),
        "{a}"
    );
    let server_duid = a["server_duid"].as_str().unwrap().to_string();
    // The same IA_LL gets the same address again; the HTTP API knows it
    // by the same handle.
    let (_, again) = acquire(&["--iaid", "1"]);
    assert_eq!(again["mac"].as_str(), Some(mac.as_str()));
    let handle = format!("dhcpv6:{duid}:00000001");
    let r = get_json(&listen, &format!("/api/v1/mac?handle={handle}"));
    assert_eq!(r["mac"].as_str(), Some(mac.as_str()), "{r}");
    // Rapid commit with a free hint: granted, in one exchange.
    let (rc, r) = acquire(&["--iaid", "2", "--rapid", "--hint", "02:42:00:00:77:01"]);
    assert_eq!(rc, 0, "{r}");
    assert_eq!(
        (r["mac"].as_str(), r["advertised"].is_null()),
        (Some("02:42:00:00:77:01"), true),
        "{r}"
    );
    // ELI preferred (RFC 8948 quadrant 1): the ELI pool, its lifetime.
    let (rc, r) = acquire(&["--iaid", "3", "--quadrant", "1"]);
    assert_eq!(rc, 0, "{r}");
    assert!(r["mac"].as_str().unwrap().starts_with("0a:12:34:"), "{r}");
    assert_eq!(
        (r["valid"].as_u64(), r["t1"].as_u64(), r["t2"].as_u64()),
        (Some(3600), Some(1800), Some(2880)),
        "{r}"
    );
    // Only SAI asked for: refused with a status, nothing assigned.
    let (rc, r) = acquire(&["--iaid", "4", "--quadrant", "3"]);
    assert_eq!(rc, 3, "{r}");

    // Renew and Release.
    let held = |verb: &str, iaid: &str, mac: &str| {
        let mut a = vec![verb];
        a.extend(direct);
        a.extend([
            "--duid",
            duid,
            "--iaid",
            iaid,
            "--mac",
            mac,
            "--server-duid",
            &server_duid,
        ]);
        client(Some(&h.ns), &a)
    };
    let (rc, r) = held("renew", "1", &mac);
    assert_eq!(
        (rc, r["mac"].as_str(), r["status"].as_u64()),
        (0, Some(mac.as_str()), Some(0)),
        "{r}"
    );
    let (rc, r) = held("release", "2", "02:42:00:00:77:01");
    assert_eq!((rc, r["status"].as_u64()), (0, Some(0)), "{r}");
    let (code, _) = {
        let (s, t) = moose_mgmt::client::request(
            "GET",
            &listen,
            &format!("/api/v1/mac?handle=dhcpv6:{duid}:00000002"),
            None,
            Duration::from_secs(5),
        )
        .unwrap();
        (s, t)
    };
    assert_eq!(code, 404, "released, still assigned");
    let (_, r) = held("renew", "2", "02:42:00:00:77:01");
    assert_eq!(
        r["status"].as_u64(),
        Some(3),
        "renewing a released address: NoBinding: {r}"
    );

    // Relayed: a relay agent on ::1 (Relay-Forw in, Relay-Repl out with
    // the Interface-Id echoed, checked by the client).
    let (rc, r) = client(
        None,
        &[
            "acquire",
            "--server",
            "::1",
            "--relay-bind",
            "::1",
            "--relay-port",
            "5487",
            "--timeout",
            "2",
            "--duid",
            "00030001020000870002",
            "--iaid",
            "7",
        ],
    );
    assert_eq!(rc, 0, "{r}");
    let relayed = r["mac"].as_str().unwrap().to_string();
    assert!(
        relayed.starts_with("02:42:00:00:00:") && relayed != mac,
        "{r}"
    );

    // Malformed messages: dropped, counted, nothing changed.
    let before = used(&listen);
    let raw = |hex: &str| {
        client(
            None,
            &[
                "raw",
                "--server",
                "::1",
                "--relay-bind",
                "::1",
                "--relay-port",
                "5488",
                "--timeout",
                "1",
                "--hex",
                hex,
            ],
        )
    };
    let no_lladdr = "01000001".to_string()
        + "0001000a00030001020000870003"
        + "008a000c000000090000000000000000";
    for hex in [
        "0100",
        "ff000001",
        "0100000100010004000300",
        no_lladdr.as_str(),
    ] {
        let (_, r) = raw(hex);
        assert_eq!(r["answered"], false, "{hex}: {r}");
    }
    assert_eq!(
        used(&listen),
        before,
        "a malformed message changed the pools"
    );
    let text = m.get("/metrics");
    for reason in ["truncated", "unknown_type", "ia_ll_without_lladdr"] {
        assert!(
            metric(
                &text,
                "moose_mps_dhcp6_dropped_total",
                &format!("reason=\"{reason}\"")
            ) >= 1.0,
            "{reason}"
        );
    }
    assert!(metric(&text, "moose_mps_dhcp6_messages_total", "type=\"solicit\"") >= 5.0);
    assert!(metric(&text, "moose_mps_dhcp6_replies_total", "type=\"advertise\"") >= 3.0);
    m.stop();
}
