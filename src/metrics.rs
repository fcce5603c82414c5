//! Prometheus metrics, built at scrape time: per-port, per-worker and
//! per-punt-class counters are summed from the workers' published
//! [`WorkerStats`](moose_dataplane::WorkerStats) (plain stores on the
//! workers, loads here), with their names and help texts taken from the
//! dataplane's counter tables; device, FDB, reserved-frame and runtime
//! figures come from the control thread ([`Gathered`]). Nothing is updated
//! on the fast path for metrics' sake.

use moose_control::bridge::api::BridgeStats;
use moose_control::hosts::api::HostStats;
use moose_control::nic::{NicCounters, NicReport};
use moose_control::reserved::api::ReservedStats;
use moose_control::routes::api::RouteStats;
use moose_control::runtime::RuntimeStats;
use moose_dataplane::counters::{DropReason, PortCounter, PuntCounter, WorkerCounter};
use moose_dataplane::PuntClass;
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType, Summary};
use prometheus::{Encoder, TextEncoder};

use std::collections::BTreeMap;

use crate::app::Shared;

/// What the control thread answered for this scrape (`None`: it did not
/// answer in time; those families are left out rather than reported as 0).
pub struct Gathered {
    pub runtime: Option<RuntimeStats>,
    pub bridge: Option<BridgeStats>,
    pub reserved: Option<ReservedStats>,
    pub nic: Option<NicReport>,
    pub hosts: Option<HostStats>,
    pub routes: Option<RouteStats>,
    pub home: Option<moose_control::home::api::HomeReport>,
    pub routing: Option<moose_control::routing::api::RoutingStats>,
    pub elk: Option<moose_control::elk::api::ElkStats>,
    pub mps: Option<(
        moose_control::mps::api::MpsStats,
        Vec<moose_control::mps::api::PoolReport>,
    )>,
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

/// One unlabelled sample.
fn single(
    out: &mut Vec<MetricFamily>,
    f: fn(&str, &str) -> Family,
    name: &str,
    help: &str,
    v: u64,
) {
    let mut fam = f(name, help);
    fam.add(&[], v as f64);
    out.push(fam.mf);
}

pub fn render(s: &Shared, g: &Gathered) -> String {
    let mut out = Vec::new();
    families(s, g, &mut out);
    // A family without samples (e.g. no ports of a kind) is left out: the
    // text format has nothing to say for it.
    out.retain(|f| !f.get_metric().is_empty());
    let mut buf = Vec::new();
    match TextEncoder::new().encode(&out, &mut buf) {
        Ok(()) => String::from_utf8_lossy(&buf).into_owned(),
        Err(e) => format!("# encoding failed: {e}\n"),
    }
}

fn families(s: &Shared, g: &Gathered, out: &mut Vec<MetricFamily>) {
    let mut f = Family::gauge(
        "moose_info",
        "The switch: its name (switch.name) and version.",
    );
    f.add(
        &[
            ("switch", &s.cfg.name),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
        1.0,
    );
    out.push(f.mf);
    let mut f = Family::gauge(
        "moose_build_info",
        "Build facts: version, git revision, DPDK version built against and running.",
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

    // Per-port dataplane counters, from the counter table.
    for &c in PortCounter::ALL {
        let mut f = Family::counter(&format!("moose_port_{}_total", c.label()), c.help());
        for (i, p) in s.ports.iter().enumerate() {
            let n: u64 = s.stats.iter().map(|w| w.port(i as u16, c)).sum();
            f.add(&[("port", &p.name)], n as f64);
        }
        out.push(f.mf);
    }
    let mut f = Family::counter(
        "moose_port_drops_total",
        "Frames dropped, by port and reason (ingress port, except link_down, mtu_exceeded and tx_full: egress); GET /api/v1/counters explains each reason.",
    );
    for (i, p) in s.ports.iter().enumerate() {
        for &r in DropReason::ALL {
            let n: u64 = s.stats.iter().map(|w| w.dropped(i as u16, r)).sum();
            f.add(&[("port", &p.name), ("reason", r.label())], n as f64);
        }
    }
    out.push(f.mf);

    // Per worker and per punt class.
    for &c in WorkerCounter::ALL {
        let mut f = Family::counter(&format!("moose_worker_{}_total", c.label()), c.help());
        for (w, st) in s.stats.iter().enumerate() {
            f.add(&[("worker", &w.to_string())], st.worker(c) as f64);
        }
        out.push(f.mf);
    }
    let mut f = Family::gauge(
        "moose_worker_cycles_per_frame",
        "TSC cycles per frame received, since start (busy_cycles / busy_frames); see moose_tsc_hertz.",
    );
    for (w, st) in s.stats.iter().enumerate() {
        let frames = st.worker(WorkerCounter::BusyFrames);
        if frames > 0 {
            let per = st.worker(WorkerCounter::BusyCycles) as f64 / frames as f64;
            f.add(&[("worker", &w.to_string())], per);
        }
    }
    out.push(f.mf);
    let mut f = Family::gauge(
        "moose_tsc_hertz",
        "The TSC's frequency, cycles per second (DPDK's measure).",
    );
    f.add(&[], moose_dpdk::tsc_hz() as f64);
    out.push(f.mf);
    for &c in PuntCounter::ALL {
        let mut f = Family::counter(&format!("moose_punt_{}_total", c.label()), c.help());
        for (w, st) in s.stats.iter().enumerate() {
            for class in PuntClass::ALL {
                f.add(
                    &[("worker", &w.to_string()), ("class", class.name())],
                    st.punt(class, c) as f64,
                );
            }
        }
        out.push(f.mf);
    }

    if let Some(nic) = &g.nic {
        nic_families(s, nic, out);
    }
    if let Some(b) = &g.bridge {
        single(
            out,
            Family::gauge,
            "moose_fdb_entries",
            "Entries in the forwarding database.",
            b.entries as u64,
        );
        single(
            out,
            Family::gauge,
            "moose_fdb_static_entries",
            "Static entries in the forwarding database.",
            b.static_entries as u64,
        );
        single(
            out,
            Family::gauge,
            "moose_fdb_max_entries",
            "The forwarding database's bound (bridge.max_entries).",
            b.max_entries as u64,
        );
        let c = &b.counters;
        let rows: [(&str, &str, u64); 9] = [
            ("moose_fdb_learned_total", "Addresses learned.", c.learned),
            (
                "moose_fdb_moves_total",
                "Addresses that moved to another port.",
                c.moved,
            ),
            ("moose_fdb_aged_total", "Entries removed by aging.", c.aged),
            (
                "moose_fdb_refreshed_total",
                "Age refreshes of known entries.",
                c.refreshed,
            ),
            (
                "moose_fdb_learn_limit_total",
                "Addresses not learned because the port was at its learn_limit.",
                c.limit_refused,
            ),
            (
                "moose_fdb_table_full_total",
                "Addresses not learned because the FDB held bridge.max_entries.",
                c.table_full,
            ),
            (
                "moose_fdb_static_conflicts_total",
                "Frames seen from a static address on another port.",
                c.static_conflicts,
            ),
            (
                "moose_fdb_flushed_total",
                "Dynamic entries removed because their port's link went down.",
                c.flushed,
            ),
            (
                "moose_fdb_learn_requests_total",
                "Learn and refresh requests handled by the control thread.",
                c.requests,
            ),
        ];
        for (name, help, v) in rows {
            single(out, Family::counter, name, help, v);
        }
    }
    if let Some(r) = &g.reserved {
        let mut f = Family::counter(
            "moose_control_frames_total",
            "Frames for IEEE 802.1D reserved destinations received, by kind (stp, pause, slow_protocols, eapol, lldp, other_reserved).",
        );
        for (k, v) in &r.frames {
            f.add(&[("kind", k)], *v as f64);
        }
        out.push(f.mf);
    }
    if let Some(rt) = &g.runtime {
        let mut f = Family::counter(
            "moose_control_punts_total",
            "Punts the control thread drained, by class.",
        );
        for class in PuntClass::ALL {
            f.add(
                &[("class", class.name())],
                rt.punts.get(class.name()).copied().unwrap_or(0) as f64,
            );
        }
        out.push(f.mf);
        let rows: [(&str, &str, u64); 9] = [
            (
                "moose_table_publishes_total",
                "Publications of the tables to the workers.",
                rt.publishes,
            ),
            (
                "moose_control_turns_total",
                "Turns of the control thread's loop.",
                rt.turns,
            ),
            (
                "moose_control_orphan_punts_total",
                "Punts of a class no service owns (freed).",
                rt.orphan_punts,
            ),
            (
                "moose_control_sent_frames_total",
                "Frames the control thread transmitted through the workers.",
                rt.sent_frames,
            ),
            (
                "moose_control_send_failures_total",
                "Frames the control thread could not send (no buffer, ring full, no such port).",
                rt.send_failures,
            ),
            (
                "moose_control_requests_total",
                "Management requests answered by the control thread.",
                rt.requests,
            ),
            (
                "moose_control_link_changes_total",
                "Port link changes seen.",
                rt.link_changes,
            ),
            (
                "moose_control_reattaches_total",
                "Devices re-attached after their interface was re-created.",
                rt.reattaches,
            ),
            (
                "moose_control_reattach_failures_total",
                "Failed re-attach attempts (retried every second).",
                rt.reattach_failures,
            ),
        ];
        for (name, help, v) in rows {
            single(out, Family::counter, name, help, v);
        }
    }
    if let Some(h) = &g.hosts {
        single(
            out,
            Family::gauge,
            "moose_hosts",
            "Hosts with a MOOSE address on this switch.",
            h.hosts as u64,
        );
        single(
            out,
            Family::gauge,
            "moose_hosts_max",
            "The switch's bound on hosts (moose.max_hosts).",
            u64::from(h.max_hosts),
        );
        single(
            out,
            Family::gauge,
            "moose_hosts_quarantined",
            "Released host ids not yet reusable.",
            h.quarantined as u64,
        );
        single(
            out,
            Family::gauge,
            "moose_hosts_forwarding",
            "Old addresses of hosts that moved away, forwarded to their new ones now.",
            h.forwarding as u64,
        );
        single(
            out,
            Family::gauge,
            "moose_hosts_frozen",
            "Hosts frozen now for moving too often.",
            h.frozen as u64,
        );
        let mut f = Family::gauge(
            "moose_hosts_port",
            "Hosts on each edge port (bounded by moose_hosts_port_max).",
        );
        // Each port's bound beside its count, with the same labels, so
        // that `moose_hosts_port / moose_hosts_port_max` is its use.
        let mut bound = Family::gauge(
            "moose_hosts_port_max",
            "The bound on hosts of each edge port (moose.host_quota).",
        );
        for p in &s.ports {
            if p.role == moose_config::Role::Edge {
                f.add(
                    &[("port", &p.name)],
                    f64::from(h.per_port.get(&p.name).copied().unwrap_or(0)),
                );
                bound.add(&[("port", &p.name)], f64::from(h.host_quota));
            }
        }
        out.push(f.mf);
        out.push(bound.mf);
        let c = &h.counters;
        let rows: [(&str, &str, u64); 15] = [
            (
                "moose_hosts_allocated_total",
                "MOOSE addresses allocated to new hosts.",
                c.allocated,
            ),
            (
                "moose_hosts_released_total",
                "Hosts released after moose.host_idle_secs without a frame.",
                c.released,
            ),
            (
                "moose_hosts_moved_total",
                "Hosts that reappeared on another port of this switch.",
                c.moved,
            ),
            (
                "moose_hosts_quota_refused_total",
                "Hosts not admitted: their port held moose.host_quota hosts.",
                c.quota_refused,
            ),
            (
                "moose_hosts_full_refused_total",
                "Hosts not admitted: the switch held moose.max_hosts, or no id was free.",
                c.full_refused,
            ),
            (
                "moose_hosts_reinjected_total",
                "First frames re-injected once their host had an address.",
                c.reinjected,
            ),
            (
                "moose_hosts_bad_frames_total",
                "Punted frames without a valid host source (dropped).",
                c.bad_frames,
            ),
            (
                "moose_hosts_refreshed_total",
                "Refreshes of known hosts.",
                c.refreshed,
            ),
            (
                "moose_hosts_store_errors_total",
                "Failed writes to the host store (moose.state_dir).",
                c.store_errors,
            ),
            (
                "moose_hosts_moves_in_total",
                "Hosts that arrived here from another switch.",
                c.moves_in,
            ),
            (
                "moose_hosts_moves_out_total",
                "Hosts handed over to the switch they moved to (old address forwarded for moose.move_hold_secs).",
                c.moves_out,
            ),
            (
                "moose_hosts_frozen_refused_total",
                "Frames of hosts frozen for moving more than moose.move_limit times in moose.move_window_secs, dropped.",
                c.frozen_refused,
            ),
            (
                "moose_hosts_sticky_refused_total",
                "Frames of sticky hosts on a port not theirs, and handovers of sticky hosts, refused.",
                c.sticky_refused,
            ),
            (
                "moose_hosts_announcements_sent_total",
                "Gratuitous ARPs and unsolicited neighbour advertisements made for hosts that arrived.",
                c.announcements_sent,
            ),
            (
                "moose_hosts_forward_unrouted_total",
                "Old addresses of moved hosts whose new address had no route.",
                c.forward_unrouted,
            ),
        ];
        for (name, help, v) in rows {
            single(out, Family::counter, name, help, v);
        }
        // A summary without quantiles: its `_sum` and `_count` series are
        // what a rate of the mean delay needs, under the type Prometheus
        // expects of those suffixes.
        let mut f = Family::new(
            "moose_hosts_first_frame_seconds",
            "Control-thread time of new hosts' first frames, from punt to re-injection (store write and publication included).",
            MetricType::SUMMARY,
        );
        let mut m = Metric::default();
        let mut sum = Summary::default();
        sum.set_sample_sum(h.first_frame_us_sum as f64 / 1e6);
        sum.set_sample_count(h.first_frame_count);
        m.set_summary(sum);
        f.mf.mut_metric().push(m);
        out.push(f.mf);
        let mut f = Family::gauge(
            "moose_hosts_first_frame_seconds_max",
            "The longest first-frame time seen.",
        );
        f.add(&[], h.first_frame_us_max as f64 / 1e6);
        out.push(f.mf);
    }
    if let Some(r) = &g.routes {
        single(
            out,
            Family::gauge,
            "moose_fib_entries",
            "MAC routes in the FIB.",
            r.fib_entries as u64,
        );
        single(
            out,
            Family::gauge,
            "moose_fib_bytes",
            "Bytes of the published FIB lookup table.",
            r.fib_bytes as u64,
        );
        single(
            out,
            Family::gauge,
            "moose_fib_groups",
            "ECMP next-hop groups published.",
            r.groups as u64,
        );
        single(
            out,
            Family::counter,
            "moose_fib_rebuilds_total",
            "FIB publications (start, link changes, SPF results).",
            r.rebuilds,
        );
    }
    if let Some(h) = &g.home {
        let mut f = Family::gauge(
            "moose_home_port",
            "1 while an edge or legacy port is its segment's home, 0 while a lower switch port is heard on it (its hosts are not translated here).",
        );
        for p in &h.ports {
            f.add(&[("port", &p.port)], if p.home { 1.0 } else { 0.0 });
        }
        out.push(f.mf);
        let c = &h.counters;
        let rows: [(&str, &str, u64); 5] = [
            ("moose_home_hellos_sent_total", "Home hellos sent on edge and legacy ports.", c.hellos_sent),
            ("moose_home_hello_send_failures_total", "Home hellos that could not be sent.", c.hello_send_failures),
            ("moose_home_hellos_received_total", "Valid home hellos received.", c.hellos_received),
            ("moose_home_hellos_invalid_total", "Frames to the home hello group that were not valid hellos, or came in on a fabric port.", c.hellos_invalid),
            ("moose_home_changes_total", "Ports that stopped or started being their segment's home.", c.home_changes),
        ];
        for (name, help, v) in rows {
            single(out, Family::counter, name, help, v);
        }
    }
    if let Some(r) = &g.routing {
        let mut f = Family::gauge(
            "moose_routing_neighbors",
            "Fabric neighbours by state (down, init, two-way, full).",
        );
        for (state, n) in &r.neighbors {
            f.add(&[("state", state)], *n as f64);
        }
        out.push(f.mf);
        single(
            out,
            Family::gauge,
            "moose_routing_lsdb_entries",
            "Advertisements in the link-state database (one per switch).",
            r.lsdb_entries as u64,
        );
        let rows: [(&str, &str, u64); 20] = [
            ("moose_routing_bindings_flooded_total", "Directory bindings this switch flooded.", r.bindings_flooded),
            ("moose_routing_bindings_received_total", "Other switches' directory bindings received (each once).", r.bindings_received),
            ("moose_routing_directory_sent_total", "Directory queries and answers sent.", r.directory_sent),
            ("moose_routing_directory_received_total", "Directory queries and answers received for this switch.", r.directory_received),
            ("moose_routing_directory_unrouted_total", "Directory queries and answers not sent: no route to their destination.", r.directory_unrouted),
            ("moose_routing_renumbers_total", "Prefix conflicts this switch's automatic prefix lost (it took another).", r.renumbers),
            ("moose_routing_hosts_announced_total", "Host announcements this switch originated.", r.hosts_announced),
            ("moose_routing_host_announces_received_total", "Other switches' host announcements received (each once).", r.host_announces_received),
            ("moose_routing_hellos_sent_total", "Fabric hellos sent.", r.hellos_sent),
            ("moose_routing_hellos_received_total", "Fabric hellos received and accepted.", r.hellos_received),
            ("moose_routing_adverts_sent_total", "Advertisements sent (flooded, exchanged, retransmitted).", r.adverts_sent),
            ("moose_routing_adverts_received_total", "Advertisements received and authenticated.", r.adverts_received),
            ("moose_routing_adverts_retransmitted_total", "Advertisements sent again for want of an acknowledgement.", r.adverts_retransmitted),
            ("moose_routing_adverts_originated_total", "Advertisements this switch originated.", r.adverts_originated),
            ("moose_routing_acks_sent_total", "Acknowledgements sent.", r.acks_sent),
            ("moose_routing_acks_received_total", "Acknowledgements received.", r.acks_received),
            ("moose_routing_spf_runs_total", "Shortest-path-first runs.", r.spf_runs),
            ("moose_routing_route_changes_total", "SPF routes added, removed or changed.", r.route_changes),
            ("moose_routing_tree_changes_total", "Broadcast tree recomputations that changed it.", r.tree_changes),
            ("moose_routing_hellos_on_edge_total", "Fabric hellos heard on edge or legacy ports (another switch's fabric port on a host segment).", r.hellos_on_edge),
        ];
        for (name, help, v) in rows {
            single(out, Family::counter, name, help, v);
        }
        let mut f = Family::counter(
            "moose_routing_spf_seconds_total",
            "Time spent in SPF (graph, routes, tree).",
        );
        f.add(&[], r.spf_nanos_total as f64 / 1e9);
        out.push(f.mf);
        let mut f = Family::gauge(
            "moose_routing_spf_last_seconds",
            "Duration of the last SPF run.",
        );
        f.add(&[], r.spf_last_nanos as f64 / 1e9);
        out.push(f.mf);
        let mut f = Family::counter(
            "moose_routing_rejected_total",
            "Protocol messages dropped, by reason (truncated, oversize, wrong_length, unauthenticated, bad_mac, unknown_key, replayed, old_sequence, not_adjacent, …).",
        );
        for reason in moose_control::routing::REJECT_REASONS {
            f.add(
                &[("reason", reason)],
                r.rejected.get(*reason).copied().unwrap_or(0) as f64,
            );
        }
        out.push(f.mf);
    }
    if let Some(e) = &g.elk {
        elk_families(e, out);
    }
    if let Some((m, pools)) = &g.mps {
        mps_families(m, pools, out);
    }
    if let Some(api) = s.server.get() {
        for m in api.metrics() {
            let f = match m.kind {
                moose_mgmt::MetricKind::Counter => Family::counter,
                moose_mgmt::MetricKind::Gauge => Family::gauge,
            };
            single(out, f, m.name, m.help, m.value);
        }
    }
}

fn mps_families(
    m: &moose_control::mps::api::MpsStats,
    pools: &[moose_control::mps::api::PoolReport],
    out: &mut Vec<MetricFamily>,
) {
    let labelled = |out: &mut Vec<MetricFamily>,
                    name: &str,
                    help: &str,
                    label: &str,
                    keys: &[&str],
                    map: &BTreeMap<String, u64>| {
        let mut f = Family::counter(name, help);
        for k in keys {
            f.add(&[(label, k)], map.get(*k).copied().unwrap_or(0) as f64);
        }
        for (k, v) in map.iter().filter(|(k, _)| !keys.contains(&k.as_str())) {
            f.add(&[(label, k)], *v as f64);
        }
        out.push(f.mf);
    };
    labelled(
        out,
        "moose_mps_requests_total",
        "MAC provider requests answered, by result (new assignment, existing one, refused).",
        "result",
        &["new", "existing", "refused"],
        &m.requests,
    );
    labelled(
        out,
        "moose_mps_refused_total",
        "MAC provider requests refused, by reason.",
        "reason",
        &[
            "invalid",
            "unknown_pool",
            "exhausted",
            "quota",
            "ipv4_taken",
            "store",
            "etcd",
        ],
        &m.refused,
    );
    let rows: [(&str, &str, u64); 6] = [
        (
            "moose_mps_released_total",
            "Addresses given back by their handle.",
            m.released,
        ),
        (
            "moose_mps_reclaimed_total",
            "Addresses taken back by an administrator.",
            m.reclaimed,
        ),
        (
            "moose_mps_commits_total",
            "Durable store commits (one per control-thread turn with changes).",
            m.commits,
        ),
        (
            "moose_mps_store_errors_total",
            "Store commits that failed (their changes were refused).",
            m.store_errors,
        ),
        (
            "moose_mps_skipped_fabric_total",
            "Candidate addresses passed over because a fabric switch prefix holds them.",
            m.skipped_fabric,
        ),
        (
            "moose_mps_commit_nanoseconds_total",
            "Time spent in durable commits.",
            m.commit_nanos_total,
        ),
    ];
    for (name, help, v) in rows {
        single(out, Family::counter, name, help, v);
    }
    if m.etcd {
        let rows: [(&str, &str, u64); 5] = [
            (
                "moose_mps_etcd_syncs_total",
                "Times the provider got in sync with etcd (start and every reconnect).",
                m.etcd_syncs,
            ),
            (
                "moose_mps_etcd_conflicts_total",
                "etcd commits another provider's changes made fail (their requests retried).",
                m.etcd_conflicts,
            ),
            (
                "moose_mps_etcd_failures_total",
                "etcd commits that failed for want of etcd (their changes refused).",
                m.etcd_failures,
            ),
            (
                "moose_mps_etcd_block_claims_total",
                "Address blocks leased from etcd.",
                m.etcd_block_claims,
            ),
            (
                "moose_mps_block_misses_total",
                "New addresses taken outside the provider's leased blocks.",
                m.block_misses,
            ),
        ];
        for (name, help, v) in rows {
            single(out, Family::counter, name, help, v);
        }
        single(
            out,
            Family::gauge,
            "moose_mps_etcd_up",
            "1 while the provider is in sync with etcd (else it refuses requests).",
            u64::from(m.etcd_up),
        );
        single(
            out,
            Family::gauge,
            "moose_mps_etcd_blocks",
            "Address blocks this provider leases now.",
            m.etcd_blocks,
        );
    }
    single(
        out,
        Family::gauge,
        "moose_mps_assigned",
        "Addresses owned by a handle.",
        m.assigned,
    );
    single(
        out,
        Family::gauge,
        "moose_mps_orphans",
        "Owned addresses in no configured pool (after a reload).",
        m.orphans,
    );
    let mut size = Family::gauge(
        "moose_mps_pool_addresses",
        "Addresses of each MAC provider pool.",
    );
    let mut used = Family::gauge(
        "moose_mps_pool_used",
        "Addresses of each pool owned by a handle.",
    );
    for p in pools {
        size.add(&[("pool", &p.name)], p.size as f64);
        used.add(&[("pool", &p.name)], p.used as f64);
    }
    out.push(size.mf);
    out.push(used.mf);
    labelled(
        out,
        "moose_mps_dhcp6_messages_total",
        "DHCPv6 link-layer address messages received (RFC 8947), by type.",
        "type",
        &[
            "solicit",
            "request",
            "renew",
            "rebind",
            "release",
            "decline",
            "confirm",
            "information_request",
        ],
        &m.dhcp6_messages,
    );
    labelled(
        out,
        "moose_mps_dhcp6_replies_total",
        "DHCPv6 answers sent, by type.",
        "type",
        &["advertise", "reply"],
        &m.dhcp6_replies,
    );
    labelled(
        out,
        "moose_mps_dhcp6_dropped_total",
        "DHCPv6 messages dropped, by reason.",
        "reason",
        &[],
        &m.dhcp6_dropped,
    );
}

fn elk_families(e: &moose_control::elk::api::ElkStats, out: &mut Vec<MetricFamily>) {
    let by_family: [(&str, &str, &moose_control::elk::api::ByFamily); 5] = [
        ("moose_elk_answered_total", "ARP requests and neighbour solicitations answered by this switch from the directory.", &e.answered),
        ("moose_elk_queries_total", "Misses sent to the directory as unicast queries.", &e.queries),
        ("moose_elk_floods_total", "Requests flooded along the broadcast tree (the directory did not know).", &e.floods),
        ("moose_elk_probes_total", "Unicast probes sent to this switch's hosts before their binding expired.", &e.probes),
        ("moose_elk_inspection_drops_total", "ARP/ND frames dropped because their sender contradicts a DHCP-snooped or static binding.", &e.inspection_drops),
    ];
    for (name, help, m) in by_family {
        let mut f = Family::counter(name, help);
        for fam in ["arp", "nd"] {
            f.add(&[("family", fam)], m.get(fam).copied().unwrap_or(0) as f64);
        }
        out.push(f.mf);
    }
    let rows: [(&str, &str, u64); 8] = [
        (
            "moose_elk_passed_total",
            "ARP/ND/DHCP frames the directory saw and let go on to be delivered.",
            e.passed,
        ),
        (
            "moose_elk_conflicts_total",
            "Addresses claimed from two places (two hosts, or a host of another switch).",
            e.conflicts,
        ),
        (
            "moose_elk_queries_served_total",
            "Directory queries this directory switch answered.",
            e.queries_served,
        ),
        (
            "moose_elk_queries_unknown_total",
            "Directory queries for addresses the directory did not know.",
            e.queries_unknown,
        ),
        (
            "moose_elk_query_timeouts_total",
            "Directory queries not answered within elk.query_timeout_ms (flooded).",
            e.query_timeouts,
        ),
        (
            "moose_elk_pending_full_total",
            "Requests flooded because too many were waiting for the directory.",
            e.pending_full,
        ),
        (
            "moose_elk_dhcp_snooped_total",
            "DHCP acknowledgements snooped into bindings.",
            e.dhcp_snooped,
        ),
        (
            "moose_elk_expired_total",
            "Bindings withdrawn: the host did not answer probes, or left.",
            e.expired,
        ),
    ];
    for (name, help, v) in rows {
        single(out, Family::counter, name, help, v);
    }
    let mut f = Family::counter(
        "moose_elk_malformed_total",
        "ARP, ND and DHCP frames that do not parse, by reason (dropped).",
    );
    for reason in moose_control::elk::frames::MALFORMED {
        f.add(
            &[("reason", reason)],
            e.malformed.get(*reason).copied().unwrap_or(0) as f64,
        );
    }
    out.push(f.mf);
    let mut f = Family::gauge(
        "moose_elk_bindings",
        "Bindings held: own (this switch's hosts), directory (every switch's, on a directory server), cache (answers).",
    );
    f.add(&[("kind", "own")], e.own_entries as f64);
    f.add(&[("kind", "directory")], e.directory_entries as f64);
    f.add(&[("kind", "cache")], e.cache_entries as f64);
    out.push(f.mf);
    let mut f = Family::gauge(
        "moose_elk_bindings_bytes",
        "Memory the bindings take (keys, values and per-entry map overhead).",
    );
    f.add(&[("kind", "own")], e.own_bytes as f64);
    f.add(&[("kind", "directory")], e.directory_bytes as f64);
    f.add(&[("kind", "cache")], e.cache_bytes as f64);
    out.push(f.mf);
    single(
        out,
        Family::gauge,
        "moose_elk_pending_requests",
        "Requests waiting for a directory answer.",
        e.pending as u64,
    );
    if let Some(d) = &e.dhcp {
        dhcp_families(e, d, out);
    }
}

/// The built-in DHCP server (only on a switch with `[[dhcp.pool]]`).
fn dhcp_families(
    e: &moose_control::elk::api::ElkStats,
    figures: &moose_control::elk::api::DhcpFigures,
    out: &mut Vec<MetricFamily>,
) {
    let d = &figures.counters;
    let mut f = Family::counter(
        "moose_dhcp_messages_total",
        "DHCP client messages the built-in server read, by type.",
    );
    for (kind, v) in [
        ("discover", d.discovers),
        ("request", d.requests),
        ("release", d.releases),
        ("decline", d.declines),
        ("inform", d.informs),
    ] {
        f.add(&[("type", kind)], v as f64);
    }
    out.push(f.mf);
    let mut f = Family::counter(
        "moose_dhcp_replies_total",
        "Replies the built-in DHCP server sent, by type.",
    );
    for (kind, v) in [("offer", d.offers), ("ack", d.acks), ("nak", d.naks)] {
        f.add(&[("type", kind)], v as f64);
    }
    out.push(f.mf);
    let rows: [(&str, &str, u64); 8] = [
        (
            "moose_dhcp_offers_unheld_total",
            "Offers made past the bound on held offers: the address was not reserved.",
            d.offers_unheld,
        ),
        (
            "moose_dhcp_exhausted_total",
            "DISCOVERs left unanswered: no free address in the pool.",
            d.exhausted,
        ),
        (
            "moose_dhcp_other_server_total",
            "REQUESTs naming another server (our offer withdrawn).",
            d.other_server,
        ),
        (
            "moose_dhcp_unknown_client_total",
            "REQUESTs for a free address from a client the server has no record of (not answered).",
            d.unknown_client,
        ),
        (
            "moose_dhcp_ignored_total",
            "RELEASEs, DECLINEs and INFORMs that named nothing of ours.",
            d.ignored,
        ),
        (
            "moose_dhcp_leases_expired_total",
            "Leases that ran out.",
            d.expired,
        ),
        (
            "moose_dhcp_store_errors_total",
            "Failed writes to the lease store.",
            d.store_errors,
        ),
        (
            "moose_dhcp_leased_total",
            "Leases granted to this switch's own hosts (bound in the directory at once).",
            e.dhcp_leased,
        ),
    ];
    for (name, help, v) in rows {
        single(out, Family::counter, name, help, v);
    }
    let mut f = Family::counter(
        "moose_dhcp_refused_total",
        "Client messages the built-in DHCP server refused, by reason (dropped).",
    );
    // The frame reader's refusals and the server's share their labels.
    let mut refused: std::collections::BTreeMap<String, u64> =
        d.refused.iter().map(|(r, v)| (r.to_string(), v)).collect();
    for (reason, v) in &e.dhcp_refused {
        *refused.entry(reason.clone()).or_default() += v;
    }
    for (reason, v) in &refused {
        f.add(&[("reason", reason)], *v as f64);
    }
    out.push(f.mf);
    let mut f = Family::gauge("moose_dhcp_leases", "Leases held, by VLAN.");
    for (vlan, n) in &figures.leases {
        f.add(&[("vlan", &vlan.to_string())], *n as f64);
    }
    out.push(f.mf);
    let mut f = Family::gauge(
        "moose_dhcp_offers_held",
        "Offers holding an address, by VLAN.",
    );
    let mut m = Family::gauge(
        "moose_dhcp_offers_held_max",
        "The most offers that may hold an address at once, by VLAN.",
    );
    for (vlan, (held, max)) in &figures.held_offers {
        f.add(&[("vlan", &vlan.to_string())], *held as f64);
        m.add(&[("vlan", &vlan.to_string())], *max as f64);
    }
    out.push(f.mf);
    out.push(m.mf);
}

fn nic_families(s: &Shared, nic: &NicReport, out: &mut Vec<MetricFamily>) {
    type NicGet = fn(&NicCounters) -> u64;
    let rows: [(&str, &str, NicGet); 9] = [
        ("moose_nic_rx_packets_total", "Frames the device received (ethdev ipackets).", |s| s.ipackets),
        ("moose_nic_tx_packets_total", "Frames the device sent (ethdev opackets).", |s| s.opackets),
        ("moose_nic_rx_bytes_total", "Bytes the device received.", |s| s.ibytes),
        ("moose_nic_tx_bytes_total", "Bytes the device sent.", |s| s.obytes),
        (
            "moose_nic_rx_missed_total",
            "Frames that arrived and were not received: no free rx descriptor, or a full kernel ring (net_af_packet).",
            |s| s.imissed,
        ),
        (
            "moose_nic_rx_kernel_drops_total",
            "net_af_packet: frames the kernel dropped because the packet ring was full (included in rx_missed).",
            |s| s.kernel_drops,
        ),
        ("moose_nic_rx_errors_total", "Erroneous frames received (ierrors).", |s| s.ierrors),
        ("moose_nic_tx_errors_total", "Failed transmissions (oerrors).", |s| s.oerrors),
        ("moose_nic_rx_nombuf_total", "Receive failures for lack of mbufs.", |s| s.rx_nombuf),
    ];
    for (name, help, get) in rows {
        let mut f = Family::counter(name, help);
        for (meta, p) in s.ports.iter().zip(&nic.ports) {
            if let Some(c) = &p.counters {
                f.add(&[("port", &meta.name)], get(c) as f64);
            }
        }
        out.push(f.mf);
    }
    let mut up = Family::gauge("moose_port_link_up", "1 if the port's link is up.");
    let mut speed = Family::gauge(
        "moose_port_link_speed_bytes",
        "Link speed in bytes per second, the unit of rate(moose_port_*_bytes_total) (0 if unknown).",
    );
    let mut mtu = Family::gauge("moose_port_mtu_bytes", "The port's MTU.");
    for (meta, p) in s.ports.iter().zip(&nic.ports) {
        up.add(&[("port", &meta.name)], if p.link.up { 1.0 } else { 0.0 });
        // Mbit/s as DPDK reports it, in bytes/s: 10^6 / 8.
        speed.add(
            &[("port", &meta.name)],
            f64::from(p.link.speed_mbps) * 125_000.0,
        );
        if let Some(m) = p.mtu {
            mtu.add(&[("port", &meta.name)], f64::from(m));
        }
    }
    out.push(up.mf);
    out.push(speed.mf);
    out.push(mtu.mf);
    single(
        out,
        Family::gauge,
        "moose_mempool_available",
        "Free mbufs in the pool.",
        nic.mempool_available,
    );
    single(
        out,
        Family::gauge,
        "moose_mempool_in_use",
        "Mbufs taken from the pool (in NIC rings, in flight).",
        nic.mempool_in_use,
    );
}
