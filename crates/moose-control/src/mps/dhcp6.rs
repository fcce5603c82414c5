//! DHCPv6 link-layer address assignment (RFC 8947, with RFC 8948's SLAP
//! quadrant option): the codec in front of the MAC provider service. It
//! reads what a client — or a relay agent on its behalf — sends to UDP port
//! 547 ([`parse`]) and writes the server's Advertise or Reply ([`build`]).
//! Pure: no I/O, no clock, no state. What to grant is the service's call;
//! this module only says what was asked and encodes the answer.
//!
//! No mainstream DHCP server implements IA_LL, and dhcproto has no type for
//! it, so the whole message is read here by hand: every field through a
//! bounds-checked cursor, every option length checked against what
//! holds it. Untrusted bytes give a [`Dhcp6Error`] naming what is wrong
//! (with a [`reason`](Dhcp6Error::reason) for a metric label), never a
//! panic.
//!
//! # Wire formats
//!
//! All integers are big-endian.
//!
//! * **Client and server messages** (RFC 8415 §8): `msg-type` (1 octet),
//!   `transaction-id` (3), options.
//! * **Relay agent messages** (RFC 8415 §9): `msg-type` Relay-Forw (12) or
//!   Relay-Repl (13), `hop-count` (1), `link-address` (16), `peer-address`
//!   (16), options. The message relayed is the body of a Relay Message
//!   option (9, §21.10), itself a client message or another Relay-Forw.
//! * **Options** (RFC 8415 §21.1): `option-code` (2), `option-len` (2),
//!   `option-len` octets.
//! * **Client / Server Identifier** (1, 2; §21.2, §21.3): a DUID (§11),
//!   here 3 to [`MAX_DUID`] (130) octets: a 2-octet type and at most 128
//!   octets (§11.1).
//! * **Status Code** (13, §21.13): `status-code` (2), a UTF-8 message.
//! * **Rapid Commit** (14, §21.14): empty.
//! * **Interface-Id** (18, §21.18): opaque, set by a relay agent, echoed
//!   by the server in its Relay-Repl (§19.3).
//! * **IA_LL** (138, RFC 8947 "Option Definitions"): `IAID` (4), `T1`
//!   (4), `T2` (4), then the IA_LL-options: LLADDR options, a Status Code,
//!   RFC 8948's quadrant option.
//! * **LLADDR** (139, RFC 8947 "Option Definitions"): `link-layer-type`
//!   (2, an ARP hardware type; 1 = Ethernet), `link-layer-len` (2),
//!   `link-layer-address` (`link-layer-len` octets; the first address of a
//!   block), `extra-addresses` (4: how many addresses follow the first in
//!   the block), `valid-lifetime` (4, seconds; [`INFINITY`] = forever),
//!   LLaddr-options (none defined; walked, ignored).
//! * **SLAP quadrant** (140, RFC 8948): pairs of `quadrant` (1: 0 AAI,
//!   1 ELI, 2 reserved, 3 SAI) and `preference` (1, higher is preferred).
//!   It belongs in an IA_LL's options, or in a Relay-Forw.
//!
//! # What is accepted
//!
//! * **Message types**: the eight a client sends ([`Kind`]), possibly
//!   inside up to [`HOP_COUNT_LIMIT`] (32, RFC 8415 §7.6) Relay-Forw
//!   layers. A server's message (Advertise, Reply, Reconfigure,
//!   Relay-Repl) is [`Dhcp6Error::ServerMessage`]; anything else
//!   (Leasequery, DHCPv4-over-DHCPv6, unassigned) [`Dhcp6Error::UnknownType`].
//! * **Identifiers** (RFC 8415 §16): a Client Identifier is required but
//!   in an Information-request (§18.2.6 makes it optional there; the
//!   client id is then empty). Request, Renew, Decline and Release must
//!   carry a Server Identifier; Solicit, Confirm and Rebind must not
//!   (§16.2, §16.5, §16.7). Whether the Server Identifier is *ours* the
//!   caller checks: the codec does not know the server's DUID.
//! * **IA_LL**: at most [`MAX_IA_LL`] (16) per message, IAIDs distinct
//!   (RFC 8947: "each must have a unique IAID"), none in an
//!   Information-request (§16.12). Every IA_LL must hold an LLADDR, in
//!   every message type: RFC 8947 says so for the Solicit ("The IA_LL
//!   option MUST contain an LLADDR option"), the Request copies the
//!   Advertise's, and in Renew, Rebind, Release, Decline and Confirm the
//!   LLADDR is what names the addresses; an IA_LL without one would ask
//!   nothing this service can answer. moose assigns one address per
//!   IA_LL, so the first LLADDR is read and any further LLADDRs of the
//!   same IA_LL are checked but not returned. Only Ethernet addresses
//!   (type 1, 6 octets) are served; an all-zero address is "no hint"
//!   (`addr: None`).
//! * **Quadrants** (RFC 8948): the client's own (from the first IA_LL that
//!   has the option, even an empty one: no preference), else the innermost
//!   relay agent's (the one nearest the client). One at the top level of a client message is not where RFC
//!   8948 puts it and is ignored. Pairs are kept in the order sent; a
//!   repeated quadrant is dropped, as RFC 8948 says only its first
//!   occurrence counts. A quadrant above 3 cannot exist (two bits) and is
//!   refused.
//! * **Ignored**: every other option (IA_NA, IA_TA, IA_PD, ORO, Elapsed
//!   Time, Vendor Class, ...). The MAC provider assigns link-layer
//!   addresses only.
//! * **Singletons**: a Client or Server Identifier, Rapid Commit,
//!   Interface-Id, Relay Message or quadrant option given twice where one
//!   is allowed is [`Dhcp6Error::Duplicate`].
//!
//! # Timers
//!
//! T1 and T2 in a client's IA_LL are returned as sent (RFC 8947 has the
//! server treat T1 > T2 as 0, 0; the service chooses its own anyway). The
//! service answers with [`timers`]: for a finite valid lifetime L, T1 =
//! L/2 and T2 = L·4/5 — the client renews halfway through and rebinds
//! with time left for another server to answer; for an [`INFINITY`]
//! lifetime T1 = T2 = [`INFINITY`]: the address is the client's for good
//! and it never renews (RFC 8415 §7.7, §14.2).
//!
//! # Replies
//!
//! [`build`] mirrors RFC 8415 §18.3: message type, the client's
//! transaction id, Server Identifier, Client Identifier, Rapid Commit (a
//! rapid-commit Solicit answered with a Reply, §18.3.1), one IA_LL per
//! answer — an LLADDR for an address granted, a Status Code inside the
//! IA_LL otherwise — and an optional top-level Status Code; then one
//! Relay-Repl per Relay-Forw the request came through, innermost first,
//! each with its hop count, link and peer address and its Interface-Id
//! (§19.3).

use std::net::Ipv6Addr;

use moose_wire::Mac;

/// The UDP port clients listen on (RFC 8415 §7.2).
pub const CLIENT_PORT: u16 = 546;
/// The UDP port servers and relay agents listen on (RFC 8415 §7.2).
pub const SERVER_PORT: u16 = 547;

/// Client Identifier (RFC 8415 §21.2).
pub const OPTION_CLIENTID: u16 = 1;
/// Server Identifier (RFC 8415 §21.3).
pub const OPTION_SERVERID: u16 = 2;
/// Relay Message (RFC 8415 §21.10).
pub const OPTION_RELAY_MSG: u16 = 9;
/// Status Code (RFC 8415 §21.13).
pub const OPTION_STATUS_CODE: u16 = 13;
/// Rapid Commit (RFC 8415 §21.14).
pub const OPTION_RAPID_COMMIT: u16 = 14;
/// Interface-Id (RFC 8415 §21.18).
pub const OPTION_INTERFACE_ID: u16 = 18;
/// Identity Association for Link-Layer Addresses (RFC 8947).
pub const OPTION_IA_LL: u16 = 138;
/// Link-layer address (block) (RFC 8947).
pub const OPTION_LLADDR: u16 = 139;
/// SLAP quadrant preferences (RFC 8948).
pub const OPTION_SLAP_QUAD: u16 = 140;

/// A lifetime (or T1, T2) that never ends (RFC 8415 §7.7).
pub const INFINITY: u32 = 0xffff_ffff;
/// The most relay agents a message may have passed (RFC 8415 §7.6).
pub const HOP_COUNT_LIMIT: usize = 32;
/// The most IA_LL options read from one message.
pub const MAX_IA_LL: usize = 16;
/// The longest DUID: a 2-octet type and at most 128 octets (RFC 8415
/// §11.1).
pub const MAX_DUID: usize = 130;
/// The shortest DUID accepted: a type and at least one octet.
pub const MIN_DUID: usize = 3;
/// The longest Interface-Id accepted. RFC 8415 sets no bound; relay agents
/// put an interface name or a short circuit id there.
pub const MAX_INTERFACE_ID: usize = 255;
/// Status messages [`build`] writes are cut to this many octets (at a
/// character boundary): they are for people, and a bound keeps every
/// option length within 16 bits.
pub const MAX_STATUS_MESSAGE: usize = 255;
/// ARP hardware type of Ethernet, the only link layer served.
pub const LINK_TYPE_ETHERNET: u16 = 1;

