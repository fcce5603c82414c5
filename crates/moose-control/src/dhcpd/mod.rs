//! The built-in DHCPv4 server (RFC 2131, options RFC 2132): pure slow-path
//! logic, with no I/O but its lease store. The `elk` service feeds it the
//! DHCP frames punted on class `directory` ([`client_message`]), sends the
//! replies it returns ([`reply_frame`]) and records the leases it grants
//! in its directory.
//!
//! * **Pools**: one per VLAN (`[[dhcp.pool]]`, [`moose_config::DhcpPool`]).
//! * **Clients** are keyed by (VLAN, `chaddr`): the hardware address, as
//!   the rest of moose keys hosts, not the client identifier (option 61),
//!   which is read by nothing here. `chaddr` must be the MAC the frame came
//!   from (`chaddr_mismatch` otherwise: one source cannot ask for many
//!   addresses by varying `chaddr`), and relayed messages (`giaddr` set)
//!   are refused: the server is on the client's link.
//! * **DISCOVER** → OFFER of the client's own address (its lease, its
//!   offer, or the address it last had, if still free), else the requested
//!   address (option 50) if free, else the lowest address nobody has used,
//!   else the lowest free one. The address is held for the client for
//!   [`OFFER_HOLD`] (60 s); at most a quarter of the range (at least one
//!   address) is held in offers at once. Past that bound the server still
//!   offers, at an address spread by the client's MAC, but holds nothing
//!   (`offers_unheld`): a flood of DISCOVERs from random MACs can neither
//!   keep addresses from real clients nor keep real clients from an
//!   offer. No free address at all: no reply (`exhausted`).
//! * **REQUEST**: a server identifier (option 54) of another server means
//!   the client chose it: our offer is withdrawn, no reply
//!   (`other_server`). Otherwise the address is option 50, else `ciaddr`
//!   (renewing, rebinding). Outside the range (another subnet, or a host
//!   of the subnet that is not leased) or another client's → NAK. The
//!   client's own → ACK. Free: ACK when selecting (our offer; also one not
//!   held, or one a restart forgot), and no reply otherwise
//!   (`unknown_client`: RFC 2131 §4.3.2, the server has no record of the
//!   client).
//! * **RELEASE** ends the client's lease (the address is remembered as its
//!   last); **DECLINE** ends it and keeps the address out of the pool for
//!   [`DECLINE_HOLD`] (10 min); neither is answered. **INFORM** from an
//!   address of the subnet → ACK with the options but no lease.
//! * **Replies** carry options 53, 54, 51, 58 and 59 (T1 = 50 %, T2 =
//!   87.5 % of the lease, RFC 2131 §4.4.5), 1, and 3, 6, 15 where the pool
//!   has them, whatever option 55 asks; a NAK only 53, 54 and 56. They go
//!   (§4.1, no relay) to `ciaddr` if it is set, broadcast if the client set
//!   the broadcast flag, else to `yiaddr` at the client's MAC; a NAK is
//!   always broadcast.
//! * **Durability**: leases are kept in `state_dir/dhcp-leases.redb`
//!   (`lease.rs`, which also holds each pool's address book); every change to a lease (ACK, RELEASE, DECLINE) is
//!   committed (fsync) before [`Server::handle`] returns and before the
//!   reply exists, so a client never holds a lease the file lacks. After a
//!   restart, or a SIGKILL, clients keep their addresses. Offers, declines
//!   and remembered addresses are memory only.
//! * **Refusals**: input that is not a DHCP client message this server
//!   serves is a [`Refusal`] with a label for a counter, never a panic.
//!   Every option is walked with moose-wire's walker (the one the edge's
//!   rewrites use), which refuses options that run off the end; dhcproto
//!   then decodes the fixed part and the few options the server reads
//!   (its decoders of some others assume lengths a client need not keep),
//!   and replies are encoded with it.

