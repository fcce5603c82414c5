//! Hosts that move between switches.
//!
//! Every switch announces each host it gives an address to (the routing
//! service floods a host announcement over the fabric), so every switch
//! knows, for the hosts announced within `move_window_secs`, where each
//! was last and how often it moved ([`Tracker`]). When a host appears here
//! that was announced elsewhere within the window, it moved in: it gets an
//! address here as any new host, its announcement tells the old home to
//! hand it over, and this switch makes the host's gratuitous ARP and
//! unsolicited neighbour advertisement for every address it is known by
//! ([`garp`], [`unsolicited_na`]), classified as if the host had sent them
//! — so they leave translated, along the broadcast tree, and every peer's
//! neighbour cache points at the new address at once. The old home, on
//! the announcement, releases the host and forwards its old address to the
//! new one for `move_hold_secs` (a MOOSE → MOOSE entry of the translation
//! table), then quarantines it. A host that moves more than `move_limit`
//! times within the window is frozen where it is: its frames elsewhere are
//! dropped and counted until the window has passed without moves.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use moose_wire::{EtherType, Header, Mac};

/// Most addresses kept per host and family.
pub const MAX_ADDRS: usize = 4;
/// Most hosts tracked: beyond it the oldest are forgotten (a forgotten
/// host that moves is treated as new: it is announced, the old home still
/// hands it over, only its move count starts again).
pub const MAX_TRACKED: usize = 1 << 17;

/// What this switch knows about a host announced anywhere.
#[derive(Clone, Debug, Default)]
pub struct Track {
    /// Announced by this switch last.
    pub here: bool,
    pub last: Option<Instant>,
    /// When it moved, within the window.
    pub moves: VecDeque<Instant>,
    pub frozen_until: Option<Instant>,
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
}

impl Track {
    pub fn learn(&mut self, ipv4: &[Ipv4Addr], ipv6: &[Ipv6Addr]) {
        for a in ipv4 {
            if !self.ipv4.contains(a) && self.ipv4.len() < MAX_ADDRS {
                self.ipv4.push(*a);
            }
        }
        for a in ipv6 {
            if !self.ipv6.contains(a) && self.ipv6.len() < MAX_ADDRS {
                self.ipv6.push(*a);
            }
        }
    }
}

/// The hosts announced within the window, by (VLAN, real MAC) sort key.
#[derive(Debug)]
pub struct Tracker {
    pub limit: u32,
    pub window: Duration,
    tracks: HashMap<u64, Track>,
}

/// What a host appearing on one of this switch's ports is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Not announced elsewhere within the window.
    New,
    /// Announced by another switch within the window.
    Moved,
    /// It moved too often: refused.
    Frozen,
}

impl Tracker {
    pub fn new(limit: u32, window: Duration) -> Tracker {
        Tracker {
            limit,
            window,
            tracks: HashMap::new(),
        }
    }

    pub fn get(&self, key: u64) -> Option<&Track> {
        self.tracks.get(&key)
    }

    fn entry(&mut self, key: u64) -> &mut Track {
        if self.tracks.len() >= MAX_TRACKED && !self.tracks.contains_key(&key) {
            // Forget the stalest (rare: only at the bound).
            if let Some(k) = self
                .tracks
                .iter()
                .min_by_key(|(_, t)| t.last)
                .map(|(k, _)| *k)
            {
                self.tracks.remove(&k);
            }
        }
        self.tracks.entry(key).or_default()
    }

    /// Counts a move of `t` at `now` and says whether it froze it.
    fn moved(limit: u32, window: Duration, t: &mut Track, now: Instant) -> bool {
        t.moves.push_back(now);
        while t
            .moves
            .front()
            .is_some_and(|m| now.duration_since(*m) > window)
        {
            t.moves.pop_front();
        }
        if t.moves.len() > limit as usize {
            t.frozen_until = Some(now + window);
        }
        t.frozen_until.is_some_and(|u| u > now)
    }

    /// A host (not bound here) appears on one of this switch's ports.
    pub fn arrive(&mut self, key: u64, now: Instant) -> Arrival {
        let (limit, window) = (self.limit, self.window);
        let t = self.entry(key);
        if t.frozen_until.is_some_and(|u| u > now) {
            return Arrival::Frozen;
        }
        let elsewhere = !t.here && t.last.is_some_and(|l| now.duration_since(l) <= window);
        if !elsewhere {
            return Arrival::New;
        }
        if Self::moved(limit, window, t, now) {
            return Arrival::Frozen;
        }
        Arrival::Moved
    }

