//! The FIB of MAC routes between switches, kept by the `routing` service.
//!
//! It owns the RIB (a `moose_tables::lpm::MacLpm`, on the control side
//! only) built from the static `[[route]]`s and the routes SPF found, and
//! publishes the lookup half (`LpmTable`) and the ECMP groups as `Arc`s,
//! atomically in one publication, whenever they change. A route's next
//! hops are the ports of its route that are up: an ECMP group shrinks when
//! a member's link goes down, and a route whose ports are all down is
//! withdrawn until one comes back (a less specific route, such as a
//! default, then carries its traffic).
//!
//! Preference: a static route and an SPF route to the *same* prefix — the
//! static one is installed while any of its ports is up (an administrator's
//! route is a decision; SPF's is the fallback); routes to different
//! prefixes are chosen by the longest match as always.
//!
//! Static routes come from the config file's `[[route]]`s (a reload
//! replaces that set) and from the management API (`POST`/`DELETE
//! /api/v1/routes`), whose routes stay across reloads until the API
//! removes them, unless the file takes their prefix over. Both kinds are
//! the same kind of route to the FIB.

pub mod api;

use std::sync::Arc;

use moose_config::Config;
use moose_dataplane::io::Backend;
use moose_dataplane::tables::{NextHop, NextHops};
use moose_dataplane::{GroupId, TableOp};
use moose_tables::lpm::MacLpm;
use moose_wire::{MacPrefix, PortId};

use crate::api::{serve, Refusal};
use crate::routing::spf::SpfRoute;
use crate::runtime::Ctx;
use api::{AddRoute, RemoveRoute, RouteRecord, RouteStats, RoutesQuery, StatsQuery};

/// The RIB and the ECMP groups of a list of routes, each a prefix and its
/// next-hop ports (those that are up): what [`Routes::rebuild`] publishes,
/// as `rib.table()` and `NextHops::new(groups)`. A route with no port is
/// skipped; one port is a port next hop; two or more are a group, one
/// group per distinct port list, numbered in order of first use. A later
/// route to the same prefix replaces an earlier one (the caller gives each
/// prefix once). Pure, so `moose bench spf` times the same code.
pub fn build_fib(
    routes: impl IntoIterator<Item = (MacPrefix, Vec<PortId>)>,
) -> (MacLpm, Vec<Vec<PortId>>) {
    let mut groups: Vec<Vec<PortId>> = Vec::new();
    let mut group_of: std::collections::HashMap<Vec<PortId>, u16> = Default::default();
    let mut entries = Vec::new();
    for (prefix, live) in routes {
        let hop = match live.len() {
            0 => continue,
            1 => NextHop::Port(live[0]),
            _ => {
                let g = *group_of.entry(live.clone()).or_insert_with(|| {
                    groups.push(live);
                    (groups.len() - 1) as u16
                });
                NextHop::Group(GroupId(g))
            }
        };
        entries.push((prefix.key().raw(), prefix.len(), hop.encode()));
    }
    // Built in one go: inserting one by one rebuilds a top-level bucket
    // per prefix, and switch prefixes share their first bits.
    (MacLpm::from_prefixes(entries), groups)
}

#[derive(Clone, PartialEq, Eq)]
struct Route {
    prefix: MacPrefix,
    ports: Vec<PortId>,
    /// Added through the API (not from the config file).
    api: bool,
}

/// The config file's routes.
fn configured(cfg: &Config) -> Vec<Route> {
    cfg.routes
        .iter()
        .map(|r| Route {
            prefix: r.prefix,
            ports: r.ports.iter().map(|&p| PortId(p as u16)).collect(),
            api: false,
        })
        .collect()
}

pub struct Routes {
    local: Option<MacPrefix>,
    routes: Vec<Route>,
    spf: Vec<SpfRoute>,
    names: Vec<String>,
    /// Bit per port: link up.
    up: u64,
    rib: MacLpm,
    groups: usize,
    rebuilds: u64,
    /// What was published last, for the control plane's own frames.
    fib: Arc<moose_tables::lpm::LpmTable>,
    group_ports: Vec<Vec<PortId>>,
}

