//! `moose bench …`: benchmarks that report ratios against a baseline
//! measured in the same run.

pub fn tables(json: bool, quick: bool) -> anyhow::Result<()> {
    let report = moose_tables::bench::run(&moose_tables::bench::BenchConfig { quick });
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}
