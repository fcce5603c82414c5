//! The application's own commands on DPDK's telemetry socket
//! (`<runtime dir>/dpdk_telemetry.v2`, queried with `dpdk-telemetry.py`),
//! beside the ones DPDK registers itself (`/ethdev/list`, `/ethdev/stats`,
//! `/eal/params`, …).
//!
//! A handler is a Rust closure from the command's parameters (the text
//! after the first comma, `""` if none) to a [`TelDict`], or `None` for
//! "no such thing" (the client then reads `null`, as for `/ethdev/stats`
//! of a port that does not exist). It runs on a telemetry thread of the
//! EAL, one per connected client, never on a worker: it may allocate and
//! lock, and must be `Send + Sync + 'static` (the telemetry threads outlive
//! every borrow; DPDK 22.11 has no way to unregister a command).
//!
//! DPDK 22.11 calls a plain C function pointer with no user data, so this
//! module keeps a process-wide registry, command name → handler, and
//! registers one trampoline for every command; the trampoline finds the
//! handler by the command name DPDK passes it.
//!
//! What DPDK 22.11 accepts, and [`TelDict::check`] checks before anything
//! reaches it: names of [`MAX_STRING_LEN`]` - 1` bytes at most made of
//! `A-Z a-z 0-9 _ /`; string values of at most that length; at most
//! [`MAX_DICT_ENTRIES`] entries per dictionary; dictionaries nested one
//! level deep (a dictionary's values may be dictionaries of scalars). The
//! whole answer must also fit the socket's 16 KiB message, which only the
//! caller can size (a dictionary of a few hundred counters does).

use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::{Arc, Mutex, PoisonError};

use dpdk_ffi::rte_tel_data;

use crate::error::{errno_from_ret, DpdkError};
use crate::Eal;

/// Longest name or string value DPDK stores, including its NUL
/// (`RTE_TEL_MAX_STRING_LEN`).
pub const MAX_STRING_LEN: usize = dpdk_ffi::RTE_TEL_MAX_STRING_LEN as usize;
/// Most entries of one dictionary (`RTE_TEL_MAX_DICT_ENTRIES`).
pub const MAX_DICT_ENTRIES: usize = dpdk_ffi::RTE_TEL_MAX_DICT_ENTRIES as usize;

/// A telemetry answer: a dictionary (a JSON object), built in Rust and
/// handed to DPDK by the trampoline. Insertion order is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TelDict {
    entries: Vec<(String, TelValue)>,
}

/// One value of a [`TelDict`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TelValue {
    /// An unsigned 64-bit number.
    U64(u64),
    /// A string.
    Str(String),
    /// A dictionary of scalars (DPDK 22.11 nests one level).
    Dict(TelDict),
}

/// Why DPDK would refuse a [`TelDict`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TelError {
    /// A name is empty, too long or has a character other than
    /// `A-Z a-z 0-9 _ /`.
    #[error("telemetry name {0:?}: 1-127 bytes of A-Z a-z 0-9 _ /")]
    BadName(String),
    /// A string value is too long or has a NUL byte.
    #[error("telemetry string under {0:?}: at most 127 bytes, no NUL")]
    BadString(String),
    /// More than [`MAX_DICT_ENTRIES`] entries in one dictionary.
    #[error("telemetry dictionary of {0} entries (at most 256)")]
    TooManyEntries(usize),
    /// A dictionary inside a nested dictionary.
    #[error("telemetry dictionary {0:?} nested two levels deep (DPDK 22.11 encodes one)")]
    TooDeep(String),
}

impl TelDict {
    /// An empty dictionary.
    pub fn new() -> TelDict {
        TelDict::default()
    }

    /// Adds a number.
    pub fn u64(&mut self, name: &str, v: u64) -> &mut TelDict {
        self.entries.push((name.to_owned(), TelValue::U64(v)));
        self
    }

    /// Adds a string.
    pub fn string(&mut self, name: &str, v: &str) -> &mut TelDict {
        self.entries
            .push((name.to_owned(), TelValue::Str(v.to_owned())));
        self
    }

    /// Adds a dictionary of scalars.
    pub fn dict(&mut self, name: &str, d: TelDict) -> &mut TelDict {
        self.entries.push((name.to_owned(), TelValue::Dict(d)));
        self
    }

    /// The entries, in insertion order.
    pub fn entries(&self) -> &[(String, TelValue)] {
        &self.entries
    }

    /// Whether DPDK 22.11 accepts this dictionary as an answer (see the
    /// [module docs](self)).
    pub fn check(&self) -> Result<(), TelError> {
        self.check_at(0)
    }

    fn check_at(&self, depth: usize) -> Result<(), TelError> {
        if self.entries.len() > MAX_DICT_ENTRIES {
            return Err(TelError::TooManyEntries(self.entries.len()));
        }
        for (name, v) in &self.entries {
            if !valid_name(name) {
                return Err(TelError::BadName(name.clone()));
            }
            match v {
                TelValue::U64(_) => {}
                TelValue::Str(s) => {
                    if s.len() >= MAX_STRING_LEN || s.contains('\0') {
                        return Err(TelError::BadString(name.clone()));
                    }
                }
                TelValue::Dict(d) => {
                    if depth > 0 {
                        return Err(TelError::TooDeep(name.clone()));
                    }
                    d.check_at(depth + 1)?;
                }
            }
        }
        Ok(())
    }
}

