//! Identities of the switch: ports, MAC prefixes, switch ids, host ids and
//! MOOSE addresses, each a newtype that cannot hold an illegal value.
//!
//! A MOOSE address is a switch prefix followed by a host id; it is always a
//! unicast (I/G bit clear), locally administered (U/L bit set) address, by
//! construction: [`SwitchId`] only accepts prefixes whose first octet fixes
//! both bits that way, and [`MooseAddr::new`] checks them.

use std::fmt;
use std::str::FromStr;

use crate::mac::Mac;

/// A port of this switch: its index in the configuration (`port[i]`), not
/// a DPDK port number. Flood sets are 64-bit masks, so it is below 64.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize)]
pub struct PortId(pub u16);

impl PortId {
    #[inline]
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// This port's bit in a port mask.
    #[inline]
    pub fn bit(self) -> u64 {
        1u64 << (self.0 & 63)
    }
}

impl fmt::Display for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port{}", self.0)
    }
}

const MAC_BITS: u64 = (1 << 48) - 1;

/// Why a prefix, switch id or MOOSE address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    #[error(
        "invalid MAC prefix {0:?}: expected six hex octets and a length, like 02:11:11:00:00:00/24"
    )]
    Syntax(String),
    #[error("prefix length {0} is not in 0..=48")]
    Length(u32),
    #[error("{0} has bits set beyond its /{1} prefix length")]
    HostBits(Mac, u8),
    #[error("{0} is a group (multicast) address; it must be unicast")]
    Multicast(Mac),
    #[error("{0} is universally administered; it must be locally administered (second-lowest bit of the first octet set)")]
    Universal(Mac),
    #[error("a switch prefix must fix the whole first octet and leave a host id: length {0} is not in 8..=47")]
    SwitchLength(u8),
}

/// A prefix of the 48-bit MAC space: the first `len` bits of `addr`.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacPrefix {
    /// The address, octet 0 most significant, low 48 bits; bits beyond the
    /// prefix are zero.
    bits: u64,
    len: u8,
}

impl MacPrefix {
    /// The prefix `addr/len`; bits of `addr` beyond `len` must be zero.
    pub fn new(addr: Mac, len: u8) -> Result<MacPrefix, AddrError> {
        if len > 48 {
            return Err(AddrError::Length(u32::from(len)));
        }
        let bits = addr.to_u64();
        if bits & !Self::mask_of(len) != 0 {
            return Err(AddrError::HostBits(addr, len));
        }
        Ok(MacPrefix { bits, len })
    }

    fn mask_of(len: u8) -> u64 {
        if len == 0 {
            0
        } else {
            (MAC_BITS << (48 - u32::from(len))) & MAC_BITS
        }
    }

    /// The default route, `00:00:00:00:00:00/0`.
    pub const ALL: MacPrefix = MacPrefix { bits: 0, len: 0 };

    #[inline]
    pub fn len(self) -> u8 {
        self.len
    }

    /// True for the /0 prefix (which holds every address).
    #[inline]
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn addr(self) -> Mac {
        Mac::from_u64(self.bits)
    }

    /// The prefix as an LPM key: big-endian address bits.
    #[inline]
    pub fn key(self) -> crate::PrefixKey {
        crate::PrefixKey::from_mac(self.addr())
    }

    /// The mask of the prefix bits over a big-endian 48-bit address.
    #[inline]
    pub fn mask(self) -> u64 {
        Self::mask_of(self.len)
    }

    #[inline]
    pub fn contains(self, mac: Mac) -> bool {
        mac.to_u64() & self.mask() == self.bits
    }
}

impl fmt::Display for MacPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len)
    }
}

impl fmt::Debug for MacPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacPrefix {
    type Err = AddrError;
    fn from_str(s: &str) -> Result<MacPrefix, AddrError> {
        let (a, l) = s
            .split_once('/')
            .ok_or_else(|| AddrError::Syntax(s.to_string()))?;
        let addr: Mac = a.parse().map_err(|_| AddrError::Syntax(s.to_string()))?;
        let len: u32 = l.parse().map_err(|_| AddrError::Syntax(s.to_string()))?;
        if len > 48 {
            return Err(AddrError::Length(len));
        }
        MacPrefix::new(addr, len as u8)
    }
}

/// A MOOSE address: unicast and locally administered, by construction.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MooseAddr(Mac);

impl MooseAddr {
    pub fn new(mac: Mac) -> Result<MooseAddr, AddrError> {
        if mac.is_multicast() {
            return Err(AddrError::Multicast(mac));
        }
        if !mac.is_local() {
            return Err(AddrError::Universal(mac));
        }
        Ok(MooseAddr(mac))
    }

    #[inline]
    pub fn mac(self) -> Mac {
        self.0
    }
}

impl fmt::Display for MooseAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for MooseAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "moose:{}", self.0)
    }
}

/// A host's number under its switch's prefix: the address bits after it.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct HostId(pub u64);

