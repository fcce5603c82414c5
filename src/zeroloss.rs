//! `moose bench zeroloss`: the RFC 2544 throughput search — the highest
//! offered rate a device under test forwards without loss (NDR), and with
//! at most a given loss ratio (PDR, RFC 9567's partial drop rate) — and
//! latency percentiles at those rates, from a generator that is also the
//! receiver.
//!
//! One thread, on the EAL's main lcore, owns two DPDK ports (`--tx`,
//! `--rx`; `net_memif` clients of the device under test, or real NICs
//! cabled to it). It replays the frames of a capture (`moose gen` writes
//! them) round-robin out of `--tx`, paced by the TSC: by any instant t of
//! a trial, `rate × t` frames have been offered (in bursts of at most 32,
//! so a burst is a few microseconds of traffic at any rate). In the same
//! loop it drains `--rx` (and whatever comes back on `--tx`). A frame the
//! tx queue refuses (its ring is full: the device did not take it in) is
//! offered and lost, as a NIC's missed frame is; a frame the generator
//! could not build (mbuf pool empty) is not offered, nor is one the
//! generator was too late for: after a stall of its own (descheduled) it
//! sends at most two bursts to catch up and skips the rest, as a hardware
//! generator's missed slots — it never hands the device a backlog that a
//! steady source would not have sent. A trial whose
//! offered rate falls short of its target by more than 2 % is a failure
//! ("generator-limited"), never a pass at a rate that was not offered.
//!
//! After the send window the receiver keeps polling for `--drain-ms`
//! (frames still in the device's rings count as received, not lost).
//! Loss = offered − received (frames received more than once, such as a
//! flood to a port that also learnt the destination, make `received`
//! exceed `offered`; they are counted as `duplicates`).
//!
//! Latency: every IPv4/UDP frame with 16 bytes of payload carries the TSC
//! of its burst's send in payload bytes 8..16 (bytes 0..8 are `moose
//! gen`'s frame index; the UDP checksum is set to 0, "none", so the frame
//! stays valid); the receiver records now − stamp of every frame whose
//! stamp lies inside the trial, in an HDR histogram (3 significant
//! digits), and reports percentiles of the final trials. What is measured
//! includes the generator's own tx/rx path (two ring copies over memif)
//! and whatever the device under test buffers.
//!
//! The search, after MLRsearch (RFC 9567) in its simplest form: one short
//! trial at `--max-mpps` gives the rate the generator can offer and the
//! rate the device forwards under overload; short trials bisect from
//! there (a lower bound is halved until it passes) until the interval is
//! within `--resolution` of its upper end; then a full-length trial
//! (`--final-ms`) at the lower end confirms it — if it loses frames, that
//! rate becomes the upper bound and the search goes on below it, at most
//! four times. A warm-up trial (`--warmup-ms` at the lowest rate) lets a
//! learning device learn its sources first.

use std::time::Duration;

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use moose_dpdk::{Eal, Mbuf, Mempool, Port, PortConf, RxQueue, TxQueue};
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The frames to offer (a libpcap capture, e.g. from `moose gen`),
    /// replayed round-robin.
    #[arg(long)]
    pub pcap: std::path::PathBuf,
    /// The port frames leave by: DPDK device arguments, e.g.
    /// `net_memif0,role=client,socket=/tmp/dut.sock,id=0`.
    #[arg(long)]
    pub tx: String,
    /// The port frames come back on.
    #[arg(long)]
    pub rx: String,
    /// Highest rate tried, in millions of frames a second.
    #[arg(long, default_value_t = 20.0)]
    pub max_mpps: f64,
    /// Lowest rate tried (the search reports 0 below it).
    #[arg(long, default_value_t = 0.01)]
    pub min_mpps: f64,
    /// Length of a search trial.
    #[arg(long, default_value_t = 500)]
    pub trial_ms: u64,
    /// Length of a confirming (final) trial.
    #[arg(long, default_value_t = 5000)]
    pub final_ms: u64,
    /// The search stops when (upper − lower) ≤ resolution × upper.
    #[arg(long, default_value_t = 0.02)]
    pub resolution: f64,
    /// Loss ratio of the partial drop rate searched after the NDR (0
    /// searches the NDR alone).
    #[arg(long, default_value_t = 0.005)]
    pub pdr: f64,
    /// Polling after a trial's send window, for frames still in flight.
    #[arg(long, default_value_t = 50)]
    pub drain_ms: u64,
    /// Warm-up trial at the lowest rate before the search (0: none).
    #[arg(long, default_value_t = 1000)]
    pub warmup_ms: u64,
    /// Seconds to wait for both links to come up.
    #[arg(long, default_value_t = 20)]
    pub link_wait_secs: u64,
    /// Emit one JSON object instead of the table (the trials are still
    /// printed on stderr as they end, unless --quiet).
    #[arg(long)]
    pub json: bool,
    /// No line on stderr for each trial.
    #[arg(long)]
    pub quiet: bool,
    /// EAL arguments, after `--` (e.g. `-l 0 --no-huge -m 512 --no-pci
    /// --file-prefix=gen`).
    #[arg(last = true)]
    pub eal: Vec<String>,
}

