//! The management plane of the appliance: the HTTP server behind
//! `[metrics].listen` (`/metrics` for Prometheus and the JSON API), and the
//! small blocking client that `moose show` uses to talk to it.
//!
//! The server exists to stay up and stay small whatever its clients do, and
//! never to reach the data plane. Its invariants:
//!
//! - **One thread.** [`Server::start`] runs a `current_thread` tokio runtime
//!   on one OS thread (pinned to the control core when one is given). No
//!   thread is ever started per connection or per request, so management
//!   traffic cannot spill onto the workers' pinned cores.
//! - **Bounded.** At most [`Limits::max_connections`] connections are served
//!   at once; one more is accepted and closed at once, so it neither waits in
//!   the backlog nor holds a descriptor. A failed `accept` (`EMFILE`,
//!   `ENFILE`, `ENOBUFS`, ...) is counted and retried after a short pause; it
//!   never ends the accept loop.
//! - **Timed.** Every connection is always under one clock: a request head
//!   must arrive within [`Limits::header_timeout`] (from the connection's
//!   start, or from the first byte of a later request), an idle keep-alive
//!   connection is closed after [`Limits::idle_timeout`], a write that makes
//!   no progress for [`Limits::write_timeout`] closes the connection, and a
//!   handler that has not answered within [`Limits::request_timeout`] is
//!   answered 503 for it (a streamed body that yields nothing for that long
//!   is cut off).
//! - **Sized.** A request head larger than [`Limits::max_header_bytes`] gets
//!   431, a body larger than [`Limits::max_body_bytes`] gets 413. Response
//!   bodies are passed through frame by frame and never collected, so a
//!   streamed dump costs its chunk size, not its length.
//! - **Contained.** A panicking handler becomes a 500 and a count in
//!   [`ServerStats`]; the server goes on. (That needs `panic = "unwind"`.)
//!   An unknown path gets a fixed 404 body that never echoes the request.
//! - **Stoppable.** [`Server::stop`] stops accepting, lets open connections
//!   finish for [`Limits::shutdown_grace`], drops whatever is left and joins
//!   the thread, so it returns within about that bound whatever clients do.
//!
//! Handlers run on that one thread and must not block it: a handler that
//! waits on a blocking call stalls every other request (hand such a call to
//! `tokio::task::spawn_blocking`, or wait on a tokio channel).
//!
//! ```no_run
//! use axum::{routing::get, Router};
//!
//! moose_mgmt::raise_fd_limit()?;
//! let listener = std::net::TcpListener::bind("127.0.0.1:9477")?;
//! let router = Router::new().route("/metrics", get(|| async { "# metrics\n" }));
//! let server = moose_mgmt::Server::start(listener, router, moose_mgmt::Limits::default(), Some(0))?;
//! let stats = server.stats();
//! for m in stats.metrics() {
//!     println!("# TYPE {} {}\n{} {}", m.name, m.kind.as_str(), m.name, m.value);
//! }
//! server.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

use std::io;
use std::time::Duration;

mod body;
pub mod client;
mod conn;
mod server;
mod stats;

pub use server::Server;
pub use stats::{Metric, MetricKind, ServerStats, StatsSnapshot};

/// What one connection and one request may cost. [`Limits::default`] holds
/// the values the appliance runs with; tests shorten the timeouts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; one more is accepted and closed at once.
    pub max_connections: usize,
    /// Time allowed for a whole request head: from the connection's start for
    /// the first request, from the first byte of the head for later ones.
    pub header_timeout: Duration,
    /// Time a keep-alive connection may sit between requests.
    pub idle_timeout: Duration,
    /// Time a write may make no progress (a client that does not read)
    /// before the connection is closed.
    pub write_timeout: Duration,
    /// Time a handler has to produce its response head (503 after that), and
    /// the longest a streamed response body may go without yielding a chunk.
    pub request_timeout: Duration,
    /// Largest request head (request line and headers), in bytes; larger
    /// gets 431 and the connection is closed.
    pub max_header_bytes: usize,
    /// Largest request body, in bytes; larger gets 413.
    pub max_body_bytes: usize,
    /// The listening socket's accept backlog, set again by
    /// [`Server::start`] (the kernel caps it at `net.core.somaxconn`). A
    /// deep backlog rides out a burst of connections without dropping SYNs,
    /// which would cost each dropped client a one-second retransmit.
    pub listen_backlog: u32,
    /// On [`Server::stop`], how long open connections may take to finish
    /// before they are dropped.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 256,
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_body_bytes: 64 * 1024,
            listen_backlog: 1024,
            shutdown_grace: Duration::from_secs(1),
        }
    }
}

impl Limits {
    /// Checks that every limit is usable (non-zero, head limit large enough
    /// for a request line).
    pub fn validate(&self) -> Result<(), Error> {
        let zero = |d: Duration, name: &'static str| {
            if d.is_zero() {
                Err(Error::InvalidLimits(name))
            } else {
                Ok(())
            }
        };
        if self.max_connections == 0 {
            return Err(Error::InvalidLimits("max_connections must be at least 1"));
        }
        zero(self.header_timeout, "header_timeout must not be zero")?;
        zero(self.idle_timeout, "idle_timeout must not be zero")?;
        zero(self.write_timeout, "write_timeout must not be zero")?;
        zero(self.request_timeout, "request_timeout must not be zero")?;
        if self.max_header_bytes < 256 {
            return Err(Error::InvalidLimits(
                "max_header_bytes must be at least 256",
            ));
        }
        if self.listen_backlog == 0 || self.listen_backlog > i32::MAX as u32 {
            return Err(Error::InvalidLimits(
                "listen_backlog must be between 1 and 2^31-1",
            ));
        }
        Ok(())
    }
}

/// Why the management server could not start, or the fd limit not be raised.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid management server limits: {0}")]
    InvalidLimits(&'static str),
    #[error("management listener: {0}")]
    Listener(#[source] io::Error),
    #[error("cannot start the management thread: {0}")]
    Thread(#[source] io::Error),
    #[error("cannot build the management runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error("cannot pin the management thread to core {0}")]
    Pin(usize),
    #[error("the management thread ended before it started serving")]
    ThreadDied,
    #[error("RLIMIT_NOFILE: {0}")]
    FdLimit(#[source] io::Error),
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit and returns
/// the new soft limit. The binary calls it once at start, so that a flood of
/// connections meets [`Limits::max_connections`] long before it meets the
/// descriptor limit.
pub fn raise_fd_limit() -> Result<u64, Error> {
    let (soft, hard) = rlimit::Resource::NOFILE.get().map_err(Error::FdLimit)?;
    if soft < hard {
        rlimit::Resource::NOFILE
            .set(hard, hard)
            .map_err(Error::FdLimit)?;
    }
    Ok(soft.max(hard))
}
