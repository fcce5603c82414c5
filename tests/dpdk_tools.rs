//! DPDK's own tools against the real binary: `moose run` on
//! `net_af_packet` ports with real hosts in network namespaces, then
//!
//! * Debian's `dpdk-dumpcap` (a DPDK secondary process) captures a port
//!   while one host pings another through it: the pcapng file holds the
//!   echo requests as received and the replies as sent, on that port's
//!   interface, and moose forwards as before once the capture is over;
//! * `dpdk-telemetry.py` asks the telemetry socket DPDK's standard
//!   commands (`/ethdev/list`, `/ethdev/stats,0`, `/ethdev/info,0`) and
//!   moose's (`/moose/ports`, `/moose/counters`, `/moose/version`), whose
//!   numbers are the management API's.
//!
//! A secondary process needs the primary's hugepage files (DPDK 22.11
//! cannot attach to a `--no-huge` primary) and a primary whose threads are
//! not registered with the EAL (`dataplane.multi_process = true`): the
//! capture test mounts its own hugetlbfs and reserves the 2 MB pages it
//! needs, and gives them back at the end. Telemetry needs neither, so its
//! test runs with the usual `--no-huge` and the default configuration.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use moose_testbed::{sh, unique_tag, Testbed};

const DUMPCAP: &str = "/usr/bin/dpdk-dumpcap";
const TELEMETRY: &str = "/usr/bin/dpdk-telemetry.py";
const HUGEPAGES: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB";
/// 2 MB pages the capture test needs free: moose's pool of 4095 mbufs
/// (~10 MB), dumpcap's ring and pool (~10 MB), the EAL's own memzones,
/// with room to spare.
const PAGES: u64 = 64;

/// A private hugetlbfs mount with enough free 2 MB pages behind it: the
/// pages this test added to the kernel's pool are given back and the mount
/// (with the hugepage files DPDK leaves in it) removed on drop.
struct HugeDir {
    path: PathBuf,
    added: u64,
}

