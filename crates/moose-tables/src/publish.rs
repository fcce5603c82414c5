//! Left-right publication of one table from a single writer to N readers.
//!
//! # Design
//!
//! Two copies of the table live side by side in one `Arc`-shared block.
//! Readers (workers) only ever read the *active* copy; the writer (slow path)
//! only ever mutates the *back* copy. Every mutation is an operation `O` that
//! the table knows how to apply ([`Absorb`]); the writer applies each op to
//! the back copy as soon as it is appended (so [`Writer::read`] is always up
//! to date) and keeps it in an operation log. [`Writer::publish`] swaps the
//! copies, waits until no reader can still be inside the old active copy,
//! then replays the log on it, making it the new back copy. No update copies
//! the whole table; each op is applied exactly twice.
//!
//! # Protocol
//!
//! Each reader owns one cache-line-padded slot holding an epoch counter that
//! only that reader writes: even = outside a read section, odd = inside.
//!
//! * `enter`: `slot = e + 1` (release store); `fence(SeqCst)`;
//!   `idx = active.load(Acquire)`; read `copies[idx]`.
//! * leave (guard drop): `slot = e + 2` (release store).
//! * `publish`: `active.store(back, Release)`; `fence(SeqCst)`; for every
//!   slot read with acquire: if the value is odd, wait (spin briefly, then
//!   yield, then sleep in 20 µs steps — never holding anything a reader
//!   needs) until the slot holds any other value; then replay the log on
//!   the old copy.
//!
//! Why it is safe: the two `SeqCst` fences order the writer's swap against
//! every reader's "I am inside" store (Dekker). If the writer read an even
//! value, or a value that it later saw change, then any read section that
//! started after that value was written has its fence after the writer's
//! fence, so it loaded the new `active` index and is not in the old copy. A
//! section that was in progress ended with a release store that the writer
//! acquired, so all of the reader's accesses to the old copy happen before
//! the writer's replay. The enter store must be a release store too: the
//! writer may skip the leave value and read the next section's enter value
//! (`e + 3` after seeing `e + 1`), and only a release store synchronises
//! then (C++20 release sequences no longer include plain stores). loom found
//! this with a relaxed enter store; on x86 both compile to a plain `mov`.
//!
//! Costs: a reader does two plain stores, one fence and one load per read
//! section (once per burst, not per packet) and no read-modify-write; it
//! never waits for the writer. A reader outside a read section is already
//! quiescent, so an idle worker never delays a publish; [`Reader::offline`]
//! and [`Reader::online`] exist so a worker can say so explicitly and are
//! free. A publish waits at most for the longest read section in progress
//! (one burst, a few microseconds). The writer may be dropped while readers
//! live: the shared block is reference counted and readers keep reading the
//! last published copy; ops appended but not published are discarded.
//!
//! The replay goes through [`Absorb::absorb_all`], which a table may
//! override to overlap the memory accesses of consecutive ops.
//!
//! # Numbers (release, 2-core shared VM under load)
//!
//! `moose bench tables` binds 1M hosts into a published [`crate::xlate::Xlate`],
//! publishing every 100 µs, while a reader enters once per 32 lookups:
//! ~3 M binds/s (was 175–258 k/s with hashbrown, no prefetching and a
//! publish every 1024 ops); an op becomes visible (the swap) within
//! 0.2–0.3 ms of its append. The longest publish is still ~1–4 ms: on an
//! oversubscribed machine a reader can be preempted inside its read section
//! and the writer waits for it (≈ one 4 ms scheduler tick) before
//! replaying — this delays the writer, not visibility, which happens at
//! the swap at the start of `publish`.

use std::ops::Deref;

#[cfg(loom)]
use self::sync::CellExt;
use self::sync::{fence, Arc, AtomicU64, AtomicUsize, Ordering, UnsafeCell};

/// A table that can apply the writer's operations to itself.
///
/// `absorb` is called exactly twice for every op, once on each copy, in the
/// same order; it must be deterministic so that both copies stay equal.
pub trait Absorb<O> {
    /// Apply one operation.
    fn absorb(&mut self, op: &O);

    /// Apply a run of operations in order (the replay in
    /// [`Writer::publish`]). Must be equivalent to `absorb` on each; a table
    /// may override it to overlap the memory accesses of consecutive ops
    /// (e.g. prefetch the slots of op `i + 8` while applying op `i`).
    fn absorb_all(&mut self, ops: &[O]) {
        for op in ops {
            self.absorb(op);
        }
    }
}

#[repr(align(128))]
struct Slot {
    /// Written by: the owning reader only. Read by: the writer in `publish`.
    epoch: AtomicU64,
}

