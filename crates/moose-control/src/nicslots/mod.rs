//! The `nicslots` service: each port's unicast MAC filter as a resource.
//!
//! A NIC accepts frames to its own (burned-in) address and to the
//! addresses in the few extra entries of its filter
//! (`rte_eth_dev_info.max_mac_addrs`). An owner *reserves* a slot for an
//! address (it gets a token); only the token's holder can *modify* or
//! *unreserve* it, so no one steals another's address; *get* answers a
//! slot's active address (the burned-in one for a free slot). Multicast
//! addresses reserved go to the NIC's multicast list.
//!
//! When a reservation finds no free entry (or the driver has no filter —
//! every virtual PMD here has one entry), the port falls back to
//! promiscuous mode and the worker filters its frames in software against
//! the same set of active addresses (broadcast and subscribed multicast
//! pass; the rest is dropped as `not_accepted`, counted). When entries
//! free up, the reservations move back into the NIC and the port leaves
//! promiscuous mode. A port configured `promiscuous = true` accepts
//! everything: reservations are kept and programmed, nothing is filtered.
//!
//! The filter is behind [`MacFilter`]: the binary implements it over DPDK;
//! [`Model`] is a software model of a NIC filter with N entries, selected
//! per port with `port[].emulate_mac_slots` and reported as emulated (the
//! worker then does the model's filtering, so both paths look the same
//! from outside). Reservations are kept in `nicslots.redb` in the state
//! directory and restored at start.

pub mod api;

use std::sync::Arc;

use moose_config::Config;
use moose_dataplane::io::Backend;
use moose_dataplane::tables::mac_le;
use moose_dataplane::TableOp;
use moose_wire::{Mac, PortId};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::api::{serve, Refusal};
use crate::{Ctx, Service};
use api::*;

/// Reservable slots per port (beyond the NIC's entries they are software).
pub const MAX_SLOTS: usize = 64;

/// A port's MAC accept filter.
pub trait MacFilter: Send {
    /// Unicast entries, the burned-in address's included.
    fn capacity(&self) -> usize;
    fn burned_in(&self) -> Mac;
    fn add(&mut self, mac: Mac) -> Result<(), String>;
    fn remove(&mut self, mac: Mac) -> Result<(), String>;
    fn set_multicast(&mut self, macs: &[Mac]) -> Result<(), String>;
    fn set_promiscuous(&mut self, on: bool) -> Result<(), String>;
    /// The software model (the worker filters in its place).
    fn emulated(&self) -> bool {
        false
    }
}

/// A software model of a NIC filter with `capacity` unicast entries (the
/// burned-in address in the first) and a multicast list of up to 64.
#[derive(Clone, Debug)]
pub struct Model {
    pub capacity: usize,
    pub burned_in: Mac,
    pub unicast: Vec<Mac>,
    pub multicast: Vec<Mac>,
    pub promiscuous: bool,
}

impl Model {
    pub fn new(capacity: usize, burned_in: Mac) -> Model {
        Model {
            capacity: capacity.max(1),
            burned_in,
            unicast: Vec::new(),
            multicast: Vec::new(),
            promiscuous: false,
        }
    }
}

impl MacFilter for Model {
    fn capacity(&self) -> usize {
        self.capacity
    }
    fn burned_in(&self) -> Mac {
        self.burned_in
    }
    fn add(&mut self, mac: Mac) -> Result<(), String> {
        if self.unicast.contains(&mac) || mac == self.burned_in {
            return Ok(());
        }
        if 1 + self.unicast.len() >= self.capacity {
            return Err("no free filter entry".into());
        }
        self.unicast.push(mac);
        Ok(())
    }
    fn remove(&mut self, mac: Mac) -> Result<(), String> {
        self.unicast.retain(|m| *m != mac);
        Ok(())
    }
    fn set_multicast(&mut self, macs: &[Mac]) -> Result<(), String> {
        if macs.len() > 64 {
            return Err("multicast list full".into());
        }
        self.multicast = macs.to_vec();
        Ok(())
    }
    fn set_promiscuous(&mut self, on: bool) -> Result<(), String> {
        self.promiscuous = on;
        Ok(())
    }
    fn emulated(&self) -> bool {
        true
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Slot {
    owner: String,
    token: String,
    mac: Mac,
    in_nic: bool,
}

struct PortState<'a> {
    name: String,
    filter: Box<dyn MacFilter + 'a>,
    /// `port[].promiscuous`: the port accepts everything anyway.
    promiscuous: bool,
    /// Slot `i + 1` (slot 0 is the burned-in address).
    slots: Vec<Option<Slot>>,
    /// The NIC is promiscuous because of a fallback.
    fallen_back: bool,
    /// What the worker was last told: (filtered, accept).
    published: Option<(bool, Vec<u64>)>,
}

impl PortState<'_> {
    fn software(&self) -> bool {
        self.slots.iter().flatten().any(|s| !s.in_nic)
    }

