//! `moose gen`: a classic libpcap capture of synthetic traffic for
//! benchmarks of a MOOSE fabric (N hosts on each of M switches), as the
//! edge port of one switch (`--switch`) receives it from its hosts. Needs
//! no DPDK: the file feeds a DPDK `net_pcap` port, a replay tool or a
//! trace-driven benchmark.
//!
//! # Addresses
//!
//! Switches and hosts are numbered from 0; host `h` of switch `s`
//! (`s < 256`, `h < 65536`, larger values are refused by `--switches`
//! and `--hosts-per-switch`) has
//!
//! * the real MAC `00:16:3e:SS:HH:HH` (SS = s, HHHH = h);
//! * the MOOSE address `02:XX:YY:II:II:II`: switch `s` owns the prefix
//!   `02:XX:YY:00:00:00/24` with XX:YY = s+1 as 16 bits big-endian, and
//!   the host id IIIIII = h+1 (id 0 is the switch's own): what
//!   `host_ids = "sequential"` gives hosts that first speak in index
//!   order, as this capture's sources do. Switch 0 is
//!   `02:00:01:00:00:00/24`, its host 0 `02:00:01:00:00:01`;
//! * IPv4 `10.s.(h >> 8).(h & 0xff)` and IPv6 `fd00::1:s:h` (s and h as
//!   16-bit groups).
//!
//! # Frames
//!
//! Every source is a host of switch `--switch`. The kinds of `--mix`:
//! `local` (IPv4/UDP to another host of the same switch, its real MAC),
//! `remote` (IPv4/UDP to a host of another switch, its MOOSE address, or
//! its real MAC with `--remote-dst real`), `broadcast` (IPv4/UDP to
//! 255.255.255.255), `arp` (request for another host's IPv4), `nd`
//! (neighbour solicitation for another host's IPv6, to its
//! solicited-node group, with a source link-layer address option) and
//! `dhcp` (DHCPv4 DISCOVER, chaddr = the source). `--profile
//! campus-broadcast` replaces the mix by the broadcast classes measured
//! on a campus network (seed document 004): ARP 63.9 %, Dropbox LAN sync
//! 10.1 %, NetBIOS 9.0 %, DHCP 0.2 %, other IPv4 UDP 6.9 %, LLC 6.8 %,
//! IPX 3.1 %, every frame to ff:ff:ff:ff:ff:ff. NetBIOS alternates a
//! name query (UDP 137) and a datagram to the workgroup (138); LLC is an
//! 802.3 frame (length field) with an XID command between null SAPs,
//! the LLC frame that is broadcast by nature (STP BPDUs and NetBEUI go to
//! multicast groups); IPX is a RIP request (EtherType 0x8137); other UDP
//! is a data broadcast.
//!
//! IPv4 header and UDP checksums are right; unicast and broadcast UDP
//! payloads start with the frame's index (8 bytes, big-endian), for loss
//! and order checks at the far end. `--size` counts the FCS (not written)
//! and any VLAN tag; data frames grow their UDP payload to it, frames with
//! a natural length (ARP, ND, DHCP's 300-octet BOOTP message, ...) keep it
//! if longer and are padded otherwise (DHCP inside the datagram, the
//! others with an Ethernet trailer). With `--vlans V` a unicast flow stays
//! in VLAN 1 + flow mod V, other frames rotate per kind.
//!
//! # Exact proportions
//!
//! Weights are split into exact frame counts by largest remainder (each
//! count within 1 of weight × K / Σ weights), and the kinds are then
//! interleaved by a smooth weighted round robin over those counts (nginx's),
//! so every prefix of the capture is close to the mix, not only the whole.
//! The IMIX sizes (7:4:1 of 64, 594 and 1518 bytes) are spread the same way.
//!
//! # Flows
//!
//! `--flows F` (default: one per source host) are F distinct (source MAC,
//! destination MAC) pairs of the unicast frames, split between `local`
//! and `remote` in proportion to their weights (at least one each). The
//! n-th frame of a unicast kind uses that kind's flow n mod F_kind, and
//! flow j pairs source j mod N with its (j div N)-th destination, chosen
//! so that each round of N flows reaches N distinct destinations: loads
//! over sources and over destinations differ by at most one. If `--frames`
//! is too small for every flow to appear, it is raised (and stderr says
//! so).
//!
//! # Determinism, memory, speed
//!
//! The only randomness (uniform sizes, DHCP transaction ids, Dropbox host
//! ids) is a splitmix64 hash of `--seed` and the frame's index, so equal
//! arguments write byte-identical files, and frame i does not depend on
//! the frames before it. Frames are built one at a time into one reused
//! buffer and streamed through a `BufWriter`; nothing grows with the
//! number of frames or flows but the file. Measured (release build, 2
//! cores): 1,000,000 flows of 64-byte frames, a 76 MB file, in 0.1 s
//! with 9 MB resident; the same as IMIX, 374 MB, in 0.6 s.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufWriter, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use anyhow::{bail, Context};
use moose_wire::ethernet::emit as emit_ethernet;
use moose_wire::{arp, ipv4, ndisc, udp, EtherType, Mac, VlanTag};

/// The most frames one capture holds: 7.6 GB at 64 bytes.
pub const MAX_FRAMES: u64 = 100_000_000;
/// The most flows: enough for a large fabric's edge, small enough that
/// checking them in a test takes no time.
pub const MAX_FLOWS: u64 = 1_000_000;
/// Largest weight of one `--mix` kind, so that weight × frames fits easily.
const MAX_WEIGHT: u64 = 1_000_000;
/// The shortest Ethernet frame, without its FCS.
const MIN_FRAME: usize = 60;
/// The FCS, counted by `--size` but not written (captures do not hold it).
const FCS: usize = 4;
/// The UDP port unicast and plain broadcast frames go to: one that
/// Wireshark dissects as nothing but data.
const DATA_PORT: u16 = 4321;
/// Their source ports are `SOURCE_PORTS + flow mod 4096`, so that a NIC's
/// RSS hash spreads flows over queues; no Wireshark dissector claims them.
const SOURCE_PORTS: u16 = 61_000;

/// What fills data payloads after the frame index: text no Wireshark
/// heuristic dissector mistakes for its protocol (zeros are: ADwin's
/// claims all-zero datagrams of some lengths).
const FILLER: &[u8] = b"moose gen payload ";
/// IPv4 (no options) and UDP headers.
const IPV4_UDP_HEADERS: usize = 28;

/// Extended help of `moose gen`: what a user needs to build a matching
/// switch configuration and read the capture.
pub const LONG_ABOUT: &str = "\
Write a classic pcap file (Ethernet, microsecond timestamps) of synthetic
traffic for benchmarks of a MOOSE fabric: what the edge port of switch
--switch receives from its hosts. Needs no DPDK.

Host h of switch s (both from 0) has the real MAC 00:16:3e:SS:HH:HH, the
MOOSE address 02:XX:YY:00:00:00/24 + (h+1) where XX:YY = s+1 (switch 0's
prefix is 02:00:01:00:00:00/24), IPv4 10.s.(h>>8).(h&255) and IPv6
fd00::1:s:h.

Kinds (--mix weights, interleaved so that every prefix keeps the mix; counts
exact to +-1): local and remote IPv4/UDP unicast, broadcast IPv4/UDP, arp
requests, nd neighbour solicitations, dhcp DISCOVERs. Unicast frames visit
--flows distinct (source, destination) pairs round robin. Equal arguments
write byte-identical files.";

/// The arguments of `moose gen`.
#[derive(clap::Args, Debug, Clone)]
pub struct GenArgs {
    /// The capture file to write (classic pcap, linktype Ethernet).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Switches in the fabric (1..=256).
    #[arg(long, value_name = "M", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub switches: u32,
    /// Hosts on each switch (1..=65536).
    #[arg(long, value_name = "N", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub hosts_per_switch: u32,
    /// Distinct (source MAC, destination MAC) pairs of the unicast frames,
    /// visited round robin (1..=1000000; default: one per host of the
    /// switch). At most sources × destinations of each unicast kind.
    #[arg(long, value_name = "F",
          value_parser = clap::value_parser!(u64).range(1..=MAX_FLOWS))]
    pub flows: Option<u64>,
    /// Frames to write (1..=100000000); raised, with a note on stderr, if
    /// the unicast frames could not visit every flow.
    #[arg(long, value_name = "K", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(1..=MAX_FRAMES))]
    pub frames: u64,
    /// Frame length, FCS and any VLAN tag included (so 64 writes 60-byte
    /// frames): a length in 64..=1518, a range A-B (uniform from the seed;
    /// e.g. 64-1518), or imix (64, 594 and 1518 bytes in the ratio 7:4:1).
    /// Frames whose content needs more (ARP, ND, DHCP, NetBIOS, ...) keep
    /// their natural length.
    #[arg(long, value_name = "SIZE", default_value = "64", value_parser = parse_size)]
    pub size: SizeSpec,
    /// Weights of the frame kinds: local, remote, broadcast, arp, nd, dhcp
    /// (whole numbers; kinds left out weigh 0). Default: remote=100.
    #[arg(long, value_name = "KIND=W,...", value_parser = parse_mix)]
    pub mix: Option<Mix>,
    /// Tag every frame (802.1Q) with a VLAN id in 1..=V, spread evenly (a
    /// unicast flow keeps its VLAN); 0: untagged.
    #[arg(long, value_name = "V", default_value_t = 0,
          value_parser = clap::value_parser!(u16).range(0..=4094))]
    pub vlans: u16,
    /// A measured traffic profile instead of --mix: campus-broadcast is
    /// the broadcast mix of a campus network (ARP 63.9 %, Dropbox LAN sync
    /// 10.1 %, NetBIOS 9.0 %, DHCP 0.2 %, other UDP 6.9 %, LLC 6.8 %, IPX
    /// 3.1 %).
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
    /// The switch (from 0) whose edge port the capture feeds: the sources
    /// are its hosts.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub switch: u32,
    /// Destination MAC of remote unicast: the host's MOOSE address (as a
    /// host behind a MOOSE switch sends it) or its real MAC.
    #[arg(long, value_enum, default_value_t = RemoteDst::Moose)]
    pub remote_dst: RemoteDst,
    /// Seed of the only randomness (uniform sizes, DHCP xids, ...).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print a JSON summary on stdout instead of a line on stderr.
    #[arg(long)]
    pub json: bool,
}

