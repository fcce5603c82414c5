//! moose's own control messages between switches, in Ethernet frames of
//! the IEEE 802 Local Experimental EtherType 1 (0x88b5), all sent to the
//! link-local group [`GROUP`] (never forwarded: every moose port punts
//! it to the `protocol` class).
//!
//! Every message starts with a four-byte header:
//!
//! ```text
//!  0        1        2                 4
//! +--------+--------+--------+--------+------ ...  ------+---------
//! | version|A| type |  body length    | body             | trailer
//! +--------+--------+--------+--------+------ ...  ------+---------
//! ```
//!
//! Version is 1; the body length (big-endian) counts the bytes after the
//! header and before the trailer, which must all be present (Ethernet
//! padding may follow). `A` (bit 7 of the type byte) says an
//! authentication trailer follows the body ([`AUTH_LEN`] bytes: key id,
//! an eight-byte counter the sender increases with every message, and an
//! HMAC-SHA-256 over the frame's source address, the header, the body,
//! the key id and the counter; see [`Auth`]). Types:
//!
//! * **1, home hello** — sent on every edge and legacy port of a MOOSE
//!   switch, so that a segment attached to two ports (of one switch or of
//!   two) elects one home: the port whose (switch prefix, port number) is
//!   lowest. Body (12 bytes):
//!
//!   ```text
//!   0                 6        7        8        10       12
//!   | prefix address  | length | flags  | port   | hold ms|
//!   ```
//!
//!   `flags` must be zero; `hold ms` is how long the hello stays valid.
//!
//! * **2, fabric hello** — sent every `routing.hello_interval_ms` on every
//!   fabric port. Body (30 + 8·n bytes):
//!
//!   ```text
//!   0           6                12      13      14      16       18      20           28   29
//!   | switch id | prefix address | len   | flags | port  | hello ms| dead ms| tree digest | rsv | n |
//!   then n × | neighbour switch id (6) | its port (2) |   (the neighbours heard on this port)
//!   ```
//!
//!   flag bit 0: the sender's broadcast tree holds this link; bit 1: its
//!   prefix is automatic. The tree digest names the tree the sender
//!   forwards broadcasts along (see the routing service).
//!
//! * **3, advertisement** — a switch's link-state advertisement, flooded
//!   reliably. Body (24 + 12·n bytes):
//!
//!   ```text
//!   0           6          10        12               18     19      20   24
//!   | origin id | sequence | age s   | prefix address | len  | flags | rsv |
//!   then n × | neighbour id (6) | cost (2) | local port (2) | its port (2) |
//!   ```
//!
//!   flag bit 0: the prefix is automatic; bit 1: the origin is a
//!   directory switch (it answers the directory's anycast address).
//!
//! * **4, acknowledgement** — of advertisements. Body (10·n bytes, n ≥ 1):
//!   n × | origin id (6) | sequence (4) |.
//!
//! * **5, host announcement** — "this host is mine now", flooded over the
//!   fabric by the switch a host appeared on (its home), so that the
//!   switch it left (keyed on the real MAC) hands it over. Body (28 + 4·a
//!   + 16·b bytes):
//!
//!   ```text
//!   0           6          10     12         18           24     25   26   27  28
//!   | origin id | sequence | VLAN | real MAC | MOOSE MAC  | flags| a  | b  | rsv |
//!   then a IPv4 addresses (4 each), b IPv6 addresses (16 each)
//!   ```
//!
//! * **6, binding** — "IP address `ip` on `vlan` is at MOOSE address
//!   `moose`", flooded like host announcements by the switch that owns the
//!   host, so that every directory switch holds every binding. Body (22 +
//!   4 or 16 bytes):
//!
//!   ```text
//!   0           6          10     12       13      14       15    16          22
//!   | origin id | sequence | VLAN | family | flags | source | rsv | MOOSE MAC  | IP |
//!   ```
//!
//!   family 4 or 6; flag bit 0: withdrawn; source 1 ARP, 2 ND, 3 DHCP,
//!   4 static.
//!
//! * **7, directory query** — unicast to the directory's anycast address,
//!   routed like any frame; the answer goes to the query's source address.
//!   Body (8 + 4 or 16 bytes): `| query id (4) | VLAN (2) | family | rsv | IP |`.
//!
//! * **8, directory answer** — Body (14 + 4 or 16 bytes):
//!   `| query id (4) | VLAN (2) | family | flags | MOOSE MAC (6) | IP |`,
//!   flag bit 0: found (else the MOOSE MAC is zero).

use crate::ids::MacPrefix;
use crate::mac::Mac;

/// IEEE 802 Local Experimental EtherType 1.
pub const ETHERTYPE: u16 = 0x88b5;

