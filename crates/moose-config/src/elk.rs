//! `[elk]`: the directory that answers ARP and neighbour discovery, and
//! its static bindings (`[[elk.binding]]`).

use std::net::IpAddr;
use std::time::Duration;

use moose_wire::{Mac, MacPrefix, Vlan};
use serde::Deserialize;

use crate::{invalid, ConfigError, Moose, Role, VlanSet};

/// The directory's anycast address unless `elk.directory_address` says
/// otherwise: every directory switch answers to it, every other switch
/// routes queries to the nearest. Automatic switch prefixes never
/// contain it.
pub const DIRECTORY_ADDRESS: Mac = Mac([0x02, 0xff, 0xff, 0xff, 0xff, 0xfe]);

/// `[elk]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawElk {
    pub enabled: Option<bool>,
    pub vlans: Option<Vec<u32>>,
    #[serde(default)]
    pub directory: bool,
    pub directory_address: Option<String>,
    #[serde(default = "default_cache_entries")]
    pub cache_entries: usize,
    #[serde(default = "default_cache_ttl_secs")]
    pub cache_ttl_secs: u64,
    #[serde(default = "default_binding_ttl_secs")]
    pub binding_ttl_secs: u64,
    #[serde(default = "default_query_timeout_ms")]
    pub query_timeout_ms: u64,
    #[serde(default)]
    pub inspect: bool,
    #[serde(default)]
    pub binding: Vec<RawBinding>,
}

/// `[[elk.binding]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBinding {
    #[serde(default = "default_vlan")]
    pub vlan: u32,
    pub ip: String,
    pub mac: String,
}

fn default_cache_entries() -> usize {
    4096
}
fn default_cache_ttl_secs() -> u64 {
    300
}
fn default_binding_ttl_secs() -> u64 {
    300
}
fn default_query_timeout_ms() -> u64 {
    100
}
fn default_vlan() -> u32 {
    1
}

/// A static binding: `ip` on `vlan` belongs to the host whose real MAC is
/// `mac` (one of this switch's hosts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticBinding {
    pub vlan: Vlan,
    pub ip: IpAddr,
    pub mac: Mac,
}

/// The validated `[elk]`.
#[derive(Clone, Debug)]
pub struct Elk {
    /// Answer ARP/ND from the directory (default: on a MOOSE switch with
    /// edge ports). Off: ARP and ND flood along the broadcast tree.
    pub enabled: bool,
    /// The VLANs it answers on (all without `vlans`).
    pub vlans: VlanSet,
    /// This switch is a directory server: it holds every binding of the
    /// fabric and answers queries sent to `directory_address`.
    pub directory: bool,
    pub directory_address: Mac,
    /// Most answers a non-directory switch keeps, and for how long.
    pub cache_entries: usize,
    pub cache_ttl: Duration,
    /// A binding of one of this switch's hosts not confirmed by the host
    /// for this long is probed (a unicast ARP request or neighbour
    /// solicitation); unanswered, it is removed.
    pub binding_ttl: Duration,
    /// How long a miss waits for the directory before it floods.
    pub query_timeout: Duration,
    /// Drop ARP/ND whose sender contradicts a DHCP-snooped or static
    /// binding.
    pub inspect: bool,
    pub bindings: Vec<StaticBinding>,
}

impl Elk {
    /// ELK off (a switch without `[moose]` or without edge ports).
    pub fn off() -> Elk {
        Elk {
            enabled: false,
            vlans: VlanSet::all(),
            directory: false,
            directory_address: DIRECTORY_ADDRESS,
            cache_entries: default_cache_entries(),
            cache_ttl: Duration::from_secs(default_cache_ttl_secs()),
            binding_ttl: Duration::from_secs(default_binding_ttl_secs()),
            query_timeout: Duration::from_millis(default_query_timeout_ms()),
            inspect: false,
            bindings: Vec::new(),
        }
    }
}