/// `--profile`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    CampusBroadcast,
}

/// `--remote-dst`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RemoteDst {
    Moose,
    Real,
}

/// What a frame is. The first six are the kinds of `--mix`; the others
/// come only from `--profile campus-broadcast`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Local,
    Remote,
    Broadcast,
    Arp,
    Nd,
    Dhcp,
    /// Dropbox LAN sync discovery: UDP 17500 → 17500 broadcast, JSON.
    Dropbox,
    /// NetBIOS over UDP, alternately a name query (137) and a datagram
    /// to the workgroup's browsers (138).
    Netbios,
    /// Other IPv4 UDP broadcast.
    OtherUdp,
    /// IEEE 802.3 (length field) with LLC: an XID command from the null
    /// SAP, the LLC frame that is broadcast by nature (STP BPDUs and
    /// NetBEUI go to multicast groups).
    Llc,
    /// Novell IPX (EtherType 0x8137): a RIP request for all networks.
    Ipx,
}

impl Kind {
    /// The kinds `--mix` names, in its order.
    const MIX: [Kind; 6] = [
        Kind::Local,
        Kind::Remote,
        Kind::Broadcast,
        Kind::Arp,
        Kind::Nd,
        Kind::Dhcp,
    ];

    /// The name in `--mix` and in the JSON summary.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Local => "local",
            Kind::Remote => "remote",
            Kind::Broadcast => "broadcast",
            Kind::Arp => "arp",
            Kind::Nd => "nd",
            Kind::Dhcp => "dhcp",
            Kind::Dropbox => "dropbox",
            Kind::Netbios => "netbios",
            Kind::OtherUdp => "other_udp",
            Kind::Llc => "llc",
            Kind::Ipx => "ipx",
        }
    }

    fn is_unicast(self) -> bool {
        matches!(self, Kind::Local | Kind::Remote)
    }

    /// Whether the frame names another host (a destination, or the host
    /// it asks about), so the fabric must have one.
    fn needs_peer(self) -> bool {
        matches!(self, Kind::Arp | Kind::Nd | Kind::Netbios)
    }
}

/// The campus broadcast mix of seed document 004, in tenths of a percent
/// (they sum to 1000). IPv4 UDP's 26.2 % is Dropbox 10.1, NetBIOS 9.0,
/// DHCP 0.2 and the rest 6.9.
const CAMPUS: [(Kind, u64); 7] = [
    (Kind::Arp, 639),
    (Kind::Dropbox, 101),
    (Kind::Netbios, 90),
    (Kind::Dhcp, 2),
    (Kind::OtherUdp, 69),
    (Kind::Llc, 68),
    (Kind::Ipx, 31),
];

/// `--mix`: a weight per kind of [`Kind::MIX`], in that order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix([u64; 6]);

impl Default for Mix {
    /// All remote unicast.
    fn default() -> Mix {
        Mix([0, 100, 0, 0, 0, 0])
    }
}

impl Mix {
    fn weights(&self) -> Vec<(Kind, u64)> {
        Kind::MIX.iter().copied().zip(self.0).collect()
    }
}

/// Parses `--mix local=P,remote=P,...`.
fn parse_mix(s: &str) -> Result<Mix, String> {
    let mut w: [Option<u64>; 6] = [None; 6];
    for part in s.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not KIND=WEIGHT"))?;
        let k = k.trim();
        let i = Kind::MIX
            .iter()
            .position(|m| m.name() == k)
            .ok_or_else(|| {
                format!("unknown kind {k:?}: want local, remote, broadcast, arp, nd or dhcp")
            })?;
        if w[i].is_some() {
            return Err(format!("{k} is given twice"));
        }
        let v: u64 = v
            .trim()
            .parse()
            .ok()
            .filter(|&v| v <= MAX_WEIGHT)
            .ok_or_else(|| format!("{k}={v}: a weight is a whole number in 0..={MAX_WEIGHT}"))?;
        w[i] = Some(v);
    }
    let w = w.map(|x| x.unwrap_or(0));
    if w.iter().all(|&x| x == 0) {
        return Err("every weight is 0".into());
    }
    Ok(Mix(w))
}

/// `--size`: frame lengths as the Ethernet length field counts them (FCS
/// included).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SizeSpec {
    Fixed(u16),
    Uniform(u16, u16),
    Imix,
}

/// The simple IMIX: (length with FCS, share).
const IMIX: [(u16, u64); 3] = [(64, 7), (594, 4), (1518, 1)];

impl fmt::Display for SizeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeSpec::Fixed(n) => write!(f, "{n}"),
            SizeSpec::Uniform(a, b) => write!(f, "{a}-{b}"),
            SizeSpec::Imix => f.write_str("imix"),
        }
    }
}

/// Parses `--size`: `N`, `A-B` or `imix`, lengths in 64..=1518.
fn parse_size(s: &str) -> Result<SizeSpec, String> {
    fn len(t: &str) -> Result<u16, String> {
        t.trim()
            .parse::<u16>()
            .ok()
            .filter(|n| (64..=1518).contains(n))
            .ok_or_else(|| {
                format!("{t:?} is not a frame length in 64..=1518 (FCS included: 64 writes 60-byte frames)")
            })
    }
    if s.eq_ignore_ascii_case("imix") {
        return Ok(SizeSpec::Imix);
    }
    match s.split_once('-') {
        None => len(s).map(SizeSpec::Fixed),
        Some((a, b)) => {
            let (a, b) = (len(a)?, len(b)?);
            if a > b {
                return Err(format!("{s}: the range is empty ({a} > {b})"));
            }
            Ok(SizeSpec::Uniform(a, b))
        }
    }
}

/// The splitmix64 finaliser: a well-mixed 64-bit hash, the generator's
/// only source of randomness.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A random 64-bit value for (`seed`, `stream`, `index`): stateless, so
/// frame i's content depends on the arguments and i alone.
fn random(seed: u64, stream: u64, index: u64) -> u64 {
    splitmix64(splitmix64(seed ^ stream.rotate_left(32)) ^ index)
}

/// Random streams, one per use, so that adding one never shifts another.
mod stream {
    pub const SIZE: u64 = 1;
    pub const XID: u64 = 2;
    pub const HOST_INT: u64 = 3;
}

/// Splits `total` in proportion to `weights` by largest remainder (ties
/// to the earlier weight): the shares sum to `total` and each is within 1
/// of total × w / Σw. Zero weights get zero.
fn apportion(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<u128> = weights
        .iter()
        .map(|&w| u128::from(total) * u128::from(w))
        .collect();
    // Each floor is at most `total`, so it fits.
    let mut shares: Vec<u64> = exact.iter().map(|&e| (e / sum) as u64).collect();
    let left = total - shares.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(exact[i] % sum));
    for &i in order.iter().take(left as usize) {
        shares[i] += 1;
    }
    shares
}

/// Smooth weighted round robin (nginx's) over exact counts: over
/// `Σcounts` calls, [`next`](Interleave::next) returns index i exactly
/// `counts[i]` times, and no index runs more than one ahead of its share
/// at any point, so every prefix keeps the proportions.
struct Interleave {
    counts: Vec<i64>,
    current: Vec<i64>,
    total: i64,
}

impl Interleave {
    /// Counts are at most [`MAX_FRAMES`] each, so the sums fit an i64.
    fn new(counts: &[u64]) -> Interleave {
        let counts: Vec<i64> = counts.iter().map(|&c| c as i64).collect();
        Interleave {
            total: counts.iter().sum(),
            current: vec![0; counts.len()],
            counts,
        }
    }