fn read_u64(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

impl HugeDir {
    fn new(path: PathBuf) -> HugeDir {
        let nr = format!("{HUGEPAGES}/nr_hugepages");
        let free = read_u64(&format!("{HUGEPAGES}/free_hugepages"));
        let mut added = 0;
        if free < PAGES {
            let total = read_u64(&nr);
            std::fs::write(&nr, (total + PAGES - free).to_string())
                .unwrap_or_else(|e| panic!("reserving hugepages ({nr}): {e}"));
            added = read_u64(&nr).saturating_sub(total);
        }
        let dir = HugeDir { path, added };
        let free = read_u64(&format!("{HUGEPAGES}/free_hugepages"));
        assert!(
            free >= PAGES,
            "only {free} free 2 MB hugepages after asking the kernel for {PAGES} \
             (memory too fragmented?): dpdk-dumpcap needs moose on hugepages"
        );
        std::fs::create_dir_all(&dir.path).unwrap();
        let p = dir.path.to_str().unwrap();
        sh(&["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", p])
            .expect("mount hugetlbfs");
        dir
    }
}

impl Drop for HugeDir {
    fn drop(&mut self) {
        let p = self.path.to_str().unwrap_or_default();
        let _ = sh(&["umount", p]);
        if self.added > 0 {
            let nr = format!("{HUGEPAGES}/nr_hugepages");
            if let Ok(total) = std::fs::read_to_string(&nr) {
                if let Ok(total) = total.trim().parse::<u64>() {
                    let _ = std::fs::write(&nr, total.saturating_sub(self.added).to_string());
                }
            }
        }
    }
}

/// The EAL runtime directory of a file prefix, removed on drop (also when
/// a test fails half-way), after the processes using it are gone.
struct EalRuntime(String);

impl Drop for EalRuntime {
    fn drop(&mut self) {
        remove_eal_runtime(&self.0);
    }
}

/// `moose run -c cfg`, its output (stdout and stderr) going to `log`, up
/// once it answers on `listen`; killed on drop.
///
/// The output goes to a file rather than a pipe, and the stop waits for
/// the exit status rather than for the pipes' end: under heavy network
/// namespace churn on a shared machine the write ends of a stopped moose's
/// pipes were seen to stay open for 12 to 40 s after moose had exited (in
/// 1 run in 5 to 1 in 70, with no process left holding them; the cause was
/// not found), which a stop that reads the pipes to their end mistakes for
/// a hang.
struct Moose {
    child: Option<std::process::Child>,
    log: PathBuf,
}

impl Moose {
    fn start(cfg: &Path, listen: &str, log: PathBuf) -> Moose {
        // As Running::start: DPDK 22.11's af_packet fanout group ids
        // ((pid ^ ifindex) & 0xffff) can collide with another process's;
        // a new process has a new pid.
        for attempt in 1.. {
            let out = std::fs::File::create(&log).unwrap();
            let child = moose()
                .args(["run", "-c"])
                .arg(cfg)
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .expect("spawn moose");
            let mut m = Moose {
                child: Some(child),
                log: log.clone(),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if moose_testbed::http_get(listen, "/api/v1/status").is_ok() {
                    return m;
                }
                let exited = m.child.as_mut().unwrap().try_wait().unwrap();
                if exited.is_some() || Instant::now() > deadline {
                    let text = m.output();
                    if exited.is_some()
                        && attempt < 6
                        && text.contains("could not set PACKET_FANOUT")
                    {
                        eprintln!("fanout group collision, starting moose again");
                        break;
                    }
                    panic!("moose did not answer on {listen} ({exited:?}):\n{text}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        unreachable!()
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM; moose must exit 0 within 15 s.
    fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let t = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if t.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "moose did not exit within 15 s of SIGTERM:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "moose: {status}\n{}", self.output());
    }
}

impl Drop for Moose {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A config for `moose run` with one legacy port per host.
fn config(name: &str, listen: &str, eal: &str, extra: &str, tb: &Testbed) -> String {
    let mut cfg = format!(
        "[switch]\nname = \"{name}\"\n[dataplane]\nidle = \"backoff\"\nmbufs = 4095\n{extra}eal = [{eal}]\n[metrics]\nlisten = \"{listen}\"\n"
    );
    for (i, h) in tb.hosts.iter().enumerate() {
        cfg += &format!(
            "[[port]]\nname = \"p{i}\"\ndevice = \"net_af_packet{i},iface={}\"\n",
            h.port_if
        );
    }
    cfg
}

/// Runs `cmd` with a deadline; its output. Panics (after killing it) if it
/// is still running at the deadline.
fn run_bounded(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} still running after {limit:?}; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// One captured frame: its bytes and the direction pcapng's `epb_flags`
/// give it (1 inbound, 2 outbound, 0 unknown).
struct Captured {
    data: Vec<u8>,
    direction: u32,
    interface: u32,
}

/// The interface names (`if_name`) and the frames of a pcapng file, read
/// here: pcap-file 2.0 refuses the `epb_queue` option dpdk-dumpcap writes.
/// Panics on anything that is not well-formed pcapng.
fn read_pcapng(path: &Path) -> (Vec<String>, Vec<Captured>) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        b.len() >= 28 && b[..4] == [0x0a, 0x0d, 0x0d, 0x0a],
        "not pcapng"
    );
    let little = b[8..12] == [0x4d, 0x3c, 0x2b, 0x1a];
    assert!(
        little || b[8..12] == [0x1a, 0x2b, 0x3c, 0x4d],
        "bad byte-order magic"
    );
    let u32_at = |i: usize| {
        let w: [u8; 4] = b[i..i + 4].try_into().unwrap();
        if little {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let u16_at = |i: usize| {
        let w: [u8; 2] = b[i..i + 2].try_into().unwrap();
        if little {
            u16::from_le_bytes(w)
        } else {
            u16::from_be_bytes(w)
        }
    };
    // Options from `at` to `end`: (code, value range).
    let options = |mut at: usize, end: usize| {
        let mut v = Vec::new();
        while at + 4 <= end {
            let (code, len) = (u16_at(at), usize::from(u16_at(at + 2)));
            if code == 0 {
                break;
            }
            assert!(at + 4 + len <= end, "option {code} runs off its block");
            v.push((code, at + 4..at + 4 + len));
            at += 4 + len.div_ceil(4) * 4;
        }
        v
    };
    let (mut ifaces, mut frames) = (Vec::new(), Vec::new());
    let mut at = 0;
    while at < b.len() {
        assert!(at + 12 <= b.len(), "truncated block at {at}");
        let (kind, len) = (u32_at(at), u32_at(at + 4) as usize);
        assert!(
            len >= 12 && len % 4 == 0 && at + len <= b.len(),
            "bad block length at {at}"
        );
        assert_eq!(
            u32_at(at + len - 4) as usize,
            len,
            "block at {at}: lengths differ"
        );
        let (body, end) = (at + 8, at + len - 4);
        match kind {
            // Interface description: link type, reserved, snap length.
            1 => ifaces.push(
                options(body + 8, end)
                    .into_iter()
                    .find(|(c, _)| *c == 2)
                    .map(|(_, r)| String::from_utf8_lossy(&b[r]).into_owned())
                    .unwrap_or_default(),
            ),
            // Enhanced packet: interface, timestamp (2), captured and
            // original lengths, the data padded to 32 bits, options.
            6 => {
                let cap = u32_at(body + 12) as usize;
                let data = body + 20;
                assert!(data + cap <= end, "packet at {at} runs off its block");
                let direction = options(data + cap.div_ceil(4) * 4, end)
                    .into_iter()
                    .find(|(c, r)| *c == 2 && r.len() == 4)
                    .map(|(_, r)| u32_at(r.start) & 3)
                    .unwrap_or(0);
                frames.push(Captured {
                    data: b[data..data + cap].to_vec(),
                    direction,
                    interface: u32_at(body),
                });
            }
            _ => {}
        }
        at += len;
    }
    (ifaces, frames)
}

fn mac_bytes(mac: &str) -> [u8; 6] {
    let v: Vec<u8> = mac
        .split(':')
        .map(|x| u8::from_str_radix(x, 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

/// The ICMP type of an untagged IPv4 ICMP frame from `src` to `dst`.
fn icmp_type(f: &[u8], dst: [u8; 6], src: [u8; 6]) -> Option<u8> {
    if f.len() < 14 + 20 + 8 || f[..6] != dst || f[6..12] != src || f[12..14] != [0x08, 0x00] {
        return None;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    (f[14 + 9] == 1 && f.len() > 14 + ihl).then(|| f[14 + ihl])
}

#[test]
fn dumpcap_captures_a_port_while_hosts_ping() {
    let tag = unique_tag("dc");
    let tb = Testbed::new(&tag, 2, 71).expect("testbed (needs root)");
    let s = Scratch::new("dumpcap");
    let huge = HugeDir::new(s.path("huge"));
    let prefix = eal_prefix("dumpcap");
    let _runtime = EalRuntime(prefix.clone());
    let listen = format!("127.0.0.1:{}", free_port());
    let eal = format!(
        "\"--no-pci\", \"--no-telemetry\", \"--huge-dir={}\", \"--file-prefix={prefix}\"",
        huge.path.display()
    );
    let cfg = s.write(
        "dumpcap.toml",
        &config("dumpcap", &listen, &eal, "multi_process = true\n", &tb),
    );
    let app = Moose::start(&cfg, &listen, s.path("moose.log"));
    assert!(tb.wait_up(Duration::from_secs(5)));
    let (h0, h1) = (&tb.hosts[0], &tb.hosts[1]);
    assert!(h0.ping(&h1.ip, 1), "h0 -> h1 before the capture");

    // The secondary attaches and sees moose's ports.
    let out = run_bounded(
        Command::new(DUMPCAP).args([&format!("--file-prefix={prefix}"), "-D"]),
        Duration::from_secs(30),
    );
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && list.contains("0. net_af_packet0")
            && list.contains("1. net_af_packet1"),
        "dpdk-dumpcap -D: {}\nstdout:\n{list}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    // h0 pings h1 every 50 ms while dumpcap captures p0 (DPDK port 0)
    // until it has 20 frames.
    let mut ping = h0
        .spawn(&["ping", "-q", "-i", "0.05", "-w", "50", &h1.ip])
        .expect("ping");
    let file = s.path("p0.pcapng");
    let out = run_bounded(
        Command::new(DUMPCAP).args([
            &format!("--file-prefix={prefix}"),
            "-i",
            "net_af_packet0",
            "-c",
            "20",
            "-a",
            "duration:40",
            "-w",
            file.to_str().unwrap(),
        ]),
        Duration::from_secs(50),
    );
    let _ = ping.kill();
    let _ = ping.wait();
    assert!(
        out.status.success(),
        "dpdk-dumpcap: {}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );

    let (ifaces, frames) = read_pcapng(&file);
    assert!(frames.len() >= 20, "{} frames captured", frames.len());
    // Wireshark reads the same file, frame for frame.
    let out = run_bounded(
        Command::new("tshark").args([
            "-r",
            file.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.number",
        ]),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "tshark -r: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        frames.len()
    );
    let (m0, m1) = (mac_bytes(&h0.mac), mac_bytes(&h1.mac));
    let requests: Vec<&Captured> = frames
        .iter()
        .filter(|f| icmp_type(&f.data, m1, m0) == Some(8))
        .collect();
    let replies: Vec<&Captured> = frames
        .iter()
        .filter(|f| icmp_type(&f.data, m0, m1) == Some(0))
        .collect();
    eprintln!(
        "captured {} frames on {ifaces:?}: {} echo requests, {} replies",
        frames.len(),
        requests.len(),
        replies.len()
    );
    // Received on p0 (rx callback) and sent out of it (tx callback).
    assert!(
        !requests.is_empty() && !replies.is_empty(),
        "no ping in the capture"
    );
    assert!(
        requests.iter().all(|f| f.direction == 1),
        "requests are inbound"
    );
    assert!(
        replies.iter().all(|f| f.direction == 2),
        "replies are outbound"
    );
    for f in &frames {
        assert_eq!(
            ifaces.get(f.interface as usize).map(String::as_str),
            Some(h0.port_if.as_str()),
            "every frame on p0's interface: {ifaces:?}"
        );
    }

    // The capture's callbacks are gone: moose forwards and answers, and
    // stops cleanly.
    assert!(h0.ping(&h1.ip, 2), "h0 -> h1 after the capture");
    let ports = get_json(&listen, "/api/v1/ports");
    let inbound = frames.iter().filter(|f| f.direction == 1).count() as u64;
    let rx = ports[0]["counters"]["rx_packets"].as_u64().unwrap();
    assert!(
        rx >= inbound + 2,
        "p0 received {rx}, fewer than captured: {ports}"
    );
    app.stop();
}

/// `dpdk-telemetry.py -f PREFIX` with `commands` on its standard input:
/// the answers, one JSON object per command, by command (without its
/// parameters' comma: `/ethdev/stats,0` answers under `/ethdev/stats`).
fn telemetry(prefix: &str, commands: &[&str]) -> Vec<serde_json::Value> {
    use std::io::Write;
    let mut child = Command::new(TELEMETRY)
        .args(["-f", prefix])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dpdk-telemetry.py");
    let mut input = commands.join("\n");
    input.push('\n');
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("dpdk-telemetry.py still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dpdk-telemetry.py: {}\nstdout:\n{text}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(
        answers.len(),
        commands.len(),
        "one answer per command:\n{text}"
    );
    for (a, c) in answers.iter().zip(commands) {
        let key = c.split(',').next().unwrap();
        assert!(a.get(key).is_some(), "{c}: answered {a}");
    }
    answers
}

#[test]
fn telemetry_answers_dpdk_and_moose_commands() {
    let tag = unique_tag("tl");
    let tb = Testbed::new(&tag, 2, 72).expect("testbed (needs root)");
    let s = Scratch::new("telemetry");
    let prefix = eal_prefix("telemetry");
    let _runtime = EalRuntime(prefix.clone());
    let listen = format!("127.0.0.1:{}", free_port());
    // The usual EAL arguments of the tests, telemetry left on.
    let eal = format!("\"--no-huge\", \"-m\", \"256\", \"--no-pci\", \"--file-prefix={prefix}\"");
    let cfg = s.write("telemetry.toml", &config("tel", &listen, &eal, "", &tb));
    let app = Moose::start(&cfg, &listen, s.path("moose.log"));
    assert!(tb.wait_up(Duration::from_secs(5)));
    let (h0, h1) = (&tb.hosts[0], &tb.hosts[1]);
    assert!(h0.ping(&h1.ip, 3), "h0 -> h1");

    // Five frames with a multicast source from h1: dropped on p1 as
    // src_multicast, a drop counter that only these frames move.
    let script = "import socket\n\
         s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
         s.bind(('eth0', 0))\n\
         for i in range(5):\n\
         \x20   s.send(b'\\xff' * 6 + bytes.fromhex('01005e000001') + b'\\x88\\xb5' + bytes(46))\n";
    h1.exec(&["timeout", "10", "/usr/bin/python3", "-c", script])
        .expect("send from h1");
    let drops = |c: &serde_json::Value, port: &str, reason: &str| {
        c["ports"][port]["drops"][reason].as_u64().unwrap()
    };
    wait_until(
        "p1 counts 5 src_multicast drops",
        Duration::from_secs(10),
        || {
            drops(
                &get_json(&listen, "/api/v1/counters"),
                "p1",
                "src_multicast",
            ) == 5
        },
    );

    let commands = [
        "/",
        "/ethdev/list",
        "/ethdev/stats,0",
        "/ethdev/info,1",
        "/moose/ports",
        "/moose/counters",
        "/moose/counters,p1",
        "/moose/counters,0",
        "/moose/counters,nosuch",
        "/moose/version",
        "/help,/moose/counters",
    ];
    // Read while no frame moves: the API's port counters before and after
    // the telemetry answers, the same, so the answers must hold exactly its
    // numbers (retried if a stray frame moved one in between; the workers'
    // own counters, loops and polls, move all the time).
    let mut settled = None;
    for _ in 0..5 {
        let before = get_json(&listen, "/api/v1/counters");
        let answers = telemetry(&prefix, &commands);
        let after = get_json(&listen, "/api/v1/counters");
        if before["ports"] == after["ports"] {
            settled = Some((after, answers));
            break;
        }
    }
    let (api, a) = settled.expect("the counters kept moving during five reads");

    let list = a[0]["/"].as_array().unwrap();
    for c in [
        "/ethdev/stats",
        "/moose/ports",
        "/moose/counters",
        "/moose/version",
    ] {
        assert!(list.iter().any(|x| x == c), "{c} not listed: {list:?}");
    }
    assert_eq!(a[1]["/ethdev/list"], serde_json::json!([0, 1]));
    let st = &a[2]["/ethdev/stats"];
    assert!(st["ipackets"].as_u64().unwrap() >= 3, "{st}");
    assert!(st["opackets"].as_u64().unwrap() >= 3, "{st}");
    assert_eq!(a[3]["/ethdev/info"]["name"], "net_af_packet1", "{}", a[3]);

    let ports = &a[4]["/moose/ports"];
    for (i, h) in tb.hosts.iter().enumerate() {
        let p = &ports[i.to_string()];
        let name = format!("p{i}");
        assert_eq!(p["name"], name.as_str(), "{ports}");
        assert_eq!(p["role"], "legacy", "{p}");
        assert_eq!(p["dpdk_port"], i, "{p}");
        assert_eq!(p["link"], "up", "{p}");
        assert_eq!(p["mtu"], 1500, "{p}");
        let c = &api["ports"][&name];
        for k in [
            "rx_packets",
            "rx_bytes",
            "tx_packets",
            "tx_bytes",
            "tx_flood",
        ] {
            assert_eq!(p[k], c[k], "{name} {k}: {p} vs the API's {c}");
        }
        assert!(
            p["rx_packets"].as_u64().unwrap() >= 3,
            "{} sent 3 pings: {p}",
            h.ns
        );
        assert!(p["tx_packets"].as_u64().unwrap() >= 3, "{p}");
        let total: u64 = c["drops"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(p["drops"], total, "{p}");
    }
    assert_eq!(ports["1"]["drops"], 5, "{ports}");

    // Every drop reason, summed over the ports, as the API counts them.
    let all = a[5]["/moose/counters"].as_object().unwrap();
    let reasons = api["drop_reasons"].as_object().unwrap();
    assert_eq!(all.len(), reasons.len(), "{all:?}");
    for r in reasons.keys() {
        let sum = drops(&api, "p0", r) + drops(&api, "p1", r);
        assert_eq!(all[r], sum, "{r}");
    }
    assert_eq!(all["src_multicast"], 5);

    // One port, by name and by index: the API's counters and drops.
    let p1 = &a[6]["/moose/counters"];
    assert_eq!(p1["port"], "p1");
    assert_eq!(p1["drops"], api["ports"]["p1"]["drops"], "{p1}");
    assert_eq!(p1["drops"]["src_multicast"], 5);
    for (k, v) in api["ports"]["p1"].as_object().unwrap() {
        assert_eq!(&p1[k], v, "p1 {k}");
    }
    let p0 = &a[7]["/moose/counters"];
    assert_eq!(p0["port"], "p0");
    assert_eq!(p0["rx_packets"], api["ports"]["p0"]["rx_packets"]);
    assert_eq!(
        a[8]["/moose/counters"],
        serde_json::Value::Null,
        "no such port"
    );

    let v = &a[9]["/moose/version"];
    assert_eq!(v["switch"], "tel");
    assert!(v["dpdk"].as_str().unwrap().starts_with("DPDK 22."), "{v}");
    assert!(
        v["version"]
            .as_str()
            .unwrap()
            .starts_with(env!("CARGO_PKG_VERSION")),
        "{v}"
    );
    assert!(
        a[10]["/help"]["/moose/counters"]
            .as_str()
            .unwrap()
            .contains("port"),
        "{}",
        a[10]
    );

    app.stop();
}
