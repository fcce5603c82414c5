use super::*;

const GOOD: &str = r#"
[switch]
name = "s1"

[dataplane]
workers = 2
cores = [0, 1]
idle = "backoff"
eal = ["--no-huge", "-m", "512", "--no-pci", "--file-prefix=s1"]

[bridge]
aging_secs = 60

[[port]]
name = "p0"
role = "legacy"
device = "net_af_packet0,iface=veth-p0"

[[port]]
name = "p1"
device = "0000:01:00.0"
pvid = 10
vlans = [10, 20]
learn_limit = 100

[[static_fdb]]
mac = "02:00:00:00:00:01"
vlan = 20
port = "p1"

[metrics]
listen = "127.0.0.1:9477"
"#;

fn err(text: &str) -> String {
    Config::from_toml(text).unwrap_err().to_string()
}

fn with_port(extra: &str) -> String {
    format!("[switch]\nname = \"s\"\n[[port]]\nname = \"p0\"\ndevice = \"net_null0\"\n{extra}")
}

#[test]
fn good_config() {
    let c = Config::from_toml(GOOD).unwrap();
    assert_eq!(c.name, "s1");
    assert_eq!(c.dataplane.workers, 2);
    assert_eq!(c.dataplane.cores, vec![0, 1]);
    assert!(matches!(c.dataplane.idle, IdleMode::Backoff { .. }));
    assert_eq!(c.bridge.aging, Duration::from_secs(60));
    assert_eq!(c.ports.len(), 2);
    assert!(c.ports[0].vlans.is_all());
    assert_eq!(c.ports[1].pvid.get(), 10);
    assert!(c.ports[1].vlans.contains(20) && !c.ports[1].vlans.contains(30));
    assert_eq!(c.ports[1].learn_limit, Some(100));
    assert_eq!(c.static_fdb[0].port, 1);
    assert_eq!(c.metrics.unwrap().port(), 9477);
}

#[test]
fn defaults() {
    let c = Config::from_toml(&with_port("")).unwrap();
    assert_eq!(c.dataplane.workers, 1);
    assert_eq!(c.dataplane.idle, IdleMode::Poll);
    assert_eq!(c.bridge.aging, Duration::from_secs(300));
    assert_eq!(c.ports[0].pvid, Vlan::DEFAULT);
    assert!(c.metrics.is_none());
    assert!(!c.dataplane.multi_process);
    let c = Config::from_toml(&with_port("[dataplane]\nmulti_process = true\n")).unwrap();
    assert!(c.dataplane.multi_process);
}

#[test]
fn unknown_key_is_named() {
    let e = err(&with_port("colour = \"red\""));
    assert!(e.starts_with("port[0].colour: unknown key"), "{e}");
    assert!(e.contains("line 6, column 1"), "{e}");
    let e = err("[switch]\nname = \"s\"\nfoo = 1\n");
    assert!(e.starts_with("switch.foo: unknown key"), "{e}");
    let e = err(&with_port(
        "[[port]]\nname = \"p1\"\ndevice = \"net_null1\"\nspeed = 1",
    ));
    assert!(e.starts_with("port[1].speed: unknown key"), "{e}");
    let e = err(&with_port("[routeing]\nx = 1"));
    assert!(e.starts_with("routeing: unknown key"), "{e}");
    let e = err(&with_port("[[prt]]\nname = \"p1\""));
    assert!(e.starts_with("prt: unknown key"), "{e}");
    let e = err(&with_port("[dataplane.dataplane]\nx = 1"));
    assert!(e.starts_with("dataplane.dataplane: unknown key"), "{e}");
    let e = err(&with_port("[bridge.extra]\nx = 1"));
    assert!(e.starts_with("bridge.extra: unknown key"), "{e}");
    let e = err(&with_port(
        "[metrics]\nlisten = \"127.0.0.1:1\"\nport = { a = 1 }",
    ));
    assert!(e.starts_with("metrics.port: unknown key"), "{e}");
}

