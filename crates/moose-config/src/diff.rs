//! What a reload may change: the difference between the running
//! configuration and a new one, as Snabb applies configuration — passive
//! data compared field by field.
//!
//! [`Config::diff`] sorts every key into one of two kinds. *Live* keys are
//! state the control thread owns and publishes (static entries and routes,
//! limits and quotas, port VLANs, storm-control and punt rates, link
//! costs): each change is one line of [`Changes`], naming its key. Every
//! other key shapes what was built at start — ports and their devices,
//! threads and cores, the EAL, memory, the listener, the protocol's timers
//! and keys — and a change to one is a line of [`Refused`], naming the key.
//! One refused key refuses the whole reload: nothing is applied.
//!
//! Every struct is destructured without `..`, so a key added to the
//! configuration does not compile here until it is sorted into one kind or
//! the other.

use std::collections::BTreeMap;
use std::fmt;

use crate::{
    Bridge, Config, Dataplane, Elk, IdleMode, Moose, PortConfig, Routing, StaticFdb, Storm, VlanSet,
};

/// The live changes of a reload, one line per change, each naming its key
/// (`port[1].storm: none -> broadcast 1000/s`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes(pub Vec<String>);

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a reload is refused: one line per key that cannot change while
/// moose runs (`dataplane.workers cannot change while running (restart
/// moose)`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refused(pub Vec<String>);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl std::error::Error for Refused {}

/// Collects the lines of both kinds while the configs are compared.
#[derive(Default)]
struct Diff {
    live: Vec<String>,
    refused: Vec<String>,
}

impl Diff {
    fn refuse(&mut self, key: &str) {
        self.refused
            .push(format!("{key} cannot change while running (restart moose)"));
    }

    /// Refuses `key` if the values differ.
    fn fixed<T: PartialEq>(&mut self, key: &str, old: &T, new: &T) {
        if old != new {
            self.refuse(key);
        }
    }

    /// Notes `key`'s change if the values differ.
    fn live<T: PartialEq>(&mut self, key: &str, old: &T, new: &T, show: impl Fn(&T) -> String) {
        if old != new {
            self.live
                .push(format!("{key}: {} -> {}", show(old), show(new)));
        }
    }
}

impl Config {
    /// What changes from `self` (the running configuration) to `new`: the
    /// live changes, or every key that refuses the reload. See the module
    /// doc for which keys are live.
    pub fn diff(&self, new: &Config) -> Result<Changes, Refused> {
        let mut d = Diff::default();
        let Config {
            name,
            dataplane,
            bridge,
            ports,
            static_fdb,
            metrics,
            punt,
            moose,
            routes,
            routing,
            sticky_hosts,
            elk,
            dhcp,
            mps,
        } = new;
        d.fixed("switch.name", &self.name, name);
        diff_dataplane(&mut d, &self.dataplane, dataplane);
        diff_bridge(&mut d, &self.bridge, bridge);
        let same_ports = diff_ports(&mut d, &self.ports, ports);
        d.fixed("metrics.listen", &self.metrics, metrics);
        for ((class, old), (_, new)) in self.punt.iter().zip(punt.iter()) {
            let key = |k: &str| format!("punt.{class}.{k}");
            let show = |v: &u32| v.to_string();
            d.live(&key("rate_pps"), &old.rate_pps, &new.rate_pps, show);
            d.live(&key("burst"), &old.burst, &new.burst, show);
            d.live(
                &key("port_rate_pps"),
                &old.port_rate_pps,
                &new.port_rate_pps,
                show,
            );
            d.live(&key("port_burst"), &old.port_burst, &new.port_burst, show);
        }
        match (&self.moose, moose) {
            (Some(old), Some(new)) => diff_moose(&mut d, old, new),
            (None, None) => {}
            _ => d.refused.push(
                "moose: [moose] cannot be added or removed while running (restart moose)".into(),
            ),
        }
        diff_routing(&mut d, &self.routing, routing);
        diff_elk(&mut d, &self.elk, elk);
        diff_dhcp(&mut d, &self.dhcp, dhcp);
        diff_mps(&mut d, &self.mps, mps);
        // Entries name ports by index: compared only if the ports are the
        // same ones (otherwise the reload is refused already).
        if same_ports {
            let names = |p: usize| ports[p].name.clone();
            entries(&mut d, "static_fdb", &self.static_fdb, static_fdb, &names);
            entries(
                &mut d,
                "sticky_host",
                &self.sticky_hosts,
                sticky_hosts,
                &names,
            );
            let old: BTreeMap<_, _> = self.routes.iter().map(|r| (r.prefix, &r.ports)).collect();
            let new: BTreeMap<_, _> = routes.iter().map(|r| (r.prefix, &r.ports)).collect();
            let list =
                |ps: &Vec<usize>| ps.iter().map(|&p| names(p)).collect::<Vec<_>>().join(", ");
            for (prefix, ps) in &old {
                match new.get(prefix) {
                    None => d.live.push(format!("route: - {prefix} -> {}", list(ps))),
                    Some(n) if n != ps => {
                        d.live
                            .push(format!("route: {prefix} -> {} (was {})", list(n), list(ps)))
                    }
                    Some(_) => {}
                }
            }
            for (prefix, ps) in &new {
                if !old.contains_key(prefix) {
                    d.live.push(format!("route: + {prefix} -> {}", list(ps)));
                }
            }
        }
        if d.refused.is_empty() {
            Ok(Changes(d.live))
        } else {
            Err(Refused(d.refused))
        }
    }
}

