//! `moose bench tables`: lookup rates of the LPM and translation tables,
//! each against a baseline measured in the same run, plus the update rate
//! of the translation table while a reader reads it through [`crate::publish`].
//!
//! Every rate is the best of a few timed passes (the machine is shared);
//! rates are million lookups per second on one core. The JSON shape is
//! documented in `perf/tables.md`.

use std::collections::HashMap;
use std::fmt;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::lpm::{prefix_mask, MacLpm, NO_ROUTE};
use crate::publish::left_right;
use crate::xlate::{xkey, HostOp, Xlate, XlateMap};

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct BenchConfig {
    /// Small sizes and short passes (for tests): 2k / 20k instead of 10k / 1M.
    pub quick: bool,
}

/// LPM figures for one table size.
#[derive(Clone, Debug, Serialize)]
pub struct LpmFigures {
    /// Prefixes in the table.
    pub prefixes: usize,
    /// Batched lookups (bursts of 32), million per second.
    pub lpm_batched_mlps: f64,
    /// One lookup at a time, million per second.
    pub lpm_single_mlps: f64,
    /// Baseline: a hashbrown map per prefix length, longest first.
    pub lpm_baseline_mlps: f64,
    /// `lpm_batched_mlps / lpm_baseline_mlps`.
    pub lpm_batched_vs_baseline: f64,
    /// `lpm_single_mlps / lpm_baseline_mlps`.
    pub lpm_single_vs_baseline: f64,
    /// Lookup structure bytes / prefixes.
    pub lpm_bytes_per_prefix: f64,
    /// Control-plane prefix set (RIB) bytes / prefixes, estimated.
    pub lpm_rib_bytes_per_prefix: f64,
    /// Time to build the trie from the list, milliseconds.
    pub lpm_build_ms: f64,
    /// Incremental inserts + removes per second (single thread, no readers).
    pub lpm_updates_per_sec: f64,
}

/// Translation figures for one table size.
#[derive(Clone, Debug, Serialize)]
pub struct XlateFigures {
    /// Entries in the table.
    pub entries: usize,
    /// Batched lookups (bursts of 32; 90 % hits), million per second.
    pub xlate_mlps: f64,
    /// One lookup at a time, million per second.
    pub xlate_single_mlps: f64,
    /// Baseline: `std::collections::HashMap<u64, u64>` (SipHash), one at a time.
    pub xlate_baseline_mlps: f64,
    /// `xlate_mlps / xlate_baseline_mlps`.
    pub xlate_vs_baseline: f64,
    /// Allocated bytes / entries (one direction).
    pub xlate_bytes_per_entry: f64,
}

/// Everything `moose bench tables` reports.
#[derive(Clone, Debug, Serialize)]
pub struct TablesReport {
    /// Whether the quick (test) sizes were used.
    pub quick: bool,
    /// Keyed `"100"`, `"1k"`, `"10k"` and `"1m"` (in quick mode the last
    /// two are smaller; see `prefixes`).
    pub lpm: std::collections::BTreeMap<String, LpmFigures>,
    /// Keyed `"10k"` and `"1m"` (see `entries`).
    pub xlate: std::collections::BTreeMap<String, XlateFigures>,
    /// Host bindings per second into a published [`Xlate`] (both
    /// directions, publishing every [`PUBLISH_INTERVAL`]) while a reader
    /// thread looks up.
    pub xlate_inserts_per_sec_with_readers: f64,
    /// Longest single `publish()` during that run, microseconds.
    pub publish_max_us: f64,
    /// The publish interval used, microseconds.
    pub publish_interval_us: f64,
    /// Number of publishes during that run.
    pub publishes: u64,
    /// Longest time from an append to the swap (at the start of the
    /// `publish()` that carries it) after which every newly entered read
    /// section sees it, microseconds. A worker enters once per burst, so
    /// this plus one burst is the visibility delay; the rest of a publish
    /// (waiting for readers still in the old copy, replaying the log on
    /// it) delays only the writer and is in `publish_max_us`.
    pub update_visible_max_us: f64,
    /// Lookups the reader thread completed during that run, millions.
    pub reader_mlookups_during_updates: f64,
}

