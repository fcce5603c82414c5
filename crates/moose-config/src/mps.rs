//! `[mps]` and `[[mps.pool]]`: the MAC provider service — pools of
//! enterprise-unique MAC addresses handed out by handle.
//!
//! A pool is a range of unicast addresses in one IEEE 802c SLAP quadrant:
//! AAI (`x2:…`, the default), ELI (`xa:…`, under a company id, RFC 8948)
//! or, for the `oui` policy, a block under a universally administered OUI
//! the enterprise owns. SAI and the Reserved quadrant are never handed out.
//! Pools may not overlap each other, the switch's own MOOSE prefix, a
//! static route or the directory's anycast address (automatic prefixes of
//! other switches are not known here: the service skips any address the
//! fabric routes when it allocates).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use moose_wire::{Mac, MacPrefix};
use serde::Deserialize;

use crate::{invalid, ConfigError};

/// Where the assignments live without `mps.state_dir` or `moose.state_dir`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/moose";
/// The longest handle a device may use, in bytes.
pub const MAX_HANDLE: usize = 255;

/// `[mps]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMps {
    pub state_dir: Option<String>,
    /// The company id ELI pools live under unless a pool names its own.
    pub cid: Option<String>,
    /// The DHCPv6 (RFC 8947) server's socket; off without it.
    pub dhcp6_listen: Option<String>,
    /// Interfaces whose direct clients it hears (it joins ff02::1:2 there).
    #[serde(default)]
    pub dhcp6_interfaces: Vec<String>,
    /// etcd endpoints (`http://host:port`): the pools are coordinated
    /// there with other providers instead of the embedded store.
    #[serde(default)]
    pub etcd: Vec<String>,
    /// Addresses per block an etcd provider leases and allocates inside
    /// (0: no blocks, one transaction per address decides everything).
    pub etcd_block: Option<u64>,
    /// How long one etcd call may take before the request fails.
    pub etcd_timeout_ms: Option<u64>,
    /// The key prefix the providers of one enterprise share.
    pub etcd_prefix: Option<String>,
    #[serde(default)]
    pub pool: Vec<RawPool>,
}

/// Default `mps.etcd_block`.
pub const DEFAULT_ETCD_BLOCK: u64 = 256;
/// Default `mps.etcd_timeout_ms`.
pub const DEFAULT_ETCD_TIMEOUT_MS: u64 = 2000;
/// Default `mps.etcd_prefix`.
pub const DEFAULT_ETCD_PREFIX: &str = "/moose/mps";

/// The validated etcd coordination of `[mps]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Etcd {
    /// `http://host:port`, as written.
    pub endpoints: Vec<String>,
    /// Addresses per leased block; 0 = per-address transactions only.
    pub block: u64,
    pub timeout: Duration,
    /// Without a trailing '/'.
    pub prefix: String,
}

/// `[[mps.pool]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    pub name: String,
    pub prefix: Option<String>,
    pub first: Option<String>,
    pub last: Option<String>,
    #[serde(default = "default_policy")]
    pub policy: String,
    pub quadrant: Option<String>,
    pub cid: Option<String>,
    pub oui: Option<String>,
    #[serde(default)]
    pub quotas: BTreeMap<String, u64>,
    pub lifetime_secs: Option<u64>,
}

fn default_policy() -> String {
    "sequential".into()
}

/// How a pool picks an address for a handle that has none.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// The lowest free address after the last one handed out (wrapping).
    Sequential,
    /// A uniformly random free address (a taken one is drawn again).
    Random,
    /// `02:00:` and the four octets of the IPv4 address in the request.
    Ipv4,
    /// Sequential, in a block under a universally administered OUI.
    Oui,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Sequential => "sequential",
            Policy::Random => "random",
            Policy::Ipv4 => "ipv4",
            Policy::Oui => "oui",
        }
    }
}

/// The IEEE 802c quadrant a pool's addresses are in.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quadrant {
    /// Administratively Assigned Identifier (`x2`).
    Aai,
    /// Extended Local Identifier (`xa`), under a company id.
    Eli,
    /// Not local: a block under the enterprise's OUI (the `oui` policy).
    Universal,
}

