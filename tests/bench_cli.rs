//! `moose bench tables --json` and `moose bench spf --json` through the real
//! binary emit the documented fields (perf/tables.md, perf/README.md, README).
//! Values are not judged: a benchmark is never a timed assertion.

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

#[test]
fn bench_spf_json_has_every_size_and_phase() {
    let out = run_ok(moose().args(["bench", "spf", "--quick", "--json"]));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(r["quick"], true);
    let runs = r["runs"].as_array().expect("runs");
    for (topology, prefixes) in [("clos", "auto"), ("mesh", "auto"), ("clos", "sequential")] {
        for n in [10, 100, 1000] {
            let run = runs
                .iter()
                .find(|x| {
                    x["topology"] == topology && x["prefixes"] == prefixes && x["switches"] == n
                })
                .unwrap_or_else(|| panic!("{topology} {prefixes} {n}: {r}"));
            assert_eq!(run["routes"], n - 1, "{run}");
            for phase in ["graph", "routes", "tree", "fib", "total"] {
                for f in ["median_us", "min_us", "max_us"] {
                    assert!(
                        run["us"][phase][f].as_f64().is_some_and(|v| v > 0.0),
                        "{topology} {n} {phase}.{f}: {run}"
                    );
                }
            }
        }
    }
    let ratios = r["ratios"].as_array().expect("ratios");
    assert_eq!(ratios.len(), 3);
    assert!(ratios
        .iter()
        .all(|q| q["median"]["total"].as_f64().is_some_and(|v| v > 0.0)));
}