/// Run the benchmarks.
pub fn run(cfg: &BenchConfig) -> TablesReport {
    let (small, large) = if cfg.quick {
        (2_000, 20_000)
    } else {
        (10_000, 1_000_000)
    };
    let min_time = if cfg.quick {
        Duration::from_millis(10)
    } else {
        Duration::from_millis(150)
    };
    let mut lpm = std::collections::BTreeMap::new();
    let mut xlate = std::collections::BTreeMap::new();
    // The sizes a fabric's FIB has: 100, 1,000 and 10,000 switch prefixes
    // (and 1M, the stress case); translation at 10k and 1M hosts.
    for (name, n) in [("100", 100), ("1k", 1_000)] {
        lpm.insert(name.to_string(), bench_lpm(n, min_time, cfg.quick));
    }
    for (name, n) in [("10k", small), ("1m", large)] {
        lpm.insert(name.to_string(), bench_lpm(n, min_time, cfg.quick));
        xlate.insert(name.to_string(), bench_xlate(n, min_time, cfg.quick));
    }
    let u = bench_updates(if cfg.quick { 20_000 } else { 1_000_000 });
    TablesReport {
        quick: cfg.quick,
        lpm,
        xlate,
        xlate_inserts_per_sec_with_readers: u.rate,
        publish_max_us: u.publish_max.as_secs_f64() * 1e6,
        publish_interval_us: PUBLISH_INTERVAL.as_secs_f64() * 1e6,
        publishes: u.publishes,
        update_visible_max_us: u.visible_max.as_secs_f64() * 1e6,
        reader_mlookups_during_updates: u.reader_mlookups,
    }
}

/// splitmix64: a tiny deterministic generator for test data.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// A locally administered unicast MAC (octet 0 = `xxxxxx10`).
fn la_mac(r: &mut Rng) -> u64 {
    (r.next_u64() & 0xfcff_ffff_ffff) | 0x0200_0000_0000
}

/// A MAC-routing table of `n` prefixes, shaped like a large fabric: a
/// default route; switch prefixes (/24) in the locally administered space;
/// under them port-group and pod routes (/28–/40) and host routes (/48);
/// a few aggregates (/8–/20). Lengths: ~40 % /24, ~20 % /32, ~15 % /40,
/// ~10 % /28 or /36, ~10 % /48, ~5 % /8–/20. Deeper prefixes nest under an
/// existing /24 (as routes of one fabric do).
pub fn gen_prefixes(n: usize, seed: u64) -> Vec<(u64, u8, u16)> {
    let mut r = Rng::new(seed);
    let mut out = Vec::with_capacity(n);
    out.push((0u64, 0u8, 0u16));
    let mut switches: Vec<u64> = Vec::new();
    while out.len() < n {
        let pick = r.below(100);
        let nh = (r.below(4096) + 1) as u16;
        let (len, base) = match pick {
            0..=4 => ([8u8, 12, 16, 20][r.below(4) as usize], la_mac(&mut r)),
            5..=44 => {
                let p = la_mac(&mut r) & prefix_mask(24);
                switches.push(p);
                (24, p)
            }
            _ if switches.is_empty() => continue,
            _ => {
                let sw = switches[r.below(switches.len() as u64) as usize];
                let len = match pick {
                    45..=64 => 32,
                    65..=79 => 40,
                    80..=89 => [28, 36][r.below(2) as usize],
                    _ => 48,
                };
                (len, sw | (r.next_u64() & 0xff_ffff))
            }
        };
        out.push((base & prefix_mask(len), len, nh));
    }
    out
}

/// Lookup keys: 80 % inside a random table prefix (random low bits), 20 %
/// uniformly random MACs (which mostly fall to the default route or miss),
/// with 1 in 16 of the in-prefix keys at a prefix boundary.
pub fn gen_lpm_keys(prefixes: &[(u64, u8, u16)], count: usize, seed: u64) -> Vec<u64> {
    let mut r = Rng::new(seed);
    (0..count)
        .map(|_| {
            if r.below(5) == 0 {
                r.next_u64() & ((1 << 48) - 1)
            } else {
                let (p, l, _) = prefixes[r.below(prefixes.len() as u64) as usize];
                let host = !prefix_mask(l) & ((1 << 48) - 1);
                match r.below(16) {
                    0 => p,
                    1 => p | host,
                    _ => p | (r.next_u64() & host),
                }
            }
        })
        .collect()
}