    fn next(&mut self) -> usize {
        let mut best = 0;
        for i in 0..self.counts.len() {
            self.current[i] += self.counts[i];
            if self.current[i] > self.current[best] {
                best = i;
            }
        }
        self.current[best] -= self.total;
        best
    }
}

/// A host: switch and index under it, both from 0 (validated below 256
/// and 65536, so the narrowing below keeps every bit).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
struct Host {
    switch: u32,
    index: u32,
}

impl Host {
    /// `00:16:3e:SS:HH:HH`.
    fn real_mac(self) -> Mac {
        let h = self.index.to_be_bytes();
        Mac([0x00, 0x16, 0x3e, self.switch as u8, h[2], h[3]])
    }

    /// Switch s's prefix `02:XX:YY/24` (XX:YY = s+1) with host id h+1.
    fn moose_mac(self) -> Mac {
        let p = (self.switch + 1).to_be_bytes();
        let id = (self.index + 1).to_be_bytes();
        Mac([0x02, p[2], p[3], id[1], id[2], id[3]])
    }

    /// `10.s.(h >> 8).(h & 0xff)`.
    fn ipv4(self) -> Ipv4Addr {
        let h = self.index.to_be_bytes();
        Ipv4Addr::new(10, self.switch as u8, h[2], h[3])
    }

    /// `fd00::1:s:h` (the 1 keeps host 0 of switch 0 off `fd00::`, the
    /// subnet-router anycast address).
    fn ipv6(self) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 1, self.switch as u16, self.index as u16)
    }

    /// The NetBIOS name `HOSTSSHHHH` (hex), space-padded to 15 bytes.
    fn netbios_name(self) -> [u8; 15] {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut n = *b"HOST           ";
        let v = (self.switch << 16) | self.index;
        for (k, b) in n[4..10].iter_mut().enumerate() {
            *b = HEX[((v >> (20 - 4 * k)) & 0xf) as usize];
        }
        n
    }
}

/// The fabric: `switches` × `hosts` hosts; the capture's sources are the
/// hosts of switch `local`.
#[derive(Copy, Clone, Debug)]
struct Fabric {
    switches: u32,
    hosts: u32,
    local: u32,
}

impl Fabric {
    fn source(&self, n: u64) -> Host {
        Host {
            switch: self.local,
            index: (n % u64::from(self.hosts)) as u32,
        }
    }

    fn total(&self) -> u64 {
        u64::from(self.switches) * u64::from(self.hosts)
    }

    /// The host after `from` by `1 + k mod (total - 1)` in the order
    /// (switch, index): never `from` itself (the fabric has two hosts or
    /// more where this is used).
    fn peer(&self, from: Host, k: u64) -> Host {
        let t = self.total();
        let me = u64::from(from.switch) * u64::from(self.hosts) + u64::from(from.index);
        let g = (me + 1 + k % (t - 1)) % t;
        Host {
            switch: (g / u64::from(self.hosts)) as u32,
            index: (g % u64::from(self.hosts)) as u32,
        }
    }

    /// The other host of a broadcast-ish frame: the `n`-th frame of its
    /// kind comes from source n mod N and names that source's
    /// (n div N)-th peer, so consecutive frames ask about different hosts.
    fn asker_and_peer(&self, n: u64) -> (Host, Host) {
        let src = self.source(n);
        (src, self.peer(src, n / u64::from(self.hosts)))
    }

    /// Destinations one source has for a unicast kind.
    fn destinations(&self, kind: Kind) -> u64 {
        let n = u64::from(self.hosts);
        match kind {
            Kind::Local => n - 1,
            _ => u64::from(self.switches - 1) * n,
        }
    }

    /// Flow `j` of a unicast kind: source j mod N and its r-th destination
    /// (r = j div N < destinations). In each round r the N sources reach N
    /// distinct hosts, so loads differ by one at most: locally source s
    /// sends to host s+1+r; remotely to host s + r div (M-1) of the
    /// (r mod (M-1))-th other switch, cycling switches round by round.
    fn flow(&self, kind: Kind, j: u64) -> (Host, Host) {
        let n = u64::from(self.hosts);
        let src = self.source(j);
        let (s, r) = (u64::from(src.index), j / n);
        let dst = match kind {
            Kind::Local => Host {
                switch: self.local,
                index: ((s + 1 + r) % n) as u32,
            },
            _ => {
                let others = u64::from(self.switches - 1);
                let o = (r % others) as u32;
                Host {
                    switch: (self.local + 1 + o) % self.switches,
                    index: ((s + r / others) % n) as u32,
                }
            }
        };
        (src, dst)
    }
}

/// The flows of one unicast kind: ids `base..base + count` of the capture.
#[derive(Copy, Clone, Debug)]
struct Flows {
    base: u64,
    count: u64,
}

/// What to write, validated: everything [`generate`] needs.
#[derive(Debug)]
pub struct Plan {
    fabric: Fabric,
    /// The kinds with a positive weight, and their exact frame counts.
    kinds: Vec<Kind>,
    counts: Vec<u64>,
    /// Per entry of `kinds`: its flows if it is unicast.
    flows: Vec<Option<Flows>>,
    frames: u64,
    size: SizeSpec,
    vlans: u16,
    remote_real: bool,
    seed: u64,
    /// What stderr should say about adjusted arguments.
    pub notes: Vec<String>,
}

impl Plan {
    /// Validates the arguments against each other; errors name the flag.
    pub fn new(a: &GenArgs) -> anyhow::Result<Plan> {
        let fabric = Fabric {
            switches: a.switches,
            hosts: a.hosts_per_switch,
            local: a.switch,
        };
        if a.switch >= a.switches {
            bail!(
                "--switch {}: the fabric has switches 0..={} (--switches {})",
                a.switch,
                a.switches - 1,
                a.switches
            );
        }
        let mut notes = Vec::new();
        let weighted = match a.profile {
            Some(Profile::CampusBroadcast) => {
                if a.mix.is_some() {
                    notes.push("--profile campus-broadcast overrides --mix".to_string());
                }
                CAMPUS.to_vec()
            }
            None => a.mix.clone().unwrap_or_default().weights(),
        };
        let weighted: Vec<(Kind, u64)> = weighted.into_iter().filter(|&(_, w)| w > 0).collect();
        check_kinds(&fabric, &weighted)?;
        let weights: Vec<u64> = weighted.iter().map(|&(_, w)| w).collect();
        let kinds: Vec<Kind> = weighted.iter().map(|&(k, _)| k).collect();
        let flow_counts = split_flows(&fabric, &weighted, a.flows)?;
        let frames = frames_for_flows(a.frames, &weights, &flow_counts);
        if frames > MAX_FRAMES {
            bail!(
                "--flows {}: the mix would need {frames} frames for every flow to appear, more than {MAX_FRAMES}",
                flow_counts.iter().sum::<u64>()
            );
        }
        if frames > a.frames {
            notes.push(format!(
                "--frames raised from {} to {frames} so that each of the {} flows appears",
                a.frames,
                flow_counts.iter().sum::<u64>()
            ));
        }
        let flows = flow_ranges(&kinds, &flow_counts);
        Ok(Plan {
            fabric,
            counts: apportion(frames, &weights),
            kinds,
            flows,
            frames,
            size: a.size,
            vlans: a.vlans,
            remote_real: a.remote_dst == RemoteDst::Real,
            seed: a.seed,
            notes,
        })
    }

    /// Distinct (source, destination) pairs of the capture.
    fn flow_total(&self) -> u64 {
        self.flows.iter().flatten().map(|f| f.count).sum()
    }
}

/// Numbers the flows of the unicast kinds one after the other, so that
/// each flow has one id in the capture (its VLAN and source port).
fn flow_ranges(kinds: &[Kind], counts: &[u64]) -> Vec<Option<Flows>> {
    let mut base = 0;
    kinds
        .iter()
        .zip(counts)
        .map(|(k, &count)| {
            k.is_unicast().then(|| {
                base += count;
                Flows {
                    base: base - count,
                    count,
                }
            })
        })
        .collect()
}

/// Refuses kinds the fabric cannot give a destination or peer.
fn check_kinds(f: &Fabric, weighted: &[(Kind, u64)]) -> anyhow::Result<()> {
    for &(k, _) in weighted {
        match k {
            Kind::Remote if f.switches < 2 => bail!(
                "--mix: remote unicast needs a second switch (--switches {})",
                f.switches
            ),
            Kind::Local if f.hosts < 2 => bail!(
                "--mix: local unicast needs two hosts on the switch (--hosts-per-switch {})",
                f.hosts
            ),
            k if k.needs_peer() && f.total() < 2 => bail!(
                "--mix: {} frames ask about another host, and the fabric has one (--switches 1 --hosts-per-switch 1)",
                k.name()
            ),
            _ => {}
        }
    }
    Ok(())
}

