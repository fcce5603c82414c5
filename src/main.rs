//! `moose`: the appliance binary. Command-line front end over the dataplane,
//! the DPDK backend, the management server and the demo.

mod app;
mod bench;
mod demo;
mod dhcp6;
mod dpdk_backend;
mod eal_args;
mod gen;
mod http;
mod mac;
mod metrics;
mod out;
mod reload;
mod show;
mod sim;
mod sim_plot;
mod slots;
mod telemetry;
mod zeroloss;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("MOOSE_GIT_REV"),
    ", built against DPDK ",
    env!("MOOSE_DPDK_VERSION"),
    ")"
);

#[derive(Parser)]
#[command(name = "moose", version = VERSION, about = "DPDK MAC-routing switch appliance")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the appliance. DPDK EAL arguments after `--` add to or override
    /// the config's `dataplane.eal`.
    Run {
        /// The configuration file (TOML).
        #[arg(short, long)]
        config: PathBuf,
        /// Stop by itself after this many seconds (for benchmarks and tests):
        /// a positive number up to 10 years, fractions allowed.
        // Hyphen values: `--duration -1` is then refused as a duration
        // (naming --duration), not as an unknown flag `-1`.
        #[arg(long, value_parser = parse_duration, allow_hyphen_values = true)]
        duration: Option<std::time::Duration>,
        /// Print the final counters as JSON on stdout when stopping.
        #[arg(long)]
        json: bool,
        /// Log level of the slow path's events on stderr: error, warn,
        /// info (default), debug, trace; or a filter such as
        /// `info,moose_control::routing=debug`. Without it, `RUST_LOG`.
        #[arg(long, value_name = "LEVEL")]
        log_level: Option<String>,
        /// EAL arguments.
        #[arg(last = true)]
        eal: Vec<String>,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// Run the demo: real Linux hosts in network namespaces on veth pairs,
    /// switched by moose on DPDK net_af_packet ports (needs root).
    ///
    /// By default two MOOSE switches joined by a fabric link, two hosts on
    /// each: every pair pings over IPv4 and IPv6, then each host's
    /// neighbour table (the other switch's hosts by MOOSE address only) and
    /// each switch's table sizes. `--bridge`: one learning bridge, then its
    /// port counters and FDB. Exits non-zero if a ping failed (or a host
    /// learnt a real MAC from behind the other switch).
    Demo {
        /// The MOOSE demo (the default).
        #[arg(long, conflicts_with = "bridge")]
        moose: bool,
        /// The learning-bridge demo instead: one appliance, legacy ports.
        #[arg(long, visible_alias = "legacy")]
        bridge: bool,
        /// Number of hosts of the bridge demo.
        #[arg(long, default_value_t = 3, requires = "bridge")]
        hosts: usize,
        /// Keep the appliance(s) running after the report until Ctrl-C.
        #[arg(long)]
        keep: bool,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
    /// Make a running appliance read its config file again and apply what
    /// can change while it runs (as SIGHUP does), through its JSON API.
    /// Prints each change; a key that cannot change refuses the whole
    /// reload, naming the key, and a file that does not validate is
    /// refused with its error (the running config stays).
    Reload {
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
        /// The API's address (default: metrics.listen of --config, else 127.0.0.1:9477).
        #[arg(long, conflicts_with = "config")]
        api: Option<String>,
        /// Take the API's address from this configuration file.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// The MAC provider of a running appliance ([mps]), through its JSON
    /// API: request, release, reclaim, show, pools.
    Mac {
        #[command(subcommand)]
        cmd: mac::MacCmd,
        /// Print the API's JSON instead of a line or table.
        #[arg(long, global = true)]
        json: bool,
        /// The API's address (default: metrics.listen of --config, else 127.0.0.1:9477).
        #[arg(long, global = true)]
        api: Option<String>,
        /// Take the API's address from this configuration file.
        #[arg(short, long, global = true)]
        config: Option<PathBuf>,
    },
    /// The NIC MAC slots of a running appliance, through its JSON API:
    /// show, reserve, unreserve, modify.
    Slots {
        #[command(subcommand)]
        cmd: slots::SlotsCmd,
        /// Print the API's JSON instead of a table or line.
        #[arg(long, global = true)]
        json: bool,
        /// The API's address (default: metrics.listen of --config, else 127.0.0.1:9477).
        #[arg(long, global = true)]
        api: Option<String>,
        /// Take the API's address from this configuration file.
        #[arg(short, long, global = true)]
        config: Option<PathBuf>,
    },
    /// Write a pcap capture of synthetic traffic for benchmarks of a MOOSE
    /// fabric (no DPDK needed).
    #[command(long_about = gen::LONG_ABOUT)]
    Gen(gen::GenArgs),
    /// Simulate a MOOSE fabric of real switches against a learning
    /// Ethernet at data-centre scale (no DPDK needed).
    #[command(long_about = sim::LONG_ABOUT)]
    Sim(sim::SimArgs),
    /// Show a running appliance's state, through its JSON API.
    Show {
        /// What to show.
        what: show::What,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The API's address (default: metrics.listen of --config, else 127.0.0.1:9477).
        #[arg(long)]
        api: Option<String>,
        /// Take the API's address from this configuration file.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
}

/// `--duration`: seconds, finite, positive, at most ten years (so that
/// adding it to the clock cannot overflow).
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 10.0 * 365.0 * 86400.0 {
        return Err(format!(
            "{s} is not a positive number of seconds up to 10 years"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Validate a configuration file and print what it means.
    Check { file: PathBuf },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Lookup tables (MAC LPM, translation) against same-run baselines.
    Tables {
        /// Emit one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Small sizes, for a smoke run.
        #[arg(long)]
        quick: bool,
    },
    /// One role's dataplane pipeline over the in-memory backend, one
    /// thread, for a fixed number of frames: what perf/callgrind.sh counts
    /// instructions per packet of (`io` is the rx/tx-only baseline).
    Pipeline {
        /// io, bridge, edge or fabric.
        #[arg(long, default_value = "edge")]
        role: String,
        /// Distinct (source, destination) pairs, round-robin (1-16384).
        #[arg(long, default_value_t = 64)]
        flows: usize,
        /// Frames to forward after the set-up.
        #[arg(long, default_value_t = 1_000_000)]
        frames: u64,
        /// `[dataplane] flow_cache` of the switch measured (slots, a power
        /// of two).
        #[arg(long, default_value_t = 16384)]
        flow_cache: usize,
        /// Emit one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// RFC 2544 throughput: the highest loss-free (NDR) and partial-drop
    /// (PDR) rate of a device under test between two DPDK ports of this
    /// process (e.g. net_memif clients), with latency percentiles.
    Zeroloss(zeroloss::Args),
    /// SPF and FIB rebuild time for fabrics of 10, 100 and 1000 switches.
    Spf {
        /// Emit one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Fewer repetitions, for a smoke run.
        #[arg(long)]
        quick: bool,
    },
}

/// Slow-path logs on stderr through `log`: `moose: MESSAGE` at info,
/// `moose: LEVEL: MESSAGE` otherwise; the filter from `--log-level`, else
/// `RUST_LOG`, else `info`.
fn init_logging(level: Option<&str>) {
    use std::io::Write;
    let mut b = env_logger::Builder::new();
    match (level, std::env::var("RUST_LOG")) {
        (Some(l), _) => b.parse_filters(l),
        (None, Ok(env)) => b.parse_filters(&env),
        (None, Err(_)) => b.filter_level(log::LevelFilter::Info),
    };
    b.format(|f, r| match r.level() {
        log::Level::Info => writeln!(f, "moose: {}", r.args()),
        l => writeln!(
            f,
            "moose: {}: {}",
            l.as_str().to_ascii_lowercase(),
            r.args()
        ),
    });
    let _ = b.try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match &cli.cmd {
        Cmd::Run { log_level, .. } => log_level.clone(),
        _ => None,
    };
    if let Some(l) = &level {
        const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
        let ok = l
            .split(',')
            .all(|part| LEVELS.contains(&part.rsplit('=').next().unwrap_or("")));
        if !ok {
            eprintln!("moose: error: --log-level {l:?}: want error, warn, info, debug, trace or off (or target=level,…)");
            return ExitCode::from(2);
        }
    }
    init_logging(level.as_deref());
    let res = match cli.cmd {
        Cmd::Run {
            config,
            duration,
            json,
            eal,
            ..
        } => app::run(&config, &eal, duration, json),
        Cmd::Config {
            cmd: ConfigCmd::Check { file },
        } => config_check(&file),
        Cmd::Demo {
            bridge: true,
            hosts,
            keep,
            ..
        } => demo::bridge(hosts, keep),
        Cmd::Demo { keep, .. } => demo::moose(keep),
        Cmd::Bench {
            what: BenchCmd::Tables { json, quick },
        } => bench::tables(json, quick),
        Cmd::Bench {
            what: BenchCmd::Spf { json, quick },
        } => bench::spf(json, quick),
        Cmd::Bench {
            what:
                BenchCmd::Pipeline {
                    role,
                    flows,
                    frames,
                    flow_cache,
                    json,
                },
        } => bench::pipeline(&role, flows, frames, flow_cache, json),
        Cmd::Bench {
            what: BenchCmd::Zeroloss(args),
        } => zeroloss::run(&args),
        Cmd::Show {
            what,
            json,
            api,
            config,
        } => show_api(api, config).and_then(|api| show::run(what, &api, json)),
        Cmd::Mac {
            cmd,
            json,
            api,
            config,
        } => show_api(api, config).and_then(|api| mac::run(cmd, &api, json)),
        Cmd::Slots {
            cmd,
            json,
            api,
            config,
        } => show_api(api, config).and_then(|api| slots::run(cmd, &api, json)),
        Cmd::Gen(args) => gen::run(&args),
        Cmd::Sim(args) => sim::run(&args),
        Cmd::Reload { json, api, config } => {
            show_api(api, config).and_then(|api| reload::cli(&api, json))
        }
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moose: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The API address for `moose show` and `moose reload`: `--api`, else the config's
/// `metrics.listen`, else the default.
fn show_api(api: Option<String>, config: Option<PathBuf>) -> anyhow::Result<String> {
    if let Some(a) = api {
        return Ok(a);
    }
    if let Some(c) = config {
        let cfg = moose_config::Config::load(&c)?;
        return match cfg.metrics {
            Some(a) => Ok(a.to_string()),
            None => anyhow::bail!(
                "{}: metrics.listen is not set, so moose serves no API",
                c.display()
            ),
        };
    }
    Ok(show::DEFAULT_API.to_string())
}

/// `" storm broadcast 1000/s multicast 5000/s"` for the classes limited.
fn storm_line(s: &moose_config::Storm) -> String {
    [
        ("broadcast", s.broadcast_pps),
        ("multicast", s.multicast_pps),
        ("unknown_unicast", s.unknown_unicast_pps),
    ]
    .iter()
    .filter_map(|(k, v)| v.map(|v| format!(" {k} {v}/s")))
    .fold(String::new(), |acc, x| {
        if acc.is_empty() {
            format!(" storm{x}")
        } else {
            acc + &x
        }
    })
}

fn config_check(file: &std::path::Path) -> anyhow::Result<()> {
    let cfg = moose_config::Config::load(file)?;
    out::println(&format!("{}: ok", file.display()));
    out::println(&format!(
        "switch {:?}: {} worker(s), idle {:?}",
        cfg.name, cfg.dataplane.workers, cfg.dataplane.idle
    ));
    for p in &cfg.ports {
        out::println(&format!(
            "  port {:<8} {:?} device {:?} pvid {} vlans {:?}{}",
            p.name,
            p.role,
            p.device,
            p.pvid,
            p.vlans,
            p.learn_limit
                .map(|l| format!(" learn_limit {l}"))
                .unwrap_or_default()
                + &p.host_pool
                    .map(|h| format!(" host_pool {h}"))
                    .unwrap_or_default()
                + &storm_line(&p.storm)
        ));
    }
    for s in &cfg.static_fdb {
        out::println(&format!(
            "  static {} vlan {} -> {}",
            s.mac, s.vlan, cfg.ports[s.port].name
        ));
    }
    out::println(&format!("  fdb at most {} entries", cfg.bridge.max_entries));
    if let Some(m) = &cfg.moose {
        let p = if m.auto_prefix {
            "auto (a /24 derived from the switch id at start)".to_string()
        } else {
            m.switch.prefix().to_string()
        };
        out::println(&format!(
            "  moose prefix {p}: {} host ids ({:?}), at most {} hosts, {} per edge port",
            (1u64 << m.switch.host_bits()) - 1,
            m.host_ids,
            m.max_hosts,
            m.host_quota
        ));
        out::println(&format!(
            "  hosts released after {} s idle, ids quarantined {} s, home hellos every {} ms, state {}",
            m.host_idle.as_secs(),
            m.reuse_after.as_secs(),
            m.home_hello.as_millis(),
            m.state_dir
                .as_ref()
                .map_or("in memory only".to_string(), |d| d.display().to_string())
        ));
        out::println(&format!(
            "  hosts that move away: old address forwarded {} s; more than {} moves in {} s freeze a host",
            m.move_hold.as_secs(),
            m.move_limit,
            m.move_window.as_secs()
        ));
    }
    for s in &cfg.sticky_hosts {
        out::println(&format!(
            "  sticky host {} vlan {} on {}",
            s.mac, s.vlan, cfg.ports[s.port].name
        ));
    }
    if cfg.moose.is_some() {
        let r = &cfg.routing;
        if r.enabled {
            out::println(&format!(
                "  routing: hellos every {} ms, dead after {} ms, retransmit {} ms, SPF at most every {} ms, refresh {} s, max age {} s, switch id {}, {}",
                r.hello_interval.as_millis(),
                r.dead_interval.as_millis(),
                r.retransmit.as_millis(),
                r.spf_delay.as_millis(),
                r.refresh.as_secs(),
                r.max_age.as_secs(),
                r.switch_id.map_or("the first port's MAC".to_string(), |m| m.to_string()),
                match (&r.key, &r.previous_key) {
                    (None, _) => "unauthenticated".to_string(),
                    (Some(k), None) => format!("HMAC-SHA-256 key id {}", k.id),
                    (Some(k), Some(p)) => format!("HMAC-SHA-256 key id {} (also accepting {})", k.id, p.id),
                }
            ));
            for p in cfg
                .ports
                .iter()
                .filter(|p| p.role == moose_config::Role::Fabric)
            {
                out::println(&format!("  fabric port {} cost {}", p.name, p.cost));
            }
        } else {
            out::println(
                "  routing: disabled (static routes only; broadcasts to every fabric port)",
            );
        }
        let e = &cfg.elk;
        if e.enabled {
            out::println(&format!(
                "  elk: answers ARP/ND{}{}, cache {} answers for {} s, probes after {} s, queries time out after {} ms, directory address {}{}, {} static bindings",
                if e.vlans.is_all() { String::new() } else { format!(" on {:?}", e.vlans) },
                if e.directory { " as a directory server" } else { "" },
                e.cache_entries,
                e.cache_ttl.as_secs(),
                e.binding_ttl.mul_f64(0.75).as_secs(),
                e.query_timeout.as_millis(),
                e.directory_address,
                if e.inspect { ", inspecting" } else { "" },
                e.bindings.len()
            ));
        } else {
            out::println("  elk: off (ARP and ND flood along the broadcast tree)");
        }
    }
    for r in &cfg.routes {
        let ports: Vec<&str> = r
            .ports
            .iter()
            .map(|&i| cfg.ports[i].name.as_str())
            .collect();
        out::println(&format!(
            "  route {} -> {}{}",
            r.prefix,
            ports.join(", "),
            if ports.len() > 1 { " (ECMP)" } else { "" }
        ));
    }
    if let Some(m) = cfg.metrics {
        out::println(&format!("  metrics and API on http://{m}/"));
    }
    Ok(())
}
