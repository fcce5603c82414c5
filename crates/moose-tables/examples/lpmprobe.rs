use moose_tables::bench::{gen_lpm_keys, gen_prefixes};
use moose_tables::lpm::MacLpm;
use std::time::Instant;
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1_000_000);
    let ps = gen_prefixes(n, 0x5eed ^ n as u64);
    let t = MacLpm::from_prefixes(ps.iter().copied());
    let keys = gen_lpm_keys(&ps, 1 << 16, 3);
    let mut out = vec![0u16; keys.len()];
    for _ in 0..3 {
        let s = Instant::now();
        let mut acc = 0u64;
        for _ in 0..20 {
            t.lookup_batch(&keys, &mut out);
            acc += out[7] as u64;
        }
        let b = s.elapsed().as_secs_f64();
        let s = Instant::now();
        for _ in 0..20 {
            for &k in &keys {
                acc += t.lookup_raw(k) as u64;
            }
        }
        let si = s.elapsed().as_secs_f64();
        println!(
            "batched {:.1} M/s single {:.1} M/s bytes/pfx {:.1} {acc}",
            20.0 * keys.len() as f64 / b / 1e6,
            20.0 * keys.len() as f64 / si / 1e6,
            t.bytes() as f64 / t.len() as f64
        );
    }
}
#[allow(dead_code)]
fn xl(n: usize) {
    use moose_tables::xlate::{xkey, XlateMap};
    let mut m = XlateMap::with_capacity(n);
    let mut r = moose_tables::bench::Rng::new(1);
    let ks: Vec<u64> = (0..n).map(|_| xkey(1, r.next_u64())).collect();
    for &k in &ks {
        m.insert(k, k >> 3);
    }
    let keys: Vec<u64> = (0..1 << 16)
        .map(|_| ks[r.below(n as u64) as usize])
        .collect();
    let mut out = vec![0u64; 32];
    for _ in 0..3 {
        let s = Instant::now();
        let mut acc = 0;
        for _ in 0..20 {
            for c in keys.chunks(32) {
                m.get_batch(c, &mut out);
                acc ^= out[3];
            }
        }
        let b = s.elapsed().as_secs_f64();
        let s = Instant::now();
        for _ in 0..20 {
            for &k in &keys {
                acc ^= m.get_raw(k);
            }
        }
        let si = s.elapsed().as_secs_f64();
        println!(
            "xlate n={n} batched {:.1} single {:.1} {acc}",
            20.0 * keys.len() as f64 / b / 1e6,
            20.0 * keys.len() as f64 / si / 1e6
        );
    }
}