struct Shared<T> {
    /// Written by: the writer, only the copy at index `1 - active` and only
    /// after every reader has left it. Read by: readers (copy `active`), the
    /// writer (either copy).
    copies: [UnsafeCell<T>; 2],
    /// Index of the copy readers enter. Written by: the writer. Read by: all.
    active: AtomicUsize,
    /// One per reader, fixed at construction.
    slots: Box<[Slot]>,
}

// SAFETY: readers obtain `&T` to the active copy from several threads (needs
// `T: Sync`); the writer mutates the back copy, possibly from another thread
// than the one that created it (needs `T: Send`). The protocol above
// guarantees that no `&T` and `&mut T` to the same copy ever coexist.
unsafe impl<T: Send + Sync> Sync for Shared<T> {}

/// Create a writer and `readers` read handles around `init`.
pub fn left_right<T, O>(init: T, readers: usize) -> (Writer<T, O>, Vec<Reader<T>>)
where
    T: Absorb<O> + Clone + Send + Sync,
    O: Send,
{
    let slots: Box<[Slot]> = (0..readers)
        .map(|_| Slot {
            epoch: AtomicU64::new(0),
        })
        .collect();
    let shared = Arc::new(Shared {
        copies: [UnsafeCell::new(init.clone()), UnsafeCell::new(init)],
        active: AtomicUsize::new(0),
        slots,
    });
    let rs = (0..readers)
        .map(|i| Reader {
            shared: Arc::clone(&shared),
            slot: i,
            epoch: 0,
            online: true,
        })
        .collect();
    let w = Writer {
        shared,
        back: 1,
        log: Vec::new(),
        waiting: Vec::with_capacity(readers),
        publishes: 0,
    };
    (w, rs)
}

/// The single writer. Owned by the slow path.
pub struct Writer<T, O> {
    shared: Arc<Shared<T>>,
    /// Index of the copy only the writer touches (`1 - active`).
    back: usize,
    /// Ops applied to the back copy but not yet to the other one.
    log: Vec<O>,
    /// Scratch for `publish`: (slot, odd epoch seen), reused to avoid allocation.
    waiting: Vec<(usize, u64)>,
    publishes: u64,
}

impl<T, O> Writer<T, O>
where
    T: Absorb<O>,
{
    /// Apply `op` to the writer's copy now; readers see it after the next
    /// [`publish`](Self::publish).
    pub fn append(&mut self, op: O) {
        self.shared.copies[self.back].with_mut(|p| {
            // SAFETY: `back` is never the active index between publishes, and
            // the last publish waited until every reader had left it; `&mut
            // self` excludes `read()` borrows.
            unsafe { (*p).absorb(&op) }
        });
        self.log.push(op);
    }

    /// Make every appended op visible to readers. Returns once both copies
    /// are up to date; waits only for read sections already in progress.
    pub fn publish(&mut self) {
        if self.log.is_empty() {
            return;
        }
        let sh = &*self.shared;
        sh.active.store(self.back, Ordering::Release);
        fence(Ordering::SeqCst);
        self.waiting.clear();
        for (i, s) in sh.slots.iter().enumerate() {
            let e = s.epoch.load(Ordering::Acquire);
            if e & 1 == 1 {
                self.waiting.push((i, e));
            }
        }
        let mut round = 0u32;
        while !self.waiting.is_empty() {
            self.waiting
                .retain(|&(i, e)| sh.slots[i].epoch.load(Ordering::Acquire) == e);
            if self.waiting.is_empty() {
                break;
            }
            sync::backoff(round);
            round = round.saturating_add(1);
        }
        self.back ^= 1;
        let back = self.back;
        let log = &self.log;
        sh.copies[back].with_mut(|p| {
            // SAFETY: every reader that could be in copy `back` has left
            // it (loop above); new read sections load the new `active`.
            unsafe { (*p).absorb_all(log) }
        });
        self.log.clear();
        self.publishes += 1;
    }

    /// The writer's own view, including ops not yet published.
    pub fn read(&self) -> &T {
        self.shared.copies[self.back].with(|p| {
            // SAFETY: only the writer mutates copy `back`, and only through
            // `&mut self`, which cannot coexist with this borrow.
            unsafe { &*p }
        })
    }

    /// Ops appended since the last publish.
    pub fn pending(&self) -> usize {
        self.log.len()
    }

    /// Number of completed publishes that swapped copies.
    pub fn publishes(&self) -> u64 {
        self.publishes
    }

    /// Number of read handles created with this writer.
    pub fn readers(&self) -> usize {
        self.shared.slots.len()
    }
}

/// A read handle, one per worker. `Send`, not shared.
pub struct Reader<T> {
    shared: Arc<Shared<T>>,
    slot: usize,
    /// Mirror of our slot (always even here); only this handle writes it.
    epoch: u64,
    online: bool,
}

