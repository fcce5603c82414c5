//! A testbed of real Linux hosts for the demo and the end-to-end tests.
//!
//! Each [`Host`] is a network namespace with one end of a veth pair inside
//! (named `eth0`, with an IPv4 address) and the other end left in the root
//! namespace for the appliance to attach to (DPDK `net_af_packet`). Names
//! carry a per-testbed tag so testbeds can run side by side; everything a
//! [`Testbed`] creates is removed when it is dropped (also after a panic).
//! Needs root and `ip` (iproute2).
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
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

    /// Starts a command inside the host's namespace (stdin closed, stdout
    /// and stderr piped). `ip netns exec` execs the command, so the
    /// child's pid is the command's.
    pub fn spawn(&self, args: &[&str]) -> Result<Child, TestbedError> {
        Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| TestbedError::Spawn {
                cmd: args.join(" "),
                source,
            })
    }

    /// Sets the MTU of both ends of the host's veth pair (`port_if` and
    /// `eth0`).
    pub fn set_mtu(&self, mtu: u32) -> Result<(), TestbedError> {
        let m = mtu.to_string();
        sh(&["ip", "link", "set", &self.port_if, "mtu", &m])?;
        self.exec(&["ip", "link", "set", "eth0", "mtu", &m])?;
        Ok(())
    }

    /// Sets the root-namespace end (`port_if`, the appliance's side)
    /// administratively up or down.
    pub fn set_port_link(&self, up: bool) -> Result<(), TestbedError> {
        let state = if up { "up" } else { "down" };
        sh(&["ip", "link", "set", &self.port_if, state])?;
        Ok(())
    }

    /// Makes this host's neighbour entry for `other` permanent, so it never
    /// sends ARP for it.
    pub fn neigh_permanent(&self, other: &Host) -> Result<(), TestbedError> {
        self.exec(&[
            "ip",
            "neigh",
            "replace",
            &other.ip,
            "lladdr",
            &other.mac,
            "dev",
            "eth0",
            "nud",
            "permanent",
        ])?;
        Ok(())
    }

    /// Turns IPv6 on for the host's `eth0` (the testbed turns it off) and
    /// adds `addr` (`fd77::1/64`) without duplicate address detection; the
    /// link-local address skips it too, so both are usable at once.
    pub fn enable_ipv6(&self, addr: &str) -> Result<(), TestbedError> {
        self.exec(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.eth0.accept_dad=0",
            "net.ipv6.conf.eth0.accept_ra=0",
        ])?;
        self.exec(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=0",
            "net.ipv6.conf.default.disable_ipv6=0",
            "net.ipv6.conf.eth0.disable_ipv6=0",
        ])?;
        self.exec(&["ip", "-6", "addr", "add", addr, "dev", "eth0", "nodad"])?;
        Ok(())
    }

    /// The neighbour table of `eth0` for one family (`ip -4|-6 neigh show
    /// dev eth0`).
    pub fn neighbours(&self, v6: bool) -> Result<Vec<Neighbour>, TestbedError> {
        let fam = if v6 { "-6" } else { "-4" };
        let out = self.exec(&["ip", fam, "neigh", "show", "dev", "eth0"])?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(Neighbour::parse)
            .collect())
    }

    /// A counter of the host's `eth0` (`rx_packets`, `tx_packets`, …), from
    /// `/sys/class/net/eth0/statistics` inside the namespace.
    pub fn eth0_stat(&self, counter: &str) -> Result<u64, TestbedError> {
        let path = format!("/sys/class/net/eth0/statistics/{counter}");
        let out = self.exec(&["cat", &path])?;
        parse_num(&String::from_utf8_lossy(&out.stdout), &path)
    }

    /// A counter of the root-namespace end (`port_if`).
    pub fn port_stat(&self, counter: &str) -> Result<u64, TestbedError> {
        let path = format!("/sys/class/net/{}/statistics/{counter}", self.port_if);
        let text = std::fs::read_to_string(&path).map_err(|e| TestbedError::Command {
            cmd: format!("read {path}"),
            stderr: e.to_string(),
        })?;
        parse_num(&text, &path)
    }

    /// The interface flags (`IFF_*`) of the root-namespace end, from
    /// `/sys/class/net/<port_if>/flags`.
    pub fn port_flags(&self) -> Result<u32, TestbedError> {
        let path = format!("/sys/class/net/{}/flags", self.port_if);
        let text = std::fs::read_to_string(&path).map_err(|e| TestbedError::Command {
            cmd: format!("read {path}"),
            stderr: e.to_string(),
        })?;
        let t = text.trim();
        u32::from_str_radix(t.strip_prefix("0x").unwrap_or(t), 16).map_err(|e| {
            TestbedError::Command {
                cmd: format!("read {path}"),
                stderr: format!("{t:?}: {e}"),
            }
        })
    }

    /// Turns transmit checksum offload off on the host's `eth0`.
    ///
    /// A veth with offload on hands a packet socket on its peer — the
    /// appliance's `net_af_packet` port — TCP and UDP packets whose
    /// checksum holds only the pseudo-header sum (the kernel would finish
    /// it on a real NIC), and DPDK 22.11's af_packet driver does not say
    /// so: the appliance forwards them as they are and the receiving host
    /// drops them as corrupt. ICMP is summed in software, so pings pass
    /// either way; DHCP, DNS or TCP between hosts need this. There is no
    /// `ethtool` on the test machines, so this is the `ETHTOOL_STXCSUM`
    /// ioctl from Debian's Python (`/usr/bin/python3`, which the test
    /// setup installs for scapy).
    pub fn tx_checksum_off(&self) -> Result<(), TestbedError> {
        const SCRIPT: &str = r#"
import ctypes, fcntl, socket, struct, sys
def ethtool(cmd, data=0):
    ev = ctypes.create_string_buffer(struct.pack("II", cmd, data))
    ifr = struct.pack("16sP", b"eth0", ctypes.addressof(ev)).ljust(40, b"\0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), 0x8946, ifr)  # SIOCETHTOOL
    return struct.unpack("II", ev.raw[:8])[1]
ethtool(0x17, 0)  # ETHTOOL_STXCSUM
sys.exit(ethtool(0x16))  # ETHTOOL_GTXCSUM: 0 once off
"#;
        self.exec(&["/usr/bin/python3", "-c", SCRIPT])?;
        Ok(())
    }

    /// Starts `tcpdump` on the host's `eth0` (not promiscuous, packets
    /// written to `pcap` as they arrive) with the given filter words, and
    /// waits (up to `timeout`) until it is capturing.
    pub fn capture(
        &self,
        pcap: &Path,
        filter: &[&str],
        timeout: Duration,
    ) -> Result<Capture, TestbedError> {
        capture(Some(&self.ns), "eth0", pcap, filter, timeout)
    }
}

