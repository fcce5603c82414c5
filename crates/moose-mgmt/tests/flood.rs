//! Thousands of connections at once. These tests hold many descriptors, so
//! they run one at a time, in their own test binary.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use moose_mgmt::Limits;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How many client sockets this process can open next to a server that
/// holds `server_side` of its own, at most `want`.
fn budget(want: usize, server_side: usize) -> usize {
    let limit = moose_mgmt::raise_fd_limit().expect("raise RLIMIT_NOFILE") as usize;
    let n = want.min(limit.saturating_sub(server_side + 200));
    if n < want {
        println!("RLIMIT_NOFILE hard limit is {limit}: using {n} connections, not {want}");
    }
    n
}

#[test]
fn flood_of_silent_connections_is_refused_and_server_recovers() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    bounded(Duration::from_secs(120), || {
        let n = budget(10_000, 256);
        let (server, _) = start(Limits::default());
        let addr = server.local_addr();
        let stats = server.stats();
        let t = Instant::now();
        let mut flood = Vec::with_capacity(n);
        let mut failed = 0;
        for _ in 0..n {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                Ok(s) => flood.push(s),
                Err(_) => failed += 1,
            }
        }
        let opened = t.elapsed();
        assert!(wait_for(Duration::from_secs(5), || {
            stats.snapshot().accepted as usize >= flood.len()
        }));
        let st = stats.snapshot();
        println!(
            "{} connections opened in {opened:?} ({failed} failed to connect); server: {st:?}",
            flood.len()
        );
        assert!(failed * 100 <= n, "{failed} of {n} connects failed");
        assert!(st.active <= 256, "{st:?}");
        // Every connection was refused, timed out without a head, or is held.
        assert_eq!(
            st.accepted,
            st.refused + st.header_timeouts + st.active,
            "{st:?}"
        );
        assert!(st.refused as usize >= flood.len() / 2, "{st:?}");
        // The last one was refused: it was told so and closed.
        let last = flood.last_mut().unwrap();
        last.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut answer = String::new();
        let _ = last.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");

        let t = Instant::now();
        drop(flood);
        let ok = wait_for(Duration::from_secs(2), || timed_get(addr, "/").0.is_ok());
        println!(
            "after the flood closed, GET / answered after {:?}",
            t.elapsed()
        );
        assert!(ok, "no answer within 2 s of the flood closing");
        assert!(wait_for(Duration::from_secs(2), || stats.snapshot().active == 0));
        let t = Instant::now();
        server.stop();
        println!("stop() took {:?}", t.elapsed());
    });
}

#[test]
fn stop_returns_promptly_with_thousands_of_connections_open() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    bounded(Duration::from_secs(60), || {
        let n = budget(3_000, 3_000);
        let limits = Limits {
            max_connections: n + 10,
            header_timeout: Duration::from_secs(60),
            ..Limits::default()
        };
        let (server, _) = start(limits);
        let addr = server.local_addr();
        let stats = server.stats();
        let open: Vec<_> = (0..n)
            .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok())
            .collect();
        assert!(wait_for(Duration::from_secs(10), || {
            stats.snapshot().active as usize == open.len()
        }));
        let t = Instant::now();
        server.stop();
        let took = t.elapsed();
        println!("stop() with {} connections open took {took:?}", open.len());
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert_eq!(stats.snapshot().active, 0);
    });
}