/// Validates `[elk]` against the switch's `[moose]` table and ports.
pub(crate) fn validate(
    raw: Option<RawElk>,
    moose: Option<&Moose>,
    roles: &[Role],
) -> Result<Elk, ConfigError> {
    let has_edge = roles.contains(&Role::Edge);
    let Some(r) = raw else {
        let mut e = Elk::off();
        e.enabled = moose.is_some() && has_edge;
        return Ok(e);
    };
    let Some(m) = moose else {
        return Err(invalid("elk", "the directory needs a [moose] table"));
    };
    let enabled = r.enabled.unwrap_or(has_edge);
    if enabled && !has_edge && !r.directory {
        return Err(invalid(
            "elk.enabled",
            "a switch without edge ports answers no ARP (set elk.directory = true to serve the directory)",
        ));
    }
    let vlans = match r.vlans {
        None => VlanSet::all(),
        Some(list) => {
            let mut s = VlanSet::empty();
            for v in list {
                let v = Vlan::new(v).map_err(|e| invalid("elk.vlans", e.to_string()))?;
                s.insert(v.get());
            }
            s
        }
    };
    let directory_address = match r.directory_address {
        None => DIRECTORY_ADDRESS,
        Some(s) => s.parse().map_err(|e: moose_wire::MacParseError| {
            invalid("elk.directory_address", e.to_string())
        })?,
    };
    if directory_address.is_multicast() || !directory_address.is_local() {
        return Err(invalid(
            "elk.directory_address",
            format!("{directory_address} is not a locally administered unicast address"),
        ));
    }
    let own: MacPrefix = m.switch.prefix();
    if own.contains(directory_address) {
        return Err(invalid(
            "elk.directory_address",
            format!("{directory_address} is inside the switch prefix {own}"),
        ));
    }
    if r.cache_entries > 1_000_000 {
        return Err(invalid(
            "elk.cache_entries",
            format!("{} is not in 0..=1000000", r.cache_entries),
        ));
    }
    let secs = |k: &str, v: u64| {
        if (1..=86_400).contains(&v) {
            Ok(Duration::from_secs(v))
        } else {
            Err(invalid(k, format!("{v} is not in 1..=86400")))
        }
    };
    let cache_ttl = secs("elk.cache_ttl_secs", r.cache_ttl_secs)?;
    let binding_ttl = secs("elk.binding_ttl_secs", r.binding_ttl_secs)?;
    if !(1..=10_000).contains(&r.query_timeout_ms) {
        return Err(invalid(
            "elk.query_timeout_ms",
            format!("{} is not in 1..=10000", r.query_timeout_ms),
        ));
    }
    let mut bindings: Vec<StaticBinding> = Vec::new();
    for (i, b) in r.binding.into_iter().enumerate() {
        let key = |k: &str| format!("elk.binding[{i}].{k}");
        let vlan = Vlan::new(b.vlan).map_err(|e| invalid(key("vlan"), e.to_string()))?;
        let ip: IpAddr =
            b.ip.parse()
                .map_err(|_| invalid(key("ip"), format!("{:?} is not an IP address", b.ip)))?;
        if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::from([255, 255, 255, 255]) {
            return Err(invalid(key("ip"), format!("{ip} is not a host address")));
        }
        let mac: Mac = b
            .mac
            .parse()
            .map_err(|e: moose_wire::MacParseError| invalid(key("mac"), e.to_string()))?;
        if mac.is_multicast() || mac.is_zero() {
            return Err(invalid(
                key("mac"),
                format!("{mac} is not a unicast address"),
            ));
        }
        if bindings.iter().any(|x| x.vlan == vlan && x.ip == ip) {
            return Err(invalid(
                key("ip"),
                format!("{ip} on VLAN {vlan} is bound twice"),
            ));
        }
        bindings.push(StaticBinding { vlan, ip, mac });
    }
    Ok(Elk {
        enabled,
        vlans,
        directory: r.directory,
        directory_address,
        cache_entries: r.cache_entries,
        cache_ttl,
        binding_ttl,
        query_timeout: Duration::from_millis(r.query_timeout_ms),
        inspect: r.inspect,
        bindings,
    })
}
