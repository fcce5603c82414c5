//! `moose demo`, the MOOSE lab (the default), through the real binary:
//! three switches in a triangle, six hosts, automatic prefixes; it must
//! end well, show every ordered pair reachable over IPv4 and IPv6, the
//! hosts behind other switches known by their MOOSE addresses only, each
//! switch's table sizes, traffic recovering from a cut link and reaching a
//! moved host again (with the times), and leave nothing behind. (`moose demo --bridge` is `netns_bridge.rs`'s
//! `demo_runs_and_cleans_up`.)

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn moose_demo_is_the_default() {
    let t0 = Instant::now();
    let out = output_within(moose().arg("demo"), Duration::from_secs(120));
    let took = t0.elapsed();
    let text = &out.stdout;
    assert!(out.status.success(), "{text}\nstderr:\n{}", out.stderr);
    assert!(
        text.contains("all 30 pairs reachable over IPv4 and IPv6"),
        "{text}"
    );
    assert!(took < Duration::from_secs(60), "the demo took {took:?}");
    eprintln!("moose demo ran in {:.1} s", took.as_secs_f64());

    // The ping table: every ordered pair, each address family, ok.
    let pings: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() == 4 && w[0].starts_with('h') && w[1].starts_with('h'))
        .collect();
    for a in 0..6 {
        for b in (0..6).filter(|&b| b != a) {
            for addr in [format!("10.77.1.{}", b + 1), format!("fd77:1::{}", b + 1)] {
                let row = [format!("h{a}"), format!("h{b}"), addr, "ok".into()];
                assert!(
                    pings.iter().any(|w| *w == row),
                    "no ping row {row:?}:\n{text}"
                );
            }
        }
    }

    // The automatic prefixes, one per switch, as the demo printed them.
    let prefixes: Vec<String> = (1..=3)
        .map(|k| {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("moose demo: S{k} switch id")))
                .unwrap_or_else(|| panic!("no prefix of S{k}:\n{text}"));
            let p = line.split("prefix ").nth(1).unwrap();
            // "02:xx:yy:00:00:00/24 (automatic)" -> "02:xx:yy:"
            p[..9].to_string()
        })
        .collect();
    assert!(
        prefixes[0] != prefixes[1] && prefixes[1] != prefixes[2] && prefixes[0] != prefixes[2],
        "{prefixes:?}"
    );
    assert!(text.contains("fabric converged in"), "{text}");

    // The neighbour tables: each host knows each host behind the other
    // switches, by IPv4 and by IPv6, as that host's MOOSE address.
    assert!(text.contains("neighbour tables"), "{text}");
    assert!(!text.contains("FAILED"), "{text}");
    assert!(!text.contains("REAL MAC"), "{text}");
    for a in 0..6usize {
        for b in (0..6usize).filter(|&b| b / 2 != a / 2) {
            let (sw, prefix) = (b / 2 + 1, prefixes[b / 2].as_str());
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

    for s in ["S1", "S2", "S3"] {
        let line = format!("{s}: 2 hosts + 3 routes (a learning switch: 6 FDB entries)");
        assert!(text.contains(&line), "no {line:?}:\n{text}");
    }

    // The cut and the move, with their times.
    let ms = |after: &str| -> u64 {
        let l = text
            .lines()
            .find(|l| l.contains(after))
            .unwrap_or_else(|| panic!("no {after:?}:\n{text}"));
        l.rsplit(after)
            .next()
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no time in {l:?}"))
    };
    let cut = ms("traffic recovered through S3 after ");
    let moved = ms("h2 reached it again after ");
    eprintln!(
        "demo: recovery from the cut {cut} ms, the moved host reached again after {moved} ms"
    );
    assert!(cut < 1200, "recovered within 3 dead intervals: {cut} ms");

    // Nothing left behind: namespaces, links, the scratch directory, the
    // switches' DPDK runtime directories.
    assert!(text.contains("moose demo: cleaned up"), "{text}");
    let tag = text
        .split_whitespace()
        .find_map(|w| w.strip_suffix("-h0..5"))
        .expect("namespace names in the report");
    assert_no_netns_or_links(tag);
    let cfg = text
        .split_whitespace()
        .find(|w| w.ends_with("/s1.toml"))
        .expect("the config's path in the report");
    let dir = Path::new(cfg).parent().unwrap();
    assert!(!dir.exists(), "{} left behind", dir.display());
    let name = dir.file_name().unwrap().to_string_lossy();
    for k in [1, 2, 3] {
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
