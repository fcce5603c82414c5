//! The server thread: its runtime, the accept loop and one task per
//! connection.

use std::convert::Infallible;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::http::{header, Request, Response, StatusCode};
use axum::Router;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};
use tower::ServiceExt as _;
use tower_http::catch_panic::{CatchPanic, CatchPanicLayer};
use tower_http::limit::{RequestBodyLimit, RequestBodyLimitLayer};

use crate::body::{fixed, BoxBody, GuardedBody, InFlight};
use crate::conn::{ConnState, GuardedIo, IoLimits};
use crate::stats::ServerStats;
use crate::{Error, Limits};

/// How long the accept loop pauses after an `accept` error that is not about
/// one connection (`EMFILE`, `ENFILE`, `ENOBUFS`, ...): long enough not to
/// spin while descriptors are short, short enough to serve soon after.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// The smallest `max_buf_size` hyper takes.
const MIN_BUF: usize = 8192;

/// Threads `spawn_blocking` may start, should a handler need it. A handler
/// that blocks the runtime's one thread stalls all of management, so one
/// that must block goes there; these threads inherit the runtime thread's
/// pinning.
const MAX_BLOCKING_THREADS: usize = 4;

/// What a connection over `max_connections` is told before it is closed.
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: text/plain\r\ncontent-length: 29\r\nconnection: close\r\n\r\n\
too many connections, retry\r\n";

/// The router behind its panic and body-size guards.
type App = CatchPanic<RequestBodyLimit<Router>, PanicResponse>;