impl<T> Reader<T> {
    /// Take a read view; once per burst. Leaving is dropping the guard.
    #[inline]
    pub fn enter(&mut self) -> ReadGuard<'_, T> {
        self.online = true;
        let sh = &*self.shared;
        let slot = &sh.slots[self.slot].epoch;
        slot.store(self.epoch + 1, Ordering::Release);
        fence(Ordering::SeqCst);
        let idx = sh.active.load(Ordering::Acquire);
        let ptr = sh.copies[idx & 1].get_tracked();
        ReadGuard { reader: self, ptr }
    }

    /// Declare this reader idle (e.g. before sleeping in back-off). A reader
    /// outside a read section never delays the writer, so this only records
    /// the state; it costs nothing.
    pub fn offline(&mut self) {
        self.online = false;
    }

    /// Declare this reader active again.
    pub fn online(&mut self) {
        self.online = true;
    }

    /// Whether the reader last declared itself online.
    pub fn is_online(&self) -> bool {
        self.online
    }
}

/// A read view of the active copy; valid until dropped.
pub struct ReadGuard<'a, T> {
    reader: &'a mut Reader<T>,
    ptr: sync::ConstPtr<T>,
}

impl<T> Deref for ReadGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: our slot is odd, so the writer will not mutate this copy
        // until the guard drops and publishes an even epoch.
        unsafe { self.ptr.deref() }
    }
}

impl<T> Drop for ReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // End the (model-checked) access before announcing that we left.
        self.ptr.release();
        let r = &mut *self.reader;
        r.epoch += 2;
        r.shared.slots[r.slot]
            .epoch
            .store(r.epoch, Ordering::Release);
    }
}

#[cfg(not(loom))]
mod sync {
    pub(super) use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
    pub(super) use std::sync::Arc;

    /// `std::cell::UnsafeCell` with loom's closure API.
    pub(super) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(super) fn new(v: T) -> Self {
            Self(std::cell::UnsafeCell::new(v))
        }
        #[inline]
        pub(super) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }
        #[inline]
        pub(super) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
        #[inline]
        pub(super) fn get_tracked(&self) -> ConstPtr<T> {
            ConstPtr(self.0.get())
        }
    }

    pub(super) struct ConstPtr<T>(*const T);

    impl<T> ConstPtr<T> {
        /// # Safety
        /// No `&mut T` to the pointee may exist while the result lives.
        #[inline]
        pub(super) unsafe fn deref(&self) -> &T {
            // SAFETY: forwarded to the caller.
            unsafe { &*self.0 }
        }
        #[inline]
        pub(super) fn release(&mut self) {}
    }

    pub(super) fn backoff(round: u32) {
        if round < 64 {
            std::hint::spin_loop();
        } else if round < 512 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(std::time::Duration::from_micros(20));
        }
    }
}

#[cfg(loom)]
mod sync {
    pub(super) use loom::cell::UnsafeCell;

    /// loom's tracked pointer, ended explicitly before the leave store.
    pub(super) struct ConstPtr<T>(Option<loom::cell::ConstPtr<T>>);

    impl<T> ConstPtr<T> {
        /// # Safety
        /// No `&mut T` to the pointee may exist while the result lives.
        pub(super) unsafe fn deref(&self) -> &T {
            // SAFETY: forwarded to the caller.
            unsafe { self.0.as_ref().expect("used after release").deref() }
        }
        pub(super) fn release(&mut self) {
            self.0 = None;
        }
    }

    pub(super) trait CellExt<T> {
        fn get_tracked(&self) -> ConstPtr<T>;
    }

    impl<T> CellExt<T> for UnsafeCell<T> {
        fn get_tracked(&self) -> ConstPtr<T> {
            ConstPtr(Some(self.get()))
        }
    }
    pub(super) use loom::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
    pub(super) use loom::sync::Arc;

