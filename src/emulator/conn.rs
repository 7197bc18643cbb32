//! A TCP listener whose connections a handler can cut: how `--drop-put-rate` (storage) and
//! `--drop-confirm-response-rate` (API) make the client see a real network error (a reset
//! mid-upload, or before any byte of the confirm's answer) instead of an HTTP response.
//!
//! Each accepted stream shares an [`AbortHandle`] with the request handlers of its connection
//! (through axum's `ConnectInfo`). Once aborted, the stream fails every read and write, so hyper
//! drops the connection without answering; zero linger turns the close into a reset.
//!
//! With `--tls` the listener finishes each TLS handshake before handing the stream to axum;
//! handshakes run concurrently, and a failed one (a client that does not trust the local CA)
//! is logged and dropped.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Lets a handler cut its own connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct AbortHandle(Arc<AtomicBool>);

impl AbortHandle {
    /// Makes the connection fail from now on.
    pub fn abort(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_aborted(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Connected<IncomingStream<'_, AbortableListener>> for AbortHandle {
    fn connect_info(stream: IncomingStream<'_, AbortableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A finished (or failed) TLS handshake of one accepted connection.
type Handshake = Pin<Box<dyn Future<Output = io::Result<TlsStream<TcpStream>>> + Send>>;

/// A [`TcpListener`] yielding [`AbortableStream`]s, plain or (with an acceptor) TLS.
pub(crate) struct AbortableListener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    /// TLS handshakes in progress, run side by side so a slow client never holds up the rest.
    handshakes: FuturesUnordered<Handshake>,
}

impl AbortableListener {
    /// Plain TCP connections.
    pub fn plain(tcp: TcpListener) -> Self {
        Self {
            tcp,
            tls: None,
            handshakes: FuturesUnordered::new(),
        }
    }

    /// TLS connections with `config` when given, else plain ones.
    pub fn new(tcp: TcpListener, config: Option<Arc<rustls::ServerConfig>>) -> Self {
        Self {
            tls: config.map(TlsAcceptor::from),
            ..Self::plain(tcp)
        }
    }

    fn wrap(inner: Transport) -> (AbortableStream, AbortHandle) {
        let handle = AbortHandle::default();
        let stream = AbortableStream {
            inner,
            handle: handle.clone(),
        };
        (stream, handle)
    }
}

impl Listener for AbortableListener {
    type Io = AbortableStream;
    type Addr = AbortHandle;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        match &self.tls {
                            None => return Self::wrap(Transport::Plain(stream)),
                            Some(acceptor) => {
                                let handshake = acceptor.accept(stream);
                                self.handshakes.push(Box::pin(async move {
                                    tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake)
                                        .await
                                        .map_err(|_| io::Error::new(
                                            io::ErrorKind::TimedOut,
                                            "TLS handshake timed out",
                                        ))?
                                }));
                            }
                        }
                    }
                    Err(err) => {
                        // Usually out of file descriptors: back off instead of spinning.
                        tracing::warn!(%err, "emulator accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(done) = self.handshakes.next(), if !self.handshakes.is_empty() => match done {
                    Ok(stream) => return Self::wrap(Transport::Tls(Box::new(stream))),
                    // A client that does not trust the certificate ends up here.
                    Err(err) => tracing::debug!(%err, "TLS handshake failed"),
                },
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp
            .local_addr()
            .map(|_: SocketAddr| AbortHandle::default())
    }
}

/// The byte stream under an [`AbortableStream`].
enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Transport {
    fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            Self::Tls(tls) => tls.get_ref().0,
        }
    }
}

/// A TCP (or TLS) stream that starts failing once its [`AbortHandle`] is aborted.
pub(crate) struct AbortableStream {
    inner: Transport,
    handle: AbortHandle,
}

impl AbortableStream {
    fn check(&self) -> io::Result<()> {
        if self.handle.is_aborted() {
            // Reset rather than close politely, like a dropped network path.
            let _ = self.inner.tcp().set_zero_linger();
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection cut by fault injection",
            ));
        }
        Ok(())
    }
}

/// Forwards a poll method to whichever transport is inside.
macro_rules! forward {
    ($this:expr, $method:ident($($arg:expr),*)) => {
        match &mut $this.inner {
            Transport::Plain(tcp) => Pin::new(tcp).$method($($arg),*),
            Transport::Tls(tls) => Pin::new(tls.as_mut()).$method($($arg),*),
        }
    };
}

impl AsyncRead for AbortableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(err) = this.check() {
            return Poll::Ready(Err(err));
        }
        forward!(this, poll_read(cx, buf))
    }
}

impl AsyncWrite for AbortableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(err) = this.check() {
            return Poll::Ready(Err(err));
        }
        forward!(this, poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(err) = this.check() {
            return Poll::Ready(Err(err));
        }
        forward!(this, poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(err) = this.check() {
            return Poll::Ready(Err(err));
        }
        forward!(this, poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(err) = this.check() {
            return Poll::Ready(Err(err));
        }
        forward!(this, poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Transport::Plain(tcp) => tcp.is_write_vectored(),
            Transport::Tls(tls) => tls.is_write_vectored(),
        }
    }
}

/// Serves `app` on `listener` until `stop` turns true. Connections are abortable, so
/// `--drop-confirm-response-rate` can lose an answer; `name` says which listener failed.
pub(crate) async fn serve(
    listener: AbortableListener,
    app: axum::Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
    name: &'static str,
) {
    let app = app.into_make_service_with_connect_info::<AbortHandle>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        })
        .await;
    if let Err(err) = result {
        tracing::error!(%err, listener = name, "an emulator listener failed");
    }
}
