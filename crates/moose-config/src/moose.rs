//! `[moose]` and `[[route]]`: the switch's MOOSE prefix, how it numbers its
//! hosts, and static MAC routes to other switches.

use std::path::PathBuf;
use std::time::Duration;

use moose_wire::{MacPrefix, SwitchId};

use crate::{invalid, raw, ConfigError};

/// How host ids are allocated under the switch prefix.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum HostIds {
    /// 1, 2, 3, … over the whole switch.
    Sequential,
    /// Each edge port its own equal share of the id space, sequential in
    /// it: an id exhaustion attack on one port cannot take ids of another.
    PortSequential,
    /// Derived from a hash of (VLAN, real MAC) (with a per-switch key, so
    /// hosts cannot choose collisions), probing on collision: a host gets
    /// the same id on any switch with the same prefix and key.
    Hash,
    /// From the port's `host_pool` (a hypervisor-side translation gateway
    /// whose VMs get addresses of an administrator's choosing).
    Pool,
}

/// The validated `[moose]` table.
#[derive(Clone, Debug)]
pub struct Moose {
    /// This switch's prefix.
    pub switch: SwitchId,
    pub host_ids: HostIds,
    /// Most hosts per edge port.
    pub host_quota: u32,
    /// Most hosts on the switch.
    pub max_hosts: u32,
    /// A host not seen this long is released.
    pub host_idle: Duration,
    /// A released id is not given to another host for this long.
    pub reuse_after: Duration,
    /// Where allocations are kept across restarts; `None`: in memory only.
    pub state_dir: Option<PathBuf>,
    /// How often home hellos go out on edge and legacy ports; one is valid
    /// for 3.5 intervals.
    pub home_hello: Duration,
}

/// A static MAC route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub prefix: MacPrefix,
    /// Indices into `Config::ports`; several are an ECMP group.
    pub ports: Vec<usize>,
}

/// The IEEE 802c SLAP quadrant of a local address (the low nibble of its
/// first octet).
pub fn slap_quadrant(first_octet: u8) -> &'static str {
    match first_octet & 0x0f {
        0x2 => "AAI",
        0xa => "ELI",
        0xe => "SAI",
        0x6 => "Reserved",
        _ => "not local",
    }
}

pub(crate) fn validate(m: raw::Moose) -> Result<Moose, ConfigError> {
    let prefix: MacPrefix = m
        .prefix
        .parse()
        .map_err(|e: moose_wire::AddrError| invalid("moose.prefix", e.to_string()))?;
    if !(8..=40).contains(&prefix.len()) {
        return Err(invalid(
            "moose.prefix",
            format!("/{} is not a length in 8..=40", prefix.len()),
        ));
    }
    let switch = SwitchId::new(prefix).map_err(|e| invalid("moose.prefix", e.to_string()))?;
    let first = prefix.addr().0[0];
    if !m.allow_any_quadrant && first & 0x0f != 0x2 {
        return Err(invalid(
            "moose.prefix",
            format!(
                "{prefix} is in the {} quadrant of the local address space; MOOSE prefixes belong in the IEEE 802c AAI quadrant (first octet x2, e.g. 02:…), or set moose.allow_any_quadrant = true",
                slap_quadrant(first)
            ),
        ));
    }
    let host_ids = match m.host_ids.as_str() {
        "sequential" => HostIds::Sequential,
        "port-sequential" => HostIds::PortSequential,
        "hash" => HostIds::Hash,
        "pool" => HostIds::Pool,
        other => {
            return Err(invalid(
                "moose.host_ids",
                format!(
                "{other:?} is not one of \"sequential\", \"port-sequential\", \"hash\", \"pool\""
            ),
            ))
        }
    };
    // Host id 0 is the switch's own address, never a host's.
    let ids = (1u64 << switch.host_bits()) - 1;
    if m.max_hosts == 0 || u64::from(m.max_hosts) > ids {
        return Err(invalid(
            "moose.max_hosts",
            format!(
                "{} is not in 1..={} (the ids under /{})",
                m.max_hosts,
                ids.min(u64::from(u32::MAX)),
                prefix.len()
            ),
        ));
    }
    if m.host_quota == 0 || m.host_quota > m.max_hosts {
        return Err(invalid(
            "moose.host_quota",
            format!(
                "{} is not in 1..=moose.max_hosts ({})",
                m.host_quota, m.max_hosts
            ),
        ));
    }
    if m.host_idle_secs == 0 {
        return Err(invalid("moose.host_idle_secs", "must be at least 1"));
    }
    if !(100..=10_000).contains(&m.home_hello_ms) {
        return Err(invalid(
            "moose.home_hello_ms",
            format!("{} is not in 100..=10000", m.home_hello_ms),
        ));
    }
    let state_dir = match m.state_dir {
        Some(d) if d.is_empty() => return Err(invalid("moose.state_dir", "is empty")),
        Some(d) => Some(PathBuf::from(d)),
        None => None,
    };
    Ok(Moose {
        switch,
        host_ids,
        host_quota: m.host_quota,
        max_hosts: m.max_hosts,
        host_idle: Duration::from_secs(m.host_idle_secs),
        reuse_after: Duration::from_secs(m.reuse_after_secs),
        state_dir,
        home_hello: Duration::from_millis(m.home_hello_ms),
    })
}