fn diff_dataplane(d: &mut Diff, old: &Dataplane, new: &Dataplane) {
    let Dataplane {
        workers,
        cores,
        control_core,
        idle,
        eal,
        burst,
        max_frame,
        mbuf_size,
        mbufs,
        drain,
        punt_ring,
        flow_cache,
        multi_process,
    } = new;
    d.fixed("dataplane.workers", &old.workers, workers);
    d.fixed("dataplane.cores", &old.cores, cores);
    d.fixed("dataplane.control_core", &old.control_core, control_core);
    match (old.idle, *idle) {
        (
            IdleMode::Backoff {
                polls: p0,
                sleep: s0,
            },
            IdleMode::Backoff {
                polls: p1,
                sleep: s1,
            },
        ) => {
            d.fixed("dataplane.backoff_polls", &p0, &p1);
            d.fixed("dataplane.backoff_sleep_us", &s0, &s1);
        }
        (a, b) => d.fixed("dataplane.idle", &a, &b),
    }
    d.fixed("dataplane.eal", &old.eal, eal);
    d.fixed("dataplane.burst", &old.burst, burst);
    d.fixed("dataplane.max_frame", &old.max_frame, max_frame);
    d.fixed("dataplane.mbuf_size", &old.mbuf_size, mbuf_size);
    d.fixed("dataplane.mbufs", &old.mbufs, mbufs);
    d.fixed("dataplane.drain_us", &old.drain, drain);
    d.fixed("dataplane.punt_ring", &old.punt_ring, punt_ring);
    d.fixed("dataplane.flow_cache", &old.flow_cache, flow_cache);
    d.fixed("dataplane.multi_process", &old.multi_process, multi_process);
}

fn diff_bridge(d: &mut Diff, old: &Bridge, new: &Bridge) {
    let Bridge { aging, max_entries } = new;
    // The workers' refresh interval and flow-cache lifetime are derived
    // from the aging time when they are built.
    d.fixed("bridge.aging_secs", &old.aging, aging);
    d.live("bridge.max_entries", &old.max_entries, max_entries, |v| {
        v.to_string()
    });
}

fn show_limit(v: &Option<u32>) -> String {
    v.map_or("none".into(), |v| v.to_string())
}

/// `broadcast 1000/s multicast 5000/s`, or `none`.
pub fn show_storm(s: &Storm) -> String {
    let parts: Vec<String> = [
        ("broadcast", s.broadcast_pps),
        ("multicast", s.multicast_pps),
        ("unknown_unicast", s.unknown_unicast_pps),
    ]
    .iter()
    .filter_map(|(k, v)| v.map(|v| format!("{k} {v}/s")))
    .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(" ")
    }
}

fn show_vlans(v: &VlanSet) -> String {
    format!("{v:?}")
}

