//! The `reserved` service: frames for IEEE 802.1D reserved destinations
//! (01:80:c2:00:00:00–0f: STP BPDUs, pause, LACP and other slow protocols,
//! EAPOL, LLDP), which a bridge must never forward. The legacy classifier
//! punts them (class `reserved`, rate-limited per port); this service
//! counts them by kind and port and frees them. STP, LACP and LLDP
//! themselves are not implemented.

pub mod api;

use moose_config::Config;
use moose_dataplane::io::Backend;
use moose_dataplane::{Punt, PuntClass};

use crate::api::serve;
use crate::runtime::{Ctx, Service};
use api::{ReservedStats, StatsQuery};

/// Every kind [`kind`] gives.
pub const KINDS: [&str; 6] = [
    "stp",
    "pause",
    "slow_protocols",
    "eapol",
    "lldp",
    "other_reserved",
];

/// The kind of a reserved-destination frame, from its destination's last
/// octet.
pub fn kind(frame: &[u8]) -> &'static str {
    match frame.get(5).copied() {
        Some(0x00) => "stp",
        Some(0x01) => "pause",
        Some(0x02) => "slow_protocols",
        Some(0x03) => "eapol",
        Some(0x0e) => "lldp",
        _ => "other_reserved",
    }
}

pub struct Reserved {
    names: Vec<String>,
    stats: ReservedStats,
}

impl Reserved {
    pub fn from_config(cfg: &Config) -> Reserved {
        let names: Vec<String> = cfg.ports.iter().map(|p| p.name.clone()).collect();
        // Every kind and port from the start, so that dashboards see zeros,
        // not missing series.
        let stats = ReservedStats {
            frames: KINDS.iter().map(|k| (k.to_string(), 0)).collect(),
            by_port: names.iter().map(|n| (n.clone(), 0)).collect(),
        };
        Reserved { names, stats }
    }
}

impl<B: Backend> Service<B> for Reserved {
    fn name(&self) -> &'static str {
        "reserved"
    }

    fn classes(&self) -> &'static [PuntClass] {
        &[PuntClass::Reserved]
    }

    fn punt(&mut self, cx: &mut Ctx<'_, B>, _class: PuntClass, _worker: usize, p: Punt<B::Frame>) {
        if let Punt::Frame { port, frame } = p {
            *self
                .stats
                .frames
                .entry(kind(frame.as_ref()).to_string())
                .or_default() += 1;
            let name = self
                .names
                .get(port.index())
                .cloned()
                .unwrap_or_else(|| format!("port{}", port.0));
            *self.stats.by_port.entry(name).or_default() += 1;
            cx.free(frame);
        }
    }

    fn request(
        &mut self,
        _cx: &mut Ctx<'_, B>,
        body: Box<dyn std::any::Any + Send>,
    ) -> Result<(), Box<dyn std::any::Any + Send>> {
        serve::<StatsQuery>(body, |_| self.stats.clone())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn kinds() {
        let f = |last: u8| [0x01, 0x80, 0xc2, 0, 0, last];
        assert_eq!(super::kind(&f(0)), "stp");
        assert_eq!(super::kind(&f(2)), "slow_protocols");
        assert_eq!(super::kind(&f(0x0e)), "lldp");
        assert_eq!(super::kind(&f(0x0b)), "other_reserved");
        assert_eq!(super::kind(&[]), "other_reserved");
    }
}
