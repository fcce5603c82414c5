//! The Debian package (`deploy/build-deb.sh`): built from the binary under
//! test, its metadata and contents checked, unpacked into a scratch root,
//! whose binary runs and checks the shipped config, whose systemd unit
//! `systemd-analyze verify` accepts (pointed at the unpacked binary), and
//! whose monitoring files are those of `deploy/` (tests/prometheus.rs runs
//! them against a real Prometheus).

mod common;

use std::process::Command;

use common::*;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_debian_package_installs_a_working_moose() {
    let s = Scratch::new("deb");
    let root = env!("CARGO_MANIFEST_DIR");
    let deb = run(Command::new("bash")
        .arg("deploy/build-deb.sh")
        .current_dir(root)
        .env("MOOSE", env!("CARGO_BIN_EXE_moose"))
        .env("OUT", s.path("out")));
    let deb = deb.trim();
    assert!(deb.ends_with(".deb"), "{deb}");

    let info = run(Command::new("dpkg-deb").args(["--info", deb]));
    for want in [
        "Package: moose",
        &format!("Version: {}", env!("CARGO_PKG_VERSION")),
        "Depends:",
        "dpdk",
        "librte-eal23",
        "conffiles",
    ] {
        assert!(info.contains(want), "no {want:?} in:\n{info}");
    }
    let files = run(Command::new("dpkg-deb").args(["--contents", deb]));
    for want in [
        "./usr/bin/moose",
        "./lib/systemd/system/moose.service",
        "./etc/moose/moose.toml",
        "./usr/share/doc/moose/example.toml",
        "./usr/share/doc/moose/README.md",
        "./usr/share/moose/grafana-dashboard.json",
        "./usr/share/moose/prometheus.yml",
        "./usr/share/moose/moose-alerts.yml",
        "./var/lib/moose/",
    ] {
        assert!(
            files.lines().any(|l| l.ends_with(want)),
            "no {want} in:\n{files}"
        );
    }
    assert!(
        files.lines().all(|l| l.contains("root/root")),
        "owned by root:\n{files}"
    );

    // Unpacked: the binary is the one under test and checks both configs.
    let unpacked = s.path("root");
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&unpacked));
    let bin = unpacked.join("usr/bin/moose");
    let v = run(Command::new(&bin).arg("--version"));
    assert!(v.starts_with("moose "), "{v}");
    for cfg in ["etc/moose/moose.toml", "usr/share/doc/moose/example.toml"] {
        let out = run(Command::new(&bin)
            .args(["config", "check"])
            .arg(unpacked.join(cfg)));
        assert!(out.contains(": ok"), "{cfg}: {out}");
    }

    // The monitoring files, unchanged; the scrape config finds its rule
    // file beside it, as promtool checks where it is installed.
    for f in [
        "grafana-dashboard.json",
        "prometheus.yml",
        "moose-alerts.yml",
    ] {
        let shipped = std::fs::read(unpacked.join("usr/share/moose").join(f)).unwrap();
        let source = std::fs::read(std::path::Path::new(root).join("deploy").join(f)).unwrap();
        assert!(
            shipped == source,
            "usr/share/moose/{f} differs from deploy/{f}"
        );
    }
    assert!(
        std::path::Path::new("/usr/bin/promtool").exists(),
        "no /usr/bin/promtool (tests/setup.sh installs prometheus)"
    );
    run(Command::new("/usr/bin/promtool")
        .args(["check", "config"])
        .arg(unpacked.join("usr/share/moose/prometheus.yml")));

    // The unit: the keys that matter, and systemd's own check of it with
    // the unpacked binary in place of /usr/bin/moose.
    let unit = std::fs::read_to_string(unpacked.join("lib/systemd/system/moose.service")).unwrap();
    for want in [
        "ExecStart=/usr/bin/moose run -c /etc/moose/moose.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "StateDirectory=moose",
        "AmbientCapabilities=",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "LimitMEMLOCK=infinity",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.contains(want), "no {want:?} in the unit");
    }
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        let local = unit.replace("/usr/bin/moose", &bin.display().to_string());
        let path = s.write("moose.service", &local);
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        // Only the unit's own problems count: not the host's other units.
        let own: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("moose.service"))
            .collect();
        assert!(own.is_empty(), "systemd-analyze verify:\n{err}");
    }
}