impl Quadrant {
    pub fn as_str(self) -> &'static str {
        match self {
            Quadrant::Aai => "aai",
            Quadrant::Eli => "eli",
            Quadrant::Universal => "universal",
        }
    }

    /// The quadrant of an address; `Err` names SAI and Reserved, which are
    /// never handed out, and multicast.
    pub fn of(mac: Mac) -> Result<Quadrant, &'static str> {
        let o = mac.0[0];
        if o & 0x01 != 0 {
            return Err("a multicast address");
        }
        if o & 0x02 == 0 {
            return Ok(Quadrant::Universal);
        }
        match o & 0x0f {
            0x2 => Ok(Quadrant::Aai),
            0xa => Ok(Quadrant::Eli),
            0xe => Err("in the SAI quadrant (IEEE 802c), which is not assigned by a provider"),
            _ => Err("in the Reserved SLAP quadrant (IEEE 802c)"),
        }
    }
}

/// A validated pool: the addresses `first..=last` (as 48-bit integers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    pub first: u64,
    pub last: u64,
    pub policy: Policy,
    pub quadrant: Quadrant,
    /// Handle prefix → most addresses of this pool its handles may hold.
    pub quotas: BTreeMap<String, u64>,
    /// The valid lifetime DHCPv6 answers with; `None`: infinite.
    pub lifetime: Option<Duration>,
}

impl Pool {
    pub fn size(&self) -> u64 {
        self.last - self.first + 1
    }

    pub fn contains(&self, mac: u64) -> bool {
        (self.first..=self.last).contains(&mac)
    }
}

/// The validated `[mps]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mps {
    pub state_dir: PathBuf,
    pub dhcp6_listen: Option<SocketAddr>,
    pub dhcp6_interfaces: Vec<String>,
    pub pools: Vec<Pool>,
    /// `Some`: the assignments live in etcd, shared with other providers.
    pub etcd: Option<Etcd>,
}

fn validate_etcd(raw: &RawMps) -> Result<Option<Etcd>, ConfigError> {
    if raw.etcd.is_empty() {
        for (k, set) in [
            ("mps.etcd_block", raw.etcd_block.is_some()),
            ("mps.etcd_timeout_ms", raw.etcd_timeout_ms.is_some()),
            ("mps.etcd_prefix", raw.etcd_prefix.is_some()),
        ] {
            if set {
                return Err(invalid(k, "needs mps.etcd (the endpoints)"));
            }
        }
        return Ok(None);
    }
    for (i, e) in raw.etcd.iter().enumerate() {
        let key = format!("mps.etcd[{i}]");
        let Some(rest) = e.strip_prefix("http://") else {
            let why = if e.starts_with("https://") {
                "https is not supported (this build has no TLS client); use http:// on a trusted network"
            } else {
                "is not an http://host:port endpoint"
            };
            return Err(invalid(key, format!("{e:?} {why}")));
        };
        let hostport = rest.trim_end_matches('/');
        let ok = hostport
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !ok || hostport.contains('/') {
            return Err(invalid(
                key,
                format!(
                    "{e:?} is not an http://host:port endpoint (e.g. \"http://127.0.0.1:2379\")"
                ),
            ));
        }
        if raw.etcd[..i].contains(e) {
            return Err(invalid(key, format!("{e:?} is listed twice")));
        }
    }
    let block = raw.etcd_block.unwrap_or(DEFAULT_ETCD_BLOCK);
    if block == 1 || block > 1 << 20 {
        return Err(invalid(
            "mps.etcd_block",
            format!("{block}: 0 (no blocks) or 2 to 1048576 addresses"),
        ));
    }
    let ms = raw.etcd_timeout_ms.unwrap_or(DEFAULT_ETCD_TIMEOUT_MS);
    if !(100..=60_000).contains(&ms) {
        return Err(invalid(
            "mps.etcd_timeout_ms",
            format!("{ms}: 100 to 60000 milliseconds"),
        ));
    }
    let prefix = raw
        .etcd_prefix
        .clone()
        .unwrap_or_else(|| DEFAULT_ETCD_PREFIX.to_string());
    let prefix = prefix.trim_end_matches('/').to_string();
    if !prefix.starts_with('/') || prefix.len() < 2 || prefix.chars().any(|c| c.is_control()) {
        return Err(invalid(
            "mps.etcd_prefix",
            format!("{prefix:?}: a key prefix such as \"/moose/mps\""),
        ));
    }
    Ok(Some(Etcd {
        endpoints: raw.etcd.clone(),
        block,
        timeout: Duration::from_millis(ms),
        prefix,
    }))
}