/// The baseline LPM: one hash map per prefix length, probed longest first
/// over the lengths that are present.
pub struct BaselineLpm {
    lens: Vec<u8>,
    maps: Vec<hashbrown::HashMap<u64, u16>>,
}

impl BaselineLpm {
    /// Build from a prefix list.
    pub fn new(prefixes: &[(u64, u8, u16)]) -> Self {
        let mut maps: Vec<hashbrown::HashMap<u64, u16>> = vec![Default::default(); 49];
        for &(p, l, v) in prefixes {
            maps[l as usize].insert(p & prefix_mask(l), v);
        }
        let lens: Vec<u8> = (0..=48u8)
            .rev()
            .filter(|&l| !maps[l as usize].is_empty())
            .collect();
        let maps = lens
            .iter()
            .map(|&l| std::mem::take(&mut maps[l as usize]))
            .collect();
        BaselineLpm { lens, maps }
    }

    /// Longest-prefix match.
    #[inline]
    pub fn lookup(&self, key: u64) -> u16 {
        for (l, m) in self.lens.iter().zip(&self.maps) {
            if let Some(&v) = m.get(&(key & prefix_mask(*l))) {
                return v;
            }
        }
        NO_ROUTE
    }
}

/// Best-of-`reps` rate in million ops per second of `f`, which performs
/// `ops` operations per call, each timed pass lasting at least `min_time`.
fn rate(ops: usize, min_time: Duration, reps: usize, mut f: impl FnMut() -> u64) -> f64 {
    let mut best = 0f64;
    let mut sink = 0u64;
    sink ^= f(); // warm up
    for _ in 0..reps {
        let start = Instant::now();
        let mut calls = 0u64;
        while start.elapsed() < min_time {
            sink ^= f();
            calls += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        best = best.max(calls as f64 * ops as f64 / secs / 1e6);
    }
    black_box(sink);
    best
}

fn bench_lpm(n: usize, min_time: Duration, quick: bool) -> LpmFigures {
    let prefixes = gen_prefixes(n, 0x5eed ^ n as u64);
    let t0 = Instant::now();
    let trie = MacLpm::from_prefixes(prefixes.iter().copied());
    let build_ms = t0.elapsed().as_secs_f64() * 1e3;
    let base = BaselineLpm::new(&prefixes);
    let keys = gen_lpm_keys(&prefixes, 1 << 16, 0xbeef ^ n as u64);
    let reps = if quick { 2 } else { 5 };
    let mut out = [0u16; 32];
    let batched = rate(keys.len(), min_time, reps, || {
        let mut acc = 0u64;
        for burst in keys.chunks(32) {
            trie.lookup_batch(black_box(burst), &mut out[..burst.len()]);
            acc = acc.wrapping_add(out[0] as u64 + out[31] as u64);
        }
        acc
    });
    let single = rate(keys.len(), min_time, reps, || {
        keys.iter().fold(0u64, |a, &k| {
            a.wrapping_add(trie.lookup_raw(black_box(k)) as u64)
        })
    });
    let baseline = rate(keys.len(), min_time, reps, || {
        keys.iter().fold(0u64, |a, &k| {
            a.wrapping_add(base.lookup(black_box(k)) as u64)
        })
    });
    // Update rate: remove and re-insert a slice of the table.
    let mut t = trie.clone();
    let upd: Vec<_> = prefixes
        .iter()
        .skip(1)
        .step_by(7)
        .take(2000)
        .copied()
        .collect();
    let t1 = Instant::now();
    for &(p, l, _) in &upd {
        t.remove(p, l);
    }
    for &(p, l, v) in &upd {
        t.insert(p, l, v);
    }
    let upd_rate = (2 * upd.len()) as f64 / t1.elapsed().as_secs_f64();
    let len = trie.len().max(1) as f64;
    LpmFigures {
        prefixes: trie.len(),
        lpm_batched_mlps: batched,
        lpm_single_mlps: single,
        lpm_baseline_mlps: baseline,
        lpm_batched_vs_baseline: batched / baseline,
        lpm_single_vs_baseline: single / baseline,
        lpm_bytes_per_prefix: trie.bytes() as f64 / len,
        lpm_rib_bytes_per_prefix: trie.rib_bytes() as f64 / len,
        lpm_build_ms: build_ms,
        lpm_updates_per_sec: upd_rate,
    }
}

fn bench_xlate(n: usize, min_time: Duration, quick: bool) -> XlateFigures {
    let mut r = Rng::new(0xa11ce ^ n as u64);
    let entries: Vec<(u64, u64)> = (0..n)
        .map(|_| (xkey(r.below(4094) as u16 + 1, r.next_u64()), la_mac(&mut r)))
        .collect();
    let mut fast = XlateMap::with_capacity(n);
    let mut std_map: HashMap<u64, u64> = HashMap::with_capacity(n);
    for &(k, v) in &entries {
        fast.insert(k, v);
        std_map.insert(k, v);
    }
    let keys: Vec<u64> = (0..1 << 16)
        .map(|_| {
            if r.below(10) == 0 {
                r.next_u64()
            } else {
                entries[r.below(n as u64) as usize].0
            }
        })
        .collect();
    let reps = if quick { 2 } else { 5 };
    let mut out = [0u64; 32];
    let batched = rate(keys.len(), min_time, reps, || {
        let mut acc = 0u64;
        for burst in keys.chunks(32) {
            fast.get_batch(black_box(burst), &mut out[..burst.len()]);
            acc = acc.wrapping_add(out[0] ^ out[31]);
        }
        acc
    });
    let single = rate(keys.len(), min_time, reps, || {
        keys.iter()
            .fold(0u64, |a, &k| a.wrapping_add(fast.get_raw(black_box(k))))
    });
    let baseline = rate(keys.len(), min_time, reps, || {
        keys.iter().fold(0u64, |a, &k| {
            a.wrapping_add(std_map.get(&black_box(k)).copied().unwrap_or(0))
        })
    });
    XlateFigures {
        entries: fast.len(),
        xlate_mlps: batched,
        xlate_single_mlps: single,
        xlate_baseline_mlps: baseline,
        xlate_vs_baseline: batched / baseline,
        xlate_bytes_per_entry: fast.bytes() as f64 / fast.len().max(1) as f64,
    }
}

/// How often the update benchmark publishes: an appended op becomes
/// visible at most this long plus one publish later.
pub const PUBLISH_INTERVAL: Duration = Duration::from_micros(100);

struct UpdateFigures {
    rate: f64,
    publish_max: Duration,
    publishes: u64,
    visible_max: Duration,
    reader_mlookups: f64,
}

/// Bind `n` hosts through a left-right writer, publishing whenever
/// [`PUBLISH_INTERVAL`] has passed since the last publish (checked every 64
/// appends), while one reader thread looks hosts up in bursts of 32.
fn bench_updates(n: usize) -> UpdateFigures {
    let (mut w, mut readers) = left_right::<Xlate, HostOp>(Xlate::with_capacity(n), 1);
    let mut reader = readers.pop().expect("one reader");
    let stop = Arc::new(AtomicBool::new(false));
    let looked = Arc::new(AtomicU64::new(0));
    let th = {
        let stop = Arc::clone(&stop);
        let looked = Arc::clone(&looked);
        std::thread::spawn(move || {
            let mut r = Rng::new(7);
            let mut keys = [0u64; 32];
            let mut out = [0u64; 32];
            let mut count = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for k in keys.iter_mut() {
                    *k = xkey(1, 0x0050_5600_0000 | r.below(n as u64));
                }
                let g = reader.enter();
                g.to_moose.get_batch(&keys, &mut out);
                drop(g);
                count += 32;
            }
            looked.store(count, Ordering::Relaxed);
        })
    };
    let mut pmax = Duration::ZERO;
    let mut vmax = Duration::ZERO;
    let t0 = Instant::now();
    // Time of the first append not yet published.
    let mut first: Option<Instant> = None;
    let mut last_pub = t0;
    let mut publish = |w: &mut crate::publish::Writer<Xlate, HostOp>,
                       first: &mut Option<Instant>| {
        let p = Instant::now();
        w.publish();
        let end = Instant::now();
        pmax = pmax.max(end - p);
        if let Some(f) = first.take() {
            vmax = vmax.max(p - f);
        }
        end
    };
    for i in 0..n as u64 {
        if first.is_none() {
            first = Some(Instant::now());
        }
        w.append(HostOp::Bind {
            vlan: 1,
            real: 0x0050_5600_0000 | i,
            moose: 0x0211_1100_0000 | i,
            port: (i % 8) as u16,
        });
        if i % 64 == 63 && last_pub.elapsed() >= PUBLISH_INTERVAL {
            last_pub = publish(&mut w, &mut first);
        }
    }
    publish(&mut w, &mut first);
    let secs = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    th.join().expect("reader thread");
    UpdateFigures {
        rate: n as f64 / secs,
        publish_max: pmax,
        publishes: w.publishes(),
        visible_max: vmax,
        reader_mlookups: looked.load(Ordering::Relaxed) as f64 / 1e6,
    }
}

