//! Counters of the fast path.
//!
//! Each worker counts into a plain, worker-local [`WorkerCounters`] and every
//! few loops copies it into its [`WorkerStats`] with relaxed atomic *stores*
//! (never read-modify-write). The metrics scraper sums the `WorkerStats` of
//! all workers at scrape time. Writer: the owning worker. Readers: anyone.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a frame was dropped. Each reason is a counter per port and a
/// Prometheus label value.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// Shorter than an Ethernet header.
    TooShort,
    /// Ends inside its 802.1Q tag.
    TruncatedVlan,
    /// Longer than `dataplane.max_frame`.
    Oversize,
    /// Source address is multicast/broadcast (invalid on the wire).
    SrcMulticast,
    /// The frame's VLAN is not carried by the ingress port.
    VlanIngress,
    /// Destination was learned on the ingress port: nothing to forward.
    SamePort,
    /// Source matches a static entry of another port.
    StaticMove,
    /// A flood with no other member port in the VLAN.
    NoFloodPort,
    /// The frame pool had no buffer for a flood copy.
    NoBuffer,
    /// The NIC's tx queue refused the frame.
    TxFull,
    /// The punt ring to the slow path was full (control frame lost).
    PuntRingFull,
}

impl DropReason {
    pub const ALL: [DropReason; 11] = [
        DropReason::TooShort,
        DropReason::TruncatedVlan,
        DropReason::Oversize,
        DropReason::SrcMulticast,
        DropReason::VlanIngress,
        DropReason::SamePort,
        DropReason::StaticMove,
        DropReason::NoFloodPort,
        DropReason::NoBuffer,
        DropReason::TxFull,
        DropReason::PuntRingFull,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::TooShort => "too_short",
            DropReason::TruncatedVlan => "truncated_vlan",
            DropReason::Oversize => "oversize",
            DropReason::SrcMulticast => "src_multicast",
            DropReason::VlanIngress => "vlan_not_allowed",
            DropReason::SamePort => "same_port",
            DropReason::StaticMove => "static_move",
            DropReason::NoFloodPort => "no_flood_port",
            DropReason::NoBuffer => "no_buffer",
            DropReason::TxFull => "tx_full",
            DropReason::PuntRingFull => "punt_ring_full",
        }
    }
}

/// Per-port counters of one worker.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PortCounter {
    RxPackets,
    RxBytes,
    TxPackets,
    TxBytes,
    /// Frames flooded out of this port (broadcast, multicast, unknown unicast).
    TxFlood,
    /// Frames received whose destination was not in the FDB.
    RxUnknownUnicast,
    /// Control frames punted to the slow path.
    RxPunted,
}

const N_PORT_COUNTERS: usize = 7;
const N_DROPS: usize = DropReason::ALL.len();
const STRIDE: usize = N_PORT_COUNTERS + N_DROPS;

/// Worker-wide counters.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum GlobalCounter {
    Loops,
    Bursts,
    EmptyPolls,
    Sleeps,
    /// Learn requests lost because the punt ring was full (frames still flow).
    LearnRingFull,
    LearnRequests,
}

const N_GLOBAL: usize = 6;

/// Counters for `n_ports` ports: the worker-wide ones first, then one
/// block of [`STRIDE`] per port. Sized by the real port count, not
/// [`MAX_PORTS`](crate::MAX_PORTS): the whole array is copied on every
/// publish, and with two ports it is 5 cache lines instead of 145.
fn len(n_ports: usize) -> usize {
    N_GLOBAL + n_ports * STRIDE
}

#[inline]
fn port_index(port: u16, c: PortCounter) -> usize {
    N_GLOBAL + usize::from(port) * STRIDE + c as usize
}

#[inline]
fn drop_index(port: u16, r: DropReason) -> usize {
    N_GLOBAL + usize::from(port) * STRIDE + N_PORT_COUNTERS + r as usize
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
    pub fn global(&mut self, c: GlobalCounter, n: u64) {
        self.v[c as usize] += n;
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
        debug_assert_eq!(shared.v.len(), self.v.len());
        for (s, v) in shared.v.iter().zip(self.v.iter()) {
            s.store(*v, Ordering::Relaxed);
        }
    }
}

/// The published copy of one worker's counters. Writer: that worker
/// (stores only). Readers: the metrics scraper and the API; a port the
/// worker does not have reads as zero.
pub struct WorkerStats {
    v: Box<[AtomicU64]>,
}

impl WorkerStats {
    pub fn new(n_ports: usize) -> WorkerStats {
        WorkerStats {
            v: (0..len(n_ports)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn load(&self, i: usize) -> u64 {
        self.v.get(i).map_or(0, |a| a.load(Ordering::Relaxed))
    }

    pub fn port(&self, port: u16, c: PortCounter) -> u64 {
        self.load(port_index(port, c))
    }

    pub fn dropped(&self, port: u16, r: DropReason) -> u64 {
        self.load(drop_index(port, r))
    }

    pub fn global(&self, c: GlobalCounter) -> u64 {
        self.load(c as usize)
    }
}

/// Sums of all workers' stats for one port.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PortTotals {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_flood: u64,
    pub rx_unknown_unicast: u64,
    pub rx_punted: u64,
    pub drops: std::collections::BTreeMap<&'static str, u64>,
}

impl PortTotals {
    pub fn sum(stats: &[std::sync::Arc<WorkerStats>], port: u16) -> PortTotals {
        let s = |c| stats.iter().map(|w| w.port(port, c)).sum::<u64>();
        let mut t = PortTotals {
            rx_packets: s(PortCounter::RxPackets),
            rx_bytes: s(PortCounter::RxBytes),
            tx_packets: s(PortCounter::TxPackets),
            tx_bytes: s(PortCounter::TxBytes),
            tx_flood: s(PortCounter::TxFlood),
            rx_unknown_unicast: s(PortCounter::RxUnknownUnicast),
            rx_punted: s(PortCounter::RxPunted),
            drops: Default::default(),
        };
        for r in DropReason::ALL {
            let n: u64 = stats.iter().map(|w| w.dropped(port, r)).sum();
            t.drops.insert(r.name(), n);
        }
        t
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
        c.drop(63, DropReason::PuntRingFull, 2);
        c.global(GlobalCounter::EmptyPolls, 5);
        let s = WorkerStats::new(64);
        c.publish(&s);
        assert_eq!(s.port(3, PortCounter::RxBytes), 100);
        assert_eq!(s.dropped(63, DropReason::PuntRingFull), 2);
        assert_eq!(s.global(GlobalCounter::EmptyPolls), 5);
        assert_eq!(s.port(2, PortCounter::RxBytes), 0);
        // Blocks do not overlap: the last port's last counter is the end.
        assert_eq!(
            drop_index(63, DropReason::PuntRingFull) + 1,
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
    fn reason_names_are_unique() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::ALL.len());
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }
}
