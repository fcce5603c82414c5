//! The DPDK port backend: the dataplane's queue and pool traits over
//! `moose_dpdk` queues and an mbuf mempool; the control runtime's
//! [`PortDriver`] (link state, MTU, re-attach) and the `nic` service over
//! `moose_dpdk` ports. Safe code only; every `unsafe` is inside
//! `moose-dpdk`.
//!
//! Every type borrows the ports (`'a`), which borrow the EAL: the threads
//! that use them are scoped, so no queue, mbuf or port outlives the EAL.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use moose_control::api::serve;
use moose_control::nic::{Link, NicCounters, NicPort, NicQuery, NicReport, XstatsQuery};
use moose_control::ports::{PortDriver, PortQueues, PortState};
use moose_control::runtime::{Ctx, Service};
use moose_dataplane::io::{Backend, FramePool, RxQueue, TxQueue};
use moose_dpdk::{Mbuf, Mempool, Port, Queues};
use moose_wire::PortId;

pub struct Dpdk<'a>(PhantomData<&'a ()>);

impl<'a> Backend for Dpdk<'a> {
    type Frame = Mbuf<'a>;
    type Rx = Rx<'a>;
    type Tx = Tx<'a>;
    type Pool = Pool<'a>;

    #[inline]
    fn cycles() -> u64 {
        moose_dpdk::tsc()
    }
}

pub struct Rx<'a>(pub moose_dpdk::RxQueue<'a>);
pub struct Tx<'a>(pub moose_dpdk::TxQueue<'a>);
pub struct Pool<'a>(pub Mempool<'a>);

impl<'a> RxQueue for Rx<'a> {
    type Frame = Mbuf<'a>;
    #[inline]
    fn rx_burst(&mut self, out: &mut Vec<Mbuf<'a>>, max: usize) -> usize {
        self.0.rx_burst(out, max)
    }
}

impl<'a> TxQueue for Tx<'a> {
    type Frame = Mbuf<'a>;
    #[inline]
    fn tx_burst(&mut self, frames: &mut Vec<Mbuf<'a>>) -> usize {
        self.0.tx_burst(frames)
    }
}

impl<'a> FramePool for Pool<'a> {
    type Frame = Mbuf<'a>;
    #[inline]
    fn alloc_copy(&mut self, data: &[u8]) -> Option<Mbuf<'a>> {
        self.0.alloc_copy(data)
    }
    #[inline]
    fn free_bulk(&mut self, frames: &mut Vec<Mbuf<'a>>) {
        Mbuf::free_bulk(frames)
    }
    /// One reference-count update for all `n` copies.
    #[inline]
    fn share(&mut self, frame: &mut Mbuf<'a>, n: u16, out: impl FnMut(Mbuf<'a>)) -> bool {
        frame.share(n).for_each(out);
        true
    }
}

/// Link, MTU and re-attach for the runtime, over the ports.
pub struct DpdkPorts<'a, 'eal> {
    pub ports: &'a [Port<'eal>],
}

impl<'a, 'eal: 'a> PortDriver<Dpdk<'a>> for DpdkPorts<'a, 'eal> {
    fn state(&mut self, port: PortId) -> PortState {
        let Some(p) = self.ports.get(port.index()) else {
            return PortState {
                up: false,
                tx_max: 0,
                needs_reattach: false,
            };
        };
        let mtu = p.mtu().unwrap_or(1500);
        PortState {
            up: p.link().up,
            tx_max: mtu.saturating_add(14),
            needs_reattach: p.needs_reattach(),
        }
    }

    fn reattach(
        &mut self,
        port: PortId,
        queues: Option<PortQueues<Dpdk<'a>>>,
    ) -> Result<PortQueues<Dpdk<'a>>, String> {
        let p = self
            .ports
            .get(port.index())
            .ok_or_else(|| format!("no port {port}"))?;
        let old = match queues {
            Some(q) => {
                let mut rx = q.rx;
                rx.sort_by_key(|(i, _)| *i);
                let mut tx = q.tx;
                tx.sort_by_key(|(w, _)| *w);
                Queues {
                    rx: rx.into_iter().map(|(_, r)| r.0).collect(),
                    tx: tx.into_iter().map(|(_, t)| t.0).collect(),
                }
            }
            None => Queues::default(),
        };
        let fresh = p.reattach(old).map_err(|e| e.to_string())?;
        Ok(PortQueues {
            rx: fresh
                .rx
                .into_iter()
                .enumerate()
                .map(|(i, r)| (i as u16, Rx(r)))
                .collect(),
            tx: fresh
                .tx
                .into_iter()
                .enumerate()
                .map(|(w, t)| (w, Tx(t)))
                .collect(),
        })
    }
}

