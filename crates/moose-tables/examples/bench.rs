//! Run the table benchmarks outside the `moose` binary:
//! `cargo run --release -p moose-tables --example bench [-- --quick] [-- --json]`.

use moose_tables::bench::{run, BenchConfig};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = BenchConfig {
        quick: args.iter().any(|a| a == "--quick"),
    };
    let report = run(&cfg);
    if args.iter().any(|a| a == "--json") {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    } else {
        print!("{report}");
    }
}
