//! Property tests of the tables against reference models: the LPM against a
//! linear scan over the prefix set, the translation tables against
//! `std::collections::HashMap`.

use std::collections::HashMap;

use moose_tables::lpm::{prefix_mask, LpmOp, MacLpm};
use moose_tables::publish::left_right;
use moose_tables::xlate::{xkey, HostOp, Xlate, XlateMap, XlateOp};
use proptest::prelude::*;

const MAC: u64 = (1 << 48) - 1;

/// Reference: the longest matching prefix by linear scan.
fn reference(set: &HashMap<(u64, u8), u16>, key: u64) -> Option<u16> {
    set.iter()
        .filter(|((p, l), _)| key & prefix_mask(*l) == *p)
        .max_by_key(|((_, l), _)| *l)
        .map(|(_, v)| *v)
}

/// Prefixes drawn from a few clusters so that they overlap and nest, with
/// every length 0..=48 possible (and /0, /48 frequent).
fn prefix() -> impl Strategy<Value = (u64, u8)> {
    let base = prop_oneof![
        Just(0x0211_1100_0000u64),
        Just(0x0211_1180_0000u64),
        Just(0x0200_0000_0000u64),
        Just(0xffff_ffff_ffffu64),
        any::<u64>(),
    ];
    let len = prop_oneof![Just(0u8), Just(48u8), 0u8..=48, 20u8..=44];
    (base, any::<u64>(), len, 0u32..48).prop_map(|(b, noise, l, keep)| {
        // Flip only low bits of the base so that prefixes cluster.
        let p = (b ^ (noise & (MAC >> keep))) & MAC;
        (p & prefix_mask(l), l)
    })
}

#[derive(Clone, Debug)]
enum Op {
    Ins(u64, u8, u16),
    Del(u64, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (prefix(), 0u16..8).prop_map(|((p, l), v)| Op::Ins(p, l, v)),
        1 => prefix().prop_map(|(p, l)| Op::Del(p, l)),
    ]
}

/// Keys at and around every prefix boundary, plus random ones.
fn probe_keys(set: &HashMap<(u64, u8), u16>, extra: &[u64]) -> Vec<u64> {
    let mut keys: Vec<u64> = extra.iter().map(|k| k & MAC).collect();
    for &(p, l) in set.keys() {
        let last = p | (!prefix_mask(l) & MAC);
        for k in [
            p,
            last,
            p.wrapping_sub(1),
            last + 1,
            p | ((!prefix_mask(l) & MAC) >> 1),
        ] {
            keys.push(k & MAC);
        }
    }
    keys.extend([0, MAC, 1, MAC - 1]);
    keys
}