#[test]
fn bad_device() {
    let e = err("[switch]\nname=\"s\"\n[[port]]\nname=\"p0\"\ndevice=\"eth0\"\n");
    assert!(e.starts_with("port[0].device:"), "{e}");
    let e = err("[switch]\nname=\"s\"\n[[port]]\nname=\"p0\"\ndevice=\"net_pcap0,rx_pcap\"\n");
    assert!(e.starts_with("port[0].device:"), "{e}");
    for good in [
        "net_null0",
        "net_af_packet12,iface=x",
        "0000:3b:00.1",
        "3b:00.1",
        "net_pcap0,rx_pcap=/tmp/a.pcap,tx_pcap=/tmp/b.pcap",
        "net_null0,no-rx=1",
    ] {
        assert!(validate_device(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "net_",
        "net_null",
        "0000:3b:00.8",
        "3b:0.1",
        "eth0",
        ",iface=x",
    ] {
        assert!(validate_device(bad).is_err(), "{bad}");
    }
}

#[test]
fn duplicate_port_name() {
    let e = err(&with_port(
        "[[port]]\nname = \"p0\"\ndevice = \"net_null1\"\n",
    ));
    assert!(
        e.starts_with("port[1].name:") && e.contains("duplicate"),
        "{e}"
    );
}

#[test]
fn duplicate_device() {
    let e = err(&with_port(
        "[[port]]\nname = \"p1\"\ndevice = \"net_null0\"\n",
    ));
    assert!(e.starts_with("port[1].device:"), "{e}");
}

#[test]
fn bad_addresses() {
    let e = err(&with_port("[metrics]\nlisten = \"localhost\"\n"));
    assert!(e.starts_with("metrics.listen:"), "{e}");
    let e = err(&with_port(
        "[[static_fdb]]\nmac = \"02:00:00:00:00\"\nport = \"p0\"\n",
    ));
    assert!(e.starts_with("static_fdb[0].mac:"), "{e}");
    let e = err(&with_port(
        "[[static_fdb]]\nmac = \"01:00:5e:00:00:01\"\nport = \"p0\"\n",
    ));
    assert!(e.starts_with("static_fdb[0].mac:"), "{e}");
    let e = err(&with_port(
        "[[static_fdb]]\nmac = \"02:00:00:00:00:01\"\nport = \"nope\"\n",
    ));
    assert!(e.starts_with("static_fdb[0].port:"), "{e}");
}

#[test]
fn bad_values() {
    assert!(err(&with_port("pvid = 4095")).starts_with("port[0].pvid:"));
    assert!(err(&with_port("vlans = [2]")).starts_with("port[0].pvid:"));
    assert!(err(&with_port("vlans = [1, 0]")).starts_with("port[0].vlans:"));
    assert!(err(&with_port("role = \"edge\"")).starts_with("port[0].role:"));
    assert!(err(&with_port("role = \"bogus\"")).starts_with("port[0].role:"));
    assert!(err(&with_port("learn_limit = 0")).starts_with("port[0].learn_limit:"));
    assert!(err(&with_port("rx_desc = 100")).starts_with("port[0].rx_desc:"));
    let dp = |s: &str| {
        format!(
            "[switch]\nname=\"s\"\n[dataplane]\n{s}\n[[port]]\nname=\"p0\"\ndevice=\"net_null0\"\n"
        )
    };
    assert!(err(&dp("workers = 0")).starts_with("dataplane.workers:"));
    assert!(err(&dp("workers = 2\ncores = [1]")).starts_with("dataplane.cores:"));
    assert!(err(&dp("idle = \"spin\"")).starts_with("dataplane.idle:"));
    assert!(err(&dp("burst = 0")).starts_with("dataplane.burst:"));
    assert!(err(&dp("punt_ring = 100")).starts_with("dataplane.punt_ring:"));
    assert!(err(&dp("flow_cache = 1000")).starts_with("dataplane.flow_cache:"));
    assert!(err(&dp("flow_cache = 8")).starts_with("dataplane.flow_cache:"));
    assert!(err(&dp("max_frame = 9000")).starts_with("dataplane.max_frame:"));
    assert!(err(&dp("mbuf_size = 100")).starts_with("dataplane.mbuf_size:"));
    assert!(Config::from_toml(&dp("max_frame = 9000\nmbuf_size = 9216")).is_ok());
    assert!(err("[switch]\nname=\"s\"\n").starts_with("port:"));
    assert!(
        err("[switch]\nname=\"\"\n[[port]]\nname=\"p\"\ndevice=\"net_null0\"")
            .starts_with("switch.name:")
    );
}

#[test]
fn vlan_set() {
    let mut s = VlanSet::empty();
    s.insert(1);
    s.insert(4094);
    assert!(s.contains(1) && s.contains(4094) && !s.contains(2));
    assert_eq!(s.iter().collect::<Vec<_>>(), vec![1, 4094]);
    assert!(!VlanSet::all().contains(0) && !VlanSet::all().contains(4095));
    assert_eq!(VlanSet::all().iter().count(), 4094);
}

fn two_devices(a: &str, b: &str) -> String {
    format!(
        "[switch]\nname = \"s\"\n[[port]]\nname = \"p0\"\ndevice = \"{a}\"\n[[port]]\nname = \"p1\"\ndevice = \"{b}\"\n"
    )
}

#[test]
fn each_device_once_by_identity() {
    for (a, b, what) in [
        (
            "net_af_packet0,iface=veth1",
            "net_af_packet1,iface=veth1",
            "\"veth1\"",
        ),
        ("3b:00.0", "0000:3b:00.0", "0000:3b:00.0"),
        ("0000:3b:00.0", "0000:3B:00.0", "0000:3b:00.0"),
        ("3B:00.0,txq_inline=1", "0000:3b:00.0", "0000:3b:00.0"),
        (
            "net_pcap0,rx_pcap=/tmp/a.pcap",
            "net_pcap0,tx_pcap=/tmp/b.pcap",
            "net_pcap0",
        ),
        (
            "net_pcap0,rx_iface=veth1",
            "net_af_packet1,iface=veth1",
            "\"veth1\"",
        ),
        (
            "net_pcap0,rx_iface_in=eth0,tx_iface=eth1",
            "net_pcap1,iface=eth1",
            "\"eth1\"",
        ),
        ("net_tap0,iface=t0", "net_af_packet0,iface=t0", "\"t0\""),
    ] {
        let e = err(&two_devices(a, b));
        assert!(e.starts_with("port[1].device:"), "{a} / {b}: {e}");
        assert!(
            e.contains(what) && e.contains("port[0] (\"p0\""),
            "{a} / {b}: names the identity and the other port: {e}"
        );
    }
    for (a, b) in [
        ("net_af_packet0,iface=veth0", "net_af_packet1,iface=veth1"),
        ("0000:3b:00.0", "0000:3b:00.1"),
        ("0000:3b:00.0", "0001:3b:00.0"),
        ("net_pcap0,rx_iface=a,tx_iface=a", "net_pcap1,iface=b"),
        (
            "net_pcap0,rx_pcap=/tmp/a.pcap",
            "net_pcap1,rx_pcap=/tmp/a.pcap",
        ),
    ] {
        assert!(Config::from_toml(&two_devices(a, b)).is_ok(), "{a} / {b}");
    }
}

#[test]
fn device_identity_is_exposed() {
    let c = Config::from_toml(GOOD).unwrap();
    let id = &c.ports[0].identity;
    assert_eq!(id.name, "net_af_packet0");
    assert_eq!(
        id.kind,
        DeviceKind::Vdev {
            driver: "net_af_packet".into()
        }
    );
    assert_eq!(id.kernel_iface.as_deref(), Some("veth-p0"));
    assert_eq!(id.kernel_ifaces, vec!["veth-p0".to_string()]);
    let id = &c.ports[1].identity;
    assert_eq!(
        (id.kind.clone(), id.name.as_str()),
        (DeviceKind::Pci, "0000:01:00.0")
    );
    assert_eq!(id.kernel_iface, None);
    // The device string itself is kept as written, for the EAL.
    let c = Config::from_toml(&two_devices("3B:00.0", "net_null0")).unwrap();
    assert_eq!(c.ports[0].device, "3B:00.0");
    assert_eq!(c.ports[0].identity.name, "0000:3b:00.0");
}

#[test]
fn devargs_keys_once() {
    let e = err(&two_devices(
        "net_af_packet0,iface=a,qpairs=2,qpairs=4",
        "net_null0",
    ));
    assert!(
        e.starts_with("port[0].device:") && e.contains("\"qpairs\" is given twice"),
        "{e}"
    );
    let e = err(&two_devices("net_null0", "0000:3b:00.0,a=1,a=1"));
    assert!(e.starts_with("port[1].device:"), "{e}");
    // net_pcap's stream keys each add a queue, so they may repeat.
    assert!(Config::from_toml(&two_devices(
        "net_pcap0,rx_pcap=/tmp/a,tx_pcap=/tmp/b,tx_pcap=/tmp/c",
        "net_null0"
    ))
    .is_ok());
    let e = err(&two_devices("net_af_packet0", "net_null0"));
    assert!(
        e.starts_with("port[0].device:") && e.contains("iface="),
        "{e}"
    );
    let e = err(&two_devices("net_af_packet0,iface=", "net_null0"));
    assert!(e.starts_with("port[0].device:"), "{e}");
}

#[test]
fn worker_cores() {
    let dp = |s: &str| {
        Config::from_toml(&format!(
            "[switch]\nname=\"s\"\n[dataplane]\n{s}\n[[port]]\nname=\"p0\"\ndevice=\"net_null0\"\n"
        ))
        .unwrap()
    };
    let c = dp("workers = 2");
    assert_eq!(c.control_core(), 0);
    assert_eq!(c.worker_cores(4).unwrap(), vec![1, 2]);
    assert_eq!(c.worker_cores(2).unwrap(), vec![1, 0]);
    assert_eq!(c.worker_cores(1).unwrap(), vec![0, 0]);
    let c = dp("workers = 2\ncontrol_core = 3");
    assert_eq!(c.worker_cores(4).unwrap(), vec![0, 1]);
    let e = c.worker_cores(2).unwrap_err().to_string();
    assert!(
        e.starts_with("dataplane.control_core: core 3 does not exist"),
        "{e}"
    );
    let c = dp("workers = 2\ncores = [0, 5]");
    assert_eq!(c.worker_cores(8).unwrap(), vec![0, 5]);
    let e = c.worker_cores(4).unwrap_err().to_string();
    assert!(
        e.starts_with("dataplane.cores[1]: core 5 does not exist"),
        "{e}"
    );
    let c = dp("cores = [1]\ncontrol_core = 9");
    let e = c.worker_cores(4).unwrap_err().to_string();
    assert!(e.starts_with("dataplane.control_core:"), "{e}");
    assert!(dp("").worker_cores(0).is_err());
}

/// Every error is one message: no `source` (which an error chain would print
/// a second time) and no line breaks.
fn assert_one_message(e: &ConfigError) {
    use std::error::Error;
    assert!(e.source().is_none(), "{e}");
    assert!(!e.to_string().contains('\n'), "{e}");
}

#[test]
fn invalid_utf8_is_reported_once_with_its_position() {
    let text = b"[switch]\nname = \"s\xff\"\n";
    let e = Config::from_bytes(text).unwrap_err();
    assert_one_message(&e);
    match &e {
        ConfigError::Utf8 {
            offset, at, byte, ..
        } => {
            assert_eq!(*offset, 18);
            assert_eq!(
                *at,
                Location {
                    line: 2,
                    column: 10
                }
            );
            assert_eq!(*byte, Some(0xff));
        }
        other => panic!("{other}"),
    }
    let m = e.to_string();
    assert!(
        m.contains("not valid UTF-8: byte 0xff at byte offset 18 (line 2, column 10)"),
        "{m}"
    );
    assert_eq!(m.matches("UTF-8").count(), 1, "{m}");

    // Columns count characters; the file can end inside one.
    let e = Config::from_bytes("[switch]\nname = \"é\u{2028}\"\n\u{20ac}".as_bytes()).unwrap_err();
    assert!(!matches!(e, ConfigError::Utf8 { .. }), "valid UTF-8: {e}");
    let e = Config::from_bytes(b"#\xc3\xa9\xe2\x82").unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("ends inside a character") && m.contains("offset 3 (line 1, column 3)"),
        "{m}"
    );

    // Loading a file names it.
    let dir = std::env::temp_dir().join(format!("moose-config-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.toml");
    std::fs::write(&f, text).unwrap();
    let e = Config::load(&f).unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    assert_one_message(&e);
    assert!(
        e.to_string()
            .starts_with(&format!("{}: not valid UTF-8", f.display())),
        "{e}"
    );
}

#[test]
fn missing_file_is_reported_once() {
    let e = Config::load(Path::new("/nonexistent/moose.toml")).unwrap_err();
    assert_one_message(&e);
    let m = e.to_string();
    assert!(
        m.starts_with("cannot read /nonexistent/moose.toml: "),
        "{m}"
    );
}

#[test]
fn syntax_errors_have_one_position() {
    let e = Config::from_toml("[switch\nname = \"s\"\n").unwrap_err();
    assert_one_message(&e);
    assert!(
        matches!(
            e,
            ConfigError::Syntax {
                at: Location { line: 1, column: 8 },
                ..
            }
        ),
        "{e:?}"
    );
    let m = e.to_string();
    assert!(
        m.starts_with("invalid TOML at line 1, column 8: invalid table header"),
        "{m}"
    );
    assert_eq!(m.matches("line").count(), 1, "{m}");
    assert_eq!(m.matches("TOML").count(), 1, "{m}");

    let e = Config::from_toml("[switch]\nname = \"s\"\nname = \"t\"\n").unwrap_err();
    assert_one_message(&e);
    assert!(
        e.to_string()
            .starts_with("invalid TOML at line 3, column 1: duplicate key"),
        "{e}"
    );
    let e = Config::from_toml("a = \n").unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
}

#[test]
fn schema_errors_name_their_key() {
    let dp = |s: &str| {
        format!(
            "[switch]\nname=\"s\"\n[dataplane]\n{s}\n[[port]]\nname=\"p0\"\ndevice=\"net_null0\"\n"
        )
    };
    for (text, key) in [
        (dp("workers = \"two\""), "dataplane.workers: invalid type"),
        (dp("workers = -1"), "dataplane.workers: invalid value"),
        (dp("cores = [0, \"x\"]"), "dataplane.cores[1]: invalid type"),
        (dp("eal = \"--no-huge\""), "dataplane.eal: invalid type"),
        (
            "[switch]\nname = \"s\"\n[[port]]\nname = \"p0\"\n".into(),
            "port[0].device: required key is missing",
        ),
        (
            "[[port]]\nname = \"p0\"\ndevice = \"net_null0\"\n".into(),
            "switch: required key is missing",
        ),
        ("switch = 1\n".into(), "switch: invalid type"),
        (with_port("pvid = 1.5"), "port[0].pvid: invalid type"),
        (
            with_port("port = [{ name = \"p1\", device = \"net_null1\", mtu = 1 }]"),
            "port[0].port: unknown key",
        ),
        (
            with_port(
                "[[static_fdb]]\nmac = \"02:00:00:00:00:01\"\nport = \"p0\"\nvlan = 1979-05-27",
            ),
            "static_fdb[0].vlan: invalid type",
        ),
        (
            with_port("[punt.lldp]\nrate_pps = 1"),
            "punt.lldp: unknown key",
        ),
        (
            with_port("punt.lldp.rate_pps = 1"),
            "port[0].punt: unknown key",
        ),
        (
            with_port("[punt]\nlldp = { rate_pps = 1 }"),
            "punt.lldp: unknown key",
        ),
        (
            with_port("[punt.reserved]\nrate = 1"),
            "punt.reserved.rate: unknown key",
        ),
        (
            with_port("[punt.reserved]\nrate_pps = -1"),
            "punt.reserved.rate_pps: invalid value",
        ),
        (
            with_port("[punt.reserved]\nburst = 5000000000"),
            "punt.reserved.burst: invalid value",
        ),
        (
            with_port("[bridge]\nmax_entries = \"lots\""),
            "bridge.max_entries: invalid type",
        ),
    ] {
        let e = Config::from_toml(&text).unwrap_err();
        assert_one_message(&e);
        let m = e.to_string();
        assert!(m.starts_with(key), "{text}\n=> {m}");
        assert!(
            m.contains("(line ") || key.starts_with("switch: required"),
            "{m}"
        );
    }
    // A table written between two elements of an array of tables.
    let e = err("[switch]\nname = \"s\"\n[[port]]\nname=\"p0\"\ndevice=\"net_null0\"\n[punt.lldp]\nrate_pps = 1\n[[port]]\nname=\"p1\"\ndevice=\"net_null1\"\n");
    assert!(e.starts_with("punt.lldp: unknown key"), "{e}");
    let e = err("[switch]\nname = \"s\"\n[[port]]\nname=\"p0\"\ndevice=\"net_null0\"\n[punt.reserved]\nburst = \"x\"\n[[port]]\nname=\"p1\"\ndevice=\"net_null1\"\n");
    assert!(e.starts_with("punt.reserved.burst: invalid type"), "{e}");
    // A dotted key at the top level that is not in the schema.
    let e = err("[switch]\nname = \"s\"\n[[port]]\nname=\"p0\"\ndevice=\"net_null0\"\n[metrics]\n[x]\npunt.lldp.rate_pps = 1\n");
    assert!(e.starts_with("x: unknown key"), "{e}");
    let e = err("punt.lldp.rate_pps = 1\n[switch]\nname = \"s\"\n");
    assert!(e.starts_with("punt.lldp: unknown key"), "{e}");
}

#[test]
fn bridge_max_entries() {
    let c = Config::from_toml(&with_port("")).unwrap();
    assert_eq!(c.bridge.max_entries, 262_144);
    for n in [1, 1000, 16_777_216] {
        let c = Config::from_toml(&with_port(&format!("[bridge]\nmax_entries = {n}"))).unwrap();
        assert_eq!(c.bridge.max_entries, n);
    }
    for n in [0, 16_777_217] {
        let e = err(&with_port(&format!("[bridge]\nmax_entries = {n}")));
        assert!(e.starts_with("bridge.max_entries:"), "{e}");
    }
    let e = err(&with_port(
        "[[static_fdb]]\nmac = \"02:00:00:00:00:01\"\nport = \"p0\"\n[[static_fdb]]\nmac = \"02:00:00:00:00:02\"\nport = \"p0\"\n[bridge]\nmax_entries = 1",
    ));
    assert!(e.starts_with("static_fdb:"), "{e}");
}

#[test]
fn punt_defaults() {
    let c = Config::from_toml(&with_port("")).unwrap();
    let r = |rate_pps, burst, port_rate_pps, port_burst| PuntRate {
        rate_pps,
        burst,
        port_rate_pps,
        port_burst,
    };
    assert_eq!(
        c.punt.get(PuntClass::Protocol),
        r(20_000, 2_000, 10_000, 1_000)
    );
    assert_eq!(
        c.punt.get(PuntClass::Directory),
        r(20_000, 2_000, 5_000, 500)
    );
    assert_eq!(c.punt.get(PuntClass::Host), r(20_000, 2_000, 2_000, 200));
    assert_eq!(
        c.punt.get(PuntClass::Learn),
        r(500_000, 4_096, 100_000, 1_024)
    );
    assert_eq!(c.punt.get(PuntClass::Reserved), r(2_000, 200, 500, 50));
    assert_eq!(c.punt, PuntLimits::default());

    assert_eq!(
        PuntClass::ALL,
        [
            PuntClass::Protocol,
            PuntClass::Directory,
            PuntClass::Host,
            PuntClass::Learn,
            PuntClass::Reserved
        ]
    );
    let names: Vec<&str> = PuntClass::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        ["protocol", "directory", "host", "learn", "reserved"]
    );
    for (i, c) in PuntClass::ALL.into_iter().enumerate() {
        assert_eq!(c as u8, i as u8);
    }
}

#[test]
fn punt_tables() {
    let c = Config::from_toml(&with_port(
        "[punt.reserved]\nrate_pps = 100\nburst = 10\n[punt.learn]\nport_burst = 2048\n[punt.host]\n",
    ))
    .unwrap();
    // Omitted per-port values are the defaults capped at the class's.
    assert_eq!(
        c.punt.get(PuntClass::Reserved),
        PuntRate {
            rate_pps: 100,
            burst: 10,
            port_rate_pps: 100,
            port_burst: 10
        }
    );
    assert_eq!(c.punt.get(PuntClass::Learn).port_burst, 2048);
    assert_eq!(c.punt.get(PuntClass::Host), PuntClass::Host.default_rate());
    assert_eq!(
        c.punt.get(PuntClass::Protocol),
        PuntClass::Protocol.default_rate()
    );

    for class in PuntClass::ALL {
        for k in ["rate_pps", "burst", "port_rate_pps", "port_burst"] {
            let e = err(&with_port(&format!("[punt.{class}]\n{k} = 0")));
            assert_eq!(e, format!("punt.{class}.{k}: must be at least 1"));
        }
    }
    let e = err(&with_port(
        "[punt.protocol]\nrate_pps = 100\nport_rate_pps = 101",
    ));
    assert!(
        e.starts_with(
            "punt.protocol.port_rate_pps: 101 is larger than punt.protocol.rate_pps (100)"
        ),
        "{e}"
    );
    let e = err(&with_port("[punt.directory]\nport_burst = 2001"));
    assert!(e.starts_with("punt.directory.port_burst:"), "{e}");
    assert!(Config::from_toml(&with_port(
        "[punt.directory]\nport_burst = 2000\nport_rate_pps = 20000"
    ))
    .is_ok());
}

#[test]
fn moose_roles_need_a_moose_table() {
    for role in ["edge", "fabric"] {
        let e = err(&with_port(&format!("role = \"{role}\"")));
        assert!(
            e.starts_with("port[0].role:") && e.contains("[moose]"),
            "{e}"
        );
    }
    assert_eq!(
        Config::from_toml(&with_port("role = \"legacy\""))
            .unwrap()
            .ports[0]
            .role,
        Role::Legacy
    );
}

const MOOSE_PORTS: &str = "[[port]]\nname = \"f0\"\nrole = \"fabric\"\ndevice = \"net_null0\"\n[[port]]\nname = \"e0\"\nrole = \"edge\"\ndevice = \"net_null1\"\n[[port]]\nname = \"e1\"\nrole = \"edge\"\ndevice = \"net_null2\"\n";

fn moose_cfg(moose: &str, rest: &str) -> Result<Config, ConfigError> {
    Config::from_toml(&format!(
        "[switch]\nname = \"s\"\n[moose]\n{moose}\n{MOOSE_PORTS}{rest}"
    ))
}

fn moose_err(moose: &str, rest: &str) -> String {
    moose_cfg(moose, rest).unwrap_err().to_string()
}

#[test]
fn moose_table() {
    let c = moose_cfg("prefix = \"02:11:11:00:00:00/24\"", "").unwrap();
    let m = c.moose.unwrap();
    assert_eq!(m.switch.prefix().to_string(), "02:11:11:00:00:00/24");
    assert_eq!(m.host_ids, HostIds::Sequential);
    assert_eq!((m.host_quota, m.max_hosts), (4096, 65536));
    assert_eq!(m.host_idle, std::time::Duration::from_secs(3600));
    assert_eq!(m.reuse_after, std::time::Duration::from_secs(14400));
    assert_eq!(m.state_dir, None);
    assert_eq!(m.home_hello, std::time::Duration::from_millis(1000));
    assert_eq!(c.ports[0].role, Role::Fabric);
    assert_eq!(c.ports[1].role, Role::Edge);
    for (prefix, why) in [
        ("\"02:11:11:00:00:01/24\"", "beyond"),
        ("\"03:11:11:00:00:00/24\"", "multicast"),
        ("\"00:11:11:00:00:00/24\"", "universally"),
        ("\"02:11:11:11:11:00/44\"", "8..=40"),
        ("\"02:00:00:00:00:00/4\"", "beyond"),
        ("\"0a:11:11:00:00:00/24\"", "ELI quadrant"),
        ("\"02:11:11\"", "invalid MAC prefix"),
    ] {
        let e = moose_err(&format!("prefix = {prefix}"), "");
        assert!(
            e.starts_with("moose.prefix:") && e.contains(why),
            "{prefix}: {e}"
        );
    }
    assert!(moose_cfg(
        "prefix = \"0a:11:11:00:00:00/24\"\nallow_any_quadrant = true",
        ""
    )
    .is_ok());
    let p = "prefix = \"02:11:11:11:00:00/40\"\n";
    let e = moose_err(&format!("{p}max_hosts = 256"), "");
    assert!(
        e.starts_with("moose.max_hosts:") && e.contains("1..=255"),
        "{e}"
    );
    let e = moose_err(&format!("{p}max_hosts = 100\nhost_quota = 101"), "");
    assert!(e.starts_with("moose.host_quota:"), "{e}");
    let e = moose_err(
        &format!("{p}max_hosts = 100\nhost_quota = 10\nhost_ids = \"random\""),
        "",
    );
    assert!(e.starts_with("moose.host_ids:"), "{e}");
    let e = moose_err(
        &format!("{p}max_hosts = 100\nhost_quota = 10\nhost_idle_secs = 0"),
        "",
    );
    assert!(e.starts_with("moose.host_idle_secs:"), "{e}");
    let c = moose_cfg(
        &format!("{p}max_hosts = 100\nhost_quota = 10\nhome_hello_ms = 250"),
        "",
    );
    assert_eq!(
        c.unwrap().moose.unwrap().home_hello,
        std::time::Duration::from_millis(250)
    );
    for bad in [0, 99, 10_001] {
        let e = moose_err(
            &format!("{p}max_hosts = 100\nhost_quota = 10\nhome_hello_ms = {bad}"),
            "",
        );
        assert!(
            e.starts_with("moose.home_hello_ms:") && e.contains("100..=10000"),
            "{e}"
        );
    }
}

#[test]
fn host_pools() {
    let pool = "prefix = \"02:11:11:00:00:00/24\"\nhost_ids = \"pool\"";
    let e = moose_err(pool, "");
    assert!(
        e.starts_with("port[1].host_pool:") && e.contains("every edge port"),
        "{e}"
    );
    let with = |a: &str, b: &str| {
        MOOSE_PORTS
            .replace(
                "device = \"net_null1\"\n",
                &format!("device = \"net_null1\"\nhost_pool = \"{a}\"\n"),
            )
            .replace(
                "device = \"net_null2\"\n",
                &format!("device = \"net_null2\"\nhost_pool = \"{b}\"\n"),
            )
    };
    let cfg = |a: &str, b: &str| {
        Config::from_toml(&format!(
            "[switch]\nname = \"s\"\n[moose]\n{pool}\n{}",
            with(a, b)
        ))
    };
    let c = cfg("02:11:11:00:10:00/40", "02:11:11:00:20:00/40").unwrap();
    assert_eq!(
        c.ports[1].host_pool.unwrap().to_string(),
        "02:11:11:00:10:00/40"
    );
    let e = cfg("02:11:11:00:10:00/40", "02:11:11:00:00:00/32")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("port[2].host_pool:") && e.contains("overlaps"),
        "{e}"
    );
    let e = cfg("02:11:12:00:10:00/40", "02:11:11:00:20:00/40")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("port[1].host_pool:") && e.contains("not a part"),
        "{e}"
    );
    let e = Config::from_toml(&format!(
        "[switch]\nname = \"s\"\n[moose]\nprefix = \"02:11:11:00:00:00/24\"\n{}",
        with("02:11:11:00:10:00/40", "02:11:11:00:20:00/40")
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("port[1].host_pool:") && e.contains("only edge ports"),
        "{e}"
    );
}

