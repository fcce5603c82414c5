//! The MAC provider's DHCPv6 link-layer address codec
//! (`moose_control::mps::dhcp6`, RFC 8947 / RFC 8948) on arbitrary UDP
//! payloads (seeds in `seeds/mps_dhcp6`: Solicit, rapid-commit Solicit
//! with quadrants, Request, Renew, Release, a relayed Solicit and a
//! Request through two relays, made with `tests/rfc8947_client.py`).
//!
//! Checks: nothing panics; a refusal's reason is one of
//! `Dhcp6Error::REASONS`; an accepted message keeps the codec's bounds
//! (at most 32 relay layers and 16 IA_LLs, distinct IAIDs, DUIDs of 3..=130
//! octets — none only in an Information-request —, a Server Identifier
//! exactly where RFC 8415 §16 wants one, quadrants 0..=3 without repeats,
//! Interface-Ids of at most 255 octets); re-encoded by the encoder written
//! here from the RFCs, it parses back to the same message; and the
//! Advertise and Reply `build` makes for it, read by the reader written
//! here, are well formed: Relay-Repl layers mirroring the Relay-Forw ones
//! with their Interface-Ids, the message type, transaction id, our Server
//! Identifier, the client's, Rapid Commit exactly on the Reply to a
//! rapid-commit Solicit, one IA_LL per answer (an LLADDR of type 1, length
//! 6, with the address, extra-addresses and lifetime given, or a Status
//! Code and zero timers), and the top-level status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moose_control::mps::dhcp6::{
    build, parse, server_duid, timers, ClientMsg, Dhcp6Error, IaLlAnswer, Kind, LlResult, ReplyKind,
};
use moose_wire::Mac;

fn put(out: &mut Vec<u8>, code: u16, body: &[u8]) {
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    out.extend_from_slice(body);
}

