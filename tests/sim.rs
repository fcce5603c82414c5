//! `moose sim` through the real binary: the JSON report's shape and
//! figures on fabrics small enough to reason about, the plots, the
//! terminal table, and the errors bad arguments give.

mod common;

use std::process::{Command, Output};

use common::Scratch;
use serde_json::Value;

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moose"))
        .arg("sim")
        .args(args)
        .output()
        .expect("spawn moose")
}

fn sim_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = sim(&all);
    assert!(
        out.status.success(),
        "moose sim {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn tier<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .find(|t| t["tier"] == name)
        .unwrap_or_else(|| panic!("no tier {name} in {r}"))
}

#[test]
fn three_tier_report() {
    let s = Scratch::new("sim-three-tier");
    let dir = s.path("plots");
    let r = sim_json(&[
        "--racks",
        "6",
        "--hosts-per-rack",
        "300",
        "--peers",
        "5",
        "--plot",
        dir.to_str().unwrap(),
    ]);
    assert!(r["elapsed_s"].as_f64().unwrap() > 0.0);
    // 6 racks: one pod, 2 aggregation switches, 4 cores.
    assert_eq!(r["switches"], 12);
    assert_eq!(r["hosts"], 1800);
    let (edge, agg, core) = (tier(&r, "edge"), tier(&r, "aggregation"), tier(&r, "core"));
    // The core routes to every switch prefix, nothing per host; a
    // learning bridge anywhere holds every host.
    let routes = core["routes_moose"].as_u64().unwrap();
    assert!((12..=13).contains(&routes), "{core}");
    assert_eq!(core["entries_moose"], routes);
    for t in [edge, agg, core] {
        assert_eq!(t["entries_ethernet"], 1800, "{t}");
    }
    // The edge holds its rack's 300 hosts beside its routes, and the real
    // edge switch measured gave all of them an address.
    assert_eq!(
        edge["entries_moose"].as_u64().unwrap(),
        edge["routes_moose"].as_u64().unwrap() + 300
    );
    assert_eq!(edge["hosts_held"], 300);
    assert!(edge["memory_bytes_moose"].as_u64().unwrap() > 0);
    assert_eq!(r["ethernet_learnt"], 1800);
    // A host gets the answers to its own 5 requests with the directory; a
    // flooded request reaches every host.
    assert_eq!(r["arp_per_host_moose"].as_f64().unwrap(), 5.0);
    assert_eq!(r["arp_per_host_ethernet"].as_f64().unwrap(), 5.0 * 1800.0);
    assert_eq!(r["arp_per_link_moose"].as_f64().unwrap(), 0.0);
    assert!(r["arp_per_link_ethernet"].as_f64().unwrap() >= 5.0 * 1800.0);
    assert!(r["directory_per_link_moose"].as_f64().unwrap() > 0.0);
    // Failures: acted on, databases agree again, nothing lost.
    let f = r["convergence"]["failures"].as_array().unwrap();
    assert_eq!(f.len(), 2, "{}", r["convergence"]);
    for x in f {
        assert!(x["adverts_originated"].as_u64().unwrap() >= 2, "{x}");
        assert!(x["spf_runs"].as_u64().unwrap() >= 12, "{x}");
        assert_eq!(x["frames_lost"], 0, "{x}");
    }
    assert!(f[1]["converged_s"].as_f64().unwrap() >= 0.4, "{}", f[1]);
    // The sweep: 1/100 of 300 is 3, then 10, 30, 100, and 300.
    let sizes = r["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 5);
    let fit = |what: &str| {
        r["fits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["what"] == what)
            .unwrap_or_else(|| panic!("no fit {what}"))["exponent"]
            .as_f64()
            .unwrap()
    };
    let e = fit("ARP frames received by all hosts, Ethernet");
    assert!((e - 2.0).abs() < 0.05, "{e}");
    let m = fit("ARP frames received by all hosts, MOOSE with the directory");
    assert!((m - 1.0).abs() < 0.05, "{m}");
    for f in ["table-size.png", "broadcast-load.png"] {
        let png = std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 8_000,
            "{f}"
        );
    }
}

#[test]
fn fat_tree_and_leaf_spine() {
    let r = sim_json(&[
        "--topology",
        "fat-tree",
        "--k",
        "4",
        "--hosts-per-rack",
        "8",
        "--sweep",
        "none",
    ]);
    // k = 4: 8 edge, 8 aggregation, 4 core switches, 16 hosts a pod.
    assert_eq!(r["switches"], 20);
    assert_eq!(r["hosts"], 64);
    assert_eq!(tier(&r, "edge")["switches"], 8);
    assert_eq!(tier(&r, "aggregation")["switches"], 8);
    assert_eq!(tier(&r, "core")["switches"], 4);
    assert_eq!(tier(&r, "core")["entries_ethernet"], 64);
    assert!(r["fits"].as_array().unwrap().is_empty());

    let r = sim_json(&[
        "--topology",
        "leaf-spine",
        "--racks",
        "5",
        "--spines",
        "2",
        "--hosts-per-rack",
        "20",
        "--sweep",
        "none",
    ]);
    assert_eq!(r["switches"], 7);
    assert_eq!(tier(&r, "core")["switches"], 2);
    assert!(r["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["tier"] != "aggregation"));
}

#[test]
fn terminal_table() {
    let out = sim(&["--racks", "2", "--hosts-per-rack", "50", "--sweep", "10"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "entries MOOSE",
        "entries Ethernet",
        "link down of",
        "silent of",
        "growth:",
        "elapsed",
    ] {
        assert!(text.contains(want), "no {want:?} in\n{text}");
    }
}

#[test]
fn bad_arguments() {
    for (args, want) in [
        (
            &["--topology", "ring"][..],
            "three-tier, leaf-spine or fat-tree",
        ),
        (&["--topology", "fat-tree"][..], "needs --k"),
        (&["--topology", "fat-tree", "--k", "5"][..], "even"),
        (
            &["--topology", "leaf-spine", "--racks", "70"][..],
            "at most 64",
        ),
        (&["--racks", "0"][..], "--racks"),
        (&["--hosts-per-rack", "0"][..], "--hosts-per-rack"),
        (&["--hosts-per-rack", "70000"][..], "65535"),
        (
            &["--racks", "2", "--hosts-per-rack", "2", "--peers", "4"][..],
            "--peers",
        ),
        (&["--peers", "0"][..], "--peers"),
        (&["--sweep", "ten"][..], "--sweep"),
    ] {
        let out = sim(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
