//! `moose bench …`: benchmarks that report ratios measured in the same run
//! (against a baseline, or between sizes).

pub fn tables(json: bool, quick: bool) -> anyhow::Result<()> {
    let report = moose_tables::bench::run(&moose_tables::bench::BenchConfig { quick });
    if json {
        crate::out::println(&serde_json::to_string_pretty(&report)?);
    } else {
        crate::out::println(&report.to_string());
    }
    Ok(())
}

pub fn spf(json: bool, quick: bool) -> anyhow::Result<()> {
    let report = moose_control::bench::run(&moose_control::bench::BenchConfig { quick });
    if json {
        crate::out::println(&serde_json::to_string_pretty(&report)?);
    } else {
        crate::out::println(&report.to_string());
    }
    Ok(())
}
