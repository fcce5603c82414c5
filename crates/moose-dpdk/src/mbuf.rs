//! [`Mbuf`]: an owned reference to a packet buffer, and [`Shares`], the
//! extra references [`Mbuf::share`] makes for floods.
//!
//! The per-packet accessors read and write the `rte_mbuf` fields directly
//! (data = `buf_addr + data_off`, `data_len` bytes); no C call is made per
//! packet except in `drop` (free) of a single mbuf. Bulk paths
//! ([`Mbuf::free_bulk`], the queues) make one call per burst.
//!
//! # Shared mbufs
//!
//! [`Mbuf::share`] raises the mbuf's reference count instead of copying the
//! packet: every handle then points at the *same* `rte_mbuf`, metadata and
//! bytes. Freeing one handle (drop, [`Mbuf::free_bulk`], a successful
//! `tx_burst`) drops one reference; DPDK's free path
//! (`rte_pktmbuf_prefree_seg`) returns the buffer to its pool only when the
//! last goes. While more than one reference exists nothing may change the
//! mbuf, so every mutator ([`AsMut`], [`append`](Mbuf::append),
//! [`prepend`](Mbuf::prepend), [`adj`](Mbuf::adj),
//! [`truncate`](Mbuf::truncate)) first checks that the count is 1 (one
//! acquire load, which also orders the mutation after the other holders'
//! last reads) and panics otherwise; [`Mbuf::try_as_mut`] is the checked
//! form.
//!
//! moose never enables `RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE` on a port (it
//! lets the driver skip the reference count and is incompatible with a
//! count above 1), and sets no tx offload flags that make a driver write
//! into a frame's headers, since a shared frame's bytes are read
//! concurrently by the other holders.

use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use dpdk_ffi::rte_mbuf;

use crate::Eal;

/// Reads one `rte_mbuf` field through the raw pointer. No `&rte_mbuf` is
/// made: other holders of a shared mbuf update its `refcnt` concurrently
/// (atomically), which a shared reference to the whole struct would forbid.
macro_rules! field {
    ($m:expr, $($f:tt)+) => {{
        let p: *const rte_mbuf = $m.ptr.as_ptr();
        // SAFETY: the mbuf is valid while the handle holds its reference
        // (type invariant); the field is plain data no one mutates while
        // more than one reference exists (mutators check the count is 1
        // and hold &mut self), and it is not `refcnt`.
        unsafe { (*p).$($f)+ }
    }};
}

/// One owned reference to an `rte_mbuf`, single segment (the queues are set
/// up without scatter, so received packets are one segment; a chained mbuf's
/// accessors see only the first segment).
///
/// `'eal` is the EAL the mbuf's pool belongs to: an `Mbuf` cannot outlive
/// it. The lifetime is covariant, so an `Mbuf<'eal>` from a pool is usable
/// wherever an `Mbuf<'a>` with a shorter `'a` (a port's queues) is expected.
///
/// `#[repr(transparent)]` over a non-null pointer (the `PhantomData` is
/// zero-sized): a `[Mbuf]` has the layout of the `struct rte_mbuf *[]` that
/// DPDK's burst functions take, which lets the queues hand the caller's
/// `Vec<Mbuf>` buffer to DPDK directly.
#[repr(transparent)]
pub struct Mbuf<'eal> {
    ptr: NonNull<rte_mbuf>,
    _eal: PhantomData<&'eal Eal>,
}

// SAFETY: an Mbuf owns one reference to its rte_mbuf. Unshared (count 1),
// moving it moves exclusive access. Shared, the holders on other threads
// only read, and every mutation first checks (acquire load) that the count
// is back to 1; DPDK's free path updates the count atomically
// (RTE_MBUF_REFCNT_ATOMIC) and mempools are multi-producer.
unsafe impl Send for Mbuf<'_> {}

