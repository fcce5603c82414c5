//! The two memory hints of the lookup paths, the only `unsafe` outside
//! [`crate::publish`]: software prefetch of a table slot, and asking the
//! kernel to back a large table with 2 MiB transparent huge pages.
//!
//! Both are hints: neither reads nor writes memory, neither can fault, and
//! the tables stay correct if the hint is ignored (non-x86-64 targets,
//! non-Linux systems, THP disabled).

/// Hint the CPU to bring the cache line of `slice[i]` into L1. `i` need not
/// be in bounds (no load is performed), so no bounds check is paid.
#[inline(always)]
pub fn prefetch_index<T>(slice: &[T], i: usize) {
    let p = slice.as_ptr().wrapping_add(i);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` is a pure hint: it performs no architectural
    // load, never faults (even for an invalid address) and changes no
    // memory. SSE, its target feature, is part of the x86-64 baseline, so
    // the instruction exists on every x86-64 CPU. The pointer was formed
    // with `wrapping_add` and is never dereferenced.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// 2 MiB, the x86-64 huge page size.
const HUGE: usize = 2 << 20;

/// Ask for transparent huge pages on the 2 MiB-aligned interior of `v`'s
/// allocation (its whole capacity). Call it right after allocating, before
/// the memory is first written, so that the first touch of each 2 MiB
/// region faults in a huge page. Large tables (the 1M-entry LPM and
/// translation arrays, tens of MB) otherwise take a TLB miss and a page
/// walk on almost every lookup. Does nothing for small vectors.
pub fn advise_huge<T>(v: &Vec<T>) {
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < HUGE {
        return;
    }
    let start = v.as_ptr() as usize;
    let lo = (start + HUGE - 1) & !(HUGE - 1);
    let hi = (start + bytes) & !(HUGE - 1);
    if hi <= lo {
        return;
    }
    #[cfg(all(target_os = "linux", not(loom)))]
    // SAFETY: `[lo, hi)` lies inside the vector's live allocation (rounded
    // inward to page boundaries). `MADV_HUGEPAGE` only sets a flag on the
    // mapping telling the kernel it may back it with huge pages; it does not
    // change the contents, the protection or the validity of the memory, so
    // no Rust reference or invariant is affected. Failure (e.g. THP
    // disabled) is harmless and ignored.
    unsafe {
        libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
    }
}
