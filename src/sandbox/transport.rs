//! Real transport-level faults on top of axum: a connection reset with no
//! response at all, and a body that stops short of its Content-Length.
//!
//! axum has no way for a handler to abort its connection, so the sandbox
//! serves through [`FaultListener`], whose streams carry a [`ConnSwitch`].
//! Handlers receive the switch through `ConnectInfo`; once flipped, the
//! stream turns the response write into an error, hyper drops the
//! connection, and with `SO_LINGER` = 0 the kernel sends a TCP RST.
//!
//! A truncated body needs no switch: a streamed body with an explicit
//! Content-Length that yields half the bytes and then an error makes hyper
//! close the connection mid-body.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use futures::stream::{self, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener whose connections can be reset by a handler.
#[derive(Debug)]
pub(crate) struct FaultListener {
    inner: TcpListener,
}

impl FaultListener {
    pub(crate) fn new(inner: TcpListener) -> FaultListener {
        FaultListener { inner }
    }
}

impl Listener for FaultListener {
    type Io = FaultStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (tcp, addr) = Listener::accept(&mut self.inner).await;
        let stream = FaultStream {
            tcp,
            switch: ConnSwitch::default(),
            lingering: false,
        };
        (stream, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Flipped by a handler to reset the connection its request came on.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnSwitch(Arc<AtomicBool>);

impl ConnSwitch {
    /// Reset this connection instead of sending the response.
    pub(crate) fn reset(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_reset(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Connected<IncomingStream<'_, FaultListener>> for ConnSwitch {
    fn connect_info(stream: IncomingStream<'_, FaultListener>) -> Self {
        stream.io().switch.clone()
    }
}

/// A TCP stream that fails every operation once its switch is flipped.
#[derive(Debug)]
pub(crate) struct FaultStream {
    tcp: TcpStream,
    switch: ConnSwitch,
    lingering: bool,
}

impl FaultStream {
    /// `Some(error)` once reset. The first call sets `SO_LINGER` to zero so
    /// that dropping the socket sends RST rather than an orderly FIN: the
    /// client sees "connection reset", not a clean end of stream.
    fn check(&mut self) -> Option<io::Error> {
        if !self.switch.is_reset() {
            return None;
        }
        if !self.lingering {
            self.lingering = true;
            if let Err(e) = self.tcp.set_zero_linger() {
                tracing::debug!("sandbox: cannot set SO_LINGER=0: {e}");
            }
        }
        Some(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "sandbox: connection reset on purpose",
        ))
    }
}

impl AsyncRead for FaultStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.check() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// A response that announces `body.len()` bytes, sends about half of them,
/// then fails, so hyper closes the connection mid-body.
pub(crate) fn truncated(mut response: Response, body: Vec<u8>) -> Response {
    let full = body.len();
    let mut partial = body;
    partial.truncate(full / 2);
    let chunks =
        stream::iter([Ok::<_, io::Error>(Bytes::from(partial))]).chain(stream::once(async {
            // Pause first: hyper flushes the headers and the partial chunk
            // while the body is pending, so they reach the client before the
            // connection closes instead of being discarded with it.
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "sandbox: body truncated on purpose",
            ))
        }));
    *response.body_mut() = Body::from_stream(chunks);
    // A streamed body has no known length, so hyper sends this header as
    // given and enforces it: the client expects `full` bytes.
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full));
    response
}