mod frame;
mod lease;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use dhcproto::v4::{self, DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use moose_config::DhcpPool;
use moose_wire::dhcp::{self as wire, code};
use moose_wire::Mac;
use serde::Serialize;

pub use frame::{client_message, reply_frame};
use lease::{Book, Standing, Store};
pub use lease::{StoreError, DECLINE_HOLD, OFFER_HOLD, STORE_FILE};

/// The longest client message read: what fits in a 1500-octet IP packet.
pub const MAX_MESSAGE: usize = 1500 - 20 - 8;
/// Replies are padded to this length (the BOOTP minimum some clients
/// insist on, RFC 1542 §2.1).
const MIN_REPLY: usize = 300;

/// A client's binding: what the directory records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub vlan: u16,
    pub mac: Mac,
    pub ip: Ipv4Addr,
    /// Whole milliseconds (what the store keeps), serialised as Unix
    /// seconds.
    #[serde(rename = "expires_unix", serialize_with = "unix_secs")]
    pub expires: SystemTime,
}

fn unix_secs<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(lease::to_unix_ms(*t) / 1000)
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyKind {
    Offer,
    Ack,
    Nak,
}

/// A reply to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The DHCP message (the UDP payload).
    pub payload: Vec<u8>,
    pub kind: ReplyKind,
    /// The address offered or acknowledged; unspecified in a NAK and in
    /// the ACK of an INFORM.
    pub yiaddr: Ipv4Addr,
    /// To `ff:ff:ff:ff:ff:ff` and 255.255.255.255 rather than to `client`
    /// and `to`.
    pub broadcast: bool,
    /// The destination IP: 255.255.255.255 when `broadcast`, else `ciaddr`
    /// if the client has one, else `yiaddr`.
    pub to: Ipv4Addr,
    /// The client's MAC (`chaddr`), the destination unless `broadcast`.
    pub client: Mac,
    /// The server identifier: the source IP of the reply.
    pub server: Ipv4Addr,
    /// On the ACK of a REQUEST: the binding the directory must record
    /// (committed to the store already).
    pub lease: Option<Lease>,
}

macro_rules! refusals {
    ($($(#[doc = $doc:literal])* $v:ident => $label:literal,)*) => {
        /// Why a message was not served: one variant per counter label
        /// (`moose_dhcp_refused_total{reason}`).
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
        pub enum Refusal {
            $($(#[doc = $doc])* #[error($label)] $v,)*
        }

        impl Refusal {
            /// Every refusal, in counter order.
            pub const ALL: &'static [Refusal] = &[$(Refusal::$v,)*];

            /// The counter label.
            pub fn label(self) -> &'static str {
                match self {
                    $(Refusal::$v => $label,)*
                }
            }
        }
    };
}

refusals! {
    /// Shorter than a header or than a length it declares (frame, IPv4,
    /// UDP, or the 240 octets of a DHCP message before its options).
    Truncated => "truncated",
    /// A length field smaller than its header.
    BadLength => "bad_length",
    /// A DHCP message longer than [`MAX_MESSAGE`].
    Oversize => "oversize",
    /// Not IPv4/UDP to port 67, or a fragment.
    NotDhcp => "not_dhcp",
    /// A wrong IPv4 header or UDP checksum.
    BadChecksum => "bad_checksum",
    /// `op` is not BOOTREQUEST.
    WrongOp => "wrong_op",
    /// `htype`/`hlen` are not Ethernet's (1, 6).
    BadHardware => "bad_hardware",
    /// `chaddr` is not the MAC the frame came from.
    ChaddrMismatch => "chaddr_mismatch",
    /// `giaddr` is set: relay agents are not served.
    Relayed => "relayed",
    /// No magic cookie: BOOTP, which is not served.
    Bootp => "bootp",
    /// An option that runs past the end, or a message type, requested
    /// address or server identifier of the wrong length.
    BadOptions => "bad_options",
    /// Options overloaded into `sname`/`file` (option 52).
    Overload => "overload",
    /// A message type, requested address or server identifier given
    /// twice.
    DuplicateOption => "duplicate_option",
    /// No message type (option 53).
    NoType => "no_type",
    /// A message type a client does not send.
    BadType => "bad_type",
    /// A REQUEST without requested address or `ciaddr`; a RELEASE or
    /// INFORM without `ciaddr`; a DECLINE without requested address.
    NoAddress => "no_address",
    /// No pool on the VLAN.
    NoPool => "no_pool",
    /// The lease store failed: nothing was granted.
    Store => "store",
}

impl Refusal {
    /// Whether the input itself was wrong (rather than not ours to serve,
    /// or our own failure).
    pub fn malformed(self) -> bool {
        !matches!(self, Refusal::NoPool | Refusal::Store)
    }
}

/// Refusals by reason, serialised as `{label: count}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refused([u64; Refusal::ALL.len()]);

impl Refused {
    pub fn get(&self, r: Refusal) -> u64 {
        self.0[r as usize]
    }

    fn bump(&mut self, r: Refusal) {
        self.0[r as usize] += 1;
    }
}

impl Serialize for Refused {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(Refusal::ALL.iter().map(|r| (r.label(), self.get(*r))))
    }
}

impl<'de> serde::Deserialize<'de> for Refused {
    /// `{label: count}` back; labels it does not know are ignored.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Refused, D::Error> {
        let m = BTreeMap::<String, u64>::deserialize(d)?;
        let mut r = Refused::default();
        for (i, reason) in Refusal::ALL.iter().enumerate() {
            r.0[i] = m.get(reason.label()).copied().unwrap_or(0);
        }
        Ok(r)
    }
}

impl Refused {
    /// Every reason's label and count.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Refusal::ALL.iter().map(|r| (r.label(), self.get(*r)))
    }
}