/// Flows per entry of `weighted` (0 for kinds that are not unicast): F
/// split over the unicast kinds by weight (largest remainder), at least
/// one each, each at most sources × destinations.
fn split_flows(
    f: &Fabric,
    weighted: &[(Kind, u64)],
    flows: Option<u64>,
) -> anyhow::Result<Vec<u64>> {
    let unicast: Vec<usize> = (0..weighted.len())
        .filter(|&i| weighted[i].0.is_unicast())
        .collect();
    let mut out = vec![0; weighted.len()];
    if unicast.is_empty() {
        if let Some(n) = flows {
            bail!("--flows {n}: the mix has no unicast frames (local or remote) to carry flows");
        }
        return Ok(out);
    }
    let total = flows.unwrap_or(u64::from(f.hosts));
    let kinds = unicast.len() as u64;
    if total < kinds {
        bail!("--flows {total}: local and remote unicast need at least one flow each");
    }
    let w: Vec<u64> = unicast.iter().map(|&i| weighted[i].1).collect();
    // Split as the frames are split, so that a capture of F unicast frames
    // holds every flow once; a kind rounded down to none takes one from
    // the largest (which has two or more, as F ≥ the number of kinds).
    let mut shares = apportion(total, &w);
    while let Some(z) = shares.iter().position(|&n| n == 0) {
        let big = (0..shares.len()).max_by_key(|&k| shares[k]).unwrap_or(z);
        shares[big] -= 1;
        shares[z] += 1;
    }
    for (&i, mine) in unicast.iter().zip(shares) {
        let kind = weighted[i].0;
        let max = u64::from(f.hosts) * f.destinations(kind);
        if mine > max {
            bail!(
                "--flows {total}: {mine} of them are {} unicast, which has at most {max} ({} sources × {} destinations); add hosts or switches",
                kind.name(),
                f.hosts,
                f.destinations(kind)
            );
        }
        out[i] = mine;
    }
    Ok(out)
}

/// The frames to write: `asked`, or more if some unicast kind would get
/// fewer frames than flows. The smallest whole-capture size that fits is
/// F × Σw / Σunicast w; if rounding leaves a kind short, the bound
/// F_kind × Σw / w_kind (which always fits) is used.
fn frames_for_flows(asked: u64, weights: &[u64], flows: &[u64]) -> u64 {
    let fits = |k: u64| apportion(k, weights).iter().zip(flows).all(|(c, f)| c >= f);
    if fits(asked) {
        return asked;
    }
    let ceil = |a: u128, b: u128| a.div_ceil(b).min(u128::from(u64::MAX)) as u64;
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let (f, u) = weights
        .iter()
        .zip(flows)
        .filter(|(_, &f)| f > 0)
        .fold((0u128, 0u128), |(f, u), (&w, &n)| {
            (f + u128::from(n), u + u128::from(w))
        });
    let even = asked.max(ceil(f * sum, u));
    if fits(even) {
        return even;
    }
    weights
        .iter()
        .zip(flows)
        .filter(|(_, &f)| f > 0)
        .map(|(&w, &n)| ceil(u128::from(n) * sum, u128::from(w)))
        .fold(asked, u64::max)
}

/// Frame lengths, without FCS, frame by frame.
enum Sizes {
    Fixed(usize),
    Uniform { lo: u64, span: u64, seed: u64 },
    Imix(Interleave),
}

impl Sizes {
    fn new(spec: SizeSpec, frames: u64, seed: u64) -> Sizes {
        match spec {
            SizeSpec::Fixed(n) => Sizes::Fixed(usize::from(n) - FCS),
            SizeSpec::Uniform(a, b) => Sizes::Uniform {
                lo: u64::from(a),
                span: u64::from(b - a) + 1,
                seed,
            },
            SizeSpec::Imix => {
                let w: Vec<u64> = IMIX.iter().map(|&(_, w)| w).collect();
                Sizes::Imix(Interleave::new(&apportion(frames, &w)))
            }
        }
    }

    fn next(&mut self, i: u64) -> usize {
        match self {
            Sizes::Fixed(n) => *n,
            Sizes::Uniform { lo, span, seed } => {
                // Multiply-shift: uniform enough, and no division.
                let r = random(*seed, stream::SIZE, i);
                let off = (u128::from(r) * u128::from(*span)) >> 64;
                (*lo + off as u64) as usize - FCS
            }
            Sizes::Imix(il) => usize::from(IMIX[il.next()].0) - FCS,
        }
    }
}

/// The IPv4 and UDP header fields of a datagram.
struct Udp4 {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    ident: u16,
}

/// Builds frames into one reused buffer.
struct Builder<'p> {
    plan: &'p Plan,
    buf: Vec<u8>,
    scratch: Vec<u8>,
}

impl<'p> Builder<'p> {
    fn new(plan: &'p Plan) -> Builder<'p> {
        Builder {
            plan,
            buf: Vec::with_capacity(2048),
            scratch: Vec::with_capacity(512),
        }
    }

    /// Frame `i` of the capture, the `n`-th of its kind, `len` octets
    /// long (or its natural length if longer).
    fn frame(&mut self, kind: Kind, flows: Option<Flows>, n: u64, i: u64, len: usize) -> &[u8] {
        let len = len.max(MIN_FRAME);
        let f = self.plan.fabric;
        match (kind, flows) {
            (Kind::Local | Kind::Remote, Some(fl)) => {
                let j = n % fl.count;
                let (src, dst) = f.flow(kind, j);
                let dmac = if kind == Kind::Remote && !self.plan.remote_real {
                    dst.moose_mac()
                } else {
                    dst.real_mac()
                };
                self.data(dmac, src, dst.ipv4(), fl.base + j, i, len);
            }
            (Kind::Broadcast | Kind::OtherUdp, _) => {
                let src = f.source(n);
                self.data(Mac::BROADCAST, src, Ipv4Addr::BROADCAST, n, i, len);
            }
            (Kind::Arp, _) => self.arp(n),
            (Kind::Nd, _) => self.nd(n),
            (Kind::Dhcp, _) => self.dhcp(n, i, len),
            (Kind::Dropbox, _) => self.dropbox(n, i),
            (Kind::Netbios, _) => self.netbios(n, i),
            (Kind::Llc, _) => self.llc(n),
            (Kind::Ipx, _) => self.ipx(n),
            // Plan::new gives every unicast kind its flows.
            (Kind::Local | Kind::Remote, None) => unreachable!("unicast without flows"),
        }
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        &self.buf
    }

    /// Starts a frame: the Ethernet header, tagged with VLAN
    /// `1 + spread mod V` if tagging.
    fn ethernet(&mut self, dst: Mac, src: Mac, spread: u64, ethertype: u16) {
        let tag = (self.plan.vlans > 0).then(|| VlanTag {
            vid: 1 + (spread % u64::from(self.plan.vlans)) as u16,
            pcp: 0,
            dei: false,
        });
        emit_ethernet(
            &mut self.buf,
            dst,
            src,
            tag,
            EtherType::from(ethertype),
            &[],
        );
    }

    /// IPv4/UDP data to `dst_mac`/`dst_ip` on flow (or counter) `flow`,
    /// its payload the frame index and then [`FILLER`] up to `len`.
    fn data(&mut self, dst_mac: Mac, src: Host, dst_ip: Ipv4Addr, flow: u64, i: u64, len: usize) {
        self.ethernet(dst_mac, src.real_mac(), flow, 0x0800);
        let u = Udp4 {
            src: src.ipv4(),
            dst: dst_ip,
            sport: SOURCE_PORTS + (flow % 4096) as u16,
            dport: DATA_PORT,
            ident: i as u16,
        };
        let room = len.saturating_sub(self.buf.len() + IPV4_UDP_HEADERS);
        self.scratch.clear();
        self.scratch.extend_from_slice(&i.to_be_bytes());
        let fill = room.saturating_sub(self.scratch.len());
        self.scratch.extend(FILLER.iter().cycle().take(fill));
        udp4(&mut self.buf, &u, &self.scratch, 0);
    }

    /// An ARP request, broadcast, for a peer's IPv4.
    fn arp(&mut self, n: u64) {
        let (src, peer) = self.plan.fabric.asker_and_peer(n);
        self.ethernet(Mac::BROADCAST, src.real_mac(), n, 0x0806);
        let at = self.buf.len();
        self.buf.resize(at + arp::PACKET_LEN, 0);
        arp::Repr {
            operation: arp::Operation::Request,
            sender_hardware_addr: src.real_mac(),
            sender_protocol_addr: src.ipv4(),
            target_hardware_addr: Mac::ZERO,
            target_protocol_addr: peer.ipv4(),
        }
        .emit(&mut arp::Packet::new_unchecked(&mut self.buf[at..]));
    }

    /// A neighbour solicitation for a peer's IPv6, to its solicited-node
    /// group, with the source's link-layer address.
    fn nd(&mut self, n: u64) {
        let (src, peer) = self.plan.fabric.asker_and_peer(n);
        let target = peer.ipv6();
        let t = target.octets();
        let group = Ipv6Addr::from([
            0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13], t[14], t[15],
        ]);
        let dmac = Mac([0x33, 0x33, 0xff, t[13], t[14], t[15]]);
        self.ethernet(dmac, src.real_mac(), n, 0x86dd);
        let ns = ndisc::Repr::NeighborSolicit {
            target_addr: target,
            lladdr: Some(src.real_mac()),
        };
        let body = ns.buffer_len();
        self.buf.extend_from_slice(&[0x60, 0, 0, 0]);
        self.buf.extend_from_slice(&(body as u16).to_be_bytes());
        self.buf
            .extend_from_slice(&[moose_wire::icmpv6::NEXT_HEADER, 255]);
        self.buf.extend_from_slice(&src.ipv6().octets());
        self.buf.extend_from_slice(&group.octets());
        let at = self.buf.len();
        self.buf.resize(at + body, 0);
        ns.emit(
            &src.ipv6(),
            &group,
            &mut ndisc::Packet::new_unchecked(&mut self.buf[at..]),
        );
    }

