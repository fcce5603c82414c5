//! The control runtime: one thread, the single writer of the tables.
//!
//! Each [`turn`](Runtime::turn): drain the workers' punt rings in class
//! priority order ([`PuntClass::ALL`]: routing protocol first, then
//! directory, host, learn, reserved; the protocol class without a budget,
//! the others at most [`DRAIN_BATCH`] per ring per turn, so a flood of one
//! class delays the others by one batch at most) and give each punt to the
//! service that owns its class; fire due timers; deliver events; answer
//! management requests; poll link state every [`LINK_POLL`]; move parked
//! ports' queue handles along; publish the accumulated table changes at
//! most every [`PUBLISH_INTERVAL`] (at once for link changes), so a change
//! is visible to the workers within a millisecond.
//!
//! Who touches what: the table writer, the timers, the inject producers,
//! the control pool and every service's state belong to this thread
//! alone; management threads reach it only through the bounded request
//! queue ([`crate::api`]).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moose_config::Config;
use moose_dataplane::io::{Backend, FramePool};
use moose_dataplane::{ControlSide, Handover, Inject, Punt, PuntClass, TableOp, TableSet, Via};
use moose_tables::publish::Writer;
use moose_wire::PortId;

use crate::api::{self, serve, Call, ControlHandle, Request};
use crate::ports::{PortDriver, PortQueues, PortState};

/// Table changes are published at most this often.
pub const PUBLISH_INTERVAL: Duration = Duration::from_micros(500);
/// Link state and MTU are polled this often.
pub const LINK_POLL: Duration = Duration::from_millis(100);
/// How often a frame punted from a port believed down polls link state
/// early (its link came up since the last poll).
pub const LINK_POLL_ON_RX: Duration = Duration::from_millis(1);
/// Punts taken from one ring per turn, for every class but the protocol.
pub const DRAIN_BATCH: usize = 1024;
/// A failed re-attach is tried again after this long.
pub const REATTACH_RETRY: Duration = Duration::from_secs(1);
/// Management requests answered per turn.
const REQUESTS_PER_TURN: usize = 64;

/// Something a service tells the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A port's link went up or down.
    Link { port: PortId, up: bool },
    /// The bridge heard from (VLAN, MAC) on a legacy port (a learn or a
    /// refresh): the host is talking.
    Heard {
        key: moose_wire::ExactKey,
        port: PortId,
    },
    /// An edge or legacy port's segment has its home elsewhere
    /// (`foreign`), or is ours again.
    Home { port: PortId, foreign: bool },
    /// The hosts service gave a host an address here (new, or arrived
    /// from another switch), on `port`: the routing service announces it,
    /// the `elk` service binds the addresses it is known by.
    HostUp { port: PortId, host: HostNews },
    /// Another switch announced a host (the routing service heard it).
    Announced {
        origin: moose_wire::Mac,
        host: HostNews,
    },
    /// The switch's automatic prefix lost a conflict and was renumbered:
    /// every host's MOOSE address changes to the same id under `prefix`.
    Renumbered { prefix: moose_wire::MacPrefix },
    /// The `elk` service bound (or withdrew) an address of one of this
    /// switch's hosts: the routing service floods it to every switch
    /// (`origin` and `seq` are its to fill in).
    Bound(moose_wire::proto::Binding),
    /// A binding another switch flooded (the routing service heard it).
    BindingHeard(moose_wire::proto::Binding),
    /// A directory message for the routing service to sign and send,
    /// routed to `to` (the directory's anycast address, or the switch
    /// that asked).
    DirectoryOut { to: moose_wire::Mac, msg: Directory },
    /// A directory message that arrived, from the switch address `from`.
    DirectoryIn {
        from: moose_wire::Mac,
        msg: Directory,
    },
    /// The switch prefixes of the fabric changed (the routing service's
    /// LSDB after SPF, this switch's own included): the MAC provider never
    /// hands out an address inside one.
    FabricPrefixes(Vec<moose_wire::MacPrefix>),
    /// The MAC provider handed `mac` out (`owned`), or its owner gave it
    /// up: a host with that real MAC keeps its MOOSE address while it is
    /// owned, however long it is idle (the hosts service pins it).
    MacOwned { mac: moose_wire::Mac, owned: bool },
    /// A fabric neighbour became full: what is flooded only on change
    /// (bindings) is offered to it again.
    NeighborFull,
}

