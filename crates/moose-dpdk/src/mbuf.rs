//! [`Mbuf`]: an owned packet buffer.
//!
//! The per-packet accessors read and write the `rte_mbuf` fields directly
//! (data = `buf_addr + data_off`, `data_len` bytes); no C call is made per
//! packet except in `drop` (free) of a single mbuf. Bulk paths
//! ([`Mbuf::free_bulk`], the queues) make one call per burst.

use std::mem::ManuallyDrop;
use std::ptr::NonNull;

use dpdk_ffi::rte_mbuf;

/// One owned `rte_mbuf`, single segment (the queues are set up without
/// scatter, so received packets are one segment; a chained mbuf's accessors
/// see only the first segment).
///
/// `#[repr(transparent)]` over a non-null pointer: a `[Mbuf]` has the layout
/// of the `struct rte_mbuf *[]` that DPDK's burst functions take, which lets
/// the queues hand the caller's `Vec<Mbuf>` buffer to DPDK directly.
#[repr(transparent)]
pub struct Mbuf {
    ptr: NonNull<rte_mbuf>,
}

// SAFETY: an Mbuf is the only owner of its rte_mbuf (its refcount is held by
// this value), so moving it to another thread moves exclusive access; DPDK's
// free path is thread-safe (mempools are multi-producer).
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `ptr` must point to a valid, initialised `rte_mbuf` whose reference
    /// the caller owns and gives up; no one else may access it concurrently.
    #[inline(always)]
    pub unsafe fn from_raw(ptr: NonNull<rte_mbuf>) -> Mbuf {
        Mbuf { ptr }
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

    #[inline(always)]
    fn raw(&self) -> &rte_mbuf {
        // SAFETY: ptr is valid and exclusively owned by self (type invariant).
        unsafe { self.ptr.as_ref() }
    }

    #[inline(always)]
    fn raw_mut(&mut self) -> &mut rte_mbuf {
        // SAFETY: ptr is valid and exclusively owned by self (type invariant),
        // and &mut self rules out other borrows.
        unsafe { self.ptr.as_mut() }
    }

    /// Bytes of packet data in this (first) segment.
    #[inline(always)]
    pub fn len(&self) -> usize {
        usize::from(self.raw().data_len)
    }

    /// Whether the segment holds no data.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.raw().data_len == 0
    }

    /// Total packet length over all segments (`pkt_len`).
    #[inline(always)]
    pub fn pkt_len(&self) -> u32 {
        self.raw().pkt_len
    }

    /// Number of segments in the chain.
    #[inline(always)]
    pub fn nb_segs(&self) -> u16 {
        self.raw().nb_segs
    }

    /// Input port the PMD recorded on receive.
    #[inline(always)]
    pub fn port(&self) -> u16 {
        self.raw().port
    }

    /// The RSS hash the NIC computed (meaningful only when RSS is enabled
    /// and `ol_flags` has `RTE_MBUF_F_RX_RSS_HASH`).
    #[inline(always)]
    pub fn rss_hash(&self) -> u32 {
        // SAFETY: a plain u32 read of a union every variant of which is
        // plain-old-data; any bit pattern is a valid u32.
        unsafe { self.raw().__bindgen_anon_2.hash.rss }
    }

    /// Offload flags (`ol_flags`).
    #[inline(always)]
    pub fn ol_flags(&self) -> u64 {
        self.raw().ol_flags
    }

    /// Free bytes in front of the data.
    #[inline(always)]
    pub fn headroom(&self) -> usize {
        usize::from(self.raw().data_off)
    }

    /// Free bytes after the data in this segment.
    #[inline(always)]
    pub fn tailroom(&self) -> usize {
        let m = self.raw();
        usize::from(m.buf_len) - usize::from(m.data_off) - usize::from(m.data_len)
    }

    /// Grows the data by `n` bytes at the end and returns them (uninitialised
    /// contents: whatever the buffer held). `None` if the tailroom is short.
    /// Single-segment only (`rte_pktmbuf_append` without the C call).
    #[inline]
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.tailroom() {
            return None;
        }
        let old = self.len();
        let m = self.raw_mut();
        // n <= tailroom <= u16::MAX - data_len, so neither add overflows.
        m.data_len += n as u16;
        m.pkt_len += n as u32;
        Some(&mut self.as_mut()[old..])
    }

    /// Grows the data by `n` bytes at the front (e.g. to push a VLAN tag) and
    /// returns the new bytes. `None` if the headroom is short.
    #[inline]
    pub fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.headroom() {
            return None;
        }
        let m = self.raw_mut();
        m.data_off -= n as u16;
        m.data_len += n as u16;
        m.pkt_len += n as u32;
        Some(&mut self.as_mut()[..n])
    }

    /// Removes `n` bytes from the front (`rte_pktmbuf_adj`). `false` (and no
    /// change) if the segment is shorter than `n`.
    #[inline]
    pub fn adj(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        let m = self.raw_mut();
        m.data_off += n as u16;
        m.data_len -= n as u16;
        m.pkt_len -= n as u32;
        true
    }

    /// Shortens the data to `len` bytes (`rte_pktmbuf_trim`); no-op if it
    /// is already shorter.
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        let cur = self.len();
        if len < cur {
            let cut = (cur - len) as u16;
            let m = self.raw_mut();
            m.data_len -= cut;
            m.pkt_len -= u32::from(cut);
        }
    }

    /// Frees every mbuf in `v` with one `rte_pktmbuf_free_bulk` call and
    /// empties `v` (its capacity is kept).
    #[inline]
    pub fn free_bulk(v: &mut Vec<Mbuf>) {
        let n = v.len();
        if n == 0 {
            return;
        }
        // SAFETY: Mbuf is repr(transparent) over NonNull<rte_mbuf>, so the
        // Vec's buffer is n valid owned `struct rte_mbuf *`. Length is set to
        // 0 first so the Vec never drops (double-frees) them afterwards.
        unsafe {
            v.set_len(0);
            dpdk_ffi::rte_pktmbuf_free_bulk(v.as_mut_ptr().cast::<*mut rte_mbuf>(), n as u32);
        }
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: self owns the mbuf (type invariant) and is being destroyed,
        // so nothing uses the pointer after the free.
        unsafe { dpdk_ffi::rte_pktmbuf_free(self.ptr.as_ptr()) }
    }
}

