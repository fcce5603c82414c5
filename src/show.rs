//! `moose show ports|fdb|status|counters [--json]`: a client of the JSON
//! API that prints tables a network engineer can read. It reads the same
//! serde types the server writes (`crate::http`, `moose_control::*::api`).
//! `--json` prints the API's answer as it is.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;
use moose_control::bridge::api::FdbPage;
use moose_dataplane::counters::{DropReason, PortCounter, PortTotals};

use crate::http::{CountersView, PortView, StatusView};
use crate::out;

const TIMEOUT: Duration = Duration::from_secs(10);
/// Default API address when neither `--api` nor a config says.
pub const DEFAULT_API: &str = "127.0.0.1:9477";

#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    Ports,
    Fdb,
    Status,
    Counters,
    /// A MOOSE switch's hosts (real and MOOSE addresses).
    Hosts,
    /// A MOOSE switch's MAC routes.
    Routes,
    /// Which edge and legacy ports are their segment's home.
    Home,
    /// Each fabric port's link-state neighbour.
    Neighbors,
    /// The link-state database.
    Lsdb,
    /// The broadcast tree.
    Tree,
    /// The ELK directory's bindings (IP → MOOSE address) this switch holds.
    Directory,
}

fn get(api: &str, path: &str) -> anyhow::Result<String> {
    Ok(moose_mgmt::client::get(api, path, TIMEOUT)?)
}

fn parse<T: serde::de::DeserializeOwned>(path: &str, body: &str) -> anyhow::Result<T> {
    serde_json::from_str(body).with_context(|| format!("{path}: unexpected answer from the API"))
}

pub fn run(what: What, api: &str, json: bool) -> anyhow::Result<()> {
    match what {
        What::Ports => {
            let body = get(api, "/api/v1/ports")?;
            if json {
                out::println(body.trim_end());
            } else {
                out::println(&ports_table(&parse::<Vec<PortView>>(api, &body)?));
            }
        }
        What::Status => {
            let body = get(api, "/api/v1/status")?;
            if json {
                out::println(body.trim_end());
            } else {
                out::println(&status_text(&parse(api, &body)?));
            }
        }
        What::Counters => {
            let body = get(api, "/api/v1/counters")?;
            if json {
                out::println(body.trim_end());
            } else {
                out::println(&counters_text(&parse(api, &body)?));
            }
        }
        What::Fdb => fdb(api, json)?,
        What::Directory => directory(api, json)?,
        What::Hosts => hosts(api, json)?,
        What::Home => {
            let body = get(api, "/api/v1/home")?;
            if json {
                out::println(body.trim_end());
            } else {
                out::println(&home_table(&parse(api, &body)?));
            }
        }
        What::Neighbors => {
            let body = get(api, "/api/v1/neighbors")?;
            if json {
                out::println(body.trim_end());
            } else {
                out::println(&neighbors_table(&parse::<Vec<_>>(api, &body)?));
            }
        }
        What::Lsdb => {
            let body = get(api, "/api/v1/lsdb")?;
            if json {
                out::println(body.trim_end());
            } else {
                out::println(&lsdb_table(&parse::<Vec<_>>(api, &body)?));
            }
        }
        What::Tree => {
            let body = get(api, "/api/v1/tree")?;
            if json {
                out::println(body.trim_end());
            } else {
                out::println(&tree_text(&parse(api, &body)?));
            }
        }
        What::Routes => {
            let body = get(api, "/api/v1/routes")?;
            if json {
                out::println(body.trim_end());
            } else {
                out::println(&routes_table(&parse::<
                    Vec<moose_control::routes::api::RouteRecord>,
                >(api, &body)?));
            }
        }
    }
    Ok(())
}

/// Pages through the FDB, printing as it goes (memory bounded by a page).
fn fdb(api: &str, json: bool) -> anyhow::Result<()> {
    let header = format!(
        "{:>4}  {:<17}  {:<12}  {:<7}  {:>8}  {:>5}",
        "VLAN", "MAC", "PORT", "TYPE", "AGE(s)", "MOVES"
    );
    let n = pages(
        api,
        "/api/v1/fdb",
        json,
        &header,
        |p: FdbPage| (p.entries, p.next),
        |e| {
            let kind = serde_json::to_value(e.kind)?;
            Ok(format!(
                "{:>4}  {:<17}  {:<12}  {:<7}  {:>8}  {:>5}",
                e.vlan,
                e.mac.to_string(),
                e.port,
                kind.as_str().unwrap_or("?"),
                e.age_secs,
                e.moves
            ))
        },
    )?;
    if !json {
        out::println(&format!("{n} entr{}", if n == 1 { "y" } else { "ies" }));
    }
    Ok(())
}

