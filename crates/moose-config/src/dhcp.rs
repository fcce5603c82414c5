//! `[[dhcp.pool]]`: the address pools of the built-in DHCPv4 server (served
//! by the `elk` service, `moose_control::dhcpd`).
//!
//! One pool per VLAN: a subnet, the range of it handed out, and what the
//! replies tell clients (router, DNS servers, domain, lease time, the
//! server identifier). Validation checks that every address lies where it
//! must — the range, router and server inside the subnet and never its
//! network or broadcast address, the router and server outside the range
//! (so the server never leases them) — and that some port carries the
//! VLAN. Pools on different VLANs are separate broadcast domains and may
//! reuse a subnet.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use moose_wire::Vlan;
use serde::Deserialize;

use crate::{invalid, ConfigError, PortConfig};

/// `[dhcp]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDhcp {
    #[serde(default)]
    pub pool: Vec<RawPool>,
}

fn default_lease_secs() -> u64 {
    3600
}

/// `[[dhcp.pool]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    pub vlan: u32,
    pub subnet: String,
    pub range: String,
    pub router: Option<String>,
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
    pub server: Option<String>,
    pub domain: Option<String>,
}

/// Shortest and longest lease a pool may give.
pub const MIN_LEASE_SECS: u64 = 60;
pub const MAX_LEASE_SECS: u64 = 31_536_000;
/// Most DNS servers a pool may list.
pub const MAX_DNS: usize = 16;

/// An IPv4 subnet: a network address (no host bits set) and a prefix
/// length of 1 to 30, so that it has a network address, a broadcast
/// address and at least two hosts between them.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Subnet {
    network: Ipv4Addr,
    len: u8,
}

impl Ipv4Subnet {
    /// `network/len`; `None` if `len` is not in 1..=30 or host bits are set.
    pub fn new(network: Ipv4Addr, len: u8) -> Option<Ipv4Subnet> {
        let s = Ipv4Subnet { network, len };
        ((1..=30).contains(&len) && u32::from(network) & !s.mask_bits() == 0).then_some(s)
    }

    fn mask_bits(self) -> u32 {
        u32::MAX << (32 - u32::from(self.len))
    }

    pub fn network(self) -> Ipv4Addr {
        self.network
    }

    pub fn len(self) -> u8 {
        self.len
    }

    /// Never true: a subnet has at least four addresses.
    pub fn is_empty(self) -> bool {
        false
    }

    pub fn mask(self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask_bits())
    }

    pub fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask_bits())
    }

    pub fn contains(self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask_bits() == u32::from(self.network)
    }

    /// Inside the subnet and neither its network nor its broadcast address.
    pub fn is_host(self, a: Ipv4Addr) -> bool {
        self.contains(a) && a != self.network && a != self.broadcast()
    }
}

impl fmt::Display for Ipv4Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

impl FromStr for Ipv4Subnet {
    type Err = String;
    fn from_str(s: &str) -> Result<Ipv4Subnet, String> {
        let bad = || format!("{s:?} is not a subnet like \"10.0.0.0/24\"");
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let len: u8 = l.parse().map_err(|_| bad())?;
        if !(1..=30).contains(&len) {
            return Err(format!(
                "/{len} is not a prefix length in 1..=30 (a pool needs room for hosts)"
            ));
        }
        let mask = u32::MAX << (32 - u32::from(len));
        Ipv4Subnet::new(addr, len).ok_or_else(|| {
            format!(
                "{s} has host bits set; the network is {}/{len}",
                Ipv4Addr::from(u32::from(addr) & mask)
            )
        })
    }
}

/// A validated `[[dhcp.pool]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpPool {
    pub vlan: Vlan,
    pub subnet: Ipv4Subnet,
    /// The addresses leased, `first..=last`, both hosts of `subnet`.
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
    /// Option 3, a host of `subnet` outside the range.
    pub router: Option<Ipv4Addr>,
    /// Option 6, in order.
    pub dns: Vec<Ipv4Addr>,
    /// Option 51.
    pub lease: Duration,
    /// The server identifier (option 54) and the source of replies: a host
    /// of `subnet` outside the range; `router` unless set.
    pub server: Ipv4Addr,
    /// Option 15: a DNS name.
    pub domain: Option<String>,
}

