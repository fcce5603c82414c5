//! `moose run`: brings the appliance up in DPDK's canonical order — config →
//! EAL init → mempool → ports → dataplane threads → management server —
//! reloads the config on SIGHUP ([`crate::reload`]), and goes down again on
//! SIGINT or SIGTERM (or after `--duration`): the
//! management server stops, workers stop and flush, the control runtime
//! publishes its last changes, final counters are printed, ports are
//! stopped and closed (restoring the interfaces' promiscuous state), the
//! EAL is cleaned up (stopping the packet capture server, which DPDK's
//! `dpdk-dumpcap` talks to, just before). moose's telemetry commands
//! (`src/telemetry.rs`) are registered once the management state exists.
//!
//! The threads are scoped: they borrow the ports, which borrow the EAL, so
//! the compiler checks that no queue, mbuf or port outlives what it came
//! from. The management server's state is `'static` (it reaches the
//! devices only through the control thread's `nic` service).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use moose_config::{Config, ConfigError};
use moose_control::bridge::api::StatsQuery as BridgeStatsQuery;
use moose_control::bridge::Bridge;
use moose_control::hosts::Hosts;
use moose_control::reserved::api::StatsQuery as ReservedStatsQuery;
use moose_control::reserved::Reserved;
use moose_control::routing::Routing;
use moose_control::{ControlHandle, Runtime};
use moose_dataplane::{Pipeline, PortId, PortTotals, WorkerStats};
use moose_dpdk::{Eal, Port, PortConf};
use moose_wire::Mac;

use crate::dpdk_backend::{Dpdk, DpdkPorts, Nic, Pool, Rx, Tx};
use crate::eal_args;

/// What the management server knows about one port. Read-only after start.
#[derive(Clone, Debug)]
pub struct PortMeta {
    pub name: String,
    pub role: moose_config::Role,
    pub device: String,
    pub dpdk_port: u16,
    pub driver: String,
    pub mac: Mac,
    pub kernel_iface: Option<String>,
    pub rx_queues: u16,
    pub tx_queues: u16,
    /// Worker polling each rx queue.
    pub rx_workers: Vec<usize>,
}

/// State shared with the management server: all of it `'static` and
/// read-only, or reached through the control thread.
pub struct Shared {
    /// The config moose started with: what a reload cannot change (name,
    /// ports and roles, `[moose]`, the dataplane). The running config,
    /// with what reloads changed, is the control thread's
    /// (`calls::Running`).
    pub cfg: Config,
    /// The file `-c` named, which a reload reads again.
    pub config_path: PathBuf,
    pub ports: Vec<PortMeta>,
    pub stats: Vec<Arc<WorkerStats>>,
    pub control: ControlHandle,
    pub started: Instant,
    /// The management server's own counters, once it runs.
    pub server: OnceLock<Arc<moose_mgmt::ServerStats>>,
}

fn log(msg: impl AsRef<str>) {
    log::info!("{}", msg.as_ref());
}

