//! The `bridge` service: the learning bridge's control half. It owns the
//! master FDB ([`control::Fdb`]), takes the workers' learn requests (punt
//! class `learn`), ages entries every second, flushes a port's dynamic
//! entries when its link goes down (as the Linux bridge does), installs the
//! configured static entries, and answers FDB pages and figures
//! ([`api`]). Its per-packet half is the `legacy` classifier in
//! `moose-dataplane`.
//!
//! Static entries come from two places, kept apart: the config file's
//! `[[static_fdb]]` (a reload replaces that set) and the management API
//! (`POST`/`DELETE /api/v1/fdb`), whose entries stay across reloads until
//! the API removes them — unless the file takes their (VLAN, MAC) over, or
//! their port stops carrying their VLAN. The API never changes the file's
//! entries.

pub mod api;
pub mod control;

use std::collections::BTreeMap;
use std::time::Duration;

use moose_config::Config;
use moose_dataplane::io::Backend;
use moose_dataplane::{FdbOp, Punt, PuntClass, TableOp};
use moose_wire::{ExactKey, Mac, PortId, Vlan};

use crate::api::{serve, Refusal};
use crate::runtime::{Ctx, Event, Service};
use api::{
    AddStatic, BridgeStats, FdbCursor, FdbKind, FdbPage, FdbQuery, FdbRecord, RemoveStatic,
    StatsQuery, MAX_PAGE,
};
use control::Fdb;

const AGE_INTERVAL: Duration = Duration::from_secs(1);

/// Static entries by (VLAN, MAC) sort key: their port.
type Statics = BTreeMap<u64, PortId>;

fn configured(cfg: &Config) -> Statics {
    cfg.static_fdb
        .iter()
        .map(|s| {
            (
                ExactKey::new(s.vlan.get(), s.mac).sort_key(),
                PortId(s.port as u16),
            )
        })
        .collect()
}

pub struct Bridge {
    fdb: Fdb,
    names: Vec<String>,
    /// The config file's static entries.
    configured: Statics,
    /// Static entries added through the API.
    added: Statics,
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
            configured: configured(cfg),
            added: Statics::new(),
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

    /// `"config"` or `"api"` for a static entry.
    fn origin(&self, key: u64) -> Option<String> {
        if self.configured.contains_key(&key) {
            Some("config".into())
        } else if self.added.contains_key(&key) {
            Some("api".into())
        } else {
            None
        }
    }

    fn record(&self, key: ExactKey, port: PortId, now: std::time::Instant) -> FdbRecord {
        FdbRecord {
            vlan: key.vlan(),
            mac: key.mac(),
            port: self.name(port),
            kind: FdbKind::Static,
            age_secs: self
                .fdb
                .get(key)
                .map_or(0, |e| now.saturating_duration_since(e.last_seen).as_secs()),
            moves: 0,
            origin: self.origin(key.sort_key()),
        }
    }

