//! `moose bench tables --json` through the real binary emits the documented
//! fields (perf/tables.md, README). Values are not judged: a benchmark is
//! never a timed assertion.

mod common;

use common::*;

#[test]
fn bench_tables_json_has_the_documented_fields() {
    let out = run_ok(moose().args(["bench", "tables", "--quick", "--json"]));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for size in ["10k", "1m"] {
        for f in [
            "lpm_batched_mlps",
            "lpm_single_mlps",
            "lpm_baseline_mlps",
            "lpm_batched_vs_baseline",
            "lpm_bytes_per_prefix",
        ] {
            assert!(
                r["lpm"][size][f].as_f64().is_some_and(|v| v > 0.0),
                "lpm.{size}.{f}: {r}"
            );
        }
        for f in ["xlate_mlps", "xlate_baseline_mlps", "xlate_vs_baseline"] {
            assert!(
                r["xlate"][size][f].as_f64().is_some_and(|v| v > 0.0),
                "xlate.{size}.{f}: {r}"
            );
        }
    }
    assert!(r["xlate_inserts_per_sec_with_readers"]
        .as_f64()
        .is_some_and(|v| v > 0.0));
    assert_eq!(r["quick"], true);
}