    /// A DHCPv4 DISCOVER in the BOOTP layout, padded to BOOTP's 300 octets
    /// (and, inside the datagram, to `len`).
    fn dhcp(&mut self, n: u64, i: u64, len: usize) {
        let src = self.plan.fabric.source(n);
        let mac = src.real_mac();
        let xid = random(self.plan.seed, stream::XID, i) as u32;
        let b = &mut self.scratch;
        b.clear();
        b.extend_from_slice(&[1, 1, 6, 0]); // BOOTREQUEST, Ethernet, hlen 6, hops
        b.extend_from_slice(&xid.to_be_bytes());
        b.extend_from_slice(&[0; 4]); // secs, flags
        b.extend_from_slice(&[0; 16]); // ciaddr, yiaddr, siaddr, giaddr
        b.extend_from_slice(&mac.0);
        b.extend_from_slice(&[0; 10 + 64 + 128]); // chaddr padding, sname, file
        b.extend_from_slice(&moose_wire::dhcp::MAGIC_COOKIE);
        b.extend_from_slice(&[53, 1, 1]); // DHCPDISCOVER
        b.extend_from_slice(&[61, 7, 1]); // client id: type Ethernet, the MAC
        b.extend_from_slice(&mac.0);
        b.extend_from_slice(&[55, 4, 1, 3, 6, 15]); // mask, router, DNS, domain
        b.push(255);
        b.resize(300, 0);
        self.ethernet(Mac::BROADCAST, mac, n, 0x0800);
        let u = Udp4 {
            src: Ipv4Addr::UNSPECIFIED,
            dst: Ipv4Addr::BROADCAST,
            sport: moose_wire::dhcp::CLIENT_PORT,
            dport: moose_wire::dhcp::SERVER_PORT,
            ident: i as u16,
        };
        udp4(&mut self.buf, &u, &self.scratch, len);
    }

    /// A Dropbox LAN sync discovery broadcast (UDP 17500 → 17500): a JSON
    /// object with the client's id and its shared namespaces.
    fn dropbox(&mut self, n: u64, i: u64) {
        let src = self.plan.fabric.source(n);
        let id = random(self.plan.seed, stream::HOST_INT, u64::from(src.index)) >> 16;
        self.scratch.clear();
        // Writing into a Vec cannot fail.
        let _ = write!(
            self.scratch,
            "{{\"host_int\": {id}, \"version\": [2, 0], \"displayname\": \"\", \"port\": 17500, \"namespaces\": [{}, {}]}}",
            id % 1_000_000,
            id % 1_000_000 + 1
        );
        self.ethernet(Mac::BROADCAST, src.real_mac(), n, 0x0800);
        let u = Udp4 {
            src: src.ipv4(),
            dst: Ipv4Addr::BROADCAST,
            sport: 17500,
            dport: 17500,
            ident: i as u16,
        };
        udp4(&mut self.buf, &u, &self.scratch, 0);
    }

    /// NetBIOS over UDP, broadcast: even frames a name-service query
    /// (137) for a peer's name, odd ones a direct-group datagram (138)
    /// to the workgroup's browser election name.
    fn netbios(&mut self, n: u64, i: u64) {
        let (src, peer) = self.plan.fabric.asker_and_peer(n / 2);
        let b = &mut self.scratch;
        b.clear();
        let port = if n.is_multiple_of(2) {
            b.extend_from_slice(&(n as u16).to_be_bytes()); // transaction id
            b.extend_from_slice(&[0x01, 0x10, 0, 1, 0, 0, 0, 0, 0, 0]); // query, RD, B; 1 question
            netbios_name(b, &peer.netbios_name(), 0x00);
            b.extend_from_slice(&[0, 0x20, 0, 1]); // NB, IN
            137
        } else {
            b.extend_from_slice(&[0x11, 0x02]); // direct group, first fragment, B node
            b.extend_from_slice(&(n as u16).to_be_bytes());
            b.extend_from_slice(&src.ipv4().octets());
            b.extend_from_slice(&138u16.to_be_bytes());
            b.extend_from_slice(&[0, 0, 0, 0]); // datagram length (below), packet offset
            let names = b.len();
            netbios_name(b, &src.netbios_name(), 0x00);
            netbios_name(b, b"WORKGROUP      ", 0x1e);
            let len = (b.len() - names) as u16;
            b[names - 4..names - 2].copy_from_slice(&len.to_be_bytes());
            138
        };
        self.ethernet(Mac::BROADCAST, src.real_mac(), n, 0x0800);
        let u = Udp4 {
            src: src.ipv4(),
            dst: Ipv4Addr::BROADCAST,
            sport: port,
            dport: port,
            ident: i as u16,
        };
        udp4(&mut self.buf, &u, &self.scratch, 0);
    }

    /// IEEE 802.3 + LLC: an XID command (poll) from the null SAP to the
    /// null SAP, broadcast, with the basic XID information field.
    fn llc(&mut self, n: u64) {
        let src = self.plan.fabric.source(n);
        const LLC: [u8; 6] = [0x00, 0x00, 0xbf, 0x81, 0x01, 0x00];
        self.ethernet(Mac::BROADCAST, src.real_mac(), n, LLC.len() as u16);
        self.buf.extend_from_slice(&LLC);
    }

    /// IPX (Ethernet II): a RIP request for every network, broadcast.
    fn ipx(&mut self, n: u64) {
        let src = self.plan.fabric.source(n);
        self.ethernet(Mac::BROADCAST, src.real_mac(), n, 0x8137);
        let b = &mut self.buf;
        b.extend_from_slice(&[0xff, 0xff, 0, 40, 0, 1]); // no checksum, length 40, hops, RIP
        b.extend_from_slice(&[0; 4]); // this network
        b.extend_from_slice(&Mac::BROADCAST.0);
        b.extend_from_slice(&0x0453u16.to_be_bytes()); // RIP socket
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&src.real_mac().0);
        b.extend_from_slice(&0x0453u16.to_be_bytes());
        b.extend_from_slice(&[0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        // request: all networks
    }
}

/// Appends a NetBIOS name in the encoded form names take on the wire:
/// length 32, each nibble of the 16-byte name (15 + suffix) as 'A' + it,
/// then the empty scope.
fn netbios_name(b: &mut Vec<u8>, name: &[u8; 15], suffix: u8) {
    b.push(32);
    for &c in name.iter().chain(std::iter::once(&suffix)) {
        b.extend_from_slice(&[b'A' + (c >> 4), b'A' + (c & 0xf)]);
    }
    b.push(0);
}

/// Appends an IPv4/UDP datagram with `payload`, zero-extended so the
/// frame reaches `fill_to` octets (the datagram absorbs the padding, so
/// its lengths and checksums cover it; 0: no padding), with both
/// checksums computed.
fn udp4(buf: &mut Vec<u8>, u: &Udp4, payload: &[u8], fill_to: usize) {
    let ip = buf.len();
    buf.extend_from_slice(&[0x45, 0, 0, 0]);
    buf.extend_from_slice(&u.ident.to_be_bytes());
    buf.extend_from_slice(&[0x40, 0, 64, 17, 0, 0]); // DF, TTL 64, UDP
    buf.extend_from_slice(&u.src.octets());
    buf.extend_from_slice(&u.dst.octets());
    let dgram = buf.len();
    buf.extend_from_slice(&u.sport.to_be_bytes());
    buf.extend_from_slice(&u.dport.to_be_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(payload);
    if buf.len() < fill_to {
        buf.resize(fill_to, 0);
    }
    // Frames are at most 1514 octets, so the lengths fit.
    let (ip_len, udp_len) = ((buf.len() - ip) as u16, (buf.len() - dgram) as u16);
    buf[ip + 2..ip + 4].copy_from_slice(&ip_len.to_be_bytes());
    buf[dgram + 4..dgram + 6].copy_from_slice(&udp_len.to_be_bytes());
    udp::Packet::new_unchecked(&mut buf[dgram..]).fill_checksum_v4(u.src, u.dst);
    ipv4::Packet::new_unchecked(&mut buf[ip..]).fill_checksum();
}

/// A classic libpcap file (the `pcap-file` crate's writer: magic
/// 0xa1b2c3d4 in native byte order, microsecond timestamps, version 2.4,
/// linktype 1 Ethernet), counting the bytes it wrote.
struct PcapWriter<W: Write> {
    w: pcap_file::pcap::PcapWriter<W>,
    bytes: u64,
}

impl<W: Write> PcapWriter<W> {
    /// The classic format's file and record headers.
    const FILE_HEADER: u64 = 24;
    const RECORD_HEADER: u64 = 16;

    fn new(out: W) -> io::Result<PcapWriter<W>> {
        let w = pcap_file::pcap::PcapWriter::new(out).map_err(io::Error::other)?;
        Ok(PcapWriter {
            w,
            bytes: Self::FILE_HEADER,
        })
    }

    /// One record, stamped `us` microseconds after the epoch.
    fn write(&mut self, us: u64, frame: &[u8]) -> io::Result<()> {
        let p = pcap_file::pcap::PcapPacket::new(
            std::time::Duration::from_micros(us),
            frame.len() as u32,
            frame,
        );
        self.w.write_packet(&p).map_err(io::Error::other)?;
        self.bytes += Self::RECORD_HEADER + frame.len() as u64;
        Ok(())
    }

    fn finish(self) -> io::Result<(W, u64)> {
        let mut out = self.w.into_writer();
        out.flush()?;
        Ok((out, self.bytes))
    }
}

/// What was written.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub frames: u64,
    /// The file's size.
    pub bytes: u64,
    /// The frames' octets (as captured: no FCS).
    pub frame_bytes: u64,
    pub flows: u64,
    pub kinds: BTreeMap<&'static str, u64>,
    /// Frames by length as `--size` counts it (FCS included).
    pub sizes: BTreeMap<usize, u64>,
    pub vlans: u16,
}

impl Summary {
    fn json(&self, file: &str) -> serde_json::Value {
        let sizes: serde_json::Map<String, serde_json::Value> = self
            .sizes
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        serde_json::json!({
            "file": file,
            "frames": self.frames,
            "bytes": self.bytes,
            "frame_bytes": self.frame_bytes,
            "flows": self.flows,
            "kinds": self.kinds,
            "sizes": sizes,
            "vlans": self.vlans,
        })
    }

