//! Counters of the fast path, declared once.
//!
//! Every counter kind is one row of a table below: the enum variant, the
//! label (the JSON key and the Prometheus label value or metric name part)
//! and the help text. The enum, its `ALL` list, `label()`, `help()` and
//! the Prometheus families in the binary are all generated from that row,
//! so a new drop reason cannot be counted without also being exported and
//! documented.
//!
//! Each worker counts into a plain, worker-local [`WorkerCounters`] and every
//! few loops copies it into its [`WorkerStats`] with relaxed atomic *stores*
//! (never read-modify-write). The metrics scraper sums the `WorkerStats` of
//! all workers at scrape time. Writer: the owning worker. Readers: anyone.
//! A `WorkerStats` sits in its own cache lines (aligned 128-byte chunks),
//! so one worker's publish never invalidates a line another worker writes.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use moose_config::PuntClass;

/// Declares a counter kind: a `#[repr(u8)]` enum with `ALL`, `label()` and
/// `help()`, from one table of `Variant => "label", "help";` rows.
macro_rules! counter_kinds {
    ($(#[$meta:meta])* pub enum $name:ident { $($variant:ident => $label:literal, $help:literal;)* }) => {
        $(#[$meta])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name {
            $(#[doc = $help] $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            pub const COUNT: usize = Self::ALL.len();

            /// The JSON key and Prometheus label of this kind.
            pub fn label(self) -> &'static str {
                match self {
                    $($name::$variant => $label,)*
                }
            }

            /// What it counts, for metric help texts and the docs.
            pub fn help(self) -> &'static str {
                match self {
                    $($name::$variant => $help,)*
                }
            }
        }
    };
}

counter_kinds! {
    /// Why a frame was dropped: a counter per port and a value of the
    /// `reason` label of `moose_port_drops_total`. Counted on the ingress
    /// port, except `link_down`, `mtu_exceeded` and `tx_full` (egress).
    pub enum DropReason {
        TooShort => "too_short", "Shorter than an Ethernet header (14 bytes).";
        TruncatedVlan => "truncated_vlan", "Ends inside its 802.1Q tag.";
        Oversize => "oversize", "Longer than dataplane.max_frame.";
        SrcMulticast => "src_multicast", "Source address is multicast or broadcast (invalid on the wire).";
        SrcZero => "src_zero", "Source address is 00:00:00:00:00:00 (invalid on the wire).";
        VlanIngress => "vlan_not_allowed", "The frame's VLAN is not carried by the ingress port.";
        SamePort => "same_port", "The destination was learned on the ingress port: nothing to forward.";
        StaticMove => "static_move", "The source is a static FDB entry of another port.";
        NoFloodPort => "no_flood_port", "A flood with no other member port (up) in the VLAN.";
        NoBuffer => "no_buffer", "No buffer for a flood copy.";
        NoRoute => "no_route", "No route, or an empty next-hop group, for the destination.";
        NoHost => "no_host", "The destination is under this switch's MOOSE prefix but no host has it.";
        OwnPrefix => "own_prefix", "A frame from a fabric port whose source is under this switch's own prefix (a loop).";
        OffTree => "off_tree", "A broadcast or multicast from a fabric port that is not (or not yet, on both ends) on the broadcast tree.";
        NotHome => "not_home", "From a host on a segment whose home is another switch or port (heard in home hellos): not translated here.";
        LinkDown => "link_down", "The egress port's link is down (egress port).";
        MtuExceeded => "mtu_exceeded", "Longer than the egress port's MTU allows (egress port).";
        TxFull => "tx_full", "The NIC's tx queue refused the frame (egress port).";
        PuntRingFull => "punt_ring_full", "The punt ring of the frame's class to the control thread was full.";
        PuntRateLimited => "punt_rate_limited", "The punt class's or the port's token bucket was empty.";
        StormBroadcast => "storm_broadcast", "Storm control: the ingress port's broadcast rate (port[].storm.broadcast_pps) was exceeded.";
        StormMulticast => "storm_multicast", "Storm control: the ingress port's multicast rate (port[].storm.multicast_pps) was exceeded.";
        StormUnknownUnicast => "storm_unknown_unicast", "Storm control: the ingress port's unknown-unicast flood rate (port[].storm.unknown_unicast_pps) was exceeded.";
        NotAccepted => "not_accepted", "The port filters in software (no free NIC MAC slot, or an emulated filter): the destination is none of its active or subscribed addresses.";
    }
}

