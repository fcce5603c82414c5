//! `moose run`: brings the appliance up in DPDK's canonical order — EAL init →
//! config → mempool → ports → dataplane threads → management server — and
//! down again on SIGINT/SIGTERM (or after `--duration`): workers stop and
//! flush, ports stop, final counters are printed, the EAL is cleaned up.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use moose_config::Config;
use moose_dataplane::counters::PortTotals;
use moose_dataplane::{Pipeline, WorkerStats};
use moose_dpdk::{Eal, Mempool, Port, PortConf};

use crate::dpdk_backend::{Dpdk, Pool, Rx, Tx};
use crate::eal_args;

/// What the management server knows about one port. Read-only after start.
pub struct PortInfo {
    pub name: String,
    pub role: moose_config::Role,
    pub device: String,
    pub port: Port,
    pub driver: String,
    pub mac: [u8; 6],
    pub rx_queues: u16,
    pub tx_queues: u16,
    /// Worker polling each rx queue.
    pub rx_workers: Vec<usize>,
}

/// State shared with the management threads.
pub struct Shared {
    pub cfg: Config,
    pub ports: Vec<PortInfo>,
    pub stats: Vec<Arc<WorkerStats>>,
    pub control: std::sync::Mutex<std::sync::mpsc::Sender<moose_dataplane::Control>>,
    pub started: Instant,
    pub mempool: Arc<Mempool>,
}

fn log(msg: impl AsRef<str>) {
    eprintln!("moose: {}", msg.as_ref());
}