const ADVERTISE: u8 = 2;
const REPLY: u8 = 7;
const RECONFIGURE: u8 = 10;
const RELAY_FORW: u8 = 12;
const RELAY_REPL: u8 = 13;
/// DUID-LL (RFC 8415 §11.4).
const DUID_LL: u16 = 3;

/// Status codes (RFC 8415 §21.13).
pub mod status {
    pub const SUCCESS: u16 = 0;
    pub const UNSPEC_FAIL: u16 = 1;
    pub const NO_ADDRS_AVAIL: u16 = 2;
    pub const NO_BINDING: u16 = 3;
    pub const NOT_ON_LINK: u16 = 4;
    pub const USE_MULTICAST: u16 = 5;
}

/// The message types a client sends (RFC 8415 §7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Solicit,
    Request,
    Confirm,
    Renew,
    Rebind,
    Release,
    Decline,
    InformationRequest,
}

impl Kind {
    /// The `msg-type` octet.
    pub fn code(self) -> u8 {
        match self {
            Kind::Solicit => 1,
            Kind::Request => 3,
            Kind::Confirm => 4,
            Kind::Renew => 5,
            Kind::Rebind => 6,
            Kind::Release => 8,
            Kind::Decline => 9,
            Kind::InformationRequest => 11,
        }
    }

    /// The client message type of a `msg-type` octet; a server's type or
    /// any other is refused.
    pub fn from_code(code: u8) -> Result<Kind, Dhcp6Error> {
        Ok(match code {
            1 => Kind::Solicit,
            3 => Kind::Request,
            4 => Kind::Confirm,
            5 => Kind::Renew,
            6 => Kind::Rebind,
            8 => Kind::Release,
            9 => Kind::Decline,
            11 => Kind::InformationRequest,
            ADVERTISE | REPLY | RECONFIGURE | RELAY_REPL => {
                return Err(Dhcp6Error::ServerMessage(code))
            }
            _ => return Err(Dhcp6Error::UnknownType(code)),
        })
    }

    /// Whether RFC 8415 §16 requires a Server Identifier (`Some(true)`),
    /// forbids one (`Some(false)`), or leaves it to the client (`None`).
    fn server_id_rule(self) -> Option<bool> {
        match self {
            Kind::Request | Kind::Renew | Kind::Decline | Kind::Release => Some(true),
            Kind::Solicit | Kind::Confirm | Kind::Rebind => Some(false),
            Kind::InformationRequest => None,
        }
    }
}

/// One IA_LL of a client message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LlAsk {
    pub iaid: u32,
    pub t1: u32,
    pub t2: u32,
    /// the LLADDR's address as hint/held address; None when it is all zeros
    pub addr: Option<Mac>,
    /// The LLADDR's `extra-addresses`: how many addresses the block has
    /// beyond the first, as sent.
    pub extra: u32,
    /// The LLADDR's `valid-lifetime`, as sent: the client's wish in a
    /// Solicit or Request, what it holds in a Renew or Rebind.
    pub valid: u32,
}

/// A Relay-Forw layer the message came through (outermost first in ClientMsg::relays).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relay {
    pub hop_count: u8,
    pub link: Ipv6Addr,
    pub peer: Ipv6Addr,
    pub interface_id: Option<Vec<u8>>,
}

/// A client message, unwrapped from its relay layers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientMsg {
    pub kind: Kind,
    pub xid: [u8; 3],
    /// The client's DUID; empty only in an Information-request that
    /// carried none.
    pub client_id: Vec<u8>,
    pub server_id: Option<Vec<u8>>,
    pub rapid_commit: bool,
    pub ia_ll: Vec<LlAsk>,
    /// RFC 8948 SLAP quadrant preferences (quadrant 0..=3, preference), as sent
    /// (in the order sent, a repeated quadrant dropped; see the module
    /// documentation for whose option this is).
    pub quadrants: Vec<(u8, u8)>,
    pub relays: Vec<Relay>,
}

macro_rules! reasons {
    ($($pat:pat => $label:literal,)*) => {
        impl Dhcp6Error {
            /// A short snake_case name for a metric label, e.g.
            /// "truncated", "bad_length", "unknown_type",
            /// "ia_ll_without_lladdr".
            pub fn reason(&self) -> &'static str {
                match self {
                    $($pat => $label,)*
                }
            }

            /// Every [`reason`](Dhcp6Error::reason), to register the
            /// labels up front.
            pub const REASONS: &'static [&'static str] = &[$($label,)*];
        }
    };
}

/// Why a UDP payload is not a client message this codec reads.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Dhcp6Error {
    /// The message, a relay header, or an option is shorter than its header
    /// or than the length it declares.
    #[error("truncated: a header or an option runs past the end")]
    Truncated,
    /// An option whose length is wrong for its format: an IA_LL under 12
    /// octets, an LLADDR shorter than its fields or with a
    /// `link-layer-len` other than 6 (then `len` is that field), a DUID
    /// outside 3..=130 octets, a non-empty Rapid Commit, a quadrant option
    /// of odd length, an Interface-Id over 255 octets.
    #[error("option {option}: length {len} is wrong for its format")]
    BadLength { option: u16, len: usize },
    /// A `msg-type` no client sends and that is no relay message.
    #[error("message type {0} is not one a client sends")]
    UnknownType(u8),
    /// A server's message (Advertise, Reply, Reconfigure, Relay-Repl) sent
    /// to the server port.
    #[error("message type {0} is a server's")]
    ServerMessage(u8),
    /// An IA_LL with no LLADDR option in it.
    #[error("IA_LL {iaid:#010x} has no LLADDR option")]
    IaLlWithoutLladdr { iaid: u32 },
    /// No Client Identifier, where RFC 8415 §16 requires one.
    #[error("no client identifier")]
    NoClientId,
    /// No Server Identifier in a Request, Renew, Decline or Release.
    #[error("no server identifier")]
    NoServerId,
    /// A Server Identifier in a Solicit, Confirm or Rebind.
    #[error("a server identifier in a message that must not have one")]
    UnexpectedServerId,
    /// An option that may appear once appeared again.
    #[error("option {0} appears twice")]
    Duplicate(u16),
    /// Two IA_LLs with the same IAID.
    #[error("IAID {0:#010x} appears twice")]
    DuplicateIaid(u32),
    /// More than [`MAX_IA_LL`] IA_LL options.
    #[error("more than {MAX_IA_LL} IA_LL options")]
    TooManyIaLl,
    /// An IA_LL in an Information-request (RFC 8415 §16.12).
    #[error("an IA_LL in an information-request")]
    IaLlInInformationRequest,
    /// More than [`HOP_COUNT_LIMIT`] Relay-Forw layers.
    #[error("more than {HOP_COUNT_LIMIT} relay layers")]
    TooManyRelays,
    /// A Relay-Forw without a Relay Message option.
    #[error("a relay-forward without a relay message")]
    NoRelayMessage,
    /// An LLADDR of a link layer other than Ethernet (type 1).
    #[error("link-layer type {0} is not Ethernet")]
    BadLinkType(u16),
    /// A quadrant identifier above 3.
    #[error("quadrant {0} does not exist")]
    BadQuadrant(u8),
}

reasons! {
    Dhcp6Error::Truncated => "truncated",
    Dhcp6Error::BadLength { .. } => "bad_length",
    Dhcp6Error::UnknownType(_) => "unknown_type",
    Dhcp6Error::ServerMessage(_) => "server_message",
    Dhcp6Error::IaLlWithoutLladdr { .. } => "ia_ll_without_lladdr",
    Dhcp6Error::NoClientId => "no_client_id",
    Dhcp6Error::NoServerId => "no_server_id",
    Dhcp6Error::UnexpectedServerId => "unexpected_server_id",
    Dhcp6Error::Duplicate(_) => "duplicate_option",
    Dhcp6Error::DuplicateIaid(_) => "duplicate_iaid",
    Dhcp6Error::TooManyIaLl => "too_many_ia_ll",
    Dhcp6Error::IaLlInInformationRequest => "ia_ll_in_information_request",
    Dhcp6Error::TooManyRelays => "too_many_relays",
    Dhcp6Error::NoRelayMessage => "no_relay_message",
    Dhcp6Error::BadLinkType(_) => "bad_link_type",
    Dhcp6Error::BadQuadrant(_) => "bad_quadrant",
}

