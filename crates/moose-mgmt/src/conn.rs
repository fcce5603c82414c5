//! The clocks of one connection.
//!
//! hyper has a header read timeout, but it starts whenever hyper begins to
//! wait for a head, idle keep-alive time included, and it has no write
//! timeout at all. So the connection's socket is wrapped in [`GuardedIo`],
//! which knows from [`ConnState`] whether a request is being served, and
//! fails a read or a write whose deadline has passed. hyper then sees an IO
//! error and closes the connection.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::stats::ServerStats;

/// Where a connection is between requests, shared by its socket wrapper and
/// the requests it serves. Only the server thread touches it; the mutex is
/// never contended and only there to make the type `Send`.
#[derive(Debug)]
pub(crate) struct ConnState {
    inner: Mutex<Phase>,
}

#[derive(Debug)]
struct Phase {
    /// Requests handed to the router, on this connection.
    requests: u64,
    /// Requests being served (hyper serves one at a time; a count is simpler
    /// to keep right than a flag).
    in_flight: u32,
    /// When the connection was accepted or the last response ended.
    idle_since: Instant,
    /// When the first byte of the next head was read, if it was.
    head_started: Option<Instant>,
    /// Bytes were read while a request was in flight: a pipelined head, or a
    /// request body. Either way the next head is treated as begun when the
    /// response ends, so it gets `header_timeout`, not `idle_timeout`.
    read_while_busy: bool,
    /// The task whose read waited while a request was in flight, with no
    /// deadline. hyper may poll for the next head before it drops the last
    /// response body; when that request ends, the read must be polled again
    /// to start the idle clock, so the task is woken.
    parked_reader: Option<Waker>,
}

/// Which deadline applies to a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadClock {
    /// A head is being waited for: connection start, or first byte.
    Header,
    /// An idle keep-alive connection.
    Idle,
}

impl ConnState {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(ConnState {
            inner: Mutex::new(Phase {
                requests: 0,
                in_flight: 0,
                idle_since: Instant::now(),
                head_started: None,
                read_while_busy: false,
                parked_reader: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Phase> {
        // A poisoned lock only means a panic elsewhere while it was held; the
        // plain numbers inside are still whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request head was parsed and is handed to the router.
    pub(crate) fn begin_request(&self) {
        let mut p = self.lock();
        p.requests += 1;
        p.in_flight += 1;
        p.head_started = None;
    }

    /// A response was written out in full, or given up.
    pub(crate) fn end_request(&self) {
        let reader = {
            let mut p = self.lock();
            p.in_flight = p.in_flight.saturating_sub(1);
            if p.in_flight > 0 {
                return;
            }
            let now = Instant::now();
            p.idle_since = now;
            p.head_started = if std::mem::take(&mut p.read_while_busy) {
                Some(now)
            } else {
                None
            };
            p.parked_reader.take()
        };
        if let Some(waker) = reader {
            waker.wake();
        }
    }

    fn bytes_read(&self) {
        let mut p = self.lock();
        if p.in_flight > 0 {
            p.read_while_busy = true;
        } else if p.head_started.is_none() {
            p.head_started = Some(Instant::now());
        }
    }

    /// The deadline a read waits under now, if any: none while a request is
    /// served (its handler and its writes have their own clocks).
    fn read_deadline(&self, limits: &IoLimits, cx: &Context<'_>) -> Option<(Instant, ReadClock)> {
        let mut p = self.lock();
        if p.in_flight > 0 {
            match &p.parked_reader {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => p.parked_reader = Some(cx.waker().clone()),
            }
            None
        } else if let Some(t) = p.head_started {
            Some((t + limits.header_timeout, ReadClock::Header))
        } else if p.requests == 0 {
            Some((p.idle_since + limits.header_timeout, ReadClock::Header))
        } else {
            Some((p.idle_since + limits.idle_timeout, ReadClock::Idle))
        }
    }
}

/// The timeouts [`GuardedIo`] enforces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IoLimits {
    pub(crate) header_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) write_timeout: Duration,
}

/// A socket whose reads fail once the connection's read deadline has passed
/// and whose writes fail once they have made no progress for
/// `write_timeout`.
pub(crate) struct GuardedIo<T> {
    inner: T,
    state: Arc<ConnState>,
    stats: Arc<ServerStats>,
    limits: IoLimits,
    read_timer: Option<Pin<Box<Sleep>>>,
    read_deadline: Option<Instant>,
    write_timer: Option<Pin<Box<Sleep>>>,
    /// A write is stalled and `write_timer` runs from when it stalled first.
    write_stalled: bool,
}

impl<T> GuardedIo<T> {
    pub(crate) fn new(
        inner: T,
        state: Arc<ConnState>,
        stats: Arc<ServerStats>,
        limits: IoLimits,
    ) -> Self {
        GuardedIo {
            inner,
            state,
            stats,
            limits,
            read_timer: None,
            read_deadline: None,
            write_timer: None,
            write_stalled: false,
        }
    }

    /// A read is pending: is its deadline past? Arms the timer so that the
    /// task is woken at the deadline.
    fn read_expired(&mut self, cx: &mut Context<'_>) -> Option<ReadClock> {
        let (deadline, clock) = self.state.read_deadline(&self.limits, cx)?;
        let timer = arm(&mut self.read_timer, &mut self.read_deadline, deadline);
        if timer.as_mut().poll(cx).is_ready() {
            Some(clock)
        } else {
            None
        }
    }

    /// A write is pending: has it been stalled for `write_timeout`?
    fn write_expired(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.write_stalled {
            self.write_stalled = true;
            let deadline = Instant::now() + self.limits.write_timeout;
            let timer = self
                .write_timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            timer.as_mut().reset(deadline);
        }
        match self.write_timer.as_mut() {
            Some(timer) => timer.as_mut().poll(cx).is_ready(),
            None => false,
        }
    }

    fn write_result<R>(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match r {
            Poll::Ready(r) => {
                self.write_stalled = false;
                Poll::Ready(r)
            }
            Poll::Pending if self.write_expired(cx) => {
                count(&self.stats.write_timeouts);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client did not read its response in time",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

fn count(counter: &AtomicU64) {
    ServerStats::bump(counter);
}

/// Returns the timer set to `deadline`, creating or resetting it as needed.
fn arm<'a>(
    timer: &'a mut Option<Pin<Box<Sleep>>>,
    armed_at: &mut Option<Instant>,
    deadline: Instant,
) -> &'a mut Pin<Box<Sleep>> {
    if *armed_at != Some(deadline) {
        *armed_at = Some(deadline);
        if let Some(t) = timer.as_mut() {
            t.as_mut().reset(deadline);
        }
    }
    timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)))
}

impl<T: AsyncRead + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.state.bytes_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.read_expired(cx) {
                None => Poll::Pending,
                Some(ReadClock::Header) => {
                    count(&this.stats.header_timeouts);
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "request head did not arrive in time",
                    )))
                }
                Some(ReadClock::Idle) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "keep-alive connection idle too long",
                ))),
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.write_result(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.write_result(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.write_result(cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.write_result(cx, r)
    }
}
