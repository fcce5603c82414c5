//! `moose_config::Config::from_bytes` on arbitrary bytes, and what the
//! dataplane derives from an accepted config.
//!
//! Checks: nothing panics; every error is one line; an accepted config
//! satisfies the documented invariants the rest of moose relies on without
//! re-checking.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use moose_config::{Config, PuntClass};
use moose_dataplane::tables::TableSet;
use moose_dataplane::worker::WorkerConfig;

fuzz_target!(|data: &[u8]| {
    let cfg = match Config::from_bytes(data) {
        Ok(c) => c,
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "{msg}");
            if std::str::from_utf8(data).is_ok() {
                assert!(!matches!(e, moose_config::ConfigError::Utf8 { .. }));
            }
            return;
        }
    };
    assert!(!cfg.name.is_empty());
    assert!((1..=64).contains(&cfg.ports.len()));
    assert!((1..=128).contains(&cfg.dataplane.workers));
    assert!((1..=64).contains(&cfg.dataplane.burst));
    assert!(cfg.dataplane.punt_ring.is_power_of_two());
    assert!((1..=16_777_216).contains(&cfg.bridge.max_entries));
    assert!(cfg.static_fdb.len() <= cfg.bridge.max_entries);
    let mut devices = HashSet::new();
    let mut ifaces = HashSet::new();
    for (i, p) in cfg.ports.iter().enumerate() {
        assert_eq!(cfg.port_index(&p.name), Some(i));
        assert!(p.vlans.contains(p.pvid.get()));
        assert!(devices.insert(p.identity.name.clone()));
        for k in &p.identity.kernel_ifaces {
            assert!(ifaces.insert(k.clone()));
        }
        if let Some(k) = &p.identity.kernel_iface {
            assert!(p.identity.kernel_ifaces.contains(k));
        }
    }
    for s in &cfg.static_fdb {
        assert!(s.port < cfg.ports.len());
        assert!(!s.mac.is_multicast());
    }
    for c in PuntClass::ALL {
        let r = cfg.punt.get(c);
        assert!(r.port_rate_pps >= 1 && r.port_rate_pps <= r.rate_pps);
        assert!(r.port_burst >= 1 && r.port_burst <= r.burst);
    }
    for n_cpus in 0..4 {
        if let Ok(cores) = cfg.worker_cores(n_cpus) {
            assert_eq!(cores.len(), cfg.dataplane.workers);
            assert!(cores.iter().all(|&c| c < n_cpus));
        }
    }
    let t = TableSet::from_config(&cfg);
    assert_eq!(t.ports.n_ports, cfg.ports.len());
    for (i, p) in cfg.ports.iter().enumerate() {
        assert_ne!(t.flood.vlan(p.pvid.get()) & (1 << i), 0);
        assert_eq!(t.ports.ports[i].pvid, p.pvid.get());
    }
    let _ = WorkerConfig::from_config(0, &cfg);
});