/// The running management server. Dropping it stops it as [`Server::stop`]
/// does.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    stats: Arc<ServerStats>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts serving `router` on `listener` (already bound) from a new
    /// thread named `moose-mgmt`, pinned to `core` when one is given, and
    /// returns once the thread is ready to accept.
    ///
    /// `router` has its state applied. Its fallback is replaced by a fixed
    /// 404 that never repeats the request's path or query.
    pub fn start(
        listener: std::net::TcpListener,
        router: Router,
        limits: Limits,
        core: Option<usize>,
    ) -> Result<Server, Error> {
        limits.validate()?;
        let local_addr = listener.local_addr().map_err(Error::Listener)?;
        let listener = relisten(listener, limits.listen_backlog)?;
        listener.set_nonblocking(true).map_err(Error::Listener)?;
        let stats = Arc::new(ServerStats::default());
        let (stop, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let app = guard(router, &stats, &limits);
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("moose-mgmt".into())
            .spawn(move || {
                run(
                    listener,
                    app,
                    Arc::new(limits),
                    thread_stats,
                    core,
                    stop_rx,
                    ready_tx,
                )
            })
            .map_err(Error::Thread)?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Server {
                local_addr,
                stats,
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(Error::ThreadDied)
            }
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's counters; they stay readable after [`Server::stop`].
    pub fn stats(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }

    /// Stops accepting, gives open connections [`Limits::shutdown_grace`]
    /// to finish their responses, drops the rest and joins the thread.
    /// Must not be called from a handler (it would wait for itself).
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.send_replace(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Sets the backlog of an already listening socket: `listen(2)` again only
/// changes it.
fn relisten(listener: std::net::TcpListener, backlog: u32) -> Result<std::net::TcpListener, Error> {
    let socket = socket2::Socket::from(listener);
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    socket.listen(backlog).map_err(Error::Listener)?;
    Ok(socket.into())
}

/// The router with the fixed 404, the body-size limit and the panic guard.
fn guard(router: Router, stats: &Arc<ServerStats>, limits: &Limits) -> App {
    let router = router.fallback(not_found);
    tower::ServiceBuilder::new()
        .layer(CatchPanicLayer::custom(PanicResponse(stats.clone())))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .service(router)
}

async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "not found\n")
}

/// Turns a handler's panic into a counted 500 with a fixed body: the panic
/// message may hold request data and is not sent back.
#[derive(Clone, Debug)]
struct PanicResponse(Arc<ServerStats>);

impl tower_http::catch_panic::ResponseForPanic for PanicResponse {
    type ResponseBody = BoxBody;

    fn response_for_panic(
        &mut self,
        _err: Box<dyn std::any::Any + Send + 'static>,
    ) -> Response<BoxBody> {
        ServerStats::bump(&self.0.handler_panics);
        plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<BoxBody> {
    let mut resp = Response::new(fixed(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The body of the server thread.
fn run(
    listener: std::net::TcpListener,
    app: App,
    limits: Arc<Limits>,
    stats: Arc<ServerStats>,
    core: Option<usize>,
    stop: watch::Receiver<bool>,
    ready: std::sync::mpsc::SyncSender<Result<(), Error>>,
) {
    if let Some(id) = core {
        // Only a core this process may run on; an id past the CPU set's size
        // would make the affinity call itself panic.
        let allowed =
            core_affinity::get_core_ids().is_some_and(|ids| ids.iter().any(|c| c.id == id));
        if !allowed || !core_affinity::set_for_current(core_affinity::CoreId { id }) {
            let _ = ready.send(Err(Error::Pin(id)));
            return;
        }
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_name("moose-mgmt-blocking")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(Error::Runtime(e)));
            return;
        }
    };
    rt.block_on(async move {
        let listener = match TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(Error::Listener(e)));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        accept_loop(listener, app, limits, stats, stop).await;
    });
    // Dropping the runtime drops whatever task is left.
}

/// Accepts until told to stop, then lets connections finish for
/// `shutdown_grace` and aborts the rest.
async fn accept_loop(
    listener: TcpListener,
    app: App,
    limits: Arc<Limits>,
    stats: Arc<ServerStats>,
    stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    let mut stopping = stop.clone();
    loop {
        tokio::select! {
            biased;
            _ = stopped(&mut stopping) => break,
            Some(done) = conns.join_next(), if !conns.is_empty() => ended(done, &stats),
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    ServerStats::bump(&stats.accepted);
                    if stats.active.load(Ordering::Relaxed) >= limits.max_connections as u64 {
                        ServerStats::bump(&stats.refused);
                        refuse(stream);
                        continue;
                    }
                    let active = Active::new(stats.clone());
                    conns.spawn(serve_conn(
                        stream,
                        app.clone(),
                        limits.clone(),
                        stats.clone(),
                        stop.clone(),
                        active,
                    ));
                }
                Err(e) => {
                    ServerStats::bump(&stats.accept_errors);
                    if !about_one_connection(&e) {
                        tokio::select! {
                            _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                            _ = stopped(&mut stopping) => break,
                        }
                    }
                }
            }
        }
    }
    drop(listener);
    let drain = async {
        while let Some(done) = conns.join_next().await {
            ended(done, &stats);
        }
    };
    // Connections were told to stop with `stop`; each gives itself
    // `shutdown_grace`. The margin here covers the time they need to notice.
    let bound = limits.shutdown_grace + Duration::from_millis(250);
    if tokio::time::timeout(bound, drain).await.is_err() {
        conns.shutdown().await;
    }
}

/// Returns once the server is told to stop (or its `Server` is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not be held across an await.
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Counts a connection task that panicked: a panic in a streamed body is not
/// caught by the router's guard, and ends only its own connection.
fn ended(done: Result<(), JoinError>, stats: &ServerStats) {
    if let Err(e) = done {
        if e.is_panic() {
            ServerStats::bump(&stats.handler_panics);
        }
    }
}

/// Errors that concern the one connection `accept` was taking, after which
/// the next `accept` may well succeed at once.
fn about_one_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// Closes a connection over the limit at once, after telling it why if its
/// socket takes the few bytes without waiting.
fn refuse(stream: TcpStream) {
    if let Ok(stream) = stream.into_std() {
        // Non-blocking: a socket that cannot take it now is closed anyway.
        let _ = (&stream).write(REFUSED);
    }
}

/// One served connection in the `active` gauge, for as long as it lives.
struct Active(Arc<ServerStats>);

impl Active {
    fn new(stats: Arc<ServerStats>) -> Self {
        stats.active.fetch_add(1, Ordering::Relaxed);
        Active(stats)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve_conn(
    stream: TcpStream,
    app: App,
    limits: Arc<Limits>,
    stats: Arc<ServerStats>,
    mut stop: watch::Receiver<bool>,
    _active: Active,
) {
    let _ = stream.set_nodelay(true);
    let state = ConnState::new();
    let io_limits = IoLimits {
        header_timeout: limits.header_timeout,
        idle_timeout: limits.idle_timeout,
        write_timeout: limits.write_timeout,
    };
    let io = TokioIo::new(GuardedIo::new(
        stream,
        state.clone(),
        stats.clone(),
        io_limits,
    ));
    let request_timeout = limits.request_timeout;
    let svc_stats = stats.clone();
    let svc = hyper::service::service_fn(move |req| {
        let in_flight = InFlight::begin(state.clone());
        handle(
            req,
            app.clone(),
            in_flight,
            svc_stats.clone(),
            request_timeout,
        )
    });
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        // Our own clocks (see `conn`) replace hyper's, which would also cut
        // idle keep-alive connections at the header timeout.
        .header_read_timeout(None)
        .max_header_size(limits.max_header_bytes)
        // hyper's buffers default to ~400 KiB a connection, which a client
        // filling them with pipelined requests could make 100 MiB over
        // `max_connections`. Twice the head limit is enough to parse a head
        // and to keep a streamed body flowing.
        .max_buf_size((2 * limits.max_header_bytes).max(MIN_BUF));
    let conn = builder.serve_connection(io, svc);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(limits.shutdown_grace, conn).await;
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    app: App,
    in_flight: InFlight,
    stats: Arc<ServerStats>,
    request_timeout: Duration,
) -> Result<Response<GuardedBody>, Infallible> {
    ServerStats::bump(&stats.requests);
    let resp = match tokio::time::timeout(request_timeout, app.oneshot(req)).await {
        Ok(Ok(resp)) => resp.map(|body| body.boxed_unsync()),
        Ok(Err(never)) => match never {},
        Err(_elapsed) => {
            ServerStats::bump(&stats.handler_timeouts);
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "handler did not answer in time\n",
            )
        }
    };
    Ok(resp.map(|body| GuardedBody::new(body, in_flight, stats, request_timeout)))
}
