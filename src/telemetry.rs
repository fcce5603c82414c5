//! moose's commands on DPDK's telemetry socket, beside DPDK's own
//! (`/ethdev/list`, `/ethdev/stats,N`, …), for `dpdk-telemetry.py -f
//! <file-prefix>`:
//!
//! * `/moose/ports`: every port by index — name, role, DPDK port id, link,
//!   MTU, and the workers' rx/tx counters and drops;
//! * `/moose/counters`: every drop reason, summed over the ports;
//!   `/moose/counters,PORT` (a name or an index): that port's counters and
//!   every drop reason;
//! * `/moose/version`: moose's and DPDK's versions, the switch's name.
//!
//! The numbers are the management API's (`GET /api/v1/counters`,
//! `/api/v1/ports`): the workers' published counters, read here with
//! relaxed loads on DPDK's telemetry thread, and the link and MTU asked of
//! the control thread with a bounded wait, as the HTTP handlers do.
//! Nothing here touches a worker, a device or a table.

use std::sync::Arc;
use std::time::Duration;

use moose_control::nic::{NicQuery, NicReport};
use moose_dataplane::counters::{DropReason, PortCounter, PortTotals};
use moose_dpdk::{DpdkError, Eal, TelDict};

use crate::app::Shared;

/// Longest wait for the control thread's link report; the answer goes out
/// without the link after it.
const NIC_TIMEOUT: Duration = Duration::from_secs(1);

/// Registers the commands; their handlers keep `shared` for the life of
/// the process (DPDK cannot unregister a command).
pub fn register(eal: &Eal, shared: Arc<Shared>) -> Result<(), DpdkError> {
    let s = shared.clone();
    eal.telemetry_command(
        "/moose/ports",
        "Returns moose's ports by index: name, role, link, MTU, rx/tx counters, drops. Takes no parameters",
        move |_| Some(ports(&s)),
    )?;
    let s = shared.clone();
    eal.telemetry_command(
        "/moose/counters",
        "Returns drops by reason over all ports, or with a port name or index one port's counters. Parameters: [port]",
        move |params| counters(&s, params),
    )?;
    eal.telemetry_command(
        "/moose/version",
        "Returns moose's and DPDK's versions and the switch name. Takes no parameters",
        move |_| Some(version(&shared)),
    )
}

fn ports(s: &Shared) -> TelDict {
    let nic: Option<NicReport> = s.control.call_blocking(NicQuery, NIC_TIMEOUT).ok();
    let mut out = TelDict::new();
    for (i, p) in s.ports.iter().enumerate() {
        let t = PortTotals::sum(&s.stats, i as u16);
        let n = nic.as_ref().and_then(|n| n.ports.get(i));
        let mut d = TelDict::new();
        d.string("name", &p.name)
            .string("role", role(p.role))
            .u64("dpdk_port", u64::from(p.dpdk_port))
            .string(
                "link",
                match n {
                    Some(n) if n.link.up => "up",
                    Some(_) => "down",
                    None => "unknown",
                },
            );
        if let Some(n) = n {
            d.u64("link_speed_mbps", u64::from(n.link.speed_mbps));
            if let Some(mtu) = n.mtu {
                d.u64("mtu", u64::from(mtu));
            }
        }
        for c in [
            PortCounter::RxPackets,
            PortCounter::RxBytes,
            PortCounter::TxPackets,
            PortCounter::TxBytes,
            PortCounter::TxFlood,
        ] {
            d.u64(c.label(), t.get(c));
        }
        d.u64("drops", t.total_drops());
        out.dict(&i.to_string(), d);
    }
    out
}

fn counters(s: &Shared, params: &str) -> Option<TelDict> {
    let params = params.trim();
    let mut out = TelDict::new();
    if params.is_empty() {
        for &r in DropReason::ALL {
            let n: u64 = (0..s.ports.len())
                .map(|i| s.stats.iter().map(|w| w.dropped(i as u16, r)).sum::<u64>())
                .sum();
            out.u64(r.label(), n);
        }
        return Some(out);
    }
    let i = s
        .ports
        .iter()
        .position(|p| p.name == params)
        .or_else(|| params.parse::<usize>().ok().filter(|&i| i < s.ports.len()))?;
    let t = PortTotals::sum(&s.stats, i as u16);
    out.string("port", &s.ports[i].name);
    for &c in PortCounter::ALL {
        out.u64(c.label(), t.get(c));
    }
    let mut drops = TelDict::new();
    for &r in DropReason::ALL {
        drops.u64(r.label(), t.dropped(r));
    }
    out.dict("drops", drops);
    Some(out)
}

fn version(s: &Shared) -> TelDict {
    let mut out = TelDict::new();
    out.string("version", crate::VERSION)
        .string("dpdk", &moose_dpdk::version())
        .string("switch", &s.cfg.name);
    out
}

fn role(r: moose_config::Role) -> &'static str {
    match r {
        moose_config::Role::Legacy => "legacy",
        moose_config::Role::Edge => "edge",
        moose_config::Role::Fabric => "fabric",
    }
}