    fn mode(&self) -> &'static str {
        if self.promiscuous {
            "promiscuous"
        } else if self.software() {
            "software"
        } else {
            "filter"
        }
    }

    /// Puts reservations into the NIC while it has room (multicast as one
    /// list), then falls back to or leaves promiscuous mode.
    fn place(&mut self) {
        let room = self.filter.capacity().saturating_sub(1);
        let mut used = self
            .slots
            .iter()
            .flatten()
            .filter(|s| s.in_nic && !s.mac.is_multicast())
            .count();
        let mut mc: Vec<Mac> = Vec::new();
        for s in self.slots.iter_mut().flatten() {
            if s.mac.is_multicast() {
                mc.push(s.mac);
                continue;
            }
            if !s.in_nic && used < room && self.filter.add(s.mac).is_ok() {
                s.in_nic = true;
                used += 1;
            }
        }
        mc.sort_unstable_by_key(|m| m.to_u64());
        mc.dedup();
        let mc_ok = self.filter.set_multicast(&mc).is_ok();
        for s in self.slots.iter_mut().flatten() {
            if s.mac.is_multicast() {
                s.in_nic = mc_ok;
            }
        }
        let fall_back = self.software() && !self.promiscuous;
        if fall_back != self.fallen_back {
            match self.filter.set_promiscuous(fall_back) {
                Ok(()) => {
                    self.fallen_back = fall_back;
                    log::info!(
                        "nicslots: port {} {} promiscuous mode ({} reservations in software)",
                        self.name,
                        if fall_back { "falls back to" } else { "leaves" },
                        self.slots.iter().flatten().filter(|s| !s.in_nic).count()
                    );
                }
                Err(e) => log::warn!("nicslots: port {}: promiscuous {fall_back}: {e}", self.name),
            }
        }
    }

    /// What the worker filters with: on when the NIC cannot (fallback) or
    /// the filter is the model; the burned-in address and every reserved.
    fn worker_filter(&self) -> (bool, Vec<u64>) {
        let on = !self.promiscuous && (self.fallen_back || self.filter.emulated());
        let mut accept: Vec<u64> = std::iter::once(self.filter.burned_in())
            .chain(self.slots.iter().flatten().map(|s| s.mac))
            .map(mac_le)
            .collect();
        accept.sort_unstable();
        accept.dedup();
        (on, accept)
    }

    fn report(&self) -> PortSlots {
        let used = self
            .slots
            .iter()
            .flatten()
            .filter(|s| s.in_nic && !s.mac.is_multicast())
            .count();
        let mut slots = vec![SlotRecord {
            slot: 0,
            mac: self.filter.burned_in().to_string(),
            state: "burned_in".into(),
            owner: None,
            in_nic: true,
        }];
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(s) = s {
                slots.push(SlotRecord {
                    slot: i + 1,
                    mac: s.mac.to_string(),
                    state: "reserved".into(),
                    owner: Some(s.owner.clone()),
                    in_nic: s.in_nic,
                });
            }
        }
        PortSlots {
            port: self.name.clone(),
            mode: self.mode().into(),
            emulated: self.filter.emulated(),
            total: self.filter.capacity(),
            free: self.filter.capacity().saturating_sub(1 + used),
            burned_in: self.filter.burned_in().to_string(),
            filtered_frames: 0,
            slots,
        }
    }
}

/// (port name, slot) → (owner, token, address).
const SLOTS: TableDefinition<(&str, u64), (&str, &str, u64)> = TableDefinition::new("slots");

pub struct NicSlots<'a> {
    ports: Vec<PortState<'a>>,
    db: Option<Database>,
}

fn token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let part = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.finish()
    };
    format!("{:016x}{:016x}", part(), part())
}