/// Big-endian fields read off the front of untrusted bytes; a read past
/// the end is `None` (→ [`Dhcp6Error::Truncated`]), never a panic.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn rest(self) -> &'a [u8] {
        self.0
    }
}

/// The options of an options area (RFC 8415 §21.1) as (code, body); an
/// option that does not fit ends the walk with [`Dhcp6Error::Truncated`].
struct Options<'a> {
    rest: Cursor<'a>,
}

fn options(area: &[u8]) -> Options<'_> {
    Options { rest: Cursor(area) }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<(u16, &'a [u8]), Dhcp6Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.0.is_empty() {
            return None;
        }
        let item = (|| {
            let code = self.rest.u16()?;
            let len = self.rest.u16()?;
            Some((code, self.rest.take(usize::from(len))?))
        })();
        if item.is_none() {
            // Fused: nothing after a broken option is read.
            self.rest = Cursor(&[]);
        }
        Some(item.ok_or(Dhcp6Error::Truncated))
    }
}

/// Sets a singleton option's slot, refusing a second occurrence.
fn once<T>(slot: &mut Option<T>, code: u16, value: T) -> Result<(), Dhcp6Error> {
    if slot.is_some() {
        return Err(Dhcp6Error::Duplicate(code));
    }
    *slot = Some(value);
    Ok(())
}

fn duid(code: u16, body: &[u8]) -> Result<Vec<u8>, Dhcp6Error> {
    if !(MIN_DUID..=MAX_DUID).contains(&body.len()) {
        return Err(Dhcp6Error::BadLength {
            option: code,
            len: body.len(),
        });
    }
    Ok(body.to_vec())
}

/// RFC 8948 (quadrant, preference) pairs.
type Quads = Vec<(u8, u8)>;

/// An RFC 8948 quadrant option's pairs, in order, later repeats of a
/// quadrant dropped.
fn quadrants(body: &[u8]) -> Result<Quads, Dhcp6Error> {
    if !body.len().is_multiple_of(2) {
        return Err(Dhcp6Error::BadLength {
            option: OPTION_SLAP_QUAD,
            len: body.len(),
        });
    }
    let mut out: Quads = Vec::with_capacity(4);
    for pair in body.chunks_exact(2) {
        let &[q, pref] = pair else { continue };
        if q > 3 {
            return Err(Dhcp6Error::BadQuadrant(q));
        }
        if !out.iter().any(|&(seen, _)| seen == q) {
            out.push((q, pref));
        }
    }
    Ok(out)
}

/// An LLADDR's body: (address, extra-addresses, valid-lifetime).
fn lladdr(body: &[u8]) -> Result<(Mac, u32, u32), Dhcp6Error> {
    let bad = |len| Dhcp6Error::BadLength {
        option: OPTION_LLADDR,
        len,
    };
    let mut c = Cursor(body);
    let (Some(kind), Some(alen)) = (c.u16(), c.u16()) else {
        return Err(bad(body.len()));
    };
    if kind != LINK_TYPE_ETHERNET {
        return Err(Dhcp6Error::BadLinkType(kind));
    }
    if alen != 6 {
        return Err(bad(usize::from(alen)));
    }
    let (Some(mac), Some(extra), Some(valid)) = (c.array::<6>(), c.u32(), c.u32()) else {
        return Err(bad(body.len()));
    };
    // LLaddr-options: none are defined, but they must be well formed.
    for o in options(c.rest()) {
        o?;
    }
    Ok((Mac(mac), extra, valid))
}

/// An IA_LL's body, and the quadrant option inside it if any.
fn ia_ll(body: &[u8]) -> Result<(LlAsk, Option<Quads>), Dhcp6Error> {
    let mut c = Cursor(body);
    let (Some(iaid), Some(t1), Some(t2)) = (c.u32(), c.u32(), c.u32()) else {
        return Err(Dhcp6Error::BadLength {
            option: OPTION_IA_LL,
            len: body.len(),
        });
    };
    let mut first = None;
    let mut quads = None;
    for o in options(c.rest()) {
        let (code, b) = o?;
        match code {
            OPTION_LLADDR => {
                let l = lladdr(b)?;
                first.get_or_insert(l);
            }
            OPTION_SLAP_QUAD => once(&mut quads, code, quadrants(b)?)?,
            _ => {}
        }
    }
    let (mac, extra, valid) = first.ok_or(Dhcp6Error::IaLlWithoutLladdr { iaid })?;
    let ask = LlAsk {
        iaid,
        t1,
        t2,
        addr: (mac != Mac::ZERO).then_some(mac),
        extra,
        valid,
    };
    Ok((ask, quads))
}

/// A Relay-Forw's header and options (after the type): the layer, the
/// message relayed, and the relay's quadrant option if any.
fn relay_forw(b: &[u8]) -> Result<(Relay, &[u8], Option<Quads>), Dhcp6Error> {
    let mut c = Cursor(b);
    let (Some(hop_count), Some(link), Some(peer)) = (c.u8(), c.array::<16>(), c.array::<16>())
    else {
        return Err(Dhcp6Error::Truncated);
    };
    let mut inner = None;
    let mut interface_id = None;
    let mut quads = None;
    for o in options(c.rest()) {
        let (code, body) = o?;
        match code {
            OPTION_RELAY_MSG => once(&mut inner, code, body)?,
            OPTION_INTERFACE_ID => {
                if body.len() > MAX_INTERFACE_ID {
                    return Err(Dhcp6Error::BadLength {
                        option: code,
                        len: body.len(),
                    });
                }
                once(&mut interface_id, code, body.to_vec())?
            }
            OPTION_SLAP_QUAD => once(&mut quads, code, quadrants(body)?)?,
            _ => {}
        }
    }
    let relay = Relay {
        hop_count,
        link: Ipv6Addr::from(link),
        peer: Ipv6Addr::from(peer),
        interface_id,
    };
    Ok((relay, inner.ok_or(Dhcp6Error::NoRelayMessage)?, quads))
}

/// Parses a UDP payload received on port 547: a client message, or
/// Relay-Forw layers around one (unwrapped, RFC 8415 §9, §19), keeping each
/// layer's hop count, link and peer address and Interface-Id option.
///
/// The layers are unwrapped in a loop, not by recursion: a deep nesting
/// costs no stack and stops at [`HOP_COUNT_LIMIT`].
pub fn parse(payload: &[u8]) -> Result<ClientMsg, Dhcp6Error> {
    let mut relays = Vec::new();
    let mut relay_quads = None;
    let mut msg = payload;
    loop {
        let (&code, rest) = msg.split_first().ok_or(Dhcp6Error::Truncated)?;
        if code != RELAY_FORW {
            return client_msg(Kind::from_code(code)?, rest, relays, relay_quads);
        }
        if relays.len() == HOP_COUNT_LIMIT {
            return Err(Dhcp6Error::TooManyRelays);
        }
        let (relay, inner, quads) = relay_forw(rest)?;
        relays.push(relay);
        if quads.is_some() {
            // Inner layers overwrite outer ones: the innermost relay is
            // the one nearest the client.
            relay_quads = quads;
        }
        msg = inner;
    }
}

/// A client message's transaction id and options (after the type), with
/// the layers it came through and their quadrant option.
fn client_msg(
    kind: Kind,
    b: &[u8],
    relays: Vec<Relay>,
    relay_quads: Option<Quads>,
) -> Result<ClientMsg, Dhcp6Error> {
    let mut c = Cursor(b);
    let xid = c.array::<3>().ok_or(Dhcp6Error::Truncated)?;
    let mut client_id = None;
    let mut server_id = None;
    let mut rapid = None;
    let mut ia = Vec::new();
    let mut quads = None;
    for o in options(c.rest()) {
        let (code, body) = o?;
        match code {
            OPTION_CLIENTID => once(&mut client_id, code, duid(code, body)?)?,
            OPTION_SERVERID => once(&mut server_id, code, duid(code, body)?)?,
            OPTION_RAPID_COMMIT => {
                if !body.is_empty() {
                    return Err(Dhcp6Error::BadLength {
                        option: code,
                        len: body.len(),
                    });
                }
                once(&mut rapid, code, ())?
            }
            OPTION_IA_LL => {
                if kind == Kind::InformationRequest {
                    return Err(Dhcp6Error::IaLlInInformationRequest);
                }
                if ia.len() == MAX_IA_LL {
                    return Err(Dhcp6Error::TooManyIaLl);
                }
                let (ask, q) = ia_ll(body)?;
                if ia.iter().any(|a: &LlAsk| a.iaid == ask.iaid) {
                    return Err(Dhcp6Error::DuplicateIaid(ask.iaid));
                }
                if quads.is_none() {
                    quads = q;
                }
                ia.push(ask);
            }
            _ => {}
        }
    }
    let client_id = match (client_id, kind) {
        (Some(id), _) => id,
        (None, Kind::InformationRequest) => Vec::new(),
        (None, _) => return Err(Dhcp6Error::NoClientId),
    };
    match (kind.server_id_rule(), &server_id) {
        (Some(true), None) => return Err(Dhcp6Error::NoServerId),
        (Some(false), Some(_)) => return Err(Dhcp6Error::UnexpectedServerId),
        _ => {}
    }
    Ok(ClientMsg {
        kind,
        xid,
        client_id,
        server_id,
        rapid_commit: rapid.is_some(),
        ia_ll: ia,
        quadrants: quads.or(relay_quads).unwrap_or_default(),
        relays,
    })
}

