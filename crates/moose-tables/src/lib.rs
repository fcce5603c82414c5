//! Fast-path lookup tables of moose, with no DPDK dependency.
//!
//! Three tables sit on every frame's path: [`xlate`] translates (VLAN, real
//! MAC) to a MOOSE address on edge ports and back for local hosts, and
//! [`lpm`] finds the next hop of a destination MAC by longest prefix match
//! over 48-bit keys. The slow path is their single writer; workers read them
//! through [`publish`], a left-right double buffer in which readers never
//! lock, never wait and do no atomic read-modify-write.
//!
//! Invariants: MAC keys are `u64` with the address in the low 48 bits,
//! octet 0 most significant; a translation key is `(vlan << 48) | mac`.
//! Every table is mutated only through its op type (`Absorb`), so both
//! copies of a published table apply the same ops in the same order and
//! stay identical. `unsafe` is confined to [`publish`] (the two copies of
//! the left-right buffer) and [`mem`] (prefetch and huge-page hints), every
//! block carrying a `// SAFETY:` note; every other module is safe code.
//! [`bench`](mod@bench) measures everything against baselines in the same
//! run (`moose bench tables`).

#![deny(unsafe_code)]

pub mod bench;
pub mod lpm;
#[allow(unsafe_code)]
pub mod mem;
#[allow(unsafe_code)]
pub mod publish;
pub mod xlate;

pub use publish::{left_right, Absorb, ReadGuard, Reader, Writer};
