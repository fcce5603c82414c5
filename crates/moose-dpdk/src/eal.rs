//! The Environment Abstraction Layer: process-wide init and cleanup, the
//! [`Eal`] token everything DPDK-backed borrows, and registration of
//! non-EAL threads.

use std::ffi::{c_char, c_int, CStr, CString};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use crate::error::{errno_last, DpdkError};
use crate::{Mempool, Port};

const EAL_NONE: u8 = 0;
/// Init was attempted (it may have failed, or been cleaned up): DPDK allows
/// no second try.
const EAL_DONE: u8 = 1;

/// Process-wide "init was tried" flag, set by the first `Eal::init`.
static EAL_STATE: AtomicU8 = AtomicU8::new(EAL_NONE);

/// The initialised EAL: a token that proves `rte_eal_init` succeeded and
/// that `rte_eal_cleanup` has not run yet. At most one exists per process,
/// ever: DPDK cannot be initialised again after cleanup.
///
/// Every DPDK-backed value ([`Mempool`], [`Mbuf`](crate::Mbuf), [`Port`],
/// queue handles, [`ThreadRegistration`]) borrows it, so the borrow checker
/// makes dropping it (which runs `rte_eal_cleanup` and frees all DPDK
/// memory) wait until they are all gone. It is `Send + Sync` (scoped worker
/// threads share `&Eal`) and not `Clone`.
#[derive(Debug)]
pub struct Eal {
    /// [`Eal::enable_capture`] succeeded: the pdump server is registered
    /// and is unregistered before cleanup.
    pub(crate) capture: AtomicBool,
}

impl Eal {
    /// Initialises the EAL with command-line style arguments; `args[0]` is the
    /// program name (e.g. `["moose", "-l", "0,1", "--no-huge", "-m", "512",
    /// "--vdev=net_null0"]`). EAL options after a `--` are not parsed.
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        let argv: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_str()).map_err(|_| DpdkError::InvalidArgument(a.clone())))
            .collect::<Result<_, _>>()?;
        if EAL_STATE
            .compare_exchange(EAL_NONE, EAL_DONE, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(DpdkError::EalAlreadyInitialised);
        }
        // The EAL may keep pointers into argv (and reorders the array), so
        // both the strings and the array live for the rest of the process.
        let argv: &'static mut [*mut c_char] = Vec::leak(
            argv.into_iter()
                .map(CString::into_raw)
                .chain(std::iter::once(std::ptr::null_mut()))
                .collect(),
        );
        let argc = (argv.len() - 1) as c_int;
        // SAFETY: argv holds argc valid NUL-terminated strings followed by a
        // NULL, all leaked so they outlive the EAL; EAL_STATE guarantees this
        // is the only call in the process.
        let ret = unsafe { dpdk_ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(DpdkError::EalInit(errno_last()));
        }
        Ok(Eal {
            capture: AtomicBool::new(false),
        })
    }

    /// Creates a pool of `n_mbufs` packet mbufs (`rte_pktmbuf_pool_create`);
    /// see [`Mempool`] for the parameters. The pool lives until the EAL is
    /// cleaned up.
    pub fn mempool(
        &self,
        name: &str,
        n_mbufs: u32,
        cache: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Mempool<'_>, DpdkError> {
        Mempool::create(self, name, n_mbufs, cache, data_room, socket)
    }

    /// Finds or hot-plugs the port for a device and takes ownership of it;
    /// see [`Port`] for the device strings and what is checked.
    pub fn attach(&self, devargs: &str) -> Result<Port<'_>, DpdkError> {
        Port::attach(self, devargs)
    }

    /// Registers the calling `std::thread` with the EAL so it gets an lcore
    /// id (and with it a per-lcore mempool cache). The guard releases the id
    /// when dropped, on the same thread (it is `!Send`). On a thread that
    /// already has an lcore id (the main thread, an EAL thread, or one
    /// already registered) it changes nothing and its drop does nothing:
    /// `rte_thread_register` would otherwise overwrite that id.
    pub fn register_thread(&self) -> Result<ThreadRegistration<'_>, DpdkError> {
        if lcore_id().is_some() {
            return Ok(ThreadRegistration {
                registered_here: false,
                _not_send: PhantomData,
            });
        }
        // SAFETY: &self proves the EAL is initialised and not cleaned up;
        // the thread has no lcore id (checked above), so registering does
        // not clobber one.
        let ret = unsafe { dpdk_ffi::rte_thread_register() };
        if ret < 0 {
            return Err(DpdkError::ThreadRegister(errno_last()));
        }
        Ok(ThreadRegistration {
            registered_here: true,
            _not_send: PhantomData,
        })
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        if *self.capture.get_mut() {
            // SAFETY: enable_capture succeeded (the flag) and the EAL is
            // not cleaned up yet; every queue handle borrows a port, which
            // borrows self, so none is alive and no thread bursts.
            unsafe { crate::capture::disable_capture() }
        }
        // SAFETY: the EAL was initialised by the Eal::init that built self,
        // and this is the only Eal; everything DPDK-backed borrows it, so
        // none of it is alive any more.
        unsafe {
            dpdk_ffi::rte_eal_cleanup();
        }
    }
}

/// The calling thread's EAL registration; see [`Eal::register_thread`].
/// `!Send`: it must be dropped on the thread it registered.
#[derive(Debug)]
#[must_use = "dropping the registration unregisters the thread at once"]
pub struct ThreadRegistration<'eal> {
    registered_here: bool,
    /// Borrows the EAL (it must outlive the registration) and is `!Send +
    /// !Sync` through the raw pointer.
    _not_send: PhantomData<(&'eal Eal, *const ())>,
}

impl Drop for ThreadRegistration<'_> {
    fn drop(&mut self) {
        if self.registered_here {
            // SAFETY: the EAL is alive (borrowed by self); this is the thread
            // that registered (self is !Send), so the lcore id released is
            // the one rte_thread_register gave it.
            unsafe { dpdk_ffi::rte_thread_unregister() }
        }
    }
}

/// The calling thread's lcore id, or `None` for an unregistered non-EAL thread.
pub fn lcore_id() -> Option<u32> {
    // SAFETY: reads the calling thread's per-lcore variable; valid on any
    // thread, before or after EAL init (it is LCORE_ID_ANY then).
    let id = unsafe { dpdk_ffi::rte_lcore_id() };
    (id != u32::MAX).then_some(id)
}

/// DPDK's version string, e.g. `"DPDK 22.11.11"` (`rte_version()`).
pub fn version() -> String {
    // SAFETY: rte_version returns a pointer to a static NUL-terminated
    // string; it needs no EAL.
    unsafe { CStr::from_ptr(dpdk_ffi::rte_version()) }
        .to_string_lossy()
        .into_owned()
}