/// Whether the ports are the same ones (count, names, roles, devices):
/// only then can entries that name ports by index be compared.
fn diff_ports(d: &mut Diff, old: &[PortConfig], new: &[PortConfig]) -> bool {
    if old.len() != new.len() {
        d.refused.push(format!(
            "port: ports cannot be added or removed while running ({} -> {}; restart moose)",
            old.len(),
            new.len()
        ));
        return false;
    }
    let before = d.refused.len();
    for (i, (o, n)) in old.iter().zip(new).enumerate() {
        let PortConfig {
            name,
            role,
            device,
            identity: _, // what `device` resolves to
            pvid,
            vlans,
            learn_limit,
            rx_desc,
            tx_desc,
            promiscuous,
            host_pool,
            storm,
            cost,
            emulate_mac_slots,
        } = n;
        let key = |k: &str| format!("port[{i}].{k}");
        if o.name != *name {
            d.refused.push(format!(
                "port[{i}].name cannot change while running ({:?} -> {name:?}: ports cannot be renamed, added or removed; restart moose)",
                o.name
            ));
        }
        d.fixed(&key("role"), &o.role, role);
        d.fixed(&key("device"), &o.device, device);
        d.fixed(&key("rx_desc"), &o.rx_desc, rx_desc);
        d.fixed(&key("tx_desc"), &o.tx_desc, tx_desc);
        d.fixed(&key("promiscuous"), &o.promiscuous, promiscuous);
        d.fixed(&key("host_pool"), &o.host_pool, host_pool);
        d.fixed(
            &key("emulate_mac_slots"),
            &o.emulate_mac_slots,
            emulate_mac_slots,
        );
        d.live(&key("pvid"), &o.pvid, pvid, |v| v.to_string());
        d.live(&key("vlans"), &o.vlans, vlans, show_vlans);
        d.live(&key("learn_limit"), &o.learn_limit, learn_limit, show_limit);
        d.live(&key("storm"), &o.storm, storm, show_storm);
        d.live(&key("cost"), &o.cost, cost, |v| v.to_string());
    }
    d.refused.len() == before
}

fn diff_moose(d: &mut Diff, old: &Moose, new: &Moose) {
    let Moose {
        switch,
        host_ids,
        host_quota,
        max_hosts,
        host_idle,
        reuse_after,
        state_dir,
        home_hello,
        auto_prefix,
        move_hold,
        move_limit,
        move_window,
    } = new;
    // An automatic prefix is resolved (and maybe renumbered) at run time:
    // "auto" in both is the same prefix, whatever the running one is now.
    if old.auto_prefix != *auto_prefix || (!auto_prefix && old.switch != *switch) {
        d.refuse("moose.prefix");
    }
    d.fixed("moose.host_ids", &old.host_ids, host_ids);
    d.fixed("moose.state_dir", &old.state_dir, state_dir);
    d.fixed("moose.home_hello_ms", &old.home_hello, home_hello);
    d.fixed("moose.move_limit", &old.move_limit, move_limit);
    d.fixed("moose.move_window_secs", &old.move_window, move_window);
    let n = |v: &u32| v.to_string();
    let secs = |v: &std::time::Duration| format!("{} s", v.as_secs());
    d.live("moose.host_quota", &old.host_quota, host_quota, n);
    d.live("moose.max_hosts", &old.max_hosts, max_hosts, n);
    d.live("moose.host_idle_secs", &old.host_idle, host_idle, secs);
    d.live(
        "moose.reuse_after_secs",
        &old.reuse_after,
        reuse_after,
        secs,
    );
    d.live("moose.move_hold_secs", &old.move_hold, move_hold, secs);
}

fn diff_routing(d: &mut Diff, old: &Routing, new: &Routing) {
    let Routing {
        enabled,
        hello_interval,
        dead_interval,
        retransmit,
        spf_delay,
        refresh,
        max_age,
        switch_id,
        key,
        previous_key,
    } = new;
    d.fixed("routing.enabled", &old.enabled, enabled);
    d.fixed(
        "routing.hello_interval_ms",
        &old.hello_interval,
        hello_interval,
    );
    d.fixed(
        "routing.dead_interval_ms",
        &old.dead_interval,
        dead_interval,
    );
    d.fixed("routing.retransmit_ms", &old.retransmit, retransmit);
    d.fixed("routing.spf_delay_ms", &old.spf_delay, spf_delay);
    d.fixed("routing.refresh_secs", &old.refresh, refresh);
    d.fixed("routing.max_age_secs", &old.max_age, max_age);
    d.fixed("routing.switch_id", &old.switch_id, switch_id);
    d.fixed("routing.key", &old.key, key);
    d.fixed("routing.previous_key", &old.previous_key, previous_key);
}

