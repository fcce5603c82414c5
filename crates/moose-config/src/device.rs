//! DPDK device strings (`port[].device`) and what they resolve to.
//!
//! A device string is a PCI address or a virtual device name, each
//! optionally followed by `,key=value` devargs. Two strings can name the same
//! thing without being equal (`3b:00.0` and `0000:3B:00.0`;
//! `net_af_packet0,iface=veth1` and `net_af_packet1,iface=veth1`), so "each
//! device once" is checked on the [`DeviceIdentity`] instead of the text.

/// What kind of device a port is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// A PCI function, probed by its kernel-bypass driver.
    Pci,
    /// A virtual device; `driver` is the name without its instance suffix
    /// (`net_af_packet` for `net_af_packet0`).
    Vdev { driver: String },
}

/// A resolved `port[].device`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceIdentity {
    pub kind: DeviceKind,
    /// The device's normalised name: a PCI address as `dddd:bb:dd.f` (lower
    /// case, domain `0000` when omitted), or the vdev instance name
    /// (`net_pcap0`). No two ports share it.
    pub name: String,
    /// The devargs after the name, in order, as `(key, value)`.
    pub devargs: Vec<(String, String)>,
    /// Every kernel interface the device opens: `iface=` of `net_af_packet`,
    /// `net_tap` and `net_tun`; `iface=`, `rx_iface=`, `rx_iface_in=` and
    /// `tx_iface=` of `net_pcap`. Each listed once. No two ports share one.
    pub kernel_ifaces: Vec<String>,
    /// The existing kernel interface that is this port's link, whose link
    /// state is the port's and whose state moose should restore at exit:
    /// `iface=` of `net_af_packet`, or the one interface a `net_pcap`
    /// device opens. `None` for PCI devices, for `net_tap`/`net_tun` (DPDK
    /// creates and removes those interfaces itself) and for pcap devices on
    /// files or on more than one interface.
    pub kernel_iface: Option<String>,
}

impl DeviceIdentity {
    /// The value of devargs key `key`, if given (the first, if repeated).
    pub fn devarg(&self, key: &str) -> Option<&str> {
        self.devargs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Keys of `net_pcap` that each add one queue and so may repeat.
const PCAP_STREAMS: [&str; 5] = ["rx_pcap", "tx_pcap", "rx_iface", "rx_iface_in", "tx_iface"];

/// Resolves a DPDK device string: a PCI address (`0000:01:00.0`,
/// `01:00.0`) or a virtual device name (`net_<driver><n>`), optionally
/// followed by `,key=value` devargs. A key may not repeat, except the
/// `net_pcap` stream keys, each of which adds a queue. The error is the
/// reason, without the key.
pub fn parse_device(dev: &str) -> Result<DeviceIdentity, String> {
    let mut parts = split_devargs(dev).into_iter();
    let name = parts.next().unwrap_or_default();
    if name.is_empty() {
        return Err("empty device; expected a PCI address or vdev devargs like \"net_af_packet0,iface=eth1\"".into());
    }
    if let Some(pci) = normalise_pci(name) {
        return finish(dev, pci, DeviceKind::Pci, parts);
    }
    let Some(driver) = vdev_driver(name) else {
        return Err(format!(
            "{name:?} is neither a PCI address (0000:01:00.0) nor a vdev name like net_af_packet0 (driver name then instance number)"
        ));
    };
    let kind = DeviceKind::Vdev {
        driver: driver.to_string(),
    };
    finish(dev, name.to_string(), kind, parts)
}

fn finish<'a>(
    dev: &str,
    name: String,
    kind: DeviceKind,
    parts: impl Iterator<Item = &'a str>,
) -> Result<DeviceIdentity, String> {
    let driver = match &kind {
        DeviceKind::Vdev { driver } => driver.as_str(),
        DeviceKind::Pci => "",
    };
    let mut devargs: Vec<(String, String)> = Vec::new();
    for kv in parts {
        let (k, v) = match kv.split_once('=') {
            Some((k, v))
                if !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                (k, v)
            }
            _ => return Err(format!("devargs item {kv:?} in {dev:?} is not key=value")),
        };
        let repeatable = driver == "net_pcap" && PCAP_STREAMS.contains(&k);
        if !repeatable && devargs.iter().any(|(seen, _)| seen == k) {
            return Err(format!("devargs key {k:?} is given twice in {dev:?}"));
        }
        devargs.push((k.to_string(), v.to_string()));
    }

    let iface_keys: &[&str] = match driver {
        "net_af_packet" | "net_tap" | "net_tun" => &["iface"],
        "net_pcap" => &["iface", "rx_iface", "rx_iface_in", "tx_iface"],
        _ => &[],
    };
    let mut kernel_ifaces: Vec<String> = Vec::new();
    for (k, v) in &devargs {
        if !iface_keys.contains(&k.as_str()) {
            continue;
        }
        check_ifname(v).map_err(|r| format!("{k}={v:?}: {r}"))?;
        if !kernel_ifaces.contains(v) {
            kernel_ifaces.push(v.clone());
        }
    }
    let kernel_iface = match driver {
        "net_af_packet" => match kernel_ifaces.first() {
            Some(i) => Some(i.clone()),
            None => {
                return Err(format!(
                    "{name} needs iface=<kernel interface> (e.g. \"{name},iface=eth1\")"
                ))
            }
        },
        "net_pcap" if kernel_ifaces.len() == 1 => Some(kernel_ifaces[0].clone()),
        _ => None,
    };
    Ok(DeviceIdentity {
        kind,
        name,
        devargs,
        kernel_ifaces,
        kernel_iface,
    })
}