impl AsRef<[u8]> for Mbuf {
    #[inline(always)]
    fn as_ref(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: for a valid mbuf, buf_addr + data_off .. + data_len lies
        // inside its data buffer (DPDK invariant, kept by every mutator
        // above); the bytes are initialised memory of the pool; the borrow
        // of self keeps the mbuf alive and unshared for the slice's lifetime.
        unsafe {
            std::slice::from_raw_parts(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }
}

impl AsMut<[u8]> for Mbuf {
    #[inline(always)]
    fn as_mut(&mut self) -> &mut [u8] {
        let m = self.raw();
        let (base, off, len) = (m.buf_addr.cast::<u8>(), m.data_off, m.data_len);
        // SAFETY: as in as_ref; &mut self makes the access exclusive. (An
        // mbuf with refcnt > 1 or external buffer would be shared, but this
        // crate never creates one: every Mbuf comes from alloc or rx.)
        unsafe { std::slice::from_raw_parts_mut(base.add(usize::from(off)), usize::from(len)) }
    }
}

impl std::fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mbuf")
            .field("ptr", &self.ptr)
            .field("len", &self.len())
            .field("nb_segs", &self.nb_segs())
            .field("port", &self.port())
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

    /// A heap-backed rte_mbuf, enough for the Rust-side accessors; it is
    /// never handed to DPDK (the test takes it back with into_raw).
    fn with_fake<R>(buf_len: u16, headroom: u16, f: impl FnOnce(&mut Mbuf) -> R) -> R {
        let mut data = vec![0u8; usize::from(buf_len)];
        // SAFETY: rte_mbuf is plain old data (pointers and integers); all
        // zeroes is a valid value.
        let mut raw: Box<rte_mbuf> = Box::new(unsafe { std::mem::zeroed() });
        raw.buf_addr = data.as_mut_ptr().cast();
        raw.buf_len = buf_len;
        raw.data_off = headroom;
        raw.nb_segs = 1;
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
}