/// Most frames one paced burst offers.
const BURST: usize = 32;
/// Most frames a late generator sends at once to catch up (two bursts).
const SLACK: u64 = 2 * BURST as u64;
/// A trial whose offered rate is below this share of its target failed.
const OFFER_TOLERANCE: f64 = 0.98;

/// One frame of the capture, with where its send stamp goes.
struct Template {
    data: Vec<u8>,
    stamp: Option<usize>,
}

/// Offset of the 8-byte send stamp in an IPv4/UDP frame (UDP payload
/// bytes 8..16), after any 802.1Q/802.1ad tags; `None` for other frames
/// and for payloads shorter than 16 bytes.
pub fn stamp_offset(f: &[u8]) -> Option<usize> {
    let mut off = 12;
    loop {
        let ty = u16::from_be_bytes([*f.get(off)?, *f.get(off + 1)?]);
        match ty {
            0x8100 | 0x88a8 => off += 4,
            0x0800 => break,
            _ => return None,
        }
    }
    let l3 = off + 2;
    let vihl = *f.get(l3)?;
    if vihl >> 4 != 4 || *f.get(l3 + 9)? != 17 {
        return None;
    }
    let l4 = l3 + usize::from(vihl & 0x0f) * 4;
    let udp_len = usize::from(u16::from_be_bytes([*f.get(l4 + 4)?, *f.get(l4 + 5)?]));
    let at = l4 + 8 + 8;
    (udp_len >= 8 + 16 && f.len() >= at + 8).then_some(at)
}

fn templates(path: &std::path::Path) -> anyhow::Result<Vec<Template>> {
    let file = std::fs::File::open(path).with_context(|| format!("--pcap {}", path.display()))?;
    let mut reader = pcap_file::pcap::PcapReader::new(std::io::BufReader::new(file))
        .with_context(|| format!("--pcap {}: not a libpcap capture", path.display()))?;
    let mut out = Vec::new();
    while let Some(p) = reader.next_packet() {
        let p = p.with_context(|| format!("--pcap {}: frame {}", path.display(), out.len()))?;
        let mut data = p.data.into_owned();
        if data.len() < 14 {
            bail!(
                "--pcap {}: frame {} is {} bytes, shorter than an Ethernet header",
                path.display(),
                out.len(),
                data.len()
            );
        }
        let stamp = stamp_offset(&data);
        if let Some(at) = stamp {
            // The UDP checksum (6 bytes before the payload) to "none": the
            // stamp changes the payload on every send.
            data[at - 8 - 2] = 0;
            data[at - 8 - 1] = 0;
        }
        out.push(Template { data, stamp });
    }
    if out.is_empty() {
        bail!("--pcap {}: no frames", path.display());
    }
    Ok(out)
}

/// Latency percentiles, nanoseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub min_ns: u64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
}

/// One trial's counts.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub kind: &'static str,
    pub target_pps: f64,
    pub secs: f64,
    /// Frames offered: accepted by the tx queue or refused by it (full).
    pub offered: u64,
    /// Of those, refused by the tx queue.
    pub refused: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// Frames received on the tx port (the device sent them back).
    pub returned: u64,
    /// Frames not offered: no mbuf.
    pub no_mbuf: u64,
    /// Frames not offered: the generator was late by more than two
    /// bursts (descheduled) and did not catch up.
    pub skipped: u64,
    pub offered_pps: f64,
    pub received_pps: f64,
    pub loss_ratio: f64,
    pub generator_limited: bool,
    pub latency: Option<Latency>,
}

