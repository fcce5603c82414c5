//! The `home` service: one home per segment.
//!
//! A host's home is the first moose switch it reaches; a segment (a hub, a
//! legacy bridge, a hypervisor's vswitch) attached to two ports — of two
//! switches, or two of one switch — would have both translate its hosts
//! and flood each other's frames back onto it: a loop. So every edge and
//! legacy port of a MOOSE switch sends a home hello
//! ([`moose_wire::proto`]) every `moose.home_hello_ms` with its switch's
//! prefix and its port number, and listens for the others'. The segment's
//! home is the lowest (prefix, port) heard; a port that hears a lower one
//! within the hold time (3.5 intervals) is *foreign*: the workers drop its
//! hosts' frames (`not_home`) and skip it in floods, the hosts service
//! releases its hosts and the bridge flushes it. When the lower hellos
//! stop, the port is home again.
//!
//! A port sends a hello at once when its link comes up, and answers at
//! once a port it hears for the first time that loses to it, so a segment
//! that gains a second switch has one home within a round trip rather than
//! an interval.
//!
//! The `routing` service hosts the election: it owns the `protocol` punt
//! class, checks every message's authentication, and hands home hellos
//! here by message type; with `[routing] key` set, home hellos are signed
//! like the fabric's messages, so a host cannot forge one to silence its
//! port.

pub mod api;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use moose_config::{Config, Role};
use moose_dataplane::io::Backend;
use moose_dataplane::{Punt, PuntClass, TableOp};
use moose_wire::proto::{self, HomeHello, Message};
use moose_wire::{EtherType, MacPrefix, PortId};

use crate::api::serve;
use crate::runtime::{Ctx, Event, Service};
use api::{HeardHello, HomeCounters, HomePort, HomeQuery, HomeReport};

type Rank = (u64, u8, u16);

struct Port {
    id: PortId,
    name: String,
    /// Hellos heard on this port, by rank, with their expiry.
    heard: BTreeMap<Rank, Instant>,
    foreign: bool,
}

pub struct Home {
    prefix: MacPrefix,
    interval: Duration,
    /// Edge and legacy ports; `None` for the others.
    ports: Vec<Option<Port>>,
    counters: HomeCounters,
    frame: Vec<u8>,
    signer: crate::routing::auth::Signer,
}