    fn line(&self, file: &str) -> String {
        let kinds: Vec<String> = self.kinds.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let sizes = if self.sizes.len() <= 4 {
            let s: Vec<String> = self.sizes.iter().map(|(k, v)| format!("{k}×{v}")).collect();
            s.join(" ")
        } else {
            let lo = self.sizes.keys().next().copied().unwrap_or(0);
            let hi = self.sizes.keys().last().copied().unwrap_or(0);
            format!("{lo}..{hi} ({} lengths)", self.sizes.len())
        };
        format!(
            "wrote {file}: {} frames, {} bytes; {} flows; {}; sizes {sizes}; {}",
            self.frames,
            self.bytes,
            self.flows,
            kinds.join(", "),
            if self.vlans == 0 {
                "untagged".to_string()
            } else {
                format!("VLANs 1..={}", self.vlans)
            }
        )
    }
}

/// Writes the capture `plan` describes to `out`, frame by frame.
pub fn generate<W: Write>(plan: &Plan, out: W) -> io::Result<(W, Summary)> {
    let mut pcap = PcapWriter::new(out)?;
    let mut kinds = Interleave::new(&plan.counts);
    let mut sizes = Sizes::new(plan.size, plan.frames, plan.seed);
    let mut seen = vec![0u64; plan.kinds.len()];
    let mut b = Builder::new(plan);
    let mut s = Summary {
        flows: plan.flow_total(),
        vlans: plan.vlans,
        ..Summary::default()
    };
    for i in 0..plan.frames {
        let k = kinds.next();
        let len = sizes.next(i);
        let frame = b.frame(plan.kinds[k], plan.flows[k], seen[k], i, len);
        seen[k] += 1;
        pcap.write(i, frame)?;
        s.frame_bytes += frame.len() as u64;
        *s.sizes.entry(frame.len() + FCS).or_default() += 1;
    }
    for (k, n) in plan.kinds.iter().zip(seen) {
        s.kinds.insert(k.name(), n);
    }
    let (out, bytes) = pcap.finish()?;
    s.frames = plan.frames;
    s.bytes = bytes;
    Ok((out, s))
}

/// `moose gen`.
pub fn run(a: &GenArgs) -> anyhow::Result<()> {
    let plan = Plan::new(a)?;
    for n in &plan.notes {
        eprintln!("moose: {n}");
    }
    let name = a.out.display().to_string();
    let file = std::fs::File::create(&a.out).with_context(|| format!("--out {name}"))?;
    let (_, summary) = generate(&plan, BufWriter::with_capacity(1 << 20, file))
        .with_context(|| format!("--out {name}: writing"))?;
    if a.json {
        crate::out::println(&serde_json::to_string_pretty(&summary.json(&name))?);
    } else {
        eprintln!("moose: {}", summary.line(&name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::collections::{HashMap, HashSet};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        gen: GenArgs,
    }

    fn args(extra: &[&str]) -> GenArgs {
        let mut v = vec!["gen", "--out", "/dev/null"];
        v.extend_from_slice(extra);
        Cli::try_parse_from(v).expect("arguments parse").gen
    }

    fn plan(extra: &[&str]) -> Plan {
        Plan::new(&args(extra)).expect("a valid plan")
    }

    /// The capture and its summary, in memory.
    fn capture(extra: &[&str]) -> (Vec<u8>, Summary) {
        generate(&plan(extra), Vec::new()).expect("writing to memory")
    }

    /// The frames of a capture [`PcapWriter`] wrote.
    fn frames(pcap: &[u8]) -> Vec<&[u8]> {
        assert_eq!(pcap[..4], 0xa1b2_c3d4u32.to_le_bytes());
        assert_eq!(pcap[20..24], 1u32.to_le_bytes(), "linktype Ethernet");
        let mut out = Vec::new();
        let mut at = 24;
        while at < pcap.len() {
            let incl = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
            let orig = u32::from_le_bytes(pcap[at + 12..at + 16].try_into().unwrap()) as usize;
            assert_eq!(incl, orig);
            out.push(&pcap[at + 16..at + 16 + incl]);
            at += 16 + incl;
        }
        assert_eq!(at, pcap.len());
        out
    }

    /// (dst, src, VLAN id, EtherType or length, payload) of a frame.
    fn eth(f: &[u8]) -> (Mac, Mac, Option<u16>, u16, &[u8]) {
        let (dst, src) = (Mac::from_slice(&f[0..6]), Mac::from_slice(&f[6..12]));
        let t = u16::from_be_bytes([f[12], f[13]]);
        if t == 0x8100 {
            let vid = u16::from_be_bytes([f[14], f[15]]) & 0xfff;
            (
                dst,
                src,
                Some(vid),
                u16::from_be_bytes([f[16], f[17]]),
                &f[18..],
            )
        } else {
            (dst, src, None, t, &f[14..])
        }
    }

    fn udp_port(f: &[u8]) -> Option<u16> {
        let (_, _, _, t, p) = eth(f);
        (t == 0x0800 && p[9] == 17).then(|| u16::from_be_bytes([p[22], p[23]]))
    }

    /// The share of each kind differs from weight × K / Σ by less than
    /// one, whatever the weights.
    #[test]
    fn gen_apportion_is_exact_to_one() {
        let mut x = 7u64;
        for _ in 0..500 {
            x = splitmix64(x);
            let n = 1 + (x % 11) as usize;
            let w: Vec<u64> = (0..n).map(|k| random(x, 9, k as u64) % 1000).collect();
            let total = x % 100_000;
            let shares = apportion(total, &w);
            let sum: u64 = w.iter().sum();
            assert_eq!(shares.iter().sum::<u64>(), if sum == 0 { 0 } else { total });
            for (s, w) in shares.iter().zip(&w) {
                if sum > 0 {
                    let exact = total as f64 * *w as f64 / sum as f64;
                    assert!((*s as f64 - exact).abs() < 1.0, "{s} vs {exact}");
                }
            }
        }
    }

    /// The round robin returns each index exactly its count, and every
    /// prefix stays within 2 of its proportional share.
    #[test]
    fn gen_interleave_is_exact_and_smooth() {
        let mut x = 11u64;
        for _ in 0..200 {
            x = splitmix64(x);
            let n = 1 + (x % 8) as usize;
            let counts: Vec<u64> = (0..n).map(|k| random(x, 5, k as u64) % 300).collect();
            let total: u64 = counts.iter().sum();
            let mut il = Interleave::new(&counts);
            let mut got = vec![0u64; n];
            for step in 1..=total {
                got[il.next()] += 1;
                for (g, c) in got.iter().zip(&counts) {
                    let ideal = step as f64 * *c as f64 / total as f64;
                    assert!(
                        (*g as f64 - ideal).abs() < 2.0,
                        "step {step}: {got:?} vs {counts:?}"
                    );
                }
            }
            assert_eq!(got, counts);
        }
    }

    #[test]
    fn gen_mix_proportions_exact_to_one() {
        let (pcap, s) = capture(&[
            "--mix",
            "local=1,remote=2,broadcast=3,arp=5,nd=7,dhcp=11",
            "--frames",
            "1001",
        ]);
        let w = [
            ("local", 1),
            ("remote", 2),
            ("broadcast", 3),
            ("arp", 5),
            ("nd", 7),
            ("dhcp", 11),
        ];
        for (k, w) in w {
            let exact = 1001.0 * w as f64 / 29.0;
            assert!(
                (s.kinds[k] as f64 - exact).abs() < 1.0,
                "{k}: {} vs {exact}",
                s.kinds[k]
            );
        }
        // The frames say the same as the summary.
        let fs = frames(&pcap);
        assert_eq!(fs.len(), 1001);
        let count = |p: &dyn Fn(&[u8]) -> bool| fs.iter().filter(|f| p(f)).count() as u64;
        assert_eq!(count(&|f| eth(f).3 == 0x0806), s.kinds["arp"]);
        assert_eq!(count(&|f| eth(f).3 == 0x86dd), s.kinds["nd"]);
        assert_eq!(count(&|f| udp_port(f) == Some(67)), s.kinds["dhcp"]);
        assert_eq!(
            count(&|f| udp_port(f) == Some(DATA_PORT) && eth(f).0.is_broadcast()),
            s.kinds["broadcast"]
        );
        assert_eq!(
            count(&|f| eth(f).0.is_local() && eth(f).0.is_unicast()),
            s.kinds["remote"]
        );
        assert_eq!(
            count(&|f| eth(f).0 .0[..3] == [0x00, 0x16, 0x3e]),
            s.kinds["local"]
        );
    }

    /// Source and destination loads of a flow set differ by one at most,
    /// and its pairs are distinct.
    fn check_flows(f: &Fabric, kind: Kind, count: u64) {
        let mut pairs = HashSet::with_capacity(count as usize);
        let (mut srcs, mut dsts) = (HashMap::new(), HashMap::new());
        for j in 0..count {
            let (s, d) = f.flow(kind, j);
            assert_eq!(s.switch, f.local);
            assert_ne!(s, d);
            if kind == Kind::Remote {
                assert_ne!(d.switch, f.local);
            } else {
                assert_eq!(d.switch, f.local);
            }
            assert!(
                pairs.insert((s.real_mac(), d.real_mac())),
                "flow {j} repeats"
            );
            *srcs.entry(s).or_insert(0u64) += 1;
            *dsts.entry(d).or_insert(0u64) += 1;
        }
        // Hosts that no flow touches count as a load of 0.
        let spread = |m: &HashMap<Host, u64>, all: u64| {
            let max = *m.values().max().unwrap();
            let min = if (m.len() as u64) < all {
                0
            } else {
                *m.values().min().unwrap()
            };
            max - min
        };
        let all_dsts = match kind {
            Kind::Local => u64::from(f.hosts),
            _ => f.destinations(kind),
        };
        assert!(
            spread(&srcs, u64::from(f.hosts)) <= 1,
            "{kind:?} {count}: sources uneven"
        );
        assert!(
            spread(&dsts, all_dsts) <= 1,
            "{kind:?} {count}: destinations uneven"
        );
    }

    #[test]
    fn gen_flows_distinct_and_even() {
        let f = Fabric {
            switches: 2,
            hosts: 1000,
            local: 0,
        };
        for n in [1, 64, 4096, 1_000_000] {
            check_flows(&f, Kind::Remote, n);
        }
        let f = Fabric {
            switches: 5,
            hosts: 64,
            local: 3,
        };
        for n in [1, 64, 100, 4096, 64 * 64 * 4] {
            check_flows(&f, Kind::Remote, n);
        }
        for n in [1, 63, 64, 65, 64 * 63] {
            check_flows(&f, Kind::Local, n);
        }
    }

    /// The frames themselves carry exactly F pairs, visited round robin.
    #[test]
    fn gen_capture_has_exactly_f_pairs() {
        for f in [1u64, 64, 4096] {
            let (pcap, s) = capture(&["--flows", &f.to_string()]);
            let fs = frames(&pcap);
            let pairs: Vec<(Mac, Mac)> = fs.iter().map(|x| (eth(x).1, eth(x).0)).collect();
            let distinct: HashSet<_> = pairs.iter().collect();
            assert_eq!(distinct.len() as u64, f);
            assert_eq!(s.flows, f);
            for (i, p) in pairs.iter().enumerate().skip(f as usize) {
                assert_eq!(*p, pairs[i - f as usize], "frame {i} is not flow i mod F");
            }
        }
        // Local and remote share F between them and both appear.
        let (pcap, s) = capture(&["--mix", "local=1,remote=3", "--flows", "100"]);
        let distinct: HashSet<_> = frames(&pcap).iter().map(|x| (eth(x).1, eth(x).0)).collect();
        assert_eq!((distinct.len(), s.flows), (100, 100));
    }

    #[test]
    fn gen_million_flows_raise_frames() {
        let p = plan(&["--hosts-per-switch", "1000", "--flows", "1000000"]);
        assert_eq!(p.frames, 1_000_000);
        assert!(p.notes.iter().any(|n| n.contains("--frames raised")));
        let (pcap, s) = generate(&p, Vec::new()).unwrap();
        assert_eq!(s.flows, 1_000_000);
        let distinct: HashSet<(Mac, Mac)> =
            frames(&pcap).iter().map(|x| (eth(x).1, eth(x).0)).collect();
        assert_eq!(distinct.len(), 1_000_000);
        // Unicast flows split as the frames do: F frames hold them all.
        let p = plan(&[
            "--mix",
            "local=1,remote=3",
            "--flows",
            "1001",
            "--frames",
            "10",
        ]);
        assert_eq!(p.frames, 1001);
        // A mix with other kinds raises the frames further.
        let p = plan(&["--mix", "remote=1,arp=1", "--flows", "64", "--frames", "10"]);
        assert_eq!(p.frames, 128);
    }

    #[test]
    fn gen_imix_is_7_4_1() {
        let (pcap, s) = capture(&["--size", "imix", "--frames", "1200"]);
        assert_eq!(
            s.sizes,
            BTreeMap::from([(64, 700), (594, 400), (1518, 100)])
        );
        let lens: Vec<usize> = frames(&pcap).iter().map(|f| f.len()).collect();
        assert_eq!(
            lens[..12].iter().filter(|&&l| l == 60).count(),
            7,
            "{:?}",
            &lens[..12]
        );
        let (_, s) = capture(&["--size", "imix", "--frames", "1000"]);
        for ((_, n), w) in s.sizes.iter().zip([583.3, 333.3, 83.3]) {
            assert!((*n as f64 - w).abs() < 1.0);
        }
    }

    #[test]
    fn gen_sizes_fixed_uniform_and_natural() {
        let (pcap, _) = capture(&["--size", "1518"]);
        assert!(frames(&pcap).iter().all(|f| f.len() == 1514));
        let (_, s) = capture(&["--size", "100-110", "--frames", "2000"]);
        assert_eq!(
            s.sizes.keys().copied().collect::<Vec<_>>(),
            (100..=110).collect::<Vec<_>>()
        );
        // Control frames keep their natural length above the size: a
        // DISCOVER is 342 octets, an ARP request the 60-octet minimum.
        let (pcap, _) = capture(&["--mix", "arp=1,dhcp=1", "--size", "64"]);
        for f in frames(&pcap) {
            let want = if eth(f).3 == 0x0806 { 60 } else { 342 };
            assert_eq!(f.len(), want);
        }
    }

    #[test]
    fn gen_ipv4_and_udp_checksums_valid() {
        for extra in [
            &[
                "--mix",
                "local=1,remote=1,broadcast=1,dhcp=1",
                "--size",
                "64-1518",
            ][..],
            &[
                "--profile",
                "campus-broadcast",
                "--frames",
                "2000",
                "--vlans",
                "3",
            ][..],
        ] {
            let (pcap, _) = capture(extra);
            let mut seen = 0;
            for f in frames(&pcap) {
                let (_, _, _, t, p) = eth(f);
                if t != 0x0800 {
                    continue;
                }
                let ip = ipv4::Packet::new_checked(p).expect("an IPv4 packet");
                assert!(ip.verify_checksum());
                let u = udp::Packet::new_checked(ip.payload()).expect("a UDP datagram");
                assert_ne!(u.checksum(), 0);
                assert!(u.verify_checksum_v4(ip.src_addr(), ip.dst_addr()));
                seen += 1;
            }
            assert!(seen > 100);
        }
    }

    #[test]
    fn gen_nd_solicitation_valid() {
        let (pcap, s) = capture(&["--mix", "nd=1", "--frames", "300"]);
        assert_eq!(s.kinds["nd"], 300);
        for f in frames(&pcap) {
            let (dst, src, _, t, p) = eth(f);
            assert_eq!(t, 0x86dd);
            let ip = moose_wire::ipv6::Packet::new_checked(p).unwrap();
            let body = &ip.payload()[..usize::from(ip.payload_len())];
            let nd = ndisc::Packet::new_checked(body).unwrap();
            assert!(nd.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
            assert_eq!(nd.source_lladdr(), Some(src));
            let target = nd.target_addr().unwrap().octets();
            assert_eq!(ip.dst_addr().segments()[..6], [0xff02, 0, 0, 0, 0, 1]);
            assert_eq!(
                dst.0,
                [0x33, 0x33, 0xff, target[13], target[14], target[15]]
            );
            assert_ne!(nd.target_addr(), Some(ip.src_addr()));
            assert_eq!(ip.hop_limit(), 255);
        }
    }

    #[test]
    fn gen_arp_and_dhcp_layouts() {
        let (pcap, _) = capture(&["--mix", "arp=1,dhcp=1", "--frames", "200"]);
        for f in frames(&pcap) {
            let (dst, src, _, t, p) = eth(f);
            assert!(dst.is_broadcast());
            if t == 0x0806 {
                let a = arp::Repr::parse(&arp::Packet::new_checked(p).unwrap()).unwrap();
                assert_eq!(a.operation, arp::Operation::Request);
                assert_eq!(a.sender_hardware_addr, src);
                assert_ne!(a.target_protocol_addr, a.sender_protocol_addr);
                continue;
            }
            let ip = ipv4::Packet::new_checked(p).unwrap();
            let u = udp::Packet::new_checked(ip.payload()).unwrap();
            assert_eq!((u.src_port(), u.dst_port()), (68, 67));
            let d = moose_wire::dhcp::Packet::new_checked(u.payload()).unwrap();
            assert!(d.has_magic_cookie());
            assert_eq!(
                d.message_type().unwrap(),
                Some(moose_wire::dhcp::MessageType::Discover)
            );
            assert_eq!(d.client_hw_addr(), Some(src));
        }
    }

    #[test]
    fn gen_vlan_tags() {
        let (pcap, _) = capture(&["--vlans", "3", "--mix", "remote=1,arp=1", "--frames", "600"]);
        // Per VLAN: ARP frames, and distinct remote flows.
        let mut arps = BTreeMap::new();
        let mut flow_vlan = HashMap::new();
        for f in frames(&pcap) {
            assert_eq!(f[12..14], [0x81, 0x00]);
            let (dst, src, vid, _, _) = eth(f);
            let vid = vid.unwrap();
            if dst.is_broadcast() {
                *arps.entry(vid).or_insert(0) += 1;
            } else {
                let v = *flow_vlan.entry((src, dst)).or_insert(vid);
                assert_eq!(v, vid, "a flow changed VLAN");
            }
        }
        let mut flows = BTreeMap::new();
        for v in flow_vlan.values() {
            *flows.entry(*v).or_insert(0) += 1;
        }
        assert_eq!(arps, BTreeMap::from([(1, 100), (2, 100), (3, 100)]));
        // 64 flows over 3 VLANs.
        assert_eq!(flows, BTreeMap::from([(1, 22), (2, 21), (3, 21)]));
        let (pcap, _) = capture(&[]);
        assert!(frames(&pcap).iter().all(|f| eth(f).2.is_none()));
    }

    #[test]
    fn gen_campus_profile_counts() {
        for k in [1000u64, 4096, 12345] {
            let (pcap, s) = capture(&["--profile", "campus-broadcast", "--frames", &k.to_string()]);
            assert_eq!(s.flows, 0);
            for (kind, permille) in CAMPUS {
                let exact = k as f64 * permille as f64 / 1000.0;
                let got = s.kinds[kind.name()] as f64;
                assert!((got - exact).abs() < 1.0, "{kind:?}: {got} vs {exact}");
            }
            let fs = frames(&pcap);
            assert!(fs.iter().all(|f| eth(f).0.is_broadcast()));
            let count = |p: &dyn Fn(&[u8]) -> bool| fs.iter().filter(|f| p(f)).count() as u64;
            assert_eq!(count(&|f| eth(f).3 == 0x0806), s.kinds["arp"]);
            assert_eq!(count(&|f| eth(f).3 == 0x8137), s.kinds["ipx"]);
            assert_eq!(count(&|f| eth(f).3 < 0x0600), s.kinds["llc"]);
            assert_eq!(count(&|f| udp_port(f) == Some(17500)), s.kinds["dropbox"]);
            assert_eq!(
                count(&|f| matches!(udp_port(f), Some(137 | 138))),
                s.kinds["netbios"]
            );
        }
    }

    #[test]
    fn gen_same_seed_same_bytes() {
        let a = [
            "--size",
            "64-1518",
            "--mix",
            "remote=5,dhcp=1",
            "--seed",
            "42",
        ];
        assert_eq!(capture(&a).0, capture(&a).0);
        let b = [
            "--size",
            "64-1518",
            "--mix",
            "remote=5,dhcp=1",
            "--seed",
            "43",
        ];
        assert_ne!(capture(&a).0, capture(&b).0);
        let c = ["--profile", "campus-broadcast", "--seed", "7"];
        assert_eq!(capture(&c).0, capture(&c).0);
    }

    /// The addresses follow the documented scheme, and MOOSE addresses are
    /// what moose's own types make of the prefix and host id.
    #[test]
    fn gen_address_scheme() {
        use moose_wire::{HostId, MacPrefix, SwitchId};
        let h = Host {
            switch: 2,
            index: 0x1234,
        };
        assert_eq!(h.real_mac().to_string(), "00:16:3e:02:12:34");
        assert_eq!(h.moose_mac().to_string(), "02:00:03:00:12:35");
        assert_eq!(h.ipv4(), Ipv4Addr::new(10, 2, 0x12, 0x34));
        assert_eq!(h.ipv6().to_string(), "fd00::1:2:1234");
        assert_eq!(&h.netbios_name(), b"HOST021234     ");
        for (s, i) in [(0, 0), (255, 65535), (17, 300)] {
            let h = Host {
                switch: s,
                index: i,
            };
            let p = ((s + 1) as u64) << 24;
            let id =
                SwitchId::new(MacPrefix::new(Mac::from_u64((2 << 40) | p), 24).unwrap()).unwrap();
            assert_eq!(
                id.addr(HostId(u64::from(i) + 1)).unwrap().mac(),
                h.moose_mac()
            );
        }
    }

    #[test]
    fn gen_pcap_header() {
        let (pcap, s) = capture(&["--frames", "3", "--flows", "1"]);
        assert_eq!(
            pcap[..24],
            [
                0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0,
                0, 0
            ]
        );
        assert_eq!(s.bytes as usize, pcap.len());
        assert_eq!(pcap.len(), 24 + 3 * (16 + 60));
    }

    fn refused(extra: &[&str]) -> String {
        let e = Plan::new(&args(extra)).expect_err("refused");
        format!("{e:#}")
    }

    #[test]
    fn gen_bad_arguments_name_the_flag() {
        assert!(refused(&["--switches", "1"]).contains("--switches 1"));
        assert!(refused(&["--switch", "2"]).starts_with("--switch 2"));
        assert!(refused(&["--flows", "4097"]).starts_with("--flows 4097"));
        assert!(refused(&["--mix", "local=1", "--hosts-per-switch", "1"])
            .contains("--hosts-per-switch"));
        assert!(refused(&["--mix", "local=1,remote=1", "--flows", "1"]).starts_with("--flows 1"));
        assert!(
            refused(&["--profile", "campus-broadcast", "--flows", "3"]).starts_with("--flows 3")
        );
        assert!(refused(&[
            "--mix",
            "arp=1",
            "--switches",
            "1",
            "--hosts-per-switch",
            "1"
        ])
        .contains("arp"));
        for (flag, v) in [
            ("--size", "63"),
            ("--size", "1519"),
            ("--size", "100-90"),
            ("--size", "big"),
            ("--mix", "remote"),
            ("--mix", "bogus=1"),
            ("--mix", "remote=0"),
            ("--mix", "remote=1,remote=2"),
            ("--mix", "remote=-1"),
            ("--flows", "0"),
            ("--flows", "1000001"),
            ("--frames", "0"),
            ("--switches", "257"),
            ("--hosts-per-switch", "65537"),
            ("--vlans", "4095"),
            ("--profile", "office"),
        ] {
            let e = match Cli::try_parse_from(["gen", "--out", "x", flag, v]) {
                Ok(_) => panic!("{flag} {v} accepted"),
                Err(e) => e,
            };
            assert!(e.to_string().contains(flag), "{flag} {v}: {e}");
        }
    }

    #[test]
    fn gen_profile_overrides_mix_with_a_note() {
        let p = plan(&["--profile", "campus-broadcast", "--mix", "remote=1"]);
        assert!(!p.kinds.contains(&Kind::Remote));
        assert_eq!(p.notes, ["--profile campus-broadcast overrides --mix"]);
    }
}