#[test]
fn routes() {
    let p = "prefix = \"02:11:11:00:00:00/24\"";
    let c = moose_cfg(
        p,
        "[[route]]\nprefix = \"02:22:22:00:00:00/24\"\nport = \"f0\"\n[[route]]\nprefix = \"00:00:00:00:00:00/0\"\nport = [\"f0\"]\n",
    )
    .unwrap();
    assert_eq!(c.routes.len(), 2);
    assert_eq!(c.routes[0].ports, vec![0]);
    assert_eq!(c.routes[1].prefix, moose_wire::MacPrefix::ALL);
    for (route, key, why) in [
        (
            "prefix = \"02:11:11:01:00:00/32\"\nport = \"f0\"",
            "route[0].prefix",
            "own prefix",
        ),
        (
            "prefix = \"02:22:22:00:00:00/24\"\nport = \"e0\"",
            "route[0].port",
            "edge port",
        ),
        (
            "prefix = \"02:22:22:00:00:00/24\"\nport = \"nope\"",
            "route[0].port",
            "no port named",
        ),
        (
            "prefix = \"02:22:22:00:00:00/24\"\nport = []",
            "route[0].port",
            "1 to 16",
        ),
        (
            "prefix = \"02:22:22:00:00:00/24\"\nport = 5",
            "route[0].port",
            "a port name",
        ),
        (
            "prefix = \"02:22:22:00:00:01/24\"\nport = \"f0\"",
            "route[0].prefix",
            "beyond",
        ),
    ] {
        let e = moose_err(p, &format!("[[route]]\n{route}\n"));
        assert!(e.starts_with(key) && e.contains(why), "{route}: {e}");
    }
    let e = moose_err(
        p,
        "[[route]]\nprefix = \"02:22:22:00:00:00/24\"\nport = \"f0\"\n[[route]]\nprefix = \"02:22:22:00:00:00/24\"\nport = \"f0\"\n",
    );
    assert!(
        e.starts_with("route[1].prefix:") && e.contains("also route[0]"),
        "{e}"
    );
    let e = err(&with_port(
        "[[route]]\nprefix = \"02:22:22:00:00:00/24\"\nport = \"p0\"",
    ));
    assert!(
        e.starts_with("route[0].prefix:") && e.contains("[moose]"),
        "{e}"
    );
}