    /// This switch gave the host an address.
    pub fn here(&mut self, key: u64, now: Instant, ipv4: &[Ipv4Addr], ipv6: &[Ipv6Addr]) {
        let t = self.entry(key);
        t.here = true;
        t.last = Some(now);
        t.learn(ipv4, ipv6);
    }

    /// Another switch announced the host; true if that was a move (it
    /// was announced before within the window, here or elsewhere).
    pub fn announced(
        &mut self,
        key: u64,
        now: Instant,
        ipv4: &[Ipv4Addr],
        ipv6: &[Ipv6Addr],
    ) -> bool {
        let (limit, window) = (self.limit, self.window);
        let t = self.entry(key);
        let known = t.last.is_some_and(|l| now.duration_since(l) <= window);
        t.here = false;
        t.last = Some(now);
        t.learn(ipv4, ipv6);
        if known {
            Self::moved(limit, window, t, now);
        }
        known
    }

    /// Forgets hosts not announced within the window and not frozen.
    pub fn expire(&mut self, now: Instant) {
        let window = self.window;
        self.tracks.retain(|_, t| {
            t.frozen_until.is_some_and(|u| u > now)
                || t.last.is_some_and(|l| now.duration_since(l) <= window)
        });
    }

    pub fn frozen(&self, now: Instant) -> usize {
        self.tracks
            .values()
            .filter(|t| t.frozen_until.is_some_and(|u| u > now))
            .count()
    }

    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }
}

/// The IP addresses a host's frame shows it uses: an ARP sender's, an IPv4
/// or IPv6 source (not unspecified, not multicast).
pub fn addresses_of(frame: &[u8]) -> (Vec<Ipv4Addr>, Vec<Ipv6Addr>) {
    let h = Header::load(frame);
    let at = h.header_len();
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    let Some(payload) = frame.get(at..).filter(|_| at >= 14) else {
        return (v4, v6);
    };
    let ty = u16::from_be_bytes([frame[at - 2], frame[at - 1]]);
    match EtherType::from(ty) {
        EtherType::Arp => {
            if let Ok(p) = moose_wire::arp::Packet::new_checked(payload) {
                if let Ok(r) = moose_wire::arp::Repr::parse(&p) {
                    let ip = r.sender_protocol_addr;
                    if !ip.is_unspecified() && !ip.is_multicast() && !ip.is_broadcast() {
                        v4.push(ip);
                    }
                }
            }
        }
        EtherType::Ipv4 if payload.len() >= 20 => {
            let ip = Ipv4Addr::new(payload[12], payload[13], payload[14], payload[15]);
            if !ip.is_unspecified() && !ip.is_multicast() && !ip.is_broadcast() {
                v4.push(ip);
            }
        }
        EtherType::Ipv6 if payload.len() >= 40 => {
            let ip = Ipv6Addr::from(<[u8; 16]>::try_from(&payload[8..24]).unwrap());
            if !ip.is_unspecified() && !ip.is_multicast() {
                v6.push(ip);
            }
        }
        _ => {}
    }
    (v4, v6)
}

/// The gratuitous ARP a host at `real` sends for `ip` (a broadcast
/// request for its own address), tagged with `vid` if not 0.
pub fn garp(real: Mac, ip: Ipv4Addr, vid: u16) -> Vec<u8> {
    let r = moose_wire::arp::Repr {
        operation: moose_wire::arp::Operation::Request,
        sender_hardware_addr: real,
        sender_protocol_addr: ip,
        target_hardware_addr: Mac::ZERO,
        target_protocol_addr: ip,
    };
    let mut body = vec![0u8; r.buffer_len()];
    r.emit(&mut moose_wire::arp::Packet::new_unchecked(&mut body[..]));
    body.resize(46, 0);
    frame(Mac::BROADCAST, real, vid, EtherType::Arp, &body)
}