counter_kinds! {
    /// Per-port frame counters (`moose_port_<label>_total{port}`).
    pub enum PortCounter {
        RxPackets => "rx_packets", "Frames received by the workers.";
        RxBytes => "rx_bytes", "Bytes received by the workers.";
        TxPackets => "tx_packets", "Frames the NIC accepted for transmission.";
        TxBytes => "tx_bytes", "Bytes the NIC accepted for transmission.";
        TxFlood => "tx_flood", "Frames flooded out of the port (broadcast, multicast, unknown unicast).";
        RxUnknownUnicast => "rx_unknown_unicast", "Unicast frames received for destinations not in the FDB.";
        RxPunted => "rx_punted", "Frames handed to the control thread.";
    }
}

counter_kinds! {
    /// Worker-wide counters (`moose_worker_<label>_total{worker}`).
    pub enum WorkerCounter {
        Loops => "loops", "Poll loops.";
        Bursts => "bursts", "rx bursts attempted.";
        EmptyPolls => "empty_polls", "rx bursts that returned nothing.";
        Sleeps => "sleeps", "Idle back-off sleeps.";
        LearnRequests => "learn_requests", "Learn and refresh requests offered to the control thread (see moose_punt_* for those refused).";
        Injected => "injected", "Frames the control thread transmitted through this worker.";
        InjectDropped => "inject_dropped", "Frames from the control thread dropped: no such port, or the port was parked.";
        Reinjected => "reinjected", "Frames the control thread handed back to be classified again (first frames of new hosts).";
        RewriteSrc => "rewrite_src", "Frames whose source address was translated (edge ingress).";
        RewriteDst => "rewrite_dst", "Frames whose destination was restored to a host's real address.";
        RewriteArp => "rewrite_arp", "ARP hardware addresses rewritten in frames.";
        RewriteNd => "rewrite_nd", "IPv6 neighbour discovery link-layer addresses rewritten in frames.";
        RewriteDhcp => "rewrite_dhcp", "DHCP chaddr fields rewritten in frames.";
        RewriteInvalid => "rewrite_invalid", "ARP, ND or DHCP messages that could not be read (truncated, bad lengths or options): forwarded with the payload untouched, only the Ethernet addresses rewritten.";
        BusyCycles => "busy_cycles", "Cycles (TSC) of the poll loops that received frames: rx, decision, move and tx of them.";
        BusyFrames => "busy_frames", "Frames received (and re-injected) in those loops: busy_cycles / busy_frames is the cost of a frame.";
    }
}

counter_kinds! {
    /// Per worker and punt class (`moose_punt_<label>_total{worker,class}`):
    /// what the worker handed to the control thread and what it refused.
    pub enum PuntCounter {
        Sent => "sent", "Punts (frames or learn requests) put on the class's ring.";
        RingFull => "ring_full", "Punts refused because the class's ring was full.";
        ClassRate => "class_rate_limited", "Punts refused by the class's token bucket.";
        PortRate => "port_rate_limited", "Punts refused by the ingress port's token bucket of the class.";
    }
}

const N_CLASSES: usize = PuntClass::ALL.len();
const N_GLOBAL: usize = WorkerCounter::COUNT + N_CLASSES * PuntCounter::COUNT;
const STRIDE: usize = PortCounter::COUNT + DropReason::COUNT;

/// Counters for `n_ports` ports: the worker-wide and punt ones first, then
/// one block of [`STRIDE`] per port. Sized by the real port count: the
/// whole array is copied on every publish.
fn len(n_ports: usize) -> usize {
    N_GLOBAL + n_ports * STRIDE
}

