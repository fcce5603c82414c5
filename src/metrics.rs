//! Prometheus metrics. A custom collector builds every family at scrape
//! time: per-port and per-worker counters are summed from the workers'
//! published [`WorkerStats`](moose_dataplane::WorkerStats) (plain stores on
//! the workers, loads here), NIC counters come from ethdev, FDB figures from
//! the slow path. Nothing is updated on the fast path for metrics' sake.

use std::sync::Arc;
use std::time::Duration;

use moose_dataplane::counters::{DropReason, GlobalCounter, PortTotals};
use moose_dataplane::slowpath::SlowStats;
use moose_dataplane::Control;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

use crate::app::Shared;

pub struct MooseCollector {
    shared: Arc<Shared>,
    desc: Vec<Desc>,
}

impl MooseCollector {
    pub fn new(shared: Arc<Shared>) -> MooseCollector {
        MooseCollector {
            shared,
            desc: Vec::new(),
        }
    }
}

/// Builds one metric family.
struct Family {
    mf: MetricFamily,
}

impl Family {
    fn new(name: &str, help: &str, t: MetricType) -> Family {
        let mut mf = MetricFamily::default();
        mf.set_name(name.to_string());
        mf.set_help(help.to_string());
        mf.set_field_type(t);
        Family { mf }
    }

    fn counter(name: &str, help: &str) -> Family {
        Family::new(name, help, MetricType::COUNTER)
    }

    fn gauge(name: &str, help: &str) -> Family {
        Family::new(name, help, MetricType::GAUGE)
    }

    fn add(&mut self, labels: &[(&str, &str)], v: f64) -> &mut Self {
        let mut m = Metric::default();
        let mut lp = Vec::new();
        for (k, val) in labels {
            let mut l = LabelPair::default();
            l.set_name(k.to_string());
            l.set_value(val.to_string());
            lp.push(l);
        }
        m.set_label(lp.into());
        if self.mf.get_field_type() == MetricType::COUNTER {
            let mut c = Counter::default();
            c.set_value(v);
            m.set_counter(c);
        } else {
            let mut g = Gauge::default();
            g.set_value(v);
            m.set_gauge(g);
        }
        self.mf.mut_metric().push(m);
        self
    }
}

/// Asks the slow path for its figures (bounded wait: a stuck slow path must
/// not hang the scrape).
pub fn slow_stats(shared: &Shared) -> Option<SlowStats> {
    let (tx, rx) = std::sync::mpsc::channel();
    shared.control.lock().ok()?.send(Control::Stats(tx)).ok()?;
    rx.recv_timeout(Duration::from_secs(1)).ok()
}

