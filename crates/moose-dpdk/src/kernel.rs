//! The Linux side of `net_af_packet` ports: the kernel network interface a
//! port's packet sockets are bound to, read through sysfs
//! (`/sys/class/net/<iface>/...`), and the sockets themselves, found in
//! `/proc/self/fd`.
//!
//! DPDK 22.11's af_packet PMD reports a link that is always up, counts no
//! drops (it never reads `PACKET_STATISTICS`; the kernel's ring drops are
//! invisible otherwise) and leaves `IFF_PROMISC` set on the interface after
//! close. This module supplies the facts the port needs to do better.
//!
//! Every read here is a small sysfs file (a few bytes, read into a stack
//! buffer) or one socket call: cheap enough to poll every 100 ms, and none
//! of them waits for a lock held by someone else, except `speed`, which the
//! kernel serves under `rtnl_trylock` and restarts while the lock is busy;
//! the port reads it only when the link comes up.

use std::ffi::c_int;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// `IFF_UP` from `<linux/if.h>`.
const IFF_UP: u32 = libc::IFF_UP as u32;
/// `IFF_PROMISC` from `<linux/if.h>`.
const IFF_PROMISC: u32 = libc::IFF_PROMISC as u32;

/// Whether a DPDK device name is the af_packet PMD's (`net_af_packet*`, or
/// its old alias `eth_af_packet*`).
pub(crate) fn is_af_packet_name(name: &str) -> bool {
    name.starts_with("net_af_packet") || name.starts_with("eth_af_packet")
}

/// The value of `key=` in DPDK device arguments (`name,k1=v1,k2=v2`).
pub(crate) fn devargs_value<'a>(devargs: &'a str, key: &str) -> Option<&'a str> {
    devargs.split(',').skip(1).find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// A kernel network interface, by name, with its sysfs paths built once.
#[derive(Debug)]
pub(crate) struct KernelIface {
    name: String,
    dir: PathBuf,
    flags: PathBuf,
    carrier: PathBuf,
    operstate: PathBuf,
    ifindex: PathBuf,
    mtu: PathBuf,
    speed: PathBuf,
    duplex: PathBuf,
}

impl KernelIface {
    /// `None` if `name` cannot be a Linux interface name (the kernel's
    /// `dev_valid_name`: 1 to 15 bytes, not `.`/`..`, no `/`, `:` or
    /// whitespace), which also keeps the sysfs paths inside
    /// `/sys/class/net`.
    pub(crate) fn new(name: &str) -> Option<KernelIface> {
        let valid = !name.is_empty()
            && name.len() < libc::IFNAMSIZ
            && name != "."
            && name != ".."
            && !name
                .bytes()
                .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace());
        if !valid {
            return None;
        }
        let dir = Path::new("/sys/class/net").join(name);
        Some(KernelIface {
            name: name.to_owned(),
            flags: dir.join("flags"),
            carrier: dir.join("carrier"),
            operstate: dir.join("operstate"),
            ifindex: dir.join("ifindex"),
            mtu: dir.join("mtu"),
            speed: dir.join("speed"),
            duplex: dir.join("duplex"),
            dir,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Whether the interface exists now.
    pub(crate) fn exists(&self) -> bool {
        self.dir.exists()
    }

    /// The interface index, `None` if the interface does not exist.
    pub(crate) fn ifindex(&self) -> Option<i32> {
        read_num(&self.ifindex).ok()
    }

    /// The interface flags (`IFF_*`), as `SIOCGIFFLAGS` reports them.
    pub(crate) fn flags(&self) -> io::Result<u32> {
        let mut buf = [0u8; 32];
        let s = read_small(&self.flags, &mut buf)?;
        let hex = s.strip_prefix(b"0x").unwrap_or(s);
        std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
    }

    /// Whether `IFF_PROMISC` is set.
    pub(crate) fn promiscuous(&self) -> io::Result<bool> {
        Ok(self.flags()? & IFF_PROMISC != 0)
    }

    /// Whether the link is up: administratively up (`IFF_UP`), carrier
    /// present and the operational state `up` (or `unknown`, which drivers
    /// without operstate support report while running). A missing
    /// interface, or any read error, is down.
    pub(crate) fn link_up(&self) -> bool {
        if !self.flags().is_ok_and(|f| f & IFF_UP != 0) {
            return false;
        }
        let mut buf = [0u8; 32];
        // `carrier` fails with EINVAL while the interface is down.
        if !read_small(&self.carrier, &mut buf).is_ok_and(|s| s == b"1") {
            return false;
        }
        read_small(&self.operstate, &mut buf).is_ok_and(|s| s == b"up" || s == b"unknown")
    }

    /// Link speed in Mbit/s, `None` if unknown (the kernel reports -1).
    pub(crate) fn speed_mbps(&self) -> Option<u32> {
        read_num::<i64>(&self.speed)
            .ok()
            .and_then(|s| u32::try_from(s).ok())
    }

    /// Whether the link is full duplex.
    pub(crate) fn full_duplex(&self) -> bool {
        let mut buf = [0u8; 32];
        read_small(&self.duplex, &mut buf).is_ok_and(|s| s == b"full")
    }

    /// The interface MTU.
    pub(crate) fn mtu(&self) -> io::Result<u32> {
        read_num(&self.mtu)
    }

    /// Sets or clears `IFF_PROMISC` (`SIOCGIFFLAGS`, then `SIOCSIFFLAGS`
    /// if it differs). Another process changing the flags between the two
    /// calls would be overwritten; this runs once, at close.
    pub(crate) fn set_promiscuous(&self, on: bool) -> io::Result<()> {
        // SAFETY: socket() has no memory preconditions; the result is
        // checked before use.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh socket we own; OwnedFd closes it once.
        let sock = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: ifreq is plain old data; all zeroes is a valid value.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        // new() checked the name is shorter than IFNAMSIZ and has no NUL,
        // so it fits with the terminating NUL from the zeroed array.
        for (d, s) in ifr.ifr_name.iter_mut().zip(self.name.bytes()) {
            *d = s as libc::c_char;
        }
        // SAFETY: ifr is a valid, NUL-terminated ifreq the ioctl reads the
        // name from and writes the flags into; sock is an open socket.
        if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
        let flags = unsafe { ifr.ifr_ifru.ifru_flags };
        let promisc = libc::IFF_PROMISC as libc::c_short;
        let want = if on {
            flags | promisc
        } else {
            flags & !promisc
        };
        if want == flags {
            return Ok(());
        }
        ifr.ifr_ifru.ifru_flags = want;
        // SAFETY: as above; SIOCSIFFLAGS reads the name and the flags.
        if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Reads a small sysfs file into `buf`, without allocating, and returns it
/// trimmed of whitespace.
fn read_small<'b>(path: &Path, buf: &'b mut [u8; 32]) -> io::Result<&'b [u8]> {
    let mut f = File::open(path)?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(buf[..n].trim_ascii())
}

fn read_num<T: std::str::FromStr>(path: &Path) -> io::Result<T> {
    let mut buf = [0u8; 32];
    let s = read_small(path, &mut buf)?;
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
}

/// Every `AF_PACKET` socket of this process, as (fd, bound interface
/// index); the index is -1 once the interface the socket was bound to has
/// been deleted. Scans `/proc/self/fd`.
pub(crate) fn packet_sockets() -> io::Result<Vec<(c_int, i32)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Ok(entry) = entry else { continue };
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<c_int>().ok())
        else {
            continue;
        };
        let mut domain: c_int = 0;
        let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
        // SAFETY: domain/len are valid out-pointers of the given size. The
        // fd may be anything (or closed meanwhile by another thread):
        // getsockopt only reads socket state, failing with ENOTSOCK/EBADF
        // otherwise.
        let ret = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_DOMAIN,
                (&mut domain as *mut c_int).cast(),
                &mut len,
            )
        };
        if ret != 0 || domain != libc::AF_PACKET {
            continue;
        }
        // SAFETY: sockaddr_ll is plain old data; all zeroes is valid.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut sl = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: sa/sl are a valid out-buffer and its size; getsockname
        // only reads the socket's address.
        let ret =
            unsafe { libc::getsockname(fd, (&mut sa as *mut libc::sockaddr_ll).cast(), &mut sl) };
        if ret == 0 {
            out.push((fd, sa.sll_ifindex));
        }
    }
    Ok(out)
}