/// Starts `tcpdump` on `iface` (of network namespace `ns`, or of this one)
/// as [`Host::capture`] does.
pub fn capture(
    ns: Option<&str>,
    iface: &str,
    pcap: &Path,
    filter: &[&str],
    timeout: Duration,
) -> Result<Capture, TestbedError> {
    {
        let file = pcap.to_string_lossy().into_owned();
        let mut args: Vec<&str> = match ns {
            Some(ns) => vec!["ip", "netns", "exec", ns],
            None => Vec::new(),
        };
        args.extend_from_slice(&[
            "tcpdump",
            "-p",
            "-n",
            "-U",
            "--immediate-mode",
            "-i",
            iface,
            "-w",
            &file,
        ]);
        args.extend_from_slice(filter);
        let mut child = Command::new(args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| TestbedError::Spawn {
                cmd: args.join(" "),
                source,
            })?;
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            let mut told = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !told && line.contains("listening on") {
                    told = true;
                    let _ = tx.send(());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let mut cap = Capture {
            child: Some(child),
            reader: Some(reader),
        };
        if rx.recv_timeout(timeout).is_err() {
            let err = cap.finish(false);
            return Err(TestbedError::Command {
                cmd: args.join(" "),
                stderr: format!("not capturing after {timeout:?}: {err}"),
            });
        }
        Ok(cap)
    }
}

/// One line of `ip neigh show dev IF`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    pub ip: String,
    /// `None` for entries still resolving or failed.
    pub lladdr: Option<String>,
    /// `REACHABLE`, `STALE`, `DELAY`, `PROBE`, `FAILED`, …
    pub state: String,
}

