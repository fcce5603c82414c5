//! Table keys, each saying its byte order in its type.
//!
//! * [`ExactKey`]: an exact-match key `(VLAN, MAC)` for the FDB and the
//!   translation tables. The MAC's six octets are **little-endian** in
//!   bits 0..48 — exactly what one unaligned little-endian 8-byte load of
//!   the frame's address field gives, so the fast path builds keys without
//!   byte swaps — and the VLAN is in bits 48..60.
//! * [`PrefixKey`]: a MAC for longest-prefix match, **big-endian** (octet 0
//!   most significant) in bits 0..48, so that numeric order is prefix order.
//!
//! Mixing them up is a type error, not a silent mismatch.

use crate::mac::Mac;

const MAC_BITS: u64 = (1 << 48) - 1;

/// `(VLAN << 48) | little-endian MAC`; see the module doc.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct ExactKey(u64);

impl ExactKey {
    #[inline]
    pub fn new(vlan: u16, mac: Mac) -> ExactKey {
        let m = mac.0;
        ExactKey::from_le48(
            vlan,
            u64::from_le_bytes([m[0], m[1], m[2], m[3], m[4], m[5], 0, 0]),
        )
    }

    /// From a VLAN and the low 48 bits of a little-endian load of a frame.
    #[inline]
    pub fn from_le48(vlan: u16, le: u64) -> ExactKey {
        ExactKey((u64::from(vlan & 0xfff) << 48) | (le & MAC_BITS))
    }

    /// From the packed word (as stored in a table).
    #[inline]
    pub fn from_raw(raw: u64) -> ExactKey {
        ExactKey(raw)
    }

    #[inline]
    pub fn raw(self) -> u64 {
        self.0
    }

    #[inline]
    pub fn vlan(self) -> u16 {
        (self.0 >> 48) as u16
    }

    #[inline]
    pub fn mac(self) -> Mac {
        let b = self.0.to_le_bytes();
        Mac([b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    /// The order operators read tables in: by VLAN, then by MAC as
    /// written (big-endian). A bijection, so it can key an ordered index.
    #[inline]
    pub fn sort_key(self) -> u64 {
        (u64::from(self.vlan()) << 48) | self.mac().to_u64()
    }

    /// Inverse of [`sort_key`](Self::sort_key).
    #[inline]
    pub fn from_sort_key(k: u64) -> ExactKey {
        ExactKey::new((k >> 48) as u16, Mac::from_u64(k & MAC_BITS))
    }
}

/// A big-endian 48-bit MAC for prefix lookups; see the module doc.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct PrefixKey(u64);

impl PrefixKey {
    #[inline]
    pub fn from_mac(mac: Mac) -> PrefixKey {
        PrefixKey(mac.to_u64())
    }

    /// From the low 48 bits of a little-endian load of a frame (one byte
    /// swap).
    #[inline]
    pub fn from_le48(le: u64) -> PrefixKey {
        PrefixKey((le & MAC_BITS).swap_bytes() >> 16)
    }

    #[inline]
    pub fn raw(self) -> u64 {
        self.0
    }

    #[inline]
    pub fn mac(self) -> Mac {
        Mac::from_u64(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_key_is_a_little_endian_load() {
        let frame = [0x02u8, 0x11, 0x22, 0x33, 0x44, 0x55, 0xaa, 0xbb];
        let le = u64::from_le_bytes(frame);
        let mac = Mac::from_slice(&frame);
        assert_eq!(ExactKey::from_le48(10, le), ExactKey::new(10, mac));
        assert_eq!(ExactKey::new(10, mac).vlan(), 10);
        assert_eq!(ExactKey::new(10, mac).mac(), mac);
        assert_eq!(PrefixKey::from_le48(le), PrefixKey::from_mac(mac));
        assert_eq!(PrefixKey::from_mac(mac).raw(), 0x0211_2233_4455);
    }

    proptest! {
        #[test]
        fn keys_round_trip(vlan in 0u16..4096, m in any::<[u8; 6]>()) {
            let mac = Mac(m);
            let k = ExactKey::new(vlan, mac);
            prop_assert_eq!((k.vlan(), k.mac()), (vlan, mac));
            prop_assert_eq!(ExactKey::from_sort_key(k.sort_key()), k);
            prop_assert_eq!(PrefixKey::from_mac(mac).mac(), mac);
        }

        /// Sort keys order by VLAN, then by MAC as written.
        #[test]
        fn sort_key_order(a in (0u16..4096, any::<[u8; 6]>()), b in (0u16..4096, any::<[u8; 6]>())) {
            let (ka, kb) = (ExactKey::new(a.0, Mac(a.1)), ExactKey::new(b.0, Mac(b.1)));
            prop_assert_eq!(ka.sort_key().cmp(&kb.sort_key()), (a.0, a.1).cmp(&(b.0, b.1)));
        }
    }
}