fn mac(key: &str, s: &str) -> Result<Mac, ConfigError> {
    s.parse()
        .map_err(|e| invalid(key, format!("{s:?} is not a MAC address: {e}")))
}

/// A 24-bit identifier written `aa:bb:cc`.
fn id24(key: &str, s: &str) -> Result<[u8; 3], ConfigError> {
    let m: Mac = format!("{s}:00:00:00")
        .parse()
        .map_err(|_| invalid(key, format!("{s:?} is not a 24-bit id written aa:bb:cc")))?;
    Ok([m.0[0], m.0[1], m.0[2]])
}

fn block(id: [u8; 3]) -> (u64, u64) {
    let base = Mac([id[0], id[1], id[2], 0, 0, 0]).to_u64();
    (base, base | 0xff_ffff)
}

/// Ranges that no pool may overlap: (what, first, last).
pub type Taken = Vec<(String, u64, u64)>;

pub(crate) fn validate(
    raw: Option<RawMps>,
    moose_state_dir: Option<&PathBuf>,
    taken: &Taken,
) -> Result<Option<Mps>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let etcd = validate_etcd(&raw)?;
    let state_dir = match raw.state_dir {
        Some(d) if d.is_empty() => return Err(invalid("mps.state_dir", "is empty")),
        Some(d) => PathBuf::from(d),
        None => moose_state_dir
            .cloned()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
    };
    let cid = raw.cid.as_deref().map(|c| id24("mps.cid", c)).transpose()?;
    if let Some(c) = cid {
        if c[0] & 0x0f != 0x0a {
            return Err(invalid(
                "mps.cid",
                "a company id has the ELI bits (its first octet is x a: x1010)",
            ));
        }
    }
    let dhcp6_listen = raw
        .dhcp6_listen
        .as_deref()
        .map(|s| {
            s.parse::<SocketAddr>().map_err(|e| {
                invalid(
                    "mps.dhcp6_listen",
                    format!("{s:?}: {e} (e.g. \"[::]:547\")"),
                )
            })
        })
        .transpose()?;
    if dhcp6_listen.is_some_and(|a| !a.is_ipv6()) {
        return Err(invalid(
            "mps.dhcp6_listen",
            "DHCPv6 listens on an IPv6 address",
        ));
    }
    if dhcp6_listen.is_none() && !raw.dhcp6_interfaces.is_empty() {
        return Err(invalid(
            "mps.dhcp6_interfaces",
            "needs mps.dhcp6_listen (the server's socket)",
        ));
    }
    for (i, n) in raw.dhcp6_interfaces.iter().enumerate() {
        if n.is_empty() || n.len() > 15 {
            return Err(invalid(
                format!("mps.dhcp6_interfaces[{i}]"),
                format!("{n:?} is not an interface name (1 to 15 bytes)"),
            ));
        }
    }
    if raw.pool.is_empty() {
        return Err(invalid("mps.pool", "[mps] needs at least one [[mps.pool]]"));
    }
    let mut pools: Vec<Pool> = Vec::new();
    for (i, p) in raw.pool.into_iter().enumerate() {
        let key = |k: &str| format!("mps.pool[{i}].{k}");
        let pool = validate_pool(p, cid, &key)?;
        if let Some(o) = pools.iter().find(|o| o.name == pool.name) {
            return Err(invalid(key("name"), format!("{:?} is used twice", o.name)));
        }
        let range = |a: u64, b: u64| format!("{}-{}", Mac::from_u64(a), Mac::from_u64(b));
        for o in &pools {
            if pool.first <= o.last && o.first <= pool.last {
                return Err(invalid(
                    key("prefix"),
                    format!(
                        "{} overlaps pool {:?} ({})",
                        range(pool.first, pool.last),
                        o.name,
                        range(o.first, o.last)
                    ),
                ));
            }
        }
        for (what, a, b) in taken {
            if pool.first <= *b && *a <= pool.last {
                return Err(invalid(
                    key("prefix"),
                    format!(
                        "{} overlaps {what} ({}): addresses handed out must never be MOOSE addresses",
                        range(pool.first, pool.last),
                        range(*a, *b)
                    ),
                ));
            }
        }
        pools.push(pool);
    }
    Ok(Some(Mps {
        state_dir,
        dhcp6_listen,
        dhcp6_interfaces: raw.dhcp6_interfaces,
        pools,
        etcd,
    }))
}