/// Prints every entry of a paged list (`?limit=1000&after=…`) as it
/// arrives, one page in memory at a time: a JSON array, or `header` and a
/// `row` per entry. Returns how many there were.
fn pages<P, E>(
    api: &str,
    base: &str,
    json: bool,
    header: &str,
    split: impl Fn(P) -> (Vec<E>, Option<String>),
    row: impl Fn(&E) -> anyhow::Result<String>,
) -> anyhow::Result<usize>
where
    P: serde::de::DeserializeOwned,
    E: serde::Serialize,
{
    let mut after: Option<String> = None;
    let mut n = 0usize;
    out::println(if json { "[" } else { header });
    loop {
        let path = match &after {
            Some(a) => format!("{base}?limit=1000&after={a}"),
            None => format!("{base}?limit=1000"),
        };
        let (entries, next) = split(parse(&path, &get(api, &path)?)?);
        for e in &entries {
            if json {
                let sep = if n == 0 { "" } else { "," };
                out::println(&format!("{sep}{}", serde_json::to_string(e)?));
            } else {
                out::println(&row(e)?);
            }
            n += 1;
        }
        match next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    if json {
        out::println("]");
    }
    Ok(n)
}

pub fn ports_table(ports: &[PortView]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<10} {:<7} {:<5} {:>5} {:>12} {:>12} {:>9} {:>9}  {:<14} DEVICE",
        "PORT", "ROLE", "LINK", "MTU", "RX", "TX", "FLOOD", "DROPS", "DRIVER"
    );
    for p in ports {
        let link = match &p.link {
            Some(l) if l.up => "up",
            Some(_) => "down",
            None => "?",
        };
        let _ = writeln!(
            s,
            "{:<10} {:<7} {:<5} {:>5} {:>12} {:>12} {:>9} {:>9}  {:<14} {}",
            p.name,
            p.role,
            link,
            p.mtu.map_or("-".to_string(), |m| m.to_string()),
            p.counters.get(PortCounter::RxPackets),
            p.counters.get(PortCounter::TxPackets),
            p.counters.get(PortCounter::TxFlood),
            p.counters.total_drops(),
            p.driver,
            p.device
        );
    }
    s.trim_end().to_string()
}

pub fn status_text(st: &StatusView) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "switch      {}", st.switch);
    let _ = writeln!(s, "version     {}", st.version);
    let _ = writeln!(s, "dpdk        {}", st.dpdk);
    let _ = writeln!(s, "uptime      {:.0} s", st.uptime_secs);
    let _ = writeln!(s, "workers     {}", st.workers);
    let _ = writeln!(s, "ports       {}", st.ports);
    let b = &st.bridge;
    let _ = writeln!(
        s,
        "fdb         {} entries ({} static) of {}; learned {}, moved {}, aged {}, flushed {}, refused: limit {}, full {}",
        b.entries,
        b.static_entries,
        b.max_entries,
        b.counters.learned,
        b.counters.moved,
        b.counters.aged,
        b.counters.flushed,
        b.counters.limit_refused,
        b.counters.table_full
    );
    let r = &st.runtime;
    let punts: Vec<String> = r.punts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(
        s,
        "control     publishes {}, punts [{}], sent {}, send failures {}, link changes {}, re-attaches {}",
        r.publishes,
        punts.join(", "),
        r.sent_frames,
        r.send_failures,
        r.link_changes,
        r.reattaches
    );
    let reserved: Vec<String> = st
        .reserved
        .frames
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(s, "reserved    [{}]", reserved.join(", "));
    s.trim_end().to_string()
}

