//! Helpers shared by the integration tests: a test router, a server on an
//! ephemeral loopback port, raw-socket requests and a time bound per test.
#![allow(dead_code)]

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::routing::{get, post};
use axum::Router;
use moose_mgmt::{Limits, Server};

/// Size of `/big`'s answer.
pub const BIG: usize = 64 * 1024;
/// `/stream` sends this many chunks of `CHUNK.len()` bytes (50 MiB).
pub const STREAM_CHUNKS: usize = 800;
pub static CHUNK: [u8; 64 * 1024] = [b's'; 64 * 1024];

/// Counts the chunks `/stream` has produced, so a test can see how far the
/// server ran ahead of its reader.
#[derive(Clone, Default)]
pub struct Produced(pub Arc<AtomicUsize>);

impl Produced {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

pub fn router(produced: Produced) -> Router {
    Router::new()
        .route("/", get(|| async { "hello\n" }))
        .route("/big", get(|| async { vec![b'b'; BIG] }))
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("handler panics on purpose");
                }
                "unreachable"
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "slow\n"
            }),
        )
        .route(
            "/stream",
            get(move || {
                let produced = produced.clone();
                async move {
                    let chunks = futures_util::stream::iter(0..STREAM_CHUNKS).map(move |_| {
                        produced.0.fetch_add(1, Ordering::Relaxed);
                        Ok::<_, Infallible>(Bytes::from_static(&CHUNK))
                    });
                    Body::from_stream(chunks)
                }
            }),
        )
        .route(
            "/stream-panic",
            get(|| async {
                let chunks = futures_util::stream::iter(0..4).map(|i| {
                    if i == 2 {
                        panic!("stream panics on purpose");
                    }
                    Ok::<_, Infallible>(Bytes::from_static(&CHUNK))
                });
                Body::from_stream(chunks)
            }),
        )
        .route(
            "/echo",
            post(|body: Bytes| async move { format!("{} bytes\n", body.len()) }),
        )
}

use futures_util::StreamExt as _;

/// A server for `router` on 127.0.0.1, an ephemeral port.
pub fn start_with(router: Router, limits: Limits) -> Server {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    Server::start(listener, router, limits, None).expect("server starts")
}

pub fn start(limits: Limits) -> (Server, Produced) {
    let produced = Produced::default();
    (start_with(router(produced.clone()), limits), produced)
}

/// Runs `f` on its own thread and fails the test if it takes longer than
/// `limit`: a test that hangs is a failure, not a stuck run.
pub fn bounded<F: FnOnce() + Send + 'static>(limit: Duration, f: F) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => handle.join().expect("test body"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: report its panic.
            if let Err(p) = handle.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("test did not finish within {limit:?}")
        }
    }
}

/// A parsed answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// Sends `request` as it is on a new connection and reads until the server
/// closes it (the request should say `Connection: close`).
pub fn raw(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before it has read everything (431,
    // 413), so a failed write is not a failure.
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse(&buf)
}

pub fn parse(buf: &[u8]) -> Answer {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete head in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    Answer {
        status,
        head,
        body: buf[end + 4..].to_vec(),
    }
}

/// A plain GET through the crate's own client, timed.
pub fn timed_get(
    addr: SocketAddr,
    path: &str,
) -> (Result<String, moose_mgmt::client::ClientError>, Duration) {
    let t = Instant::now();
    let r = moose_mgmt::client::get(&addr.to_string(), path, Duration::from_secs(5));
    (r, t.elapsed())
}

/// Waits up to `limit` for `cond`, polling.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// Default limits with every timeout shortened for tests.
pub fn short_limits() -> Limits {
    Limits {
        header_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(4),
        write_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_millis(500),
        ..Limits::default()
    }
}
