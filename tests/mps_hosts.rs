//! The MAC provider and the hosts service agree, through the real binary:
//! a host whose MAC the provider handed out is never released as idle, so
//! its MOOSE host id stays the same — also across a restart of the
//! appliance, when nothing is heard from it — while an ordinary host goes
//! idle and is released; once the device releases its MAC, its host is an
//! ordinary one again.
//!
//! One switch, `moose run` with an edge port on DPDK `net_pcap` (a capture
//! of ARP requests read once at start), `host_idle_secs = 1`, hosts and
//! assignments kept in the same `moose.state_dir`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use moose_wire::Mac;

fn arp_request(src: Mac, spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa);
    f.resize(60, 0);
    f
}

fn switch_config(s: &Scratch, run: &str, listen: &str, frames: &[Vec<u8>]) -> std::path::PathBuf {
    let rx = s.path(&format!("{run}-in.pcap"));
    write_pcap(&rx, frames);
    let tx = s.path(&format!("{run}-out.pcap"));
    let extra = format!(
        "[moose]\nprefix = \"02:11:11:00:00:00/24\"\nhost_ids = \"sequential\"\nhost_idle_secs = 1\n\
         state_dir = \"{}\"\n[routing]\nenabled = false\n[elk]\nenabled = false\n\
         [mps]\n[[mps.pool]]\nname = \"vms\"\nprefix = \"02:42:00:00:00:00/24\"\n",
        s.path("state").display()
    );
    let mut cfg = config("mpshosts", listen, &[], &extra);
    cfg += &format!(
        "[[port]]\nname = \"e0\"\nrole = \"edge\"\ndevice = \"net_pcap0,rx_pcap={},tx_pcap={}\"\n\
         [[port]]\nname = \"up\"\nrole = \"fabric\"\ndevice = \"net_null1,no-rx=1\"\n",
        rx.display(),
        tx.display()
    );
    s.write(&format!("{run}.toml"), &cfg)
}

/// POSTs `body` to `path`, which must answer 200; the answer.
fn post(listen: &str, path: &str, body: &str) -> serde_json::Value {
    let (st, r) =
        moose_mgmt::client::request("POST", listen, path, Some(body), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    assert_eq!(st, 200, "POST {path}: {r}");
    serde_json::from_str(&r).unwrap()
}

/// The hosts of the switch: real MAC → (host id, MOOSE address).
fn hosts(listen: &str) -> std::collections::HashMap<String, (u64, String)> {
    get_json(listen, "/api/v1/hosts")
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["mac"].as_str().unwrap().to_string(),
                (
                    h["id"].as_u64().unwrap(),
                    h["moose_mac"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

fn wait_hosts(
    listen: &str,
    what: &str,
    ok: impl Fn(&std::collections::HashMap<String, (u64, String)>) -> bool,
) -> std::collections::HashMap<String, (u64, String)> {
    let t0 = Instant::now();
    loop {
        let h = hosts(listen);
        if ok(&h) {
            return h;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{what}: hosts {h:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn provider_macs_keep_their_host_ids_across_restarts() {
    let s = Scratch::new("mps-hosts");
    let listen = free_addr();

    // The device gets its MAC from the provider first.
    let cfg0 = switch_config(&s, "r0", &listen, &[]);
    let m = Moose::start(&cfg0, &[], &[], &listen);
    let g = post(
        &listen,
        "/api/v1/mac/request",
        r#"{"handle": "urn:vm:web-1"}"#,
    );
    let x: Mac = g["mac"].as_str().unwrap().parse().unwrap();
    m.stop();
    let y: Mac = "00:16:17:6d:b7:cf".parse().unwrap();
    let z: Mac = "00:0c:f1:df:6a:84".parse().unwrap();

    // Both heard once; only the ordinary host goes idle.
    let cfg1 = switch_config(
        &s,
        "r1",
        &listen,
        &[
            arp_request(y, [10, 0, 0, 1], [10, 0, 0, 9]),
            arp_request(x, [10, 0, 0, 2], [10, 0, 0, 9]),
        ],
    );
    let m = Moose::start(&cfg1, &[], &[], &listen);
    let seen = wait_hosts(&listen, "both hosts learnt", |h| {
        h.contains_key(&x.to_string()) && h.contains_key(&y.to_string())
    });
    let x_id = seen[&x.to_string()].clone();
    let after = wait_hosts(&listen, "the ordinary host released as idle", |h| {
        !h.contains_key(&y.to_string())
    });
    assert_eq!(
        after.get(&x.to_string()),
        Some(&x_id),
        "the provider's host was released"
    );
    m.stop();

    // Restarted, nothing heard from the device: same id; a new host is
    // learnt beside it and goes idle, the device's host stays.
    let cfg2 = switch_config(
        &s,
        "r2",
        &listen,
        &[arp_request(z, [10, 0, 0, 3], [10, 0, 0, 9])],
    );
    let m = Moose::start(&cfg2, &[], &[], &listen);
    let h = wait_hosts(&listen, "the new host learnt", |h| {
        h.contains_key(&z.to_string())
    });
    assert_eq!(
        h.get(&x.to_string()),
        Some(&x_id),
        "host id changed across the restart"
    );
    assert_ne!(h[&z.to_string()].0, x_id.0);
    let h = wait_hosts(&listen, "the new host released as idle", |h| {
        !h.contains_key(&z.to_string())
    });
    assert_eq!(h.get(&x.to_string()), Some(&x_id));
    eprintln!(
        "{x} kept host id {} ({}) across a restart and idle checks",
        x_id.0, x_id.1
    );

    // The device gives its MAC back: an ordinary host, idle, released.
    post(
        &listen,
        "/api/v1/mac/release",
        r#"{"handle": "urn:vm:web-1"}"#,
    );
    wait_hosts(
        &listen,
        "the released device's host released as idle",
        |h| !h.contains_key(&x.to_string()),
    );
    m.stop();
}