impl Collector for MooseCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.desc.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let s = &self.shared;
        let mut out = Vec::new();

        let mut f = Family::gauge(
            "moose_build_info",
            "Build facts: version, git revision, DPDK version.",
        );
        f.add(
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("git", env!("MOOSE_GIT_REV")),
                ("dpdk", env!("MOOSE_DPDK_VERSION")),
                ("dpdk_runtime", &moose_dpdk::version()),
            ],
            1.0,
        );
        out.push(f.mf);
        let mut f = Family::gauge(
            "moose_uptime_seconds",
            "Seconds since the appliance started.",
        );
        f.add(&[], s.started.elapsed().as_secs_f64());
        out.push(f.mf);

        // Per-port dataplane counters.
        let totals: Vec<PortTotals> = (0..s.ports.len())
            .map(|i| PortTotals::sum(&s.stats, i as u16))
            .collect();
        type Get = fn(&PortTotals) -> u64;
        let port_counters: [(&str, &str, Get); 7] = [
            (
                "moose_port_rx_packets_total",
                "Frames received by the workers.",
                |t| t.rx_packets,
            ),
            (
                "moose_port_rx_bytes_total",
                "Bytes received by the workers.",
                |t| t.rx_bytes,
            ),
            (
                "moose_port_tx_packets_total",
                "Frames the NIC accepted for transmission.",
                |t| t.tx_packets,
            ),
            (
                "moose_port_tx_bytes_total",
                "Bytes the NIC accepted for transmission.",
                |t| t.tx_bytes,
            ),
            (
                "moose_port_tx_flood_total",
                "Frames flooded out of the port.",
                |t| t.tx_flood,
            ),
            (
                "moose_port_rx_unknown_unicast_total",
                "Unicast frames received for destinations not in the FDB.",
                |t| t.rx_unknown_unicast,
            ),
            (
                "moose_port_rx_punted_total",
                "Control frames punted to the slow path.",
                |t| t.rx_punted,
            ),
        ];
        for (name, help, get) in port_counters {
            let mut f = Family::counter(name, help);
            for (p, t) in s.ports.iter().zip(&totals) {
                f.add(&[("port", &p.name)], get(t) as f64);
            }
            out.push(f.mf);
        }
        let mut f = Family::counter(
            "moose_port_drops_total",
            "Frames dropped, by port and reason (ingress port, except tx_full: egress port).",
        );
        for (i, p) in s.ports.iter().enumerate() {
            for r in DropReason::ALL {
                let n: u64 = s.stats.iter().map(|w| w.dropped(i as u16, r)).sum();
                f.add(&[("port", &p.name), ("reason", r.name())], n as f64);
            }
        }
        out.push(f.mf);

        // NIC (ethdev) counters and link state.
        type NicGet = fn(&moose_dpdk::PortStats) -> u64;
        let nic: [(&str, &str, NicGet); 8] = [
            (
                "moose_nic_rx_packets_total",
                "Frames the NIC received (ethdev ipackets).",
                |s| s.ipackets,
            ),
            (
                "moose_nic_tx_packets_total",
                "Frames the NIC sent (ethdev opackets).",
                |s| s.opackets,
            ),
            ("moose_nic_rx_bytes_total", "Bytes the NIC received.", |s| {
                s.ibytes
            }),
            ("moose_nic_tx_bytes_total", "Bytes the NIC sent.", |s| {
                s.obytes
            }),
            (
                "moose_nic_rx_missed_total",
                "Frames the NIC dropped for lack of rx descriptors (imissed).",
                |s| s.imissed,
            ),
            (
                "moose_nic_rx_errors_total",
                "Erroneous frames received (ierrors).",
                |s| s.ierrors,
            ),
            (
                "moose_nic_tx_errors_total",
                "Failed transmissions (oerrors).",
                |s| s.oerrors,
            ),
            (
                "moose_nic_rx_nombuf_total",
                "Receive failures for lack of mbufs.",
                |s| s.rx_nombuf,
            ),
        ];
        let stats: Vec<_> = s.ports.iter().map(|p| p.port.stats().ok()).collect();
        for (name, help, get) in nic {
            let mut f = Family::counter(name, help);
            for (p, st) in s.ports.iter().zip(&stats) {
                if let Some(st) = st {
                    f.add(&[("port", &p.name)], get(st) as f64);
                }
            }
            out.push(f.mf);
        }
        let mut f = Family::gauge("moose_port_link_up", "1 if the port's link is up.");
        let mut g = Family::gauge("moose_port_link_speed_mbps", "Link speed in Mbit/s.");
        for p in &s.ports {
            let l = p.port.link();
            f.add(&[("port", &p.name)], if l.up { 1.0 } else { 0.0 });
            g.add(&[("port", &p.name)], f64::from(l.speed_mbps));
        }
        out.push(f.mf);
        out.push(g.mf);

        // Per-worker counters.
        let worker_counters: [(&str, &str, GlobalCounter); 6] = [
            (
                "moose_worker_loops_total",
                "Poll loops.",
                GlobalCounter::Loops,
            ),
            (
                "moose_worker_bursts_total",
                "rx bursts attempted.",
                GlobalCounter::Bursts,
            ),
            (
                "moose_worker_empty_polls_total",
                "rx bursts that returned nothing.",
                GlobalCounter::EmptyPolls,
            ),
            (
                "moose_worker_sleeps_total",
                "Idle back-off sleeps.",
                GlobalCounter::Sleeps,
            ),
            (
                "moose_worker_learn_requests_total",
                "Learn/refresh requests sent to the slow path.",
                GlobalCounter::LearnRequests,
            ),
            (
                "moose_worker_learn_ring_full_total",
                "Learn requests lost because the punt ring was full.",
                GlobalCounter::LearnRingFull,
            ),
        ];
        for (name, help, c) in worker_counters {
            let mut f = Family::counter(name, help);
            for (w, st) in s.stats.iter().enumerate() {
                f.add(&[("worker", &w.to_string())], st.global(c) as f64);
            }
            out.push(f.mf);
        }

        let mut f = Family::gauge("moose_mempool_available", "Free mbufs in the pool.");
        f.add(&[], f64::from(s.mempool.available()));
        out.push(f.mf);

        // Slow path: FDB.
        if let Some(ss) = slow_stats(s) {
            let mut f = Family::gauge("moose_fdb_entries", "Entries in the forwarding database.");
            f.add(&[], ss.fdb_entries as f64);
            out.push(f.mf);
            let fdb: [(&str, &str, u64); 6] = [
                (
                    "moose_fdb_learned_total",
                    "Addresses learned.",
                    ss.fdb.learned,
                ),
                (
                    "moose_fdb_moves_total",
                    "Addresses that moved to another port.",
                    ss.fdb.moved,
                ),
                (
                    "moose_fdb_aged_total",
                    "Entries removed by aging.",
                    ss.fdb.aged,
                ),
                (
                    "moose_fdb_refreshed_total",
                    "Age refreshes of known entries.",
                    ss.fdb.refreshed,
                ),
                (
                    "moose_fdb_learn_limit_total",
                    "Addresses not learned because the port was at learn_limit.",
                    ss.fdb.limit_refused,
                ),
                (
                    "moose_fdb_static_conflicts_total",
                    "Frames seen from a static address on another port.",
                    ss.fdb.static_conflicts,
                ),
            ];
            for (name, help, v) in fdb {
                let mut f = Family::counter(name, help);
                f.add(&[], v as f64);
                out.push(f.mf);
            }
            let mut f = Family::counter(
                "moose_fdb_publishes_total",
                "FDB view publications to the workers.",
            );
            f.add(&[], ss.publishes as f64);
            out.push(f.mf);
            let mut f = Family::counter(
                "moose_control_frames_total",
                "Reserved-destination frames received, by kind.",
            );
            for (k, v) in &ss.control_frames {
                f.add(&[("kind", k)], *v as f64);
            }
            out.push(f.mf);
        }
        out
    }
}
