use moose_tables::bench::{gen_lpm_keys, gen_prefixes};
use moose_tables::lpm::MacLpm;
use std::time::Instant;
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(10_000);
    let single = std::env::args().nth(2).is_some();
    let ps = gen_prefixes(n, 0x5eed ^ n as u64);
    let t = MacLpm::from_prefixes(ps.iter().copied());
    let keys = gen_lpm_keys(&ps, 1 << 16, 0xbeef ^ n as u64);
    let mut out = [0u16; 32];
    let mut hist = std::collections::BTreeMap::new();
    for &k in &keys {
        *hist.entry(t.debug_bucket_size(k)).or_insert(0usize) += 1;
    }
    eprintln!("{:?}", hist);
    let mut acc = 0u64;
    for _ in 0..5 {
        let s = Instant::now();
        for _ in 0..30 {
            if single {
                for &k in &keys {
                    acc = acc.wrapping_add(t.lookup_raw(std::hint::black_box(k)) as u64);
                }
            } else {
                for b in keys.chunks(32) {
                    t.lookup_batch(std::hint::black_box(b), &mut out);
                    acc = acc.wrapping_add(out[0] as u64);
                }
            }
        }
        println!(
            "{:.1} M/s",
            30.0 * keys.len() as f64 / s.elapsed().as_secs_f64() / 1e6
        );
    }
    println!("{acc}");
}
#[allow(dead_code)]
fn unused() {}