fn kind_code(k: Kind) -> u8 {
    match k {
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

/// `m` as a client would send it (RFC 8415 §8, §9; RFC 8947; RFC 8948),
/// its quadrants in the first IA_LL, or in the innermost relay when it has
/// none.
fn encode(m: &ClientMsg) -> Vec<u8> {
    let quads: Vec<u8> = m.quadrants.iter().flat_map(|&(q, p)| [q, p]).collect();
    let mut out = vec![kind_code(m.kind)];
    out.extend_from_slice(&m.xid);
    if !m.client_id.is_empty() {
        put(&mut out, 1, &m.client_id);
    }
    if let Some(s) = &m.server_id {
        put(&mut out, 2, s);
    }
    if m.rapid_commit {
        put(&mut out, 14, &[]);
    }
    for (i, a) in m.ia_ll.iter().enumerate() {
        let mut ia = Vec::new();
        for v in [a.iaid, a.t1, a.t2] {
            ia.extend_from_slice(&v.to_be_bytes());
        }
        let mut ll = vec![0, 1, 0, 6];
        ll.extend_from_slice(&a.addr.unwrap_or(Mac::ZERO).0);
        ll.extend_from_slice(&a.extra.to_be_bytes());
        ll.extend_from_slice(&a.valid.to_be_bytes());
        put(&mut ia, 139, &ll);
        if i == 0 && !quads.is_empty() {
            put(&mut ia, 140, &quads);
        }
        put(&mut out, 138, &ia);
    }
    for (depth, r) in m.relays.iter().enumerate().rev() {
        let mut w = vec![12, r.hop_count];
        w.extend_from_slice(&r.link.octets());
        w.extend_from_slice(&r.peer.octets());
        if let Some(id) = &r.interface_id {
            put(&mut w, 18, id);
        }
        if depth + 1 == m.relays.len() && m.ia_ll.is_empty() && !quads.is_empty() {
            put(&mut w, 140, &quads);
        }
        put(&mut w, 9, &out);
        out = w;
    }
    out
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The options of an area, asserting they tile it.
fn walk(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while !b.is_empty() {
        assert!(b.len() >= 4, "a broken option header in our reply");
        let len = usize::from(be16(&b[2..]));
        assert!(b.len() >= 4 + len, "an option past the end of our reply");
        out.push((be16(b), &b[4..4 + len]));
        b = &b[4 + len..];
    }
    out
}

fn check_reply(
    m: &ClientMsg,
    kind: ReplyKind,
    sduid: &[u8],
    answers: &[IaLlAnswer],
    status: (u16, &str),
    r: &[u8],
) {
    let mut b = r;
    for layer in &m.relays {
        assert!(b.len() >= 34 && b[0] == 13, "a Relay-Repl per Relay-Forw");
        assert_eq!(b[1], layer.hop_count);
        assert_eq!(&b[2..18], &layer.link.octets());
        assert_eq!(&b[18..34], &layer.peer.octets());
        let opts = walk(&b[34..]);
        let iid: Vec<_> = opts.iter().filter(|o| o.0 == 18).map(|o| o.1).collect();
        assert_eq!(
            iid,
            layer
                .interface_id
                .as_deref()
                .into_iter()
                .collect::<Vec<_>>()
        );
        let inner: Vec<_> = opts.iter().filter(|o| o.0 == 9).collect();
        assert_eq!(inner.len(), 1);
        assert_eq!(opts.len(), 1 + iid.len());
        b = inner[0].1;
    }
    assert!(b.len() >= 4);
    assert_eq!(b[0], if kind == ReplyKind::Advertise { 2 } else { 7 });
    assert_eq!(&b[1..4], &m.xid);
    let opts = walk(&b[4..]);
    let of = |c| opts.iter().filter(move |o| o.0 == c).map(|o| o.1);
    assert_eq!(of(2).collect::<Vec<_>>(), vec![sduid]);
    let cid: Vec<_> = of(1).collect();
    if m.client_id.is_empty() {
        assert!(cid.is_empty());
    } else {
        assert_eq!(cid, vec![&m.client_id[..]]);
    }
    let rapid = m.kind == Kind::Solicit && m.rapid_commit && kind == ReplyKind::Reply;
    assert_eq!(
        of(14).collect::<Vec<_>>(),
        if rapid { vec![&[][..]] } else { vec![] }
    );
    let ias: Vec<_> = of(138).collect();
    assert_eq!(ias.len(), answers.len());
    for (ia, a) in ias.iter().zip(answers) {
        assert!(ia.len() >= 12);
        assert_eq!(be32(ia), a.iaid);
        let inner = walk(&ia[12..]);
        assert_eq!(inner.len(), 1);
        match &a.result {
            LlResult::Granted {
                mac,
                extra,
                valid,
                t1,
                t2,
            } => {
                assert_eq!((be32(&ia[4..]), be32(&ia[8..])), (*t1, *t2));
                let (code, ll) = inner[0];
                assert_eq!((code, ll.len()), (139, 18));
                assert_eq!((be16(ll), be16(&ll[2..])), (1, 6));
                assert_eq!(&ll[4..10], &mac.0);
                assert_eq!((be32(&ll[10..]), be32(&ll[14..])), (*extra, *valid));
            }
            LlResult::Status { code, message } => {
                assert_eq!((be32(&ia[4..]), be32(&ia[8..])), (0, 0));
                let (c, s) = inner[0];
                assert_eq!(c, 13);
                assert_eq!(be16(s), *code);
                assert_eq!(&s[2..], message.as_bytes());
            }
        }
    }
    let top: Vec<_> = of(13).collect();
    assert_eq!(top.len(), 1);
    assert_eq!(be16(top[0]), status.0);
    assert_eq!(&top[0][2..], status.1.as_bytes());
    assert_eq!(opts.len(), 2 + cid.len() + usize::from(rapid) + ias.len());
}

fn check_msg(m: &ClientMsg) {
    assert!(m.relays.len() <= 32);
    assert!(m.ia_ll.len() <= 16);
    for (i, a) in m.ia_ll.iter().enumerate() {
        assert!(
            m.ia_ll[..i].iter().all(|b| b.iaid != a.iaid),
            "IAIDs are distinct"
        );
        assert_ne!(a.addr, Some(Mac::ZERO), "all zeros is None");
    }
    if m.client_id.is_empty() {
        assert_eq!(m.kind, Kind::InformationRequest);
    } else {
        assert!((3..=130).contains(&m.client_id.len()));
    }
    if let Some(s) = &m.server_id {
        assert!((3..=130).contains(&s.len()));
    }
    match m.kind {
        Kind::Request | Kind::Renew | Kind::Decline | Kind::Release => {
            assert!(m.server_id.is_some())
        }
        Kind::Solicit | Kind::Confirm | Kind::Rebind => assert!(m.server_id.is_none()),
        Kind::InformationRequest => assert!(m.ia_ll.is_empty()),
    }
    for (i, &(q, _)) in m.quadrants.iter().enumerate() {
        assert!(q <= 3);
        assert!(
            m.quadrants[..i].iter().all(|&(p, _)| p != q),
            "no repeated quadrant"
        );
    }
    for r in &m.relays {
        assert!(r.interface_id.as_ref().map_or(0, Vec::len) <= 255);
    }
}

fuzz_target!(|data: &[u8]| {
    let m = match parse(data) {
        Ok(m) => m,
        Err(e) => {
            assert!(Dhcp6Error::REASONS.contains(&e.reason()), "{e:?}");
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    check_msg(&m);
    assert_eq!(
        parse(&encode(&m)).as_ref(),
        Ok(&m),
        "re-encoded, it reads the same"
    );
    let sduid = server_duid(Mac([2, 0, 0, 0, 0, 0xfe]));
    let answers: Vec<_> = m
        .ia_ll
        .iter()
        .enumerate()
        .map(|(i, a)| IaLlAnswer {
            iaid: a.iaid,
            result: if i % 2 == 0 {
                let (t1, t2) = timers(a.valid);
                LlResult::Granted {
                    mac: a.addr.unwrap_or(Mac([0x0a, 0, 0, 0, 0, 1])),
                    extra: a.extra,
                    valid: a.valid,
                    t1,
                    t2,
                }
            } else {
                LlResult::Status {
                    code: 2,
                    message: "none".into(),
                }
            },
        })
        .collect();
    for kind in [ReplyKind::Advertise, ReplyKind::Reply] {
        let status = (0, "ok");
        let r = build(&m, kind, &sduid, &answers, Some(status));
        check_reply(&m, kind, &sduid, &answers, status, &r);
    }
});