/// The server's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DhcpStats {
    pub discovers: u64,
    pub requests: u64,
    pub releases: u64,
    pub declines: u64,
    pub informs: u64,
    pub offers: u64,
    pub acks: u64,
    pub naks: u64,
    /// Offers made past the hold bound: the address is not reserved.
    pub offers_unheld: u64,
    /// DISCOVERs left unanswered: no free address.
    pub exhausted: u64,
    /// REQUESTs naming another server: ignored.
    pub other_server: u64,
    /// REQUESTs (init-reboot, renewing) for a free address from a client
    /// the server has no record of: ignored.
    pub unknown_client: u64,
    /// RELEASEs, DECLINEs and INFORMs that named nothing of ours.
    pub ignored: u64,
    /// Leases that ran out.
    pub expired: u64,
    /// Failed writes to the lease store.
    pub store_errors: u64,
    /// Refused input (every reason but `no_pool` and `store`).
    pub malformed: u64,
    pub refused: Refused,
}

/// A client message, checked.
struct Msg {
    kind: MessageType,
    xid: u32,
    broadcast: bool,
    ciaddr: Ipv4Addr,
    chaddr: Mac,
    requested: Option<Ipv4Addr>,
    server_id: Option<Ipv4Addr>,
}

/// The DHCPv4 server of every pool.
pub struct Server {
    /// One book per pool, by VLAN.
    books: BTreeMap<u16, Book>,
    store: Option<Store>,
    stats: DhcpStats,
    /// Leases ended by RELEASE, DECLINE or a client moving to another
    /// address since the last [`Server::expire`].
    ended: Vec<Lease>,
}

/// `t` truncated to whole milliseconds, as the store keeps it.
fn whole_ms(t: SystemTime) -> SystemTime {
    lease::from_unix_ms(lease::to_unix_ms(t))
}

impl Server {
    /// The pools of the configuration; leases loaded from
    /// `state_dir/dhcp-leases.redb` (created if missing; `None`: memory
    /// only). Leases on a VLAN without a pool or outside its range (the
    /// configuration changed) are dropped from the store; of two leases of
    /// one address (possible only after a failed write) the later one is
    /// kept. Expired leases are loaded and ended by the first
    /// [`Server::expire`].
    pub fn new(pools: &[DhcpPool], state_dir: Option<&Path>) -> Result<Server, StoreError> {
        let mut books: BTreeMap<u16, Book> = pools
            .iter()
            .map(|p| (p.vlan.get(), Book::new(p.clone())))
            .collect();
        let store = state_dir.map(Store::open).transpose()?;
        if let Some(s) = &store {
            let mut loaded = s.load()?;
            // Later expiries first, so that they win a shared address.
            loaded.sort_by_key(|l| std::cmp::Reverse(l.expires));
            let mut drop = Vec::new();
            for l in loaded {
                let ip = u32::from(l.ip);
                match books.get_mut(&l.vlan) {
                    Some(b)
                        if b.in_range(ip) && b.standing(ip, l.mac, l.expires) == Standing::Free =>
                    {
                        b.bind(l);
                    }
                    _ => drop.push((l.vlan, l.mac)),
                }
            }
            s.write(&[], &drop)?;
        }
        Ok(Server {
            books,
            store,
            stats: DhcpStats::default(),
            ended: Vec::new(),
        })
    }