/// A dictionary key (or command part) DPDK 22.11 accepts.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < MAX_STRING_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'/')
}

/// A command's handler: parameters in, answer out (`None`: answer `null`).
type Handler = Arc<dyn Fn(&str) -> Option<TelDict> + Send + Sync>;

/// Every command registered through [`Eal::telemetry_command`]. Writers:
/// registration (any thread). Readers: the trampoline, on DPDK's telemetry
/// threads, which clone the handler and release the lock before calling
/// it. Never touched by a worker.
static COMMANDS: Mutex<Vec<(String, Handler)>> = Mutex::new(Vec::new());

impl Eal {
    /// Registers `cmd` (e.g. `/moose/ports`: `/` then `A-Z a-z 0-9 _ /`)
    /// with its help text; `handler` answers it on DPDK's telemetry
    /// threads from then on (with `--no-telemetry` nothing ever asks).
    /// Registering a command again replaces its handler.
    pub fn telemetry_command(
        &self,
        cmd: &str,
        help: &str,
        handler: impl Fn(&str) -> Option<TelDict> + Send + Sync + 'static,
    ) -> Result<(), DpdkError> {
        let c_cmd = CString::new(cmd).map_err(|_| DpdkError::InvalidArgument(cmd.to_owned()))?;
        let c_help = CString::new(help).map_err(|_| DpdkError::InvalidArgument(help.to_owned()))?;
        let handler: Handler = Arc::new(handler);
        // Held across the C call, so that two registrations of one command
        // cannot both reach DPDK.
        let mut commands = COMMANDS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = commands.iter_mut().find(|(c, _)| c == cmd) {
            entry.1 = handler;
            return Ok(());
        }
        // SAFETY: both strings are NUL-terminated and live through the call
        // (DPDK copies them); the trampoline is a valid `telemetry_cb` for
        // the life of the process.
        let ret = unsafe {
            dpdk_ffi::rte_telemetry_register_cmd(c_cmd.as_ptr(), Some(trampoline), c_help.as_ptr())
        };
        if ret < 0 {
            return Err(DpdkError::TelemetryRegister {
                command: cmd.to_owned(),
                code: errno_from_ret(ret),
            });
        }
        commands.push((cmd.to_owned(), handler));
        Ok(())
    }
}

/// The one `telemetry_cb` behind every registered command: finds the
/// handler by name, runs it (a panic becomes an error answer, never an
/// unwind into C) and writes its answer into DPDK's `info`.
unsafe extern "C" fn trampoline(
    cmd: *const c_char,
    params: *const c_char,
    info: *mut rte_tel_data,
) -> c_int {
    const FAILED: c_int = -libc::EINVAL;
    if cmd.is_null() || info.is_null() {
        return FAILED;
    }
    // SAFETY: DPDK passes the NUL-terminated command it matched (non-null,
    // checked), valid for the call.
    let cmd = unsafe { CStr::from_ptr(cmd) }
        .to_string_lossy()
        .into_owned();
    let params = if params.is_null() {
        String::new()
    } else {
        // SAFETY: non-null, checked; DPDK's NUL-terminated parameter
        // string, valid for the call.
        unsafe { CStr::from_ptr(params) }
            .to_string_lossy()
            .into_owned()
    };
    let handler = {
        let commands = COMMANDS.lock().unwrap_or_else(PoisonError::into_inner);
        match commands.iter().find(|(c, _)| *c == cmd) {
            Some((_, h)) => h.clone(),
            None => return FAILED,
        }
    };
    let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&params)));
    let Ok(Some(dict)) = answer else {
        return FAILED;
    };
    if dict.check().is_err() {
        return FAILED;
    }
    // SAFETY: info is the non-null (checked) data DPDK made for this call
    // and reads back after it returns; dict passed check().
    match unsafe { emit(&dict, info) } {
        Ok(()) => 0,
        Err(()) => FAILED,
    }
}

