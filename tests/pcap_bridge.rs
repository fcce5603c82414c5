//! The real binary on DPDK `net_pcap` ports: captures in, captures out,
//! frames compared exactly. Covers flooding, learning, VLAN separation and
//! malformed frames (dropped, counted by reason, forwarding goes on).

mod common;

use common::*;
use moose_wire::ethernet::emit;
use moose_wire::{EtherType, Mac, VlanTag};

fn mac(n: u8) -> Mac {
    Mac([2, 0, 0, 0, 0, n])
}

fn frame(dst: Mac, src: Mac, vid: Option<u16>, fill: u8) -> Vec<u8> {
    let mut v = Vec::new();
    let tag = vid.map(|vid| VlanTag {
        vid,
        pcp: 0,
        dei: false,
    });
    emit(&mut v, dst, src, tag, EtherType::Ipv4, &[fill; 46]);
    v
}

/// Runts the worker must chew through before the learning-dependent frame:
/// they give the slow path time to learn (it publishes within 1 ms; these
/// take tens of milliseconds even in a release build).
const FILLER: usize = 300_000;

#[test]
fn pcap_in_pcap_out() {
    let s = Scratch::new("pcap");
    let (a, b, c) = (mac(0xa), mac(0xb), mac(0xc));

    let a_bcast = frame(Mac::BROADCAST, a, None, 1);
    let b_bcast = frame(Mac::BROADCAST, b, None, 2);
    let a_to_c_v20 = frame(c, a, Some(20), 3);
    let a_to_b = frame(b, a, None, 4);
    let a_to_b_v10 = frame(b, a, Some(10), 5);
    let runt = a_bcast[..10].to_vec();
    let truncated_tag = a_to_c_v20[..16].to_vec();
    let mut oversize = frame(c, a, None, 6);
    oversize.resize(1600, 0);
    let bad_src = frame(c, Mac::BROADCAST, None, 7);
    let bpdu = frame(Mac([0x01, 0x80, 0xc2, 0, 0, 0]), a, None, 8);

    let mut in0 = vec![
        a_bcast.clone(),
        runt.clone(),
        truncated_tag,
        oversize,
        bad_src,
        bpdu,
        a_to_c_v20.clone(),
    ];
    in0.extend(std::iter::repeat_n(runt, FILLER));
    in0.push(a_to_b.clone());
    in0.push(a_to_b_v10.clone());
    write_pcap(&s.path("in0.pcap"), &in0);
    write_pcap(&s.path("in1.pcap"), std::slice::from_ref(&b_bcast));
    write_pcap(&s.path("in2.pcap"), &[]);

    let mut cfg = format!(
        "[switch]\nname = \"pcap\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 4095\n{}\n",
        eal("pcap")
    );
    for i in 0..3 {
        cfg += &format!(
            "[[port]]\nname = \"p{i}\"\ndevice = \"net_pcap{i},rx_pcap={},tx_pcap={}\"\n",
            s.path(&format!("in{i}.pcap")).display(),
            s.path(&format!("out{i}.pcap")).display()
        );
    }
    // p2 carries VLANs 1 and 10 only
    cfg += "vlans = [1, 10]\n";
    let cfg = s.write("pcap.toml", &cfg);

    let out = run_ok(
        moose()
            .args(["run", "--duration", "4", "--json", "-c"])
            .arg(&cfg),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");

    let out0 = read_pcap(&s.path("out0.pcap"));
    let out1 = read_pcap(&s.path("out1.pcap"));
    let mut out2 = read_pcap(&s.path("out2.pcap"));

    // p0 hears B's broadcast only: A's frames never come back to A.
    assert_eq!(out0, vec![b_bcast.clone()], "out0");
    // p1: A's broadcast, A→C on VLAN 20 (flooded: unknown; p2 lacks VLAN
    // 20), A→B once B is learned on p1 (unicast), and A→B on VLAN 10
    // (unknown there: B was learned on VLAN 1 only, so flooded).
    assert_eq!(
        out1,
        vec![a_bcast.clone(), a_to_c_v20, a_to_b, a_to_b_v10.clone()],
        "out1"
    );
    // p2: both broadcasts and the VLAN 10 flood; not the VLAN 20 frame and
    // not the learned unicast A→B.
    let mut want2 = vec![a_bcast, b_bcast, a_to_b_v10];
    out2.sort();
    want2.sort();
    assert_eq!(out2, want2, "out2");

    let p0 = &report["ports"][0]["counters"];
    assert_eq!(p0["rx_packets"], in0.len() as u64);
    assert_eq!(p0["drops"]["too_short"], (FILLER + 1) as u64);
    assert_eq!(p0["drops"]["truncated_vlan"], 1);
    assert_eq!(p0["drops"]["oversize"], 1);
    assert_eq!(p0["drops"]["src_multicast"], 1);
    assert_eq!(
        p0["rx_punted"], 1,
        "the BPDU goes to the slow path, not out"
    );
    assert_eq!(report["ports"][1]["counters"]["tx_packets"], 4);
    assert_eq!(report["ports"][2]["nic"]["opackets"], 3);
}

/// Punt classes through the real binary: a flood of 20,000 LLDP frames on
/// p0 is limited by the reserved class's per-port bucket (counted as
/// refused, by class), while 100 new sources interleaved with it are all
/// learned — so the replies to them from p1 go out of p0 as unicast, not
/// flooded — and every LLDP frame of p1 reaches the control thread. The
/// all-zero source is dropped, counted and never learned.
#[test]
fn a_flood_of_one_punt_class_does_not_starve_learning() {
    let s = Scratch::new("pcap-punt");
    let lldp = |src: Mac| frame(Mac([0x01, 0x80, 0xc2, 0, 0, 0x0e]), src, None, 9);
    let host = |n: u16| Mac([2, 0, 0, 1, (n >> 8) as u8, n as u8]);
    let mut in0 = Vec::new();
    for i in 0..20_000u16 {
        in0.push(lldp(mac(0xa)));
        if i % 200 == 0 {
            in0.push(frame(Mac::BROADCAST, host(i / 200), None, 1));
        }
    }
    in0.push(frame(mac(0xb), Mac::ZERO, None, 2));
    let mut in1 = vec![lldp(mac(0xb)); 10];
    in1.extend(std::iter::repeat_n(
        frame(mac(0xc), mac(0xb), None, 0)[..10].to_vec(),
        FILLER,
    ));
    for n in 0..100 {
        in1.push(frame(host(n), mac(0xb), None, 3));
    }
    write_pcap(&s.path("in0.pcap"), &in0);
    write_pcap(&s.path("in1.pcap"), &in1);
    let mut cfg = format!(
        "[switch]\nname = \"punt\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 4095\n{}\n",
        eal("pcap-punt")
    );
    for i in 0..2 {
        cfg += &format!(
            "[[port]]\nname = \"p{i}\"\ndevice = \"net_pcap{i},rx_pcap={},tx_pcap={}\"\n",
            s.path(&format!("in{i}.pcap")).display(),
            s.path(&format!("out{i}.pcap")).display()
        );
    }
    let cfg = s.write("punt.toml", &cfg);
    let out = run_ok(
        moose()
            .args(["run", "--duration", "4", "--json", "-c"])
            .arg(&cfg),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");

    let reserved = &report["punt"]["reserved"];
    let sent = reserved["sent"].as_u64().unwrap();
    let refused = reserved["port_rate_limited"].as_u64().unwrap()
        + reserved["class_rate_limited"].as_u64().unwrap()
        + reserved["ring_full"].as_u64().unwrap();
    assert_eq!(
        sent + refused,
        20_010,
        "every LLDP frame is sent or refused: {reserved}"
    );
    assert!(sent < 2_000, "p0's LLDP flood is limited: {reserved}");
    assert_eq!(
        report["reserved"]["by_port"]["p1"], 10,
        "all of p1's LLDP frames got through: {}",
        report["reserved"]
    );
    assert_eq!(report["reserved"]["frames"]["lldp"].as_u64().unwrap(), sent);
    let p0 = &report["ports"][0]["counters"];
    let punt_drops = |p: usize| {
        let d = &report["ports"][p]["counters"]["drops"];
        d["punt_rate_limited"].as_u64().unwrap() + d["punt_ring_full"].as_u64().unwrap()
    };
    assert_eq!(
        punt_drops(0) + punt_drops(1),
        refused,
        "each refusal is a drop of its port"
    );
    assert_eq!(punt_drops(1), 0);
    assert_eq!(p0["drops"]["src_zero"], 1);

    // All 100 hosts learned despite the flood: the replies are unicast to
    // p0 (and p0 received nothing else: the broadcasts of p0's hosts and
    // the LLDP frames are not sent back to p0).
    let out0 = read_pcap(&s.path("out0.pcap"));
    let replies = out0.iter().filter(|f| f[6..12] == mac(0xb).0).count();
    assert_eq!(replies, 100, "replies to learned hosts out of p0");
    let out1 = read_pcap(&s.path("out1.pcap"));
    assert_eq!(
        out1.len(),
        100,
        "p1 got the hosts' broadcasts and nothing of the replies"
    );
    assert_eq!(
        report["bridge"]["counters"]["learned"], 102,
        "100 hosts, the LLDP sender and mac(0xb), not the zero MAC: {}",
        report["bridge"]
    );
    assert_eq!(
        report["ports"][1]["counters"]["rx_unknown_unicast"], 0,
        "no reply was flooded"
    );
}