fn check_all(t: &MacLpm, set: &HashMap<(u64, u8), u16>, extra: &[u64]) {
    let keys = probe_keys(set, extra);
    let mut batch = vec![None; keys.len()];
    t.lookup_batch_opt(&keys, &mut batch);
    for (k, b) in keys.iter().zip(&batch) {
        let want = reference(set, *k);
        assert_eq!(t.lookup(*k), want, "single {k:012x}");
        assert_eq!(*b, want, "batched {k:012x}");
    }
    assert_eq!(t.len(), set.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn lpm_matches_linear_scan(ops in prop::collection::vec(op(), 1..120),
                               extra in prop::collection::vec(any::<u64>(), 0..64)) {
        let mut t = MacLpm::new();
        let mut set = HashMap::new();
        for (i, o) in ops.iter().enumerate() {
            match *o {
                Op::Ins(p, l, v) => {
                    prop_assert_eq!(t.insert(p, l, v), set.insert((p, l), v));
                }
                Op::Del(p, l) => {
                    prop_assert_eq!(t.remove(p, l), set.remove(&(p, l)));
                }
            }
            if i % 16 == 15 {
                check_all(&t, &set, &extra);
            }
        }
        check_all(&t, &set, &extra);
        // Building from the list gives the same answers.
        let built = MacLpm::from_prefixes(set.iter().map(|(&(p, l), &v)| (p, l, v)));
        check_all(&built, &set, &extra);
    }

    #[test]
    fn lpm_deletes_everything(ps in prop::collection::vec(prefix(), 1..80)) {
        let mut t = MacLpm::from_prefixes(ps.iter().map(|&(p, l)| (p, l, 1)));
        let mut set: HashMap<(u64, u8), u16> = ps.iter().map(|&(p, l)| ((p, l), 1)).collect();
        for &(p, l) in &ps {
            t.remove(p, l);
            set.remove(&(p, l));
        }
        check_all(&t, &set, &[0x0211_1100_0001]);
        prop_assert!(t.is_empty());
    }

    #[test]
    fn xlate_map_matches_hashmap(ops in prop::collection::vec(
            (0u8..3, 0u16..4, 0u64..64, any::<u64>()), 1..400)) {
        let mut m = XlateMap::new();
        let mut r: HashMap<u64, u64> = HashMap::new();
        for &(kind, vlan, mac, v) in &ops {
            let k = xkey(vlan, 0x0050_5600_0000 | mac);
            let v = v >> 1; // never the MISS sentinel
            match kind {
                0 | 1 => prop_assert_eq!(m.insert(k, v), r.insert(k, v)),
                _ => prop_assert_eq!(m.remove(k), r.remove(&k)),
            }
        }
        prop_assert_eq!(m.len(), r.len());
        let keys: Vec<u64> = (0..4u16)
            .flat_map(|vl| (0..64u64).map(move |i| xkey(vl, 0x0050_5600_0000 | i)))
            .collect();
        let mut out = vec![None; keys.len()];
        m.get_batch_opt(&keys, &mut out);
        for (k, o) in keys.iter().zip(&out) {
            prop_assert_eq!(m.get(*k), r.get(k).copied());
            prop_assert_eq!(*o, r.get(k).copied());
        }
    }

    #[test]
    fn xlate_bindings_stay_one_to_one(ops in prop::collection::vec(
            (any::<bool>(), 0u16..2, 0u64..16, 0u64..16, 0u16..4), 1..200)) {
        let mut x = Xlate::default();
        let mut fwd: HashMap<(u16, u64), u64> = HashMap::new();
        for &(bind, vlan, real, moose, port) in &ops {
            let (real, moose) = (0x0050_5600_0000 | real, 0x0211_1100_0000 | moose);
            if bind {
                x.bind(vlan, real, moose, port);
                fwd.retain(|&(v, r), m| !(v == vlan && (r == real || *m == moose)));
                fwd.insert((vlan, real), moose);
            } else {
                prop_assert_eq!(x.unbind(vlan, real), fwd.remove(&(vlan, real)));
            }
        }
        prop_assert_eq!(x.to_moose.len(), fwd.len());
        prop_assert_eq!(x.to_real.len(), fwd.len());
        for (&(vlan, real), &moose) in &fwd {
            prop_assert_eq!(x.moose_of(vlan, real), Some(moose));
            prop_assert_eq!(x.real_of(vlan, moose).map(|r| r.0), Some(real));
        }
    }
}

/// LPM published through left-right: readers' views equal the writer's at
/// each publish point.
#[test]
fn lpm_and_xlate_publish_through_left_right() {
    let (mut w, mut rs) = left_right::<MacLpm, LpmOp>(MacLpm::new(), 1);
    w.append(LpmOp::Insert {
        prefix: 0x0211_1100_0000,
        len: 24,
        value: 9,
    });
    w.append(LpmOp::Insert {
        prefix: 0,
        len: 0,
        value: 1,
    });
    assert_eq!(rs[0].enter().lookup(0x0211_1100_0001), None);
    w.publish();
    assert_eq!(rs[0].enter().lookup(0x0211_1100_0001), Some(9));
    assert_eq!(rs[0].enter().lookup(0x0311_1100_0001), Some(1));
    w.append(LpmOp::Remove {
        prefix: 0x0211_1100_0000,
        len: 24,
    });
    w.publish();
    assert_eq!(rs[0].enter().lookup(0x0211_1100_0001), Some(1));
    assert_eq!(w.read().len(), 1);

    let (mut w, mut rs) = left_right::<XlateMap, XlateOp>(XlateMap::new(), 1);
    w.append(XlateOp::Insert { key: 5, value: 6 });
    w.publish();
    assert_eq!(rs[0].enter().get(5), Some(6));
    let (mut w, mut rs) = left_right::<Xlate, HostOp>(Xlate::default(), 1);
    w.append(HostOp::Bind {
        vlan: 1,
        real: 2,
        moose: 3,
        port: 4,
    });
    w.publish();
    assert_eq!(rs[0].enter().real_of(1, 3), Some((2, 4)));
}