/// The `nic` service: device counters and link, answered on the control
/// thread.
pub struct Nic<'a, 'eal> {
    pub ports: &'a [Port<'eal>],
    pub names: Vec<String>,
    pub pool: Mempool<'eal>,
}

impl<'a, 'eal> Nic<'a, 'eal> {
    pub fn report(&self) -> NicReport {
        let ports = self
            .ports
            .iter()
            .zip(&self.names)
            .map(|(p, name)| {
                let l = p.link();
                NicPort {
                    name: name.clone(),
                    link: Link {
                        up: l.up,
                        speed_mbps: l.speed_mbps,
                        full_duplex: l.full_duplex,
                    },
                    mtu: p.mtu().ok(),
                    counters: p.stats().ok().map(|s| NicCounters {
                        ipackets: s.ipackets,
                        opackets: s.opackets,
                        ibytes: s.ibytes,
                        obytes: s.obytes,
                        imissed: s.imissed,
                        ierrors: s.ierrors,
                        oerrors: s.oerrors,
                        rx_nombuf: s.rx_nombuf,
                        kernel_drops: s.kernel_drops,
                    }),
                }
            })
            .collect();
        NicReport {
            ports,
            mempool_available: u64::from(self.pool.available()),
            mempool_in_use: u64::from(self.pool.in_use()),
        }
    }

    fn xstats(&self) -> BTreeMap<String, Option<BTreeMap<String, u64>>> {
        self.ports
            .iter()
            .zip(&self.names)
            .map(|(p, name)| {
                (
                    name.clone(),
                    p.xstats().ok().map(|v| v.into_iter().collect()),
                )
            })
            .collect()
    }
}

impl<'a, 'eal> Service<Dpdk<'a>> for Nic<'a, 'eal> {
    fn name(&self) -> &'static str {
        "nic"
    }

    fn request(
        &mut self,
        _cx: &mut Ctx<'_, Dpdk<'a>>,
        body: Box<dyn std::any::Any + Send>,
    ) -> Result<(), Box<dyn std::any::Any + Send>> {
        let body = match serve::<NicQuery>(body, |_| self.report()) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        serve::<XstatsQuery>(body, |_| self.xstats())
    }
}

/// A port's MAC accept filter on the NIC itself, for the `nicslots`
/// service (`rte_eth_dev_mac_addr_add/remove`,
/// `rte_eth_dev_set_mc_addr_list`, promiscuous mode).
pub struct DpdkFilter<'a, 'eal> {
    pub port: &'a Port<'eal>,
    /// `rte_eth_dev_info.max_mac_addrs` (at least 1).
    pub capacity: usize,
    pub burned_in: moose_wire::Mac,
}

impl moose_control::nicslots::MacFilter for DpdkFilter<'_, '_> {
    fn capacity(&self) -> usize {
        self.capacity
    }
    fn burned_in(&self) -> moose_wire::Mac {
        self.burned_in
    }
    fn add(&mut self, mac: moose_wire::Mac) -> Result<(), String> {
        self.port.mac_addr_add(mac.0).map_err(|e| e.to_string())
    }
    fn remove(&mut self, mac: moose_wire::Mac) -> Result<(), String> {
        self.port.mac_addr_remove(mac.0).map_err(|e| e.to_string())
    }
    fn set_multicast(&mut self, macs: &[moose_wire::Mac]) -> Result<(), String> {
        let list: Vec<[u8; 6]> = macs.iter().map(|m| m.0).collect();
        self.port.set_mc_addr_list(&list).map_err(|e| e.to_string())
    }
    fn set_promiscuous(&mut self, on: bool) -> Result<(), String> {
        self.port.set_promiscuous(on).map_err(|e| e.to_string())
    }
}
