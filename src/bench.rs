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

/// `moose bench pipeline`: one role's pipeline over the in-memory backend
/// for `frames` frames (what perf/callgrind.sh counts instructions of).
pub fn pipeline(
    role: &str,
    flows: usize,
    frames: u64,
    flow_cache: usize,
    json: bool,
) -> anyhow::Result<()> {
    let r = moose_control::pipebench::run_with(role, flows, frames, flow_cache)
        .map_err(anyhow::Error::msg)?;
    if json {
        crate::out::println(&serde_json::to_string_pretty(&r)?);
    } else {
        crate::out::println(&format!(
            "{} {} flows: {} frames forwarded in {:.3} s, {:.1} ns/frame (in-memory backend, one thread)",
            r.role, r.flows, r.forwarded, r.seconds, r.ns_per_frame
        ));
    }
    Ok(())
}
