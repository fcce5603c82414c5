//! Punts: what workers hand to the control thread, one bounded ring per
//! [`PuntClass`] per worker, each behind token buckets.
//!
//! A class has its own ring and its own bucket, and every ingress port its
//! own bucket within the class, so a flood of one kind (LLDP, new source
//! MACs, DHCP discovers) or from one port fills only its own ring and
//! spends only its own tokens: it never starves another class, or the same
//! class on other ports. The control runtime drains the rings by class
//! priority ([`PuntClass::ALL`] order: routing protocol first). A punt that
//! is refused — ring full, class bucket empty, port bucket empty — is
//! counted by class and reason ([`PuntCounter`](crate::counters::PuntCounter));
//! a refused frame is also a drop of its ingress port.
//!
//! Buckets are worker-local (no atomics): the rates are per worker.

pub use moose_config::PuntClass;
use moose_config::{Config, PuntLimits, PuntRate};
use moose_wire::{ExactKey, PortId};

use crate::counters::PuntCounter;

/// One message from a worker to the control thread.
#[derive(Debug)]
pub enum Punt<F> {
    /// "`key` was seen as a source on `port`": learn, move, or refresh
    /// (class [`PuntClass::Learn`]).
    Learn { key: ExactKey, port: PortId },
    /// A frame for a control-plane service (every other class).
    Frame { port: PortId, frame: F },
}

const N_CLASSES: usize = PuntClass::ALL.len();

/// Milli-tokens per token: rates are frames per second, refilled per
/// millisecond, so one millisecond adds `rate_pps` milli-tokens.
const MILLI: u64 = 1000;

/// A token bucket refilled by the worker's millisecond clock.
#[derive(Copy, Clone, Debug)]
pub struct Bucket {
    /// Milli-tokens available.
    tokens: u64,
    /// Capacity, milli-tokens.
    depth: u64,
    /// Milli-tokens added per millisecond (= tokens per second).
    rate: u64,
    last_ms: u32,
}

impl Bucket {
    pub fn new(rate_pps: u32, burst: u32) -> Bucket {
        let depth = u64::from(burst.max(1)) * MILLI;
        Bucket {
            tokens: depth,
            depth,
            rate: u64::from(rate_pps),
            last_ms: 0,
        }
    }

    #[inline]
    fn refill(&mut self, now_ms: u32) {
        let dt = now_ms.wrapping_sub(self.last_ms);
        if dt != 0 {
            self.tokens = (self.tokens + u64::from(dt) * self.rate).min(self.depth);
            self.last_ms = now_ms;
        }
    }

    /// Whether a token is available at `now_ms` (does not take it).
    #[inline]
    pub fn ready(&mut self, now_ms: u32) -> bool {
        self.refill(now_ms);
        self.tokens >= MILLI
    }

    /// Whether a token is available at `now_ms` beyond the half of the
    /// depth kept for [`PuntTx::offer`] (whole tokens; a bucket of one
    /// token keeps none). Does not take it.
    #[inline]
    fn spare(&mut self, now_ms: u32) -> bool {
        self.refill(now_ms);
        let kept = self.depth / MILLI / 2 * MILLI;
        self.tokens >= kept + MILLI
    }

    #[inline]
    fn take(&mut self) {
        self.tokens -= MILLI;
    }

    /// Takes a token if one is available at `now_ms`.
    #[inline]
    pub fn try_take(&mut self, now_ms: u32) -> bool {
        let ok = self.ready(now_ms);
        if ok {
            self.take();
        }
        ok
    }
}

/// A worker's sending side: a producer and a bucket per class, and a
/// bucket per (port, class).
pub struct PuntTx<F> {
    rings: Vec<rtrb::Producer<Punt<F>>>,
    class: [Bucket; N_CLASSES],
    /// `port[p][class]`.
    port: Vec<[Bucket; N_CLASSES]>,
}

/// The control side of one worker's punt rings, by class.
pub struct PuntRx<F> {
    pub rings: Vec<rtrb::Consumer<Punt<F>>>,
}

/// Rings of `capacity` entries for one worker, with the config's rates.
pub fn rings<F>(
    capacity: usize,
    n_ports: usize,
    limits: &dyn Fn(PuntClass) -> PuntRate,
) -> (PuntTx<F>, PuntRx<F>) {
    let mut tx = Vec::new();
    let mut rx = Vec::new();
    for _ in PuntClass::ALL {
        let (p, c) = rtrb::RingBuffer::new(capacity);
        tx.push(p);
        rx.push(c);
    }
    let (class, per_port) = buckets(limits);
    (
        PuntTx {
            rings: tx,
            class,
            port: vec![per_port; n_ports],
        },
        PuntRx { rings: rx },
    )
}