/// Frames the kernel dropped on a packet socket's receive ring since the
/// last call (`getsockopt(SOL_PACKET, PACKET_STATISTICS)`, which resets the
/// counters it reports).
///
/// The caller must pass a packet socket it knows to be open (one of its
/// port's sockets, which stay open until the port is closed).
pub(crate) fn take_packet_drops(fd: c_int) -> io::Result<u64> {
    let mut st = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: st/len are a valid out-buffer and its size (the kernel copies
    // at most len bytes, also for TPACKET_V3's larger struct).
    let ret = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut st as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(u64::from(st.tp_drops))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devargs_values() {
        let d = "net_af_packet0,iface=veth0, qpairs=2,blocksz=4096";
        assert_eq!(devargs_value(d, "iface"), Some("veth0"));
        assert_eq!(devargs_value(d, "qpairs"), Some("2"));
        assert_eq!(devargs_value(d, "framecnt"), None);
        assert_eq!(
            devargs_value("iface=x", "iface"),
            None,
            "the name is not a key"
        );
        assert!(is_af_packet_name("net_af_packet12"));
        assert!(is_af_packet_name("eth_af_packet0"));
        assert!(!is_af_packet_name("net_null0"));
    }

    #[test]
    fn interface_names_are_validated() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../../etc",
            "a b",
            "x:1",
            "0123456789abcdef",
        ] {
            assert!(KernelIface::new(bad).is_none(), "{bad:?}");
        }
        let lo = KernelIface::new("lo").unwrap();
        assert_eq!(lo.name(), "lo");
        assert_eq!(lo.flags.to_str(), Some("/sys/class/net/lo/flags"));
    }

    #[test]
    fn loopback_reads() {
        let lo = KernelIface::new("lo").unwrap();
        if !lo.exists() {
            return; // no sysfs (unusual sandbox)
        }
        assert_eq!(lo.ifindex(), Some(1));
        assert!(lo.mtu().unwrap() >= 1500);
        let f = lo.flags().unwrap();
        assert_ne!(f & libc::IFF_LOOPBACK as u32, 0);
        let gone = KernelIface::new("moose-nonexist").unwrap();
        assert!(!gone.exists());
        assert_eq!(gone.ifindex(), None);
        assert!(!gone.link_up());
        assert!(gone.mtu().is_err());
    }
}
