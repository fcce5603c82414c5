//! Storm control through the real binary on DPDK `net_pcap` ports: a
//! port's broadcast, multicast and unknown-unicast floods are each held to
//! their `port[].storm` rate (the rest dropped and counted by class), the
//! port's known unicast and another port's floods are untouched, and a bad
//! rate is a config error naming its key.

mod common;

use common::*;
use moose_wire::ethernet::emit;
use moose_wire::{EtherType, Mac};

fn frame(dst: Mac, src: Mac, fill: u8) -> Vec<u8> {
    let mut v = Vec::new();
    emit(&mut v, dst, src, None, EtherType::Ipv4, &[fill; 46]);
    v
}

const N: usize = 300;
/// frames per second of each limited class: 100 ms of it (10 frames) is
/// the bucket's depth, and the whole capture is read within milliseconds.
const RATE: u64 = 100;

#[test]
fn floods_are_held_to_their_rates_by_class() {
    let s = Scratch::new("storm");
    let a = Mac([2, 0, 0, 0, 0, 0xa]);
    let b = Mac([2, 0, 0, 0, 0, 0xb]);
    let group = Mac([0x01, 0x00, 0x5e, 0, 0, 1]);
    let nobody = Mac([2, 0, 0, 0, 0, 0xee]);
    // p0 (limited): N broadcasts, N multicasts, N unknown unicasts, and N
    // frames to B (a static entry on p1: known unicast, never a flood).
    let mut in0 = Vec::new();
    for i in 0..N {
        let f = (i % 200) as u8;
        in0.push(frame(Mac::BROADCAST, a, f));
        in0.push(frame(group, a, f));
        in0.push(frame(nobody, a, f));
        in0.push(frame(b, a, f));
    }
    // p1 (not limited): N broadcasts.
    let in1: Vec<Vec<u8>> = (0..N).map(|i| frame(Mac::BROADCAST, b, i as u8)).collect();
    write_pcap(&s.path("in0.pcap"), &in0);
    write_pcap(&s.path("in1.pcap"), &in1);
    let mut cfg = format!(
        "[switch]\nname = \"storm\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 8191\n{}\n",
        eal("storm")
    );
    for i in 0..2 {
        cfg += &format!(
            "[[port]]\nname = \"p{i}\"\ndevice = \"net_pcap{i},rx_pcap={},tx_pcap={}\"\n",
            s.path(&format!("in{i}.pcap")).display(),
            s.path(&format!("out{i}.pcap")).display()
        );
        if i == 0 {
            cfg += &format!(
                "storm = {{ broadcast_pps = {RATE}, multicast_pps = {RATE}, unknown_unicast_pps = {RATE} }}\n"
            );
        }
    }
    cfg += "[[static_fdb]]\nmac = \"02:00:00:00:00:0b\"\nport = \"p1\"\n";
    let cfg = s.write("storm.toml", &cfg);
    let out = run_ok(
        moose()
            .args(["run", "--duration", "1.5", "--json", "-c"])
            .arg(&cfg),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let out1 = read_pcap(&s.path("out1.pcap"));
    let out0 = read_pcap(&s.path("out0.pcap"));
    let count = |v: &[Vec<u8>], dst: Mac| v.iter().filter(|f| f[..6] == dst.0).count() as u64;
    let drops = &report["ports"][0]["counters"]["drops"];
    for (what, dst, reason) in [
        ("broadcast", Mac::BROADCAST, "storm_broadcast"),
        ("multicast", group, "storm_multicast"),
        ("unknown unicast", nobody, "storm_unknown_unicast"),
    ] {
        let passed = count(&out1, dst);
        let dropped = drops[reason].as_u64().unwrap();
        assert_eq!(
            passed + dropped,
            N as u64,
            "{what}: every frame forwarded or counted"
        );
        // The depth, plus the rate over the run at most.
        assert!(
            (RATE / 10..=RATE / 10 + RATE * 2).contains(&passed),
            "{what}: {passed} of {N} passed, {dropped} dropped"
        );
    }
    assert_eq!(count(&out1, b), N as u64, "known unicast is not limited");
    assert_eq!(count(&out0, Mac::BROADCAST), N as u64, "p1 is not limited");
}

#[test]
fn a_bad_storm_rate_names_its_key() {
    let s = Scratch::new("storm-bad");
    let cfg = s.write(
        "bad.toml",
        "[switch]\nname = \"x\"\n[[port]]\nname = \"p0\"\ndevice = \"net_null0\"\nstorm = { broadcast_pps = 0 }\n",
    );
    let out = moose()
        .args(["config", "check"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("port[0].storm.broadcast_pps"), "{err}");
}