    /// Whether a pool serves `vlan`.
    pub fn serves(&self, vlan: u16) -> bool {
        self.books.contains_key(&vlan)
    }

    /// Every lease, by VLAN and address.
    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.books.values().flat_map(Book::leases)
    }

    pub fn stats(&self) -> &DhcpStats {
        &self.stats
    }

    /// Offers held now on `vlan`, and the most that may be.
    pub fn held_offers(&self, vlan: u16) -> Option<(usize, usize)> {
        self.books.get(&vlan).map(|b| (b.held(), b.max_held()))
    }

    /// Ends the leases whose time is past `now` (call it once a second)
    /// and drops lapsed offers and declines. Returns every binding the
    /// directory must forget: the leases that expired, and those ended by
    /// RELEASE, DECLINE or a client moving to another address since the
    /// last call. (A lease granted again to the same client in between is
    /// not returned.)
    pub fn expire(&mut self, now: SystemTime) -> Vec<Lease> {
        let mut out = std::mem::take(&mut self.ended);
        let mut gone = Vec::new();
        for b in self.books.values_mut() {
            b.purge(now);
            for l in b.expired(now) {
                b.end(u32::from(l.ip));
                gone.push((l.vlan, l.mac));
                out.push(l);
                self.stats.expired += 1;
            }
        }
        // An expired lease is over whatever the disk says; a row the write
        // misses is ended again at the next start.
        if let Some(s) = &self.store {
            if s.write(&[], &gone).is_err() {
                self.stats.store_errors += 1;
            }
        }
        out
    }

    /// Serves one DHCPv4 message (the UDP payload) from `client` (the
    /// frame's source MAC) on `vlan`. Returns the reply to send, if any; a
    /// reply that grants or changes a lease, and a RELEASE or DECLINE, is
    /// committed to the store before this returns.
    pub fn handle(
        &mut self,
        vlan: u16,
        client: Mac,
        payload: &[u8],
        now: SystemTime,
    ) -> Result<Option<Reply>, Refusal> {
        let r = self.serve(vlan, client, payload, whole_ms(now));
        match &r {
            Err(e) => {
                self.stats.refused.bump(*e);
                if e.malformed() {
                    self.stats.malformed += 1;
                }
            }
            Ok(Some(rep)) => match rep.kind {
                ReplyKind::Offer => self.stats.offers += 1,
                ReplyKind::Ack => self.stats.acks += 1,
                ReplyKind::Nak => self.stats.naks += 1,
            },
            Ok(None) => {}
        }
        r
    }

    fn serve(
        &mut self,
        vlan: u16,
        client: Mac,
        payload: &[u8],
        now: SystemTime,
    ) -> Result<Option<Reply>, Refusal> {
        let m = parse(client, payload)?;
        if !self.books.contains_key(&vlan) {
            return Err(Refusal::NoPool);
        }
        match m.kind {
            MessageType::Discover => {
                self.stats.discovers += 1;
                Ok(self.discover(vlan, &m, now))
            }
            MessageType::Request => {
                self.stats.requests += 1;
                self.request(vlan, &m, now)
            }
            MessageType::Release => {
                self.stats.releases += 1;
                self.release(vlan, &m, now, false).map(|()| None)
            }
            MessageType::Decline => {
                self.stats.declines += 1;
                self.release(vlan, &m, now, true).map(|()| None)
            }
            MessageType::Inform => {
                self.stats.informs += 1;
                self.inform(vlan, &m)
            }
            _ => Err(Refusal::BadType),
        }
    }

    fn discover(&mut self, vlan: u16, m: &Msg, now: SystemTime) -> Option<Reply> {
        let b = self.books.get_mut(&vlan).expect("checked by serve");
        let (ip, held) = match b.own(m.chaddr) {
            // Its lease or held offer: held already.
            Some(ip) if b.binds(ip, m.chaddr) => (ip, true),
            // The address it last had: held if there is room.
            Some(ip) => (ip, b.room(now)),
            None => {
                let room = b.room(now);
                let Some(ip) = b.choose(m.chaddr, m.requested, now, !room) else {
                    self.stats.exhausted += 1;
                    return None;
                };
                (ip, room)
            }
        };
        if held {
            b.hold(m.chaddr, ip, now + OFFER_HOLD);
        } else {
            self.stats.offers_unheld += 1;
        }
        let pool = &self.books[&vlan].pool;
        Some(answer(pool, m, ReplyKind::Offer, Ipv4Addr::from(ip), None))
    }

    fn request(&mut self, vlan: u16, m: &Msg, now: SystemTime) -> Result<Option<Reply>, Refusal> {
        let b = self.books.get_mut(&vlan).expect("checked by serve");
        if m.server_id.is_some_and(|s| s != b.pool.server) {
            b.withdraw(m.chaddr);
            self.stats.other_server += 1;
            return Ok(None);
        }
        let addr = match (m.requested, m.ciaddr) {
            (Some(r), _) => r,
            (None, c) if !c.is_unspecified() => c,
            _ => return Err(Refusal::NoAddress),
        };
        let ip = u32::from(addr);
        if !b.in_range(ip) {
            let why = if b.pool.subnet.contains(addr) {
                "address not leased by this server"
            } else {
                "wrong subnet"
            };
            return Ok(Some(nak(&b.pool, m, why)));
        }
        match b.standing(ip, m.chaddr, now) {
            Standing::Taken => return Ok(Some(nak(&b.pool, m, "address in use"))),
            Standing::Free if m.server_id.is_none() => {
                self.stats.unknown_client += 1;
                return Ok(None);
            }
            Standing::Free | Standing::Mine => {}
        }
        let lease = Lease {
            vlan,
            mac: m.chaddr,
            ip: addr,
            expires: now.checked_add(b.pool.lease).unwrap_or(now),
        };
        if let Some(s) = &self.store {
            if s.write(std::slice::from_ref(&lease), &[]).is_err() {
                self.stats.store_errors += 1;
                return Err(Refusal::Store);
            }
        }
        // Granted again: an end of this very binding still to report is
        // moot (an end of another address of the client is not).
        self.ended
            .retain(|l| (l.vlan, l.mac, l.ip) != (vlan, m.chaddr, addr));
        if let Some(old) = b.bind(lease.clone()) {
            self.ended.push(old);
        }
        let mut r = answer(&b.pool, m, ReplyKind::Ack, addr, Some(b.pool.lease));
        r.lease = Some(lease);
        Ok(Some(r))
    }

    /// RELEASE (`decline` false: the address in `ciaddr`) or DECLINE (the
    /// requested address, which is then kept out of the pool).
    fn release(
        &mut self,
        vlan: u16,
        m: &Msg,
        now: SystemTime,
        decline: bool,
    ) -> Result<(), Refusal> {
        let b = self.books.get_mut(&vlan).expect("checked by serve");
        let addr = if decline { m.requested } else { Some(m.ciaddr) };
        let addr = addr
            .filter(|a| !a.is_unspecified())
            .ok_or(Refusal::NoAddress)?;
        let ip = u32::from(addr);
        let ours = m.server_id.is_none_or(|s| s == b.pool.server)
            && b.lease_of(m.chaddr).is_some_and(|l| l.ip == addr);
        if !ours {
            // A DECLINE of an address we only offered still tells us it
            // is in use.
            if decline
                && b.own(m.chaddr) == Some(ip)
                && b.standing(ip, m.chaddr, now) == Standing::Mine
            {
                b.decline(ip, now + DECLINE_HOLD);
            } else {
                self.stats.ignored += 1;
            }
            return Ok(());
        }
        if let Some(s) = &self.store {
            if s.write(&[], &[(vlan, m.chaddr)]).is_err() {
                self.stats.store_errors += 1;
                return Err(Refusal::Store);
            }
        }
        let ended = if decline {
            b.decline(ip, now + DECLINE_HOLD)
        } else {
            b.end(ip)
        };
        self.ended.extend(ended);
        Ok(())
    }

    fn inform(&mut self, vlan: u16, m: &Msg) -> Result<Option<Reply>, Refusal> {
        let pool = &self.books[&vlan].pool;
        if m.ciaddr.is_unspecified() {
            return Err(Refusal::NoAddress);
        }
        if !pool.subnet.is_host(m.ciaddr) {
            self.stats.ignored += 1;
            return Ok(None);
        }
        Ok(Some(answer(
            pool,
            m,
            ReplyKind::Ack,
            Ipv4Addr::UNSPECIFIED,
            None,
        )))
    }

    /// The pools' books (tests).
    #[cfg(test)]
    fn check(&self) {
        for b in self.books.values() {
            b.check();
        }
    }
}

