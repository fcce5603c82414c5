//! Clients that take their time: one that never reads, slow loris, silent
//! and idle connections, and `stop()` while they are open.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use moose_mgmt::Limits;

const T: Duration = Duration::from_secs(40);

/// Reads from `s` until the server closes it or `limit` passes; returns
/// when it closed, measured from `since`.
fn closed_after(s: &mut TcpStream, since: Instant, limit: Duration) -> Option<Duration> {
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = [0u8; 4096];
    while since.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(since.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(since.elapsed()),
        }
    }
    None
}

/// Opens a connection that writes `count` pipelined `GET /big` and never
/// reads a byte of the answers.
fn non_reader(addr: SocketAddr, count: usize) -> (TcpStream, std::thread::JoinHandle<usize>) {
    let s = TcpStream::connect(addr).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        let req = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut sent = 0;
        for _ in 0..count {
            if w.write_all(req).is_err() {
                break;
            }
            sent += 1;
        }
        sent
    });
    (s, writer)
}

#[test]
fn non_reading_client_is_dropped_and_blocks_nobody() {
    bounded(T, || {
        let (server, _) = start(short_limits()); // write_timeout 1 s
        let addr = server.local_addr();
        let stats = server.stats();
        let t0 = Instant::now();
        let (mut stuck, writer) = non_reader(addr, 10_000);
        // Let the server fill the socket buffers and stall.
        std::thread::sleep(Duration::from_millis(300));
        let mut worst = Duration::ZERO;
        for _ in 0..5 {
            let (r, took) = timed_get(addr, "/");
            assert_eq!(r.unwrap(), "hello\n");
            worst = worst.max(took);
        }
        println!("GET / while a client does not read: slowest of 5 {worst:?}");
        assert!(worst < Duration::from_secs(1), "{worst:?}");
        assert!(wait_for(Duration::from_secs(5), || stats
            .snapshot()
            .write_timeouts
            == 1));
        let dropped = t0.elapsed();
        println!("non-reader dropped {dropped:?} after it connected (write_timeout 1 s)");
        assert!(dropped < Duration::from_secs(4), "{dropped:?}");
        let sent = writer.join().unwrap();
        println!("it had written {sent} requests");
        // The connection is gone on the server's side...
        assert!(wait_for(Duration::from_secs(2), || stats.snapshot().active == 0));
        // ...and the client sees it closed once it drains what was sent.
        assert!(closed_after(&mut stuck, Instant::now(), Duration::from_secs(10)).is_some());
        assert_eq!(timed_get(addr, "/big").0.unwrap().len(), BIG);
        server.stop();
    });
}

#[test]
fn slow_loris_is_dropped_after_header_timeout() {
    bounded(T, || {
        let (server, _) = start(short_limits()); // header_timeout 2 s
        let addr = server.local_addr();
        let mut s = TcpStream::connect(addr).unwrap();
        let t0 = Instant::now();
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        let mut closed = None;
        let mut buf = [0u8; 256];
        for &byte in head.iter() {
            if s.write_all(&[byte]).is_err() {
                closed = Some(t0.elapsed());
                break;
            }
            // Wait one second for the server to close, then send the next.
            match s.read(&mut buf) {
                Ok(0) => {
                    closed = Some(t0.elapsed());
                    break;
                }
                Ok(n) => panic!("server answered a partial head: {:?}", &buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => {
                    closed = Some(t0.elapsed());
                    break;
                }
            }
        }
        let closed = closed.expect("slow loris was never dropped");
        println!("slow loris (1 byte/s) dropped after {closed:?} (header_timeout 2 s)");
        assert!(closed >= Duration::from_millis(1900) && closed < Duration::from_millis(3500));
        let st = server.stats().snapshot();
        assert_eq!(st.header_timeouts, 1);
        assert_eq!(st.requests, 0);
        server.stop();
    });
}

#[test]
fn silent_client_is_dropped_after_header_timeout() {
    bounded(T, || {
        let (server, _) = start(short_limits());
        let mut s = TcpStream::connect(server.local_addr()).unwrap();
        let t0 = Instant::now();
        let closed = closed_after(&mut s, t0, Duration::from_secs(6)).expect("never dropped");
        println!("silent client dropped after {closed:?} (header_timeout 2 s)");
        assert!(closed >= Duration::from_millis(1900) && closed < Duration::from_millis(3000));
        assert_eq!(server.stats().snapshot().header_timeouts, 1);
        server.stop();
    });
}

/// Reads one response with a Content-Length from a keep-alive connection.
fn read_response(s: &mut TcpStream) -> Answer {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "closed mid-head");
        buf.push(byte[0]);
    }
    let mut a = parse(&buf);
    let len: usize = a.header("content-length").unwrap().parse().unwrap();
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    a.body = body;
    a
}

#[test]
fn idle_keep_alive_gets_idle_timeout_not_header_timeout() {
    bounded(T, || {
        let limits = Limits {
            header_timeout: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(2),
            ..short_limits()
        };
        let (server, _) = start(limits);
        let mut s = TcpStream::connect(server.local_addr()).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut s).body, b"hello\n");
        // Idle for longer than the header timeout: still open.
        std::thread::sleep(Duration::from_millis(1200));
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut s).body, b"hello\n");
        let t0 = Instant::now();
        let closed = closed_after(&mut s, t0, Duration::from_secs(6)).expect("never dropped");
        println!("idle keep-alive dropped after {closed:?} (idle_timeout 2 s)");
        assert!(closed >= Duration::from_millis(1900) && closed < Duration::from_millis(3000));
        // Idle closes are not header timeouts.
        assert_eq!(server.stats().snapshot().header_timeouts, 0);
        server.stop();
    });
}

#[test]
fn slow_head_on_a_keep_alive_connection_gets_header_timeout() {
    bounded(T, || {
        let limits = Limits {
            header_timeout: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(5),
            ..short_limits()
        };
        let (server, _) = start(limits);
        let mut s = TcpStream::connect(server.local_addr()).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut s).body, b"hello\n");
        std::thread::sleep(Duration::from_millis(300));
        // The next head starts but never ends: the header clock runs from
        // its first byte, not the idle clock.
        s.write_all(b"GET / HTTP/1.1\r\nHost:").unwrap();
        let t0 = Instant::now();
        let closed = closed_after(&mut s, t0, Duration::from_secs(6)).expect("never dropped");
        println!("half a head on a kept-alive connection: dropped after {closed:?} (header_timeout 500 ms)");
        assert!(closed >= Duration::from_millis(450) && closed < Duration::from_millis(1500));
        assert_eq!(server.stats().snapshot().header_timeouts, 1);
        server.stop();
    });
}

#[test]
fn stop_returns_promptly_with_open_and_stuck_connections() {
    bounded(T, || {
        // Long timeouts, so that only stop() can end these connections.
        let limits = Limits {
            write_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            ..Limits::default()
        };
        let (server, _) = start(limits);
        let addr = server.local_addr();
        let idle: Vec<TcpStream> = (0..200)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        let mut half = TcpStream::connect(addr).unwrap();
        half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
        let (stuck, writer) = non_reader(addr, 10_000);
        let stats = server.stats();
        assert!(wait_for(Duration::from_secs(5), || stats.snapshot().active == 202));
        std::thread::sleep(Duration::from_millis(500));
        let t = Instant::now();
        server.stop();
        let took = t.elapsed();
        println!("stop() with 202 open connections, one not reading: {took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert_eq!(stats.snapshot().active, 0);
        drop(idle);
        drop(stuck);
        let _ = writer.join();
        // The listener is closed.
        assert!(TcpStream::connect(addr).is_err());
    });
}