impl Trial {
    fn passes(&self, ratio: f64) -> bool {
        !self.generator_limited && self.offered > 0 && self.loss_ratio <= ratio
    }
}

/// A search's outcome for one loss ratio.
#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    pub loss_ratio: f64,
    /// The highest rate with a passing final trial, frames a second (0:
    /// none down to --min-mpps).
    pub pps: f64,
    /// The search's upper bound when it ended (a rate that failed, or the
    /// generator's ceiling).
    pub upper_pps: f64,
    /// The result is the generator's ceiling, not the device's.
    pub at_generator_ceiling: bool,
    pub final_trial: Option<Trial>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub frames_in_capture: usize,
    pub stamped_in_capture: usize,
    pub mean_frame_bytes: f64,
    pub tsc_hz: u64,
    /// Offered rate of the first trial at --max-mpps: the most this
    /// generator offered on this machine.
    pub generator_ceiling_pps: f64,
    /// Received rate of that trial: the device's forwarding rate under
    /// overload.
    pub overload_received_pps: f64,
    pub ndr: Rate,
    pub pdr: Option<Rate>,
    pub trials: Vec<Trial>,
}

struct Gen<'a> {
    tx: TxQueue<'a>,
    rx: RxQueue<'a>,
    back: RxQueue<'a>,
    pool: &'a Mempool<'a>,
    templates: Vec<Template>,
    next: usize,
    hz: u64,
    batch: Vec<Mbuf<'a>>,
    rxbuf: Vec<Mbuf<'a>>,
    hist: Histogram<u64>,
    args: &'a Args,
    trials: Vec<Trial>,
}

impl<'a> Gen<'a> {
    fn cycles(&self, d: Duration) -> u64 {
        (d.as_secs_f64() * self.hz as f64) as u64
    }

    /// Receives one burst from each port: counts `--rx` frames into
    /// `received` (and times the stamped ones sent since `start`), frames
    /// back on `--tx` into `returned`; frees them all.
    #[inline]
    fn poll(&mut self, start: u64, received: &mut u64, returned: &mut u64) {
        let n = self.rx.rx_burst(&mut self.rxbuf, moose_dpdk::MAX_BURST);
        if n > 0 {
            let now = moose_dpdk::tsc();
            *received += n as u64;
            for m in &self.rxbuf {
                let f = m.as_ref();
                if let Some(at) = stamp_offset(f) {
                    let stamp = u64::from_ne_bytes(f[at..at + 8].try_into().unwrap());
                    if stamp >= start && stamp <= now {
                        let ns = (now - stamp) as u128 * 1_000_000_000 / u128::from(self.hz);
                        let _ = self.hist.record((ns as u64).max(1));
                    }
                }
            }
            Mbuf::free_bulk(&mut self.rxbuf);
        }
        let n = self.back.rx_burst(&mut self.rxbuf, moose_dpdk::MAX_BURST);
        if n > 0 {
            *returned += n as u64;
            Mbuf::free_bulk(&mut self.rxbuf);
        }
    }