/// The group address moose's messages go to: multicast, locally
/// administered, "MOOSE" in its low five bytes. Not one of the 01:80:c2
/// addresses, so ordinary bridges on a legacy segment forward home hellos.
pub const GROUP: Mac = Mac([0x03, 0x4d, 0x4f, 0x4f, 0x53, 0x45]);
/// [`GROUP`] under the name the home election knows it by.
pub const HOME_GROUP: Mac = GROUP;

pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 4;
/// Bit of the type byte: an authentication trailer follows the body.
pub const AUTHENTICATED: u8 = 0x80;
/// Key id, counter, HMAC-SHA-256.
pub const AUTH_LEN: usize = 1 + 8 + 32;
/// The longest message accepted: more is `Oversize`.
pub const MAX_MESSAGE: usize = 1400;

/// Message types.
pub const TYPE_HOME_HELLO: u8 = 1;
pub const TYPE_FABRIC_HELLO: u8 = 2;
pub const TYPE_ADVERT: u8 = 3;
pub const TYPE_ACK: u8 = 4;
pub const TYPE_HOST: u8 = 5;
pub const TYPE_BINDING: u8 = 6;
pub const TYPE_QUERY: u8 = 7;
pub const TYPE_ANSWER: u8 = 8;
const BINDING_LEN: usize = 22;
const QUERY_LEN: usize = 8;
const ANSWER_LEN: usize = 14;
const HOST_LEN: usize = 28;
/// Most addresses of each family a host announcement carries.
pub const MAX_HOST_ADDRS: usize = 8;
const HOME_HELLO_LEN: usize = 12;
const FABRIC_HELLO_LEN: usize = 30;
const ADVERT_LEN: usize = 24;
const LINK_LEN: usize = 12;
const ACK_LEN: usize = 10;
/// Most neighbours a fabric hello lists.
pub const MAX_HEARD: usize = 32;
/// Most links an advertisement carries (a switch has at most 64 ports).
pub const MAX_LINKS: usize = 64;
/// Most acknowledgements in one message.
pub const MAX_ACKS: usize = 64;

/// A decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    HomeHello(HomeHello),
    FabricHello(FabricHello),
    Advert(Advert),
    Ack(Vec<AdvertId>),
    Host(HostAnnounce),
    Binding(Binding),
    Query(Query),
    Answer(Answer),
}

/// Where a binding was learned.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BindingSource {
    Arp = 1,
    Nd = 2,
    Dhcp = 3,
    Static = 4,
}

impl BindingSource {
    fn from_u8(b: u8) -> Option<BindingSource> {
        Some(match b {
            1 => BindingSource::Arp,
            2 => BindingSource::Nd,
            3 => BindingSource::Dhcp,
            4 => BindingSource::Static,
            _ => return None,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            BindingSource::Arp => "arp",
            BindingSource::Nd => "nd",
            BindingSource::Dhcp => "dhcp",
            BindingSource::Static => "static",
        }
    }
}

/// "`ip` on `vlan` is at `moose`" (or no longer, if `withdrawn`), from
/// the switch `origin` that owns the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    pub origin: Mac,
    pub seq: u32,
    pub vlan: u16,
    pub ip: std::net::IpAddr,
    pub moose: Mac,
    pub source: BindingSource,
    pub withdrawn: bool,
}

/// "Who has `ip` on `vlan`?", to the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub id: u32,
    pub vlan: u16,
    pub ip: std::net::IpAddr,
}

/// The directory's answer to query `id`: `moose`, or not known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub id: u32,
    pub vlan: u16,
    pub ip: std::net::IpAddr,
    pub moose: Option<Mac>,
}

/// "Host `real` on `vlan` is at `moose` now, behind switch `origin`."
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostAnnounce {
    pub origin: Mac,
    pub seq: u32,
    pub vlan: u16,
    pub real: Mac,
    pub moose: Mac,
    pub ipv4: Vec<std::net::Ipv4Addr>,
    pub ipv6: Vec<std::net::Ipv6Addr>,
}

/// "Port `port` of the switch with prefix `prefix` is on this segment."
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct HomeHello {
    pub prefix: MacPrefix,
    pub port: u16,
    pub hold_ms: u16,
}

impl HomeHello {
    /// The election key: the segment's home is the lowest one heard.
    pub fn rank(&self) -> (u64, u8, u16) {
        (self.prefix.addr().to_u64(), self.prefix.len(), self.port)
    }
}

/// "I am switch `switch_id`, on my port `port`, and I hear these."
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FabricHello {
    pub switch_id: Mac,
    pub prefix: MacPrefix,
    pub port: u16,
    pub hello_ms: u16,
    pub dead_ms: u16,
    /// The sender's broadcast tree holds this link.
    pub tree: bool,
    pub auto_prefix: bool,
    pub tree_digest: u64,
    /// (switch id, port) of the neighbours heard on this link.
    pub heard: Vec<(Mac, u16)>,
}

/// One link of an advertisement: to `neighbor`, from the origin's port
/// `port` to the neighbour's port `neighbor_port`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Link {
    pub neighbor: Mac,
    pub cost: u16,
    pub port: u16,
    pub neighbor_port: u16,
}

