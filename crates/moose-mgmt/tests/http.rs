//! What a well-formed or malformed request gets back: sizes, methods,
//! unknown paths, panics, slow handlers, streaming, and the client's errors.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use moose_mgmt::client::ClientError;
use moose_mgmt::Limits;

const T: Duration = Duration::from_secs(30);

#[test]
fn get_answers_and_counts() {
    bounded(T, || {
        let (server, _) = start(Limits::default());
        let (r, took) = timed_get(server.local_addr(), "/");
        assert_eq!(r.expect("GET /"), "hello\n");
        println!("GET / took {took:?}");
        let s = server.stats().snapshot();
        assert_eq!(s.requests, 1);
        assert_eq!(s.accepted, 1);
        server.stop();
    });
}

#[test]
fn oversized_head_gets_431() {
    bounded(T, || {
        let (server, _) = start(Limits::default());
        let addr = server.local_addr();
        // A complete head over 16 KiB.
        let big = "a".repeat(20 * 1024);
        let req = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\nConnection: close\r\n\r\n");
        assert_eq!(raw(addr, req.as_bytes()).status, 431);
        // A head that never ends: cut off once it passes the limit.
        let endless = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}");
        assert_eq!(raw(addr, endless.as_bytes()).status, 431);
        // Just under the limit is fine.
        let fits = "a".repeat(15 * 1024);
        let req =
            format!("GET / HTTP/1.1\r\nHost: x\r\nX-Fits: {fits}\r\nConnection: close\r\n\r\n");
        assert_eq!(raw(addr, req.as_bytes()).status, 200);
        server.stop();
    });
}

