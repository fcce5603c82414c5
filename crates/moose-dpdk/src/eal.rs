//! The Environment Abstraction Layer: process-wide init and cleanup, and
//! registration of non-EAL threads.

use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::{errno_last, DpdkError};

const EAL_NONE: u8 = 0;
const EAL_LIVE: u8 = 1;
/// Init was attempted (failed, or cleaned up): DPDK allows no second try.
const EAL_DONE: u8 = 2;

/// Process-wide EAL state. Written by `Eal::init` and `Eal::drop` only.
static EAL_STATE: AtomicU8 = AtomicU8::new(EAL_NONE);

/// `Ok` while the EAL is up. Checked by control-plane entry points that
/// would crash inside DPDK otherwise; never on the per-packet path.
pub(crate) fn ensure_live() -> Result<(), DpdkError> {
    if EAL_STATE.load(Ordering::Acquire) == EAL_LIVE {
        Ok(())
    } else {
        Err(DpdkError::EalNotInitialised)
    }
}

/// The initialised EAL. At most one per process, ever: DPDK cannot be
/// initialised again after `rte_eal_cleanup`.
///
/// Dropping it calls `rte_eal_cleanup`, which releases all DPDK memory:
/// drop it last, after every [`Mbuf`](crate::Mbuf), queue and port use has
/// ended (in `main`, declare it first).
#[derive(Debug)]
pub struct Eal {
    _private: (),
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
        EAL_STATE.store(EAL_LIVE, Ordering::Release);
        Ok(Eal { _private: () })
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        EAL_STATE.store(EAL_DONE, Ordering::Release);
        // SAFETY: the EAL was initialised by the Eal::init that built self,
        // and this is the only Eal; the type's contract is that nothing
        // DPDK-backed is used after it is dropped.
        unsafe {
            dpdk_ffi::rte_eal_cleanup();
        }
    }
}

/// Registers the calling `std::thread` with the EAL so it gets an lcore id
/// (and with it a per-lcore mempool cache). Call once at the start of each
/// worker thread that was not launched by the EAL; pair with
/// [`unregister_thread`] before it exits.
pub fn register_thread() -> Result<(), DpdkError> {
    ensure_live()?;
    // SAFETY: the EAL is initialised; rte_thread_register has no other
    // precondition and is a no-op for an already-registered thread.
    let ret = unsafe { dpdk_ffi::rte_thread_register() };
    if ret < 0 {
        return Err(DpdkError::ThreadRegister(errno_last()));
    }
    Ok(())
}

/// Releases the calling thread's lcore id taken by [`register_thread`].
/// Does nothing for an unregistered thread or once the EAL is gone.
pub fn unregister_thread() {
    if ensure_live().is_err() {
        return;
    }
    // SAFETY: the EAL is initialised; unregistering a thread that has no
    // lcore id is a documented no-op.
    unsafe { dpdk_ffi::rte_thread_unregister() }
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