/// A link-state advertisement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advert {
    pub origin: Mac,
    pub seq: u32,
    pub age_s: u16,
    pub prefix: MacPrefix,
    pub auto_prefix: bool,
    /// The origin is a directory switch.
    pub directory: bool,
    pub links: Vec<Link>,
}

impl Advert {
    pub fn id(&self) -> AdvertId {
        AdvertId {
            origin: self.origin,
            seq: self.seq,
        }
    }
}

/// Which advertisement: its origin and sequence number.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AdvertId {
    pub origin: Mac,
    pub seq: u32,
}

/// An authentication trailer as received: check it with
/// [`Auth::signed`] and the key named by `key_id`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Auth<'a> {
    pub key_id: u8,
    pub counter: u64,
    pub mac: &'a [u8; 32],
    /// Header, body, key id and counter: what the HMAC covers after the
    /// frame's source address.
    pub signed: &'a [u8],
}

/// Why a message was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("shorter than its header or its stated length")]
    Truncated,
    #[error("longer than any message")]
    Oversize,
    #[error("version {0} (want 1)")]
    Version(u8),
    #[error("unknown message type {0}")]
    Type(u8),
    #[error("body length {0} wrong for its type")]
    Length(usize),
    #[error("reserved flags set")]
    Flags,
    #[error("invalid prefix")]
    Prefix,
    #[error("invalid switch id")]
    SwitchId,
}

impl ProtoError {
    /// The metric label of the reason.
    pub fn reason(self) -> &'static str {
        match self {
            ProtoError::Truncated => "truncated",
            ProtoError::Oversize => "oversize",
            ProtoError::Version(_) => "version",
            ProtoError::Type(_) => "type",
            ProtoError::Length(_) => "wrong_length",
            ProtoError::Flags => "flags",
            ProtoError::Prefix => "prefix",
            ProtoError::SwitchId => "switch_id",
        }
    }
}

fn mac_at(b: &[u8], at: usize) -> Mac {
    let mut a = [0u8; 6];
    a.copy_from_slice(&b[at..at + 6]);
    Mac(a)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn prefix_at(b: &[u8], at: usize) -> Result<MacPrefix, ProtoError> {
    MacPrefix::new(mac_at(b, at), b[at + 6]).map_err(|_| ProtoError::Prefix)
}

fn switch_id_at(b: &[u8], at: usize) -> Result<Mac, ProtoError> {
    let m = mac_at(b, at);
    if m.is_multicast() || m.is_zero() {
        return Err(ProtoError::SwitchId);
    }
    Ok(m)
}

/// The IP address after a fixed part of `fixed` bytes, whose family
/// byte is `family` (4 or 6): the body must be exactly that long.
fn ip_at(
    body: &[u8],
    fixed: usize,
    family: Option<u8>,
    len: usize,
) -> Result<std::net::IpAddr, ProtoError> {
    let want = match family {
        _ if len < fixed => return Err(ProtoError::Length(len)),
        Some(4) => fixed + 4,
        Some(6) => fixed + 16,
        _ => return Err(ProtoError::Flags),
    };
    if len != want {
        return Err(ProtoError::Length(len));
    }
    Ok(if want == fixed + 4 {
        std::net::IpAddr::from(<[u8; 4]>::try_from(&body[fixed..want]).unwrap())
    } else {
        std::net::IpAddr::from(<[u8; 16]>::try_from(&body[fixed..want]).unwrap())
    })
}

fn vlan_at(body: &[u8], at: usize, len: usize) -> Result<u16, ProtoError> {
    let v = u16_at(body, at);
    if (1..=4094).contains(&v) {
        Ok(v)
    } else {
        Err(ProtoError::Length(len))
    }
}

/// A unicast MOOSE address (not multicast, not zero).
fn unicast_at(b: &[u8], at: usize) -> Result<Mac, ProtoError> {
    let m = mac_at(b, at);
    if m.is_multicast() || m.is_zero() {
        return Err(ProtoError::Flags);
    }
    Ok(m)
}

fn push_ip(out: &mut Vec<u8>, ip: &std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
        std::net::IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
    }
}

fn family(ip: &std::net::IpAddr) -> (u8, usize) {
    match ip {
        std::net::IpAddr::V4(_) => (4, 4),
        std::net::IpAddr::V6(_) => (6, 16),
    }
}