fn parse_mac(s: &str) -> Result<Mac, Refusal> {
    let m: Mac = s
        .parse()
        .map_err(|e| Refusal::invalid(format!("mac: {s:?} is not a MAC address ({e})")))?;
    if m == Mac::BROADCAST || m.to_u64() == 0 {
        return Err(Refusal::invalid(format!(
            "mac: {m} cannot be reserved (broadcast passes anyway; zero is no address)"
        )));
    }
    Ok(m)
}

impl<'a> NicSlots<'a> {
    /// The service over `filters` (one per port, in config order), with
    /// the reservations of `nicslots.redb` in the state directory
    /// (`moose.state_dir`, else `mps.state_dir`; memory only without one).
    pub fn new(
        cfg: &Config,
        filters: Vec<Box<dyn MacFilter + 'a>>,
    ) -> Result<NicSlots<'a>, String> {
        let dir = cfg
            .moose
            .as_ref()
            .and_then(|m| m.state_dir.clone())
            .or_else(|| cfg.mps.as_ref().map(|m| m.state_dir.clone()));
        let db = match dir {
            Some(d) => Some(
                crate::redb_file::open(&d, "nicslots.redb")
                    .map_err(|(p, r)| format!("nicslots store {p}: {r}"))?
                    .0,
            ),
            None => None,
        };
        let mut ports: Vec<PortState<'a>> = cfg
            .ports
            .iter()
            .zip(filters)
            .map(|(p, filter)| PortState {
                name: p.name.clone(),
                filter,
                promiscuous: p.promiscuous,
                slots: vec![None; MAX_SLOTS],
                fallen_back: false,
                published: None,
            })
            .collect();
        if let Some(db) = &db {
            let r = db.begin_read().map_err(|e| e.to_string())?;
            if let Ok(t) = r.open_table(SLOTS) {
                for row in t.iter().map_err(|e| e.to_string())? {
                    let (k, v) = row.map_err(|e| e.to_string())?;
                    let (port, slot) = k.value();
                    let (owner, token, mac) = v.value();
                    let Some(p) = ports.iter_mut().find(|p| p.name == port) else {
                        log::warn!(
                            "nicslots: a reservation for port {port:?}, which is gone, is dropped"
                        );
                        continue;
                    };
                    if let Some(s) = p.slots.get_mut((slot as usize).wrapping_sub(1)) {
                        *s = Some(Slot {
                            owner: owner.to_string(),
                            token: token.to_string(),
                            mac: Mac::from_u64(mac),
                            in_nic: false,
                        });
                    }
                }
            }
        }
        for p in &mut ports {
            p.place();
        }
        Ok(NicSlots { ports, db })
    }

    fn port(&mut self, name: &str) -> Result<usize, Refusal> {
        self.ports
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| Refusal::not_found(format!("port: no port named {name:?}")))
    }

    /// Writes slot `slot` of port `p` (None: removed), durably.
    fn persist(&self, p: usize, slot: usize) -> Result<(), Refusal> {
        let Some(db) = &self.db else { return Ok(()) };
        let fail = |e: &dyn std::fmt::Display| Refusal::unavailable(format!("store: {e}"));
        let w = db.begin_write().map_err(|e| fail(&e))?;
        {
            let mut t = w.open_table(SLOTS).map_err(|e| fail(&e))?;
            let name = self.ports[p].name.as_str();
            match &self.ports[p].slots[slot - 1] {
                Some(s) => {
                    t.insert(
                        (name, slot as u64),
                        (s.owner.as_str(), s.token.as_str(), s.mac.to_u64()),
                    )
                    .map_err(|e| fail(&e))?;
                }
                None => {
                    t.remove((name, slot as u64)).map_err(|e| fail(&e))?;
                }
            }
        }
        w.commit().map_err(|e| fail(&e))
    }

    /// The slot `slot` of port `p` if `token` owns it.
    fn owned(&self, p: usize, slot: usize, token: &str) -> Result<(), Refusal> {
        match self.ports[p].slots.get(slot.wrapping_sub(1)) {
            None => Err(Refusal::invalid(format!(
                "slot: {slot} is not a reservable slot (1..={MAX_SLOTS})"
            ))),
            Some(None) => Err(Refusal::not_found(format!("slot: {slot} is not reserved"))),
            Some(Some(s)) if s.token != token => Err(Refusal::conflict(
                "token: not the owner's token (only the owner changes a reservation)".to_string(),
            )),
            Some(Some(_)) => Ok(()),
        }
    }

    /// An address another slot of the port has (no stealing).
    fn taken(&self, p: usize, mac: Mac, except: usize) -> Result<(), Refusal> {
        let port = &self.ports[p];
        if mac == port.filter.burned_in() {
            return Err(Refusal::conflict(format!(
                "mac: {mac} is the port's own address"
            )));
        }
        if let Some(i) = port
            .slots
            .iter()
            .enumerate()
            .position(|(i, s)| i + 1 != except && s.as_ref().is_some_and(|s| s.mac == mac))
        {
            return Err(Refusal::conflict(format!(
                "mac: {mac} is reserved in slot {} by another owner",
                i + 1
            )));
        }
        Ok(())
    }

    fn reserve(&mut self, r: &Reserve) -> Result<Reserved, Refusal> {
        let p = self.port(&r.port)?;
        let mac = parse_mac(&r.mac)?;
        if r.owner.is_empty() || r.owner.len() > 64 || r.owner.chars().any(char::is_control) {
            return Err(Refusal::invalid(
                "owner: 1 to 64 characters, no control characters",
            ));
        }
        self.taken(p, mac, 0)?;
        let Some(i) = self.ports[p].slots.iter().position(Option::is_none) else {
            return Err(Refusal::conflict(format!(
                "port {:?} has all {MAX_SLOTS} slots reserved",
                r.port
            )));
        };
        let token = token();
        self.ports[p].slots[i] = Some(Slot {
            owner: r.owner.clone(),
            token: token.clone(),
            mac,
            in_nic: false,
        });
        if let Err(e) = self.persist(p, i + 1) {
            self.ports[p].slots[i] = None;
            return Err(e);
        }
        self.ports[p].place();
        let s = self.ports[p].slots[i].as_ref().expect("just set");
        Ok(Reserved {
            port: r.port.clone(),
            slot: i + 1,
            mac: mac.to_string(),
            token,
            in_nic: s.in_nic,
            mode: self.ports[p].mode().into(),
        })
    }

    fn unreserve(&mut self, u: &Unreserve) -> Result<PortSlots, Refusal> {
        let p = self.port(&u.port)?;
        self.owned(p, u.slot, &u.token)?;
        let old = self.ports[p].slots[u.slot - 1].take().expect("owned");
        if let Err(e) = self.persist(p, u.slot) {
            self.ports[p].slots[u.slot - 1] = Some(old);
            return Err(e);
        }
        if old.in_nic && !old.mac.is_multicast() {
            if let Err(e) = self.ports[p].filter.remove(old.mac) {
                log::warn!("nicslots: port {}: removing {}: {e}", u.port, old.mac);
            }
        }
        self.ports[p].place();
        Ok(self.ports[p].report())
    }

    fn modify(&mut self, m: &Modify) -> Result<Reserved, Refusal> {
        let p = self.port(&m.port)?;
        self.owned(p, m.slot, &m.token)?;
        let mac = parse_mac(&m.mac)?;
        self.taken(p, mac, m.slot)?;
        let old = self.ports[p].slots[m.slot - 1].clone().expect("owned");
        self.ports[p].slots[m.slot - 1] = Some(Slot {
            mac,
            in_nic: false,
            ..old.clone()
        });
        if let Err(e) = self.persist(p, m.slot) {
            self.ports[p].slots[m.slot - 1] = Some(old);
            return Err(e);
        }
        if old.in_nic && !old.mac.is_multicast() {
            let _ = self.ports[p].filter.remove(old.mac);
        }
        self.ports[p].place();
        let s = self.ports[p].slots[m.slot - 1].as_ref().expect("set");
        Ok(Reserved {
            port: m.port.clone(),
            slot: m.slot,
            mac: mac.to_string(),
            token: m.token.clone(),
            in_nic: s.in_nic,
            mode: self.ports[p].mode().into(),
        })
    }

    fn get(&mut self, g: &SlotGet) -> Result<SlotRecord, Refusal> {
        let p = self.port(&g.port)?;
        let port = &self.ports[p];
        if g.slot > MAX_SLOTS {
            return Err(Refusal::invalid(format!(
                "slot: {} is not a slot (0..={MAX_SLOTS})",
                g.slot
            )));
        }
        Ok(
            match g.slot.checked_sub(1).and_then(|i| port.slots[i].as_ref()) {
                Some(s) => SlotRecord {
                    slot: g.slot,
                    mac: s.mac.to_string(),
                    state: "reserved".into(),
                    owner: Some(s.owner.clone()),
                    in_nic: s.in_nic,
                },
                None => SlotRecord {
                    slot: g.slot,
                    mac: port.filter.burned_in().to_string(),
                    state: if g.slot == 0 { "burned_in" } else { "free" }.into(),
                    owner: None,
                    in_nic: g.slot == 0,
                },
            },
        )
    }

    /// Tells the workers each port's filter, where it changed.
    fn publish<B: Backend>(&mut self, cx: &mut Ctx<'_, B>) {
        for (i, p) in self.ports.iter_mut().enumerate() {
            let f = p.worker_filter();
            if p.published.as_ref() != Some(&f) {
                cx.table(TableOp::Accept {
                    port: PortId(i as u16),
                    filtered: f.0,
                    accept: Arc::from(f.1.clone()),
                });
                p.published = Some(f);
            }
        }
    }

    pub fn reports(&self) -> Vec<PortSlots> {
        self.ports.iter().map(PortState::report).collect()
    }
}