impl Routes {
    /// The service of a `[moose]` switch; `None` without one.
    pub fn from_config(cfg: &Config) -> Option<Routes> {
        let m = cfg.moose.as_ref()?;
        Some(Routes {
            local: Some(m.switch.prefix()),
            routes: configured(cfg),
            spf: Vec::new(),
            names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
            up: moose_dataplane::tables::all_ports(cfg.ports.len()),
            rib: MacLpm::new(),
            groups: 0,
            rebuilds: 0,
            fib: Arc::new(MacLpm::new().table()),
            group_ports: Vec::new(),
        })
    }

    fn live(&self, r: &Route) -> Vec<PortId> {
        self.live_of(&r.ports)
    }

    fn live_of(&self, ports: &[PortId]) -> Vec<PortId> {
        ports
            .iter()
            .copied()
            .filter(|p| self.up & p.bit() != 0)
            .collect()
    }

    /// Rebuilds the RIB and the groups from the routes and the links, and
    /// publishes both.
    pub fn rebuild<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        let statics = self
            .routes
            .iter()
            .filter(|r| !self.live(r).is_empty())
            .map(|r| (r.prefix, self.live(r)));
        let spf = self
            .spf
            .iter()
            .filter(|r| !self.shadowed(r))
            .map(|r| (r.prefix, self.live_of(&r.ports)));
        let all: Vec<(MacPrefix, Vec<PortId>)> = statics.chain(spf).collect();
        let (rib, groups) = build_fib(all);
        self.groups = groups.len();
        self.group_ports = groups.clone();
        cx.table(TableOp::Groups(Arc::new(NextHops::new(groups))));
        self.fib = Arc::new(rib.table());
        cx.table(TableOp::Fib(self.fib.clone()));
        self.rib = rib;
        self.rebuilds += 1;
    }

    /// Whether a static route to the same prefix, with a port up, or the
    /// switch's own prefix, takes precedence over an SPF route.
    fn shadowed(&self, r: &SpfRoute) -> bool {
        Some(r.prefix) == self.local
            || self
                .routes
                .iter()
                .any(|s| s.prefix == r.prefix && !self.live(s).is_empty())
    }

    /// The port a frame the control plane sends to `to` leaves by: the
    /// FIB's next hop (a group's first member: the control plane's frames
    /// need no spreading).
    pub fn port_for(&self, to: moose_wire::Mac) -> Option<PortId> {
        let v = self.fib.lookup(moose_wire::PrefixKey::from_mac(to).raw())?;
        match NextHop::decode(v) {
            NextHop::Port(p) => Some(p),
            NextHop::Group(g) => self.group_ports.get(usize::from(g.0))?.first().copied(),
        }
    }

    /// The routes SPF found (installed at the next [`rebuild`](Self::rebuild)).
    pub fn set_spf(&mut self, routes: &[SpfRoute]) {
        self.spf = routes.to_vec();
    }

    /// The switch's own prefix changed (renumbered).
    pub fn set_local(&mut self, p: MacPrefix) {
        self.local = Some(p);
    }

    fn name(&self, p: &PortId) -> String {
        self.names
            .get(p.index())
            .cloned()
            .unwrap_or_else(|| format!("port{}", p.0))
    }

    fn static_record(&self, r: &Route) -> RouteRecord {
        let live = self.live(r);
        RouteRecord {
            prefix: r.prefix.to_string(),
            ports: r.ports.iter().map(|p| self.name(p)).collect(),
            up: live.iter().map(|p| self.name(p)).collect(),
            source: "static".into(),
            local: false,
            installed: !live.is_empty(),
            switch_id: None,
            cost: None,
            origin: Some(if r.api { "api" } else { "config" }.into()),
        }
    }

    fn records(&self) -> Vec<RouteRecord> {
        let name = |p: &PortId| self.name(p);
        let mut out = Vec::new();
        if let Some(l) = self.local {
            out.push(RouteRecord {
                prefix: l.to_string(),
                ports: Vec::new(),
                up: Vec::new(),
                source: "local".into(),
                local: true,
                installed: true,
                switch_id: None,
                cost: None,
                origin: None,
            });
        }
        for r in &self.routes {
            out.push(self.static_record(r));
        }
        for r in &self.spf {
            let live = self.live_of(&r.ports);
            out.push(RouteRecord {
                prefix: r.prefix.to_string(),
                ports: r.ports.iter().map(name).collect(),
                up: live.iter().map(name).collect(),
                source: "spf".into(),
                local: false,
                installed: !live.is_empty() && !self.shadowed(r),
                switch_id: Some(r.switch_id.to_string()),
                cost: Some(r.cost),
                origin: None,
            });
        }
        out
    }
}

