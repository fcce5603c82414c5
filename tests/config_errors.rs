//! Bad configuration through the real binary: `moose config check` and
//! `moose run` exit non-zero with an error that names the key.

mod common;

use common::*;
use std::time::Duration;

const PORT: &str = "[[port]]\nname = \"p0\"\ndevice = \"net_null0\"\n";

fn check(name: &str, text: &str) -> (bool, String) {
    let s = Scratch::new(&format!("cfg-{name}"));
    let f = s.write("c.toml", text);
    let out = moose().args(["config", "check"]).arg(&f).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_rejected(name: &str, text: &str, key: &str) {
    let (ok, err) = check(name, text);
    assert!(!ok, "{name}: accepted");
    assert!(
        err.contains(key),
        "{name}: error does not name {key:?}: {err}"
    );
}

#[test]
fn good_config_passes() {
    let (ok, err) = check("good", &format!("[switch]\nname = \"s\"\n{PORT}"));
    assert!(ok, "{err}");
    for f in ["configs/example.toml", "configs/pcap.toml"] {
        let out = moose()
            .args(["config", "check", f])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_bad_log_level_is_a_usage_error() {
    let out = moose()
        .args(["run", "-c", "/nonexistent.toml", "--log-level", "loud"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--log-level \"loud\""), "{err}");
}

#[test]
fn unknown_key() {
    assert_rejected(
        "unknown",
        &format!("[switch]\nname = \"s\"\n{PORT}speed = 10\n"),
        "port[0].speed: unknown key",
    );
    assert_rejected(
        "unknown-table",
        &format!("[switch]\nname = \"s\"\n[routeing]\nx = 1\n{PORT}"),
        "routeing: unknown key",
    );
    assert_rejected(
        "wrong-type",
        &format!("[switch]\nname = \"s\"\n[dataplane]\nworkers = \"two\"\n{PORT}"),
        "dataplane.workers: invalid type",
    );
}

#[test]
fn bad_device() {
    assert_rejected(
        "device",
        "[switch]\nname = \"s\"\n[[port]]\nname = \"p0\"\ndevice = \"eth0\"\n",
        "port[0].device",
    );
}

#[test]
fn duplicate_port_name() {
    assert_rejected(
        "dup",
        &format!("[switch]\nname = \"s\"\n{PORT}[[port]]\nname = \"p0\"\ndevice = \"net_null1\"\n"),
        "port[1].name",
    );
}

#[test]
fn bad_addresses() {
    assert_rejected(
        "listen",
        &format!("[switch]\nname = \"s\"\n{PORT}[metrics]\nlisten = \"nowhere\"\n"),
        "metrics.listen",
    );
    assert_rejected(
        "mac",
        &format!("[switch]\nname = \"s\"\n{PORT}[[static_fdb]]\nmac = \"02:00:00:00:00:0g\"\nport = \"p0\"\n"),
        "static_fdb[0].mac",
    );
}

#[test]
fn same_device_written_two_ways() {
    assert_rejected(
        "same-iface",
        "[switch]\nname = \"s\"\n[[port]]\nname = \"p0\"\ndevice = \"net_af_packet0,iface=veth1\"\n[[port]]\nname = \"p1\"\ndevice = \"net_af_packet1,iface=veth1\"\n",
        "port[1].device: kernel interface \"veth1\" is already used by port[0]",
    );
    assert_rejected(
        "same-pci",
        "[switch]\nname = \"s\"\n[[port]]\nname = \"p0\"\ndevice = \"3b:00.0\"\n[[port]]\nname = \"p1\"\ndevice = \"0000:3B:00.0\"\n",
        "port[1].device: \"0000:3B:00.0\" is device 0000:3b:00.0, already used by port[0]",
    );
}

#[test]
fn punt_and_fdb_bounds() {
    assert_rejected(
        "punt",
        &format!(
            "[switch]\nname = \"s\"\n{PORT}[punt.reserved]\nrate_pps = 100\nport_rate_pps = 500\n"
        ),
        "punt.reserved.port_rate_pps",
    );
    assert_rejected(
        "punt-zero",
        &format!("[switch]\nname = \"s\"\n{PORT}[punt.learn]\nburst = 0\n"),
        "punt.learn.burst",
    );
    assert_rejected(
        "punt-class",
        &format!("[switch]\nname = \"s\"\n{PORT}[punt.lldp]\nrate_pps = 1\n"),
        "punt.lldp: unknown key",
    );
    assert_rejected(
        "max-entries",
        &format!("[switch]\nname = \"s\"\n[bridge]\nmax_entries = 0\n{PORT}"),
        "bridge.max_entries",
    );
}

/// `config check` on raw bytes: (success, stderr).
fn check_bytes(name: &str, bytes: &[u8]) -> (bool, String, String) {
    let s = Scratch::new(&format!("cfg-{name}"));
    let f = s.path("c.toml");
    std::fs::write(&f, bytes).unwrap();
    let out = moose().args(["config", "check"]).arg(&f).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        f.display().to_string(),
    )
}

#[test]
fn invalid_utf8_is_one_message_with_its_offset() {
    let (ok, err, file) = check_bytes("utf8", b"[switch]\nname = \"s\xff\"\n");
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "{file}: not valid UTF-8: byte 0xff at byte offset 18 (line 2, column 10)"
        )),
        "{err}"
    );
    assert_eq!(err.matches("UTF-8").count(), 1, "{err}");
}

