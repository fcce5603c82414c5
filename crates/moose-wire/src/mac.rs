//! Identities that appear in frames: MAC addresses and VLAN ids.

use std::fmt;
use std::str::FromStr;

/// A 48-bit IEEE MAC address, octet 0 first on the wire.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    pub const ZERO: Mac = Mac([0; 6]);

    /// Reads a MAC from the first six bytes of `b`; `b` must hold six bytes.
    #[inline]
    pub fn from_slice(b: &[u8]) -> Mac {
        let mut m = [0u8; 6];
        m.copy_from_slice(&b[..6]);
        Mac(m)
    }

    /// The address as the low 48 bits of a `u64`, octet 0 most significant,
    /// so that numeric order is prefix order.
    #[inline]
    pub fn to_u64(self) -> u64 {
        let m = self.0;
        u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
    }

    #[inline]
    pub fn from_u64(v: u64) -> Mac {
        let b = v.to_be_bytes();
        Mac([b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// Group bit (I/G): multicast and broadcast.
    #[inline]
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 != 0
    }

    #[inline]
    pub fn is_broadcast(self) -> bool {
        self == Mac::BROADCAST
    }

    #[inline]
    pub fn is_unicast(self) -> bool {
        !self.is_multicast()
    }

    /// U/L bit: locally administered.
    #[inline]
    pub fn is_local(self) -> bool {
        self.0[0] & 2 != 0
    }

    #[inline]
    pub fn is_zero(self) -> bool {
        self == Mac::ZERO
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}: expected six hex octets like 02:11:22:33:44:55")]
pub struct MacParseError(pub String);

impl FromStr for Mac {
    type Err = MacParseError;
    fn from_str(s: &str) -> Result<Mac, MacParseError> {
        let err = || MacParseError(s.to_string());
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split(sep) {
            if n == 6 || part.is_empty() || part.len() > 2 {
                return Err(err());
            }
            out[n] = u8::from_str_radix(part, 16).map_err(|_| err())?;
            n += 1;
        }
        if n != 6 {
            return Err(err());
        }
        Ok(Mac(out))
    }
}

impl serde::Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Mac {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Mac, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An 802.1Q VLAN id, 1..=4094. (0 means "priority tag only" on the wire
/// and 4095 is reserved; neither names a VLAN.)
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Vlan(u16);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid VLAN id {0}: must be 1..=4094")]
pub struct VlanError(pub u32);

impl Vlan {
    pub const DEFAULT: Vlan = Vlan(1);

    pub fn new(id: u32) -> Result<Vlan, VlanError> {
        if (1..=4094).contains(&id) {
            Ok(Vlan(id as u16))
        } else {
            Err(VlanError(id))
        }
    }

    #[inline]
    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Vlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Vlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vlan{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let m: Mac = "02:11:22:33:44:55".parse().unwrap();
        assert_eq!(m.0, [2, 0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(m.to_string(), "02:11:22:33:44:55");
        assert_eq!("02-11-22-33-44-55".parse::<Mac>().unwrap(), m);
        assert!("02:11:22:33:44".parse::<Mac>().is_err());
        assert!("02:11:22:33:44:55:66".parse::<Mac>().is_err());
        assert!("02:11:22:33:44:zz".parse::<Mac>().is_err());
        assert!("002:11:22:33:44:55".parse::<Mac>().is_err());
    }

    #[test]
    fn bits() {
        let m: Mac = "02:00:00:00:00:01".parse().unwrap();
        assert!(m.is_unicast() && m.is_local() && !m.is_multicast());
        assert!(Mac::BROADCAST.is_multicast() && Mac::BROADCAST.is_broadcast());
        assert!("01:00:5e:00:00:01".parse::<Mac>().unwrap().is_multicast());
        assert!(!"00:1b:21:00:00:01".parse::<Mac>().unwrap().is_local());
    }

    #[test]
    fn u64_roundtrip_keeps_prefix_order() {
        let m: Mac = "02:11:22:33:44:55".parse().unwrap();
        assert_eq!(m.to_u64(), 0x0211_2233_4455);
        assert_eq!(Mac::from_u64(m.to_u64()), m);
    }

    #[test]
    fn vlan_range() {
        assert!(Vlan::new(0).is_err());
        assert!(Vlan::new(4095).is_err());
        assert_eq!(Vlan::new(4094).unwrap().get(), 4094);
    }
}