impl Routes {
    /// Installs the static routes before the workers start.
    pub fn start<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        self.up = cx.tables().ports.up;
        self.rebuild(cx);
    }

    /// A port's link changed: its routes' next hops follow.
    pub fn link<B: Backend>(&mut self, cx: &mut Ctx<'_, B>, port: PortId, up: bool) {
        let before = self.up;
        if up {
            self.up |= port.bit();
        } else {
            self.up &= !port.bit();
        }
        let touches = self.routes.iter().any(|r| r.ports.contains(&port))
            || self.spf.iter().any(|r| r.ports.contains(&port));
        if before != self.up && touches {
            self.rebuild(cx);
        }
    }

    /// A reload: the config file's routes replaced by the new file's;
    /// the API's kept, unless the file takes their prefix over.
    pub fn reconfigure<B: Backend>(
        &mut self,
        cx: &mut Ctx<'_, B>,
        cfg: &Config,
        report: &mut Vec<String>,
    ) {
        let mut routes = configured(cfg);
        for r in self.routes.iter().filter(|r| r.api) {
            if routes.iter().any(|c| c.prefix == r.prefix) {
                report.push(format!(
                    "route: {} is the config file's now (it replaces the route added through the API)",
                    r.prefix
                ));
            } else {
                routes.push(r.clone());
            }
        }
        if routes != self.routes {
            self.routes = routes;
            self.rebuild(cx);
        }
    }

    fn add<B: Backend>(
        &mut self,
        cx: &mut Ctx<'_, B>,
        a: AddRoute,
    ) -> Result<RouteRecord, Refusal> {
        let cfg = cx
            .config()
            .ok_or_else(|| Refusal::conflict("no running configuration to check the route with"))?;
        let r = cfg
            .check_route(&a.prefix, a.port.into_vec(), &|k| k.to_string())
            .map_err(|e| Refusal::invalid(e.to_string()))?;
        if Some(r.prefix) == self.local {
            return Err(Refusal::invalid(format!(
                "prefix: {} is this switch's own prefix, which is local",
                r.prefix
            )));
        }
        let route = Route {
            prefix: r.prefix,
            ports: r.ports.iter().map(|&p| PortId(p as u16)).collect(),
            api: true,
        };
        match self.routes.iter().position(|x| x.prefix == r.prefix) {
            Some(i) if !self.routes[i].api => {
                return Err(Refusal::conflict(format!(
                    "prefix: {} is a route of the config file (route); change it there and reload",
                    r.prefix
                )))
            }
            Some(i) => self.routes[i] = route.clone(),
            None => self.routes.push(route.clone()),
        }
        self.rebuild(cx);
        Ok(self.static_record(&route))
    }

    fn remove<B: Backend>(
        &mut self,
        cx: &mut Ctx<'_, B>,
        r: RemoveRoute,
    ) -> Result<RouteRecord, Refusal> {
        let prefix: MacPrefix = r
            .prefix
            .parse()
            .map_err(|e: moose_wire::AddrError| Refusal::invalid(format!("prefix: {e}")))?;
        let Some(i) = self.routes.iter().position(|x| x.prefix == prefix) else {
            return Err(Refusal::not_found(format!(
                "prefix: no static route to {prefix}"
            )));
        };
        if !self.routes[i].api {
            return Err(Refusal::conflict(format!(
                "prefix: {prefix} is a route of the config file (route); remove it there and reload"
            )));
        }
        let gone = self.routes.remove(i);
        let rec = self.static_record(&gone);
        self.rebuild(cx);
        Ok(rec)
    }

    /// Answers the routes' management calls.
    pub fn request<B: Backend>(
        &mut self,
        cx: &mut Ctx<'_, B>,
        body: Box<dyn std::any::Any + Send>,
    ) -> Result<(), Box<dyn std::any::Any + Send>> {
        let body = match serve::<RoutesQuery>(body, |_| self.records()) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        let body = match serve::<AddRoute>(body, |a| self.add(cx, a)) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        let body = match serve::<RemoveRoute>(body, |r| self.remove(cx, r)) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        serve::<StatsQuery>(body, |_| RouteStats {
            fib_entries: self.rib.len(),
            fib_bytes: self.rib.bytes(),
            groups: self.groups,
            rebuilds: self.rebuilds,
        })
    }
}