impl Home {
    /// The service of a `[moose]` switch; `None` without one.
    pub fn from_config(cfg: &Config, signer: crate::routing::auth::Signer) -> Option<Home> {
        let m = cfg.moose.as_ref()?;
        let ports = cfg
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                matches!(p.role, Role::Edge | Role::Legacy).then(|| Port {
                    id: PortId(i as u16),
                    name: p.name.clone(),
                    heard: BTreeMap::new(),
                    foreign: false,
                })
            })
            .collect();
        Some(Home {
            prefix: m.switch.prefix(),
            interval: m.home_hello,
            ports,
            counters: HomeCounters::default(),
            frame: Vec::with_capacity(64),
            signer,
        })
    }

    fn hold(&self) -> Duration {
        self.interval * 7 / 2
    }

    fn own_rank(&self, port: PortId) -> Rank {
        (self.prefix.addr().to_u64(), self.prefix.len(), port.0)
    }

    fn hello(&self, port: PortId) -> HomeHello {
        HomeHello {
            prefix: self.prefix,
            port: port.0,
            hold_ms: self.hold().as_millis().min(u128::from(u16::MAX)) as u16,
        }
    }

    fn send_hellos<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        let up = cx.tables().ports.up;
        let ids: Vec<PortId> = self.ports.iter().flatten().map(|p| p.id).collect();
        for id in ids {
            if up & id.bit() != 0 {
                self.send_hello(cx, id);
            }
        }
    }

    fn send_hello<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, id: PortId) {
        let mut body = Vec::with_capacity(46);
        proto::emit(&Message::HomeHello(self.hello(id)), &mut body);
        moose_wire::ethernet::emit(
            &mut self.frame,
            proto::HOME_GROUP,
            self.prefix.addr(),
            None,
            EtherType::Unknown(proto::ETHERTYPE),
            &body,
        );
        self.signer.sign(&mut self.frame, 14);
        if self.frame.len() < 60 {
            self.frame.resize(60, 0);
        }
        if cx.send(id, &self.frame) {
            self.counters.hellos_sent += 1;
        } else {
            self.counters.hello_send_failures += 1;
        }
    }

    /// Drops expired hellos and applies each port's election.
    fn settle<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        let now = cx.now;
        for i in 0..self.ports.len() {
            let Some(p) = self.ports[i].as_mut() else {
                continue;
            };
            p.heard.retain(|_, until| *until > now);
            let own = (self.prefix.addr().to_u64(), self.prefix.len(), p.id.0);
            let foreign = p.heard.keys().next().is_some_and(|r| *r < own);
            if foreign != p.foreign {
                p.foreign = foreign;
                self.counters.home_changes += 1;
                cx.table(TableOp::Home {
                    port: p.id,
                    foreign,
                });
                cx.emit(Event::Home {
                    port: p.id,
                    foreign,
                });
            }
        }
    }

    /// The switch was renumbered: hellos carry the new prefix.
    pub(crate) fn set_prefix(&mut self, p: MacPrefix) {
        self.prefix = p;
    }

    /// A frame to the hello group on an edge or legacy port that is not a
    /// valid, authentic message.
    pub(crate) fn invalid(&mut self) {
        self.counters.hellos_invalid += 1;
    }

    /// A home hello (already authenticated) heard on `port`.
    pub(crate) fn heard<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, port: PortId, frame: &[u8]) {
        let own = self.own_rank(port);
        let Some(p) = self.ports.get_mut(port.index()).and_then(|p| p.as_mut()) else {
            self.counters.hellos_invalid += 1;
            return;
        };
        let hello = match moose_wire::ethernet::parse(frame, usize::MAX) {
            Ok(f) if f.ethertype == EtherType::Unknown(proto::ETHERTYPE) => {
                let at = if f.tag.is_some() { 18 } else { 14 };
                proto::parse(&frame[at..])
            }
            _ => Err(proto::ProtoError::Truncated),
        };
        let Ok(Message::HomeHello(h)) = hello else {
            self.counters.hellos_invalid += 1;
            return;
        };
        self.counters.hellos_received += 1;
        if h.rank() == own {
            return;
        }
        let hold = Duration::from_millis(u64::from(h.hold_ms)).min(Duration::from_secs(60));
        let new = p.heard.insert(h.rank(), cx.now + hold).is_none();
        self.settle(cx);
        // A port new to the segment that loses to us learns it now, not
        // an interval later: until then both would translate (a loop).
        if new && own < h.rank() {
            self.send_hello(cx, port);
        }
    }

    fn report(&self, now: Instant) -> HomeReport {
        let name = |r: &Rank| {
            let prefix = MacPrefix::new(moose_wire::Mac::from_u64(r.0), r.1)
                .map(|p| p.to_string())
                .unwrap_or_default();
            format!("{prefix} port {}", r.2)
        };
        let ports = self
            .ports
            .iter()
            .flatten()
            .map(|p| {
                let own = self.own_rank(p.id);
                let home = p
                    .heard
                    .keys()
                    .next()
                    .copied()
                    .filter(|r| *r < own)
                    .unwrap_or(own);
                HomePort {
                    port: p.name.clone(),
                    home: !p.foreign,
                    home_of_segment: name(&home),
                    heard: p
                        .heard
                        .iter()
                        .map(|(r, until)| HeardHello {
                            prefix: MacPrefix::new(moose_wire::Mac::from_u64(r.0), r.1)
                                .map(|p| p.to_string())
                                .unwrap_or_default(),
                            port: r.2,
                            valid_ms: until.saturating_duration_since(now).as_millis() as u64,
                        })
                        .collect(),
                }
            })
            .collect();
        HomeReport {
            ports,
            counters: self.counters.clone(),
        }
    }
}

impl<B: Backend> Service<B> for Home {
    fn name(&self) -> &'static str {
        "home"
    }

    fn start(&mut self, cx: &mut Ctx<'_, B>) {
        cx.timer(cx.now, 0);
    }

    fn punt(&mut self, cx: &mut Ctx<'_, B>, _class: PuntClass, _worker: usize, p: Punt<B::Frame>) {
        if let Punt::Frame { port, frame } = p {
            self.heard(cx, port, frame.as_ref());
            cx.free(frame);
        }
    }

    /// A port whose link comes up says who it is at once.
    fn event(&mut self, cx: &mut Ctx<'_, B>, ev: &Event) {
        if let Event::Link { port, up: true } = *ev {
            if self.ports.get(port.index()).is_some_and(|p| p.is_some()) {
                self.send_hello(cx, port);
            }
        }
    }

    fn timer(&mut self, cx: &mut Ctx<'_, B>, _token: u64) {
        self.send_hellos(cx);
        self.settle(cx);
        cx.timer(cx.now + self.interval, 0);
    }

    fn request(
        &mut self,
        cx: &mut Ctx<'_, B>,
        body: Box<dyn std::any::Any + Send>,
    ) -> Result<(), Box<dyn std::any::Any + Send>> {
        let now = cx.now;
        serve::<HomeQuery>(body, |_| self.report(now))
    }
}