/// A switch's identity: the MAC prefix it owns. Its first octet is fixed
/// (length ≥ 8) and is unicast and locally administered, so every address
/// under it is a valid [`MooseAddr`]; at least one bit is left for hosts.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SwitchId(MacPrefix);

impl SwitchId {
    pub fn new(prefix: MacPrefix) -> Result<SwitchId, AddrError> {
        if !(8..=47).contains(&prefix.len()) {
            return Err(AddrError::SwitchLength(prefix.len()));
        }
        MooseAddr::new(prefix.addr())?;
        Ok(SwitchId(prefix))
    }

    #[inline]
    pub fn prefix(self) -> MacPrefix {
        self.0
    }

    /// Bits available for host ids.
    #[inline]
    pub fn host_bits(self) -> u8 {
        48 - self.0.len()
    }

    /// The MOOSE address of `host` under this switch, if the id fits.
    pub fn addr(self, host: HostId) -> Option<MooseAddr> {
        if host.0 >> self.host_bits() != 0 {
            return None;
        }
        Some(MooseAddr(Mac::from_u64(self.0.bits | host.0)))
    }

    /// The host id of `addr` if it is under this switch's prefix.
    pub fn host_of(self, addr: MooseAddr) -> Option<HostId> {
        self.0
            .contains(addr.mac())
            .then(|| HostId(addr.mac().to_u64() & !self.0.mask() & MAC_BITS))
    }
}

impl fmt::Display for SwitchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for SwitchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "switch:{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(s: &str) -> Mac {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_parse_and_check_host_bits() {
        let p: MacPrefix = "02:11:11:00:00:00/24".parse().unwrap();
        assert_eq!(p.len(), 24);
        assert_eq!(p.to_string(), "02:11:11:00:00:00/24");
        assert!(p.contains(m("02:11:11:ab:cd:ef")));
        assert!(!p.contains(m("02:11:12:00:00:00")));
        assert_eq!(
            "02:11:11:00:00:01/24".parse::<MacPrefix>(),
            Err(AddrError::HostBits(m("02:11:11:00:00:01"), 24))
        );
        assert_eq!(
            "02:11:11:00:00:00/49".parse::<MacPrefix>(),
            Err(AddrError::Length(49))
        );
        assert!("02:11:11:00:00:00".parse::<MacPrefix>().is_err());
        assert!(MacPrefix::ALL.contains(Mac::BROADCAST));
    }

    #[test]
    fn moose_addresses_are_unicast_and_local() {
        assert!(MooseAddr::new(m("02:00:00:00:00:01")).is_ok());
        assert_eq!(
            MooseAddr::new(m("03:00:00:00:00:01")),
            Err(AddrError::Multicast(m("03:00:00:00:00:01")))
        );
        assert_eq!(
            MooseAddr::new(m("00:1b:21:00:00:01")),
            Err(AddrError::Universal(m("00:1b:21:00:00:01")))
        );
    }

    #[test]
    fn switch_ids() {
        let s = SwitchId::new("02:11:11:00:00:00/24".parse().unwrap()).unwrap();
        assert_eq!(s.host_bits(), 24);
        let a = s.addr(HostId(5)).unwrap();
        assert_eq!(a.mac(), m("02:11:11:00:00:05"));
        assert_eq!(s.host_of(a), Some(HostId(5)));
        assert_eq!(s.addr(HostId(1 << 24)), None);
        let other = MooseAddr::new(m("02:11:12:00:00:05")).unwrap();
        assert_eq!(s.host_of(other), None);
        assert!(SwitchId::new("00:00:00:00:00:00/4".parse().unwrap()).is_err());
        assert!(SwitchId::new("01:11:00:00:00:00/16".parse().unwrap()).is_err());
        assert!(SwitchId::new("04:11:00:00:00:00/16".parse().unwrap()).is_err());
        assert!(SwitchId::new("02:11:11:11:11:10/47".parse().unwrap()).is_ok());
    }

    proptest! {
        /// Every address built from a switch id is a valid MOOSE address
        /// under that prefix, and gives its host id back.
        #[test]
        fn switch_addresses_round_trip(raw in any::<u64>(), len in 8u8..48, host in any::<u64>()) {
            let mut first = ((raw >> 40) as u8 & !1) | 2;
            if len < 8 { first = 2; }
            let bits = ((u64::from(first) << 40) | (raw & ((1 << 40) - 1))) & MacPrefix::mask_of(len);
            let p = MacPrefix::new(Mac::from_u64(bits), len).unwrap();
            let s = SwitchId::new(p).unwrap();
            let h = HostId(host & ((1u64 << s.host_bits()) - 1));
            let a = s.addr(h).unwrap();
            prop_assert!(a.mac().is_unicast() && a.mac().is_local());
            prop_assert!(p.contains(a.mac()));
            prop_assert_eq!(s.host_of(a), Some(h));
        }
    }
}
