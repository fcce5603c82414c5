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
    /// `prefix = "auto"`: the prefix is derived from the switch id
    /// ([`auto_prefix`]) when the switch starts, renumbered if the
    /// link-state protocol finds another switch holding it, and kept in
    /// `state_dir`. Until the switch resolves it, `switch` holds the
    /// candidate derived from the switch's name.
    pub auto_prefix: bool,
    /// A host that moved to another switch: its old address is forwarded
    /// to the new one this long, then quarantined.
    pub move_hold: Duration,
    /// A host that moves more than `move_limit` times within
    /// `move_window` is frozen where it is (a duplicate MAC, or a loop).
    pub move_limit: u32,
    pub move_window: Duration,
}

/// The automatic prefix of a switch: a /24 in the AAI quadrant,
/// `02:xx:yy:00:00:00/24` with `xx:yy` a hash of `seed` (the switch id)
/// and `attempt` (0 first, one more after each conflict lost).
pub fn auto_prefix(seed: &[u8], attempt: u32) -> SwitchId {
    // FNV-1a: stable across builds and machines, which a prefix must be.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.iter().chain(&attempt.to_be_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let h = (h ^ (h >> 32)) as u16;
    // 02:ff:ff/24 holds the directory's anycast address: never a switch's.
    let h = if h == 0xffff { 0xfffe } else { h };
    let [a, b] = h.to_be_bytes();
    let prefix = MacPrefix::new(moose_wire::Mac([0x02, a, b, 0, 0, 0]), 24).expect("/24");
    SwitchId::new(prefix).expect("02: is unicast and local")
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

pub(crate) fn validate(m: raw::Moose, name: &str) -> Result<Moose, ConfigError> {
    let auto = m.prefix == "auto";
    let prefix: MacPrefix = if auto {
        auto_prefix(name.as_bytes(), 0).prefix()
    } else {
        m.prefix.parse().map_err(|e: moose_wire::AddrError| {
            invalid(
                "moose.prefix",
                format!("{e} (or \"auto\" to derive one from the switch id)"),
            )
        })?
    };
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
    if auto && m.host_ids == "pool" {
        return Err(invalid(
            "moose.host_ids",
            "\"pool\" takes host_pools inside the switch prefix, which prefix = \"auto\" does not know in advance",
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
    if !(1..=86_400).contains(&m.move_hold_secs) {
        return Err(invalid(
            "moose.move_hold_secs",
            format!("{} is not in 1..=86400", m.move_hold_secs),
        ));
    }
    if !(1..=1000).contains(&m.move_limit) {
        return Err(invalid(
            "moose.move_limit",
            format!("{} is not in 1..=1000", m.move_limit),
        ));
    }
    if !(1..=86_400).contains(&m.move_window_secs) {
        return Err(invalid(
            "moose.move_window_secs",
            format!("{} is not in 1..=86400", m.move_window_secs),
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
        auto_prefix: auto,
        move_hold: Duration::from_secs(m.move_hold_secs),
        move_limit: m.move_limit,
        move_window: Duration::from_secs(m.move_window_secs),
    })
}

/// The validated `[routing]` table (defaults without one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routing {
    /// `false`: no link-state protocol — static routes only, and
    /// broadcasts go to every fabric port (loop-free fabrics only).
    pub enabled: bool,
    pub hello_interval: Duration,
    /// A neighbour not heard this long is down.
    pub dead_interval: Duration,
    /// An unacknowledged advertisement is sent again after this long.
    pub retransmit: Duration,
    /// Shortest-path first runs at most this often.
    pub spf_delay: Duration,
    /// A switch re-originates its advertisement this often …
    pub refresh: Duration,
    /// … and one not refreshed for this long is removed.
    pub max_age: Duration,
    /// The switch's id in the protocol; `None`: its base MAC (the first
    /// port's address).
    pub switch_id: Option<moose_wire::Mac>,
    /// The key hellos and advertisements are signed with, and its id.
    pub key: Option<Key>,
    /// A key still accepted while the fabric rotates to `key`.
    pub previous_key: Option<Key>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub id: u8,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Key {{ id: {}, secret: <{} bytes> }}",
            self.id,
            self.secret.len()
        )
    }
}

fn key(k: &str, secret: Option<String>, id: u32, id_key: &str) -> Result<Option<Key>, ConfigError> {
    let Some(secret) = secret else {
        return Ok(None);
    };
    if secret.len() < 16 {
        return Err(invalid(
            k,
            format!("is {} bytes; a key needs at least 16", secret.len()),
        ));
    }
    if !(1..=255).contains(&id) {
        return Err(invalid(id_key, format!("{id} is not in 1..=255")));
    }
    Ok(Some(Key {
        id: id as u8,
        secret: secret.into_bytes(),
    }))
}

pub(crate) fn validate_routing(r: raw::Routing) -> Result<Routing, ConfigError> {
    if !(10..=10_000).contains(&r.hello_interval_ms) {
        return Err(invalid(
            "routing.hello_interval_ms",
            format!("{} is not in 10..=10000", r.hello_interval_ms),
        ));
    }
    if r.dead_interval_ms < 2 * r.hello_interval_ms || r.dead_interval_ms > 60_000 {
        return Err(invalid(
            "routing.dead_interval_ms",
            format!(
                "{} is not in {}..=60000 (at least two hello intervals)",
                r.dead_interval_ms,
                2 * r.hello_interval_ms
            ),
        ));
    }
    if !(10..=60_000).contains(&r.retransmit_ms) {
        return Err(invalid(
            "routing.retransmit_ms",
            format!("{} is not in 10..=60000", r.retransmit_ms),
        ));
    }
    if r.spf_delay_ms > 10_000 {
        return Err(invalid(
            "routing.spf_delay_ms",
            format!("{} is not in 0..=10000", r.spf_delay_ms),
        ));
    }
    if !(10..=65_535).contains(&r.max_age_secs) {
        return Err(invalid(
            "routing.max_age_secs",
            format!("{} is not in 10..=65535", r.max_age_secs),
        ));
    }
    if r.refresh_secs == 0 || r.refresh_secs * 2 > r.max_age_secs {
        return Err(invalid(
            "routing.refresh_secs",
            format!(
                "{} is not in 1..={} (half of routing.max_age_secs)",
                r.refresh_secs,
                r.max_age_secs / 2
            ),
        ));
    }
    let switch_id = match r.switch_id {
        None => None,
        Some(s) => {
            let m: moose_wire::Mac = s.parse().map_err(|e: moose_wire::MacParseError| {
                invalid("routing.switch_id", e.to_string())
            })?;
            if m.is_multicast() || m.is_zero() {
                return Err(invalid(
                    "routing.switch_id",
                    format!("{m} is not a unicast address"),
                ));
            }
            Some(m)
        }
    };
    let key_ = key("routing.key", r.key, r.key_id, "routing.key_id")?;
    let previous = key(
        "routing.previous_key",
        r.previous_key,
        r.previous_key_id.unwrap_or(0),
        "routing.previous_key_id",
    )?;
    if let (Some(k), Some(p)) = (&key_, &previous) {
        if k.id == p.id {
            return Err(invalid(
                "routing.previous_key_id",
                format!("{} is also routing.key_id", p.id),
            ));
        }
    }
    if previous.is_some() && key_.is_none() {
        return Err(invalid(
            "routing.previous_key",
            "needs routing.key (the key being rotated to)",
        ));
    }
    Ok(Routing {
        enabled: r.enabled,
        hello_interval: Duration::from_millis(r.hello_interval_ms),
        dead_interval: Duration::from_millis(r.dead_interval_ms),
        retransmit: Duration::from_millis(r.retransmit_ms),
        spf_delay: Duration::from_millis(r.spf_delay_ms),
        refresh: Duration::from_secs(r.refresh_secs),
        max_age: Duration::from_secs(r.max_age_secs),
        switch_id,
        key: key_,
        previous_key: previous,
    })
}