/// `[elk]`: whether it runs, on which VLANs, whether this switch is a
/// directory and the directory's address shape the port table and the
/// link-state advertisement at start; the service's bounds, times,
/// inspection and static bindings change live.
fn diff_elk(d: &mut Diff, old: &Elk, new: &Elk) {
    let Elk {
        enabled,
        vlans,
        directory,
        directory_address,
        cache_entries,
        cache_ttl,
        binding_ttl,
        query_timeout,
        inspect,
        bindings,
    } = new;
    d.fixed("elk.enabled", &old.enabled, enabled);
    d.fixed("elk.vlans", &old.vlans, vlans);
    d.fixed("elk.directory", &old.directory, directory);
    d.fixed(
        "elk.directory_address",
        &old.directory_address,
        directory_address,
    );
    let secs = |v: &std::time::Duration| format!("{} s", v.as_secs());
    d.live(
        "elk.cache_entries",
        &old.cache_entries,
        cache_entries,
        |v| v.to_string(),
    );
    d.live("elk.cache_ttl_secs", &old.cache_ttl, cache_ttl, secs);
    d.live("elk.binding_ttl_secs", &old.binding_ttl, binding_ttl, secs);
    d.live(
        "elk.query_timeout_ms",
        &old.query_timeout,
        query_timeout,
        |v| format!("{} ms", v.as_millis()),
    );
    d.live("elk.inspect", &old.inspect, inspect, |v| v.to_string());
    let key = |b: &crate::StaticBinding| (b.vlan.get(), b.ip);
    for b in new.bindings.iter() {
        match old.bindings.iter().find(|o| key(o) == key(b)) {
            None => d.live.push(format!(
                "elk.binding: added {} on VLAN {} -> {}",
                b.ip,
                b.vlan.get(),
                b.mac
            )),
            Some(o) if o.mac != b.mac => d.live.push(format!(
                "elk.binding: {} on VLAN {}: {} -> {}",
                b.ip,
                b.vlan.get(),
                o.mac,
                b.mac
            )),
            Some(_) => {}
        }
    }
    for o in old.bindings.iter() {
        if !bindings.iter().any(|b| key(b) == key(o)) {
            d.live.push(format!(
                "elk.binding: removed {} on VLAN {}",
                o.ip,
                o.vlan.get()
            ));
        }
    }
}

/// `[[dhcp.pool]]`, by VLAN: each pool added, removed or changed is live
/// (the server keeps its leases; one outside a pool's new range is not
/// renewed).
fn diff_dhcp(d: &mut Diff, old: &[crate::DhcpPool], new: &[crate::DhcpPool]) {
    let show = |p: &crate::DhcpPool| format!("{} {}-{}", p.subnet, p.first, p.last);
    for p in new {
        match old.iter().find(|o| o.vlan == p.vlan) {
            None => d.live.push(format!(
                "dhcp.pool: VLAN {} added: {}",
                p.vlan.get(),
                show(p)
            )),
            Some(o) if o != p => d.live.push(format!(
                "dhcp.pool: VLAN {} changed: {} (was {})",
                p.vlan.get(),
                show(p),
                show(o)
            )),
            Some(_) => {}
        }
    }
    for o in old {
        if !new.iter().any(|p| p.vlan == o.vlan) {
            d.live
                .push(format!("dhcp.pool: VLAN {} removed", o.vlan.get()));
        }
    }
}