/// A deserializer that walks the raw schema instead of a document: it
/// offers every field of every struct once (one element for a list, `Some`
/// for an option) and records each key path (`port[].device`). So the list
/// comes from the raw structs themselves and cannot go stale.
mod schema {
    use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
    use std::cell::RefCell;

    pub fn keys<'de, T: serde::Deserialize<'de>>() -> Vec<String> {
        let out = RefCell::new(Vec::new());
        T::deserialize(Walker {
            path: String::new(),
            out: &out,
        })
        .expect("the schema walker offers every type a value it accepts");
        out.into_inner()
    }

    struct Walker<'a> {
        path: String,
        out: &'a RefCell<Vec<String>>,
    }

    impl<'de> de::Deserializer<'de> for Walker<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
            v.visit_u64(1)
        }
        fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
            v.visit_bool(true)
        }
        fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
            v.visit_str("x")
        }
        fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
            v.visit_str("x")
        }
        fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
            v.visit_some(self)
        }
        fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
            v.visit_seq(One {
                walker: Some(Walker {
                    path: format!("{}[]", self.path),
                    out: self.out,
                }),
            })
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            v: V,
        ) -> Result<V::Value, Self::Error> {
            v.visit_map(Fields {
                fields: fields.iter(),
                current: String::new(),
                walker: self,
            })
        }
        fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
            // A map's keys are the operator's (`quotas`): none to walk.
            v.visit_map(de::value::MapDeserializer::<
                std::iter::Empty<(&str, &str)>,
                de::value::Error,
            >::new(std::iter::empty()))
        }
        serde::forward_to_deserialize_any! {
            i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf
            unit unit_struct newtype_struct tuple tuple_struct enum identifier ignored_any
        }
    }

    struct One<'a> {
        walker: Option<Walker<'a>>,
    }

    impl<'de> SeqAccess<'de> for One<'_> {
        type Error = de::value::Error;
        fn next_element_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<Option<T::Value>, Self::Error> {
            self.walker.take().map(|w| seed.deserialize(w)).transpose()
        }
    }

    struct Fields<'a> {
        fields: std::slice::Iter<'static, &'static str>,
        current: String,
        walker: Walker<'a>,
    }

    impl<'de> MapAccess<'de> for Fields<'_> {
        type Error = de::value::Error;
        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, Self::Error> {
            let Some(f) = self.fields.next() else {
                return Ok(None);
            };
            self.current = if self.walker.path.is_empty() {
                f.to_string()
            } else {
                format!("{}.{f}", self.walker.path)
            };
            self.walker.out.borrow_mut().push(self.current.clone());
            seed.deserialize((*f).into_deserializer()).map(Some)
        }
        fn next_value_seed<V: DeserializeSeed<'de>>(
            &mut self,
            seed: V,
        ) -> Result<V::Value, Self::Error> {
            seed.deserialize(Walker {
                path: self.current.clone(),
                out: self.walker.out,
            })
        }
    }
}