/// Splits at the commas that are not inside `[...]` (DPDK lists such as
/// `representor=[0,1]`).
fn split_devargs(dev: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in dev.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&dev[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&dev[start..]);
    out
}

/// A Linux interface name as the kernel accepts it (`dev_valid_name`).
fn check_ifname(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("empty interface name");
    }
    if s.len() > 15 {
        return Err("interface names are at most 15 bytes");
    }
    if s == "." || s == ".." || s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        return Err("not a valid interface name");
    }
    Ok(())
}

/// `net_<driver><n>` → `net_<driver>`.
fn vdev_driver(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("net_")?;
    let driver = rest.trim_end_matches(|c: char| c.is_ascii_digit());
    let ok = !driver.is_empty()
        && driver.len() < rest.len()
        && driver
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then(|| &name[..4 + driver.len()])
}

/// `[dddd:]bb:dd.f` (hex; function 0-7) → `dddd:bb:dd.f`, lower case.
fn normalise_pci(s: &str) -> Option<String> {
    let hex = |p: &str, n: usize| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit());
    let parts: Vec<&str> = s.split(':').collect();
    let (dom, bus, devfn) = match parts.as_slice() {
        [dom, bus, devfn] if hex(dom, 4) => (*dom, *bus, *devfn),
        [bus, devfn] => ("0000", *bus, *devfn),
        _ => return None,
    };
    let (dev, func) = devfn.split_once('.')?;
    let ok = hex(bus, 2)
        && hex(dev, 2)
        && func.len() == 1
        && ('0'..='7').contains(&func.chars().next()?);
    ok.then(|| format!("{dom}:{bus}:{dev}.{func}").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_addresses_normalise() {
        for s in ["3b:00.0", "0000:3b:00.0", "0000:3B:00.0", "3B:00.0"] {
            assert_eq!(normalise_pci(s).as_deref(), Some("0000:3b:00.0"), "{s}");
        }
        assert_eq!(
            normalise_pci("ABCD:01:1f.7").as_deref(),
            Some("abcd:01:1f.7")
        );
        for s in [
            "3b:00.8",
            "3b:0.1",
            "000:3b:00.0",
            "3b:00",
            "x3b:00.0",
            "3b:00.0.0",
        ] {
            assert_eq!(normalise_pci(s), None, "{s}");
        }
    }

    #[test]
    fn vdev_identities() {
        let d = parse_device("net_af_packet3,iface=veth1,qpairs=2").unwrap();
        assert_eq!(d.name, "net_af_packet3");
        assert_eq!(
            d.kind,
            DeviceKind::Vdev {
                driver: "net_af_packet".into()
            }
        );
        assert_eq!(d.kernel_iface.as_deref(), Some("veth1"));
        assert_eq!(d.kernel_ifaces, vec!["veth1".to_string()]);
        assert_eq!(d.devarg("qpairs"), Some("2"));

        let d = parse_device("net_pcap0,rx_iface=a,tx_iface=a").unwrap();
        assert_eq!(d.kernel_ifaces, vec!["a".to_string()]);
        assert_eq!(d.kernel_iface.as_deref(), Some("a"));
        let d = parse_device("net_pcap0,rx_iface_in=a,tx_iface=b").unwrap();
        assert_eq!(d.kernel_ifaces, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(d.kernel_iface, None);
        let d = parse_device("net_pcap0,rx_pcap=/tmp/a.pcap,tx_pcap=/tmp/b.pcap").unwrap();
        assert!(d.kernel_ifaces.is_empty() && d.kernel_iface.is_none());

        let d = parse_device("net_tap0,iface=dtap0").unwrap();
        assert_eq!(d.kernel_ifaces, vec!["dtap0".to_string()]);
        assert_eq!(d.kernel_iface, None);

        let d = parse_device("3B:00.1,representor=[0,1]").unwrap();
        assert_eq!(d.kind, DeviceKind::Pci);
        assert_eq!(d.name, "0000:3b:00.1");
        assert_eq!(d.devarg("representor"), Some("[0,1]"));
    }

    #[test]
    fn devargs_rules() {
        let e = parse_device("net_af_packet0,iface=a,iface=b").unwrap_err();
        assert!(e.contains("\"iface\" is given twice"), "{e}");
        assert!(parse_device("0000:01:00.0,txq=1,txq=2").is_err());
        // net_pcap's stream keys add a queue each.
        let d = parse_device("net_pcap0,tx_pcap=/tmp/a,tx_pcap=/tmp/b,rx_pcap=/tmp/c").unwrap();
        assert_eq!(d.devargs.len(), 3);
        assert!(parse_device("net_pcap0,iface=a,iface=b").is_err());
        assert!(parse_device("net_pcap0,infinite_rx=1,infinite_rx=1").is_err());

        assert!(parse_device("net_af_packet0")
            .unwrap_err()
            .contains("iface="));
        assert!(parse_device("net_af_packet0,iface=").is_err());
        assert!(parse_device("net_af_packet0,iface=a23456789012345b").is_err());
        assert!(parse_device("net_af_packet0,iface=a/b").is_err());
        assert!(parse_device("net_af_packet0,iface=a23456789012345").is_ok());
    }
}
