//! `moose_config::Config::from_toml` on arbitrary UTF-8, and what the
//! dataplane derives from an accepted config.
//!
//! Checks: nothing panics; an accepted config satisfies the documented
//! invariants the rest of moose relies on without re-checking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moose_config::Config;
use moose_dataplane::bridge::PortTable;
use moose_dataplane::worker::WorkerConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cfg = match Config::from_toml(text) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(!cfg.name.is_empty());
    assert!((1..=64).contains(&cfg.ports.len()));
    assert!((1..=128).contains(&cfg.dataplane.workers));
    assert!((1..=64).contains(&cfg.dataplane.burst));
    assert!(cfg.dataplane.punt_ring.is_power_of_two());
    for (i, p) in cfg.ports.iter().enumerate() {
        assert_eq!(cfg.port_index(&p.name), Some(i));
        assert!(p.vlans.contains(p.pvid.get()));
    }
    for s in &cfg.static_fdb {
        assert!(s.port < cfg.ports.len());
        assert!(!s.mac.is_multicast());
    }
    let table = PortTable::from_config(&cfg);
    assert_eq!(table.n_ports, cfg.ports.len());
    for (i, p) in cfg.ports.iter().enumerate() {
        assert_ne!(table.members(p.pvid.get()) & (1 << i), 0);
    }
    let _ = WorkerConfig::from_config(0, &cfg);
});