/// The unsolicited neighbour advertisement a host at `real` sends for
/// `ip` (override set, to all nodes), tagged with `vid` if not 0.
pub fn unsolicited_na(real: Mac, ip: Ipv6Addr, vid: u16) -> Vec<u8> {
    let all_nodes: Ipv6Addr = "ff02::1".parse().expect("literal");
    let r = moose_wire::ndisc::Repr::NeighborAdvert {
        flags: moose_wire::ndisc::NeighborFlags {
            router: false,
            solicited: false,
            override_: true,
        },
        target_addr: ip,
        lladdr: Some(real),
    };
    let len = r.buffer_len();
    let mut ip6 = vec![0u8; 40 + len];
    ip6[0] = 0x60;
    ip6[4..6].copy_from_slice(&(len as u16).to_be_bytes());
    ip6[6] = 58; // ICMPv6
    ip6[7] = 255;
    ip6[8..24].copy_from_slice(&ip.octets());
    ip6[24..40].copy_from_slice(&all_nodes.octets());
    r.emit(
        &ip,
        &all_nodes,
        &mut moose_wire::ndisc::Packet::new_unchecked(&mut ip6[40..]),
    );
    frame(
        Mac([0x33, 0x33, 0, 0, 0, 1]),
        real,
        vid,
        EtherType::Ipv6,
        &ip6,
    )
}

fn frame(dst: Mac, src: Mac, vid: u16, ty: EtherType, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(18 + body.len());
    let tag = (vid != 0).then_some(moose_wire::VlanTag {
        vid,
        pcp: 0,
        dei: false,
    });
    moose_wire::ethernet::emit(&mut f, dst, src, tag, ty, body);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64, base: Instant) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn a_host_announced_elsewhere_moves_in_and_too_many_moves_freeze_it() {
        let base = Instant::now();
        let mut tr = Tracker::new(2, Duration::from_secs(10));
        assert_eq!(tr.arrive(1, base), Arrival::New, "never announced");
        tr.here(1, base, &[], &[]);
        // It goes to another switch (a move), comes back (a move), …
        assert!(tr.announced(1, t(100, base), &[], &[]));
        assert_eq!(tr.arrive(1, t(200, base)), Arrival::Moved);
        tr.here(1, t(200, base), &[], &[]);
        // … leaves again: the third move in the window is one too many.
        assert!(tr.announced(1, t(300, base), &[], &[]));
        assert_eq!(tr.arrive(1, t(400, base)), Arrival::Frozen);
        assert_eq!(tr.frozen(t(400, base)), 1);
        // After the window, it may move again.
        assert_eq!(tr.arrive(1, t(20_400, base)), Arrival::New, "forgotten");
    }

    #[test]
    fn the_first_announcement_is_not_a_move() {
        let base = Instant::now();
        let mut tr = Tracker::new(5, Duration::from_secs(10));
        assert!(!tr.announced(7, base, &["10.0.0.7".parse().unwrap()], &[]));
        assert_eq!(tr.get(7).unwrap().ipv4.len(), 1);
        assert_eq!(tr.arrive(7, t(5, base)), Arrival::Moved);
        tr.expire(t(60_000, base));
        assert!(tr.is_empty());
    }

    #[test]
    fn frames_made_for_hosts_parse_back() {
        let real: Mac = "00:16:3e:00:00:05".parse().unwrap();
        let f = garp(real, "10.0.0.5".parse().unwrap(), 0);
        assert_eq!(
            addresses_of(&f).0,
            vec!["10.0.0.5".parse::<Ipv4Addr>().unwrap()]
        );
        assert_eq!(&f[..6], &[0xff; 6]);
        let ip: Ipv6Addr = "fd00::5".parse().unwrap();
        let f = unsolicited_na(real, ip, 10);
        assert_eq!(addresses_of(&f).1, vec![ip]);
        let h = Header::load(&f);
        assert_eq!(h.vid(), 10);
        let na = moose_wire::ndisc::Packet::new_checked(&f[18 + 40..]).unwrap();
        let r = moose_wire::ndisc::Repr::parse(&na).unwrap();
        assert!(matches!(
            r,
            moose_wire::ndisc::Repr::NeighborAdvert { lladdr: Some(m), target_addr, .. } if m == real && target_addr == ip
        ));
        let all: Ipv6Addr = "ff02::1".parse().unwrap();
        assert!(moose_wire::icmpv6::Packet::new_unchecked(&f[18 + 40..]).verify_checksum(&ip, &all));
    }
}