/// What the server gives one IA_LL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LlResult {
    /// An address (block): LLADDR `mac`, `extra` addresses beyond it
    /// (moose grants single addresses: 0), `valid` seconds; T1 and T2 of
    /// the IA_LL (see [`timers`]).
    Granted {
        mac: Mac,
        extra: u32,
        valid: u32,
        t1: u32,
        t2: u32,
    },
    /// No address: a Status Code in the IA_LL, T1 = T2 = 0.
    Status { code: u16, message: String },
}

/// The answer to one of the client's IA_LLs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IaLlAnswer {
    pub iaid: u32,
    pub result: LlResult,
}

/// The two messages a server answers a client with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    Advertise,
    Reply,
}

impl ReplyKind {
    /// The `msg-type` octet.
    pub fn code(self) -> u8 {
        match self {
            ReplyKind::Advertise => ADVERTISE,
            ReplyKind::Reply => REPLY,
        }
    }
}

/// T1 and T2 for a valid lifetime: (L/2, L·4/5), or ([`INFINITY`],
/// [`INFINITY`]) for an infinite one — never renew (see the module
/// documentation).
pub fn timers(valid: u32) -> (u32, u32) {
    if valid == INFINITY {
        return (INFINITY, INFINITY);
    }
    let l = u64::from(valid);
    // Both are below `valid`, so they fit.
    ((l / 2) as u32, (l * 4 / 5) as u32)
}

/// A DUID-LL (type 3, hardware type 1) for the server, from a MAC.
///
/// DUID-LL (RFC 8415 §11.4) rather than DUID-LLT: it carries no time, so
/// the server's identity stays the same across restarts without anything
/// stored.
pub fn server_duid(mac: Mac) -> Vec<u8> {
    let mut d = Vec::with_capacity(10);
    d.extend_from_slice(&DUID_LL.to_be_bytes());
    d.extend_from_slice(&LINK_TYPE_ETHERNET.to_be_bytes());
    d.extend_from_slice(&mac.0);
    d
}

/// Appends option `code` whose body `body` writes, and sets its length.
///
/// Callers bound what they write (see [`build`]) far below 65 535 octets;
/// the `min` only keeps a length field from wrapping.
fn put_option(out: &mut Vec<u8>, code: u16, body: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(&code.to_be_bytes());
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    body(out);
    let len = (out.len() - at - 2).min(usize::from(u16::MAX)) as u16;
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
}

/// At most `max` octets of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn put_status(out: &mut Vec<u8>, code: u16, message: &str) {
    put_option(out, OPTION_STATUS_CODE, |o| {
        o.extend_from_slice(&code.to_be_bytes());
        o.extend_from_slice(cut(message, MAX_STATUS_MESSAGE).as_bytes());
    });
}