    fn add<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, a: AddStatic) -> Result<FdbRecord, Refusal> {
        let cfg = cx
            .config()
            .ok_or_else(|| Refusal::conflict("no running configuration to check the entry with"))?;
        let s = cfg
            .check_static_fdb(&a.mac, a.vlan, &a.port, &|k| k.to_string())
            .map_err(|e| Refusal::invalid(e.to_string()))?;
        let key = ExactKey::new(s.vlan.get(), s.mac);
        let k = key.sort_key();
        if self.configured.contains_key(&k) {
            return Err(Refusal::conflict(format!(
                "mac: {} on VLAN {} is a static entry of the config file (static_fdb); change it there and reload",
                s.mac, s.vlan
            )));
        }
        let port = PortId(s.port as u16);
        if !self.added.contains_key(&k) && self.fdb.statics() >= self.fdb.max_entries() {
            return Err(Refusal::conflict(format!(
                "mac: the FDB holds bridge.max_entries ({}) static entries",
                self.fdb.max_entries()
            )));
        }
        self.added.insert(k, port);
        self.fdb.add_static(key, port, cx.now, &mut self.ops);
        self.flush(cx);
        Ok(self.record(key, port, cx.now))
    }

    fn remove<B: Backend>(
        &mut self,
        cx: &mut Ctx<'_, B>,
        r: RemoveStatic,
    ) -> Result<FdbRecord, Refusal> {
        let mac: Mac = r
            .mac
            .parse()
            .map_err(|e: moose_wire::MacParseError| Refusal::invalid(format!("mac: {e}")))?;
        let vlan = Vlan::new(r.vlan).map_err(|e| Refusal::invalid(format!("vlan: {e}")))?;
        let key = ExactKey::new(vlan.get(), mac);
        let k = key.sort_key();
        if self.configured.contains_key(&k) {
            return Err(Refusal::conflict(format!(
                "mac: {mac} on VLAN {vlan} is a static entry of the config file (static_fdb); remove it there and reload"
            )));
        }
        let Some(port) = self.added.get(&k).copied() else {
            return Err(Refusal::not_found(format!(
                "mac: no static entry for {mac} on VLAN {vlan} was added through the API"
            )));
        };
        let rec = self.record(key, port, cx.now);
        self.added.remove(&k);
        self.fdb.remove_static(key, &mut self.ops);
        self.flush(cx);
        Ok(rec)
    }

    fn page(&self, q: FdbQuery, now: std::time::Instant) -> FdbPage {
        let limit = q.limit.clamp(1, MAX_PAGE);
        let (mut entries, more) = self.fdb.page(q.after, limit, now, |p| self.name(p));
        for r in &mut entries {
            if r.kind == FdbKind::Static {
                r.origin = self.origin(ExactKey::new(r.vlan, r.mac).sort_key());
            }
        }
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
        for (&k, &port) in &self.configured {
            self.fdb
                .add_static(ExactKey::from_sort_key(k), port, cx.now, &mut self.ops);
        }
        self.flush(cx);
        cx.timer(cx.now + AGE_INTERVAL, 0);
    }

    /// The new limits; dynamic entries off the VLANs their port carries
    /// flushed; the file's static entries replaced by the new file's; the
    /// API's kept, unless the file takes them over or their port stops
    /// carrying their VLAN.
    fn reconfigure(&mut self, cx: &mut Ctx<'_, B>, cfg: &Config, report: &mut Vec<String>) {
        let limits: Vec<Option<u32>> = cfg.ports.iter().map(|p| p.learn_limit).collect();
        self.fdb.set_limits(&limits, cfg.bridge.max_entries);
        let carries = |p: PortId, v: u16| {
            cfg.ports
                .get(p.index())
                .is_some_and(|c| c.vlans.contains(v))
        };
        let n = self.fdb.flush_vlans(carries, &mut self.ops);
        if n > 0 {
            report.push(format!(
                "fdb: flushed {n} dynamic {} of ports that no longer carry their VLAN",
                if n == 1 { "entry" } else { "entries" }
            ));
        }
        let new = configured(cfg);
        for &k in self.configured.keys() {
            if !new.contains_key(&k) {
                self.fdb
                    .remove_static(ExactKey::from_sort_key(k), &mut self.ops);
            }
        }
        for (&k, &port) in &new {
            let key = ExactKey::from_sort_key(k);
            if self.added.remove(&k).is_some() {
                report.push(format!(
                    "fdb: {} vlan {} is the config file's now (it replaces the entry added through the API)",
                    key.mac(),
                    key.vlan()
                ));
            } else if self.configured.get(&k) == Some(&port) {
                continue;
            }
            self.fdb.add_static(key, port, cx.now, &mut self.ops);
        }
        self.configured = new;
        let gone: Vec<(u64, PortId)> = self
            .added
            .iter()
            .filter(|(k, p)| !carries(**p, ExactKey::from_sort_key(**k).vlan()))
            .map(|(k, p)| (*k, *p))
            .collect();
        for (k, port) in gone {
            let key = ExactKey::from_sort_key(k);
            self.added.remove(&k);
            self.fdb.remove_static(key, &mut self.ops);
            report.push(format!(
                "fdb: the API's static entry {} vlan {} on {} is removed: the port no longer carries VLAN {}",
                key.mac(),
                key.vlan(),
                self.name(port),
                key.vlan()
            ));
        }
        self.flush(cx);
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
        let body = match serve::<AddStatic>(body, |a| self.add(cx, a)) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        let body = match serve::<RemoveStatic>(body, |r| self.remove(cx, r)) {
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
