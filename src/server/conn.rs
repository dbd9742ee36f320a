//! Connections: the accept loop, its limits and its timeouts.
//!
//! `axum::serve` keeps a connection open for as long as the client likes (partial headers, an
//! unfinished body, an idle keep-alive connection: slowloris) and accepts without bound. This
//! loop serves each connection with hyper's HTTP/1 server and adds:
//!
//! - a **header timeout**: a request's head must arrive within it, counted from the accept
//!   or from the first byte after the previous answer; otherwise the connection is closed;
//! - an **idle timeout**: a keep-alive connection with no request for this long is closed
//!   (it also bounds writing an answer to a client that does not read it);
//! - a **body timeout**: a request body must arrive within it, counted from when the handler
//!   starts reading it; otherwise the answer is 408 and the connection is closed;
//! - limits on the head's size and header count (hyper answers 431 beyond them);
//! - a limit on open connections: beyond it, new connections wait in the listen backlog
//!   until one closes.
//!
//! hyper's own `header_read_timeout` is not used: it also runs while a keep-alive connection
//! waits for its next request, so it cannot tell a slow head from an idle connection.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::{Instant, Sleep};

/// Timeouts and limits of connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time for a request's head (request line and headers) to arrive.
    pub header_timeout: Duration,
    /// Time for a request's body to arrive once the handler reads it.
    pub body_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// Most headers in a request.
    pub max_headers: usize,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_connections: 1024,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// open connections to finish their requests (idle ones are closed at once).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait, as axum::serve does.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            connection(stream, app, limits, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a permit: having them all back means every one has closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// Serves one connection under the header and idle timeouts.
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let clock = Arc::new(Clock::new(limits));
    let io = TokioIo::new(CountingIo {
        io: stream,
        clock: Arc::clone(&clock),
    });
    let inner = TowerToHyperService::new(app);
    let service = {
        let clock = Arc::clone(&clock);
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let clock = Arc::clone(&clock);
            let inner = inner.clone();
            let body_timeout = limits.body_timeout;
            async move {
                clock.request_started();
                let req = req.map(|body| TimedBody::new(body, body_timeout));
                let answer = hyper::service::Service::call(&inner, req).await;
                clock.answered();
                answer
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(8192).saturating_add(8192));
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut stopping = false;
    loop {
        let deadline = clock.deadline();
        let expired = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            () = expired => {
                if clock.deadline().is_some_and(|at| at <= Instant::now()) {
                    tracing::debug!("closing a connection: {}", clock.phase());
                    return;
                }
            }
            () = clock.changed.notified() => {}
            r = stop.changed(), if !stopping => {
                stopping = true;
                if r.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// What a connection is doing, for its deadline.
#[derive(Debug)]
struct Clock {
    limits: Limits,
    state: Mutex<Phase>,
    /// Signalled when the deadline may have moved earlier.
    changed: Notify,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request, with none of it read yet, since this instant.
    Idle(Instant),
    /// Reading a request's head, whose first bytes came at this instant.
    Head(Instant),
    /// A handler is running: the body timeout applies to the body, nothing to the connection.
    Busy,
}

impl Clock {
    fn new(limits: Limits) -> Clock {
        Clock {
            limits,
            // A new connection is there to send a request: the header timeout runs at once.
            state: Mutex::new(Phase::Head(Instant::now())),
            changed: Notify::new(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Phase) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn deadline(&self) -> Option<Instant> {
        self.with(|p| match *p {
            Phase::Idle(since) => Some(since + self.limits.idle_timeout),
            Phase::Head(since) => Some(since + self.limits.header_timeout),
            Phase::Busy => None,
        })
    }

    fn phase(&self) -> &'static str {
        self.with(|p| match p {
            Phase::Idle(_) => "idle timeout",
            Phase::Head(_) => "request head timeout",
            Phase::Busy => "busy",
        })
    }

    /// Bytes came in: an idle connection starts reading a head.
    fn read_some(&self) {
        let moved = self.with(|p| match *p {
            Phase::Idle(_) => {
                *p = Phase::Head(Instant::now());
                true
            }
            _ => false,
        });
        if moved {
            self.changed.notify_one();
        }
    }

    fn request_started(&self) {
        self.with(|p| *p = Phase::Busy);
        self.changed.notify_one();
    }

    /// The handler answered: the answer is written and the next request awaited under the
    /// idle timeout.
    fn answered(&self) {
        self.with(|p| *p = Phase::Idle(Instant::now()));
        self.changed.notify_one();
    }
}

/// The TCP stream, telling the clock when bytes arrive.
struct CountingIo {
    io: TcpStream,
    clock: Arc<Clock>,
}

impl AsyncRead for CountingIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.read_some();
        }
        result
    }
}

impl AsyncWrite for CountingIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The error of a request body that did not arrive within the body timeout.
#[derive(Debug)]
pub struct BodyTimeout(pub Duration);

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body did not arrive within {}",
            humantime::format_duration(self.0)
        )
    }
}

impl std::error::Error for BodyTimeout {}

impl BodyTimeout {
    /// Whether `err`, or an error it wraps, is a body timeout.
    pub fn is_cause_of(err: &(dyn std::error::Error + 'static)) -> bool {
        let mut cur = Some(err);
        while let Some(e) = cur {
            if e.is::<BodyTimeout>() {
                return true;
            }
            cur = e.source();
        }
        false
    }
}

/// A request body that fails with [`BodyTimeout`] unless it ends within the timeout of its
/// first read.
struct TimedBody {
    body: Incoming,
    timeout: Duration,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl TimedBody {
    fn new(body: Incoming, timeout: Duration) -> TimedBody {
        TimedBody {
            body,
            timeout,
            deadline: None,
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        let timeout = this.timeout;
        let sleep = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(timeout))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
