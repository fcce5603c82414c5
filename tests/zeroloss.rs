//! `moose bench zeroloss` end to end: the generator (one process, two
//! net_memif client ports) against a real moose learning bridge (a second
//! process, the memif servers), a short RFC 2544 search at low rates. What
//! is checked is the method, not a rate: the search ends at a rate whose
//! final trial lost nothing, every frame received carried a latency stamp,
//! and the generator's own count of what it handed the device equals the
//! frames the bridge's workers took in (moose_port_rx_packets_total).

mod common;

use common::*;

#[test]
fn zero_loss_search_through_a_moose_bridge() {
    let s = Scratch::new("zeroloss");
    let listen = free_addr();
    let sock = s.path("dut.sock");
    let dev = |role: &str, id: u32| {
        format!(
            "net_memif{id},role={role},socket={},socket-abstract=no,id={id},rsize=12",
            sock.display()
        )
    };
    let pcap = s.path("t.pcap");
    run_ok(moose().args(["gen", "--out"]).arg(&pcap).args([
        "--switches",
        "2",
        "--switch",
        "0",
        "--hosts-per-switch",
        "16",
        "--flows",
        "16",
        "--mix",
        "remote=100",
        "--remote-dst",
        "real",
    ]));
    let cfg = s.write(
        "moose.toml",
        &config(
            "zeroloss",
            &listen,
            &[("p0", dev("server", 0)), ("p1", dev("server", 1))],
            "",
        ),
    );
    let m = Moose::start(&cfg, &[], &[], &listen);
    let prefix = eal_prefix("zeroloss-gen");
    let out = run_ok(
        moose()
            .args(["bench", "zeroloss", "--pcap"])
            .arg(&pcap)
            .args(["--tx", &dev("client", 0), "--rx", &dev("client", 1)])
            .args(["--max-mpps", "0.2", "--min-mpps", "0.005"])
            .args([
                "--trial-ms",
                "100",
                "--final-ms",
                "300",
                "--warmup-ms",
                "200",
            ])
            .args(["--resolution", "0.1", "--json", "--"])
            .args(["--no-huge", "-m", "256", "--no-pci", "--no-telemetry"])
            .arg(format!("--file-prefix={prefix}")),
    );
    remove_eal_runtime(&prefix);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    let trials = r["trials"].as_array().unwrap();
    assert_eq!(trials[0]["kind"], "warmup");
    assert_eq!(trials[1]["kind"], "max");
    assert_eq!(
        r["frames_in_capture"], r["stamped_in_capture"],
        "every UDP frame of gen's capture takes a stamp"
    );

    let ndr = &r["ndr"];
    let pps = ndr["pps"].as_f64().unwrap();
    let ceiling = r["generator_ceiling_pps"].as_f64().unwrap();
    assert!(
        pps >= 5000.0 && pps <= ceiling,
        "NDR {pps} outside [5000, ceiling {ceiling}]: {r:#}"
    );
    let fin = &ndr["final_trial"];
    assert_eq!(fin["kind"], "final");
    assert_eq!(fin["lost"], 0);
    assert_eq!(fin["generator_limited"], false);
    let received = fin["received"].as_u64().unwrap();
    assert!(received > 0);
    assert_eq!(
        fin["latency"]["samples"].as_u64(),
        Some(received),
        "every frame received is timed"
    );
    let lat = &fin["latency"];
    assert!(
        lat["p50_ns"].as_u64() <= lat["p99_ns"].as_u64()
            && lat["p99_ns"].as_u64() <= lat["max_ns"].as_u64()
    );
    let pdr = &r["pdr"];
    assert!(pdr["pps"].as_f64().unwrap() >= pps, "PDR below NDR: {r:#}");

    // What the generator handed the device (offered minus refused, over
    // every trial) is what the bridge's worker received on p0.
    let handed: u64 = trials
        .iter()
        .map(|t| t["offered"].as_u64().unwrap() - t["refused"].as_u64().unwrap())
        .sum();
    let metrics = m.get("/metrics");
    let rx = metric(&metrics, "moose_port_rx_packets_total", "port=\"p0\"") as u64;
    assert_eq!(
        rx, handed,
        "moose p0 received {rx}, the generator handed over {handed}"
    );
    let tx = metric(&metrics, "moose_port_tx_packets_total", "port=\"p1\"") as u64;
    let got: u64 = trials.iter().map(|t| t["received"].as_u64().unwrap()).sum();
    assert!(
        got <= tx,
        "the generator received {got} frames, moose sent {tx}"
    );
    m.stop();
}
