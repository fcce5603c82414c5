//! A testbed of real Linux hosts for the demo and the end-to-end tests.
//!
//! Each [`Host`] is a network namespace with one end of a veth pair inside
//! (named `eth0`, with an IPv4 address) and the other end left in the root
//! namespace for the appliance to attach to (DPDK `net_af_packet`). Names
//! carry a per-testbed tag so testbeds can run side by side; everything a
//! [`Testbed`] creates is removed when it is dropped (also after a panic).
//! Needs root and `ip` (iproute2).
#![forbid(unsafe_code)]

use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    #[error("this needs root (network namespaces and veth pairs); run it as root")]
    NotRoot,
    #[error("`{cmd}` failed: {stderr}")]
    Command { cmd: String, stderr: String },
    #[error("cannot run `{cmd}`: {source}")]
    Spawn { cmd: String, source: std::io::Error },
}

/// Runs a command, failing with its stderr.
pub fn sh(args: &[&str]) -> Result<Output, TestbedError> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|source| TestbedError::Spawn {
            cmd: args.join(" "),
            source,
        })?;
    if !out.status.success() {
        return Err(TestbedError::Command {
            cmd: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[derive(Debug, Clone)]
pub struct Host {
    /// Namespace name.
    pub ns: String,
    /// The veth end in the root namespace, for the appliance.
    pub port_if: String,
    pub ip: String,
    pub mac: String,
}

impl Host {
    /// Runs a command inside the host's namespace.
    pub fn exec(&self, args: &[&str]) -> Result<Output, TestbedError> {
        let mut v = vec!["ip", "netns", "exec", &self.ns];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Pings `ip` from this host; true if every echo was answered.
    pub fn ping(&self, ip: &str, count: u32) -> bool {
        let c = count.to_string();
        self.exec(&["ping", "-c", &c, "-i", "0.2", "-W", "2", "-q", ip])
            .is_ok()
    }
}

/// A set of hosts; removed on drop.
pub struct Testbed {
    pub tag: String,
    pub hosts: Vec<Host>,
}

impl Testbed {
    /// Creates `n` hosts `10.77.<subnet>.<i+1>/24` with MACs
    /// `02:77:<subnet>:00:00:<i+1>`.
    pub fn new(tag: &str, n: usize, subnet: u8) -> Result<Testbed, TestbedError> {
        if !is_root() {
            return Err(TestbedError::NotRoot);
        }
        let mut tb = Testbed {
            tag: tag.to_string(),
            hosts: Vec::new(),
        };
        for i in 0..n {
            let ns = format!("{tag}-h{i}");
            let port_if = format!("{tag}p{i}");
            let peer = format!("{tag}h{i}");
            let _ = sh(&["ip", "netns", "del", &ns]);
            let _ = sh(&["ip", "link", "del", &port_if]);
            sh(&["ip", "netns", "add", &ns])?;
            let ip = format!("10.77.{subnet}.{}", i + 1);
            let mac = format!("02:77:{subnet:02x}:00:00:{:02x}", i + 1);
            let host = Host {
                ns: ns.clone(),
                port_if: port_if.clone(),
                ip: ip.clone(),
                mac: mac.clone(),
            };
            tb.hosts.push(host.clone());
            sh(&[
                "ip", "link", "add", &port_if, "type", "veth", "peer", "name", &peer,
            ])?;
            sh(&["ip", "link", "set", &peer, "netns", &ns])?;
            host.exec(&["ip", "link", "set", &peer, "name", "eth0"])?;
            host.exec(&["ip", "link", "set", "eth0", "address", &mac])?;
            host.exec(&["ip", "link", "set", "lo", "up"])?;
            host.exec(&["ip", "link", "set", "eth0", "up"])?;
            // No IPv6 chatter (DAD, router solicitations) in the captures.
            host.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])?;
            host.exec(&["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"])?;
            sh(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{port_if}.disable_ipv6=1"),
            ])?;
            sh(&["ip", "link", "set", &port_if, "up"])?;
        }
        Ok(tb)
    }

    /// Waits until every veth end in the root namespace reports carrier.
    pub fn wait_up(&self, timeout: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < timeout {
            let all = self.hosts.iter().all(|h| {
                std::fs::read_to_string(format!("/sys/class/net/{}/operstate", h.port_if))
                    .map(|s| s.trim() == "up")
                    .unwrap_or(false)
            });
            if all {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Removes every namespace and link this testbed made.
    pub fn cleanup(&mut self) {
        for h in self.hosts.drain(..) {
            let _ = sh(&["ip", "link", "del", &h.port_if]);
            let _ = sh(&["ip", "netns", "del", &h.ns]);
        }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// A short tag unique to this process, for names (interface names must fit
/// in 15 bytes: tag + "p" + index).
pub fn unique_tag(prefix: &str) -> String {
    format!("{prefix}{}", std::process::id() % 100_000)
}

/// An HTTP GET on the appliance's management server; the body as text.
pub fn http_get(addr: &str, path: &str) -> Result<String, String> {
    ureq::get(&format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(5))
        .call()
        .map_err(|e| e.to_string())?
        .into_string()
        .map_err(|e| e.to_string())
}

/// Polls `http_get` until it answers or `timeout` passes.
pub fn wait_http(addr: &str, path: &str, timeout: Duration) -> Result<String, String> {
    let t = Instant::now();
    loop {
        match http_get(addr, path) {
            Ok(b) => return Ok(b),
            Err(e) if t.elapsed() > timeout => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