    fn trial(&mut self, kind: &'static str, pps: f64, len: Duration) -> Trial {
        let drain = self.cycles(Duration::from_millis(self.args.drain_ms));
        // Whatever an earlier trial left in flight is not this one's.
        let (mut sink, mut sink2) = (0, 0);
        let quiet = moose_dpdk::tsc() + drain;
        while moose_dpdk::tsc() < quiet {
            self.poll(u64::MAX, &mut sink, &mut sink2);
        }
        self.hist.reset();
        let total = (pps * len.as_secs_f64()).round() as u64;
        let per_frame = self.hz as f64 / pps;
        let (mut offered, mut refused, mut no_mbuf, mut skipped) = (0u64, 0u64, 0u64, 0u64);
        let (mut received, mut returned) = (0u64, 0u64);
        let start = moose_dpdk::tsc();
        let end = start + self.cycles(len);
        loop {
            let now = moose_dpdk::tsc();
            if now >= end {
                break;
            }
            let due = (((now - start) as f64 / per_frame) as u64 + 1).min(total);
            // A generator that fell behind (descheduled) does not catch up
            // in a burst the device would see as overload: what is more
            // than SLACK frames late is skipped, never offered.
            let behind = due.saturating_sub(offered + no_mbuf + skipped);
            if behind > SLACK {
                skipped += behind - SLACK;
            }
            let n = due
                .saturating_sub(offered + no_mbuf + skipped)
                .min(BURST as u64) as usize;
            if n > 0 {
                for _ in 0..n {
                    let t = &self.templates[self.next];
                    self.next = (self.next + 1) % self.templates.len();
                    match self.pool.alloc_copy(&t.data) {
                        Some(mut m) => {
                            if let (Some(at), Some(d)) = (t.stamp, m.try_as_mut()) {
                                d[at..at + 8].copy_from_slice(&now.to_ne_bytes());
                            }
                            self.batch.push(m);
                        }
                        None => no_mbuf += 1,
                    }
                }
                offered += self.batch.len() as u64;
                self.tx.tx_burst(&mut self.batch);
                refused += self.batch.len() as u64;
                Mbuf::free_bulk(&mut self.batch);
            }
            self.poll(start, &mut received, &mut returned);
        }
        let stop = moose_dpdk::tsc() + drain;
        while moose_dpdk::tsc() < stop {
            self.poll(start, &mut received, &mut returned);
        }
        let secs = len.as_secs_f64();
        let lost = offered.saturating_sub(received);
        let latency = (!self.hist.is_empty()).then(|| Latency {
            samples: self.hist.len(),
            min_ns: self.hist.min(),
            p50_ns: self.hist.value_at_quantile(0.5),
            p90_ns: self.hist.value_at_quantile(0.9),
            p99_ns: self.hist.value_at_quantile(0.99),
            p999_ns: self.hist.value_at_quantile(0.999),
            max_ns: self.hist.max(),
        });
        let t = Trial {
            kind,
            target_pps: pps,
            secs,
            offered,
            refused,
            received,
            lost,
            duplicates: received.saturating_sub(offered),
            returned,
            no_mbuf,
            skipped,
            offered_pps: offered as f64 / secs,
            received_pps: received as f64 / secs,
            loss_ratio: if offered > 0 {
                lost as f64 / offered as f64
            } else {
                1.0
            },
            generator_limited: (offered as f64) < OFFER_TOLERANCE * total as f64,
            latency,
        };
        if !self.args.quiet {
            eprintln!(
                "  {:<7} {:>9.4} Mpps for {:>5.2} s: offered {:>10} ({:.4} Mpps), received {:>10}, lost {:>9} ({:.3e}){}",
                t.kind,
                pps / 1e6,
                secs,
                t.offered,
                t.offered_pps / 1e6,
                t.received,
                t.lost,
                t.loss_ratio,
                if t.generator_limited { "  generator-limited" } else { "" }
            );
        }
        self.trials.push(t.clone());
        t
    }
}

/// What a search needs of its trials.
pub struct Params {
    pub min_pps: f64,
    pub short: Duration,
    pub long: Duration,
    pub resolution: f64,
}

