//! Helpers shared by the end-to-end tests: running the real `moose` binary,
//! asking its management server.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use moose_testbed::http_get;

pub fn moose() -> Command {
    Command::new(env!("CARGO_BIN_EXE_moose"))
}

/// A scratch directory unique to one test, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("moose-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    pub fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }

    pub fn write(&self, f: &str, text: &str) -> PathBuf {
        let p = self.path(f);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The EAL arguments every test uses: no hugepages, no PCI, a file prefix
/// unique to the test so tests can run side by side.
pub fn eal(name: &str) -> String {
    format!(
        "eal = [\"--no-huge\", \"-m\", \"256\", \"--no-pci\", \"--no-telemetry\", \"--file-prefix=mt-{name}-{}\"]",
        std::process::id()
    )
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn moose");
    assert!(
        out.status.success(),
        "moose failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    use pcap_file::pcap::{PcapPacket, PcapWriter};
    let f = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::new(f).unwrap();
    for (i, fr) in frames.iter().enumerate() {
        let ts = std::time::Duration::from_micros(i as u64);
        w.write_packet(&PcapPacket::new(ts, fr.len() as u32, fr))
            .unwrap();
    }
}

pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    use pcap_file::pcap::PcapReader;
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = PcapReader::new(f).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.unwrap().data.into_owned());
    }
    out
}

/// Kills the appliance if the test fails half-way.
pub struct Running(pub Option<Child>);

impl Running {
    /// Starts `moose <args> <cfg>` (stdout and stderr piped) and waits
    /// until it answers on `listen`.
    ///
    /// DPDK 22.11's af_packet driver names each port's fanout group
    /// `(pid ^ ifindex) & 0xffff`, and groups are shared by every process
    /// in the network namespace: a moose running beside another (tests in
    /// parallel) can pick a group id the other already uses for another
    /// interface, and its probe fails ("could not set PACKET_FANOUT").
    /// A new process has a new pid, so such a start is tried again.
    pub fn start(args: &[&str], cfg: &std::path::Path, listen: &str) -> Running {
        let mut attempt = 1;
        loop {
            let child = moose()
                .args(args)
                .arg(cfg)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut app = Running(Some(child));
            match app.try_wait_up(listen) {
                Ok(()) => return app,
                Err(e) if attempt < 3 && e.contains("could not set PACKET_FANOUT") => {
                    eprintln!("fanout group collision, starting moose again: {e}");
                    attempt += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Waits until `/api/v1/status` answers. If moose exits first, or does
    /// not answer in time, panics with its exit status and its stderr, so
    /// that a failure says why.
    pub fn wait_up(&mut self, listen: &str) {
        if let Err(e) = self.try_wait_up(listen) {
            panic!("{e}");
        }
    }

    /// [`wait_up`](Running::wait_up), with the failure as an error (moose
    /// is then reaped).
    fn try_wait_up(&mut self, listen: &str) -> Result<(), String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if http_get(listen, "/api/v1/status").is_ok() {
                return Ok(());
            }
            let child = self.0.as_mut().expect("running");
            let exited = child.try_wait().expect("try_wait");
            if exited.is_some() || std::time::Instant::now() > deadline {
                if exited.is_none() {
                    let _ = child.kill();
                }
                let out = self
                    .0
                    .take()
                    .unwrap()
                    .wait_with_output()
                    .expect("moose output");
                return Err(format!(
                    "moose did not answer on {listen} ({}); stderr:\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn metric(text: &str, name: &str, labels: &str) -> f64 {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no metric {prefix:?} in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

impl Running {
    /// Sends `signal` (`"TERM"`, `"HUP"`, …) to moose and waits up to
    /// `timeout` for it to exit; its output. Panics (after killing it) if it
    /// does not exit in time.
    pub fn stop(&mut self, signal: &str, timeout: Duration) -> Output {
        let child = self.0.take().expect("running");
        let pid = child.id();
        assert!(
            Command::new("kill")
                .args([format!("-{signal}"), pid.to_string()])
                .status()
                .unwrap()
                .success(),
            "kill -{signal} {pid}"
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(timeout) {
            Ok(out) => {
                let _ = waiter.join();
                out.expect("moose output")
            }
            Err(_) => {
                // The waiter owns the child: kill it by pid, then collect.
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                let out = rx.recv_timeout(Duration::from_secs(10));
                panic!(
                    "moose did not exit within {timeout:?} of SIG{signal}; stderr:\n{}",
                    out.ok()
                        .and_then(|o| o.ok())
                        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                        .unwrap_or_default()
                );
            }
        }
    }
}

/// A metric's value, or `None` if the sample is not there.
pub fn metric_opt(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse().unwrap())
}

/// `GET path` on the management server, as JSON.
pub fn get_json(listen: &str, path: &str) -> serde_json::Value {
    let body = moose_testbed::http_get(listen, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Polls `f` every 20 ms until it returns true; panics naming `what` if
/// `timeout` passes first. Returns how long it took.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    loop {
        if f() {
            return t.elapsed();
        }
        if t.elapsed() > timeout {
            panic!("{what}: not within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