impl<'eal> Mbuf<'eal> {
    /// Takes ownership of one reference to a raw mbuf.
    ///
    /// # Safety
    /// `ptr` must point to a valid, initialised `rte_mbuf` whose pool lives
    /// for `'eal`; the caller owns one reference to it and gives it up. If
    /// the reference count is 1, no one else may access the mbuf; if it is
    /// higher, the other holders must only read it.
    #[inline(always)]
    pub unsafe fn from_raw(ptr: NonNull<rte_mbuf>) -> Mbuf<'eal> {
        Mbuf {
            ptr,
            _eal: PhantomData,
        }
    }

    /// Gives up ownership without freeing; the caller must free or send it.
    #[inline(always)]
    pub fn into_raw(self) -> NonNull<rte_mbuf> {
        ManuallyDrop::new(self).ptr
    }

    /// The raw mbuf, still owned by `self`.
    #[inline(always)]
    pub fn as_ptr(&self) -> *mut rte_mbuf {
        self.ptr.as_ptr()
    }

    /// The reference count, as the atomic DPDK treats it.
    #[inline(always)]
    fn refcnt(&self) -> &AtomicU16 {
        // SAFETY: in DPDK 22.11 `refcnt` is a plain `uint16_t` in
        // `struct rte_mbuf` (offset 18, so 2-byte aligned as AtomicU16
        // requires) and the build defines RTE_MBUF_REFCNT_ATOMIC, so DPDK
        // itself only touches it with __atomic builtins
        // (rte_mbuf_refcnt_read/set/update), which are compatible with Rust
        // atomics on the same memory. The mbuf stays valid while self holds
        // its reference, which bounds the returned borrow.
        unsafe { AtomicU16::from_ptr(std::ptr::addr_of_mut!((*self.ptr.as_ptr()).refcnt)) }
    }

    /// Whether other references to this mbuf exist (from [`share`](Mbuf::share)
    /// or a driver that still holds it). One acquire load.
    #[inline(always)]
    pub fn is_shared(&self) -> bool {
        self.refcnt().load(Ordering::Acquire) != 1
    }

    /// Mutable access to the metadata, for an unshared mbuf only.
    ///
    /// Panics if the mbuf is shared: the other holders read it concurrently.
    #[inline(always)]
    #[track_caller]
    fn raw_mut(&mut self, what: &'static str) -> &mut rte_mbuf {
        if self.is_shared() {
            shared_panic(what, self.refcnt().load(Ordering::Relaxed));
        }
        // SAFETY: ptr is valid (type invariant); the count is 1, so this
        // value holds the only reference, and the acquire load above ordered
        // this access after every former holder's release; &mut self rules
        // out other borrows.
        unsafe { self.ptr.as_mut() }
    }

    /// Bytes of packet data in this (first) segment.
    #[inline(always)]
    pub fn len(&self) -> usize {
        usize::from(field!(self, data_len))
    }

    /// Whether the segment holds no data.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        field!(self, data_len) == 0
    }

    /// Total packet length over all segments (`pkt_len`).
    #[inline(always)]
    pub fn pkt_len(&self) -> u32 {
        field!(self, pkt_len)
    }

    /// Number of segments in the chain.
    #[inline(always)]
    pub fn nb_segs(&self) -> u16 {
        field!(self, nb_segs)
    }

    /// Input port the PMD recorded on receive.
    #[inline(always)]
    pub fn port(&self) -> u16 {
        field!(self, port)
    }

    /// The RSS hash the NIC computed (meaningful only when RSS is enabled
    /// and `ol_flags` has `RTE_MBUF_F_RX_RSS_HASH`).
    #[inline(always)]
    pub fn rss_hash(&self) -> u32 {
        // The field is a union every variant of which is plain-old-data, so
        // any bit pattern is a valid u32 (the macro's read is a union read).
        field!(self, __bindgen_anon_2.hash.rss)
    }

    /// Offload flags (`ol_flags`).
    #[inline(always)]
    pub fn ol_flags(&self) -> u64 {
        field!(self, ol_flags)
    }

    /// Free bytes in front of the data.
    #[inline(always)]
    pub fn headroom(&self) -> usize {
        usize::from(field!(self, data_off))
    }

    /// Free bytes after the data in this segment.
    #[inline(always)]
    pub fn tailroom(&self) -> usize {
        usize::from(field!(self, buf_len))
            - usize::from(field!(self, data_off))
            - usize::from(field!(self, data_len))
    }

    /// The data bytes, writable, or `None` if the mbuf is shared (see the
    /// module doc). One acquire load of the reference count.
    #[inline(always)]
    pub fn try_as_mut(&mut self) -> Option<&mut [u8]> {
        if self.is_shared() {
            return None;
        }
        let (base, off, len) = (
            field!(self, buf_addr).cast::<u8>(),
            field!(self, data_off),
            field!(self, data_len),
        );
        // SAFETY: as in as_ref; the count is 1 (checked just above, with
        // acquire ordering), so self holds the only reference and &mut self
        // makes the access exclusive for the slice's lifetime.
        Some(unsafe {
            std::slice::from_raw_parts_mut(base.add(usize::from(off)), usize::from(len))
        })
    }

    /// Grows the data by `n` bytes at the end and returns them (uninitialised
    /// contents: whatever the buffer held). `None` if the tailroom is short.
    /// Single-segment only (`rte_pktmbuf_append` without the C call).
    ///
    /// # Panics
    /// If the mbuf is shared.
    #[inline]
    #[track_caller]
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        let m = self.raw_mut("append");
        let old = usize::from(m.data_len);
        let tail = usize::from(m.buf_len) - usize::from(m.data_off) - old;
        if n > tail {
            return None;
        }
        // n <= tailroom <= u16::MAX - data_len, so neither add overflows.
        m.data_len += n as u16;
        m.pkt_len += n as u32;
        Some(&mut self.data_mut_unchecked()[old..])
    }

    /// Grows the data by `n` bytes at the front (e.g. to push a VLAN tag) and
    /// returns the new bytes. `None` if the headroom is short.
    ///
    /// # Panics
    /// If the mbuf is shared.
    #[inline]
    #[track_caller]
    pub fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        let m = self.raw_mut("prepend");
        if n > usize::from(m.data_off) {
            return None;
        }
        m.data_off -= n as u16;
        m.data_len += n as u16;
        m.pkt_len += n as u32;
        Some(&mut self.data_mut_unchecked()[..n])
    }

    /// Removes `n` bytes from the front (`rte_pktmbuf_adj`). `false` (and no
    /// change) if the segment is shorter than `n`.
    ///
    /// # Panics
    /// If the mbuf is shared.
    #[inline]
    #[track_caller]
    pub fn adj(&mut self, n: usize) -> bool {
        let m = self.raw_mut("adj");
        if n > usize::from(m.data_len) {
            return false;
        }
        m.data_off += n as u16;
        m.data_len -= n as u16;
        m.pkt_len -= n as u32;
        true
    }

    /// Shortens the data to `len` bytes (`rte_pktmbuf_trim`); no-op if it
    /// is already shorter.
    ///
    /// # Panics
    /// If the mbuf is shared (even when nothing would be cut).
    #[inline]
    #[track_caller]
    pub fn truncate(&mut self, len: usize) {
        let m = self.raw_mut("truncate");
        let cur = usize::from(m.data_len);
        if len < cur {
            let cut = (cur - len) as u16;
            m.data_len -= cut;
            m.pkt_len -= u32::from(cut);
        }
    }

    /// The data bytes, writable, without the shared check: only for callers
    /// that have just done it (through `raw_mut`).
    #[inline(always)]
    fn data_mut_unchecked(&mut self) -> &mut [u8] {
        let (base, off, len) = (
            field!(self, buf_addr).cast::<u8>(),
            field!(self, data_off),
            field!(self, data_len),
        );
        // SAFETY: as in as_ref; the caller checked the count is 1 through
        // raw_mut and holds &mut self.
        unsafe { std::slice::from_raw_parts_mut(base.add(usize::from(off)), usize::from(len)) }
    }

    /// Makes `n` more references to this mbuf, for sending one frame out of
    /// several ports without copying it. The count is raised once, by `n`:
    /// a plain store when it is 1 (this value is then the only owner, so no
    /// one else can touch the count — what DPDK's `rte_mbuf_refcnt_update`
    /// does too), otherwise one compare-and-swap (a blind atomic add could
    /// wrap the 16-bit count and free the mbuf under its other holders).
    ///
    /// Returns the `n` new handles as an iterator; dropping it early gives
    /// back the references not taken. While any other handle lives, this
    /// one is shared and cannot be mutated.
    ///
    /// # Panics
    /// If the count would exceed `u16::MAX`.
    #[inline]
    #[track_caller]
    pub fn share(&mut self, n: u16) -> Shares<'eal> {
        if n > 0 {
            let rc = self.refcnt();
            let cur = rc.load(Ordering::Relaxed);
            if cur == 1 {
                if n == u16::MAX {
                    overflow_panic(cur, n);
                }
                // Only owner: no concurrent access to the count is possible.
                rc.store(1 + n, Ordering::Relaxed);
            } else {
                let mut cur = cur;
                loop {
                    let Some(new) = cur.checked_add(n) else {
                        overflow_panic(cur, n);
                    };
                    // Relaxed suffices for an increment made through a live
                    // reference (as for Arc::clone): the count cannot reach
                    // 0 meanwhile, since we hold one.
                    match rc.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
                        Ok(_) => break,
                        Err(now) => cur = now,
                    }
                }
            }
        }
        Shares {
            ptr: self.ptr,
            left: n,
            _eal: PhantomData,
        }
    }

    /// Frees every mbuf in `v` with one `rte_pktmbuf_free_bulk` call and
    /// empties `v` (its capacity is kept). Shared mbufs only lose one
    /// reference each.
    #[inline]
    pub fn free_bulk(v: &mut Vec<Mbuf<'_>>) {
        let n = v.len();
        if n == 0 {
            return;
        }
        // SAFETY: Mbuf is repr(transparent) over NonNull<rte_mbuf>, so the
        // Vec's buffer is n valid owned `struct rte_mbuf *`. Length is set to
        // 0 first so the Vec never drops (double-frees) them afterwards.
        // rte_pktmbuf_free_bulk drops one reference per pointer (prefree).
        unsafe {
            v.set_len(0);
            dpdk_ffi::rte_pktmbuf_free_bulk(v.as_mut_ptr().cast::<*mut rte_mbuf>(), n as u32);
        }
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn shared_panic(what: &str, count: u16) -> ! {
    panic!(
        "moose_dpdk::Mbuf::{what}: the mbuf is shared (reference count {count}); \
         shared mbufs alias their data and must not be mutated (copy it, or use try_as_mut)"
    )
}

#[cold]
#[inline(never)]
#[track_caller]
fn overflow_panic(count: u16, n: u16) -> ! {
    panic!("moose_dpdk::Mbuf::share: reference count {count} + {n} exceeds u16::MAX")
}

impl Drop for Mbuf<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: self owns one reference (type invariant) and is being
        // destroyed, so nothing uses the pointer after the free, which
        // returns the mbuf to its pool only if that was the last reference.
        unsafe { dpdk_ffi::rte_pktmbuf_free(self.ptr.as_ptr()) }
    }
}

