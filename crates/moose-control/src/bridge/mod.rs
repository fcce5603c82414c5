//! The `bridge` service: the learning bridge's control half. It owns the
//! master FDB ([`control::Fdb`]), takes the workers' learn requests (punt
//! class `learn`), ages entries every second, flushes a port's dynamic
//! entries when its link goes down (as the Linux bridge does), installs the
//! configured static entries, and answers FDB pages and figures
//! ([`api`]). Its per-packet half is the `legacy` classifier in
//! `moose-dataplane`.

pub mod api;
pub mod control;

use std::time::Duration;

use moose_config::Config;
use moose_dataplane::io::Backend;
use moose_dataplane::{FdbOp, Punt, PuntClass, TableOp};
use moose_wire::{ExactKey, PortId};

use crate::api::serve;
use crate::runtime::{Ctx, Event, Service};
use api::{BridgeStats, FdbCursor, FdbPage, FdbQuery, StatsQuery, MAX_PAGE};
use control::Fdb;

const AGE_INTERVAL: Duration = Duration::from_secs(1);

pub struct Bridge {
    fdb: Fdb,
    names: Vec<String>,
    statics: Vec<(ExactKey, PortId)>,
    ops: Vec<FdbOp>,
    /// Announce hosts heard ([`Event::Heard`]): on a MOOSE switch, where the
    /// hosts service keeps legacy hosts' translations alive.
    announce: bool,
}

impl Bridge {
    pub fn from_config(cfg: &Config) -> Bridge {
        let limits: Vec<Option<u32>> = cfg.ports.iter().map(|p| p.learn_limit).collect();
        Bridge {
            fdb: Fdb::new(cfg.bridge.aging, &limits, cfg.bridge.max_entries),
            names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
            statics: cfg
                .static_fdb
                .iter()
                .map(|s| (ExactKey::new(s.vlan.get(), s.mac), PortId(s.port as u16)))
                .collect(),
            ops: Vec::new(),
            announce: cfg.moose.is_some(),
        }
    }

    pub fn fdb(&self) -> &Fdb {
        &self.fdb
    }

    fn flush<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        for op in self.ops.drain(..) {
            cx.table(TableOp::Fdb(op));
        }
    }

    fn name(&self, p: PortId) -> String {
        self.names
            .get(p.index())
            .cloned()
            .unwrap_or_else(|| format!("port{}", p.0))
    }

    fn page(&self, q: FdbQuery, now: std::time::Instant) -> FdbPage {
        let limit = q.limit.clamp(1, MAX_PAGE);
        let (entries, more) = self.fdb.page(q.after, limit, now, |p| self.name(p));
        let next = if more {
            entries.last().map(|r| {
                FdbCursor {
                    vlan: r.vlan,
                    mac: r.mac,
                }
                .to_string()
            })
        } else {
            None
        };
        FdbPage { entries, next }
    }
}

impl<B: Backend> Service<B> for Bridge {
    fn name(&self) -> &'static str {
        "bridge"
    }

    fn classes(&self) -> &'static [PuntClass] {
        &[PuntClass::Learn]
    }

    fn start(&mut self, cx: &mut Ctx<'_, B>) {
        for (key, port) in std::mem::take(&mut self.statics) {
            self.fdb.add_static(key, port, cx.now, &mut self.ops);
        }
        self.flush(cx);
        cx.timer(cx.now + AGE_INTERVAL, 0);
    }

    fn punt(&mut self, cx: &mut Ctx<'_, B>, _class: PuntClass, _worker: usize, p: Punt<B::Frame>) {
        match p {
            Punt::Learn { key, port } => {
                let how = self.fdb.learn(key, port, cx.now, &mut self.ops);
                if matches!(
                    how,
                    control::Learned::New
                        | control::Learned::Moved { .. }
                        | control::Learned::Refreshed
                ) && self.announce
                {
                    cx.emit(Event::Heard { key, port });
                }
                self.flush(cx);
            }
            Punt::Frame { frame, .. } => cx.free(frame),
        }
    }

    fn timer(&mut self, cx: &mut Ctx<'_, B>, _token: u64) {
        self.fdb.age(cx.now, &mut self.ops);
        self.flush(cx);
        cx.timer(cx.now + AGE_INTERVAL, 0);
    }

    fn event(&mut self, cx: &mut Ctx<'_, B>, ev: &Event) {
        // A port that went down, or whose segment is homed on another
        // switch now, keeps no entries.
        if let Event::Link { port, up: false }
        | Event::Home {
            port,
            foreign: true,
        } = *ev
        {
            self.fdb.flush_port(port, &mut self.ops);
            self.flush(cx);
        }
    }

    fn request(
        &mut self,
        cx: &mut Ctx<'_, B>,
        body: Box<dyn std::any::Any + Send>,
    ) -> Result<(), Box<dyn std::any::Any + Send>> {
        let now = cx.now;
        let body = match serve::<FdbQuery>(body, |q| self.page(q, now)) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        serve::<StatsQuery>(body, |_| BridgeStats {
            entries: self.fdb.len(),
            static_entries: self.fdb.statics(),
            max_entries: self.fdb.max_entries(),
            counters: self.fdb.counters.clone(),
        })
    }
}