const EXAMPLE: &str = include_str!("../../../configs/example.toml");

/// Whether `v` has key path `path` (`port[].device`: in some element).
fn has_key(v: &toml::Value, path: &[&str]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return true;
    };
    let (name, each) = match first.strip_suffix("[]") {
        Some(n) => (n, true),
        None => (*first, false),
    };
    match v.get(name) {
        Some(toml::Value::Array(items)) if each => items.iter().any(|i| has_key(i, rest)),
        Some(inner) if !each => has_key(inner, rest),
        _ => false,
    }
}

#[test]
fn example_shows_every_key() {
    let keys = schema::keys::<raw::File>();
    assert!(keys.len() > 40, "{keys:?}");
    for k in [
        "dataplane.mbuf_size",
        "bridge.max_entries",
        "punt.reserved.port_burst",
        "port[].device",
    ] {
        assert!(
            keys.iter().any(|x| x == k),
            "the walker misses {k}: {keys:?}"
        );
    }
    let doc: toml::Value = toml::from_str(EXAMPLE).unwrap();
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !has_key(&doc, &k.split('.').collect::<Vec<_>>()))
        .collect();
    assert!(
        missing.is_empty(),
        "configs/example.toml does not show {missing:?}"
    );

    // It validates, and the keys without a default in the example's own
    // choice show their defaults.
    let c = Config::from_toml(EXAMPLE).unwrap();
    assert_eq!(c.punt, PuntLimits::default());
    assert_eq!(c.bridge.max_entries, 262_144);
    assert_eq!(c.dataplane.mbuf_size, 2048);
    assert_eq!(c.ports[0].identity.name, "0000:3b:00.0");
    assert_eq!(c.routes.len(), 2);
    assert!(c.moose.is_some());
}

