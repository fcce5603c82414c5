//! `moose gen` through the real binary, its captures read back by a
//! third-party parser (tshark): protocol mix of the campus profile, IMIX
//! lengths, no malformed frames, good checksums, distinct flows, and the
//! errors bad arguments give.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Command, Output};

use common::{run_ok, Scratch};

fn gen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moose"))
        .arg("gen")
        .args(args)
        .output()
        .expect("spawn moose")
}

/// Writes `file` in `s` with `args`, and returns its path.
fn gen_ok(s: &Scratch, file: &str, args: &[&str]) -> std::path::PathBuf {
    let p = s.path(file);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moose"));
    cmd.arg("gen").arg("--out").arg(&p).args(args);
    run_ok(&mut cmd);
    p
}

/// tshark's `-T fields` output for `fields` of every frame of `file`, one
/// Vec of (possibly empty) values per frame.
fn tshark_fields(file: &Path, opts: &[&str], fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).args(opts).args(["-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("spawn tshark (is it installed?)");
    assert!(
        out.status.success(),
        "tshark: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// `n` within one frame of `share` × `total`.
fn assert_share(what: &str, n: usize, share: f64, total: usize) {
    let exact = share * total as f64;
    assert!(
        (n as f64 - exact).abs() <= 1.0,
        "{what}: {n} frames, want {exact:.1} ± 1"
    );
}

#[test]
fn campus_profile_protocols_by_tshark() {
    let s = Scratch::new("gen-campus");
    let k = 4096;
    let p = gen_ok(
        &s,
        "campus.pcap",
        &["--profile", "campus-broadcast", "--frames", &k.to_string()],
    );
    let rows = tshark_fields(&p, &[], &["frame.protocols", "udp.dstport", "eth.dst"]);
    assert_eq!(rows.len(), k);
    let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &rows {
        assert_eq!(r[2], "ff:ff:ff:ff:ff:ff", "not broadcast: {r:?}");
        let protos: Vec<&str> = r[0].split(':').collect();
        let has = |p: &str| protos.contains(&p);
        let class = match r[1].as_str() {
            _ if has("arp") => "arp",
            _ if has("llc") => "llc",
            _ if has("ipx") => "ipx",
            "17500" if has("db-lsp-disc") => "dropbox",
            "137" if has("nbns") => "netbios",
            "138" if has("nbdgm") => "netbios",
            "67" if has("dhcp") => "dhcp",
            // Plain UDP data; Wireshark's ADwin heuristic claims a few
            // datagrams by their length alone, so go by the port.
            "4321" => "other_udp",
            _ => panic!("unexpected frame {r:?}"),
        };
        *classes.entry(class).or_default() += 1;
    }
    for (class, pct) in [
        ("arp", 63.9),
        ("dropbox", 10.1),
        ("netbios", 9.0),
        ("dhcp", 0.2),
        ("other_udp", 6.9),
        ("llc", 6.8),
        ("ipx", 3.1),
    ] {
        assert_share(class, classes[class], pct / 100.0, k);
    }
    // IPv4 UDP as a whole is 26.2 %.
    let udp = rows.iter().filter(|r| !r[1].is_empty()).count();
    assert_share("IPv4 UDP", udp, 0.262, k);
}

#[test]
fn imix_lengths_by_tshark() {
    let s = Scratch::new("gen-imix");
    let p = gen_ok(&s, "imix.pcap", &["--size", "imix", "--frames", "1200"]);
    let mut lens: BTreeMap<String, usize> = BTreeMap::new();
    for r in tshark_fields(&p, &[], &["frame.len"]) {
        *lens.entry(r[0].clone()).or_default() += 1;
    }
    // 64, 594 and 1518 with FCS are 60, 590 and 1514 captured.
    let want: BTreeMap<String, usize> = [("60", 700), ("590", 400), ("1514", 100)]
        .into_iter()
        .map(|(l, n)| (l.to_string(), n))
        .collect();
    assert_eq!(lens, want);
}

#[test]
fn no_malformed_frames_and_good_checksums() {
    let s = Scratch::new("gen-valid");
    let every = gen_ok(
        &s,
        "every.pcap",
        &[
            "--mix",
            "local=1,remote=2,broadcast=1,arp=2,nd=2,dhcp=1",
            "--size",
            "64-1518",
            "--vlans",
            "4",
            "--frames",
            "3000",
            "--seed",
            "9",
        ],
    );
    let campus = gen_ok(
        &s,
        "campus.pcap",
        &["--profile", "campus-broadcast", "--size", "imix"],
    );
    let opts = [
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
    ];
    for p in [&every, &campus] {
        let rows = tshark_fields(
            p,
            &opts,
            &[
                "frame.number",
                "_ws.malformed",
                "_ws.expert.severity",
                "ip.checksum.status",
                "udp.checksum.status",
                "icmpv6.checksum.status",
            ],
        );
        assert!(!rows.is_empty());
        let mut checked = [0usize; 3];
        for r in &rows {
            assert!(
                r[1].is_empty(),
                "{}: frame {} is malformed",
                p.display(),
                r[0]
            );
            assert!(
                r[2].is_empty(),
                "{}: frame {} has expert info {}",
                p.display(),
                r[0],
                r[2]
            );
            // Wireshark's checksum status: 0 bad, 1 good, 2 unverified.
            for (c, v) in checked.iter_mut().zip(&r[3..6]) {
                if !v.is_empty() {
                    assert_eq!(v, "1", "{}: frame {}: checksum {r:?}", p.display(), r[0]);
                    *c += 1;
                }
            }
        }
        assert!(checked[0] > 0 && checked[1] > 0, "no IPv4/UDP checked");
        if p == &every {
            assert!(checked[2] > 0, "no ICMPv6 checked");
        }
    }
    // The same, as display filters.
    let bad = tshark_fields(
        &every,
        &[
            &opts[..],
            &[
                "-Y",
                "_ws.malformed || _ws.expert.severity >= warning || ip.checksum.status == 0 || udp.checksum.status == 0 || icmpv6.checksum.status == 0",
            ],
        ]
        .concat(),
        &["frame.number"],
    );
    assert!(bad.is_empty(), "frames tshark objects to: {bad:?}");
}

#[test]
fn flows_are_distinct_pairs_by_tshark() {
    let s = Scratch::new("gen-flows");
    let p = gen_ok(&s, "flows.pcap", &["--flows", "4096"]);
    let rows = tshark_fields(&p, &[], &["eth.src", "eth.dst"]);
    assert_eq!(rows.len(), 4096);
    let pairs: HashSet<(String, String)> = rows
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(pairs.len(), 4096);
    // Sources are the real MACs of switch 0, destinations MOOSE addresses
    // under the other switch's prefix 02:00:02/24.
    assert!(pairs
        .iter()
        .all(|(src, dst)| src.starts_with("00:16:3e:00:") && dst.starts_with("02:00:02:")));
}

#[test]
fn json_summary_and_same_bytes() {
    let s = Scratch::new("gen-json");
    let run = |file: &str| {
        let p = s.path(file);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_moose"));
        cmd.arg("gen").arg("--out").arg(&p).args([
            "--size",
            "64-1518",
            "--mix",
            "remote=3,arp=1",
            "--seed",
            "5",
            "--json",
        ]);
        let out = run_ok(&mut cmd);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        (std::fs::read(&p).unwrap(), v)
    };
    let (a, v) = run("a.pcap");
    let (b, _) = run("b.pcap");
    assert_eq!(a, b, "same arguments, different bytes");
    assert_eq!(v["frames"], 4096);
    assert_eq!(v["bytes"], a.len() as u64);
    assert_eq!(v["flows"], 64);
    assert_eq!(v["vlans"], 0);
    assert_eq!(v["kinds"]["remote"], 3072);
    assert_eq!(v["kinds"]["arp"], 1024);
    let sizes: u64 = v["sizes"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(sizes, 4096);
    assert!(v["file"].as_str().unwrap().ends_with("a.pcap"));
}

#[test]
fn bad_arguments_name_the_flag() {
    let s = Scratch::new("gen-bad");
    let out = s.path("x.pcap");
    let out = out.to_str().unwrap();
    for (args, code, flag) in [
        (&["--size", "63"][..], 2, "--size"),
        (&["--size", "imax"][..], 2, "--size"),
        (&["--mix", "bogus=1"][..], 2, "--mix"),
        (
            &["--hosts-per-switch", "70000"][..],
            2,
            "--hosts-per-switch",
        ),
        (&["--switches", "300"][..], 2, "--switches"),
        (&["--flows", "0"][..], 2, "--flows"),
        (&["--switches", "1"][..], 1, "--switches 1"),
        (&["--flows", "5000"][..], 1, "--flows 5000"),
        (&["--switch", "2"][..], 1, "--switch 2"),
        (
            &["--mix", "local=1", "--hosts-per-switch", "1"][..],
            1,
            "--hosts-per-switch",
        ),
    ] {
        let r = gen(&[&["--out", out][..], args].concat());
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    let r = gen(&[]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--out"));
    assert!(!s.path("x.pcap").exists(), "a refused run wrote a file");
}
