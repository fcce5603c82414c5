//! Helpers shared by the end-to-end tests: running the real `moose` binary,
//! asking its management server.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use moose_testbed::http_get;

/// The moose binary under test, as a command.
///
/// The command gets a random pid when it is spawned
/// ([`moose_testbed::scatter_next_pid`]): appliances started one after
/// the other would otherwise collide on af_packet fanout group ids far
/// more often than chance.
pub fn moose() -> Command {
    moose_testbed::scatter_next_pid();
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
        "eal = [\"--no-huge\", \"-m\", \"256\", \"--no-pci\", \"--no-telemetry\", \"--file-prefix={}\"]",
        eal_prefix(name)
    )
}

/// The DPDK file prefix [`eal`] gives a test.
pub fn eal_prefix(name: &str) -> String {
    format!("mt-{name}-{}", std::process::id())
}

/// Removes the EAL's runtime directory of `prefix` (config and memory
/// maps, a few MB that DPDK leaves behind), once its process has ended.
pub fn remove_eal_runtime(prefix: &str) {
    let mut bases = vec![PathBuf::from("/var/run/dpdk"), PathBuf::from("/tmp/dpdk")];
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR") {
        bases.push(PathBuf::from(x).join("dpdk"));
    }
    for b in bases {
        let _ = std::fs::remove_dir_all(b.join(prefix));
    }
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

/// Whether `frame` is a moose home hello (edge and legacy ports of a MOOSE
/// switch send one every `moose.home_hello_ms`): captures that compare
/// what a port sent against what it should have forwarded leave these out.
pub fn is_home_hello(frame: &[u8]) -> bool {
    use moose_wire::proto::{ETHERTYPE, HOME_GROUP};
    frame.len() >= 14 && frame[..6] == HOME_GROUP.0 && frame[12..14] == ETHERTYPE.to_be_bytes()
}

/// What a port sent into `path`, home hellos left out.
#[allow(dead_code)]
pub fn read_pcap_forwarded(path: &Path) -> Vec<Vec<u8>> {
    read_pcap(path)
        .into_iter()
        .filter(|f| !is_home_hello(f))
        .collect()
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
                Err(e) if attempt < 6 && e.contains("could not set PACKET_FANOUT") => {
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

// ---------------------------------------------------------------------------
// Running `moose run` and talking to its management server. Everything here
// is bounded in time: sockets carry timeouts, waits carry deadlines.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A TCP port nobody listens on right now (the kernel's choice).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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

/// `127.0.0.1:<free port>`.
pub fn free_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// A config of `ports` (name, device), `idle = "backoff"`, the test's own
/// file prefix, the API on `listen`, and `extra` (whole TOML tables, placed
/// before the ports).
pub fn config(name: &str, listen: &str, ports: &[(&str, String)], extra: &str) -> String {
    let mut c = format!(
        "[switch]\nname = \"{name}\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 4095\n{}\n[metrics]\nlisten = \"{listen}\"\n{extra}\n",
        eal(name)
    );
    for (p, dev) in ports {
        c += &format!("[[port]]\nname = \"{p}\"\ndevice = \"{dev}\"\n");
    }
    c
}

/// Collects a child's output on a thread, so that a full pipe never blocks
/// it.
fn collect(mut r: impl Read + Send + 'static) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    let t = std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => b.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
    });
    (buf, t)
}

