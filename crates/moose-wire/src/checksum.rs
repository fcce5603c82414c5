//! The Internet checksum (RFC 1071) as IPv4, UDP and ICMPv6 use it, and
//! its incremental update (RFC 1624).
//!
//! A *sum* here is the ones'-complement sum of the data read as big-endian
//! 16-bit words (an odd trailing byte is padded with a zero byte), folded to
//! 16 bits and **not** complemented; the checksum field carries its
//! complement. Data whose checksum field is right sums (field included) to
//! `0xffff`, so both `0x0000` and `0xffff` in a field are valid encodings of
//! one value, and a check that the whole sums to `0xffff` accepts either.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Folds a wide accumulator of 16-bit words into a 16-bit ones'-complement
/// sum (end-around carry).
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The accumulator (unfolded) of `data` as big-endian 16-bit words.
#[inline]
fn accumulate(data: &[u8]) -> u64 {
    let mut acc = 0u64;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// The ones'-complement sum of `data`, starting at an even offset of the
/// checksummed bytes.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    fold(accumulate(data))
}

/// The ones'-complement sum of `data` placed at offset `at` of the
/// checksummed bytes: a run starting at an odd offset sums to the
/// byte-swapped sum of the same run at an even offset (RFC 1071 §2(B)).
#[inline]
pub fn sum_at(at: usize, data: &[u8]) -> u16 {
    let s = sum(data);
    if at % 2 == 1 {
        s.swap_bytes()
    } else {
        s
    }
}

/// Adds partial sums together.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// The sum of the IPv4 pseudo-header (RFC 768): source, destination, a zero
/// byte, the protocol and the upper-layer length.
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    let (s, d) = (src.octets(), dst.octets());
    combine(&[
        u16::from_be_bytes([s[0], s[1]]),
        u16::from_be_bytes([s[2], s[3]]),
        u16::from_be_bytes([d[0], d[1]]),
        u16::from_be_bytes([d[2], d[3]]),
        u16::from(protocol),
        length,
    ])
}

/// The sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination,
/// the 32-bit upper-layer length, three zero bytes and the next header.
#[inline]
pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, length: u32) -> u16 {
    let acc = accumulate(&src.octets())
        + accumulate(&dst.octets())
        + u64::from(length >> 16)
        + u64::from(length & 0xffff)
        + u64::from(next_header);
    fold(acc)
}

/// The checksum field value for data (pseudo-header included) whose sum,
/// with the field zeroed, is `sum`.
#[inline]
pub fn finish(sum: u16) -> u16 {
    !sum
}

/// RFC 1624 eqn. 3, `HC' = ~(~HC + ~m + m')`: the checksum field `checksum`
/// after the run of bytes `old` at offset `at` of the checksummed bytes was
/// replaced by `new` (of the same length; `at` matters only for its
/// parity). Exact whenever `checksum` was right before, and wrong by the
/// same amount when it was not, so a bad checksum stays bad.
///
/// The result may be `0x0000` where a from-scratch computation gives
/// `0xffff` or the other way round (the two encode one value); UDP over
/// IPv4 must then send `0xffff`, see
/// [`udp::update_checksum`](crate::udp::update_checksum).
#[inline]
pub fn update(checksum: u16, at: usize, old: &[u8], new: &[u8]) -> u16 {
    let m = sum_at(at, old);
    let m2 = sum_at(at, new);
    !fold(u64::from(!checksum) + u64::from(!m) + u64::from(m2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 1071 §3's example: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(finish(sum(&data)), 0x220d);
        // Byte order independence: the swapped data sums to the swapped sum.
        let swapped = [0x01, 0x00, 0x03, 0xf2, 0xf5, 0xf4, 0xf7, 0xf6];
        assert_eq!(sum(&swapped), 0xf2dd);
        assert_eq!(sum_at(1, &data), 0xf2dd);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12]), 0x1200);
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(sum(&[]), 0);
        assert_eq!(fold(0x1_ffff), 0x0001);
        assert_eq!(fold(0x1_fffe), 0xffff);
        assert_eq!(fold(0x2_fffe), 0x0001);
        assert_eq!(combine(&[0xffff, 0x0001]), 0x0001);
    }

    /// RFC 1624 §4: the other words sum to 0xcd7a and a word changes from
    /// 0x5555 to 0x3285; eqn. 2 would give 0xffff, eqn. 3 gives 0x0000.
    #[test]
    fn rfc1624_example() {
        let hc = finish(combine(&[0xcd7a, 0x5555]));
        assert_eq!(hc, 0xdd2f);
        assert_eq!(update(hc, 0, &[0x55, 0x55], &[0x32, 0x85]), 0x0000);
        assert_eq!(finish(combine(&[0xcd7a, 0x3285])), 0x0000);
    }

    #[test]
    fn pseudo_headers() {
        let v4 = pseudo_header_v4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            17,
            8,
        );
        assert_eq!(v4, fold(0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 17 + 8));
        let a: Ipv6Addr = "fe80::1".parse().unwrap();
        let b: Ipv6Addr = "ff02::1".parse().unwrap();
        let v6 = pseudo_header_v6(&a, &b, 58, 0x1_0020);
        assert_eq!(v6, fold(0xfe80 + 1 + 0xff02 + 1 + 1 + 0x20 + 58));
    }

    fn with_field(data: &[u8], at: usize, field: u16) -> Vec<u8> {
        let mut d = data.to_vec();
        d[at..at + 2].copy_from_slice(&field.to_be_bytes());
        d
    }

    proptest! {
        /// The incremental update agrees with a recomputation for a change
        /// anywhere (even or odd offset, any length), so valid stays valid;
        /// and an invalid field stays invalid.
        #[test]
        fn update_matches_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 4..64),
            start in 0usize..64,
            new in proptest::collection::vec(any::<u8>(), 0..16),
            garble in 1u16..,
        ) {
            // The checksum field sits at 0..2.
            data[0] = 0;
            data[1] = 0;
            let ck = finish(sum(&data));
            let data = with_field(&data, 0, ck);
            prop_assert_eq!(sum(&data), 0xffff);
            let start = 2 + start % (data.len() - 2);
            let n = new.len().min(data.len() - start);
            let (old, new) = (data[start..start + n].to_vec(), &new[..n]);
            let ck2 = update(ck, start, &old, new);
            let mut d2 = data.clone();
            d2[start..start + n].copy_from_slice(new);
            let d2 = with_field(&d2, 0, ck2);
            prop_assert_eq!(sum(&d2), 0xffff);
            // A field that was wrong stays wrong.
            let bad = ck.wrapping_add(garble);
            if sum(&with_field(&data, 0, bad)) != 0xffff {
                let d3 = with_field(&d2, 0, update(bad, start, &old, new));
                prop_assert_ne!(sum(&d3), 0xffff);
            }
        }

        #[test]
        fn sum_at_odd_is_a_shifted_sum(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut shifted = vec![0u8];
            shifted.extend_from_slice(&data);
            prop_assert_eq!(fold(u64::from(sum_at(1, &data))) % 0xffff, sum(&shifted) % 0xffff);
        }
    }
}
