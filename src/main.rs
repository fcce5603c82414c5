//! `moose`: the appliance binary. Command-line front end over the dataplane,
//! the DPDK backend, the management server and the demo.

mod app;
mod bench;
mod demo;
mod dpdk_backend;
mod eal_args;
mod http;
mod metrics;

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
        /// Stop by itself after this many seconds (for benchmarks and tests).
        #[arg(long)]
        duration: Option<f64>,
        /// Print the final counters as JSON on stdout when stopping.
        #[arg(long)]
        json: bool,
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
    Demo {
        /// Number of hosts.
        #[arg(long, default_value_t = 3)]
        hosts: usize,
        /// Keep the appliance running after the report until Ctrl-C.
        #[arg(long)]
        keep: bool,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Run {
            config,
            duration,
            json,
            eal,
        } => app::run(&config, &eal, duration, json),
        Cmd::Config {
            cmd: ConfigCmd::Check { file },
        } => config_check(&file),
        Cmd::Demo { hosts, keep } => demo::run(hosts, keep),
        Cmd::Bench {
            what: BenchCmd::Tables { json, quick },
        } => bench::tables(json, quick),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("moose: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config_check(file: &std::path::Path) -> anyhow::Result<()> {
    let cfg = moose_config::Config::load(file)?;
    println!("{}: ok", file.display());
    println!(
        "switch {:?}: {} worker(s), idle {:?}",
        cfg.name, cfg.dataplane.workers, cfg.dataplane.idle
    );
    for p in &cfg.ports {
        println!(
            "  port {:<8} {:?} device {:?} pvid {} vlans {:?}{}",
            p.name,
            p.role,
            p.device,
            p.pvid,
            p.vlans,
            p.learn_limit
                .map(|l| format!(" learn_limit {l}"))
                .unwrap_or_default()
        );
    }
    for s in &cfg.static_fdb {
        println!(
            "  static {} vlan {} -> {}",
            s.mac, s.vlan, cfg.ports[s.port].name
        );
    }
    if let Some(m) = cfg.metrics {
        println!("  metrics on http://{m}/metrics");
    }
    Ok(())
}
