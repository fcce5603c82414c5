//! The accept loop survives running out of descriptors. This lowers the
//! whole process's fd limit, so it is alone in its test binary.

mod common;

use std::fs::File;
use std::time::{Duration, Instant};

use common::*;
use moose_mgmt::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn accept_loop_survives_emfile() {
    bounded(Duration::from_secs(60), || {
        let (server, _) = start(Limits::default());
        let addr = server.local_addr();
        let stats = server.stats();
        assert_eq!(timed_get(addr, "/").0.unwrap(), "hello\n");

        // Client sockets made now, connected later: connect(2) takes no new
        // descriptor, so they can connect while the process has none left.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let sockets: Vec<_> = (0..3)
            .map(|_| tokio::net::TcpSocket::new_v4().unwrap())
            .collect();

        let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap();
        let open_now = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
        rlimit::Resource::NOFILE.set(open_now + 16, hard).unwrap();
        // Take every descriptor left.
        let mut filler = Vec::new();
        loop {
            match File::open("/dev/null") {
                Ok(f) => filler.push(f),
                Err(e) if e.raw_os_error() == Some(24) => break, // EMFILE
                Err(e) => panic!("unexpected error filling descriptors: {e}"),
            }
            assert!(filler.len() < 10_000);
        }
        let mut streams = Vec::new();
        for s in sockets {
            streams.push(
                rt.block_on(s.connect(addr))
                    .expect("connect without a new fd"),
            );
        }
        let errors_seen = wait_for(Duration::from_secs(3), || {
            stats.snapshot().accept_errors >= 3
        });
        let during = stats.snapshot();

        // Give the descriptors back.
        drop(filler);
        rlimit::Resource::NOFILE.set(soft, hard).unwrap();
        println!("while out of descriptors: {during:?}");
        assert!(errors_seen, "accept never failed with EMFILE: {during:?}");

        // The connections that waited in the backlog are served now.
        let t = Instant::now();
        for mut s in streams {
            let body = rt.block_on(async {
                s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .await
                    .unwrap();
                let mut buf = Vec::new();
                tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
                    .await
                    .expect("answer within 5 s")
                    .unwrap();
                buf
            });
            let a = parse(&body);
            assert_eq!(a.status, 200);
            assert_eq!(a.body, b"hello\n");
        }
        println!(
            "backlogged connections served {:?} after the limit was raised",
            t.elapsed()
        );
        assert_eq!(timed_get(addr, "/").0.unwrap(), "hello\n");
        server.stop();
    });
}