impl<B: Backend> Service<B> for NicSlots<'_> {
    fn name(&self) -> &'static str {
        "nicslots"
    }

    fn start(&mut self, cx: &mut Ctx<'_, B>) {
        self.publish(cx);
    }

    fn request(
        &mut self,
        cx: &mut Ctx<'_, B>,
        body: Box<dyn std::any::Any + Send>,
    ) -> Result<(), Box<dyn std::any::Any + Send>> {
        let body = match serve::<SlotsQuery>(body, |_| self.reports()) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        let body = match serve::<SlotGet>(body, |g| self.get(&g)) {
            Ok(()) => return Ok(()),
            Err(b) => b,
        };
        let r = match serve::<Reserve>(body, |r| self.reserve(&r)) {
            Ok(()) => Ok(()),
            Err(b) => match serve::<Unreserve>(b, |u| self.unreserve(&u)) {
                Ok(()) => Ok(()),
                Err(b) => serve::<Modify>(b, |m| self.modify(&m)),
            },
        };
        if r.is_ok() {
            self.publish(cx);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(state: Option<&std::path::Path>) -> Config {
        let mut t = "[switch]\nname = \"t\"\n[[port]]\nname = \"p0\"\ndevice = \"net_null0\"\npromiscuous = false\n\
                     [[port]]\nname = \"p1\"\ndevice = \"net_null1\"\n"
            .to_string();
        if let Some(d) = state {
            t += &format!(
                "[mps]\nstate_dir = \"{}\"\n[[mps.pool]]\nname = \"a\"\nprefix = \"02:42:00:00:00:00/24\"\n",
                d.display()
            );
        }
        Config::from_toml(&t).unwrap()
    }

    fn slots(n: usize, state: Option<&std::path::Path>) -> NicSlots<'static> {
        let own = |i: u8| Mac([2, 0, 0, 0, 0xee, i]);
        NicSlots::new(
            &cfg(state),
            vec![
                Box::new(Model::new(n, own(0))),
                Box::new(Model::new(n, own(1))),
            ],
        )
        .unwrap()
    }

    fn reserve(
        s: &mut NicSlots<'_>,
        port: &str,
        owner: &str,
        mac: &str,
    ) -> Result<Reserved, Refusal> {
        s.reserve(&Reserve {
            port: port.into(),
            owner: owner.into(),
            mac: mac.into(),
        })
    }

    #[test]
    fn falls_back_when_full_and_returns_when_freed() {
        let mut s = slots(3, None);
        let a = reserve(&mut s, "p0", "vm-a", "02:00:00:00:00:0a").unwrap();
        let b = reserve(&mut s, "p0", "vm-b", "02:00:00:00:00:0b").unwrap();
        assert!(a.in_nic && b.in_nic);
        assert_eq!(s.reports()[0].mode, "filter");
        assert_eq!(s.reports()[0].free, 0);
        let c = reserve(&mut s, "p0", "vm-c", "02:00:00:00:00:0c").unwrap();
        assert!(!c.in_nic);
        assert_eq!(c.mode, "software");
        assert!(s.ports[0].fallen_back, "promiscuous on");
        let (on, accept) = s.ports[0].worker_filter();
        assert!(on);
        assert_eq!(accept.len(), 4, "own + three reserved");
        // Freeing a NIC entry moves the software reservation in.
        s.unreserve(&Unreserve {
            port: "p0".into(),
            slot: a.slot,
            token: a.token.clone(),
        })
        .unwrap();
        assert_eq!(s.reports()[0].mode, "filter");
        assert!(!s.ports[0].fallen_back, "promiscuous off again");
        assert!(s.reports()[0].slots.iter().all(|x| x.in_nic));
        // Multicast goes to the list, not to an entry.
        let m = reserve(&mut s, "p0", "mc", "01:00:5e:00:00:fb").unwrap();
        assert!(m.in_nic);
        // A promiscuous port never filters.
        reserve(&mut s, "p1", "x", "02:00:00:00:00:0d").unwrap();
        assert_eq!(s.reports()[1].mode, "promiscuous");
        assert!(!s.ports[1].worker_filter().0);
    }

    #[test]
    fn only_the_owner_changes_a_reservation() {
        let mut s = slots(1, None);
        let a = reserve(&mut s, "p0", "vm-a", "02:00:00:00:00:0a").unwrap();
        assert!(!a.in_nic, "one entry: the burned-in address's");
        let e = reserve(&mut s, "p0", "thief", "02:00:00:00:00:0a").unwrap_err();
        assert!(e.message.contains("another owner"), "{e}");
        let e = reserve(&mut s, "p0", "thief", "02:00:00:00:ee:00").unwrap_err();
        assert!(e.message.contains("own address"), "{e}");
        let e = s
            .modify(&Modify {
                port: "p0".into(),
                slot: a.slot,
                token: "wrong".into(),
                mac: "02:00:00:00:00:0f".into(),
            })
            .unwrap_err();
        assert_eq!(e.kind, crate::api::RefusalKind::Conflict);
        let e = s
            .unreserve(&Unreserve {
                port: "p0".into(),
                slot: a.slot,
                token: "wrong".into(),
            })
            .unwrap_err();
        assert!(e.message.starts_with("token:"), "{e}");
        let m = s
            .modify(&Modify {
                port: "p0".into(),
                slot: a.slot,
                token: a.token.clone(),
                mac: "02:00:00:00:00:0f".into(),
            })
            .unwrap();
        assert_eq!(m.mac, "02:00:00:00:00:0f");
        // A free slot answers with the burned-in address.
        let g = s
            .get(&SlotGet {
                port: "p0".into(),
                slot: 5,
            })
            .unwrap();
        assert_eq!(
            (g.mac.as_str(), g.state.as_str()),
            ("02:00:00:00:ee:00", "free")
        );
        for (body, field) in [
            (("p9", "o", "02:00:00:00:00:01"), "port:"),
            (("p0", "o", "nonsense"), "mac:"),
            (("p0", "o", "ff:ff:ff:ff:ff:ff"), "mac:"),
            (("p0", "", "02:00:00:00:00:01"), "owner:"),
        ] {
            let e = reserve(&mut s, body.0, body.1, body.2).unwrap_err();
            assert!(e.message.starts_with(field), "{body:?}: {e}");
        }
    }

    #[test]
    fn reservations_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("moose-nicslots-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let tok = {
            let mut s = slots(4, Some(&dir));
            reserve(&mut s, "p0", "vm-a", "02:00:00:00:00:0a").unwrap();
            reserve(&mut s, "p0", "vm-b", "02:00:00:00:00:0b")
                .unwrap()
                .token
        };
        let mut s = slots(4, Some(&dir));
        let r = &s.reports()[0];
        let macs: Vec<&str> = r.slots.iter().skip(1).map(|x| x.mac.as_str()).collect();
        assert_eq!(macs, ["02:00:00:00:00:0a", "02:00:00:00:00:0b"]);
        assert!(
            r.slots.iter().all(|x| x.in_nic),
            "programmed again at start"
        );
        s.unreserve(&Unreserve {
            port: "p0".into(),
            slot: 2,
            token: tok,
        })
        .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
