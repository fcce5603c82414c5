//! Management requests to the control thread.
//!
//! A request names its service and carries a typed [`Call`] in an
//! envelope with a one-shot reply channel; the runtime routes it by name
//! and the service answers it with [`serve`]. The runtime knows no service
//! types, and callers get typed replies: `handle.call(FdbQuery { .. })`
//! returns an `FdbPage`.
//!
//! The request queue is bounded: when it is full the caller gets
//! [`CallError::Busy`] at once (a flood of API requests can never grow
//! memory or reach the workers).

use std::any::Any;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

/// Requests waiting for the control thread, at most.
pub const QUEUE: usize = 256;

/// A typed management call to one service.
pub trait Call: Send + 'static {
    /// The service that answers it ([`Service::name`](crate::Service::name)).
    const SERVICE: &'static str;
    type Reply: Send + 'static;
}

/// A call and where its answer goes.
pub struct Envelope<C: Call> {
    pub call: C,
    pub reply: tokio::sync::oneshot::Sender<C::Reply>,
}

/// A request as the runtime sees it: the service's name and an envelope.
pub struct Request {
    pub service: &'static str,
    pub body: Box<dyn Any + Send>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("the control thread has too many requests waiting; try again")]
    Busy,
    #[error("the control thread has stopped")]
    Gone,
    #[error("no answer from the control thread")]
    Unanswered,
    #[error("no answer from the control thread within {0:?}")]
    Timeout(Duration),
}

/// Why a change asked through the management API was not made: what
/// kind of refusal (the HTTP status it answers with) and a message that
/// names the field (`port: no port named "p9"`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub kind: RefusalKind,
    pub message: String,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// The request itself is wrong: a value that does not parse, a port
    /// that does not exist, one of the wrong role.
    Invalid,
    /// There is no such entry.
    NotFound,
    /// The entry is not the API's to change (it is in the config file), or
    /// a bound is reached.
    Conflict,
    /// The change could not be made durable (the store failed): nothing
    /// was changed; try again.
    Unavailable,
}

impl Refusal {
    pub fn invalid(message: impl Into<String>) -> Refusal {
        Refusal {
            kind: RefusalKind::Invalid,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Refusal {
        Refusal {
            kind: RefusalKind::NotFound,
            message: message.into(),
        }
    }

    pub fn conflict(message: impl Into<String>) -> Refusal {
        Refusal {
            kind: RefusalKind::Conflict,
            message: message.into(),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Refusal {
        Refusal {
            kind: RefusalKind::Unavailable,
            message: message.into(),
        }
    }
}

/// Answers `body` with `f` if it is a `C` call; gives it back otherwise.
pub fn serve<C: Call>(
    body: Box<dyn Any + Send>,
    f: impl FnOnce(C) -> C::Reply,
) -> Result<(), Box<dyn Any + Send>> {
    match body.downcast::<Envelope<C>>() {
        Ok(e) => {
            let Envelope { call, reply } = *e;
            let _ = reply.send(f(call));
            Ok(())
        }
        Err(b) => Err(b),
    }
}

/// The sending side of the request queue; cheap to clone.
#[derive(Clone)]
pub struct ControlHandle {
    tx: SyncSender<Request>,
}

/// A bounded request queue: the handle for callers, the receiver for the
/// runtime.
pub fn channel() -> (ControlHandle, Receiver<Request>) {
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
    (ControlHandle { tx }, rx)
}

impl ControlHandle {
    /// Sends `call` and returns where its answer will arrive, without
    /// waiting (a caller that turns the runtime itself, e.g. `moose sim`).
    pub fn submit<C: Call>(
        &self,
        call: C,
    ) -> Result<tokio::sync::oneshot::Receiver<C::Reply>, CallError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let req = Request {
            service: C::SERVICE,
            body: Box::new(Envelope { call, reply }),
        };
        match self.tx.try_send(req) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(CallError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(CallError::Gone),
        }
    }

    /// Sends `call` and waits for the answer (from async code; the caller
    /// bounds the wait, e.g. with `tokio::time::timeout`).
    pub async fn call<C: Call>(&self, call: C) -> Result<C::Reply, CallError> {
        self.submit(call)?.await.map_err(|_| CallError::Unanswered)
    }

    /// Sends `call` and waits up to `timeout` for the answer, blocking the
    /// calling thread (tests, tools).
    pub fn call_blocking<C: Call>(
        &self,
        call: C,
        timeout: Duration,
    ) -> Result<C::Reply, CallError> {
        let mut rx = self.submit(call)?;
        let deadline = Instant::now() + timeout;
        loop {
            match rx.try_recv() {
                Ok(r) => return Ok(r),
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                    return Err(CallError::Unanswered)
                }
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
            }
            if Instant::now() >= deadline {
                return Err(CallError::Timeout(timeout));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}