#[inline]
fn punt_index(class: PuntClass, c: PuntCounter) -> usize {
    WorkerCounter::COUNT + class as usize * PuntCounter::COUNT + c as usize
}

#[inline]
fn port_index(port: u16, c: PortCounter) -> usize {
    N_GLOBAL + usize::from(port) * STRIDE + c as usize
}

#[inline]
fn drop_index(port: u16, r: DropReason) -> usize {
    N_GLOBAL + usize::from(port) * STRIDE + PortCounter::COUNT + r as usize
}

/// Worker-local counters: plain integers, touched only by their worker.
pub struct WorkerCounters {
    v: Box<[u64]>,
}

impl WorkerCounters {
    pub fn new(n_ports: usize) -> WorkerCounters {
        WorkerCounters {
            v: vec![0; len(n_ports)].into_boxed_slice(),
        }
    }

    #[inline]
    pub fn add(&mut self, port: u16, c: PortCounter, n: u64) {
        self.v[port_index(port, c)] += n;
    }

    #[inline]
    pub fn drop(&mut self, port: u16, r: DropReason, n: u64) {
        self.v[drop_index(port, r)] += n;
    }

    #[inline]
    pub fn worker(&mut self, c: WorkerCounter, n: u64) {
        self.v[c as usize] += n;
    }

    #[inline]
    pub fn punt(&mut self, class: PuntClass, c: PuntCounter) {
        self.v[punt_index(class, c)] += 1;
    }

    pub fn get(&self, port: u16, c: PortCounter) -> u64 {
        self.v[port_index(port, c)]
    }

    pub fn dropped(&self, port: u16, r: DropReason) -> u64 {
        self.v[drop_index(port, r)]
    }

    /// Copies every counter into `shared` (made for as many ports) with
    /// relaxed stores.
    pub fn publish(&self, shared: &WorkerStats) {
        debug_assert_eq!(shared.len, self.v.len());
        for (chunk, vals) in shared.chunks.iter().zip(self.v.chunks(CHUNK)) {
            for (s, v) in chunk.iter().zip(vals) {
                s.store(*v, Ordering::Relaxed);
            }
        }
    }
}

/// Counters per cache-padded chunk (128 bytes, the unit crossbeam pads to
/// on x86-64, which prefetches lines in pairs).
const CHUNK: usize = 16;

/// The published copy of one worker's counters. Writer: that worker
/// (stores only). Readers: the metrics scraper and the API; a port the
/// worker does not have reads as zero.
pub struct WorkerStats {
    chunks: Box<[CachePadded<[AtomicU64; CHUNK]>]>,
    len: usize,
}

impl WorkerStats {
    pub fn new(n_ports: usize) -> WorkerStats {
        let len = len(n_ports);
        WorkerStats {
            chunks: (0..len.div_ceil(CHUNK))
                .map(|_| CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            len,
        }
    }

    fn load(&self, i: usize) -> u64 {
        if i >= self.len {
            return 0;
        }
        self.chunks[i / CHUNK][i % CHUNK].load(Ordering::Relaxed)
    }

    pub fn port(&self, port: u16, c: PortCounter) -> u64 {
        self.load(port_index(port, c))
    }

    pub fn dropped(&self, port: u16, r: DropReason) -> u64 {
        self.load(drop_index(port, r))
    }

    pub fn worker(&self, c: WorkerCounter) -> u64 {
        self.load(c as usize)
    }

    pub fn punt(&self, class: PuntClass, c: PuntCounter) -> u64 {
        self.load(punt_index(class, c))
    }
}

/// Sums of all workers' stats for one port.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct PortTotals {
    /// By [`PortCounter::label`].
    #[serde(flatten)]
    pub counters: std::collections::BTreeMap<String, u64>,
    /// By [`DropReason::label`]; every reason is present.
    pub drops: std::collections::BTreeMap<String, u64>,
}