/// The options the server reads, the only ones dhcproto is given.
const READ: [u8; 5] = [
    code::MESSAGE_TYPE,
    code::REQUESTED_IP,
    code::SERVER_ID,
    55, // parameter request list
    code::CLIENT_ID,
];

/// Reads a client message: the fixed part with moose-wire's view; the
/// options with its walker, which refuses what runs off the end; then
/// dhcproto decodes the fixed part and the options the server reads
/// ([`READ`]), copied out in order. The others are walked but not
/// decoded: dhcproto's decoders of options such as 81 (client FQDN) or
/// 152–155 (bulk lease query) assume their lengths (`debug_assert!`,
/// `len - 3`), which a client's bytes need not keep (found by the fuzz
/// target), and the server has no use for them.
fn parse(client: Mac, payload: &[u8]) -> Result<Msg, Refusal> {
    let p = wire::Packet::new_checked(payload).map_err(|_| Refusal::Truncated)?;
    if payload.len() > MAX_MESSAGE {
        return Err(Refusal::Oversize);
    }
    if p.op() != wire::OpCode::Request {
        return Err(Refusal::WrongOp);
    }
    let chaddr = p.client_hw_addr().ok_or(Refusal::BadHardware)?;
    if chaddr != client {
        return Err(Refusal::ChaddrMismatch);
    }
    if !p.giaddr().is_unspecified() {
        return Err(Refusal::Relayed);
    }
    let opts = p.options().map_err(|_| Refusal::Bootp)?;
    let mut read = payload[..wire::MIN_LEN].to_vec();
    let mut seen = [false; 256];
    for o in opts {
        let o = o.map_err(|_| Refusal::BadOptions)?;
        let want = match o.code {
            code::OVERLOAD => return Err(Refusal::Overload),
            code::MESSAGE_TYPE => Some(1),
            code::REQUESTED_IP | code::SERVER_ID => Some(4),
            _ => None,
        };
        if let Some(n) = want {
            if o.data.len() != n {
                return Err(Refusal::BadOptions);
            }
            if seen[usize::from(o.code)] {
                return Err(Refusal::DuplicateOption);
            }
        }
        seen[usize::from(o.code)] = true;
        if READ.contains(&o.code) {
            // The walker's option is code, length, data: at most 257.
            read.extend_from_slice(&[o.code, o.data.len() as u8]);
            read.extend_from_slice(o.data);
        }
    }
    read.push(code::END);
    let msg = Message::decode(&mut Decoder::new(&read)).map_err(|_| Refusal::BadOptions)?;
    let o = msg.opts();
    for c in READ {
        if seen[usize::from(c)] && o.get(OptionCode::from(c)).is_none() {
            return Err(Refusal::BadOptions);
        }
    }
    let kind = o.msg_type().ok_or(Refusal::NoType)?;
    let requested = match o.get(OptionCode::RequestedIpAddress) {
        Some(DhcpOption::RequestedIpAddress(a)) => Some(*a),
        _ => None,
    };
    let server_id = match o.get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(a)) => Some(*a),
        _ => None,
    };
    Ok(Msg {
        kind,
        xid: msg.xid(),
        broadcast: msg.flags().broadcast(),
        ciaddr: msg.ciaddr(),
        chaddr,
        requested,
        server_id,
    })
}