/// A trial, repeated (up to twice more) while the generator could not
/// offer its rate: a descheduled generator says nothing of the device.
fn probe(
    run: &mut impl FnMut(&'static str, f64, Duration) -> Trial,
    kind: &'static str,
    pps: f64,
    len: Duration,
) -> Trial {
    let mut t = run(kind, pps, len);
    for _ in 0..2 {
        if !t.generator_limited {
            break;
        }
        t = run(kind, pps, len);
    }
    t
}

/// Highest rate in [lo, hi) whose short trial passes, to the resolution;
/// `lo` is halved until it passes (0 below the lowest rate).
fn bisect(
    run: &mut impl FnMut(&'static str, f64, Duration) -> Trial,
    p: &Params,
    mut lo: f64,
    mut hi: f64,
    ratio: f64,
) -> f64 {
    loop {
        if lo < p.min_pps {
            return 0.0;
        }
        if probe(run, "search", lo, p.short).passes(ratio) {
            break;
        }
        hi = lo;
        lo /= 2.0;
    }
    while hi - lo > p.resolution * hi {
        let mid = (lo + hi) / 2.0;
        if probe(run, "search", mid, p.short).passes(ratio) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The highest rate whose final trial loses at most `ratio` of what it
/// offered, below `ceiling` (the most the generator offers); `overload` is
/// the trial at the highest rate.
/// `floor`: a rate known to pass (the NDR, for a PDR search), or 0.
pub fn search(
    run: &mut impl FnMut(&'static str, f64, Duration) -> Trial,
    p: &Params,
    ratio: f64,
    ceiling: f64,
    overload: &Trial,
    floor: f64,
) -> Rate {
    // Lossless at the most the generator offers: the device is faster
    // than the generator; confirm just below the ceiling (the generator
    // needs some headroom to offer a rate exactly).
    let (mut candidate, mut upper, mut at_ceiling) =
        if overload.offered > 0 && overload.loss_ratio <= ratio {
            (ceiling * (1.0 - p.resolution), ceiling, true)
        } else {
            let start = (overload.received_pps * (1.0 - ratio))
                .min(ceiling * 0.999)
                .max(floor);
            (bisect(run, p, start, ceiling, ratio), ceiling, false)
        };
    for _ in 0..4 {
        if candidate <= 0.0 {
            break;
        }
        let t = probe(run, "final", candidate, p.long);
        if t.passes(ratio) {
            return Rate {
                loss_ratio: ratio,
                pps: candidate,
                upper_pps: upper,
                at_generator_ceiling: at_ceiling,
                final_trial: Some(t),
            };
        }
        at_ceiling = false;
        upper = candidate;
        candidate = bisect(
            run,
            p,
            candidate * (1.0 - 4.0 * p.resolution),
            candidate,
            ratio,
        );
    }
    Rate {
        loss_ratio: ratio,
        pps: 0.0,
        upper_pps: upper,
        at_generator_ceiling: false,
        final_trial: None,
    }
}

fn open<'e>(
    eal: &'e Eal,
    what: &str,
    devargs: &str,
    pool: &Mempool<'e>,
) -> anyhow::Result<Port<'e>> {
    let mut p = eal
        .attach(devargs)
        .with_context(|| format!("--{what} {devargs:?}"))?;
    p.configure(&PortConf::default(), pool)
        .with_context(|| format!("--{what} {devargs:?}: configure"))?;
    p.start()
        .with_context(|| format!("--{what} {devargs:?}: start"))?;
    Ok(p)
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    if !(args.min_mpps > 0.0 && args.max_mpps > args.min_mpps && args.max_mpps <= 1000.0) {
        bail!(
            "want 0 < --min-mpps < --max-mpps <= 1000 (got {} and {})",
            args.min_mpps,
            args.max_mpps
        );
    }
    if !(args.resolution > 0.0 && args.resolution < 0.5) {
        bail!("--resolution {} is not in (0, 0.5)", args.resolution);
    }
    if !(0.0..0.5).contains(&args.pdr) {
        bail!("--pdr {} is not a loss ratio in [0, 0.5)", args.pdr);
    }
    if args.trial_ms == 0 || args.final_ms == 0 {
        bail!("--trial-ms and --final-ms must be positive");
    }
    let templates = templates(&args.pcap)?;
    let mut argv = vec![String::from("moose-zeroloss")];
    argv.extend(args.eal.iter().cloned());
    let eal = Eal::init(&argv).context("EAL initialisation failed")?;
    // Each frame is copied into a fresh mbuf: the pool's per-lcore cache
    // hands back the same few hot mbufs. (Sending one mbuf a frame by
    // reference was slower here: without hugepages every mbuf is a 4 KiB
    // page of its own, and a capture's worth of them misses the TLB.)
    let pool = eal
        .mempool("zl_mbufs", 8191, 256, 2048 + 128, moose_dpdk::SOCKET_ID_ANY)
        .context("mbuf pool of 8191 (does it fit in the EAL's memory, -m?)")?;
    let tx_port = open(&eal, "tx", &args.tx, &pool)?;
    let rx_port = open(&eal, "rx", &args.rx, &pool)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(args.link_wait_secs);
    while !(tx_port.link().up && rx_port.link().up) {
        if std::time::Instant::now() > deadline {
            bail!(
                "links not up after {} s (tx {}, rx {}): is the device under test running?",
                args.link_wait_secs,
                if tx_port.link().up { "up" } else { "down" },
                if rx_port.link().up { "up" } else { "down" }
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut txq = tx_port.queues().context("tx port queues")?;
    let mut rxq = rx_port.queues().context("rx port queues")?;
    let hz = moose_dpdk::tsc_hz();
    if hz == 0 {
        bail!("the EAL reports no TSC frequency");
    }
    let frames = templates.len();
    let stamped = templates.iter().filter(|t| t.stamp.is_some()).count();
    let mean = templates
        .iter()
        .map(|t| t.data.len() as f64 + 4.0)
        .sum::<f64>()
        / templates.len() as f64;
    let mut g = Gen {
        tx: txq.tx.remove(0),
        back: txq.rx.remove(0),
        rx: rxq.rx.remove(0),
        pool: &pool,
        templates,
        next: 0,
        hz,
        batch: Vec::with_capacity(BURST),
        rxbuf: Vec::with_capacity(moose_dpdk::MAX_BURST),
        hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds"),
        args,
        trials: Vec::new(),
    };
    if !args.json {
        eprintln!(
            "moose bench zeroloss: {frames} frames ({stamped} stamped, mean {mean:.0} B with FCS), TSC {hz} Hz"
        );
    }
    if args.warmup_ms > 0 {
        g.trial(
            "warmup",
            args.min_mpps * 1e6,
            Duration::from_millis(args.warmup_ms),
        );
    }
    let overload = g.trial(
        "max",
        args.max_mpps * 1e6,
        Duration::from_millis(args.trial_ms),
    );
    let ceiling = overload.offered_pps.min(args.max_mpps * 1e6);
    let params = Params {
        min_pps: args.min_mpps * 1e6,
        short: Duration::from_millis(args.trial_ms),
        long: Duration::from_millis(args.final_ms),
        resolution: args.resolution,
    };
    let mut run = |kind, pps, len| g.trial(kind, pps, len);
    let ndr = search(&mut run, &params, 0.0, ceiling, &overload, 0.0);
    // A rate without loss passes any loss ratio: a PDR search that ended
    // below the NDR (a noisy trial on the way) reports the NDR's trial.
    let pdr = (args.pdr > 0.0).then(|| {
        let p = search(&mut run, &params, args.pdr, ceiling, &overload, ndr.pps);
        if p.pps >= ndr.pps {
            p
        } else {
            Rate {
                loss_ratio: args.pdr,
                ..ndr.clone()
            }
        }
    });
    let report = Report {
        frames_in_capture: frames,
        stamped_in_capture: stamped,
        mean_frame_bytes: mean,
        tsc_hz: hz,
        generator_ceiling_pps: ceiling,
        overload_received_pps: overload.received_pps,
        ndr,
        pdr,
        trials: std::mem::take(&mut g.trials),
    };
    drop(g);
    drop(txq);
    drop(rxq);
    if args.json {
        crate::out::println(&serde_json::to_string_pretty(&report)?);
    } else {
        crate::out::println(&render(&report));
    }
    Ok(())
}

fn render(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "generator ceiling {:.4} Mpps; received under overload {:.4} Mpps",
        r.generator_ceiling_pps / 1e6,
        r.overload_received_pps / 1e6
    );
    for rate in std::iter::once(&r.ndr).chain(r.pdr.as_ref()) {
        let name = if rate.loss_ratio == 0.0 {
            "NDR".to_string()
        } else {
            format!("PDR ({} loss)", rate.loss_ratio)
        };
        let _ = write!(
            s,
            "{name}: {:.4} Mpps (upper bound {:.4}){}",
            rate.pps / 1e6,
            rate.upper_pps / 1e6,
            if rate.at_generator_ceiling {
                ", at the generator's ceiling"
            } else {
                ""
            }
        );
        if let Some(l) = rate.final_trial.as_ref().and_then(|t| t.latency.as_ref()) {
            let _ = write!(
                s,
                "; latency µs p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1} ({} samples)",
                l.p50_ns as f64 / 1e3,
                l.p90_ns as f64 / 1e3,
                l.p99_ns as f64 / 1e3,
                l.p999_ns as f64 / 1e3,
                l.max_ns as f64 / 1e3,
                l.samples
            );
        }
        s.push('\n');
    }
    s.pop();
    s
}

#[cfg(test)]
mod tests {
    use super::{search, stamp_offset, Params, Trial};
    use std::time::Duration;

    /// A device that forwards up to `cap` frames a second and drops the
    /// excess, and a generator that offers up to `gen_max`.
    fn device(cap: f64, gen_max: f64) -> impl FnMut(&'static str, f64, Duration) -> Trial {
        move |kind, pps, len| {
            let secs = len.as_secs_f64();
            let total = (pps * secs).round() as u64;
            let offered = (pps.min(gen_max) * secs).round() as u64;
            let received = offered.min((cap * secs).round() as u64);
            Trial {
                kind,
                target_pps: pps,
                secs,
                offered,
                refused: 0,
                received,
                lost: offered - received,
                duplicates: 0,
                returned: 0,
                no_mbuf: 0,
                skipped: 0,
                offered_pps: offered as f64 / secs,
                received_pps: received as f64 / secs,
                loss_ratio: (offered - received) as f64 / offered as f64,
                generator_limited: (offered as f64) < 0.98 * total as f64,
                latency: None,
            }
        }
    }

    fn params() -> Params {
        Params {
            min_pps: 1e4,
            short: Duration::from_millis(500),
            long: Duration::from_secs(5),
            resolution: 0.02,
        }
    }

    fn overload(run: &mut impl FnMut(&'static str, f64, Duration) -> Trial) -> (f64, Trial) {
        let t = run("max", 20e6, Duration::from_millis(500));
        (t.offered_pps.min(20e6), t)
    }

    #[test]
    fn ndr_and_pdr_of_a_device_slower_than_the_generator() {
        for cap in [0.05e6, 1.3e6, 3.7e6, 9.9e6] {
            let mut run = device(cap, 12e6);
            let (ceiling, over) = overload(&mut run);
            let ndr = search(&mut run, &params(), 0.0, ceiling, &over, 0.0);
            assert!(
                ndr.pps <= cap && ndr.pps >= cap * (1.0 - 2.0 * 0.02),
                "cap {cap}: ndr {}",
                ndr.pps
            );
            assert!(!ndr.at_generator_ceiling);
            let fin = ndr.final_trial.expect("a final trial");
            assert_eq!((fin.kind, fin.lost), ("final", 0));
            // PDR: loss (pps - cap) / pps <= 0.5 % up to cap / 0.995.
            let pdr = search(&mut run, &params(), 0.005, ceiling, &over, ndr.pps);
            assert!(
                pdr.pps >= ndr.pps && pdr.pps <= cap / 0.995 + 1.0,
                "cap {cap}: pdr {}",
                pdr.pps
            );
        }
    }

    #[test]
    fn a_device_faster_than_the_generator_is_reported_at_the_ceiling() {
        let mut run = device(15e6, 4e6);
        let (ceiling, over) = overload(&mut run);
        let ndr = search(&mut run, &params(), 0.0, ceiling, &over, 0.0);
        assert!(ndr.at_generator_ceiling);
        assert!(ndr.pps <= 4e6 && ndr.pps >= 4e6 * 0.98, "{}", ndr.pps);
    }

    #[test]
    fn a_device_that_loses_everything_has_no_rate() {
        let mut run = device(0.0, 4e6);
        let (ceiling, over) = overload(&mut run);
        let ndr = search(&mut run, &params(), 0.0, ceiling, &over, 0.0);
        assert_eq!(ndr.pps, 0.0);
        assert!(ndr.final_trial.is_none());
    }

    fn udp(tags: usize, payload: usize) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        for _ in 0..tags {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        }
        f.extend_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        f.extend_from_slice(&ip);
        let ulen = (8 + payload) as u16;
        f.extend_from_slice(&[0, 1, 0, 2]);
        f.extend_from_slice(&ulen.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend(std::iter::repeat_n(0, payload));
        f
    }

    #[test]
    fn stamp_goes_after_the_index() {
        assert_eq!(stamp_offset(&udp(0, 18)), Some(14 + 20 + 8 + 8));
        assert_eq!(stamp_offset(&udp(1, 18)), Some(18 + 20 + 8 + 8));
        assert_eq!(stamp_offset(&udp(2, 16)), Some(22 + 20 + 8 + 8));
    }

    #[test]
    fn no_stamp_where_it_does_not_fit_or_is_not_udp() {
        assert_eq!(stamp_offset(&udp(0, 15)), None);
        let mut f = udp(0, 18);
        f[14 + 9] = 6; // TCP
        assert_eq!(stamp_offset(&f), None);
        let mut f = udp(0, 18);
        f[12] = 0x86;
        f[13] = 0xdd;
        assert_eq!(stamp_offset(&f), None);
        let f = udp(0, 18);
        for n in 0..f.len() {
            let _ = stamp_offset(&f[..n]); // never panics
        }
        assert_eq!(stamp_offset(&f[..58]), Some(50));
        assert_eq!(stamp_offset(&f[..57]), None);
    }
}