#[test]
fn routing_mobility_and_sticky_hosts_validate() {
    let p = "prefix = \"02:11:11:00:00:00/24\"";
    let c = moose_cfg(p, "").unwrap();
    assert!(c.routing.enabled);
    assert_eq!(c.routing.hello_interval.as_millis(), 100);
    assert_eq!(c.routing.dead_interval.as_millis(), 400);
    let m = c.moose.unwrap();
    assert_eq!(
        (m.move_hold.as_secs(), m.move_limit, m.move_window.as_secs()),
        (300, 5, 180)
    );
    let e = moose_err(
        p,
        "[routing]\nhello_interval_ms = 100\ndead_interval_ms = 150\n",
    );
    assert!(e.starts_with("routing.dead_interval_ms"), "{e}");
    let e = moose_err(p, "[routing]\nkey = \"short\"\n");
    assert!(e.starts_with("routing.key"), "{e}");
    let e = moose_err(
        p,
        "[routing]\nkey = \"sixteen-bytes-key-1\"\nprevious_key = \"sixteen-bytes-key-2\"\nprevious_key_id = 1\n",
    );
    assert!(e.starts_with("routing.previous_key_id"), "{e}");
    let e = moose_err("prefix = \"auto\"\nhost_ids = \"pool\"", "");
    assert!(e.starts_with("moose.host_ids"), "{e}");
    let e = moose_err(&format!("{p}\nmove_limit = 0"), "");
    assert!(e.starts_with("moose.move_limit"), "{e}");
    let e = moose_err(
        p,
        "[[sticky_host]]\nmac = \"01:00:00:00:00:01\"\nport = \"e1\"\n",
    );
    assert!(e.starts_with("sticky_host[0].mac"), "{e}");
    let e = moose_err(
        p,
        "[[sticky_host]]\nmac = \"00:16:3e:00:00:01\"\nport = \"nope\"\n",
    );
    assert!(e.starts_with("sticky_host[0].port"), "{e}");
    let auto = moose_cfg("prefix = \"auto\"", "").unwrap();
    assert!(auto.moose.unwrap().auto_prefix);
    let e = err(&with_port("[routing]\nenabled = true\n"));
    assert!(e.starts_with("routing"), "{e}");
}