impl AsRef<[u8]> for Mbuf<'_> {
    #[inline(always)]
    fn as_ref(&self) -> &[u8] {
        let (base, off, len) = (
            field!(self, buf_addr).cast::<u8>(),
            field!(self, data_off),
            field!(self, data_len),
        );
        // SAFETY: for a valid mbuf, buf_addr + data_off .. + data_len lies
        // inside its data buffer (DPDK invariant, kept by every mutator
        // above); the bytes are initialised memory of the pool; the borrow
        // of self keeps the mbuf alive, and no one mutates it meanwhile
        // (unshared: we are the only holder; shared: mutation is refused).
        unsafe { std::slice::from_raw_parts(base.add(usize::from(off)), usize::from(len)) }
    }
}

impl AsMut<[u8]> for Mbuf<'_> {
    /// The data bytes, writable.
    ///
    /// # Panics
    /// If the mbuf is shared ([`Mbuf::is_shared`]): its bytes are read by
    /// the other holders. Costs one acquire load of the reference count.
    #[inline(always)]
    #[track_caller]
    fn as_mut(&mut self) -> &mut [u8] {
        if self.is_shared() {
            shared_panic("as_mut", self.refcnt().load(Ordering::Relaxed));
        }
        self.data_mut_unchecked()
    }
}