fn validate_pool(
    p: RawPool,
    cid: Option<[u8; 3]>,
    key: &dyn Fn(&str) -> String,
) -> Result<Pool, ConfigError> {
    let ok_name = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    if p.name.is_empty() || p.name.len() > 64 || !p.name.chars().all(ok_name) {
        return Err(invalid(
            key("name"),
            format!(
                "{:?} is not 1 to 64 letters, digits, '-', '_' or '.'",
                p.name
            ),
        ));
    }
    let policy = match p.policy.as_str() {
        "sequential" => Policy::Sequential,
        "random" => Policy::Random,
        "ipv4" => Policy::Ipv4,
        "oui" => Policy::Oui,
        other => {
            return Err(invalid(
                key("policy"),
                format!("{other:?} is not sequential, random, ipv4 or oui"),
            ))
        }
    };
    let wanted = match (p.quadrant.as_deref(), policy) {
        (Some(q), Policy::Oui) => {
            return Err(invalid(
                key("quadrant"),
                format!("{q:?}: an oui pool is universally administered (under its oui), not in a SLAP quadrant"),
            ))
        }
        (_, Policy::Oui) => Quadrant::Universal,
        (None | Some("aai"), _) => Quadrant::Aai,
        (Some("eli"), Policy::Ipv4) => {
            return Err(invalid(
                key("quadrant"),
                "an ipv4 pool's addresses are 02:00:a:b:c:d, in the AAI quadrant",
            ))
        }
        (Some("eli"), _) => Quadrant::Eli,
        (Some(q @ ("sai" | "reserved")), _) => {
            return Err(invalid(
                key("quadrant"),
                format!("{q:?}: SAI and Reserved addresses are never handed out (RFC 8948)"),
            ))
        }
        (Some(q), _) => {
            return Err(invalid(
                key("quadrant"),
                format!("{q:?} is not aai or eli"),
            ))
        }
    };
    // The block the pool must lie in, if its quadrant implies one.
    let outer: Option<(u64, u64, String)> = match wanted {
        Quadrant::Universal => {
            let s = p
                .oui
                .as_deref()
                .ok_or_else(|| invalid(key("oui"), "an oui pool needs its oui (aa:bb:cc)"))?;
            let o = id24(&key("oui"), s)?;
            if o[0] & 0x03 != 0 {
                return Err(invalid(
                    key("oui"),
                    format!("{s:?} is not a universally administered unicast OUI"),
                ));
            }
            let (a, b) = block(o);
            Some((a, b, format!("oui {s}")))
        }
        Quadrant::Eli => {
            let c = match p.cid.as_deref() {
                Some(s) => {
                    let c = id24(&key("cid"), s)?;
                    if c[0] & 0x0f != 0x0a {
                        return Err(invalid(
                            key("cid"),
                            "a company id has the ELI bits (its first octet is xa)",
                        ));
                    }
                    c
                }
                None => cid.ok_or_else(|| {
                    invalid(
                        key("quadrant"),
                        "an ELI pool lives under a company id: set cid here or mps.cid",
                    )
                })?,
            };
            let (a, b) = block(c);
            Some((a, b, format!("company id {}", Mac::from_u64(a))))
        }
        Quadrant::Aai if policy == Policy::Ipv4 => Some((
            Mac([2, 0, 0, 0, 0, 0]).to_u64(),
            Mac([2, 0, 0xff, 0xff, 0xff, 0xff]).to_u64(),
            "02:00:00:00:00:00/16 (the ipv4 policy's addresses)".into(),
        )),
        Quadrant::Aai => None,
    };
    if p.oui.is_some() && wanted != Quadrant::Universal {
        return Err(invalid(key("oui"), "only an oui pool has an oui"));
    }
    if p.cid.is_some() && wanted != Quadrant::Eli {
        return Err(invalid(key("cid"), "only an ELI pool has a company id"));
    }
    let (first, last) = match (&p.prefix, &p.first, &p.last) {
        (Some(s), None, None) => {
            let pre: MacPrefix = s.parse().map_err(|e: moose_wire::AddrError| {
                invalid(key("prefix"), format!("{s:?}: {e}"))
            })?;
            if pre.len() < 8 {
                return Err(invalid(
                    key("prefix"),
                    format!(
                        "/{} is shorter than /8 (a pool stays in one quadrant)",
                        pre.len()
                    ),
                ));
            }
            let a = pre.addr().to_u64();
            (a, a | ((1u64 << (48 - u32::from(pre.len()))) - 1))
        }
        (None, Some(f), Some(l)) => {
            let f = mac(&key("first"), f)?.to_u64();
            let l = mac(&key("last"), l)?.to_u64();
            if l < f {
                return Err(invalid(key("last"), "is below first"));
            }
            (f, l)
        }
        (None, None, None) => match &outer {
            Some((a, b, _)) if policy != Policy::Ipv4 => (*a, *b),
            _ => {
                return Err(invalid(
                    key("prefix"),
                    "a pool needs prefix, or first and last",
                ))
            }
        },
        (Some(_), _, _) => {
            return Err(invalid(
                key("prefix"),
                "give prefix, or first and last, not both",
            ))
        }
        _ => return Err(invalid(key("first"), "first and last go together")),
    };
    if (first >> 40) != (last >> 40) {
        return Err(invalid(
            key("last"),
            "a pool's addresses share their first octet (one quadrant)",
        ));
    }
    let q = Quadrant::of(Mac::from_u64(first))
        .map_err(|why| invalid(key("prefix"), format!("{} is {why}", Mac::from_u64(first))))?;
    if q != wanted {
        return Err(invalid(
            key("prefix"),
            format!(
                "{} is in the {} quadrant, the pool in {}",
                Mac::from_u64(first),
                q.as_str(),
                wanted.as_str()
            ),
        ));
    }
    if let Some((a, b, what)) = &outer {
        if first < *a || last > *b {
            return Err(invalid(key("prefix"), format!("is not inside {what}")));
        }
    }
    for (h, n) in &p.quotas {
        if h.is_empty() || h.len() > MAX_HANDLE {
            return Err(invalid(
                key("quotas"),
                format!("{h:?}: a handle prefix is 1 to {MAX_HANDLE} bytes"),
            ));
        }
        if *n == 0 {
            return Err(invalid(
                key("quotas"),
                format!("{h:?} = 0: a quota is at least 1"),
            ));
        }
    }
    let lifetime = match p.lifetime_secs {
        None => None,
        Some(s) if (1..u64::from(u32::MAX)).contains(&s) => Some(Duration::from_secs(s)),
        Some(s) => {
            return Err(invalid(
                key("lifetime_secs"),
                format!("{s} is not in 1..4294967295 (leave it out for infinite)"),
            ))
        }
    };
    Ok(Pool {
        name: p.name,
        first,
        last,
        policy,
        quadrant: wanted,
        quotas: p.quotas,
        lifetime,
    })
}