/// Builds the server's answer to `msg` as a UDP payload: message type,
/// xid, Server Identifier (`server_duid`), Client Identifier (echoed),
/// Rapid Commit if it was a rapid-commit Solicit answered with a Reply, one
/// IA_LL per answer (T1/T2 from the [`LlResult::Granted`] result, or 0 for
/// a status; an LLADDR of link-layer-type 1, length 6, with the address,
/// extra-addresses and valid-lifetime; a Status Code inside the IA_LL for
/// a [`LlResult::Status`]), and `status` as a top-level Status Code if
/// given. If `msg.relays` is not empty, the message is wrapped in
/// Relay-Repl layers mirroring the Relay-Forw layers (the innermost relay's
/// innermost), each with the same hop count, link and peer address, and
/// the Interface-Id echoed if it was present (RFC 8415 §19.3).
///
/// The Client Identifier is left out when the message had none (an
/// Information-request may). Whatever `msg` holds, every length stays
/// within its field: DUIDs are cut to [`MAX_DUID`] octets, Interface-Ids
/// to [`MAX_INTERFACE_ID`], status messages to [`MAX_STATUS_MESSAGE`], and
/// at most [`MAX_IA_LL`] answers and [`HOP_COUNT_LIMIT`] relay layers are
/// written — bounds a parsed message never exceeds.
pub fn build(
    msg: &ClientMsg,
    kind: ReplyKind,
    server_duid: &[u8],
    answers: &[IaLlAnswer],
    status: Option<(u16, &str)>,
) -> Vec<u8> {
    let duid = |d: &[u8]| d.len().min(MAX_DUID);
    let mut out = Vec::with_capacity(128);
    out.push(kind.code());
    out.extend_from_slice(&msg.xid);
    put_option(&mut out, OPTION_SERVERID, |o| {
        o.extend_from_slice(&server_duid[..duid(server_duid)]);
    });
    if !msg.client_id.is_empty() {
        put_option(&mut out, OPTION_CLIENTID, |o| {
            o.extend_from_slice(&msg.client_id[..duid(&msg.client_id)]);
        });
    }
    if msg.kind == Kind::Solicit && msg.rapid_commit && kind == ReplyKind::Reply {
        put_option(&mut out, OPTION_RAPID_COMMIT, |_| {});
    }
    for a in answers.iter().take(MAX_IA_LL) {
        put_option(&mut out, OPTION_IA_LL, |o| {
            let (t1, t2) = match a.result {
                LlResult::Granted { t1, t2, .. } => (t1, t2),
                LlResult::Status { .. } => (0, 0),
            };
            o.extend_from_slice(&a.iaid.to_be_bytes());
            o.extend_from_slice(&t1.to_be_bytes());
            o.extend_from_slice(&t2.to_be_bytes());
            match &a.result {
                LlResult::Granted {
                    mac, extra, valid, ..
                } => put_option(o, OPTION_LLADDR, |l| {
                    l.extend_from_slice(&LINK_TYPE_ETHERNET.to_be_bytes());
                    l.extend_from_slice(&6u16.to_be_bytes());
                    l.extend_from_slice(&mac.0);
                    l.extend_from_slice(&extra.to_be_bytes());
                    l.extend_from_slice(&valid.to_be_bytes());
                }),
                LlResult::Status { code, message } => put_status(o, *code, message),
            }
        });
    }
    if let Some((code, message)) = status {
        put_status(&mut out, code, message);
    }
    let layers = &msg.relays[..msg.relays.len().min(HOP_COUNT_LIMIT)];
    for r in layers.iter().rev() {
        let mut wrapped = Vec::with_capacity(out.len() + 64);
        wrapped.push(RELAY_REPL);
        wrapped.push(r.hop_count);
        wrapped.extend_from_slice(&r.link.octets());
        wrapped.extend_from_slice(&r.peer.octets());
        if let Some(id) = &r.interface_id {
            put_option(&mut wrapped, OPTION_INTERFACE_ID, |o| {
                o.extend_from_slice(&id[..id.len().min(MAX_INTERFACE_ID)]);
            });
        }
        put_option(&mut wrapped, OPTION_RELAY_MSG, |o| {
            o.extend_from_slice(&out)
        });
        out = wrapped;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const XID: [u8; 3] = [0x12, 0x34, 0x56];
    /// DUID-LL of 02:00:00:00:00:01.
    const CLIENT: &[u8] = &[0, 3, 0, 1, 2, 0, 0, 0, 0, 1];
    const HINT: Mac = Mac([0x0a, 0, 0, 0, 0, 0x42]);

    fn server() -> Vec<u8> {
        server_duid(Mac([2, 0, 0, 0, 0, 0xfe]))
    }

    fn opt(code: u16, body: &[u8]) -> Vec<u8> {
        let mut o = code.to_be_bytes().to_vec();
        o.extend_from_slice(&(body.len() as u16).to_be_bytes());
        o.extend_from_slice(body);
        o
    }

    fn lladdr_body(kind: u16, addr: &[u8], extra: u32, valid: u32) -> Vec<u8> {
        let mut b = kind.to_be_bytes().to_vec();
        b.extend_from_slice(&(addr.len() as u16).to_be_bytes());
        b.extend_from_slice(addr);
        b.extend_from_slice(&extra.to_be_bytes());
        b.extend_from_slice(&valid.to_be_bytes());
        b
    }

    fn lladdr_opt(mac: Mac, extra: u32, valid: u32) -> Vec<u8> {
        opt(OPTION_LLADDR, &lladdr_body(1, &mac.0, extra, valid))
    }

    fn ia_ll_opt(iaid: u32, t1: u32, t2: u32, inner: &[Vec<u8>]) -> Vec<u8> {
        let mut b = iaid.to_be_bytes().to_vec();
        b.extend_from_slice(&t1.to_be_bytes());
        b.extend_from_slice(&t2.to_be_bytes());
        for i in inner {
            b.extend_from_slice(i);
        }
        opt(OPTION_IA_LL, &b)
    }

    fn message(kind: u8, opts: &[Vec<u8>]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&XID);
        for o in opts {
            m.extend_from_slice(o);
        }
        m
    }

    fn relay_forw(
        hop: u8,
        link: Ipv6Addr,
        peer: Ipv6Addr,
        iid: Option<&[u8]>,
        inner: &[u8],
    ) -> Vec<u8> {
        let mut m = vec![RELAY_FORW, hop];
        m.extend_from_slice(&link.octets());
        m.extend_from_slice(&peer.octets());
        if let Some(i) = iid {
            m.extend(opt(OPTION_INTERFACE_ID, i));
        }
        m.extend(opt(OPTION_RELAY_MSG, inner));
        m
    }

    fn solicit(inner: &[Vec<u8>]) -> Vec<u8> {
        message(
            1,
            &[opt(1, CLIENT), opt(8, &[0, 0]), ia_ll_opt(7, 0, 0, inner)],
        )
    }

    fn granted(iaid: u32, mac: Mac, valid: u32) -> IaLlAnswer {
        let (t1, t2) = timers(valid);
        IaLlAnswer {
            iaid,
            result: LlResult::Granted {
                mac,
                extra: 0,
                valid,
                t1,
                t2,
            },
        }
    }

    // A reader of server messages, for the tests only: written with plain
    // slicing and independent of the codec, it panics on anything but a
    // well-formed reply.

    #[derive(Debug, PartialEq, Eq)]
    struct ReplyLayer {
        hop: u8,
        link: Ipv6Addr,
        peer: Ipv6Addr,
        iid: Option<Vec<u8>>,
    }

    #[derive(Debug, PartialEq, Eq)]
    struct IaLlOut {
        iaid: u32,
        t1: u32,
        t2: u32,
        /// (type, len, address, extra, valid)
        lladdr: Vec<(u16, u16, Mac, u32, u32)>,
        status: Option<(u16, String)>,
    }

    #[derive(Debug, PartialEq, Eq)]
    struct Decoded {
        relays: Vec<ReplyLayer>,
        kind: u8,
        xid: [u8; 3],
        server_id: Option<Vec<u8>>,
        client_id: Option<Vec<u8>>,
        rapid: bool,
        ia_ll: Vec<IaLlOut>,
        status: Option<(u16, String)>,
    }

    fn be16(b: &[u8]) -> u16 {
        u16::from_be_bytes([b[0], b[1]])
    }

    fn be32(b: &[u8]) -> u32 {
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    fn walk(mut b: &[u8]) -> Vec<(u16, &[u8])> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let (code, len) = (be16(b), usize::from(be16(&b[2..])));
            out.push((code, &b[4..4 + len]));
            b = &b[4 + len..];
        }
        out
    }

    fn status_of(b: &[u8]) -> (u16, String) {
        (be16(b), String::from_utf8(b[2..].to_vec()).unwrap())
    }

    fn decode_reply(mut b: &[u8]) -> Decoded {
        let mut relays = Vec::new();
        while b[0] == RELAY_REPL {
            let mut layer = ReplyLayer {
                hop: b[1],
                link: Ipv6Addr::from(<[u8; 16]>::try_from(&b[2..18]).unwrap()),
                peer: Ipv6Addr::from(<[u8; 16]>::try_from(&b[18..34]).unwrap()),
                iid: None,
            };
            let mut inner = None;
            for (code, body) in walk(&b[34..]) {
                match code {
                    OPTION_INTERFACE_ID => layer.iid = Some(body.to_vec()),
                    OPTION_RELAY_MSG => inner = Some(body),
                    other => panic!("option {other} in a Relay-Repl"),
                }
            }
            relays.push(layer);
            b = inner.expect("a relay message");
        }
        let mut d = Decoded {
            relays,
            kind: b[0],
            xid: [b[1], b[2], b[3]],
            server_id: None,
            client_id: None,
            rapid: false,
            ia_ll: Vec::new(),
            status: None,
        };
        for (code, body) in walk(&b[4..]) {
            match code {
                OPTION_SERVERID => d.server_id = Some(body.to_vec()),
                OPTION_CLIENTID => d.client_id = Some(body.to_vec()),
                OPTION_RAPID_COMMIT => {
                    assert!(body.is_empty());
                    d.rapid = true
                }
                OPTION_STATUS_CODE => d.status = Some(status_of(body)),
                OPTION_IA_LL => {
                    let mut ia = IaLlOut {
                        iaid: be32(body),
                        t1: be32(&body[4..]),
                        t2: be32(&body[8..]),
                        lladdr: Vec::new(),
                        status: None,
                    };
                    for (c, o) in walk(&body[12..]) {
                        match c {
                            OPTION_LLADDR => {
                                assert_eq!(o.len(), 18);
                                ia.lladdr.push((
                                    be16(o),
                                    be16(&o[2..]),
                                    Mac::from_slice(&o[4..10]),
                                    be32(&o[10..]),
                                    be32(&o[14..]),
                                ))
                            }
                            OPTION_STATUS_CODE => ia.status = Some(status_of(o)),
                            other => panic!("option {other} in an IA_LL"),
                        }
                    }
                    d.ia_ll.push(ia);
                }
                other => panic!("option {other} in a reply"),
            }
        }
        d
    }

    #[test]
    fn solicit_gives_its_ia_ll_hint_and_quadrants() {
        let m = solicit(&[
            lladdr_opt(HINT, 0, 3600),
            opt(OPTION_SLAP_QUAD, &[3, 10, 1, 5, 3, 99]),
        ]);
        let got = parse(&m).unwrap();
        assert_eq!(
            got,
            ClientMsg {
                kind: Kind::Solicit,
                xid: XID,
                client_id: CLIENT.to_vec(),
                server_id: None,
                rapid_commit: false,
                ia_ll: vec![LlAsk {
                    iaid: 7,
                    t1: 0,
                    t2: 0,
                    addr: Some(HINT),
                    extra: 0,
                    valid: 3600,
                }],
                // The second (3, 99) is a repeat: dropped (RFC 8948).
                quadrants: vec![(3, 10), (1, 5)],
                relays: vec![],
            }
        );
    }

    #[test]
    fn an_all_zero_address_is_no_hint_and_extra_lladdrs_are_checked_not_kept() {
        let m = solicit(&[lladdr_opt(Mac::ZERO, 3, 0), lladdr_opt(HINT, 0, 60)]);
        let a = &parse(&m).unwrap().ia_ll[0];
        assert_eq!((a.addr, a.extra, a.valid), (None, 3, 0));
        let m = solicit(&[lladdr_opt(HINT, 0, 0), opt(OPTION_LLADDR, &[0, 1, 0, 6])]);
        assert_eq!(
            parse(&m),
            Err(Dhcp6Error::BadLength {
                option: OPTION_LLADDR,
                len: 4
            })
        );
    }

    #[test]
    fn every_client_type_parses_with_its_identifiers() {
        let sid = server();
        let ia = ia_ll_opt(1, 100, 200, &[lladdr_opt(HINT, 0, 600)]);
        for (code, kind, with_server) in [
            (1, Kind::Solicit, false),
            (3, Kind::Request, true),
            (4, Kind::Confirm, false),
            (5, Kind::Renew, true),
            (6, Kind::Rebind, false),
            (8, Kind::Release, true),
            (9, Kind::Decline, true),
        ] {
            let mut opts = vec![opt(1, CLIENT), ia.clone()];
            if with_server {
                opts.push(opt(2, &sid));
            }
            let got = parse(&message(code, &opts)).unwrap();
            assert_eq!(got.kind, kind);
            assert_eq!(kind.code(), code);
            assert_eq!(got.server_id.as_deref(), with_server.then_some(&sid[..]));
            assert_eq!(
                got.ia_ll,
                vec![LlAsk {
                    iaid: 1,
                    t1: 100,
                    t2: 200,
                    addr: Some(HINT),
                    extra: 0,
                    valid: 600
                }]
            );
        }
        // An Information-request may come without any identifier.
        let got = parse(&message(11, &[opt(6, &[0, 23])])).unwrap();
        assert_eq!(got.kind, Kind::InformationRequest);
        assert!(got.client_id.is_empty() && got.ia_ll.is_empty());
    }

    #[test]
    fn advertise_reads_back() {
        let msg = parse(&solicit(&[lladdr_opt(Mac::ZERO, 0, 0)])).unwrap();
        let r = build(
            &msg,
            ReplyKind::Advertise,
            &server(),
            &[granted(7, HINT, 3600)],
            None,
        );
        assert_eq!(
            decode_reply(&r),
            Decoded {
                relays: vec![],
                kind: 2,
                xid: XID,
                server_id: Some(server()),
                client_id: Some(CLIENT.to_vec()),
                rapid: false,
                ia_ll: vec![IaLlOut {
                    iaid: 7,
                    t1: 1800,
                    t2: 2880,
                    lladdr: vec![(1, 6, HINT, 0, 3600)],
                    status: None,
                }],
                status: None,
            }
        );
    }

    #[test]
    fn a_reply_has_the_exact_bytes_of_the_formats() {
        let msg = parse(&solicit(&[lladdr_opt(Mac::ZERO, 0, 0)])).unwrap();
        let r = build(
            &msg,
            ReplyKind::Reply,
            &[0, 3, 0, 1, 2, 0, 0, 0, 0, 0xfe],
            &[granted(7, HINT, INFINITY)],
            None,
        );
        #[rustfmt::skip]
        let want: &[u8] = &[
            7, 0x12, 0x34, 0x56,
            0, 2, 0, 10, 0, 3, 0, 1, 2, 0, 0, 0, 0, 0xfe,
            0, 1, 0, 10, 0, 3, 0, 1, 2, 0, 0, 0, 0, 1,
            0, 138, 0, 34, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                0, 139, 0, 18, 0, 1, 0, 6, 0x0a, 0, 0, 0, 0, 0x42, 0, 0, 0, 0,
                0xff, 0xff, 0xff, 0xff,
        ];
        assert_eq!(r, want);
    }

    #[test]
    fn a_status_answer_has_no_lladdr_and_no_timers() {
        let msg = parse(&solicit(&[lladdr_opt(Mac::ZERO, 0, 0)])).unwrap();
        let no = IaLlAnswer {
            iaid: 7,
            result: LlResult::Status {
                code: status::NO_ADDRS_AVAIL,
                message: "pool exhausted".into(),
            },
        };
        let d = decode_reply(&build(
            &msg,
            ReplyKind::Reply,
            &server(),
            &[no],
            Some((status::UNSPEC_FAIL, "see the IA_LL")),
        ));
        assert_eq!(
            d.ia_ll,
            vec![IaLlOut {
                iaid: 7,
                t1: 0,
                t2: 0,
                lladdr: vec![],
                status: Some((2, "pool exhausted".into())),
            }]
        );
        assert_eq!(d.status, Some((1, "see the IA_LL".into())));
    }

    #[test]
    fn rapid_commit_is_echoed_only_on_a_reply_to_a_solicit() {
        let mut m = solicit(&[lladdr_opt(HINT, 0, 60)]);
        m.extend(opt(OPTION_RAPID_COMMIT, &[]));
        let msg = parse(&m).unwrap();
        assert!(msg.rapid_commit);
        let ans = [granted(7, HINT, 60)];
        assert!(decode_reply(&build(&msg, ReplyKind::Reply, &server(), &ans, None)).rapid);
        assert!(!decode_reply(&build(&msg, ReplyKind::Advertise, &server(), &ans, None)).rapid);
        let mut req = message(
            3,
            &[
                opt(1, CLIENT),
                opt(2, &server()),
                ia_ll_opt(7, 0, 0, &[lladdr_opt(HINT, 0, 60)]),
            ],
        );
        req.extend(opt(OPTION_RAPID_COMMIT, &[]));
        let msg = parse(&req).unwrap();
        assert!(msg.rapid_commit);
        assert!(!decode_reply(&build(&msg, ReplyKind::Reply, &server(), &ans, None)).rapid);
        assert!(
            !parse(&solicit(&[lladdr_opt(HINT, 0, 0)]))
                .unwrap()
                .rapid_commit
        );
    }

    #[test]
    fn release_names_the_address_held() {
        let m = message(
            8,
            &[
                opt(2, &server()),
                opt(1, CLIENT),
                ia_ll_opt(9, 0, 0, &[lladdr_opt(HINT, 0, 0)]),
            ],
        );
        let msg = parse(&m).unwrap();
        assert_eq!(msg.kind, Kind::Release);
        assert_eq!(msg.server_id, Some(server()));
        assert_eq!(msg.ia_ll[0].addr, Some(HINT));
        let d = decode_reply(&build(
            &msg,
            ReplyKind::Reply,
            &server(),
            &[],
            Some((status::SUCCESS, "")),
        ));
        assert_eq!(
            (d.kind, d.ia_ll.len(), d.status),
            (7, 0, Some((0, String::new())))
        );
    }

    #[test]
    fn one_relay_layer_is_unwrapped_and_mirrored() {
        let link: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let peer: Ipv6Addr = "fe80::1".parse().unwrap();
        let inner = solicit(&[lladdr_opt(Mac::ZERO, 0, 0)]);
        let msg = parse(&relay_forw(0, link, peer, Some(b"moose-test"), &inner)).unwrap();
        assert_eq!(
            msg.relays,
            vec![Relay {
                hop_count: 0,
                link,
                peer,
                interface_id: Some(b"moose-test".to_vec())
            }]
        );
        assert_eq!(msg.client_id, CLIENT);
        let r = build(
            &msg,
            ReplyKind::Advertise,
            &server(),
            &[granted(7, HINT, 60)],
            None,
        );
        let d = decode_reply(&r);
        assert_eq!(
            d.relays,
            vec![ReplyLayer {
                hop: 0,
                link,
                peer,
                iid: Some(b"moose-test".to_vec())
            }]
        );
        assert_eq!((d.kind, d.ia_ll[0].lladdr[0].2), (2, HINT));
    }

    #[test]
    fn two_relay_layers_keep_their_order_and_interface_ids() {
        let (l1, p1): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8:1::1".parse().unwrap(),
            "fe80::10".parse().unwrap(),
        );
        let (l2, p2): (Ipv6Addr, Ipv6Addr) = ("::".parse().unwrap(), "fe80::20".parse().unwrap());
        let client = solicit(&[lladdr_opt(Mac::ZERO, 0, 0)]);
        let first = relay_forw(0, l1, p1, Some(b"port7"), &client);
        let second = relay_forw(1, l2, p2, None, &first);
        let msg = parse(&second).unwrap();
        // Outermost (the relay nearest the server) first.
        assert_eq!(
            msg.relays,
            vec![
                Relay {
                    hop_count: 1,
                    link: l2,
                    peer: p2,
                    interface_id: None
                },
                Relay {
                    hop_count: 0,
                    link: l1,
                    peer: p1,
                    interface_id: Some(b"port7".to_vec())
                },
            ]
        );
        let d = decode_reply(&build(
            &msg,
            ReplyKind::Reply,
            &server(),
            &[granted(7, HINT, 60)],
            None,
        ));
        assert_eq!(
            d.relays,
            vec![
                ReplyLayer {
                    hop: 1,
                    link: l2,
                    peer: p2,
                    iid: None
                },
                ReplyLayer {
                    hop: 0,
                    link: l1,
                    peer: p1,
                    iid: Some(b"port7".to_vec())
                },
            ]
        );
        assert_eq!(d.xid, XID);
    }

    #[test]
    fn a_relay_agents_quadrants_count_when_the_client_gave_none() {
        let a = Ipv6Addr::UNSPECIFIED;
        let mut outer = relay_forw(1, a, a, None, &[]);
        let client = solicit(&[lladdr_opt(Mac::ZERO, 0, 0)]);
        let mut inner = relay_forw(0, a, a, None, &client);
        inner.extend(opt(OPTION_SLAP_QUAD, &[1, 9]));
        outer.truncate(outer.len() - 4);
        outer.extend(opt(OPTION_SLAP_QUAD, &[3, 1]));
        outer.extend(opt(OPTION_RELAY_MSG, &inner));
        assert_eq!(
            parse(&outer).unwrap().quadrants,
            vec![(1, 9)],
            "the innermost relay's"
        );
        let with_own = solicit(&[lladdr_opt(Mac::ZERO, 0, 0), opt(OPTION_SLAP_QUAD, &[0, 4])]);
        let mut r = relay_forw(0, a, a, None, &with_own);
        r.extend(opt(OPTION_SLAP_QUAD, &[1, 9]));
        assert_eq!(
            parse(&r).unwrap().quadrants,
            vec![(0, 4)],
            "the client's own"
        );
        let no_preference = solicit(&[lladdr_opt(Mac::ZERO, 0, 0), opt(OPTION_SLAP_QUAD, &[])]);
        let mut r = relay_forw(0, a, a, None, &no_preference);
        r.extend(opt(OPTION_SLAP_QUAD, &[1, 9]));
        assert!(
            parse(&r).unwrap().quadrants.is_empty(),
            "the client's, even empty"
        );
        // At the top level of the client's message it is ignored.
        let mut top = solicit(&[lladdr_opt(Mac::ZERO, 0, 0)]);
        top.extend(opt(OPTION_SLAP_QUAD, &[0, 4]));
        assert!(parse(&top).unwrap().quadrants.is_empty());
    }

    #[test]
    fn thirty_two_relay_layers_pass_and_thirty_three_do_not() {
        let a = Ipv6Addr::UNSPECIFIED;
        let mut m = solicit(&[lladdr_opt(Mac::ZERO, 0, 0)]);
        for hop in 0..32 {
            m = relay_forw(hop, a, a, Some(&[hop]), &m);
        }
        let msg = parse(&m).unwrap();
        assert_eq!(msg.relays.len(), 32);
        let d = decode_reply(&build(&msg, ReplyKind::Reply, &server(), &[], None));
        assert_eq!(d.relays.len(), 32);
        assert_eq!(d.relays[0].hop, 31);
        assert_eq!(d.relays[31].iid, Some(vec![0]));
        let m = relay_forw(32, a, a, None, &m);
        assert_eq!(parse(&m), Err(Dhcp6Error::TooManyRelays));
    }

    fn err(m: &[u8]) -> Dhcp6Error {
        parse(m).unwrap_err()
    }

    #[test]
    fn truncated_messages_and_options() {
        assert_eq!(err(&[]), Dhcp6Error::Truncated);
        assert_eq!(err(&[1, 0x12, 0x34]), Dhcp6Error::Truncated);
        let mut m = solicit(&[lladdr_opt(HINT, 0, 0)]);
        m.pop();
        assert_eq!(
            err(&m),
            Dhcp6Error::Truncated,
            "the IA_LL runs past the end"
        );
        assert_eq!(
            err(&message(1, &[vec![0, 1, 0]])),
            Dhcp6Error::Truncated,
            "half a header"
        );
        // An LLADDR that overruns its IA_LL, with bytes after the IA_LL.
        let mut ia = ia_ll_opt(7, 0, 0, &[lladdr_opt(HINT, 0, 0)]);
        ia[3] -= 1;
        ia.push(0);
        let m = message(1, &[opt(1, CLIENT), ia]);
        assert_eq!(err(&m), Dhcp6Error::Truncated);
        assert_eq!(
            err(&[RELAY_FORW, 0, 1, 2]),
            Dhcp6Error::Truncated,
            "a short relay header"
        );
        let a = Ipv6Addr::UNSPECIFIED;
        assert_eq!(
            err(&relay_forw(0, a, a, None, &[])),
            Dhcp6Error::Truncated,
            "an empty relay message"
        );
    }

    #[test]
    fn wrong_fixed_lengths() {
        let bad = |option, len| Dhcp6Error::BadLength { option, len };
        let m = message(1, &[opt(1, CLIENT), opt(OPTION_IA_LL, &[0; 11])]);
        assert_eq!(err(&m), bad(OPTION_IA_LL, 11));
        let short = opt(
            OPTION_LLADDR,
            &lladdr_body(1, &[1, 2, 3, 4, 5, 6, 7, 8], 0, 0),
        );
        assert_eq!(
            err(&solicit(&[short])),
            bad(OPTION_LLADDR, 8),
            "an 8-octet address"
        );
        let mut cut = lladdr_body(1, &HINT.0, 0, 0);
        cut.pop();
        assert_eq!(
            err(&solicit(&[opt(OPTION_LLADDR, &cut)])),
            bad(OPTION_LLADDR, 17)
        );
        assert_eq!(
            err(&solicit(&[opt(OPTION_LLADDR, &[0, 1])])),
            bad(OPTION_LLADDR, 2)
        );
        let m = message(1, &[opt(1, &[0, 3]), opt(OPTION_IA_LL, &[0; 12])]);
        assert_eq!(err(&m), bad(OPTION_CLIENTID, 2));
        let m = message(1, &[opt(1, &[7; 131])]);
        assert_eq!(err(&m), bad(OPTION_CLIENTID, 131));
        let m = message(3, &[opt(1, CLIENT), opt(2, &[0])]);
        assert_eq!(err(&m), bad(OPTION_SERVERID, 1));
        let mut m = solicit(&[lladdr_opt(HINT, 0, 0)]);
        m.extend(opt(OPTION_RAPID_COMMIT, &[1]));
        assert_eq!(err(&m), bad(OPTION_RAPID_COMMIT, 1));
        assert_eq!(
            err(&solicit(&[
                lladdr_opt(HINT, 0, 0),
                opt(OPTION_SLAP_QUAD, &[1, 2, 3])
            ])),
            bad(OPTION_SLAP_QUAD, 3)
        );
        let a = Ipv6Addr::UNSPECIFIED;
        let inner = solicit(&[lladdr_opt(HINT, 0, 0)]);
        assert_eq!(
            err(&relay_forw(0, a, a, Some(&[b'x'; 256]), &inner)),
            bad(OPTION_INTERFACE_ID, 256)
        );
        // LLaddr-options must walk to their end.
        let mut b = lladdr_body(1, &HINT.0, 0, 0);
        b.extend_from_slice(&[0, 99, 0, 5, 1]);
        assert_eq!(
            err(&solicit(&[opt(OPTION_LLADDR, &b)])),
            Dhcp6Error::Truncated
        );
    }

    #[test]
    fn server_and_unknown_types_are_refused() {
        for t in [2, 7, 10, 13] {
            assert_eq!(
                err(&message(t, &[opt(1, CLIENT)])),
                Dhcp6Error::ServerMessage(t)
            );
        }
        for t in [0, 14, 20, 255] {
            assert_eq!(
                err(&message(t, &[opt(1, CLIENT)])),
                Dhcp6Error::UnknownType(t)
            );
        }
        let a = Ipv6Addr::UNSPECIFIED;
        assert_eq!(
            err(&relay_forw(0, a, a, None, &message(7, &[]))),
            Dhcp6Error::ServerMessage(7),
            "a server's message inside a relay-forward"
        );
    }

    #[test]
    fn identifier_rules() {
        let ia = ia_ll_opt(1, 0, 0, &[lladdr_opt(HINT, 0, 0)]);
        assert_eq!(
            err(&message(1, std::slice::from_ref(&ia))),
            Dhcp6Error::NoClientId
        );
        assert_eq!(
            err(&message(5, &[opt(2, &server()), ia.clone()])),
            Dhcp6Error::NoClientId
        );
        for t in [3, 5, 8, 9] {
            assert_eq!(
                err(&message(t, &[opt(1, CLIENT), ia.clone()])),
                Dhcp6Error::NoServerId
            );
        }
        for t in [1, 4, 6] {
            let m = message(t, &[opt(1, CLIENT), opt(2, &server()), ia.clone()]);
            assert_eq!(err(&m), Dhcp6Error::UnexpectedServerId);
        }
        let m = message(1, &[opt(1, CLIENT), opt(1, CLIENT), ia.clone()]);
        assert_eq!(err(&m), Dhcp6Error::Duplicate(OPTION_CLIENTID));
        let m = message(3, &[opt(1, CLIENT), opt(2, &server()), opt(2, &server())]);
        assert_eq!(err(&m), Dhcp6Error::Duplicate(OPTION_SERVERID));
        let mut m = solicit(&[lladdr_opt(HINT, 0, 0)]);
        m.extend(opt(OPTION_RAPID_COMMIT, &[]));
        m.extend(opt(OPTION_RAPID_COMMIT, &[]));
        assert_eq!(err(&m), Dhcp6Error::Duplicate(OPTION_RAPID_COMMIT));
    }

    #[test]
    fn ia_ll_rules() {
        let m = solicit(&[opt(OPTION_STATUS_CODE, &[0, 0])]);
        assert_eq!(err(&m), Dhcp6Error::IaLlWithoutLladdr { iaid: 7 });
        let m = message(
            5,
            &[
                opt(1, CLIENT),
                opt(2, &server()),
                ia_ll_opt(0xdead, 0, 0, &[]),
            ],
        );
        assert_eq!(err(&m), Dhcp6Error::IaLlWithoutLladdr { iaid: 0xdead });
        let ia = |iaid| ia_ll_opt(iaid, 0, 0, &[lladdr_opt(HINT, 0, 0)]);
        let m = message(1, &[opt(1, CLIENT), ia(1), ia(2), ia(1)]);
        assert_eq!(err(&m), Dhcp6Error::DuplicateIaid(1));
        let mut opts = vec![opt(1, CLIENT)];
        opts.extend((0..16).map(ia));
        assert_eq!(parse(&message(1, &opts)).unwrap().ia_ll.len(), 16);
        opts.push(ia(16));
        assert_eq!(err(&message(1, &opts)), Dhcp6Error::TooManyIaLl);
        let m = message(11, &[opt(1, CLIENT), ia(1)]);
        assert_eq!(err(&m), Dhcp6Error::IaLlInInformationRequest);
        let m = solicit(&[opt(OPTION_LLADDR, &lladdr_body(6, &HINT.0, 0, 0))]);
        assert_eq!(err(&m), Dhcp6Error::BadLinkType(6));
        let m = solicit(&[lladdr_opt(HINT, 0, 0), opt(OPTION_SLAP_QUAD, &[4, 1])]);
        assert_eq!(err(&m), Dhcp6Error::BadQuadrant(4));
        let q = opt(OPTION_SLAP_QUAD, &[1, 1]);
        let m = solicit(&[lladdr_opt(HINT, 0, 0), q.clone(), q]);
        assert_eq!(err(&m), Dhcp6Error::Duplicate(OPTION_SLAP_QUAD));
    }

    #[test]
    fn relay_rules() {
        let a = Ipv6Addr::UNSPECIFIED;
        let mut m = vec![RELAY_FORW, 0];
        m.extend_from_slice(&[0; 32]);
        m.extend(opt(OPTION_INTERFACE_ID, b"x"));
        assert_eq!(err(&m), Dhcp6Error::NoRelayMessage);
        let inner = solicit(&[lladdr_opt(HINT, 0, 0)]);
        let mut m = relay_forw(0, a, a, None, &inner);
        m.extend(opt(OPTION_RELAY_MSG, &inner));
        assert_eq!(err(&m), Dhcp6Error::Duplicate(OPTION_RELAY_MSG));
        let mut m = relay_forw(0, a, a, Some(b"a"), &inner);
        m.extend(opt(OPTION_INTERFACE_ID, b"b"));
        assert_eq!(err(&m), Dhcp6Error::Duplicate(OPTION_INTERFACE_ID));
    }

    #[test]
    fn every_error_has_a_distinct_listed_reason() {
        let all = [
            Dhcp6Error::Truncated,
            Dhcp6Error::BadLength { option: 1, len: 0 },
            Dhcp6Error::UnknownType(0),
            Dhcp6Error::ServerMessage(2),
            Dhcp6Error::IaLlWithoutLladdr { iaid: 0 },
            Dhcp6Error::NoClientId,
            Dhcp6Error::NoServerId,
            Dhcp6Error::UnexpectedServerId,
            Dhcp6Error::Duplicate(1),
            Dhcp6Error::DuplicateIaid(1),
            Dhcp6Error::TooManyIaLl,
            Dhcp6Error::IaLlInInformationRequest,
            Dhcp6Error::TooManyRelays,
            Dhcp6Error::NoRelayMessage,
            Dhcp6Error::BadLinkType(6),
            Dhcp6Error::BadQuadrant(4),
        ];
        let reasons: Vec<_> = all.iter().map(Dhcp6Error::reason).collect();
        assert_eq!(reasons, Dhcp6Error::REASONS);
        let mut sorted = reasons.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
        assert!(reasons
            .iter()
            .all(|r| r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
        assert_eq!(
            Dhcp6Error::BadLength {
                option: 139,
                len: 8
            }
            .to_string(),
            "option 139: length 8 is wrong for its format"
        );
    }

    #[test]
    fn timers_and_server_duid() {
        assert_eq!(timers(INFINITY), (INFINITY, INFINITY));
        assert_eq!(timers(3600), (1800, 2880));
        assert_eq!(timers(0), (0, 0));
        assert_eq!(timers(INFINITY - 1), (0x7fff_ffff, 3_435_973_835));
        assert_eq!(
            server_duid(Mac([2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee])),
            [0, 3, 0, 1, 2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]
        );
    }

    #[test]
    fn build_keeps_every_length_in_its_field() {
        let big = ClientMsg {
            kind: Kind::Solicit,
            xid: XID,
            client_id: vec![1; 70_000],
            server_id: None,
            rapid_commit: true,
            ia_ll: vec![],
            quadrants: vec![],
            relays: (0..40)
                .map(|i| Relay {
                    hop_count: i,
                    link: Ipv6Addr::UNSPECIFIED,
                    peer: Ipv6Addr::LOCALHOST,
                    interface_id: Some(vec![i; 70_000]),
                })
                .collect(),
        };
        let long = "é".repeat(200);
        let answers: Vec<_> = (0..40)
            .map(|iaid| IaLlAnswer {
                iaid,
                result: LlResult::Status {
                    code: 2,
                    message: long.clone(),
                },
            })
            .collect();
        let r = build(
            &big,
            ReplyKind::Reply,
            &[9; 1000],
            &answers,
            Some((1, &long)),
        );
        let d = decode_reply(&r);
        assert_eq!(d.relays.len(), HOP_COUNT_LIMIT);
        assert!(d
            .relays
            .iter()
            .all(|l| l.iid.as_ref().unwrap().len() == MAX_INTERFACE_ID));
        assert_eq!(d.ia_ll.len(), MAX_IA_LL);
        assert_eq!(d.client_id.unwrap().len(), MAX_DUID);
        assert_eq!(d.server_id.unwrap().len(), MAX_DUID);
        // 127 two-octet characters: the 128th would pass 255 octets.
        assert_eq!(d.status.unwrap().1, "é".repeat(127));
    }

    /// Valid messages of every shape, for truncation and mutation.
    fn samples() -> Vec<Vec<u8>> {
        let a: Ipv6Addr = "2001:db8::7".parse().unwrap();
        let sol = solicit(&[
            lladdr_opt(HINT, 0, 60),
            opt(OPTION_SLAP_QUAD, &[0, 1, 3, 2]),
        ]);
        let req = message(
            3,
            &[
                opt(1, CLIENT),
                opt(2, &server()),
                ia_ll_opt(7, 0, 0, &[lladdr_opt(HINT, 0, 60)]),
            ],
        );
        let rel = relay_forw(
            1,
            a,
            a,
            Some(b"moose-test"),
            &relay_forw(0, a, a, None, &sol),
        );
        vec![sol, req, rel]
    }

    fn check_built(msg: &ClientMsg) {
        let answers: Vec<_> = msg
            .ia_ll
            .iter()
            .map(|a| granted(a.iaid, HINT, a.valid))
            .collect();
        let d = decode_reply(&build(
            msg,
            ReplyKind::Reply,
            &server(),
            &answers,
            Some((0, "ok")),
        ));
        assert_eq!(d.relays.len(), msg.relays.len());
        for (l, r) in d.relays.iter().zip(&msg.relays) {
            assert_eq!(
                (l.hop, l.link, l.peer, &l.iid),
                (r.hop_count, r.link, r.peer, &r.interface_id)
            );
        }
        assert_eq!(d.xid, msg.xid);
        assert_eq!(d.ia_ll.len(), msg.ia_ll.len());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(m) = parse(&bytes) {
                check_built(&m);
            }
        }

        #[test]
        fn parse_never_panics_on_client_shaped_bytes(
            kind in 0u8..16,
            opts in proptest::collection::vec(
                (prop_oneof![Just(1u16), Just(2), Just(9), Just(14), Just(18), Just(138), Just(139), Just(140), any::<u16>()],
                 proptest::collection::vec(any::<u8>(), 0..40)),
                0..8),
        ) {
            let mut m = vec![kind, 1, 2, 3];
            for (code, body) in &opts {
                m.extend(opt(*code, body));
            }
            if let Ok(msg) = parse(&m) {
                check_built(&msg);
            }
        }

        #[test]
        fn truncations_and_mutations_never_panic(
            which in 0usize..3,
            cut in any::<prop::sample::Index>(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        ) {
            let full = samples().swap_remove(which);
            prop_assert!(parse(&full).is_ok());
            let short = &full[..cut.index(full.len())];
            if let Ok(m) = parse(short) {
                check_built(&m);
            }
            let mut bent = full.clone();
            for (at, v) in flips {
                let i = at.index(bent.len());
                bent[i] = v;
            }
            if let Ok(m) = parse(&bent) {
                check_built(&m);
            }
        }
    }
}