#[test]
fn entries_given_at_run_time_are_checked_as_the_file_is() {
    let c = Config::from_toml(
        "[switch]\nname = \"s\"\n[moose]\nprefix = \"02:11:11:00:00:00/24\"\n\
         [[port]]\nname = \"f0\"\nrole = \"fabric\"\ndevice = \"net_null0\"\n\
         [[port]]\nname = \"e0\"\nrole = \"edge\"\ndevice = \"net_null1\"\nvlans = [1, 7]\n",
    )
    .unwrap();
    let key = |k: &str| k.to_string();
    let s = c
        .check_static_fdb("02:00:00:00:00:09", 7, "e0", &key)
        .unwrap();
    assert_eq!((s.port, s.vlan.get()), (1, 7));
    let e = |r: Result<StaticFdb, ConfigError>| r.unwrap_err().to_string();
    assert!(e(c.check_static_fdb("02:00:00:00:00", 1, "e0", &key)).starts_with("mac: "));
    assert!(e(c.check_static_fdb("ff:ff:ff:ff:ff:ff", 1, "e0", &key)).starts_with("mac: "));
    assert!(e(c.check_static_fdb("02:00:00:00:00:09", 8, "e0", &key)).starts_with("vlan: "));
    assert!(e(c.check_static_fdb("02:00:00:00:00:09", 4095, "e0", &key)).starts_with("vlan: "));
    assert!(e(c.check_static_fdb("02:00:00:00:00:09", 1, "x", &key)).starts_with("port: "));

    let r = c
        .check_route("02:22:22:00:00:00/24", vec!["f0".into()], &key)
        .unwrap();
    assert_eq!(r.ports, vec![0]);
    let e = |r: Result<Route, ConfigError>| r.unwrap_err().to_string();
    let f0 = || vec!["f0".to_string()];
    assert!(e(c.check_route("02:22:22:00:00:00", f0(), &key)).starts_with("prefix: "));
    assert!(e(c.check_route("02:11:11:01:00:00/32", f0(), &key)).starts_with("prefix: "));
    assert!(e(c.check_route("02:22:22:00:00:00/24", vec![], &key)).starts_with("port: "));
    let edge = e(c.check_route("02:22:22:00:00:00/24", vec!["e0".into()], &key));
    assert!(
        edge.starts_with("port: ") && edge.contains("edge port"),
        "{edge}"
    );
    assert!(
        e(c.check_route("02:22:22:00:00:00/24", vec!["nope".into()], &key)).starts_with("port: ")
    );
}