/// Decodes a message from an Ethernet payload (the bytes after the
/// EtherType), with its authentication trailer if it has one. Never
/// panics; trailing padding is ignored.
pub fn parse_auth(payload: &[u8]) -> Result<(Message, Option<Auth<'_>>), ProtoError> {
    if payload.len() < HEADER_LEN {
        return Err(ProtoError::Truncated);
    }
    if payload[0] != VERSION {
        return Err(ProtoError::Version(payload[0]));
    }
    let len = usize::from(u16_at(payload, 2));
    let authed = payload[1] & AUTHENTICATED != 0;
    let total = HEADER_LEN + len + if authed { AUTH_LEN } else { 0 };
    if total > MAX_MESSAGE {
        return Err(ProtoError::Oversize);
    }
    if payload.len() < total {
        return Err(ProtoError::Truncated);
    }
    let body = &payload[HEADER_LEN..HEADER_LEN + len];
    let auth = authed.then(|| {
        let t = &payload[HEADER_LEN + len..total];
        Auth {
            key_id: t[0],
            counter: u64::from_be_bytes(t[1..9].try_into().unwrap()),
            mac: t[9..41].try_into().unwrap(),
            signed: &payload[..HEADER_LEN + len + 9],
        }
    });
    let m = match payload[1] & !AUTHENTICATED {
        TYPE_HOME_HELLO => {
            if len != HOME_HELLO_LEN {
                return Err(ProtoError::Length(len));
            }
            if body[7] != 0 {
                return Err(ProtoError::Flags);
            }
            Message::HomeHello(HomeHello {
                prefix: prefix_at(body, 0)?,
                port: u16_at(body, 8),
                hold_ms: u16_at(body, 10),
            })
        }
        TYPE_FABRIC_HELLO => {
            if len < FABRIC_HELLO_LEN {
                return Err(ProtoError::Length(len));
            }
            let n = usize::from(body[29]);
            if n > MAX_HEARD || len != FABRIC_HELLO_LEN + 8 * n {
                return Err(ProtoError::Length(len));
            }
            let flags = body[13];
            if flags & !3 != 0 || body[28] != 0 {
                return Err(ProtoError::Flags);
            }
            let mut heard = Vec::with_capacity(n);
            for i in 0..n {
                let at = FABRIC_HELLO_LEN + 8 * i;
                heard.push((switch_id_at(body, at)?, u16_at(body, at + 6)));
            }
            Message::FabricHello(FabricHello {
                switch_id: switch_id_at(body, 0)?,
                prefix: prefix_at(body, 6)?,
                port: u16_at(body, 14),
                hello_ms: u16_at(body, 16),
                dead_ms: u16_at(body, 18),
                tree: flags & 1 != 0,
                auto_prefix: flags & 2 != 0,
                tree_digest: u64::from_be_bytes(body[20..28].try_into().unwrap()),
                heard,
            })
        }
        TYPE_ADVERT => {
            if len < ADVERT_LEN || !(len - ADVERT_LEN).is_multiple_of(LINK_LEN) {
                return Err(ProtoError::Length(len));
            }
            let n = (len - ADVERT_LEN) / LINK_LEN;
            if n > MAX_LINKS {
                return Err(ProtoError::Length(len));
            }
            let flags = body[19];
            if flags & !3 != 0 || body[20..24] != [0; 4] {
                return Err(ProtoError::Flags);
            }
            let mut links = Vec::with_capacity(n);
            for i in 0..n {
                let at = ADVERT_LEN + LINK_LEN * i;
                links.push(Link {
                    neighbor: switch_id_at(body, at)?,
                    cost: u16_at(body, at + 6),
                    port: u16_at(body, at + 8),
                    neighbor_port: u16_at(body, at + 10),
                });
            }
            Message::Advert(Advert {
                origin: switch_id_at(body, 0)?,
                seq: u32::from_be_bytes(body[6..10].try_into().unwrap()),
                age_s: u16_at(body, 10),
                prefix: prefix_at(body, 12)?,
                auto_prefix: flags & 1 != 0,
                directory: flags & 2 != 0,
                links,
            })
        }
        TYPE_ACK => {
            if len == 0 || !len.is_multiple_of(ACK_LEN) || len / ACK_LEN > MAX_ACKS {
                return Err(ProtoError::Length(len));
            }
            let mut ids = Vec::with_capacity(len / ACK_LEN);
            for at in (0..len).step_by(ACK_LEN) {
                ids.push(AdvertId {
                    origin: switch_id_at(body, at)?,
                    seq: u32::from_be_bytes(body[at + 6..at + 10].try_into().unwrap()),
                });
            }
            Message::Ack(ids)
        }
        TYPE_HOST => {
            if len < HOST_LEN {
                return Err(ProtoError::Length(len));
            }
            let (a, b) = (usize::from(body[25]), usize::from(body[26]));
            if a > MAX_HOST_ADDRS || b > MAX_HOST_ADDRS || len != HOST_LEN + 4 * a + 16 * b {
                return Err(ProtoError::Length(len));
            }
            if body[24] != 0 || body[27] != 0 {
                return Err(ProtoError::Flags);
            }
            let vlan = u16_at(body, 10);
            if !(1..=4094).contains(&vlan) {
                return Err(ProtoError::Length(len));
            }
            let ipv4 = (0..a)
                .map(|i| {
                    let at = HOST_LEN + 4 * i;
                    std::net::Ipv4Addr::from(<[u8; 4]>::try_from(&body[at..at + 4]).unwrap())
                })
                .collect();
            let ipv6 = (0..b)
                .map(|i| {
                    let at = HOST_LEN + 4 * a + 16 * i;
                    std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&body[at..at + 16]).unwrap())
                })
                .collect();
            Message::Host(HostAnnounce {
                origin: switch_id_at(body, 0)?,
                seq: u32::from_be_bytes(body[6..10].try_into().unwrap()),
                vlan,
                real: switch_id_at(body, 12)?,
                moose: switch_id_at(body, 18)?,
                ipv4,
                ipv6,
            })
        }
        TYPE_BINDING => {
            let ip = ip_at(body, BINDING_LEN, body.get(12).copied(), len)?;
            let flags = body[13];
            if flags & !1 != 0 || body[15] != 0 {
                return Err(ProtoError::Flags);
            }
            let source = BindingSource::from_u8(body[14]).ok_or(ProtoError::Flags)?;
            Message::Binding(Binding {
                origin: switch_id_at(body, 0)?,
                seq: u32::from_be_bytes(body[6..10].try_into().unwrap()),
                vlan: vlan_at(body, 10, len)?,
                ip,
                moose: unicast_at(body, 16)?,
                source,
                withdrawn: flags & 1 != 0,
            })
        }
        TYPE_QUERY => {
            let ip = ip_at(body, QUERY_LEN, body.get(6).copied(), len)?;
            if body[7] != 0 {
                return Err(ProtoError::Flags);
            }
            Message::Query(Query {
                id: u32::from_be_bytes(body[0..4].try_into().unwrap()),
                vlan: vlan_at(body, 4, len)?,
                ip,
            })
        }
        TYPE_ANSWER => {
            let ip = ip_at(body, ANSWER_LEN, body.get(6).copied(), len)?;
            let flags = body[7];
            if flags & !1 != 0 {
                return Err(ProtoError::Flags);
            }
            let moose = if flags & 1 != 0 {
                Some(unicast_at(body, 8)?)
            } else if mac_at(body, 8).is_zero() {
                None
            } else {
                return Err(ProtoError::Flags);
            };
            Message::Answer(Answer {
                id: u32::from_be_bytes(body[0..4].try_into().unwrap()),
                vlan: vlan_at(body, 4, len)?,
                ip,
                moose,
            })
        }
        t => return Err(ProtoError::Type(t)),
    };
    Ok((m, auth))
}