/// `[mps]`: pools are live (added, removed, re-ranged, quotas and
/// lifetimes changed; every assignment is kept, one outside every pool
/// still owned by its handle); the store and the DHCPv6 socket are fixed.
fn diff_mps(d: &mut Diff, old: &Option<crate::mps::Mps>, new: &Option<crate::mps::Mps>) {
    let (old, new) = match (old, new) {
        (None, None) => return,
        (Some(o), Some(n)) => (o, n),
        _ => {
            d.refused
                .push("mps: [mps] cannot be added or removed while running (restart moose)".into());
            return;
        }
    };
    let crate::mps::Mps {
        state_dir,
        dhcp6_listen,
        dhcp6_interfaces,
        pools,
        etcd,
    } = new;
    d.fixed("mps.state_dir", &old.state_dir, state_dir);
    d.fixed("mps.etcd", &old.etcd, etcd);
    d.fixed("mps.dhcp6_listen", &old.dhcp6_listen, dhcp6_listen);
    d.fixed(
        "mps.dhcp6_interfaces",
        &old.dhcp6_interfaces,
        dhcp6_interfaces,
    );
    let show = |p: &crate::mps::Pool| {
        format!(
            "{} {}-{}",
            p.policy.as_str(),
            moose_wire::Mac::from_u64(p.first),
            moose_wire::Mac::from_u64(p.last)
        )
    };
    for p in pools {
        match old.pools.iter().find(|o| o.name == p.name) {
            None => d
                .live
                .push(format!("mps.pool: {:?} added: {}", p.name, show(p))),
            Some(o) if o != p => d.live.push(format!(
                "mps.pool: {:?} changed: {} (was {})",
                p.name,
                show(p),
                show(o)
            )),
            Some(_) => {}
        }
    }
    for o in &old.pools {
        if !pools.iter().any(|p| p.name == o.name) {
            d.live.push(format!("mps.pool: {:?} removed", o.name));
        }
    }
}