/// A directory query or answer between switches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Directory {
    Query(moose_wire::proto::Query),
    Answer(moose_wire::proto::Answer),
}

/// A host and its addresses, as announced between switches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostNews {
    pub vlan: u16,
    pub real: moose_wire::Mac,
    pub moose: moose_wire::Mac,
    pub ipv4: Vec<std::net::Ipv4Addr>,
    pub ipv6: Vec<std::net::Ipv6Addr>,
}

/// A control-plane feature hosted by the runtime.
///
/// Every method gets a [`Ctx`] to change tables, send frames, set timers
/// and emit events. A frame handed to a service must be sent or freed
/// through the context.
pub trait Service<B: Backend>: Send {
    /// The name requests are routed by (`Call::SERVICE`).
    fn name(&self) -> &'static str;

    /// The punt classes whose punts this service takes (each class has at
    /// most one owner).
    fn classes(&self) -> &'static [PuntClass] {
        &[]
    }

    /// Called once before the workers start: install configured state.
    fn start(&mut self, _cx: &mut Ctx<'_, B>) {}

    /// A punt of one of [`classes`](Self::classes), from worker `worker`.
    fn punt(&mut self, cx: &mut Ctx<'_, B>, _class: PuntClass, _worker: usize, p: Punt<B::Frame>) {
        if let Punt::Frame { frame, .. } = p {
            cx.free(frame);
        }
    }

    /// A timer set with [`Ctx::timer`] is due.
    fn timer(&mut self, _cx: &mut Ctx<'_, B>, _token: u64) {}

    /// Called once per turn, after the punts, timers and requests, before
    /// the table changes are published: write what must be durable before
    /// the workers act on it.
    fn end_of_turn(&mut self, _cx: &mut Ctx<'_, B>) {}

    /// Another service (or the runtime) emitted `ev`.
    fn event(&mut self, _cx: &mut Ctx<'_, B>, _ev: &Event) {}

    /// A reload the runtime accepted ([`Config::diff`] found only live
    /// changes): `cfg` is the new configuration, already the running one
    /// ([`Ctx::config`]). Apply what changed in this service's state
    /// through `cx`; add a line to `report` for anything done beyond the
    /// config's own changes (entries dropped, hosts released).
    fn reconfigure(&mut self, _cx: &mut Ctx<'_, B>, _cfg: &Config, _report: &mut Vec<String>) {}

    /// A management request for this service; give it back if it is not
    /// one of this service's calls.
    fn request(
        &mut self,
        _cx: &mut Ctx<'_, B>,
        body: Box<dyn std::any::Any + Send>,
    ) -> Result<(), Box<dyn std::any::Any + Send>> {
        Err(body)
    }
}

/// Figures of the runtime itself.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RuntimeStats {
    pub turns: u64,
    /// Table publications to the workers.
    pub publishes: u64,
    /// Punts drained, by class.
    pub punts: BTreeMap<String, u64>,
    /// Punts of a class no service owns (freed).
    pub orphan_punts: u64,
    /// Frames transmitted through the workers.
    pub sent_frames: u64,
    /// Frames that could not be sent (no buffer, inject ring full, no such port).
    pub send_failures: u64,
    pub timers: u64,
    pub requests: u64,
    /// Requests for a service that does not exist or did not understand them.
    pub unknown_requests: u64,
    pub link_changes: u64,
    pub reattaches: u64,
    pub reattach_failures: u64,
    /// Frames handed back to the workers to be classified again.
    pub reinjected: u64,
    /// … that found the worker's ring full (freed).
    pub reinject_failures: u64,
    /// Reloads applied, and refused.
    pub reloads: u64,
    pub reloads_refused: u64,
}

/// What a reload did: the live changes applied, one line each naming its
/// key, or the keys that refused it (then nothing was applied).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ReloadReport {
    pub applied: Vec<String>,
    pub refused: Vec<String>,
}

/// What a service can do while it handles something.
pub struct Ctx<'a, B: Backend> {
    /// The time of this turn.
    pub now: Instant,
    pub n_ports: usize,
    service: usize,
    writer: &'a mut Writer<TableSet, TableOp>,
    inject: &'a mut [rtrb::Producer<Inject<B::Frame>>],
    reinject: &'a mut Vec<(usize, Inject<B::Frame>)>,
    pool: &'a mut B::Pool,
    free: &'a mut Vec<B::Frame>,
    timers: &'a mut BinaryHeap<Reverse<Timer>>,
    events: &'a mut Vec<Event>,
    stats: &'a mut RuntimeStats,
    config: Option<&'a Config>,
}

impl<B: Backend> Ctx<'_, B> {
    /// The running configuration ([`Runtime::set_config`], then each
    /// reload); `None` if the runtime was never given one (tests).
    pub fn config(&self) -> Option<&Config> {
        self.config
    }

    /// Appends a change to the published tables (visible to the workers
    /// after the next publish, within [`PUBLISH_INTERVAL`]).
    pub fn table(&mut self, op: TableOp) {
        self.writer.append(op);
    }

    /// The tables as they will be after the next publish.
    pub fn tables(&self) -> &TableSet {
        self.writer.read()
    }

    /// Transmits a copy of `data` on `port`.
    pub fn send(&mut self, port: PortId, data: &[u8]) -> bool {
        match self.pool.alloc_copy(data) {
            Some(f) => self.send_frame(port, f),
            None => {
                self.stats.send_failures += 1;
                false
            }
        }
    }

    /// Transmits `frame` on `port` through a worker's tx queue (always the
    /// same worker for a port, so frames to one port stay in order).
    pub fn send_frame(&mut self, port: PortId, frame: B::Frame) -> bool {
        if port.index() >= self.n_ports || self.inject.is_empty() {
            self.stats.send_failures += 1;
            self.free.push(frame);
            return false;
        }
        let w = port.index() % self.inject.len();
        match self.inject[w].push(Inject {
            port,
            frame,
            via: Via::Tx,
        }) {
            Ok(()) => {
                self.stats.sent_frames += 1;
                true
            }
            Err(rtrb::PushError::Full(Inject { frame, .. })) => {
                self.stats.send_failures += 1;
                self.free.push(frame);
                false
            }
        }
    }

    /// Hands `frame` back to worker `worker` to be classified as if `port`
    /// had just received it, once this turn's table changes are published
    /// (the first frame of a new host, after its translation exists).
    pub fn reinject(&mut self, worker: usize, port: PortId, frame: B::Frame) {
        self.reinject.push((
            worker,
            Inject {
                port,
                frame,
                via: Via::Rx,
            },
        ));
    }

    /// Hands `frame` back to worker `worker` to be delivered as if `port`
    /// had just received it, past the `directory` class: a frame the `elk`
    /// service has seen and lets go on.
    pub fn pass(&mut self, worker: usize, port: PortId, frame: B::Frame) {
        self.reinject.push((
            worker,
            Inject {
                port,
                frame,
                via: Via::Pass,
            },
        ));
    }

    /// [`pass`](Self::pass) for a copy of `data`.
    pub fn pass_copy(&mut self, worker: usize, port: PortId, data: &[u8]) -> bool {
        match self.pool.alloc_copy(data) {
            Some(f) => {
                self.pass(worker, port, f);
                true
            }
            None => {
                self.stats.send_failures += 1;
                false
            }
        }
    }

    /// Hands a copy of `data` to a worker to be classified as if `port`
    /// had received it, once this turn's table changes are published (a
    /// frame the control plane makes on a host's behalf).
    pub fn inject_rx(&mut self, port: PortId, data: &[u8]) -> bool {
        self.inject_as(None, port, data, Via::Rx)
    }

    /// [`inject_rx`](Self::inject_rx) past the `directory` class, on
    /// worker `worker` if given (the one whose re-injection it must
    /// precede): a frame made on a host's behalf that must keep its place
    /// before the host's next frames (a moved host's gratuitous ARP), whose
    /// news the `elk` service has by an event instead.
    pub fn inject_rx_past_directory(
        &mut self,
        worker: Option<usize>,
        port: PortId,
        data: &[u8],
    ) -> bool {
        self.inject_as(worker, port, data, Via::Pass)
    }

    fn inject_as(&mut self, worker: Option<usize>, port: PortId, data: &[u8], via: Via) -> bool {
        if port.index() >= self.n_ports || self.inject.is_empty() {
            self.stats.send_failures += 1;
            return false;
        }
        match self.pool.alloc_copy(data) {
            Some(frame) => {
                let w = worker.unwrap_or(port.index() % self.inject.len());
                self.reinject.push((w, Inject { port, frame, via }));
                true
            }
            None => {
                self.stats.send_failures += 1;
                false
            }
        }
    }

    /// Returns a frame to the pool.
    pub fn free(&mut self, frame: B::Frame) {
        self.free.push(frame);
    }

    /// Calls this service's [`Service::timer`] with `token` at `at`.
    pub fn timer(&mut self, at: Instant, token: u64) {
        self.timers.push(Reverse(Timer {
            at,
            service: self.service,
            token,
        }));
    }

    /// Tells every service (including this one) about `ev`, after this
    /// call returns.
    pub fn emit(&mut self, ev: Event) {
        self.events.push(ev);
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timer {
    at: Instant,
    service: usize,
    token: u64,
}

/// A port whose queues are being collected, or whose re-attach failed.
struct Reattach<B: Backend> {
    port: PortId,
    queues: PortQueues<B>,
    want_rx: usize,
    want_tx: usize,
    /// The last attempt failed (and consumed the handles) at this time.
    failed_at: Option<Instant>,
}

/// The runtime's own calls (service name `"runtime"`).
pub mod calls {
    use super::*;

    /// The runtime's figures.
    pub struct Status;
    impl Call for Status {
        const SERVICE: &'static str = "runtime";
        type Reply = RuntimeStats;
    }

    /// The last polled state of every port.
    pub struct Links;
    impl Call for Links {
        const SERVICE: &'static str = "runtime";
        type Reply = Vec<PortState>;
    }

    /// Transmit a frame on a port (tools and tests).
    pub struct Send {
        pub port: PortId,
        pub frame: Vec<u8>,
    }
    impl Call for Send {
        const SERVICE: &'static str = "runtime";
        type Reply = bool;
    }

    /// Make `config` (read and validated by the caller) the running
    /// configuration: all of its live changes, or nothing if a key
    /// refuses it.
    pub struct Reload {
        pub config: Box<Config>,
    }
    impl Call for Reload {
        const SERVICE: &'static str = "runtime";
        type Reply = ReloadReport;
    }

    /// The running configuration (`None` if the runtime has none).
    pub struct Running;
    impl Call for Running {
        const SERVICE: &'static str = "runtime";
        type Reply = Option<Arc<Config>>;
    }
}

pub struct Runtime<'d, B: Backend> {
    side: ControlSide<B>,
    services: Vec<Box<dyn Service<B> + 'd>>,
    owner: [Option<usize>; PuntClass::COUNT],
    timers: BinaryHeap<Reverse<Timer>>,
    requests: Receiver<Request>,
    handle: ControlHandle,
    driver: Box<dyn PortDriver<B> + 'd>,
    ports: Vec<PortState>,
    reattach: Option<Reattach<B>>,
    stats: RuntimeStats,
    last_publish: Instant,
    last_link: Option<Instant>,
    free: Vec<B::Frame>,
    events: Vec<Event>,
    urgent: bool,
    /// Frames to classify again, sent after the next publish.
    reinject: Vec<(usize, Inject<B::Frame>)>,
    /// The running configuration, what a reload is compared with.
    config: Option<Arc<Config>>,
}

/// Builds the [`Ctx`] of service `$i` from the runtime's fields.
macro_rules! ctx {
    ($rt:ident, $now:expr, $i:expr) => {
        Ctx::<B> {
            now: $now,
            n_ports: $rt.side.n_ports,
            service: $i,
            writer: &mut $rt.side.tables,
            inject: &mut $rt.side.inject,
            reinject: &mut $rt.reinject,
            pool: &mut $rt.side.pool,
            free: &mut $rt.free,
            timers: &mut $rt.timers,
            events: &mut $rt.events,
            stats: &mut $rt.stats,
            config: $rt.config.as_deref(),
        }
    };
}

impl<'d, B: Backend> Runtime<'d, B> {
    pub fn new(side: ControlSide<B>, driver: Box<dyn PortDriver<B> + 'd>) -> Runtime<'d, B> {
        let (handle, requests) = api::channel();
        let n = side.n_ports;
        Runtime {
            side,
            services: Vec::new(),
            owner: [None; PuntClass::COUNT],
            timers: BinaryHeap::new(),
            requests,
            handle,
            driver,
            ports: vec![
                PortState {
                    up: true,
                    tx_max: u16::MAX,
                    needs_reattach: false,
                };
                n
            ],
            reattach: None,
            stats: RuntimeStats::default(),
            last_publish: Instant::now(),
            last_link: None,
            free: Vec::new(),
            events: Vec::new(),
            urgent: false,
            reinject: Vec::new(),
            config: None,
        }
    }

    /// The configuration the tables and services were built from: what
    /// reloads are compared with, and what [`Ctx::config`] returns.
    pub fn set_config(&mut self, cfg: Config) {
        self.config = Some(Arc::new(cfg));
    }

    /// Adds a service; it takes the punt classes it names.
    ///
    /// # Panics
    /// If a class already has an owner: that is a wiring bug.
    pub fn add(&mut self, s: Box<dyn Service<B> + 'd>) {
        let i = self.services.len();
        for c in s.classes() {
            assert!(
                self.owner[c.index()].is_none(),
                "punt class {c} has two owners"
            );
            self.owner[c.index()] = Some(i);
        }
        self.services.push(s);
    }

    /// A handle for management requests.
    pub fn handle(&self) -> ControlHandle {
        self.handle.clone()
    }

    /// Starts every service and publishes their tables and the ports'
    /// link state, before the workers start.
    pub fn start(&mut self, now: Instant) {
        for i in 0..self.services.len() {
            let mut cx = ctx!(self, now, i);
            self.services[i].start(&mut cx);
        }
        self.poll_links(now);
        self.dispatch_events(now);
        self.publish(now);
    }

    /// Publishes pending table changes now.
    pub fn publish(&mut self, now: Instant) {
        if self.side.tables.pending() > 0 {
            self.side.tables.publish();
            self.stats.publishes += 1;
        }
        self.last_publish = now;
        self.urgent = false;
    }

    pub fn stats(&self) -> &RuntimeStats {
        &self.stats
    }

    /// One pass of the loop (see the module doc); returns how much work it
    /// found (punts, timers, requests, handovers).
    pub fn turn(&mut self, now: Instant) -> usize {
        self.stats.turns += 1;
        let mut work = self.drain(now);
        work += self.fire_timers(now);
        if self
            .last_link
            .is_none_or(|t| now.duration_since(t) >= LINK_POLL)
        {
            self.poll_links(now);
        }
        work += self.collect_handovers(now);
        self.dispatch_events(now);
        work += self.answer(now);
        self.dispatch_events(now);
        for i in 0..self.services.len() {
            let mut cx = ctx!(self, now, i);
            self.services[i].end_of_turn(&mut cx);
        }
        // Re-injected frames need their tables published first.
        let urgent = self.urgent || !self.reinject.is_empty();
        if self.side.tables.pending() > 0
            && (urgent || now.duration_since(self.last_publish) >= PUBLISH_INTERVAL)
        {
            self.publish(now);
        }
        work += self.reinject.len();
        for (w, inj) in self.reinject.drain(..) {
            let ring = self.side.inject.len();
            match self
                .side
                .inject
                .get_mut(w % ring.max(1))
                .map(|r| r.push(inj))
            {
                Some(Ok(())) => self.stats.reinjected += 1,
                Some(Err(rtrb::PushError::Full(Inject { frame, .. }))) => {
                    self.stats.reinject_failures += 1;
                    self.free.push(frame);
                }
                None => {}
            }
        }
        if !self.free.is_empty() {
            self.side.pool.free_bulk(&mut self.free);
        }
        work
    }

    /// Runs until the pipeline's quit flag is set.
    pub fn run(&mut self) {
        while !self.side.quit.load(Ordering::Relaxed) {
            let now = Instant::now();
            if self.turn(now) == 0 {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        self.publish(Instant::now());
        if !self.free.is_empty() {
            self.side.pool.free_bulk(&mut self.free);
        }
    }

    fn drain(&mut self, now: Instant) -> usize {
        let mut handled = 0;
        for class in PuntClass::ALL {
            let budget = if class == PuntClass::Protocol {
                usize::MAX
            } else {
                DRAIN_BATCH
            };
            let mut n = 0u64;
            for w in 0..self.side.punts.len() {
                let mut taken = 0;
                while taken < budget {
                    let Ok(p) = self.side.punts[w].rings[class.index()].pop() else {
                        break;
                    };
                    taken += 1;
                    // A frame from a port we still think is down: its link
                    // came up since the last poll. Poll now, so that what
                    // answers it (a service's reply, the answer to a
                    // re-injected frame) is not dropped as `link_down` for
                    // up to LINK_POLL.
                    let (Punt::Frame { port, .. } | Punt::Learn { port, .. }) = &p;
                    if self.ports.get(port.index()).is_some_and(|s| !s.up)
                        && self
                            .last_link
                            .is_none_or(|t| now.duration_since(t) >= LINK_POLL_ON_RX)
                    {
                        self.poll_links(now);
                    }
                    match self.owner[class.index()] {
                        Some(i) => {
                            let mut cx = ctx!(self, now, i);
                            self.services[i].punt(&mut cx, class, w, p);
                        }
                        None => {
                            self.stats.orphan_punts += 1;
                            if let Punt::Frame { frame, .. } = p {
                                self.free.push(frame);
                            }
                        }
                    }
                }
                n += taken as u64;
            }
            if n > 0 {
                *self
                    .stats
                    .punts
                    .entry(class.name().to_string())
                    .or_default() += n;
                handled += n as usize;
            }
        }
        handled
    }

    fn fire_timers(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while let Some(Reverse(t)) = self.timers.peek().copied() {
            if t.at > now {
                break;
            }
            self.timers.pop();
            n += 1;
            self.stats.timers += 1;
            let mut cx = ctx!(self, now, t.service);
            self.services[t.service].timer(&mut cx, t.token);
        }
        n
    }

    fn dispatch_events(&mut self, now: Instant) {
        if self.events.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            for i in 0..self.services.len() {
                let mut cx = ctx!(self, now, i);
                self.services[i].event(&mut cx, ev);
            }
        }
    }

    fn answer(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while n < REQUESTS_PER_TURN {
            let Ok(req) = self.requests.try_recv() else {
                break;
            };
            n += 1;
            self.stats.requests += 1;
            if req.service == "runtime" {
                if self.runtime_call(req.body).is_err() {
                    self.stats.unknown_requests += 1;
                }
                continue;
            }
            let Some(i) = self.services.iter().position(|s| s.name() == req.service) else {
                self.stats.unknown_requests += 1;
                continue;
            };
            let mut cx = ctx!(self, now, i);
            if self.services[i].request(&mut cx, req.body).is_err() {
                self.stats.unknown_requests += 1;
            }
        }
        n
    }

    fn runtime_call(
        &mut self,
        body: Box<dyn std::any::Any + Send>,
    ) -> Result<(), Box<dyn std::any::Any + Send>> {
        let body = match serve::<calls::Status>(body, |_| self.stats.clone()) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        let body = match serve::<calls::Links>(body, |_| self.ports.clone()) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        let body = match serve::<calls::Running>(body, |_| self.config.clone()) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        let now = Instant::now();
        let body = match serve::<calls::Reload>(body, |c| self.reload(now, *c.config)) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        serve::<calls::Send>(body, |c| {
            let mut cx = ctx!(self, now, usize::MAX);
            cx.send(c.port, &c.frame)
        })
    }

    /// A reload: `new` against the running configuration. Refused keys
    /// change nothing. Otherwise `new` becomes the running configuration,
    /// the runtime's own tables follow it (the ports' pvids and rates, the
    /// VLANs' flood sets), every service applies its part
    /// ([`Service::reconfigure`]), and all of it is published at the end
    /// of this turn, in one publication.
    fn reload(&mut self, now: Instant, mut new: Config) -> ReloadReport {
        let Some(old) = self.config.clone() else {
            self.stats.reloads_refused += 1;
            return ReloadReport {
                applied: Vec::new(),
                refused: vec!["the control runtime has no running configuration".into()],
            };
        };
        let mut applied = match old.diff(&new) {
            Ok(c) => c.0,
            Err(r) => {
                self.stats.reloads_refused += 1;
                return ReloadReport {
                    applied: Vec::new(),
                    refused: r.0,
                };
            }
        };
        self.stats.reloads += 1;
        if applied.is_empty() {
            return ReloadReport::default();
        }
        // An automatic prefix stays the one resolved at start (or
        // renumbered to since, which the routing service knows).
        if let (Some(o), Some(n)) = (&old.moose, &mut new.moose) {
            if o.auto_prefix && n.auto_prefix {
                n.switch = o.switch;
            }
        }
        let new = Arc::new(new);
        self.config = Some(new.clone());
        let t = self.side.tables.read();
        let facts = |c: &Config| {
            let p: Vec<_> = c.ports.iter().map(|p| (p.pvid, p.storm)).collect();
            (p, c.punt.clone())
        };
        let ports = (facts(&old) != facts(&new)).then(|| {
            let mut p = (*t.ports).clone();
            p.reconfigure(&new);
            p
        });
        let mut flood = (*t.flood).clone();
        let vlans = flood.reconfigure(&new);
        if let Some(p) = ports {
            self.side.tables.append(TableOp::Ports(Arc::new(p)));
        }
        if vlans {
            self.side.tables.append(TableOp::Flood(Arc::new(flood)));
        }
        for i in 0..self.services.len() {
            let mut cx = ctx!(self, now, i);
            self.services[i].reconfigure(&mut cx, &new, &mut applied);
        }
        self.dispatch_events(now);
        self.urgent = true;
        ReloadReport {
            applied,
            refused: Vec::new(),
        }
    }

    /// Polls every port's state; publishes and announces changes; starts a
    /// re-attach where one is needed.
    fn poll_links(&mut self, now: Instant) {
        self.last_link = Some(now);
        for p in 0..self.side.n_ports {
            let port = PortId(p as u16);
            if self.reattach.as_ref().is_some_and(|r| r.port == port) {
                continue;
            }
            let st = self.driver.state(port);
            let old = self.ports[p];
            if st.tx_max != old.tx_max {
                self.side.tables.append(TableOp::TxMax {
                    port,
                    len: st.tx_max,
                });
            }
            let up = st.up && !st.needs_reattach;
            if up != old.up {
                self.side.tables.append(TableOp::Link { port, up });
                self.events.push(Event::Link { port, up });
                self.stats.link_changes += 1;
                self.urgent = true;
            }
            self.ports[p] = PortState { up, ..st };
            if st.needs_reattach && self.reattach.is_none() {
                self.start_reattach(port);
            }
        }
    }

    fn start_reattach(&mut self, port: PortId) {
        let want_rx = self
            .side
            .rx_assignment
            .iter()
            .flatten()
            .filter(|(p, _)| *p == port)
            .count();
        self.side
            .tables
            .append(TableOp::Park { port, parked: true });
        self.urgent = true;
        self.reattach = Some(Reattach {
            port,
            queues: PortQueues {
                rx: Vec::new(),
                tx: Vec::new(),
            },
            want_rx,
            want_tx: self.side.handover.len(),
            failed_at: None,
        });
    }

    /// Takes the queue handles the workers hand over; re-attaches once it
    /// has them all (or retries a failed attempt); gives fresh handles back.
    fn collect_handovers(&mut self, now: Instant) -> usize {
        let mut n = 0;
        for w in 0..self.side.handover.len() {
            while let Ok(h) = self.side.handover[w].pop() {
                n += 1;
                match &mut self.reattach {
                    Some(r) if r.port == h.port => {
                        r.queues.rx.extend(h.rx);
                        if let Some(t) = h.tx {
                            r.queues.tx.push((h.worker, t));
                        }
                    }
                    // Not asked for: give it straight back.
                    _ => {
                        let _ = self.side.handback[w].push(h);
                    }
                }
            }
        }
        let Some(r) = &mut self.reattach else {
            return n;
        };
        let queues = match r.failed_at {
            Some(t) if now.duration_since(t) < REATTACH_RETRY => return n,
            Some(_) => None,
            None if r.queues.rx.len() == r.want_rx && r.queues.tx.len() == r.want_tx => {
                Some(std::mem::replace(
                    &mut r.queues,
                    PortQueues {
                        rx: Vec::new(),
                        tx: Vec::new(),
                    },
                ))
            }
            None => return n,
        };
        let port = r.port;
        match self.driver.reattach(port, queues) {
            Ok(fresh) => {
                self.stats.reattaches += 1;
                self.give_back(port, fresh);
                self.reattach = None;
                self.side.tables.append(TableOp::Park {
                    port,
                    parked: false,
                });
                self.urgent = true;
                // The link is polled again right away.
                self.last_link = None;
            }
            Err(_) => {
                self.stats.reattach_failures += 1;
                r.failed_at = Some(now);
            }
        }
        n + 1
    }

    fn give_back(&mut self, port: PortId, q: PortQueues<B>) {
        let PortQueues { mut rx, tx } = q;
        let mut tx: Vec<Option<(usize, B::Tx)>> = tx.into_iter().map(Some).collect();
        for (w, assigned) in self.side.rx_assignment.iter().enumerate() {
            let mut mine = Vec::new();
            for &(p, queue) in assigned {
                if p == port {
                    if let Some(i) = rx.iter().position(|(q, _)| *q == queue) {
                        mine.push(rx.swap_remove(i));
                    }
                }
            }
            let t = tx
                .iter_mut()
                .find(|t| t.as_ref().is_some_and(|(tw, _)| *tw == w))
                .and_then(Option::take)
                .map(|(_, t)| t);
            let _ = self.side.handback[w].push(Handover {
                worker: w,
                port,
                rx: mine,
                tx: t,
            });
        }
    }
}