impl DhcpPool {
    /// How many addresses the range holds.
    pub fn size(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    pub fn in_range(&self, a: Ipv4Addr) -> bool {
        (self.first..=self.last).contains(&a)
    }
}

fn addr(key: &str, s: &str) -> Result<Ipv4Addr, ConfigError> {
    s.parse()
        .map_err(|_| invalid(key, format!("{s:?} is not an IPv4 address")))
}

/// A DNS name: labels of 1 to 63 letters, digits and hyphens (not at either
/// end), 253 characters at most; one trailing dot allowed.
fn check_domain(d: &str) -> Result<(), String> {
    let name = d.strip_suffix('.').unwrap_or(d);
    if name.is_empty() || name.len() > 253 {
        return Err(format!("{d:?} must be 1 to 253 characters"));
    }
    for label in name.split('.') {
        let ok = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "{d:?} is not a DNS name (labels of 1 to 63 letters, digits and inner hyphens)"
            ));
        }
    }
    Ok(())
}

/// `[dhcp]`: each pool checked, one pool per VLAN, each VLAN carried by some
/// port.
pub(crate) fn validate(raw: RawDhcp, ports: &[PortConfig]) -> Result<Vec<DhcpPool>, ConfigError> {
    let mut out: Vec<DhcpPool> = Vec::new();
    for (i, p) in raw.pool.into_iter().enumerate() {
        let key = |k: &str| format!("dhcp.pool[{i}].{k}");
        let vlan = Vlan::new(p.vlan).map_err(|e| invalid(key("vlan"), e.to_string()))?;
        if let Some(j) = out.iter().position(|o| o.vlan == vlan) {
            return Err(invalid(
                key("vlan"),
                format!("VLAN {vlan} already has a pool (dhcp.pool[{j}]); one pool per VLAN"),
            ));
        }
        if !ports.iter().any(|port| port.vlans.contains(vlan.get())) {
            return Err(invalid(key("vlan"), format!("no port carries VLAN {vlan}")));
        }
        let subnet: Ipv4Subnet = p.subnet.parse().map_err(|e| invalid(key("subnet"), e))?;
        let host = |k: &str, a: Ipv4Addr| {
            if !subnet.contains(a) {
                Err(invalid(
                    key(k),
                    format!("{a} is not in the subnet {subnet}"),
                ))
            } else if a == subnet.network() || a == subnet.broadcast() {
                Err(invalid(
                    key(k),
                    format!("{a} is the network or broadcast address of {subnet}"),
                ))
            } else {
                Ok(a)
            }
        };
        let (f, l) = p.range.split_once('-').ok_or_else(|| {
            invalid(
                key("range"),
                format!(
                    "{:?} is not a range like \"10.0.0.100-10.0.0.199\"",
                    p.range
                ),
            )
        })?;
        let first = host("range", addr(&key("range"), f.trim())?)?;
        let last = host("range", addr(&key("range"), l.trim())?)?;
        if first > last {
            return Err(invalid(
                key("range"),
                format!("{first} comes after {last}; write the lower address first"),
            ));
        }
        let outside = |k: &str, a: Ipv4Addr| {
            let a = host(k, a)?;
            if (first..=last).contains(&a) {
                return Err(invalid(
                    key(k),
                    format!("{a} is inside the range {first}-{last}, which is leased to clients"),
                ));
            }
            Ok(a)
        };
        let router = p
            .router
            .as_deref()
            .map(|r| outside("router", addr(&key("router"), r)?))
            .transpose()?;
        let server =
            match (&p.server, router) {
                (Some(s), _) => outside("server", addr(&key("server"), s)?)?,
                (None, Some(r)) => r,
                (None, None) => return Err(invalid(
                    key("server"),
                    "required without a router: the address the server answers from (option 54)",
                )),
            };
        if p.dns.len() > MAX_DNS {
            return Err(invalid(
                key("dns"),
                format!("lists {} servers; at most {MAX_DNS}", p.dns.len()),
            ));
        }
        let dns = p
            .dns
            .iter()
            .map(|d| addr(&key("dns"), d))
            .collect::<Result<Vec<_>, _>>()?;
        if !(MIN_LEASE_SECS..=MAX_LEASE_SECS).contains(&p.lease_secs) {
            return Err(invalid(
                key("lease_secs"),
                format!(
                    "{} is not in {MIN_LEASE_SECS}..={MAX_LEASE_SECS}",
                    p.lease_secs
                ),
            ));
        }
        if let Some(d) = &p.domain {
            check_domain(d).map_err(|e| invalid(key("domain"), e))?;
        }
        out.push(DhcpPool {
            vlan,
            subnet,
            first,
            last,
            router,
            dns,
            lease: Duration::from_secs(p.lease_secs),
            server,
            domain: p.domain,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::Config;

    /// A MOOSE switch (the server runs in ELK) with `pools`.
    fn cfg(pools: &str) -> Result<Config, crate::ConfigError> {
        Config::from_toml(&format!(
            "[switch]\nname = \"s\"\n[[port]]\nname = \"p0\"\ndevice = \"net_null0\"\nrole = \"edge\"\nvlans = [1, 10, 20]\n{pools}\n[moose]\nprefix = \"02:11:11:00:00:00/24\"\n"
        ))
    }

    #[test]
    fn a_pool_needs_elk_on_its_vlan() {
        let legacy = Config::from_toml(&format!(
            "[switch]\nname = \"s\"\n[[port]]\nname = \"p0\"\ndevice = \"net_null0\"\nvlans = [1, 10]\n{POOL}router = \"10.0.0.1\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(legacy.contains("needs [moose] and elk.enabled"), "{legacy}");
        let e = err(&format!(
            "{POOL}router = \"10.0.0.1\"\n[elk]\nvlans = [1]\n"
        ));
        assert!(
            e.contains("dhcp.pool[0].vlan") && e.contains("not one of elk.vlans"),
            "{e}"
        );
        let e = err(&format!(
            "{POOL}router = \"10.0.0.1\"\n[elk]\nenabled = false\n"
        ));
        assert!(e.contains("needs [moose] and elk.enabled"), "{e}");
    }

    fn err(pools: &str) -> String {
        cfg(pools).unwrap_err().to_string()
    }

    const POOL: &str =
        "[[dhcp.pool]]\nvlan = 10\nsubnet = \"10.0.0.0/24\"\nrange = \"10.0.0.100-10.0.0.199\"\n";

    #[test]
    fn a_pool_validates_with_its_defaults() {
        let c = cfg(&format!("{POOL}router = \"10.0.0.1\"\n")).unwrap();
        assert_eq!(c.dhcp.len(), 1);
        let p = &c.dhcp[0];
        assert_eq!(p.vlan.get(), 10);
        assert_eq!(p.subnet.to_string(), "10.0.0.0/24");
        assert_eq!(p.subnet.mask().to_string(), "255.255.255.0");
        assert_eq!(p.subnet.broadcast().to_string(), "10.0.0.255");
        assert_eq!(
            (p.first.to_string(), p.last.to_string()),
            ("10.0.0.100".into(), "10.0.0.199".into())
        );
        assert_eq!(p.size(), 100);
        assert_eq!(p.router.unwrap().to_string(), "10.0.0.1");
        assert_eq!(
            p.server,
            p.router.unwrap(),
            "the server defaults to the router"
        );
        assert_eq!(p.lease.as_secs(), 3600);
        assert!(p.dns.is_empty() && p.domain.is_none());
        // No [dhcp] table: no pools.
        assert!(cfg("").unwrap().dhcp.is_empty());
    }

    #[test]
    fn every_key_is_read() {
        let c = cfg(&format!(
            "{POOL}router = \"10.0.0.1\"\nserver = \"10.0.0.2\"\ndns = [\"10.0.0.53\", \"9.9.9.9\"]\nlease_secs = 60\ndomain = \"lab.example.\"\n\
             [[dhcp.pool]]\nvlan = 20\nsubnet = \"10.0.0.0/24\"\nrange = \"10.0.0.10 - 10.0.0.10\"\nserver = \"10.0.0.1\"\n"
        ))
        .unwrap();
        let p = &c.dhcp[0];
        assert_eq!(p.server.to_string(), "10.0.0.2");
        assert_eq!(p.dns.len(), 2);
        assert_eq!(p.lease.as_secs(), 60);
        assert_eq!(p.domain.as_deref(), Some("lab.example."));
        // The same subnet on another VLAN is another domain; a range of one.
        assert_eq!(c.dhcp[1].size(), 1);
        assert!(c.dhcp[1].router.is_none());
    }

    #[test]
    fn errors_name_the_key() {
        let router = "router = \"10.0.0.1\"\n";
        for (extra, key, what) in [
            ("vlan = 0\n", "dhcp.pool[0].vlan", "1..=4094"),
            (
                "vlan = 30\n",
                "dhcp.pool[0].vlan",
                "no port carries VLAN 30",
            ),
            (
                "subnet = \"10.0.0.1/24\"\n",
                "dhcp.pool[0].subnet",
                "network is 10.0.0.0/24",
            ),
            (
                "subnet = \"10.0.0.0/31\"\n",
                "dhcp.pool[0].subnet",
                "1..=30",
            ),
            (
                "subnet = \"10.0.0.0\"\n",
                "dhcp.pool[0].subnet",
                "not a subnet",
            ),
            (
                "range = \"10.0.0.100\"\n",
                "dhcp.pool[0].range",
                "not a range",
            ),
            (
                "range = \"10.0.0.199-10.0.0.100\"\n",
                "dhcp.pool[0].range",
                "comes after",
            ),
            (
                "range = \"10.0.0.0-10.0.0.100\"\n",
                "dhcp.pool[0].range",
                "network or broadcast",
            ),
            (
                "range = \"10.0.0.100-10.0.0.255\"\n",
                "dhcp.pool[0].range",
                "network or broadcast",
            ),
            (
                "range = \"10.0.0.100-10.0.1.5\"\n",
                "dhcp.pool[0].range",
                "not in the subnet",
            ),
            (
                "range = \"10.0.0.100-10.0.0.x\"\n",
                "dhcp.pool[0].range",
                "not an IPv4 address",
            ),
            (
                "router = \"10.0.1.1\"\n",
                "dhcp.pool[0].router",
                "not in the subnet",
            ),
            (
                "router = \"10.0.0.150\"\n",
                "dhcp.pool[0].router",
                "inside the range",
            ),
            ("", "dhcp.pool[0].server", "required without a router"),
            (
                "server = \"10.0.0.100\"\n",
                "dhcp.pool[0].server",
                "inside the range",
            ),
            (
                "server = \"10.0.0.255\"\n",
                "dhcp.pool[0].server",
                "network or broadcast",
            ),
            (
                &format!("{router}dns = [\"ns1\"]\n"),
                "dhcp.pool[0].dns",
                "not an IPv4 address",
            ),
            (
                &format!("{router}lease_secs = 59\n"),
                "dhcp.pool[0].lease_secs",
                "60..=31536000",
            ),
            (
                &format!("{router}lease_secs = 31536001\n"),
                "dhcp.pool[0].lease_secs",
                "60..=31536000",
            ),
            (
                &format!("{router}domain = \"bad domain\"\n"),
                "dhcp.pool[0].domain",
                "not a DNS name",
            ),
            (
                &format!("{router}domain = \"\"\n"),
                "dhcp.pool[0].domain",
                "1 to 253",
            ),
            (
                &format!("{router}domain = \"-a.b\"\n"),
                "dhcp.pool[0].domain",
                "not a DNS name",
            ),
        ] {
            // Later keys of a table replace nothing: build the pool with the
            // override first, the defaults after, skipping overridden keys.
            let overridden: Vec<&str> = extra
                .lines()
                .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
                .collect();
            let base: String = POOL
                .lines()
                .skip(1)
                .filter(|l| !overridden.iter().any(|k| l.starts_with(&format!("{k} "))))
                .map(|l| format!("{l}\n"))
                .collect();
            let e = err(&format!("[[dhcp.pool]]\n{extra}{base}"));
            assert!(e.starts_with(&format!("{key}: ")), "{extra:?}: {e}");
            assert!(e.contains(what), "{extra:?}: {e}");
        }
        let sixteen: Vec<String> = (1..=17).map(|i| format!("\"10.0.0.{i}\"")).collect();
        let e = err(&format!("{POOL}{router}dns = [{}]\n", sixteen.join(", ")));
        assert!(e.starts_with("dhcp.pool[0].dns: lists 17"), "{e}");
        let e = err(&format!("{POOL}{router}colour = \"red\"\n"));
        assert!(e.starts_with("dhcp.pool[0].colour: unknown key"), "{e}");
        let e = err("[dhcp]\nrange = 1\n");
        assert!(e.starts_with("dhcp.range: unknown key"), "{e}");
    }

    #[test]
    fn one_pool_per_vlan() {
        let e = err(&format!(
            "{POOL}router = \"10.0.0.1\"\n[[dhcp.pool]]\nvlan = 20\nsubnet = \"10.1.0.0/16\"\nrange = \"10.1.0.10-10.1.0.20\"\nserver = \"10.1.0.1\"\n{POOL}router = \"10.0.0.1\"\n"
        ));
        assert!(
            e.starts_with("dhcp.pool[2].vlan: VLAN 10 already has a pool (dhcp.pool[0])"),
            "{e}"
        );
    }

    #[test]
    fn subnets_parse_and_print() {
        let s: super::Ipv4Subnet = "192.168.4.0/22".parse().unwrap();
        assert_eq!(s.broadcast().to_string(), "192.168.7.255");
        assert!(s.is_host("192.168.5.0".parse().unwrap()));
        assert!(!s.is_host("192.168.4.0".parse().unwrap()));
        assert!(!s.contains("192.168.8.1".parse().unwrap()));
        assert_eq!(s.to_string(), "192.168.4.0/22");
        assert!("1.2.3.4/33".parse::<super::Ipv4Subnet>().is_err());
        assert!("0.0.0.0/1".parse::<super::Ipv4Subnet>().is_ok());
    }

    #[test]
    fn the_example_pool() {
        let c = Config::from_toml(include_str!("../../../configs/example.toml")).unwrap();
        let p = &c.dhcp[0];
        assert_eq!((p.vlan.get(), p.size()), (10, 100));
        assert_eq!(p.server.to_string(), "10.10.0.2");
        assert_eq!(p.dns.len(), 2);
    }
}