/// Full buckets of every class, for a worker and for each port.
fn buckets(limits: &dyn Fn(PuntClass) -> PuntRate) -> ([Bucket; N_CLASSES], [Bucket; N_CLASSES]) {
    let class = std::array::from_fn(|i| {
        let r = limits(PuntClass::ALL[i]);
        Bucket::new(r.rate_pps, r.burst)
    });
    let per_port = std::array::from_fn(|i| {
        let r = limits(PuntClass::ALL[i]);
        Bucket::new(r.port_rate_pps, r.port_burst)
    });
    (class, per_port)
}

/// [`rings`] with the rates of `cfg`.
pub fn rings_for<F>(cfg: &Config) -> (PuntTx<F>, PuntRx<F>) {
    rings(cfg.dataplane.punt_ring, cfg.ports.len(), &|c| {
        cfg.punt.get(c)
    })
}

impl<F> PuntTx<F> {
    /// New rates (a reload): every bucket is rebuilt, full, in place (no
    /// allocation; the worker calls it at housekeeping).
    pub fn set_limits(&mut self, limits: &PuntLimits) {
        let (class, per_port) = buckets(&|c| limits.get(c));
        self.class = class;
        for p in &mut self.port {
            *p = per_port;
        }
    }

    /// Offers `punt` on `class`'s ring for ingress `port` at `now_ms`. On
    /// refusal the punt comes back with the reason.
    #[inline]
    pub fn offer(
        &mut self,
        class: PuntClass,
        port: PortId,
        now_ms: u32,
        punt: Punt<F>,
    ) -> Result<(), (Punt<F>, PuntCounter)> {
        self.offer_if(class, port, now_ms, punt, Bucket::ready)
    }

    /// [`offer`](Self::offer) for a punt that can wait: taken only from
    /// the upper half of both buckets, so it never spends what a punt
    /// offered with `offer` needs. Refreshes of sources already known go
    /// this way, new sources the other: with more sources than the
    /// worker's learn cache remembers, every frame of a known source
    /// offers a refresh, and sharing one budget the refreshes took most of
    /// it and new sources waited (1,000,000 sources at the default budget:
    /// 997,392 learnt after 60 s).
    #[inline]
    pub fn offer_spare(
        &mut self,
        class: PuntClass,
        port: PortId,
        now_ms: u32,
        punt: Punt<F>,
    ) -> Result<(), (Punt<F>, PuntCounter)> {
        self.offer_if(class, port, now_ms, punt, Bucket::spare)
    }

