//! The management plane costs one thread, however many connections and
//! requests it serves. Alone in its binary, so no other test's threads are
//! counted.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::*;
use moose_mgmt::Limits;

fn threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect()
}

#[test]
fn one_thread_whatever_the_load() {
    bounded(Duration::from_secs(30), || {
        let before = threads();
        let (server, _) = start(Limits::default());
        let addr = server.local_addr();
        let idle: Vec<_> = (0..100)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        for path in ["/", "/big", "/stream", "/panic", "/nope"] {
            let _ = timed_get(addr, path);
        }
        let during = threads();
        println!("threads before: {before:?}; while serving: {during:?}");
        assert_eq!(during.len(), before.len() + 1);
        assert_eq!(during.iter().filter(|n| *n == "moose-mgmt").count(), 1);
        drop(idle);
        server.stop();
        assert_eq!(threads().len(), before.len());
    });
}