pub fn run(
    config: &Path,
    cli_eal: &[String],
    duration: Option<Duration>,
    json: bool,
) -> anyhow::Result<()> {
    let mut cfg = Config::load(config)?;

    let n_workers = cfg.dataplane.workers;
    let n_cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cores = cfg.worker_cores(n_cpus)?;
    let control_core = cfg.dataplane.control_core.unwrap_or(0);
    // Bind the management listener before touching any device, so that a
    // taken address fails fast and names its key.
    let listener = match cfg.metrics {
        Some(addr) => Some(TcpListener::bind(addr).map_err(|e| ConfigError::Invalid {
            key: "metrics.listen".into(),
            reason: format!("cannot listen on {addr}: {e}"),
        })?),
        None => None,
    };

    let mut eal_args = eal_args::merge(&cfg.dataplane.eal, cli_eal);
    if !eal_args::sets_lcores(&eal_args) {
        // The control core first (the EAL's main lcore), then the worker
        // cores. Workers are our own pinned threads registered with the EAL;
        // listing their cores makes the EAL pin its own control threads
        // (interrupts, multi-process) to the cores that are not lcores,
        // which with `-l <control>` alone would be the worker cores.
        let mut lcores = vec![control_core];
        lcores.extend(cores.iter().copied().filter(|c| *c != control_core));
        let list: Vec<String> = lcores.iter().map(|c| c.to_string()).collect();
        eal_args.insert(0, format!("-l{}", list.join(",")));
        eal_args.insert(1, format!("--main-lcore={control_core}"));
    }
    let mut argv = vec![String::from("moose")];
    argv.extend(eal_args);
    log(format!("EAL arguments: {}", argv[1..].join(" ")));
    let eal = Eal::init(&argv).context("EAL initialisation failed")?;
    log(format!("{} ({})", crate::VERSION, moose_dpdk::version()));
    // DPDK's own tools attach by the file prefix: dpdk-dumpcap as a
    // secondary process (the pdump server runs until the EAL is dropped,
    // after every port), dpdk-telemetry.py on the telemetry socket (the
    // moose commands are registered below, once the state they read
    // exists).
    if let Err(e) = eal.enable_capture() {
        log::warn!("packet capture unavailable: {e}");
    }
    log(eal_args::tools_hint(
        &argv[1..],
        cfg.dataplane.multi_process,
    ));
    match moose_mgmt::raise_fd_limit() {
        Ok(n) => log(format!("file descriptor limit {n}")),
        Err(e) => log(format!("could not raise the file descriptor limit: {e}")),
    }

    let mempool = eal
        .mempool(
            "moose_mbufs",
            cfg.dataplane.mbufs,
            256,
            cfg.dataplane.mbuf_size + 128, // + RTE_PKTMBUF_HEADROOM
            moose_dpdk::SOCKET_ID_ANY,
        )
        .with_context(|| {
            format!(
                "dataplane.mbufs: cannot create a pool of {} mbufs (does it fit in the EAL's memory, -m?)",
                cfg.dataplane.mbufs
            )
        })?;

    // Ports: attach, plan queues, configure, start.
    let mut ports: Vec<Port<'_>> = Vec::new();
    let mut metas = Vec::new();
    for (i, pc) in cfg.ports.iter().enumerate() {
        let key = format!("port[{i}] ({:?})", pc.name);
        let mut port = eal
            .attach(&pc.device)
            .with_context(|| format!("port[{i}].device (port {:?})", pc.name))?;
        let info = port.info().with_context(|| format!("{key}: device info"))?;
        let tx_queues = n_workers as u16;
        if info.max_tx_queues < tx_queues {
            let hint = if info.driver.contains("af_packet") {
                format!("; add qpairs={tx_queues} to its devargs")
            } else {
                String::new()
            };
            bail!(
                "port[{i}].device (port {:?}): {:?} ({}) has {} tx queue(s); moose needs {tx_queues} (one per worker){hint}",
                pc.name,
                pc.device,
                info.driver,
                info.max_tx_queues
            );
        }
        // Receive queues: one per worker where the device spreads traffic
        // with RSS; af_packet spreads over all of its qpairs sockets
        // (fanout), so every one of them is polled; otherwise a single
        // queue.
        let rss =
            n_workers > 1 && info.rss_offloads != 0 && usize::from(info.max_rx_queues) >= n_workers;
        let rx_queues: u16 = if info.driver.contains("af_packet") {
            info.max_rx_queues.max(1)
        } else if rss {
            n_workers as u16
        } else {
            1
        };
        let conf = PortConf {
            rx_queues,
            tx_queues,
            rx_desc: pc.rx_desc,
            tx_desc: pc.tx_desc,
            rss,
            promiscuous: pc.promiscuous,
            mtu: None,
        };
        port.configure(&conf, &mempool)
            .with_context(|| format!("{key}: configuring {conf:?}"))?;
        let mac = Mac(port.mac_addr().unwrap_or([0; 6]));
        let rx_workers = (0..rx_queues)
            .map(|q| (i + usize::from(q)) % n_workers)
            .collect();
        log(format!(
            "port {} = dpdk port {} ({}, {}): {rx_queues} rx / {tx_queues} tx queues{}",
            pc.name,
            port.id().0,
            info.driver,
            pc.device,
            if rss { ", RSS" } else { "" }
        ));
        metas.push(PortMeta {
            name: pc.name.clone(),
            role: pc.role,
            device: pc.device.clone(),
            dpdk_port: port.id().0,
            driver: info.driver,
            mac,
            kernel_iface: port.kernel_iface().map(str::to_string),
            rx_queues,
            tx_queues,
            rx_workers,
        });
        ports.push(port);
    }
    for (p, pc) in ports.iter_mut().zip(&cfg.ports) {
        p.start()
            .with_context(|| format!("port {:?}: start", pc.name))?;
    }

    // The switch's id in the link-state protocol: configured, or the
    // first port's address; an automatic prefix is derived from it.
    let switch_id = cfg
        .routing
        .switch_id
        .or_else(|| {
            metas
                .iter()
                .map(|m| m.mac)
                .find(|m| m.is_unicast() && !m.is_zero())
        })
        .unwrap_or(Mac([0x02, 0, 0, 0, 0, 1]));
    let attempt = moose_control::routing::prefix::resolve(&mut cfg, switch_id)
        .context("moose.prefix = \"auto\": reading or writing moose.state_dir/auto-prefix")?;
    if let Some(attempt) = attempt {
        log(format!(
            "moose prefix {} (automatic, attempt {attempt}, switch id {switch_id})",
            cfg.moose
                .as_ref()
                .map(|m| m.switch.prefix().to_string())
                .unwrap_or_default()
        ));
    }

    log(format!(
        "config {} applied: switch {:?}, {} port(s) started{}",
        config.display(),
        cfg.name,
        cfg.ports.len(),
        match &cfg.moose {
            Some(m) => format!(", MOOSE prefix {}", m.switch.prefix()),
            None => String::new(),
        }
    ));
    let quit = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, quit.clone()).context("installing signal handlers")?;
    }
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .context("installing signal handlers")?;

    let stats;
    let last = std::sync::Mutex::new((None, None));
    let outcome = {
        // Dataplane: every queue handle, once, to its owner.
        let mut rx: Vec<Vec<(PortId, u16, Rx)>> = (0..n_workers).map(|_| Vec::new()).collect();
        let mut tx: Vec<Vec<Tx>> = (0..n_workers).map(|_| Vec::new()).collect();
        for (i, (p, meta)) in ports.iter().zip(&metas).enumerate() {
            let q = p
                .queues()
                .with_context(|| format!("port {:?}: queues", meta.name))?;
            for (qi, r) in q.rx.into_iter().enumerate() {
                rx[meta.rx_workers[qi]].push((PortId(i as u16), qi as u16, Rx(r)));
            }
            for (w, t) in q.tx.into_iter().enumerate() {
                tx[w].push(Tx(t));
            }
        }
        let pools = (0..=n_workers).map(|_| Pool(mempool.clone())).collect();
        let pipe = Pipeline::<Dpdk>::build(&cfg, rx, tx, pools).context("wiring the dataplane")?;
        stats = pipe.stats.clone();
        let pipe_quit = pipe.quit.clone();
        let mut runtime = Runtime::new(pipe.control, Box::new(DpdkPorts { ports: &ports }));
        runtime.set_config(cfg.clone());
        runtime.add(Box::new(Bridge::from_config(&cfg)));
        runtime.add(Box::new(Reserved::from_config(&cfg)));
        if let Some(h) = Hosts::from_config(&cfg).context("moose.state_dir")? {
            runtime.add(Box::new(h));
        }
        if let Some(r) = Routing::from_config(&cfg, switch_id) {
            runtime.add(Box::new(r.with_attempt(attempt.unwrap_or(0))));
        }
        if let Some(e) = moose_control::elk::Elk::from_config(&cfg, switch_id)? {
            runtime.add(Box::new(e));
        }
        if let Some(m) = moose_control::mps::Mps::from_config(&cfg).context("mps.state_dir")? {
            runtime.add(Box::new(m));
        }
        runtime.add(Box::new(Nic {
            ports: &ports,
            names: cfg.ports.iter().map(|p| p.name.clone()).collect(),
            pool: mempool.clone(),
        }));
        let filters: Vec<Box<dyn moose_control::nicslots::MacFilter + '_>> = ports
            .iter()
            .zip(&cfg.ports)
            .map(|(p, pc)| {
                let burned_in = moose_wire::Mac(p.mac_addr().unwrap_or_default());
                let f: Box<dyn moose_control::nicslots::MacFilter + '_> = match pc.emulate_mac_slots
                {
                    Some(n) => Box::new(moose_control::nicslots::Model::new(n, burned_in)),
                    None => Box::new(crate::dpdk_backend::DpdkFilter {
                        port: p,
                        capacity: p
                            .info()
                            .map(|i| i.max_mac_addrs.max(1) as usize)
                            .unwrap_or(1),
                        burned_in,
                    }),
                };
                f
            })
            .collect();
        runtime.add(Box::new(
            moose_control::nicslots::NicSlots::new(&cfg, filters)
                .map_err(anyhow::Error::msg)
                .context("the MAC slots (nicslots)")?,
        ));
        runtime.start(Instant::now());
        let shared = Arc::new(Shared {
            cfg: cfg.clone(),
            config_path: config.to_path_buf(),
            ports: metas.clone(),
            stats: pipe.stats.clone(),
            control: runtime.handle(),
            started: Instant::now(),
            server: OnceLock::new(),
        });
        if let Err(e) = crate::telemetry::register(&eal, shared.clone()) {
            log::warn!("moose telemetry commands unavailable: {e}");
        }
        let eal = &eal;
        let register = !cfg.dataplane.multi_process;
        std::thread::scope(|s| -> anyhow::Result<()> {
            let mut threads = Vec::new();
            for (w, mut worker) in pipe.workers.into_iter().enumerate() {
                let core = cores[w];
                let t = std::thread::Builder::new()
                    .name(format!("moose-w{w}"))
                    .spawn_scoped(s, move || {
                        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                            log(format!("worker {w}: could not pin to core {core}"));
                        }
                        // Registered, a thread gets an lcore id and its
                        // mempool cache; DPDK 22.11 then refuses secondary
                        // processes, so multi_process leaves it out.
                        let _registered = register.then(|| {
                            eal.register_thread().map_err(|e| {
                                log(format!(
                                    "worker {w}: not registered with the EAL ({e}); mbuf allocation is slower"
                                ))
                            })
                        });
                        worker.run();
                    })
                    .context("spawning a worker")?;
                threads.push(t);
            }
            let control = std::thread::Builder::new()
                .name("moose-control".into())
                .spawn_scoped(s, move || {
                    core_affinity::set_for_current(core_affinity::CoreId { id: control_core });
                    let _registered = register.then(|| eal.register_thread());
                    runtime.run();
                })
                .context("spawning the control thread")?;
            threads.push(control);

            let dhcp6_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            if let Some(m) = shared.cfg.mps.as_ref() {
                if let Some(listen) = m.dhcp6_listen {
                    let sock = match crate::dhcp6::bind(listen, &m.dhcp6_interfaces) {
                        Ok(s) => s,
                        Err(e) => {
                            pipe_quit.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                    };
                    let (control, stop) = (shared.control.clone(), dhcp6_stop.clone());
                    std::thread::Builder::new()
                        .name("moose-dhcp6".into())
                        .spawn_scoped(s, move || crate::dhcp6::serve(sock, control, stop))
                        .context("spawning the DHCPv6 server")?;
                    log(format!("DHCPv6 link-layer address server on {listen}"));
                }
            }
            let server = match listener {
                Some(l) => {
                    let router = crate::http::router(shared.clone());
                    let server = moose_mgmt::Server::start(
                        l,
                        router,
                        moose_mgmt::Limits::default(),
                        Some(control_core),
                    );
                    match server {
                        Ok(srv) => {
                            let _ = shared.server.set(srv.stats());
                            Some(srv)
                        }
                        Err(e) => {
                            pipe_quit.store(true, Ordering::Relaxed);
                            return Err(anyhow::anyhow!("metrics.listen: {e}"));
                        }
                    }
                }
                None => None,
            };
            log(format!(
                "running: {} port(s), {} worker(s) on core(s) {:?}{}",
                ports.len(),
                n_workers,
                cores,
                shared
                    .cfg
                    .metrics
                    .map(|a| format!(", metrics on http://{a}/metrics"))
                    .unwrap_or_default()
            ));

            let deadline = duration.map(|d| Instant::now() + d);
            let mut died = None;
            while !quit.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
                if hup.swap(false, Ordering::Relaxed) {
                    crate::reload::on_signal(&shared);
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                if let Some(t) = threads.iter().find(|t| t.is_finished()) {
                    died = t.thread().name().map(str::to_string);
                    break;
                }
            }
            log("stopping");
            dhcp6_stop.store(true, Ordering::Relaxed);
            if let Some(srv) = server {
                srv.stop();
            }
            // The control services' last figures, for the final report.
            let wait = Duration::from_secs(1);
            *last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = (
                shared.control.call_blocking(BridgeStatsQuery, wait).ok(),
                shared.control.call_blocking(ReservedStatsQuery, wait).ok(),
            );
            pipe_quit.store(true, Ordering::Relaxed);
            let mut panicked = Vec::new();
            for t in threads {
                let name = t.thread().name().unwrap_or("?").to_string();
                if t.join().is_err() {
                    panicked.push(name);
                }
            }
            if let Some(d) = died {
                bail!(
                    "thread {d} stopped unexpectedly{}",
                    if panicked.is_empty() {
                        String::new()
                    } else {
                        format!(" (panicked: {})", panicked.join(", "))
                    }
                );
            }
            if !panicked.is_empty() {
                bail!("thread(s) panicked: {}", panicked.join(", "));
            }
            Ok(())
        })
    };

    // Every thread has ended: the ports are ours again.
    let (bridge, reserved) = last
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut report = final_report(&cfg, &ports, &stats);
    report["bridge"] = serde_json::to_value(bridge).unwrap_or_default();
    report["reserved"] = serde_json::to_value(reserved).unwrap_or_default();
    for (p, pc) in ports.into_iter().zip(&cfg.ports) {
        if let Err(e) = p.close() {
            log(format!("port {}: close: {e}", pc.name));
        }
    }
    drop(mempool);
    drop(eal);
    if json {
        crate::out::println(&serde_json::to_string_pretty(&report)?);
    } else {
        for p in report["ports"].as_array().into_iter().flatten() {
            log(format!("final {p}"));
        }
    }
    outcome
}

