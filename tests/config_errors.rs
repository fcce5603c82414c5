//! Bad configuration through the real binary: `moose config check` and
//! `moose run` exit non-zero with an error that names the key.

mod common;

use common::*;

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
fn unknown_key() {
    assert_rejected(
        "unknown",
        &format!("[switch]\nname = \"s\"\n{PORT}speed = 10\n"),
        "port[0].speed: unknown key",
    );
    assert_rejected(
        "unknown-table",
        &format!("[switch]\nname = \"s\"\n[routing]\nx = 1\n{PORT}"),
        "routing: unknown key",
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
