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
        "speed",
    );
    assert_rejected(
        "unknown-table",
        &format!("[switch]\nname = \"s\"\n[routing]\nx = 1\n{PORT}"),
        "routing",
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
fn syntax_error_and_missing_file() {
    assert_rejected("syntax", "[switch\nname = \"s\"\n", "TOML");
    let out = moose()
        .args(["config", "check", "/nonexistent/moose.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/moose.toml"));
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
        err.contains("port[0] \"p0\"") && err.contains("no-such-if0"),
        "{err}"
    );
}

#[test]
fn version_names_dpdk() {
    let out = moose().arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(v.contains("DPDK 2"), "{v}");
}