impl fmt::Display for TablesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "moose bench tables{}",
            if self.quick { " (quick sizes)" } else { "" }
        )?;
        writeln!(
            f,
            "{:<4} {:>9} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8} {:>9}",
            "LPM",
            "prefixes",
            "batch M/s",
            "single M/s",
            "base M/s",
            "batch×",
            "single×",
            "B/pfx",
            "upd/s"
        )?;
        for (k, l) in &self.lpm {
            writeln!(
                f,
                "{:<4} {:>9} {:>10.1} {:>10.1} {:>10.1} {:>8.2} {:>8.2} {:>8.1} {:>9.0}",
                k,
                l.prefixes,
                l.lpm_batched_mlps,
                l.lpm_single_mlps,
                l.lpm_baseline_mlps,
                l.lpm_batched_vs_baseline,
                l.lpm_single_vs_baseline,
                l.lpm_bytes_per_prefix,
                l.lpm_updates_per_sec
            )?;
        }
        writeln!(
            f,
            "{:<4} {:>9} {:>10} {:>10} {:>10} {:>8} {:>8}",
            "XLAT", "entries", "batch M/s", "single M/s", "base M/s", "batch×", "B/entry"
        )?;
        for (k, x) in &self.xlate {
            writeln!(
                f,
                "{:<4} {:>9} {:>10.1} {:>10.1} {:>10.1} {:>8.2} {:>8.1}",
                k,
                x.entries,
                x.xlate_mlps,
                x.xlate_single_mlps,
                x.xlate_baseline_mlps,
                x.xlate_vs_baseline,
                x.xlate_bytes_per_entry
            )?;
        }
        writeln!(
            f,
            "xlate inserts/s with a reader: {:.0} (publish every {:.0} µs: {} publishes, \
             max publish {:.0} µs, max visibility delay {:.0} µs; reader {:.1} M lookups)",
            self.xlate_inserts_per_sec_with_readers,
            self.publish_interval_us,
            self.publishes,
            self.publish_max_us,
            self.update_visible_max_us,
            self.reader_mlookups_during_updates
        )
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn quick_run_is_sane() {
        let r = run(&BenchConfig { quick: true });
        for l in r.lpm.values() {
            assert!(l.prefixes > 0);
            assert!(l.lpm_batched_mlps > 0.0 && l.lpm_single_mlps > 0.0);
            assert!(l.lpm_baseline_mlps > 0.0 && l.lpm_bytes_per_prefix > 0.0);
        }
        for x in r.xlate.values() {
            assert!(x.xlate_mlps > 0.0 && x.xlate_baseline_mlps > 0.0);
        }
        assert!(r.xlate_inserts_per_sec_with_readers > 0.0);
        let j = serde_json::to_value(&r).unwrap();
        assert!(j["lpm"]["1m"]["lpm_batched_mlps"].as_f64().unwrap() > 0.0);
        assert!(j["xlate"]["10k"]["xlate_mlps"].as_f64().unwrap() > 0.0);
        assert!(!r.to_string().is_empty());
    }

    #[test]
    fn trie_agrees_with_baseline_on_bench_data() {
        let ps = gen_prefixes(3000, 1);
        let t = MacLpm::from_prefixes(ps.iter().copied());
        let b = BaselineLpm::new(&ps);
        let keys = gen_lpm_keys(&ps, 20_000, 2);
        let mut out = vec![0; keys.len()];
        t.lookup_batch(&keys, &mut out);
        for (k, o) in keys.iter().zip(&out) {
            assert_eq!(*o, b.lookup(*k), "{k:012x}");
        }
    }
}