fn final_report(cfg: &Config, ports: &[Port<'_>], stats: &[Arc<WorkerStats>]) -> serde_json::Value {
    let list: Vec<_> = ports
        .iter()
        .zip(&cfg.ports)
        .enumerate()
        .map(|(i, (p, pc))| {
            let t = PortTotals::sum(stats, i as u16);
            let nic = p.stats().ok();
            serde_json::json!({
                "name": pc.name,
                "counters": t,
                "nic": nic.map(|s| serde_json::json!({
                    "ipackets": s.ipackets, "opackets": s.opackets, "ibytes": s.ibytes, "obytes": s.obytes,
                    "imissed": s.imissed, "ierrors": s.ierrors, "oerrors": s.oerrors, "rx_nombuf": s.rx_nombuf,
                    "kernel_drops": s.kernel_drops,
                })),
            })
        })
        .collect();
    let punt: serde_json::Map<String, serde_json::Value> = moose_dataplane::PuntClass::ALL
        .iter()
        .map(|&class| {
            let by: serde_json::Map<String, serde_json::Value> = moose_dataplane::PuntCounter::ALL
                .iter()
                .map(|&c| {
                    let n: u64 = stats.iter().map(|w| w.punt(class, c)).sum();
                    (c.label().to_string(), n.into())
                })
                .collect();
            (class.name().to_string(), by.into())
        })
        .collect();
    // The workers' counters summed (rewrites by kind, loops, cycles, ...).
    let workers: serde_json::Map<String, serde_json::Value> = moose_dataplane::WorkerCounter::ALL
        .iter()
        .map(|&c| {
            let n: u64 = stats.iter().map(|w| w.worker(c)).sum();
            (c.label().to_string(), n.into())
        })
        .collect();
    serde_json::json!({ "switch": cfg.name, "ports": list, "punt": punt, "workers": workers })
}