impl Neighbour {
    /// `10.0.0.3 lladdr 02:22:22:00:00:02 router REACHABLE`.
    pub fn parse(line: &str) -> Option<Neighbour> {
        let w: Vec<&str> = line.split_whitespace().collect();
        let ip = w.first()?.to_string();
        let lladdr = w
            .iter()
            .position(|x| *x == "lladdr")
            .and_then(|i| w.get(i + 1))
            .map(|m| m.to_string());
        Some(Neighbour {
            ip,
            lladdr,
            state: w.last()?.to_string(),
        })
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
            let _ = sh(&["ip", "netns", "del", &ns]);
            let _ = sh(&["ip", "link", "del", &port_if]);
            sh(&["ip", "netns", "add", &ns])?;
            let host = Host {
                ns,
                port_if,
                ip: format!("10.77.{subnet}.{}", i + 1),
                mac: format!("02:77:{subnet:02x}:00:00:{:02x}", i + 1),
            };
            tb.hosts.push(host.clone());
            host.exec(&["ip", "link", "set", "lo", "up"])?;
            // No IPv6 chatter (DAD, router solicitations) in the captures.
            host.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])?;
            tb.plumb(i)?;
        }
        Ok(tb)
    }

    /// Creates host `i`'s veth pair: the root-namespace end `port_if`, up,
    /// and `eth0` in the host's namespace with the host's MAC and address.
    fn plumb(&self, i: usize) -> Result<(), TestbedError> {
        let h = &self.hosts[i];
        let peer = format!("{}h{i}", self.tag);
        sh(&[
            "ip", "link", "add", &h.port_if, "type", "veth", "peer", "name", &peer,
        ])?;
        sh(&["ip", "link", "set", &peer, "netns", &h.ns])?;
        h.exec(&["ip", "link", "set", &peer, "name", "eth0"])?;
        h.exec(&["ip", "link", "set", "eth0", "address", &h.mac])?;
        h.exec(&["ip", "link", "set", "eth0", "up"])?;
        h.exec(&["ip", "addr", "add", &format!("{}/24", h.ip), "dev", "eth0"])?;
        sh(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{}.disable_ipv6=1", h.port_if),
        ])?;
        sh(&["ip", "link", "set", &h.port_if, "up"])?;
        Ok(())
    }

    /// Deletes host `i`'s veth pair (both ends: `port_if` and the host's
    /// `eth0`); the namespace stays. Returns once `port_if` is gone.
    pub fn remove_link(&self, i: usize) -> Result<(), TestbedError> {
        let h = &self.hosts[i];
        sh(&["ip", "link", "del", &h.port_if])?;
        let t = Instant::now();
        while Path::new("/sys/class/net").join(&h.port_if).exists() {
            if t.elapsed() > Duration::from_secs(5) {
                return Err(TestbedError::Command {
                    cmd: format!("ip link del {}", h.port_if),
                    stderr: "the interface is still there after 5 s".into(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Creates host `i`'s veth pair again after [`remove_link`]
    /// (Testbed::remove_link), with the same names, MAC and address (the
    /// kernel gives the new interfaces new indexes).
    pub fn restore_link(&self, i: usize) -> Result<(), TestbedError> {
        self.plumb(i)
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

/// A veth pair in the root namespace, both ends up and without IPv6 (so
/// the kernel sends nothing on them): a cable between two appliances'
/// ports. Removed on drop.
pub struct VethPair {
    pub a: String,
    pub b: String,
}

impl VethPair {
    /// Creates `a` <-> `b` (names of at most 15 bytes), replacing any
    /// leftover of the same name.
    pub fn new(a: &str, b: &str) -> Result<VethPair, TestbedError> {
        if !is_root() {
            return Err(TestbedError::NotRoot);
        }
        let _ = sh(&["ip", "link", "del", a]);
        let _ = sh(&["ip", "link", "del", b]);
        sh(&["ip", "link", "add", a, "type", "veth", "peer", "name", b])?;
        let pair = VethPair {
            a: a.to_string(),
            b: b.to_string(),
        };
        for end in [a, b] {
            sh(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{end}.disable_ipv6=1"),
            ])?;
            sh(&["ip", "link", "set", end, "up"])?;
        }
        Ok(pair)
    }

    /// Waits until both ends report carrier.
    pub fn wait_up(&self, timeout: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < timeout {
            let up = [&self.a, &self.b].iter().all(|i| {
                std::fs::read_to_string(format!("/sys/class/net/{i}/operstate"))
                    .map(|s| s.trim() == "up")
                    .unwrap_or(false)
            });
            if up {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        // Deleting one end deletes both.
        let _ = sh(&["ip", "link", "del", &self.a]);
    }
}

/// A `tcpdump` running in a host (see [`Host::capture`]); killed on drop.
pub struct Capture {
    child: Option<Child>,
    reader: Option<std::thread::JoinHandle<String>>,
}

impl Capture {
    /// Stops the capture with SIGTERM (tcpdump then flushes its file) and
    /// waits up to `timeout` for it to exit — or, past that, for it to have
    /// printed its counts (its file is complete then); returns tcpdump's
    /// stderr (its packet counts).
    pub fn stop(mut self, timeout: Duration) -> Result<String, TestbedError> {
        let pid = self.child.as_ref().map(|c| c.id().to_string());
        if let Some(pid) = pid {
            sh(&["kill", "-TERM", &pid])?;
        }
        let t = Instant::now();
        while let Some(c) = &mut self.child {
            match c.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if t.elapsed() < timeout => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    let err = self.finish(false);
                    // tcpdump prints its counts once it has flushed the
                    // file; what takes long after that is the kernel
                    // tearing the socket down on a loaded machine (an RCU
                    // grace period), which the capture does not need.
                    if err.contains("packets captured") {
                        return Ok(err);
                    }
                    return Err(TestbedError::Command {
                        cmd: "tcpdump".into(),
                        stderr: format!("did not stop within {timeout:?}: {err}"),
                    });
                }
            }
        }
        Ok(self.finish(true))
    }

    /// Kills (unless it exited) and reaps tcpdump; its stderr.
    fn finish(&mut self, exited: bool) -> String {
        if let Some(mut c) = self.child.take() {
            if !exited {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
        self.reader
            .take()
            .and_then(|r| r.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.finish(false);
    }
}

fn parse_num(text: &str, what: &str) -> Result<u64, TestbedError> {
    text.trim().parse().map_err(|e| TestbedError::Command {
        cmd: format!("read {what}"),
        stderr: format!("{:?}: {e}", text.trim()),
    })
}

/// Makes the next process this machine starts get a random pid (root
/// only; otherwise nothing happens).
///
/// DPDK 22.11's af_packet driver names each port's fanout group
/// `(pid ^ ifindex) & 0xffff`, and the ids are shared by every process of
/// the network namespace. Appliances started one after the other get
/// consecutive pids, and the interfaces of a lab are created together with
/// consecutive indexes, so their XORs coincide far more often than chance
/// (a start fails with "could not set PACKET_FANOUT"), and a retry with the
/// next pid often collides again. Starting each appliance at a random pid
/// (through `/proc/sys/kernel/ns_last_pid`) makes a collision a rare,
/// independent event that one retry resolves.
pub fn scatter_next_pid() {
    use std::hash::{BuildHasher, Hasher};
    let max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(32768);
    if max < 4096 {
        return;
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    // Clear of the low pids the system's own daemons hold, and of the top,
    // where the kernel would wrap.
    let pid = 1000 + h.finish() % (max - 2000);
    let _ = std::fs::write("/proc/sys/kernel/ns_last_pid", pid.to_string());
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