impl std::fmt::Debug for Mbuf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mbuf")
            .field("ptr", &self.ptr)
            .field("len", &self.len())
            .field("nb_segs", &self.nb_segs())
            .field("port", &self.port())
            .field("refcnt", &self.refcnt().load(Ordering::Relaxed))
            .finish()
    }
}

/// The extra references made by [`Mbuf::share`], handed out one
/// [`Mbuf`] at a time. Holds the references not yet taken; dropping it
/// gives them back.
pub struct Shares<'eal> {
    ptr: NonNull<rte_mbuf>,
    left: u16,
    _eal: PhantomData<&'eal Eal>,
}

// SAFETY: it owns `left` references to the mbuf and only hands them out as
// Mbufs (which are Send) or drops them through DPDK's atomic free path.
unsafe impl Send for Shares<'_> {}

impl<'eal> Iterator for Shares<'eal> {
    type Item = Mbuf<'eal>;

    #[inline]
    fn next(&mut self) -> Option<Mbuf<'eal>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // SAFETY: self owned this reference (counted in by share) and gives
        // it up here; the mbuf's pool lives for 'eal.
        Some(unsafe { Mbuf::from_raw(self.ptr) })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.left), Some(usize::from(self.left)))
    }
}

impl ExactSizeIterator for Shares<'_> {}
impl std::iter::FusedIterator for Shares<'_> {}