#[test]
fn syntax_error_and_missing_file() {
    assert_rejected("syntax", "[switch\nname = \"s\"\n", "TOML");
    let (ok, err, file) = check_bytes("syntax1", b"[switch\nname = \"s\"\n");
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("{file}: invalid TOML at line 1, column 8: ")),
        "{err}"
    );
    assert_eq!(err.matches("line").count(), 1, "{err}");
    let out = moose()
        .args(["config", "check", "/nonexistent/moose.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/moose.toml"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
}

#[test]
fn run_rejects_bad_config_before_touching_dpdk() {
    let s = Scratch::new("run-bad");
    let f = s.write(
        "c.toml",
        &format!("[switch]\nname = \"s\"\n{PORT}role = \"fabric\"\n"),
    );
    let out = moose().args(["run", "-c"]).arg(&f).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("port[0].role"), "{err}");
    assert!(
        !err.contains("EAL"),
        "config errors come before EAL init: {err}"
    );
}

#[test]
fn run_reports_a_device_that_does_not_exist() {
    let s = Scratch::new("run-nodev");
    let f = s.write(
        "c.toml",
        &format!("[switch]\nname = \"s\"\n[dataplane]\n{}\n[[port]]\nname = \"p0\"\ndevice = \"net_af_packet0,iface=no-such-if0\"\n", eal("nodev")),
    );
    let out = moose().args(["run", "-c"]).arg(&f).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("port[0].device") && err.contains("no such network interface \"no-such-if0\""),
        "{err}"
    );
    assert!(
        !err.contains("File exists"),
        "the errno of an earlier call: {err}"
    );
}

#[test]
fn version_names_dpdk() {
    let out = moose().arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(v.contains("DPDK 2"), "{v}");
}

/// A config `moose run` accepts: one quiet null port, the test's own file
/// prefix.
fn runnable(s: &Scratch, name: &str) -> std::path::PathBuf {
    s.write(
        "good.toml",
        &format!(
            "[switch]\nname = \"s\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 1024\n{}\n[[port]]\nname = \"p0\"\ndevice = \"net_null0,no-rx=1\"\n",
            eal(name)
        ),
    )
}

fn no_panic(what: &str, text: &str) {
    for bad in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
        assert!(!text.contains(bad), "{what}: {bad:?} in:\n{text}");
    }
}

/// `--duration` must be a positive, finite, not absurd number of seconds,
/// and is checked while parsing the command line: before the EAL starts,
/// so nothing is brought up only to panic.
#[test]
fn run_rejects_bad_durations_before_the_eal() {
    let s = Scratch::new("run-duration");
    let cfg = runnable(&s, "duration");
    for x in ["-1", "0", "nan", "inf", "1e300", "-inf", "abc", ""] {
        for form in [
            vec!["--duration".to_string(), x.to_string()],
            vec![format!("--duration={x}")],
        ] {
            let e = output_within(
                moose()
                    .args(["run", "-c"])
                    .arg(&cfg)
                    .args(&form)
                    .env("RUST_BACKTRACE", "1"),
                Duration::from_secs(20),
            );
            let what = format!("run {form:?}");
            assert!(!e.status.success(), "{what}: accepted\n{}", e.stderr);
            assert_eq!(
                e.status.code(),
                Some(2),
                "{what}: a usage error\n{}",
                e.stderr
            );
            assert!(e.stderr.contains("--duration"), "{what}: {}", e.stderr);
            assert!(
                !e.stderr.contains("EAL") && !e.stdout.contains("EAL"),
                "{what}: the EAL was started:\n{}",
                e.stderr
            );
            no_panic(&what, &e.stderr);
        }
    }
    // The same config and a good duration do run (so it is --duration
    // that was refused above), and stop by themselves.
    let e = output_within(
        moose()
            .args(["run", "--json", "--duration", "0.5", "-c"])
            .arg(&cfg),
        Duration::from_secs(20),
    );
    remove_eal_runtime(&eal_prefix("duration"));
    assert!(e.status.success(), "{}", e.stderr);
    assert!(e.stderr.contains("EAL"), "{}", e.stderr);
    let r: serde_json::Value = serde_json::from_str(&e.stdout).expect("final report");
    assert_eq!(r["switch"], "s");
}

