//! The response body as hyper sees it: the router's body, passed through
//! frame by frame, that tells the connection when the response is over and
//! is cut off if it yields nothing for too long.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::conn::ConnState;
use crate::stats::ServerStats;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type BoxBody = UnsyncBoxBody<Bytes, BoxError>;

/// A body of fixed text.
pub(crate) fn fixed(text: &'static str) -> BoxBody {
    Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Marks one request as in flight on its connection for as long as it
/// lives: from the head handed to the router until the response body is
/// done or dropped.
pub(crate) struct InFlight(Arc<ConnState>);

impl InFlight {
    pub(crate) fn begin(state: Arc<ConnState>) -> Self {
        state.begin_request();
        InFlight(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end_request();
    }
}

/// See the module doc.
pub(crate) struct GuardedBody {
    inner: BoxBody,
    _in_flight: InFlight,
    stats: Arc<ServerStats>,
    stall_limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    stalled: bool,
}

impl GuardedBody {
    pub(crate) fn new(
        inner: BoxBody,
        in_flight: InFlight,
        stats: Arc<ServerStats>,
        stall_limit: Duration,
    ) -> Self {
        GuardedBody {
            inner,
            _in_flight: in_flight,
            stats,
            stall_limit,
            timer: None,
            stalled: false,
        }
    }
}

impl Body for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.stalled = false;
                Poll::Ready(frame)
            }
            Poll::Pending => {
                if !this.stalled {
                    this.stalled = true;
                    let deadline = Instant::now() + this.stall_limit;
                    let timer = this
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                    timer.as_mut().reset(deadline);
                }
                let expired = match this.timer.as_mut() {
                    Some(t) => t.as_mut().poll(cx).is_ready(),
                    None => false,
                };
                if expired {
                    ServerStats::bump(&this.stats.handler_timeouts);
                    Poll::Ready(Some(Err("response body yielded nothing in time".into())))
                } else {
                    Poll::Pending
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