/// `[[static_fdb]]` or `[[sticky_host]]`: entries removed, added or moved
/// to another port, by (VLAN, MAC).
fn entries(
    d: &mut Diff,
    table: &str,
    old: &[StaticFdb],
    new: &[StaticFdb],
    name: &dyn Fn(usize) -> String,
) {
    let map = |v: &[StaticFdb]| -> BTreeMap<_, _> {
        v.iter().map(|s| ((s.vlan, s.mac), s.port)).collect()
    };
    let (old, new) = (map(old), map(new));
    for (&(vlan, mac), &p) in &old {
        match new.get(&(vlan, mac)) {
            None => d
                .live
                .push(format!("{table}: - {mac} vlan {vlan} on {}", name(p))),
            Some(&q) if q != p => d.live.push(format!(
                "{table}: {mac} vlan {vlan} on {} (was {})",
                name(q),
                name(p)
            )),
            Some(_) => {}
        }
    }
    for (&(vlan, mac), &p) in &new {
        if !old.contains_key(&(vlan, mac)) {
            d.live
                .push(format!("{table}: + {mac} vlan {vlan} on {}", name(p)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two legacy ports and one more, with every live key at a
    /// non-default value.
    fn base(extra: &str) -> String {
        format!(
            "[switch]\nname = \"s\"\n[dataplane]\nworkers = 1\n[bridge]\nmax_entries = 1000\n\
             [[port]]\nname = \"p0\"\ndevice = \"net_null0\"\n\
             [[port]]\nname = \"p1\"\ndevice = \"net_null1\"\npvid = 10\nvlans = [10, 20]\n\
             [[port]]\nname = \"p2\"\ndevice = \"net_null2\"\nlearn_limit = 5\n\
             [[static_fdb]]\nmac = \"02:00:00:00:00:01\"\nport = \"p0\"\n{extra}"
        )
    }

    fn cfg(text: &str) -> Config {
        Config::from_toml(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn diff(a: &str, b: &str) -> Result<Changes, Refused> {
        cfg(a).diff(&cfg(b))
    }

    #[test]
    fn the_same_config_changes_nothing() {
        let c = base("");
        assert_eq!(diff(&c, &c), Ok(Changes::default()));
    }

    #[test]
    fn live_keys_are_listed_by_key() {
        let old = base("");
        let new = old
            .replace("max_entries = 1000", "max_entries = 2000")
            .replace("vlans = [10, 20]", "vlans = [10, 30]")
            .replace("learn_limit = 5", "learn_limit = 6\nstorm = { broadcast_pps = 100 }")
            .replace(
                "mac = \"02:00:00:00:00:01\"\nport = \"p0\"",
                "mac = \"02:00:00:00:00:01\"\nport = \"p2\"\n[[static_fdb]]\nmac = \"02:00:00:00:00:02\"\nvlan = 10\nport = \"p1\"",
            )
            + "[punt.learn]\nrate_pps = 1000\n";
        let c = diff(&old, &new).unwrap();
        assert_eq!(
            c.0,
            vec![
                "bridge.max_entries: 1000 -> 2000",
                "port[1].vlans: [10, 20] -> [10, 30]",
                "port[2].learn_limit: 5 -> 6",
                "port[2].storm: none -> broadcast 100/s",
                "punt.learn.rate_pps: 500000 -> 1000",
                "punt.learn.port_rate_pps: 100000 -> 1000",
                "static_fdb: 02:00:00:00:00:01 vlan 1 on p2 (was p0)",
                "static_fdb: + 02:00:00:00:00:02 vlan 10 on p1",
            ]
        );
        // Back again: the reverse lines.
        let back = diff(&new, &old).unwrap();
        assert!(back
            .0
            .contains(&"static_fdb: - 02:00:00:00:00:02 vlan 10 on p1".to_string()));
        assert!(back
            .0
            .contains(&"port[2].storm: broadcast 100/s -> none".to_string()));
    }

    #[test]
    fn fixed_keys_refuse_naming_each() {
        let old = base("[metrics]\nlisten = \"127.0.0.1:9477\"\n");
        let new = old
            .replace("workers = 1", "workers = 2")
            .replace("127.0.0.1:9477", "127.0.0.1:9478")
            .replace("net_null2", "net_null3");
        let r = diff(&old, &new).unwrap_err();
        assert_eq!(
            r.0,
            vec![
                "dataplane.workers cannot change while running (restart moose)",
                "port[2].device cannot change while running (restart moose)",
                "metrics.listen cannot change while running (restart moose)",
            ]
        );
        assert!(r.to_string().contains("; "), "{r}");
    }

    #[test]
    fn a_refused_key_refuses_the_whole_reload() {
        let old = base("");
        let new = old.replace("max_entries = 1000", "max_entries = 2000\naging_secs = 60");
        let r = diff(&old, &new).unwrap_err();
        assert_eq!(
            r.0,
            vec!["bridge.aging_secs cannot change while running (restart moose)"],
            "the live change is not reported as applied"
        );
    }

    #[test]
    fn ports_cannot_be_added_removed_or_renamed() {
        let old = base("");
        let added = old.clone() + "[[port]]\nname = \"p3\"\ndevice = \"net_null3\"\n";
        let r = diff(&old, &added).unwrap_err();
        assert_eq!(r.0.len(), 1);
        assert!(
            r.0[0].starts_with("port: ports cannot be added or removed"),
            "{r}"
        );
        let r = diff(&added, &old).unwrap_err();
        assert!(r.0[0].contains("(4 -> 3;"), "{r}");
        let renamed = old.replace("name = \"p2\"", "name = \"q2\"");
        let r = diff(&old, &renamed).unwrap_err();
        assert_eq!(r.0.len(), 1, "{r}");
        assert!(r.0[0].starts_with("port[2].name cannot change"), "{r}");
        let role = "[moose]\nprefix = \"02:11:11:00:00:00/24\"\n";
        let r = diff(
            &base(role),
            &base(role).replace("name = \"p2\"", "name = \"p2\"\nrole = \"edge\""),
        )
        .unwrap_err();
        assert_eq!(
            r.0,
            vec![
                "port[2].role cannot change while running (restart moose)",
                // An edge port turns the directory on by default.
                "elk.enabled cannot change while running (restart moose)",
            ]
        );
    }

    #[test]
    fn idle_mode_keys_are_named() {
        let a = base("").replace("workers = 1", "workers = 1\nidle = \"backoff\"");
        let b = a.replace(
            "idle = \"backoff\"",
            "idle = \"backoff\"\nbackoff_polls = 8",
        );
        assert_eq!(
            diff(&a, &b).unwrap_err().0,
            vec!["dataplane.backoff_polls cannot change while running (restart moose)"]
        );
        assert_eq!(
            diff(&base(""), &a).unwrap_err().0,
            vec!["dataplane.idle cannot change while running (restart moose)"]
        );
    }

    #[test]
    fn moose_keys() {
        let m = |extra: &str| {
            base(&format!(
                "[moose]\nprefix = \"02:11:11:00:00:00/24\"\nhost_quota = 100\n{extra}\
                 [[route]]\nprefix = \"02:22:22:00:00:00/24\"\nport = \"p2\"\n"
            ))
        };
        let old = m("");
        let new = m("max_hosts = 1000\nmove_hold_secs = 60\n")
            .replace("host_quota = 100", "host_quota = 50")
            .replace("port = \"p2\"\n", "port = [\"p2\", \"p0\"]\n")
            + "[[route]]\nprefix = \"00:00:00:00:00:00/0\"\nport = \"p2\"\n";
        assert_eq!(
            diff(&old, &new).unwrap().0,
            vec![
                "moose.host_quota: 100 -> 50",
                "moose.max_hosts: 65536 -> 1000",
                "moose.move_hold_secs: 300 s -> 60 s",
                "route: 02:22:22:00:00:00/24 -> p2, p0 (was p2)",
                "route: + 00:00:00:00:00:00/0 -> p2",
            ]
        );
        let r = diff(&old, &old.replace("02:11:11:00", "02:33:33:00")).unwrap_err();
        assert_eq!(
            r.0,
            vec!["moose.prefix cannot change while running (restart moose)"]
        );
        let r = diff(&old, &base("")).unwrap_err();
        assert!(
            r.0[0].starts_with("moose: [moose] cannot be added or removed"),
            "{r}"
        );
        let r = diff(&old, &(old.clone() + "[routing]\nhello_interval_ms = 50\n")).unwrap_err();
        assert_eq!(
            r.0,
            vec!["routing.hello_interval_ms cannot change while running (restart moose)"]
        );
    }

    #[test]
    fn elk_bounds_times_and_bindings_are_live_its_shape_is_not() {
        let m = base("[moose]\nprefix = \"02:11:11:00:00:00/24\"\n");
        let with = |t: &str| format!("{m}[elk]\nenabled = true\ndirectory = true\n{t}");
        let bind = |ip: &str, mac: &str| {
            format!("[[elk.binding]]\nvlan = 1\nip = \"{ip}\"\nmac = \"{mac}\"\n")
        };
        let old = with(
            &(String::from("cache_entries = 10\n")
                + &bind("10.0.0.1", "02:00:00:00:00:01")
                + &bind("10.0.0.2", "02:00:00:00:00:02")),
        );
        let new = with(
            &(String::from("cache_entries = 20\ninspect = true\ncache_ttl_secs = 60\n")
                + &bind("10.0.0.1", "02:00:00:00:00:09")
                + &bind("10.0.0.3", "02:00:00:00:00:03")),
        );
        let c = diff(&old, &new).unwrap();
        assert_eq!(
            c.0,
            vec![
                "elk.cache_entries: 10 -> 20",
                "elk.cache_ttl_secs: 300 s -> 60 s",
                "elk.inspect: false -> true",
                "elk.binding: 10.0.0.1 on VLAN 1: 02:00:00:00:00:01 -> 02:00:00:00:00:09",
                "elk.binding: added 10.0.0.3 on VLAN 1 -> 02:00:00:00:00:03",
                "elk.binding: removed 10.0.0.2 on VLAN 1",
            ]
        );
        let r = diff(
            &with(""),
            &with("vlans = [1]\ndirectory_address = \"02:ff:ff:00:00:01\"\n"),
        )
        .unwrap_err();
        assert_eq!(
            r.0,
            vec![
                "elk.vlans cannot change while running (restart moose)",
                "elk.directory_address cannot change while running (restart moose)",
            ]
        );
        assert_eq!(diff(&with(""), &with("")), Ok(Changes::default()));
    }

    #[test]
    fn automatic_prefixes_compare_as_auto() {
        let a = base("[moose]\nprefix = \"auto\"\n");
        let mut running = cfg(&a);
        // What the switch resolved (or renumbered to) at run time.
        running.moose.as_mut().unwrap().switch = crate::auto_prefix(b"other", 3);
        assert_eq!(running.diff(&cfg(&a)), Ok(Changes::default()));
    }
}