    pub(super) fn backoff(_round: u32) {
        loom::thread::yield_now();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::thread;

    /// A table whose consistency is checkable: `sum` of all values is
    /// constant, and `version` equals the number of ops applied.
    #[derive(Clone)]
    struct Tab {
        vals: Vec<u64>,
        version: u64,
    }

    /// Move `amount` from one index to another, keeping the sum.
    struct Move {
        from: usize,
        to: usize,
        amount: u64,
    }

    impl Absorb<Move> for Tab {
        fn absorb(&mut self, op: &Move) {
            let a = op.amount.min(self.vals[op.from]);
            self.vals[op.from] -= a;
            self.vals[op.to] += a;
            self.version += 1;
        }
    }

    const N: usize = 64;
    const TOTAL: u64 = 64 * 1000;

    #[test]
    fn writer_sees_own_appends_and_readers_see_publish() {
        let (mut w, mut rs) = left_right::<Tab, Move>(
            Tab {
                vals: vec![1000; N],
                version: 0,
            },
            2,
        );
        w.append(Move {
            from: 0,
            to: 1,
            amount: 5,
        });
        assert_eq!(w.read().vals[1], 1005);
        assert_eq!(rs[0].enter().vals[1], 1000);
        w.publish();
        assert_eq!(rs[0].enter().vals[1], 1005);
        assert_eq!(rs[1].enter().version, 1);
        w.append(Move {
            from: 1,
            to: 2,
            amount: 5,
        });
        w.publish();
        assert_eq!(rs[1].enter().vals[..3], [995, 1000, 1005]);
        assert_eq!(w.read().vals[..3], [995, 1000, 1005]);
        // An offline reader does not block, a dropped writer leaves readers
        // with the last published state.
        rs[0].offline();
        w.append(Move {
            from: 2,
            to: 3,
            amount: 1,
        });
        w.publish();
        drop(w);
        rs[0].online();
        assert_eq!(rs[0].enter().vals[3], 1001);
    }

    #[test]
    fn stress_readers_always_see_consistent_table() {
        let (mut w, rs) = left_right::<Tab, Move>(
            Tab {
                vals: vec![1000; N],
                version: 0,
            },
            3,
        );
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = rs
            .into_iter()
            .map(|mut r| {
                let stop = Arc::clone(&stop);
                thread::spawn(move || {
                    let mut last = 0;
                    let mut views = 0u64;
                    // At least a few views even if the writer finishes
                    // before this thread is first scheduled (loaded CI).
                    while !stop.load(Ordering::Relaxed) || views < 64 {
                        let g = r.enter();
                        let sum: u64 = g.vals.iter().sum();
                        assert_eq!(sum, TOTAL, "torn view at version {}", g.version);
                        assert!(g.version >= last, "went back in time");
                        assert_eq!(g.version % 7, 0, "saw an unpublished batch");
                        last = g.version;
                        views += 1;
                        drop(g);
                        if views & 1023 == 0 {
                            r.offline();
                            thread::yield_now();
                            r.online();
                        }
                    }
                    (views, last)
                })
            })
            .collect();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..3000 {
            // Batches of 7 ops, so every published version is a multiple of 7.
            for _ in 0..7 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                w.append(Move {
                    from: (x % N as u64) as usize,
                    to: ((x >> 8) % N as u64) as usize,
                    amount: (x >> 16) % 50,
                });
            }
            w.publish();
            assert_eq!(w.read().vals.iter().sum::<u64>(), TOTAL);
        }
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            let (views, last) = h.join().unwrap();
            assert!(views > 0);
            assert!(last <= 21000);
        }
        assert_eq!(w.read().version, 21000);
    }

    #[test]
    fn reader_is_send() {
        fn is_send<S: Send>() {}
        is_send::<Reader<Tab>>();
        is_send::<Writer<Tab, Move>>();
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    #[derive(Clone)]
    struct Pair(u64, u64);
    impl Absorb<u64> for Pair {
        fn absorb(&mut self, op: &u64) {
            self.0 += op;
            self.1 += op;
        }
    }

    /// One writer publishing twice against one reader entering twice: loom
    /// checks every interleaving and memory-order outcome for a data race on
    /// the copies (its `UnsafeCell` tracks concurrent `&`/`&mut` access),
    /// and the reader checks that each view is consistent and monotonic.
    #[test]
    fn left_right_is_race_free() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(3);
        b.check(|| {
            let (mut w, mut rs) = left_right::<Pair, u64>(Pair(0, 0), 1);
            let mut r = rs.pop().unwrap();
            let t = loom::thread::spawn(move || {
                let mut last = 0;
                for _ in 0..3 {
                    let g = r.enter();
                    assert_eq!(g.0, g.1);
                    assert!(g.0 >= last);
                    last = g.0;
                }
            });
            w.append(1);
            w.publish();
            w.append(2);
            w.publish();
            assert_eq!(w.read().0, 3);
            t.join().unwrap();
        });
    }

    /// Two readers, writer dropped while they read.
    #[test]
    fn two_readers_and_writer_drop() {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(2);
        b.check(|| {
            let (mut w, rs) = left_right::<Pair, u64>(Pair(0, 0), 2);
            let ts: Vec<_> = rs
                .into_iter()
                .map(|mut r| {
                    loom::thread::spawn(move || {
                        let g = r.enter();
                        assert_eq!(g.0, g.1);
                    })
                })
                .collect();
            w.append(5);
            w.publish();
            drop(w);
            for t in ts {
                t.join().unwrap();
            }
        });
    }
}
