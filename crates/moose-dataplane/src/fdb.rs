//! The FDB as the workers read it: one open-addressing `moose_tables`
//! [`XlateMap`] from the packed key ([`ExactKey`]: VLAN and little-endian
//! MAC) to a packed value (port, static flag), both single words so a probe
//! touches one cache line. It is part of the published
//! [`TableSet`](crate::tables::TableSet); workers never write it. The master
//! FDB with ages, kinds, move counts and limits is the bridge service's, on
//! the control side (`moose-control`); every change there yields
//! [`FdbOp`]s for this view.

use moose_tables::publish::Absorb;
use moose_tables::xlate::XlateMap;
use moose_wire::{ExactKey, PortId};

/// A packed view value: bits 0..16 port, bit 16 static.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ViewEntry(u32);

impl ViewEntry {
    const STATIC: u32 = 1 << 16;

    pub fn new(port: PortId, is_static: bool) -> ViewEntry {
        ViewEntry(u32::from(port.0) | if is_static { Self::STATIC } else { 0 })
    }

    #[inline]
    pub fn port(self) -> PortId {
        PortId(self.0 as u16)
    }

    #[inline]
    pub fn is_static(self) -> bool {
        self.0 & Self::STATIC != 0
    }
}

/// A change to the view.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FdbOp {
    Set(ExactKey, ViewEntry),
    Remove(ExactKey),
}

/// The workers' read-only FDB.
#[derive(Clone, Default)]
pub struct FdbView {
    map: XlateMap,
}

impl FdbView {
    #[inline]
    pub fn get(&self, key: ExactKey) -> Option<ViewEntry> {
        self.map.get(key.raw()).map(|v| ViewEntry(v as u32))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl Absorb<FdbOp> for FdbView {
    fn absorb(&mut self, op: &FdbOp) {
        match *op {
            FdbOp::Set(k, v) => {
                self.map.insert(k.raw(), u64::from(v.0));
            }
            FdbOp::Remove(k) => {
                self.map.remove(k.raw());
            }
        }
    }
}