/// `moose config check` into a pipe whose reader has gone: no panic, no
/// "Broken pipe" message, and status 0 — moose ends quietly, as a filter
/// does (it never dies of SIGPIPE: Rust ignores the signal, and moose
/// exits 0 on EPIPE).
#[test]
fn config_check_survives_a_closed_pipe() {
    let s = Scratch::new("cfg-pipe");
    let mut text = String::from("[switch]\nname = \"s\"\n");
    for i in 0..40 {
        text += &format!("[[port]]\nname = \"p{i}\"\ndevice = \"net_null{i}\"\n");
    }
    let cfg = s.write("c.toml", &text);
    let bin = env!("CARGO_BIN_EXE_moose");
    // `sleep` first, so the reader is surely gone when moose writes: the
    // write meets EPIPE every time, not by luck.
    let pipelines = [
        (
            "true",
            "{ sleep 0.3; \"$0\" config check \"$1\" 2>\"$2\"; echo $? >\"$3\"; } | true",
        ),
        (
            "head",
            "{ \"$0\" config check \"$1\" 2>\"$2\"; echo $? >\"$3\"; } | head -c 5",
        ),
        (
            "head-late",
            "{ sleep 0.3; \"$0\" config check \"$1\" 2>\"$2\"; echo $? >\"$3\"; } | head -c 5",
        ),
        (
            "true-now",
            "{ \"$0\" config check \"$1\" 2>\"$2\"; echo $? >\"$3\"; } | true",
        ),
    ];
    for (name, script) in pipelines {
        for round in 0..3 {
            let err = s.path(&format!("{name}{round}.err"));
            let st = s.path(&format!("{name}{round}.status"));
            let e = output_within(
                std::process::Command::new("sh")
                    .arg("-c")
                    .arg(script)
                    .arg(bin)
                    .arg(&cfg)
                    .arg(&err)
                    .arg(&st)
                    .env("RUST_BACKTRACE", "1"),
                Duration::from_secs(10),
            );
            assert!(e.status.success(), "{name}: sh {}", e.status);
            if name.starts_with("head") {
                assert_eq!(e.stdout.len(), 5, "{name}: {:?}", e.stdout);
            }
            let err = std::fs::read_to_string(&err).unwrap();
            no_panic(name, &err);
            assert!(!err.to_lowercase().contains("broken pipe"), "{name}: {err}");
            assert!(err.is_empty(), "{name}: {err}");
            let status = std::fs::read_to_string(&st).unwrap();
            assert_eq!(status.trim(), "0", "{name}: moose's status");
        }
    }
}

/// A control core this machine does not have is blamed on
/// `dataplane.control_core`, not on the worker cores derived from it.
#[test]
fn run_names_a_missing_control_core() {
    let s = Scratch::new("run-ctlcore");
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let core = n.max(7);
    let cfg = s.write(
        "c.toml",
        &format!(
            "[switch]\nname = \"s\"\n[dataplane]\nworkers = 1\ncontrol_core = {core}\nidle = \"backoff\"\n{}\n[[port]]\nname = \"p0\"\ndevice = \"net_null0,no-rx=1\"\n",
            eal("ctlcore")
        ),
    );
    let e = output_within(
        moose()
            .args(["run", "-c"])
            .arg(&cfg)
            .env("RUST_BACKTRACE", "1"),
        Duration::from_secs(20),
    );
    assert!(!e.status.success());
    assert_eq!(e.status.code(), Some(1), "{}", e.stderr);
    let err = e.stderr.trim_end();
    assert!(err.contains("dataplane.control_core"), "{err}");
    assert!(
        err.contains(&format!("core {core} does not exist")),
        "{err}"
    );
    assert!(!err.contains("dataplane.cores"), "{err}");
    assert!(!err.contains("EAL"), "checked before the EAL: {err}");
    no_panic("control_core", err);
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn mac_provider_etcd() {
    let pool = "[[mps.pool]]\nname = \"vms\"\nprefix = \"02:42:00:00:00:00/24\"\n";
    let base = format!("[switch]\nname = \"s\"\n{PORT}");
    for (name, body, key) in [
        (
            "etcd-https",
            "etcd = [\"https://127.0.0.1:2379\"]",
            "mps.etcd[0]",
        ),
        (
            "etcd-noport",
            "etcd = [\"http://127.0.0.1\"]",
            "mps.etcd[0]",
        ),
        (
            "etcd-block",
            "etcd = [\"http://127.0.0.1:2379\"]\netcd_block = 1",
            "mps.etcd_block",
        ),
        ("etcd-alone", "etcd_timeout_ms = 500", "mps.etcd_timeout_ms"),
    ] {
        assert_rejected(name, &format!("{base}[mps]\n{body}\n{pool}"), key);
    }
    let (ok, err) = check(
        "etcd-good",
        &format!("{base}[mps]\netcd = [\"http://127.0.0.1:2379\"]\n{pool}"),
    );
    assert!(ok, "{err}");
}