#[cfg(test)]
mod tests {
    use crate::Config;

    const BASE: &str = "[switch]\nname = \"s1\"\n[[port]]\nname = \"p0\"\ndevice = \"net_null0\"\n\
        [moose]\nprefix = \"02:11:11:00:00:00/24\"\n";

    fn load(extra: &str) -> Result<Config, String> {
        Config::from_toml(&format!("{BASE}{extra}")).map_err(|e| e.to_string())
    }

    #[test]
    fn pools_of_every_policy() {
        let c = load(
            "[mps]\nstate_dir = \"/tmp/x\"\ncid = \"0a:12:34\"\n\
             [[mps.pool]]\nname = \"vms\"\nprefix = \"02:42:00:00:00:00/24\"\nquotas = { \"tenant-a/\" = 3 }\n\
             [[mps.pool]]\nname = \"r\"\nfirst = \"02:43:00:00:00:00\"\nlast = \"02:43:00:00:00:ff\"\npolicy = \"random\"\n\
             [[mps.pool]]\nname = \"v4\"\nprefix = \"02:00:0a:00:00:00/24\"\npolicy = \"ipv4\"\n\
             [[mps.pool]]\nname = \"eli\"\nquadrant = \"eli\"\nprefix = \"0a:12:34:00:00:00/32\"\nlifetime_secs = 3600\n\
             [[mps.pool]]\nname = \"corp\"\npolicy = \"oui\"\noui = \"00:1b:21\"\n",
        )
        .unwrap();
        let m = c.mps.unwrap();
        assert_eq!(m.pools.len(), 5);
        assert_eq!(m.pools[0].size(), 1 << 24);
        assert_eq!(m.pools[1].size(), 256);
        assert_eq!(m.pools[3].size(), 1 << 16);
        assert_eq!(m.pools[4].first, 0x001b_2100_0000);
        assert_eq!(m.pools[4].last, 0x001b_21ff_ffff);
        assert_eq!(m.pools[0].quotas["tenant-a/"], 3);
    }