/// Encodes a reply: BOOTREPLY with the client's `xid`, `flags`,
/// `chaddr`, `ciaddr` (echoed, RFC 2131 table 3) and `yiaddr`.
fn encode(
    pool: &DhcpPool,
    m: &Msg,
    yiaddr: Ipv4Addr,
    ciaddr: Ipv4Addr,
    opts: Vec<DhcpOption>,
) -> Vec<u8> {
    let mut msg = Message::new_with_id(
        m.xid,
        ciaddr,
        yiaddr,
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::UNSPECIFIED,
        &m.chaddr.0,
    );
    msg.set_opcode(v4::Opcode::BootReply)
        .set_htype(v4::HType::Eth)
        .set_flags(if m.broadcast {
            v4::Flags::default().set_broadcast()
        } else {
            v4::Flags::default()
        });
    let o = msg.opts_mut();
    o.insert(DhcpOption::ServerIdentifier(pool.server));
    for opt in opts {
        o.insert(opt);
    }
    let mut buf = Vec::with_capacity(MIN_REPLY);
    msg.encode(&mut Encoder::new(&mut buf))
        .expect("a reply of known options encodes");
    if buf.len() < MIN_REPLY {
        buf.resize(MIN_REPLY, 0);
    }
    buf
}

/// An OFFER, or the ACK of a REQUEST (`lease` set) or of an INFORM.
fn answer(
    pool: &DhcpPool,
    m: &Msg,
    kind: ReplyKind,
    yiaddr: Ipv4Addr,
    lease: Option<Duration>,
) -> Reply {
    let mut opts = vec![
        DhcpOption::MessageType(match kind {
            ReplyKind::Offer => MessageType::Offer,
            _ => MessageType::Ack,
        }),
        DhcpOption::SubnetMask(pool.subnet.mask()),
    ];
    let lease = match kind {
        ReplyKind::Offer => Some(pool.lease),
        _ => lease,
    };
    if let Some(d) = lease {
        let secs = d.as_secs().min(u64::from(u32::MAX - 1)) as u32;
        opts.push(DhcpOption::AddressLeaseTime(secs));
        opts.push(DhcpOption::Renewal(secs / 2));
        opts.push(DhcpOption::Rebinding((u64::from(secs) * 7 / 8) as u32));
    }
    if let Some(r) = pool.router {
        opts.push(DhcpOption::Router(vec![r]));
    }
    if !pool.dns.is_empty() {
        opts.push(DhcpOption::DomainNameServer(pool.dns.clone()));
    }
    if let Some(d) = &pool.domain {
        opts.push(DhcpOption::DomainName(d.clone()));
    }
    let payload = encode(pool, m, yiaddr, m.ciaddr, opts);
    let (broadcast, to) = if !m.ciaddr.is_unspecified() {
        (false, m.ciaddr)
    } else if m.broadcast {
        (true, Ipv4Addr::BROADCAST)
    } else {
        (false, yiaddr)
    };
    Reply {
        payload,
        kind,
        yiaddr,
        broadcast,
        to,
        client: m.chaddr,
        server: pool.server,
        lease: None,
    }
}

fn nak(pool: &DhcpPool, m: &Msg, why: &str) -> Reply {
    let opts = vec![
        DhcpOption::MessageType(MessageType::Nak),
        DhcpOption::Message(why.to_string()),
    ];
    Reply {
        payload: encode(pool, m, Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, opts),
        kind: ReplyKind::Nak,
        yiaddr: Ipv4Addr::UNSPECIFIED,
        broadcast: true,
        to: Ipv4Addr::BROADCAST,
        client: m.chaddr,
        server: pool.server,
        lease: None,
    }
}

#[cfg(test)]
mod tests;