impl Drop for Shares<'_> {
    fn drop(&mut self) {
        if self.left == 0 {
            return;
        }
        if self.left > 1 {
            // SAFETY: the pointer is valid while we hold references; the
            // field is accessed atomically as in Mbuf::refcnt. We hold
            // `left` references, so taking `left - 1` leaves ours at 1 and
            // the count cannot reach 0 here. Release orders nothing we wrote
            // (we never write through Shares) but matches DPDK's decrements.
            let rc =
                unsafe { AtomicU16::from_ptr(std::ptr::addr_of_mut!((*self.ptr.as_ptr()).refcnt)) };
            rc.fetch_sub(self.left - 1, Ordering::Release);
        }
        // SAFETY: we still own one reference; rte_pktmbuf_free drops it and
        // returns the mbuf to its pool if it was the last one.
        unsafe { dpdk_ffi::rte_pktmbuf_free(self.ptr.as_ptr()) }
        self.left = 0;
    }
}

impl std::fmt::Debug for Shares<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shares")
            .field("ptr", &self.ptr)
            .field("left", &self.left)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbuf_is_one_raw_pointer() {
        assert_eq!(
            std::mem::size_of::<Mbuf>(),
            std::mem::size_of::<*mut rte_mbuf>()
        );
        assert_eq!(
            std::mem::align_of::<Mbuf>(),
            std::mem::align_of::<*mut rte_mbuf>()
        );
        assert_eq!(std::mem::size_of::<Option<Mbuf>>(), 8);
    }

    #[test]
    fn refcnt_is_an_aligned_u16_as_the_atomic_access_assumes() {
        let off = std::mem::offset_of!(rte_mbuf, refcnt);
        assert_eq!(
            off, 18,
            "DPDK 22.11 layout: buf_addr, buf_iova, data_off, refcnt"
        );
        assert_eq!(off % std::mem::align_of::<AtomicU16>(), 0);
        // SAFETY: a zeroed rte_mbuf is plain old data; only the field's type
        // is inspected.
        let m: rte_mbuf = unsafe { std::mem::zeroed() };
        let _: u16 = m.refcnt;
    }

    /// A heap-backed rte_mbuf, enough for the Rust-side accessors; it is
    /// never handed to DPDK (the test takes it back with into_raw).
    fn with_fake<R>(buf_len: u16, headroom: u16, f: impl FnOnce(&mut Mbuf<'static>) -> R) -> R {
        let mut data = vec![0u8; usize::from(buf_len)];
        // SAFETY: rte_mbuf is plain old data (pointers and integers); all
        // zeroes is a valid value.
        let mut raw: Box<rte_mbuf> = Box::new(unsafe { std::mem::zeroed() });
        raw.buf_addr = data.as_mut_ptr().cast();
        raw.buf_len = buf_len;
        raw.data_off = headroom;
        raw.nb_segs = 1;
        raw.refcnt = 1;
        let ptr = NonNull::from(Box::leak(raw));
        // SAFETY: ptr is a valid rte_mbuf over `data`, owned here; it is
        // taken back with into_raw below, so DPDK never frees it.
        let mut m = unsafe { Mbuf::from_raw(ptr) };
        let r = f(&mut m);
        let ptr = m.into_raw();
        // SAFETY: ptr came from Box::leak above and is no longer used.
        drop(unsafe { Box::from_raw(ptr.as_ptr()) });
        drop(data);
        r
    }

    #[test]
    fn append_prepend_adj_truncate_track_lengths() {
        with_fake(256, 128, |m| {
            assert!(m.is_empty());
            assert_eq!((m.headroom(), m.tailroom()), (128, 128));
            m.append(4).unwrap().copy_from_slice(&[1, 2, 3, 4]);
            assert_eq!(m.as_ref(), &[1, 2, 3, 4]);
            m.prepend(2).unwrap().copy_from_slice(&[9, 8]);
            assert_eq!(m.as_ref(), &[9, 8, 1, 2, 3, 4]);
            assert_eq!((m.len(), m.pkt_len(), m.headroom()), (6, 6, 126));
            assert!(m.adj(2));
            assert_eq!(m.as_ref(), &[1, 2, 3, 4]);
            assert!(!m.adj(5));
            m.truncate(1);
            assert_eq!(m.as_ref(), &[1]);
            m.as_mut()[0] = 7;
            assert_eq!(m.as_ref(), &[7]);
            assert!(m.append(m.tailroom() + 1).is_none());
            assert!(m.prepend(m.headroom() + 1).is_none());
            assert_eq!(m.pkt_len(), 1);
        });
    }

    #[test]
    fn shared_mbuf_refuses_mutation_until_unshared() {
        with_fake(256, 128, |m| {
            m.append(2).unwrap().copy_from_slice(&[5, 6]);
            assert!(!m.is_shared());
            let shares = m.share(3);
            assert_eq!(shares.len(), 3);
            // Take every reference (no give-back: that path calls DPDK).
            let extra: Vec<NonNull<rte_mbuf>> = shares.map(Mbuf::into_raw).collect();
            assert_eq!(extra.len(), 3);
            assert!(extra
                .iter()
                .all(|p| *p == NonNull::new(m.as_ptr()).unwrap()));
            assert_eq!(m.refcnt().load(Ordering::Relaxed), 4);
            assert!(m.is_shared());
            assert!(m.try_as_mut().is_none());
            assert_eq!(m.as_ref(), &[5, 6], "reading is fine");
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                m.as_mut()[0] = 1;
            }));
            let msg = r.expect_err("as_mut on a shared mbuf panics");
            let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(msg.contains("shared (reference count 4)"), "{msg}");
            for f in [
                |m: &mut Mbuf| {
                    let _ = m.append(1);
                },
                |m: &mut Mbuf| {
                    let _ = m.prepend(1);
                },
                |m: &mut Mbuf| {
                    let _ = m.adj(1);
                },
                |m: &mut Mbuf| m.truncate(0),
            ] {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(m)));
                assert!(r.is_err());
            }
            assert_eq!(m.as_ref(), &[5, 6], "nothing changed");
            // Second share on an already shared mbuf: the atomic path.
            let more: Vec<_> = m.share(2).map(Mbuf::into_raw).collect();
            assert_eq!((more.len(), m.refcnt().load(Ordering::Relaxed)), (2, 6));
            // The other holders "free" theirs.
            m.refcnt().store(1, Ordering::Release);
            assert!(!m.is_shared());
            m.as_mut()[0] = 1;
            assert_eq!(m.as_ref(), &[1, 6]);
            let none = m.share(0);
            assert_eq!(none.len(), 0);
            drop(none);
            assert_eq!(m.refcnt().load(Ordering::Relaxed), 1);
        });
    }

    #[test]
    fn share_refuses_to_overflow_the_count() {
        with_fake(64, 0, |m| {
            m.refcnt().store(u16::MAX - 1, Ordering::Relaxed);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                std::mem::forget(m.share(2));
            }));
            assert!(r.is_err());
            assert_eq!(
                m.refcnt().load(Ordering::Relaxed),
                u16::MAX - 1,
                "unchanged"
            );
            m.refcnt().store(1, Ordering::Relaxed);
        });
    }
}