/// Decodes a message, ignoring any authentication trailer.
pub fn parse(payload: &[u8]) -> Result<Message, ProtoError> {
    parse_auth(payload).map(|(m, _)| m)
}

fn header(out: &mut Vec<u8>, ty: u8, len: usize) {
    out.extend_from_slice(&[VERSION, ty]);
    out.extend_from_slice(&(len as u16).to_be_bytes());
}

/// Appends `m` (header and body, no Ethernet header, no trailer) to
/// `out`. Lists longer than the protocol allows are cut to its limits.
pub fn emit(m: &Message, out: &mut Vec<u8>) {
    match m {
        Message::HomeHello(h) => {
            header(out, TYPE_HOME_HELLO, HOME_HELLO_LEN);
            out.extend_from_slice(&h.prefix.addr().0);
            out.extend_from_slice(&[h.prefix.len(), 0]);
            out.extend_from_slice(&h.port.to_be_bytes());
            out.extend_from_slice(&h.hold_ms.to_be_bytes());
        }
        Message::FabricHello(h) => {
            let heard = &h.heard[..h.heard.len().min(MAX_HEARD)];
            header(out, TYPE_FABRIC_HELLO, FABRIC_HELLO_LEN + 8 * heard.len());
            out.extend_from_slice(&h.switch_id.0);
            out.extend_from_slice(&h.prefix.addr().0);
            out.push(h.prefix.len());
            out.push(u8::from(h.tree) | u8::from(h.auto_prefix) << 1);
            out.extend_from_slice(&h.port.to_be_bytes());
            out.extend_from_slice(&h.hello_ms.to_be_bytes());
            out.extend_from_slice(&h.dead_ms.to_be_bytes());
            out.extend_from_slice(&h.tree_digest.to_be_bytes());
            out.extend_from_slice(&[0, heard.len() as u8]);
            for (id, port) in heard {
                out.extend_from_slice(&id.0);
                out.extend_from_slice(&port.to_be_bytes());
            }
        }
        Message::Advert(a) => {
            let links = &a.links[..a.links.len().min(MAX_LINKS)];
            header(out, TYPE_ADVERT, ADVERT_LEN + LINK_LEN * links.len());
            out.extend_from_slice(&a.origin.0);
            out.extend_from_slice(&a.seq.to_be_bytes());
            out.extend_from_slice(&a.age_s.to_be_bytes());
            out.extend_from_slice(&a.prefix.addr().0);
            out.push(a.prefix.len());
            out.push(u8::from(a.auto_prefix) | u8::from(a.directory) << 1);
            out.extend_from_slice(&[0; 4]);
            for l in links {
                out.extend_from_slice(&l.neighbor.0);
                out.extend_from_slice(&l.cost.to_be_bytes());
                out.extend_from_slice(&l.port.to_be_bytes());
                out.extend_from_slice(&l.neighbor_port.to_be_bytes());
            }
        }
        Message::Host(h) => {
            let a = &h.ipv4[..h.ipv4.len().min(MAX_HOST_ADDRS)];
            let b = &h.ipv6[..h.ipv6.len().min(MAX_HOST_ADDRS)];
            header(out, TYPE_HOST, HOST_LEN + 4 * a.len() + 16 * b.len());
            out.extend_from_slice(&h.origin.0);
            out.extend_from_slice(&h.seq.to_be_bytes());
            out.extend_from_slice(&h.vlan.to_be_bytes());
            out.extend_from_slice(&h.real.0);
            out.extend_from_slice(&h.moose.0);
            out.extend_from_slice(&[0, a.len() as u8, b.len() as u8, 0]);
            for x in a {
                out.extend_from_slice(&x.octets());
            }
            for x in b {
                out.extend_from_slice(&x.octets());
            }
        }
        Message::Binding(b) => {
            let (fam, n) = family(&b.ip);
            header(out, TYPE_BINDING, BINDING_LEN + n);
            out.extend_from_slice(&b.origin.0);
            out.extend_from_slice(&b.seq.to_be_bytes());
            out.extend_from_slice(&b.vlan.to_be_bytes());
            out.extend_from_slice(&[fam, u8::from(b.withdrawn), b.source as u8, 0]);
            out.extend_from_slice(&b.moose.0);
            push_ip(out, &b.ip);
        }
        Message::Query(q) => {
            let (fam, n) = family(&q.ip);
            header(out, TYPE_QUERY, QUERY_LEN + n);
            out.extend_from_slice(&q.id.to_be_bytes());
            out.extend_from_slice(&q.vlan.to_be_bytes());
            out.extend_from_slice(&[fam, 0]);
            push_ip(out, &q.ip);
        }
        Message::Answer(a) => {
            let (fam, n) = family(&a.ip);
            header(out, TYPE_ANSWER, ANSWER_LEN + n);
            out.extend_from_slice(&a.id.to_be_bytes());
            out.extend_from_slice(&a.vlan.to_be_bytes());
            out.extend_from_slice(&[fam, u8::from(a.moose.is_some())]);
            out.extend_from_slice(&a.moose.unwrap_or(Mac::ZERO).0);
            push_ip(out, &a.ip);
        }
        Message::Ack(ids) => {
            let ids = &ids[..ids.len().min(MAX_ACKS)];
            header(out, TYPE_ACK, ACK_LEN * ids.len());
            for id in ids {
                out.extend_from_slice(&id.origin.0);
                out.extend_from_slice(&id.seq.to_be_bytes());
            }
        }
    }
}

