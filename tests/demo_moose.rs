//! `moose demo`, the MOOSE demo (the default), through the real binary:
//! two switches, four hosts; it must end well, show every ordered pair
//! reachable over IPv4 and IPv6, the hosts behind the other switch known by
//! their MOOSE addresses only, each switch's table sizes, and leave nothing
//! behind. (`moose demo --bridge` is `netns_bridge.rs`'s
//! `demo_runs_and_cleans_up`.)

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

#[test]
fn moose_demo_is_the_default() {
    let out = output_within(moose().arg("demo"), Duration::from_secs(120));
    let text = &out.stdout;
    assert!(out.status.success(), "{text}\nstderr:\n{}", out.stderr);
    assert!(
        text.contains("all 12 pairs reachable over IPv4 and IPv6"),
        "{text}"
    );

    // The ping table: every ordered pair, each address family, ok.
    let pings: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() == 4 && w[0].starts_with('h') && w[1].starts_with('h'))
        .collect();
    for a in 0..4 {
        for b in (0..4).filter(|&b| b != a) {
            for addr in [format!("10.77.1.{}", b + 1), format!("fd77:1::{}", b + 1)] {
                let row = [format!("h{a}"), format!("h{b}"), addr, "ok".into()];
                assert!(
                    pings.iter().any(|w| *w == row),
                    "no ping row {row:?}:\n{text}"
                );
            }
        }
    }

    // The neighbour tables: each host knows each host behind the other
    // switch, by IPv4 and by IPv6, as that host's MOOSE address.
    assert!(text.contains("neighbour tables"), "{text}");
    assert!(!text.contains("FAILED"), "{text}");
    assert!(!text.contains("REAL MAC"), "{text}");
    for a in 0..4usize {
        for b in (0..4usize).filter(|&b| b / 2 != a / 2) {
            let (sw, prefix) = [(1, "02:11:11:"), (2, "02:22:22:")][b / 2];
            for addr in [format!("10.77.1.{}", b + 1), format!("fd77:1::{}", b + 1)] {
                let entry = text.lines().find(|l| {
                    let w: Vec<&str> = l.split_whitespace().collect();
                    w.len() > 2 && w[0] == format!("h{a}") && w[1] == addr
                });
                let entry = entry.unwrap_or_else(|| panic!("h{a}: no entry for {addr}:\n{text}"));
                assert!(
                    entry.contains(prefix)
                        && entry.ends_with(&format!("MOOSE address of h{b} (S{sw})")),
                    "h{a}'s entry for h{b} ({addr}): {entry}"
                );
            }
        }
    }

    for s in ["S1", "S2"] {
        let line = format!("{s}: 2 hosts + 2 routes (a learning switch: 4 FDB entries)");
        assert!(text.contains(&line), "no {line:?}:\n{text}");
    }

    // Nothing left behind: namespaces, links, the scratch directory, the
    // switches' DPDK runtime directories.
    assert!(text.contains("moose demo: cleaned up"), "{text}");
    let tag = text
        .split_whitespace()
        .find_map(|w| w.strip_suffix("-h0..3"))
        .expect("namespace names in the report");
    assert_no_netns_or_links(tag);
    let cfg = text
        .split_whitespace()
        .find(|w| w.ends_with("/s1.toml"))
        .expect("the config's path in the report");
    let dir = Path::new(cfg).parent().unwrap();
    assert!(!dir.exists(), "{} left behind", dir.display());
    let name = dir.file_name().unwrap().to_string_lossy();
    for k in [1, 2] {
        let eal = Path::new("/var/run/dpdk").join(format!("{name}-s{k}"));
        assert!(!eal.exists(), "{} left behind", eal.display());
    }
}

/// `--hosts` sizes the bridge demo only; the MOOSE demo's topology is
/// fixed, so asking it for a host count is a usage error, not ignored.
#[test]
fn hosts_needs_bridge() {
    let out = output_within(
        moose().args(["demo", "--hosts", "2"]),
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("--bridge"), "{}", out.stderr);
}
