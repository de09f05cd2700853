//! The HTTP/1 server under the router: accepts connections, bounds how long each may take
//! to send its request and how long it may sit silent, and caps how many are open.
//!
//! Why not `axum::serve`: it has no header, body or idle timeouts and no connection cap, so
//! slow clients hold connections forever and a thousand of them exhaust the open-files limit
//! (`accept error: Too many open files`), after which `/healthz` and alert deliveries fail.
//!
//! The rules:
//! - a connection waiting for a request (new, or kept alive after an answer) has
//!   `header_read_timeout` to send the request's headers, else it is closed (hyper);
//! - the body has `body_read_timeout` from the headers (`mod.rs`, `read_body`);
//! - while no request of the connection is being handled, `idle_timeout` without a byte
//!   moved either way closes it (a client that stops reading its answer);
//! - at most `max_connections` are open. At the cap, a new connection replaces the oldest
//!   one that is not in the middle of a request (a slow client still sending its headers,
//!   or an idle keep-alive connection); only when every open connection is being handled
//!   does accepting wait. So a flood of slow clients cannot keep a fresh `/healthz` out.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::config::HttpConfig;

/// Connections never capped below this many when the cap comes from the open-files limit.
const MIN_AUTO_CONNECTIONS: u32 = 16;

/// When `accept` fails (out of descriptors, say), wait this long before trying again rather
/// than spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// How the server treats connections, from `[http]`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    /// The limits `[http]` asks for; without `max_connections`, half the soft open-files
    /// limit, leaving the other half to the database, the notifiers and commands.
    pub fn from_config(http: &HttpConfig) -> Limits {
        let files = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(soft, _)| soft)
            .unwrap_or(1024);
        let auto = u32::try_from(files / 2)
            .unwrap_or(u32::MAX)
            .max(MIN_AUTO_CONNECTIONS);
        let max_connections = match http.max_connections {
            Some(cap) if u64::from(cap) >= files => {
                tracing::warn!(
                    "[http] max_connections = {cap} is not below the open-files limit ({files}); using {auto} so accepting never runs out of descriptors"
                );
                auto
            }
            Some(cap) => cap,
            None => auto,
        };
        Limits {
            header_read_timeout: http.header_read_timeout,
            idle_timeout: http.idle_timeout,
            max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets
/// requests in flight finish and returns when every connection has closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let table = Arc::new(Table::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = accept_within_cap(&listener, &table, limits.max_connections) => accepted,
        };
        let Some(stream) = stream else { continue };
        if let Err(error) = stream.set_nodelay(true) {
            // Answers go out at once, not after the client's delayed ACK (Nagle).
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        spawn_connection(stream, router.clone(), limits, &table, stop_rx.clone());
    }
    drop(listener);
    let _ = stop_tx.send(true);
    table.all_closed().await;
    Ok(())
}

/// The next connection, once there is room for it: below the cap, or by closing the oldest
/// connection not in the middle of a request. `None` when accepting failed (logged).
async fn accept_within_cap(listener: &TcpListener, table: &Table, cap: usize) -> Option<TcpStream> {
    loop {
        let changed = table.changed.notified();
        if table.open() < cap || table.evict_oldest_idle() {
            break;
        }
        // Every connection is handling a request: wait until one finishes or closes.
        changed.await;
    }
    match listener.accept().await {
        Ok((stream, _)) => Some(stream),
        Err(error) => {
            tracing::warn!(%error, "accepting a connection failed");
            tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            None
        }
    }
}

fn spawn_connection(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    table: &Arc<Table>,
    mut stop: watch::Receiver<bool>,
) {
    let busy = Arc::new(AtomicUsize::new(0));
    let io = TokioIo::new(IdleIo::new(stream, limits.idle_timeout, busy.clone()));
    let service = hyper::service::service_fn({
        let busy = busy.clone();
        let table = table.clone();
        move |request: hyper::Request<Incoming>| {
            let guard = Busy::enter(&busy, &table);
            let answered = router.clone().oneshot(request.map(Body::new));
            async move {
                let response = answered.await;
                drop(guard);
                response
            }
        }
    });
    let id = table.next_id();
    let cleanup = table.clone();
    // Held across the spawn, so the connection is in the table before it can remove itself.
    let mut connections = table.lock();
    let task = tokio::spawn(async move {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
        let mut connection = std::pin::pin!(builder.serve_connection(io, service));
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "a connection ended with an error");
                    }
                    break;
                }
                _ = stop.wait_for(|stop| *stop) => connection.as_mut().graceful_shutdown(),
            }
        }
        cleanup.remove(id);
    });
    connections.insert(
        id,
        Entry {
            busy,
            abort: task.abort_handle(),
        },
    );
}

/// The open connections, oldest first (ids grow), and whether each is handling a request.
#[derive(Default)]
struct Table {
    connections: Mutex<BTreeMap<u64, Entry>>,
    next: std::sync::atomic::AtomicU64,
    /// Woken when a connection closes or a request finishes.
    changed: Notify,
}

struct Entry {
    busy: Arc<AtomicUsize>,
    abort: tokio::task::AbortHandle,
}

impl Table {
    fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
        self.changed.notify_waiters();
    }

    fn open(&self) -> usize {
        self.lock().len()
    }

    /// Closes the oldest connection that is not handling a request; false if there is none.
    fn evict_oldest_idle(&self) -> bool {
        let mut connections = self.lock();
        let oldest = connections
            .iter()
            .find(|(_, entry)| entry.busy.load(Ordering::SeqCst) == 0)
            .map(|(id, _)| *id);
        let Some(id) = oldest else { return false };
        if let Some(entry) = connections.remove(&id) {
            entry.abort.abort();
        }
        true
    }

    async fn all_closed(&self) {
        loop {
            let changed = self.changed.notified();
            if self.open() == 0 {
                return;
            }
            changed.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Counts a request of a connection as being handled until dropped.
struct Busy {
    busy: Arc<AtomicUsize>,
    table: Arc<Table>,
}

impl Busy {
    fn enter(busy: &Arc<AtomicUsize>, table: &Arc<Table>) -> Busy {
        busy.fetch_add(1, Ordering::SeqCst);
        Busy {
            busy: busy.clone(),
            table: table.clone(),
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.busy.fetch_sub(1, Ordering::SeqCst);
        self.table.changed.notify_waiters();
    }
}

/// A TCP stream that fails with `TimedOut` once no byte has moved either way for `idle`
/// while no request is being handled (`busy` is zero).
struct IdleIo {
    stream: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    busy: Arc<AtomicUsize>,
}

impl IdleIo {
    fn new(stream: TcpStream, idle: Duration, busy: Arc<AtomicUsize>) -> IdleIo {
        IdleIo {
            stream,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            busy,
        }
    }

    fn moved(&mut self) {
        let next = Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }

    /// On `Pending`: whether the connection has been silent too long.
    fn timed_out(&mut self, cx: &mut Context<'_>) -> bool {
        if self.busy.load(Ordering::SeqCst) > 0 {
            // Being handled: silence is the server's, not the client's. Start afresh after.
            self.moved();
            return false;
        }
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn idle_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the connection was silent for longer than [http] idle_timeout",
    )
}

impl AsyncRead for IdleIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.timed_out(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }
}

impl AsyncWrite for IdleIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, buf) {
            Poll::Ready(Ok(written)) => {
                if written > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(written))
            }
            Poll::Pending if self.timed_out(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(written)) => {
                if written > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(written))
            }
            Poll::Pending if self.timed_out(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