/// Marks the message `out[at..]` (as [`emit`] wrote it) authenticated
/// and appends the key id and counter of its trailer; returns the range
/// the HMAC covers (after the source address), to which the caller
/// appends the 32-byte HMAC.
pub fn begin_trailer(
    out: &mut Vec<u8>,
    at: usize,
    key_id: u8,
    counter: u64,
) -> std::ops::Range<usize> {
    out[at + 1] |= AUTHENTICATED;
    out.push(key_id);
    out.extend_from_slice(&counter.to_be_bytes());
    at..out.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> HomeHello {
        HomeHello {
            prefix: "02:11:11:00:00:00/24".parse().unwrap(),
            port: 3,
            hold_ms: 3500,
        }
    }

    #[test]
    fn round_trip_with_padding() {
        let mut b = Vec::new();
        emit(&Message::HomeHello(hello()), &mut b);
        assert_eq!(b.len(), HEADER_LEN + HOME_HELLO_LEN);
        b.resize(46, 0);
        assert_eq!(parse(&b), Ok(Message::HomeHello(hello())));
    }

    #[test]
    fn refuses_what_is_wrong() {
        let mut b = Vec::new();
        emit(&Message::HomeHello(hello()), &mut b);
        for n in 0..b.len() {
            assert_eq!(parse(&b[..n]), Err(ProtoError::Truncated), "{n} bytes");
        }
        let mut v = b.clone();
        v[0] = 2;
        assert_eq!(parse(&v), Err(ProtoError::Version(2)));
        let mut v = b.clone();
        v[1] = 9;
        assert_eq!(parse(&v), Err(ProtoError::Type(9)));
        let mut v = b.clone();
        v[3] = 11;
        assert_eq!(parse(&v), Err(ProtoError::Length(11)));
        let mut v = b.clone();
        v[HEADER_LEN + 7] = 1;
        assert_eq!(parse(&v), Err(ProtoError::Flags));
        let mut v = b.clone();
        v[HEADER_LEN + 5] = 1; // a host bit under /24
        assert_eq!(parse(&v), Err(ProtoError::Prefix));
    }

    #[test]
    fn lowest_prefix_then_port_ranks_first() {
        let a = hello();
        let b = HomeHello {
            prefix: "02:22:22:00:00:00/24".parse().unwrap(),
            port: 0,
            hold_ms: 3500,
        };
        assert!(a.rank() < b.rank());
        assert!(a.rank() < HomeHello { port: 4, ..a }.rank());
    }

    fn mac(s: &str) -> Mac {
        s.parse().unwrap()
    }

    fn fabric_hello() -> FabricHello {
        FabricHello {
            switch_id: mac("52:54:00:00:00:01"),
            prefix: "02:11:11:00:00:00/24".parse().unwrap(),
            port: 2,
            hello_ms: 100,
            dead_ms: 400,
            tree: true,
            auto_prefix: false,
            tree_digest: 0x0123_4567_89ab_cdef,
            heard: vec![(mac("52:54:00:00:00:02"), 0)],
        }
    }

    fn advert() -> Advert {
        Advert {
            origin: mac("52:54:00:00:00:01"),
            seq: 7,
            age_s: 3,
            prefix: "02:11:11:00:00:00/24".parse().unwrap(),
            auto_prefix: true,
            directory: false,
            links: vec![
                Link {
                    neighbor: mac("52:54:00:00:00:02"),
                    cost: 10,
                    port: 0,
                    neighbor_port: 1,
                },
                Link {
                    neighbor: mac("52:54:00:00:00:03"),
                    cost: 20,
                    port: 1,
                    neighbor_port: 0,
                },
            ],
        }
    }

    fn all() -> Vec<Message> {
        vec![
            Message::HomeHello(hello()),
            Message::Host(HostAnnounce {
                origin: mac("52:54:00:00:00:01"),
                seq: 3,
                vlan: 10,
                real: mac("00:16:3e:00:00:05"),
                moose: mac("02:11:11:00:00:07"),
                ipv4: vec!["10.0.0.5".parse().unwrap()],
                ipv6: vec!["fd00::5".parse().unwrap(), "fe80::5".parse().unwrap()],
            }),
            Message::Host(HostAnnounce {
                origin: mac("52:54:00:00:00:01"),
                seq: 4,
                vlan: 1,
                real: mac("00:16:3e:00:00:05"),
                moose: mac("02:11:11:00:00:07"),
                ipv4: Vec::new(),
                ipv6: Vec::new(),
            }),
            Message::FabricHello(fabric_hello()),
            Message::FabricHello(FabricHello {
                heard: Vec::new(),
                tree: false,
                auto_prefix: true,
                ..fabric_hello()
            }),
            Message::Advert(advert()),
            Message::Advert(Advert {
                links: Vec::new(),
                directory: true,
                ..advert()
            }),
            Message::Binding(Binding {
                origin: mac("52:54:00:00:00:01"),
                seq: 11,
                vlan: 10,
                ip: "10.0.0.5".parse().unwrap(),
                moose: mac("02:11:11:00:00:07"),
                source: BindingSource::Dhcp,
                withdrawn: false,
            }),
            Message::Binding(Binding {
                origin: mac("52:54:00:00:00:01"),
                seq: 12,
                vlan: 1,
                ip: "fd00::5".parse().unwrap(),
                moose: mac("02:11:11:00:00:07"),
                source: BindingSource::Nd,
                withdrawn: true,
            }),
            Message::Query(Query {
                id: 77,
                vlan: 4094,
                ip: "10.0.0.9".parse().unwrap(),
            }),
            Message::Query(Query {
                id: 78,
                vlan: 1,
                ip: "fd00::9".parse().unwrap(),
            }),
            Message::Answer(Answer {
                id: 77,
                vlan: 4094,
                ip: "10.0.0.9".parse().unwrap(),
                moose: Some(mac("02:22:22:00:00:01")),
            }),
            Message::Answer(Answer {
                id: 78,
                vlan: 1,
                ip: "fd00::9".parse().unwrap(),
                moose: None,
            }),
            Message::Ack(vec![
                advert().id(),
                AdvertId {
                    seq: 9,
                    ..advert().id()
                },
            ]),
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in all() {
            let mut b = Vec::new();
            emit(&m, &mut b);
            assert_eq!(parse_auth(&b), Ok((m.clone(), None)), "{m:?}");
            for n in 0..b.len() {
                assert!(parse(&b[..n]).is_err(), "{m:?} cut to {n}");
            }
            b.resize(b.len() + 20, 0);
            assert_eq!(parse(&b), Ok(m.clone()), "{m:?} padded");
        }
    }

    #[test]
    fn trailer_is_found_and_must_be_whole() {
        for m in all() {
            let mut b = Vec::new();
            emit(&m, &mut b);
            let signed = begin_trailer(&mut b, 0, 3, 0x1122_3344_5566_7788);
            b.extend_from_slice(&[0xab; 32]);
            let (got, auth) = parse_auth(&b).unwrap();
            assert_eq!(got, m);
            let auth = auth.expect("trailer");
            assert_eq!(auth.key_id, 3);
            assert_eq!(auth.counter, 0x1122_3344_5566_7788);
            assert_eq!(auth.mac, &[0xab; 32]);
            assert_eq!(auth.signed, &b[signed]);
            assert_eq!(parse(&b[..b.len() - 1]), Err(ProtoError::Truncated));
        }
    }

    #[test]
    fn refuses_bad_directory_messages() {
        let q = Message::Query(Query {
            id: 1,
            vlan: 10,
            ip: "10.0.0.1".parse().unwrap(),
        });
        let mut b = Vec::new();
        emit(&q, &mut b);
        let mut v = b.clone();
        v[HEADER_LEN + 6] = 6; // says IPv6, carries four bytes
        assert_eq!(parse(&v), Err(ProtoError::Length(12)));
        let mut v = b.clone();
        v[HEADER_LEN + 6] = 5;
        assert_eq!(parse(&v), Err(ProtoError::Flags));
        let mut v = b.clone();
        v[HEADER_LEN + 4..HEADER_LEN + 6].copy_from_slice(&4095u16.to_be_bytes());
        assert!(matches!(parse(&v), Err(ProtoError::Length(_))));

        let a = Message::Answer(Answer {
            id: 1,
            vlan: 10,
            ip: "10.0.0.1".parse().unwrap(),
            moose: None,
        });
        let mut b = Vec::new();
        emit(&a, &mut b);
        let mut v = b.clone();
        v[HEADER_LEN + 8] = 2; // not found, yet an address
        assert_eq!(parse(&v), Err(ProtoError::Flags));
        let mut v = b.clone();
        v[HEADER_LEN + 7] = 1; // found, the zero address
        assert_eq!(parse(&v), Err(ProtoError::Flags));

        let bd = Message::Binding(Binding {
            origin: mac("52:54:00:00:00:01"),
            seq: 1,
            vlan: 10,
            ip: "10.0.0.1".parse().unwrap(),
            moose: mac("02:11:11:00:00:07"),
            source: BindingSource::Arp,
            withdrawn: false,
        });
        let mut b = Vec::new();
        emit(&bd, &mut b);
        for (at, val) in [(13, 2), (14, 0), (14, 5), (15, 1), (16, 1)] {
            let mut v = b.clone();
            v[HEADER_LEN + at] = val;
            assert_eq!(parse(&v), Err(ProtoError::Flags), "byte {at} = {val}");
        }
    }

    #[test]
    fn refuses_bad_fabric_messages() {
        let mut b = Vec::new();
        emit(&Message::FabricHello(fabric_hello()), &mut b);
        let mut v = b.clone();
        v[HEADER_LEN + 29] = 2; // claims two neighbours, carries one
        assert_eq!(parse(&v), Err(ProtoError::Length(38)));
        let mut v = b.clone();
        v[HEADER_LEN + 13] = 4;
        assert_eq!(parse(&v), Err(ProtoError::Flags));
        let mut v = b.clone();
        v[HEADER_LEN] = 1; // multicast switch id
        assert_eq!(parse(&v), Err(ProtoError::SwitchId));

        let mut b = Vec::new();
        emit(&Message::Advert(advert()), &mut b);
        let mut v = b.clone();
        v[3] -= 1; // a link cut short
        assert!(matches!(parse(&v), Err(ProtoError::Length(_))));
        let mut v = b.clone();
        v[HEADER_LEN + 20] = 1;
        assert_eq!(parse(&v), Err(ProtoError::Flags));

        let mut v = vec![VERSION, TYPE_ACK, 0, 0];
        assert_eq!(parse(&v), Err(ProtoError::Length(0)));
        v[2..4].copy_from_slice(&(1500u16).to_be_bytes());
        v.resize(1600, 0);
        assert_eq!(parse(&v), Err(ProtoError::Oversize));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_auth(&b);
        }

        #[test]
        fn adverts_round_trip(
            seq: u32, age: u16, cost: u16,
            n in 0usize..=MAX_LINKS,
        ) {
            let a = Advert {
                seq,
                age_s: age,
                links: (0..n).map(|i| Link {
                    neighbor: Mac::from_u64(0x5254_0000_0000 + i as u64 + 1),
                    cost,
                    port: i as u16,
                    neighbor_port: (n - i) as u16,
                }).collect(),
                ..advert()
            };
            let mut b = Vec::new();
            emit(&Message::Advert(a.clone()), &mut b);
            proptest::prop_assert_eq!(parse(&b), Ok(Message::Advert(a)));
        }
    }
}
