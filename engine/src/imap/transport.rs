//! The byte stream under an IMAP session: TCP, TLS on top, and optionally DEFLATE on top of that.
//!
//! COMPRESS=DEFLATE (RFC 4978) starts right after the server's tagged OK, in the middle of a
//! session, so the stream switches in place ([`Transport::start_deflate`]) while async-imap keeps
//! its session object. The switch is safe because the server sends nothing between that OK and
//! the client's next command, so no cleartext bytes can be sitting in a read buffer.

use async_compression::tokio::{bufread::DeflateDecoder, write::DeflateEncoder};
use async_compression::Level;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, BufReader, ReadBuf};

/// Anything a session can run over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Io for T {}

type Deflated = DeflateDecoder<BufReader<DeflateEncoder<Counted>>>;

enum Layer {
    Raw(Counted),
    Deflate(Box<Deflated>),
    Switching,
}

/// Bytes that crossed the wire (after TLS framing is removed, before decompression).
#[derive(Debug, Default)]
pub struct WireCounters {
    /// Bytes read from the socket layer.
    pub read: AtomicU64,
    /// Bytes written to the socket layer.
    pub written: AtomicU64,
}

/// Counts the bytes of the stream below DEFLATE.
struct Counted {
    inner: Box<dyn Io>,
    counters: Arc<WireCounters>,
}

impl fmt::Debug for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Counted")
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.counters.read.fetch_add(n, Ordering::Relaxed);
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.counters
                .written
                .fetch_add(*n as u64, Ordering::Relaxed);
        }
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &r {
            self.counters
                .written
                .fetch_add(*n as u64, Ordering::Relaxed);
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The stream an IMAP session runs over.
pub struct Transport {
    layer: Layer,
    counters: Arc<WireCounters>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.layer {
            Layer::Raw(_) => "raw",
            Layer::Deflate(_) => "deflate",
            Layer::Switching => "switching",
        };
        write!(f, "Transport({kind})")
    }
}

impl Transport {
    /// Wraps a connected (and, where wanted, TLS-wrapped) stream.
    pub fn new(inner: Box<dyn Io>) -> Self {
        let counters = Arc::new(WireCounters::default());
        Transport {
            layer: Layer::Raw(Counted {
                inner,
                counters: counters.clone(),
            }),
            counters,
        }
    }

    /// Switches both directions to raw DEFLATE. Call right after the tagged OK of
    /// `COMPRESS DEFLATE`, before sending anything else.
    pub fn start_deflate(&mut self) {
        if let Layer::Raw(raw) = std::mem::replace(&mut self.layer, Layer::Switching) {
            // Level 1: on any link worth compressing for, the compressor must outrun the link.
            let enc = DeflateEncoder::with_quality(raw, Level::Fastest);
            self.layer = Layer::Deflate(Box::new(DeflateDecoder::new(BufReader::new(enc))));
        }
    }

    /// True once DEFLATE is on.
    pub fn is_deflate(&self) -> bool {
        matches!(self.layer, Layer::Deflate(_))
    }

    /// Wire byte counters of this connection.
    pub fn counters(&self) -> Arc<WireCounters> {
        self.counters.clone()
    }
}

fn switching() -> io::Error {
    io::Error::other("transport used while switching compression")
}

impl AsyncRead for Transport {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.layer {
            Layer::Raw(s) => Pin::new(s).poll_read(cx, buf),
            Layer::Deflate(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Layer::Switching => Poll::Ready(Err(switching())),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.layer {
            Layer::Raw(s) => Pin::new(s).poll_write(cx, buf),
            Layer::Deflate(s) => Pin::new(s.get_mut().get_mut()).poll_write(cx, buf),
            Layer::Switching => Poll::Ready(Err(switching())),
        }
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.layer {
            Layer::Raw(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Layer::Deflate(s) => Pin::new(s.get_mut().get_mut()).poll_write_vectored(cx, bufs),
            Layer::Switching => Poll::Ready(Err(switching())),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match &self.layer {
            Layer::Raw(s) => s.is_write_vectored(),
            _ => false,
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.layer {
            Layer::Raw(s) => Pin::new(s).poll_flush(cx),
            Layer::Deflate(s) => Pin::new(s.get_mut().get_mut()).poll_flush(cx),
            Layer::Switching => Poll::Ready(Err(switching())),
        }
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.layer {
            Layer::Raw(s) => Pin::new(s).poll_shutdown(cx),
            Layer::Deflate(s) => Pin::new(s.get_mut().get_mut()).poll_shutdown(cx),
            Layer::Switching => Poll::Ready(Err(switching())),
        }
    }
}