    /// Pushes `punt` if `has` says both buckets have a token for it, and
    /// takes one from each.
    #[inline(always)]
    fn offer_if(
        &mut self,
        class: PuntClass,
        port: PortId,
        now_ms: u32,
        punt: Punt<F>,
        has: fn(&mut Bucket, u32) -> bool,
    ) -> Result<(), (Punt<F>, PuntCounter)> {
        let c = class as usize;
        let pb = &mut self.port[port.index()][c];
        if !has(pb, now_ms) {
            return Err((punt, PuntCounter::PortRate));
        }
        if !has(&mut self.class[c], now_ms) {
            return Err((punt, PuntCounter::ClassRate));
        }
        match self.rings[c].push(punt) {
            Ok(()) => {
                pb.take();
                self.class[c].take();
                Ok(())
            }
            Err(rtrb::PushError::Full(p)) => Err((p, PuntCounter::RingFull)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(rate_pps: u32, burst: u32, port_rate_pps: u32, port_burst: u32) -> PuntRate {
        PuntRate {
            rate_pps,
            burst,
            port_rate_pps,
            port_burst,
        }
    }

    #[test]
    fn punts_that_can_wait_leave_half_the_budget_to_the_others() {
        let (mut tx, _rx) = rings::<u32>(64, 1, &|_| rate(1000, 8, 1000, 8));
        let learn = |n| Punt::Learn {
            key: ExactKey::new(1, moose_wire::Mac([2, 0, 0, 0, 0, n])),
            port: PortId(0),
        };
        let c = PuntClass::Learn;
        let mut spare = 0;
        for n in 0..8 {
            if tx.offer_spare(c, PortId(0), 0, learn(n)).is_ok() {
                spare += 1;
            }
        }
        assert_eq!(spare, 4, "the upper half of 8 tokens");
        let refused = tx.offer_spare(c, PortId(0), 0, learn(9));
        assert!(matches!(refused, Err((_, PuntCounter::PortRate))));
        for n in 10..14 {
            assert!(tx.offer(c, PortId(0), 0, learn(n)).is_ok(), "the kept half");
        }
        assert!(tx.offer(c, PortId(0), 0, learn(14)).is_err(), "empty");
        // A bucket of one token keeps nothing back.
        let (mut one, _rx) = rings::<u32>(64, 1, &|_| rate(1000, 1, 1000, 1));
        assert!(one.offer_spare(c, PortId(0), 0, learn(1)).is_ok());
    }

    #[test]
    fn bucket_refills_by_the_millisecond() {
        let mut b = Bucket::new(1000, 2);
        assert!(b.ready(0));
        b.take();
        b.take();
        assert!(!b.ready(0));
        assert!(b.ready(1), "1000/s is one per ms");
        b.take();
        assert!(!b.ready(1));
        let mut slow = Bucket::new(10, 1);
        slow.take();
        assert!(!slow.ready(99));
        assert!(slow.ready(100), "10/s is one per 100 ms");
    }

    #[test]
    fn one_port_cannot_spend_the_class() {
        let (mut tx, mut rx) = rings::<u32>(64, 2, &|_| rate(1000, 10, 1000, 4));
        let frame = |port| Punt::Frame {
            port: PortId(port),
            frame: 0u32,
        };
        let mut ok = 0;
        for _ in 0..10 {
            if tx
                .offer(PuntClass::Reserved, PortId(0), 0, frame(0))
                .is_ok()
            {
                ok += 1;
            }
        }
        assert_eq!(ok, 4, "port 0's bucket holds 4");
        let refused = tx.offer(PuntClass::Reserved, PortId(0), 0, frame(0));
        assert!(matches!(refused, Err((_, PuntCounter::PortRate))));
        assert!(
            tx.offer(PuntClass::Reserved, PortId(1), 0, frame(1))
                .is_ok(),
            "port 1 still gets through"
        );
        assert!(
            tx.offer(PuntClass::Learn, PortId(0), 0, frame(0)).is_ok(),
            "and other classes"
        );
        let r = PuntClass::Reserved as usize;
        assert_eq!(rx.rings[r].slots(), 5, "four from port 0, one from port 1");
        while rx.rings[r].pop().is_ok() {}
    }

    #[test]
    fn new_limits_rebuild_the_buckets() {
        let cfg = moose_config::Config::from_toml(
            "[switch]\nname = \"s\"\n[[port]]\nname = \"p0\"\ndevice = \"net_null0\"\n\
             [punt.reserved]\nburst = 20\nport_burst = 8\n",
        )
        .unwrap();
        let (mut tx, mut rx) = rings::<u32>(64, 1, &|_| rate(1, 4, 1, 2));
        let pass = |tx: &mut PuntTx<u32>| {
            (0..10)
                .filter(|_| {
                    tx.offer(
                        PuntClass::Reserved,
                        PortId(0),
                        5,
                        Punt::Frame {
                            port: PortId(0),
                            frame: 0,
                        },
                    )
                    .is_ok()
                })
                .count()
        };
        assert_eq!(pass(&mut tx), 2, "the port's bucket of 2");
        tx.set_limits(&cfg.punt);
        assert_eq!(pass(&mut tx), 8, "a full bucket of the new depth");
        let r = PuntClass::Reserved as usize;
        while rx.rings[r].pop().is_ok() {}
    }

    #[test]
    fn a_full_ring_is_refused_and_reported() {
        let (mut tx, _rx) = rings::<u32>(2, 1, &|_| rate(1_000_000, 1000, 1_000_000, 1000));
        for _ in 0..2 {
            assert!(tx
                .offer(
                    PuntClass::Host,
                    PortId(0),
                    0,
                    Punt::Learn {
                        key: ExactKey::default(),
                        port: PortId(0)
                    }
                )
                .is_ok());
        }
        let r = tx.offer(
            PuntClass::Host,
            PortId(0),
            0,
            Punt::Learn {
                key: ExactKey::default(),
                port: PortId(0),
            },
        );
        assert!(matches!(r, Err((_, PuntCounter::RingFull))));
    }
}
