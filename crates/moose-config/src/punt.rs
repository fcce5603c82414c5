//! Punt classes: what the workers hand to the control thread, each class
//! with its own bounded ring and token buckets (per worker, and per ingress
//! port within a worker), so that a flood of one kind cannot starve another.

use crate::{invalid, raw, ConfigError};

/// A kind of frame or request punted from a worker to the control thread.
/// The discriminant is the class's index (0..5) in per-class arrays.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum PuntClass {
    /// Routing hellos and advertisements.
    Protocol = 0,
    /// ARP, ND and DHCP.
    Directory = 1,
    /// First frames of unknown edge hosts.
    Host = 2,
    /// FDB learn requests.
    Learn = 3,
    /// IEEE 802.1D reserved destinations (STP, LLDP, LACP, …).
    Reserved = 4,
}

impl PuntClass {
    /// Number of classes.
    pub const COUNT: usize = 5;

    /// Every class, in drain priority order (the control thread serves
    /// `ALL[0]` first).
    pub const ALL: [PuntClass; PuntClass::COUNT] = [
        PuntClass::Protocol,
        PuntClass::Directory,
        PuntClass::Host,
        PuntClass::Learn,
        PuntClass::Reserved,
    ];

    /// The class's key in `[punt.<name>]`, lower case.
    pub const fn name(self) -> &'static str {
        match self {
            PuntClass::Protocol => "protocol",
            PuntClass::Directory => "directory",
            PuntClass::Host => "host",
            PuntClass::Learn => "learn",
            PuntClass::Reserved => "reserved",
        }
    }

    /// Index into per-class arrays, `0..PuntClass::COUNT`.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The class named `name` (as in [`PuntClass::name`]).
    pub fn from_name(name: &str) -> Option<PuntClass> {
        PuntClass::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The rates a class has when its table, or a key of it, is omitted.
    pub const fn default_rate(self) -> PuntRate {
        let (rate_pps, burst, port_rate_pps, port_burst) = match self {
            PuntClass::Protocol => (20_000, 2_000, 10_000, 1_000),
            PuntClass::Directory => (20_000, 2_000, 5_000, 500),
            PuntClass::Host => (20_000, 2_000, 2_000, 200),
            PuntClass::Learn => (500_000, 4_096, 100_000, 1_024),
            PuntClass::Reserved => (2_000, 200, 500, 50),
        };
        PuntRate {
            rate_pps,
            burst,
            port_rate_pps,
            port_burst,
        }
    }
}

impl std::fmt::Display for PuntClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The two token buckets of a punt class. Validated: every value ≥ 1,
/// `port_rate_pps ≤ rate_pps`, `port_burst ≤ burst`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PuntRate {
    /// Refill rate of the class's bucket in each worker (frames/s).
    pub rate_pps: u32,
    /// Depth of that bucket (frames).
    pub burst: u32,
    /// Refill rate of the class's bucket for each ingress port, within a
    /// worker (frames/s).
    pub port_rate_pps: u32,
    /// Depth of the per-port bucket (frames).
    pub port_burst: u32,
}

/// The rates of every punt class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PuntLimits {
    rates: [PuntRate; PuntClass::COUNT],
}

impl Default for PuntLimits {
    fn default() -> Self {
        PuntLimits {
            rates: PuntClass::ALL.map(PuntClass::default_rate),
        }
    }
}

impl PuntLimits {
    #[inline]
    pub fn get(&self, c: PuntClass) -> PuntRate {
        self.rates[c.index()]
    }

    /// Every class with its rates, in drain priority order.
    pub fn iter(&self) -> impl Iterator<Item = (PuntClass, PuntRate)> + '_ {
        PuntClass::ALL.into_iter().map(|c| (c, self.get(c)))
    }

    pub(crate) fn from_raw(raw: raw::Punt) -> Result<PuntLimits, ConfigError> {
        let raw::Punt {
            protocol,
            directory,
            host,
            learn,
            reserved,
        } = raw;
        let tables = [protocol, directory, host, learn, reserved];
        let mut limits = PuntLimits::default();
        for (class, table) in PuntClass::ALL.into_iter().zip(tables) {
            if let Some(t) = table {
                limits.rates[class.index()] = rate(class, t)?;
            }
        }
        Ok(limits)
    }
}

/// One class's table over its defaults. An omitted per-port value is the
/// default capped at the class's value, so lowering only `rate_pps` (or
/// `burst`) is never an error; a per-port value written larger than the
/// class's is.
fn rate(class: PuntClass, t: raw::PuntRate) -> Result<PuntRate, ConfigError> {
    let d = class.default_rate();
    let key = |k: &str| format!("punt.{}.{k}", class.name());
    let rate_pps = t.rate_pps.unwrap_or(d.rate_pps);
    let burst = t.burst.unwrap_or(d.burst);
    let port_rate_pps = t.port_rate_pps.unwrap_or(d.port_rate_pps.min(rate_pps));
    let port_burst = t.port_burst.unwrap_or(d.port_burst.min(burst));
    for (k, v) in [
        ("rate_pps", rate_pps),
        ("burst", burst),
        ("port_rate_pps", port_rate_pps),
        ("port_burst", port_burst),
    ] {
        if v == 0 {
            return Err(invalid(key(k), "must be at least 1"));
        }
    }
    if port_rate_pps > rate_pps {
        return Err(invalid(
            key("port_rate_pps"),
            format!(
                "{port_rate_pps} is larger than punt.{class}.rate_pps ({rate_pps}); one port cannot get more than the worker's bucket"
            ),
        ));
    }
    if port_burst > burst {
        return Err(invalid(
            key("port_burst"),
            format!("{port_burst} is larger than punt.{class}.burst ({burst})"),
        ));
    }
    Ok(PuntRate {
        rate_pps,
        burst,
        port_rate_pps,
        port_burst,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_indexed_in_drain_order() {
        for (i, c) in PuntClass::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(c as u8 as usize, i);
            assert_eq!(PuntClass::from_name(c.name()), Some(c));
        }
        assert_eq!(PuntClass::from_name("lldp"), None);
    }

    #[test]
    fn defaults_are_valid() {
        for c in PuntClass::ALL {
            let d = c.default_rate();
            assert_eq!(rate(c, raw::PuntRate::default()).unwrap(), d);
            assert!(d.port_rate_pps <= d.rate_pps && d.port_burst <= d.burst);
        }
    }
}