    #[test]
    fn etcd_keys() {
        let pool = "[[mps.pool]]\nname = \"vms\"\nprefix = \"02:42:00:00:00:00/24\"\n";
        let c = load(&format!(
            "[mps]\netcd = [\"http://127.0.0.1:2379\", \"http://10.0.0.2:2379/\"]\n{pool}"
        ))
        .unwrap();
        let e = c.mps.unwrap().etcd.unwrap();
        assert_eq!(e.block, super::DEFAULT_ETCD_BLOCK);
        assert_eq!(e.prefix, "/moose/mps");
        assert_eq!(e.timeout.as_millis(), 2000);
        let c = load(&format!(
            "[mps]\netcd = [\"http://e1:2379\"]\netcd_block = 0\netcd_timeout_ms = 500\netcd_prefix = \"/corp/macs/\"\n{pool}"
        ))
        .unwrap();
        let e = c.mps.unwrap().etcd.unwrap();
        assert_eq!((e.block, e.prefix.as_str()), (0, "/corp/macs"));
        assert!(load(&format!("[mps]\n{pool}"))
            .unwrap()
            .mps
            .unwrap()
            .etcd
            .is_none());
        let cases = [
            (
                "etcd = [\"https://e:2379\"]",
                "mps.etcd[0]",
                "https is not supported",
            ),
            ("etcd = [\"e:2379\"]", "mps.etcd[0]", "http://host:port"),
            ("etcd = [\"http://e\"]", "mps.etcd[0]", "http://host:port"),
            ("etcd = [\"http://e:0\"]", "mps.etcd[0]", "http://host:port"),
            (
                "etcd = [\"http://e:1/x\"]",
                "mps.etcd[0]",
                "http://host:port",
            ),
            (
                "etcd = [\"http://e:1\", \"http://e:1\"]",
                "mps.etcd[1]",
                "twice",
            ),
            (
                "etcd = [\"http://e:1\"]\netcd_block = 1",
                "mps.etcd_block",
                "0 (no blocks)",
            ),
            (
                "etcd = [\"http://e:1\"]\netcd_block = 2000000",
                "mps.etcd_block",
                "1048576",
            ),
            (
                "etcd = [\"http://e:1\"]\netcd_timeout_ms = 50",
                "mps.etcd_timeout_ms",
                "100 to 60000",
            ),
            (
                "etcd = [\"http://e:1\"]\netcd_prefix = \"moose\"",
                "mps.etcd_prefix",
                "key prefix",
            ),
            ("etcd_block = 64", "mps.etcd_block", "needs mps.etcd"),
            ("etcd_prefix = \"/x\"", "mps.etcd_prefix", "needs mps.etcd"),
        ];
        for (body, key, why) in cases {
            let e = load(&format!("[mps]\n{body}\n{pool}")).unwrap_err();
            assert!(e.contains(key) && e.contains(why), "{body}: {e}");
        }
    }