#[test]
fn elk_defaults_on_with_edge_ports_and_off_without_moose() {
    let c = moose_cfg("prefix = \"02:11:11:00:00:00/24\"", "").unwrap();
    assert!(c.elk.enabled, "on by default on a switch with edge ports");
    assert!(!c.elk.directory);
    assert_eq!(c.elk.directory_address, elk::DIRECTORY_ADDRESS);
    assert_eq!(c.elk.cache_entries, 4096);
    assert_eq!(c.elk.cache_ttl, Duration::from_secs(300));
    assert_eq!(c.elk.query_timeout, Duration::from_millis(100));
    assert!(c.elk.vlans.is_all());
    let c = Config::from_toml(GOOD).unwrap();
    assert!(!c.elk.enabled, "no [moose], no ELK");
    let c = moose_cfg(
        "prefix = \"02:11:11:00:00:00/24\"",
        "[elk]\nenabled = false\n",
    )
    .unwrap();
    assert!(!c.elk.enabled);
    let c = moose_cfg(
        "prefix = \"02:11:11:00:00:00/24\"",
        "[elk]\ndirectory = true\nvlans = [10]\ninspect = true\ncache_entries = 0\n[[elk.binding]]\nvlan = 10\nip = \"10.0.0.5\"\nmac = \"00:16:3e:00:00:05\"\n[[elk.binding]]\nip = \"fd00::5\"\nmac = \"00:16:3e:00:00:05\"\n",
    )
    .unwrap();
    assert!(c.elk.directory && c.elk.inspect);
    assert!(c.elk.vlans.contains(10) && !c.elk.vlans.contains(1));
    assert_eq!(c.elk.bindings.len(), 2);
    assert_eq!(c.elk.bindings[1].vlan.get(), 1);
}

#[test]
fn bad_elk_tables_name_their_key() {
    let p = "prefix = \"02:11:11:00:00:00/24\"";
    for (elk, want) in [
        ("vlans = [4095]", "elk.vlans"),
        ("directory_address = \"03:00:00:00:00:01\"", "elk.directory_address"),
        ("directory_address = \"00:11:22:33:44:55\"", "elk.directory_address"),
        ("directory_address = \"02:11:11:00:00:09\"", "inside the switch prefix"),
        ("directory_address = \"nope\"", "elk.directory_address"),
        ("cache_entries = 2000000", "elk.cache_entries"),
        ("cache_ttl_secs = 0", "elk.cache_ttl_secs"),
        ("binding_ttl_secs = 100000", "elk.binding_ttl_secs"),
        ("query_timeout_ms = 0", "elk.query_timeout_ms"),
        ("colour = 1", "colour"),
        (
            "[[elk.binding]]\nip = \"10.0.0.300\"\nmac = \"00:16:3e:00:00:05\"",
            "elk.binding[0].ip",
        ),
        (
            "[[elk.binding]]\nip = \"224.0.0.1\"\nmac = \"00:16:3e:00:00:05\"",
            "elk.binding[0].ip",
        ),
        (
            "[[elk.binding]]\nip = \"10.0.0.1\"\nmac = \"01:16:3e:00:00:05\"",
            "elk.binding[0].mac",
        ),
        (
            "[[elk.binding]]\nip = \"10.0.0.1\"\nmac = \"00:16:3e:00:00:05\"\n[[elk.binding]]\nip = \"10.0.0.1\"\nmac = \"00:16:3e:00:00:06\"",
            "elk.binding[1].ip",
        ),
    ] {
        let e = moose_err(p, &format!("[elk]\n{elk}\n"));
        assert!(e.contains(want), "{elk}: {e}");
    }
    let e = err(&with_port("[elk]\nenabled = true\n"));
    assert!(e.contains("[moose]"), "{e}");
}

#[test]
fn automatic_prefixes_never_hold_the_directory_address() {
    for a in 0..20_000 {
        let p = auto_prefix(b"seed", a).prefix();
        assert!(!p.contains(elk::DIRECTORY_ADDRESS), "attempt {a}: {p}");
    }
}
