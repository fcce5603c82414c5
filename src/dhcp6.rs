//! The MAC provider's DHCPv6 socket (RFC 8947 link-layer address
//! assignment): a thread that hands each datagram to the `mps` service
//! and sends its answer back to where the datagram came from — a direct
//! client's port 546, or a relay agent's address and port.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use moose_control::mps::api::Dhcp6Message;
use moose_control::ControlHandle;

/// The largest DHCPv6 message taken (bigger ones are truncated by the
/// kernel and dropped by the codec).
const MAX_MESSAGE: usize = 4096;
const ALL_SERVERS: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

/// Binds `listen` and joins All_DHCP_Relay_Agents_and_Servers on each of
/// `interfaces`; errors name the key.
pub fn bind(listen: SocketAddr, interfaces: &[String]) -> anyhow::Result<UdpSocket> {
    let sock =
        UdpSocket::bind(listen).with_context(|| format!("mps.dhcp6_listen: binding {listen}"))?;
    for (i, name) in interfaces.iter().enumerate() {
        let c = std::ffi::CString::new(name.as_str())
            .with_context(|| format!("mps.dhcp6_interfaces[{i}]: {name:?}"))?;
        // SAFETY: `c` is a valid NUL-terminated string for the call.
        let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
        if index == 0 {
            anyhow::bail!("mps.dhcp6_interfaces[{i}]: no interface named {name:?}");
        }
        sock.join_multicast_v6(&ALL_SERVERS, index)
            .with_context(|| format!("mps.dhcp6_interfaces[{i}]: joining ff02::1:2 on {name}"))?;
    }
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    Ok(sock)
}

/// Serves `sock` until `stop`.
pub fn serve(sock: UdpSocket, control: ControlHandle, stop: Arc<AtomicBool>) {
    let mut buf = vec![0u8; MAX_MESSAGE];
    while !stop.load(Ordering::Relaxed) {
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => {
                log::warn!("mps: DHCPv6 socket: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let msg = Dhcp6Message {
            payload: buf[..n].to_vec(),
        };
        match control.call_blocking(msg, Duration::from_secs(2)) {
            Ok(Some(reply)) => {
                if let Err(e) = sock.send_to(&reply, from) {
                    log::debug!("mps: DHCPv6 answer to {from}: {e}");
                }
            }
            Ok(None) => {}
            Err(e) => log::warn!("mps: DHCPv6 message from {from} not answered: {e}"),
        }
    }
}