    #[test]
    fn bad_pools_name_the_key() {
        let cases = [
            (
                "prefix = \"02:11:11:00:00:00/28\"",
                "mps.pool[0].prefix",
                "moose.prefix",
            ),
            (
                "prefix = \"0e:00:00:00:00:00/24\"",
                "mps.pool[0].prefix",
                "SAI",
            ),
            (
                "prefix = \"06:00:00:00:00:00/24\"",
                "mps.pool[0].prefix",
                "Reserved",
            ),
            (
                "prefix = \"03:00:00:00:00:00/24\"",
                "mps.pool[0].prefix",
                "multicast",
            ),
            (
                "prefix = \"00:1b:21:00:00:00/24\"",
                "mps.pool[0].prefix",
                "universal",
            ),
            (
                "prefix = \"00:00:00:00:00:00/4\"",
                "mps.pool[0].prefix",
                "/8",
            ),
            (
                "prefix = \"02:42:00:00:00:00/24\"\npolicy = \"lru\"",
                "mps.pool[0].policy",
                "lru",
            ),
            (
                "prefix = \"02:42:00:00:00:00/24\"\nquadrant = \"sai\"",
                "mps.pool[0].quadrant",
                "never",
            ),
            (
                "prefix = \"0a:00:00:00:00:00/24\"\nquadrant = \"eli\"",
                "mps.pool[0].quadrant",
                "company id",
            ),
            (
                "prefix = \"02:42:00:00:00:00/24\"\npolicy = \"ipv4\"",
                "mps.pool[0].prefix",
                "02:00",
            ),
            ("policy = \"oui\"", "mps.pool[0].oui", "needs"),
            (
                "policy = \"oui\"\noui = \"02:1b:21\"",
                "mps.pool[0].oui",
                "universally",
            ),
            (
                "first = \"02:42:00:00:00:09\"\nlast = \"02:42:00:00:00:01\"",
                "mps.pool[0].last",
                "below",
            ),
            (
                "first = \"02:42:00:00:00:09\"\nlast = \"04:42:00:00:00:01\"",
                "mps.pool[0].last",
                "first octet",
            ),
            (
                "prefix = \"02:42:00:00:00:00/24\"\nquotas = { \"t/\" = 0 }",
                "mps.pool[0].quotas",
                "at least 1",
            ),
            (
                "prefix = \"02:42:00:00:00:00/24\"\nlifetime_secs = 0",
                "mps.pool[0].lifetime_secs",
                "infinite",
            ),
            ("", "mps.pool[0].prefix", "needs prefix"),
        ];
        for (body, key, why) in cases {
            let e = load(&format!("[mps]\n[[mps.pool]]\nname = \"p\"\n{body}\n")).unwrap_err();
            assert!(e.starts_with(key) && e.contains(why), "{body}: {e}");
        }
        let e = load(
            "[mps]\n[[mps.pool]]\nname = \"a\"\nprefix = \"02:42:00:00:00:00/24\"\n\
             [[mps.pool]]\nname = \"b\"\nprefix = \"02:42:00:10:00:00/28\"\n",
        )
        .unwrap_err();
        assert!(
            e.starts_with("mps.pool[1].prefix") && e.contains("overlaps pool \"a\""),
            "{e}"
        );
        let e = load("[mps]\n[[mps.pool]]\nname = \"a\"\nprefix = \"02:ff:ff:00:00:00/24\"\n")
            .unwrap_err();
        assert!(e.contains("directory address"), "{e}");
        let e = load("[mps]\n").unwrap_err();
        assert!(e.starts_with("mps.pool"), "{e}");
        let e = load("[mps]\ndhcp6_listen = \"0.0.0.0:547\"\n[[mps.pool]]\nname = \"a\"\nprefix = \"02:42:00:00:00:00/24\"\n").unwrap_err();
        assert!(e.starts_with("mps.dhcp6_listen"), "{e}");
    }

    #[test]
    fn state_dir_defaults_to_the_hosts_one() {
        let c = Config::from_toml(&format!(
            "{}state_dir = \"/tmp/h\"\n[mps]\n[[mps.pool]]\nname = \"a\"\nprefix = \"02:42:00:00:00:00/24\"\n",
            BASE
        ))
        .unwrap();
        assert_eq!(c.mps.unwrap().state_dir, std::path::PathBuf::from("/tmp/h"));
    }
}