pub fn counters_text(c: &CountersView) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<10} {:>12} {:>14} {:>12} {:>14} {:>9} {:>9}",
        "PORT", "RX", "RX-BYTES", "TX", "TX-BYTES", "UNKNOWN", "PUNTED"
    );
    for (name, t) in &c.ports {
        let _ = writeln!(
            s,
            "{:<10} {:>12} {:>14} {:>12} {:>14} {:>9} {:>9}",
            name,
            t.get(PortCounter::RxPackets),
            t.get(PortCounter::RxBytes),
            t.get(PortCounter::TxPackets),
            t.get(PortCounter::TxBytes),
            t.get(PortCounter::RxUnknownUnicast),
            t.get(PortCounter::RxPunted)
        );
    }
    let drops: Vec<(&String, &PortTotals)> = c
        .ports
        .iter()
        .filter(|(_, t)| t.total_drops() > 0)
        .collect();
    if drops.is_empty() {
        let _ = writeln!(s, "\nno drops");
    } else {
        let _ = writeln!(
            s,
            "\n{:<10} {:<18} {:>10}  MEANING",
            "PORT", "DROP REASON", "FRAMES"
        );
        for (name, t) in drops {
            for &r in DropReason::ALL {
                let n = t.dropped(r);
                if n > 0 {
                    let _ = writeln!(s, "{:<10} {:<18} {:>10}  {}", name, r.label(), n, r.help());
                }
            }
        }
    }
    for w in &c.workers {
        let parts: Vec<String> = w.counters.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(s, "\nworker {}: {}", w.worker, parts.join(", "));
        for (class, k) in &w.punt {
            if k.values().any(|&v| v > 0) {
                let parts: Vec<String> = k.iter().map(|(k, v)| format!("{k} {v}")).collect();
                let _ = writeln!(s, "  punt {class:<10} {}", parts.join(", "));
            }
        }
    }
    s.trim_end().to_string()
}

/// Pages through the hosts, printing as it goes.
fn hosts(api: &str, json: bool) -> anyhow::Result<()> {
    use moose_control::hosts::api::HostsPage;
    let header = format!(
        "{:>4}  {:<17}  {:<17}  {:<12}  {:>10}",
        "VLAN", "MAC", "MOOSE MAC", "PORT", "SEEN(ms)"
    );
    let n = pages(
        api,
        "/api/v1/hosts",
        json,
        &header,
        |p: HostsPage| (p.entries, p.next),
        |h| {
            Ok(format!(
                "{:>4}  {:<17}  {:<17}  {:<12}  {:>10}",
                h.vlan,
                h.mac.to_string(),
                h.moose_mac.to_string(),
                h.port,
                h.last_seen_ms
            ))
        },
    )?;
    if !json {
        out::println(&format!("{n} host{}", if n == 1 { "" } else { "s" }));
    }
    Ok(())
}

pub fn home_table(h: &moose_control::home::api::HomeReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<12}  {:<5}  {:<32}  HEARD",
        "PORT", "HOME", "SEGMENT HOME"
    );
    for p in &h.ports {
        let heard: Vec<String> = p
            .heard
            .iter()
            .map(|x| format!("{} port {}", x.prefix, x.port))
            .collect();
        let _ = writeln!(
            s,
            "{:<12}  {:<5}  {:<32}  {}",
            p.port,
            if p.home { "yes" } else { "no" },
            p.home_of_segment,
            if heard.is_empty() {
                "-".to_string()
            } else {
                heard.join(", ")
            }
        );
    }
    let c = &h.counters;
    let _ = write!(
        s,
        "hellos: {} sent, {} received, {} invalid; {} home changes",
        c.hellos_sent, c.hellos_received, c.hellos_invalid, c.home_changes
    );
    s
}

pub fn routes_table(routes: &[moose_control::routes::api::RouteRecord]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<22}  {:<7}  {:<9}  PORTS (up)",
        "PREFIX", "SOURCE", "INSTALLED"
    );
    for r in routes {
        let ports = if r.local {
            "local hosts".to_string()
        } else {
            format!("{} ({})", r.ports.join(","), r.up.join(","))
        };
        let _ = writeln!(
            s,
            "{:<22}  {:<7}  {:<9}  {}",
            r.prefix,
            r.source,
            if r.installed { "yes" } else { "no" },
            ports
        );
    }
    s.trim_end().to_string()
}