impl PortTotals {
    pub fn sum(stats: &[std::sync::Arc<WorkerStats>], port: u16) -> PortTotals {
        let mut t = PortTotals::default();
        for &c in PortCounter::ALL {
            let n = stats.iter().map(|w| w.port(port, c)).sum();
            t.counters.insert(c.label().to_string(), n);
        }
        for &r in DropReason::ALL {
            let n = stats.iter().map(|w| w.dropped(port, r)).sum();
            t.drops.insert(r.label().to_string(), n);
        }
        t
    }

    pub fn get(&self, c: PortCounter) -> u64 {
        self.counters.get(c.label()).copied().unwrap_or(0)
    }

    pub fn dropped(&self, r: DropReason) -> u64 {
        self.drops.get(r.label()).copied().unwrap_or(0)
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_copies_every_counter() {
        let mut c = WorkerCounters::new(64);
        c.add(3, PortCounter::RxBytes, 100);
        c.drop(63, DropReason::PuntRateLimited, 2);
        c.worker(WorkerCounter::EmptyPolls, 5);
        c.punt(PuntClass::Reserved, PuntCounter::RingFull);
        let s = WorkerStats::new(64);
        c.publish(&s);
        assert_eq!(s.port(3, PortCounter::RxBytes), 100);
        assert_eq!(s.dropped(63, DropReason::PuntRateLimited), 2);
        assert_eq!(s.worker(WorkerCounter::EmptyPolls), 5);
        assert_eq!(s.punt(PuntClass::Reserved, PuntCounter::RingFull), 1);
        assert_eq!(s.punt(PuntClass::Learn, PuntCounter::RingFull), 0);
        assert_eq!(s.port(2, PortCounter::RxBytes), 0);
        // Blocks do not overlap: the last port's last counter is the end.
        assert_eq!(
            drop_index(63, *DropReason::ALL.last().unwrap()) + 1,
            len(64),
            "layout is dense"
        );
    }

    #[test]
    fn ports_beyond_the_worker_read_as_zero() {
        let mut c = WorkerCounters::new(2);
        c.add(1, PortCounter::TxPackets, 7);
        let s = WorkerStats::new(2);
        c.publish(&s);
        assert_eq!(s.port(1, PortCounter::TxPackets), 7);
        assert_eq!(s.port(2, PortCounter::TxPackets), 0);
        assert_eq!(s.dropped(40, DropReason::TxFull), 0);
    }

    #[test]
    fn workers_stats_do_not_share_cache_lines() {
        let a = WorkerStats::new(3);
        let b = WorkerStats::new(3);
        for s in [&a, &b] {
            let p = s.chunks.as_ptr() as usize;
            assert_eq!(p % 128, 0, "chunks start on a 128-byte boundary");
            assert_eq!(std::mem::size_of_val(&s.chunks[0]) % 128, 0);
        }
    }

    fn check<T: Copy>(all: &[T], index: impl Fn(T) -> usize, label: impl Fn(T) -> &'static str) {
        let mut names: Vec<_> = all.iter().map(|&r| label(r)).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for (i, &r) in all.iter().enumerate() {
            assert_eq!(index(r), i);
        }
    }

    #[test]
    fn labels_are_unique_and_indices_dense() {
        check(DropReason::ALL, |r| r as usize, DropReason::label);
        check(PortCounter::ALL, |r| r as usize, PortCounter::label);
        check(WorkerCounter::ALL, |r| r as usize, WorkerCounter::label);
        check(PuntCounter::ALL, |r| r as usize, PuntCounter::label);
        for r in DropReason::ALL {
            assert!(r.help().ends_with('.') || r.help().ends_with(')'), "{r:?}");
        }
    }

    #[test]
    fn totals_have_every_reason() {
        let mut c = WorkerCounters::new(1);
        c.drop(0, DropReason::SrcZero, 3);
        let s = std::sync::Arc::new(WorkerStats::new(1));
        c.publish(&s);
        let t = PortTotals::sum(&[s], 0);
        assert_eq!(t.drops.len(), DropReason::COUNT);
        assert_eq!(t.dropped(DropReason::SrcZero), 3);
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["rx_packets"], 0);
        assert_eq!(json["drops"]["src_zero"], 3);
    }
}
