//! The management server on `[metrics].listen`: `/metrics` (Prometheus text
//! format) and a small JSON API. One thread; requests are handled in turn.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use moose_dataplane::counters::PortTotals;
use moose_dataplane::Control;
use prometheus::{Encoder, Registry, TextEncoder};
use tiny_http::{Header, Method, Response, Server};

use crate::app::Shared;
use crate::metrics::{slow_stats, MooseCollector};

pub struct Handle {
    server: Arc<Server>,
    thread: std::thread::JoinHandle<()>,
}

impl Handle {
    pub fn stop(self) {
        self.server.unblock();
        let _ = self.thread.join();
    }
}

pub fn start(addr: SocketAddr, shared: Arc<Shared>) -> anyhow::Result<Handle> {
    let server = Arc::new(Server::http(addr).map_err(|e| anyhow::anyhow!("{e}"))?);
    let registry = Registry::new();
    registry.register(Box::new(MooseCollector::new(shared.clone())))?;
    let s = server.clone();
    let thread = std::thread::Builder::new()
        .name("moose-http".into())
        .spawn(move || {
            for req in s.incoming_requests() {
                let (code, ctype, body) = if *req.method() != Method::Get {
                    (405, "text/plain", "only GET\n".to_string())
                } else {
                    route(req.url(), &shared, &registry)
                };
                let resp = Response::from_string(body)
                    .with_status_code(code)
                    .with_header(Header::from_bytes("Content-Type", ctype).expect("static header"));
                let _ = req.respond(resp);
            }
        })?;
    Ok(Handle { server, thread })
}

fn json(v: serde_json::Value) -> (u16, &'static str, String) {
    (
        200,
        "application/json",
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n",
    )
}

fn route(url: &str, shared: &Shared, registry: &Registry) -> (u16, &'static str, String) {
    let path = url.split('?').next().unwrap_or("");
    match path {
        "/metrics" => {
            let mut buf = Vec::new();
            let enc = TextEncoder::new();
            match enc.encode(&registry.gather(), &mut buf) {
                Ok(()) => (
                    200,
                    "text/plain; version=0.0.4",
                    String::from_utf8_lossy(&buf).into_owned(),
                ),
                Err(e) => (500, "text/plain", format!("{e}\n")),
            }
        }
        "/api/v1/ports" => json(ports(shared)),
        "/api/v1/fdb" => match fdb(shared) {
            Some(v) => json(v),
            None => (503, "text/plain", "slow path did not answer\n".into()),
        },
        "/api/v1/xstats" => json(serde_json::Value::Object(
            shared
                .ports
                .iter()
                .map(|p| {
                    let x = p.port.xstats().map(|v| {
                        v.into_iter()
                            .map(|(k, n)| (k, n.into()))
                            .collect::<serde_json::Map<_, _>>()
                    });
                    (
                        p.name.clone(),
                        x.map(serde_json::Value::Object)
                            .unwrap_or(serde_json::Value::Null),
                    )
                })
                .collect(),
        )),
        "/api/v1/status" => json(serde_json::json!({
            "switch": shared.cfg.name,
            "version": crate::VERSION,
            "dpdk": moose_dpdk::version(),
            "uptime_secs": shared.started.elapsed().as_secs_f64(),
            "workers": shared.cfg.dataplane.workers,
            "slow_path": slow_stats(shared),
        })),
        "/" => (
            200,
            "text/plain",
            "moose: /metrics /api/v1/ports /api/v1/fdb /api/v1/xstats /api/v1/status\n".into(),
        ),
        _ => (404, "text/plain", format!("no such path: {path}\n")),
    }
}

/// The NIC's own counters (ethdev stats) as JSON.
pub fn nic_json(s: &moose_dpdk::PortStats) -> serde_json::Value {
    serde_json::json!({
        "ipackets": s.ipackets, "opackets": s.opackets, "ibytes": s.ibytes, "obytes": s.obytes,
        "imissed": s.imissed, "ierrors": s.ierrors, "oerrors": s.oerrors, "rx_nombuf": s.rx_nombuf,
    })
}

fn mac_str(m: [u8; 6]) -> String {
    moose_wire::Mac(m).to_string()
}

fn ports(shared: &Shared) -> serde_json::Value {
    let list: Vec<_> = shared
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let t = PortTotals::sum(&shared.stats, i as u16);
            let link = p.port.link();
            let nic = p.port.stats().ok();
            let pc = &shared.cfg.ports[i];
            serde_json::json!({
                "index": i,
                "name": p.name,
                "role": p.role,
                "device": p.device,
                "dpdk_port": p.port.id().0,
                "driver": p.driver,
                "mac": mac_str(p.mac),
                "pvid": pc.pvid.get(),
                "vlans": if pc.vlans.is_all() { serde_json::json!("all") } else { serde_json::json!(pc.vlans.iter().collect::<Vec<_>>()) },
                "rx_queues": p.rx_queues,
                "tx_queues": p.tx_queues,
                "rx_queue_workers": p.rx_workers,
                "link": { "up": link.up, "speed_mbps": link.speed_mbps, "full_duplex": link.full_duplex },
                "counters": t,
                "nic": nic.map(|s| nic_json(&s)),
            })
        })
        .collect();
    serde_json::Value::Array(list)
}

fn fdb(shared: &Shared) -> Option<serde_json::Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    shared
        .control
        .lock()
        .ok()?
        .send(Control::FdbDump(tx))
        .ok()?;
    let records = rx.recv_timeout(Duration::from_secs(2)).ok()?;
    let list: Vec<_> = records
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "vlan": r.vlan,
                "mac": r.mac,
                "port": shared.ports.get(usize::from(r.port)).map(|p| p.name.as_str()).unwrap_or("?"),
                "type": r.kind,
                "age_secs": r.age_secs,
                "moves": r.moves,
            })
        })
        .collect();
    Some(serde_json::Value::Array(list))
}