/// Every page of `/api/v1/directory`: as one JSON array, or a table.
fn directory(api: &str, json: bool) -> anyhow::Result<()> {
    use moose_control::elk::api::{BindingRecord, DirectoryPage};
    let mut all: Vec<BindingRecord> = Vec::new();
    let mut offset = 0;
    loop {
        let path = format!("/api/v1/directory?offset={offset}&limit=1000");
        let page: DirectoryPage = parse(api, &get(api, &path)?)?;
        all.extend(page.bindings);
        match page.next {
            Some(n) if n > offset => offset = n,
            _ => break,
        }
    }
    if json {
        out::println(&serde_json::to_string(&all)?);
    } else {
        out::println(&directory_table(&all));
    }
    Ok(())
}

pub fn directory_table(b: &[moose_control::elk::api::BindingRecord]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<9}  {:>4}  {:<39}  {:<17}  {:<7}  {:<17}  {:>9}  REAL/PORT",
        "KIND", "VLAN", "IP", "MOOSE MAC", "SOURCE", "SWITCH", "AGE(s)"
    );
    for r in b {
        let real = match (&r.real_mac, &r.port) {
            (Some(m), Some(p)) => format!("{m} {p}"),
            _ => "-".into(),
        };
        let sw = if r.switch.is_empty() { "-" } else { &r.switch };
        let _ = writeln!(
            s,
            "{:<9}  {:>4}  {:<39}  {:<17}  {:<7}  {:<17}  {:>9.1}  {}",
            r.kind,
            r.vlan,
            r.ip,
            r.moose_mac,
            r.source,
            sw,
            r.age_ms as f64 / 1000.0,
            real
        );
    }
    let _ = write!(s, "{} bindings", b.len());
    s
}

pub fn neighbors_table(n: &[moose_control::routing::api::NeighborRecord]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<12}  {:<8}  {:<17}  {:<22}  {:>5}  {:>9}  TREE",
        "PORT", "STATE", "SWITCH ID", "PREFIX", "PORT", "SINCE(s)"
    );
    for r in n {
        let dash = |x: &str| {
            if x.is_empty() {
                "-".to_string()
            } else {
                x.to_string()
            }
        };
        let _ = writeln!(
            s,
            "{:<12}  {:<8}  {:<17}  {:<22}  {:>5}  {:>9.1}  {}",
            r.port,
            r.state,
            dash(&r.switch_id),
            dash(&r.prefix),
            r.neighbor_port
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            r.since_ms as f64 / 1000.0,
            if r.tree_active { "active" } else { "-" }
        );
    }
    s.trim_end().to_string()
}

pub fn lsdb_table(l: &[moose_control::routing::api::LsdbRecord]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<17}  {:>10}  {:>6}  {:<22}  LINKS (neighbour cost port>port)",
        "SWITCH ID", "SEQ", "AGE(s)", "PREFIX"
    );
    for r in l {
        let links: Vec<String> = r
            .links
            .iter()
            .map(|k| format!("{} {} {}>{}", k.neighbor, k.cost, k.port, k.neighbor_port))
            .collect();
        let _ = writeln!(
            s,
            "{:<17}  {:>10}  {:>6}  {:<22}  {}",
            format!("{}{}", r.switch_id, if r.own { "*" } else { "" }),
            r.seq,
            r.age_s,
            format!("{}{}", r.prefix, if r.auto_prefix { " auto" } else { "" }),
            if links.is_empty() {
                "-".to_string()
            } else {
                links.join(", ")
            }
        );
    }
    let _ = write!(
        s,
        "{} advertisement{} (* this switch)",
        l.len(),
        if l.len() == 1 { "" } else { "s" }
    );
    s
}

pub fn tree_text(t: &moose_control::routing::api::TreeReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "root {}  digest {}",
        if t.root.is_empty() { "-" } else { &t.root },
        t.digest
    );
    for e in &t.edges {
        let _ = writeln!(
            s,
            "  {} port {}  ->  {} port {}",
            e.parent, e.parent_port, e.child, e.child_port
        );
    }
    let _ = write!(
        s,
        "this switch's tree ports: {}; active: {}",
        if t.ports.is_empty() {
            "-".to_string()
        } else {
            t.ports.join(", ")
        },
        if t.active.is_empty() {
            "-".to_string()
        } else {
            t.active.join(", ")
        }
    );
    s
}