#[test]
fn oversized_body_gets_413() {
    bounded(T, || {
        let (server, _) = start(Limits::default());
        let addr = server.local_addr();
        let body = vec![b'x'; 100 * 1024];
        let mut req = format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        assert_eq!(
            raw(addr, &req).status,
            413,
            "declared length over the limit"
        );

        // Chunked, so the length is only known while reading.
        let mut req =
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                .to_vec();
        for _ in 0..10 {
            req.extend_from_slice(format!("{:x}\r\n", 10 * 1024).as_bytes());
            req.extend_from_slice(&[b'y'; 10 * 1024]);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(raw(addr, &req).status, 413, "chunked body over the limit");

        let small = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
        let a = raw(addr, small);
        assert_eq!(a.status, 200);
        assert_eq!(a.body, b"5 bytes\n");
        server.stop();
    });
}

#[test]
fn head_works_for_get_routes() {
    bounded(T, || {
        let (server, _) = start(Limits::default());
        let addr = server.local_addr();
        for path in ["/", "/big", "/stream"] {
            let req = format!("HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let a = raw(addr, req.as_bytes());
            assert_eq!(a.status, 200, "HEAD {path}");
            assert!(
                a.body.is_empty(),
                "HEAD {path} sent a body of {} bytes",
                a.body.len()
            );
            println!(
                "HEAD {path}: content-length {:?}",
                a.header("content-length")
            );
        }
        let a = raw(
            addr,
            b"HEAD /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(a.header("content-length").as_deref(), Some("65536"));
        server.stop();
    });
}

#[test]
fn unknown_path_gets_fixed_404() {
    bounded(T, || {
        let (server, _) = start(Limits::default());
        let addr = server.local_addr();
        let a = raw(
            addr,
            b"GET /nosuchpath/%3Cscript%3E?q=secretquery HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(a.status, 404);
        let all = format!("{}{}", a.head, String::from_utf8_lossy(&a.body));
        for needle in ["nosuchpath", "script", "3C", "secretquery"] {
            assert!(!all.contains(needle), "404 repeats {needle:?}: {all:?}");
        }
        assert_eq!(a.body, b"not found\n");
        let a = raw(
            addr,
            b"HEAD /nosuchpath HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(a.status, 404);
        assert!(a.body.is_empty());
        server.stop();
    });
}

#[test]
fn wrong_method_gets_405_with_allow() {
    bounded(T, || {
        let (server, _) = start(Limits::default());
        let addr = server.local_addr();
        let a = raw(
            addr,
            b"DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(a.status, 405);
        let allow = a.header("allow").expect("Allow header");
        assert!(
            allow.contains("GET") && allow.contains("HEAD"),
            "Allow: {allow}"
        );
        let a = raw(
            addr,
            b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(a.status, 405);
        assert_eq!(a.header("allow").as_deref(), Some("POST"));
        server.stop();
    });
}

#[test]
fn panicking_handler_gets_500_and_server_goes_on() {
    bounded(T, || {
        let (server, _) = start(Limits::default());
        let addr = server.local_addr();
        for _ in 0..3 {
            let a = raw(
                addr,
                b"GET /panic HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            assert_eq!(a.status, 500);
            let body = String::from_utf8_lossy(&a.body);
            assert!(
                !body.contains("on purpose"),
                "500 repeats the panic message: {body}"
            );
        }
        // On the same connection, after a panic, the next request is served.
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        assert!(text.starts_with("HTTP/1.1 500"), "{text}");
        assert!(
            text.contains("HTTP/1.1 200") && text.ends_with("hello\n"),
            "{text}"
        );
        assert_eq!(timed_get(addr, "/").0.unwrap(), "hello\n");
        assert_eq!(server.stats().snapshot().handler_panics, 4);
        server.stop();
    });
}

#[test]
fn panic_in_a_streamed_body_cuts_only_that_response() {
    bounded(T, || {
        let (server, _) = start(Limits::default());
        let addr = server.local_addr();
        let a = raw(
            addr,
            b"GET /stream-panic HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        // The head and the first chunks went out; then the connection ends
        // without the last chunk.
        assert_eq!(a.status, 200);
        assert!(!a.body.ends_with(b"0\r\n\r\n"), "stream was not cut off");
        let stats = server.stats();
        assert!(wait_for(Duration::from_secs(2), || stats
            .snapshot()
            .handler_panics
            == 1));
        assert_eq!(timed_get(addr, "/").0.unwrap(), "hello\n");
        server.stop();
    });
}

#[test]
fn slow_handler_gets_503_after_request_timeout() {
    bounded(T, || {
        let (server, _) = start(short_limits()); // request_timeout 500 ms
        let addr = server.local_addr();
        let t = Instant::now();
        let a = raw(
            addr,
            b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let took = t.elapsed();
        println!("slow handler answered {} after {took:?}", a.status);
        assert_eq!(a.status, 503);
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(2),
            "{took:?}"
        );
        assert_eq!(server.stats().snapshot().handler_timeouts, 1);
        assert_eq!(timed_get(addr, "/").0.unwrap(), "hello\n");
        server.stop();
    });
}

#[test]
fn streamed_body_is_not_buffered_and_others_are_served() {
    bounded(Duration::from_secs(60), || {
        let (server, produced) = start(Limits::default());
        let addr = server.local_addr();
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build();
        let resp = agent
            .get(&format!("http://{addr}/stream"))
            .call()
            .expect("GET /stream");
        let mut reader = resp.into_reader();
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0usize;
        // Read 1 MiB, then stop reading for a while: the server must not run
        // ahead by much more than the socket buffers.
        while got < 1 << 20 {
            let n = reader.read(&mut buf).unwrap();
            assert!(n > 0);
            got += n;
        }
        std::thread::sleep(Duration::from_millis(500));
        let ahead = produced.get();
        println!(
            "reader paused at {} KiB; server had produced {} chunks ({} MiB) of {}",
            got / 1024,
            ahead,
            (ahead * CHUNK.len()) >> 20,
            STREAM_CHUNKS
        );
        assert!(ahead < STREAM_CHUNKS / 4, "server ran {ahead} chunks ahead");

        // Read the rest on another thread while other requests are made.
        let reader_thread = std::thread::spawn(move || {
            let t = Instant::now();
            loop {
                let n = reader.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                assert!(buf[..n].iter().all(|&b| b == b's'));
                let before = got;
                got += n;
                // About 1 s for the rest: long enough to overlap many GETs.
                if got >> 20 != before >> 20 {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            (got, t.elapsed())
        });
        let mut worst = Duration::ZERO;
        let mut served = 0;
        while !reader_thread.is_finished() {
            let (r, took) = timed_get(addr, "/");
            assert_eq!(r.unwrap(), "hello\n");
            worst = worst.max(took);
            served += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        let (total, took) = reader_thread.join().unwrap();
        println!(
            "streamed {} MiB in {took:?} ({:.0} MiB/s); meanwhile {served} GETs, slowest {worst:?}",
            total >> 20,
            (total >> 20) as f64 / took.as_secs_f64()
        );
        assert_eq!(total, STREAM_CHUNKS * CHUNK.len());
        assert!(
            worst < Duration::from_millis(500),
            "a GET took {worst:?} during the stream"
        );
        server.stop();
    });
}

#[test]
fn stats_rows_have_the_exported_names() {
    let stats = moose_mgmt::ServerStats::default();
    let names: Vec<_> = stats
        .metrics()
        .iter()
        .map(|m| (m.name, m.kind.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("moose_api_connections_accepted_total", "counter"),
            ("moose_api_connections_refused_total", "counter"),
            ("moose_api_accept_errors_total", "counter"),
            ("moose_api_header_timeouts_total", "counter"),
            ("moose_api_write_timeouts_total", "counter"),
            ("moose_api_connections_active", "gauge"),
            ("moose_api_requests_total", "counter"),
            ("moose_api_handler_panics_total", "counter"),
            ("moose_api_handler_timeouts_total", "counter"),
        ]
    );
    assert!(stats
        .metrics()
        .iter()
        .all(|m| !m.help.is_empty() && m.value == 0));
}

#[test]
fn client_errors_say_what_happened() {
    bounded(T, || {
        // Nothing listens on a port we bound and closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let e = moose_mgmt::client::get(&addr, "/metrics", Duration::from_secs(2)).unwrap_err();
        println!("{e}");
        assert!(matches!(e, ClientError::Connect { .. }), "{e:?}");
        assert!(e.to_string().starts_with(&format!(
            "cannot connect to {addr} (is moose running with metrics.listen set?)"
        )));

        let (server, _) = start(short_limits());
        let addr = server.local_addr().to_string();
        let e = moose_mgmt::client::get(&addr, "/nope", Duration::from_secs(2)).unwrap_err();
        println!("{e}");
        match &e {
            ClientError::Status { status, body, .. } => {
                assert_eq!(*status, 404);
                assert_eq!(body, "not found");
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("HTTP 404: not found"));
        let e = moose_mgmt::client::get(&addr, "/slow", Duration::from_secs(2)).unwrap_err();
        println!("{e}");
        assert!(
            matches!(e, ClientError::Status { status: 503, .. }),
            "{e:?}"
        );
        let e = moose_mgmt::client::get(&addr, "/slow", Duration::from_millis(200)).unwrap_err();
        println!("{e}");
        assert!(matches!(e, ClientError::Timeout { .. }), "{e:?}");
        assert_eq!(
            moose_mgmt::client::get(&addr, "big", Duration::from_secs(2))
                .unwrap()
                .len(),
            BIG
        );
        server.stop();
    });
}

#[test]
fn invalid_limits_are_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let limits = Limits {
        max_connections: 0,
        ..Limits::default()
    };
    let e = moose_mgmt::Server::start(listener, axum::Router::new(), limits, None).unwrap_err();
    assert!(matches!(e, moose_mgmt::Error::InvalidLimits(_)), "{e}");
}

#[test]
fn pinned_to_a_core() {
    bounded(T, || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = moose_mgmt::Server::start(
            listener,
            router(Produced::default()),
            Limits::default(),
            Some(0),
        )
        .expect("start pinned to core 0");
        assert_eq!(timed_get(server.local_addr(), "/").0.unwrap(), "hello\n");
        server.stop();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let e =
            moose_mgmt::Server::start(listener, axum::Router::new(), Limits::default(), Some(4096))
                .unwrap_err();
        assert!(matches!(e, moose_mgmt::Error::Pin(4096)), "{e}");
    });
}
