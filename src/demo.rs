//! `moose demo`: the main job on a built-in topology. Real Linux hosts in
//! network namespaces, each on a veth pair whose other end is a DPDK
//! `net_af_packet` port of a `moose run` child process (no hugepages). Every
//! pair of hosts pings, then a short report shows the per-port counters and
//! the FDB. Everything created is removed at the end, also on Ctrl-C.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use moose_testbed::{http_get, is_root, unique_tag, wait_http, Testbed};

struct Appliance {
    child: Child,
    dir: PathBuf,
}

impl Appliance {
    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The demo's configuration for the testbed's ports.
pub fn demo_config(tb: &Testbed, name: &str, metrics: &str) -> String {
    let mut c = format!(
        "# moose demo: generated\n[switch]\nname = \"{name}\"\n\n[dataplane]\nworkers = 1\nidle = \"backoff\"\n\
         eal = [\"--no-huge\", \"-m\", \"256\", \"--no-pci\", \"--no-telemetry\", \"--file-prefix={name}\"]\nmbufs = 8191\n\n\
         [metrics]\nlisten = \"{metrics}\"\n"
    );
    for (i, h) in tb.hosts.iter().enumerate() {
        c += &format!("\n[[port]]\nname = \"p{i}\"\nrole = \"legacy\"\ndevice = \"net_af_packet{i},iface={}\"\n", h.port_if);
    }
    c
}

pub fn run(hosts: usize, keep: bool) -> anyhow::Result<()> {
    if !is_root() {
        bail!("moose demo creates network namespaces and veth pairs: run it as root");
    }
    if !(2..=8).contains(&hosts) {
        bail!("--hosts must be 2..=8");
    }
    let quit = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, quit.clone())?;
    }
    let tag = unique_tag("md");
    println!(
        "moose demo: {hosts} hosts in network namespaces {tag}-h0..{}",
        hosts - 1
    );
    let tb = Testbed::new(&tag, hosts, 1).context("building the testbed")?;
    let dir = std::env::temp_dir().join(format!("moose-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let metrics = format!("127.0.0.1:{}", free_port()?);
    let cfg_path = dir.join("demo.toml");
    std::fs::write(
        &cfg_path,
        demo_config(&tb, &format!("moose-demo-{}", std::process::id()), &metrics),
    )?;
    println!("moose demo: config {}", cfg_path.display());

    let log = std::fs::File::create(dir.join("moose.log"))?;
    let child = Command::new(std::env::current_exe()?)
        .args(["run", "-c"])
        .arg(&cfg_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting moose run")?;
    let mut app = Appliance {
        child,
        dir: dir.clone(),
    };
    if let Err(e) = wait_http(&metrics, "/api/v1/status", Duration::from_secs(30)) {
        let log = std::fs::read_to_string(dir.join("moose.log")).unwrap_or_default();
        bail!("the appliance did not come up ({e}); its log:\n{log}");
    }
    tb.wait_up(Duration::from_secs(5));
    println!("moose demo: appliance up, metrics on http://{metrics}/metrics");

    let mut failures = 0;
    println!("\n{:<10} {:<12} {:<12} result", "from", "to", "address");
    for a in &tb.hosts {
        for b in &tb.hosts {
            if a.ns == b.ns || quit.load(Ordering::Relaxed) {
                continue;
            }
            let ok = a.ping(&b.ip, 3);
            failures += usize::from(!ok);
            println!(
                "{:<10} {:<12} {:<12} {}",
                a.ns,
                b.ns,
                b.ip,
                if ok { "ok" } else { "FAILED" }
            );
        }
    }

    let ports: serde_json::Value =
        serde_json::from_str(&http_get(&metrics, "/api/v1/ports").map_err(anyhow::Error::msg)?)?;
    let fdb: serde_json::Value =
        serde_json::from_str(&http_get(&metrics, "/api/v1/fdb").map_err(anyhow::Error::msg)?)?;
    println!(
        "\n{:<5} {:<14} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "port", "interface", "rx", "tx", "flooded", "unknown", "drops"
    );
    for (p, h) in ports.as_array().into_iter().flatten().zip(&tb.hosts) {
        let c = &p["counters"];
        let drops: u64 = c["drops"]
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0);
        println!(
            "{:<5} {:<14} {:>8} {:>8} {:>8} {:>8} {:>6}",
            p["name"].as_str().unwrap_or("?"),
            h.port_if,
            c["rx_packets"].as_u64().unwrap_or(0),
            c["tx_packets"].as_u64().unwrap_or(0),
            c["tx_flood"].as_u64().unwrap_or(0),
            c["rx_unknown_unicast"].as_u64().unwrap_or(0),
            drops
        );
    }
    println!(
        "\nFDB ({} entries)",
        fdb.as_array().map(|a| a.len()).unwrap_or(0)
    );
    println!(
        "{:<5} {:<18} {:<5} {:<8} host",
        "vlan", "mac", "port", "type"
    );
    for e in fdb.as_array().into_iter().flatten() {
        let mac = e["mac"].as_str().unwrap_or("");
        let host = tb
            .hosts
            .iter()
            .find(|h| h.mac == mac)
            .map(|h| h.ns.as_str())
            .unwrap_or("-");
        println!(
            "{:<5} {:<18} {:<5} {:<8} {host}",
            e["vlan"].as_u64().unwrap_or(0),
            mac,
            e["port"].as_str().unwrap_or("?"),
            e["type"].as_str().unwrap_or("?")
        );
    }
    let _ = std::io::stdout().flush();

    if keep && !quit.load(Ordering::Relaxed) {
        println!("\nmoose demo: running; hosts are `ip netns exec {tag}-hN ...`; Ctrl-C to stop");
        while !quit.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    app.stop();
    drop(tb);
    println!("\nmoose demo: cleaned up");
    if quit.load(Ordering::Relaxed) && !keep {
        bail!("interrupted");
    }
    if failures > 0 {
        bail!("{failures} ping(s) failed");
    }
    println!("moose demo: all {} pairs reachable", hosts * (hosts - 1));
    Ok(())
}
