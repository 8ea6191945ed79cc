//! Serving an app on the open network: the examples' accept loop, with the two timeouts that
//! `axum::serve` does not have.
//!
//! `axum::serve` waits forever: a client that connects and sends nothing, sends its head one byte
//! at a time, stops in the middle of a body, or keeps an idle connection open holds a socket and a
//! task until it goes away by itself, so a few hundred such clients exhaust the server's file
//! descriptors. Here:
//! - **header read** (`HEADER_READ_TIMEOUT`, seconds, default 10): hyper's
//!   `header_read_timeout`, counted from the moment the server starts waiting for a request's head,
//!   on a new connection and on a kept-alive one after its last answer, until the head's last byte.
//!   A silent client, a slow-head (slowloris) client and an idle kept-alive connection are closed
//!   after it; trickling bytes does not extend it.
//! - **idle** (`IDLE_TIMEOUT`, seconds, default 60): a read or a write that makes no progress for
//!   this long closes the connection: a body that stops arriving, a client that stops reading the
//!   answer ([`IdleTimeout`] on the socket). It also bounds a handler that runs that long
//!   without the client sending anything.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use login_runtime::ConfigError;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// The connection timeouts (see the module's documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// The longest wait for a request's head, from the moment the server waits for it.
    pub header_read: Duration,
    /// The longest a read or a write of the connection may wait without progress.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        }
    }
}

impl Timeouts {
    /// The defaults, overridden by `HEADER_READ_TIMEOUT` and `IDLE_TIMEOUT` (whole seconds, at
    /// least 1); the error names the variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            header_read: seconds_from_env("HEADER_READ_TIMEOUT", defaults.header_read)?,
            idle: seconds_from_env("IDLE_TIMEOUT", defaults.idle)?,
        })
    }
}

fn seconds_from_env(var: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    let Ok(value) = std::env::var(var) else {
        return Ok(default);
    };
    match value.trim().parse::<u64>() {
        Ok(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
        _ => Err(ConfigError::new(
            var,
            format!("`{value}` is not a number of seconds (1 or more)"),
        )),
    }
}

/// Serves `app` on `listener` over HTTP/1.1 with `timeouts`, each request carrying the peer's
/// `ConnectInfo<SocketAddr>` (what the login throttle keys on). Runs until the process ends.
pub async fn serve(listener: TcpListener, app: Router, timeouts: Timeouts) -> io::Result<()> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // The client went away between connecting and being accepted: nothing to serve.
            Err(e) if is_connection_error(&e) => continue,
            // Out of file descriptors and the like: wait rather than spin.
            Err(e) => {
                tracing::error!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let stream = IdleTimeout::new(stream, timeouts.idle);
        let app = app.clone();
        let service = service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeouts.header_read)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended");
            }
        });
    }
}

/// A stream whose reads and writes fail with `TimedOut` after `idle` without progress.
///
/// The timer is lazy: a wait only notes when it began, and the timer, armed for an earlier wait's
/// deadline, is moved on only when it fires before this wait's. A connection's requests therefore
/// cost a clock read each, not a timer-wheel update on every read and write (as
/// `tokio-io-timeout` does, which resets its timer at each).
pub struct IdleTimeout<S> {
    inner: S,
    idle: Duration,
    read: Deadline,
    write: Deadline,
}

/// One direction's wait: when it began (`None`: not waiting) and the timer.
struct Deadline {
    since: Option<Instant>,
    timer: Pin<Box<Sleep>>,
}

impl Deadline {
    fn new(idle: Duration) -> Self {
        Self {
            since: None,
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }

    /// The inner stream is not ready: fails once this wait has lasted `idle`.
    fn pending(&mut self, cx: &mut Context<'_>, idle: Duration) -> io::Result<()> {
        let deadline = *self.since.get_or_insert_with(Instant::now) + idle;
        while self.timer.as_mut().poll(cx).is_ready() {
            if Instant::now() >= deadline {
                self.since = None;
                return Err(io::ErrorKind::TimedOut.into());
            }
            // Armed for an earlier wait: on to this one's deadline.
            self.timer.as_mut().reset(deadline);
        }
        Ok(())
    }

    /// Checks the result of a poll of the inner stream.
    fn check<T>(
        &mut self,
        cx: &mut Context<'_>,
        idle: Duration,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll {
            Poll::Pending => match self.pending(cx, idle) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            ready => {
                self.since = None;
                ready
            }
        }
    }
}

impl<S> IdleTimeout<S> {
    /// `inner`, whose reads and writes may each wait at most `idle`.
    pub fn new(inner: S, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            read: Deadline::new(idle),
            write: Deadline::new(idle),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.read.check(cx, this.idle, poll)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.write.check(cx, this.idle, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.write.check(cx, this.idle, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.write.check(cx, this.idle, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.write.check(cx, this.idle, poll)
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