/// Writes a checked dictionary into `out` (started as a dictionary here).
///
/// # Safety
///
/// `out` points to a valid `rte_tel_data` that nothing else uses during the
/// call, and `dict.check()` passed (so every name, string and nesting is
/// one DPDK accepts).
unsafe fn emit(dict: &TelDict, out: *mut rte_tel_data) -> Result<(), ()> {
    // SAFETY: the caller's contract: out is valid and ours for the call.
    if unsafe { dpdk_ffi::rte_tel_data_start_dict(out) } != 0 {
        return Err(());
    }
    for (name, v) in &dict.entries {
        // Checked names and strings have no NUL.
        let c_name = CString::new(name.as_str()).map_err(|_| ())?;
        let ret = match v {
            // SAFETY: out is a started dictionary; c_name lives through the
            // call (DPDK copies it).
            TelValue::U64(n) => unsafe {
                dpdk_ffi::rte_tel_data_add_dict_u64(out, c_name.as_ptr(), *n)
            },
            TelValue::Str(s) => {
                let c_val = CString::new(s.as_str()).map_err(|_| ())?;
                // SAFETY: as above; c_val lives through the call (copied).
                unsafe {
                    dpdk_ffi::rte_tel_data_add_dict_string(out, c_name.as_ptr(), c_val.as_ptr())
                }
            }
            TelValue::Dict(inner) => {
                // SAFETY: rte_tel_data_alloc has no preconditions; it
                // returns a fresh container or NULL.
                let c = unsafe { dpdk_ffi::rte_tel_data_alloc() };
                if c.is_null() {
                    return Err(());
                }
                // SAFETY: c is a fresh container only we hold; inner passed
                // check() as part of dict (scalars only, one level).
                let filled = unsafe { emit(inner, c) };
                let ret = match filled {
                    // SAFETY: out is a started dictionary; with keep = 0
                    // DPDK owns c from here and frees it with out.
                    Ok(()) => unsafe {
                        dpdk_ffi::rte_tel_data_add_dict_container(out, c_name.as_ptr(), c, 0)
                    },
                    Err(()) => -1,
                };
                if ret != 0 {
                    // SAFETY: DPDK did not take c (the add failed or was
                    // not tried): it is still ours to free, once.
                    unsafe { dpdk_ffi::rte_tel_data_free(c) };
                }
                ret
            }
        };
        if ret != 0 {
            return Err(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TelDict {
        let mut inner = TelDict::new();
        inner.u64("rx_packets", 7).string("link", "up");
        let mut d = TelDict::new();
        d.string("name", "p0-x.y")
            .u64("n", u64::MAX)
            .dict("0", inner);
        d
    }

    #[test]
    fn check_accepts_what_dpdk_accepts() {
        assert_eq!(sample().check(), Ok(()));
        assert_eq!(TelDict::new().check(), Ok(()));
        let mut d = TelDict::new();
        d.u64("a/b_C9", 1);
        assert_eq!(d.check(), Ok(()));
    }

    #[test]
    fn check_refuses_names_strings_sizes_and_depth() {
        for bad in ["", "a-b", "a.b", "a b", "é", &"x".repeat(MAX_STRING_LEN)] {
            let mut d = TelDict::new();
            d.u64(bad, 1);
            assert_eq!(d.check(), Err(TelError::BadName(bad.to_owned())), "{bad:?}");
        }
        let mut d = TelDict::new();
        d.string("s", &"x".repeat(MAX_STRING_LEN));
        assert_eq!(d.check(), Err(TelError::BadString("s".into())));
        let mut d = TelDict::new();
        d.string("s", "a\0b");
        assert_eq!(d.check(), Err(TelError::BadString("s".into())));
        let mut d = TelDict::new();
        for i in 0..=MAX_DICT_ENTRIES {
            d.u64(&format!("k{i}"), 0);
        }
        assert_eq!(
            d.check(),
            Err(TelError::TooManyEntries(MAX_DICT_ENTRIES + 1))
        );
        let mut mid = TelDict::new();
        mid.dict("deep", TelDict::new());
        let mut d = TelDict::new();
        d.dict("mid", mid);
        assert_eq!(d.check(), Err(TelError::TooDeep("deep".into())));
        // A bad name inside a nested dictionary is found too.
        let mut inner = TelDict::new();
        inner.u64("x-y", 0);
        let mut d = TelDict::new();
        d.dict("ok", inner);
        assert_eq!(d.check(), Err(TelError::BadName("x-y".into())));
    }

    /// The rules of `check` are DPDK's own: a dictionary it accepts is
    /// written without an error, one it refuses for a name is refused by
    /// DPDK too. (The telemetry data calls are plain memory operations:
    /// no EAL needed.)
    #[test]
    fn check_agrees_with_dpdk() {
        let emit_new = |d: &TelDict| {
            // SAFETY: a fresh container, only this test holds it, freed
            // below.
            let c = unsafe { dpdk_ffi::rte_tel_data_alloc() };
            assert!(!c.is_null());
            // SAFETY: c is valid and ours; emit's check() precondition is
            // what this test relaxes on purpose for bad names (DPDK must
            // refuse them itself, which is memory-safe).
            let r = unsafe { emit(d, c) };
            // SAFETY: c came from rte_tel_data_alloc and is freed once.
            unsafe { dpdk_ffi::rte_tel_data_free(c) };
            r
        };
        assert_eq!(emit_new(&sample()), Ok(()));
        for bad in ["a-b", "a.b", "a b"] {
            let mut d = TelDict::new();
            d.u64(bad, 1);
            assert!(d.check().is_err());
            assert_eq!(emit_new(&d), Err(()), "DPDK accepted {bad:?}");
        }
        let mut d = TelDict::new();
        for i in 0..MAX_DICT_ENTRIES {
            d.u64(&format!("k{i}"), 0);
        }
        assert_eq!(emit_new(&d), Ok(()));
        d.u64("one_more", 0);
        assert_eq!(emit_new(&d), Err(()), "DPDK took more than 256 entries");
    }
}