pub fn run(
    config: &Path,
    cli_eal: &[String],
    duration: Option<f64>,
    json: bool,
) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    let n_workers = cfg.dataplane.workers;

    // Cores: workers on dataplane.cores (default: the cores after the
    // control core), the EAL main thread and slow path on control_core.
    let n_cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let control_core = cfg.dataplane.control_core.unwrap_or(0);
    let cores: Vec<usize> = if cfg.dataplane.cores.is_empty() {
        (0..n_workers)
            .map(|i| (control_core + 1 + i) % n_cpus)
            .collect()
    } else {
        cfg.dataplane.cores.clone()
    };
    for &c in cores.iter().chain(std::iter::once(&control_core)) {
        if c >= n_cpus {
            bail!("dataplane.cores: core {c} does not exist (this machine has {n_cpus})");
        }
    }

    let mut eal_args = eal_args::merge(&cfg.dataplane.eal, cli_eal);
    if !eal_args::sets_lcores(&eal_args) {
        // The control core first (the EAL's main lcore), then the worker
        // cores. Workers are our own pinned threads registered with the EAL
        // (the EAL's own threads for those lcores only wait, blocked); the
        // point of listing the worker cores is that the EAL pins its control
        // threads (interrupts, multi-process) to the cores that are NOT
        // lcores, which with `-l <control>` alone would be the worker cores.
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

    let mempool = Arc::new(
        Mempool::create(
            "moose_mbufs",
            cfg.dataplane.mbufs,
            256,
            cfg.dataplane.mbuf_size + 128, // + RTE_PKTMBUF_HEADROOM
            moose_dpdk::SOCKET_ID_ANY,
        )
            .with_context(|| format!("creating a pool of {} mbufs (dataplane.mbufs; does it fit in the EAL's memory, -m?)", cfg.dataplane.mbufs))?,
    );

    // Ports: attach, plan queues, configure, start.
    let mut ports = Vec::new();
    for (i, pc) in cfg.ports.iter().enumerate() {
        let key = format!("port[{i}] {:?}", pc.name);
        let id = moose_dpdk::attach(&pc.device)
            .with_context(|| format!("{key}: attaching device {:?}", pc.device))?;
        let port = Port::new(id);
        let info = port.info().with_context(|| format!("{key}: device info"))?;
        let tx_queues = n_workers as u16;
        if info.max_tx_queues < tx_queues {
            let hint = if info.driver.contains("af_packet") {
                format!("; add qpairs={tx_queues} to its devargs")
            } else {
                String::new()
            };
            bail!(
                "{key}: device {:?} ({}) has {} tx queue(s); moose needs {tx_queues} (one per worker){hint}",
                pc.device, info.driver, info.max_tx_queues
            );
        }
        // Receive queues: one per worker where the device spreads traffic
        // with RSS; af_packet spreads over all of its qpairs sockets (fanout),
        // so every one of them is polled; otherwise a single queue.
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
        let mac = port.mac_addr().unwrap_or([0; 6]);
        let rx_workers = (0..rx_queues)
            .map(|q| (i + usize::from(q)) % n_workers)
            .collect();
        log(format!(
            "port {} = dpdk port {} ({}, {}): {rx_queues} rx / {tx_queues} tx queues{}",
            pc.name,
            id.0,
            info.driver,
            pc.device,
            if rss { ", RSS" } else { "" }
        ));
        ports.push(PortInfo {
            name: pc.name.clone(),
            role: pc.role,
            device: pc.device.clone(),
            port,
            driver: info.driver,
            mac,
            rx_queues,
            tx_queues,
            rx_workers,
        });
    }
    for (p, pc) in ports.iter().zip(&cfg.ports) {
        p.port
            .start()
            .with_context(|| format!("port {:?}: start", pc.name))?;
    }

    // Dataplane.
    let mut rx: Vec<Vec<(u16, Rx)>> = (0..n_workers).map(|_| Vec::new()).collect();
    for (i, p) in ports.iter().enumerate() {
        for (q, &w) in p.rx_workers.iter().enumerate() {
            rx[w].push((i as u16, Rx(p.port.rx_queue(q as u16))));
        }
    }
    let tx: Vec<Vec<Tx>> = (0..n_workers)
        .map(|w| {
            ports
                .iter()
                .map(|p| Tx(p.port.tx_queue(w as u16)))
                .collect()
        })
        .collect();
    let pools = (0..=n_workers).map(|_| Pool(mempool.clone())).collect();
    let pipe = Pipeline::<Dpdk>::build(&cfg, rx, tx, pools);
    let quit = pipe.quit.clone();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, quit.clone()).context("installing signal handlers")?;
    }

    let mut threads = Vec::new();
    for (w, mut worker) in pipe.workers.into_iter().enumerate() {
        let core = cores[w];
        let t = std::thread::Builder::new()
            .name(format!("moose-w{w}"))
            .spawn(move || {
                if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                    log(format!("worker {w}: could not pin to core {core}"));
                }
                if let Err(e) = moose_dpdk::register_thread() {
                    log(format!(
                        "worker {w}: not registered with the EAL ({e}); mbuf allocation is slower"
                    ));
                }
                worker.run();
                moose_dpdk::unregister_thread();
            })
            .context("spawning a worker")?;
        threads.push(t);
    }
    let mut slow = pipe.slow;
    let slow_thread = std::thread::Builder::new()
        .name("moose-slow".into())
        .spawn(move || {
            core_affinity::set_for_current(core_affinity::CoreId { id: control_core });
            let _ = moose_dpdk::register_thread();
            slow.run();
            moose_dpdk::unregister_thread();
        })
        .context("spawning the slow path")?;

    let shared = Arc::new(Shared {
        cfg,
        ports,
        stats: pipe.stats,
        control: std::sync::Mutex::new(pipe.control),
        started: Instant::now(),
        mempool,
    });
    let server = match shared.cfg.metrics {
        Some(addr) => Some(
            crate::http::start(addr, shared.clone())
                .with_context(|| format!("metrics.listen: cannot listen on {addr}"))?,
        ),
        None => None,
    };
    log(format!(
        "running: {} port(s), {} worker(s) on core(s) {:?}{}",
        shared.ports.len(),
        n_workers,
        cores,
        shared
            .cfg
            .metrics
            .map(|a| format!(", metrics on http://{a}/metrics"))
            .unwrap_or_default()
    ));

    let deadline = duration.map(|d| Instant::now() + Duration::from_secs_f64(d));
    while !quit.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
        if deadline.is_some_and(|d| Instant::now() >= d) {
            quit.store(true, Ordering::Relaxed);
        }
    }
    log("stopping");
    for t in threads {
        let _ = t.join();
    }
    let _ = slow_thread.join();
    if let Some(s) = server {
        s.stop();
    }
    for p in &shared.ports {
        if let Err(e) = p.port.stop() {
            log(format!("port {}: stop: {e}", p.name));
        }
    }
    let report = final_report(&shared);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for p in report["ports"].as_array().into_iter().flatten() {
            log(format!("final {}", p));
        }
    }
    for p in &shared.ports {
        p.port.close();
    }
    drop(shared);
    drop(eal);
    Ok(())
}

fn final_report(shared: &Shared) -> serde_json::Value {
    let ports: Vec<_> = shared
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let t = PortTotals::sum(&shared.stats, i as u16);
            let nic = p.port.stats().ok();
            serde_json::json!({
                "name": p.name,
                "counters": t,
                "nic": nic.map(|s| crate::http::nic_json(&s)),
            })
        })
        .collect();
    serde_json::json!({ "switch": shared.cfg.name, "uptime_secs": shared.started.elapsed().as_secs_f64(), "ports": ports })
}