/// A spawned child with stdin closed whose stdout and stderr are collected
/// by two reader threads as it runs.
struct Collected {
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

fn spawn_collected(cmd: &mut std::process::Command) -> Collected {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let (out, to) = collect(child.stdout.take().unwrap());
    let (err, te) = collect(child.stderr.take().unwrap());
    Collected {
        child,
        out,
        err,
        readers: vec![to, te],
    }
}

/// How a child ended.
#[derive(Debug)]
pub struct Exited {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to its end, at most `limit` (then kills it and panics), with
/// stdin closed and its output collected.
pub fn output_within(cmd: &mut std::process::Command, limit: Duration) -> Exited {
    let Collected {
        mut child,
        out,
        err,
        readers,
    } = spawn_collected(cmd);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            readers.into_iter().for_each(|t| drop(t.join()));
            panic!(
                "{cmd:?} did not end within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&err.lock().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    readers.into_iter().for_each(|t| drop(t.join()));
    let text = |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
    Exited {
        status,
        stdout: text(&out),
        stderr: text(&err),
    }
}

/// A running `moose run`: killed (and reaped) on drop, so that a failing
/// test leaves nothing behind; stdout and stderr are collected as it runs.
pub struct Moose {
    child: Option<Child>,
    /// The config's DPDK file prefix, whose runtime directory is removed
    /// once moose has ended.
    prefix: Option<String>,
    pub pid: u32,
    pub listen: String,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Moose {
    /// Starts `moose run -c cfg <args>` with `env` added, and waits until
    /// `/api/v1/status` on `listen` answers 200 (at most 30 s). A start
    /// that failed on an af_packet fanout group collision (see
    /// [`Running::start`]) is tried again, up to six times: two appliances
    /// started one after the other (consecutive pids) on interfaces created
    /// together (consecutive indexes) collide often, and each new attempt
    /// has a new pid.
    pub fn start(cfg: &Path, args: &[&str], env: &[(&str, &str)], listen: &str) -> Moose {
        let mut attempt = 1;
        loop {
            match Moose::try_start(cfg, args, env, listen) {
                Ok(m) => return m,
                Err(e) if attempt < 6 && e.contains("could not set PACKET_FANOUT") => {
                    eprintln!("fanout group collision, starting moose again: {e}");
                    attempt += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// One attempt of [`start`](Moose::start): the failure (moose exited or
    /// did not answer in time, then killed) with its stderr.
    pub fn try_start(
        cfg: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        listen: &str,
    ) -> Result<Moose, String> {
        let mut cmd = moose();
        cmd.arg("run").arg("-c").arg(cfg).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let Collected {
            child,
            out,
            err,
            readers,
        } = spawn_collected(&mut cmd);
        let prefix = std::fs::read_to_string(cfg).ok().and_then(|t| {
            let rest = &t[t.find("--file-prefix=")? + "--file-prefix=".len()..];
            Some(rest[..rest.find('"')?].to_string())
        });
        let mut m = Moose {
            prefix,
            pid: child.id(),
            child: Some(child),
            listen: listen.to_string(),
            out,
            err,
            readers,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if matches!(http(listen, "GET", "/api/v1/status"), Ok(r) if r.status == 200) {
                return Ok(m);
            }
            if !m.alive() || Instant::now() > deadline {
                let alive = m.alive();
                // Reaped (and its EAL directory removed) by the drop; its
                // readers have all of stderr once it is gone.
                if let Some(c) = &mut m.child {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                for t in m.readers.drain(..) {
                    let _ = t.join();
                }
                return Err(format!(
                    "moose did not come up on {listen} (alive: {alive}); stderr:\n{}",
                    m.stderr()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        match &mut self.child {
            Some(c) => c.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// Sends `sig` (`TERM`, `HUP`, ...).
    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid.to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} {}", self.pid);
    }

    /// Waits for the process to end, at most `limit` (then kills it and
    /// panics with its stderr).
    pub fn wait(mut self, limit: Duration) -> Exited {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "moose did not stop within {limit:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for t in self.readers.drain(..) {
            let _ = t.join();
        }
        if let Some(p) = self.prefix.take() {
            remove_eal_runtime(&p);
        }
        let text =
            |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
        Exited {
            status,
            stdout: text(&self.out),
            stderr: text(&self.err),
        }
    }

    /// `GET path`, which must answer 200; returns the body.
    pub fn get(&self, path: &str) -> String {
        let r = http(&self.listen, "GET", path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.text()
    }

    /// `GET path` as JSON.
    pub fn json(&self, path: &str) -> serde_json::Value {
        let body = self.get(path);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// The stop every test ends with: SIGTERM, status 0 within 15 s.
    pub fn stop(self) -> Exited {
        self.signal("TERM");
        let e = self.wait(Duration::from_secs(15));
        assert!(e.status.success(), "{}: stderr:\n{}", e.status, e.stderr);
        e
    }
}

impl Drop for Moose {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(p) = self.prefix.take() {
            remove_eal_runtime(&p);
        }
    }
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    /// Status line and headers, as received.
    pub head: String,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// How long any one HTTP exchange of the tests may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to `addr` with the tests' timeouts on connect, read and write.
pub fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let sa: SocketAddr = addr.parse().expect("address");
    let s = TcpStream::connect_timeout(&sa, HTTP_TIMEOUT)?;
    s.set_read_timeout(Some(HTTP_TIMEOUT))?;
    s.set_write_timeout(Some(HTTP_TIMEOUT))?;
    Ok(s)
}

/// `METHOD target HTTP/1.1` with `Connection: close`, read to the end
/// (within [`HTTP_TIMEOUT`] in all). `target` goes out byte for byte, so a
/// test can send what a well-behaved client would have escaped.
pub fn http(addr: &str, method: &str, target: &str) -> std::io::Result<Resp> {
    let start = Instant::now();
    let mut s = connect(addr)?;
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        if start.elapsed() > HTTP_TIMEOUT {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{method} {target}: no complete answer within {HTTP_TIMEOUT:?}"),
            ));
        }
        match s.read(&mut chunk)? {
            0 => break,
            n => raw.extend_from_slice(&chunk[..n]),
        }
    }
    parse_response(&raw)
}

/// Splits a whole HTTP/1.1 response (as read to EOF) into status, head and
/// de-chunked body.
pub fn parse_response(raw: &[u8]) -> std::io::Result<Resp> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of head"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let mut resp = Resp {
        status,
        head,
        body: Vec::new(),
    };
    let rest = &raw[end + 4..];
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    resp.body = if chunked {
        dechunk(rest).ok_or_else(|| bad("broken chunked body"))?
    } else {
        rest.to_vec()
    };
    Ok(resp)
}

/// A chunked body to its bytes; `None` if it is cut short or malformed.
pub fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        if b.len() < size + 2 || &b[size..size + 2] != b"\r\n" {
            return None;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// The value of one sample in Prometheus text (`labels` as written between
/// the braces, or empty), if it is there.
pub fn try_metric(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse().unwrap())
}

/// As [`try_metric`], and the sample must be there.
pub fn metric(text: &str, name: &str, labels: &str) -> f64 {
    try_metric(text, name, labels).unwrap_or_else(|| panic!("no {name}{{{labels}}} in:\n{text}"))
}

/// Resident memory of a process, KiB (`VmRSS`), if it still runs.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Polls `f` every 50 ms until it returns `Some`, at most `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A metric's value, or `None` if the sample is not there.
pub fn metric_opt(text: &str, name: &str, labels: &str) -> Option<f64> {
    try_metric(text, name, labels)
}

/// `GET path` on the management server, as JSON.
pub fn get_json(listen: &str, path: &str) -> serde_json::Value {
    let body = moose_testbed::http_get(listen, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Polls `f` every 20 ms until it returns true; panics naming `what` if
/// `timeout` passes first. Returns how long it took.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
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

/// Interrupts a background `ping` (SIGINT: it prints its summary) and
/// returns (transmitted, received); kills it if it does not stop in 5 s.
#[allow(dead_code)]
pub fn stop_ping(child: Child) -> (u64, u64) {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(o) => o.expect("ping output"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("ping {pid} did not stop on SIGINT");
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary: {text}"));
    let num = |word: &str| -> u64 {
        let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        let i = words.iter().position(|w| *w == word).unwrap();
        words[i - 1].parse().unwrap()
    };
    (num("packets"), num("received"))
}

/// Asserts that no network namespace or link whose name holds `tag` is
/// left (a demo's or testbed's cleanup).
#[allow(dead_code)]
pub fn assert_no_netns_or_links(tag: &str) {
    let ip = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let netns = ip(&["netns", "list"]);
    assert!(!netns.contains(tag), "namespaces left behind: {netns}");
    let links = ip(&["-o", "link"]);
    assert!(!links.contains(tag), "links left behind: {links}");
}

/// Waits until every fabric neighbour of `m` is full and every fabric
/// link it has is on the broadcast tree at both ends (`/api/v1/neighbors`,
/// `/api/v1/tree`); `expect` neighbours in all. Panics after `limit`.
pub fn wait_converged(listen: &str, expect: usize, limit: Duration) {
    let until = Instant::now() + limit;
    let get = |path: &str| -> serde_json::Value {
        http_get(listen, path)
            .ok()
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or(serde_json::Value::Null)
    };
    loop {
        let n = get("/api/v1/neighbors");
        let list = n.as_array().cloned().unwrap_or_default();
        let full = list.iter().filter(|r| r["state"] == "full").count();
        let t = get("/api/v1/tree");
        let on_tree = t["ports"].as_array().is_some_and(|p| !p.is_empty()) || expect == 0;
        let agreed = on_tree && t["ports"] == t["active"];
        if full == expect && agreed {
            return;
        }
        assert!(
            Instant::now() < until,
            "{listen}: not converged after {limit:?}: neighbours {n}, tree {t}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
